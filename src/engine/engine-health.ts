/**
 * `engine.health()`: whether this engine is alive (its background loop turns) and ready for work
 * (storage answers, accepts writes and has the schema this code writes), and what is degraded
 * (leases renewed late, runs overdue for recovery, open circuit breakers). Liveness stays apart
 * from readiness as load balancers and Kubernetes probes expect: a database outage makes the
 * engine unready, never dead, since restarting the process would not bring the database back.
 */
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/storage.js';
import type { ModelMetrics } from '../calls/call-types.js';

/** One check: whether it passed, and what it saw. */
export interface HealthCheck {
  readonly ok: boolean;
  /** Why it failed, when it did. */
  readonly error?: string;
}

/** The checks of {@link EngineHealth}. Those that read storage are absent with `{ storage: false }`. */
export interface HealthChecks {
  /** Storage answered a read and accepted a write, in `latency_ms`. */
  readonly storage?: HealthCheck & { readonly latency_ms: number };
  /** The database's schema is the one this code writes. */
  readonly schema?: HealthCheck & { readonly version?: number; readonly expected?: number };
  /** The background loop (`startBackground()`) ran a pass recently; ok when it was never started. */
  readonly background: HealthCheck & { readonly running: boolean; readonly last_pass_at?: number };
  /** Leases of the runs driven here were renewed on time. */
  readonly leases: HealthCheck & { readonly held_runs: number; readonly last_renewal_at?: number };
  /** Runs whose lease ran out over a lease ago and that no engine took over (at most 100 counted). */
  readonly recovery?: HealthCheck & { readonly overdue_runs: number };
  /** Providers whose circuit breaker is open (fails fast). */
  readonly breakers: HealthCheck & { readonly open: readonly string[] };
}

/**
 * What `engine.health()` reports. `live`: the process works (restart it when false). `ready`: it
 * can take work (send it none when false). `status`: `down` when not ready, `degraded` when ready
 * with a check failing, else `ok`.
 */
export interface EngineHealth {
  readonly status: 'ok' | 'degraded' | 'down';
  readonly live: boolean;
  readonly ready: boolean;
  /** When it was checked (ms since epoch, engine clock). */
  readonly checked_at: number;
  readonly checks: HealthChecks;
}

/** Options of `engine.health()`. */
export interface HealthOptions {
  /** Run the checks that read and write storage (a liveness probe does not need them). @default true */
  readonly storage?: boolean;
  /** How long the storage checks may take before they count as failed, in ms. @default 5000 */
  readonly timeoutMs?: number;
}

/** What the health checks read of the engine. */
export interface HealthHost {
  readonly options: { readonly clock: Clock; readonly leaseMs: number; readonly pollIntervalMs: number };
  /** When a recovery pass last ended, leases were last renewed, and since when runs are held here. */
  readonly metrics: { readonly lastPassAt: number | undefined; readonly lastRenewalAt: number | undefined; readonly heldSince: number | undefined };
  storage(): Promise<Storage>;
  closed(): boolean;
  /** Whether the background loop was started (and not stopped). */
  loopRunning(): boolean;
  /** Runs driven here now. */
  heldRuns(): number;
  providers(): ModelMetrics['providers'];
}

/** Checks the engine's health. Never throws: a failing check says why. */
export async function checkEngineHealth(host: HealthHost, options: HealthOptions = {}): Promise<EngineHealth> {
  const now = host.options.clock.now();
  const background = backgroundCheck(host, now);
  const leases = leaseCheck(host, now);
  const open = Object.entries(host.providers()).filter(([, p]) => p.circuit === 'open').map(([name]) => name);
  const breakers = { ok: open.length === 0, open };
  let stored: Pick<HealthChecks, 'storage' | 'schema' | 'recovery'> = {};
  if (options.storage !== false) stored = await storageChecks(host, now, options.timeoutMs ?? 5_000);
  const live = !host.closed() && background.ok;
  const ready = live && stored.storage?.ok !== false && stored.schema?.ok !== false;
  const degraded = !leases.ok || !breakers.ok || stored.recovery?.ok === false;
  return { status: !ready ? 'down' : degraded ? 'degraded' : 'ok', live, ready, checked_at: now, checks: { ...stored, background, leases, breakers } };
}

/** A pass may run long (a big recovery), so the loop counts as stalled only well past its interval. */
function backgroundCheck(host: HealthHost, now: number): HealthChecks['background'] {
  const running = host.loopRunning();
  const last = host.metrics.lastPassAt;
  const stalledAfter = Math.max(5 * host.options.pollIntervalMs, 30_000);
  const ok = !running || (last !== undefined && now - last <= stalledAfter);
  return { ok, running, ...(last === undefined ? {} : { last_pass_at: last }), ...(ok ? {} : { error: `no recovery pass for over ${stalledAfter} ms` }) };
}

/** Leases are renewed every third of a lease: two renewals missed in a row is late. */
function leaseCheck(host: HealthHost, now: number): HealthChecks['leases'] {
  const held = host.heldRuns();
  const last = host.metrics.lastRenewalAt;
  const since = Math.max(last ?? -Infinity, host.metrics.heldSince ?? -Infinity);
  const lateAfter = (2 * host.options.leaseMs) / 3;
  const ok = held === 0 || !Number.isFinite(since) || now - since <= lateAfter;
  return { ok, held_runs: held, ...(last === undefined ? {} : { last_renewal_at: last }), ...(ok ? {} : { error: `leases not renewed for over ${Math.round(lateAfter)} ms` }) };
}

async function storageChecks(host: HealthHost, now: number, timeoutMs: number): Promise<Pick<HealthChecks, 'storage' | 'schema' | 'recovery'>> {
  const started = host.options.clock.now();
  try {
    const storage = await withTimeout(host, host.storage(), timeoutMs);
    const found = await withTimeout(host, storage.checkHealth(), timeoutMs);
    const latency = host.options.clock.now() - started;
    const schema = found.schema;
    const schemaOk = schema === undefined || schema.version === schema.expected;
    const overdue = await withTimeout(host, overdueRuns(storage, now - host.options.leaseMs), timeoutMs);
    return {
      storage: { ok: true, latency_ms: latency },
      schema: { ok: schemaOk, ...(schema ?? {}), ...(schemaOk ? {} : { error: `database schema is at version ${schema.version}, this code writes ${schema.expected}` }) },
      recovery: { ok: overdue === 0, overdue_runs: overdue, ...(overdue === 0 ? {} : { error: `${overdue} run(s) overdue for recovery: is an engine running startBackground()?` }) },
    };
  } catch (error) {
    return { storage: { ok: false, latency_ms: host.options.clock.now() - started, error: error instanceof Error ? error.message : String(error) } };
  }
}

/**
 * Runs whose lease ran out before `cutoff` and that nobody took over. Queued runs (pending, never
 * started) wait for their workflow's concurrency, not for recovery, and are left out.
 */
async function overdueRuns(storage: Storage, cutoff: number): Promise<number> {
  const orphans = await storage.findOrphanRuns(cutoff, 100);
  return orphans.filter((run) => run.started_at !== undefined && (run.lease_expires_at ?? run.started_at) < cutoff).length;
}

function withTimeout<T>(host: HealthHost, promise: Promise<T>, ms: number): Promise<T> {
  let cancel: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    cancel = host.options.clock.setTimer(() => reject(new Error(`storage did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => cancel?.());
}
