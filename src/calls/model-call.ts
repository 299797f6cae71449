/**
 * Calling an LLM on behalf of a step: provider lookup by `provider:model`, fallbacks, per-provider
 * limits and circuit breakers, run budgets, the tool loop, streaming to `node:token`, structured
 * output validated (and re-asked with the error on failure), usage and cost, recorded replay, and
 * an execution record for every call, committed with the step that made it.
 */
import { plainConstructor, plainMaker } from '../kernel/plain.js';
import type { Provider, ProviderMessage, ProviderOptions, ProviderRequest, ProviderResponse, ProviderToolDefinition, JsonSchema } from '../providers/provider.js';
import { addUsage, costOf, DEFAULT_PRICES, priceFor, ZERO_USAGE, type PriceTable, type UsageTotals } from './pricing.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { ProviderGate, type ProviderMetrics } from './provider-gate.js';
import type { ProviderLimits } from './rate-limiter.js';
import { stepCallId } from '../kernel/call-ids.js';
import type { ModelCallRecord, RunRecord, StoredError } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import { checkBudget, type RunBudget, type UsageSoFar } from './call-budget.js';
import type { Clock } from '../kernel/clock.js';
import { parseProviderModel, type WorkflowDefinition } from '../definition/definition.js';
import { ProviderError, TrellisError, toTrellisError } from '../kernel/errors.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { IdGenerator } from '../kernel/ids.js';
import { checkJson } from './json-schema-check.js';
import type { ReplayResponder } from './replay-answers.js';
import { RunCalls, type LoadCalls } from './run-calls.js';
import { resolveTools, runToolCalls, toolMessages, type ToolCallRecord, type ToolDefinition } from './tool-loop.js';

/** What a step asks for. */
export interface ModelCall {
  /** `provider:model`. */
  readonly providerModel: string;
  readonly prompt: string;
  readonly system?: string;
  readonly options?: ProviderOptions;
  readonly outputSchema?: JsonSchema;
  /** Models tried in order when the primary fails with a retryable error (or its breaker is open). */
  readonly fallback?: readonly string[];
  /** Stream tokens to `node:token` events. */
  readonly stream?: boolean;
  /** Names of host tools (engine option `tools`) the model may call. */
  readonly tools?: readonly string[];
  /** Model turns that may call tools before the step fails. @default 5 */
  readonly maxToolSteps?: number;
  /** Renders a template in the step's context: lets a fork replace the node's template. */
  readonly render?: (template: string) => string;
}

/** What the step gets back. */
export interface ModelResult {
  readonly text: string;
  /** The parsed answer when it is a JSON object or array (always, with an output schema). */
  readonly json?: Json;
  /** Tokens of every provider call this model call made (tool turns and re-asks included). */
  readonly usage: { readonly input_tokens: number; readonly output_tokens: number };
  /** USD of those calls; absent when one of them used a model without a known price. */
  readonly cost_usd?: number;
  /** The `provider:model` that answered. */
  readonly model: string;
  /** Id of the record of the call that answered. */
  readonly callId: string;
  /** Tools the model called, with their arguments and results, in order. */
  readonly toolCalls?: readonly ToolCallRecord[];
  /** The prompt actually sent, when a fork override replaced the node's template. */
  readonly prompt?: string;
}

/** Identifies the step making the call. */
export interface CallSite {
  readonly runId: string;
  readonly nodeId: string;
  readonly path: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly signal: AbortSignal;
  onToken(delta: string): void;
  /** Receives each execution record, to be committed with the step. */
  readonly record: (record: ModelCallRecord) => void;
  /**
   * The run's committed usage so far (the caller adds the turns of the current call).
   * @default what the caller counted for the run, plus its committed records after a recovery
   */
  readonly usageSoFar?: () => UsageSoFar | Promise<UsageSoFar>;
  /** The run's budget. @default the workflow's `settings.budget` of a run attached with `attachRun` */
  readonly budget?: RunBudget;
}

