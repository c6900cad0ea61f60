// VSI type changes in a fleet: decided by the same rules as on a lone host (TypeService, run as a dry run on the
// local copy), then written to PostgreSQL in ONE transaction, and only then to the local copy (by catching up).
// Every write says which version it was decided on; PostgreSQL applies it only if that is still the current one
// (UPDATE … WHERE current_version = expected), so of two admins changing one type at once on two hosts the second
// gets 409 naming the version it raced — no edit is lost. An import is one transaction there too: all or nothing.
import type pg from 'pg';
import { isQbgError, qbgError, fieldError } from '../domain/errors.js';
import type { TypeWrite } from '../store/type-repo.js';
import type { EditResult, ImportItem, ImportOutcome, TypeChangeOptions, TypeService, TypeWriter } from '../vtdb/type-service.js';
import type { VsiTypeSpec, VsiTypeVersion } from '../domain/vsi-type.js';
import { inTransaction } from './pool.js';
import { TYPES_CHANNEL, type FleetTypeSync } from './type-sync.js';

/** PostgreSQL's unique_violation: another host wrote the same name/version/triple first. */
const UNIQUE_VIOLATION = '23505';

class Raced extends Error {
  constructor(readonly typeName: string, readonly expected: string) {
    super(`raced on ${typeName}`);
  }
}

/** An error of PostgreSQL itself or of reaching it (not one of our rules). */
export function fleetUnavailable(e: unknown): Error {
  if (isQbgError(e)) return e;
  return qbgError('QBG_ERR_FLEET_UNAVAILABLE', (e as Error).message || String(e));
}

export class FleetTypeWriter implements TypeWriter {
  constructor(private readonly o: { pool: pg.Pool; types: TypeService; sync: FleetTypeSync; host: string }) {}

  create(input: unknown): Promise<VsiTypeVersion> {
    return this.change((t) => t.create(input));
  }

  edit(name: string, changes: unknown, opts?: TypeChangeOptions): Promise<EditResult> {
    return this.change((t) => t.edit(name, changes, opts));
  }

  delete(name: string, opts?: TypeChangeOptions): Promise<{ name: string; versions: number }> {
    return this.change((t) => t.delete(name, opts));
  }

  importSpecs(items: readonly ImportItem[]): Promise<ImportOutcome[]> {
    return this.change((t) => t.importSpecs(items));
  }

  private async change<T>(decide: (t: TypeService) => T): Promise<T> {
    const { pool, types, sync } = this.o;
    // decide on the freshest copy we can get (PostgreSQL re-checks anyway)
    await sync.syncNow().catch((e) => {
      throw fleetUnavailable(e);
    });
    const { result, writes } = types.repo.dryRun(() => decide(types));
    if (writes.length === 0) return result;
    try {
      await inTransaction(pool, async (c) => {
        // the one-row counter: orders concurrent changes and tells every host to reload
        const rev = (await c.query<{ rev: string }>('UPDATE fleet_typedb SET rev = rev + 1 RETURNING rev')).rows[0].rev;
        for (const w of writes) await this.apply(c, w);
        await c.query('SELECT pg_notify($1, $2)', [TYPES_CHANNEL, rev]);
      });
    } catch (e) {
      if (e instanceof Raced) throw await this.raced(e.typeName, e.expected);
      if ((e as { code?: string }).code === UNIQUE_VIOLATION) {
        const w = writes.find((x) => x.op !== 'delete-type') as Extract<TypeWrite, { spec: unknown }> | undefined;
        const name = w?.spec.name ?? '?';
        throw await this.raced(name, w && w.op === 'insert-version' ? String(w.expectedCurrent) : 'none (a new type)');
      }
      throw fleetUnavailable(e);
    }
    // our own change, and anything committed before it, into the local copy before answering
    await sync.syncNow().catch(() => undefined); // committed: the periodic catch-up brings it if this fails
    return result;
  }

  private async apply(c: pg.ClientBase, w: TypeWrite): Promise<void> {
    if (w.op === 'insert-type') {
      const s = w.spec;
      const r = await c.query(
        `INSERT INTO fleet_vsi_types (name, type_id, current_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING`,
        [s.name, s.typeId, s.typeIdVersion, w.at],
      );
      if (r.rowCount === 0) throw new Raced(s.name, 'none (a new type)');
      await this.insertVersion(c, w.spec, w.specJson, w.at);
    } else if (w.op === 'insert-version') {
      const s = w.spec;
      const r = await c.query('UPDATE fleet_vsi_types SET current_version = $2, updated_at = $3 WHERE name = $1 AND current_version = $4', [
        s.name,
        s.typeIdVersion,
        w.at,
        w.expectedCurrent,
      ]);
      if (r.rowCount === 0) throw new Raced(s.name, String(w.expectedCurrent));
      await this.insertVersion(c, w.spec, w.specJson, w.at);
    } else {
      // NICs of other hosts count too: a type must not vanish under a VM anywhere in the fleet
      const used = Number(
        (await c.query<{ n: string }>('SELECT count(*) AS n FROM fleet_nics WHERE type_name = $1 AND host <> $2', [w.name, this.o.host])).rows[0].n,
      );
      if (used > 0) throw fieldError('name', 'QBG_ERR_TYPE_IN_USE', w.name, `${used} (on other hosts of the fleet)`);
      const r = await c.query('DELETE FROM fleet_vsi_types WHERE name = $1 AND current_version = $2', [w.name, w.expectedCurrent]);
      if (r.rowCount === 0) throw new Raced(w.name, String(w.expectedCurrent));
    }
  }

  private async insertVersion(c: pg.ClientBase, s: VsiTypeSpec, json: string, at: string): Promise<void> {
    await c.query('INSERT INTO fleet_vsi_type_versions (name, type_id_version, manager_id2, type_id, spec, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      s.name,
      s.typeIdVersion,
      s.managerId2,
      s.typeId,
      json,
      at,
    ]);
  }

  /** 409 naming the version the type is at in the fleet now and the one the change was based on. */
  private async raced(name: string, expected: string): Promise<Error> {
    let now = 'deleted';
    try {
      const r = await this.o.pool.query<{ current_version: number }>('SELECT current_version FROM fleet_vsi_types WHERE name = $1', [name]);
      if (r.rows[0]) now = String(r.rows[0].current_version);
    } catch {
      now = 'unknown (the fleet database did not answer)';
    }
    void this.o.sync.syncNow().catch(() => undefined);
    return fieldError('name', 'QBG_ERR_TYPE_RACED', name, now, expected);
  }
}
