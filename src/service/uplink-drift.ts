// Drift repair: lldpad forgets what is not in its config file when it restarts (and a restarted lldpad with a
// lost or empty config starts with EVB off), and an admin can change a setting by hand with lldptool. Both show up
// as a difference between the desired and the actual config; a restart also as a new lldpad pid. Each check
// compares, logs from→to, and re-applies. Runs every intervalMs and on demand (checkNow).
import { EventEmitter } from 'node:events';
import { describeChanges, type EvbSettingChange } from '../domain/evb-config.js';
import { isQbgError } from '../domain/errors.js';
import type { UplinkLogger, UplinkManager } from './uplink-manager.js';

export interface DriftCheck {
  uplink: string;
  netns?: string;
  /** lldpad's pid now (null: unreachable) */
  lldpadPid: number | null;
  /** the pid changed since the previous check */
  restarted: boolean;
  /** what differed before the repair (from = actual → to = desired) */
  drift: EvbSettingChange[];
  /** drift was found and re-applied */
  repaired: boolean;
  /** still different after the repair, or unreachable */
  inSync: boolean;
  peerEvbSeen: boolean;
  error?: { code: string; message: string };
}

export interface UplinkDriftOptions {
  manager: UplinkManager;
  /** period of the automatic check; 0 = only checkNow() */
  intervalMs?: number;
  log?: UplinkLogger;
}

/**
 * Events (all with { uplink, netns }): 'lldpad-restarted' (+ fromPid, toPid), 'lldpad-unreachable' (+ error),
 * 'drift' (+ changes), 'repaired' (+ changed), 'check' (the DriftCheck of every uplink, every round).
 */
export class UplinkDriftWatcher extends EventEmitter {
  private readonly manager: UplinkManager;
  private readonly intervalMs: number;
  private readonly log: UplinkLogger;
  private readonly lastPid = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<DriftCheck[]>;

  constructor(opts: UplinkDriftOptions) {
    super();
    this.manager = opts.manager;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.log = opts.log ?? { info() {}, warn() {} };
  }

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    const tick = (): void => {
      this.checkNow()
        .catch((e: unknown) => this.log.warn({ err: e }, 'uplink drift check failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.intervalMs).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Check every configured uplink once and repair drift. Concurrent calls share one round. */
  checkNow(): Promise<DriftCheck[]> {
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async round(): Promise<DriftCheck[]> {
    const desired = await this.manager.listDesired();
    const out: DriftCheck[] = [];
    for (const cfg of desired) out.push(await this.checkOne(cfg.uplink));
    return out;
  }

  private async checkOne(uplink: string): Promise<DriftCheck> {
    const st = await this.manager.status(uplink);
    const where = { uplink, ...(st.netns ? { netns: st.netns } : {}) };
    const pidKey = st.netns ?? '';
    const prev = this.lastPid.get(pidKey);
    let restarted = false;
    if (st.lldpadPid !== null) {
      restarted = prev !== undefined && prev !== st.lldpadPid;
      this.lastPid.set(pidKey, st.lldpadPid);
      if (restarted) {
        this.log.warn({ ...where, fromPid: prev, toPid: st.lldpadPid }, `lldpad restarted: pid ${prev}→${st.lldpadPid}`);
        this.emit('lldpad-restarted', { ...where, fromPid: prev, toPid: st.lldpadPid });
      }
    }
    const check: DriftCheck = {
      ...where,
      lldpadPid: st.lldpadPid,
      restarted,
      drift: st.actual ? st.diff : [],
      repaired: false,
      inSync: st.inSync,
      peerEvbSeen: st.peerEvbSeen,
    };
    if (st.error) {
      check.error = st.error;
      this.log.warn({ ...where, error: st.error }, `uplink ${uplink}: lldpad unreachable: ${st.error.message}`);
      this.emit('lldpad-unreachable', { ...where, error: st.error });
    } else if (!st.inSync) {
      this.log.warn({ ...where, changes: st.diff }, `uplink ${uplink}: drift ${describeChanges(st.diff)}`);
      this.emit('drift', { ...where, changes: st.diff });
      try {
        const rep = await this.manager.apply(uplink);
        check.repaired = rep.changed.length > 0;
        check.inSync = rep.remaining.length === 0 && rep.status.inSync;
        check.peerEvbSeen = rep.status.peerEvbSeen;
        if (rep.status.lldpadPid !== null) this.lastPid.set(pidKey, rep.status.lldpadPid);
        this.emit('repaired', { ...where, changed: rep.changed });
      } catch (e) {
        if (!isQbgError(e)) throw e;
        check.error = { code: e.code, message: e.message };
        this.log.warn({ ...where, error: check.error }, `uplink ${uplink}: repair failed: ${e.message}`);
      }
    }
    this.emit('check', check);
    return check;
  }
}
