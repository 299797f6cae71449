/** The handlers of the built-in node types. */
import { conditionNode } from './condition-node.js';
import { dataTransformNode } from './data-transform-node.js';
import { delayNode } from './delay-node.js';
import { endNode } from './end-node.js';
import { humanApprovalNode } from './human-approval-node.js';
import { loopNode } from './loop-node.js';
import { mergeNode } from './merge-node.js';
import type { NodeHandler } from './node-handler.js';
import { parallelNode } from './parallel-node.js';
import { promptNode } from './prompt-node.js';
import { startNode } from './start-node.js';
import { webhookNode } from './webhook/webhook-node.js';
import { waitForEventNode } from './wait-for-event-node.js';
import { subWorkflowNode } from './sub-workflow-node.js';

/** Every built-in handler. Types without one here fail at run time with `not_implemented`. */
export const BUILTIN_NODES: readonly NodeHandler[] = [
  startNode,
  endNode,
  promptNode,
  conditionNode,
  dataTransformNode,
  loopNode,
  parallelNode,
  mergeNode,
  delayNode,
  humanApprovalNode,
  webhookNode,
  waitForEventNode,
  subWorkflowNode,
] as readonly NodeHandler[];
