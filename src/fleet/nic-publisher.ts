// Publishes this host's NIC state to the fleet: NicRepo writes every change to fleet_outbox in the transaction that
// makes it; this drains the outbox IN ORDER to PostgreSQL and deletes what PostgreSQL committed. Each batch is one
// PostgreSQL transaction keyed by (host, incarnation, seq): a batch sent again — qbg killed after PostgreSQL's
// COMMIT but before the local delete — changes nothing (ON CONFLICT DO NOTHING; the view only moves forward in seq).
// PostgreSQL down: the outbox grows, associations go on, and the drain retries with exponential backoff.
import type { Database, Statement } from 'better-sqlite3';
import type pg from 'pg';
import type { Nic, NicHistoryEntry } from '../domain/nic.js';
import { inTransaction } from './pool.js';

export interface PublisherLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface NicPublisherOptions {
  db: Database;
  pool: pg.Pool;
  host: string;
  incarnation: string;
  qbgVersion?: string;
  heartbeatMs: number;
  backoffMaxMs: number;
  /** Rows per PostgreSQL transaction. */
  batchSize?: number;
  log?: PublisherLogger;
}

interface OutboxRow {
  seq: number;
  at: string;
  nic_id: string;
  kind: 'transition' | 'forget' | 'snapshot';
  body: string;
}

interface SnapshotNic {
  nic: Nic;
  requestCause: string | null;
}

/** One NIC's row in fleet_nics as the last row of a batch leaves it. */
interface ViewRow {
  nic: Nic;
  seq: number;
  requestCause: string | null;
}

export interface OutboxDepth {
  rows: number;
  /** When the oldest row not yet in PostgreSQL was written (host clock). */
  oldestAt?: string;
}

export interface PublisherStatus {
  /** The last attempt reached PostgreSQL. */
  reachable: boolean;
  lastError?: string;
  lastDrainAt?: string;
  /** Outbox rows this process published. */
  published: number;
  failures: number;
}

/** Reconciler requests repeat what was asked before: they do not change why a NIC is held (a migration, a hook). */
function isRepeat(cause: string): boolean {
  return cause.startsWith('reconcile') || cause === 'recovery';
}

export class NicPublisher {
  private readonly st: Record<string, Statement>;
  private readonly batchSize: number;
  private stopped = true;
  private loop?: Promise<void>;
  private wakeUp?: () => void;
  private lastHeartbeat = 0;
  readonly status: PublisherStatus = { reachable: false, published: 0, failures: 0 };

  constructor(private readonly o: NicPublisherOptions) {
    this.batchSize = o.batchSize ?? 500;
    const db = o.db;
    this.st = {
      batch: db.prepare('SELECT seq, at, nic_id, kind, body FROM fleet_outbox ORDER BY seq LIMIT ?'),
      depth: db.prepare('SELECT count(*) AS rows, min(at) AS oldest FROM fleet_outbox'),
      after: db.prepare('SELECT count(*) AS rows, min(at) AS oldest FROM fleet_outbox WHERE seq > ?'),
      done: db.prepare('DELETE FROM fleet_outbox WHERE seq <= ?'),
      nics: db.prepare('SELECT id FROM nics ORDER BY id'),
      lastRequest: db.prepare(`SELECT cause FROM nic_history WHERE nic_id = ? AND event LIKE 'request-%'
        AND cause NOT LIKE 'reconcile%' AND cause <> 'recovery' ORDER BY seq DESC LIMIT 1`),
      insert: db.prepare('INSERT INTO fleet_outbox (at, nic_id, kind, body) VALUES (?, ?, ?, ?)'),
    };
  }

  depth(): OutboxDepth {
    const r = this.st.depth.get() as { rows: number; oldest: string | null };
    return r.oldest ? { rows: r.rows, oldestAt: r.oldest } : { rows: r.rows };
  }

