/**
 * Dead letters and the audit trail over HTTP: `GET /dead-letters`, `POST /dead-letters/:id/discard`,
 * `POST /workflow-executions/:id/retry` and `GET /audit`. Lists page with an opaque `cursor`
 * (`next_cursor` of the previous page), newest first. The audit trail is one resource: who may
 * read it (`audit:read`) reads all of it.
 */
import type { Request, Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { Json } from '../kernel/json.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, param } from './route-helpers.js';
import { parseBody, parseRequest } from './validate.js';
import { readable } from './visible-rows.js';

/** An ISO date-time or epoch milliseconds. */
const Instant = z
  .string()
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : Date.parse(s)))
  .refine((ms) => Number.isFinite(ms), 'expected an ISO date-time or epoch milliseconds');
const Limit = z.coerce.number().int().min(1).max(1000).default(100);
const Cursor = z.string().min(1).max(500);

const DeadLetterQuery = z.object({ workflow_id: IdSchema.optional(), stuck_after_ms: z.coerce.number().int().min(0).optional(), limit: Limit, cursor: Cursor.optional() }).strict();
const AuditQuery = z
  .object({
    subject: IdSchema.optional(),
    subject_type: z.enum(['workflow', 'run']).optional(),
    actor: z.string().min(1).max(500).optional(),
    since: Instant.optional(),
    until: Instant.optional(),
    limit: Limit,
    cursor: Cursor.optional(),
  })
  .strict();
const IdParams = z.object({ id: IdSchema });
const DiscardBody = z.object({ reason: z.string().max(1000).optional() }).strict();
const RetryBody = z.object({ from_step: z.string().min(1).max(500).optional(), input_data: z.json().optional() }).strict();

/** Adds the dead-letter, retry and audit routes to `router`. */
export function mountDeadLetterRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  const by = (req: Request) => ({ actor: options.actor(req) });

  router.get('/dead-letters', guard(authorize, 'dead-letter:list', () => ({ type: 'dead-letter' })), catching(async (req, res) => {
    const q = parseRequest(DeadLetterQuery, req.query, 'query');
    const page = await engine.deadLetters.list({
      limit: q.limit,
      ...(q.workflow_id === undefined ? {} : { workflowId: q.workflow_id }),
      ...(q.stuck_after_ms === undefined ? {} : { stuckAfterMs: q.stuck_after_ms }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    // Each run is put to `authorize` as `execution:read`, like the runs of any list; a page may come out short.
    const visible = new Set((await readable(authorize, req, 'execution', page.items.map((d) => ({ id: d.execution_id })))).map((r) => r.id));
    res.json({ data: page.items.filter((d) => visible.has(d.execution_id)), next_cursor: page.nextCursor ?? null });
  }));

  router.post('/dead-letters/:id/discard', guard(authorize, 'dead-letter:discard', param('dead-letter', 'id')), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { reason } = parseBody(DiscardBody, req, { optional: true });
    await engine.deadLetters.discard(id, { ...by(req), ...(reason === undefined ? {} : { reason }) });
    res.status(204).end();
  }));

  router.post('/workflow-executions/:id/retry', guard(authorize, 'execution:retry', param('execution', 'id')), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const body = parseBody(RetryBody, req, { optional: true });
    const executionId = await engine.retry(id, {
      ...by(req),
      ...(body.from_step === undefined ? {} : { fromStep: body.from_step }),
      ...(body.input_data === undefined ? {} : { input: body.input_data as Json }),
    });
    res.location(`${req.baseUrl}/workflow-executions/${encodeURIComponent(executionId)}`);
    res.status(202).json({ execution_id: executionId, retry_of: id });
  }));

  router.get('/audit', guard(authorize, 'audit:read', () => ({ type: 'audit' })), catching(async (req, res) => {
    const q = parseRequest(AuditQuery, req.query, 'query');
    const page = await engine.audit.list({
      limit: q.limit,
      ...(q.subject === undefined ? {} : { subject: q.subject }),
      ...(q.subject_type === undefined ? {} : { subjectType: q.subject_type }),
      ...(q.actor === undefined ? {} : { actor: q.actor }),
      ...(q.since === undefined ? {} : { since: q.since }),
      ...(q.until === undefined ? {} : { until: q.until }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    res.json({ data: page.events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next_cursor: page.nextCursor ?? null });
  }));
}
