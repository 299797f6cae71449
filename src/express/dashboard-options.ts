/** Options of `createDashboard`: validated and defaulted once, at creation. */
import type { Request } from 'express';
import { TrellisError } from '../kernel/errors.js';
import { consoleLogger, type Logger } from '../kernel/logger.js';
import { grantedPrincipal } from './principal.js';
import type { AuthorizeFn } from './router-options.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * The router's hook: the page and its assets are asked as `dashboard:read` on `{ type: 'engine' }`,
   * and every datum the page shows comes from a route that asks its own action (`execution:read`,
   * `workflow:list`...), so a user sees the dashboard's frame only when allowed and its data only
   * where the API allows it. Required unless `allowUnauthenticated` is set on purpose.
   */
  readonly authorize?: AuthorizeFn;
  /** Mount without any authorization (a private network, tests). @default false */
  readonly allowUnauthenticated?: boolean;
  /**
   * Where the page finds the REST API (`createRouter`), as a URL path: `'/api'`.
   * @default the parent of the dashboard's path: `/api` for a dashboard at `/api/dashboard`, which is where `createRouter(engine, { dashboard: true })` puts it
   */
  readonly apiPath?: string;
  /** Told about every error answered with a 5xx. @default the engine's `logger` */
  readonly onError?: (error: unknown, req: Request) => void;
  /** Who a request is, for the audit trail of a fork started from the page. @default the `principal` `authorize` granted */
  readonly actor?: (req: Request) => string | undefined;
  /**
   * The folder of the built dashboard (index.html and assets/).
   * @default the package's `dist/dashboard/`
   */
  readonly assetsDir?: string;
}

/** Options after defaults. */
export interface ResolvedDashboardOptions {
  readonly authorize: AuthorizeFn | undefined;
  readonly apiPath: string | undefined;
  readonly onError: (error: unknown, req: Request) => void;
  readonly actor: (req: Request) => string | undefined;
  readonly assetsDir: string | undefined;
}

/** A URL path the page may be told about: absolute, no scheme or host, nothing that could leave the origin. */
const API_PATH = /^\/(?!\/)[\w\-./~%]*$/;

/** Validates and defaults dashboard options; throws `invalid_options` naming the option. */
export function resolveDashboardOptions(options: DashboardOptions, logger: Logger = consoleLogger): ResolvedDashboardOptions {
  const o = options ?? {};
  if (o.authorize !== undefined && typeof o.authorize !== 'function') {
    throw new TrellisError('invalid_options', `createDashboard option "authorize" must be a function, got ${typeof o.authorize}`);
  }
  if (o.authorize === undefined && o.allowUnauthenticated !== true) {
    throw new TrellisError(
      'invalid_options',
      'createDashboard needs an "authorize" option: the dashboard shows every run and can start, cancel and approve them. Pass { allowUnauthenticated: true } to mount it without one on purpose.',
    );
  }
  if (o.apiPath !== undefined && (typeof o.apiPath !== 'string' || !API_PATH.test(o.apiPath))) {
    throw new TrellisError('invalid_options', `createDashboard option "apiPath" must be an absolute URL path such as '/api', got ${JSON.stringify(o.apiPath)}`);
  }
  if (o.assetsDir !== undefined && (typeof o.assetsDir !== 'string' || o.assetsDir.length === 0)) {
    throw new TrellisError('invalid_options', `createDashboard option "assetsDir" must be a folder path, got ${JSON.stringify(o.assetsDir)}`);
  }
  if (o.actor !== undefined && typeof o.actor !== 'function') {
    throw new TrellisError('invalid_options', `createDashboard option "actor" must be a function of the request, got ${typeof o.actor}`);
  }
  return {
    authorize: o.authorize,
    apiPath: o.apiPath?.replace(/\/+$/, ''),
    onError: o.onError ?? ((error, req) => logger.error({ err: error, method: req.method, path: req.originalUrl }, 'dashboard request failed')),
    actor: o.actor ?? grantedPrincipal,
    assetsDir: o.assetsDir,
  };
}
