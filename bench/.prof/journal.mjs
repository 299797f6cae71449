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
const body = JSON.stringify([["s3","s3",3,"completed",1,{"prompt":"ax+b","model":"bench:m"},{"text":"ax+b+"},null,null,null,null,null,null,null,1795660754585,1795660754586,1,[{"i":":exec_01a215b8ae99ba10e64f3cbabf035db4","st":"completed","m":"bench:m","a":1,"k":"1","Q":[0,"m","ax+b",{}],"t":1795660754585,"s":0,"c":0,"d":0,"R":["ax+b+",null,null],"U":[1,1]}]],["s4","s4",4,"running",1,null,null,null,null,null,null,null,null,null,1795660754586,null,null,null]]);
function journal(runs, dropOwner) {
  const db = fresh('/tmp/jj.sqlite');
  db.exec(`CREATE TABLE runs (id TEXT PRIMARY KEY, workflow_id TEXT, status TEXT, created_at INTEGER, owner TEXT, lease INTEGER, revision INTEGER, output TEXT, body TEXT) WITHOUT ROWID;
    CREATE INDEX runs_status ON runs (status, created_at); CREATE INDEX runs_wf ON runs (workflow_id, created_at); CREATE INDEX runs_created ON runs (created_at);
    ${dropOwner ? '' : 'CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;'}
    CREATE TABLE journal (run_id TEXT NOT NULL, n INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, n)) WITHOUT ROWID;`);
  const ins = db.prepare('INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?)');
  const cas = db.prepare('SELECT status, revision, owner FROM runs WHERE id = ?');
  const end = db.prepare("UPDATE runs SET status = 'completed', output = ?, owner = NULL, lease = NULL, revision = revision + 1 WHERE id = ?");
  const app = db.prepare('INSERT INTO journal (run_id, n, body) VALUES (?, (SELECT coalesce(max(n), 0) + 1 FROM journal WHERE run_id = ?), ?)');
  const createTx = db.transaction((id, t) => { ins.run(id, 'wf', 'running', t, 'me', t + 30000, '{"input":{"seed":"x"},"variables":{}}'); app.run(id, id, body); });
  const stepTx = db.transaction((id) => { cas.get(id); app.run(id, id, body); });
  const endTx = db.transaction((id) => { cas.get(id); end.run('{"last":"x"}', id); app.run(id, id, body); });
  let k = 0;
  const one = () => { const id = `run_${(1e12 + k++).toString(16)}`; createTx.immediate(id, Date.now()); for (let i = 0; i < 9; i++) stepTx.immediate(id); endTx.immediate(id); };
  for (let i = 0; i < 100; i++) one();
  const t = process.hrtime.bigint(); for (let i = 0; i < runs; i++) one();
  db.close(); return Number(process.hrtime.bigint() - t) / 1000 / runs / 10;
}
for (let r = 0; r < 3; r++) { const f = floor(5000); const j = journal(500, false); const j2 = journal(500, true); console.log('floor', f.toFixed(1), 'journal/step', j.toFixed(1), (j / f).toFixed(2) + 'x', 'no-owner-idx', j2.toFixed(1), (j2 / f).toFixed(2) + 'x'); }
