import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
function run(label, setup, body, n = 20000) {
  const p = '/tmp/fr.sqlite'; for (const s of ['', '-wal', '-shm']) rmSync(p + s, { force: true });
  const db = new Database(p); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
  setup(db);
  const f = body(db);
  const tx = db.transaction(f);
  for (let i = 0; i < 500; i++) tx.immediate(i);
  const t = process.hrtime.bigint();
  for (let i = 500; i < 500 + n; i++) tx.immediate(i);
  const us = Number(process.hrtime.bigint() - t) / 1000 / n;
  const wal = db.pragma('wal_checkpoint(PASSIVE)');
  console.log(label.padEnd(40), us.toFixed(2), 'µs');
  db.close();
}
run('floor (rowid + pk index)', (db) => db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path))'),
  (db) => { const s = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)'); return (i) => s.run('run', `s${i}`, i, 'completed', '{"text":"ax+b+b"}'); });
run('without rowid 1 insert', (db) => db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path)) WITHOUT ROWID'),
  (db) => { const s = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)'); return (i) => s.run('run', `s${i}`, i, 'completed', '{"text":"ax+b+b"}'); });
run('empty write tx (1 update same row)', (db) => { db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v)'); db.exec('INSERT INTO t VALUES (1, 0)'); },
  (db) => { const s = db.prepare('UPDATE t SET v = ? WHERE k = 1'); return (i) => s.run(i); });
run('2 pages (two tables)', (db) => { db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v)'); db.exec('CREATE TABLE u (k INTEGER PRIMARY KEY, v)'); db.exec('INSERT INTO t VALUES (1, 0)'); db.exec('INSERT INTO u VALUES (1, 0)'); },
  (db) => { const s = db.prepare('UPDATE t SET v = ? WHERE k = 1'); const u = db.prepare('UPDATE u SET v = ? WHERE k = 1'); return (i) => { s.run(i); u.run(i); }; });
run('3 pages', (db) => { for (const n of ['t','u','w']) { db.exec(`CREATE TABLE ${n} (k INTEGER PRIMARY KEY, v)`); db.exec(`INSERT INTO ${n} VALUES (1, 0)`); } },
  (db) => { const ss = ['t','u','w'].map((n) => db.prepare(`UPDATE ${n} SET v = ? WHERE k = 1`)); return (i) => { for (const s of ss) s.run(i); }; });
run('select only tx', (db) => { db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v)'); db.exec('INSERT INTO t VALUES (1, 0)'); },
  (db) => { const s = db.prepare('SELECT v FROM t WHERE k = 1'); return (i) => s.get(); });
