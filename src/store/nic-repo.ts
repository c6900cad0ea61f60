// SQL for VM NICs and their history (tables from the 'nics' migration). The one rule kept here: a NIC's state
// changes only through applyEvent, which checks the pure transition table and writes the new state and its
// history row in ONE transaction — there is never a state without the history that explains it.
import type { Database, Statement, Transaction } from 'better-sqlite3';
import { fieldError, qbgError } from '../domain/errors.js';
import type { Nic, NicHistoryEntry, NicOwner, NicParams } from '../domain/nic.js';
import { HELD_STATES, IN_FLIGHT_STATES, transition, type NicEvent, type NicState } from '../domain/nic-state.js';
import type { FilterFormat } from '../domain/vsi-type.js';
import type { VdpRequestMode } from '../domain/vsi-request.js';

/** Another VM's NIC on the same uplink, MAC and VLAN that holds or wants a VSI; served by the nics_filter index. */
export const FILTER_USER_SQL = `SELECT * FROM nics WHERE uplink = ? AND mac = ? AND vlan = ? AND vm_uuid <> ?
  AND NOT (state IN ('new', 'disassociated') AND desired_mode = 'deassoc') ORDER BY created_at, id LIMIT 1`;

interface NicRow {
  id: string;
  vm_uuid: string;
  mac: string;
  uplink: string;
  type_name: string;
  type_id: number;
  type_id_version: number;
  manager_id2: string;
  filter_format: string;
  group_id: number | null;
  vlan: number;
  bridge_vlan: number | null;
  instance_uuid: string;
  owner: string;
  state: string;
  desired_mode: string;
  reason_code: number | null;
  reason: string | null;
  created_at: string;
  updated_at: string;
}

interface HistoryRow {
  seq: number;
  nic_id: string;
  at: string;
  from_state: string;
  to_state: string;
  event: string;
  cause: string;
  reason_code: number | null;
  reason: string | null;
}

function toNic(r: NicRow): Nic {
  const n: Nic = {
    id: r.id,
    vmUuid: r.vm_uuid,
    mac: r.mac,
    uplink: r.uplink,
    typeName: r.type_name,
    typeId: r.type_id,
    typeIdVersion: r.type_id_version,
    managerId2: r.manager_id2,
    filterFormat: r.filter_format as FilterFormat,
    vlan: r.vlan,
    instanceUuid: r.instance_uuid,
    owner: r.owner as NicOwner,
    state: r.state as NicState,
    desiredMode: r.desired_mode as VdpRequestMode,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.group_id !== null) n.groupId = r.group_id;
  if (r.bridge_vlan !== null) n.bridgeVlan = r.bridge_vlan;
  if (r.reason_code !== null) n.reasonCode = r.reason_code;
  if (r.reason !== null) n.reason = r.reason;
  return n;
}

function toEntry(r: HistoryRow): NicHistoryEntry {
  const e: NicHistoryEntry = {
    seq: r.seq,
    nicId: r.nic_id,
    at: r.at,
    from: r.from_state as NicState,
    to: r.to_state as NicState,
    event: r.event as NicEvent,
    cause: r.cause,
  };
  if (r.reason_code !== null) e.reasonCode = r.reason_code;
  if (r.reason !== null) e.reason = r.reason;
  return e;
}

export interface NicFilter {
  vmUuid?: string;
  uplink?: string;
  state?: NicState | NicState[];
  typeName?: string;
  /** Only NICs whose desired mode is one of these (the reconciler's "should be held"). */
  desiredMode?: VdpRequestMode[];
}

/** What a sweep picks a NIC by (NicRepo.chunks). */
export interface NicKey {
  id: string;
  state: NicState;
}

/** A page: `after` (a `next` cursor of the previous page) walks the listing index from there; `offset` skips rows
 *  one by one (kept for old clients: cost grows with the offset). */
export interface Page {
  limit: number;
  offset?: number;
  after?: string;
}

export interface PageOf<T> {
  items: T[];
  /** every match of the filter (not just this page) */
  total: number;
  limit: number;
  /** echoed when the page was asked by offset */
  offset?: number;
  /** opaque cursor of the page after this one; absent on the last page */
  next?: string;
}

/** Listing order is (created_at, id); a cursor is the last row's pair, opaque to clients (base64url JSON). */
function cursorOf(r: NicRow): string {
  return Buffer.from(JSON.stringify([r.created_at, r.id])).toString('base64url');
}

