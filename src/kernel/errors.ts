/**
 * Typed errors. Every error Trellis throws or records is a {@link TrellisError} with a stable
 * string `code`, so callers and retry policies branch on codes, never on messages.
 */

/** Every error code Trellis uses. Stable: codes are part of the public contract. */
export type TrellisErrorCode =
  | 'validation_failed'
  | 'invalid_input'
  | 'invalid_options'
  | 'expression_parse'
  | 'expression_eval'
  | 'missing_variable'
  | 'not_found'
  | 'illegal_state'
  | 'conflict'
  | 'not_implemented'
  | 'node_failed'
  | 'max_iterations'
  | 'timeout'
  | 'cancelled'
  | 'rate_limit'
  | 'provider_5xx'
  | 'auth'
  | 'bad_request'
  | 'content_filter'
  | 'network'
  | 'malformed_output'
  | 'provider_error'
  | 'unknown_provider'
  | 'budget_exceeded'
  | 'circuit_open'
  | 'storage'
  | 'schema_version'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'forbidden'
  | 'missing_package'
  | 'internal';

/** One problem found while validating a definition or an input. */
export interface ValidationIssue {
  /** Where the problem is, e.g. `['definition', 'nodes', 2, 'config', 'condition']`. */
  readonly path: readonly (string | number)[];
  /** Machine-readable kind of problem, e.g. `unreachable_node`. */
  readonly code: string;
  /** A human sentence naming the node or edge id. */
  readonly message: string;
  /** The node the problem belongs to, when there is one. */
  readonly nodeId?: string;
  /** The edge the problem belongs to, when there is one. */
  readonly edgeId?: string;
}

/** Options accepted by every {@link TrellisError}. */
export interface TrellisErrorOptions {
  readonly cause?: unknown;
  readonly executionId?: string;
  readonly nodeId?: string;
  readonly attempt?: number;
  readonly provider?: string;
  readonly status?: number;
  /** Whether retrying the same operation may succeed. Defaults per code, see {@link RETRYABLE_CODES}. */
  readonly retryable?: boolean;
  /** How long the caller asked us to wait before retrying (e.g. from a `retry-after` header). */
  readonly retryAfterMs?: number;
  readonly issues?: readonly ValidationIssue[];
  readonly details?: Readonly<Record<string, unknown>>;
}

const BRAND = Symbol.for('trellis.error');

/** Codes that are retryable unless the thrower says otherwise. */
export const RETRYABLE_CODES: ReadonlySet<TrellisErrorCode> = new Set<TrellisErrorCode>([
  'rate_limit',
  'timeout',
  'provider_5xx',
  'network',
  'malformed_output',
  'storage',
]);

/**
 * Base class of every Trellis error.
 *
 * @example
 * try { await engine.run(def, input) } catch (e) { if (isTrellisError(e) && e.code === 'invalid_input') ... }
 */
export class TrellisError extends Error {
  override readonly name: string = 'TrellisError';
  readonly code: TrellisErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly executionId: string | undefined;
  readonly nodeId: string | undefined;
  readonly attempt: number | undefined;
  readonly provider: string | undefined;
  readonly status: number | undefined;
  readonly issues: readonly ValidationIssue[];
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: TrellisErrorCode, message: string, options: TrellisErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
    this.retryAfterMs = options.retryAfterMs;
    this.executionId = options.executionId;
    this.nodeId = options.nodeId;
    this.attempt = options.attempt;
    this.provider = options.provider;
    this.status = options.status;
    this.issues = options.issues ?? [];
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A plain JSON form, safe to persist or send over HTTP. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.nodeId === undefined ? {} : { nodeId: this.nodeId }),
      ...(this.executionId === undefined ? {} : { executionId: this.executionId }),
      ...(this.issues.length ? { issues: this.issues } : {}),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Thrown when a workflow definition fails the schema or graph checks. Carries every issue found. */
export class WorkflowValidationError extends TrellisError {
  override readonly name = 'WorkflowValidationError';
  constructor(issues: readonly ValidationIssue[]) {
    super(
      'validation_failed',
      `Workflow definition is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.message}`).join('\n'),
      { issues },
    );
  }
}

/** Thrown when a run's input does not match the declared variables. Nothing is persisted. */
export class InvalidInputError extends TrellisError {
  override readonly name = 'InvalidInputError';
  constructor(issues: readonly ValidationIssue[]) {
    super('invalid_input', `Invalid input: ${issues.map((i) => i.message).join('; ')}`, { issues });
  }
}

/** Thrown when an expression fails to parse or evaluate. */
export class ExpressionError extends TrellisError {
  override readonly name = 'ExpressionError';
}

/** Thrown for provider failures, classified by code (`rate_limit`, `timeout`, `provider_5xx`, ...). */
export class ProviderError extends TrellisError {
  override readonly name = 'ProviderError';
}

/** Thrown when an operation does not fit the current state (e.g. resuming a completed run). */
export class IllegalStateError extends TrellisError {
  override readonly name = 'IllegalStateError';
  constructor(message: string, options: TrellisErrorOptions = {}) {
    super('illegal_state', message, options);
  }
}

/**
 * Thrown when an optional package a feature needs (a database driver, a provider SDK, express) is
 * not installed. The message names the `npm i` command; `packageName` and `installCommand` say it
 * to code.
 */
export class MissingPackageError extends TrellisError {
  override readonly name = 'MissingPackageError';
  /** The npm package to install, e.g. `better-sqlite3`. */
  readonly packageName: string;
  /** The command that installs it, e.g. `npm i better-sqlite3`. */
  readonly installCommand: string;
  constructor(packageName: string, neededFor: string, options: TrellisErrorOptions = {}) {
    const installCommand = `npm i ${packageName}`;
    super('missing_package', `${neededFor} needs the package "${packageName}", which is not installed: run \`${installCommand}\``, { retryable: false, ...options });
    this.packageName = packageName;
    this.installCommand = installCommand;
  }
}

/** Thrown when a looked-up record does not exist. */
export class NotFoundError extends TrellisError {
  override readonly name = 'NotFoundError';
  constructor(message: string, options: TrellisErrorOptions = {}) {
    super('not_found', message, options);
  }
}

/**
 * True for any Trellis error, even one created by another copy of the library (dual ESM/CJS
 * installs load two copies, and `instanceof` then lies).
 */
export function isTrellisError(value: unknown): value is TrellisError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Wraps any thrown value into a TrellisError, keeping Trellis errors as they are. */
export function toTrellisError(value: unknown, fallback: TrellisErrorCode = 'node_failed'): TrellisError {
  if (isTrellisError(value)) return value;
  if (value instanceof Error) {
    if (value.name === 'AbortError') return new TrellisError('cancelled', value.message, { cause: value });
    return new TrellisError(fallback, value.message, { cause: value });
  }
  return new TrellisError(fallback, String(value));
}
