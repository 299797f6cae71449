/**
 * The general path of a model call: a fork's override, fallback models tried in order, the tool
 * loop and structured-output re-asks of one model, and each request through replay, budget,
 * breaker, limits and the provider. The common single request takes ModelCaller's fast path instead.
 */
import type { ProviderMessage, ProviderRequest } from '../providers/provider.js';
import { addUsage, ZERO_USAGE, type UsageTotals } from './pricing.js';
import type { Json } from '../kernel/json.js';
import { checkBudget, type RunBudget } from './call-budget.js';
import { TrellisError, toTrellisError } from '../kernel/errors.js';
import { stepCallId } from '../kernel/call-ids.js';
import { checkJson } from '../definition/json-schema-check.js';
import type { ReplayResponder } from './replay-answers.js';
import type { RunCalls } from './run-calls.js';
import { resolveTools, runToolCalls, toolMessages, type ToolCallRecord, type ToolDefinition } from './tool-loop.js';
import type { CallSite, ModelCall, ModelResult } from './call-types.js';
import type { CallerCore } from './caller-core.js';
import { callRecord, recordExchange, requestJson, usageTotals, type Exchange, type Sent } from './call-records.js';
import { callError, estimateInput, providerRequest } from './call-request.js';
import { modelResult, parseJson } from './call-results.js';
import type { TraceScope } from '../telemetry/tracing.js';

/** Everything one `call` shares between its models and turns. */
export interface CallState {
  readonly run: RunCalls | undefined;
  readonly replay: ReplayResponder | undefined;
  usage: UsageTotals;
  /** Provider requests made so far by this call: orders its records when timestamps tie. */
  seq: number;
}

const NO_TOOLS: ReadonlyMap<string, ToolDefinition> = new Map();

/** Applies a fork's override of the node, then calls the primary model and each fallback on a retryable failure. */
export async function callWithFallbacks(core: CallerCore, run: RunCalls | undefined, call: ModelCall, site: CallSite): Promise<ModelResult> {
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
    const result = await callOneModel(core, effective.providerModel, effective, site, state);
    return prompt === undefined ? result : { ...result, prompt };
  }
  const models = [effective.providerModel, ...effective.fallback];
  let lastError: TrellisError | undefined;
  for (const model of models) {
    try {
      const result = await callOneModel(core, model, effective, site, state);
      return prompt === undefined ? result : { ...result, prompt };
    } catch (error) {
      lastError = toTrellisError(error, 'provider_error');
      if (!lastError.retryable || site.signal.aborted) throw lastError;
    }
  }
  throw lastError!;
}

