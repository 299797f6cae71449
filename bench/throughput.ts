/**
 * `npm run bench:throughput`: the W5 row alone. 2,000 runs of the W1 chain, 200 in flight, in one
 * process, on memory, SQLite and PostgreSQL (each in a fresh process), with the ratio of each
 * durable storage to memory. Options: --runs=N, --in-flight=N, --modes=memory,sqlite,postgres,
 * --answer=next-turn (the provider answers on the next turn of the event loop, as a network answer
 * would, instead of after a microtask), --json. Runs against the built package (dist/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStorage, SqliteStorage, PostgresStorage, type Storage } from '@trellis-ai/trellis';
import { concurrentThroughput, type ThroughputFigures } from './concurrent.js';

type Mode = 'memory' | 'sqlite' | 'postgres';
const args = process.argv.slice(2);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(option('runs') ?? 2000);
const inFlight = Number(option('in-flight') ?? 200);
const answer = option('answer') === 'next-turn' ? 'next-turn' : 'instant';
const modes = (option('modes') ?? 'memory,sqlite,postgres').split(',') as Mode[];
const PG_URL = process.env.TRELLIS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function inThisProcess(mode: Mode): Promise<ThroughputFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-w5-'));
  const schema = `bench_w5_${process.pid}`;
  const storage: Storage =
    mode === 'memory' ? new MemoryStorage() : mode === 'sqlite' ? new SqliteStorage({ path: join(dir, 'w5.sqlite') }) : new PostgresStorage({ connectionString: PG_URL, schema });
  try {
    return await concurrentThroughput(storage, runs, inFlight, answer);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (mode === 'postgres') {
      const pg = await import('pg');
      const client = new pg.default.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

const one = option('one') as Mode | undefined;
if (one !== undefined) {
  console.log(JSON.stringify(await inThisProcess(one)));
  process.exit(0);
}

const results = new Map<Mode, ThroughputFigures>();
if (!args.includes('--json')) console.error(`W5 concurrent throughput: ${runs} runs of W1 (10 steps), ${inFlight} in flight, one process, provider answering ${answer === 'instant' ? 'after a microtask' : 'on the next turn'}\n`);
for (const mode of modes) {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=${mode}`, `--runs=${runs}`, `--in-flight=${inFlight}`, `--answer=${answer}`], { encoding: 'utf8' });
  const figures = JSON.parse(out.trim().split('\n').at(-1)!) as ThroughputFigures;
  results.set(mode, figures);
  const memory = results.get('memory');
  const ratio = memory && mode !== 'memory' ? figures.per_step_us / memory.per_step_us : undefined;
  if (args.includes('--json')) console.log(JSON.stringify({ workload: 'W5', mode, ...figures, ...(ratio === undefined ? {} : { ratio_to_memory: ratio }) }));
  else console.error(`  W5 ${mode.padEnd(9)} ${Math.round(figures.steps_per_s).toString().padStart(8)} steps/s  ${figures.per_step_us.toFixed(2).padStart(8)} µs/step${ratio === undefined ? '' : `  (${ratio.toFixed(2)}× memory)`}   cpu ${figures.cpu_per_step_us.toFixed(2)} µs/step`);
}
