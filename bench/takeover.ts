/**
 * Takeover (issue 20): a worker holding TAKEOVER_RUNS runs mid-flight (default 500) is killed
 * with SIGKILL; how long until every one of them has progressed (a step committed after the kill)
 * on the other workers, against the lease length. Three worker processes on one PostgreSQL
 * schema: the victim claims every run first (the others start once it holds them all), each run
 * being a chain of slow steps (a fake provider answering in STEP_MS). Survivors report each
 * step they commit (`node:completed` is emitted after the commit) on the high-resolution clock
 * both processes share. The goal: lease + 1 s.
 *
 *   npm run bench:takeover   (TAKEOVER_LEASE_MS, default 10000; TRELLIS_BENCH_POSTGRES_URL for another server)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { Engine, PostgresStorage, ScriptedProvider, workflow, type WorkflowBuilder } from '@trellis-ai/trellis';

const PG_URL = process.env['TRELLIS_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env['TAKEOVER_RUNS'] ?? 500);
const LEASE_MS = Number(process.env['TAKEOVER_LEASE_MS'] ?? 10_000);
const STEP_MS = 500;
const STEPS = 100;
const now = (): number => performance.timeOrigin + performance.now();

const flow = () => {
  let chain: WorkflowBuilder = workflow('takeover', { variables: { n: 'number' } }) as unknown as WorkflowBuilder;
  for (let i = 0; i < STEPS; i++) chain = chain.prompt(`s${i}`, { model: 'slow:m', template: `step ${i} of {{input.n}}` }) as unknown as WorkflowBuilder;
  return chain.end();
};

const slow = new ScriptedProvider(() => new Promise<string>((resolve) => setTimeout(() => resolve('ok'), STEP_MS)));

async function worker(schema: string, name: string): Promise<void> {
  const storage = new PostgresStorage({ connectionString: PG_URL, schema });
  const engine = new Engine({ storage, providers: { slow }, role: 'worker', instanceId: name, leaseMs: LEASE_MS, maxConcurrentRuns: RUNS + 100 });
  // Reports a run's first step only (the bench waits for nothing else): a line per step cost the
  // worker a pipe write for each of the thousand steps a second the taken-over runs go on to commit.
  const reported = new Set<string>();
  engine.events.on('node:completed', ({ executionId }) => {
    if (reported.has(executionId)) return;
    reported.add(executionId);
    process.stdout.write(`step ${executionId} ${now()}\n`);
  });
  await engine.startBackground();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void engine.close().then(() => process.exit(0)));
}

function spawnWorker(schema: string, name: string, onLine: (line: string) => void): { proc: ChildProcess; ready: Promise<void> } {
  const proc = spawn(process.execPath, [new URL(import.meta.url).pathname, 'worker', schema, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (line === 'ready') ready();
    else onLine(line);
  });
  return { proc, ready: isReady };
}

async function main(): Promise<void> {
  const [role, schema, name] = process.argv.slice(2);
  if (role === 'worker') return worker(schema!, name!);
  const bench = `bench_takeover_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const storage = new PostgresStorage({ connectionString: PG_URL, schema: bench });
  const submit = new Engine({ storage, providers: { slow }, role: 'submit' });
  const survivors: ChildProcess[] = [];
  try {
    await submit.init();
    const victim = spawnWorker(bench, 'victim', () => undefined);
    await victim.ready;
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i += 50) ids.push(...(await Promise.all(Array.from({ length: Math.min(50, RUNS - i) }, (_, k) => submit.start(flow(), { n: i + k })))));
    // Every run claimed by the victim and past its first step: mid-flight.
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    try {
      for (;;) {
        const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${bench}".workflow_executions WHERE owner = 'victim' AND status = 'running'`);
        if (Number(rows[0]!.n) === RUNS) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await admin.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 2 * STEP_MS));
    let killedAt = Infinity;
    const progressed = new Map<string, number>();
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const onLine = (line: string): void => {
      const [what, id, at] = line.split(' ');
      if (what !== 'step' || Number(at) < killedAt || progressed.has(id!)) return;
      progressed.set(id!, Number(at) - killedAt);
      if (progressed.size === RUNS) allDone();
    };
    for (const n of [1, 2]) {
      const survivor = spawnWorker(bench, `survivor-${n}`, onLine);
      survivors.push(survivor.proc);
      await survivor.ready;
    }
    killedAt = now();
    victim.proc.kill('SIGKILL');
    // When the victim's leases run out (read after the kill, so no renewal can follow): the part of
    // the takeover that is chance (how long before the kill the victim last renewed) apart from the
    // part the survivors control.
    const leases = new pg.Pool({ connectionString: PG_URL, max: 1 });
    const expiry = await leases
      .query<{ first: number | null; last: number | null }>(`SELECT min(lease_expires_at) AS first, max(lease_expires_at) AS last FROM "${bench}".workflow_executions WHERE owner = 'victim'`)
      .finally(() => leases.end());
    const firstExpiry = Number(expiry.rows[0]?.first ?? killedAt) - killedAt;
    const expiredAfterKill = Number(expiry.rows[0]?.last ?? killedAt) - killedAt;
    await done;
    const times = [...progressed.values()].sort((a, b) => a - b);
    const at = (q: number): string => `${(times[Math.min(times.length - 1, Math.floor(q * times.length))]! / 1000).toFixed(2)} s`;
    console.log(`Takeover: ${RUNS} runs mid-flight on a worker killed with SIGKILL, two surviving workers, lease ${LEASE_MS / 1000} s, poll 1 s\n`);
    console.log('| runs | lease | first run progressed | p50 | p99 | all progressed | goal (lease + 1 s) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    console.log(`| ${RUNS} | ${LEASE_MS / 1000} s | ${at(0)} | ${at(0.5)} | ${at(0.99)} | ${(times[times.length - 1]! / 1000).toFixed(2)} s | ${((LEASE_MS + 1000) / 1000).toFixed(0)} s |`);
    const afterExpiry = (ms: number): string => `${((ms - expiredAfterKill) / 1000).toFixed(2)} s`;
    console.log(
      `\nThe victim's leases ran out ${(firstExpiry / 1000).toFixed(2)}-${(expiredAfterKill / 1000).toFixed(2)} s after the kill; from the last: first run progressed ${afterExpiry(times[0]!)}, p50 ${afterExpiry(times[Math.floor(times.length / 2)]!)}, all ${afterExpiry(times[times.length - 1]!)} (each run's interrupted step takes ${STEP_MS / 1000} s again; polls come every 1 s).`,
    );
  } finally {
    // Closed before their schema goes: a worker writing into a dropped schema only makes noise.
    await Promise.all(survivors.map((proc) => new Promise((resolve) => (proc.once('exit', resolve), proc.kill('SIGTERM')))));
    await submit.close();
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS "${bench}" CASCADE`).finally(() => admin.end());
  }
}

await main();
