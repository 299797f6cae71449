/**
 * Maps what the provider SDKs throw (HTTP status errors, connection failures, aborts, broken
 * bodies) onto Trellis error codes, so retry policies branch on `code` / `retryable` /
 * `retryAfterMs` and never on an SDK's classes or messages.
 *
 * It duck-types instead of using `instanceof`: the SDKs are loaded lazily (this file must not
 * import them), and the OpenAI, Anthropic and Ollama error classes share no base.
 */
import { isTrellisError, ProviderError, TrellisError, type TrellisErrorCode } from '../kernel/errors.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../kernel/json-depth.js';

/** What {@link classifyProviderError} needs to know besides the error. */
export interface ClassifyContext {
  /** The provider's name, recorded on the error. */
  readonly provider: string;
  /** The request's signal: when it has fired, the failure is a cancellation (or a timeout). */
  readonly signal?: AbortSignal;
  /** Response headers, for SDKs whose errors do not carry them (Ollama). */
  readonly headers?: HeadersLike;
}

/** A `Headers` object or a plain header record. */
export type HeadersLike = { get(name: string): string | null } | Readonly<Record<string, string | undefined>>;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Error `type`s in API error bodies (Anthropic `error.type`, OpenAI `error.type` / `code`). */
const BODY_TYPE_CODES: Readonly<Record<string, TrellisErrorCode>> = {
  overloaded_error: 'provider_5xx',
  api_error: 'provider_5xx',
  server_error: 'provider_5xx',
  rate_limit_error: 'rate_limit',
  rate_limit_exceeded: 'rate_limit',
  authentication_error: 'auth',
  permission_error: 'auth',
  invalid_request_error: 'bad_request',
  not_found_error: 'bad_request',
  request_too_large: 'bad_request',
  timeout_error: 'timeout',
  content_filter: 'content_filter',
  content_policy_violation: 'content_filter',
};

/**
 * Classifies any error thrown while calling a provider. Trellis errors pass through unchanged.
 * The result keeps the original error as `cause` and carries `provider` and `status`.
 *
 * - signal fired (or an abort error): `cancelled` (a plain `TrellisError`), or `timeout` when the
 *   signal's reason is a `TimeoutError` (e.g. from `AbortSignal.timeout()`);
 * - 429: `rate_limit`, with `retryAfterMs` from `retry-after-ms` or `retry-after` (seconds or an
 *   HTTP date); 408 and connection timeouts: `timeout`; 5xx and 529: `provider_5xx`;
 * - 401/403: `auth`; 400/404/413/422 and other 4xx: `bad_request` (both not retryable), or
 *   `content_filter` when the body says so;
 * - refused / reset connections: `network`; unparsable bodies (`SyntaxError`): `malformed_output`.
 *
 * @example
 * try { await client.chat.completions.create(body) }
 * catch (e) { throw classifyProviderError(e, { provider: 'openai', signal }) }
 */
export function classifyProviderError(error: unknown, context: ClassifyContext): TrellisError {
  if (isTrellisError(error)) return error;
  const { provider } = context;
  const message = `${provider}: ${errorMessage(error)}`;
  if (context.signal?.aborted || isAbortError(error)) return abortError(provider, context.signal, error);

  const status = statusOf(error);
  if (status !== undefined) return fromStatus(status, error, context);

  const name = errorName(error);
  if (name === 'APIConnectionTimeoutError' || hasCauseCode(error, TIMEOUT_CODES)) {
    return new ProviderError('timeout', message, { provider, cause: error });
  }
  if (error instanceof SyntaxError) return new ProviderError('malformed_output', message, { provider, cause: error });
  if (name === 'APIConnectionError' || hasCauseCode(error, NETWORK_CODES) || isFetchFailure(error)) {
    return new ProviderError('network', message, { provider, cause: error });
  }
  // Errors sent inside a 200 stream (`event: error`, `{"error": ...}`) have a body but no status.
  const bodyCode = bodyErrorCode(error);
  if (bodyCode) return new ProviderError(bodyCode, message, { provider, cause: error });
  return new ProviderError('provider_error', message, { provider, cause: error });
}

/**
 * The error for a fired signal: `timeout` when its reason is a `TimeoutError`, else `cancelled`.
 * Adapters also call it when an SDK stream ends quietly on abort instead of throwing.
 */
export function abortError(provider: string, signal: AbortSignal | undefined, cause?: unknown): TrellisError {
  const reason: unknown = signal?.reason;
  if (errorName(reason) === 'TimeoutError') {
    return new ProviderError('timeout', `${provider}: request timed out`, { provider, cause: cause ?? reason });
  }
  return new TrellisError('cancelled', `${provider}: request was cancelled`, { provider, cause: cause ?? reason });
}