/** Settings of the model caller. */
export interface ModelCallerOptions {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How many times a malformed structured answer is re-asked before the step fails. @default 2 */
  readonly structuredRetries: number;
  /** @default DEFAULT_PRICES */
  readonly prices?: PriceTable;
  /** Limits by provider name. */
  readonly limits?: ReadonlyMap<string, ProviderLimits>;
  /** `false` turns breakers off. @default { failureThreshold: 5, cooldownMs: 30000 } */
  readonly circuitBreaker?: Required<CircuitBreakerOptions> | false;
  /** Host tools by name. */
  readonly tools?: ReadonlyMap<string, ToolDefinition>;
  /** Where `provider:circuit` events go. */
  readonly events?: TrellisEventEmitter;
  /** Loads a run's execution records (replay sources; budgets of recovered runs). */
  readonly calls?: LoadCalls;
}

/** Counters and breaker state by provider, from `metrics()`. */
export interface ModelMetrics {
  readonly providers: Readonly<Record<string, ProviderMetrics>>;
}

/** Everything one `call` shares between its models and turns. */
interface CallState {
  readonly run: RunCalls | undefined;
  readonly replay: ReplayResponder | undefined;
  usage: UsageTotals;
  /** Provider requests made so far by this call: orders its records when timestamps tie. */
  seq: number;
}

/** One provider request as sent, before it has an outcome. */
interface Sent {
  readonly id: string;
  readonly providerModel: string;
  readonly idempotencyKey: string;
  readonly request: Json;
  readonly started: number;
}

/** One provider exchange, recorded once its tool calls (if any) have run. */
interface Exchange {
  readonly response: ProviderResponse;
  readonly sent: Sent;
  readonly completedAt: number;
  readonly cost: number | undefined;
  readonly toolResults?: readonly ToolCallRecord[];
  readonly replayedFrom?: string;
}

const DEFAULT_BREAKER: Required<CircuitBreakerOptions> = { failureThreshold: 5, cooldownMs: 30_000 };
const NO_TOOLS: ReadonlyMap<string, ToolDefinition> = new Map();

/** Makes provider calls for steps. One per engine; limits and breakers are shared by all its runs. */
export class ModelCaller {
  readonly #options: ModelCallerOptions;
  readonly #prices: PriceTable;
  readonly #gates = new Map<string, ProviderGate>();
  readonly #runs = new Map<string, RunCalls>();
  readonly #parsedModels = new Map<string, { provider: string; model: string } | undefined>();
  readonly #pricesByModel = new Map<string, ReturnType<typeof priceFor>>();

  constructor(options: ModelCallerOptions) {
    this.#options = options;
    this.#prices = options.prices ?? DEFAULT_PRICES;
  }

