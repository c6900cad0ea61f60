// SQL for the VSI type database (tables from migration 1). No rules here — src/vtdb/type-service.ts decides what
// may be written; this file only reads and writes rows, always as canonical VsiTypeSpec JSON plus the indexed ids.
import type { Database, Statement } from 'better-sqlite3';
import type { VsiTypeSpec, VsiTypeVersion } from '../domain/vsi-type.js';

export interface StoredType {
  name: string;
  typeId: number;
  currentVersion: number;
  createdAt: string;
  updatedAt: string;
}

interface VersionRow {
  spec: string;
  created_at: string;
}

interface TypeRow {
  name: string;
  type_id: number;
  current_version: number;
  created_at: string;
  updated_at: string;
}

const toVersion = (r: VersionRow): VsiTypeVersion => ({ ...(JSON.parse(r.spec) as VsiTypeSpec), createdAt: r.created_at });
const toType = (r: TypeRow): StoredType => ({
  name: r.name,
  typeId: r.type_id,
  currentVersion: r.current_version,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** A write the type service made, as recorded by dryRun (the fleet replays it on PostgreSQL). */
export type TypeWrite =
  | { op: 'insert-type'; spec: VsiTypeSpec; specJson: string; at: string }
  /** expectedCurrent: the version that was current when the change was decided (optimistic concurrency). */
  | { op: 'insert-version'; spec: VsiTypeSpec; specJson: string; at: string; expectedCurrent: number }
  | { op: 'delete-type'; name: string; expectedCurrent: number };

/** Every row of the type tables, in a form both stores share (the fleet's copy in and out of SQLite). */
export interface TypeTables {
  types: Array<{ name: string; typeId: number; currentVersion: number; createdAt: string; updatedAt: string }>;
  versions: Array<{ id: number; name: string; typeIdVersion: number; managerId2: string; typeId: number; spec: string; createdAt: string }>;
}

const ROLLBACK = Symbol('dry run');

/** Canonical stored form: key order fixed, so equal specs store byte-identical JSON. */
export function specJson(s: VsiTypeSpec): string {
  const o: Record<string, unknown> = {
    name: s.name,
    description: s.description,
    managerId: s.managerId,
    managerId2: s.managerId2,
    typeId: s.typeId,
    typeIdVersion: s.typeIdVersion,
    filterFormat: s.filterFormat,
    allowedVlans: s.allowedVlans.map((r) => ({ from: r.from, to: r.to })),
    groupId: s.groupId,
  };
  return JSON.stringify(o);
}

export class TypeRepo {
  private readonly st: Record<string, Statement>;
  /** Set during dryRun: the writes made so far. */
  private recording?: TypeWrite[];

  constructor(readonly db: Database) {
    this.st = {
      type: db.prepare('SELECT * FROM vsi_types WHERE name = ?'),
      types: db.prepare('SELECT * FROM vsi_types ORDER BY name'),
      version: db.prepare('SELECT spec, created_at FROM vsi_type_versions WHERE name = ? AND type_id_version = ?'),
      versions: db.prepare('SELECT spec, created_at FROM vsi_type_versions WHERE name = ? ORDER BY id'),
      current: db.prepare(`SELECT v.spec, v.created_at FROM vsi_types t
        JOIN vsi_type_versions v ON v.name = t.name AND v.type_id_version = t.current_version WHERE t.name = ?`),
      allCurrent: db.prepare(`SELECT v.spec, v.created_at FROM vsi_types t
        JOIN vsi_type_versions v ON v.name = t.name AND v.type_id_version = t.current_version ORDER BY t.name`),
      byTriple: db.prepare('SELECT name FROM vsi_type_versions WHERE manager_id2 = ? AND type_id = ? AND type_id_version = ?'),
      insertType: db.prepare(
        'INSERT INTO vsi_types (name, type_id, current_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      ),
      insertVersion: db.prepare(
        'INSERT INTO vsi_type_versions (name, type_id_version, manager_id2, type_id, spec, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      setCurrent: db.prepare('UPDATE vsi_types SET current_version = ?, updated_at = ? WHERE name = ?'),
      countVersions: db.prepare('SELECT count(*) AS n FROM vsi_type_versions WHERE name = ?'),
      deleteType: db.prepare('DELETE FROM vsi_types WHERE name = ?'),
      // bumped by triggers with every write to the type tables (migration 11), by whoever writes
      typeChanges: db.prepare('SELECT seq FROM vsi_type_changes').pluck(),
    };
  }

  /** Runs fn in one transaction (nested calls become savepoints): nothing half-written on error. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Changes whenever the type tables may have changed since the last call: a write by this connection (any repo,
   * plain SQL) or a commit by another process (the CLI writing the same file). A rolled-back write takes it back
   * together with the rows, so what was read before stays right. NIC writes leave it alone.
   */
  changeStamp(): number {
    return this.st.typeChanges.get() as number;
  }

  /** Inside a transaction reads may see rows a rollback will take back: nothing read there may be cached. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  getType(name: string): StoredType | undefined {
    const r = this.st.type.get(name) as TypeRow | undefined;
    return r && toType(r);
  }

  listTypes(): StoredType[] {
    return (this.st.types.all() as TypeRow[]).map(toType);
  }

  current(name: string): VsiTypeVersion | undefined {
    const r = this.st.current.get(name) as VersionRow | undefined;
    return r && toVersion(r);
  }

  listCurrent(): VsiTypeVersion[] {
    return (this.st.allCurrent.all() as VersionRow[]).map(toVersion);
  }

  version(name: string, typeIdVersion: number): VsiTypeVersion | undefined {
    const r = this.st.version.get(name, typeIdVersion) as VersionRow | undefined;
    return r && toVersion(r);
  }

  /** All versions in the order they were made (the last one is current unless a later import said otherwise). */
  versions(name: string): VsiTypeVersion[] {
    return (this.st.versions.all(name) as VersionRow[]).map(toVersion);
  }

  /** Which type already announces (managerId2, typeId, typeIdVersion) to the bridge, if any. */
  typeUsing(managerId2: string, typeId: number, typeIdVersion: number): string | undefined {
    const r = this.st.byTriple.get(managerId2, typeId, typeIdVersion) as { name: string } | undefined;
    return r?.name;
  }

  /**
   * Runs fn (service rules and all) in a transaction that is always rolled back, and returns its result with the
   * writes it made: the fleet applies them to PostgreSQL first and only then to this copy.
   */
  dryRun<T>(fn: () => T): { result: T; writes: TypeWrite[] } {
    const writes: TypeWrite[] = [];
    let result: T | undefined;
    this.recording = writes;
    try {
      this.db.transaction(() => {
        result = fn();
        throw ROLLBACK;
      })();
    } catch (e) {
      if (e !== ROLLBACK) throw e;
    } finally {
      this.recording = undefined;
    }
    return { result: result as T, writes };
  }

  /** Every row, for copying this database into another store. */
  tables(): TypeTables {
    return {
      types: this.listTypes(),
      versions: (this.db.prepare('SELECT * FROM vsi_type_versions ORDER BY id').all() as Array<Record<string, unknown>>).map((r) => ({
        id: r.id as number,
        name: r.name as string,
        typeIdVersion: r.type_id_version as number,
        managerId2: r.manager_id2 as string,
        typeId: r.type_id as number,
        spec: r.spec as string,
        createdAt: r.created_at as string,
      })),
    };
  }

  /** Replaces every type with the given rows in one transaction (the fleet's copy catching up). */
  replaceAll(t: TypeTables): void {
    this.transaction(() => {
      this.db.prepare('DELETE FROM vsi_type_versions').run();
      this.db.prepare('DELETE FROM vsi_types').run();
      for (const r of t.types) this.st.insertType.run(r.name, r.typeId, r.currentVersion, r.createdAt, r.updatedAt);
      const ins = this.db.prepare(
        'INSERT INTO vsi_type_versions (id, name, type_id_version, manager_id2, type_id, spec, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (const v of t.versions) ins.run(v.id, v.name, v.typeIdVersion, v.managerId2, v.typeId, v.spec, v.createdAt);
    });
  }

  insertType(spec: VsiTypeSpec, at: string): void {
    this.recording?.push({ op: 'insert-type', spec, specJson: specJson(spec), at });
    this.transaction(() => {
      this.st.insertType.run(spec.name, spec.typeId, spec.typeIdVersion, at, at);
      this.st.insertVersion.run(spec.name, spec.typeIdVersion, spec.managerId2, spec.typeId, specJson(spec), at);
    });
  }

  /** Adds a version and makes it current. */
  insertVersion(spec: VsiTypeSpec, at: string): void {
    if (this.recording) {
      const expectedCurrent = this.getType(spec.name)?.currentVersion ?? -1;
      this.recording.push({ op: 'insert-version', spec, specJson: specJson(spec), at, expectedCurrent });
    }
    this.transaction(() => {
      this.st.insertVersion.run(spec.name, spec.typeIdVersion, spec.managerId2, spec.typeId, specJson(spec), at);
      this.st.setCurrent.run(spec.typeIdVersion, at, spec.name);
    });
  }

  /** Removes the type and all its versions; returns how many versions were removed. */
  deleteType(name: string): number {
    if (this.recording) this.recording.push({ op: 'delete-type', name, expectedCurrent: this.getType(name)?.currentVersion ?? -1 });
    return this.transaction(() => {
      const { n } = this.st.countVersions.get(name) as { n: number };
      this.st.deleteType.run(name);
      return n;
    });
  }
}
