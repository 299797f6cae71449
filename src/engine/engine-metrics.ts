/**
 * The engine's in-process metrics: counters and duration histograms per workflow and per node,
 * collected from the typed lifecycle events, plus what the engine's own background work did
 * (lease renewals, recovery passes). Counters live in this process and start at zero with it;
 * figures that must span processes or restarts come from storage (`engine.runCounts`).
 */
import type { RunEventFields, TrellisEventEmitter, TrellisEventName, TrellisEvents } from '../kernel/events.js';
import type { Logger } from '../kernel/logger.js';
import type { ModelMetrics } from '../calls/call-types.js';
import { Histogram, type HistogramSnapshot } from './metric-histogram.js';
import type { Mutable } from '../kernel/mutable.js';

export type { HistogramSnapshot } from './metric-histogram.js';

/** Runs of one workflow seen by this process, by what happened to them. */
export interface RunCounters {
  readonly started: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly paused: number;
  readonly resumed: number;
}

/** Steps of one node seen by this process, by what happened to them. */
export interface StepCounters {
  readonly started: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly waiting: number;
}

/** One node's figures (every path of it, loop iterations included). */
export interface NodeMetrics {
  readonly steps: StepCounters;
  /** Failed attempts followed by a retry. */
  readonly retries: number;
  /** Waits begun, by kind (`approval`, `timer`, `event`, `child`, ...). */
  readonly waits: Readonly<Record<string, number>>;
  /** Durations of completed steps. */
  readonly duration_ms: HistogramSnapshot;
}

/** One workflow's figures. */
export interface WorkflowMetrics {
  readonly runs: RunCounters;
  /** Durations of completed runs (from start to end, waits included). */
  readonly run_duration_ms: HistogramSnapshot;
  readonly nodes: Readonly<Record<string, NodeMetrics>>;
}

/** What this process's background work did, and what it holds now. */
export interface RuntimeMetrics {
  /** Runs driven by this process now. */
  readonly active_runs: number;
  /** Model calls waiting for a provider's concurrency or rate limit now. */
  readonly queued_calls: number;
  readonly lease_renewals: number;
  readonly lease_renewal_failures: number;
  /** Recovery passes (background loop and `recover()` calls). */
  readonly recovery_passes: number;
  readonly recovery_failures: number;
  /** Runs taken over from dead owners (or left by this instance's previous life). */
  readonly recovered_runs: number;
  /** Circuit breaker changes, by the state entered. */
  readonly circuit_transitions: Readonly<Record<'open' | 'half_open' | 'closed', number>>;
}

/**
 * What `engine.metrics()` returns. `providers` is the model callers' figures (calls, failures,
 * breaker state, queue, tokens and cost, by model too); `workflows` and `runtime` are empty/zero
 * when the engine option `metrics` is false.
 */
export interface EngineMetrics {
  readonly providers: ModelMetrics['providers'];
  readonly workflows: Readonly<Record<string, WorkflowMetrics>>;
  readonly runtime: RuntimeMetrics;
}


interface NodeCell {
  readonly steps: Mutable<StepCounters>;
  retries: number;
  readonly waits: Record<string, number>;
  readonly duration: Histogram;
}

interface WorkflowCell {
  readonly runs: Mutable<RunCounters>;
  readonly duration: Histogram;
  readonly nodes: Map<string, NodeCell>;
}

