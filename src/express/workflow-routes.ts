/** `/workflows`: CRUD over stored workflows, and starting runs of them. */
import type { Request, Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { WorkflowDefinitionInput } from '../definition/definition.js';
import { NotFoundError } from '../kernel/errors.js';
import { assertSameRequest, clientKey } from './idempotency.js';
import { waitForAnswer } from './wait-for-answer.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, page, PageQuery, param, VersionQuery, workflowView } from './route-helpers.js';
import { assertReachableAllowed, assertReferencesAllowed } from './references.js';
import { parseBody, parseRequest } from './validate.js';
import { BreakpointsSchema } from './debug-routes.js';
import { readablePage } from './visible-rows.js';

const ListQuery = z
  .object({ status: z.enum(['draft', 'active', 'archived']).optional(), tag: z.string().min(1).optional(), name: z.string().min(1).optional(), ...PageQuery })
  .strict();
const IdParams = z.object({ id: IdSchema });
/**
 * A definition is checked by the workflow store (schema and graph, every issue); here only "a JSON
 * object". `created_at` is the stored record's, not the definition's: dropping it lets a client
 * send a `GET /workflows/:id` answer back, edited, as a `PUT`.
 */
const DefinitionBody = z.record(z.string(), z.unknown()).transform((body) => {
  const definition = { ...body };
  delete definition.created_at;
  return definition;
});
const DeleteQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();
const ExecuteBody = z
  .object({
    input_data: z.record(z.string(), z.unknown()).default({}),
    /** Override declared variables; they win over keys of the same name in `input_data`. */
    variables: z.record(z.string(), z.unknown()).optional(),
    /** Debug mode: steps the run pauses before (see `RunOptions.breakpoints`). */
    breakpoints: BreakpointsSchema.optional(),
  })
  .strict();
/** How long `?wait=true` holds the request when no `timeout` is given, and the longest `timeout`. */
const DEFAULT_WAIT_MS = 30_000;
const MAX_WAIT_MS = 10 * 60_000;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;
/** `?timeout=`: a whole number with its unit, `500ms`, `30s` or `5m` (a bare number could be either). */
const WaitTimeout = z
  .string()
  .regex(/^\d{1,9}(ms|s|m)$/, 'expected a whole number with a unit: 500ms, 30s or 5m')
  .transform((text) => Number(/^\d+/.exec(text)![0]) * UNIT_MS[/[a-z]+$/.exec(text)![0] as keyof typeof UNIT_MS])
  .refine((ms) => ms > 0 && ms <= MAX_WAIT_MS, 'expected more than 0 and at most 10m');
const ExecuteQuery = z
  .object({ wait: z.enum(['true', 'false']).optional(), timeout: WaitTimeout.optional(), version: z.coerce.number().int().positive().optional() })
  .strict()
  .refine((q) => q.timeout === undefined || q.wait === 'true', { path: ['timeout'], message: 'timeout applies only with wait=true' });
const IdempotencyHeader = z.string().min(1).max(255).optional();

/** Adds the `/workflows` routes to `router`. */
export function mountWorkflowRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  const one = param('workflow', 'id');
  const by = (req: Request) => ({ actor: options.actor(req) });

  router.post('/workflows', guard(authorize, 'workflow:create', () => ({ type: 'workflow' })), catching(async (req, res) => {
    const body = parseBody(DefinitionBody, req);
    await assertReferencesAllowed(authorize, req, body);
    const record = await engine.workflows.create(body as WorkflowDefinitionInput, by(req));
    res.status(201).json(workflowView(record));
  }));

  router.get('/workflows', guard(authorize, 'workflow:list', () => ({ type: 'workflow' })), catching(async (req, res) => {
    const { limit, offset, ...filter } = parseRequest(ListQuery, req.query, 'query');
    const rows = await readablePage(authorize, req, 'workflow', (n, at) => engine.workflows.list({ ...strip(filter), limit: n, offset: at }), limit, offset);
    res.json(page(rows.map(workflowView), limit, offset));
  }));

  router.get('/workflows/:id', guard(authorize, 'workflow:read', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { version } = parseRequest(VersionQuery, req.query, 'query');
    const record = await engine.workflows.get(id, version);
    if (!record) throw new NotFoundError(`Workflow "${id}"${version === undefined ? '' : ` version ${version}`} not found`);
    res.json(workflowView(record));
  }));

  router.put('/workflows/:id', guard(authorize, 'workflow:update', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const body = parseBody(DefinitionBody, req);
    await assertReferencesAllowed(authorize, req, body);
    const record = await engine.workflows.update(id, body as WorkflowDefinitionInput, by(req));
    res.json(workflowView(record));
  }));

  router.delete('/workflows/:id', guard(authorize, 'workflow:delete', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { force } = parseRequest(DeleteQuery, req.query, 'query');
    await engine.workflows.delete(id, { force: force === 'true', ...by(req) });
    res.status(204).end();
  }));

  router.post('/workflows/:id/execute', guard(authorize, 'workflow:execute', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const query = parseRequest(ExecuteQuery, req.query, 'query');
    const body = parseBody(ExecuteBody, req, { optional: true });
    const key = parseRequest(IdempotencyHeader, req.get('idempotency-key'), 'headers');
    const input = { ...body.input_data, ...body.variables };
    await assertReachableAllowed(authorize, req, engine, id, query.version);
    const executionId = await engine.startStored(id, input, {
      trigger: { type: 'manual', via: 'http' },
      ...by(req),
      ...(key === undefined ? {} : { idempotencyKey: clientKey(key) }),
      ...(query.version === undefined ? {} : { version: query.version }),
      ...(body.breakpoints === undefined ? {} : { breakpoints: body.breakpoints }),
    });
    if (key !== undefined) await assertSameRequest(engine, executionId, { key, workflowId: id, version: query.version, input });
    res.location(`${req.baseUrl}/workflow-executions/${encodeURIComponent(executionId)}`);
    if (query.wait !== 'true') {
      res.status(202).json({ execution_id: executionId });
      return;
    }
    // Stop polling a stored run once nobody is waiting for the answer.
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    let answer: Awaited<ReturnType<typeof waitForAnswer>>;
    try {
      answer = await waitForAnswer(engine, executionId, query.timeout ?? DEFAULT_WAIT_MS, gone.signal);
    } catch (error) {
      // The client went away: nobody to answer, and nothing went wrong (the run goes on).
      if (gone.signal.aborted) return;
      throw error;
    }
    // 202: the run is still under way; the answer is the run as it is (poll it, or its events).
    res.status(answer.timedOut ? 202 : 200).json(answer.execution);
  }));
}

/** Drops undefined keys (exactOptionalPropertyTypes: the storage filter must not receive them). */
export function strip<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
