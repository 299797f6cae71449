/**
 * Whole-definition validation: unknown keys and the zod shape first, then the graph rules of README
 * "The graph model". Every problem is collected (never stop at the first) as a
 * {@link ValidationIssue} whose message names the node or edge. The parts: issue-collector.ts
 * (issues and zod's shape issues), unknown-keys.ts (keys no schema names), validation-graph.ts (the
 * graph built once), graph-rules.ts (structure and routing nodes), name-rules.ts (ids expressions
 * can read), scope-rules.ts (what the context holds at each node), content-rules.ts (expressions,
 * placeholders, variables, prompt sources, output schemas).
 */
import { definitionSchemas, type WorkflowDefinition, type WorkflowEdge } from '../definition.js';
import { WorkflowValidationError } from '../../kernel/errors.js';
import { Collector, isRecord, schemaIssues, type Indexed } from './issue-collector.js';
import { buildGraph } from './validation-graph.js';
import {
  checkCondition,
  checkCycles,
  checkEdgeEndpoints,
  checkIdsAndStart,
  checkLoop,
  checkParallel,
  checkReachability,
  checkTypesAndConfigs,
} from './graph-rules.js';
import { checkExpression, checkNodeContent, declaredVariables, type ContentScope } from './content-rules.js';
import type { ValidationIssue } from '../../kernel/errors.js';
import type { ZodType } from 'zod';
import { checkRegisteredConfigs } from './registered-configs.js';
import { checkUnknownKeys } from './unknown-keys.js';
import { checkReadableNames } from './name-rules.js';
import { buildScopes } from './scope-rules.js';

/** Options of {@link validateWorkflow}. */
export interface ValidateWorkflowOptions {
  /** Node types registered by the host app besides the built-in ones (their config is checked only against `configSchemas`). */
  readonly nodeTypes?: Iterable<string>;
  /**
   * Config schemas of registered node types, by type: each node of such a type has its config
   * checked (issue code `invalid_config`), and, when the schema is a zod object that is not
   * `.loose()`, keys it does not name are `unknown_key`. The engine passes its handlers' `configSchema`s.
   */
  readonly configSchemas?: ReadonlyMap<string, ZodType>;
}

/** The outcome of {@link validateWorkflow}: the parsed workflow (defaults applied) or every issue. */
export type WorkflowValidationResult =
  | { readonly ok: true; readonly workflow: WorkflowDefinition }
  | { readonly ok: false; readonly issues: ValidationIssue[] };

function collect(def: unknown, options: ValidateWorkflowOptions): WorkflowValidationResult {
  const out = new Collector();
  const suggested = checkUnknownKeys(def, options.configSchemas, out);
  const parsed = definitionSchemas().WorkflowSchema.safeParse(def);
  if (!parsed.success) schemaIssues(def, parsed.error, out, suggested);
  const rawGraph = isRecord(def) && isRecord(def['definition']) ? def['definition'] : undefined;
  if (parsed.success || Array.isArray(rawGraph?.['nodes'])) {
    const g = buildGraph(def, parsed.success ? parsed.data : undefined);
    checkIdsAndStart(g, out);
    checkReadableNames(g, out);
    checkTypesAndConfigs(g, new Set(options.nodeTypes ?? []), out);
    checkRegisteredConfigs(g, options.configSchemas, out);
    checkEdgeEndpoints(g, out);
    checkReachability(g, out);
    const back = new Set<Indexed<WorkflowEdge>>();
    for (const n of g.nodes) {
      if (n.value.type === 'condition') checkCondition(g, n, out);
      else if (n.value.type === 'loop') for (const e of checkLoop(g, n, out)) back.add(e);
      else if (n.value.type === 'parallel') checkParallel(g, n, out);
    }
    checkCycles(g, back, out);
    const declared = declaredVariables(g);
    const scopes = buildScopes(g);
    const scopeAt = (nodeId: string): ContentScope => ({ declared, roots: scopes.rootsAt(nodeId), schemas: scopes.schemas });
    for (const n of g.nodes) checkNodeContent(n, scopeAt(n.value.id), out);
    // An edge's condition is evaluated in the scope of the node it leaves.
    for (const e of g.edges) checkExpression(e.value.condition, { edge: e, at: ['condition'] }, scopeAt(e.value.source_node_id), out);
  }
  if (!parsed.success || out.issues.length > 0) return { ok: false, issues: out.issues };
  return { ok: true, workflow: parsed.data };
}

/**
 * Checks a workflow definition: no unknown keys at any level (each reported with the key it
 * probably meant), its JSON shape, then the graph rules (one `start`, unique ids that expressions
 * can read, known node types with valid configs, edges between existing nodes, everything
 * reachable, no cycle except a loop's back edge, well-formed routing nodes, parseable expressions
 * and templates whose roots the context holds where they are read, declared `variables.X`, output
 * schemas the answer checker can compile). Returns every problem found, never just the first.
 * Providers and tools are the engine's: `engine.run`/`start`/`startStored` check those.
 *
 * Issue codes (stable): `unknown_key`, `invalid_schema`, `duplicate_node_id`, `duplicate_edge_id`,
 * `unreadable_node_id`, `unreadable_loop_variable`,
 * `missing_start`, `multiple_start`, `start_has_incoming`, `unknown_node_type`, `invalid_config`,
 * `dangling_edge`, `unreachable_node`, `bad_source_output`, `unknown_branch_target`,
 * `branch_not_connected`, `missing_loop_field`, `loop_without_body`, `loop_without_back_edge`,
 * `bad_back_edge`, `cycle`, `parallel_without_branches`, `missing_required_count`,
 * `required_count_too_large`, `unknown_join_node`, `bad_provider_model`, `prompt_source`,
 * `bad_output_schema`, `bad_expression`, `bad_template`, `undeclared_variable`,
 * `unknown_reference`, `unknown_field`, `unknown_error_handler`.
 *
 * @example
 * const result = validateWorkflow(json, { nodeTypes: ['send_email'] });
 * if (!result.ok) for (const issue of result.issues) console.error(issue.code, issue.message);
 */
export function validateWorkflow(def: unknown, options: ValidateWorkflowOptions = {}): WorkflowValidationResult {
  return collect(def, options);
}

/**
 * Like {@link validateWorkflow} but returns the parsed workflow or throws a
 * `WorkflowValidationError` carrying every issue.
 *
 * @example
 * const workflow = assertValidWorkflow(json); // throws WorkflowValidationError if invalid
 */
export function assertValidWorkflow(def: unknown, options: ValidateWorkflowOptions = {}): WorkflowDefinition {
  const result = collect(def, options);
  if (!result.ok) throw new WorkflowValidationError(result.issues);
  return result.workflow;
}
