/**
 * `webhook`: one outgoing HTTP request with the built-in `fetch`, guarded against SSRF by a
 * {@link HostPolicy}. URL, header values and body are templates rendered in the step's context.
 */
import type { ZodType } from 'zod';
import { definitionSchemas, type NodeConfigs } from '../../definition/definition.js';
import { isTrellisError, TrellisError } from '../../kernel/errors.js';
import { loadZod } from '../../kernel/lazy-modules.js';
import { getPath } from '../../expressions/data-paths.js';
import type { Json } from '../../kernel/json.js';
import { createHostPolicy, type HostPolicy, type HostPolicyOptions } from './host-policy.js';
import type { NodeHandler, StepContext } from '../node-handler.js';

/** Options of {@link createWebhookNode}: the host policy plus transport limits. */
export interface WebhookNodeOptions extends HostPolicyOptions {
  /**
   * Largest response body read, in bytes (after decompression); a larger one fails the step
   * with `payload_too_large`.
   * @default 5_242_880 (5 MiB)
   */
  readonly maxResponseBytes?: number;
  /** The `fetch` used for requests, e.g. one that goes through an egress proxy. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /**
   * Header carrying `ctx.idempotencyKey`, stable across re-runs of the same step attempt after a
   * crash, so receivers can deduplicate; `false` sends none. A header of the same name in the
   * node's `headers` wins.
   * @default 'Idempotency-Key'
   */
  readonly idempotencyHeader?: string | false;
}

/** Config of a `webhook` node: the definition schema's fields plus `timeout_ms` for the whole call. */
export type WebhookConfig = NodeConfigs['webhook'] & { readonly timeout_ms?: number };

interface ResolvedWebhookNodeOptions {
  readonly policy: HostPolicy;
  readonly maxResponseBytes: number;
  readonly fetch: typeof fetch;
  readonly idempotencyHeader: string | false;
}

const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const ERROR_SNIPPET_BYTES = 500;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const PLACEHOLDER = /\{\{[^{}]*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{([^{}]*)\}\}$/;
/** Header names and JSON keys whose values never reach the trace, nor another origin on redirect. */
const SECRET = /authorization|cookie|key|token|secret|password|passwd|credential|signature/i;
const REDACTED = '[redacted]';

function invalidOption(name: string, expected: string, received: unknown): TrellisError {
  return new TrellisError('invalid_options', `Option "${name}" must be ${expected}; received ${JSON.stringify(received) ?? typeof received}.`);
}

function resolveWebhookNodeOptions(options: WebhookNodeOptions): ResolvedWebhookNodeOptions {
  const max = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) throw invalidOption('maxResponseBytes', 'a positive integer', max);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw invalidOption('fetch', 'a function', typeof fetchImpl);
  const header = options.idempotencyHeader ?? 'Idempotency-Key';
  if (header !== false && (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~\w-]+$/.test(header))) {
    throw invalidOption('idempotencyHeader', 'a header name or false', header);
  }
  return { policy: createHostPolicy(options), maxResponseBytes: max, fetch: fetchImpl, idempotencyHeader: header };
}

// ---------------------------------------------------------------------------------------------
// Building the request

/**
 * Renders the URL template. Every placeholder is percent-encoded with `encodeURIComponent`, so
 * a value cannot add path segments, query parameters or a fragment, except a placeholder that
 * starts the URL: that one is the base (`{{item}}`, `{{variables.api}}/users/{{input.id}}`)
 * and is inserted as-is, to be checked by the host policy like any URL.
 */
function renderUrl(ctx: StepContext<WebhookConfig>, template: string): string {
  let out = '';
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const value = ctx.render(match[0]);
    out += template.slice(last, match.index) + (match.index === 0 ? value : encodeURIComponent(value));
    last = match.index + match[0].length;
  }
  return out + template.slice(last);
}

/** Renders the string leaves of a JSON body; a leaf that is one whole `{{path}}` keeps the value's JSON type. */
function renderJson(ctx: StepContext<WebhookConfig>, value: unknown): Json {
  if (typeof value === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(value);
    if (!whole) return ctx.render(value);
    const found = getPath(ctx.context, (whole[1] ?? '').trim());
    // render() throws the standard `missing_variable` error for a missing path.
    return found === undefined ? ctx.render(value) : (JSON.parse(JSON.stringify(found) ?? 'null') as Json);
  }
  if (Array.isArray(value)) return value.map((v) => renderJson(ctx, v));
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderJson(ctx, v);
    return out;
  }
  return value === undefined ? null : (value as Json);
}

