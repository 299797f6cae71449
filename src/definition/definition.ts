/**
 * The workflow definition: plain JSON, the contract between the builder, storage, the HTTP API
 * and the engine. The zod schemas here check its shape; `validation.ts` checks the graph.
 *
 * The schemas are built on first use, by {@link definitionSchemas}, not when the module loads:
 * zod is the costliest module Trellis depends on, and an app should not pay for it at import
 * (see lazy-modules.ts). The exported `*Schema` constants are stand-ins that build them when
 * first touched, kept so the public API is unchanged; Trellis itself calls `definitionSchemas()`.
 */
import type { z } from 'zod';
import { loadZod } from '../kernel/lazy-modules.js';
import { lazyValue } from '../kernel/lazy-value.js';

/** The node types Trellis ships. Host apps may register more with `engine.registerNode`. */
export const BUILTIN_NODE_TYPES = [
  'start',
  'end',
  'prompt_execution',
  'condition',
  'loop',
  'parallel',
  'merge',
  'delay',
  'webhook',
  'data_transform',
  'human_approval',
  'sub_workflow',
  'wait_for_event',
] as const;

/** A node type Trellis ships. */
export type BuiltinNodeType = (typeof BUILTIN_NODE_TYPES)[number];

/** The types a declared workflow variable may have. */
export const VARIABLE_TYPES = ['string', 'number', 'boolean', 'object', 'array', 'any'] as const;

