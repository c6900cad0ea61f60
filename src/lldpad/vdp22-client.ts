// VsiAssociator over lldpad's client socket, speaking VDP22 the way vdptool does — but with ONE event consumer
// that matches every outcome to its request by instance UUID (vdptool -W prints whichever event comes next, and
// parallel vdptools steal each other's events). Many requests may be in flight at once.
import { qbgError } from '../domain/errors.js';
import { decodeClifStatus, decodeVdpReason } from '../domain/vdp-reasons.js';
import type { VdpRequestMode, VsiAssociator, VsiEvent, VsiOutcome, VsiRequest, VsiStatus } from '../domain/vsi-request.js';
import { parseUuid } from '../domain/identifiers.js';
import {
  decodeQueryReply,
  decodeVsiEvent,
  encodeVsiQuery,
  encodeVsiSet,
  VDP22_MODULE_ID,
  type ClifVsi,
  type VdpHint,
} from './clif-protocol.js';
import { ClifSocket, type ClifSocketOptions, type ClifStatus } from './clif-socket.js';

export interface Vdp22ClientOptions extends ClifSocketOptions {
  /** How long to wait for lldpad's outcome event of a request, from when it is sent (libvirt waits 10 s). */
  requestTimeoutMs?: number;
  /**
   * Requests handed to lldpad at once; more wait in our queue. Default 1. Measured in the lab on a loaded machine
   * (load 18 on 2 cores), 100 associations: 1 at a time 100/100 accepted in 1.1 s; 5 or 20 at a time 1–6 % failed
   * inside lldpad after ~16 s (ECP ACK timeout: the peers miss the 2.56 ms ACK window when several VDP exchanges
   * overlap) and held VSIs lost keep-alives. A lost VSI costs a VM its network; 5–10 ms per VSI costs little.
   * On a quiet machine more in flight is faster (see docs/transport.md).
   */
  maxInFlight?: number;
  /**
   * How long to wait for a request's outcome event before asking lldpad (query) what it holds, and the period of
   * further queries until requestTimeoutMs. lldpad answers in milliseconds; an event datagram lost on the way (nothing
   * repeats it) would otherwise hold the queue for the whole timeout. It cannot shorten a request lldpad itself has
   * no bridge answer for (listed with hints 255; see docs/benchmarks.md). Default 1500 ms; 0 = never query.
   */
  outcomeGraceMs?: number;
  /**
   * TEST ONLY: return true to throw away lldpad's outcome event for this instance UUID as if the datagram had been
   * lost, so a lab test can prove the query fallback. Production code must never set it.
   */
  testDropEvent?: (instanceUuid: string) => boolean;
}

/** A request may carry 802.1Qbg migration hints (M/S bits); libvirt-style callers leave them out. */
export type Vdp22Request = VsiRequest & { hints?: VdpHint };

interface Waiter {
  mode: VdpRequestMode;
  uplink: string;
  typeId: number;
  typeIdVersion: number;
  started: number;
  settle: (o: VsiOutcome) => void;
}

const QUERY_MODES = ['assoc', 'preassoc', 'preassoc-rr'] as const;

export class Vdp22Client implements VsiAssociator {
  private readonly socket: ClifSocket;
  private readonly requestTimeoutMs: number;
  private readonly outcomeGraceMs: number;
  private readonly testDropEvent?: (instanceUuid: string) => boolean;
  /** uuid → mode of requests settled from a query: their event may still come late and must not read as news. */
  private readonly settledByQuery = new Map<string, VdpRequestMode>();
  /** Requests waiting for their event, per instance UUID, oldest first. */
  private readonly waiters = new Map<string, Waiter[]>();
  /** VSIs this client made and lldpad holds (uuid → uplink): events lack the interface; a restart loses them. */
  private readonly held = new Map<string, string>();
  private readonly listeners = new Set<(e: VsiEvent) => void>();
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly queue: Array<() => void> = [];

