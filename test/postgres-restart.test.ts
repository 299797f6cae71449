/**
 * PostgreSQL going away under a running engine, with the real server.
 *
 * - Backends killed with `pg_terminate_backend` mid-run (only this file's own connections, found by
 *   their application_name): the run completes, no step runs twice, no unhandled `error` event.
 * - A connection cut by a TCP proxy just after the server answered COMMIT (or the statement of a
 *   one-statement commit): the commit landed, and its retry must not apply it twice.
 * - A real `pg_ctlcluster restart` mid-run, in a child process. Restarting the server breaks every
 *   other PostgreSQL test running at the same time (vitest runs files in parallel), so this one runs
 *   only when TRELLIS_PG_RESTART=1: `npm run test:pg-restart`, which CI (.ci/run) runs after `npm test`.
 *   Everything else here touches only its own connections and is safe in parallel.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, type Provider } from '../src/index.js';
import { stepCallId } from '../src/kernel/call-ids.js';
import { makeCall, makeRun, makeStep } from '../src/testing/storage-fixtures.js';
import { chain } from './fixtures/crash-worker.js';
import { spawnFixture } from './fixture-process.js';

const PG_URL = process.env.TRELLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tag = randomUUID().replaceAll('-', '').slice(0, 12);
const schemas: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'trellis-pg-restart-'));
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
// The test's own pool sees the server restart too: pg requires a listener for its idle clients' errors.
admin.on('error', () => undefined);

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

function newSchema(name: string): string {
  const schema = `trellis_${name}_${tag}`;
  schemas.push(schema);
  return schema;
}

/** The URL with an application_name, so the test can find (and kill) exactly its own backends. */
function urlFor(appName: string, base = PG_URL): string {
  return `${base}${base.includes('?') ? '&' : '?'}application_name=${appName}`;
}

/** Kills every backend of `appName`; resolves with how many there were. */
async function terminate(appName: string): Promise<number> {
  const result = await admin.query<{ pid: number }>('SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity WHERE application_name = $1', [appName]);
  return result.rowCount ?? 0;
}

describe('a killed backend', () => {
  it('pg_terminate_backend mid-run: the run completes, no step runs twice, the process sees no unhandled error', async () => {
    const appName = `trellis_kill_${tag}`;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const calls = new Map<string, number>();
    let killed = 0;
    const provider: Provider = {
      name: 'slow',
      async complete(request) {
        const node = request.idempotencyKey.split(':')[1]!;
        calls.set(node, (calls.get(node) ?? 0) + 1);
        // Kill the engine's connections while this step's call is in flight: idle pool clients and,
        // with the terminator below, statements of other work in flight.
        if (Number(node.slice(1)) % 4 === 0) killed += await terminate(appName);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return { text: request.prompt.slice(-20), usage: { input_tokens: 1, output_tokens: 1 } };
      },
    };
    const storage = new PostgresStorage({ connectionString: urlFor(appName), schema: newSchema('kill') });
    const engine = new Engine({ storage, providers: { slow: provider } });
    // A second killer, on its own clock, lands during commits and claims rather than between them.
    let stop = false;
    let killer: Promise<void> = Promise.resolve();
    try {
      await engine.init();
      killer = (async () => {
        while (!stop) {
          killed += await terminate(appName);
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 30));
        }
      })();
      const id = await engine.start(chain(), {});
      const run = await engine.wait(id);
      stop = true;
      await killer;
      expect(run.status).toBe('completed');
      expect(killed).toBeGreaterThan(0);
      expect([...calls.values()].every((n) => n === 1), JSON.stringify([...calls])).toBe(true);
      expect(calls.size).toBe(20);
      expect(new Set((await storage.getSteps(id)).map((step) => step.status))).toEqual(new Set(['completed']));
      expect(uncaught.map((e) => (e instanceof Error ? e.stack : String(e)))).toEqual([]);
    } finally {
      stop = true;
      await killer;
      process.off('uncaughtException', onUncaught);
      await engine.close();
    }
  }, 60_000);
});

/**
 * A TCP proxy to the server that, once armed, cuts the client's connection at the first server
 * message `tag` completes (CommandComplete with that tag), and everything from then on, without
 * passing it on: the server did the work, the client never hears of it.
 */
