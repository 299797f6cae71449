/** Options of `createRouter`: validated and defaulted once, at creation. */
import type { Request } from 'express';
import { TrellisError } from '../kernel/errors.js';
import { secretBytes } from './stream-token.js';
import { grantedPrincipal, type AuthorizeGrant } from './principal.js';

export type { AuthorizeGrant } from './principal.js';
import { consoleLogger, type Logger } from '../kernel/logger.js';

/** What a request wants to do; `authorize` receives one of these. */
export type RouterAction =
  | 'workflow:create'
  | 'workflow:list'
  | 'workflow:read'
  | 'workflow:update'
  | 'workflow:delete'
  | 'workflow:execute'
  | 'execution:list'
  | 'execution:read'
  | 'execution:cancel'
  | 'execution:pause'
  | 'execution:resume'
  | 'execution:approve'
  | 'execution:delete'
  | 'execution:retry'
  | 'dead-letter:list'
  | 'dead-letter:discard'
  | 'audit:read'
  | 'template:list'
  | 'prompt:list'
  | 'prompt:create'
  | 'prompt:read'
  | 'prompt:update'
  | 'prompt:delete'
  | 'metrics:read'
  | 'health:read'
  | 'dashboard:read';

/** What the action is done to. `id` is absent for collections (list, create). */
export interface RouterResource {
  readonly type: 'workflow' | 'execution' | 'template' | 'prompt' | 'dead-letter' | 'audit' | 'engine';
  readonly id?: string;
}

/**
 * Decides whether `req` may do `action` on `resource`. `false` answers 403; throwing a
 * `TrellisError` with code `auth` answers 401 (e.g. no credentials at all).
 *
 * Besides the route's own action it is asked about what a request reaches indirectly, so a hook
 * that scopes ids to their owner also scopes these: every workflow a definition runs through
 * `sub_workflow` (`workflow:execute`) and every stored prompt it names (`prompt:read`), when the
 * definition is created or updated and again, over everything a run reaches, when a run is started;
 * and every record of a list (`workflow:read`, `execution:read`, `prompt:read` on its id), which the
 * list leaves out when refused.
 */
export type AuthorizeFn = (req: Request, action: RouterAction, resource: RouterResource) => boolean | AuthorizeGrant | Promise<boolean | AuthorizeGrant>;


/** Options of {@link createRouter}. */
export interface RouterOptions {
  /** Called before every request is handled. Required unless `allowUnauthenticated` is set on purpose. */
  readonly authorize?: AuthorizeFn;
  /** Mount without any authorization (a private network, tests). @default false */
  readonly allowUnauthenticated?: boolean;
  /** Largest JSON body, as `express.json` reads it (`'1mb'`, `'100kb'`, bytes). @default '1mb' */
  readonly bodyLimit?: string | number;
  /** How often an event stream sends a keep-alive comment, in ms. @default 15000 */
  readonly heartbeatMs?: number;
  /**
   * Told about every error answered with a 5xx (the client only gets a generic message).
   * @default the engine's `logger` (its `error` level)
   */
  readonly onError?: (error: unknown, req: Request) => void;
  /**
   * Turns on access tokens for event streams, signed with this secret (at least 32 bytes; keep it
   * out of the code, like any secret). A browser's `EventSource` cannot send an `Authorization`
   * header: the page gets a token from `POST /workflow-executions/:id/events/token` (checked by
   * `authorize` as `execution:read`, with the page's usual credentials) and opens
   * `/workflow-executions/:id/events?access_token=<token>`, which then skips `authorize`.
   * `createStreamToken` mints the same tokens elsewhere. @default undefined (tokens off)
   */
  readonly streamTokenSecret?: string | Uint8Array;
  /** How long a stream token opens the stream, in ms (it is checked when the stream opens). @default 60000 */
  readonly streamTokenTtlMs?: number;
  /**
   * Who a request is, for the audit trail: recorded as the actor of every change it makes (runs
   * started, approved, cancelled, retried, workflows written...). Undefined records `system`.
   * @default the `principal` that `authorize` granted the request, if it answered with one
   */
  readonly actor?: (req: Request) => string | undefined;
  /**
   * Serves `GET /metrics`: `engine.metrics()` in the Prometheus text format, checked by
   * `authorize` as `metrics:read` on `{ type: 'engine' }`. @default false
   */
  readonly metrics?: boolean;
  /**
   * Serves the probes: `GET /health/live` and `GET /health/ready` (200 or 503, `{ status }`, no
   * `authorize`: probes carry no credentials and learn nothing but up or down), and `GET /health`
   * with every check (`engine.health()`; 503 when not ready), checked by `authorize` as
   * `health:read`. @default false
   */
  readonly health?: boolean;
  /**
   * Serves the web dashboard at `/dashboard` under the router (see `createDashboard`), with this
   * router's `authorize`, `actor` and `onError`; the page and its assets are asked as
   * `dashboard:read` on `{ type: 'engine' }`. @default false
   */
  readonly dashboard?: boolean;
}

