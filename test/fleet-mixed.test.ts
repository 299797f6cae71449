/**
 * Issue 20 with real processes: worker processes and one submit-only process share the real
 * PostgreSQL (and, in a smaller variant, one SQLite file). The submit process starts runs of a
 * mixed workflow (chain, parallel, loop, delay, approval, sub-workflow) and approves them; the
 * workers drive them, calling a fake OpenAI-compatible server in this process through the real
 * SDK, under a provider concurrency limit that holds for the whole fleet. Workers are SIGKILLed
 * mid-way. Every run completes; a step is called more than once only when a killed worker had it
 * in flight, or a worker lost a run's lease; the server never sees more calls at once
 * than the limit; every cron fire of the workers' shared schedule started exactly one run.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage, SqliteStorage, type Storage } from '../src/index.js';
import { runFixture, watchFixture, type WatchedChild } from './fixture-process.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('fleetmixed');
const CALLS_PER_RUN = 7;
const LIMIT = 4;

/** A worker or the submit process, by name. */
type Child = WatchedChild & { readonly name: string };

const children: Child[] = [];
const servers: Server[] = [];
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

function spawnChild(name: string, args: string[]): Child {
  const child = Object.assign(watchFixture('fleet-mixed-worker', args), { name });
  children.push(child);
  return child;
}

/** One call the fake provider received: who sent it, the step's idempotency key, its place in arrival order. */
interface ReceivedCall {
  readonly who: string;
  readonly key: string;
  readonly seq: number;
}

