/**
 * Debug mode over HTTP: run one held step of a paused run, fork a run from a step (with edited
 * prompts, and breakpoints of its own), and compare two runs step by step. Breakpoints of a new run
 * go in the body of `POST /workflows/:id/execute` (workflow-routes.ts).
 */
import type { Request, Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { NotFoundError, TrellisError, isTrellisError } from '../kernel/errors.js';
import type { ResolvedRouterOptions, RouterAction, RouterResource } from './router-options.js';
import { catching, guard, IdSchema, param } from './route-helpers.js';
import { parseBody, parseRequest } from './validate.js';
import { allows } from './principal.js';
import { refusalMessage } from './refusal-message.js';
import { assertReachableAllowed } from './references.js';

/** Breakpoints in a request body: step paths or node ids (the engine checks them against the workflow). */
export const BreakpointsSchema = z.array(z.string().min(1).max(500)).max(200);

const IdParams = z.object({ id: IdSchema });
const CompareParams = z.object({ id: IdSchema, otherId: IdSchema });
const StepBody = z.object({ path: z.string().min(1).max(500).optional() }).strict();
const ForkBody = z
  .object({
    from_node: z.string().min(1).max(200),
    overrides: z.record(z.string(), z.object({ template: z.string().optional(), provider_model: z.string().min(1).max(200).optional() }).strict()).optional(),
    breakpoints: BreakpointsSchema.optional(),
  })
  .strict();

/** Asks `authorize` about a resource the guard could not name from the path; a refusal is a 403. */
async function authorized(options: ResolvedRouterOptions, req: Request, action: RouterAction, resource: RouterResource): Promise<void> {
  const { authorize } = options;
  if (authorize && !allows(req, await authorize(req, action, resource))) throw new TrellisError('forbidden', refusalMessage(action, resource), { details: { action, resource } });
}

/** Adds the debug-mode routes under `/workflow-executions` to `router`. */
export function mountDebugRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  const one = param('execution', 'id');
  const by = (req: Request) => ({ actor: options.actor(req) });

  // One held step of a paused run (`engine.step`): authorized as a resume, which it is, one step long.
  router.post('/workflow-executions/:id/step', guard(authorize, 'execution:resume', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { path } = parseBody(StepBody, req, { optional: true });
    res.json(await engine.step(id, { ...by(req), ...(path === undefined ? {} : { path }) }));
  }));

  // A fork reads the run it forks and starts a run of its workflow: both are asked.
  router.post('/workflow-executions/:id/fork', guard(authorize, 'execution:read', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const body = parseBody(ForkBody, req);
    const source = await engine.get(id);
    if (!source) throw new NotFoundError(`Execution ${id} not found`, { executionId: id });
    await authorized(options, req, 'workflow:execute', { type: 'workflow', id: source.workflow_id });
    await assertReachableAllowed(authorize, req, engine, source.workflow_id, source.workflow_version);
    const forkId = await engine
      .fork(id, {
        fromNode: body.from_node,
        ...(body.overrides === undefined ? {} : { overrides: body.overrides as NonNullable<Parameters<Engine['fork']>[1]['overrides']> }),
        ...(body.breakpoints === undefined ? {} : { breakpoints: body.breakpoints }),
      })
      .catch((error: unknown) => {
        // A fork the request describes wrongly (a node it lacks, an override before from_node) is the client's to fix.
        throw isTrellisError(error) && error.code === 'invalid_options' ? new TrellisError('bad_request', error.message, { executionId: id }) : error;
      });
    res.location(`${req.baseUrl}/workflow-executions/${encodeURIComponent(forkId)}`);
    res.status(202).json({ execution_id: forkId });
  }));

  // Two runs side by side; the caller must be allowed to read both.
  router.get('/workflow-executions/:id/compare/:otherId', guard(authorize, 'execution:read', one), catching(async (req, res) => {
    const { id, otherId } = parseRequest(CompareParams, req.params, 'params');
    await authorized(options, req, 'execution:read', { type: 'execution', id: otherId });
    res.json(await engine.compareRuns(id, otherId));
  }));
}
