/** Engine options: validated and defaulted once, at construction. */
import type { NodeHandler } from '../nodes/node-handler.js';
import type { Provider } from '../providers/provider.js';
import type { CircuitBreakerOptions } from '../calls/circuit-breaker.js';
import { DEFAULT_PRICES, type ModelPrice, type PriceTable } from '../calls/pricing.js';
import type { ProviderLimits } from '../calls/rate-limiter.js';
import type { ToolDefinition } from '../calls/tool-loop.js';
import type { Storage } from '../storage/storage.js';
import { PostgresStorage } from '../storage/postgres/postgres-storage.js';
import { systemClock, type Clock } from '../kernel/clock.js';
import { TrellisError } from '../kernel/errors.js';
import { assertInstalled } from '../kernel/optional-packages.js';
import { randomIds, type IdGenerator } from '../kernel/ids.js';
import { resolveRetention, type ResolvedRetention, type RetentionOptions } from './retention.js';
import { consoleLogger, isLogger, type Logger } from '../kernel/logger.js';
import { resolveTracing, type TracerProviderLike } from '../telemetry/resolve-tracing.js';
import type { Tracing } from '../telemetry/tracing.js';
import { ENGINE_ROLES, type EngineRole } from './engine-role.js';

/** Options of `new Engine(...)`. */
export interface EngineOptions {
  /**
   * Where runs, workflows and prompts live.
   * @default a SqliteStorage on the file `trellis.sqlite` in the working directory (`process.cwd()`
   * when the engine first opens it, not the folder of the script); pass one with a `path` to choose
   */
  readonly storage?: Storage;
  /** Providers by the provider part of `provider_model` (`"openai:gpt-4o-mini"` uses `providers.openai`). */
  readonly providers?: Readonly<Record<string, Provider>>;
  /** Extra node types. */
  readonly nodes?: readonly NodeHandler[];
  /**
   * How many steps of one run may execute at once (a workflow's `settings.max_concurrency` wins).
   * @default unlimited
   */
  readonly concurrency?: number;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Makes ids of runs, calls and bundles. @default randomIds: time-ordered hex ids (`run_<48-bit ms><40 bits per process><40-bit counter>`), not UUIDs */
  readonly ids?: IdGenerator;
  /** Source of randomness for retry jitter. @default Math.random */
  readonly random?: () => number;
  /** How long a claim on a run lasts without renewal. @default 30000 */
  readonly leaseMs?: number;
  /** How often the background loop of `startBackground()` looks for orphaned runs and due timers. @default 1000 */
  readonly pollIntervalMs?: number;
  /**
   * Recoveries a run survives with the same steps in flight at each process end and nothing
   * committed between; at the next such end it is failed as poison (`engine.retry` sends it on).
   * Generous, because deploys and OOM kills of a busy process end healthy runs mid-call too.
   * @default 20
   */
  readonly maxRecoveryAttempts?: number;
  /** Re-asks of a model whose structured answer is invalid. @default 2 */
  readonly structuredRetries?: number;
  /** Largest run input, serialised. @default 1 MiB */
  readonly maxInputBytes?: number;
  /** This engine instance's id, recorded as the owner of the runs it advances. @default random */
  readonly instanceId?: string;
  /**
   * Prices in USD per million tokens by `provider:model` (`provider:*` for every model of a
   * provider), added to and overriding the built-in table. Models without a price record no cost.
   * @default DEFAULT_PRICES (well-known OpenAI and Anthropic models; Ollama free)
   */
  readonly prices?: Readonly<Record<string, ModelPrice>>;
  /**
   * Limits per provider name, shared by every run of this engine: calls in flight, requests and
   * tokens per minute. Calls wait in line (and leave it when their step is cancelled).
   * @default no limits
   * @example { openai: { concurrency: 4, requestsPerMinute: 500, tokensPerMinute: 200_000 } }
   */
  readonly limits?: Readonly<Record<string, ProviderLimits>>;
  /**
   * Where `limits` hold (see docs/scaling-out.md):
   * - `'process'`: in this engine's memory, shared by its runs only (no storage round trip per call).
   * - `'fleet'`: in the storage, shared by every engine on it: concurrency slots held under a lease
   *   of `leaseMs` (a killed process's free themselves), requests and tokens per minute as shared
   *   token buckets. Costs a storage round trip per limit per call, and one to free the slot.
   *   Needs a storage with the fleet-limit methods (memory, SQLite and PostgreSQL have them).
   * @default 'fleet' on a PostgresStorage (its point is to be shared), else 'process' (a memory
   *   storage lives in one process; on SQLite each check would be a write transaction: choose
   *   `'fleet'` when several processes share the file)
   */
  readonly limitScope?: LimitScope;
  /**
   * Per-provider circuit breakers: open after `failureThreshold` consecutive failures (rate limit,
   * timeout, 5xx, network), fail fast with `circuit_open`, let one probe through after `cooldownMs`.
   * `false` turns them off.
   * @default { failureThreshold: 5, cooldownMs: 30000 }
   */
  readonly circuitBreaker?: CircuitBreakerOptions | false;
  /** Host functions prompt nodes may offer their model (`tools: ['name']` in the node config). */
  readonly tools?: Readonly<Record<string, ToolDefinition>>;
  /**
   * Prune ended runs (with their steps, calls and blobs) some days after they ended, per status, on
   * a timer of `clock`, in small batches: `{ completedDays: 30, failedDays: 90 }`. A status not
   * given is kept for ever. What it removed: `engine.retentionStats()`.
   * @default undefined (keep every run)
   */
  readonly retention?: RetentionOptions;
  /**
   * Where the engine says what it does in the background: failed passes and listeners (`error`),
   * lease renewals that failed and runs given up when their lease was lost (`warn`), runs
   * recovered (`info`). Shaped like pino's (object first, then message): a pino or bunyan logger
   * fits as is.
   * @default warnings and errors to `console.error`, nothing else
   * @example new Engine({ storage, logger: pino().child({ component: 'trellis' }) })
   */
  readonly logger?: Logger;
  /**
   * Counts runs and steps per workflow and node, with duration histograms, for `engine.metrics()`
   * (and the router's `GET /metrics`). `false` leaves only the providers' counters.
   * @default true
   */
  readonly metrics?: boolean;
  /**
   * Where the engine's OpenTelemetry spans go (`workflow.run`, `workflow.step`, `chat {model}`,
   * `execute_tool {name}`; see docs/tracing.md): an OpenTelemetry `TracerProvider`, `false` for no
   * spans. Needs the optional peer dependency `@opentelemetry/api`.
   * @default the provider registered globally when the engine is constructed; none, no spans (and `@opentelemetry/api` is not loaded)
   */
  readonly tracerProvider?: TracerProviderLike | false;
  /**
   * What this process does in a fleet of engines sharing one storage (see docs/scaling-out.md):
   * - `'all'`: starts runs and drives them here, and recovers orphaned runs (what one process does).
   * - `'submit'`: never executes a step: `start()` stores the run for a worker and returns its id;
   *   `approve()`, `reject()` and `emit()` leave their decision or event in the run's inbox and
   *   announce it; `get()`, `list()` and `wait()` read storage. `pause`, `resume`, `cancel`,
   *   `retry` throw `illegal_state`.
   * - `'worker'`: as `'all'`, and, once `startBackground()` ran, also claims runs it did not start
   *   (stored by submit engines, let go or orphaned by other processes) up to `maxConcurrentRuns`,
   *   at once when the storage announces work (PostgreSQL `LISTEN`), else on every poll.
   * @default 'all'
   */
  readonly role?: EngineRole;
  /**
   * Most runs a `'worker'` holds at once from claims (runs waiting on an approval, a timer or an
   * event count: they stay loaded on their worker); it claims nothing more until some end.
   * @default 200
   */
  readonly maxConcurrentRuns?: number;
}