function badConfig(ctx: StepContext<WebhookConfig>, message: string, cause?: unknown): TrellisError {
  return new TrellisError('validation_failed', `Webhook node "${ctx.node.id}": ${message}`, {
    nodeId: ctx.node.id,
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  });
}

interface PreparedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
  /** The body as recorded in the trace. */
  readonly traceBody: Json | undefined;
}

function prepare(ctx: StepContext<WebhookConfig>, options: ResolvedWebhookNodeOptions): PreparedRequest {
  const config = ctx.config;
  const rendered = renderUrl(ctx, config.url);
  let url: URL;
  try {
    url = new URL(rendered);
  } catch (error) {
    throw badConfig(ctx, `"${redactUrl(rendered)}" is not an absolute URL.`, error);
  }
  if (url.username !== '' || url.password !== '') throw badConfig(ctx, 'credentials in the URL are not supported; send them in an Authorization header.');
  const method = config.method ?? (config.body === undefined ? 'GET' : 'POST');
  if (method === 'GET' && config.body !== undefined) throw badConfig(ctx, 'a GET request cannot have a body.');
  const headers = new Headers();
  for (const [name, value] of Object.entries(config.headers ?? {})) {
    try {
      headers.set(name, ctx.render(value));
    } catch (error) {
      if (isTrellisError(error)) throw error;
      throw badConfig(ctx, `header "${name}" is not a valid HTTP header.`, error);
    }
  }
  if (options.idempotencyHeader !== false && !headers.has(options.idempotencyHeader)) headers.set(options.idempotencyHeader, ctx.idempotencyKey);
  let body: string | undefined;
  let traceBody: Json | undefined;
  if (typeof config.body === 'string') {
    body = traceBody = ctx.render(config.body);
  } else if (config.body !== undefined) {
    traceBody = renderJson(ctx, config.body);
    body = JSON.stringify(traceBody);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  return { url, method, headers, body, traceBody };
}

// ---------------------------------------------------------------------------------------------
// Trace redaction

function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  if (url.password !== '') url.password = REDACTED;
  for (const name of [...url.searchParams.keys()]) if (SECRET.test(name)) url.searchParams.set(name, REDACTED);
  return url.toString();
}

function redactJson(value: Json): Json {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET.test(k) ? REDACTED : redactJson(v);
    return out;
  }
  return value;
}

/** The idempotency key is no secret, and receivers log it: it stays in traces and on redirects. */
function isSecretHeader(name: string, idempotencyHeader: string | false): boolean {
  return SECRET.test(name) && (idempotencyHeader === false || name.toLowerCase() !== idempotencyHeader.toLowerCase());
}

function traceInput(request: PreparedRequest, idempotencyHeader: string | false): Json {
  const headers: { [key: string]: Json } = {};
  request.headers.forEach((value, name) => (headers[name] = isSecretHeader(name, idempotencyHeader) ? REDACTED : value));
  const input: { [key: string]: Json } = { method: request.method, url: redactUrl(request.url.toString()), headers };
  if (request.traceBody !== undefined) input.body = redactJson(request.traceBody);
  return input;
}

// ---------------------------------------------------------------------------------------------
// Sending

interface Hop {
  url: URL;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/** The next request of a redirect, following the fetch standard's method rules. */
function redirectHop(hop: Hop, status: number, location: string, idempotencyHeader: string | false): Hop {
  const url = new URL(location, hop.url);
  const headers = new Headers(hop.headers);
  let { method, body } = hop;
  if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
    method = 'GET';
    body = undefined;
    headers.delete('content-type');
  }
  // Credentials stay with the origin they were written for.
  if (url.origin !== hop.url.origin) {
    const secrets: string[] = [];
    headers.forEach((_value, name) => isSecretHeader(name, idempotencyHeader) && secrets.push(name));
    for (const name of secrets) headers.delete(name);
  }
  return { url, method, headers, body };
}

