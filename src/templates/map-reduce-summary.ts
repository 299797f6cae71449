import { workflow } from '../builder/builder.js';
import type { WorkflowTemplate } from './workflow-template.js';

/**
 * `map-reduce-summary`: summarises every entry of `input.documents` (a `for_each` with bounded
 * concurrency), then one reduce prompt combines the partial summaries into one.
 */
export const mapReduceSummary: WorkflowTemplate = {
  id: 'map-reduce-summary',
  name: 'Map-reduce summary',
  description: 'Summarises each document of input.documents in parallel (bounded concurrency), then combines the summaries with one reduce prompt.',
  tags: ['summarization', 'map-reduce', 'for-each'],
  build: ({ model, concurrency }) =>
    workflow('map-reduce-summary', {
      description: 'Summarise many documents, then summarise the summaries.',
      variables: {
        documents: { type: 'array', required: true, description: 'The documents (strings or objects) to summarise' },
        instructions: { type: 'string', default_value: 'Keep the key facts, figures and decisions.', description: 'Extra guidance for both stages' },
      },
    })
      .forEach(
        'input.documents',
        (b) => b.prompt('summarize', { model, template: 'Summarise document {{doc_index}} in a few sentences. {{variables.instructions}}\n\n{{doc}}' }),
        { id: 'summaries', as: 'doc', index_as: 'doc_index', concurrency, max_iterations: 10_000 },
      )
      .transform('collected', { text: "join(summaries.map(s, s.text), '\\n\\n---\\n\\n')", count: 'size(summaries)' })
      .prompt('reduce', { model, template: 'Combine these {{collected.count}} summaries into one coherent summary. {{variables.instructions}}\n\n{{collected.text}}' })
      .end({ summary: 'reduce.text', partials: 'summaries.map(s, s.text)' }),
};