/** Parses a tool call's JSON arguments; anything but a JSON object is `malformed_output`. */
export function parseToolArguments(provider: string, toolName: string, json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = json.trim() === '' ? {} : JSON.parse(json);
  } catch (cause) {
    throw new ProviderError('malformed_output', `${provider}: tool call '${toolName}' has invalid JSON arguments`, {
      provider,
      cause,
      details: { arguments: json },
    });
  }
  return checkToolArguments(provider, toolName, value, json);
}

/**
 * Tool call arguments an SDK already parsed: a JSON object nested at most `MAX_JSON_DEPTH` deep
 * (deeper ends in a stack overflow in whatever walks it next), else `malformed_output`.
 */
export function checkToolArguments(provider: string, toolName: string, value: unknown, json?: string): Record<string, unknown> {
  const details = json === undefined ? {} : { arguments: json };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProviderError('malformed_output', `${provider}: tool call '${toolName}' arguments are not a JSON object`, { provider, details });
  }
  if (exceedsJsonDepth(value)) {
    throw new ProviderError('malformed_output', `${provider}: tool call '${toolName}' arguments nest more than ${MAX_JSON_DEPTH} levels deep`, { provider, details });
  }
  return value as Record<string, unknown>;
}

/**
 * Milliseconds to wait from `retry-after-ms` (milliseconds), or `retry-after` (seconds or an HTTP
 * date). `undefined` when absent or unparsable.
 */
export function parseRetryAfter(headers: HeadersLike | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = Number.parseFloat(headerValue(headers, 'retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  const raw = headerValue(headers, 'retry-after')?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number.parseFloat(raw) * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function fromStatus(status: number, error: unknown, context: ClassifyContext): ProviderError {
  const { provider } = context;
  const headers = headersOf(error) ?? context.headers;
  const retryAfterMs = parseRetryAfter(headers);
  const base = { provider, status, cause: error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  const message = `${provider}: HTTP ${status}: ${errorMessage(error)}`;
  const bodyCode = bodyErrorCode(error);
  if (status === 429) {
    // Quota exhaustion is a 429 too, but waiting does not fix it.
    const quota = bodyField(error, 'code') === 'insufficient_quota';
    return new ProviderError('rate_limit', message, { ...base, ...(quota ? { retryable: false } : {}) });
  }
  if (status === 408) return new ProviderError('timeout', message, base);
  if (status >= 500) return new ProviderError('provider_5xx', message, base);
  if (status === 401 || status === 403) return new ProviderError('auth', message, { ...base, retryable: false });
  if (bodyCode === 'content_filter') return new ProviderError('content_filter', message, { ...base, retryable: false });
  // 409 (conflicting request, e.g. the same idempotency key in flight) may clear up: retryable.
  if (status === 409) return new ProviderError('provider_error', message, { ...base, retryable: true });
  return new ProviderError('bad_request', message, { ...base, retryable: false });
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { status?: unknown; status_code?: unknown };
  const status = record.status ?? record.status_code; // Ollama's ResponseError uses status_code
  return typeof status === 'number' && status >= 100 ? status : undefined;
}

function headersOf(error: unknown): HeadersLike | undefined {
  const headers = (error as { headers?: unknown } | null)?.headers;
  return typeof headers === 'object' && headers !== null ? (headers as HeadersLike) : undefined;
}

function headerValue(headers: HeadersLike, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : record[key];
}

/** `error.error` as the SDKs keep the body: OpenAI keeps the inner object, Anthropic the whole body. */
function bodyField(error: unknown, field: 'type' | 'code'): string | undefined {
  const body = (error as { error?: unknown } | null)?.error;
  if (typeof body !== 'object' || body === null) return undefined;
  const inner = (body as { error?: unknown }).error;
  const source = (typeof inner === 'object' && inner !== null ? inner : body) as Record<string, unknown>;
  const value = source[field];
  return typeof value === 'string' ? value : undefined;
}

function bodyErrorCode(error: unknown): TrellisErrorCode | undefined {
  for (const value of [bodyField(error, 'code'), bodyField(error, 'type')]) {
    if (value !== undefined && BODY_TYPE_CODES[value] !== undefined) return BODY_TYPE_CODES[value];
  }
  return undefined;
}

function isAbortError(error: unknown): boolean {
  const name = errorName(error);
  return name === 'AbortError' || name === 'APIUserAbortError';
}

function isFetchFailure(error: unknown): boolean {
  // undici: `TypeError: fetch failed` (connect) or `TypeError: terminated` (body cut off).
  return error instanceof TypeError && /^(fetch failed|terminated)$/.test(error.message);
}

function hasCauseCode(error: unknown, codes: ReadonlySet<string>): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && codes.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function errorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  // OpenAI's error classes leave `name` as 'Error'; their constructor names are specific.
  if (typeof name === 'string' && name !== 'Error') return name;
  return (error as { constructor?: { name?: string } }).constructor?.name;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