async function cuttingProxy(): Promise<{ url: string; arm(tag: string): Promise<void>; close(): Promise<void> }> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  let armed: { marker: Buffer; cut: () => void } | undefined;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (armed && chunk.includes(armed.marker)) {
        const { cut } = armed;
        armed = undefined;
        client.destroy();
        upstream.destroy();
        cut();
        return;
      }
      client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgres://${target.username}@127.0.0.1:${port}${target.pathname}`,
    arm(tag) {
      // CommandComplete: 'C', int32 length (itself + the tag + NUL), the tag, NUL.
      const body = Buffer.from(`${tag}\0`);
      const header = Buffer.alloc(5);
      header.write('C');
      header.writeInt32BE(body.length + 4, 1);
      return new Promise((cut) => (armed = { marker: Buffer.concat([header, body]), cut: () => cut() }));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a connection lost after the server committed', () => {
  it('a transactional commit whose COMMIT answer was lost is not applied twice (txid_status says it landed)', async () => {
    const proxy = await cuttingProxy();
    const storage = new PostgresStorage({ connectionString: proxy.url, schema: newSchema('txcut') });
    try {
      await storage.init();
      await storage.createRun(makeRun('r', { status: 'running', owner: 'me' }));
      const call = makeCall(stepCallId('tok', 'r', 'ask'), { workflow_execution_id: 'r', workflow_node_id: 'ask', step_path: 'ask' });
      const cut = proxy.arm('COMMIT');
      // A run patch takes the transactional path: lock the row, check the expectation, write, COMMIT.
      const landed = await storage.commit({ runId: 'r', steps: [makeStep('r', 'ask', 1)], calls: [call], run: { status: 'completed' }, expect: { status: 'running', revision: 0, owner: 'me' } });
      await cut;
      expect(landed).toBe(true);
      expect(await storage.getRun('r')).toMatchObject({ status: 'completed', revision: 1 });
      expect((await storage.listCalls({ workflow_execution_id: 'r' })).map((c) => c.id)).toEqual([call.id]);
    } finally {
      await storage.close();
      await proxy.close();
    }
  });

  it('a one-statement commit whose answer was lost appends its calls once, and a run created with its first step is not a conflict', async () => {
    const proxy = await cuttingProxy();
    const storage = new PostgresStorage({ connectionString: proxy.url, schema: newSchema('stmtcut') });
    try {
      await storage.init();
      const first = makeCall(stepCallId('t1', 'r', 'ask'), { workflow_execution_id: 'r', workflow_node_id: 'ask', step_path: 'ask' });
      let cut = proxy.arm('SELECT 1');
      expect(await storage.commit({ runId: 'r', create: makeRun('r', { status: 'running', owner: 'me' }), steps: [makeStep('r', 'ask', 1, { status: 'running' })], calls: [first] })).toBe(true);
      await cut;
      const second = makeCall(stepCallId('t2', 'r', 'ask'), { workflow_execution_id: 'r', workflow_node_id: 'ask', step_path: 'ask' });
      cut = proxy.arm('SELECT 1');
      expect(await storage.commit({ runId: 'r', steps: [makeStep('r', 'ask', 1)], calls: [second] })).toBe(true);
      await cut;
      expect((await storage.listCalls({ workflow_execution_id: 'r' })).map((c) => c.id)).toEqual([first.id, second.id]);
      expect((await storage.getSteps('r')).map((s) => s.status)).toEqual(['completed']);
    } finally {
      await storage.close();
      await proxy.close();
    }
  });
});

describe.runIf(process.env.TRELLIS_PG_RESTART === '1')('a server restart (npm run test:pg-restart)', () => {
  it('pg_ctlcluster restart mid-run: the worker process survives and its run completes with no step run twice', async () => {
    const schema = newSchema('restart');
    const log = join(dir, 'restart-calls.log');
    const child = spawnFixture('pg-restart-worker', [PG_URL, schema, log]);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const callsSoFar = (): string[] => {
      try {
        return readFileSync(log, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    };
    for (let i = 0; callsSoFar().length < 4; i++) {
      if (i > 600) throw new Error(`the worker made no progress: ${out} ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const version = readdirSync('/etc/postgresql')[0]!;
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { stdio: 'ignore' });
    const code = await exited;
    expect({ code, err: err.includes('Unhandled') ? err : '' }).toEqual({ code: 0, err: '' });
    expect(out).toContain('done completed');
    const nodes = callsSoFar();
    expect(nodes.length).toBe(20);
    expect(new Set(nodes).size).toBe(20);
  }, 120_000);
});
