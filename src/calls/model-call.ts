/**
 * Calling an LLM on behalf of a step: provider lookup by `provider:model`, fallbacks, per-provider
 * limits and circuit breakers, run budgets, the tool loop, streaming to `node:token`, structured
 * output validated (and re-asked with the error on failure), usage and cost, recorded replay, and
 * a call record for every call, committed with the step that made it.
 */
import type { Provider, ProviderResponse } from '../providers/provider.js';
import { ZERO_USAGE } from './pricing.js';
import type { ProviderGate } from './provider-gate.js';
import { stepCallId } from '../kernel/call-ids.js';
import type { RunRecord } from '../storage/records.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { RunCalls } from './run-calls.js';
import type { CallSite, ModelCall, ModelCallerOptions, ModelMetrics, ModelResult } from './call-types.js';
import { CallerCore } from './caller-core.js';
import { callOneModel, callWithFallbacks } from './call-attempts.js';
import { recordExchange, requestJson, type Sent } from './call-records.js';
import { providerRequest } from './call-request.js';
import { modelResult, parseJson } from './call-results.js';

export type { CallSite, ModelCall, ModelCallerOptions, ModelMetrics, ModelResult } from './call-types.js';
export { parseJson } from './call-results.js';

/** Makes provider calls for steps. One per engine; limits and breakers are shared by all its runs. */
export class ModelCaller {
  readonly #options: ModelCallerOptions;
  readonly #core: CallerCore;
  readonly #runs = new Map<string, RunCalls>();

  constructor(options: ModelCallerOptions) {
    this.#options = options;
    this.#core = new CallerCore(options);
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
    return this.#core.metrics();
  }

  /** Calls the primary model, then each fallback on a retryable failure. */
  call(call: ModelCall, site: CallSite): Promise<ModelResult> {
    const run = this.#runs.get(site.runId);
    if (run === undefined && !call.fallback?.length) {
      // The common case (no replay, fork or budget state, no fallbacks, tools or schema) takes the
      // single-request path: this runs for every LLM step.
      const single = !call.tools?.length && call.outputSchema === undefined && site.budget === undefined ? this.#single(call, site) : undefined;
      return single ?? callOneModel(this.#core, call.providerModel, call, site, { run, replay: undefined, usage: ZERO_USAGE, seq: 0 });
    }
    return callWithFallbacks(this.#core, run, call, site);
  }

  /** The single-request path when the provider is known and has no limits to wait for; else undefined. */
  #single(call: ModelCall, site: CallSite): Promise<ModelResult> | undefined {
    const parsed = this.#core.parse(call.providerModel);
    const provider = parsed && this.#options.providers.get(parsed.provider);
    if (!parsed || !provider) return undefined;
    const gate = this.#core.gate(parsed.provider);
    return gate.limited ? undefined : this.#sendOne(call, site, parsed, provider, gate);
  }

  /**
   * One request, in one async frame with one await: the same request, call record, counters
   * and errors as the general path (call-attempts.ts, the gate), without their frames, which
   * cost more than the rest of a model call put together.
   */
  async #sendOne(call: ModelCall, site: CallSite, parsed: { provider: string; model: string }, provider: Provider, gate: ProviderGate): Promise<ModelResult> {
    const { clock, ids, tracing } = this.#options;
    const { model } = parsed;
    const request = providerRequest(model, call, site, [{ role: 'user', content: call.prompt }], 0, undefined);
    const sent: Sent = { id: stepCallId(ids('exec'), site.runId, site.path), providerModel: call.providerModel, idempotencyKey: request.idempotencyKey, request: requestJson(request, 0), started: clock.now() };
    gate.enter(site);
    const answered = site.sending?.((error) => this.#core.failedRecord(sent, site, error));
    const traced = site.trace === undefined ? undefined : tracing?.startChat(site.trace.context, parsed.provider, model, site.runId, site.path);
    let response: ProviderResponse;
    try {
      response = await (traced === undefined ? provider.complete(request) : tracing!.with(traced, () => provider.complete(request)));
    } catch (error) {
      if (traced !== undefined) tracing!.fail(traced.span, error);
      answered?.();
      gate.failed(site, error);
      throw this.#core.failed(sent, site, error);
    }
    answered?.();
    if (traced !== undefined) tracing!.endChat(traced.span, response, false);
    gate.succeeded();
    const cost = this.#core.costOf(call.providerModel, response);
    gate.count(response.usage, cost, model);
    const id = recordExchange({ response, sent, completedAt: clock.now(), cost }, site, undefined);
    return modelResult(response.text, response.usage, call.providerModel, id, parseJson(response.text), cost, undefined);
  }
}