  /**
   * Queue every NIC as it is now (at start): NICs changed while no fleet was configured, or forgotten meanwhile,
   * are then right in the fleet view too. Ordered after the rows already queued, so it never undoes them.
   */
  enqueueSnapshot(readNic: (id: string) => Nic | undefined): void {
    this.o.db.transaction(() => {
      const nics: SnapshotNic[] = [];
      for (const { id } of this.st.nics.all() as Array<{ id: string }>) {
        const nic = readNic(id);
        if (!nic) continue;
        const r = this.st.lastRequest.get(id) as { cause: string } | undefined;
        nics.push({ nic, requestCause: r?.cause ?? null });
      }
      this.st.insert.run(new Date().toISOString(), '*', 'snapshot', JSON.stringify({ nics }));
    })();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  /** Something was written to the outbox: drain now rather than at the next heartbeat. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      timer.unref?.();
      this.wakeUp = () => (clearTimeout(timer), resolve());
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        while (!this.stopped && (await this.drainOnce()) > 0);
        if (Date.now() - this.lastHeartbeat >= this.o.heartbeatMs) await this.heartbeat();
        this.status.reachable = true;
        this.status.failures = 0;
        delete this.status.lastError;
        if (!this.stopped) await this.sleep(this.o.heartbeatMs);
      } catch (e) {
        this.status.failures++;
        const message = (e as Error).message;
        if (this.status.reachable || this.status.lastError !== message) this.o.log?.warn({ err: message, failures: this.status.failures }, 'fleet: publishing NIC state failed; retrying');
        this.status.reachable = false;
        this.status.lastError = message;
        // exponential backoff with jitter, so hundreds of hosts do not reconnect in step after an outage
        const base = Math.min(this.o.backoffMaxMs, 250 * 2 ** Math.min(this.status.failures - 1, 16));
        if (!this.stopped) await this.sleep(base * (0.5 + Math.random() / 2));
      }
    }
  }

  /** Says the host is alive, with its outbox depth (the lag the fleet sees). */
  async heartbeat(): Promise<void> {
    const d = this.depth();
    await this.o.pool.query(
      `INSERT INTO fleet_hosts (host, incarnation, qbg_version, last_seen, outbox_rows, outbox_oldest) VALUES ($1, $2, $3, now(), $4, $5)
       ON CONFLICT (host) DO UPDATE SET last_seen = now(), outbox_rows = excluded.outbox_rows, outbox_oldest = excluded.outbox_oldest,
         qbg_version = excluded.qbg_version`,
      [this.o.host, this.o.incarnation, this.o.qbgVersion ?? null, d.rows, d.oldestAt ?? null],
    );
    this.lastHeartbeat = Date.now();
  }

  /** Publishes the next batch in one PostgreSQL transaction; returns how many outbox rows it took (0 = empty). */
  async drainOnce(): Promise<number> {
    const rows = this.st.batch.all(this.batchSize) as OutboxRow[];
    if (rows.length === 0) return 0;
    // a snapshot travels alone: it replaces the host's view as of its position in the sequence
    const snap = rows.findIndex((r) => r.kind === 'snapshot');
    const batch = snap === 0 ? rows.slice(0, 1) : snap > 0 ? rows.slice(0, snap) : rows;
    const last = batch[batch.length - 1].seq;
    const { host, incarnation } = this.o;
    await inTransaction(this.o.pool, async (c) => {
      await c.query(
        `INSERT INTO fleet_hosts (host, incarnation, qbg_version) VALUES ($1, $2, $3)
         ON CONFLICT (host) DO UPDATE SET incarnation = excluded.incarnation, qbg_version = excluded.qbg_version,
           last_seq = CASE WHEN fleet_hosts.incarnation = excluded.incarnation THEN fleet_hosts.last_seq ELSE 0 END`,
        [host, incarnation, this.o.qbgVersion ?? null],
      );
      if (batch[0].kind === 'snapshot') await this.applySnapshot(c, batch[0]);
      else await this.applyChanges(c, batch);
      const rest = this.st.after.get(last) as { rows: number; oldest: string | null };
      const left = rest.rows;
      const oldestLeft = rest.oldest;
      await c.query(
        `UPDATE fleet_hosts SET last_seq = GREATEST(last_seq, $2), last_seen = now(), outbox_rows = $3, outbox_oldest = $4 WHERE host = $1`,
        [host, last, left, oldestLeft],
      );
    });
    // PostgreSQL has it: only now may the rows go (a crash before this line re-sends them, harmlessly)
    this.st.done.run(last);
    this.status.published += batch.length;
    this.status.lastDrainAt = new Date().toISOString();
    this.lastHeartbeat = Date.now();
    return batch.length;
  }

  private async applyChanges(c: pg.PoolClient, batch: OutboxRow[]): Promise<void> {
    const { host, incarnation } = this.o;
    const t = { seq: [] as number[], hseq: [] as number[], nic: [] as string[], at: [] as string[], from: [] as string[], to: [] as string[], event: [] as string[], cause: [] as string[], rc: [] as Array<number | null>, reason: [] as Array<string | null> };
    // the last change of each NIC in the batch decides its view row (one statement cannot touch a row twice)
    const final = new Map<string, { seq: number; view?: ViewRow }>();
    const requestCause = new Map<string, string>();
    for (const r of batch) {
      if (r.kind === 'forget') {
        final.set(r.nic_id, { seq: r.seq });
        continue;
      }
      const { nic, entry } = JSON.parse(r.body) as { nic: Nic; entry: NicHistoryEntry };
      t.seq.push(r.seq);
      t.hseq.push(entry.seq);
      t.nic.push(r.nic_id);
      t.at.push(entry.at);
      t.from.push(entry.from);
      t.to.push(entry.to);
      t.event.push(entry.event);
      t.cause.push(entry.cause);
      t.rc.push(entry.reasonCode ?? null);
      t.reason.push(entry.reason ?? null);
      if (entry.event.startsWith('request-') && !isRepeat(entry.cause)) requestCause.set(r.nic_id, entry.cause);
      final.set(r.nic_id, { seq: r.seq, view: { nic, seq: r.seq, requestCause: null } });
    }
    if (t.seq.length) {
      await c.query(
        `INSERT INTO fleet_nic_transitions (host, incarnation, seq, history_seq, nic_id, at, from_state, to_state, event, cause, reason_code, reason)
         SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::text[])
         ON CONFLICT DO NOTHING`,
        [host, incarnation, t.seq, t.hseq, t.nic, t.at, t.from, t.to, t.event, t.cause, t.rc, t.reason],
      );
    }
    const views: ViewRow[] = [];
    const forgotten: Array<{ id: string; seq: number }> = [];
    for (const [id, f] of final) {
      if (f.view) views.push({ ...f.view, requestCause: requestCause.get(id) ?? null });
      else forgotten.push({ id, seq: f.seq });
    }
    await upsertViews(c, host, incarnation, views);
    if (forgotten.length) {
      await c.query(
        `DELETE FROM fleet_nics f USING unnest($2::text[], $3::bigint[]) AS d(nic_id, seq)
         WHERE f.host = $1 AND f.nic_id = d.nic_id AND (f.incarnation <> $4 OR f.seq < d.seq)`,
        [host, forgotten.map((x) => x.id), forgotten.map((x) => x.seq), incarnation],
      );
    }
  }

  private async applySnapshot(c: pg.PoolClient, row: OutboxRow): Promise<void> {
    const { host, incarnation } = this.o;
    const { nics } = JSON.parse(row.body) as { nics: SnapshotNic[] };
    await c.query(
      `DELETE FROM fleet_nics WHERE host = $1 AND NOT (nic_id = ANY($2::text[])) AND (incarnation <> $3 OR seq < $4)`,
      [host, nics.map((n) => n.nic.id), incarnation, row.seq],
    );
    for (let i = 0; i < nics.length; i += 1000) {
      await upsertViews(c, host, incarnation, nics.slice(i, i + 1000).map((n) => ({ nic: n.nic, seq: row.seq, requestCause: n.requestCause })));
    }
  }
}

/** Bulk upsert of view rows; a row older (lower seq, same incarnation) than the one stored is ignored. */
export async function upsertViews(c: pg.ClientBase, host: string, incarnation: string, views: ViewRow[]): Promise<void> {
  if (views.length === 0) return;
  const col = <T>(f: (v: ViewRow) => T) => views.map(f);
  await c.query(
    `INSERT INTO fleet_nics (host, incarnation, nic_id, vm_uuid, mac, uplink, type_name, type_id, type_id_version, vlan, instance_uuid,
       state, desired_mode, reason_code, reason, request_cause, updated_at, seq, owner)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::int[], $11::text[],
       $12::text[], $13::text[], $14::int[], $15::text[], $16::text[], $17::timestamptz[], $18::bigint[], $19::text[])
     ON CONFLICT (host, nic_id) DO UPDATE SET vm_uuid = excluded.vm_uuid, mac = excluded.mac, uplink = excluded.uplink,
       type_name = excluded.type_name, type_id = excluded.type_id, type_id_version = excluded.type_id_version, vlan = excluded.vlan,
       instance_uuid = excluded.instance_uuid, state = excluded.state, desired_mode = excluded.desired_mode,
       reason_code = excluded.reason_code, reason = excluded.reason,
       request_cause = COALESCE(excluded.request_cause, fleet_nics.request_cause),
       updated_at = excluded.updated_at, incarnation = excluded.incarnation, seq = excluded.seq, owner = excluded.owner
     WHERE fleet_nics.incarnation <> excluded.incarnation OR fleet_nics.seq < excluded.seq`,
    [
      host,
      incarnation,
      col((v) => v.nic.id),
      col((v) => v.nic.vmUuid),
      col((v) => v.nic.mac),
      col((v) => v.nic.uplink),
      col((v) => v.nic.typeName),
      col((v) => v.nic.typeId),
      col((v) => v.nic.typeIdVersion),
      col((v) => v.nic.vlan),
      col((v) => v.nic.instanceUuid),
      col((v) => v.nic.state),
      col((v) => v.nic.desiredMode),
      col((v) => v.nic.reasonCode ?? null),
      col((v) => v.nic.reason ?? null),
      col((v) => v.requestCause),
      col((v) => v.nic.updatedAt),
      col((v) => v.seq),
      col((v) => v.nic.owner ?? 'qbg'), // a change queued by a qbg older than the owner field
    ],
  );
}
