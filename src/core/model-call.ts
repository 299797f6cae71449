/**
 * Calling an LLM on behalf of a step: provider lookup by `provider:model`, fallbacks, streaming
 * to `node:token`, structured output validated (and re-asked with the error on failure), and an
 * execution record for every call, committed with the step that made it.
 */
import { z } from 'zod';
import type { Provider, ProviderMessage, ProviderOptions, ProviderRequest, ProviderResponse, JsonSchema } from '../providers/provider.js';
import type { Json, LlmExecutionRecord } from '../storage/records.js';
import type { Clock } from './clock.js';
import { parseProviderModel } from './definition.js';
import { ProviderError, TrellisError, toTrellisError } from './errors.js';
import type { IdGenerator } from './ids.js';

/** What a step asks for. */
export interface ModelCall {
  /** `provider:model`. */
  readonly providerModel: string;
  readonly prompt: string;
  readonly system?: string;
  readonly options?: ProviderOptions;
  readonly outputSchema?: JsonSchema;
  /** Models tried in order when the primary fails with a retryable error. */
  readonly fallback?: readonly string[];
  /** Stream tokens to `node:token` events. */
  readonly stream?: boolean;
}

/** What the step gets back. */
export interface ModelResult {
  readonly text: string;
  /** The parsed answer when it is a JSON object or array (always, with an output schema). */
  readonly json?: Json;
  readonly usage: { readonly input_tokens: number; readonly output_tokens: number };
  /** The `provider:model` that answered. */
  readonly model: string;
  /** Id of the execution record of the call that answered. */
  readonly executionId: string;
}

/** Identifies the step making the call. */
export interface CallSite {
  readonly runId: string;
  readonly nodeId: string;
  readonly path: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly signal: AbortSignal;
  readonly onToken: (delta: string) => void;
  /** Receives each execution record, to be committed with the step. */
  readonly record: (record: LlmExecutionRecord) => void;
}

/** Settings of the model caller. */
export interface ModelCallerOptions {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** How many times a malformed structured answer is re-asked before the step fails. @default 2 */
  readonly structuredRetries: number;
}

const schemaCache = new WeakMap<JsonSchema, z.ZodType>();

/** Makes provider calls for steps. One per engine. */
export class ModelCaller {
  readonly #options: ModelCallerOptions;

  constructor(options: ModelCallerOptions) {
    this.#options = options;
  }

  /** Calls the primary model, then each fallback on a retryable failure. */
  async call(call: ModelCall, site: CallSite): Promise<ModelResult> {
    const models = [call.providerModel, ...(call.fallback ?? [])];
    let lastError: TrellisError | undefined;
    for (const model of models) {
      try {
        return await this.#callOne(model, call, site);
      } catch (error) {
        lastError = toTrellisError(error, 'provider_error');
        if (!lastError.retryable || site.signal.aborted) throw lastError;
      }
    }
    throw lastError!;
  }

  async #callOne(providerModel: string, call: ModelCall, site: CallSite): Promise<ModelResult> {
    const parsed = parseProviderModel(providerModel);
    if (!parsed) throw new TrellisError('bad_request', `Malformed provider_model "${providerModel}": expected "provider:model"`, { nodeId: site.nodeId });
    const provider = this.#options.providers.get(parsed.provider);
    if (!provider) {
      throw new TrellisError('unknown_provider', `No provider named "${parsed.provider}" is configured (node "${site.nodeId}" asks for "${providerModel}")`, {
        nodeId: site.nodeId,
        provider: parsed.provider,
        retryable: true,
      });
    }
    const messages: ProviderMessage[] = [{ role: 'user', content: call.prompt }];
    const validator = call.outputSchema ? schemaFor(call.outputSchema) : undefined;
    for (let ask = 0; ; ask++) {
      const request: ProviderRequest = {
        model: parsed.model,
        prompt: call.prompt,
        messages: [...messages],
        options: call.options ?? {},
        signal: site.signal,
        idempotencyKey: ask === 0 ? site.idempotencyKey : `${site.idempotencyKey}:${ask}`,
        ...(call.system === undefined ? {} : { system: call.system }),
        ...(call.outputSchema === undefined ? {} : { outputSchema: call.outputSchema }),
        ...(call.stream ? { onToken: site.onToken } : {}),
      };
      const { response, id } = await this.#record(provider, providerModel, request, site);
      const json = parseJson(response.text);
      if (!validator) {
        return { text: response.text, ...(json === undefined ? {} : { json }), usage: response.usage, model: providerModel, executionId: id };
      }
      const problem = json === undefined ? 'the answer is not valid JSON' : describeIssues(validator.safeParse(json));
      if (problem === undefined) {
        return { text: response.text, json: json!, usage: response.usage, model: providerModel, executionId: id };
      }
      if (ask >= this.#options.structuredRetries) {
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

  async #record(provider: Provider, providerModel: string, request: ProviderRequest, site: CallSite): Promise<{ response: ProviderResponse; id: string }> {
    const { clock, ids } = this.#options;
    const id = ids('exec');
    const started = clock.now();
    const base = {
      id,
      provider_model: providerModel,
      workflow_execution_id: site.runId,
      workflow_node_id: site.nodeId,
      step_path: site.path,
      attempt: site.attempt,
      idempotency_key: request.idempotencyKey,
      request: requestJson(request),
      created_at: started,
      started_at: started,
    };
    try {
      const response = await provider.complete(request);
      const done = clock.now();
      site.record({
        ...base,
        status: 'completed',
        response: { text: response.text, finish_reason: response.finishReason ?? null, model: response.model ?? null } as Json,
        usage: response.usage as unknown as Json,
        completed_at: done,
        duration_ms: done - started,
      });
      return { response, id };
    } catch (error) {
      const failure = error instanceof ProviderError || error instanceof TrellisError ? error : toTrellisError(error, 'provider_error');
      const done = clock.now();
      site.record({ ...base, status: 'failed', error: { code: failure.code, message: failure.message }, completed_at: done, duration_ms: done - started });
      throw failure;
    }
  }
}

function requestJson(request: ProviderRequest): Json {
  return {
    model: request.model,
    prompt: request.prompt,
    ...(request.system === undefined ? {} : { system: request.system }),
    options: request.options as Json,
    ...(request.outputSchema === undefined ? {} : { output_schema: request.outputSchema as Json }),
  };
}

function schemaFor(schema: JsonSchema): z.ZodType {
  let compiled = schemaCache.get(schema);
  if (!compiled) {
    compiled = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    schemaCache.set(schema, compiled);
  }
  return compiled;
}

function describeIssues(result: ReturnType<z.ZodType['safeParse']>): string | undefined {
  if (result.success) return undefined;
  return result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** Parses text as JSON when it is an object or array (also inside a ```json fence). */
export function parseJson(text: string): Json | undefined {
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