  constructor(opts: Vdp22ClientOptions = {}) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.outcomeGraceMs = Math.max(0, opts.outcomeGraceMs ?? 1500);
    this.testDropEvent = opts.testDropEvent;
    this.socket = new ClifSocket({ ...opts, attach: [VDP22_MODULE_ID] });
    this.socket.onEvent((e) => {
      if (e.moduleId === VDP22_MODULE_ID) this.onVdpEvent(e.payload);
    });
    this.socket.onStatus((s) => this.onSocketStatus(s));
  }

  async request(req: Vdp22Request, opts: { timeoutMs?: number } = {}): Promise<VsiOutcome> {
    const msg = encodeVsiSet(req, req.hints ?? 'none'); // throws field errors for bad input
    await this.acquire();
    try {
      return await this.send(req, msg, opts.timeoutMs ?? this.requestTimeoutMs);
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve)); // the slot is handed over by release()
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inFlight--;
  }

  private async send(req: Vdp22Request, msg: string, timeoutMs: number): Promise<VsiOutcome> {
    const uuid = req.instanceUuid.toLowerCase();
    const started = performance.now();
    let settle!: (o: VsiOutcome) => void;
    const outcome = new Promise<VsiOutcome>((resolve) => (settle = resolve));
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      mode: req.mode,
      uplink: req.uplink,
      typeId: req.typeId,
      typeIdVersion: req.typeIdVersion,
      started,
      settle: (o) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(grace);
        this.removeWaiter(uuid, waiter);
        settle(o);
      },
    };
    // Registered before sending: when the uplink is down lldpad may emit the failure event before its R reply.
    const list = this.waiters.get(uuid) ?? [];
    list.push(waiter);
    this.waiters.set(uuid, list);
    try {
      const reply = await this.socket.command(msg);
      if (reply.status !== 0) {
        waiter.settle({ kind: 'transport-error', message: this.refusal(req, reply.status), clifStatus: reply.status });
      } else if (!done) {
        timer = setTimeout(() => waiter.settle({ kind: 'timeout', afterMs: Math.round(performance.now() - started) }), timeoutMs);
        if (this.outcomeGraceMs > 0) {
          // The outcome event is one datagram; if it is lost nothing repeats it. Ask lldpad what it holds instead.
          const check = (): void => {
            void this.settleFromQuery(uuid, waiter).then(() => {
              if (!done) grace = setTimeout(check, this.outcomeGraceMs);
            });
          };
          grace = setTimeout(check, this.outcomeGraceMs);
        }
      }
    } catch (e) {
      waiter.settle({ kind: 'transport-error', message: (e as Error).message });
    }
    return outcome;
  }

  /**
   * Settles a request whose outcome event is overdue from what lldpad holds. Only a definite answer settles it:
   * the VSI held in the mode and type asked for with the bridge's "accepted" (hints 0), or — for deassoc — no VSI
   * at all. Anything else (still 255 = no bridge answer yet, an older mode) leaves the request waiting; a failure
   * still arrives as its event or ends in the timeout.
   */
  private async settleFromQuery(uuid: string, w: Waiter): Promise<void> {
    let found: ClifVsi | undefined;
    try {
      found = await this.queryVsi(w.uplink, uuid);
    } catch {
      return; // lldpad busy or restarting: the next check or the timeout decides
    }
    if (!this.waiters.get(uuid)?.includes(w)) return; // the event came while we asked
    const latencyMs = Math.round((performance.now() - w.started) * 1000) / 1000;
    if (w.mode === 'deassoc') {
      if (found) return;
      this.held.delete(uuid);
    } else {
      const same = found && found.mode === w.mode && found.hints === 0 && found.typeId === w.typeId && found.typeIdVersion === w.typeIdVersion;
      if (!same) return;
      this.held.set(uuid, w.uplink);
    }
    this.settledByQuery.set(uuid, w.mode);
    // An event that is really lost never clears its entry: keep only the latest few hundred.
    if (this.settledByQuery.size > 512) this.settledByQuery.delete(this.settledByQuery.keys().next().value!);
    w.settle({ kind: 'accepted', mode: w.mode, latencyMs, ...(found && found.filters.length ? { filters: found.filters } : {}) });
  }

  async query(uplink: string, instanceUuid: string): Promise<VsiStatus | undefined> {
    const found = await this.queryVsi(uplink, parseUuid(instanceUuid, 'instanceUuid'));
    return found ? toStatus(found) : undefined;
  }

  /** lldpad's raw record of one VSI (hints = the bridge's answer, 255 while none), or undefined. */
  private async queryVsi(uplink: string, uuid: string): Promise<ClifVsi | undefined> {
    // lldpad only finds a VSI whose current mode is the query's: ask for each mode at once.
    const replies = await Promise.all(QUERY_MODES.map((m) => this.socket.command(encodeVsiQuery(uplink, uuid, m))));
    for (const r of replies) {
      if (r.status !== 0) {
        const why = decodeClifStatus(r.status);
        throw qbgError('QBG_ERR_LLDPAD_COMMAND', `the query of VSI ${uuid} on ${uplink}`, `${why.text} (${why.name})`);
      }
    }
    return replies.flatMap((r) => decodeQueryReply(r.body)).find((v) => v.instanceUuid === uuid && v.mode !== 'unknown');
  }

  onEvent(listener: (e: VsiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async ping(): Promise<{ ok: boolean; pid?: number }> {
    try {
      return { ok: true, pid: await this.socket.ping() };
    } catch {
      return { ok: false };
    }
  }

  async close(): Promise<void> {
    await this.socket.close();
    for (const list of [...this.waiters.values()]) {
      for (const w of [...list]) w.settle({ kind: 'transport-error', message: 'client closed while waiting for lldpad' });
    }
  }

  private refusal(req: VsiRequest, status: number): string {
    const why = decodeClifStatus(status);
    const r = `R${status.toString(16).padStart(2, '0')}`;
    if (status === 2) return `lldpad does not know uplink ${req.uplink} or it is down (${why.name}, ${r})`;
    const extra = req.mode === 'deassoc' && status === 5 ? '; lldpad also answers this when the VSI is not associated' : '';
    return `lldpad refused ${req.mode} of VSI ${req.instanceUuid} on ${req.uplink}: ${why.text}${extra} (${why.name}, ${r})`;
  }

  private removeWaiter(uuid: string, w: Waiter): void {
    const list = this.waiters.get(uuid);
    if (!list) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.waiters.delete(uuid);
  }

  private onVdpEvent(payload: string): void {
    let vsi: ClifVsi;
    try {
      vsi = decodeVsiEvent(payload);
    } catch {
      return; // not a VSI event we can read: nothing to match it to
    }
    const uuid = vsi.instanceUuid;
    if (this.testDropEvent?.(uuid)) return;
    // The late event of a request a query already settled: it says what we already know.
    const known = this.settledByQuery.get(uuid);
    if (known !== undefined) {
      this.settledByQuery.delete(uuid);
      if (vsi.mode === known && !this.waiters.has(uuid)) return;
    }
    const waiter = this.waiters.get(uuid)?.[0];
    const code = Number.isInteger(vsi.hints) ? vsi.hints : -1;
    if (waiter) {
      const latencyMs = Math.round((performance.now() - waiter.started) * 1000) / 1000;
      // A failure is a normal event: lldpad reports the mode the VSI ended in (deassoc) and the reason in "hints".
      // Asking for deassoc always ends in deassoc.
      if (vsi.mode === waiter.mode && (waiter.mode === 'deassoc' || code === 0)) {
        if (waiter.mode === 'deassoc') this.held.delete(uuid);
        else this.held.set(uuid, waiter.uplink);
        // the event lists the filters as lldpad now holds them: with the VID the bridge assigned to a wildcard
        waiter.settle({ kind: 'accepted', mode: waiter.mode, latencyMs, ...(vsi.filters.length ? { filters: vsi.filters } : {}) });
      } else {
        this.held.delete(uuid);
        const r = decodeVdpReason(code);
        const modeNote = vsi.mode === waiter.mode ? '' : ` (lldpad reports ${vsi.mode}, asked for ${waiter.mode})`;
        waiter.settle({ kind: 'rejected', reasonCode: code, reason: `${r.name}: ${r.text}${modeNote}`, latencyMs });
      }
      return;
    }
    // Nobody waits: the bridge ended the VSI, keep-alives failed, or another client (vdptool) acted on it.
    if (vsi.mode !== 'deassoc') return;
    const uplink = this.held.get(uuid);
    this.held.delete(uuid);
    const r = decodeVdpReason(code);
    const lost = code > 0xff; // lldpad's own error bits: keep-alive / ACK timeout, transmission error
    this.emit({
      kind: lost ? 'lost' : 'deassociated-by-bridge',
      instanceUuid: uuid,
      ...(uplink !== undefined ? { uplink } : {}),
      reasonCode: code,
      reason: code === 0 ? 'the VSI was de-associated without a request from this client (by the bridge or another lldpad client)' : `${r.name}: ${r.text}`,
      at: new Date().toISOString(),
    });
  }

  private onSocketStatus(s: ClifStatus): void {
    if (s.kind !== 'restarted') return;
    // lldpad keeps VSIs in memory only: a restarted lldpad holds none of ours, and will never answer the pending ones.
    const reason = `lldpad restarted (pid ${s.oldPid} → ${s.pid}); it keeps VSIs in memory only, so this VSI is gone`;
    for (const list of [...this.waiters.values()]) {
      for (const w of [...list]) w.settle({ kind: 'transport-error', message: reason });
    }
    const at = new Date().toISOString();
    for (const [uuid, uplink] of this.held) this.emit({ kind: 'lost', instanceUuid: uuid, uplink, reason, at });
    this.held.clear();
  }

  private emit(e: VsiEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a listener's bug must not stop the others */
      }
    }
  }
}

/** lldpad's "no response from the bridge" status (vdp-reasons NO_RESPONSE): the VSI is listed but not granted. */
const HINTS_NO_RESPONSE = 255;

function toStatus(v: ClifVsi): VsiStatus | undefined {
  if (v.mode === 'unknown') return undefined;
  // While the bridge is gone lldpad keeps listing the VSI it is still retrying, with status 255. The bridge holds
  // nothing for it, so neither does qbg: report it as not held (a check then marks the NIC, the reconciler retries).
  if (v.hints === HINTS_NO_RESPONSE) return undefined;
  return {
    instanceUuid: v.instanceUuid,
    mode: v.mode,
    typeId: v.typeId,
    typeIdVersion: v.typeIdVersion,
    // lldpad cannot print back a manager id whose first byte is 0 (see decodeManagerId2): '' = unknown.
    managerId2: v.managerId2 ?? '',
    filters: v.filters,
  };
}
