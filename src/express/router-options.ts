/** Options of `createRouter`: validated and defaulted once, at creation. */
import type { Request } from 'express';
import { TrellisError } from '../kernel/errors.js';

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
  | 'template:list'
  | 'prompt:list'
  | 'prompt:create'
  | 'prompt:read'
  | 'prompt:update'
  | 'prompt:delete';

/** What the action is done to. `id` is absent for collections (list, create). */
export interface RouterResource {
  readonly type: 'workflow' | 'execution' | 'template' | 'prompt';
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
export type AuthorizeFn = (req: Request, action: RouterAction, resource: RouterResource) => boolean | Promise<boolean>;

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
   * @default console.error
   */
  readonly onError?: (error: unknown, req: Request) => void;
}

/** Options after defaults. */
export interface ResolvedRouterOptions {
  readonly authorize: AuthorizeFn | undefined;
  readonly bodyLimit: string | number;
  readonly heartbeatMs: number;
  readonly onError: (error: unknown, req: Request) => void;
}

/** Validates and defaults router options; throws `invalid_options` naming the option. */
export function resolveRouterOptions(options: RouterOptions): ResolvedRouterOptions {
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
  return {
    authorize: o.authorize,
    bodyLimit: limit,
    heartbeatMs: heartbeat,
    onError: o.onError ?? ((error) => console.error('[trellis] request failed:', error)),
  };
}
