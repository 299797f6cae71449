/**
 * Properties of the planner over random workflows: a start, then nested sequences of tasks,
 * conditions (whose untaken branch is a dead path) and parallels joined by a merge, then an end.
 * A small driver plays a run with the planner's verdicts, settling live steps in a random order.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { WorkflowEdge, WorkflowNode } from '../../src/definition/definition.js';
import type { StepRecord } from '../../src/storage/records.js';
import { compilePlan, type Plan } from '../../src/planner/plan.js';
import { isTerminal, readiness } from '../../src/planner/planner.js';
import { runOutcome } from '../../src/planner/run-outcome.js';
import { edge, FactsView, node, workflow } from './planner-fixtures.js';

type Block = { readonly kind: 'task' } | { readonly kind: 'cond'; readonly yes: Block[]; readonly no: Block[] } | { readonly kind: 'par'; readonly branches: Block[][] };

const blocks = fc.letrec<{ block: Block; seq: Block[] }>((tie) => ({
  block: fc.oneof(
    { maxDepth: 2, depthIdentifier: 'block' },
    fc.constant<Block>({ kind: 'task' }),
    fc.record({ kind: fc.constant('cond' as const), yes: tie('seq'), no: tie('seq') }),
    fc.record({ kind: fc.constant('par' as const), branches: fc.array(tie('seq'), { minLength: 2, maxLength: 3 }) }),
  ),
  seq: fc.array(tie('block'), { minLength: 1, maxLength: 3 }),
}));

interface Exit {
  readonly id: string;
  readonly output: string;
}

/** Writes a block sequence out as nodes and edges entered from `from`; returns where it exits. */
function emit(seq: readonly Block[], from: readonly Exit[], nodes: WorkflowNode[], edges: WorkflowEdge[]): Exit[] {
  let exits = from;
  const enter = (id: string): void => {
    for (const e of exits) edges.push(edge(e.id, id, e.output));
  };
  for (const block of seq) {
    const id = `n${nodes.length}`;
    if (block.kind === 'task') {
      nodes.push(node(id, 'task'));
      enter(id);
      exits = [{ id, output: 'out' }];
    } else if (block.kind === 'cond') {
      nodes.push(node(id, 'condition', { expression: 'true' }));
      enter(id);
      const join = `${id}_join`;
      const ends = [...emit(block.yes, [{ id, output: 'true' }], nodes, edges), ...emit(block.no, [{ id, output: 'false' }], nodes, edges)];
      nodes.push(node(join, 'task'));
      for (const e of ends) edges.push(edge(e.id, join, e.output));
      exits = [{ id: join, output: 'out' }];
    } else {
      nodes.push(node(id, 'parallel', { wait_for: 'all' }));
      enter(id);
      const merge = `${id}_merge`;
      const ends = block.branches.flatMap((branch, i) => emit(branch, [{ id, output: `b${i}` }], nodes, edges));
      nodes.push(node(merge, 'merge'));
      for (const e of ends) edges.push(edge(e.id, merge, e.output));
      exits = [{ id: merge, output: 'out' }];
    }
  }
  return [...exits];
}

function randomPlan(seq: readonly Block[]): Plan {
  const nodes: WorkflowNode[] = [node('start', 'start')];
  const edges: WorkflowEdge[] = [];
  const exits = emit(seq, [{ id: 'start', output: 'out' }], nodes, edges);
  nodes.push(node('end', 'end'));
  for (const e of exits) edges.push(edge(e.id, 'end', e.output));
  return compilePlan(workflow(nodes, edges));
}

interface Played {
  readonly steps: ReadonlyMap<string, StepRecord>;
  /** What the planner said about the run after each settle. */
  readonly outcomes: { live: number; finished: boolean }[];
}

/**
 * Plays a run: `pick(n)` chooses which of the `n` running steps settles next; a condition fires
 * `true` when `branchTaken(id)`. Checks on the way that a node made ready by an all-join has every
 * source settled, and that no node gets a second step.
 */
