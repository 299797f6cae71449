/**
 * The builder's intermediate form: a tree of steps, each holding a finished node (minus layout).
 * Every node is checked when its step is declared, so a mistake throws at the line that made it.
 */
import { definitionSchemas, type BuiltinNodeType, type DefinitionSchemas } from '../definition/definition.js';
import { TrellisError, type ValidationIssue } from '../kernel/errors.js';
import { unreadableNameReason } from '../expressions/identifier-names.js';
import type { StepOptions } from './builder-types.js';

/** A node as declared: everything but `position`, `inputs` and `outputs`, which compilation adds. */
export interface NodeSpec {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly description?: string;
  readonly config: Record<string, unknown>;
  readonly retry_policy?: Record<string, unknown>;
  readonly timeout_ms?: number;
}

/** One declared step. Branch and body step lists are complete when their step is created. */
export type Step =
  | { readonly kind: 'node' | 'end'; readonly node: NodeSpec }
  | {
      readonly kind: 'when';
      readonly node: NodeSpec;
      /** The merge the branches meet at; absent when both branches end the run. */
      readonly join: NodeSpec | undefined;
      readonly then: readonly Step[];
      /** Absent else branch: the `false` output goes straight to the join. */
      readonly otherwise: readonly Step[];
    }
  | { readonly kind: 'loop'; readonly node: NodeSpec; readonly body: readonly Step[] }
  | {
      /**
       * A `human_approval` with an `onReject` branch: the steps after it in its list run when it is
       * approved; `rejected` runs instead when it is rejected, and leaves where the list leaves.
       */
      readonly kind: 'approval';
      readonly node: NodeSpec;
      readonly rejected: readonly Step[];
    }
  | {
      readonly kind: 'parallel';
      readonly node: NodeSpec;
      /** Absent when every branch ends the run. */
      readonly merge: NodeSpec | undefined;
      readonly branches: readonly (readonly [string, readonly Step[]])[];
    };

/** Throws the builder's standard error: `validation_failed`, naming the node when there is one. */
export function builderError(message: string, nodeId?: string, issues?: readonly ValidationIssue[]): TrellisError {
  return new TrellisError('validation_failed', message, {
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(issues === undefined ? {} : { issues }),
  });
}

/**
 * Checks that an id is one expressions can read (`my-step` is not: `my-step.text` is a
 * subtraction); uniqueness is the builder's job, it knows every id declared so far.
 */
export function checkNodeId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') throw builderError(`Invalid node id ${JSON.stringify(id)}: node ids are non-empty strings.`);
  const reason = unreadableNameReason(id);
  if (reason !== undefined) throw builderError(`Invalid node id "${id}": ${reason}.`, id);
}

/**
 * Makes the node of a step: drops undefined keys, checks the config of built-in types against
 * `NODE_CONFIG_SCHEMAS` and the retry policy, and ensures everything is plain JSON.
 */
export function makeNode(
  id: string,
  type: string,
  config: Record<string, unknown>,
  opts: StepOptions = {},
): NodeSpec {
  checkNodeId(id);
  const plainConfig = toPlainJson(config, `config of node "${id}"`) as Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  const { NODE_CONFIG_SCHEMAS, RetryPolicySchema, WorkflowNodeSchema } = definitionSchemas();
  const schema = (NODE_CONFIG_SCHEMAS as Partial<Record<string, DefinitionSchemas['NODE_CONFIG_SCHEMAS'][BuiltinNodeType]>>)[type];
  if (schema !== undefined) collect(issues, id, ['config'], schema.safeParse(plainConfig));
  const node: { -readonly [K in keyof NodeSpec]: NodeSpec[K] } = { id, type, name: opts.name ?? id, config: plainConfig };
  if (opts.description !== undefined) node.description = opts.description;
  if (opts.retry !== undefined) {
    node.retry_policy = toPlainJson(opts.retry, `retry of node "${id}"`) as Record<string, unknown>;
    collect(issues, id, ['retry_policy'], RetryPolicySchema.safeParse(node.retry_policy));
  }
  if (opts.timeout_ms !== undefined) {
    node.timeout_ms = opts.timeout_ms;
    collect(issues, id, ['timeout_ms'], WorkflowNodeSchema.shape.timeout_ms.safeParse(opts.timeout_ms));
  }
  if (issues.length > 0) {
    throw builderError(
      `Invalid ${type} node "${id}": ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      id,
      issues,
    );
  }
  return node;
}

function collect(
  issues: ValidationIssue[],
  nodeId: string,
  prefix: readonly (string | number)[],
  result: { success: boolean; error?: { issues: readonly { path: readonly PropertyKey[]; code: string; message: string }[] } },
): void {
  for (const issue of result.error?.issues ?? []) {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    issues.push({ path, code: issue.code, message: issue.message, nodeId });
  }
}

/**
 * Copies a value as plain JSON: drops undefined-valued keys, so `JSON.parse(JSON.stringify(x))`
 * deep-equals the result. Throws on what JSON cannot hold (functions, class instances, NaN...).
 */
export function toPlainJson(value: unknown, where: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
  } else if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (v === undefined) throw builderError(`${where}: item ${i} is undefined, which JSON cannot hold.`);
      return toPlainJson(v, where);
    });
  } else if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toPlainJson(v, where);
      return out;
    }
  }
  throw builderError(`${where} must be plain JSON; got ${describe(value)}.`);
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return `an instance of ${value.constructor?.name ?? 'a class'}`;
  return typeof value === 'number' ? String(value) : `a ${typeof value}`;
}

/** Id of the first node a step list runs, if it has one. */
export function firstNodeId(steps: readonly Step[]): string | undefined {
  return steps[0]?.node.id;
}

/**
 * True when control never leaves the end of the step list (it ends the run on every path): the
 * list has ended (see {@link chainEnded}) and the `onReject` branch of every approval in it ends too.
 */
export function isTerminal(steps: readonly Step[]): boolean {
  return chainEnded(steps) && steps.every((step) => step.kind !== 'approval' || isTerminal(step.rejected));
}

/** True when nothing may be appended to the list: it ends with `end()`, or with a `when`/`parallel` whose every branch ends. */
export function chainEnded(steps: readonly Step[]): boolean {
  const last = steps[steps.length - 1];
  if (last === undefined) return false;
  switch (last.kind) {
    case 'end':
      return true;
    case 'when':
      return last.join === undefined;
    case 'parallel':
      return last.merge === undefined;
    default:
      return false;
  }
}

/** `base`, or `base_2`, `base_3`... : the first whose id (and `id + suffix`) is free. */
export function uniqueId(taken: ReadonlySet<string>, base: string, suffix: string): string {
  let id = base;
  for (let n = 2; taken.has(id) || (suffix !== '' && taken.has(id + suffix)); n++) id = `${base}_${n}`;
  return id;
}
