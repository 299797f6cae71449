/**
 * Export and import: workflows (every version), prompts (every version) and optionally runs (with
 * their steps and LLM calls) as one JSON document, streamed both ways, so a store of any size moves
 * between engines or databases (SQLite to PostgreSQL, say). Records keep their ids, versions and
 * timestamps. Internal to the engine; the layout of the text is kernel/json-sections.ts's.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../kernel/clock.js';
import { TrellisError, isTrellisError } from '../kernel/errors.js';
import { readJsonSections, writeJsonSections, type JsonTextSource } from '../kernel/json-sections.js';
import type { ModelCallRecord, PromptRecord, RunRecord, RunStatus, StepRecord, WorkflowRecord } from '../storage/records.js';
import type { Storage, VersionKey } from '../storage/storage.js';
import { jsonEqual, sameVersion } from '../storage/workflow-versions.js';

export type { JsonTextSource } from '../kernel/json-sections.js';

/** The `format` member of an export document. */
export const EXPORT_FORMAT = 'trellis-export';
/** The version of the document layout this code writes and reads. */
export const EXPORT_VERSION = 1;
/** Records read from storage per query while exporting. */
const PAGE = 100;
/** Runs an export reads, or an import writes, at once. */
const RUNS_AT_ONCE = 8;

/** Options of `engine.exportData` and `engine.exportTo`. */
export interface ExportOptions {
  /**
   * Export runs too, each with its steps and LLM calls: `true` for every run, or `{ status }` for
   * runs in those statuses only. Export runs from a store no engine is driving at that moment (a
   * run that moves on during the export is written as it was when read).
   * @default false
   */
  readonly runs?: boolean | { readonly status: readonly RunStatus[] };
  /** Stops the export between two records: the text ends there and the iteration throws the signal's reason. */
  readonly signal?: AbortSignal;
}

/** One run as an export document holds it. */
export interface ExportedRun {
  readonly run: RunRecord;
  readonly steps: readonly StepRecord[];
  readonly calls: readonly ModelCallRecord[];
}

