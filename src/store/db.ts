// Opening qbg's embedded SQLite database and bringing its schema up to date (src/store/migrations.ts).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import DatabaseCtor from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { qbgError } from '../domain/errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type { Database };

/** Catches a mis-edited migration list (gap, duplicate, reorder) at the first open, not in the field. */
export function checkMigrationList(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw qbgError('QBG_ERR_STORE', `migration #${i} (${m.name}) has version ${m.version}, expected ${i + 1}: migrations are append-only, numbered 1, 2, 3, …`);
    }
    if (!/^[a-z0-9_]+$/.test(m.name)) throw qbgError('QBG_ERR_STORE', `migration ${m.version} name "${m.name}" must be snake_case`);
  });
}

/** Applies every migration the database has not recorded yet; refuses a database whose history differs. */
export function migrate(db: Database, list: readonly Migration[] = MIGRATIONS): number[] {
  checkMigrationList(list);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string }>;
  for (const row of applied) {
    const known = list[row.version - 1];
    if (!known) {
      throw qbgError('QBG_ERR_STORE', `database has schema version ${row.version} (${row.name}), newer than this qbg knows (${list.length}); use a newer qbg`);
    }
    if (known.name !== row.name) {
      throw qbgError('QBG_ERR_STORE', `database recorded migration ${row.version} as "${row.name}" but this qbg has "${known.name}": the migration list was edited`);
    }
  }
  const insert = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const m of list.slice(applied.length)) {
    db.transaction(() => {
      db.exec(m.sql);
      insert.run(m.version, m.name, new Date().toISOString());
    })();
    done.push(m.version);
  }
  return done;
}

/**
 * Opens (creating if needed) the database at `path` — ":memory:" for tests — with WAL, foreign keys and a busy
 * timeout, and migrates it to the current schema.
 */
export function openDatabase(path: string, opts: { migrations?: readonly Migration[] } = {}): Database {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
  let db: Database;
  try {
    db = new DatabaseCtor(path);
  } catch (e) {
    throw qbgError('QBG_ERR_STORE', `cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    db.pragma('journal_mode = WAL'); // readers (API) never block the writer (reconciler)
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL'); // safe with WAL; a crash loses at most the last transactions, never corrupts
    // page cache 2 MiB (better-sqlite3 builds SQLite with 16 MiB): with 10,000 NICs the whole file fit in it and
    // stayed resident; reads are bound by building rows in JS, not by the OS page cache behind a smaller one, and
    // polled answers are cached as bytes (src/api/seq-cache.ts). 4 MiB left qbg at 96-102 MB with 10,000 NICs.
    db.pragma('cache_size = -2048');
    migrate(db, opts.migrations ?? MIGRATIONS);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** The schema version a database is at (highest applied migration). */
export function schemaVersion(db: Database): number {
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}
