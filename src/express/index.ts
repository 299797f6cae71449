/**
 * `trellis/express`: the HTTP API as an Express router, and the webhook endpoint. Express is an
 * optional peer dependency: only hosts that import this entry point load it.
 */

// The REST API over an engine, and who may do what.
export { createRouter } from './router.js';
export type { RouterOptions, AuthorizeFn, AuthorizeGrant, RouterAction, RouterResource } from './router-options.js';

// The web dashboard, served from the package's built assets (or by `createRouter(engine, { dashboard: true })`).
export { createDashboard } from './dashboard.js';
export type { DashboardOptions } from './dashboard-options.js';

// Event streams from a browser: EventSource cannot send an Authorization header.
export { createStreamToken } from './stream-token.js';
export type { StreamTokenOptions } from './stream-token.js';

// Webhook triggers: `POST /hooks/:workflowId/:triggerId`, authenticated by signature.
export { createHooksRouter } from './hooks-router.js';
export type { HooksRouterOptions } from './hooks-router.js';

// The error answers and the live event stream, for routes and clients of your own.
export { httpStatusFor } from './http-errors.js';
export type { ErrorBody } from './http-errors.js';
export { STREAMED_EVENTS } from './run-event-hub.js';
