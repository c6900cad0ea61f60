// Keeps lldpad holding what qbg's NICs should hold. lldpad keeps VSIs in memory only and libvirt never
// re-associates, so after an lldpad restart (or a bridge that de-associated, or a request that timed out) nobody
// but qbg will bring the VSIs back. A sweep asks lldpad about every NIC that should be held — one query per
// instance UUID, because lldpad's "list all" prints nothing once it holds more than ~20–30 VSIs — and
// re-associates what is missing, a few at a time; failing NICs are retried with exponential backoff.
import type { VsiAssociator } from '../domain/vsi-request.js';
import type { NicService } from './nic-service.js';
import type { ServiceNotice, TransitionBus } from './transition-bus.js';

export interface ReconcilerOptions {
  service: NicService;
  associator: VsiAssociator;
  bus?: TransitionBus;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** How often lldpad is pinged to notice a restart (pid change) or an outage. */
  pingIntervalMs?: number;
  /** Full sweep period (0 = only on start / restart / reachable again / on demand). */
  sweepIntervalMs?: number;
  /** How often NICs that failed are retried when their backoff is over. */
  retryIntervalMs?: number;
  /** NICs worked on at once. */
  concurrency?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface SweepReport {
  reason: string;
  checked: number;
  /** held as they should be: nothing sent */
  ok: number;
  /** lldpad was asked again and accepted */
  repaired: number;
  /** asked again and not accepted, or could not be checked */
  failed: number;
  /** skipped: busy with a hook request, or in backoff */
  skipped: number;
  durationMs: number;
}

const HELD_MODES = ['assoc', 'preassoc', 'preassoc-rr'] as const;

export class Reconciler {
  private readonly o: Required<Omit<ReconcilerOptions, 'bus' | 'log'>> & Pick<ReconcilerOptions, 'bus' | 'log'>;
  private timers: NodeJS.Timeout[] = [];
  private lldpadPid?: number;
  private reachable?: boolean;
  private running?: Promise<SweepReport>;
  private again?: string;
  private readonly backoff = new Map<string, { failures: number; notBefore: number }>();
  private pinging = false;
  private stopped = true;

  constructor(opts: ReconcilerOptions) {
    this.o = {
      pingIntervalMs: 1000,
      sweepIntervalMs: 5 * 60_000,
      retryIntervalMs: 1000,
      concurrency: 16,
      backoffBaseMs: 1000,
      backoffMaxMs: 60_000,
      ...opts,
    };
  }

