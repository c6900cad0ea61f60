// The rules of the VSI type database: a type keeps its name and typeId; every change of parameters is a new
// version (typeIdVersion 0–255) and old versions stay readable; (managerId2, typeId, typeIdVersion) — what the
// bridge sees — belongs to one type only. Every operation runs in one transaction: nothing half-written on error.
import type { Database } from 'better-sqlite3';
import { fieldError, isQbgError, QbgError, qbgError } from '../domain/errors.js';
import { TYPE_ID_VERSION_MAX } from '../domain/identifiers.js';
import {
  GROUP_FILTER_FORMATS,
  parseVsiTypeSpec,
  sameParameters,
  SPEC_FIELDS,
  specToProfile,
  type FilterFormat,
  type VsiTypeLookup,
  type VsiTypeSpec,
  type VsiTypeVersion,
} from '../domain/vsi-type.js';
import { TypeRepo } from '../store/type-repo.js';
import { TypeReadCache } from './type-read-cache.js';

/**
 * How many NICs use a VSI type (any version); 0/false = free to delete. Provided by the NIC/association
 * module, which knows its own tables.
 */
export type TypeUsageCheck = (name: string) => number | boolean;

export interface TypeServiceOptions {
  isInUse?: TypeUsageCheck;
  now?: () => Date;
}

export interface EditResult {
  changed: boolean;
  message: string;
  type: VsiTypeVersion;
}

export type ImportAction = 'created' | 'new-version' | 'unchanged';

/** One VSI type to import, with where it came from so errors can point there. */
export interface ImportItem {
  /** e.g. "profiles/web.yaml" or "remote lab-db" */
  source: string;
  spec: VsiTypeSpec;
  /** Line of a field in the source, when known (profile files). */
  lineOf?: (field: string) => number | undefined;
}

export interface ImportOutcome {
  source: string;
  name: string;
  typeIdVersion: number;
  action: ImportAction;
}

export interface TypeChangeOptions {
  /** The typeIdVersion the caller read before deciding this change: another current version → 409 (nothing lost). */
  baseVersion?: number;
}

/**
 * Where type changes go: this database (localTypeWriter), or the fleet's PostgreSQL first and then this copy
 * (src/fleet/type-writer.ts). Reads always come from the local TypeService.
 */
export interface TypeWriter {
  create(input: unknown): Promise<VsiTypeVersion>;
  edit(name: string, changes: unknown, opts?: TypeChangeOptions): Promise<EditResult>;
  delete(name: string, opts?: TypeChangeOptions): Promise<{ name: string; versions: number }>;
  importSpecs(items: readonly ImportItem[]): Promise<ImportOutcome[]>;
}

export function localTypeWriter(types: TypeService): TypeWriter {
  return {
    create: async (input) => types.create(input),
    edit: async (name, changes, opts) => types.edit(name, changes, opts),
    delete: async (name, opts) => types.delete(name, opts),
    importSpecs: async (items) => types.importSpecs(items),
  };
}

export interface TypeSummary {
  current: VsiTypeVersion;
  /** typeIdVersions in the order they were made; the last is current. */
  versions: number[];
}

export class TypeService implements VsiTypeLookup {
  readonly repo: TypeRepo;
  private isInUse: TypeUsageCheck;
  private readonly now: () => Date;
  private readonly cache: TypeReadCache;

  constructor(db: Database | TypeRepo, opts: TypeServiceOptions = {}) {
    this.repo = db instanceof TypeRepo ? db : new TypeRepo(db);
    this.cache = new TypeReadCache(this.repo);
    this.isInUse = opts.isInUse ?? (() => 0);
    this.now = opts.now ?? (() => new Date());
  }

  /** Late wiring: the NIC module is built after the type service in `qbg serve`. */
  setUsageCheck(check: TypeUsageCheck): void {
    this.isInUse = check;
  }

  // --- reads ---

  /** VsiTypeLookup: the current version, or the pinned typeIdVersion. */
  get(name: string, typeIdVersion?: number): VsiTypeVersion | undefined {
    return this.cache.get(name, typeIdVersion, () =>
      typeIdVersion === undefined ? this.repo.current(name) : this.repo.version(name, typeIdVersion),
    );
  }