  /**
   * Tells the caller about a run it is about to serve: its budget (`settings.budget`) and, for a
   * replay or fork (`run.trigger`), where recorded answers come from. Cheap no-op for other runs.
   */
  attachRun(run: RunRecord, definition: WorkflowDefinition): void {
    const state = RunCalls.for(run, definition, this.#options.calls ?? (() => Promise.resolve([])));
    if (state) this.#runs.set(run.id, state);
  }

  /** Forgets a run's state (it finished, or this process let go of it). */
  detachRun(runId: string): void {
    this.#runs.delete(runId);
  }

  /** Calls made, failures, breaker state, queued and active calls, tokens and cost, by provider. */
  metrics(): ModelMetrics {
    for (const name of this.#options.providers.keys()) this.#gate(name);
    return { providers: Object.fromEntries([...this.#gates].map(([name, gate]) => [name, gate.metrics()])) };
  }

  /** Calls the primary model, then each fallback on a retryable failure. */
  call(call: ModelCall, site: CallSite): Promise<ModelResult> {
    const run = this.#runs.get(site.runId);
    if (run === undefined && !call.fallback?.length) {
      // The common case (no replay, fork or budget state, no fallbacks, tools or schema) takes the
      // single-request path: this runs for every LLM step.
      const single = !call.tools?.length && call.outputSchema === undefined && site.budget === undefined ? this.#single(call, site) : undefined;
      return single ?? this.#callOne(call.providerModel, call, site, { run, replay: undefined, usage: ZERO_USAGE, seq: 0 });
    }
    return this.#callWith(run, call, site);
  }

  /** The single-request path when the provider is known and has no limits to wait for; else undefined. */
  #single(call: ModelCall, site: CallSite): Promise<ModelResult> | undefined {
    const parsed = this.#parse(call.providerModel);
    const provider = parsed && this.#options.providers.get(parsed.provider);
    if (!parsed || !provider) return undefined;
    const gate = this.#gate(parsed.provider);
    return gate.limited ? undefined : this.#sendOne(call, site, parsed.model, provider, gate);
  }

  /**
   * One request, in one async frame with one await: the same request, execution record, counters
   * and errors as the general path (#callOne, #exchange, the gate), without their frames, which
   * cost more than the rest of a model call put together.
   */
  async #sendOne(call: ModelCall, site: CallSite, model: string, provider: Provider, gate: ProviderGate): Promise<ModelResult> {
    const { clock, ids } = this.#options;
    const request = providerRequest(model, call, site, [{ role: 'user', content: call.prompt }], 0, undefined);
    const sent: Sent = { id: stepCallId(ids('exec'), site.runId, site.path), providerModel: call.providerModel, idempotencyKey: request.idempotencyKey, request: requestJson(request, 0), started: clock.now() };
    gate.enter(site);
    let response: ProviderResponse;
    try {
      response = await provider.complete(request);
    } catch (error) {
      gate.failed(site, error);
      throw this.#failed(sent, site, error);
    }
    gate.succeeded();
    const cost = this.#costOf(call.providerModel, response);
    gate.count(response.usage, cost);
    const id = this.#record({ response, sent, completedAt: clock.now(), cost }, site, undefined);
    return modelResult(response.text, response.usage, call.providerModel, id, parseJson(response.text), cost, undefined);
  }

  async #callWith(run: RunCalls | undefined, call: ModelCall, site: CallSite): Promise<ModelResult> {
    const override = run?.override(site.nodeId);
    let effective = call;
    let prompt: string | undefined;
    if (override) {
      if (override.template !== undefined) {
        if (!call.render) throw new TrellisError('not_implemented', `Node "${site.nodeId}" cannot take a template override (its handler passes no render function)`, { nodeId: site.nodeId, retryable: false });
        prompt = call.render(override.template);
      }
      effective = { ...call, ...(prompt === undefined ? {} : { prompt }), ...(override.provider_model === undefined ? {} : { providerModel: override.provider_model }) };
    }
    const state: CallState = { run, replay: run?.replays(site.nodeId) ? await run.responder() : undefined, usage: ZERO_USAGE, seq: 0 };
    if (!effective.fallback?.length) {
      const result = await this.#callOne(effective.providerModel, effective, site, state);
      return prompt === undefined ? result : { ...result, prompt };
    }
    const models = [effective.providerModel, ...effective.fallback];
    let lastError: TrellisError | undefined;
    for (const model of models) {
      try {
        const result = await this.#callOne(model, effective, site, state);
        return prompt === undefined ? result : { ...result, prompt };
      } catch (error) {
        lastError = toTrellisError(error, 'provider_error');
        if (!lastError.retryable || site.signal.aborted) throw lastError;
      }
    }
    throw lastError!;
  }

  async #callOne(providerModel: string, call: ModelCall, site: CallSite, state: CallState): Promise<ModelResult> {
    const parsed = this.#parse(providerModel);
    if (!parsed) throw new TrellisError('bad_request', `Malformed provider_model "${providerModel}": expected "provider:model"`, { nodeId: site.nodeId });
    const registry = this.#options.tools ?? NO_TOOLS;
    // A replayed step needs no registered tools: their recorded results answer.
    const tools = call.tools?.length ? (state.replay ? call.tools.map((name) => ({ name, parameters: registry.get(name)?.parameters ?? {} })) : resolveTools(call.tools, registry, site.nodeId)) : undefined;
    const maxToolSteps = call.maxToolSteps ?? 5;
    const messages: ProviderMessage[] = [{ role: 'user', content: call.prompt }];
    const toolCalls: ToolCallRecord[] = [];
    let toolSteps = 0;
    for (let ask = 0, turn = 0; ; turn++) {
      const request = providerRequest(parsed.model, call, site, messages.slice(), turn, tools);
      const exchange = await this.#exchange(parsed.provider, providerModel, request, site, state);
      const { response } = exchange;
      if (tools && response.toolCalls?.length) {
        if (++toolSteps > maxToolSteps) {
          this.#commit(exchange, site, state, undefined);
          throw new TrellisError('max_iterations', `Node "${site.nodeId}" exceeded max_tool_steps (${maxToolSteps}): the model asked for tools again after ${maxToolSteps} tool turns`, {
            nodeId: site.nodeId,
            retryable: false,
            details: { tool_calls: toolCalls as unknown as Json },
          });
        }
        let results: readonly ToolCallRecord[];
        try {
          results = exchange.toolResults ?? (await runToolCalls(response.toolCalls, registry, new Set(call.tools), { signal: site.signal, executionId: site.runId, nodeId: site.nodeId, path: site.path }));
        } catch (error) {
          this.#commit(exchange, site, state, undefined);
          throw error;
        }
        this.#commit(exchange, site, state, results);
        toolCalls.push(...results);
        messages.push(...toolMessages(response.text, response.toolCalls, results));
        continue;
      }
      const id = this.#commit(exchange, site, state, undefined);
      const json = parseJson(response.text);
      const problem = call.outputSchema === undefined ? undefined : json === undefined ? 'the answer is not valid JSON' : checkJson(call.outputSchema, json);
      if (problem === undefined) {
        return modelResult(response.text, state.usage, providerModel, id, json, state.usage.unpriced_calls === 0 ? state.usage.cost_usd : undefined, toolCalls);
      }
      if (ask++ >= this.#options.structuredRetries) {
        throw new TrellisError('malformed_output', `Model answer does not match the output schema (${problem}). Raw answer: ${response.text.slice(0, 2000)}`, {
          nodeId: site.nodeId,
          retryable: false,
          details: { raw: response.text },
        });
      }
      messages.push(
        { role: 'assistant', content: response.text },
        { role: 'user', content: `Your answer was invalid: ${problem}. Answer again with only JSON that matches the schema.` },
      );
    }
  }

  /** One request: from the replay source when the step replays, else through budget, breaker, limits and the provider. */
  async #exchange(providerName: string, providerModel: string, request: ProviderRequest, site: CallSite, state: CallState): Promise<Exchange> {
    const budget = site.budget ?? state.run?.budget;
    if (budget) await this.#checkBudget(budget, providerModel, request, site, state);
    const { clock, ids } = this.#options;
    const started = clock.now();
    const sent: Sent = { id: stepCallId(ids('exec'), site.runId, site.path), providerModel, idempotencyKey: request.idempotencyKey, request: requestJson(request, state.seq++), started };
    if (state.replay) {
      const recorded = state.replay.take(site.path, site.attempt, providerModel);
      if (recorded === 'skip') throw new TrellisError('provider_error', `Replay: the recorded run did not get an answer from "${providerModel}" here`, { nodeId: site.nodeId, retryable: true });
      if (recorded?.kind === 'failure') {
        site.record(executionRecord(sent, site, 'failed', started, { error: { code: recorded.error.code, message: recorded.error.message } }));
        throw recorded.error;
      }
      if (recorded) {
        // A replayed answer cost nothing now; budgets still count the original cost so a replay stops where the original did.
        state.run?.add(sent.id, { ...usageTotals(recorded.response, recorded.record.cost_usd), unpriced_calls: 0 });
        return { response: recorded.response, sent, completedAt: started, cost: 0, replayedFrom: recorded.record.id, ...(recorded.toolResults ? { toolResults: recorded.toolResults } : {}) };
      }
      if (state.run?.spec?.type === 'replay') {
        throw new TrellisError('not_found', `Replay of execution ${state.run.spec.source_execution_id}: it made no further model call at step "${site.path}" attempt ${site.attempt}`, {
          nodeId: site.nodeId,
          retryable: false,
        });
      }
      // A fork reached a step the source run never got to: call the provider.
    }
    const provider = this.#options.providers.get(providerName);
    if (!provider) {
      throw new TrellisError('unknown_provider', `No provider named "${providerName}" is configured (node "${site.nodeId}" asks for "${providerModel}")`, {
        nodeId: site.nodeId,
        provider: providerName,
        retryable: true,
      });
    }
    const gate = this.#gate(providerName);
    let reached = false;
    try {
      const response = await gate.call(gate.limited ? estimateInput(request) : 0, site, () => {
        reached = true;
        return provider.complete(request);
      });
      const done = clock.now();
      const cost = this.#costOf(providerModel, response);
      gate.count(response.usage, cost);
      state.run?.add(sent.id, usageTotals(response, cost));
      return { response, sent, completedAt: done, cost };
    } catch (error) {
      throw reached ? this.#failed(sent, site, error) : callError(error);
    }
  }