/** Counts what the engine does. One per engine. */
export class MetricsCollector {
  readonly #workflows = new Map<string, WorkflowCell>();
  readonly #logger: Logger;
  readonly #runtime = { lease_renewals: 0, lease_renewal_failures: 0, recovery_passes: 0, recovery_failures: 0, recovered_runs: 0 };
  readonly #circuit = { open: 0, half_open: 0, closed: 0 };
  /** When leases were last renewed, when a recovery pass last ended, and since when runs are held (engine clock). */
  lastRenewalAt: number | undefined;
  lastPassAt: number | undefined;
  heldSince: number | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Starts counting the run and step events of `events`, as their observer (no listener: see RunEvents.after). */
  listen(events: TrellisEventEmitter): void {
    events.observe((event, workflowId, fields) => this.#record(event, workflowId, fields));
  }

  #record(event: TrellisEventName, workflowId: string | undefined, fields: RunEventFields<TrellisEventName>): void {
    if (workflowId === undefined) {
      if (event === 'provider:circuit') this.#circuit[(fields as TrellisEvents['provider:circuit']).state]++;
      return;
    }
    switch (event) {
      case 'execution:started':
        this.#workflow(workflowId).runs.started++;
        return;
      case 'execution:completed': {
        const cell = this.#workflow(workflowId);
        cell.runs.completed++;
        cell.duration.observe((fields as RunEventFields<'execution:completed'>).durationMs);
        return;
      }
      case 'execution:failed':
        this.#workflow(workflowId).runs.failed++;
        return;
      case 'execution:cancelled':
        this.#workflow(workflowId).runs.cancelled++;
        return;
      case 'execution:paused':
        this.#workflow(workflowId).runs.paused++;
        return;
      case 'execution:resumed':
        this.#workflow(workflowId).runs.resumed++;
        return;
      case 'node:started':
        this.#node(workflowId, (fields as RunEventFields<'node:started'>).nodeId).steps.started++;
        return;
      case 'node:skipped':
        this.#node(workflowId, (fields as RunEventFields<'node:skipped'>).nodeId).steps.skipped++;
        return;
      case 'node:completed': {
        const done = fields as RunEventFields<'node:completed'>;
        const cell = this.#node(workflowId, done.nodeId);
        cell.steps.completed++;
        cell.duration.observe(done.durationMs);
        return;
      }
      case 'node:failed': {
        const failed = fields as RunEventFields<'node:failed'>;
        const cell = this.#node(workflowId, failed.nodeId);
        cell.steps.failed++;
        if (failed.willRetry) cell.retries++;
        return;
      }
      case 'node:waiting': {
        const waiting = fields as RunEventFields<'node:waiting'>;
        const cell = this.#node(workflowId, waiting.nodeId);
        cell.steps.waiting++;
        cell.waits[waiting.kind] = (cell.waits[waiting.kind] ?? 0) + 1;
        return;
      }
      default:
    }
  }

  /** Counts a lease renewal and says when one fails: the runs it covers become orphans when their lease runs out. */
  async leaseRenewal(renewal: Promise<void>, now: () => number, runs: number): Promise<void> {
    try {
      await renewal;
      this.#runtime.lease_renewals++;
      this.lastRenewalAt = now();
    } catch (error) {
      this.#runtime.lease_renewal_failures++;
      this.#logger.warn({ err: error, runs }, 'lease renewal failed: the runs driven here become orphans to other engines if their leases run out');
    }
  }

  /** Counts a recovery pass and logs the runs it took over. A failed pass still shows the loop turns. */
  async recoveryPass(pass: Promise<string[]>, now: () => number): Promise<string[]> {
    try {
      const taken = await pass;
      this.#runtime.recovery_passes++;
      this.#runtime.recovered_runs += taken.length;
      if (taken.length > 0) this.#logger.info({ executionIds: taken }, `recovered ${taken.length} orphaned run(s)`);
      return taken;
    } catch (error) {
      this.#runtime.recovery_failures++;
      throw error;
    } finally {
      this.lastPassAt = now();
    }
  }

  /** Runs are driven here from `now` (leases are due for renewal from then on). */
  holding(now: number): void {
    this.heldSince ??= now;
  }

  /** No run is driven here any more. */
  idle(): void {
    this.heldSince = undefined;
  }

  /** The figures, with the model callers' and what the process holds now. */
  snapshot(providers: ModelMetrics['providers'], activeRuns: number): EngineMetrics {
    const workflows: Record<string, WorkflowMetrics> = {};
    for (const [id, cell] of this.#workflows) {
      const nodes: Record<string, NodeMetrics> = {};
      for (const [nodeId, node] of cell.nodes) nodes[nodeId] = { steps: { ...node.steps }, retries: node.retries, waits: { ...node.waits }, duration_ms: node.duration.snapshot() };
      workflows[id] = { runs: { ...cell.runs }, run_duration_ms: cell.duration.snapshot(), nodes };
    }
    const queued = Object.values(providers).reduce((sum, p) => sum + p.queued, 0);
    return { providers, workflows, runtime: { active_runs: activeRuns, queued_calls: queued, ...this.#runtime, circuit_transitions: { ...this.#circuit } } };
  }

  #workflow(id: string): WorkflowCell {
    let cell = this.#workflows.get(id);
    if (!cell) {
      cell = { runs: { started: 0, completed: 0, failed: 0, cancelled: 0, paused: 0, resumed: 0 }, duration: new Histogram(), nodes: new Map() };
      this.#workflows.set(id, cell);
    }
    return cell;
  }

  #node(workflowId: string, nodeId: string): NodeCell {
    const nodes = this.#workflow(workflowId).nodes;
    let cell = nodes.get(nodeId);
    if (!cell) {
      cell = { steps: { started: 0, completed: 0, failed: 0, skipped: 0, waiting: 0 }, retries: 0, waits: {}, duration: new Histogram() };
      nodes.set(nodeId, cell);
    }
    return cell;
  }
}
