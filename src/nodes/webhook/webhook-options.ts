/** Options of the `webhook` node: the host policy plus transport limits, checked once at creation. */
import type { NodeConfigs } from '../../definition/definition.js';
import { TrellisError } from '../../kernel/errors.js';
import { createGuardedFetch } from './guarded-fetch.js';
import { createHostPolicy, type HostPolicy, type HostPolicyOptions } from './host-policy.js';

const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

/** Options of {@link createWebhookNode}: the host policy plus transport limits. */
export interface WebhookNodeOptions extends HostPolicyOptions {
  /**
   * Largest response body read, in bytes (after decompression); a larger one fails the step
   * with `payload_too_large`.
   * @default 5_242_880 (5 MiB)
   */
  readonly maxResponseBytes?: number;
  /**
   * The `fetch` used for requests, e.g. one that goes through an egress proxy. Your own `fetch`
   * resolves names itself, so the policy then checks addresses before the request only (the
   * connection may resolve again): let the proxy enforce the same rule.
   * @default a fetch over node:http(s) whose sockets connect only to addresses the policy allows
   */
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

/** The options once checked, as the handler reads them. */
export interface ResolvedWebhookNodeOptions {
  readonly policy: HostPolicy;
  readonly maxResponseBytes: number;
  readonly fetch: typeof fetch;
  readonly idempotencyHeader: string | false;
}

function invalidOption(name: string, expected: string, received: unknown): TrellisError {
  return new TrellisError('invalid_options', `Option "${name}" must be ${expected}; received ${JSON.stringify(received) ?? typeof received}.`);
}

/** Checks and defaults the options once, when the handler is created; bad ones throw `invalid_options` naming the option. */
export function resolveWebhookNodeOptions(options: WebhookNodeOptions): ResolvedWebhookNodeOptions {
  const max = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) throw invalidOption('maxResponseBytes', 'a positive integer', max);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw invalidOption('fetch', 'a function', typeof options.fetch);
  const header = options.idempotencyHeader ?? 'Idempotency-Key';
  if (header !== false && (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~\w-]+$/.test(header))) {
    throw invalidOption('idempotencyHeader', 'a header name or false', header);
  }
  const policy = createHostPolicy(options);
  return { policy, maxResponseBytes: max, fetch: options.fetch ?? createGuardedFetch(policy.connectLookup), idempotencyHeader: header };
}