  /** Records a request that reached the provider and failed; returns the error to throw. */
  #failed(sent: Sent, site: CallSite, error: unknown): ProviderError | TrellisError {
    const failure = callError(error);
    site.record(executionRecord(sent, site, 'failed', this.#options.clock.now(), { error: { code: failure.code, message: failure.message } }));
    return failure;
  }

  /** Records a completed exchange (with its tool calls) and adds it to the call's usage; returns the record id. */
  #commit(exchange: Exchange, site: CallSite, state: CallState, toolResults: readonly ToolCallRecord[] | undefined): string {
    state.usage = addUsage(state.usage, usageTotals(exchange.response, exchange.cost));
    return this.#record(exchange, site, toolResults);
  }

  /** Records a completed exchange (with its tool calls); returns the record id. */
  #record(exchange: Exchange, site: CallSite, toolResults: readonly ToolCallRecord[] | undefined): string {
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
    site.record(executionRecord(sent, site, 'completed', exchange.completedAt, cost === undefined ? { response: answer, usage } : { response: answer, usage, cost }));
    return sent.id;
  }

  async #checkBudget(budget: RunBudget, providerModel: string, request: ProviderRequest, site: CallSite, state: CallState): Promise<void> {
    // A runner's figure covers committed records; this call's earlier turns are not committed yet.
    const used = site.usageSoFar ? addUsage(await site.usageSoFar(), state.usage) : state.run ? await state.run.usageSoFar() : ZERO_USAGE;
    checkBudget(budget, used, { providerModel, estimatedInputTokens: estimateInput(request), nodeId: site.nodeId }, this.#prices);
  }

  #costOf(providerModel: string, response: ProviderResponse): number | undefined {
    let price = this.#pricesByModel.get(providerModel);
    if (price === undefined && !this.#pricesByModel.has(providerModel)) {
      price = priceFor(providerModel, this.#prices);
      this.#pricesByModel.set(providerModel, price);
    }
    return price ? costOf(response.usage, price) : undefined;
  }

  /** `provider:model` split once per distinct string (it is asked for on every call). */
  #parse(providerModel: string): { provider: string; model: string } | undefined {
    let parsed = this.#parsedModels.get(providerModel);
    if (parsed === undefined && !this.#parsedModels.has(providerModel)) {
      parsed = parseProviderModel(providerModel);
      this.#parsedModels.set(providerModel, parsed);
    }
    return parsed;
  }

  #gate(name: string): ProviderGate {
    let gate = this.#gates.get(name);
    if (!gate) {
      const { clock, events } = this.#options;
      const breaker = this.#options.circuitBreaker ?? DEFAULT_BREAKER;
      gate = new ProviderGate(name, clock, this.#options.limits?.get(name), breaker === false ? undefined : breaker, (state) =>
        events?.publish('provider:circuit', { provider: name, state, timestamp: clock.now() }),
      );
      this.#gates.set(name, gate);
    }
    return gate;
  }
}

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

