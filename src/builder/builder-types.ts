/**
 * Option types of the fluent builder, and the type-level bookkeeping that records each declared
 * node's output under its id. Types only: nothing here exists at runtime.
 */
import type { z } from 'zod';
import type {
  RetryPolicySchema,
  VARIABLE_TYPES,
  WorkflowSettingsSchema,
  WorkflowTriggerSchema,
  WorkflowVariable,
} from '../definition/definition.js';

/** A retry policy as written by the user (defaults optional). */
export type RetryPolicyInput = z.input<typeof RetryPolicySchema>;

/** A JSON Schema document, stored as-is. */
export type JsonSchemaObject = Readonly<Record<string, unknown>>;

/** What `output` of a prompt step accepts: a zod schema (converted to JSON Schema) or a JSON Schema. */
export type OutputSchema = z.core.$ZodType | JsonSchemaObject;

/** One of the declared variable types. */
export type VariableType = (typeof VARIABLE_TYPES)[number];

/** A variable in the record shorthand of {@link WorkflowOptions.variables}. */
export type VariableShorthand =
  | VariableType
  | {
      readonly type: VariableType;
      readonly default_value?: unknown;
      readonly description?: string;
      readonly required?: boolean;
    };

/** Options of `workflow(name, opts)`: everything of a definition except its graph. */
export interface WorkflowOptions {
  /** Stable id of the workflow, when the host app assigns one. */
  readonly id?: string;
  readonly description?: string;
  /** @default 1 */
  readonly version?: number;
  /** @default 'active' */
  readonly status?: 'draft' | 'active' | 'archived';
  readonly tags?: readonly string[];
  /**
   * Declared variables: the JSON array form, or a record `name -> type` / `name -> { type, default_value }`.
   * @default []
   */
  readonly variables?: readonly WorkflowVariable[] | Readonly<Record<string, VariableShorthand>>;
  /**
   * Accept run input keys no variable declares; without it they are refused with `invalid_input`.
   * A workflow that declares no variables accepts any input either way.
   * @default false
   */
  readonly additional_input?: boolean;
  /** @default [] */
  readonly triggers?: readonly z.input<typeof WorkflowTriggerSchema>[];
  readonly settings?: z.input<typeof WorkflowSettingsSchema>;
}

/** Options every step method accepts. */
export interface StepOptions {
  /** Display name. @default the node id */
  readonly name?: string;
  readonly description?: string;
  /** Stored as the node's `retry_policy`. */
  readonly retry?: RetryPolicyInput;
  /** Per-attempt timeout of the node. */
  readonly timeout_ms?: number;
}

/** Options of `.prompt(id, opts)`; compiles to a `prompt_execution` node. Give `template` or `prompt_id`. */
export interface PromptOptions<S extends OutputSchema | undefined = undefined> extends StepOptions {
  /** `'provider:model'`, e.g. `'openai:gpt-4o-mini'`; stored as `config.provider_model`. */
  readonly model: string;
  readonly template?: string;
  readonly prompt_id?: string;
  readonly prompt_version?: number;
  readonly system?: string;
  /** A zod schema (converted with `z.toJSONSchema`) or a JSON Schema; stored as `config.output_schema`. */
  readonly output?: S;
  readonly options?: Readonly<Record<string, unknown>>;
  readonly input_mapping?: Readonly<Record<string, string>>;
  readonly output_mapping?: Readonly<Record<string, string>>;
  /** Further `'provider:model'`s tried in order when the first fails. */
  readonly fallback?: readonly string[];
  readonly stream?: boolean;
  /** Names of tools registered with the engine's `tools` option the model may call; stored as `config.tools`. */
  readonly tools?: readonly string[];
  /** Most tool turns (model asks, tools answer) before the step fails with `max_iterations`. @default 5 */
  readonly max_tool_steps?: number;
}

/** Options of `.when(...)`. */
export interface WhenOptions extends StepOptions {
  /** Id of the condition node. @default `when_<n>`, n being its place in the chain */
  readonly id?: string;
  /** `config.strategy` of the join node `<id>_join`. @default 'collect' */
  readonly mergeStrategy?: 'collect' | 'concat' | 'first';
}

/** Options shared by the loop steps. */
export interface LoopOptions extends StepOptions {
  /** Id of the loop node. @default `for_each_<n>` / `while_<n>` / `repeat_<n>` */
  readonly id?: string;
  /** Hard cap on iterations; exceeding it fails the run with `max_iterations`. @default 1000 */
  readonly max_iterations?: number;
  /** Name of the current index in the body's context. @default 'index' */
  readonly index_as?: string;
}

