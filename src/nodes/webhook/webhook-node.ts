/**
 * `webhook`: one outgoing HTTP request with the built-in `fetch`, guarded against SSRF by a
 * {@link HostPolicy}. URL, header values and body are templates rendered in the step's context.
 * The request is built in webhook-request.ts, sent in webhook-send.ts and read in
 * webhook-response.ts; webhook-redaction.ts keeps secrets out of the trace.
 */
import type { ZodType } from 'zod';
import { definitionSchemas } from '../../definition/definition.js';
import { loadZod } from '../../kernel/lazy-modules.js';
import { getPath } from '../../expressions/data-paths.js';
import type { Json } from '../../kernel/json.js';
import type { HostPolicy } from './host-policy.js';
import type { NodeHandler } from '../node-handler.js';
import { resolveWebhookNodeOptions, type WebhookConfig, type WebhookNodeOptions } from './webhook-options.js';
import { badConfig, prepare, traceInput } from './webhook-request.js';
import { send } from './webhook-send.js';
import { parseBody, readBody, readSnippet, statusMatcher, transportError, unexpectedStatus } from './webhook-response.js';

export type { WebhookConfig, WebhookNodeOptions } from './webhook-options.js';

const ERROR_SNIPPET_BYTES = 500;

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
  return {
    type: 'webhook',
    // A function: this module is loaded before zod is, and validation calls it on first use.
    configSchema: webhookConfigSchema,
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
}

/** The `webhook` handler with the default policy: public http(s) hosts only, 5 MiB responses. */
export const webhookNode: NodeHandler<WebhookConfig> = createWebhookNode();