function readCursor(cursor: string): [string, string] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string') {
    throw fieldError('after', 'QBG_ERR_FIELD_TYPE', 'after', 'the next cursor of a previous page', JSON.stringify(cursor.slice(0, 40)));
  }
  return [v[0], v[1]];
}

export interface ApplyEvent {
  event: NicEvent;
  cause: string;
  reasonCode?: number;
  reason?: string;
  /** New parameters to pin (a request with changed VLAN/type version), or the NIC to create if unknown. */
  params?: NicParams;
  /** Who announces the VSI: recorded when the NIC is created (default qbg); a NIC recorded with another owner is
   *  refused with QBG_ERR_NIC_OWNER (nothing written): a NIC never changes owner silently. */
  owner?: NicOwner;
  /** Set with request-* events: what the reconciler should keep lldpad holding from now on. */
  desiredMode?: VdpRequestMode;
  /** The VID the bridge assigned to a wildcard (VLAN 0) request (null: none). Without it the assignment is kept
   *  while the NIC is held or a request is out (a de-associate must name it), and cleared when the NIC settles
   *  anywhere else. */
  bridgeVlan?: number | null;
  at?: string;
}

export interface Applied {
  nic: Nic;
  entry: NicHistoryEntry;
}

export interface NicRepoOptions {
  /** Also write each change to fleet_outbox in its transaction (a fleet is configured: src/fleet/nic-publisher.ts). */
  outbox?: boolean;
  /** Called after each write transaction of this repo (the WAL flush hint, src/store/wal-sync.ts). */
  committed?: () => void;
}

/** How long a change sequence read from SQLite is trusted when this connection wrote nothing (see changeSeq). */
export const FOREIGN_WRITE_MS = 100;

export class NicRepo {
  private readonly st: Record<string, Statement>;
  private readonly outbox?: Statement;
  private readonly committed: () => void;
  /** applyEvent's transaction, made once (db.transaction builds its wrappers anew at every call). */
  private readonly applyTx: Transaction<(id: string, a: ApplyEvent) => Applied>;

