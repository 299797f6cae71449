/**
 * Sending a `webhook` node's request: every hop checked by the host policy, redirects followed
 * by hand (up to a bound) so credentials never follow to another origin.
 */
import { isTrellisError, TrellisError } from '../../kernel/errors.js';
import type { StepContext } from '../node-handler.js';
import type { ResolvedWebhookNodeOptions, WebhookConfig } from './webhook-options.js';
import type { PreparedRequest } from './webhook-request.js';
import { isSecretHeader, redactUrl } from './webhook-redaction.js';

const MAX_REDIRECTS = 5;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

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

/** Sends the request, following redirects; resolves with the final response and its URL. */
export async function send(
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
