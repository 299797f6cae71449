/**
 * What callers hand the engine as a workflow: the JSON definition or anything that builds one
 * (the fluent builder), and the one step that turns either into a validated definition.
 */
import type { WorkflowDefinition, WorkflowDefinitionInput } from './definition.js';
import { assertValidWorkflow, type ValidateWorkflowOptions } from './validation/validation.js';

/** Anything with a `build()` that returns a definition (the fluent builder). */
export interface BuildsWorkflow {
  build(): WorkflowDefinition;
}

/** A definition as JSON or as a builder. */
export type WorkflowSource = WorkflowDefinitionInput | WorkflowDefinition | BuildsWorkflow;

/** Turns JSON or a builder into a validated definition (throws `WorkflowValidationError` with every issue). */
export function resolveDefinition(source: WorkflowSource, options: ValidateWorkflowOptions): WorkflowDefinition {
  const raw = typeof (source as BuildsWorkflow).build === 'function' ? (source as BuildsWorkflow).build() : source;
  return assertValidWorkflow(raw, options);
}
