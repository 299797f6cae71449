/**
 * What every route group shares: the authorization guard, paging, common schemas, and the JSON
 * views of stored records (times as ISO strings, internal bookkeeping left out).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { TrellisError } from '../kernel/errors.js';
import type { PromptRecord, RunRecord, WorkflowRecord } from '../storage/records.js';
import { outputPreview } from './output-preview.js';
import { refusalMessage } from './refusal-message.js';
import { allows } from './principal.js';
import type { AuthorizeFn, RouterAction, RouterResource } from './router-options.js';

/**
 * An async handler whose rejection goes to `next`, and so to the error envelope. Express 5 does
 * this itself; Express 4 leaves the promise unhandled, which ends a Node process: one bad request
 * would take the host down.
 */
export function catching(handler: (req: Request, res: Response, next: NextFunction) => Promise<void> | void): RequestHandler {
  return (req, res, next) => {
    try {
      const done = handler(req, res, next);
      if (done instanceof Promise) done.catch(next);
    } catch (error) {
      next(error);
    }
  };
}

/** Middleware asking `authorize` whether the request may do `action`; a refusal answers 403. */
export function guard(authorize: AuthorizeFn | undefined, action: RouterAction, resource: (req: Request) => RouterResource): RequestHandler {
  return catching(async (req, _res, next) => {
    const target = resource(req);
    if (authorize && !allows(req, await authorize(req, action, target))) {
      throw new TrellisError('forbidden', refusalMessage(action, target), { details: { action, resource: target } });
    }
    next();
  });
}

/** Reads `req.params[name]` for a resource id (validated later by the route's schema). */
export const param =
  (type: RouterResource['type'], name: string) =>
  (req: Request): RouterResource => {
    const id = req.params[name];
    return typeof id === 'string' ? { type, id } : { type };
  };

/** An id in a path: non-empty and bounded, so it is safe to log and to pass to storage. */
export const IdSchema = z.string().min(1).max(200);

/** `?limit=&offset=` of every paginated list. */
export const PageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
};

/** `?version=`. */
export const VersionQuery = z.object({ version: z.coerce.number().int().positive().optional() }).strict();

/** `{ data, pagination }`: the page asked for; `rows` holds one extra row when there are more. */
export function page<T>(rows: readonly T[], limit: number, offset: number): { data: T[]; pagination: { limit: number; offset: number; has_more: boolean } } {
  return { data: rows.slice(0, limit), pagination: { limit, offset, has_more: rows.length > limit } };
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * The HTTP view of a stored workflow version: the definition as it is posted (`name`,
 * `description`, `status`, `tags`, and `definition` holding the graph: nodes, edges, variables,
 * triggers, settings), with the stored `id`, `version` and `created_at`. It was the record around
 * the whole definition, so the graph sat at `definition.definition`.
 */
export function workflowView(record: WorkflowRecord): Record<string, unknown> {
  const { definition: graph, ...fields } = record.definition;
  return { ...fields, id: record.id, version: record.version, name: record.name, status: record.status, tags: record.tags, definition: graph, created_at: iso(record.created_at) };
}

/** The HTTP view of a stored prompt version. */
export function promptView(record: PromptRecord): Record<string, unknown> {
  return { ...record, created_at: iso(record.created_at) };
}

/**
 * The HTTP view of a run in a list (the full record is `GET /workflow-executions/:id`): with its
 * `error_message` when it failed and its `output_data` when it completed, a large output as a
 * preview (see {@link outputPreview}).
 */
export function runSummary(run: RunRecord): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      id: run.id,
      workflow_id: run.workflow_id,
      workflow_version: run.workflow_version,
      status: run.status,
      error_message: run.error_message,
      ...outputPreview(run.output_data),
      trigger: run.trigger,
      parent_id: run.parent_id,
      created_at: iso(run.created_at),
      started_at: iso(run.started_at),
      completed_at: iso(run.completed_at),
      duration_ms: run.completed_at !== undefined && run.started_at !== undefined ? run.completed_at - run.started_at : undefined,
      cost_usd: (run.usage as { cost_usd?: unknown } | undefined)?.cost_usd,
    }),
  ) as Record<string, unknown>;
}
