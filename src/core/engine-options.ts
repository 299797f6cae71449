/** Engine options: validated and defaulted once, at construction. */
import type { NodeHandler } from '../nodes/node-handler.js';
import type { Provider } from '../providers/provider.js';
import type { Storage } from '../storage/storage.js';
import { systemClock, type Clock } from './clock.js';
import { TrellisError } from './errors.js';
import { randomIds, type IdGenerator } from './ids.js';

/** Options of `new Engine(...)`. */
export interface EngineOptions {
  /**
   * Where runs, workflows and prompts live.
   * @default a SqliteStorage on the file `trellis.sqlite` in the working directory
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
  /** @default random UUIDs */
  readonly ids?: IdGenerator;
  /** Source of randomness for retry jitter. @default Math.random */
  readonly random?: () => number;
  /** How long a claim on a run lasts without renewal. @default 30000 */
  readonly leaseMs?: number;
  /** How often `start()`'s background loop looks for orphaned runs and due timers. @default 1000 */
  readonly pollIntervalMs?: number;
  /** Recoveries in a row without progress after which a run is failed as poison. @default 3 */
  readonly maxRecoveryAttempts?: number;
  /** Re-asks of a model whose structured answer is invalid. @default 2 */
  readonly structuredRetries?: number;
  /** Largest run input, serialised. @default 1 MiB */
  readonly maxInputBytes?: number;
  /** This engine instance's id, recorded as the owner of the runs it advances. @default random */
  readonly instanceId?: string;
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
}

/** Validates and defaults engine options; throws `invalid_options` naming the option. */
export function resolveEngineOptions(options: EngineOptions = {}): ResolvedEngineOptions {
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
    maxRecoveryAttempts: positive('maxRecoveryAttempts', options.maxRecoveryAttempts, 3),
    structuredRetries: nonNegative('structuredRetries', options.structuredRetries, 2),
    maxInputBytes: positive('maxInputBytes', options.maxInputBytes, 1024 * 1024),
    instanceId: options.instanceId ?? ids('engine'),
  };
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
