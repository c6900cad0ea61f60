// Checks only a fleet can make, from the fleet view in PostgreSQL. The one host that holds the checker lock runs
// them and records the findings in fleet_findings; every host's metric (qbg_fleet_findings{check}) and
// GET /fleet/findings read that table — so a fleet of 200 hosts runs one round per catch-up, not 200, and sends one
// webhook per finding (the event goes out when the finding's row is first inserted).
import type pg from 'pg';
import { inTransaction } from './pool.js';

export const FLEET_CHECKS = ['double-held', 'migration-source-holding', 'host-stale'] as const;
export type FleetCheck = (typeof FLEET_CHECKS)[number];

/** The bus event (and webhook event name) each check raises. */
export const FLEET_CHECK_EVENTS = {
  'double-held': 'fleet-double-held',
  'migration-source-holding': 'fleet-migration-source-holding',
  'host-stale': 'fleet-host-stale',
} as const satisfies Record<FleetCheck, string>;

export interface FleetFinding {
  check: FleetCheck;
  /** Stable while the finding lasts (an event is raised when a key first appears). */
  key: string;
  detail: Record<string, unknown>;
}

/** Request causes of a migration qbg was told of (src/service/migration.ts). */
const MIGRATION_CAUSES = ['migration-prepare', 'migration-start'];

export async function runFleetChecks(db: pg.Pool | pg.ClientBase, o: { staleSeconds: number; migrationGraceSeconds: number }): Promise<FleetFinding[]> {
  const out: FleetFinding[] = [];
  // one VSI held (associated or pre-associated) on two hosts, and neither side is a migration qbg knows of
  const doubled = await db.query<{ instance_uuid: string; hosts: string[]; states: string[]; nics: string[] }>(
    // the inner query walks the partial index fleet_nics_held only (no sort, no arrays): the aggregation with
    // its ordered arrays then runs for the few doubled UUIDs, not for every held NIC (pg-migrations #3)
    `SELECT instance_uuid, array_agg(host ORDER BY host) AS hosts, array_agg(state ORDER BY host) AS states, array_agg(nic_id ORDER BY host) AS nics
     FROM fleet_nics
     WHERE state IN ('associated', 'pre-associated') AND instance_uuid IN (
       SELECT instance_uuid FROM fleet_nics WHERE state IN ('associated', 'pre-associated')
       GROUP BY instance_uuid HAVING min(host) <> max(host))
     GROUP BY instance_uuid
     HAVING NOT bool_or(coalesce(request_cause, '') = ANY($1::text[]))`,
    [MIGRATION_CAUSES],
  );
  for (const r of doubled.rows) {
    out.push({ check: 'double-held', key: `${r.instance_uuid}@${r.hosts.join(',')}`, detail: { instanceUuid: r.instance_uuid, hosts: r.hosts, states: r.states, nics: r.nics } });
  }
  // the destination associated the VSI (migration start) a while ago, and the source still holds it
  const sources = await db.query<{ instance_uuid: string; destination: string; sources: string[]; associated_at: Date }>(
    `SELECT d.instance_uuid, d.host AS destination, array_agg(DISTINCT s.host) AS sources, min(d.updated_at) AS associated_at
     FROM fleet_nics d JOIN fleet_nics s ON s.instance_uuid = d.instance_uuid AND s.host <> d.host
     WHERE d.state = 'associated' AND d.request_cause = 'migration-start'
       AND d.updated_at < now() - make_interval(secs => $1)
       AND s.state IN ('associated', 'pre-associated')
     GROUP BY d.instance_uuid, d.host`,
    [o.migrationGraceSeconds],
  );
  for (const r of sources.rows) {
    out.push({
      check: 'migration-source-holding',
      key: `${r.instance_uuid}@${r.destination}`,
      detail: { instanceUuid: r.instance_uuid, destination: r.destination, sources: r.sources, destinationAssociatedAt: r.associated_at.toISOString() },
    });
  }
  // a host silent for too long while VMs depend on its associations
  const stale = await db.query<{ host: string; last_seen: Date; associated: string }>(
    `SELECT h.host, h.last_seen, count(*) AS associated
     FROM fleet_hosts h JOIN fleet_nics n ON n.host = h.host AND n.state = 'associated'
     WHERE h.last_seen < now() - make_interval(secs => $1)
     GROUP BY h.host, h.last_seen`,
    [o.staleSeconds],
  );
  for (const r of stale.rows) {
    out.push({ check: 'host-stale', key: r.host, detail: { host: r.host, lastSeen: r.last_seen.toISOString(), associatedNics: Number(r.associated) } });
  }
  return out;
}

/**
 * The checker's round: fleet_findings becomes exactly `found` (gone findings deleted, details refreshed) in one
 * transaction. Returns the findings whose row was inserted now — the ones to raise an event for. A finding already
 * recorded (by this host or a checker before it) is not returned again.
 */
export async function recordFindings(pool: pg.Pool, found: FleetFinding[], host: string): Promise<FleetFinding[]> {
  const byKey = new Map(found.map((f) => [`${f.check}/${f.key}`, f]));
  const rows = [...byKey.values()];
  return inTransaction(pool, async (c) => {
    await c.query(
      `DELETE FROM fleet_findings f
       WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS n(c, k) WHERE n.c = f."check" AND n.k = f.key)`,
      [rows.map((f) => f.check), rows.map((f) => f.key)],
    );
    if (rows.length === 0) return [];
    // xmax = 0 only on a row this statement inserted (an updated row carries the updating transaction's id)
    const ins = await c.query<{ check: string; key: string; inserted: boolean }>(
      `INSERT INTO fleet_findings ("check", key, detail, raised_by)
       SELECT c, k, d, $4 FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS n(c, k, d)
       ON CONFLICT ("check", key) DO UPDATE SET detail = excluded.detail
       RETURNING "check", key, (xmax = 0) AS inserted`,
      [rows.map((f) => f.check), rows.map((f) => f.key), rows.map((f) => JSON.stringify(f.detail)), host],
    );
    return ins.rows.filter((r) => r.inserted).map((r) => byKey.get(`${r.check}/${r.key}`)!);
  });
}

/** The checker's last round, for every other host. */
export async function readFindings(db: pg.Pool | pg.ClientBase): Promise<FleetFinding[]> {
  const r = await db.query<{ check: FleetCheck; key: string; detail: Record<string, unknown> }>(
    'SELECT "check", key, detail FROM fleet_findings ORDER BY array_position($1::text[], "check"), key',
    [[...FLEET_CHECKS]],
  );
  return r.rows.map((x) => ({ check: x.check, key: x.key, detail: x.detail }));
}