/** The execution record of a request (one is made per LLM call). */
function executionRecord(sent: Sent, site: CallSite, status: ModelCallRecord['status'], completedAt: number, outcome: { readonly response?: Json; readonly usage?: Json; readonly cost?: number; readonly error?: StoredError }): ModelCallRecord {
  const record = new CallRecord(sent, site, status, completedAt);
  if (outcome.response !== undefined) record.response = outcome.response;
  if (outcome.usage !== undefined) record.usage = outcome.usage;
  if (outcome.cost !== undefined) record.cost_usd = outcome.cost;
  if (outcome.error !== undefined) record.error = outcome.error;
  return record;
}

/** What a model call returns: the answer, its usage (over every exchange it took), and its record's id. */
function modelResult(
  text: string,
  usage: { readonly input_tokens: number; readonly output_tokens: number },
  model: string,
  callId: string,
  json: Json | undefined,
  cost: number | undefined,
  toolCalls: ModelResult['toolCalls'],
): ModelResult {
  const result: Mutable<ModelResult> = { text, usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens }, model, callId };
  if (json !== undefined) result.json = json;
  if (cost !== undefined) result.cost_usd = cost;
  if (toolCalls?.length) result.toolCalls = toolCalls;
  return result;
}

function usageTotals(response: ProviderResponse, cost: number | undefined): UsageTotals {
  return { input_tokens: response.usage.input_tokens, output_tokens: response.usage.output_tokens, cost_usd: cost ?? 0, unpriced_calls: cost === undefined ? 1 : 0 };
}

