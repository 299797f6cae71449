/**
 * The workflow graph of a run: one box per node, coloured by the status of its latest step; a node
 * run several times (a loop body, a parallel branch) shows how many (`×3`). Selecting a node (click,
 * or Enter on the focused node) opens its steps in the side panel.
 */
import { useMemo } from 'react';
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import { layoutNodes, NODE_HEIGHT, NODE_WIDTH } from '../graph-layout';
import type { TraceStep, WorkflowEdge, WorkflowNode } from '../types';

type StepNodeData = { horizontal: boolean; label: string; type: string; status: string; count: number; selected: boolean; pausedHere: boolean; breakpoint: boolean };

function StepNode({ data }: NodeProps<Node<StepNodeData>>) {
  return (
    <div className={`graph-node status-${data.status}${data.selected ? ' selected' : ''}${data.pausedHere ? ' paused-here' : ''}`} style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}>
      <Handle type="target" position={data.horizontal ? Position.Left : Position.Top} />
      <div className="graph-node-name">{data.label}</div>
      <div className="graph-node-meta">
        {data.type} · {data.status}
        {data.count > 1 && ` · ×${data.count}`}
        {data.breakpoint && ' · breakpoint'}
        {data.pausedHere && ' · paused here'}
      </div>
      <Handle type="source" position={data.horizontal ? Position.Right : Position.Bottom} />
    </div>
  );
}

const NODE_TYPES = { step: StepNode };

/** The status a node shows: the latest step's, or `pending` when none ran yet. */
export function nodeStatus(steps: readonly TraceStep[]): string {
  return steps.at(-1)?.status ?? 'pending';
}

export function RunGraph(props: {
  nodes: readonly WorkflowNode[];
  edges: readonly WorkflowEdge[];
  stepsByNode: ReadonlyMap<string, readonly TraceStep[]>;
  selected: string | undefined;
  pausedBefore: ReadonlySet<string>;
  breakpoints?: ReadonlySet<string>;
  onSelect: (nodeId: string) => void;
}) {
  const { nodes, edges, stepsByNode, selected, pausedBefore, breakpoints, onSelect } = props;
  const { positions, direction } = useMemo(() => layoutNodes(nodes, edges), [nodes, edges]);
  const flowNodes: Node<StepNodeData>[] = nodes.map((n) => {
    const steps = stepsByNode.get(n.id) ?? [];
    return {
      id: n.id,
      type: 'step',
      position: positions.get(n.id) ?? { x: 0, y: 0 },
      // A fixed size: React Flow shows a node once it knows its size, and these nodes are never
      // measured back into state (the graph is read-only, so its node changes are not kept).
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      data: { horizontal: direction === 'right', label: n.name || n.id, type: n.type, status: nodeStatus(steps), count: steps.length, selected: selected === n.id, pausedHere: pausedBefore.has(n.id), breakpoint: breakpoints?.has(n.id) ?? false },
      ariaLabel: `${n.name || n.id}, ${n.type}, ${nodeStatus(steps)}${steps.length > 1 ? `, ${steps.length} steps` : ''}${pausedBefore.has(n.id) ? ', paused before it' : ''}`,
      connectable: false,
      draggable: false,
      focusable: true,
    };
  });
  const flowEdges: Edge[] = edges.map((e) => ({
    id: e.id,
    source: e.source_node_id,
    target: e.target_node_id,
    label: e.condition ?? (e.source_output && e.source_output !== 'out' ? e.source_output : undefined),
    animated: nodeStatus(stepsByNode.get(e.source_node_id) ?? []) === 'completed' && nodeStatus(stepsByNode.get(e.target_node_id) ?? []) === 'running',
  }));
  return (
    <div
      className="graph"
      aria-label="Workflow graph"
      onKeyDown={(event) => {
        // Keyboard selection: Tab focuses a node (React Flow makes them focusable), Enter or Space opens it.
        const target = event.target as HTMLElement;
        const nodeId = target.classList.contains('react-flow__node') ? target.dataset.id : undefined;
        if (nodeId && (event.key === 'Enter' || event.key === ' ')) {
          event.preventDefault();
          onSelect(nodeId);
        }
      }}
    >
      <ReactFlow
        nodes={flowNodes}
        edges={flowEdges}
        nodeTypes={NODE_TYPES}
        fitView
        minZoom={0.2}
        nodesConnectable={false}
        nodesDraggable={false}
        elementsSelectable
        onNodeClick={(_, node) => onSelect(node.id)}
        onNodesChange={() => undefined}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