/** A fake OpenAI Chat Completions server that counts calls per step and calls in flight. */
async function startFakeProvider(delayMs: number) {
  const calls: ReceivedCall[] = [];
  const fake = { calls, live: 0, peak: 0, url: '' };
  const server = createServer((req: IncomingMessage, res) => {
    const who = /^\/w\/([^/]+)\/v1\/chat\/completions$/.exec(req.url ?? '')?.[1] ?? '?';
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      calls.push({ who, key: String(req.headers['idempotency-key']), seq: calls.length });
      fake.live++;
      fake.peak = Math.max(fake.peak, fake.live);
      let counted = true;
      const done = (): void => {
        if (counted) fake.live--;
        counted = false;
      };
      // A killed worker's connection closes: its call is no longer in flight at the server either.
      res.on('close', done);
      const messages = (JSON.parse(body) as { messages: { content: string }[] }).messages;
      const text = `${messages.at(-1)?.content ?? ''}.`;
      setTimeout(() => {
        done();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      }, delayMs);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

interface FleetCase {
  readonly kind: 'postgres' | 'sqlite';
  readonly where: string;
  readonly schema: string;
  readonly workers: readonly string[];
  readonly runs: number;
  /** Each worker's `maxConcurrentRuns`. */
  readonly capacity: number;
  /** Workers to SIGKILL, each once the server has seen this share of all the calls. */
  readonly kills: readonly { readonly worker: string; readonly afterShare: number }[];
  open(): Storage;
}

async function runFleet(c: FleetCase): Promise<void> {
  const fake = await startFakeProvider(10);
  const args = (mode: string, name: string, extra: string[] = []) => [c.kind, c.where, c.schema, fake.url, mode, name, ...extra];
  await runFixture('fleet-mixed-worker', args('setup', 'setup'));
  const workers = c.workers.map((name) => spawnChild(name, args('work', name, [String(c.runs), String(LIMIT), String(c.capacity)])));
  await until(() => workers.every((w) => w.out.includes('ready')) || workers.some((w) => w.err !== ''), 40_000);
  expect(workers.map((w) => w.err)).toEqual(workers.map(() => ''));

  const submit = spawnChild('S', args('submit', 'S', [String(c.runs), String(LIMIT)]));
  const killedAt = new Map<string, number>();
  for (const { worker, afterShare } of c.kills) {
    // Once the victim is busy too: killing an idle worker would test nothing.
    await until(() => (fake.calls.length >= afterShare * c.runs * CALLS_PER_RUN && fake.calls.filter((call) => call.who === worker).length >= 5) || submit.err !== '', 60_000);
    const victim = workers.find((w) => w.name === worker)!;
    killedAt.set(worker, fake.calls.length);
    victim.kill('SIGKILL');
    await victim.exited;
  }
  const living = workers.filter((w) => !killedAt.has(w.name));
  await until(() => submit.out.includes('all-done') || submit.err !== '' || living.some((w) => w.err !== ''), 120_000).catch(async (error: unknown) => {
    // What is left undone, to read in the failure.
    const storage = c.open();
    await storage.init();
    const stuck = (await storage.listRuns({})).filter((r) => r.status !== 'completed');
    const sample = await Promise.all(stuck.slice(0, 3).map(async (r) => ({ run: r, steps: (await storage.getSteps(r.id)).map((st) => `${st.path}:${st.status}`) })));
    await storage.close();
    throw new Error(`${String(error)}: ${fake.calls.length} calls, ${stuck.length} runs not completed: ${JSON.stringify(sample)}`);
  });
  expect(submit.err).toBe('');
  expect(living.map((w) => w.err)).toEqual(living.map(() => ''));
  expect(await submit.exited).toBe(0);

  // Every approval given reached its run: none was still waiting 30 s later (a killed owner's runs
  // wait for its lease, 12 s). One was lost before a process that had lost a run unaware stopped
  // dropping the approvals it found in the run's inbox; the submit process would approve it again
  // (so that the rest of the test still runs) and say so here.
  expect([...submit.out.matchAll(/^reapproved (\S+)$/gm)].map((m) => m[1])).toEqual([]);
  // Every run completed, with the output its steps make.
  const done = [...submit.out.matchAll(/^done (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]);
  expect(done).toHaveLength(c.runs);
  expect(done.filter(([, status]) => status !== 'completed')).toEqual([]);
  const storage = c.open();
  await storage.init();
  try {
    const runs = await storage.listRuns({ workflow_id: 'mixed' });
    expect(runs).toHaveLength(c.runs);
    for (const run of runs) expect(run.output_data).toEqual({ text: `a${(run.input_data as { n: number }).n}.z.` });

    // Provider calls per step: each step called; more than once only when a killed worker had it in
    // flight, every call but the last then made by a killed worker.
    const byKey = new Map<string, ReceivedCall[]>();
    for (const call of fake.calls) byKey.set(call.key, [...(byKey.get(call.key) ?? []), call]);
    expect(byKey.size).toBe(c.runs * CALLS_PER_RUN);
    expect(fake.calls.filter((call) => call.who === 'S' || call.who === '?')).toEqual([]);
    // A worker starved of CPU may also lose a run's lease (it says so, and stops driving the run):
    // its call in flight then runs again elsewhere, as after a kill.
    const leaseLost = new Set(workers.flatMap((w) => [...w.out.matchAll(/^lease-lost (\S+)/gm)].map((m) => `${w.name} ${m[1]}`)));
    const runOf = (call: ReceivedCall) => call.key.split(':')[0]!;
    const repeated = [...byKey.values()].filter((calls) => calls.length > 1);
    // A killed worker's calls are all excused, whenever the server read them: a SIGKILLed process
    // sends nothing after its death, but a request it sent just before can still wait in the
    // socket and reach the server's handler after the kill was recorded.
    for (const calls of repeated) {
      for (const early of calls.slice(0, -1)) {
        const excused = killedAt.has(early.who) || leaseLost.has(`${early.who} ${runOf(early)}`);
        const story = { calls: calls.map(({ who, seq }) => `${who}#${seq}`), killedAt: Object.fromEntries(killedAt), warnings: workers.find((w) => w.name === early.who)?.out.split('\n').filter((line) => line.startsWith('warn') || line.startsWith('lease-lost')) };
        expect([early.key, excused, story]).toEqual([early.key, true, story]);
      }
    }
    // The kills hit runs in flight: the living workers finished runs a killed one had begun.
    const begunByKilled = new Set(fake.calls.filter((call) => killedAt.has(call.who)).map(runOf));
    expect(fake.calls.some((call) => !killedAt.has(call.who) && begunByKilled.has(runOf(call)))).toBe(true);
    // No more calls at once than the fleet-wide limit, though every worker had room for more.
    expect(fake.peak).toBeLessThanOrEqual(LIMIT);

    // The same webhook deliveries reached every worker: one run each, every worker answered with it.
    const hooks = await storage.listRuns({ workflow_id: 'hook' });
    expect(hooks.map((r) => (r.output_data as { got: string } | undefined)?.got ?? (r.input_data as { delivery: string }).delivery).sort()).toEqual(Array.from({ length: 10 }, (_, n) => `d${n}`).sort());
    const answers = workers.map((w) => /^hooked (.*)$/m.exec(w.out)?.[1]);
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]!.split(' ').sort()).toEqual(hooks.map((r) => r.id).sort());

    // The shared cron: one run per fire time, whichever worker fired first, and no fire missed.
    const ticks = await storage.listRuns({ workflow_id: 'tick' });
    const fires = ticks.map((r) => Date.parse((r.trigger as { fire_at: string }).fire_at)).sort((x, y) => x - y);
    expect(fires.length).toBeGreaterThan(1);
    expect(new Set(fires).size).toBe(fires.length);
    for (let i = 1; i < fires.length; i++) expect(fires[i]! - fires[i - 1]!).toBe(2000);
  } finally {
    await storage.close();
  }
  for (const w of living) w.kill('SIGTERM');
  expect(await Promise.all(living.map((w) => w.exited))).toEqual(living.map(() => 0));
}

describe('a fleet of processes, a mixed workflow, fleet-wide limits', () => {
  it('PostgreSQL: 4 workers and 1 submit process, 200 runs, two workers SIGKILLed mid-way', async () => {
    await runFleet({
      kind: 'postgres',
      where: pgUrl,
      schema,
      workers: ['A', 'B', 'C', 'D'],
      runs: Number(process.env.FLEET_RUNS ?? 200),
      capacity: 60,
      kills: [
        { worker: 'A', afterShare: 0.2 },
        { worker: 'B', afterShare: 0.55 },
      ],
      open: () => new PostgresStorage({ connectionString: pgUrl, schema }),
    });
  }, 300_000);

  it('SQLite: 2 workers and 1 submit process on one file, 40 runs, one worker SIGKILLed mid-way', async () => {
    const file = join(dir, 'fleet.sqlite');
    await runFleet({
      kind: 'sqlite',
      where: file,
      schema: '-',
      workers: ['A', 'B'],
      runs: 40,
      capacity: 15,
      kills: [{ worker: 'A', afterShare: 0.3 }],
      open: () => new SqliteStorage({ path: file }),
    });
  }, 300_000);
});
