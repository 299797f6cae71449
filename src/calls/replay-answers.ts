/**
 * Answers for recorded replay and fork (the runs themselves are started by engine/replay-runs.ts). A replay is a new run of the same workflow version with the same input
 * whose model calls are answered from an earlier run's call records, with no network. A fork
 * replays the steps before a node and calls the real providers from that node on, optionally with
 * an edited template or model. Both are plain runs: what to replay is data on the run
 * (`run.trigger`), so a replay recovered by another process still replays.
 */
import type { ModelCallRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ProviderResponse, ProviderToolCall } from '../providers/provider.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { ProviderError, type TrellisError, type TrellisErrorCode } from '../kernel/errors.js';
import type { ToolCallRecord } from './tool-loop.js';

/** Edits a fork applies to one prompt node. */
export interface ForkOverride {
  /** Replaces the node's template (rendered in the step's context as the original would be). */
  readonly template?: string;
  /** Replaces the node's `provider_model` (its fallbacks stay). */
  readonly provider_model?: string;
}

/** What a replay or fork run records in `run.trigger`. */
export interface ReplaySpec {
  readonly type: 'replay' | 'fork';
  /** The run whose records answer the replayed calls. */
  readonly source_execution_id: string;
  readonly from_node?: string;
  readonly overrides?: Readonly<Record<string, ForkOverride>>;
}

/** One recorded call: the answer to give, or the failure to throw. */
export type RecordedCall =
  | { readonly kind: 'answer'; readonly record: ModelCallRecord; readonly response: ProviderResponse; readonly toolResults?: readonly ToolCallRecord[] }
  | { readonly kind: 'failure'; readonly record: ModelCallRecord; readonly error: TrellisError };

/** Answers a run's model calls from another run's records. */
export interface ReplayResponder {
  /**
   * The next recorded call of step `path` at `attempt`: `undefined` when the old run made no
   * further call there, `'skip'` when it next called another model (the caller moves on to its
   * next fallback, as the old run did when this model failed or its breaker was open).
   */
  take(path: string, attempt: number, providerModel: string): RecordedCall | 'skip' | undefined;
}

/**
 * A responder over `records` (a previous run's call records), keyed by step path and attempt;
 * calls within one step attempt (fallbacks, re-asks, tool turns) are answered in recorded order.
 *
 * @example
 * const responder = createReplayResponder(await engine.calls.list({ workflow_execution_id: oldRunId }));
 * const next = responder.take('classify', 1, 'openai:gpt-4o-mini');
 */
export function createReplayResponder(records: readonly ModelCallRecord[]): ReplayResponder {
  const byStep = new Map<string, ModelCallRecord[]>();
  // Calls of one step attempt happen one after another; `request.seq` orders those made within the same millisecond.
  const sorted = [...records].sort((a, b) => a.created_at - b.created_at || seqOf(a) - seqOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const record of sorted) {
    if (record.step_path === undefined || (record.status !== 'completed' && record.status !== 'failed')) continue;
    const key = `${record.step_path}#${record.attempt ?? 1}`;
    const list = byStep.get(key);
    if (list) list.push(record);
    else byStep.set(key, [record]);
  }
  const cursors = new Map<string, number>();
  return {
    take(path, attempt, providerModel) {
      const key = `${path}#${attempt}`;
      const at = cursors.get(key) ?? 0;
      const record = byStep.get(key)?.[at];
      if (!record) return undefined;
      if (record.provider_model !== providerModel) return 'skip';
      cursors.set(key, at + 1);
      return toRecordedCall(record);
    },
  };
}

function seqOf(record: ModelCallRecord): number {
  const seq = (record.request as { seq?: unknown } | null)?.seq;
  return typeof seq === 'number' ? seq : 0;
}

function toRecordedCall(record: ModelCallRecord): RecordedCall {
  if (record.status === 'failed') {
    const code = (record.error?.code ?? 'provider_error') as TrellisErrorCode;
    return { kind: 'failure', record, error: new ProviderError(code, record.error?.message ?? 'recorded failure', { details: { replayed_from: record.id } }) };
  }
  const body = (record.response ?? {}) as { text?: string; finish_reason?: string | null; model?: string | null; tool_calls?: ToolCallRecord[] };
  const usage = (record.usage ?? {}) as { input_tokens?: number; output_tokens?: number };
  const toolCalls: ProviderToolCall[] | undefined = body.tool_calls?.map((c) => ({ id: c.id, name: c.name, arguments: (c.arguments ?? {}) as Record<string, unknown> }));
  const response: ProviderResponse = {
    text: body.text ?? '',
    usage: { input_tokens: usage.input_tokens ?? 0, output_tokens: usage.output_tokens ?? 0 },
    ...(body.finish_reason ? { finishReason: body.finish_reason } : {}),
    ...(body.model ? { model: body.model } : {}),
    ...(toolCalls?.length ? { toolCalls } : {}),
  };
  return { kind: 'answer', record, response, ...(body.tool_calls?.length ? { toolResults: body.tool_calls } : {}) };
}

/** Reads a replay spec from a run's trigger; undefined for ordinary runs. */
export function replaySpecOf(trigger: Json | undefined): ReplaySpec | undefined {
  if (typeof trigger !== 'object' || trigger === null || Array.isArray(trigger)) return undefined;
  const t = trigger as { type?: unknown; source_execution_id?: unknown };
  if ((t.type !== 'replay' && t.type !== 'fork') || typeof t.source_execution_id !== 'string') return undefined;
  return trigger as unknown as ReplaySpec;
}

/** `fromNode` and every node reachable from it: the nodes a fork runs live. */
export function forkScope(definition: WorkflowDefinition, fromNode: string): ReadonlySet<string> {
  const next = new Map<string, string[]>();
  for (const e of definition.definition.edges) next.set(e.source_node_id, [...(next.get(e.source_node_id) ?? []), e.target_node_id]);
  const seen = new Set<string>([fromNode]);
  const todo = [fromNode];
  while (todo.length) for (const target of next.get(todo.pop()!) ?? []) if (!seen.has(target)) todo.push(target), seen.add(target);
  return seen;
}