/** Input tokens of a request, estimated as characters / 4 (limits and budgets act before the call). */
function estimateInput(request: ProviderRequest): number {
  let chars = request.system?.length ?? 0;
  for (const m of request.messages) chars += m.content.length;
  return Math.ceil(chars / 4);
}

function requestJson(request: ProviderRequest, seq: number): Json {
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

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_OPTIONS: ProviderOptions = Object.freeze({});

/**
 * The request of one turn. A class, because one is made for every model call: its `signal` is a
 * getter on the prototype (read lazily: an AbortController costs ~2 µs and most providers in tests
 * never look), where an own accessor would give every request a hidden class of its own.
 */
class OutgoingRequest implements ProviderRequest {
  readonly model: string;
  readonly prompt: string;
  readonly messages: readonly ProviderMessage[];
  readonly options: ProviderOptions;
  readonly idempotencyKey: string;
  declare system?: string;
  declare outputSchema?: JsonSchema;
  declare tools?: readonly ProviderToolDefinition[];
  declare onToken?: (delta: string) => void;
  readonly #site: CallSite;

  constructor(model: string, call: ModelCall, site: CallSite, messages: readonly ProviderMessage[], turn: number) {
    this.model = model;
    this.prompt = call.prompt;
    this.messages = messages;
    this.options = call.options ?? NO_OPTIONS;
    this.idempotencyKey = turn === 0 ? site.idempotencyKey : `${site.idempotencyKey}:${turn}`;
    this.#site = site;
  }

  get signal(): AbortSignal {
    return this.#site.signal;
  }
}

/** The request of one turn; `messages` becomes the request's own (the caller does not change it afterwards). */
function providerRequest(model: string, call: ModelCall, site: CallSite, messages: readonly ProviderMessage[], turn: number, tools: readonly ProviderToolDefinition[] | undefined): ProviderRequest {
  const request = new OutgoingRequest(model, call, site, messages, turn);
  if (call.system !== undefined) request.system = call.system;
  if (call.outputSchema !== undefined) request.outputSchema = call.outputSchema;
  if (tools !== undefined) request.tools = tools;
  // Bound only for a streaming call: most calls never stream.
  if (call.stream) request.onToken = (delta) => site.onToken(delta);
  return request;
}

/** A provider call's failure as thrown to the step: Trellis and provider errors as they are, anything else as `provider_error`. */
function callError(error: unknown): ProviderError | TrellisError {
  return error instanceof ProviderError || error instanceof TrellisError ? error : toTrellisError(error, 'provider_error');
}

/** Parses text as JSON when it is an object or array (also inside a ```json fence). */
export function parseJson(text: string): Json | undefined {
  // Most answers are prose: decide from the first non-blank character before any trimming or regex.
  let start = 0;
  while (start < text.length && text.charCodeAt(start) <= 32) start++;
  const lead = text[start];
  if (lead !== '{' && lead !== '[' && lead !== '`') return undefined;
  let body = text.trim();
  const fence = /^```(?:json)?\s*([\s\S]*?)\s*```$/i.exec(body);
  if (fence) body = fence[1]!;
  const first = body[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(body) as Json;
  } catch {
    return undefined;
  }
}
