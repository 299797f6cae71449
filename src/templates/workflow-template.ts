/**
 * What a built-in workflow template is: metadata plus a function from a few knobs to a builder.
 * The builder emits the JSON definition; `engine.templates.instantiate` stores that JSON.
 */
import type { WorkflowBuilder } from '../builder/builder.js';

/** The model every template uses until `overrides.model` names another. */
export const PLACEHOLDER_MODEL = 'openai:gpt-4o-mini';

/** The knobs a template's builder receives, defaults applied. */
export interface ResolvedTemplateOptions {
  /** `provider:model` of every prompt step. */
  readonly model: string;
  /** Items worked on at once, for templates with a `for_each`. */
  readonly concurrency: number;
  /** Iteration cap, for templates with a `while`. */
  readonly maxIterations: number;
}

/**
 * A workflow template: a recipe that builds a workflow from {@link ResolvedTemplateOptions}.
 *
 * @example
 * const echo: WorkflowTemplate = {
 *   id: 'echo', name: 'Echo', description: 'Repeats the text.', tags: ['demo'],
 *   build: ({ model }) => workflow('echo', { variables: { text: 'string' } }).prompt('say', { model, template: '{{input.text}}' }),
 * };
 */
export interface WorkflowTemplate {
  /** Stable id, kebab-case; also the default id of an instantiated workflow. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  build(options: ResolvedTemplateOptions): WorkflowBuilder<object>;
}
