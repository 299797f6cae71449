/**
 * The config of each trigger type, checked with zod (the schemas are the definition's, see
 * definition/trigger-configs.ts), and the list of a stored workflow's triggers of one type. Data first: triggers are read from stored definitions, never from code.
 */
import type { z } from 'zod';
import type { WorkflowRecord } from '../storage/records.js';
import { lazyValue } from '../kernel/lazy-value.js';
import { triggerConfigSchemas, type TriggerConfigSchemas } from '../definition/trigger-configs.js';
import { getPath } from '../expressions/data-paths.js';

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

type Configs = { [K in keyof TriggerConfigSchemas]: z.infer<TriggerConfigSchemas[K]> };

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