/** Options of `.repeat(count, body, opts)`. */
export interface RepeatOptions extends LoopOptions {
  /** Iterations run at once. @default 1 (sequential) */
  readonly concurrency?: number;
}

/** Options of `.forEach(items, body, opts)`. */
export interface ForEachOptions extends RepeatOptions {
  /** Name of the current item in the body's context. @default 'item' */
  readonly as?: string;
}

/** Options of `.while(condition, body, opts)`: `max_iterations` is required, a while loop has no natural end. */
export interface WhileOptions extends LoopOptions {
  readonly max_iterations: number;
}

/** Options of `.parallel(branches, opts)`. */
export interface ParallelOptions extends StepOptions {
  /** Id of the parallel node; its merge node is `<id>_merge`. @default `parallel_<n>` */
  readonly id?: string;
  /** @default 'all' */
  readonly waitFor?: 'all' | 'any' | 'count';
  /** Branches to wait for when `waitFor` is `'count'`. */
  readonly requiredCount?: number;
  /** `config.strategy` of the merge node. */
  readonly mergeStrategy?: 'collect' | 'concat' | 'first';
}

/**
 * Options of `.approval(id, opts)`; `timeout_ms` here is how long to wait for a human. The
 * approver is shown `message` and `data` (in the trace's `waiting_for`, the `node:waiting` event
 * and `engine.approvals.list()`). `.approval()` also takes `onReject`, the branch a rejection runs.
 */
export interface ApprovalOptions extends StepOptions {
  /** What the approver is asked, a `{{path}}` template. */
  readonly message?: string;
  /** What the approver reviews: each key's expression, evaluated when the step starts waiting. */
  readonly data?: Readonly<Record<string, string>>;
  /** What the deadline decides; `reject` follows `onReject` like a person's rejection. @default 'fail' */
  readonly on_timeout?: 'reject' | 'approve' | 'fail';
}

/** Options of `.webhook(id, opts)`. */
export interface WebhookOptions extends StepOptions {
  readonly url: string;
  /** @default 'POST' (decided by the node handler) */
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly expected_status?: number | readonly number[];
  readonly output_mapping?: Readonly<Record<string, string>>;
  /**
   * How long the request (redirects included) may take before it fails with `timeout`; stored as
   * `config.timeout_ms`. `timeout_ms` is the node's per-attempt timeout, as on every step.
   */
  readonly request_timeout_ms?: number;
}

/** Options of `.subWorkflow(id, opts)`. */
export interface SubWorkflowOptions extends StepOptions {
  readonly workflow_id: string;
  readonly version?: number;
  readonly input_mapping?: Readonly<Record<string, string>>;
}

/** Options of `.waitForEvent(id, opts)`; `timeout_ms` here is how long to wait for the event. */
export interface WaitForEventOptions extends StepOptions {
  readonly event: string;
  readonly filter?: string;
}

/** Options of `.end(output, opts)`. */
export interface EndOptions extends StepOptions {
  /** Id of the end node. Give one when a second `end` is needed (e.g. inside a branch). @default 'end' */
  readonly id?: string;
  /** Stop the whole run here, even if other branches are still running. */
  readonly terminate?: boolean;
}

/** Second argument of `.delay(id, ...)`: milliseconds, or an absolute time (ISO string or expression). */
export type DelaySpec = number | { readonly until: string };

/** The output of a `prompt_execution` node: the raw text and, with an output schema, the parsed JSON. */
export type PromptOutput<TJson = unknown> = { text: string; json: TJson };

/** The output a prompt step records for a given `output` option. */
export type PromptOutputOf<S> = [S] extends [z.core.$ZodType] ? PromptOutput<z.output<S>> : PromptOutput<unknown>;

/** Flattens an intersection into one object type, so inferred outputs read well in hovers and type tests. */
export type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Adds `{ [Id]: V }` to T; a non-literal id (plain `string`) records nothing rather than an index signature. */
export type WithOutput<T, Id extends string, V> = string extends Id ? T : Simplify<T & { [K in Id]: V }>;

/** Adds the outputs of a conditional branch: they may not have run, so they are optional. */
export type WithBranch<T, TBranch> = Simplify<T & Partial<Omit<TBranch, keyof T>>>;

/** Turns a union of object types into their intersection. */
export type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;
