// Keeps lldpad holding what qbg's NICs should hold. lldpad keeps VSIs in memory only and libvirt never
// re-associates, so after an lldpad restart (or a bridge that de-associated, or a request that timed out) nobody
// but qbg will bring the VSIs back. A sweep asks lldpad about every NIC that should be held — one query per
// instance UUID, because lldpad's "list all" prints nothing once it holds more than ~20–30 VSIs — and
// re-associates what is missing, a few at a time. Failing NICs are retried with exponential backoff and jitter, but
// not for ever: a failure lldpad or the bridge calls permanent is not retried, and after maxAttempts the NIC settles
// in 'failed' (a nic.failed webhook) until someone asks again — an explicit associate, a per-NIC reconcile or an admin
// sweep (POST /reconcile). Without the bound a VSI the bridge keeps ignoring was re-sent for ever, and each request
// made lldpad busy (R0f) for the next one.
import { isQbgError } from '../domain/errors.js';
import { decodeClifStatus, decodeVdpReason, isPermanentClifStatus, isPermanentVdpFailure } from '../domain/vdp-reasons.js';
import type { VsiAssociator, VsiOutcome } from '../domain/vsi-request.js';
import type { NicService } from './nic-service.js';
import type { NicKey } from '../store/nic-repo.js';
import type { ServiceNotice, TransitionBus } from './transition-bus.js';
import { TurnSlice } from './turn-slice.js';

export interface ReconcilerOptions {
  service: NicService;
  associator: VsiAssociator;
  bus?: TransitionBus;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** How often lldpad is pinged to notice a restart (pid change) or an outage. */
  pingIntervalMs?: number;
  /**
   * How often while lldpad does not answer (0 = only every pingIntervalMs): a restarted lldpad is then swept for
   * within this of answering again — its VDP needs about a second more to start (the VDP22 client holds requests
   * until it runs), so the sweep is under way when it does instead of up to a ping period later.
   */
  unreachablePingMs?: number;
  /** Full sweep period (0 = only on start / restart / reachable again / on demand). */
  sweepIntervalMs?: number;
  /** How often NICs that failed are retried when their backoff is over. */
  retryIntervalMs?: number;
  /** NICs worked on at once. */
  concurrency?: number;
  /** Wait before the 2nd attempt for a failing NIC; doubles per failure (±25 % jitter) up to backoffMaxMs. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Failed attempts (lldpad or the bridge answered, or said nothing in time) before the reconciler gives up. */
  maxAttempts?: number;
  /** Counts every request the reconciler sends again (qbg_reconcile_retries_total). */
  metrics?: { reconcileRetry(outcome: RetryOutcome, reason: string): void };
}

/** accepted: lldpad holds it now; failed: will be retried; gave-up: attempts used up or the failure is permanent. */
export type RetryOutcome = 'accepted' | 'failed' | 'gave-up';

export interface SweepReport {
  reason: string;
  checked: number;
  /** held as they should be: nothing sent */
  ok: number;
  /** lldpad was asked again and accepted */
  repaired: number;
  /** asked again and not accepted, or could not be checked */
  failed: number;
  /** skipped: busy with a hook request, in backoff, or given up (until someone asks again) */
  skipped: number;
  /** failed this time and given up on: permanent failure or attempts used up */
  gaveUp: number;
  durationMs: number;
}

const HELD_MODES = ['assoc', 'preassoc', 'preassoc-rr'] as const;

/**
 * NICs read per step of a sweep (by cursor). Each read holds the event loop, and the chunk's NICs stay alive until
 * all are checked: with 500, a chunk read took ~6 ms on a loaded machine (docs/benchmarks.md) and the chunk was most
 * of V8's 1 MB young generation, which every scavenge copied. Status reads are served between the steps.
 */
const SWEEP_CHUNK = 100;

/**
 * The longest a sweep holds the event loop before it lets the requests that arrived meanwhile be served. Its
 * workers' checks each take ~0.1 ms of CPU; with 16 of them answered in the same turn a sweep held the loop 2–3 ms
 * per turn and every status read queued behind that (100,000 NICs, a page read during a sweep: median 2 → 1 ms;
 * docs/benchmarks.md).
 */
const SWEEP_SLICE_MS = 1;

