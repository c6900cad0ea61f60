// WAL checkpoints run in a worker thread (src/store/checkpointer.ts): the main connection's own automatic checkpoint
// is only a backstop, the worker copies the WAL into the database, and a worker that cannot run gives SQLite's
// automatic checkpoint back.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKSTOP_PAGES, startCheckpointer } from '../../src/store/checkpointer.js';
import { openDatabase } from '../../src/store/db.js';
import { until } from '../helpers/until.js';

t.test('the worker checkpoints what the main connection writes; SQLite\'s own checkpoint waits for a much larger WAL', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'qbg-ckpt-')), 'qbg.db');
  const db = openDatabase(path);
  t.teardown(() => db.close());
  const ckpt = startCheckpointer(db, path, { everyMs: 20 });
  t.teardown(() => ckpt.close());
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), BACKSTOP_PAGES, 'the main connection checkpoints only past the backstop');
  db.exec('CREATE TABLE t (x TEXT)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  for (let i = 0; i < 300; i++) insert.run('x'.repeat(2000)); // 300 commits, ~300+ WAL frames
  const s = await until('a checkpoint that copied the whole WAL', async () => {
    const st = ckpt.stats();
    return st.walFrames > 0 && st.checkpointed === st.walFrames ? st : undefined;
  }, 10_000, 20);
  t.ok(s.walFrames >= 300, `the worker copied ${s.checkpointed} of ${s.walFrames} WAL frames`);
  t.equal(s.lastError, undefined);
  await ckpt.close();
  t.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 300, 'the main connection works on after the worker stopped');
});

t.test('a worker that cannot open the database reports why and hands checkpoints back to SQLite', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'qbg-ckpt-')), 'qbg.db');
  const db = openDatabase(path);
  t.teardown(() => db.close());
  const ckpt = startCheckpointer(db, join(path, 'no-such-file.db'), { everyMs: 20 });
  t.teardown(() => ckpt.close());
  const s = await until('the worker failed', async () => ckpt.stats().lastError, 10_000, 20);
  t.match(s, /unable to open|directory does not exist|not a directory/i);
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, "SQLite's automatic checkpoint is back");
});
