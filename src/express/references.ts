/**
 * What a workflow definition names by id, and the checks that a request may use it. A reference is
 * a way to reach another record: a `sub_workflow` step runs the workflow it names (and returns its
 * output), a prompt node renders the stored prompt it names. So `authorize` is asked about each
 * one as if the request touched the record itself, when a definition is stored and again when a
 * run of it is started (an id named before its record existed may belong to someone else by then).
 */
import type { Request } from 'express';
import type { Engine } from '../engine/engine.js';
import { TrellisError } from '../kernel/errors.js';
import type { AuthorizeFn, RouterAction } from './router-options.js';

/** One id a definition names. */
export interface DefinitionReference {
  readonly type: 'workflow' | 'prompt';
  readonly id: string;
  /** The version the node pins; the latest when absent. */
  readonly version?: number;
  /** The node that names it. */
  readonly nodeId: string;
}

/**
 * What a reference needs: running a sub-workflow is running that workflow (asking only `read`
 * would let a principal that may read a workflow run it by wrapping it); a prompt is read.
 */
const ACTION = { workflow: 'workflow:execute', prompt: 'prompt:read' } as const satisfies Record<DefinitionReference['type'], RouterAction>;

/** Bounds the walk at run start: a reference graph this wide is a mistake or an attack. */
const MAX_REACHABLE_WORKFLOWS = 1000;

const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined);

/**
 * The sub-workflows and stored prompts a definition names, read defensively from unchecked JSON
 * (the workflow store validates the shape afterwards; whatever it would refuse is not a reference).
 * Node types registered by the host are not looked into.
 */
export function referencesOf(definition: unknown): DefinitionReference[] {
  const nodes = field(field(definition, 'definition'), 'nodes');
  if (!Array.isArray(nodes)) return [];
  const found: DefinitionReference[] = [];
  for (const node of nodes as unknown[]) {
    const nodeId = field(node, 'id');
    const config = field(node, 'config');
    const type = field(node, 'type');
    if (typeof nodeId !== 'string') continue;
    const [id, version] =
      type === 'sub_workflow' ? [field(config, 'workflow_id'), field(config, 'version')] : type === 'prompt_execution' ? [field(config, 'prompt_id'), field(config, 'prompt_version')] : [];
    if (typeof id !== 'string') continue;
    const ref = { type: type === 'sub_workflow' ? 'workflow' : 'prompt', id, nodeId } as const;
    found.push(typeof version === 'number' ? { ...ref, version } : ref);
  }
  return found;
}

/** Asks `authorize` about one reference; a refusal is a 403 naming it (and the workflow naming it, at run start). */
async function check(authorize: AuthorizeFn, req: Request, ref: DefinitionReference, workflowId?: string): Promise<void> {
  if ((await authorize(req, ACTION[ref.type], { type: ref.type, id: ref.id })) === true) return;
  const where = workflowId === undefined ? `node "${ref.nodeId}"` : `node "${ref.nodeId}" of workflow "${workflowId}"`;
  throw new TrellisError('forbidden', `Not allowed to use ${ref.type} "${ref.id}" (named by ${where})`, {
    details: { reference: { type: ref.type, id: ref.id, node_id: ref.nodeId, ...(workflowId === undefined ? {} : { workflow_id: workflowId }) } },
  });
}

/** Refuses (403) a definition about to be stored when it names a workflow or prompt the request may not use. */
export async function assertReferencesAllowed(authorize: AuthorizeFn | undefined, req: Request, definition: unknown): Promise<void> {
  if (!authorize) return;
  for (const ref of referencesOf(definition)) await check(authorize, req, ref);
}

/**
 * Refuses (403) starting a run of `workflowId` when any workflow it reaches through sub-workflows,
 * or any prompt those name, is one the request may not use. Each id is asked once; a reference to
 * a workflow that does not exist (yet) is still asked about, but not followed. Checked before the
 * run is created, so a refusal writes nothing.
 */
export async function assertReachableAllowed(authorize: AuthorizeFn | undefined, req: Request, engine: Engine, workflowId: string, version?: number): Promise<void> {
  if (!authorize) return;
  const asked = new Set<string>();
  const visited = new Set<string>();
  const queue: { id: string; version: number | undefined }[] = [{ id: workflowId, version }];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const key = `${next.id}@${next.version ?? 'latest'}`;
    if (visited.has(key)) continue;
    visited.add(key);
    if (visited.size > MAX_REACHABLE_WORKFLOWS) throw new TrellisError('forbidden', `Workflow "${workflowId}" reaches more than ${MAX_REACHABLE_WORKFLOWS} workflow versions through sub-workflows`);
    // The root is absent: starting it answers 404 below. A referenced one is absent: its step fails.
    const record = await engine.workflows.get(next.id, next.version);
    if (!record) continue;
    for (const ref of referencesOf(record.definition)) {
      if (!asked.has(`${ref.type}:${ref.id}`)) {
        asked.add(`${ref.type}:${ref.id}`);
        await check(authorize, req, ref, record.id);
      }
      if (ref.type === 'workflow') queue.push({ id: ref.id, version: ref.version });
    }
  }
}
