/** Builds the StepContext a node handler sees for one step attempt. Internal to the runner. */
import type { ArrivedInput, StepContext } from '../nodes/node-handler.js';
import type { LlmExecutionRecord, RunRecord, StepRecord } from '../storage/records.js';
import { compileExpression } from './expressions.js';
import type { PlanNode } from './plan.js';
import type { RunDeps } from './run-deps.js';
import { renderTemplate } from './template.js';

/** Everything one step attempt's context is made from. */
export interface StepContextParts {
  readonly deps: RunDeps;
  readonly run: RunRecord;
  readonly step: StepRecord;
  readonly node: PlanNode;
  /** The scope's context (read-only for the handler). */
  readonly context: Readonly<Record<string, unknown>>;
  /** Read lazily: an AbortSignal is only created when a handler looks at it. */
  readonly signal: { readonly signal: AbortSignal };
  readonly arrived: () => ArrivedInput[];
  /** Receives each LLM execution record, to be committed with the step. */
  readonly record: (record: LlmExecutionRecord) => void;
  readonly timestamp: () => number;
}

export function createStepContext(parts: StepContextParts): StepContext {
  const { deps, run, step, node, context, signal, arrived } = parts;
  // Stable across re-runs of this attempt after a crash, so providers and webhooks can deduplicate.
  const idempotencyKey = `${run.id}:${step.path}:${step.attempt}`;
  const budgetWaived = (step.state as { budget_waived?: unknown } | undefined)?.budget_waived === true;
  return {
    executionId: run.id,
    workflowId: run.workflow_id,
    node: node.node,
    config: node.node.config,
    path: step.path,
    attempt: step.attempt,
    idempotencyKey,
    get signal() {
      return signal.signal;
    },
    clock: deps.clock,
    context,
    get arrived() {
      return arrived();
    },
    hasOutput: (name) => node.outgoing.some((e) => e.source_output === name),
    evaluate: (expression, extra) => compileExpression(expression).evaluate(extra ? { ...context, ...extra } : context),
    render: (template, extra) => renderTemplate(template, extra ? { ...context, ...extra } : context),
    services: {
      callModel: (call) =>
        deps.models.call(call, {
          runId: run.id,
          nodeId: node.id,
          path: step.path,
          attempt: step.attempt,
          idempotencyKey,
          ...(budgetWaived ? { budget: {} } : {}),
          get signal() {
            return signal.signal;
          },
          onToken: (delta) =>
            deps.events.publish('node:token', { executionId: run.id, workflowId: run.workflow_id, timestamp: parts.timestamp(), nodeId: node.id, path: step.path, delta }),
          record: parts.record,
        }),
      getPrompt: (id, version) => deps.storage.getPrompt(id, version),
      startChild: (workflowId, version, input) => deps.startChild(run, step.path, workflowId, version, input, `child:${run.id}:${step.path}`),
    },
  };
}
