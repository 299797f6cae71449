/**
 * The call record of each provider request (one per LLM call, committed with the step that made
 * it) and the pieces it holds: the request as JSON, the answer, the usage.
 */
import { plainConstructor, plainMaker } from '../kernel/plain.js';
import type { ProviderRequest, ProviderResponse, ProviderToolDefinition } from '../providers/provider.js';
import type { UsageTotals } from './pricing.js';
import type { ModelCallRecord, StoredError } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { CallSite } from './call-types.js';
import type { ToolCallRecord } from './tool-loop.js';

/** One provider request as sent, before it has an outcome. */
export interface Sent {
  readonly id: string;
  readonly providerModel: string;
  readonly idempotencyKey: string;
  readonly request: Json;
  readonly started: number;
}
/** One provider exchange, recorded once its tool calls (if any) have run. */
export interface Exchange {
  readonly response: ProviderResponse;
  readonly sent: Sent;
  readonly completedAt: number;
  readonly cost: number | undefined;
  readonly toolResults?: readonly ToolCallRecord[];
  readonly replayedFrom?: string;
}
/** `T` with its `readonly` modifiers removed, for records filled field by field. */
export type { Mutable } from '../kernel/mutable.js';
import type { Mutable } from '../kernel/mutable.js';

// Call records and what they hold are made with `new`, never as literals: see plain.ts.
const newRequestJson = plainMaker<Record<string, Json>>();
const newAnswer = plainMaker<Record<string, Json>>();
const newUsage = plainMaker<Record<string, Json>>();
const CallRecord = plainConstructor(function (this: Mutable<ModelCallRecord>, sent: Sent, site: CallSite, status: ModelCallRecord['status'], completedAt: number) {
  this.id = sent.id;
  this.status = status;
  this.provider_model = sent.providerModel;
  this.workflow_execution_id = site.runId;
  this.workflow_node_id = site.nodeId;
  this.step_path = site.path;
  this.attempt = site.attempt;
  this.idempotency_key = sent.idempotencyKey;
  this.request = sent.request;
  this.created_at = sent.started;
  this.started_at = sent.started;
  this.completed_at = completedAt;
  this.duration_ms = completedAt - sent.started;
});
/** The call record of a request (one is made per LLM call). */
export function callRecord(sent: Sent, site: CallSite, status: ModelCallRecord['status'], completedAt: number, outcome: { readonly response?: Json; readonly usage?: Json; readonly cost?: number; readonly error?: StoredError }): ModelCallRecord {
  const record = new CallRecord(sent, site, status, completedAt);
  if (outcome.response !== undefined) record.response = outcome.response;
  if (outcome.usage !== undefined) record.usage = outcome.usage;
  if (outcome.cost !== undefined) record.cost_usd = outcome.cost;
  if (outcome.error !== undefined) record.error = outcome.error;
  return record;
}
/** Records a completed exchange (with its tool calls) through `site.record`; returns the record id. */
export function recordExchange(exchange: Exchange, site: CallSite, toolResults: readonly ToolCallRecord[] | undefined): string {
    const { response, sent, cost } = exchange;
  const calls = toolResults ?? response.toolCalls?.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments as Json }));
  const answer = newAnswer();
  answer.text = response.text;
  answer.finish_reason = response.finishReason ?? null;
  answer.model = response.model ?? null;
  if (calls?.length) answer.tool_calls = calls as unknown as Json;
  if (exchange.replayedFrom !== undefined) answer.replayed_from = exchange.replayedFrom;
  const usage = newUsage();
  usage.input_tokens = response.usage.input_tokens;
  usage.output_tokens = response.usage.output_tokens;
  site.record(callRecord(sent, site, 'completed', exchange.completedAt, cost === undefined ? { response: answer, usage } : { response: answer, usage, cost }));
  return sent.id;
}

/** Usage and cost of one response, as added to a run's and a call's totals. */
export function usageTotals(response: ProviderResponse, cost: number | undefined): UsageTotals {
  return { input_tokens: response.usage.input_tokens, output_tokens: response.usage.output_tokens, cost_usd: cost ?? 0, unpriced_calls: cost === undefined ? 1 : 0 };
}
/** The request as stored in its call record. */
export function requestJson(request: ProviderRequest, seq: number): Json {
  const json = newRequestJson();
  json.seq = seq;
  json.model = request.model;
  json.prompt = request.prompt;
  if (request.system !== undefined) json.system = request.system;
  json.options = request.options as Json;
  if (request.outputSchema !== undefined) json.output_schema = request.outputSchema as Json;
  if (request.tools !== undefined) json.tools = request.tools.map((t: ProviderToolDefinition) => t.name);
  // The whole conversation only once it is more than the prompt (tool turns, re-asks).
  if (request.messages.length > 1) json.messages = request.messages as unknown as Json;
  return json;
}
