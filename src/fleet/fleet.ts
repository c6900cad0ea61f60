// One hypervisor's part in the fleet: the pool to PostgreSQL, its schema, the NIC outbox drain, the VSI type copy
// (LISTEN/NOTIFY + periodic catch-up), and the fleet checks. Nothing here is on the path of an association:
// PostgreSQL may be down at start or any time after; the host keeps working on its SQLite and catches up later.
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { Counter, Gauge } from 'prom-client';
import { FLEET_TRANSITION_RETENTION_DAYS, type FleetConfig } from '../config.js';
import type { NicRepo } from '../store/nic-repo.js';
import type { TypeService, TypeWriter } from '../vtdb/type-service.js';
import type { TransitionBus } from '../service/transition-bus.js';
import type { QbgMetrics } from '../service/metrics.js';
import { FLEET_CHECK_EVENTS, FLEET_CHECKS, readFindings, recordFindings, runFleetChecks, type FleetFinding } from './checks.js';
import { listFleetHosts, listFleetNics, type FleetHost, type FleetNicFilter, type FleetNicPage } from './fleet-queries.js';
import { incarnationOf } from './fleet-state.js';
import { NicPublisher, type OutboxDepth } from './nic-publisher.js';
import { migratePg } from './pg-migrations.js';
import { createFleetPool, createFleetSession, redactUrl } from './pool.js';
import { analyzeViewIfStale } from './view-stats.js';
import { pruneTransitions } from './retention.js';
import { FleetTypeSync, TYPES_CHANNEL } from './type-sync.js';
import { FleetTypeWriter, fleetUnavailable } from './type-writer.js';

/** Whoever holds this advisory lock (on its session connection) runs the fleet checks and raises their events. */
const CHECKER_LOCK = 0x71626732;

export interface FleetLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface FleetOptions {
  config: FleetConfig;
  db: Database;
  nicRepo: NicRepo;
  types: TypeService;
  bus: TransitionBus;
  metrics?: QbgMetrics;
  log?: FleetLogger;
  qbgVersion?: string;
}

export interface FleetStatus {
  enabled: true;
  host: string;
  postgres: string;
  /** The schema is migrated and the last attempt to publish reached PostgreSQL. */
  reachable: boolean;
  schemaReady: boolean;
  outbox: OutboxDepth;
  published: number;
  lastDrainAt?: string;
  lastError?: string;
  typesRev: number;
  typesSyncedAt?: string;
  /** This host raises the fleet check events. */
  checker: boolean;
  findings: Record<string, number>;
}

export class Fleet {
  readonly pool: pg.Pool;
  readonly publisher: NicPublisher;
  readonly typeSync: FleetTypeSync;
  readonly writer: TypeWriter;
  readonly host: string;
  private schemaReady = false;
  private stopped = false;
  private session?: pg.Client;
  private leader = false;
  private findings: FleetFinding[] = [];
  private timers: NodeJS.Timeout[] = [];
  private tasks: Array<Promise<unknown>> = [];
  private wakeSession?: () => void;
  /** The catch-up round running, and the one more round asked for meanwhile (shared by every caller since). */
  private round?: Promise<void>;
  private nextRound?: Promise<void>;
  private readonly findingsGauge?: Gauge<'check'>;
  private readonly prunedCounter?: Counter;