/** Options after defaults. */
export interface ResolvedEngineOptions {
  readonly storage: Storage | undefined;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly nodes: readonly NodeHandler[];
  readonly concurrency: number | undefined;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly random: () => number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly maxRecoveryAttempts: number;
  readonly structuredRetries: number;
  readonly maxInputBytes: number;
  readonly instanceId: string;
  readonly prices: PriceTable;
  readonly limits: ReadonlyMap<string, ProviderLimits>;
  readonly limitScope: LimitScope;
  readonly circuitBreaker: Required<CircuitBreakerOptions> | false;
  readonly tools: ReadonlyMap<string, ToolDefinition>;
  readonly retention: ResolvedRetention | undefined;
  readonly logger: Logger;
  readonly metrics: boolean;
  /** Undefined when the engine makes no spans. */
  readonly tracing: Tracing | undefined;
  readonly role: EngineRole;
  readonly maxConcurrentRuns: number;
}

/**
 * Validates and defaults engine options; throws `invalid_options` naming the option, and
 * `missing_package` when no `storage` is given and the default's better-sqlite3 is not installed.
 */
export function resolveEngineOptions(options: EngineOptions = {}): ResolvedEngineOptions {
  if (options.storage === undefined) assertInstalled('better-sqlite3', 'The default storage (SQLite, used when the Engine gets no `storage` option)');
  const ids = options.ids ?? randomIds;
  return {
    storage: options.storage,
    providers: new Map(Object.entries(options.providers ?? {})),
    nodes: options.nodes ?? [],
    concurrency: optionalPositive('concurrency', options.concurrency),
    clock: options.clock ?? systemClock,
    ids,
    random: options.random ?? Math.random,
    leaseMs: positive('leaseMs', options.leaseMs, 30_000),
    pollIntervalMs: positive('pollIntervalMs', options.pollIntervalMs, 1_000),
    maxRecoveryAttempts: positive('maxRecoveryAttempts', options.maxRecoveryAttempts, 20),
    structuredRetries: nonNegative('structuredRetries', options.structuredRetries, 2),
    maxInputBytes: positive('maxInputBytes', options.maxInputBytes, 1024 * 1024),
    instanceId: options.instanceId ?? ids('engine'),
    prices: resolvePrices(options.prices),
    limits: resolveLimits(options.limits),
    limitScope: resolveLimitScope(options.limitScope, options.storage),
    circuitBreaker: resolveBreaker(options.circuitBreaker),
    tools: resolveTools(options.tools),
    retention: resolveRetention(options.retention),
    logger: resolveLogger(options.logger),
    metrics: resolveFlag('metrics', options.metrics, true),
    tracing: resolveTracing(options.tracerProvider),
    role: resolveRole(options.role),
    maxConcurrentRuns: wholePositive('maxConcurrentRuns', options.maxConcurrentRuns, 200),
  };
}