/** Builds every schema of the definition, with the zod that `loadZod` returns. */
function buildSchemas({ z }: ReturnType<typeof loadZod>) {
  const RetryPolicySchema = z.object({
    max_attempts: z.number().int().min(1).max(100),
    delay_ms: z.number().int().min(0).default(1000).optional(),
    backoff_multiplier: z.number().min(1).max(10).optional(),
    max_delay_ms: z.number().int().min(0).optional(),
    jitter: z.boolean().optional(),
    retry_on_errors: z.array(z.string()).optional(),
  });

  const expression = z.string().min(1, 'expression must not be empty');
  const stringMap = z.record(z.string(), z.string());

  const PositionSchema = z.object({ x: z.number(), y: z.number() });

  const NODE_CONFIG_SCHEMAS = {
    start: z.object({}).loose(),
    end: z
      .object({
        output: z.record(z.string(), expression).optional(),
        terminate: z.boolean().optional(),
      })
      .loose(),
    prompt_execution: z
      .object({
        prompt_id: z.string().optional(),
        prompt_version: z.number().int().positive().optional(),
        template: z.string().optional(),
        system: z.string().optional(),
        provider_model: z.string(),
        options: z.record(z.string(), z.unknown()).optional(),
        input_mapping: stringMap.optional(),
        output_mapping: stringMap.optional(),
        output_schema: z.record(z.string(), z.unknown()).optional(),
        fallback: z.array(z.string()).optional(),
        stream: z.boolean().optional(),
        tools: z.array(z.string().min(1)).optional(),
        max_tool_steps: z.number().int().min(1).max(100).optional(),
      })
      .loose(),
    condition: z
      .object({
        condition: expression,
        true_path: z.string().optional(),
        false_path: z.string().optional(),
      })
      .loose(),
    loop: z
      .object({
        loop_type: z.enum(['for_each', 'while', 'count']),
        items: expression.optional(),
        as: z.string().optional(),
        index_as: z.string().optional(),
        condition: expression.optional(),
        count: z.union([z.number().int().min(0), expression]).optional(),
        max_iterations: z.number().int().min(1),
        concurrency: z.number().int().min(1).optional(),
      })
      .loose(),
    parallel: z
      .object({
        wait_for: z.enum(['all', 'any', 'count']).default('all').optional(),
        required_count: z.number().int().min(1).optional(),
        /** The node the branches meet at (the builder's `<id>_merge`); it runs once under `any`/`count`. */
        join: z.string().optional(),
      })
      .loose(),
    merge: z.object({ strategy: z.enum(['collect', 'concat', 'first']).optional() }).loose(),
    delay: z
      .object({ ms: z.number().int().min(0).optional(), until: z.string().optional() })
      .loose(),
    webhook: z
      .object({
        url: z.string(),
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).optional(),
        headers: stringMap.optional(),
        body: z.unknown().optional(),
        expected_status: z.union([z.number().int(), z.array(z.number().int())]).optional(),
        output_mapping: stringMap.optional(),
        timeout_ms: z.number().int().min(1).optional(),
      })
      .loose(),
    data_transform: z.object({ mapping: z.record(z.string(), expression) }).loose(),
    human_approval: z
      .object({
        message: z.string().optional(),
        data: z.record(z.string(), expression).optional(),
        timeout_ms: z.number().int().min(1).optional(),
        on_timeout: z.enum(['reject', 'approve', 'fail']).optional(),
      })
      .loose(),
    sub_workflow: z
      .object({
        workflow_id: z.string(),
        version: z.number().int().positive().optional(),
        input_mapping: z.record(z.string(), expression).optional(),
      })
      .loose(),
    wait_for_event: z
      .object({ event: z.string(), filter: expression.optional(), timeout_ms: z.number().int().min(1).optional() })
      .loose(),
  } satisfies Record<BuiltinNodeType, z.ZodType>;

  const WorkflowNodeSchema = z.object({
    id: z.string().min(1).regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'node ids are letters, digits and _, not starting with a digit'),
    type: z.string().min(1),
    name: z.string(),
    description: z.string().optional(),
    /** Where a visual editor draws the node; nothing else reads it, so it may be left out. */
    position: PositionSchema.optional(),
    config: z.record(z.string(), z.unknown()),
    inputs: z.array(z.string()).default([]),
    outputs: z.array(z.string()).default([]),
    retry_policy: RetryPolicySchema.optional(),
    timeout_ms: z.number().int().min(1).optional(),
  });

  const WorkflowEdgeSchema = z.object({
    id: z.string().min(1),
    source_node_id: z.string().min(1),
    target_node_id: z.string().min(1),
    source_output: z.string().default('out'),
    target_input: z.string().default('in'),
    condition: expression.optional(),
  });

  const WorkflowVariableSchema = z.object({
    name: z.string().min(1),
    type: z.enum(VARIABLE_TYPES),
    default_value: z.unknown().optional(),
    description: z.string().optional(),
    /** @default true unless `default_value` is set */
    required: z.boolean().optional(),
  });

  const WorkflowTriggerSchema = z.object({
    id: z.string().optional(),
    type: z.enum(['manual', 'schedule', 'webhook', 'event']),
    config: z.record(z.string(), z.unknown()).default({}),
  });

  const WorkflowSettingsSchema = z.object({
    retry_policy: RetryPolicySchema.optional(),
    error_handler_node_id: z.string().optional(),
    timeout_ms: z.number().int().min(1).optional(),
    max_concurrency: z.number().int().min(1).optional(),
    max_concurrent_runs: z.number().int().min(1).optional(),
    /**
     * Limits on the run's model usage, checked before every call. Over budget, `fail` fails the node
     * with `budget_exceeded`; `pause` pauses the run for a human: approving the step lets that call
     * through, rejecting fails it.
     */
    budget: z
      .object({
        max_tokens: z.number().int().positive().optional(),
        max_cost_usd: z.number().positive().optional(),
        on_exceed: z.enum(['fail', 'pause']).optional(),
      })
      .optional(),
  });

  const WorkflowGraphSchema = z.object({
    nodes: z.array(WorkflowNodeSchema),
    edges: z.array(WorkflowEdgeSchema),
    variables: z.array(WorkflowVariableSchema).default([]),
    /**
     * Accept run input keys no variable declares (they are refused when variables are declared).
     * A workflow that declares no variables accepts any input either way.
     */
    additional_input: z.boolean().optional(),
    triggers: z.array(WorkflowTriggerSchema).default([]),
    settings: WorkflowSettingsSchema.optional(),
  });

  const WorkflowSchema = z.object({
    id: z.string().optional(),
    name: z.string().min(1),
    description: z.string().optional(),
    version: z.number().int().positive().default(1),
    status: z.enum(['draft', 'active', 'archived']).default('active'),
    tags: z.array(z.string()).optional(),
    definition: WorkflowGraphSchema,
  });

  return {
    RetryPolicySchema,
    NODE_CONFIG_SCHEMAS,
    WorkflowNodeSchema,
    WorkflowEdgeSchema,
    WorkflowVariableSchema,
    WorkflowTriggerSchema,
    WorkflowSettingsSchema,
    WorkflowGraphSchema,
    WorkflowSchema,
  };
}

