/** `createDashboard(engine, options)`: the web dashboard, built into the package, as an Express router. */
import express, { type Request, type Router } from 'express';
import type { Engine } from '../engine/engine.js';
import { NotFoundError } from '../kernel/errors.js';
import { findDashboardAssets, indexPage, serveAssets, setSecurityHeaders } from './dashboard-assets.js';
import { mountDashboardDataRoutes } from './dashboard-data-routes.js';
import { resolveDashboardOptions, type DashboardOptions } from './dashboard-options.js';
import { errorHandler } from './http-errors.js';
import { guard } from './route-helpers.js';

/**
 * The dashboard of `engine`: runs (live), a run's graph, steps, model calls and timeline, the
 * approval inbox, workflows and their versions, metrics, dead letters and the audit trail. The page
 * is static (no front-end tooling, network or process on the host) and talks to the REST API of
 * {@link createRouter}, which must be mounted too: at the parent of the dashboard's path by
 * default (`/api` for `/api/dashboard`), or at `options.apiPath`. Mount both behind the same
 * credentials, a session cookie say: the page's `fetch` and `EventSource` send cookies, not
 * headers. `authorize` is asked `dashboard:read` for the page and its assets; the data comes
 * from routes that ask their own actions. Every answer carries a strict Content-Security-Policy.
 *
 * @example
 * const authorize = (req) => sessionOf(req) !== undefined;
 * app.use('/api', createRouter(engine, { authorize }));
 * app.use('/api/dashboard', createDashboard(engine, { authorize }));
 * // or both at once: app.use('/api', createRouter(engine, { authorize, dashboard: true }));
 */
export function createDashboard(engine: Engine, options: DashboardOptions): Router {
  const resolved = resolveDashboardOptions(options, engine.logger);
  const dir = findDashboardAssets(resolved.assetsDir);
  const render = indexPage(dir);
  const router = express.Router();
  const pageGuard = guard(resolved.authorize, 'dashboard:read', () => ({ type: 'engine' }));
  router.use((_req, res, next) => {
    setSecurityHeaders(res);
    next();
  });

  router.get('/', pageGuard, (req, res) => {
    // Assets are linked relative to the page (./assets/...), so the page's URL must end with a slash.
    const path = req.originalUrl.split('?')[0]!;
    if (!path.endsWith('/')) {
      res.redirect(301, `${path}/${req.originalUrl.slice(path.length)}`);
      return;
    }
    res.set('Cache-Control', 'no-store').type('html').send(render({ api: resolved.apiPath ?? parentPath(req), dashboard: req.baseUrl }));
  });
  router.use('/assets', pageGuard, serveAssets(dir));

  mountDashboardDataRoutes(router, engine, resolved);
  router.use((req, _res, next) => next(new NotFoundError(`No dashboard route ${req.method} ${req.baseUrl}${req.path}`)));
  router.use(errorHandler(resolved.onError));
  return router;
}

/** `/api` for a dashboard at `/api/dashboard`; `''` (the root) for one at `/dashboard`. */
function parentPath(req: Request): string {
  return req.baseUrl.replace(/\/[^/]*$/, '');
}
