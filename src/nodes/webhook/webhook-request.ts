/**
 * Building a `webhook` node's request: the URL, header values and body rendered from templates in
 * the step's context.
 */
import { isTrellisError, TrellisError } from '../../kernel/errors.js';
import { getPath } from '../../expressions/data-paths.js';
import type { Json } from '../../kernel/json.js';
import type { StepContext } from '../node-handler.js';
import type { ResolvedWebhookNodeOptions, WebhookConfig } from './webhook-options.js';
import { isSecretHeader, REDACTED, redactJson, redactUrl } from './webhook-redaction.js';

const PLACEHOLDER = /\{\{[^{}]*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{([^{}]*)\}\}$/;

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

/** A config problem found while building the request: not retryable. */
export function badConfig(ctx: StepContext<WebhookConfig>, message: string, cause?: unknown): TrellisError {
  return new TrellisError('validation_failed', `Webhook node "${ctx.node.id}": ${message}`, {
    nodeId: ctx.node.id,
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A request ready to send, and its body as the trace records it. */
export interface PreparedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
  /** The body as recorded in the trace. */
  readonly traceBody: Json | undefined;
}

/** Renders the request of one attempt; throws `validation_failed` for a bad URL, method or header. */
export function prepare(ctx: StepContext<WebhookConfig>, options: ResolvedWebhookNodeOptions): PreparedRequest {
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

/** The request as the step's trace records it, secrets redacted. */
export function traceInput(request: PreparedRequest, idempotencyHeader: string | false): Json {
  const headers: { [key: string]: Json } = {};
  request.headers.forEach((value, name) => (headers[name] = isSecretHeader(name, idempotencyHeader) ? REDACTED : value));
  const input: { [key: string]: Json } = { method: request.method, url: redactUrl(request.url.toString()), headers };
  if (request.traceBody !== undefined) input.body = redactJson(request.traceBody);
  return input;
}
