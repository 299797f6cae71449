/** `/workflow-executions`: listing, reading, controlling and deleting runs; approvals; trace. Live events: stream-routes.ts. */
import type { Request, Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { ControlOutcome } from '../engine/engine-role.js';
import { NotFoundError } from '../kernel/errors.js';
import type { TrellisEventName } from '../kernel/events.js';
import type { WorkflowExecution } from '../runtime/run-view.js';
import type { RunStatus } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, page, PageQuery, param, runSummary } from './route-helpers.js';
import { parseBody, parseRequest } from './validate.js';
import { readablePage } from './visible-rows.js';
import { strip } from './workflow-routes.js';

const RUN_STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const satisfies readonly RunStatus[];

/** An ISO date-time or epoch milliseconds. */
const Instant = z
  .string()
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : Date.parse(s)))
  .refine((ms) => Number.isFinite(ms), 'expected an ISO date-time or epoch milliseconds');

const ListQuery = z
  .object({
    workflow_id: IdSchema.optional(),
    /** One status or several, comma-separated. */
    status: z
      .string()
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(RUN_STATUSES)))
      .optional(),
    created_after: Instant.optional(),
    created_before: Instant.optional(),
    ...PageQuery,
  })
  .strict();
const IdParams = z.object({ id: IdSchema });
const ApprovalParams = z.object({ id: IdSchema, nodeId: z.string().min(1).max(500) });
const CancelBody = z.object({ reason: z.string().max(1000).optional() }).strict();
const ApprovalBody = z.object({ approved: z.boolean(), data: z.json().optional(), reason: z.string().max(1000).optional() }).strict();
const DeleteQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();

/** Events that follow an approval's commit: the woken step ends (or waits again), or the run moves on. */
const AFTER_WAKE: readonly TrellisEventName[] = ['node:completed', 'node:failed', 'node:waiting', 'execution:completed', 'execution:failed', 'execution:paused', 'execution:cancelled'];
/** Upper bound on waiting for the commit; the answer then reports the state as stored. */
const COMMIT_WAIT_MS = 2000;

/**
 * Runs a run-control call and waits until its effect is committed. The engine's pause / resume /
 * approve resolve once the change is decided in memory, before it is written; the events are
 * published only after the write, so the execution read afterwards shows the new state. A call this
 * process only stored for the run's driver (another process, see docs/scaling-out.md) publishes
 * nothing here: it is not waited for, and the route answers 202.
 */
async function committed(engine: Engine, id: string, events: readonly TrellisEventName[], act: () => Promise<ControlOutcome>): Promise<ControlOutcome> {
  const listeners: [TrellisEventName, (e: { executionId: string }) => void][] = [];
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    for (const name of events) listeners.push([name, (e) => e.executionId === id && resolve()]);
    timer = setTimeout(resolve, COMMIT_WAIT_MS);
  });
  for (const [name, listener] of listeners) engine.events.on(name, listener as never);
  try {
    const outcome = await act();
    if (outcome === 'applied') await done;
    return outcome;
  } finally {
    clearTimeout(timer);
    for (const [name, listener] of listeners) engine.events.off(name, listener as never);
  }
}

/** 200 with the execution when this process applied the call; 202 with it as stored when it only stored the request. */
const statusOf = (outcome: ControlOutcome): number => (outcome === 'applied' ? 200 : 202);

/** Adds the `/workflow-executions` routes to `router`. */
export function mountExecutionRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  const one = param('execution', 'id');
  const by = (req: Request) => ({ actor: options.actor(req) });

  const read = async (id: string): Promise<WorkflowExecution> => {
    const execution = await engine.get(id);
    if (!execution) throw new NotFoundError(`Execution ${id} not found`, { executionId: id });
    return execution;
  };

  router.get('/workflow-executions', guard(authorize, 'execution:list', () => ({ type: 'execution' })), catching(async (req, res) => {
    const { limit, offset, ...filter } = parseRequest(ListQuery, req.query, 'query');
    const runs = await readablePage(authorize, req, 'execution', (n, at) => engine.list({ ...strip(filter), limit: n, offset: at }), limit, offset);
    res.json(page(runs.map(runSummary), limit, offset));
  }));

  router.get('/workflow-executions/:id', guard(authorize, 'execution:read', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    res.json(await read(id));
  }));

  // The run with its trace, LLM records and child runs; one that has not ended needs ?force=true (409 without).
  router.delete('/workflow-executions/:id', guard(authorize, 'execution:delete', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { force } = parseRequest(DeleteQuery, req.query, 'query');
    // A forced delete of a run another process drives waits for that process to end it: not past the client.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('client went away'));
    });
    await engine.deleteRun(id, { force: force === 'true', signal: gone.signal, ...by(req) });
    res.status(204).end();
  }));

  router.post('/workflow-executions/:id/cancel', guard(authorize, 'execution:cancel', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { reason } = parseBody(CancelBody, req, { optional: true });
    await engine.cancel(id, reason, by(req));
    res.json(await read(id));
  }));

  router.post('/workflow-executions/:id/pause', guard(authorize, 'execution:pause', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const outcome = await committed(engine, id, ['execution:paused'], () => engine.pause(id, by(req)));
    res.status(statusOf(outcome)).json(await read(id));
  }));

  router.post('/workflow-executions/:id/resume', guard(authorize, 'execution:resume', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const outcome = await committed(engine, id, ['execution:resumed'], () => engine.resume(id, by(req)));
    res.status(statusOf(outcome)).json(await read(id));
  }));

  router.post('/workflow-executions/:id/approvals/:nodeId', guard(authorize, 'execution:approve', one), catching(async (req, res) => {
    const { id, nodeId } = parseRequest(ApprovalParams, req.params, 'params');
    const body = parseBody(ApprovalBody, req);
    const outcome = await committed(engine, id, AFTER_WAKE, () => (body.approved ? engine.approve(id, nodeId, body.data as Json | undefined, by(req)) : engine.reject(id, nodeId, body.reason, by(req))));
    res.status(statusOf(outcome)).json(await read(id));
  }));

  router.get('/workflow-executions/:id/logs', guard(authorize, 'execution:read', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const execution = await read(id);
    res.json({ execution_id: id, status: execution.status, data: execution.execution_trace });
  }));
}
