import { workflow } from '../builder/builder.js';
import type { WorkflowTemplate } from './workflow-template.js';

const CLASSIFICATION = {
  type: 'object',
  properties: {
    label: { type: 'string', description: 'One of the allowed labels' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    reason: { type: 'string' },
  },
  required: ['label'],
} as const;

/**
 * `classify-and-route`: a prompt classifies `input.text` with structured output; a condition sends
 * it to one of two handlers (`variables.route_label` or anything else); the branches merge and the
 * run outputs the label, which route was taken and the handler's answer.
 */
export const classifyAndRoute: WorkflowTemplate = {
  id: 'classify-and-route',
  name: 'Classify and route',
  description: 'Classifies a text into one of several labels (structured output), routes it to one of two handlers and merges the result.',
  tags: ['classification', 'routing', 'structured-output'],
  build: ({ model }) =>
    workflow('classify-and-route', {
      description: 'Classify a text, route it to the matching handler, merge.',
      variables: {
        text: { type: 'string', required: true, description: 'The text to classify' },
        labels: { type: 'array', default_value: ['urgent', 'normal'], description: 'Allowed labels' },
        route_label: { type: 'string', default_value: 'urgent', description: 'Label that takes the "matched" branch' },
      },
    })
      .prompt('classify', {
        model,
        system: 'You are a precise classifier. Answer with JSON only.',
        template: 'Classify the text into exactly one of these labels: {{variables.labels}}.\nAnswer as JSON {"label": ..., "confidence": 0..1, "reason": ...}.\n\nText:\n{{input.text}}',
        output: CLASSIFICATION,
      })
      .when(
        'classify.json.label == variables.route_label',
        (b) => b.prompt('handle_matched', { model, template: 'This text was classified as "{{classify.json.label}}". Draft the response it needs:\n\n{{input.text}}' }),
        (b) => b.prompt('handle_other', { model, template: 'This text was classified as "{{classify.json.label}}". Draft a standard reply:\n\n{{input.text}}' }),
        { id: 'route' },
      )
      .end({
        label: 'classify.json.label',
        route: "has(route_join.handle_matched) ? 'matched' : 'other'",
        response: "default(handle_matched.text, default(handle_other.text, ''))",
      }),
};
