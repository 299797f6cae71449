/**
 * Plain objects for planner tests: workflow definitions written out as data, step rows as plain
 * records, and a PlannerView over a Map. No engine, storage or clock.
 */
import type { WorkflowDefinition, WorkflowEdge, WorkflowNode } from '../../src/definition/definition.js';
import type { StepRecord, StepStatus } from '../../src/storage/records.js';
import type { Json } from '../../src/kernel/json.js';
import type { PlanEdge } from '../../src/planner/plan.js';
import type { PlannerView } from '../../src/planner/planner.js';
import { isTerminal } from '../../src/planner/planner.js';
import { splitStepPath } from '../../src/planner/step-path.js';

type Settings = NonNullable<WorkflowDefinition['definition']['settings']>;

/** A node of `type` with `config` (and any other node fields). */
export function node(id: string, type: string, config: Record<string, unknown> = {}, extra: Partial<WorkflowNode> = {}): WorkflowNode {
  return { id, type, name: id, position: { x: 0, y: 0 }, config, inputs: [], outputs: [], ...extra };
}

/** An edge `from` → `to`, leaving output `output` (default `out`), followed only while `condition` holds. */
export function edge(from: string, to: string, output = 'out', condition?: string): WorkflowEdge {
  return { id: `${from}-${output}-${to}`, source_node_id: from, target_node_id: to, source_output: output, target_input: 'in', ...(condition === undefined ? {} : { condition }) };
}

/** A workflow of `nodes` and `edges`. */
export function workflow(nodes: WorkflowNode[], edges: WorkflowEdge[], settings?: Settings): WorkflowDefinition {
  return { name: 'planner-test', version: 1, status: 'active', definition: { nodes, edges, variables: [], triggers: [], ...(settings === undefined ? {} : { settings }) } };
}

/** A chain of edges through `ids` on the default output. */
export function chain(...ids: string[]): WorkflowEdge[] {
  return ids.slice(1).map((id, i) => edge(ids[i]!, id));
}

let seqCounter = 0;

/** A step row at `path` (its node id is the path's last part). */
export function step(path: string, status: StepStatus, fields: Partial<Omit<StepRecord, 'path' | 'status'>> = {}): StepRecord {
  return { run_id: 'run-1', path, node_id: splitStepPath(path).nodeId, seq: ++seqCounter, status, attempt: 1, started_at: 0, ...fields };
}

/** A completed step with `output`, and the outputs it fired (default: all). */
export function done(path: string, output: Json = null, fired?: readonly string[]): StepRecord {
  return step(path, 'completed', { output_data: output, ...(fired === undefined ? {} : { fired }) });
}

/**
 * The committed steps of a run as the planner sees them: a Map by path, and edge conditions
 * answered from a table by their expression text (an unknown expression throws, so every test
 * says which conditions hold).
 */
export class FactsView implements PlannerView {
  readonly steps = new Map<string, StepRecord>();
  readonly conditions = new Map<string, boolean>();

  constructor(steps: readonly StepRecord[] = [], conditions: Record<string, boolean> = {}) {
    for (const s of steps) this.put(s);
    for (const [expression, holds] of Object.entries(conditions)) this.conditions.set(expression, holds);
  }

  put(s: StepRecord): this {
    this.steps.set(s.path, s);
    return this;
  }

  step(path: string): StepRecord | undefined {
    return this.steps.get(path);
  }

  conditionHolds(e: PlanEdge): boolean {
    const holds = this.conditions.get(e.condition!);
    if (holds === undefined) throw new Error(`no answer for condition ${e.condition}`);
    return holds;
  }

  /** Steps not completed, skipped or failed (what `runOutcome` reads). */
  get live(): number {
    let live = 0;
    for (const s of this.steps.values()) if (!isTerminal(s)) live++;
    return live;
  }

  values(): IterableIterator<StepRecord> {
    return this.steps.values();
  }
}