function play(plan: Plan, pick: (n: number) => number, branchTaken: (id: string) => boolean): Played {
  const view = new FactsView();
  const outcomes: { live: number; finished: boolean }[] = [];
  let seq = 0;
  const put = (path: string, status: StepRecord['status'], fired?: string[]): void => {
    view.put({ run_id: 'r', path, node_id: path, seq: ++seq, status, attempt: 1, started_at: 0, output_data: status === 'completed' ? path : undefined, ...(fired ? { fired } : {}) } as StepRecord);
  };
  const decide = (id: string): void => {
    const verdict = readiness(plan, view, '', id);
    if (verdict.kind === 'ready') {
      // Plain checks, not expect(): this runs for every step of every generated run.
      for (const e of plan.nodes.get(id)!.incoming) if (!isTerminal(view.step(e.source_node_id))) throw new Error(`${id} ready before ${e.source_node_id} settled`);
      put(id, 'running');
    } else if (verdict.kind === 'skip') {
      put(id, 'skipped');
      advance(id);
    } else if (verdict.kind !== 'wait' && verdict.kind !== 'exists') {
      throw new Error(`${id}: ${JSON.stringify(verdict)}`);
    }
  };
  const advance = (id: string): void => {
    for (const e of plan.nodes.get(id)!.outgoing) decide(e.target_node_id);
  };
  put(plan.startId, 'running');
  for (;;) {
    const running: StepRecord[] = [];
    for (const s of view.values()) if (s.status === 'running') running.push(s);
    if (running.length === 0) break;
    const settling = running[pick(running.length)]!;
    const type = plan.nodes.get(settling.node_id)!.type;
    put(settling.path, 'completed', type === 'condition' ? [branchTaken(settling.node_id) ? 'true' : 'false'] : undefined);
    advance(settling.node_id);
    outcomes.push({ live: view.live, finished: runOutcome(plan, view).finished });
  }
  return { steps: view.steps, outcomes };
}

const runs = fc.record({
  seq: blocks.seq,
  order: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
  other: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
  taken: fc.func(fc.boolean()),
});

/** Settle choices from a list of random numbers, reused cyclically. */
const picker = (numbers: readonly number[]): ((n: number) => number) => {
  let i = 0;
  return (n) => numbers[i++ % numbers.length]! % n;
};

describe('planner properties over random workflows', () => {
  it('every node ends exactly once, completed or skipped, and all-joins never start early', () => {
    fc.assert(
      fc.property(runs, ({ seq, order, taken }) => {
        const plan = randomPlan(seq);
        const { steps } = play(plan, picker(order), (id) => taken(id));
        expect([...steps.keys()].sort()).toEqual([...plan.nodes.keys()].sort());
        expect([...steps.values()].filter((s) => s.status !== 'completed' && s.status !== 'skipped')).toEqual([]);
        expect(steps.get('end')!.status).toBe('completed');
      }),
      { numRuns: 100 },
    );
  });

  it('a dead path is skipped whole: a node completes only if some incoming edge was followed', () => {
    fc.assert(
      fc.property(runs, ({ seq, order, taken }) => {
        const plan = randomPlan(seq);
        const { steps } = play(plan, picker(order), (id) => taken(id));
        for (const [id, s] of steps) {
          if (id === plan.startId || s.status !== 'completed') continue;
          const arrived = plan.nodes.get(id)!.incoming.some((e) => {
            const source = steps.get(e.source_node_id)!;
            return source.status === 'completed' && (source.fired === undefined || source.fired.includes(e.source_output));
          });
          if (!arrived) throw new Error(`${id} completed though nothing arrived`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('the outcome is the same whatever order independent branches settle in', () => {
    fc.assert(
      fc.property(runs, ({ seq, order, other, taken }) => {
        const plan = randomPlan(seq);
        const statuses = (played: Played) => Object.fromEntries([...played.steps].map(([path, s]) => [path, s.status]));
        const first = play(plan, picker(order), (id) => taken(id));
        const second = play(plan, picker(other), (id) => taken(id));
        expect(statuses(second)).toEqual(statuses(first));
        expect(runOutcome(plan, new FactsView([...second.steps.values()]))).toEqual(runOutcome(plan, new FactsView([...first.steps.values()])));
      }),
      { numRuns: 100 },
    );
  });

  it('the run is finished exactly when no step is live, with the end`s output', () => {
    fc.assert(
      fc.property(runs, ({ seq, order, taken }) => {
        const plan = randomPlan(seq);
        const played = play(plan, picker(order), (id) => taken(id));
        expect(played.outcomes.filter(({ live, finished }) => finished !== (live === 0))).toEqual([]);
        expect(played.outcomes.at(-1)).toEqual({ live: 0, finished: true });
        expect(runOutcome(plan, new FactsView([...played.steps.values()]))).toEqual({ finished: true, output: 'end' });
      }),
      { numRuns: 100 },
    );
  });
});
