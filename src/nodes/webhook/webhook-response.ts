/**
 * Reading a `webhook` node's response: a bounded body, JSON parsed when the content type says
 * so, and the errors for an unexpected status or a failed transport.
 */
import { isTrellisError, TrellisError } from '../../kernel/errors.js';
import type { Json } from '../../kernel/json.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../kernel/json-depth.js';
import type { StepContext } from '../node-handler.js';
import type { WebhookConfig } from './webhook-options.js';
import { redactUrl } from './webhook-redaction.js';

/** Reads the body, failing with `payload_too_large` past `max` bytes without buffering the rest. */
export async function readBody(ctx: StepContext<WebhookConfig>, response: Response, max: number): Promise<Uint8Array> {
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
export async function readSnippet(response: Response, max: number): Promise<Uint8Array> {
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

export function parseBody(ctx: StepContext<WebhookConfig>, response: Response, bytes: Uint8Array): Json {
  const text = new TextDecoder().decode(bytes);
  const type = response.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(type)) return text;
  if (text.trim() === '') return null;
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (error) {
    throw new TrellisError('malformed_output', `Webhook node "${ctx.node.id}": the response says ${type} but its body is not valid JSON.`, {
      nodeId: ctx.node.id,
      status: response.status,
      retryable: false,
      cause: error,
    });
  }
  if (exceedsJsonDepth(json)) {
    throw new TrellisError('malformed_output', `Webhook node "${ctx.node.id}": the response body nests more than ${MAX_JSON_DEPTH} levels deep.`, {
      nodeId: ctx.node.id,
      status: response.status,
      retryable: false,
    });
  }
  return json;
}

/** `retry-after` in seconds or as an HTTP date, in milliseconds from now. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function statusMatcher(expected: number | readonly number[] | undefined): (status: number) => boolean {
  if (expected === undefined) return (status) => status >= 200 && status < 300;
  const list = new Set(typeof expected === 'number' ? [expected] : expected);
  return (status) => list.has(status);
}

export function unexpectedStatus(ctx: StepContext<WebhookConfig>, response: Response, url: URL, bytes: Uint8Array): TrellisError {
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
export function transportError(ctx: StepContext<WebhookConfig>, error: unknown, host: string, timeout: AbortSignal | undefined, ms: number | undefined): TrellisError {
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