function resolvePrices(prices: EngineOptions['prices']): PriceTable {
  if (prices === undefined) return DEFAULT_PRICES;
  for (const [key, price] of Object.entries(prices)) {
    if (!/^[a-z][a-z0-9_-]*:.+$/i.test(key)) throw new TrellisError('invalid_options', `Engine option "prices" keys must be "provider:model" or "provider:*", got ${JSON.stringify(key)}`);
    for (const side of ['input', 'output'] as const) {
      const value = (price as Partial<ModelPrice> | undefined)?.[side];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TrellisError('invalid_options', `Engine option "prices.${key}.${side}" must be a number >= 0 (USD per million tokens), got ${JSON.stringify(value)}`);
      }
    }
  }
  return { ...DEFAULT_PRICES, ...prices };
}

function resolveLimits(limits: EngineOptions['limits']): ReadonlyMap<string, ProviderLimits> {
  const resolved = new Map<string, ProviderLimits>();
  for (const [provider, limit] of Object.entries(limits ?? {})) {
    if (typeof limit !== 'object' || limit === null) throw new TrellisError('invalid_options', `Engine option "limits.${provider}" must be an object, got ${JSON.stringify(limit)}`);
    const concurrency = optionalPositive(`limits.${provider}.concurrency`, limit.concurrency);
    const rpm = optionalPositive(`limits.${provider}.requestsPerMinute`, limit.requestsPerMinute);
    const tpm = optionalPositive(`limits.${provider}.tokensPerMinute`, limit.tokensPerMinute);
    if (concurrency !== undefined && !Number.isInteger(concurrency)) throw new TrellisError('invalid_options', `Engine option "limits.${provider}.concurrency" must be a whole number, got ${concurrency}`);
    resolved.set(provider, { ...(concurrency === undefined ? {} : { concurrency }), ...(rpm === undefined ? {} : { requestsPerMinute: rpm }), ...(tpm === undefined ? {} : { tokensPerMinute: tpm }) });
  }
  return resolved;
}

