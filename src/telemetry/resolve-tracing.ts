/**
 * Whether an engine traces, decided once at construction: with a tracer provider passed as the
 * engine option `tracerProvider`, or one the host registered globally (`trace.setGlobalTracerProvider`,
 * which the OpenTelemetry Node SDK's `start()` does). Otherwise `@opentelemetry/api` is not even loaded.
 */
import { TrellisError } from '../kernel/errors.js';
import { missingPackageOr } from '../kernel/optional-packages.js';
import { loadOpenTelemetry } from '../kernel/lazy-modules.js';
import type { OtelApi, OtelTracerProvider } from '../kernel/otel-api.js';
import { TRACER_NAME, Tracing } from './tracing.js';

/**
 * An OpenTelemetry `TracerProvider` (from `@opentelemetry/api`), typed by shape so that an app
 * that does not trace needs no OpenTelemetry types installed.
 */
export interface TracerProviderLike {
  getTracer(name: string, version?: string, options?: { readonly schemaUrl?: string }): unknown;
}

/**
 * Where `@opentelemetry/api` 1.x keeps its globals. Reading it tells whether a tracer provider was
 * registered without loading the API, so an engine that does not trace pays nothing.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** The engine's tracing, or undefined when it does not trace (`false`, or no provider anywhere). */
export function resolveTracing(option: TracerProviderLike | false | undefined): Tracing | undefined {
  if (option === false) return undefined;
  if (option === undefined && (globalThis as Record<symbol, { trace?: unknown } | undefined>)[OTEL_GLOBAL]?.trace === undefined) return undefined;
  let api: OtelApi;
  try {
    api = loadOpenTelemetry();
  } catch (error) {
    // A global registered by a copy of the API this package cannot resolve: nothing to trace with.
    if (option === undefined) return undefined;
    throw missingPackageOr(error, '@opentelemetry/api', 'Engine option "tracerProvider"');
  }
  if (option !== undefined && typeof option.getTracer !== 'function') {
    throw new TrellisError('invalid_options', `Engine option "tracerProvider" must be an OpenTelemetry TracerProvider (with getTracer), got ${typeof option}`);
  }
  const provider = (option as OtelTracerProvider | undefined) ?? api.trace.getTracerProvider();
  return new Tracing(api, provider.getTracer(TRACER_NAME));
}
