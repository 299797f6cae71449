const { Engine, SqliteStorage, MemoryStorage } = await import(process.env.DIST ?? '../../dist/index.js');
import { w1, w2, w3, w4, instantProvider } from '../dist/workloads.js';
import { rmSync } from 'node:fs';
const W = { W1: w1, W2: w2, W3: w3, W4: w4 }[process.argv[2] ?? 'W1'](0);
const path = `/tmp/w1-${process.pid}.sqlite`;
const storage = process.env.MODE === 'memory' ? new MemoryStorage() : new SqliteStorage({ path });
const engine = new Engine({ storage, providers: { bench: instantProvider } });
await engine.init();
const N = Number(process.argv[3] ?? 1000);
const t0 = performance.now(); while (performance.now() - t0 < 500) { const r = await engine.run(W.workflow, W.input); if (process.env.MODE === 'memory') await storage.deleteRun(r.id); }
const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) await engine.run(W.workflow, W.input);
console.log(W.name, process.env.MODE ?? 'sqlite', (Number(process.hrtime.bigint() - t) / 1000 / N / W.unitsPerRun).toFixed(2), 'µs/unit');
await engine.close();
for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
