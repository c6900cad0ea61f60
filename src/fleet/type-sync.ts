// The fleet's VSI type database lives in PostgreSQL; each host keeps a copy in its SQLite so XML generation, hooks
// and associations never wait on the network. fleet_typedb.rev counts committed changes: a host whose copy is at
// another rev reloads the whole copy in one SQLite transaction (type databases are small; a reload is a few ms
// and cannot drift the way replayed deltas could). Woken by NOTIFY qbg_types, and by a periodic catch-up for
// notifications missed while the session was down.
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import type { TypeTables } from '../store/type-repo.js';
import type { TypeService } from '../vtdb/type-service.js';
import { readFleetState, writeFleetState } from './fleet-state.js';
import { inTransaction } from './pool.js';

export const TYPES_CHANNEL = 'qbg_types';

export interface TypeSyncLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export class FleetTypeSync {
  private running?: Promise<boolean>;
  private again = false;
  /** Local types were copied into an empty fleet at start (this host seeded the fleet's type database). */
  seeded = false;
  lastSyncAt?: string;

  constructor(private readonly o: { pool: pg.Pool; db: Database; types: TypeService; log?: TypeSyncLogger }) {}

  /** The fleet revision the local copy holds (-1: never loaded). */
  localRev(): number {
    return Number(readFleetState(this.o.db, 'types_rev') ?? -1);
  }

  /** Brings the local copy to PostgreSQL's revision; true when it changed. Calls during a sync share one more run. */
  syncNow(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      let changed = false;
      do {
        this.again = false;
        changed = (await this.syncOnce()) || changed;
      } while (this.again);
      return changed;
    })();
    this.running = run;
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  private async syncOnce(): Promise<boolean> {
    const head = (await this.o.pool.query<{ rev: string }>('SELECT rev FROM fleet_typedb')).rows[0];
    if (Number(head.rev) === this.localRev()) {
      this.lastSyncAt = new Date().toISOString();
      return false;
    }
    // one snapshot of the rows and the rev they belong to
    const { rev, tables } = await inTransaction(this.o.pool, (c) => readTables(c), 'REPEATABLE READ');
    this.o.db.transaction(() => {
      this.o.types.repo.replaceAll(tables);
      writeFleetState(this.o.db, 'types_rev', String(rev));
    })();
    this.lastSyncAt = new Date().toISOString();
    this.o.log?.info({ rev, types: tables.types.length }, 'fleet: VSI types updated from the fleet');
    return true;
  }

  /**
   * At start: a fleet whose type database was never written takes this host's types (the first host brings the
   * types it had); otherwise this host's copy is replaced by the fleet's.
   */
  async seedOrLoad(): Promise<void> {
    const local = this.o.types.repo.tables();
    if (local.types.length > 0) {
      this.seeded = await inTransaction(this.o.pool, async (c) => {
        const rev = Number((await c.query<{ rev: string }>('SELECT rev FROM fleet_typedb FOR UPDATE')).rows[0].rev);
        const n = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM fleet_vsi_types')).rows[0].n);
        if (rev !== 0 || n !== 0) return false;
        await writeTables(c, local);
        await c.query('UPDATE fleet_typedb SET rev = 1');
        await c.query('SELECT pg_notify($1, $2)', [TYPES_CHANNEL, '1']);
        return true;
      });
      if (this.seeded) this.o.log?.info({ types: local.types.length }, 'fleet: the fleet had no VSI types; seeded it with this host\'s');
    }
    await this.syncNow();
  }
}

async function readTables(c: pg.ClientBase): Promise<{ rev: number; tables: TypeTables }> {
  const rev = Number((await c.query<{ rev: string }>('SELECT rev FROM fleet_typedb')).rows[0].rev);
  const types = (
    await c.query<{ name: string; type_id: number; current_version: number; created_at: string; updated_at: string }>(
      'SELECT * FROM fleet_vsi_types ORDER BY name',
    )
  ).rows.map((r) => ({ name: r.name, typeId: r.type_id, currentVersion: r.current_version, createdAt: r.created_at, updatedAt: r.updated_at }));
  const versions = (
    await c.query<{ id: string; name: string; type_id_version: number; manager_id2: string; type_id: number; spec: string; created_at: string }>(
      'SELECT * FROM fleet_vsi_type_versions ORDER BY id',
    )
  ).rows.map((r) => ({
    id: Number(r.id),
    name: r.name,
    typeIdVersion: r.type_id_version,
    managerId2: r.manager_id2,
    typeId: r.type_id,
    spec: r.spec,
    createdAt: r.created_at,
  }));
  return { rev, tables: { types, versions } };
}

async function writeTables(c: pg.ClientBase, t: TypeTables): Promise<void> {
  for (const r of t.types) {
    await c.query('INSERT INTO fleet_vsi_types (name, type_id, current_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)', [
      r.name,
      r.typeId,
      r.currentVersion,
      r.createdAt,
      r.updatedAt,
    ]);
  }
  for (const v of t.versions) {
    await c.query('INSERT INTO fleet_vsi_type_versions (name, type_id_version, manager_id2, type_id, spec, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      v.name,
      v.typeIdVersion,
      v.managerId2,
      v.typeId,
      v.spec,
      v.createdAt,
    ]);
  }
}
