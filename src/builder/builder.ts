/**
 * The fluent builder: sugar that emits the JSON workflow definition (README, "The graph model").
 * Builders are immutable; every step returns a new builder. Each step is checked when declared, so a
 * bad id or config throws at the line that wrote it; `build()` only lays the graph out.
 */
import { parseProviderModel, type WorkflowDefinition } from '../definition/definition.js';
import { compileSteps, GraphSink } from './builder-compile.js';
import { assembleDefinition, checkWorkflowOptions, toOutputSchema } from './builder-options.js';
import { checkKeys, checkStepKeys, checkWorkflowKeys, OPTION_KEYS, stepLabel } from './builder-option-keys.js';
import {
  builderError,
  chainEnded,
  checkNodeId,
  firstNodeId,
  isTerminal,
  makeNode,
  uniqueId,
  type NodeSpec,
  type Step,
} from './builder-steps.js';
import type {
  ApprovalOptions,
  DelaySpec,
  EndOptions,
  ForEachOptions,
  OutputSchema,
  ParallelOptions,
  PromptOptions,
  PromptOutputOf,
  RepeatOptions,
  Simplify,
  StepOptions,
  SubWorkflowOptions,
  UnionToIntersection,
  WaitForEventOptions,
  WebhookOptions,
  WhenOptions,
  WhileOptions,
  WithBranch,
  WithOutput,
  WorkflowOptions,
} from './builder-types.js';
import type { AfterBody, AfterBranches, AfterReject, BuilderRun, EndOutput, EndedRun, RejectableRun, RunOfVariables, RunTypesOf } from './builder-run-types.js';
import type { Json } from '../kernel/json.js';

export type { BuilderRun, UntypedRun } from './builder-run-types.js';
export type {
  ApprovalOptions,
  DelaySpec,
  EndOptions,
  ForEachOptions,
  JsonSchemaObject,
  LoopOptions,
  OutputSchema,
  ParallelOptions,
  PromptOptions,
  PromptOutput,
  PromptOutputOf,
  RepeatOptions,
  RetryPolicyInput,
  StepOptions,
  SubWorkflowOptions,
  VariableShorthand,
  VariableType,
  WaitForEventOptions,
  WebhookOptions,
  WhenOptions,
  WhileOptions,
  WorkflowOptions,
} from './builder-types.js';

/** A builder of any outputs; what branch and body callbacks return. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWorkflowBuilder = WorkflowBuilder<any, any>;

/** A branch or loop body: receives a fresh builder for the branch, returns it with the branch's steps. */
export type BranchFn<T extends object, TOut extends object, R extends BuilderRun = BuilderRun> = (b: WorkflowBuilder<T, R>) => WorkflowBuilder<TOut>;

/** The outputs a builder has recorded, by node id: `WorkflowOutputs<typeof wf>['classify']['json']`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkflowOutputs<B> = B extends WorkflowBuilder<infer T, any> ? T : never;

/** The run facts a builder has recorded (its input, its `end`s). */
type RunOf<B> = B extends WorkflowBuilder<object, infer R> ? R : never;

interface BuilderState {
  /** Name and options of the workflow; absent in branch builders, which cannot `build()`. */
  readonly root: { readonly name: string; readonly options: WorkflowOptions } | undefined;
  readonly steps: readonly Step[];
  /** Every id used in the whole workflow so far, including ancestors' and auto-added ones. */
  readonly taken: ReadonlySet<string>;
  /** Steps declared in the whole workflow so far (start is 0): the `n` of auto ids like `when_3`. */
  readonly seq: number;
  /** Shared by a builder and everything chained from it; checks that a branch returns its own builder. */
  readonly origin: symbol;
}

const BRAND = Symbol.for('trellis.workflow-builder');
// Written out rather than made with `makeNode`, whose checks would load zod when this module loads.
const START: NodeSpec = { id: 'start', type: 'start', name: 'start', config: {} };

