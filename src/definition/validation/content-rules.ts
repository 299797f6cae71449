/**
 * Per-node content rules: provider models, the prompt source, output schemas the checker can
 * compile, expressions and `{{path}}` placeholders that parse, `variables.X` reads of declared
 * variables, and roots that the context holds where they are read (scope-rules.ts says which).
 */
import { parseProviderModel, type WorkflowEdge, type WorkflowNode } from '../definition.js';
import { compileExpression } from '../../expressions/expressions.js';
import { parsePath, type PathSegment } from '../../expressions/data-paths.js';
import { placeholderPaths } from '../../expressions/placeholders.js';
import { isCelBuiltinName } from '../../expressions/identifier-names.js';
import { didYouMean } from '../../kernel/did-you-mean.js';
import { jsonSchemaProblem } from '../json-schema-check.js';
import { formatPath, isRecord, type Collector, type Indexed, type Path } from './issue-collector.js';
import { loopVariables, type ClosedSchema } from './scope-rules.js';
import type { Graph } from './validation-graph.js';

/** Where a checked string sits: in a node or an edge, at a path inside it. */
export interface Source {
  readonly node?: Indexed<WorkflowNode>;
  readonly edge?: Indexed<WorkflowEdge>;
  /** Path inside the node/edge, e.g. `['config', 'mapping', 'total']`. */
  readonly at: Path;
}

/** What the strings of one node (or the conditions of the edges leaving it) may read. */
export interface ContentScope {
  /** Declared (or written) variable names, for `variables.X`. */
  readonly declared: ReadonlySet<string>;
  /** Roots the context holds there. */
  readonly roots: ReadonlySet<string>;
  /** Closed output schemas of prompt nodes, for `id.json.field`. */
  readonly schemas: ReadonlyMap<string, ClosedSchema>;
}

function report(out: Collector, src: Source, code: string, message: string): void {
  if (src.node) out.node(src.node, code, message, src.at);
  else if (src.edge) out.edge(src.edge, code, message, src.at);
}

function describeSource(src: Source): string {
  const owner = src.node ? `Node "${src.node.value.id}"` : `Edge "${src.edge?.value.id ?? '?'}"`;
  return `${owner} ${formatPath(src.at)}`;
}

/** Variable names that are declared or written (`output_mapping` / `data_transform` into `variables.X`). */
export function declaredVariables(g: Graph): Set<string> {
  const names = new Set(g.variables);
  for (const n of g.nodes) {
    const c = n.value.config;
    for (const mapping of [c['output_mapping'], n.value.type === 'data_transform' ? c['mapping'] : undefined]) {
      if (!isRecord(mapping)) continue;
      for (const key of Object.keys(mapping)) {
        const root = safeSegments(key);
        if (root?.[0] === 'variables' && typeof root[1] === 'string') names.add(root[1]);
      }
    }
  }
  return names;
}

function safeSegments(path: string): readonly PathSegment[] | undefined {
  try {
    return parsePath(path);
  } catch {
    return undefined;
  }
}

function checkVariableRefs(paths: readonly string[], declared: ReadonlySet<string>, src: Source, out: Collector): void {
  for (const p of paths) {
    const segments = safeSegments(p);
    const name = segments?.[1];
    if (segments?.[0] === 'variables' && typeof name === 'string' && !declared.has(name)) {
      report(out, src, 'undeclared_variable', `${describeSource(src)} reads "${p}", but no variable "${name}" is declared.`);
    }
  }
}

/**
 * Reports a read whose root the context does not hold there (`unknown_reference`), or a field of a
 * prompt's JSON output that its closed `output_schema` does not have (`unknown_field`).
 */
function checkRead(segments: readonly PathSegment[], shown: string, src: Source, scope: ContentScope, extra: readonly string[], out: Collector): void {
  const [root, json, field] = segments;
  if (typeof root !== 'string') return;
  if (!scope.roots.has(root) && !extra.includes(root)) {
    const hint = didYouMean(root, [...scope.roots, ...extra]);
    const tail = hint === undefined ? '.' : `; did you mean "${hint}"?`;
    report(out, src, 'unknown_reference', `${describeSource(src)} reads "${shown}", but "${root}" is not a node id, input, variables or another name in scope here${tail}`);
    return;
  }
  const schema = scope.schemas.get(root);
  if (schema && json === 'json' && typeof field === 'string' && !schema.properties.includes(field)) {
    const hint = didYouMean(field, schema.properties);
    const tail = hint === undefined ? ` (it has ${schema.properties.map((p) => `"${p}"`).join(', ') || 'none'}).` : `; did you mean "${hint}"?`;
    report(out, src, 'unknown_field', `${describeSource(src)} reads "${shown}", but the output_schema of "${root}" has no property "${field}"${tail}`);
  }
}

/**
 * Reports an expression that does not compile, reads an undeclared variable, or reads a root the
 * context does not hold there; `extra` names roots only this expression has (`event` in a filter).
 */
export function checkExpression(source: unknown, src: Source, scope: ContentScope, out: Collector, extra: readonly string[] = []): void {
  if (typeof source !== 'string' || source === '') return; // the shape check reports it
  let compiled: ReturnType<typeof compileExpression>;
  try {
    compiled = compileExpression(source);
  } catch (error) {
    report(out, src, 'bad_expression', `${describeSource(src)} is not a valid expression: ${(error as Error).message}`);
    return;
  }
  checkVariableRefs(compiled.paths, scope.declared, src, out);
  for (const root of compiled.identifiers) {
    // `int`, `string`, `cel`...: CEL's own names, not reads of the context.
    if (isCelBuiltinName(root) && !scope.roots.has(root)) continue;
    const paths = compiled.paths.filter((p) => p === root || p.startsWith(`${root}.`));
    if (paths.length === 0) checkRead([root], root, src, scope, extra, out);
    for (const p of paths) checkRead(p.split('.'), p, src, scope, extra, out);
  }
}