async function send(
  ctx: StepContext<WebhookConfig>,
  options: ResolvedWebhookNodeOptions,
  request: PreparedRequest,
  expected: (status: number) => boolean,
  signal: AbortSignal,
): Promise<{ response: Response; url: URL }> {
  let hop: Hop = { url: request.url, method: request.method, headers: request.headers, body: request.body };
  for (let redirects = 0; ; redirects++) {
    try {
      await options.policy.check(hop.url, signal);
    } catch (error) {
      if (!isTrellisError(error) || signal.aborted) throw error;
      throw new TrellisError(error.code, `Webhook node "${ctx.node.id}": ${error.message}`, {
        nodeId: ctx.node.id,
        retryable: error.retryable,
        cause: error,
        ...(error.details === undefined ? {} : { details: error.details }),
      });
    }
    const response = await options.fetch(hop.url, { method: hop.method, headers: hop.headers, body: hop.body ?? null, redirect: 'manual', signal });
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null || expected(response.status)) return { response, url: hop.url };
    await response.body?.cancel();
    if (redirects === MAX_REDIRECTS) {
      throw new TrellisError('node_failed', `Webhook node "${ctx.node.id}": more than ${MAX_REDIRECTS} redirects, last to ${redactUrl(location)}.`, {
        nodeId: ctx.node.id,
        status: response.status,
        retryable: false,
      });
    }
    hop = redirectHop(hop, response.status, location, options.idempotencyHeader);
  }
}

/** Reads the body, failing with `payload_too_large` past `max` bytes without buffering the rest. */
async function readBody(ctx: StepContext<WebhookConfig>, response: Response, max: number): Promise<Uint8Array> {
  const tooLarge = (): TrellisError =>
    new TrellisError('payload_too_large', `Webhook node "${ctx.node.id}": the response body is larger than ${max} bytes (maxResponseBytes).`, {
      nodeId: ctx.node.id,
      status: response.status,
      retryable: false,
    });
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The start of an unexpected response's body, for the error; never fails on size. */
async function readSnippet(response: Response, max: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  while (size < max) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel();
  return Buffer.concat(chunks).subarray(0, max);
}

function parseBody(ctx: StepContext<WebhookConfig>, response: Response, bytes: Uint8Array): Json {
  const text = new TextDecoder().decode(bytes);
  const type = response.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(type)) return text;
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new TrellisError('malformed_output', `Webhook node "${ctx.node.id}": the response says ${type} but its body is not valid JSON.`, {
      nodeId: ctx.node.id,
      status: response.status,
      retryable: false,
      cause: error,
    });
  }
}

/** `retry-after` in seconds or as an HTTP date, in milliseconds from now. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function statusMatcher(expected: number | readonly number[] | undefined): (status: number) => boolean {
  if (expected === undefined) return (status) => status >= 200 && status < 300;
  const list = new Set(typeof expected === 'number' ? [expected] : expected);
  return (status) => list.has(status);
}

function unexpectedStatus(ctx: StepContext<WebhookConfig>, response: Response, url: URL, bytes: Uint8Array): TrellisError {
  const status = response.status;
  const after = retryAfterMs(response.headers.get('retry-after'), ctx.clock.now());
  const snippet = new TextDecoder().decode(bytes);
  return new TrellisError('node_failed', `Webhook node "${ctx.node.id}": ${redactUrl(url.toString())} answered ${status} ${response.statusText}`.trimEnd() + '.', {
    nodeId: ctx.node.id,
    status,
    retryable: status >= 500 || status === 429,
    ...(after === undefined ? {} : { retryAfterMs: after }),
    details: { url: redactUrl(url.toString()), body: snippet },
  });
}

/** Maps what `fetch` threw: our timeout, the step's abort (cancel, engine timeout) or the network. */
function transportError(ctx: StepContext<WebhookConfig>, error: unknown, host: string, timeout: AbortSignal | undefined, ms: number | undefined): TrellisError {
  if (timeout?.aborted && !ctx.signal.aborted) {
    return new TrellisError('timeout', `Webhook node "${ctx.node.id}": no complete response from "${host}" within ${ms} ms (timeout_ms).`, { nodeId: ctx.node.id, cause: error });
  }
  if (ctx.signal.aborted) {
    const reason: unknown = ctx.signal.reason;
    return isTrellisError(reason) ? reason : new TrellisError('cancelled', `Webhook node "${ctx.node.id}": the request to "${host}" was aborted.`, { nodeId: ctx.node.id, cause: reason });
  }
  if (isTrellisError(error)) return error;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new TrellisError('network', `Webhook node "${ctx.node.id}": the request to "${host}" failed: ${why}`, { nodeId: ctx.node.id, cause: error });
}