  /** First sweep now, then watch lldpad and sweep on restart / periodically; retries run on their own tick. */
  async start(): Promise<SweepReport> {
    this.stopped = false;
    const first = await this.ping();
    this.timers.push(setInterval(() => void this.ping(), this.o.pingIntervalMs));
    if (this.o.sweepIntervalMs > 0) this.timers.push(setInterval(() => void this.sweep('periodic'), this.o.sweepIntervalMs));
    this.timers.push(setInterval(() => void this.retryDue(), this.o.retryIntervalMs));
    for (const t of this.timers) t.unref();
    return first ?? this.sweep('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.running?.catch(() => undefined);
  }

  /** The uplink monitor calls this when a bridge is back (EVB TLV seen again): retry at once, not after backoff. */
  bridgeBack(uplink: string): Promise<SweepReport> {
    for (const nic of this.o.service.repo.all({ uplink })) this.backoff.delete(nic.id);
    return this.sweep(`bridge-back:${uplink}`, { uplink });
  }

  /**
   * Check every NIC that should be held (and every failed one that should not, to drop zombies), or only those
   * of one uplink / the given ids. One sweep at a time; a sweep asked for while one runs makes one full sweep
   * afterwards (and shares the running one's report).
   */
  sweep(reason: string, filter: { uplink?: string; ids?: string[] } = {}): Promise<SweepReport> {
    if (this.running) {
      this.again = reason;
      return this.running;
    }
    const run = this.doSweep(reason, filter).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next && !this.stopped) void this.sweep(next);
    });
    this.running = run;
    return run;
  }

  private async ping(): Promise<SweepReport | undefined> {
    if (this.pinging) return undefined;
    this.pinging = true;
    try {
      const p = await this.o.associator.ping();
      if (!p.ok) {
        if (this.reachable !== false) this.notice('lldpad-unreachable', { lastPid: this.lldpadPid ?? null });
        this.reachable = false;
        return undefined;
      }
      const wasDown = this.reachable === false;
      const restarted = this.lldpadPid !== undefined && p.pid !== undefined && p.pid !== this.lldpadPid;
      const oldPid = this.lldpadPid;
      this.reachable = true;
      if (p.pid !== undefined) this.lldpadPid = p.pid;
      if (restarted) {
        // Everything lldpad held is gone: retry everyone at once, not after their backoff.
        this.backoff.clear();
        this.notice('lldpad-restarted', { oldPid, pid: p.pid });
        return await this.sweep('lldpad-restarted');
      }
      if (wasDown) {
        this.notice('lldpad-reachable', { pid: p.pid ?? null });
        return await this.sweep('lldpad-reachable');
      }
      return undefined;
    } finally {
      this.pinging = false;
    }
  }

  private async retryDue(): Promise<void> {
    if (this.running || this.stopped) return;
    const now = Date.now();
    const due = [...this.backoff.entries()].filter(([, b]) => b.notBefore <= now).map(([id]) => id);
    if (due.length) await this.sweep('retry', { ids: due });
  }

  private async doSweep(reason: string, filter: { uplink?: string; ids?: string[] }): Promise<SweepReport> {
    const started = performance.now();
    const { service } = this.o;
    const repo = service.repo;
    let nics = filter.ids
      ? filter.ids.map((id) => repo.get(id)).filter((n) => n !== undefined)
      : [
          ...repo.all({ desiredMode: [...HELD_MODES], ...(filter.uplink ? { uplink: filter.uplink } : {}) }),
          ...repo.all({ desiredMode: ['deassoc'], state: ['failed', 'timed-out', 'lost', 'disassociating'], ...(filter.uplink ? { uplink: filter.uplink } : {}) }),
        ];
    const now = Date.now();
    const report: SweepReport = { reason, checked: 0, ok: 0, repaired: 0, failed: 0, skipped: 0, durationMs: 0 };
    nics = nics.filter((n) => {
      const b = this.backoff.get(n.id);
      const skip = service.busy(n.id) || (b !== undefined && b.notBefore > now && reason !== 'retry');
      if (skip) report.skipped++;
      return !skip;
    });
    this.notice('reconcile-started', { reason, nics: nics.length });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < nics.length && !this.stopped) {
        const nic = nics[next++];
        report.checked++;
        try {
          const r = await service.reconcile(nic.id, reason === 'retry' ? 'reconcile-retry' : 'reconcile');
          const after = r.answer?.nic ?? r.check.nic;
          const good = after.state === 'associated' || after.state === 'pre-associated' || after.state === 'disassociated';
          if (!r.answer && good) report.ok++;
          else if (good) report.repaired++;
          else report.failed++;
          if (good) this.backoff.delete(nic.id);
          else this.fail(nic.id);
        } catch (e) {
          report.failed++;
          this.fail(nic.id);
          this.o.log?.warn({ nicId: nic.id, err: (e as Error).message }, 'reconcile of a NIC failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, nics.length) }, worker));
    report.durationMs = Math.round(performance.now() - started);
    this.notice('reconcile-finished', { ...report });
    return report;
  }

  private fail(id: string): void {
    const failures = (this.backoff.get(id)?.failures ?? 0) + 1;
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (failures - 1));
    // jitter: NICs that failed together do not all retry in the same instant
    this.backoff.set(id, { failures, notBefore: Date.now() + delay * (0.75 + Math.random() * 0.5) });
  }

  private notice(kind: ServiceNotice['kind'], detail: Record<string, unknown>): void {
    // logged at its level by the bus's reader (logBusEvents), not here a second time
    this.o.bus?.publish({ kind, detail, at: new Date().toISOString() });
  }
}
