/**
 * The engine's OpenTelemetry spans, through `@opentelemetry/api` only: the host brings the SDK,
 * the sampler and the exporter. One {@link Tracing} per engine, made only when the host traces
 * (see resolve-tracing.ts); an engine that does not trace holds `undefined` and pays nothing.
 *
 * Spans: `workflow.run` (one run, as driven by one process), `workflow.step` (one step attempt),
 * `chat {model}` (one provider request, with the GenAI semantic conventions' attributes) and
 * `execute_tool {name}` (one host tool call). A span that is not recording (sampled out) gets no
 * attributes and no children: building them is most of what a span costs.
 */
import type { OtelApi, OtelContext, OtelSpan, OtelSpanContext, OtelSpanOptions, OtelTracer } from '../kernel/otel-api.js';

/** The instrumentation scope of Trellis's spans. */
export const TRACER_NAME = 'trellis';

/** A span and the context that makes it the parent of what runs inside it. */
export interface TraceScope {
  readonly span: OtelSpan;
  readonly context: OtelContext;
}

/** A scope whose context is made on first use: a step that calls nothing never needs one. */
class LazyScope implements TraceScope {
  readonly span: OtelSpan;
  readonly #api: OtelApi;
  readonly #parent: OtelContext;
  #context: OtelContext | undefined;

  constructor(api: OtelApi, parent: OtelContext, span: OtelSpan) {
    this.#api = api;
    this.#parent = parent;
    this.span = span;
  }

  get context(): OtelContext {
    return (this.#context ??= this.#api.trace.setSpan(this.#parent, this.span));
  }
}

/** What a `chat` span records of a provider's answer. */
export interface ChatAnswer {
  readonly model?: string;
  readonly finishReason?: string;
  readonly usage: { readonly input_tokens: number; readonly output_tokens: number };
}

/** The identity of a run, as its spans name it. */
export interface TracedRun {
  readonly id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
}

/** The engine's tracer and the few API functions its spans need. Internal. */
export class Tracing {
  readonly #api: OtelApi;
  readonly #tracer: OtelTracer;

  constructor(api: OtelApi, tracer: OtelTracer) {
    this.#api = api;
    this.#tracer = tracer;
  }

  /**
   * Starts a run's span. A fresh run's parent is the context active now (the host's call of
   * `engine.start`, or the step of a parent run); a run taken over from storage (`link`: the
   * traceparent stored with it) starts a new trace that links back to the run's first span.
   */
  startRun(run: TracedRun, link: string | undefined): TraceScope {
    const api = this.#api;
    const linked = link === undefined ? undefined : parseTraceparent(link);
    const options: OtelSpanOptions = { kind: api.SpanKind.INTERNAL };
    if (linked !== undefined) {
      options.root = true;
      options.links = [{ context: linked, attributes: { 'trellis.link': 'run_started' } }];
    }
    const parent = linked === undefined ? api.context.active() : api.ROOT_CONTEXT;
    const span = this.#tracer.startSpan('workflow.run', options, parent);
    if (span.isRecording()) {
      span.setAttribute('trellis.run_id', run.id);
      span.setAttribute('trellis.workflow', run.workflow_id);
      span.setAttribute('trellis.workflow_version', run.workflow_version);
    }
    return new LazyScope(api, parent, span);
  }

  /** Starts a step attempt's span under its run's. */
  startStep(run: TraceScope, runId: string, workflowId: string, path: string, nodeId: string, nodeType: string, attempt: number): TraceScope {
    const span = this.#tracer.startSpan('workflow.step', {
      attributes: { 'trellis.run_id': runId, 'trellis.workflow': workflowId, 'trellis.step_path': path, 'trellis.node_id': nodeId, 'trellis.node_type': nodeType, 'trellis.step.attempt': attempt },
    }, run.context);
    return new LazyScope(this.#api, run.context, span);
  }

  /** Starts a provider request's span (GenAI semantic conventions: operation, provider, requested model). */
  startChat(parent: OtelContext, provider: string, model: string, runId: string, path: string): TraceScope {
    const span = this.#tracer.startSpan(`chat ${model}`, {
      kind: this.#api.SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': provider,
        'gen_ai.system': provider,
        'gen_ai.request.model': model,
        'trellis.run_id': runId,
        'trellis.step_path': path,
      },
    }, parent);
    return new LazyScope(this.#api, parent, span);
  }

  /** Ends a `chat` span with what the provider answered: the model, tokens and finish reason. */
  endChat(span: OtelSpan, answer: ChatAnswer, replayed: boolean): void {
    if (answer.model !== undefined) span.setAttribute('gen_ai.response.model', answer.model);
    span.setAttribute('gen_ai.usage.input_tokens', answer.usage.input_tokens);
    span.setAttribute('gen_ai.usage.output_tokens', answer.usage.output_tokens);
    if (answer.finishReason !== undefined) span.setAttribute('gen_ai.response.finish_reasons', [answer.finishReason]);
    if (replayed) span.setAttribute('trellis.replayed', true);
    span.end();
  }

  /** Starts a host tool call's span. */
  startTool(parent: OtelContext, name: string, callId: string): TraceScope {
    const span = this.#tracer.startSpan(`execute_tool ${name}`, {
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': name, 'gen_ai.tool.call.id': callId },
    }, parent);
    return new LazyScope(this.#api, parent, span);
  }

  /** Records `error` on the span, marks it failed and ends it. */
  fail(span: OtelSpan, error: unknown): void {
    const exception = error instanceof Error ? error : String(error);
    span.recordException(exception);
    const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
    span.setAttribute('error.type', code ?? (error instanceof Error ? error.name : 'Error'));
    span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    span.end();
  }

  /** Marks the span failed with `message` (no exception object at hand) and ends it. */
  failWith(span: OtelSpan, type: string, message: string | undefined): void {
    span.setAttribute('error.type', type);
    span.setStatus(message === undefined ? { code: this.#api.SpanStatusCode.ERROR } : { code: this.#api.SpanStatusCode.ERROR, message });
    span.end();
  }

  /** Runs `fn` with `scope`'s span active, so host code inside (HTTP clients, tools) nests its spans under it. */
  with<T>(scope: TraceScope, fn: () => T): T {
    return this.#api.context.with(scope.context, fn);
  }
}

const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * The W3C `traceparent` of a recording span, stored with its run so another process can link back
 * to it; undefined for a span sampled out (nothing to link to) or without valid ids.
 */
export function traceparentOf(span: OtelSpan): string | undefined {
  if (!span.isRecording()) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  // Ids come from the SDK's generator: their length and the all-zero invalid ids are all to check.
  if (traceId.length !== 32 || spanId.length !== 16 || traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return undefined;
  return `00-${traceId}-${spanId}-${traceFlags & 1 ? '01' : '00'}`;
}

/** The span context a stored `traceparent` names; undefined when it is not one. */
export function parseTraceparent(text: string): OtelSpanContext | undefined {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(text);
  if (!match) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
}
