import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
function fresh(p) { for (const s of ['', '-wal', '-shm']) rmSync(p + s, { force: true }); const db = new Database(p); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); return db; }
function floor(n) {
  const db = fresh('/tmp/mf.sqlite');
  db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path))');
  const insert = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)');
  const tx = db.transaction((i) => insert.run('run', `s${i}`, i, 'completed', '{"text":"ax+b+b"}'));
  for (let i = 0; i < 500; i++) tx(i);
  const t = process.hrtime.bigint(); for (let i = 500; i < 500 + n; i++) tx(i);
  db.close(); return Number(process.hrtime.bigint() - t) / 1000 / n;
}
// The least a durable 10-step run can write: the floor's own insert for each step, plus a run row
// (no secondary index) inserted in the first commit and updated in an 11th.
function minimum(runs) {
  const db = fresh('/tmp/mm.sqlite');
  db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path)); CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, output TEXT) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)');
  const ins = db.prepare("INSERT INTO runs VALUES (?, 'running', NULL)");
  const end = db.prepare("UPDATE runs SET status = 'completed', output = ? WHERE id = ?");
  const first = db.transaction((id) => { ins.run(id); insert.run(id, 's1', 1, 'completed', '{"text":"ax+b+b"}'); });
  const step = db.transaction((id, i) => insert.run(id, `s${i}`, i, 'completed', '{"text":"ax+b+b"}'));
  const last = db.transaction((id) => end.run('{"last":"x"}', id));
  let k = 0;
  const one = () => { const id = `run_${(1e12 + k++).toString(16)}`; first(id); for (let i = 2; i <= 10; i++) step(id, i); last(id); };
  for (let i = 0; i < 100; i++) one();
  const t = process.hrtime.bigint(); for (let i = 0; i < runs; i++) one();
  db.close(); return Number(process.hrtime.bigint() - t) / 1000 / runs / 10;
}
for (let r = 0; r < 5; r++) { const f = floor(5000); const m = minimum(500); console.log('floor', f.toFixed(1), 'minimum/step', m.toFixed(1), (m / f).toFixed(2) + 'x'); }
