import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
function fresh(p) { for (const s of ['', '-wal', '-shm']) rmSync(p + s, { force: true }); const db = new Database(p); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); return db; }
function floor(n) {
  const db = fresh('/tmp/jf.sqlite');
  db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path))');
  const insert = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)');
  const tx = db.transaction((i) => insert.run('run', `s${i}`, i, 'completed', '{"text":"ax+b+b"}'));
  for (let i = 0; i < 500; i++) tx(i);
  const t = process.hrtime.bigint(); for (let i = 500; i < 500 + n; i++) tx(i);
  db.close(); return Number(process.hrtime.bigint() - t) / 1000 / n;
}
const done = '["each[12].work","work",23,"completed",1,{"prompt":"i12","model":"bench:m"},{"text":"i12+"},null,null,null,null,":exec_01a215b8ae99ba10e64f3cbabf035db4",1795660754585,1795660754586,1,null,"{\\"i\\":\\":exec_01a215b8ae99ba10e64f3cbabf035db4\\",\\"st\\":\\"completed\\",\\"m\\":\\"bench:m\\",\\"a\\":1,\\"k\\":\\"1\\",\\"Q\\":[0,\\"m\\",\\"i12\\",{}],\\"t\\":1795660754585,\\"s\\":0,\\"c\\":0,\\"d\\":0,\\"R\\":[\\"i12+\\",null,null],\\"U\\":[1,1]}\\n"]';
const bare = '["each[22].work","work",33,"running",1,null,null,null,null,null,null,null,1795660754586]';
const body = '[' + Array.from({ length: 10 }, () => done + ',' + bare).join(',') + ']';
console.log('body bytes', body.length);
function journal(commits, rowid) {
  const db = fresh('/tmp/jj.sqlite');
  db.exec(`CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, revision INTEGER, owner TEXT) WITHOUT ROWID;
    ${rowid ? 'CREATE TABLE journal (run_id TEXT NOT NULL, n INTEGER NOT NULL, body TEXT NOT NULL); CREATE UNIQUE INDEX j_run ON journal (run_id, n);'
      : 'CREATE TABLE journal (run_id TEXT NOT NULL, n INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, n)) WITHOUT ROWID;'}`);
  const cas = db.prepare('SELECT status, revision, owner FROM runs WHERE id = ?');
  const app = db.prepare('INSERT INTO journal (run_id, n, body) VALUES (?, (SELECT coalesce(max(n), 0) + 1 FROM journal WHERE run_id = ?), ?)');
  const stepTx = db.transaction((id) => { cas.get(id); app.run(id, id, body); });
  let k = 0;
  const id = () => `run_${(1e12 + Math.floor(k++ / 100)).toString(16)}`;
  for (let i = 0; i < 300; i++) stepTx.immediate(id());
  const t = process.hrtime.bigint(); for (let i = 0; i < commits; i++) stepTx.immediate(id());
  db.close(); return Number(process.hrtime.bigint() - t) / 1000 / commits / 10;
}
for (let r = 0; r < 3; r++) { const f = floor(5000); const j = journal(1000, false); const j2 = journal(1000, true); console.log('floor', f.toFixed(1), 'W3 journal/item', j.toFixed(1), (j / f).toFixed(2) + 'x', 'rowid', j2.toFixed(1), (j2 / f).toFixed(2) + 'x'); }
