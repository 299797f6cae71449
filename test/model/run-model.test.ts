/**
 * Model-based tests of control flow: random workflows (see run-model.ts) run through the real
 * engine, with every model call answered in a random order, some calls failing, and a random
 * cancel or pause/resume. After every commit and at the end, the invariants the README promises:
 * - a step row that ended (completed, failed, skipped) is never written again;
 * - nothing is written for a run after the commit that ended it;
 * - each step attempt calls the provider at most once (one idempotency key, one call), and a call
 *   cut off by an abort is recorded as failed;
 * - a step that consumed another's output comes after it in the trace;
 * - a cancelled run stays cancelled, and no child run outlives the parent step that waited for it;
 * - the final status is one the reference allows, and a completed run sent every prompt on its
 *   taken paths exactly as often as the reference says;
 * - a run ended by a rejection names, in its output, a step of an approval that was rejected with
 *   no branch to follow.
 *
 * Approvals are answered like model calls, in the random order: each approval's message (which the
 * `node:waiting` event carries) says whether the test approves or rejects it.
 *
 * `npm test` runs a fixed, seeded number of cases; `TRELLIS_MODEL_RUNS=2000 npx vitest run test/model`
 * runs more (and `TRELLIS_MODEL_SEED` replays a failure fast-check reported).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, MemoryStorage, ScriptedProvider, sequentialIds, type ProviderRequest, type StepCommit, type WorkflowEdge, type WorkflowExecution } from '../../src/index.js';
import { splitStepPath } from '../../src/planner/step-path.js';
import { FakeClock } from '../../src/testing/index.js';
import { CHILD_WORKFLOW_ID, allowedStatuses, buildProgram, childWorkflow, endingRejections, hasTerminate, programArbitrary, requiredCalls, type Program } from './run-model.js';

const RUNS = Number(process.env.TRELLIS_MODEL_RUNS ?? 150);
const SEED = process.env.TRELLIS_MODEL_SEED === undefined ? 20261201 : Number(process.env.TRELLIS_MODEL_SEED);

const TERMINAL_STEP = new Set(['completed', 'failed', 'skipped']);
const TERMINAL_RUN = new Set(['completed', 'failed', 'cancelled']);

/** Memory storage that checks every commit against the invariants above. */
class CheckedStorage extends MemoryStorage {
  readonly violations: string[] = [];
  readonly #ended = new Set<string>();
  readonly #endedRuns = new Set<string>();

