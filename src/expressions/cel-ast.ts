/**
 * The compile-time pass over cel-js's parsed tree: integer literals become doubles, prototype keys
 * are refused, computed index reads are guarded, and the identifiers and paths read are collected.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { ExpressionError } from '../kernel/errors.js';
import { FORBIDDEN_KEYS } from './data-paths.js';
import type { MacroEvaluator } from './cel-environment.js';
import { acceptWholeNumbers, checkListIndex } from './cel-whole-numbers.js';

/** The parts of cel-js's AST node class this file relies on beyond the published types. */
export interface MutableNode {
  op: string;
  args: unknown;
  readonly start: number;
  readonly end: number;
  readonly input: string;
  setMeta(key: string, value: unknown): unknown;
  handle?: (left: unknown, right: unknown, ast: unknown, ev: unknown) => unknown;
}

const ITERATION_MACROS = new Set(['map', 'filter', 'all', 'exists', 'exists_one']);

/** Root identifiers and member paths an expression reads, filled by {@link prepareAst}. */
export interface Refs {
  readonly roots: Set<string>;
  readonly paths: Set<string>;
}

function refuse(source: string, node: MutableNode, key: string): never {
  throw new ExpressionError(
    'expression_parse',
    `Expression "${source}" uses the forbidden key "${key}" at position ${node.start}.`,
    { details: { source, position: node.start, key } },
  );
}

/**
 * Index access with a computed (or fractional) key: refuse prototype keys before cel-js looks them
 * up, and a list index that is not a whole number (cel-js would call `xs[1.5]` out of bounds).
 */
function guardedIndex(source: string) {
  return (ev: unknown, ast: MutableNode, ctx: unknown): unknown => {
    const [left, right] = ast.args as [ASTNode, ASTNode];
    const run = (ev as MacroEvaluator).run.bind(ev);
    const key = run(right, ctx);
    if (typeof key === 'string' && FORBIDDEN_KEYS.has(key)) {
      throw new ExpressionError('expression_eval', `Reading the key "${key}" is not allowed.`, { details: { key } });
    }
    const list = run(left, ctx);
    checkListIndex(source, list, key);
    return (ast.handle as NonNullable<MutableNode['handle']>)(list, key, ast, ev);
  };
}

/** `a.b["c"].d` as a path string, when the chain starts at an identifier and keys are literal. */
function memberPath(node: MutableNode): { root: string; path: string } | undefined {
  if (node.op === 'id') return { root: node.args as string, path: node.args as string };
  if (node.op === '.' || node.op === '.?') {
    const [left, key] = node.args as [MutableNode, string];
    const base = memberPath(left);
    return base && { root: base.root, path: `${base.path}.${key}` };
  }
  return undefined;
}

function memberRoot(node: MutableNode): MutableNode {
  while (node.op !== 'id') node = (node.args as [MutableNode, string])[0];
  return node;
}

/**
 * Walks the parsed tree once: integer literals become doubles, literal prototype keys are
 * refused, computed index reads are guarded, calls and indexes take whole doubles for ints
 * (cel-whole-numbers.ts), and referenced roots/paths are collected.
 * Macro expansions share the argument nodes with the tree walked here, so they see the rewrites.
 */
export function prepareAst(source: string, node: MutableNode, bound: ReadonlySet<string>, refs: Refs): void {
  const visit = (child: unknown, scope: ReadonlySet<string> = bound): void =>
    prepareAst(source, child as MutableNode, scope, refs);
  switch (node.op) {
    case 'value':
      if (typeof node.args === 'bigint') node.args = Number(node.args);
      return;
    case 'id': {
      const name = node.args as string;
      if (FORBIDDEN_KEYS.has(name)) refuse(source, node, name);
      if (!bound.has(name)) refs.roots.add(name);
      return;
    }
    case '.':
    case '.?': {
      const [left, key] = node.args as [MutableNode, string];
      if (FORBIDDEN_KEYS.has(key)) refuse(source, node, key);
      const member = memberPath(node);
      if (member === undefined) return visit(left);
      // A whole `id.key.key` chain: record its longest path only, then check the inner keys.
      if (!bound.has(member.root)) refs.paths.add(member.path);
      for (let n = left; n.op !== 'id'; n = (n.args as [MutableNode, string])[0]) {
        const inner = (n.args as [MutableNode, string])[1];
        if (FORBIDDEN_KEYS.has(inner)) refuse(source, n, inner);
      }
      return visit(memberRoot(left));
    }
    case '[]':
    case '[?]': {
      const [left, index] = node.args as [MutableNode, MutableNode];
      acceptWholeNumbers(source, node);
      if (index.op === 'value') {
        if (typeof index.args === 'string' && FORBIDDEN_KEYS.has(index.args)) refuse(source, index, index.args);
        if (typeof index.args === 'number' && !Number.isSafeInteger(index.args)) node.setMeta('evaluate', guardedIndex(source));
      } else {
        node.setMeta('evaluate', guardedIndex(source));
      }
      visit(left);
      return visit(index);
    }
    case 'map':
      for (const [key, value] of node.args as [MutableNode, MutableNode][]) {
        // Keys stay as written: CEL map keys are int/string/bool, never double.
        if (key.op === 'value' && typeof key.args === 'string' && FORBIDDEN_KEYS.has(key.args)) {
          refuse(source, key, key.args);
        }
        if (key.op !== 'value') visit(key);
        visit(value);
      }
      return;
    case 'call':
      acceptWholeNumbers(source, node);
      for (const arg of (node.args as [string, MutableNode[]])[1]) visit(arg);
      return;
    case 'rcall': {
      acceptWholeNumbers(source, node);
      const [name, receiver, args] = node.args as [string, MutableNode, MutableNode[]];
      const first = args[0];
      const isBind = name === 'bind' && receiver.op === 'id' && receiver.args === 'cel';
      if (!isBind) visit(receiver);
      if ((ITERATION_MACROS.has(name) || isBind) && first?.op === 'id') {
        // `items.map(x, f(x))` / `cel.bind(x, v, f(x))`: `x` is local to the remaining arguments.
        const scope = new Set(bound).add(first.args as string);
        args.slice(1).forEach((arg, i) => visit(arg, isBind && i === 0 ? bound : scope));
        return;
      }
      for (const arg of args) visit(arg);
      return;
    }
    case '!_':
    case '-_':
      return visit(node.args);
    default:
      if (Array.isArray(node.args)) for (const arg of node.args) visit(arg);
  }
}
