import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DatabaseCtor from 'better-sqlite3';
import { checkMigrationList, migrate, openDatabase, schemaVersion } from '../../src/store/db.js';
import { MIGRATIONS, type Migration } from '../../src/store/migrations.js';

const tmp = mkdtempSync(join(tmpdir(), 'qbg-store-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('opens a file database in a new directory with WAL, foreign keys and every migration', async (t) => {
  const path = join(tmp, 'a', 'b', 'qbg.db');
  const db = openDatabase(path);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.ok(Number(db.pragma('busy_timeout', { simple: true })) > 0);
  t.equal(schemaVersion(db), MIGRATIONS.length);
  const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
  t.same(rows, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  db.close();
  // Re-opening applies nothing twice.
  const again = openDatabase(path);
  t.equal(schemaVersion(again), MIGRATIONS.length);
  t.equal((again.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n, MIGRATIONS.length);
  again.close();
});

t.test(':memory: works', async (t) => {
  const db = openDatabase(':memory:');
  t.equal(schemaVersion(db), MIGRATIONS.length);
  db.close();
});

t.test('an appended migration is applied to an existing database, once', async (t) => {
  const path = join(tmp, 'append.db');
  openDatabase(path).close();
  const extra: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'nics_test', sql: 'CREATE TABLE nics_test (id INTEGER PRIMARY KEY)' }];
  const db = openDatabase(path, { migrations: extra });
  t.equal(schemaVersion(db), extra.length);
  db.prepare('INSERT INTO nics_test (id) VALUES (1)').run();
  db.close();
  const db2 = openDatabase(path, { migrations: extra });
  t.equal((db2.prepare('SELECT count(*) AS n FROM nics_test').get() as { n: number }).n, 1);
  db2.close();
});

t.test('a failing migration leaves nothing behind (its own transaction)', async (t) => {
  const db = new DatabaseCtor(':memory:');
  const bad: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); THIS IS NOT SQL' }];
  t.throws(() => migrate(db, bad));
  t.equal(schemaVersion(db), MIGRATIONS.length);
  t.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get() as { n: number }).n, 0);
  db.close();
});

t.test('refuses edited, renumbered or newer migration histories', async (t) => {
  t.throws(() => checkMigrationList([{ version: 2, name: 'x', sql: '' }]), { code: 'QBG_ERR_STORE' });
  t.throws(() => checkMigrationList([{ version: 1, name: 'Bad Name', sql: '' }]), { code: 'QBG_ERR_STORE' });
  const path = join(tmp, 'history.db');
  openDatabase(path).close();
  const renamed = MIGRATIONS.map((m, i) => (i === 0 ? { ...m, name: 'renamed' } : m));
  t.throws(() => openDatabase(path, { migrations: renamed }), { code: 'QBG_ERR_STORE', message: /was edited/ });
  t.throws(() => openDatabase(path, { migrations: MIGRATIONS.slice(0, 1) }), { code: 'QBG_ERR_STORE', message: /newer than this qbg/ });
});