  constructor(private readonly o: FleetOptions) {
    const { config, db, types, log } = o;
    this.host = config.host;
    this.pool = createFleetPool(config, log);
    this.publisher = new NicPublisher({
      db,
      pool: this.pool,
      host: config.host,
      incarnation: incarnationOf(db),
      qbgVersion: o.qbgVersion,
      heartbeatMs: config.heartbeatSeconds * 1000,
      backoffMaxMs: config.backoffMaxSeconds * 1000,
      batchSize: config.drainBatch,
      log,
    });
    this.typeSync = new FleetTypeSync({ pool: this.pool, db, types, log });
    const writer = new FleetTypeWriter({ pool: this.pool, types, sync: this.typeSync, host: config.host });
    // until the schema is there, type changes cannot reach the fleet: refuse them rather than fork the copy
    this.writer = {
      create: (i) => this.whenReady(() => writer.create(i)),
      edit: (n, c, opt) => this.whenReady(() => writer.edit(n, c, opt)),
      delete: (n, opt) => this.whenReady(() => writer.delete(n, opt)),
      importSpecs: (items) => this.whenReady(() => writer.importSpecs(items)),
    };
    if (o.metrics) {
      const registers = [o.metrics.registry];
      const self = this;
      this.findingsGauge = new Gauge({ name: 'qbg_fleet_findings', help: 'Fleet check findings now, by check', labelNames: ['check'], registers });
      for (const c of FLEET_CHECKS) this.findingsGauge.set({ check: c }, 0);
      this.prunedCounter = new Counter({ name: 'qbg_fleet_transitions_pruned_total', help: 'Fleet NIC transitions this host deleted as older than fleet.transitionRetentionDays', registers });
      new Gauge({
        name: 'qbg_fleet_outbox_rows',
        help: 'NIC changes of this host not yet in the fleet database',
        registers,
        collect() {
          this.set(self.publisher.depth().rows);
        },
      });
      new Gauge({
        name: 'qbg_fleet_up',
        help: '1 when the last attempt to publish to the fleet database succeeded',
        registers,
        collect() {
          this.set(self.schemaReady && self.publisher.status.reachable ? 1 : 0);
        },
      });
    }
  }