/**
 * Chainable, immutable workflow builder; create one with {@link workflow}. `T` records each
 * declared node's output under its id, for {@link WorkflowOutputs}; `R` what its runs take as input
 * (from the declared variables) and give as `output_data` (from its `end`s), which `engine.run`
 * checks. `WorkflowBuilder<T>` is any builder with outputs `T`. Ids you give are the node ids;
 * routing steps without an id get one from their place in the chain (`when_3`, `for_each_5`).
 *
 * @example
 * const wf = workflow('digest')
 *   .forEach('input.urls', (b) => b.webhook('fetch', { url: '{{item}}', method: 'GET' }), { id: 'pages' })
 *   .prompt('summary', { model: 'openai:gpt-4o-mini', template: 'Summarise: {{pages}}' });
 * type Summary = WorkflowOutputs<typeof wf>['summary']; // { text: string; json: unknown }
 */
export class WorkflowBuilder<T extends object = {}, R extends BuilderRun = BuilderRun> {
  /** Type-only record of the outputs; never set at runtime. */
  declare readonly '~outputs'?: T;
  /** Type-only record of the runs' input and output, read by `engine.run`; never set at runtime. */
  declare readonly '~run'?: RunTypesOf<R>;
  readonly #state: BuilderState;

  /** @internal Use {@link workflow}. */
  constructor(state: BuilderState) {
    this.#state = state;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A `prompt_execution` node; with a zod `output` schema its `json` output is typed. */
  prompt<Id extends string, S extends OutputSchema | undefined = undefined>(
    id: Id,
    opts: PromptOptions<S>,
  ): WorkflowBuilder<WithOutput<T, Id, PromptOutputOf<S>>, R> {
    checkNodeId(id);
    checkStepKeys('prompt', id, opts);
    const { model, output, template, prompt_id, prompt_version, system, options, input_mapping, output_mapping, fallback, stream, tools, max_tool_steps } = opts;
    for (const m of [model, ...(fallback ?? [])]) {
      if (typeof m !== 'string' || parseProviderModel(m) === undefined) {
        throw builderError(`Prompt node "${id}": model ${JSON.stringify(m)} is not of the form 'provider:model'.`, id);
      }
    }
    if (template === undefined && prompt_id === undefined) {
      throw builderError(`Prompt node "${id}" needs a template or a prompt_id.`, id);
    }
    const config = {
      provider_model: model,
      template,
      prompt_id,
      prompt_version,
      system,
      output_schema: toOutputSchema(id, output),
      options,
      input_mapping,
      output_mapping,
      fallback,
      stream,
      tools,
      max_tool_steps,
    };
    return this.#node(makeNode(id, 'prompt_execution', config, opts));
  }

  /** A `data_transform` node writing each mapping key from its expression. */
  transform<Id extends string, M extends Readonly<Record<string, string>>>(
    id: Id,
    mapping: M,
    opts?: StepOptions,
  ): WorkflowBuilder<WithOutput<T, Id, { [K in keyof M]: unknown }>, R> {
    checkStepKeys('transform', id, opts, 'step');
    return this.#node(makeNode(id, 'data_transform', { mapping }, opts));
  }

  /**
   * A `condition` node: `true` runs `thenBranch`, `false` runs `elseBranch` (or goes straight to
   * the join). Branches meet at a `merge` node `<id>_join`, left out only when both branches end
   * the run. Nodes declared in branches are optional in the outputs: they may not have run.
   *
   * @example
   * workflow('w').when('input.vip', (b) => b.approval('review'), (b) => b.delay('cool_off', 60_000), { id: 'vip' });
   */
  when<TThen extends object, TElse extends object = T, RThen extends BuilderRun = R, RElse extends BuilderRun = R>(
    expression: string,
    thenBranch: (b: WorkflowBuilder<T, R>) => WorkflowBuilder<TThen, RThen>,
    elseBranch?: (b: WorkflowBuilder<T, R>) => WorkflowBuilder<TElse, RElse>,
    opts: WhenOptions = {},
  ): WorkflowBuilder<WithBranch<WithBranch<T, TThen>, TElse>, AfterBranches<R, RThen | RElse>> {
    const id = opts.id ?? this.#autoId('when', '_join');
    checkStepKeys('when', id, opts);
    const joinId = `${id}_join`;
    const head = this.#reserve([id, joinId]);
    const yes = head.#branch(thenBranch, `then branch of "${id}"`);
    const no = elseBranch === undefined ? yes : yes.#branch(elseBranch, `else branch of "${id}"`);
    const then = yes.#state.steps;
    const otherwise = elseBranch === undefined ? [] : no.#state.steps;
    const join = isTerminal(then) && otherwise.length > 0 && isTerminal(otherwise) ? undefined : makeNode(joinId, 'merge', { strategy: opts.mergeStrategy });
    const config = { condition: expression, true_path: firstNodeId(then) ?? joinId, false_path: firstNodeId(otherwise) ?? joinId };
    return this.#withStep(no, { kind: 'when', node: makeNode(id, 'condition', config, opts), join, then, otherwise });
  }

  /**
   * A `for_each` loop over the array `items` evaluates to; the body sees `item` and `index` (or the
   * names in `as` / `index_as`). The loop's output is the array of the body's last node outputs.
   *
   * @example
   * workflow('w').forEach('input.docs', (b) => b.prompt('sum', { model: 'openai:gpt-4o-mini', template: '{{doc}}' }), { as: 'doc' });
   */
  forEach<Id extends string = never, RB extends BuilderRun = R>(
    items: string,
    body: (b: WorkflowBuilder<T, R>) => WorkflowBuilder<object, RB>,
    opts: ForEachOptions & { readonly id?: Id } = {},
  ): WorkflowBuilder<WithOutput<T, Id, unknown[]>, AfterBody<R, RB>> {
    const { as, index_as, concurrency } = opts;
    return this.#loop('forEach', 'for_each', { loop_type: 'for_each', items, as, index_as, concurrency }, body, opts);
  }

  /** A `while` loop: runs the body while `condition` is true, at most `max_iterations` times. */
  while<Id extends string = never, RB extends BuilderRun = R>(
    condition: string,
    body: (b: WorkflowBuilder<T, R>) => WorkflowBuilder<object, RB>,
    opts: WhileOptions & { readonly id?: Id },
  ): WorkflowBuilder<WithOutput<T, Id, unknown[]>, AfterBody<R, RB>> {
    if (opts?.max_iterations === undefined) throw builderError(`while("${condition}") needs opts.max_iterations.`);
    return this.#loop('while', 'while', { loop_type: 'while', condition, index_as: opts.index_as }, body, opts);
  }

  /** A `count` loop: runs the body `count` times (a number or an expression). */
  repeat<Id extends string = never, RB extends BuilderRun = R>(
    count: number | string,
    body: (b: WorkflowBuilder<T, R>) => WorkflowBuilder<object, RB>,
    opts: RepeatOptions & { readonly id?: Id } = {},
  ): WorkflowBuilder<WithOutput<T, Id, unknown[]>, AfterBody<R, RB>> {
    return this.#loop('repeat', 'repeat', { loop_type: 'count', count, index_as: opts.index_as, concurrency: opts.concurrency }, body, opts);
  }

  /**
   * A `parallel` node with one branch per key (the edge's `source_output` is the key); every
   * branch ends at the merge node `<id>_merge`, which `config.join` names.
   *
   * @example
   * workflow('w').parallel({
   *   en: (b) => b.prompt('en', { model: 'openai:gpt-4o-mini', template: 'In English: {{input.text}}' }),
   *   fr: (b) => b.prompt('fr', { model: 'openai:gpt-4o-mini', template: 'En français : {{input.text}}' }),
   * });
   */
  parallel<B extends Readonly<Record<string, (b: WorkflowBuilder<T, R>) => AnyWorkflowBuilder>>>(
    branches: B,
    opts: ParallelOptions = {},
  ): WorkflowBuilder<Simplify<T & UnionToIntersection<WorkflowOutputs<ReturnType<B[keyof B]>>>>, AfterBranches<R, RunOf<ReturnType<B[keyof B]>>>> {
    const id = opts.id ?? this.#autoId('parallel', '_merge');
    checkStepKeys('parallel', id, opts);
    const mergeId = `${id}_merge`;
    const entries = Object.entries(branches);
    if (entries.length === 0) throw builderError(`Parallel node "${id}" needs at least one branch.`, id);
    let at = this.#reserve([id, mergeId]);
    const compiled: (readonly [string, readonly Step[]])[] = [];
    for (const [name, fn] of entries) {
      at = at.#branch(fn, `branch "${name}" of "${id}"`);
      compiled.push([name, at.#state.steps]);
    }
    const merge = compiled.every(([, s]) => isTerminal(s)) ? undefined : makeNode(mergeId, 'merge', { strategy: opts.mergeStrategy });
    // With every branch ending the run there is no merge, and so nothing for `join` to name.
    const config = { wait_for: opts.waitFor ?? 'all', required_count: opts.requiredCount, join: merge === undefined ? undefined : mergeId };
    if (config.wait_for === 'count' && config.required_count === undefined) {
      throw builderError(`Parallel node "${id}" waits for a count of branches but has no requiredCount.`, id);
    }
    return this.#withStep(at, { kind: 'parallel', node: makeNode(id, 'parallel', config, opts), merge, branches: compiled });
  }

  /** A `delay` node: waits `ms` milliseconds, or until a time (`{ until }`). */
  delay<Id extends string>(id: Id, spec: DelaySpec, opts?: StepOptions): WorkflowBuilder<WithOutput<T, Id, unknown>, R> {
    checkStepKeys('delay', id, opts, 'step');
    if (typeof spec !== 'number') checkKeys(spec, OPTION_KEYS.delay, `${stepLabel('delay', id)} time`, id);
    return this.#node(makeNode(id, 'delay', typeof spec === 'number' ? { ms: spec } : { until: spec.until }, opts));
  }

  /**
   * A `human_approval` node; the run waits until someone approves or rejects. The steps chained
   * after it run when it is approved. A rejection (or `on_timeout: 'reject'`) runs `onReject`
   * instead of them; that branch then goes on where this chain would have (past the enclosing
   * `when` or `parallel`, to the next loop iteration, or to the workflow's end), unless it ends
   * with `.end()`. Without `onReject` a rejection ends the run: it completes with
   * `output_data: { rejected: { step, reason } }`, stopping what still runs on other branches.
   *
   * @example
   * workflow('triage')
   *   .approval('escalate', {
   *     message: 'Escalate ticket {{input.id}}?',
   *     data: { category: 'classify.json.category', draft: 'draft.text' },
   *     onReject: (b) => b.transform('note', { escalated: 'false' }),
   *   })
   *   .webhook('page', { url: 'https://oncall.example.com/page', body: { id: '{{input.id}}' } });
   */
  approval<Id extends string, TReject extends object = T, RReject extends BuilderRun = R>(
    id: Id,
    opts: ApprovalOptions & { readonly onReject: (b: WorkflowBuilder<WithOutput<T, Id, unknown>, R>) => WorkflowBuilder<TReject, RReject> },
  ): WorkflowBuilder<WithBranch<WithOutput<T, Id, unknown>, TReject>, AfterReject<R, RReject>>;
  // Second: a call with an `onReject` callback must meet the overload that types its parameter first.
  approval<Id extends string>(id: Id, opts?: ApprovalOptions): WorkflowBuilder<WithOutput<T, Id, unknown>, RejectableRun<R>>;
  approval<Id extends string>(id: Id, opts: ApprovalOptions & { readonly onReject?: BranchFn<WithOutput<T, Id, unknown>, object, R> } = {}): AnyWorkflowBuilder {
    checkStepKeys('approval', id, opts);
    const { timeout_ms, onReject, ...rest } = opts;
    const node = makeNode(id, 'human_approval', { message: opts.message, data: opts.data, timeout_ms, on_timeout: opts.on_timeout }, rest);
    if (onReject === undefined) return this.#node(node);
    const head = this.#reserve([id]);
    const rejected = head.#branch(onReject as BranchFn<T, object, R>, `onReject branch of "${id}"`);
    return this.#withStep(rejected, { kind: 'approval', node, rejected: rejected.#state.steps });
  }

  /** A `webhook` node: an HTTP request. */
  webhook<Id extends string>(id: Id, opts: WebhookOptions): WorkflowBuilder<WithOutput<T, Id, unknown>, R> {
    checkStepKeys('webhook', id, opts);
    const { url, method, headers, body, expected_status, output_mapping, request_timeout_ms } = opts;
    const config = { url, method, headers, body, expected_status, output_mapping, timeout_ms: request_timeout_ms };
    return this.#node(makeNode(id, 'webhook', config, opts));
  }

  /** A `sub_workflow` node: runs another workflow and outputs its result. */
  subWorkflow<Id extends string>(id: Id, opts: SubWorkflowOptions): WorkflowBuilder<WithOutput<T, Id, unknown>, R> {
    checkStepKeys('subWorkflow', id, opts);
    const { workflow_id, version, input_mapping } = opts;
    return this.#node(makeNode(id, 'sub_workflow', { workflow_id, version, input_mapping }, opts));
  }

  /** A `wait_for_event` node: the run waits for a matching event. */
  waitForEvent<Id extends string>(id: Id, opts: WaitForEventOptions): WorkflowBuilder<WithOutput<T, Id, unknown>, R> {
    checkStepKeys('waitForEvent', id, opts);
    const { timeout_ms, ...rest } = opts;
    return this.#node(makeNode(id, 'wait_for_event', { event: opts.event, filter: opts.filter, timeout_ms }, rest));
  }

  /** A node of any type, e.g. one registered with `engine.registerNode`. Built-in types get their config checked. */
  node<Id extends string>(
    id: Id,
    type: string,
    config: Readonly<Record<string, unknown>> = {},
    opts?: StepOptions,
  ): WorkflowBuilder<WithOutput<T, Id, unknown>, R> {
    if (type === 'start') throw builderError(`Node "${id}": a workflow has exactly one start node, added by workflow().`, id);
    checkStepKeys('node', id, opts, 'step');
    return this.#node(makeNode(id, type, { ...config }, opts));
  }

  /**
   * An `end` node; `output` maps result keys to expressions. Nothing may follow it in this chain.
   * The run's `output_data` is typed from `output`: a plain path (`'classify.json.urgent'`) has
   * the type its step records, any other expression is `unknown`; without `output` it is JSON.
   */
  end<const M extends Readonly<Record<string, string>> = never>(
    output?: M,
    opts: EndOptions = {},
  ): WorkflowBuilder<T, EndedRun<R, [M] extends [never] ? Json : EndOutput<T, R, M>>> {
    const id = opts.id ?? 'end';
    checkStepKeys('end', id, opts);
    return this.#node(makeNode(id, 'end', { output, terminate: opts.terminate }, opts), 'end');
  }

  /** Compiles to the JSON definition; a fresh plain-JSON object on every call. */
  build(): WorkflowDefinition {
    const { root, steps, taken } = this.#state;
    if (root === undefined) throw builderError('build() was called on a branch builder; call it on the workflow.');
    const sink = new GraphSink();
    sink.place(START, 0, 0);
    const placed = compileSteps(sink, steps, [{ node: START.id, output: 'out' }], 1, 0);
    if (placed.exits.length > 0) {
      const endId = uniqueId(taken, 'end', '');
      sink.place(makeNode(endId, 'end', {}), placed.nextCol, 0);
      sink.connect(placed.exits, endId);
    }
    return assembleDefinition(root.name, root.options, sink.nodes, sink.edges);
  }

  /** `JSON.stringify(builder)` gives the definition. */
  toJSON(): WorkflowDefinition {
    return this.build();
  }

  #node<B extends object, RB extends BuilderRun>(node: NodeSpec, kind: 'node' | 'end' = 'node'): WorkflowBuilder<B, RB> {
    return this.#withStep(this.#reserve([node.id]), { kind, node });
  }

  #loop<B extends object, RB extends BuilderRun>(
    method: 'forEach' | 'while' | 'repeat',
    prefix: string,
    config: Record<string, unknown>,
    body: BranchFn<T, object, R>,
    opts: RepeatOptions & { readonly id?: string },
  ): WorkflowBuilder<B, RB> {
    const id = opts.id ?? this.#autoId(prefix, '');
    checkStepKeys(method, id, opts);
    const max = opts.max_iterations ?? 1000;
    if (typeof config['count'] === 'number' && config['count'] > max) {
      throw builderError(`Loop "${id}" repeats ${config['count']} times, over its max_iterations of ${max}; raise max_iterations.`, id);
    }
    const done = this.#reserve([id]).#branch(body, `body of loop "${id}"`);
    const steps = done.#state.steps;
    if (steps.length === 0) throw builderError(`Loop "${id}" has an empty body.`, id);
    return this.#withStep(done, { kind: 'loop', node: makeNode(id, 'loop', { ...config, max_iterations: max }, opts), body: steps });
  }

  /** Claims ids for a step about to be added; throws on a duplicate or after the chain ended. */
  #reserve(ids: readonly string[]): WorkflowBuilder<T, R> {
    if (chainEnded(this.#state.steps)) {
      throw builderError(`Node "${ids[0]}" follows an end(): nothing can run after the chain has ended.`, ids[0]);
    }
    const taken = new Set(this.#state.taken);
    for (const id of ids) {
      checkNodeId(id);
      if (taken.has(id)) throw builderError(`Duplicate node id "${id}": every node of a workflow needs its own id.`, id);
      taken.add(id);
    }
    return new WorkflowBuilder<T, R>({ ...this.#state, taken, seq: this.#state.seq + 1 });
  }

  /** Runs a branch callback on an empty builder that shares this one's ids; returns what it built. */
  #branch(fn: (b: WorkflowBuilder<T, R>) => AnyWorkflowBuilder, what: string): WorkflowBuilder<T, R> {
    const origin = Symbol(what);
    const result: unknown = fn(new WorkflowBuilder<T, R>({ ...this.#state, root: undefined, steps: [], origin }));
    if (!(typeof result === 'object' && result !== null && #state in result) || (result as WorkflowBuilder).#state.origin !== origin) {
      throw builderError(`The ${what} must return the builder it was given (or one chained from it).`);
    }
    return result as WorkflowBuilder<T, R>;
  }

  /** This chain with `step` appended; `after` is the builder holding the ids claimed by the step and its branches. */
  #withStep<B extends object, RB extends BuilderRun>(after: AnyWorkflowBuilder, step: Step): WorkflowBuilder<B, RB> {
    const { taken, seq } = after.#state;
    return new WorkflowBuilder<B, RB>({ ...this.#state, taken, seq, steps: [...this.#state.steps, step] });
  }

  #autoId(prefix: string, suffix: string): string {
    return uniqueId(this.#state.taken, `${prefix}_${this.#state.seq}`, suffix);
  }
}

/**
 * Starts a workflow. Chain steps, then `build()` the JSON definition (or hand the builder to the engine).
 * The declared `variables` type the runs' input: `engine.run(wf, input)` needs every variable without
 * a default and refuses keys not declared (unless `additional_input: true`); `output_data` is typed
 * from the `end` steps.
 *
 * @example
 * const wf = workflow('triage', { variables: { ticket: 'string' } })
 *   .prompt('classify', { model: 'openai:gpt-4o-mini', template: 'Classify: {{input.ticket}}', output: z.object({ urgent: z.boolean() }) })
 *   .when('classify.json.urgent', (b) => b.approval('escalate', { message: 'Escalate?' }))
 *   .end({ urgent: 'classify.json.urgent' });
 * const definition = wf.build();
 */
export function workflow<const V extends WorkflowOptions['variables'] = undefined, A extends boolean = false>(
  name: string,
  opts: Omit<WorkflowOptions, 'variables' | 'additional_input'> & { readonly variables?: V; readonly additional_input?: A } = {},
): WorkflowBuilder<{}, RunOfVariables<V, A>> {
  if (typeof name !== 'string' || name.length === 0) throw builderError('workflow(name): name must be a non-empty string.');
  checkWorkflowKeys(name, opts);
  checkWorkflowOptions(opts as WorkflowOptions);
  // A copy: every build() reads the options again, and a caller changing its object after a run
  // must not change what the builder means (see "JSON or builder" in docs/workflow-definition.md).
  return new WorkflowBuilder({ root: { name, options: copyOptions(opts as WorkflowOptions) }, steps: [], taken: new Set([START.id]), seq: 1, origin: Symbol(name) });
}

function copyOptions(opts: WorkflowOptions): WorkflowOptions {
  try {
    return structuredClone(opts);
  } catch {
    return opts; // not plain data: validation names what is wrong when the workflow is built
  }
}

/**
 * True for a workflow builder, even one from another copy of the library (dual ESM/CJS installs).
 *
 * @example
 * const def = isWorkflowBuilder(x) ? x.build() : x;
 */
export function isWorkflowBuilder(value: unknown): value is AnyWorkflowBuilder {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