function checkTemplate(template: unknown, src: Source, scope: ContentScope, out: Collector, extra: readonly string[] = []): void {
  if (typeof template !== 'string') return;
  let paths: string[];
  try {
    paths = placeholderPaths(template);
  } catch (error) {
    report(out, src, 'bad_template', `${describeSource(src)} is not a valid template: ${(error as Error).message}`);
    return;
  }
  checkVariableRefs(paths, scope.declared, src, out);
  for (const p of paths) {
    const segments = safeSegments(p);
    if (segments) checkRead(segments, `{{${p}}}`, src, scope, extra, out);
  }
}

/** Checks every string leaf of a webhook body as a template. */
function checkBody(value: unknown, at: Path, n: Indexed<WorkflowNode>, scope: ContentScope, out: Collector): void {
  if (typeof value === 'string') checkTemplate(value, { node: n, at }, scope, out);
  else if (Array.isArray(value)) value.forEach((v, i) => checkBody(v, [...at, i], n, scope, out));
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) checkBody(v, [...at, k], n, scope, out);
}

function entries(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : [];
}

function checkPrompt(n: Indexed<WorkflowNode>, scope: ContentScope, out: Collector): void {
  const { id, config: c } = n.value;
  const models: [Path, unknown][] = [[['config', 'provider_model'], c['provider_model']]];
  if (Array.isArray(c['fallback'])) c['fallback'].forEach((m, i) => models.push([['config', 'fallback', i], m]));
  for (const [at, model] of models) {
    if (typeof model === 'string' && !parseProviderModel(model)) {
      out.node(n, 'bad_provider_model', `Node "${id}" ${formatPath(at)} is "${model}"; expected "provider:model", e.g. "openai:gpt-4o".`, at);
    }
  }
  const hasTemplate = c['template'] !== undefined;
  const hasPromptId = c['prompt_id'] !== undefined;
  if (hasTemplate === hasPromptId) {
    const problem = hasTemplate ? 'has both config.template and config.prompt_id' : 'has neither config.template nor config.prompt_id';
    out.node(n, 'prompt_source', `Prompt node "${id}" ${problem}; exactly one is required.`, ['config']);
  }
  const schema = c['output_schema'];
  const problem = isRecord(schema) ? jsonSchemaProblem(schema) : undefined;
  if (problem !== undefined) {
    out.node(n, 'bad_output_schema', `Node "${id}" config.output_schema cannot be used to check answers: ${problem}.`, ['config', 'output_schema']);
  }
  // Templates also read the names `input_mapping` binds.
  const mapped = entries(c['input_mapping']).map(([key]) => key);
  checkTemplate(c['template'], { node: n, at: ['config', 'template'] }, scope, out, mapped);
  checkTemplate(c['system'], { node: n, at: ['config', 'system'] }, scope, out, mapped);
  for (const [key, value] of entries(c['input_mapping'])) {
    const src = { node: n, at: ['config', 'input_mapping', key] };
    // A mapping value is a path (`classify.json.label`) or else an expression.
    const segments = typeof value === 'string' ? safeSegments(value) : undefined;
    if (segments) {
      checkVariableRefs([value as string], scope.declared, src, out);
      checkRead(segments, value as string, src, scope, [], out);
    } else checkExpression(value, src, scope, out);
  }
}
/** Checks the expressions and placeholders in one node's config, by node type. */
export function checkNodeContent(n: Indexed<WorkflowNode>, scope: ContentScope, out: Collector): void {
  const c = n.value.config;
  const expr = (at: Path, value: unknown, extra?: readonly string[]): void => checkExpression(value, { node: n, at: ['config', ...at] }, scope, out, extra);
  const tpl = (at: Path, value: unknown): void => checkTemplate(value, { node: n, at: ['config', ...at] }, scope, out);
  switch (n.value.type) {
    case 'prompt_execution':
      return checkPrompt(n, scope, out);
    case 'condition':
      return expr(['condition'], c['condition']);
    case 'loop':
      for (const f of ['items', 'count']) if (typeof c[f] === 'string') expr([f], c[f]);
      // A while condition is checked again after each iteration, in that iteration's scope.
      if (typeof c['condition'] === 'string') expr(['condition'], c['condition'], loopVariables(n.value));
      return;
    case 'delay':
      // `until` is an ISO timestamp or an expression.
      if (typeof c['until'] === 'string' && !/^\d{4}-\d\d-\d\d/.test(c['until'])) expr(['until'], c['until']);
      return;
    case 'data_transform':
      for (const [k, v] of entries(c['mapping'])) expr(['mapping', k], v);
      return;
    case 'end':
      for (const [k, v] of entries(c['output'])) expr(['output', k], v);
      return;
    case 'wait_for_event':
      return expr(['filter'], c['filter'], ['event']);
    case 'sub_workflow':
      for (const [k, v] of entries(c['input_mapping'])) expr(['input_mapping', k], v);
      return;
    case 'human_approval':
      tpl(['message'], c['message']);
      for (const [k, v] of entries(c['data'])) expr(['data', k], v);
      return;
    case 'webhook':
      tpl(['url'], c['url']);
      for (const [k, v] of entries(c['headers'])) tpl(['headers', k], v);
      return checkBody(c['body'], ['config', 'body'], n, scope, out);
    default:
      return;
  }
}
