/**
 * `engine.replay` and `engine.fork`: start a new run of a stored run's workflow version and input,
 * with what to replay recorded on the run (see calls/replay-answers.ts, which answers its calls).
 */
import type { WorkflowDefinition } from '../definition/definition.js';
import { NotFoundError, TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import { forkScope, type ForkOverride, type ReplaySpec } from '../calls/replay-answers.js';
import type { WorkflowExecution } from '../runtime/run-view.js';

/** Options of `engine.fork`. */
export interface ForkOptions {
  /** The first node that calls the real providers; it and every node reachable from it are live. */
  readonly fromNode: string;
  /** Edits by node id; only nodes from `fromNode` on may be edited. */
  readonly overrides?: Readonly<Record<string, ForkOverride>>;
  /** Debug mode: steps the fork pauses before (see `RunOptions.breakpoints`), to try a change one step at a time. */
  readonly breakpoints?: readonly string[];
}

/** The public engine API replay and fork are built on. */
export interface ReplayHost {
  get(executionId: string): Promise<WorkflowExecution | undefined>;
  readonly workflows: { get(id: string, version?: number): Promise<{ readonly definition: WorkflowDefinition } | undefined> };
  startStored(workflowId: string, input?: unknown, options?: { version?: number; trigger?: Json; breakpoints?: readonly string[] }): Promise<string>;
}

/** Starts a replay of `executionId` (see `engine.replay`); resolves with the new run's id. */
export async function startReplay(engine: ReplayHost, executionId: string): Promise<string> {
  const source = await sourceRun(engine, executionId);
  const trigger: ReplaySpec = { type: 'replay', source_execution_id: executionId };
  return engine.startStored(source.workflow_id, source.input_data, { version: source.workflow_version, trigger: trigger as unknown as Json });
}

/** Starts a fork of `executionId` (see `engine.fork`); resolves with the new run's id. */
export async function startFork(engine: ReplayHost, executionId: string, options: ForkOptions): Promise<string> {
  const source = await sourceRun(engine, executionId);
  const workflow = await engine.workflows.get(source.workflow_id, source.workflow_version);
  if (!workflow) throw new NotFoundError(`Workflow "${source.workflow_id}" version ${source.workflow_version} of execution ${executionId} no longer exists`, { executionId });
  const nodes = new Map(workflow.definition.definition.nodes.map((n) => [n.id, n]));
  if (!nodes.has(options.fromNode)) throw invalid(`fork: fromNode "${options.fromNode}" is not a node of workflow "${source.workflow_id}"`, executionId);
  const live = forkScope(workflow.definition, options.fromNode);
  for (const [nodeId, override] of Object.entries(options.overrides ?? {})) {
    const node = nodes.get(nodeId);
    if (node?.type !== 'prompt_execution') throw invalid(`fork: override for "${nodeId}", which is not a prompt_execution node`, executionId);
    if (!live.has(nodeId)) throw invalid(`fork: override for "${nodeId}", which comes before fromNode "${options.fromNode}" and is replayed`, executionId);
    if (override.template === undefined && override.provider_model === undefined) throw invalid(`fork: override for "${nodeId}" sets neither template nor provider_model`, executionId);
  }
  const trigger: ReplaySpec = {
    type: 'fork',
    source_execution_id: executionId,
    from_node: options.fromNode,
    ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
  };
  const breakpoints = options.breakpoints === undefined ? {} : { breakpoints: options.breakpoints };
  return engine.startStored(source.workflow_id, source.input_data, { version: source.workflow_version, trigger: trigger as unknown as Json, ...breakpoints });
}

async function sourceRun(engine: ReplayHost, executionId: string): Promise<WorkflowExecution> {
  const source = await engine.get(executionId);
  if (!source) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  return source;
}

function invalid(message: string, executionId: string): TrellisError {
  return new TrellisError('invalid_options', message, { executionId, retryable: false });
}