/** One model: its tool loop and structured-output re-asks, each turn one request. */
export async function callOneModel(core: CallerCore, providerModel: string, call: ModelCall, site: CallSite, state: CallState): Promise<ModelResult> {
  const parsed = core.parse(providerModel);
  if (!parsed) throw new TrellisError('bad_request', `Malformed provider_model "${providerModel}": expected "provider:model"`, { nodeId: site.nodeId });
  const registry = core.options.tools ?? NO_TOOLS;
  // A replayed step needs no registered tools: their recorded results answer.
  const tools = call.tools?.length ? (state.replay ? call.tools.map((name) => ({ name, parameters: registry.get(name)?.parameters ?? {} })) : resolveTools(call.tools, registry, site.nodeId)) : undefined;
  const maxToolSteps = call.maxToolSteps ?? 5;
  const messages: ProviderMessage[] = [{ role: 'user', content: call.prompt }];
  const toolCalls: ToolCallRecord[] = [];
  let toolSteps = 0;
  for (let ask = 0, turn = 0; ; turn++) {
    const request = providerRequest(parsed.model, call, site, messages.slice(), turn, tools);
    const exchange = await sendRequest(core, parsed.provider, providerModel, request, site, state);
    const { response } = exchange;
    if (tools && response.toolCalls?.length) {
      if (++toolSteps > maxToolSteps) {
        commitExchange(exchange, site, state, undefined);
        throw new TrellisError('max_iterations', `Node "${site.nodeId}" exceeded max_tool_steps (${maxToolSteps}): the model asked for tools again after ${maxToolSteps} tool turns`, {
          nodeId: site.nodeId,
          retryable: false,
          details: { tool_calls: toolCalls as unknown as Json },
        });
      }
      let results: readonly ToolCallRecord[];
      try {
        const traced = site.trace === undefined ? undefined : core.options.tracing;
        const context = { signal: site.signal, executionId: site.runId, nodeId: site.nodeId, path: site.path };
        results = exchange.toolResults ?? (await runToolCalls(response.toolCalls, registry, new Set(call.tools), context, traced && { tracing: traced, parent: site.trace!.context }));
      } catch (error) {
        commitExchange(exchange, site, state, undefined);
        throw error;
      }
      commitExchange(exchange, site, state, results);
      toolCalls.push(...results);
      messages.push(...toolMessages(response.text, response.toolCalls, results));
      continue;
    }
    const id = commitExchange(exchange, site, state, undefined);
    const json = parseJson(response.text);
    const problem = call.outputSchema === undefined ? undefined : json === undefined ? 'the answer is not valid JSON' : checkJson(call.outputSchema, json);
    if (problem === undefined) {
      return modelResult(response.text, state.usage, providerModel, id, json, state.usage.unpriced_calls === 0 ? state.usage.cost_usd : undefined, toolCalls);
    }
    if (ask++ >= core.options.structuredRetries) {
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
async function sendRequest(core: CallerCore, providerName: string, providerModel: string, request: ProviderRequest, site: CallSite, state: CallState): Promise<Exchange> {
  const budget = site.budgetWaived === true ? undefined : site.budget ?? state.run?.budget;
  if (budget) await checkRunBudget(core, budget, providerModel, request, site, state);
  const { clock, ids } = core.options;
  const started = clock.now();
  const sent: Sent = { id: stepCallId(ids('exec'), site.runId, site.path), providerModel, idempotencyKey: request.idempotencyKey, request: requestJson(request, state.seq++), started };
  if (state.replay) {
    const recorded = state.replay.take(site.path, site.attempt, providerModel);
    if (recorded === 'skip') throw new TrellisError('provider_error', `Replay: the recorded run did not get an answer from "${providerModel}" here`, { nodeId: site.nodeId, retryable: true });
    if (recorded?.kind === 'failure') {
      site.record(callRecord(sent, site, 'failed', started, { error: { code: recorded.error.code, message: recorded.error.message } }));
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
  const provider = core.options.providers.get(providerName);
  if (!provider) {
    throw new TrellisError('unknown_provider', `No provider named "${providerName}" is configured (node "${site.nodeId}" asks for "${providerModel}")`, {
      nodeId: site.nodeId,
      provider: providerName,
      retryable: true,
    });
  }
  const gate = core.gate(providerName);
  const { tracing } = core.options;
  let reached = false;
  let answered: (() => void) | undefined;
  let traced: TraceScope | undefined;
  try {
    const response = await gate.call(gate.limited ? estimateInput(request) : 0, site, () => {
      reached = true;
      answered = site.sending?.((error) => core.failedRecord(sent, site, error));
      // The span starts when the request goes out: time queued behind the provider's limits is not the provider's.
      traced = site.trace === undefined ? undefined : tracing?.startChat(site.trace.context, providerName, request.model, site.runId, site.path);
      return traced === undefined ? provider.complete(request) : tracing!.with(traced, () => provider.complete(request));
    });
    answered?.();
    if (traced !== undefined) tracing!.endChat(traced.span, response, false);
    const done = clock.now();
    const cost = core.costOf(providerModel, response);
    gate.count(response.usage, cost, request.model);
    state.run?.add(sent.id, usageTotals(response, cost));
    return { response, sent, completedAt: done, cost };
  } catch (error) {
    if (traced !== undefined) tracing!.fail(traced.span, error);
    answered?.();
    throw reached ? core.failed(sent, site, error) : callError(error);
  }
}

/** Records a completed exchange (with its tool calls) and adds it to the call's usage; returns the record id. */
function commitExchange(exchange: Exchange, site: CallSite, state: CallState, toolResults: readonly ToolCallRecord[] | undefined): string {
  state.usage = addUsage(state.usage, usageTotals(exchange.response, exchange.cost));
  return recordExchange(exchange, site, toolResults);
}

async function checkRunBudget(core: CallerCore, budget: RunBudget, providerModel: string, request: ProviderRequest, site: CallSite, state: CallState): Promise<void> {
  // A runner's figure covers committed records; this call's earlier turns are not committed yet.
  const used = site.usageSoFar ? addUsage(await site.usageSoFar(), state.usage) : state.run ? await state.run.usageSoFar() : ZERO_USAGE;
  checkBudget(budget, used, { providerModel, estimatedInputTokens: estimateInput(request), nodeId: site.nodeId }, core.prices);
}

