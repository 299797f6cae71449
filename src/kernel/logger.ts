/**
 * What the engine says about itself (background failures, recoveries, leases lost, listener
 * errors), through a logger shaped like pino's so a host passes its own (`logger: pino()`) as is.
 */

/** One level of a {@link Logger}: an object of fields first, then an optional message (pino's order). */
export type LogFn = (fields: Readonly<Record<string, unknown>>, message?: string) => void;

/**
 * A logger shaped like pino's (and bunyan's): `logger.warn({ executionId, err }, 'lease renewal failed')`.
 * A pino or bunyan instance, or a child of one, fits as is.
 */
export interface Logger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
}

/**
 * The default logger: `error` and `warn` go to `console.error` (what an operator must see: a
 * background pass that failed, a run given up because its lease was lost, a listener that throws),
 * `info` and `debug` nowhere. Pass a logger of your own to keep or route the rest.
 */
export const consoleLogger: Logger = {
  error: (fields, message) => console.error(`[trellis] ${message ?? 'error'}`, fields),
  warn: (fields, message) => console.error(`[trellis] ${message ?? 'warning'}`, fields),
  info: () => undefined,
  debug: () => undefined,
};

/** A logger that drops everything (tests, or a host that watches `listener:error` itself). */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

/** True when `value` has the four levels of a {@link Logger}. */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['error', 'warn', 'info', 'debug'].every((level) => typeof candidate[level] === 'function');
}
