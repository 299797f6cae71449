/**
 * Per-node content rules: provider models, the prompt source, expressions and `{{path}}`
 * placeholders that parse, and `variables.X` reads of declared variables.
 */
import { parseProviderModel, type WorkflowEdge, type WorkflowNode } from '../definition.js';
import { compileExpression } from '../../expressions/expressions.js';
import { parsePath } from '../../expressions/data-paths.js';
import { placeholderPaths } from '../../expressions/placeholders.js';
import { formatPath, isRecord, type Collector, type Indexed, type Path } from './issue-collector.js';
import type { Graph } from './validation-graph.js';

/** Where a checked string sits: in a node or an edge, at a path inside it. */
export interface Source {
  readonly node?: Indexed<WorkflowNode>;
  readonly edge?: Indexed<WorkflowEdge>;
  /** Path inside the node/edge, e.g. `['config', 'mapping', 'total']`. */
  readonly at: Path;
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

function safeSegments(path: string): readonly (string | number)[] | undefined {
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
/** Reports an expression that does not compile, or that reads an undeclared variable. */
export function checkExpression(source: unknown, src: Source, declared: ReadonlySet<string>, out: Collector): void {
  if (typeof source !== 'string' || source === '') return; // the shape check reports it
  try {
    checkVariableRefs(compileExpression(source).paths, declared, src, out);
  } catch (error) {
    report(out, src, 'bad_expression', `${describeSource(src)} is not a valid expression: ${(error as Error).message}`);
  }
}

function checkTemplate(template: unknown, src: Source, declared: ReadonlySet<string>, out: Collector): void {
  if (typeof template !== 'string') return;
  try {
    checkVariableRefs(placeholderPaths(template), declared, src, out);
  } catch (error) {
    report(out, src, 'bad_template', `${describeSource(src)} is not a valid template: ${(error as Error).message}`);
  }
}

function entries(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : [];
}

function checkPrompt(n: Indexed<WorkflowNode>, declared: ReadonlySet<string>, out: Collector): void {
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
  checkTemplate(c['template'], { node: n, at: ['config', 'template'] }, declared, out);
  checkTemplate(c['system'], { node: n, at: ['config', 'system'] }, declared, out);
  for (const [key, value] of entries(c['input_mapping'])) {
    const src = { node: n, at: ['config', 'input_mapping', key] };
    // A mapping value is a path (`fetch-page.text`, dashes allowed) or else an expression.
    if (typeof value === 'string' && safeSegments(value)) checkVariableRefs([value], declared, src, out);
    else checkExpression(value, src, declared, out);
  }
}
/** Checks the expressions and placeholders in one node's config, by node type. */
export function checkNodeContent(n: Indexed<WorkflowNode>, declared: ReadonlySet<string>, out: Collector): void {
  const c = n.value.config;
  const expr = (at: Path, value: unknown): void => checkExpression(value, { node: n, at: ['config', ...at] }, declared, out);
  const tpl = (at: Path, value: unknown): void => checkTemplate(value, { node: n, at: ['config', ...at] }, declared, out);
  switch (n.value.type) {
    case 'prompt_execution':
      return checkPrompt(n, declared, out);
    case 'condition':
      return expr(['condition'], c['condition']);
    case 'loop':
      for (const f of ['items', 'condition', 'count']) if (typeof c[f] === 'string') expr([f], c[f]);
      return;
    case 'data_transform':
      for (const [k, v] of entries(c['mapping'])) expr(['mapping', k], v);
      return;
    case 'end':
      for (const [k, v] of entries(c['output'])) expr(['output', k], v);
      return;
    case 'wait_for_event':
      return expr(['filter'], c['filter']);
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
      return;
    default:
      return;
  }
}
