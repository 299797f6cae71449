/**
 * Where each node of a workflow is drawn: the definition's `position` when every node has one (a
 * visual editor wrote them), else a layered layout by dagre, top to bottom, from the edges.
 */
import dagre from '@dagrejs/dagre';
import type { WorkflowEdge, WorkflowNode } from './types';

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 64;

export interface Layout {
  readonly positions: ReadonlyMap<string, { x: number; y: number }>;
  /** Which way edges mostly run, so they leave and enter nodes on the sides facing each other. */
  readonly direction: 'down' | 'right';
}

export function layoutNodes(nodes: readonly WorkflowNode[], edges: readonly WorkflowEdge[]): Layout {
  if (nodes.length > 0 && nodes.every((n) => n.position)) {
    const positions = new Map(nodes.map((n) => [n.id, { x: n.position!.x, y: n.position!.y }]));
    let across = 0;
    let down = 0;
    for (const e of edges) {
      const from = positions.get(e.source_node_id);
      const to = positions.get(e.target_node_id);
      if (from && to) {
        across += Math.abs(to.x - from.x);
        down += Math.abs(to.y - from.y);
      }
    }
    return { positions, direction: across > down ? 'right' : 'down' };
  }
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'TB', nodesep: 40, ranksep: 56, marginx: 10, marginy: 10 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) graph.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of edges) {
    if (graph.hasNode(edge.source_node_id) && graph.hasNode(edge.target_node_id)) graph.setEdge(edge.source_node_id, edge.target_node_id);
  }
  dagre.layout(graph);
  // dagre gives centres; React Flow places nodes by their top-left corner.
  const positions = new Map(
    nodes.map((n) => {
      const at = graph.node(n.id) as { x: number; y: number } | undefined;
      return [n.id, { x: (at?.x ?? 0) - NODE_WIDTH / 2, y: (at?.y ?? 0) - NODE_HEIGHT / 2 }];
    }),
  );
  return { positions, direction: 'down' };
}