  constructor(readonly db: Database, opts: NicRepoOptions = {}) {
    if (opts.outbox) this.outbox = db.prepare('INSERT INTO fleet_outbox (at, nic_id, kind, body) VALUES (?, ?, ?, ?)');
    this.committed = opts.committed ?? (() => undefined);
    this.applyTx = db.transaction((id: string, a: ApplyEvent) => this.applyInTransaction(id, a));
    this.st = {
      get: db.prepare('SELECT * FROM nics WHERE id = ?'),
      byInstance: db.prepare('SELECT * FROM nics WHERE instance_uuid = ?'),
      insert: db.prepare(`INSERT INTO nics (id, vm_uuid, mac, uplink, type_name, type_id, type_id_version, manager_id2,
        filter_format, group_id, vlan, bridge_vlan, instance_uuid, owner, state, desired_mode, reason_code, reason, created_at, updated_at)
        VALUES (@id, @vm_uuid, @mac, @uplink, @type_name, @type_id, @type_id_version, @manager_id2, @filter_format,
        @group_id, @vlan, @bridge_vlan, @instance_uuid, @owner, @state, @desired_mode, @reason_code, @reason, @at, @at)`),
      update: db.prepare(`UPDATE nics SET uplink = @uplink, type_name = @type_name, type_id = @type_id,
        type_id_version = @type_id_version, manager_id2 = @manager_id2, filter_format = @filter_format,
        group_id = @group_id, vlan = @vlan, bridge_vlan = @bridge_vlan, instance_uuid = @instance_uuid, state = @state,
        desired_mode = @desired_mode,
        reason_code = @reason_code, reason = @reason, updated_at = @at WHERE id = @id`),
      // Most transitions change only the state: SET no indexed column but state, so SQLite leaves the other indexes
      // (uplink, type, filter, instance) alone instead of rewriting their entries with the same values.
      updateState: db.prepare(`UPDATE nics SET bridge_vlan = @bridge_vlan, state = @state, desired_mode = @desired_mode,
        reason_code = @reason_code, reason = @reason, updated_at = @at WHERE id = @id`),
      history: db.prepare(`INSERT INTO nic_history (nic_id, at, from_state, to_state, event, cause, reason_code, reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      historyOf: db.prepare('SELECT * FROM nic_history WHERE nic_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      lastOf: db.prepare('SELECT * FROM nic_history WHERE nic_id = ? ORDER BY seq DESC LIMIT 1'),
      historyCount: db.prepare('SELECT count(*) AS n FROM nic_history WHERE nic_id = ?'),
      historySince: db.prepare('SELECT * FROM nic_history WHERE seq > ? ORDER BY seq LIMIT ?'),
      delete: db.prepare('DELETE FROM nics WHERE id = ?'),
      // A NIC that neither holds nor wants a VSI (never sent, or disassociated and meant to stay so) takes no filter.
      filterUser: db.prepare(FILTER_USER_SQL),
      changeSeq: db.prepare('SELECT seq FROM nic_changes').pluck(),
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
    };
  }

  get(id: string): Nic | undefined {
    const r = this.st.get.get(id) as NicRow | undefined;
    return r && toNic(r);
  }

  byInstanceUuid(uuid: string): Nic | undefined {
    const r = this.st.byInstance.get(uuid) as NicRow | undefined;
    return r && toNic(r);
  }

  /** Another VM's NIC that holds or wants the same MAC + VLAN on the uplink (a VEPA bridge cannot tell them apart). */
  filterUsedByOtherVm(p: { uplink: string; mac: string; vlan: number; vmUuid: string }): Nic | undefined {
    const r = this.st.filterUser.get(p.uplink, p.mac, p.vlan, p.vmUuid) as NicRow | undefined;
    return r && toNic(r);
  }

  /** WHERE clause and arguments of a filter (column names as in the table). */
  private where(filter: NicFilter): { sql: string; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.vmUuid !== undefined) (where.push('vm_uuid = ?'), args.push(filter.vmUuid));
    if (filter.uplink !== undefined) (where.push('uplink = ?'), args.push(filter.uplink));
    if (filter.typeName !== undefined) (where.push('type_name = ?'), args.push(filter.typeName));
    const states = filter.state === undefined ? undefined : Array.isArray(filter.state) ? filter.state : [filter.state];
    if (states) (where.push(`state IN (${states.map(() => '?').join(',') || 'NULL'})`), args.push(...states));
    if (filter.desiredMode) {
      where.push(`desired_mode IN (${filter.desiredMode.map(() => '?').join(',') || 'NULL'})`);
      args.push(...filter.desiredMode);
    }
    return { sql: where.join(' AND '), args };
  }

  /**
   * Filtered page in creation order (stable by id within a creation instant), with the filter's total. By cursor a
   * page reads at most limit + 1 rows from one index; the total comes from nic_counts (a few rows, kept by
   * triggers), except with a VM or desired-mode filter, where count(*) runs over the VM's few NICs.
   */
  list(filter: NicFilter = {}, page: Page = { limit: 100 }): PageOf<Nic> {
    const rows = this.pageRows(filter, page.limit + 1, page.after, page.offset);
    const more = rows.length > page.limit;
    if (more) rows.pop();
    const out: PageOf<Nic> = { items: rows.map(toNic), total: this.count(filter), limit: page.limit };
    if (page.offset !== undefined) out.offset = page.offset;
    if (more) out.next = cursorOf(rows[rows.length - 1]);
    return out;
  }

  /**
   * Every NIC matching the filter, `size` at a time in listing order (the reconciler's sweep): each chunk is one short
   * read from its cursor, so a sweep of 100,000 NICs never holds the event loop for the whole table. Only what a sweep
   * picks NICs by (id and state): it reads each NIC it checks again in that NIC's queue, and whole rows here were a
   * third of what a sweep allocated — garbage that set the young-generation collections' pace under status reads.
   */
  *chunks(filter: NicFilter = {}, size = 500): Generator<NicKey[]> {
    let after: [string, string] | undefined;
    for (;;) {
      const rows = this.select<[string, NicState, string]>('id, state, created_at', filter, size, after);
      if (rows.length) yield rows.map(([id, state]) => ({ id, state }));
      if (rows.length < size) return;
      const [id, , createdAt] = rows[rows.length - 1];
      after = [createdAt, id];
    }
  }

  private pageRows(filter: NicFilter, limit: number, after?: string, offset = 0): NicRow[] {
    const { st, args } = this.statementFor('*', filter, after !== undefined);
    if (after !== undefined) args.push(...readCursor(after));
    const cols = st.columns().map((c) => c.name);
    // rows as arrays, named here: better-sqlite3 building an object per row was most of a page's cost
    return (st.all(...args, limit, offset) as unknown[][]).map((a) => {
      const r: Record<string, unknown> = {};
      for (let i = 0; i < cols.length; i++) r[cols[i]] = a[i];
      return r as unknown as NicRow;
    });
  }

  /** Rows (as arrays of `columns`) matching the filter in listing order, after a (created_at, id) position. */
  private select<R extends unknown[]>(columns: string, filter: NicFilter, limit: number, after?: [string, string]): R[] {
    const { st, args } = this.statementFor(columns, filter, after !== undefined);
    if (after) args.push(...after);
    return st.all(...args, limit, 0) as R[];
  }

  private statementFor(columns: string, filter: NicFilter, byCursor: boolean): { st: Statement; args: unknown[] } {
    const { sql: w, args } = this.where(filter);
    const conds = w ? [w] : [];
    if (byCursor) conds.push('(created_at, id) > (?, ?)');
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    const sql = `SELECT ${columns} FROM nics ${where} ORDER BY created_at, id LIMIT ? OFFSET ?`;
    let st = this.statementCache.get(sql);
    if (!st) this.statementCache.set(sql, (st = this.db.prepare(sql).raw(true)));
    return { st, args };
  }

  /** How many NICs match the filter. */
  count(filter: NicFilter = {}): number {
    if (filter.vmUuid !== undefined || filter.desiredMode !== undefined) {
      const { sql, args } = this.where(filter);
      return (this.prepared(`SELECT count(*) AS n FROM nics WHERE ${sql}`).get(...args) as { n: number }).n;
    }
    const { sql, args } = this.where(filter);
    return (this.prepared(`SELECT coalesce(sum(n), 0) AS n FROM nic_counts ${sql ? `WHERE ${sql}` : ''}`).get(...args) as { n: number }).n;
  }

  /**
   * Moves with every write to the nics table, in the writing transaction (a trigger): the listing's version, read
   * by every status read (GET /nics, /nics/:id). Reading it from SQLite is a read transaction — two fcntl calls on
   * the WAL index and ~15 µs in a busy server, a tenth of a cached read — so the value is kept while this
   * connection wrote nothing (`total_changes()` counts every row this connection changed, through any repo or plain
   * SQL, triggers and rolled-back statements included, and costs no transaction) and for at most
   * FOREIGN_WRITE_MS: only qbg's service writes its store, but a write by another connection on the file (an admin's
   * sqlite3) still shows within that bound. Inside a transaction the value is always read (a rollback may take it back).
   */
  changeSeq(): number {
    const writes = this.st.totalChanges.get() as number;
    const now = performance.now();
    if (this.db.inTransaction || writes !== this.seqAtWrites || now - this.seqReadAt > FOREIGN_WRITE_MS) {
      this.seq = this.st.changeSeq.get() as number;
      this.seqAtWrites = this.db.inTransaction ? -1 : writes;
      this.seqReadAt = now;
    }
    return this.seq;
  }
  private seq = 0;
  private seqAtWrites = -1;
  private seqReadAt = 0;

  /** Filters combine into a handful of SQL texts: prepare each once, not on every page. */
  private readonly statementCache = new Map<string, Statement>();
  private prepared(sql: string): Statement {
    let st = this.statementCache.get(sql);
    if (!st) this.statementCache.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** Every NIC matching the filter (the reconciler's sweep); no paging, no total. */
  all(filter: NicFilter = {}): Nic[] {
    const { sql, args } = this.where(filter);
    return (this.prepared(`SELECT * FROM nics ${sql ? `WHERE ${sql}` : ''} ORDER BY created_at, id`).all(...args) as NicRow[]).map(toNic);
  }

  /** A NIC's history, oldest first, from after `afterSeq` (cursor paging); total = all rows of the NIC. */
  history(nicId: string, opts: { afterSeq?: number; limit?: number } = {}): { items: NicHistoryEntry[]; total: number } {
    const rows = this.st.historyOf.all(nicId, opts.afterSeq ?? 0, opts.limit ?? 1000) as HistoryRow[];
    const total = (this.st.historyCount.get(nicId) as { n: number }).n;
    return { items: rows.map(toEntry), total };
  }

  /** A NIC's latest transition (undefined: none). */
  lastEntry(nicId: string): NicHistoryEntry | undefined {
    const r = this.st.lastOf.get(nicId) as HistoryRow | undefined;
    return r && toEntry(r);
  }

  /** History of every NIC after a sequence number (replay for SSE clients reconnecting with Last-Event-ID). */
  historySince(afterSeq: number, limit = 1000): NicHistoryEntry[] {
    return (this.st.historySince.all(afterSeq, limit) as HistoryRow[]).map(toEntry);
  }

  /**
   * Move a NIC by one event of the transition table, in one transaction with its history row. Creates the NIC
   * (state 'new') first when it is unknown and params are given. Throws QBG_ERR_ILLEGAL_TRANSITION (nothing
   * written) when the table has no cell for (state, event), QBG_ERR_NIC_NOT_FOUND for an unknown NIC.
   */
  applyEvent(id: string, a: ApplyEvent): Applied {
    const applied = this.applyTx.immediate(id, a);
    this.committed();
    return applied;
  }

  private applyInTransaction(id: string, a: ApplyEvent): Applied {
    const at = a.at ?? new Date().toISOString();
    let row = this.st.get.get(id) as NicRow | undefined;
    const fresh = row === undefined;
    if (!row) {
      if (!a.params) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
      // A new NIC starts 'new' with nothing asked; its row is written once, below, already in its first state: an
      // insert plus an update touched every index and count of the row twice per first associate.
      row = { id, ...paramsToRow(a.params), owner: a.owner ?? 'qbg', state: 'new', desired_mode: 'deassoc', bridge_vlan: null, reason_code: null, reason: null, created_at: at, updated_at: at } as NicRow;
    } else if (a.owner !== undefined && a.owner !== row.owner) {
      throw qbgError('QBG_ERR_NIC_OWNER', id, row.owner, a.owner, 'forget the NIC (qbg nic delete) before another side announces it');
    }
    const from = row.state as NicState;
    const to = transition(id, from, a.event);
    const params = a.params ? paramsToRow(a.params) : {};
    const settledWithoutReason = to === 'associated' || to === 'pre-associated' || to === 'disassociated' || to.endsWith('ing');
    const next = {
      ...row,
      ...params,
      id,
      state: to,
      desired_mode: a.desiredMode ?? row.desired_mode,
      // what the bridge assigned holds only while the VSI does (and only for a wildcard request)
      bridge_vlan:
        (params.vlan ?? row.vlan) !== 0
          ? null
          : a.bridgeVlan !== undefined
            ? a.bridgeVlan
            : HELD_STATES.includes(to) || IN_FLIGHT_STATES.includes(to)
              ? row.bridge_vlan
              : null,
      // a reason explains failed / timed-out / lost; a success or a new request clears it
      reason_code: a.reasonCode ?? (settledWithoutReason ? null : row.reason_code),
      reason: a.reason ?? (settledWithoutReason ? null : row.reason),
      at,
    };
    const paramsChanged = Object.keys(params).some((k) => params[k] !== row[k as keyof NicRow]);
    if (fresh) this.st.insert.run(next);
    else if (paramsChanged) this.st.update.run(next);
    else this.st.updateState.run({ id, bridge_vlan: next.bridge_vlan, state: next.state, desired_mode: next.desired_mode, reason_code: next.reason_code, reason: next.reason, at });
    const info = this.st.history.run(id, at, from, to, a.event, a.cause, a.reasonCode ?? null, a.reason ?? null);
    const entry: NicHistoryEntry = { seq: Number(info.lastInsertRowid), nicId: id, at, from, to, event: a.event, cause: a.cause };
    if (a.reasonCode !== undefined) entry.reasonCode = a.reasonCode;
    if (a.reason !== undefined) entry.reason = a.reason;
    const nic = toNic({ ...next, updated_at: at }); // the row as just written, without reading it back
    this.outbox?.run(at, id, 'transition', JSON.stringify({ nic, entry }));
    return { nic, entry };
  }

  /** Admin repair: forget a NIC (its history stays for audit). True when a row was removed. */
  forget(id: string): boolean {
    const gone = this.db.transaction(() => {
      const gone = this.st.delete.run(id).changes > 0;
      if (gone) this.outbox?.run(new Date().toISOString(), id, 'forget', '{}');
      return gone;
    })();
    this.committed();
    return gone;
  }
}

function paramsToRow(p: NicParams): Record<string, unknown> {
  return {
    vm_uuid: p.vmUuid,
    mac: p.mac,
    uplink: p.uplink,
    type_name: p.typeName,
    type_id: p.typeId,
    type_id_version: p.typeIdVersion,
    manager_id2: p.managerId2,
    filter_format: p.filterFormat,
    group_id: p.groupId ?? null,
    vlan: p.vlan,
    instance_uuid: p.instanceUuid,
  };
}
