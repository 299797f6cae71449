/**
 * A request under one of the router's own paths (`/workflows...`, `/workflow-executions...`) that
 * no route took answers the JSON error envelope: 405 `method_not_allowed` with an `Allow` header
 * when the path exists under other methods, else 404 `not_found`. Express would answer its HTML
 * page. Paths outside the router's own first segments pass on untouched, so host routes mounted
 * next to the router (at the same prefix, or at the root) keep working.
 */
import type { RequestHandler, Router } from 'express';
import { NotFoundError, TrellisError } from '../kernel/errors.js';

interface KnownRoute {
  /** The path's first segment, lower-cased. */
  readonly prefix: string;
  readonly pattern: RegExp;
  readonly methods: readonly string[];
}

/**
 * The answer for requests that matched no route of `router`. Mount it after every route: it reads
 * the routes from `router.stack` on the first request (the same shape on Express 4 and 5), so
 * routes added by any mount function are known without a list to keep in step.
 */
export function unknownRoutes(router: Router): RequestHandler {
  let routes: readonly KnownRoute[] | undefined;
  let prefixes: ReadonlySet<string> = new Set();
  return (req, res, next) => {
    if (!routes) {
      routes = routesOf(router);
      prefixes = new Set(routes.map((r) => r.prefix));
    }
    // OPTIONS is left to Express (and the host's CORS middleware).
    if (req.method === 'OPTIONS' || !prefixes.has(firstSegment(req.path))) return next();
    const where = `${req.method} ${req.baseUrl}${req.path}`;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(req.path)).flatMap((r) => r.methods))];
    if (allowed.length === 0) return next(new NotFoundError(`No route ${where}; the routes are listed in the README's "HTTP router" section`, { details: { method: req.method, path: `${req.baseUrl}${req.path}` } }));
    if (allowed.includes('GET')) allowed.push('HEAD');
    res.set('Allow', allowed.join(', '));
    next(new TrellisError('method_not_allowed', `No route ${where}; ${req.baseUrl}${req.path} answers ${allowed.join(', ')}`, { details: { method: req.method, path: `${req.baseUrl}${req.path}`, allowed } }));
  };
}

/** The routes on `router`, each as a pattern over `req.path` and the methods it answers. */
function routesOf(router: Router): KnownRoute[] {
  const stack = (router as unknown as { readonly stack?: unknown }).stack;
  if (!Array.isArray(stack)) return [];
  const routes: KnownRoute[] = [];
  for (const layer of stack as unknown[]) {
    const route = (layer as { readonly route?: { readonly path?: unknown; readonly methods?: unknown } } | null)?.route;
    if (typeof route?.path !== 'string' || typeof route.methods !== 'object' || route.methods === null) continue;
    const methods = Object.entries(route.methods)
      .filter(([method, on]) => on === true && method !== '_all')
      .map(([method]) => method.toUpperCase());
    routes.push({ prefix: firstSegment(route.path), pattern: patternOf(route.path), methods });
  }
  return routes;
}

/** `/workflows/:id/execute` as a pattern: a `:param` segment is any one segment; a trailing slash is allowed, case ignored (Express's defaults). */
function patternOf(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`, 'i');
}

/** `workflow-executions` of `/workflow-executions/run_1/events`, lower-cased. */
function firstSegment(path: string): string {
  return (path.split('/')[1] ?? '').toLowerCase();
}
