/**
 * Fleet wake-up latency (issue 20): the time from `approve()` on a submit-only process to the next
 * step starting on a worker process, both on one PostgreSQL schema, with NOTIFY (the worker
 * listens) and with polling only (the worker's storage hides `watchWork`; `pollIntervalMs` at its
 * default, 1 s). 100 runs wait at an approval; they are approved one by one, 40 ms apart, and the
 * worker reports when each run's next step starts. Both processes read the same high-resolution
 * clock (`performance.timeOrigin + performance.now()`).
 *
 *   npm run bench:fleet   (TRELLIS_BENCH_POSTGRES_URL to use another server)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { Engine, PostgresStorage, workflow, type Storage } from '@trellis-ai/trellis';
import { instantProvider } from './workloads.js';

const PG_URL = process.env['TRELLIS_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const APPROVALS = Number(process.env['FLEET_WAKE_APPROVALS'] ?? 100);
const SPACING_MS = 40;
const now = (): number => performance.timeOrigin + performance.now();

const flow = () =>
  workflow('wake', { variables: { n: 'number' } })
    .approval('ok')
    .prompt('next', { model: 'bench:m', template: 'go {{input.n}}' })
    .end({ text: 'next.text' });

/** The storage with its wake-ups hidden: the worker then finds approvals on its poll only. */
function pollingOnly(storage: Storage): Storage {
  return new Proxy(storage, {
    get: (target, key) => {
      if (key === 'watchWork' || key === 'announceWork') return undefined;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function worker(schema: string, mode: string): Promise<void> {
  const storage = new PostgresStorage({ connectionString: PG_URL, schema });
  if (mode === 'notify') void storage.init().then(() => storage.watchWork((id) => process.stdout.write(`heard ${id} ${now()}\n`)));
  const engine = new Engine({ storage: mode === 'poll' ? pollingOnly(storage) : storage, providers: { bench: instantProvider }, role: 'worker' });
  engine.events.on('node:started', ({ executionId, nodeId }) => {
    if (nodeId === 'next') process.stdout.write(`started ${executionId} ${now()}\n`);
  });
  await engine.startBackground();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void engine.close().then(() => process.exit(0)));
}

async function measure(mode: 'notify' | 'poll'): Promise<number[]> {
  const schema = `bench_wake_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'worker', schema, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const startedAt = new Map<string, number>();
  const heardAt = new Map<string, number>();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [what, id, at] = line.split(' ');
    if (what === 'ready') ready();
    if (what === 'started') startedAt.set(id!, Number(at));
    if (what === 'heard') heardAt.set(id!, Number(at)); // the last: the approval's, after the start's
  });
  await isReady;
  const submit = new Engine({ storage: new PostgresStorage({ connectionString: PG_URL, schema }), providers: { bench: instantProvider }, role: 'submit' });
  try {
    const ids = await Promise.all(Array.from({ length: APPROVALS }, (_, n) => submit.start(flow(), { n })));
    await Promise.all(ids.map((id) => submit.wait(id, { until: { step: 'ok' }, pollMs: 50 })));
    const approvedAt = new Map<string, number>();
    for (const id of ids) {
      approvedAt.set(id, now());
      await submit.approve(id, 'ok');
      await new Promise((resolve) => setTimeout(resolve, SPACING_MS));
    }
    await Promise.all(ids.map((id) => submit.wait(id, { pollMs: 50 })));
    if (mode === 'notify') {
      // Where the time goes: approve() to the worker hearing the NOTIFY, and hearing it to the step starting.
      const heard = ids.filter((id) => heardAt.has(id) && heardAt.get(id)! > approvedAt.get(id)!);
      const toHear = heard.map((id) => heardAt.get(id)! - approvedAt.get(id)!);
      const toStart = heard.map((id) => startedAt.get(id)! - heardAt.get(id)!);
      console.log(`notify approve -> NOTIFY heard: p50 ${pct(toHear, 50).toFixed(1)} ms; heard -> step started: p50 ${pct(toStart, 50).toFixed(1)} ms`);
    }
    return ids.map((id) => startedAt.get(id)! - approvedAt.get(id)!);
  } finally {
    await submit.close();
    child.kill('SIGTERM');
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
  }
}

const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

if (process.argv[2] === 'worker') {
  await worker(process.argv[3]!, process.argv[4]!);
} else {
  for (const mode of (process.env['FLEET_WAKE_MODES'] ?? 'notify,poll').split(',') as ('notify' | 'poll')[]) {
    const ms = await measure(mode);
    console.log(`${mode.padEnd(6)} approve -> next step started on the worker: p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms (${ms.length} approvals)`);
  }
}
