// VsiAssociator over lldpad's client socket, speaking VDP22 the way vdptool does — but with ONE event consumer
// that matches every outcome to its request by instance UUID (vdptool -W prints whichever event comes next, and
// parallel vdptools steal each other's events). Many requests may be in flight at once.
import { qbgError } from '../domain/errors.js';
import { decodeClifStatus, decodeVdpReason } from '../domain/vdp-reasons.js';
import type { VdpRequestMode, VsiAssociator, VsiEvent, VsiOutcome, VsiRequest, VsiStatus } from '../domain/vsi-request.js';
import { parseUuid } from '../domain/identifiers.js';
import { RequestWindow } from '../domain/request-window.js';
import {
  decodeQueryReply,
  decodeVsiEvent,
  encodeVsiQuery,
  encodeVsiSet,
  VDP22_MODULE_ID,
  type ClifReply,
  type ClifVsi,
  type VdpHint,
} from './clif-protocol.js';
import { ClifSocket, type ClifSocketOptions, type ClifStatus } from './clif-socket.js';

export interface Vdp22ClientOptions extends ClifSocketOptions {
  /** How long to wait for lldpad's outcome event of a request, from when it is sent (libvirt waits 10 s). */
  requestTimeoutMs?: number;
  /**
   * Upper bound of the requests handed to lldpad at once PER UPLINK (each uplink is its own ECP channel); more wait
   * in our queue. The window itself adapts between 1 and this (src/domain/request-window.ts): it starts at 1, grows
   * while answers come back within outcomeGraceMs and halves when an answer is lost — lldpad drops a VDP frame that
   * arrives within 2 ms of the previous one, which a loaded host makes likely and more requests in flight make more
   * likely (docs/ecp.md). Default 1 (no growth).
   */
  maxInFlight?: number;
  /** Where each uplink's window starts (default 1, at most maxInFlight): a test that wants every request inside
   *  lldpad at once sets it to maxInFlight. */
  initialInFlight?: number;
  /**
   * Requests sent later on the same uplink that must have been answered before an unanswered earlier one is asked
   * about at once (instead of at outcomeGraceMs) — ECP delivers in order, so being overtaken is the first sign of a
   * lost answer. Default 3; 0 = off. Either way, a request lldpad still lists without a bridge answer when asked
   * gives its slot to the next request and keeps waiting for its outcome.
   */
  overtakenAfter?: number;
  /**
   * How long to wait for a request's outcome event before asking lldpad (query) what it holds, and the period of
   * further queries until requestTimeoutMs. lldpad answers in milliseconds; an event datagram lost on the way (nothing
   * repeats it) would otherwise hold the queue for the whole timeout. It cannot shorten a request lldpad itself has
   * no bridge answer for (listed with hints 255; see docs/benchmarks.md). Default 1500 ms; 0 = never query.
   */
  outcomeGraceMs?: number;
  /**
   * How long after an lldpad restart a VSI command lldpad refuses because its VDP on the uplink has not started yet
   * (R02 device not found, R0d VDP not supported) is asked again instead of failing (see commandOnceVdpRuns).
   * Default 5000 ms; 0 = never.
   */
  vdpStartGraceMs?: number;
  /** Period of those repeats (default 25 ms: a refusal costs lldpad one datagram, and the first request waits less). */
  vdpStartPollMs?: number;
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
  /** Its uplink's lane, send order in it, and the window's stamp when sent. */
  lane: Lane;
  order: number;
  stamp: number;
  /** Answered requests sent after this one (ECP keeps order: overtaking hints at a lost answer). */
  overtaken: number;
  /** Counted as a loss already (stalled in lldpad): its slot is free for the next request, the timeout not a 2nd loss. */
  stalled: boolean;
  /**
   * pid of the lldpad that took the request (R00): only its restart loses the request. A request still on its way, or
   * refused for want of VDP (commandOnceVdpRuns), goes to the new lldpad and must not fail for the restart.
   */
  acceptedBy?: number;
  /** Gives its slot in the lane back; idempotent. */
  freeSlot: () => void;
  /** Ask lldpad now (settleFromQuery), then mark stalled when it still has no bridge answer. */
  checkNow: () => void;
}

/** One uplink's share of the client: its own window, its requests in lldpad and the ones waiting for a slot. */
interface Lane {
  window: RequestWindow;
  inFlight: number;
  queue: Array<() => void>;
  sent: number;
  /** Requests sent and not settled, in send order. */
  outstanding: Set<Waiter>;
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
  private readonly overtakenAfter: number;
  private readonly initialInFlight: number;
  private readonly lanes = new Map<string, Lane>();
  private readonly vdpStartGraceMs: number;
  private readonly vdpStartPollMs: number;
  /** When this client noticed that lldpad restarted, last (performance.now()). */
  private restartedAt?: number;

