// Reads of the fleet view in PostgreSQL: every VM NIC of every host (keyset paging: a page costs the same at any
// depth, and rows added meanwhile never shift a page), and every host with its freshness and outbox lag.
import type pg from 'pg';
import { fieldError } from '../domain/errors.js';

export interface FleetNic {
  host: string;
  id: string;
  vmUuid: string;
  mac: string;
  uplink: string;
  typeName: string;
  typeId: number;
  typeIdVersion: number;
  vlan: number;
  instanceUuid: string;
  state: string;
  desiredMode: string;
  /** Who announces the VSI on its host: qbg, or libvirt with qbg observing (docs/ownership.md). */
  owner: string;
  reasonCode?: number;
  reason?: string;
  /** Why the NIC was last asked for (api-assoc, migration-prepare, libvirt-prepare, …). */
  requestCause?: string;
  updatedAt: string;
}

export interface FleetNicFilter {
  host?: string;
  vm?: string;
  state?: string;
  type?: string;
  uplink?: string;
}

export interface FleetNicPage {
  items: FleetNic[];
  /** Opaque: pass as ?cursor= for the next page; absent on the last page. */
  next?: string;
}

export interface FleetHost {
  host: string;
  lastSeen: string;
  secondsSinceSeen: number;
  stale: boolean;
  /** Outbox rows not yet in PostgreSQL when the host last reported, and how old the oldest was then. */
  outboxRows: number;
  outboxLagSeconds: number;
  lastSeq: number;
  qbgVersion?: string;
  nics: Record<string, number>;
}

/** The cursor is the last row's key, base64url JSON: clients must not build it. */
export function encodeCursor(host: string, id: string): string {
  return Buffer.from(JSON.stringify([host, id])).toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    /* reported below */
  }
  throw fieldError('cursor', 'QBG_ERR_FIELD_TYPE', 'cursor', 'the "next" value of the previous page', cursor);
}

interface NicRow {
  host: string;
  nic_id: string;
  vm_uuid: string;
  mac: string;
  uplink: string;
  type_name: string;
  type_id: number;
  type_id_version: number;
  vlan: number;
  instance_uuid: string;
  state: string;
  desired_mode: string;
  owner: string;
  reason_code: number | null;
  reason: string | null;
  request_cause: string | null;
  updated_at: Date;
}

function toFleetNic(r: NicRow): FleetNic {
  const n: FleetNic = {
    host: r.host,
    id: r.nic_id,
    vmUuid: r.vm_uuid,
    mac: r.mac,
    uplink: r.uplink,
    typeName: r.type_name,
    typeId: r.type_id,
    typeIdVersion: r.type_id_version,
    vlan: r.vlan,
    instanceUuid: r.instance_uuid,
    state: r.state,
    desiredMode: r.desired_mode,
    owner: r.owner,
    updatedAt: r.updated_at.toISOString(),
  };
  if (r.reason_code !== null) n.reasonCode = r.reason_code;
  if (r.reason !== null) n.reason = r.reason;
  if (r.request_cause !== null) n.requestCause = r.request_cause;
  return n;
}

const FILTER_COLUMNS: Array<[keyof FleetNicFilter, string]> = [
  ['host', 'host'],
  ['vm', 'vm_uuid'],
  ['state', 'state'],
  ['type', 'type_name'],
  ['uplink', 'uplink'],
];

/** The view's columns a FleetNic is made of (not incarnation/seq: bookkeeping of the drain). */
const NIC_COLUMNS = `host, nic_id, vm_uuid, mac, uplink, type_name, type_id, type_id_version, vlan, instance_uuid, state,
  desired_mode, owner, reason_code, reason, request_cause, updated_at`;

/**
 * The one statement behind a page of the fleet view (the bench EXPLAINs exactly this). Every filter is an equality
 * and the order is the primary key, so PostgreSQL reads the page straight off an index — the primary key or the
 * filter's (column, host, nic_id) index — and stops after limit + 1 rows, at any depth (plans: docs/fleet.md).
 */
export function fleetNicsQuery(filter: FleetNicFilter, page: { limit: number; cursor?: string }): { text: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  for (const [key, column] of FILTER_COLUMNS) {
    const v = filter[key];
    if (v === undefined) continue;
    values.push(key === 'vm' ? v.toLowerCase() : v);
    where.push(`${column} = $${values.length}`);
  }
  if (page.cursor !== undefined) {
    const [h, id] = decodeCursor(page.cursor);
    values.push(h, id);
    where.push(`(host, nic_id) > ($${values.length - 1}, $${values.length})`);
  }
  values.push(page.limit + 1);
  const text = `SELECT ${NIC_COLUMNS} FROM fleet_nics ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY host, nic_id LIMIT $${values.length}`;
  return { text, values };
}

export async function listFleetNics(db: pg.Pool | pg.ClientBase, filter: FleetNicFilter, page: { limit: number; cursor?: string }): Promise<FleetNicPage> {
  const rows = (await db.query<NicRow>(fleetNicsQuery(filter, page))).rows;
  const items = rows.slice(0, page.limit).map(toFleetNic);
  const more = rows.length > page.limit;
  const lastItem = items[items.length - 1];
  return more && lastItem ? { items, next: encodeCursor(lastItem.host, lastItem.id) } : { items };
}

export async function listFleetHosts(db: pg.Pool | pg.ClientBase, staleSeconds: number): Promise<FleetHost[]> {
  const hosts = (
    await db.query<{ host: string; last_seen: Date; age: number; outbox_rows: number; lag: number | null; last_seq: string; qbg_version: string | null }>(
      `SELECT host, last_seen, extract(epoch FROM now() - last_seen)::float8 AS age, outbox_rows,
         extract(epoch FROM last_seen - outbox_oldest)::float8 AS lag, last_seq, qbg_version
       FROM fleet_hosts ORDER BY host`,
    )
  ).rows;
  const counts = (await db.query<{ host: string; state: string; n: string }>('SELECT host, state, count(*) AS n FROM fleet_nics GROUP BY host, state')).rows;
  return hosts.map((h) => {
    const nics: Record<string, number> = {};
    for (const c of counts) if (c.host === h.host) nics[c.state] = Number(c.n);
    const out: FleetHost = {
      host: h.host,
      lastSeen: h.last_seen.toISOString(),
      secondsSinceSeen: Math.max(0, Math.round(h.age)),
      stale: h.age > staleSeconds,
      outboxRows: h.outbox_rows,
      outboxLagSeconds: h.outbox_rows > 0 && h.lag !== null ? Math.max(0, Math.round(h.lag)) : 0,
      lastSeq: Number(h.last_seq),
      nics,
    };
    if (h.qbg_version) out.qbgVersion = h.qbg_version;
    return out;
  });
}
