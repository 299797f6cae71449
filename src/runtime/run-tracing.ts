/**
 * One run's spans as this process drives it: the `workflow.run` span, and a `workflow.step` span
 * per step attempt under it. Made only when the engine traces; a run whose span is sampled out gets
 * no step spans at all (nothing would record them). Internal to the runner.
 */
import type { OtelSpan as Span } from '../kernel/otel-api.js';
import type { RunRecord, RunStatus } from '../storage/records.js';
import type { Tracing, TraceScope } from '../telemetry/tracing.js';
import type { Outcome } from './inflight-step.js';

/** The spans of one run in this process. */
export class RunTrace {
  readonly tracing: Tracing;
  /** The run's span and the context that parents its steps. */
  readonly scope: TraceScope;
  readonly #runId: string;
  readonly #workflowId: string;
  #ended = false;

  /**
   * The trace of `run` in this process: `started` when admission began its span (a fresh run), else
   * a new span linked to the one stored with the run (`trace_context`), when there is one.
   */
  static open(tracing: Tracing | undefined, run: RunRecord, started: TraceScope | undefined): RunTrace | undefined {
    if (tracing === undefined) return undefined;
    const scope = started ?? tracing.startRun(run, run.trace_context ?? undefined);
    return scope.span.isRecording() ? new RunTrace(tracing, scope, run) : (scope.span.end(), undefined);
  }

  private constructor(tracing: Tracing, scope: TraceScope, run: RunRecord) {
    this.tracing = tracing;
    this.scope = scope;
    this.#runId = run.id;
    this.#workflowId = run.workflow_id;
  }

  /** Starts the span of a step attempt. */
  step(path: string, nodeId: string, nodeType: string, attempt: number): TraceScope {
    return this.tracing.startStep(this.scope, this.#runId, this.#workflowId, path, nodeId, nodeType, attempt);
  }

  /** Ends a step attempt's span with how it ended. */
  endStep(span: Span, outcome: Outcome): void {
    if (outcome.result === undefined) {
      span.setAttribute('trellis.step.status', 'failed');
      this.tracing.fail(span, outcome.error);
      return;
    }
    span.setAttribute('trellis.step.status', outcome.result.status);
    span.end();
  }

  /** Ends the run's span: the run ended with `status`, or (`detached`) this process let go of it, or (`parked`) it only waits and was let go until woken. */
  end(status: RunStatus | 'detached' | 'parked', message?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const { span } = this.scope;
    span.setAttribute('trellis.run.status', status);
    if (status === 'failed') this.tracing.failWith(span, 'run_failed', message);
    else span.end();
  }
}
