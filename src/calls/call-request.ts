/**
 * The request of one turn as handed to a provider, and what a provider call's failure becomes.
 */
import type { ProviderMessage, ProviderOptions, ProviderRequest, ProviderToolDefinition, JsonSchema } from '../providers/provider.js';
import { ProviderError, TrellisError, type TrellisErrorCode } from '../kernel/errors.js';
import { classifyProviderError } from '../providers/classify-error.js';
import type { CallSite, ModelCall } from './call-types.js';

const NO_OPTIONS: ProviderOptions = Object.freeze({});

/**
 * The request of one turn. A class, because one is made for every model call: its `signal` is a
 * getter on the prototype (read lazily: making an AbortController is not cheap, and most providers
 * in tests never look), where an own accessor would give every request a hidden class of its own.
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
export function providerRequest(model: string, call: ModelCall, site: CallSite, messages: readonly ProviderMessage[], turn: number, tools: readonly ProviderToolDefinition[] | undefined): ProviderRequest {
  const request = new OutgoingRequest(model, call, site, messages, turn);
  if (call.system !== undefined) request.system = call.system;
  if (call.outputSchema !== undefined) request.outputSchema = call.outputSchema;
  if (tools !== undefined) request.tools = tools;
  // Bound only for a streaming call: most calls never stream.
  if (call.stream) request.onToken = (delta) => site.onToken(delta);
  return request;
}

/**
 * A provider call's failure as thrown to the step. Trellis and provider errors pass as they are. An
 * error from a custom provider is read by its contract: a `code` among {@link DECLARABLE_CODES}
 * with optional `retryable` and `retryAfterMs` says what it is; otherwise an HTTP `status` (429,
 * 5xx...), a network cause or an abort is classified as the built-in adapters' errors are; anything
 * else is `provider_error`.
 */
export function callError(error: unknown, provider = 'provider'): ProviderError | TrellisError {
  if (error instanceof ProviderError || error instanceof TrellisError) return error;
  return declaredError(error, provider) ?? classifyProviderError(error, { provider });
}

/** Codes a custom provider may put on what it throws. */
export const DECLARABLE_CODES: ReadonlySet<TrellisErrorCode> = new Set<TrellisErrorCode>([
  'rate_limit', 'provider_5xx', 'timeout', 'network', 'auth', 'bad_request', 'content_filter', 'malformed_output', 'provider_error',
]);

function declaredError(error: unknown, provider: string): ProviderError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, retryable, retryAfterMs, message } = error as { code?: unknown; retryable?: unknown; retryAfterMs?: unknown; message?: unknown };
  if (typeof code !== 'string' || !DECLARABLE_CODES.has(code as TrellisErrorCode)) return undefined;
  return new ProviderError(code as TrellisErrorCode, `${provider}: ${typeof message === 'string' ? message : code}`, {
    provider,
    cause: error,
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
    ...(typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0 ? { retryAfterMs } : {}),
  });
}
/** Input tokens of a request, estimated as characters / 4 (limits and budgets act before the call). */
export function estimateInput(request: ProviderRequest): number {
  let chars = request.system?.length ?? 0;
  for (const m of request.messages) chars += m.content.length;
  return Math.ceil(chars / 4);
}