export class Reconciler {
  private readonly o: Required<Omit<ReconcilerOptions, 'bus' | 'log' | 'metrics'>> & Pick<ReconcilerOptions, 'bus' | 'log' | 'metrics'>;
  private timers: NodeJS.Timeout[] = [];
  private lldpadPid?: number;
  private reachable?: boolean;
  private running?: Promise<SweepReport>;
  private again?: string;
  /** failures: attempts counted toward maxAttempts; waits: backoffs so far (also those that count nothing). */
  private readonly backoff = new Map<string, { failures: number; waits: number; notBefore: number }>();
  private pinging = false;
  private pingSoon?: NodeJS.Timeout;
  private stopped = true;
  private unsubscribe?: () => void;

  constructor(opts: ReconcilerOptions) {
    this.o = {
      pingIntervalMs: 1000,
      unreachablePingMs: 100,
      sweepIntervalMs: 5 * 60_000,
      retryIntervalMs: 1000,
      concurrency: 16,
      backoffBaseMs: 1000,
      backoffMaxMs: 60_000,
      maxAttempts: 8,
      ...opts,
    };
  }

  /** First sweep now, then watch lldpad and sweep on restart / periodically; retries run on their own tick. */
  async start(): Promise<SweepReport> {
    this.stopped = false;
    this.unsubscribe = this.o.bus?.subscribe((e) => {
      if (e.kind === 'nic-transition' && e.to === 'lost') this.repairSoon(e.nicId);
    });
    const first = await this.ping();
    this.timers.push(setInterval(() => void this.ping(), this.o.pingIntervalMs));
    if (this.o.sweepIntervalMs > 0) this.timers.push(setInterval(() => void this.sweep('periodic'), this.o.sweepIntervalMs));
    this.timers.push(setInterval(() => void this.retryDue(), this.o.retryIntervalMs));
    for (const t of this.timers) t.unref();
    return first ?? this.sweep('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.pingSoon);
    this.pingSoon = undefined;
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
        this.pingAgainSoon();
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

  /** While lldpad does not answer, look again every unreachablePingMs rather than every pingIntervalMs. */
  private pingAgainSoon(): void {
    if (this.stopped || this.pingSoon || this.o.unreachablePingMs <= 0) return;
    this.pingSoon = setTimeout(() => {
      this.pingSoon = undefined;
      void this.ping();
    }, this.o.unreachablePingMs);
    this.pingSoon.unref();
  }

  /**
   * A NIC lldpad says it lost (its keep-alives went unanswered, the bridge ended it, lldpad restarted) is repaired on
   * the next retry tick instead of at the next full sweep (5 minutes by default): until then its VM has no network.
   * A NIC already failing keeps its backoff.
   */
  private repairSoon(id: string): void {
    if (!this.backoff.has(id)) this.backoff.set(id, { failures: 0, waits: 0, notBefore: Date.now() });
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
    // Read a chunk at a time (by cursor), not every NIC up front: with 100,000 NICs one read of them all held the
    // event loop for a second, and every API request waited behind it (SWEEP_CHUNK).
    const held = filter.uplink ? { uplink: filter.uplink } : {};
    const chunks: Iterable<NicKey[]> = filter.ids
      ? [filter.ids.map((id) => repo.get(id)).filter((n) => n !== undefined)]
      : (function* () {
          yield* repo.chunks({ desiredMode: [...HELD_MODES], ...held }, SWEEP_CHUNK);
          yield* repo.chunks({ desiredMode: ['deassoc'], state: ['failed', 'timed-out', 'lost', 'disassociating'], ...held }, SWEEP_CHUNK);
        })();
    const slice = new TurnSlice(SWEEP_SLICE_MS);
    const report: SweepReport = { reason, checked: 0, ok: 0, repaired: 0, failed: 0, skipped: 0, gaveUp: 0, durationMs: 0 };
    // An admin sweep is someone asking again: it retries NICs given up on too.
    const explicit = reason === 'admin';
    this.notice('reconcile-started', { reason, nics: filter.ids ? filter.ids.length : repo.count(held) });
    for (const chunk of chunks) {
      if (this.stopped) break;
      // "in backoff" as of this chunk: a NIC lldpad reported lost since the sweep began (repairSoon: due at once, as
      // after a restart) must not be skipped as if it were backing off, and left to a retry sweep a tick later.
      const now = Date.now();
      const nics = chunk.filter((n) => {
        const b = this.backoff.get(n.id);
        const skip =
          service.busy(n.id) ||
          (b !== undefined && b.notBefore > now && reason !== 'retry' && !explicit) ||
          (n.state === 'failed' && !explicit && service.givenUp(n.id));
        if (skip) report.skipped++;
        return !skip;
      });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < nics.length && !this.stopped) {
          const wait = slice.pace();
          if (wait) await wait;
          if (next >= nics.length || this.stopped) break;
          const nic = nics[next++];
          report.checked++;
          try {
            const r = await service.reconcile(nic.id, reason === 'retry' ? 'reconcile-retry' : 'reconcile');
            const after = r.answer?.nic ?? r.check.nic;
            const good = after.state === 'associated' || after.state === 'pre-associated' || after.state === 'disassociated';
            if (!r.answer && good) report.ok++;
            else if (good) report.repaired++;
            else report.failed++;
            if (good) {
              this.backoff.delete(nic.id);
              if (r.answer) this.o.metrics?.reconcileRetry('accepted', 'SUCCESS');
            } else {
              const why = failureOf(r.answer?.outcome);
              const failures = this.fail(nic.id);
              if (why.permanent || failures >= this.o.maxAttempts) {
                report.gaveUp++;
                await this.giveUp(nic.id, why, failures, after.reason);
              } else {
                this.o.metrics?.reconcileRetry('failed', why.name);
                this.o.log?.warn({ nicId: nic.id, attempt: failures, maxAttempts: this.o.maxAttempts, reason: after.reason }, 'reconcile of a NIC failed: will retry');
              }
            }
          } catch (e) {
            report.failed++;
            // lldpad not reachable: nothing was asked of it, so it costs no attempt (the NICs wait for it with backoff)
            const unreachable = isQbgError(e) && e.code === 'QBG_ERR_LLDPAD_UNREACHABLE';
            const failures = this.fail(nic.id, !unreachable);
            this.o.metrics?.reconcileRetry('failed', unreachable ? 'LLDPAD_UNREACHABLE' : 'ERROR');
            this.o.log?.warn({ nicId: nic.id, err: (e as Error).message, attempt: failures }, 'reconcile of a NIC failed');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.o.concurrency, nics.length) }, worker));
    }
    report.durationMs = Math.round(performance.now() - started);
    this.notice('reconcile-finished', { ...report });
    return report;
  }

  /** Back off after a failure; returns the attempts counted so far (`counts` false: back off, count nothing). */
  private fail(id: string, counts = true): number {
    const prev = this.backoff.get(id);
    const failures = (prev?.failures ?? 0) + (counts ? 1 : 0);
    const waits = (prev?.waits ?? 0) + 1;
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (waits - 1));
    // jitter: NICs that failed together do not all retry in the same instant
    this.backoff.set(id, { failures, waits, notBefore: Date.now() + delay * (0.75 + Math.random() * 0.5) });
    return failures;
  }

  private async giveUp(id: string, why: { name: string; permanent: boolean }, attempts: number, last: string | undefined): Promise<void> {
    this.backoff.delete(id);
    const reason = why.permanent
      ? `not retried: lldpad or the bridge called the failure permanent (${last ?? why.name})`
      : `gave up after ${attempts} failed attempts (${last ?? why.name}); associate again to retry`;
    await this.o.service.giveUp(id, reason);
    this.o.metrics?.reconcileRetry('gave-up', why.name);
    this.o.log?.warn({ nicId: id, attempts, permanent: why.permanent, reason: last }, 'reconciler gave up on a NIC');
  }

  private notice(kind: ServiceNotice['kind'], detail: Record<string, unknown>): void {
    // logged at its level by the bus's reader (logBusEvents), not here a second time
    this.o.bus?.publish({ kind, detail, at: new Date().toISOString() });
  }
}

/** What a failed attempt says: a stable reason name (metrics label) and whether retrying can ever help. */
export function failureOf(o: VsiOutcome | undefined): { name: string; permanent: boolean } {
  switch (o?.kind) {
    case 'rejected':
      return { name: decodeVdpReason(o.reasonCode).name, permanent: isPermanentVdpFailure(o.reasonCode) };
    case 'timeout':
      return { name: 'TIMEOUT', permanent: false };
    case 'transport-error':
      return o.clifStatus === undefined
        ? { name: 'TRANSPORT_ERROR', permanent: false }
        : { name: decodeClifStatus(o.clifStatus).name, permanent: isPermanentClifStatus(o.clifStatus) };
    default:
      return { name: 'NOT_SETTLED', permanent: false };
  }
}
