import { workflow } from '../builder/builder.js';
import type { WorkflowTemplate } from './workflow-template.js';

const CRITIQUE = {
  type: 'object',
  properties: { score: { type: 'number', minimum: 0, maximum: 10 }, feedback: { type: 'string' } },
  required: ['score', 'feedback'],
} as const;

/**
 * `draft-critique-revise`: a `while` loop whose body drafts, critiques the draft with a 0-10
 * score (structured output) and revises it with the feedback; it stops once a critique scores at
 * least `variables.threshold`, failing past `max_iterations`. The output is the last revision.
 *
 * Each iteration improves on the last: a `while` iteration's `item` is the previous iteration's
 * result (the last revision), which the next draft is asked to build on.
 */
export const draftCritiqueRevise: WorkflowTemplate = {
  id: 'draft-critique-revise',
  name: 'Draft, critique, revise',
  description: 'Drafts a text, critiques it with a 0-10 score and revises it, looping until a critique reaches variables.threshold or max_iterations.',
  tags: ['writing', 'self-critique', 'while-loop'],
  build: ({ model, maxIterations }) =>
    workflow('draft-critique-revise', {
      description: 'Draft, critique with a score, revise until good enough.',
      variables: {
        brief: { type: 'string', required: true, description: 'What to write' },
        threshold: { type: 'number', default_value: 8, description: 'Critique score (0-10) that ends the loop' },
      },
    })
      .while(
        'default(critique.json.score, 0) < variables.threshold',
        (b) =>
          b
            .transform('previous', { text: "index == 0 ? '(none yet)' : item.text" })
            .prompt('draft', { model, template: 'Write attempt {{index}} for this brief:\n\n{{input.brief}}\n\nPrevious revision to improve on:\n{{previous.text}}' })
            .prompt('critique', {
              model,
              system: 'You are a demanding editor. Answer with JSON only.',
              template: 'Score this draft from 0 to 10 against the brief and say what to improve, as JSON {"score": n, "feedback": "..."}.\n\nBrief:\n{{input.brief}}\n\nDraft:\n{{draft.text}}',
              output: CRITIQUE,
            })
            .prompt('revise', { model, template: 'Revise the draft using the feedback.\n\nBrief:\n{{input.brief}}\n\nDraft:\n{{draft.text}}\n\nFeedback:\n{{critique.json.feedback}}' }),
        { id: 'refine', max_iterations: maxIterations },
      )
      .end({ text: "size(refine) > 0 ? refine[size(refine) - 1].text : ''", iterations: 'size(refine)' }),
};