function resolveBreaker(breaker: EngineOptions['circuitBreaker']): Required<CircuitBreakerOptions> | false {
  if (breaker === false) return false;
  const failureThreshold = positive('circuitBreaker.failureThreshold', breaker?.failureThreshold, 5);
  if (!Number.isInteger(failureThreshold)) throw new TrellisError('invalid_options', `Engine option "circuitBreaker.failureThreshold" must be a whole number, got ${failureThreshold}`);
  return { failureThreshold, cooldownMs: positive('circuitBreaker.cooldownMs', breaker?.cooldownMs, 30_000) };
}

function resolveTools(tools: EngineOptions['tools']): ReadonlyMap<string, ToolDefinition> {
  const resolved = new Map<string, ToolDefinition>();
  for (const [name, tool] of Object.entries(tools ?? {})) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new TrellisError('invalid_options', `Engine option "tools" names must be 1-64 letters, digits, _ or -, got ${JSON.stringify(name)}`);
    if (typeof tool?.execute !== 'function') throw new TrellisError('invalid_options', `Engine option "tools.${name}.execute" must be a function, got ${typeof tool?.execute}`);
    if (typeof tool.parameters !== 'object' || tool.parameters === null) throw new TrellisError('invalid_options', `Engine option "tools.${name}.parameters" must be a JSON Schema object, got ${JSON.stringify(tool.parameters)}`);
    resolved.set(name, tool);
  }
  return resolved;
}

function resolveFlag(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TrellisError('invalid_options', `Engine option "${name}" must be a boolean, got ${JSON.stringify(value)}`);
  return value ?? fallback;
}

function resolveLogger(logger: EngineOptions['logger']): Logger {
  if (logger === undefined) return consoleLogger;
  if (!isLogger(logger)) throw new TrellisError('invalid_options', 'Engine option "logger" must have error, warn, info and debug functions (a pino-shaped logger)');
  return logger;
}

/** Where provider limits hold: in one process, or across every engine sharing the storage. */
export type LimitScope = 'process' | 'fleet';

function resolveLimitScope(scope: EngineOptions['limitScope'], storage: Storage | undefined): LimitScope {
  if (scope === undefined) return storage instanceof PostgresStorage ? 'fleet' : 'process';
  if (scope !== 'process' && scope !== 'fleet') throw new TrellisError('invalid_options', `Engine option "limitScope" must be 'process' or 'fleet', got ${JSON.stringify(scope)}`);
  if (scope === 'fleet' && storage !== undefined && (typeof storage.acquireLimitSlot !== 'function' || typeof storage.takeLimitTokens !== 'function' || typeof storage.releaseLimitSlot !== 'function')) {
    throw new TrellisError('invalid_options', `Engine option "limitScope" 'fleet' needs a storage with acquireLimitSlot, releaseLimitSlot and takeLimitTokens (MemoryStorage, SqliteStorage and PostgresStorage have them); ${storage.constructor.name} has not`);
  }
  return scope;
}

function resolveRole(role: EngineOptions['role']): EngineRole {
  if (role === undefined) return 'all';
  if (!ENGINE_ROLES.includes(role)) throw new TrellisError('invalid_options', `Engine option "role" must be one of ${ENGINE_ROLES.map((r) => `'${r}'`).join(', ')}, got ${JSON.stringify(role)}`);
  return role;
}

function wholePositive(name: string, value: number | undefined, fallback: number): number {
  const resolved = positive(name, value, fallback);
  if (!Number.isInteger(resolved)) throw new TrellisError('invalid_options', `Engine option "${name}" must be a whole number, got ${resolved}`);
  return resolved;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  return optionalPositive(name, value) ?? fallback;
}

function optionalPositive(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TrellisError('invalid_options', `Engine option "${name}" must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) throw new TrellisError('invalid_options', `Engine option "${name}" must be a whole number >= 0, got ${JSON.stringify(value)}`);
  return value;
}