  /** Like get, but a missing type or version is a 404 naming it. */
  require(name: string, typeIdVersion?: number): VsiTypeVersion {
    const t = this.get(name, typeIdVersion);
    if (t) return t;
    if (typeIdVersion !== undefined && this.repo.getType(name)) {
      throw qbgError('QBG_ERR_TYPE_VERSION_NOT_FOUND', name, typeIdVersion);
    }
    throw fieldError('name', 'QBG_ERR_TYPE_NOT_FOUND', name);
  }

  /** Current versions of all types, by name. */
  list(): VsiTypeVersion[] {
    return this.repo.listCurrent();
  }

  summary(name: string): TypeSummary {
    return this.repo.transaction(() => {
      const current = this.require(name);
      return { current, versions: this.repo.versions(name).map((v) => v.typeIdVersion) };
    });
  }

  /** Every version in the order made (404 when the type does not exist). */
  versions(name: string): VsiTypeVersion[] {
    const all = this.repo.versions(name);
    if (all.length === 0) throw fieldError('name', 'QBG_ERR_TYPE_NOT_FOUND', name);
    return all;
  }

  // --- writes ---

  /** Creates a type from a full declaration (API body, CLI flags, a profile file's content). */
  create(input: unknown): VsiTypeVersion {
    const spec = parseVsiTypeSpec(input);
    return this.repo.transaction(() => {
      if (this.repo.getType(spec.name)) throw fieldError('name', 'QBG_ERR_TYPE_EXISTS', spec.name);
      this.checkTripleFree(spec);
      this.repo.insertType(spec, this.now().toISOString());
      return this.repo.current(spec.name)!;
    });
  }

