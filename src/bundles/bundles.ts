/**
 * `engine.bundles`: many inputs run as one unit. The bundle is a stored record with one item per
 * input (status, run id, output or error), saved as items progress, so a bundle whose process
 * died can be resumed. Item `i` is always started with the idempotency key `bundle:<id>:<i>`:
 * whatever the bundle record says, an item's run is created at most once.
 */
import type { BundleRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import { workflow } from '../builder/builder.js';
import { IllegalStateError, NotFoundError, TrellisError, isTrellisError } from '../kernel/errors.js';
import type { WorkflowSource } from '../definition/workflow-source.js';
import type { BundleHost } from './bundle-host.js';
import { untilAborted } from '../kernel/abortable.js';

/** A stored prompt run once per input; the input's keys fill the prompt's variables. */
export interface PromptBundleTarget {
  readonly prompt_id: string;
  /** @default the latest version when the bundle is created (then pinned) */
  readonly version?: number;
  readonly model: string;
}

/** A stored workflow, by id. */
export interface StoredWorkflowTarget {
  readonly workflow_id: string;
  /** @default the latest version when the bundle is created (then pinned) */
  readonly version?: number;
}

/** What each input of a bundle runs through. */
export type BundleTarget = WorkflowSource | PromptBundleTarget | StoredWorkflowTarget;

/** Status of one bundle item. */
export type BundleItemStatus = 'pending' | 'running' | 'completed' | 'failed';

/** One input of a bundle and what became of it. */
export interface BundleItem {
  readonly index: number;
  readonly input: Json;
  readonly status: BundleItemStatus;
  readonly run_id?: string;
  readonly output?: Json;
  readonly error?: string;
}

/** Where a bundle stands. `items` are in input order. */
export interface BundleProgress {
  readonly id: string;
  readonly status: BundleRecord['status'];
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
  readonly running: number;
  readonly pending: number;
  readonly items: readonly BundleItem[];
}

/** Totals of a bundle. `tokens` sums the LLM execution records of the item runs. */
export interface BundleSummary {
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
  /** From creation to completion (or to now, while running). */
  readonly duration_ms: number;
  readonly tokens?: { readonly input_tokens: number; readonly output_tokens: number; readonly total_tokens: number };
}

/** A bundle with its summary: what `run`, `resume` and `get` resolve with. */
export interface BundleResult extends BundleProgress {
  readonly summary: BundleSummary;
}

/** Options of {@link Bundles.run} and {@link Bundles.resume}. */
export interface BundleRunOptions {
  /** Items whose runs are in flight at once. @default 4 (for `resume`: the bundle's own) */
  readonly concurrency?: number;
  /** The bundle id; it must be new. @default a generated id */
  readonly id?: string;
  /** Called with a snapshot whenever an item starts or finishes. Errors are reported on `listener:error`. */
  readonly onProgress?: (progress: BundleProgress) => void;
  /**
   * Stops driving the bundle: no further item starts and the call rejects. Runs already started go
   * on in the engine; the record stays `running`, so `resume(id)` can pick the bundle up again.
   */
  readonly signal?: AbortSignal;
}

/** Options of {@link Bundles.resume}. */
export interface BundleResumeOptions extends Omit<BundleRunOptions, 'id'> {
  /** While waiting on runs a dead process left behind, call `engine.recover()` this often. @default 250 */
  readonly recoverEveryMs?: number;
}

/** The stored target: always a pinned stored workflow version (the prompt one is generated). */
interface StoredTarget {
  readonly kind: 'workflow' | 'prompt';
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly concurrency: number;
  readonly prompt_id?: string;
  readonly prompt_version?: number;
  readonly model?: string;
}

type MutableItem = { -readonly [K in keyof BundleItem]: BundleItem[K] };

const SAVE_EVERY_MS = 100;

/**
 * Runs many inputs through one workflow or prompt, as a resumable bundle.
 *
 * @example
 * const result = await engine.bundles.run(summarise, docs.map((text) => ({ text })), { concurrency: 8 });
 * console.log(result.summary.completed, result.items.map((i) => i.output));
 */
export class Bundles {
  readonly #host: BundleHost;

  /** @internal Use `engine.bundles`. */
  constructor(host: BundleHost) {
    this.#host = host;
  }

  /** Creates a bundle with one item per input and drives it to the end; item failures are recorded, not thrown. */
  async run(target: BundleTarget, inputs: readonly Json[], options: BundleRunOptions = {}): Promise<BundleResult> {
    if (!Array.isArray(inputs)) throw new TrellisError('invalid_options', `bundles.run expects an array of inputs, got ${typeof inputs}`);
    const concurrency = checkConcurrency(options.concurrency, 4);
    const storage = await this.#host.storage();
    const id = options.id ?? this.#host.ids('bundle');
    if (await storage.getBundle(id)) throw new IllegalStateError(`Bundle "${id}" already exists; use bundles.resume("${id}")`, { details: { id } });
    const stored = await this.#storeTarget(target, concurrency);
    const record: BundleRecord = {
      id,
      target: stored as unknown as Json,
      status: 'running',
      items: inputs.map((input, index) => ({ index, input, status: 'pending' })),
      created_at: this.#host.clock.now(),
    };
    await storage.saveBundle(record);
    return this.#drive(storage, record, concurrency, options);
  }

  /**
   * Picks up a bundle whose process died or whose `run` was aborted. Items already finished are
   * kept; items whose run exists are waited on (dead runs are recovered by `engine.recover()`,
   * which this calls while it waits); items never started are started.
   */
  async resume(id: string, options: BundleResumeOptions = {}): Promise<BundleResult> {
    const storage = await this.#host.storage();
    const record = await storage.getBundle(id);
    if (!record) throw new NotFoundError(`Bundle "${id}" not found`);
    if (record.status !== 'running') return this.#result(record);
    const target = record.target as unknown as StoredTarget;
    const concurrency = checkConcurrency(options.concurrency, target.concurrency);
    const every = options.recoverEveryMs ?? 250;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const tick = (): void => {
      void this.#host
        .recover()
        .catch(() => undefined)
        .then(() => {
          if (!stopped) timer = setTimeout(tick, every);
        });
    };
    tick();
    try {
      return await this.#drive(storage, record, concurrency, options);
    } finally {
      stopped = true;
      clearTimeout(timer);
    }
  }

  /** Where a bundle stands, with its summary; undefined when there is no such bundle. */
  async get(id: string): Promise<BundleResult | undefined> {
    const record = await (await this.#host.storage()).getBundle(id);
    return record && this.#result(record);
  }

  /** Resolves any target to a pinned, stored workflow version. */
  async #storeTarget(target: BundleTarget, concurrency: number): Promise<StoredTarget> {
    if (isPromptTarget(target)) {
      const prompt = await this.#host.prompt(target.prompt_id, target.version);
      if (!prompt) throw new NotFoundError(`Prompt "${target.prompt_id}"${target.version === undefined ? '' : ` version ${target.version}`} not found`);
      const mapping = Object.fromEntries(prompt.variables.filter((v) => v !== 'input' && v !== 'variables').map((v) => [v, `input.${v}`]));
      const wf = workflow(`bundle-prompt-${prompt.id}`, { description: `Prompt "${prompt.id}" v${prompt.version}, run by a bundle`, tags: ['bundle'] })
        .prompt('prompt', { model: target.model, prompt_id: prompt.id, prompt_version: prompt.version, ...(Object.keys(mapping).length > 0 ? { input_mapping: mapping } : {}) })
        .end({ text: 'prompt.text', json: 'default(prompt.json, null)' });
      const stored = await this.#host.storeWorkflow(wf);
      return { kind: 'prompt', workflow_id: stored.id, workflow_version: stored.version, concurrency, prompt_id: prompt.id, prompt_version: prompt.version, model: target.model };
    }
    if (isStoredTarget(target)) {
      const stored = await this.#host.workflow(target.workflow_id, target.version);
      if (!stored) throw new NotFoundError(`Workflow "${target.workflow_id}"${target.version === undefined ? '' : ` version ${target.version}`} not found`);
      return { kind: 'workflow', workflow_id: stored.id, workflow_version: stored.version, concurrency };
    }
    const stored = await this.#host.storeWorkflow(target);
    return { kind: 'workflow', workflow_id: stored.id, workflow_version: stored.version, concurrency };
  }

  async #drive(storage: Storage, record: BundleRecord, concurrency: number, options: BundleRunOptions): Promise<BundleResult> {
    const run = new BundleDrive(this.#host, storage, record, options);
    await run.drive(concurrency);
    return this.#result(run.snapshot());
  }

  async #result(record: BundleRecord): Promise<BundleResult> {
    const progress = toProgress(record);
    let input = 0;
    let output = 0;
    let seen = false;
    for (const item of record.items) {
      if (item.run_id === undefined) continue;
      for (const call of await this.#host.calls(item.run_id)) {
        const usage = call.usage as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
        if (typeof usage?.input_tokens !== 'number' || typeof usage.output_tokens !== 'number') continue;
        input += usage.input_tokens;
        output += usage.output_tokens;
        seen = true;
      }
    }
    const summary: BundleSummary = {
      total: progress.total,
      completed: progress.completed,
      failed: progress.failed,
      duration_ms: (record.completed_at ?? this.#host.clock.now()) - record.created_at,
      ...(seen ? { tokens: { input_tokens: input, output_tokens: output, total_tokens: input + output } } : {}),
    };
    return { ...progress, summary };
  }
}

/**
 * One call driving one bundle: a pool of `concurrency` workers over the unfinished items, with
 * throttled, serialised saves of the record (the idempotency keys, not the saves, guarantee that
 * an item's run is created once, so a lost save costs nothing but a re-read).
 */
class BundleDrive {
  readonly #host: BundleHost;
  readonly #storage: Storage;
  readonly #record: BundleRecord;
  readonly #items: MutableItem[];
  readonly #target: StoredTarget;
  readonly #options: BundleRunOptions;
  #status: BundleRecord['status'];
  #completedAt: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();

  constructor(host: BundleHost, storage: Storage, record: BundleRecord, options: BundleRunOptions) {
    this.#host = host;
    this.#storage = storage;
    this.#record = record;
    this.#items = record.items.map((item) => ({ ...item, status: item.status as BundleItemStatus }));
    this.#target = record.target as unknown as StoredTarget;
    this.#options = options;
    this.#status = record.status;
  }

  snapshot(): BundleRecord {
    const { completed_at: _, ...rest } = this.#record;
    return { ...rest, status: this.#status, items: this.#items.map((item) => ({ ...item })), ...(this.#completedAt === undefined ? {} : { completed_at: this.#completedAt }) };
  }

  async drive(concurrency: number): Promise<void> {
    const { signal } = this.#options;
    // Items whose run may exist first: at most `concurrency` were in flight when the last driver stopped.
    const todo = this.#items.filter((i) => i.status !== 'completed' && i.status !== 'failed').sort((a, b) => rank(a) - rank(b) || a.index - b.index);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length && !signal?.aborted) await this.#runItem(todo[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    if (signal?.aborted) {
      await this.#flush();
      throw signal.reason;
    }
    this.#status = 'completed';
    this.#completedAt = this.#host.clock.now();
    await this.#flush();
  }

  async #runItem(item: MutableItem): Promise<void> {
    const { signal } = this.#options;
    item.status = 'running';
    this.#changed();
    try {
      const runId = await this.#host.startStored(this.#target.workflow_id, item.input, {
        version: this.#target.workflow_version,
        idempotencyKey: `bundle:${this.#record.id}:${item.index}`,
        trigger: { type: 'bundle', id: this.#record.id, index: item.index },
      });
      if (item.run_id !== runId) {
        item.run_id = runId;
        this.#changed();
      }
      const run = await untilAborted(this.#host.wait(runId, signal ? { signal } : {}), signal);
      if (run.status === 'completed') {
        item.status = 'completed';
        if (run.output_data !== undefined) item.output = run.output_data;
      } else {
        item.status = 'failed';
        item.error = run.error_message ?? `run ${run.status}`;
      }
    } catch (error) {
      if (signal?.aborted) return; // left `running`: resume finds it by its idempotency key
      item.status = 'failed';
      item.error = isTrellisError(error) || error instanceof Error ? error.message : String(error);
    }
    this.#changed();
  }

  #changed(): void {
    const listener = this.#options.onProgress;
    if (listener) {
      try {
        listener(toProgress(this.snapshot()));
      } catch (error) {
        this.#host.events.publish('listener:error', { event: 'bundle:progress', error });
      }
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      // A failed intermediate save is retried by the next one; the final flush reports errors.
      this.#save().catch(() => undefined);
    }, SAVE_EVERY_MS);
  }

  async #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#save();
  }

  /** Saves run one after another, each writing the state as it is when it runs. */
  #save(): Promise<void> {
    const saved = this.#saving.then(() => this.#storage.saveBundle(this.snapshot()));
    this.#saving = saved.catch(() => undefined);
    return saved;
  }
}

function toProgress(record: BundleRecord): BundleProgress {
  const items = record.items as readonly BundleItem[];
  const count = (status: BundleItemStatus): number => items.filter((i) => i.status === status).length;
  return {
    id: record.id,
    status: record.status,
    total: items.length,
    completed: count('completed'),
    failed: count('failed'),
    running: count('running'),
    pending: count('pending'),
    items,
  };
}

function rank(item: BundleItem): number {
  return item.status === 'running' || item.run_id !== undefined ? 0 : 1;
}


function checkConcurrency(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TrellisError('invalid_options', `Bundle option "concurrency" must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return value;
}

function isPromptTarget(target: BundleTarget): target is PromptBundleTarget {
  return typeof target === 'object' && target !== null && typeof (target as PromptBundleTarget).prompt_id === 'string';
}

function isStoredTarget(target: BundleTarget): target is StoredWorkflowTarget {
  return typeof target === 'object' && target !== null && typeof (target as StoredWorkflowTarget).workflow_id === 'string' && !('definition' in target);
}

/** The bundle runner `engine.bundles` returns, over the engine's {@link BundleHost}. */
export function createBundles(host: BundleHost): Bundles {
  return new Bundles(host);
}