  override async commit(commit: StepCommit): Promise<boolean> {
    if (this.#endedRuns.has(commit.runId)) this.violations.push(`a commit for run ${commit.runId} after it ended`);
    for (const step of commit.steps) {
      const key = `${step.run_id} ${step.path}`;
      if (this.#ended.has(key)) this.violations.push(`step ${step.path} written again (${step.status}) after it ended`);
      if (TERMINAL_STEP.has(step.status)) this.#ended.add(key);
    }
    const landed = await super.commit(commit);
    if (landed && commit.run?.status !== undefined && TERMINAL_RUN.has(commit.run.status)) this.#endedRuns.add(commit.runId);
    return landed;
  }
}

interface Pending {
  readonly request: ProviderRequest;
  resolve(answer: unknown): void;
}

interface Plan {
  readonly program: Program;
  /** Which pending call to answer next, as indexes modulo the number pending. */
  readonly order: readonly number[];
  /** At which answer to cancel the run, if at all. */
  readonly cancelAt: number | undefined;
  /** At which answer to pause the run, resuming two answers later. */
  readonly pauseAt: number | undefined;
}

const planArbitrary: fc.Arbitrary<Plan> = fc.record({
  program: programArbitrary(3),
  order: fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
  cancelAt: fc.option(fc.nat({ max: 12 }), { nil: undefined }),
  pauseAt: fc.option(fc.nat({ max: 12 }), { nil: undefined }),
});

/** Lets commits and the steps they make ready run (no timers are involved: the clock is fake). */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function runPlan(plan: Plan): Promise<void> {
  const pending: Pending[] = [];
  const keys = new Map<string, number>();
  const requests: ProviderRequest[] = [];
  const sent = new Map<string, number>();
  const provider = new ScriptedProvider((request) => {
    keys.set(request.idempotencyKey, (keys.get(request.idempotencyKey) ?? 0) + 1);
    requests.push(request);
    sent.set(request.prompt, (sent.get(request.prompt) ?? 0) + 1);
    return new Promise((resolve) => pending.push({ request, resolve }));
  });
  const storage = new CheckedStorage();
  const engine = new Engine({ storage, providers: { mock: provider }, clock: new FakeClock(), ids: sequentialIds(), random: () => 0 });
  /** Approvals waiting for the test's answer, by step path, with the answer their message asks for. */
  const asks: { readonly path: string; readonly approve: boolean }[] = [];
  engine.events.on('node:waiting', (e) => {
    if (e.kind === 'approval') asks.push({ path: e.path, approve: e.message === 'approve' });
  });
  try {
    await engine.workflows.create(childWorkflow());
    const definition = buildProgram(plan.program).build();
    const id = await engine.start(definition, {});
    let final: WorkflowExecution | undefined;
    const done = engine.wait(id).then((run) => (final = run));
    let cancelled = false;
    let answers = 0;
    let resumeAt: number | undefined;
    for (let guard = 0; final === undefined && guard < 500; guard++) {
      await settle();
      if (final !== undefined) break;
      if (answers === plan.cancelAt && !cancelled) {
        cancelled = await engine.cancel(id, 'model cancel').then(() => true, () => false);
        continue;
      }
      if (answers === plan.pauseAt && resumeAt === undefined) {
        if (await engine.pause(id).then(() => true, () => false)) resumeAt = answers + 2;
      }
      const live = pending.filter((p) => !p.request.signal.aborted);
      if (resumeAt !== undefined && (answers >= resumeAt || live.length + asks.length === 0)) {
        await engine.resume(id).catch(() => undefined);
        resumeAt = Number.POSITIVE_INFINITY;
        continue;
      }
      if (live.length + asks.length === 0) continue;
      const pick = plan.order[answers % plan.order.length]! % (live.length + asks.length);
      answers++;
      if (pick >= live.length) {
        const [ask] = asks.splice(pick - live.length, 1);
        // The step may have stopped waiting meanwhile (its branch lost, the run ended): then the answer is refused.
        await (ask!.approve ? engine.approve(id, ask!.path) : engine.reject(id, ask!.path, 'model says no')).catch(() => undefined);
        continue;
      }
      const next = live[pick]!;
      pending.splice(pending.indexOf(next), 1);
      next.resolve(next.request.prompt.startsWith('fail') ? ScriptedProvider.fail('bad_request', 'scripted failure') : `answer to ${next.request.prompt}`);
    }
    await Promise.race([done, settle()]);
    expect(final, 'the run ended').toBeDefined();
    const run = final!;
    await settle();

    expect(storage.violations).toEqual([]);
    for (const [key, count] of keys) expect(count, `provider calls for ${key}`).toBe(1);
    expect((await engine.get(id))!.status, 'stored status matches the awaited one').toBe(run.status);
    if (cancelled) {
      expect(run.status).toBe('cancelled');
    } else {
      expect([...allowedStatuses(plan.program)]).toContain(run.status);
    }
    if (run.status === 'completed' && !cancelled && !hasTerminate(plan.program)) {
      for (const [prompt, times] of requiredCalls(plan.program)) expect(sent.get(prompt) ?? 0, `calls of "${prompt}"`).toBe(times);
    }
    checkTraceOrder(run, definition.definition.edges);
    const rejection = (run.output_data as { rejected?: { step: string; reason: unknown } } | null | undefined)?.rejected;
    if (rejection !== undefined) {
      expect([...endingRejections(plan.program)], `the rejection that ended the run at ${rejection.step}`).toContain(splitStepPath(rejection.step).nodeId);
      expect(rejection.reason).toBe('model says no');
    }
    // Every call cut off by an abort (a lost race, terminate, cancel) is recorded, failed.
    const records = await engine.calls.list({});
    for (const request of requests.filter((r) => r.signal.aborted)) {
      expect(records.find((c) => c.idempotency_key === request.idempotencyKey)?.status, `record of aborted call ${request.idempotencyKey}`).toBe('failed');
    }
    // No child outlives its parent step: each ended (completed, or cancelled with the step that waited for it).
    for (const child of await engine.list({ workflow_id: CHILD_WORKFLOW_ID })) {
      expect(TERMINAL_RUN.has(child.status), `child ${child.id} of a ${run.status} run is ${child.status}`).toBe(true);
      if (cancelled) expect(child.status).not.toBe('running');
    }
  } finally {
    await engine.close();
  }
}

/** A completed step comes after the completed steps whose outputs reached it (same scope). */
function checkTraceOrder(run: WorkflowExecution, edges: readonly WorkflowEdge[]): void {
  const seq = new Map(run.execution_trace.filter((s) => s.status === 'completed').map((s, i) => [s.path, i]));
  for (const step of run.execution_trace) {
    if (step.status !== 'completed') continue;
    const prefix = step.path.slice(0, step.path.length - step.node_id.length);
    for (const edge of edges) {
      if (edge.target_node_id !== step.node_id || edge.source_output === 'body' || edge.source_output === 'back') continue;
      const source = seq.get(prefix + edge.source_node_id);
      if (source !== undefined && edge.target_input !== 'back') expect(source, `${prefix + edge.source_node_id} before ${step.path}`).toBeLessThan(seq.get(step.path)!);
    }
  }
}

describe('control flow, model-based', () => {
  it(`holds the README's invariants on ${RUNS} random workflows, answer orders, failures, cancels and pauses`, async () => {
    await fc.assert(fc.asyncProperty(planArbitrary, runPlan), { numRuns: RUNS, seed: SEED, endOnFailure: true });
  }, 120_000);
});