  constructor(opts: Vdp22ClientOptions = {}) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.overtakenAfter = Math.max(0, opts.overtakenAfter ?? 3);
    this.initialInFlight = Math.min(this.maxInFlight, Math.max(1, opts.initialInFlight ?? 1));
    this.outcomeGraceMs = Math.max(0, opts.outcomeGraceMs ?? 1500);
    this.testDropEvent = opts.testDropEvent;
    this.vdpStartGraceMs = Math.max(0, opts.vdpStartGraceMs ?? 5000);
    this.vdpStartPollMs = Math.max(1, opts.vdpStartPollMs ?? 25);
    this.socket = new ClifSocket({ ...opts, attach: [VDP22_MODULE_ID] });
    this.socket.onEvent((e) => {
      if (e.moduleId === VDP22_MODULE_ID) this.onVdpEvent(e.payload);
    });
    this.socket.onStatus((s) => this.onSocketStatus(s));
  }

  async request(req: Vdp22Request, opts: { timeoutMs?: number } = {}): Promise<VsiOutcome> {
    const msg = encodeVsiSet(req, req.hints ?? 'none'); // throws field errors for bad input
    const first = await this.requestOnce(req, msg, opts);
    // The bridge "answered" an (pre-)associate with a de-associate, status 0: not a refusal (that carries a reason)
    // but the bridge ending the VSI as the request crossed — seen on a loaded host when lldpad lost a frame
    // (docs/ecp.md). lldpad has dropped the VSI, so it takes a new request at once: ask again, once.
    if (first.kind === 'rejected' && first.reasonCode === 0 && req.mode !== 'deassoc') {
      this.retriedAtOnce++;
      return this.requestOnce(req, msg, opts);
    }
    return first;
  }

  /** Requests asked again at once because the bridge ended the VSI as it answered (see request). */
  retriedAtOnce = 0;

  /** Refusals asked again because a restarted lldpad's VDP was still starting (commandOnceVdpRuns), and the longest wait. */
  vdpStartWaits = { refusals: 0, longestMs: 0 };

  private async requestOnce(req: Vdp22Request, msg: string, opts: { timeoutMs?: number }): Promise<VsiOutcome> {
    const lane = this.lane(req.uplink);
    await this.acquire(lane);
    let held = true;
    const freeSlot = (): void => {
      if (!held) return;
      held = false;
      this.release(lane);
    };
    try {
      return await this.send(req, msg, opts.timeoutMs ?? this.requestTimeoutMs, lane, freeSlot);
    } finally {
      freeSlot();
    }
  }

  /** The adaptive window of one uplink, for metrics and the benchmark. */
  windowOf(uplink: string): { limit: number; max: number; losses: number; reductions: number } {
    const w = this.lane(uplink).window;
    return { limit: w.limit, max: w.max, losses: w.losses, reductions: w.reductions };
  }

  private lane(uplink: string): Lane {
    let lane = this.lanes.get(uplink);
    if (!lane) {
      const window = new RequestWindow({ max: this.maxInFlight, initial: this.initialInFlight, inTimeMs: this.outcomeGraceMs || 1500 });
      this.lanes.set(uplink, (lane = { window, inFlight: 0, queue: [], sent: 0, outstanding: new Set() }));
    }
    return lane;
  }

  private acquire(lane: Lane): Promise<void> {
    if (lane.inFlight < lane.window.limit) {
      lane.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => lane.queue.push(resolve)); // the slot is handed over by release()
  }

  private release(lane: Lane): void {
    lane.inFlight--;
    // The window may have grown since: hand out every slot it allows now.
    while (lane.queue.length > 0 && lane.inFlight < lane.window.limit) {
      lane.inFlight++;
      lane.queue.shift()!();
    }
  }

  private async send(req: Vdp22Request, msg: string, timeoutMs: number, lane: Lane, freeSlot: () => void): Promise<VsiOutcome> {
    const uuid = req.instanceUuid.toLowerCase();
    const started = performance.now();
    let settle!: (o: VsiOutcome) => void;
    const outcome = new Promise<VsiOutcome>((resolve) => (settle = resolve));
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    let checking = false;
    const waiter: Waiter = {
      mode: req.mode,
      uplink: req.uplink,
      typeId: req.typeId,
      typeIdVersion: req.typeIdVersion,
      started,
      lane,
      order: lane.sent++,
      stamp: lane.window.stamp,
      overtaken: 0,
      stalled: false,
      freeSlot,
      checkNow: () => {
        if (done || checking || waiter.stalled) return;
        checking = true;
        void this.settleFromQuery(uuid, waiter).then((hint) => {
          checking = false;
          if (!done && hint === 'no-answer') this.stall(waiter);
        });
      },
      settle: (o) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(grace);
        this.removeWaiter(uuid, waiter);
        lane.outstanding.delete(waiter);
        if (o.kind === 'timeout' && !waiter.stalled) lane.window.lost(waiter.stamp);
        freeSlot();
        settle(o);
      },
    };
    lane.outstanding.add(waiter);
    // Registered before sending: when the uplink is down lldpad may emit the failure event before its R reply.
    const list = this.waiters.get(uuid) ?? [];
    list.push(waiter);
    this.waiters.set(uuid, list);
    try {
      const reply = await this.commandOnceVdpRuns(msg);
      if (reply.status === 0) waiter.acceptedBy = this.socket.pid;
      if (reply.status !== 0) {
        waiter.settle({ kind: 'transport-error', message: this.refusal(req, reply.status), clifStatus: reply.status });
      } else if (!done) {
        timer = setTimeout(() => waiter.settle({ kind: 'timeout', afterMs: Math.round(performance.now() - started) }), timeoutMs);
        if (this.outcomeGraceMs > 0) {
          // The outcome event is one datagram; if it is lost nothing repeats it. Ask lldpad what it holds instead.
          const check = (): void => {
            void this.settleFromQuery(uuid, waiter).then((hint) => {
              if (done) return;
              // outcomeGraceMs is hundreds of ECP periods: lldpad still has no bridge answer, so the slot goes on
              if (hint === 'no-answer') this.stall(waiter);
              grace = setTimeout(check, this.outcomeGraceMs);
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
   * Send a VSI request; while a restarted lldpad's VDP is still starting on the uplink, ask again until it runs.
   * lldpad starts VDP on an uplink at its first EVB timer tick, one second after it starts, and takes VSI requests
   * only from the next EVB TLV it builds (openlldp lldp_evb22.c evb22_timer → vdp22_start; vdp22_request refuses
   * while !vdp->evbon): until then it answers R02 (no VDP instance yet) or R0d and does nothing, so asking again is
   * safe. Failing instead burnt the reconciler's first NICs after a restart into backoff (their retry came seconds
   * later), and a VM started then failed. The request keeps its slot in the uplink's lane meanwhile, so the lane's
   * other requests wait behind it instead of failing too. Outside vdpStartGraceMs after a restart the refusal means
   * what it says (an unknown uplink, EVB off) and is returned at once.
   */
  private async commandOnceVdpRuns(msg: string): Promise<ClifReply> {
    const first = performance.now();
    let askedPid = false;
    for (;;) {
      const reply = await this.socket.command(msg);
      const pid = this.socket.pid; // the lldpad we are attached to (the command attaches first when needed)
      if (!VDP_NOT_STARTED.has(reply.status)) {
        const waited = Math.round(performance.now() - first);
        if (reply.status === 0 && waited > this.vdpStartWaits.longestMs) this.vdpStartWaits.longestMs = waited;
        return reply;
      }
      if (!this.vdpStarting()) {
        if (askedPid || !(await this.restartedUnnoticed(pid))) return reply;
        askedPid = true;
        continue;
      }
      this.vdpStartWaits.refusals++;
      await new Promise((r) => setTimeout(r, this.vdpStartPollMs));
    }
  }

  /**
   * A refusal may come from an lldpad that restarted since the watchdog's last ping: ask its pid (a ping that sees a
   * new one re-attaches, and the restart is then known) rather than take "no VDP" for an answer.
   */
  private async restartedUnnoticed(attachedPid: number | undefined): Promise<boolean> {
    try {
      return (await this.socket.ping()) !== attachedPid;
    } catch {
      return false;
    }
  }

  /** Within vdpStartGraceMs of noticing an lldpad restart: a refusal may just mean its VDP has not started yet. */
  private vdpStarting(): boolean {
    return this.restartedAt !== undefined && performance.now() - this.restartedAt < this.vdpStartGraceMs;
  }

  /**
   * Settles a request whose outcome event is overdue from what lldpad holds. Only a definite answer settles it:
   * the VSI held in the mode and type asked for with the bridge's "accepted" (hints 0), or — for deassoc — no VSI
   * at all. Anything else (still 255 = no bridge answer yet, an older mode) leaves the request waiting; a failure
   * still arrives as its event or ends in the timeout.
   */
  private async settleFromQuery(uuid: string, w: Waiter): Promise<'settled' | 'no-answer' | 'unknown'> {
    let found: ClifVsi | undefined;
    try {
      found = await this.queryVsi(w.uplink, uuid);
    } catch {
      return 'unknown'; // lldpad busy or restarting: the next check or the timeout decides
    }
    if (!this.waiters.get(uuid)?.includes(w)) return 'settled'; // the event came while we asked
    const latencyMs = Math.round((performance.now() - w.started) * 1000) / 1000;
    // Listed with 255 = lldpad sent the request and has no bridge answer for it.
    const noAnswer = found !== undefined && found.hints === HINTS_NO_RESPONSE ? 'no-answer' : 'unknown';
    if (w.mode === 'deassoc') {
      if (found) return noAnswer;
      this.held.delete(uuid);
    } else {
      const same = found && found.mode === w.mode && found.hints === 0 && found.typeId === w.typeId && found.typeIdVersion === w.typeIdVersion;
      if (!same) return noAnswer;
      this.held.set(uuid, w.uplink);
    }
    this.settledByQuery.set(uuid, w.mode);
    // An event that is really lost never clears its entry: keep only the latest few hundred.
    if (this.settledByQuery.size > 512) this.settledByQuery.delete(this.settledByQuery.keys().next().value!);
    w.settle({ kind: 'accepted', mode: w.mode, latencyMs, ...(found && found.filters.length ? { filters: found.filters } : {}) });
    return 'settled';
  }

  /**
   * lldpad has no bridge answer for a request that later ones on its uplink overtook, or that waited outcomeGraceMs
   * (hundreds of ECP periods): its frame or the answer's was most likely lost inside lldpad (nothing repeats it; lldpad gives up only after its ~16 s response wait and refuses a new
   * request for that VSI until then, R0f). Count it as a loss now — the window halves and its slot goes to the next
   * request, so one lost answer no longer holds the uplink — and keep waiting for its outcome until the timeout.
   */
  private stall(w: Waiter): void {
    if (w.stalled) return;
    w.stalled = true;
    w.lane.window.lost(w.stamp);
    w.freeSlot();
  }

  /**
   * The outcome event for `w` came. From the bridge: the window grows when it came in time. lldpad's own failure
   * (code > 0xff: no ECP ACK, no bridge answer in its wait) is a loss. Older unanswered requests were overtaken.
   */
  private answered(w: Waiter, latencyMs: number, lldpadFailure: boolean): void {
    if (lldpadFailure) {
      if (!w.stalled) w.lane.window.lost(w.stamp);
    } else if (!w.stalled) w.lane.window.answered(latencyMs);
    if (this.overtakenAfter === 0) return;
    for (const other of w.lane.outstanding) {
      if (other.order >= w.order) break; // a Set iterates in insertion = send order
      if (++other.overtaken === this.overtakenAfter) other.checkNow();
    }
  }

  async query(uplink: string, instanceUuid: string): Promise<VsiStatus | undefined> {
    const found = await this.queryVsi(uplink, parseUuid(instanceUuid, 'instanceUuid'));
    return found ? toStatus(found) : undefined;
  }

  async unanswered(uplink: string, instanceUuid: string): Promise<{ mode: VdpRequestMode; hints: number } | undefined> {
    const found = await this.queryVsi(uplink, parseUuid(instanceUuid, 'instanceUuid'));
    return found && found.mode !== 'unknown' && found.hints === HINTS_NO_RESPONSE ? { mode: found.mode, hints: found.hints } : undefined;
  }

  /** lldpad's raw record of one VSI (hints = the bridge's answer, 255 while none), or undefined. */
  private async queryVsi(uplink: string, uuid: string): Promise<ClifVsi | undefined> {
    // lldpad only finds a VSI whose current mode is the query's: ask for each mode at once.
    const replies = await Promise.all(QUERY_MODES.map((m) => this.socket.command(encodeVsiQuery(uplink, uuid, m))));
    // A restarted lldpad answers R02 until VDP has started on the uplink (see commandOnceVdpRuns): it holds nothing there.
    if (this.vdpStarting() && replies.some((r) => r.status === CLIF_DEVICE_NOT_FOUND)) return undefined;
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
      this.answered(waiter, latencyMs, code > 0xff);
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
    this.restartedAt = performance.now();
    // lldpad keeps VSIs in memory only: a restarted lldpad holds none of ours, and will never answer the pending ones.
    const reason = `lldpad restarted (pid ${s.oldPid} → ${s.pid}); it keeps VSIs in memory only, so this VSI is gone`;
    for (const list of [...this.waiters.values()]) {
      for (const w of [...list]) if (w.acceptedBy !== undefined && w.acceptedBy !== s.pid) w.settle({ kind: 'transport-error', message: reason });
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

/** lldpad's command status CMD_DEVICE_NOT_FOUND (R02): it knows no such uplink, or no VDP instance on it (yet). */
const CLIF_DEVICE_NOT_FOUND = 0x02;
/** lldpad's command statuses for "no VDP on this uplink (yet)": R02, and R0d CMD_VDP_NOT_SUPPORTED. */
const VDP_NOT_STARTED: ReadonlySet<number> = new Set([CLIF_DEVICE_NOT_FOUND, 0x0d]);

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
