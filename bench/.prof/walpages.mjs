import Database from 'better-sqlite3';
const { Engine, SqliteStorage } = await import(process.env.DIST ?? '../../dist/index.js');
import { w1, w2, w3, w4, instantProvider } from '../dist/workloads.js';
import { rmSync, readFileSync, copyFileSync } from 'node:fs';
const origPragma = Database.prototype.pragma;
let rawDb;
Database.prototype.pragma = function (s, o) { if (s.startsWith('synchronous')) { rawDb = this; origPragma.call(this, 'wal_autocheckpoint = 0'); } return origPragma.call(this, s, o); };
const W = { W1: w1, W2: w2, W3: w3, W4: w4 }[process.argv[2] ?? 'W1'](0);
const path = '/tmp/wp.sqlite'; for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
const storage = new SqliteStorage({ path });
const engine = new Engine({ storage, providers: { bench: instantProvider } });
await engine.init();
const N = Number(process.argv[3] ?? 200);
for (let i = 0; i < N; i++) await engine.run(W.workflow, W.input);
origPragma.call(rawDb, 'wal_checkpoint(TRUNCATE)');
const M = Number(process.argv[4] ?? 3);
for (let i = 0; i < M; i++) await engine.run(W.workflow, W.input);
const wal = readFileSync(path + '-wal');
const names = new Map(rawDb.prepare('SELECT pageno, name, pagetype FROM dbstat').all().map((r) => [r.pageno, r.name + '/' + r.pagetype[0]]));
let off = 32; const commits = []; let cur = [];
while (off + 24 <= wal.length) { const pg = wal.readUInt32BE(off); const commit = wal.readUInt32BE(off + 4); cur.push(names.get(pg) ?? `?${pg}`); off += 24 + 4096; if (commit) { commits.push(cur); cur = []; } }
const total = {};
for (const c of commits) { for (const n of c) total[n] = (total[n] ?? 0) + 1; }
console.log('commits', commits.length, 'frames', commits.flat().length);
console.log(Object.entries(total).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join('  '));
for (const c of commits.slice(0, 24)) console.log(c.join(' '));
await engine.close();
