/**
 * The part of `@opentelemetry/api` 1.x that Trellis's spans use, typed by shape. The package is an
 * optional peer dependency: a published declaration importing it would break every consumer that
 * type-checks libraries (`skipLibCheck: false`) without it installed. test/tracing.test.ts checks
 * that the real API module is assignable to {@link OtelApi}.
 */

/** A span attribute's value. */
export type OtelAttributeValue = string | number | boolean | (string | null | undefined)[] | (number | null | undefined)[] | (boolean | null | undefined)[];

/** Span attributes; undefined values are dropped. */
export type OtelAttributes = Record<string, OtelAttributeValue | undefined>;

/** An immutable OpenTelemetry context (the active span rides in it). */
export interface OtelContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): OtelContext;
  deleteValue(key: symbol): OtelContext;
}

/** A span's identity, as a `traceparent` carries it. */
export interface OtelSpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
}

export interface OtelSpan {
  spanContext(): OtelSpanContext;
  setAttribute(key: string, value: OtelAttributeValue): this;
  setAttributes(attributes: OtelAttributes): this;
  setStatus(status: { code: number; message?: string }): this;
  recordException(exception: Error | string): void;
  isRecording(): boolean;
  end(): void;
}

export interface OtelSpanOptions {
  kind?: number;
  attributes?: OtelAttributes;
  links?: { context: OtelSpanContext; attributes?: OtelAttributes }[];
  root?: boolean;
}

export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
}

/** The module `@opentelemetry/api`, as far as Trellis reads it. */
export interface OtelApi {
  readonly trace: {
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
    getTracerProvider(): OtelTracerProvider;
  };
  readonly context: {
    active(): OtelContext;
    with<R>(context: OtelContext, fn: () => R): R;
  };
  readonly ROOT_CONTEXT: OtelContext;
  readonly SpanKind: { readonly INTERNAL: number; readonly CLIENT: number };
  readonly SpanStatusCode: { readonly ERROR: number };
}
