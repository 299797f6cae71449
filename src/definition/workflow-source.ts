/**
 * What callers hand the engine as a workflow: the JSON definition or anything that builds one
 * (the fluent builder), and the one step that turns either into a validated definition.
 */
import type { WorkflowDefinition, WorkflowDefinitionInput } from './definition.js';
import type { Json } from '../kernel/json.js';
import { assertValidWorkflow, type ValidateWorkflowOptions } from './validation/validation.js';

/** Anything with a `build()` that returns a definition (the fluent builder). */
export interface BuildsWorkflow {
  build(): WorkflowDefinition;
}

/** A definition as JSON or as a builder. */
export type WorkflowSource = WorkflowDefinitionInput | WorkflowDefinition | BuildsWorkflow;

/**
 * What a source knows about its runs at type level: the builder's `~run` member, or nothing (JSON,
 * or `any`, which `ReturnType<typeof engine.run>` instantiates it with).
 */
type RunTypes<W> = 0 extends 1 & W ? undefined : '~run' extends keyof W ? NonNullable<W['~run' & keyof W]> : undefined;

/** The run input `W` takes: typed from a builder's declared variables; any value for JSON. */
export type RunInputOf<W> = RunTypes<W> extends { readonly input: infer I } ? I : unknown;

/** The `output_data` a run of `W` gives: typed from a builder's `end`s; any JSON for JSON (or a builder typed only by its outputs). */
export type RunOutputOf<W> = RunTypes<W> extends { readonly output: infer O } ? (unknown extends O ? Json : O) : Json;

/** The arguments after the workflow of `engine.run` / `start`: the input may be left out when nothing in it is required. */
export type RunArgs<W, Options> = {} extends RunInputOf<W> ? [input?: RunInputOf<W>, options?: Options] : [input: RunInputOf<W>, options?: Options];

/** Turns JSON or a builder into a validated definition (throws `WorkflowValidationError` with every issue). */
export function resolveDefinition(source: WorkflowSource, options: ValidateWorkflowOptions): WorkflowDefinition {
  const raw = typeof (source as BuildsWorkflow).build === 'function' ? (source as BuildsWorkflow).build() : source;
  return assertValidWorkflow(raw, options);
}