// ---------------------------------------------------------------------------------------------
// The handler

let configSchema: ZodType | undefined;

/** The definition's `webhook` config plus `timeout_ms`; built on first read, like every schema (definition.ts). */
function webhookConfigSchema(): ZodType {
  configSchema ??= definitionSchemas().NODE_CONFIG_SCHEMAS.webhook.extend({ timeout_ms: loadZod().z.number().int().min(1).optional() });
  return configSchema;
}

/**
 * Creates the `webhook` handler: one HTTP request, SSRF-guarded by `options`.
 *
 * Config: `url` (template; placeholders after the start are percent-encoded), `method` (default
 * POST with a body, else GET), `headers` (values are templates), `body` (a string template, or
 * JSON whose string leaves are rendered and where a leaf that is one whole `{{path}}` keeps the
 * value's type), `expected_status` (default any 2xx), `output_mapping` (context path ← dot path
 * into the output) and `timeout_ms`. Redirects are followed (up to 5), each target re-checked.
 *
 * Output: `{ status, headers, body }`, `body` parsed as JSON when the content type says so.
 * Failures: `forbidden` (policy), `network`, `timeout`, `cancelled`, `payload_too_large`,
 * `malformed_output`, and `node_failed` with `status` for an unexpected status (retryable for
 * 5xx and 429, with `retryAfterMs` from `retry-after`).
 *
 * @example
 * const engine = createEngine({ nodes: [createWebhookNode({ allowHosts: ['billing.internal'] })] });
 */
export function createWebhookNode(options: WebhookNodeOptions = {}): NodeHandler<WebhookConfig> {
  const resolved = resolveWebhookNodeOptions(options);
  const handler: NodeHandler<WebhookConfig> = {
    type: 'webhook',
    async execute(ctx) {
      const config = ctx.config;
      const ms = config.timeout_ms;
      if (ms !== undefined && (!Number.isSafeInteger(ms) || ms < 1)) throw badConfig(ctx, `timeout_ms must be a positive integer; received ${JSON.stringify(ms)}.`);
      const request = prepare(ctx, resolved);
      const input = traceInput(request, resolved.idempotencyHeader);
      const expected = statusMatcher(config.expected_status);
      const timeout = ms === undefined ? undefined : AbortSignal.timeout(ms);
      const signal = timeout ? AbortSignal.any([ctx.signal, timeout]) : ctx.signal;
      let response: Response;
      let bytes: Uint8Array;
      try {
        let url: URL;
        ({ response, url } = await send(ctx, resolved, request, expected, signal));
        if (!expected(response.status)) throw unexpectedStatus(ctx, response, url, await readSnippet(response, ERROR_SNIPPET_BYTES));
        bytes = await readBody(ctx, response, resolved.maxResponseBytes);
      } catch (error) {
        throw transportError(ctx, error, request.url.hostname, timeout, ms);
      }
      const headers: { [key: string]: Json } = {};
      // Several Set-Cookie headers come one by one; join them like every other repeated header.
      response.headers.forEach((value, name) => (headers[name] = name in headers ? `${String(headers[name])}, ${value}` : value));
      const output: { [key: string]: Json } = { status: response.status, headers, body: parseBody(ctx, response, bytes) };
      let writes: Record<string, Json> | undefined;
      if (config.output_mapping) {
        writes = {};
        for (const [contextPath, field] of Object.entries(config.output_mapping)) writes[contextPath] = (getPath(output, field) as Json | undefined) ?? null;
      }
      return { status: 'completed', output, input, ...(writes ? { writes } : {}) };
    },
  };
  // `configSchema` is a getter, since `webhookNode` below is made when this module loads, before
  // zod is. Added after the literal: a getter inside it would put this object, read on every
  // step, in dictionary mode.
  return Object.defineProperty(handler, 'configSchema', { get: webhookConfigSchema, enumerable: true });
}

/** The `webhook` handler with the default policy: public http(s) hosts only, 5 MiB responses. */
export const webhookNode: NodeHandler<WebhookConfig> = createWebhookNode();
