/**
 * The keys each builder method accepts, and the run-time check that refuses any other. TypeScript
 * refuses a mistyped option at compile time, but JavaScript callers and `as` casts reach the
 * builder with it, and a dropped `tols` silently turns the tools off. The message reads like JSON
 * validation's (validation/unknown-keys.ts): `Step "triage" (prompt) options has an unknown key
 * "tols"; did you mean "tools"?`.
 *
 * Each list is a record over the option type's keys, so adding an option without listing it here
 * (or listing one the type lacks) is a type error.
 */
import { definitionSchemas } from '../definition/definition.js';
import { didYouMean } from '../kernel/did-you-mean.js';
import type { ValidationIssue } from '../kernel/errors.js';
import { builderError } from './builder-steps.js';
import type {
  ApprovalOptions,
  EndOptions,
  ForEachOptions,
  OutputSchema,
  ParallelOptions,
  PromptOptions,
  RepeatOptions,
  StepOptions,
  SubWorkflowOptions,
  WaitForEventOptions,
  WebhookOptions,
  WhenOptions,
  WhileOptions,
  WorkflowOptions,
} from './builder-types.js';

type KeysOf<T> = { readonly [K in keyof Required<T>]: true };

const STEP: KeysOf<StepOptions> = { name: true, description: true, retry: true, timeout_ms: true };
const LOOP = { ...STEP, id: true, max_iterations: true, index_as: true } as const;

/** Accepted option keys, by builder method. */
export const OPTION_KEYS = {
  workflow: { id: true, description: true, version: true, status: true, tags: true, variables: true, additional_input: true, triggers: true, settings: true } satisfies KeysOf<WorkflowOptions>,
  prompt: {
    ...STEP,
    model: true,
    template: true,
    prompt_id: true,
    prompt_version: true,
    system: true,
    output: true,
    options: true,
    input_mapping: true,
    output_mapping: true,
    fallback: true,
    stream: true,
    tools: true,
    max_tool_steps: true,
  } satisfies KeysOf<PromptOptions<OutputSchema>>,
  step: STEP,
  when: { ...STEP, id: true, mergeStrategy: true } satisfies KeysOf<WhenOptions>,
  forEach: { ...LOOP, as: true, concurrency: true } satisfies KeysOf<ForEachOptions>,
  while: LOOP satisfies KeysOf<WhileOptions>,
  repeat: { ...LOOP, concurrency: true } satisfies KeysOf<RepeatOptions>,
  parallel: { ...STEP, id: true, waitFor: true, requiredCount: true, mergeStrategy: true } satisfies KeysOf<ParallelOptions>,
  delay: { until: true },
  // `onReject` is a callback next to the options the type describes.
  approval: { ...({ ...STEP, message: true, data: true, on_timeout: true } satisfies KeysOf<ApprovalOptions>), onReject: true },
  webhook: { ...STEP, url: true, method: true, headers: true, body: true, expected_status: true, output_mapping: true, request_timeout_ms: true } satisfies KeysOf<WebhookOptions>,
  subWorkflow: { ...STEP, workflow_id: true, version: true, input_mapping: true } satisfies KeysOf<SubWorkflowOptions>,
  waitForEvent: { ...STEP, event: true, filter: true } satisfies KeysOf<WaitForEventOptions>,
  end: { ...STEP, id: true, terminate: true } satisfies KeysOf<EndOptions>,
  variable: { name: true, type: true, default_value: true, description: true, required: true },
  trigger: { id: true, type: true, config: true },
} as const;

/**
 * Throws `validation_failed` naming every key of `value` that `known` lacks, each with the known
 * key it most likely meant (or the known keys); `where` says whose options they are
 * (`Step "triage" (prompt) options`). A value that is not a plain object is refused too. Absent
 * (`undefined`) options pass.
 */
export function checkKeys(value: unknown, known: Readonly<Record<string, true>>, where: string, nodeId?: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw builderError(`${where} must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`, nodeId);
  }
  const keys = Object.keys(known);
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(known, key)) continue;
    const hint = didYouMean(key, keys);
    issues.push({
      path: [key],
      code: 'unknown_key',
      message: `${where} has an unknown key "${key}"${hint === undefined ? ` (known keys: ${keys.join(', ')}).` : `; did you mean "${hint}"?`}`,
      ...(nodeId === undefined ? {} : { nodeId }),
    });
  }
  if (issues.length > 0) throw builderError(issues.map((i) => i.message).join(' '), nodeId, issues);
}

/** Checks the options of step method `method` (with the keys of `keys`), and its `retry` against the retry policy's keys. */
export function checkStepKeys(method: string, id: string, opts: unknown, keys: keyof typeof OPTION_KEYS = method as keyof typeof OPTION_KEYS): void {
  checkKeys(opts, OPTION_KEYS[keys], `${stepLabel(method, id)} options`, id);
  const retry = (opts as { retry?: unknown } | undefined)?.retry;
  if (retry !== undefined) checkKeys(retry, schemaKeys(definitionSchemas().RetryPolicySchema.shape), `${stepLabel(method, id)} retry`, id);
}

/** Checks `workflow(name, opts)`: its options, settings (and budget), object-form variables and triggers. */
export function checkWorkflowKeys(name: string, opts: unknown): void {
  const where = `Workflow ${JSON.stringify(name)}`;
  checkKeys(opts, OPTION_KEYS.workflow, `${where} options`);
  const o = (opts ?? {}) as WorkflowOptions;
  const { WorkflowSettingsSchema, RetryPolicySchema } = definitionSchemas();
  checkKeys(o.settings, schemaKeys(WorkflowSettingsSchema.shape), `${where} settings`);
  checkKeys(o.settings?.budget, schemaKeys(WorkflowSettingsSchema.shape.budget.unwrap().shape), `${where} settings.budget`);
  checkKeys(o.settings?.retry_policy, schemaKeys(RetryPolicySchema.shape), `${where} settings.retry_policy`);
  const variables = o.variables;
  if (Array.isArray(variables)) {
    for (const v of variables as readonly { name?: unknown }[]) checkKeys(v, OPTION_KEYS.variable, `${where} variable ${JSON.stringify(String(v?.name))}`);
  } else if (variables !== undefined && typeof variables === 'object') {
    for (const [key, v] of Object.entries(variables)) {
      if (typeof v === 'object' && v !== null) checkKeys(v, OPTION_KEYS.variable, `${where} variable ${JSON.stringify(key)}`);
    }
  }
  for (const t of o.triggers ?? []) checkKeys(t, OPTION_KEYS.trigger, `${where} trigger`);
}

function schemaKeys(shape: object): Readonly<Record<string, true>> {
  return Object.fromEntries(Object.keys(shape).map((k) => [k, true] as const));
}

/** How messages name a step, like validation names a node: `Step "triage" (prompt)`. */
export function stepLabel(method: string, id: string): string {
  return `Step ${JSON.stringify(id)} (${method})`;
}