/** Options of `engine.importFrom`. */
export interface ImportOptions {
  /**
   * What to do with a record whose key (workflow id and version, prompt id and version, run id) the
   * target already holds with other content: `'error'` throws `conflict` (records before it stay
   * imported), `'skip'` keeps the target's and counts it skipped. The same content is always skipped,
   * so importing a document twice is safe.
   * @default 'error'
   */
  readonly onConflict?: 'error' | 'skip';
  /** Stops the import between two records: what was imported stays, and the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** What one section of an import did. */
export interface ImportCounts {
  /** Records written. */
  imported: number;
  /** Records the target already held (the same, or, with `onConflict: 'skip'`, different). */
  skipped: number;
}

/** What `engine.importFrom` did, per section. */
export interface ImportResult {
  readonly workflows: ImportCounts;
  readonly prompts: ImportCounts;
  readonly runs: ImportCounts;
}

/** The export document's text, a chunk per record (see kernel/json-sections.ts for its layout). */
export async function* exportDocument(open: () => Promise<Storage>, clock: Clock, options: ExportOptions = {}): AsyncGenerator<string> {
  const storage = await open();
  const { signal } = options;
  const sections: [string, AsyncIterable<unknown>][] = [
    ['workflows', scan<WorkflowRecord, VersionKey>((after) => storage.scanWorkflows({ ...after, limit: PAGE }), versionKey, signal)],
    ['prompts', scan<PromptRecord, VersionKey>((after) => storage.scanPrompts({ ...after, limit: PAGE }), versionKey, signal)],
  ];
  if (options.runs !== undefined && options.runs !== false) {
    const status = options.runs === true ? {} : { status: options.runs.status };
    const runs = scan<RunRecord, string>((after) => storage.scanRuns({ ...after, ...status, limit: PAGE }), (run) => run.id, signal);
    sections.push(['runs', withSteps(storage, runs)]);
  }
  yield* writeJsonSections({ format: EXPORT_FORMAT, version: EXPORT_VERSION, exported_at: clock.now() }, sections);
}

/** Writes the document to a stream (a file, a socket, a response), with its backpressure, and ends it. */
export async function exportToStream(document: AsyncIterable<string>, target: NodeJS.WritableStream): Promise<void> {
  await pipeline(Readable.from(document), target);
}

const versionKey = (record: VersionKey): VersionKey => ({ id: record.id, version: record.version });

/** Every record of a keyset scan, a page at a time. */
async function* scan<T, K>(page: (after: { after?: K }) => Promise<T[]>, key: (record: T) => K, signal: AbortSignal | undefined): AsyncGenerator<T> {
  for (let after: K | undefined; ; ) {
    signal?.throwIfAborted();
    const records = await page(after === undefined ? {} : { after });
    for (const record of records) {
      signal?.throwIfAborted();
      yield record;
    }
    if (records.length < PAGE) return;
    after = key(records.at(-1)!);
  }
}

/** Each run with its steps and calls, read for a few runs at once (their round trips overlap), in scan order. */
async function* withSteps(storage: Storage, runs: AsyncIterable<RunRecord>): AsyncGenerator<ExportedRun> {
  const load = async (run: RunRecord): Promise<ExportedRun> => {
    const [steps, calls] = await Promise.all([storage.getSteps(run.id), storage.listCalls({ workflow_execution_id: run.id })]);
    return { run, steps, calls };
  };
  let batch: RunRecord[] = [];
  for await (const run of runs) {
    batch.push(run);
    if (batch.length < RUNS_AT_ONCE) continue;
    yield* await Promise.all(batch.map(load));
    batch = [];
  }
  yield* await Promise.all(batch.map(load));
}

/** Reads an export document into `storage`, a record at a time. */
export async function importDocument(storage: Storage, source: JsonTextSource, options: ImportOptions = {}): Promise<ImportResult> {
  const result: ImportResult = { workflows: { imported: 0, skipped: 0 }, prompts: { imported: 0, skipped: 0 }, runs: { imported: 0, skipped: 0 } };
  const skipConflicts = options.onConflict === 'skip';
  if (options.onConflict !== undefined && options.onConflict !== 'error' && !skipConflicts) {
    throw new TrellisError('invalid_options', `importFrom option "onConflict" must be 'error' or 'skip', got ${JSON.stringify(options.onConflict)}`);
  }
  const tally = (section: keyof ImportResult, value: Record<string, unknown>, outcome: Outcome): void => {
    if (outcome === 'conflict' && !skipConflicts) throw conflict(section, value);
    result[section][outcome === 'imported' ? 'imported' : 'skipped']++;
  };
  // Runs are independent of each other: a few are written at once, so a server's commit latency
  // (an fsync each) overlaps instead of adding up. The first failure stops the import.
  const inFlight = new Set<Promise<void>>();
  let failed: { readonly error: unknown } | undefined;
  const settle = async (atMost: number): Promise<void> => {
    while (inFlight.size > atMost) await Promise.race(inFlight);
    if (failed) throw failed.error;
  };
  try {
    for await (const entry of readJsonSections(source)) {
      options.signal?.throwIfAborted();
      if (entry.kind === 'header') {
        checkHeader(entry.header);
        continue;
      }
      const { section, value } = entry;
      if (section !== 'workflows' && section !== 'prompts' && section !== 'runs') continue; // a later format's section: not ours to read
      if (!isRecord(value)) throw new TrellisError('invalid_input', `An element of "${section}" is not an object`);
      if (section === 'runs') {
        const write: Promise<void> = importRun(storage, value as unknown as ExportedRun)
          .then((outcome) => tally(section, value, outcome))
          .catch((error: unknown) => void (failed ??= { error }))
          .finally(() => inFlight.delete(write));
        inFlight.add(write);
        await settle(RUNS_AT_ONCE - 1);
        continue;
      }
      await settle(0);
      tally(section, value, section === 'workflows' ? await importWorkflow(storage, value as unknown as WorkflowRecord) : await importPrompt(storage, value as unknown as PromptRecord));
    }
  } finally {
    await Promise.allSettled(inFlight); // nothing is left writing after the import settles, even when it failed
  }
  await settle(0);
  return result;
}

type Outcome = 'imported' | 'same' | 'conflict';

function checkHeader(header: Readonly<Record<string, unknown>>): void {
  if (header['format'] !== EXPORT_FORMAT) throw new TrellisError('invalid_input', `Not a Trellis export: "format" is ${JSON.stringify(header['format'])}, expected "${EXPORT_FORMAT}"`);
  const version = header['version'];
  if (typeof version !== 'number' || version > EXPORT_VERSION) {
    throw new TrellisError('invalid_input', `This export is format version ${JSON.stringify(version)}; this Trellis reads version ${EXPORT_VERSION} (upgrade Trellis to import it)`);
  }
}

async function importWorkflow(storage: Storage, record: WorkflowRecord): Promise<Outcome> {
  requireKey('workflows', record.id, record.version);
  const stored = await storage.getWorkflow(record.id, record.version);
  if (stored) return record.deleted !== true && sameVersion(stored, record) ? 'same' : 'conflict';
  try {
    await storage.saveWorkflow(record);
  } catch (error) {
    if (!(isTrellisError(error) && error.code === 'conflict')) throw error;
    // A deleted version (kept for the runs pinned to it) conflicts with itself: compare it as stored.
    const [held] = await storage.scanWorkflows({ after: { id: record.id, version: record.version - 1 }, limit: 1 });
    if (!held || held.id !== record.id || held.version !== record.version) throw error;
    const { deleted, ...content } = held;
    return deleted === (record.deleted === true ? true : undefined) && sameVersion(content, record) ? 'same' : 'conflict';
  }
  return 'imported';
}

async function importPrompt(storage: Storage, record: PromptRecord): Promise<Outcome> {
  requireKey('prompts', record.id, record.version);
  const stored = await storage.getPrompt(record.id, record.version);
  if (stored) return jsonEqual(stored, record) ? 'same' : 'conflict';
  await storage.savePrompt(record);
  return 'imported';
}

async function importRun(storage: Storage, entry: ExportedRun): Promise<Outcome> {
  const { run, steps = [], calls = [] } = entry;
  if (!isRecord(run)) throw new TrellisError('invalid_input', 'An element of "runs" has no "run" object');
  requireKey('runs', run.id);
  const stored = await storage.getRun(run.id);
  if (stored) {
    if (!jsonEqual(stored, run)) return 'conflict';
    // PostgreSQL writes a run whose outputs need blobs before its steps: an import cut between the
    // two left the run alone, and this import completes it.
    const last = steps.at(-1);
    if (last === undefined || (await storage.getStep(run.id, last.path))) return 'same';
    await storage.commit({ runId: run.id, steps, calls });
    return 'imported';
  }
  // One commit: the run with its steps and calls lands whole or not at all.
  await storage.commit({ runId: run.id, create: run, steps, calls });
  return 'imported';
}

/** Throws `invalid_input` unless `id` is a non-empty string and, for versioned records, `version` a whole number. */
function requireKey(section: string, id: unknown, version: unknown = 'unversioned'): void {
  const versioned = version !== 'unversioned';
  if (typeof id !== 'string' || id === '' || (versioned && !Number.isInteger(version))) {
    throw new TrellisError('invalid_input', `An element of "${section}" has no valid ${versioned ? 'id and version' : 'id'}: ${JSON.stringify(versioned ? { id, version } : { id })}`);
  }
}

function conflict(section: string, value: Record<string, unknown>): TrellisError {
  const record = section === 'runs' ? (value['run'] as Record<string, unknown>) : value;
  const key = section === 'runs' ? `run ${String(record['id'])}` : `${section.slice(0, -1)} "${String(record['id'])}" version ${String(record['version'])}`;
  return new TrellisError('conflict', `The target already holds ${key} with other content; pass { onConflict: 'skip' } to keep it and go on`, {
    details: { section, id: record['id'], ...(section === 'runs' ? {} : { version: record['version'] }) },
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
