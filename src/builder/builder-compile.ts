/**
 * Compiles the builder's step tree into nodes and edges following the README's graph model, and
 * lays nodes out on a grid: x by column (depth in the chain), y by lane (branches stack downwards).
 */
import type { WorkflowEdge, WorkflowNode } from '../definition/definition.js';
import type { NodeSpec, Step } from './builder-steps.js';

/** Horizontal distance between columns, in editor pixels. */
export const COLUMN_WIDTH = 250;
/** Vertical distance between lanes, in editor pixels. */
export const LANE_HEIGHT = 150;

/** A node output that the next node connects to. */
interface Port {
  readonly node: string;
  readonly output: string;
}

/** Where a compiled step list leaves off. */
interface Placed {
  /** Open ports; empty when every path ended the run. */
  readonly exits: readonly Port[];
  /** First free column after the list. */
  readonly nextCol: number;
  /** Lanes the list occupies, at least 1. */
  readonly lanes: number;
}

/** Collects nodes and edges, giving each edge a readable id that is unique in the graph. */
export class GraphSink {
  readonly nodes: WorkflowNode[] = [];
  readonly edges: WorkflowEdge[] = [];
  readonly #edgeIds = new Set<string>();

  place(spec: NodeSpec, col: number, lane: number): string {
    this.nodes.push({
      id: spec.id,
      type: spec.type,
      name: spec.name,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      position: { x: col * COLUMN_WIDTH, y: lane * LANE_HEIGHT },
      config: spec.config,
      inputs: [],
      outputs: [],
      ...(spec.retry_policy === undefined ? {} : { retry_policy: spec.retry_policy as WorkflowNode['retry_policy'] }),
      ...(spec.timeout_ms === undefined ? {} : { timeout_ms: spec.timeout_ms }),
    });
    return spec.id;
  }

  connect(from: readonly Port[], target: string, targetInput = 'in'): void {
    for (const port of from) {
      this.edges.push({
        id: this.#edgeId(port, target, targetInput),
        source_node_id: port.node,
        target_node_id: target,
        source_output: port.output,
        target_input: targetInput,
      });
    }
  }

  /** `e_<source>_<target>`; on a clash the output (or input) name is appended, then a counter. */
  #edgeId(port: Port, target: string, targetInput: string): string {
    const base = `e_${port.node}_${target}`;
    const candidates = [base];
    if (port.output !== 'out') candidates.push(`${base}_${port.output}`);
    if (targetInput !== 'in') candidates.push(`${base}_${targetInput}`);
    let id = candidates.find((c) => !this.#edgeIds.has(c));
    for (let n = 2; id === undefined; n++) if (!this.#edgeIds.has(`${base}_${n}`)) id = `${base}_${n}`;
    this.#edgeIds.add(id);
    return id;
  }
}

/**
 * Compiles a step list entered through `from`, starting at grid cell (col, lane). The `onReject`
 * branch of an approval runs instead of the rest of the list, so it leaves where the list leaves:
 * its exits join the list's. It is laid out below the lanes the list takes.
 */
export function compileSteps(sink: GraphSink, steps: readonly Step[], from: readonly Port[], col: number, lane: number): Placed {
  let exits = from;
  let lanes = 1;
  const detours: { readonly id: string; readonly col: number; readonly steps: readonly Step[] }[] = [];
  for (const step of steps) {
    const placed = compileStep(sink, step, exits, col, lane);
    if (step.kind === 'approval') detours.push({ id: step.node.id, col: col + 1, steps: step.rejected });
    exits = placed.exits;
    col = placed.nextCol;
    lanes = Math.max(lanes, placed.lanes);
  }
  for (const detour of detours) {
    const placed = compileSteps(sink, detour.steps, [{ node: detour.id, output: 'rejected' }], detour.col, lane + lanes);
    exits = [...exits, ...placed.exits];
    col = Math.max(col, placed.nextCol);
    if (detour.steps.length > 0) lanes += placed.lanes;
  }
  return { exits, nextCol: col, lanes };
}

function compileStep(sink: GraphSink, step: Step, from: readonly Port[], col: number, lane: number): Placed {
  const id = sink.place(step.node, col, lane);
  sink.connect(from, id);
  switch (step.kind) {
    case 'node':
    case 'approval':
      return { exits: [{ node: id, output: 'out' }], nextCol: col + 1, lanes: 1 };
    case 'end':
      return { exits: [], nextCol: col + 1, lanes: 1 };
    case 'when': {
      const yes = compileSteps(sink, step.then, [{ node: id, output: 'true' }], col + 1, lane);
      // An empty else branch needs no lane of its own: its edge runs straight to the join.
      const noLane = step.otherwise.length === 0 ? lane : lane + yes.lanes;
      const no = compileSteps(sink, step.otherwise, [{ node: id, output: 'false' }], col + 1, noLane);
      const lanes = yes.lanes + (step.otherwise.length === 0 ? 0 : no.lanes);
      return join(sink, step.join, [...yes.exits, ...no.exits], Math.max(yes.nextCol, no.nextCol, col + 1), lane, lanes);
    }
    case 'loop': {
      const body = compileSteps(sink, step.body, [{ node: id, output: 'body' }], col + 1, lane + 1);
      sink.connect(body.exits, id, 'next');
      return { exits: [{ node: id, output: 'done' }], nextCol: Math.max(col + 1, body.nextCol), lanes: 1 + body.lanes };
    }
    case 'parallel': {
      const exits: Port[] = [];
      let nextCol = col + 1;
      let branchLane = lane;
      for (const [name, branch] of step.branches) {
        const placed = compileSteps(sink, branch, [{ node: id, output: name }], col + 1, branchLane);
        exits.push(...placed.exits);
        nextCol = Math.max(nextCol, placed.nextCol);
        branchLane += placed.lanes;
      }
      return join(sink, step.merge, exits, nextCol, lane, Math.max(1, branchLane - lane));
    }
  }
}

function join(sink: GraphSink, merge: NodeSpec | undefined, exits: readonly Port[], col: number, lane: number, lanes: number): Placed {
  if (merge === undefined) return { exits: [], nextCol: col, lanes };
  const id = sink.place(merge, col, lane);
  sink.connect(exits, id);
  return { exits: [{ node: id, output: 'out' }], nextCol: col + 1, lanes };
}
