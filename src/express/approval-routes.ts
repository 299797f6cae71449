/** `GET /approvals`: what waits for a person across runs, the approval inbox. */
import type { Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, page, PageQuery } from './route-helpers.js';
import { parseRequest } from './validate.js';
import { readablePage } from './visible-rows.js';

const ListQuery = z.object({ workflow_id: IdSchema.optional(), ...PageQuery }).strict();

/**
 * Adds `GET /approvals` to `router`. Listing approvals lists runs' steps, so the route is asked as
 * `execution:list`, and each approval is kept only when `authorize` lets the request read its run
 * (`execution:read` on the execution id), as `GET /workflow-executions` does: a hook that scopes
 * runs by tenant scopes the inbox with no rule of its own. Answer them with
 * `POST /workflow-executions/:id/approvals/:path`.
 */
export function mountApprovalRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  router.get('/approvals', guard(authorize, 'execution:list', () => ({ type: 'execution' })), catching(async (req, res) => {
    const { workflow_id: workflowId, limit, offset } = parseRequest(ListQuery, req.query, 'query');
    const fetch = async (n: number, at: number) =>
      (await engine.approvals.list({ ...(workflowId === undefined ? {} : { workflowId }), limit: n, offset: at })).map((approval) => ({ id: approval.execution_id, approval }));
    const rows = await readablePage(authorize, req, 'execution', fetch, limit, offset);
    res.json(page(rows.map((row) => row.approval), limit, offset));
  }));
}