/** Options after defaults. */
export interface ResolvedRouterOptions {
  readonly authorize: AuthorizeFn | undefined;
  readonly bodyLimit: string | number;
  readonly heartbeatMs: number;
  readonly onError: (error: unknown, req: Request) => void;
  readonly streamTokenSecret: Uint8Array | undefined;
  readonly streamTokenTtlMs: number;
  readonly actor: (req: Request) => string | undefined;
  readonly metrics: boolean;
  readonly health: boolean;
  readonly dashboard: boolean;
}

/** Longest a stream token may open a stream for: a token travels in a URL, so it must not live long. */
const MAX_STREAM_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Validates and defaults router options; throws `invalid_options` naming the option. */
export function resolveRouterOptions(options: RouterOptions, logger: Logger = consoleLogger): ResolvedRouterOptions {
  const o = options ?? {};
  if (o.authorize !== undefined && typeof o.authorize !== 'function') {
    throw new TrellisError('invalid_options', `createRouter option "authorize" must be a function, got ${typeof o.authorize}`);
  }
  if (o.authorize === undefined && o.allowUnauthenticated !== true) {
    throw new TrellisError(
      'invalid_options',
      'createRouter needs an "authorize" option: the router can start, cancel and approve runs. Pass { allowUnauthenticated: true } to mount it without one on purpose.',
    );
  }
  const limit = o.bodyLimit ?? '1mb';
  if (!(typeof limit === 'string' && limit.length > 0) && !(typeof limit === 'number' && Number.isFinite(limit) && limit > 0)) {
    throw new TrellisError('invalid_options', `createRouter option "bodyLimit" must be a size such as '1mb' or a positive number of bytes, got ${JSON.stringify(limit)}`);
  }
  const heartbeat = o.heartbeatMs ?? 15_000;
  if (typeof heartbeat !== 'number' || !Number.isFinite(heartbeat) || heartbeat <= 0) {
    throw new TrellisError('invalid_options', `createRouter option "heartbeatMs" must be a positive number, got ${JSON.stringify(heartbeat)}`);
  }
  const ttl = o.streamTokenTtlMs ?? 60_000;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_STREAM_TOKEN_TTL_MS) {
    throw new TrellisError('invalid_options', `createRouter option "streamTokenTtlMs" must be a positive number of ms up to ${MAX_STREAM_TOKEN_TTL_MS} (an hour), got ${JSON.stringify(ttl)}`);
  }
  if (o.actor !== undefined && typeof o.actor !== 'function') {
    throw new TrellisError('invalid_options', `createRouter option "actor" must be a function of the request, got ${typeof o.actor}`);
  }
  return {
    actor: o.actor ?? grantedPrincipal,
    authorize: o.authorize,
    bodyLimit: limit,
    heartbeatMs: heartbeat,
    onError: o.onError ?? ((error, req) => logger.error({ err: error, method: req.method, path: req.originalUrl }, 'request failed')),
    streamTokenSecret: o.streamTokenSecret === undefined ? undefined : secretBytes(o.streamTokenSecret, 'createRouter option "streamTokenSecret"'),
    streamTokenTtlMs: ttl,
    metrics: flag('metrics', o.metrics),
    health: flag('health', o.health),
    dashboard: flag('dashboard', o.dashboard),
  };
}

function flag(name: string, value: boolean | undefined): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TrellisError('invalid_options', `createRouter option "${name}" must be a boolean, got ${JSON.stringify(value)}`);
  return value ?? false;
}
