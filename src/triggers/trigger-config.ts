/**
 * The config of each trigger type, checked with zod, and the list of a stored workflow's
 * triggers of one type. Data first: triggers are read from stored definitions, never from code.
 */
import type { z } from 'zod';
import type { WorkflowRecord } from '../storage/records.js';
import { loadZod } from '../kernel/lazy-modules.js';
import { lazyValue } from '../kernel/lazy-value.js';
import { getPath } from '../expressions/data-paths.js';

/** Builds the trigger config schemas; like the definition's (definition.ts), on first use only. */
function buildSchemas({ z }: ReturnType<typeof loadZod>) {
  const inputMapping = z.record(z.string(), z.string().min(1));
  return {
    schedule: z.object({
      /** Five fields (minute precision) or six (seconds first). */
      cron: z.string().min(1),
      /** IANA zone the pattern is read in, e.g. `Europe/Paris`. @default the process's zone */
      timezone: z.string().min(1).optional(),
      /** What to do with fires that were due while no process was running. @default 'skip' */
      catch_up: z.enum(['skip', 'run_once']).default('skip'),
      /** The run input of every fire. @default {} */
      input: z.record(z.string(), z.unknown()).default({}),
    }),
    webhook: z.object({
      /** HMAC-SHA256 secret. Prefer `secret_env` so the secret is not stored with the workflow. */
      secret: z.string().min(1).optional(),
      /** Name of the environment variable holding the secret. */
      secret_env: z.string().min(1).optional(),
      /** Largest accepted age of the signature's timestamp, in seconds. @default 300 */
      tolerance_seconds: z.number().int().min(1).default(300),
      /** Run input key ← dot path in the body. @default the whole body is the input */
      input_mapping: inputMapping.optional(),
      /** Dot path in the body of a delivery id; repeated deliveries with the same id start one run. */
      idempotency_field: z.string().min(1).optional(),
    }),
    event: z.object({
      /** Event name, e.g. `order.created`, or `workflow.completed` / `workflow.failed` to chain. */
      event: z.string().min(1),
      /** Expression over `event` (the payload); the run starts only when it is true. */
      filter: z.string().min(1).optional(),
      /** Run input key ← dot path in the payload. @default the whole payload is the input */
      input_mapping: inputMapping.optional(),
    }),
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
let schemas: Schemas | undefined;

function triggerConfigSchemas(): Schemas {
  return (schemas ??= buildSchemas(loadZod()));
}

/** `{ type: 'schedule', config }`: fire on a cron pattern. */
export const ScheduleTriggerConfigSchema = lazyValue(() => triggerConfigSchemas().schedule);
/** Config of a schedule trigger after defaults. */
export type ScheduleTriggerConfig = z.infer<typeof ScheduleTriggerConfigSchema>;

/** `{ type: 'webhook', config }`: `POST /hooks/:workflowId/:triggerId` starts a run. */
export const WebhookTriggerConfigSchema = lazyValue(() => triggerConfigSchemas().webhook);
/** Config of a webhook trigger after defaults. */
export type WebhookTriggerConfig = z.infer<typeof WebhookTriggerConfigSchema>;

/** `{ type: 'event', config }`: `triggers.emit(event, payload)` starts a run. */
export const EventTriggerConfigSchema = lazyValue(() => triggerConfigSchemas().event);
/** Config of an event trigger after defaults. */
export type EventTriggerConfig = z.infer<typeof EventTriggerConfigSchema>;

type Configs = { [K in keyof Schemas]: z.infer<Schemas[K]> };

/** One trigger of one stored workflow, with its config checked. */
export interface StoredTrigger<C> {
  readonly workflowId: string;
  /** The trigger's `id`, or `<type>_<index>` when it has none. */
  readonly triggerId: string;
  readonly config: C;
}

/** A trigger whose config is invalid: reported, never fired. */
export interface TriggerConfigProblem {
  readonly workflowId: string;
  readonly triggerId: string;
  readonly message: string;
}

/** The id a trigger is addressed by: its own, else its type and position in the list. */
export function triggerIdOf(trigger: { readonly id?: string | undefined; readonly type: string }, index: number): string {
  return trigger.id ?? `${trigger.type}_${index}`;
}

/**
 * The triggers of `type` of active workflows, configs parsed. Draft and archived workflows never
 * fire. Invalid configs are returned as problems so one bad workflow does not stop the others.
 */
export function triggersOfType<K extends keyof Configs>(
  workflows: readonly WorkflowRecord[],
  type: K,
): { triggers: StoredTrigger<Configs[K]>[]; problems: TriggerConfigProblem[] } {
  const triggers: StoredTrigger<Configs[K]>[] = [];
  const problems: TriggerConfigProblem[] = [];
  for (const record of workflows) {
    if (record.status !== 'active') continue;
    record.definition.definition.triggers.forEach((trigger, index) => {
      if (trigger.type !== type) return;
      const triggerId = triggerIdOf(trigger, index);
      const parsed = triggerConfigSchemas()[type].safeParse(trigger.config);
      if (parsed.success) triggers.push({ workflowId: record.id, triggerId, config: parsed.data as Configs[K] });
      else problems.push({ workflowId: record.id, triggerId, message: parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ') });
    });
  }
  return { triggers, problems };
}

/** Finds trigger `triggerId` of `type` in one workflow record, config parsed (throws the zod error when invalid). */
export function findTrigger<K extends keyof Configs>(record: WorkflowRecord, type: K, triggerId: string): Configs[K] | undefined {
  const index = record.definition.definition.triggers.findIndex((t, i) => t.type === type && triggerIdOf(t, i) === triggerId);
  if (index < 0) return undefined;
  return triggerConfigSchemas()[type].parse(record.definition.definition.triggers[index]!.config) as Configs[K];
}

/** The run input for a payload: the payload itself, or each mapped key read from its dot path. */
export function mapInput(payload: unknown, mapping: Readonly<Record<string, string>> | undefined): unknown {
  if (mapping === undefined) return payload;
  const input: Record<string, unknown> = {};
  for (const [key, path] of Object.entries(mapping)) {
    const value = getPath(payload, path);
    if (value !== undefined) input[key] = value;
  }
  return input;
}