  /**
   * Edits a type: fields given replace the current version's (null removes an optional one: groupId,
   * description, allowedVlans); fields not given keep their value. Changed parameters make a new version —
   * typeIdVersion as given, else the next free one after the current; unchanged parameters change nothing.
   */
  edit(name: string, changes: unknown, opts: TypeChangeOptions = {}): EditResult {
    if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
      throw qbgError('QBG_ERR_BAD_REQUEST', 'an edit must be an object with the fields to change');
    }
    const ch = changes as Record<string, unknown>;
    for (const key of Object.keys(ch)) {
      if (!(SPEC_FIELDS as readonly string[]).includes(key)) throw fieldError(key, 'QBG_ERR_UNKNOWN_FIELD', key, SPEC_FIELDS.join(', '));
    }
    return this.repo.transaction(() => {
      const current = this.require(name);
      checkBase(name, current.typeIdVersion, opts.baseVersion);
      if (ch.name !== undefined && ch.name !== name) {
        throw fieldError('name', 'QBG_ERR_BAD_REQUEST', `a VSI type cannot be renamed (${name} → ${String(ch.name)}): create a new type instead`);
      }
      const merged: Record<string, unknown> = { ...specToProfile(current) };
      // managerId and managerId2 are one value in two forms: a new one of either replaces both.
      if (ch.managerId !== undefined || ch.managerId2 !== undefined) {
        delete merged.managerId;
        delete merged.managerId2;
      }
      if (ch.filterFormat !== undefined && !GROUP_FILTER_FORMATS.includes(ch.filterFormat as FilterFormat) && ch.groupId === undefined) {
        delete merged.groupId;
      }
      for (const [k, v] of Object.entries(ch)) {
        if (v === null) delete merged[k];
        else if (v !== undefined) merged[k] = v;
      }
      const explicitVersion = ch.typeIdVersion !== undefined && ch.typeIdVersion !== null;
      if (!explicitVersion) merged.typeIdVersion = current.typeIdVersion;
      const proposed = parseVsiTypeSpec(merged);
      if (proposed.typeId !== current.typeId) {
        throw fieldError(
          'typeId',
          'QBG_ERR_BAD_REQUEST',
          `typeId of VSI type ${name} is ${current.typeId} and stays so across versions; create a new type for typeId ${proposed.typeId}`,
        );
      }
      if (sameParameters(proposed, current)) {
        return { changed: false, message: `VSI type ${name} unchanged: version ${current.typeIdVersion} already has these parameters`, type: current };
      }
      if (!explicitVersion) proposed.typeIdVersion = this.nextFreeVersion(name, current.typeIdVersion);
      this.addVersion(proposed);
      return {
        changed: true,
        message: `VSI type ${name}: new version ${proposed.typeIdVersion} (was ${current.typeIdVersion})`,
        type: this.repo.current(name)!,
      };
    });
  }

  /** Deletes a type with all its versions, unless NICs use it. */
  delete(name: string, opts: TypeChangeOptions = {}): { name: string; versions: number } {
    return this.repo.transaction(() => {
      checkBase(name, this.require(name).typeIdVersion, opts.baseVersion);
      const used = this.isInUse(name);
      if (used === true || (typeof used === 'number' && used > 0)) {
        throw fieldError('name', 'QBG_ERR_TYPE_IN_USE', name, used === true ? 'some' : used);
      }
      try {
        return { name, versions: this.repo.deleteType(name) };
      } catch (e) {
        // A table made later (NICs) may reference vsi_types with a foreign key: same meaning as isInUse.
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw fieldError('name', 'QBG_ERR_TYPE_IN_USE', name, 'some');
        throw e;
      }
    });
  }

  /**
   * Imports specs in order, all in ONE transaction: a type not known is created; a typeIdVersion not known
   * becomes the new current version; a known typeIdVersion with the same parameters is left alone; with other
   * parameters it is refused. Any error rolls the whole batch back and names the source (file:line).
   */
  importSpecs(items: readonly ImportItem[]): ImportOutcome[] {
    return this.repo.transaction(() =>
      items.map((item) => {
        try {
          return { source: item.source, name: item.spec.name, typeIdVersion: item.spec.typeIdVersion, action: this.importOne(item.spec) };
        } catch (e) {
          if (!isQbgError(e)) throw e;
          const line = e.field !== undefined ? item.lineOf?.(e.field) : undefined;
          const where = line === undefined ? item.source : `${item.source}:${line}`;
          throw new QbgError(e.code, `${where}: ${e.message}`, { field: e.field, details: { file: item.source, ...(line ? { line } : {}) } });
        }
      }),
    );
  }

  private importOne(spec: VsiTypeSpec): ImportAction {
    const t = this.repo.getType(spec.name);
    if (!t) {
      this.checkTripleFree(spec);
      this.repo.insertType(spec, this.now().toISOString());
      return 'created';
    }
    if (spec.typeId !== t.typeId) {
      throw fieldError('typeId', 'QBG_ERR_BAD_REQUEST', `typeId of VSI type ${spec.name} is ${t.typeId} and stays so across versions, got ${spec.typeId}`);
    }
    const existing = this.repo.version(spec.name, spec.typeIdVersion);
    if (existing) {
      if (sameParameters(existing, spec)) return 'unchanged';
      throw fieldError('typeIdVersion', 'QBG_ERR_TYPE_VERSION_EXISTS', spec.name, spec.typeIdVersion, ' with other parameters');
    }
    this.addVersion(spec);
    return 'new-version';
  }

  private addVersion(spec: VsiTypeSpec): void {
    if (this.repo.version(spec.name, spec.typeIdVersion)) {
      throw fieldError('typeIdVersion', 'QBG_ERR_TYPE_VERSION_EXISTS', spec.name, spec.typeIdVersion, ': old versions stay as they were, give a new typeIdVersion');
    }
    this.checkTripleFree(spec);
    this.repo.insertVersion(spec, this.now().toISOString());
  }

  private checkTripleFree(spec: VsiTypeSpec): void {
    const other = this.repo.typeUsing(spec.managerId2, spec.typeId, spec.typeIdVersion);
    if (other !== undefined && other !== spec.name) {
      const manager = spec.managerId !== undefined ? String(spec.managerId) : spec.managerId2;
      throw fieldError('typeId', 'QBG_ERR_TYPE_ID_TAKEN', spec.typeId, spec.typeIdVersion, manager, other);
    }
  }

  private nextFreeVersion(name: string, after: number): number {
    for (let v = after + 1; v <= TYPE_ID_VERSION_MAX; v++) if (!this.repo.version(name, v)) return v;
    throw fieldError(
      'typeIdVersion',
      'QBG_ERR_BAD_REQUEST',
      `VSI type ${name} has no free typeIdVersion above ${after} (0–${TYPE_ID_VERSION_MAX}): give a free typeIdVersion explicitly`,
    );
  }
}

/** Optimistic concurrency: a change decided on an older version than the current one is refused, naming both. */
function checkBase(name: string, current: number, base: number | undefined): void {
  if (base !== undefined && base !== current) throw fieldError('baseVersion', 'QBG_ERR_TYPE_RACED', name, current, base);
}