/** Every zod schema of the workflow definition. */
export type DefinitionSchemas = ReturnType<typeof buildSchemas>;

let schemas: DefinitionSchemas | undefined;

/** The definition's zod schemas, built (and zod loaded) on the first call. */
export function definitionSchemas(): DefinitionSchemas {
  return (schemas ??= buildSchemas(loadZod()));
}

/** Shape of a retry policy. */
export const RetryPolicySchema = lazyValue(() => definitionSchemas().RetryPolicySchema);
/** Per-node retry policy. Absent `retry_on_errors` means "every error marked retryable". */
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/** Config schemas of the built-in node types, checked by `validateWorkflow`. */
export const NODE_CONFIG_SCHEMAS = lazyValue(() => definitionSchemas().NODE_CONFIG_SCHEMAS);
/** Config of each built-in node type, by type. */
export type NodeConfigs = { [K in BuiltinNodeType]: z.infer<DefinitionSchemas['NODE_CONFIG_SCHEMAS'][K]> };

/** Shape of one node. */
export const WorkflowNodeSchema = lazyValue(() => definitionSchemas().WorkflowNodeSchema);
/** One node of a workflow graph. `config` is checked against the node type's own schema. */
export type WorkflowNode = z.infer<typeof WorkflowNodeSchema>;

/** Shape of one edge. */
export const WorkflowEdgeSchema = lazyValue(() => definitionSchemas().WorkflowEdgeSchema);
/** A directed edge. `condition`, when present, must be true for the edge to be followed. */
export type WorkflowEdge = z.infer<typeof WorkflowEdgeSchema>;

/** Shape of one declared variable. */
export const WorkflowVariableSchema = lazyValue(() => definitionSchemas().WorkflowVariableSchema);
/** A declared workflow variable; run input is checked against these. */
export type WorkflowVariable = z.infer<typeof WorkflowVariableSchema>;

/** Shape of one trigger (its `config` is checked per type by the trigger config schemas). */
export const WorkflowTriggerSchema = lazyValue(() => definitionSchemas().WorkflowTriggerSchema);
/** How runs of the workflow start. */
export type WorkflowTrigger = z.infer<typeof WorkflowTriggerSchema>;

/** Shape of the workflow-wide settings. */
export const WorkflowSettingsSchema = lazyValue(() => definitionSchemas().WorkflowSettingsSchema);
/** Workflow-wide defaults. */
export type WorkflowSettings = z.infer<typeof WorkflowSettingsSchema>;

/** The graph part of a workflow. */
export type WorkflowGraph = z.infer<DefinitionSchemas['WorkflowGraphSchema']>;

/** The JSON shape of a whole workflow: the contract every other part reads. */
export const WorkflowSchema = lazyValue(() => definitionSchemas().WorkflowSchema);

/** A workflow definition after defaults are applied. */
export type WorkflowDefinition = z.infer<typeof WorkflowSchema>;
/** A workflow definition as a user may write it (defaults optional). */
export type WorkflowDefinitionInput = z.input<typeof WorkflowSchema>;

/** Splits `"provider:model"`; returns undefined when malformed. */
export function parseProviderModel(value: string): { provider: string; model: string } | undefined {
  const at = value.indexOf(':');
  if (at <= 0 || at === value.length - 1) return undefined;
  const provider = value.slice(0, at);
  if (!/^[a-z][a-z0-9_-]*$/i.test(provider)) return undefined;
  return { provider, model: value.slice(at + 1) };
}
