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

/** Canonical stored form: key order fixed, so equal specs store byte-identical JSON. */
function specJson(s: VsiTypeSpec): string {
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
      // rows this connection changed (rolled-back ones too) and a counter of commits by other connections; two
      // statements: the pragma as a table-valued function in one SELECT costs ten times as much
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
  }

  /** Runs fn in one transaction (nested calls become savepoints): nothing half-written on error. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Changes whenever anything in the database may have changed since the last call: a write by this connection
   * (through any repo, committed or rolled back) or a commit by another process (the CLI writing the same file).
   */
  changeStamp(): string {
    return `${this.st.totalChanges.get() as number}/${this.st.dataVersion.get() as number}`;
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

  insertType(spec: VsiTypeSpec, at: string): void {
    this.transaction(() => {
      this.st.insertType.run(spec.name, spec.typeId, spec.typeIdVersion, at, at);
      this.st.insertVersion.run(spec.name, spec.typeIdVersion, spec.managerId2, spec.typeId, specJson(spec), at);
    });
  }

  /** Adds a version and makes it current. */
  insertVersion(spec: VsiTypeSpec, at: string): void {
    this.transaction(() => {
      this.st.insertVersion.run(spec.name, spec.typeIdVersion, spec.managerId2, spec.typeId, specJson(spec), at);
      this.st.setCurrent.run(spec.typeIdVersion, at, spec.name);
    });
  }

  /** Removes the type and all its versions; returns how many versions were removed. */
  deleteType(name: string): number {
    return this.transaction(() => {
      const { n } = this.st.countVersions.get(name) as { n: number };
      this.st.deleteType.run(name);
      return n;
    });
  }
}