  private async whenReady<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.schemaReady) throw fleetUnavailable(new Error(this.publisher.status.lastError ?? 'not connected yet'));
    return fn();
  }

  /** Starts the background work; never waits for PostgreSQL. */
  start(): void {
    this.publisher.enqueueSnapshot((id) => this.o.nicRepo.get(id));
    this.tasks.push(this.connect());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.wakeSession?.();
    await this.publisher.stop();
    await this.session?.end().catch(() => undefined);
    await Promise.allSettled(this.tasks);
    await this.pool.end().catch(() => undefined);
  }

  /** A NIC changed: publish now. */
  wake(): void {
    this.publisher.wake();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      t.unref?.();
    });
  }

  private async connect(): Promise<void> {
    const { config, log } = this.o;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await migratePg(this.pool);
        await this.typeSync.seedOrLoad();
        break;
      } catch (e) {
        this.publisher.status.lastError = (e as Error).message;
        if (attempt === 1) log?.warn({ err: (e as Error).message }, 'fleet: PostgreSQL not ready; working locally and retrying');
        await this.sleep(Math.min(config.backoffMaxSeconds * 1000, 250 * 2 ** Math.min(attempt, 10)));
      }
    }
    if (this.stopped) return;
    this.schemaReady = true;
    log?.info({ host: this.host, postgres: redactUrl(config.postgres) }, 'fleet: connected');
    this.publisher.start();
    this.tasks.push(this.sessionLoop());
    const tick = setInterval(() => void this.catchUp(), config.catchUpSeconds * 1000);
    tick.unref?.();
    this.timers.push(tick);
    void this.catchUp();
  }

  /**
   * Periodic: types missed by NOTIFY, the checker lock, the fleet checks, and (checker only) the retention job. Errors
   * wait for the next tick. One round at a time: the tick, the (re)connected session and callers all ask for one, and
   * two at once ran the checks twice and sent the session connection a query while it ran another. A call while a
   * round runs gets one more round after it (it may ask about what that round started too early to see).
   */
  catchUp(): Promise<void> {
    if (!this.round) {
      this.round = this.catchUpRound().finally(() => (this.round = undefined));
      return this.round;
    }
    this.nextRound ??= this.round
      .catch(() => undefined)
      .then(() => {
        this.nextRound = undefined;
        return this.catchUp();
      });
    return this.nextRound;
  }

  private async catchUpRound(): Promise<void> {
    if (!this.schemaReady || this.stopped) return;
    await this.typeSync.syncNow().catch(() => undefined);
    if (this.session && !this.leader) {
      this.leader = await this.session
        .query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [CHECKER_LOCK])
        .then((r) => r.rows[0].ok)
        .catch(() => false);
    }
    await this.check().catch(() => undefined);
    if (this.leader) {
      await this.prune().catch((e) => this.o.log?.warn({ err: (e as Error).message }, 'fleet: pruning old NIC transitions failed'));
      await analyzeViewIfStale(this.pool)
        .then((ran) => ran && this.o.log?.info({ table: 'fleet_nics' }, 'fleet: analyzed the fleet view (its planner statistics lagged the table)'))
        .catch((e) => this.o.log?.warn({ err: (e as Error).message }, 'fleet: analyzing fleet_nics failed'));
    }
  }

  /** Deletes fleet NIC transitions older than the retention (one host does it for the fleet: the checker). */
  async prune(): Promise<number> {
    const days = this.o.config.transitionRetentionDays ?? FLEET_TRANSITION_RETENTION_DAYS;
    const n = await pruneTransitions(this.pool, days);
    if (n > 0) {
      this.prunedCounter?.inc(n);
      this.o.log?.info({ pruned: n, days }, 'fleet: pruned NIC transitions older than the retention');
    }
    return n;
  }

  /**
   * The fleet checks as of now. The checker runs them, records them in fleet_findings and raises an event for each
   * finding recorded for the first time; every other host reads the checker's last round (no query of its own on
   * the whole view). Either way the metric follows.
   */
  async check(): Promise<FleetFinding[]> {
    let found: FleetFinding[];
    if (this.leader) {
      found = await runFleetChecks(this.pool, { staleSeconds: this.o.config.staleSeconds, migrationGraceSeconds: this.o.config.migrationGraceSeconds });
      for (const f of await recordFindings(this.pool, found, this.host)) {
        this.o.log?.warn({ check: f.check, ...f.detail }, 'fleet check');
        this.o.bus.publish({ kind: FLEET_CHECK_EVENTS[f.check], detail: { ...f.detail, checkedBy: this.host }, at: new Date().toISOString() });
      }
    } else {
      found = await readFindings(this.pool);
    }
    this.findings = found;
    for (const c of FLEET_CHECKS) this.findingsGauge?.set({ check: c }, found.filter((f) => f.check === c).length);
    return found;
  }

  /** A dedicated connection: LISTEN for type changes; it also carries the checker lock. Reconnects with backoff. */
  private async sessionLoop(): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      const s = createFleetSession(this.o.config);
      const ended = new Promise<void>((resolve) => {
        // `on`, not `once`: a dying connection may report twice (PostgreSQL's "terminating connection" or a socket
        // error, then its end), and an 'error' with no listener left throws, taking qbg down
        s.on('error', () => resolve());
        s.once('end', () => resolve());
        this.wakeSession = resolve;
      });
      try {
        await s.connect();
        s.on('notification', (m) => {
          if (m.channel === TYPES_CHANNEL) void this.typeSync.syncNow().catch(() => undefined);
        });
        await s.query(`LISTEN ${TYPES_CHANNEL}`);
        this.session = s;
        failures = 0;
        // whatever changed while we were not listening
        void this.catchUp();
        await ended;
      } catch {
        failures++;
      } finally {
        this.session = undefined;
        this.leader = false;
        await s.end().catch(() => undefined);
      }
      if (!this.stopped) await this.sleep(Math.min(this.o.config.backoffMaxSeconds * 1000, 250 * 2 ** Math.min(failures, 10)));
    }
  }

  status(): FleetStatus {
    const p = this.publisher.status;
    const counts: Record<string, number> = {};
    for (const c of FLEET_CHECKS) counts[c] = this.findings.filter((f) => f.check === c).length;
    const s: FleetStatus = {
      enabled: true,
      host: this.host,
      postgres: redactUrl(this.o.config.postgres),
      reachable: this.schemaReady && p.reachable,
      schemaReady: this.schemaReady,
      outbox: this.publisher.depth(),
      published: p.published,
      typesRev: this.typeSync.localRev(),
      checker: this.leader,
      findings: counts,
    };
    if (p.lastDrainAt) s.lastDrainAt = p.lastDrainAt;
    if (p.lastError && !s.reachable) s.lastError = p.lastError;
    if (this.typeSync.lastSyncAt) s.typesSyncedAt = this.typeSync.lastSyncAt;
    return s;
  }

  currentFindings(): FleetFinding[] {
    return this.findings;
  }

  async nics(filter: FleetNicFilter, page: { limit: number; cursor?: string }): Promise<FleetNicPage> {
    return listFleetNics(this.pool, filter, page).catch((e) => {
      throw fleetUnavailable(e);
    });
  }

  async hosts(): Promise<FleetHost[]> {
    return listFleetHosts(this.pool, this.o.config.staleSeconds).catch((e) => {
      throw fleetUnavailable(e);
    });
  }
}
