// Associating VM NICs through lldpad. The rules:
// - A NIC's state moves only on lldpad's answer or on a check (a query by instance UUID); the "-ing" state says a
//   request is out. Every move goes through NicRepo.applyEvent (one transaction with its history row) and is
//   published on the transition bus.
// - Idempotent for hooks: work for one NIC runs one at a time; a request equal to the one queued or running for
//   the NIC shares its answer (50 equal associates → one request to lldpad, 50 equal answers), and a NIC already
//   held with the same parameters answers without asking lldpad again.
// - lldpad's own news (the bridge ended a VSI, keep-alives lost, lldpad restarted) marks the NIC lost; the
//   reconciler brings it back.
import { fieldError, isQbgError, qbgError } from '../domain/errors.js';
import {
  isFilterChange,
  nicId,
  parseNicAssociation,
  requestKey,
  resolveNicParams,
  sameNicParams,
  vsiRequestFor,
  type Nic,
  type NicAssociationRequest,
  type NicMode,
  type NicParams,
} from '../domain/nic.js';
import { HELD_STATES, IN_FLIGHT_STATES, heldStateFor, nextState, requestEventFor, type NicEvent, type NicState } from '../domain/nic-state.js';
import type { VdpRequestMode, VsiAssociator, VsiEvent, VsiOutcome, VsiStatus } from '../domain/vsi-request.js';
import type { VsiTypeLookup } from '../domain/vsi-type.js';
import type { Applied, NicRepo } from '../store/nic-repo.js';
import type { TransitionBus } from './transition-bus.js';

export interface NicLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface NicServiceDeps {
  repo: NicRepo;
  associator: VsiAssociator;
  types: VsiTypeLookup;
  bus?: TransitionBus;
  log?: NicLogger;
  /** Passed to the associator per request (libvirt waits 10 s). */
  requestTimeoutMs?: number;
  /**
   * How long a bridge may still hold a VSI after the station de-associated it (default 17 000 ms). A filter change
   * (new VLAN / MAC / group of the same VSI) waits this long after the old filter was dropped: see filterChangeWait.
   */
  filterChangeHoldMs?: number;
}

/**
 * Bridge-role lldpad keeps a VSI the station de-associated until its own keep-alive timer runs out, 1.5 × ((1 + 2 ×
 * retries) × 2^RTE + 2^RKA) × 10 µs = 15.76 s with the EVB values of the lab (retries 3, RTE 8, RKA 20), and meanwhile
 * ignores a request for that VSI with another filter (see docs/filter-change.md). 17 s leaves a margin.
 */
export const DEFAULT_FILTER_CHANGE_HOLD_MS = 17_000;

/** What a caller gets back: the NIC as persisted after the work, and lldpad's outcome when it was asked. */
export interface NicAnswer {
  nic: Nic;
  /** false: nothing was sent to lldpad (already in the asked state with the same parameters). */
  asked: boolean;
  outcome?: VsiOutcome;
}

/** What a check found (reconciler, API "check"): the NIC after it, and what lldpad holds. */
export interface NicCheck {
  nic: Nic;
  held?: VsiStatus;
  /** The NIC's state changed because of what lldpad reported. */
  changed: boolean;
}

interface Running {
  key: string;
  promise: Promise<NicAnswer>;
}

/** What lldpad does with a VSI whose libvirt request timed out (measured on libvirt 9.0 + lldpad 1.1, docs/ownership.md). */
const HIDDEN_VSI =
  'lldpad hides it after its own ack timer (~16 s) and refuses every later request for this instance id (a start fails at once) until the station\'s lldpad restarts; de-associates over the client socket or netlink do not clear it';

/** What an observation of a libvirt-owned NIC found (NicService.observe). */
export interface NicObservation {
  /** The NIC as recorded after it (undefined: nothing to record, e.g. an unknown NIC lldpad holds nothing for). */
  nic?: Nic;
  /** What lldpad holds for the instance UUID, granted by the bridge. */
  held?: VsiStatus;
  /** The NIC's state changed. */
  changed: boolean;
}

/** States in which lldpad holds nothing for a NIC: only these may be forgotten without a de-associate. */
export const FORGETTABLE_STATES: readonly NicState[] = ['new', 'disassociated'];

export class NicService {
  readonly repo: NicRepo;
  private readonly associator: VsiAssociator;
  private readonly types: VsiTypeLookup;
  private readonly bus?: TransitionBus;
  private readonly log?: NicLogger;
  private readonly requestTimeoutMs?: number;
  private readonly filterChangeHoldMs: number;
  /** Tail of each NIC's work queue: everything for one NIC runs in order, one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** The latest request queued or running per NIC, for coalescing equal requests. */
  private readonly latest = new Map<string, Running>();
  private unsubscribe?: () => void;
  /** Requests sent to lldpad by this service (a counter for tests, metrics and the report). */
  requestsSent = 0;

  constructor(deps: NicServiceDeps) {
    this.repo = deps.repo;
    this.associator = deps.associator;
    this.types = deps.types;
    this.bus = deps.bus;
    this.log = deps.log;
    this.requestTimeoutMs = deps.requestTimeoutMs;
    this.filterChangeHoldMs = deps.filterChangeHoldMs ?? DEFAULT_FILTER_CHANGE_HOLD_MS;
  }

  /** Listen to lldpad's unsolicited news (bridge de-associate, keep-alive loss, restart). */
  start(): void {
    this.unsubscribe ??= this.associator.onEvent((e) => this.onVsiEvent(e));
  }

  /** Stop listening and wait for the work already queued (it ends on lldpad's answer or its timeout). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.allSettled([...this.queues.values()]);
  }

  /** True while work for this NIC is queued or running in this process. */
  busy(id: string): boolean {
    return this.queues.has(id);
  }

  /** Validate a NIC request, resolve its VSI type, and refuse an instance UUID another NIC already uses. */
  private parseRequest(input: unknown) {
    const req = parseNicAssociation(input);
    const params = this.resolve(req);
    const id = nicId(req.vmUuid, req.mac);
    const other = this.repo.byInstanceUuid(params.instanceUuid);
    if (other && other.id !== id) {
      throw qbgError('QBG_ERR_BAD_REQUEST', `instanceUuid ${params.instanceUuid} is already used by NIC ${other.id}; each VSI needs its own`);
    }
    return { req, params, id };
  }

  /**
   * Associate / pre-associate (with or without RR) a NIC as a hook asks: validate, resolve the VSI type (current
   * version unless pinned), check the VLAN against it, then ask lldpad unless the NIC already is in that state
   * with the same parameters.
   */
  async associate(input: unknown, opts: { cause?: string } = {}): Promise<NicAnswer> {
    const { req, params, id } = this.parseRequest(input);
    this.refuseNotOurs(this.repo.get(id));
    this.refuseTwin(params);
    return this.submit(id, params, req.mode, opts.cause ?? `api-${req.mode}`);
  }

  /**
   * A libvirt-owned NIC: libvirt announced (or tried to announce) its VSI over netlink; qbg sends nothing and records
   * what lldpad holds for the instance UUID. `expect` is what libvirt's step should have left: 'held' after a start,
   * 'gone' after a stop. A failed attempt is recorded with what can be known: lldpad lists a timed-out VSI ungranted
   * (hints 255) for ~16 s, then hides it and refuses every later request for that instance UUID until the station's
   * lldpad restarts — measured: neither a de-associate over the client socket nor one over netlink clears it
   * (docs/ownership.md), so qbg does not try. A NIC attached while the VM ran (`attachedWhileRunning`: libvirt runs no
   * hook at an attach) and gone at the stop is recorded disassociated, not failed: qbg never had a chance to see it held.
   */
  async observe(input: unknown, opts: { expect: 'held' | 'gone'; cause?: string; attachedWhileRunning?: boolean }): Promise<NicObservation> {
    const { req, params, id } = this.parseRequest(input);
    const cause = opts.cause ?? `observe-${opts.expect}`;
    return this.enqueue(id, async (): Promise<NicObservation> => {
      const nic = this.repo.get(id);
      if (nic && nic.owner !== 'libvirt') {
        throw qbgError('QBG_ERR_NIC_OWNER', id, nic.owner, 'libvirt', 'qbg associates it over lldpad\'s client socket; forget it before libvirt announces it');
      }
      const where = `VSI ${params.instanceUuid} on ${params.uplink}`;
      const held = await this.associator.query(params.uplink, params.instanceUuid);
      let event: NicEvent;
      let reason: string | undefined;
      let desiredMode: VdpRequestMode = opts.expect === 'held' ? 'assoc' : 'deassoc';
      if (held) {
        event = held.mode === 'assoc' ? 'observed-associated' : 'observed-pre-associated';
        desiredMode = held.mode;
      } else {
        const pending = await this.associator.unanswered?.(params.uplink, params.instanceUuid);
        if (pending) {
          event = 'observed-failed';
          reason = `libvirt's ${pending.mode} got no answer from the bridge: lldpad lists ${where} ungranted (hints ${pending.hints}); ${HIDDEN_VSI}`;
        } else if (opts.expect === 'held') {
          event = 'observed-failed';
          reason = `libvirt started the VM, but lldpad holds no ${where}`;
        } else if (!nic && opts.attachedWhileRunning) {
          event = 'observed-gone';
          reason = `attached while the VM ran (libvirt runs no hook at an attach), so qbg never saw ${where} held; lldpad holds nothing of it after the stop`;
        } else if (!nic) {
          event = 'observed-failed';
          reason = `lldpad holds no ${where} and qbg never saw it held: libvirt's association failed (libvirtd's log names why: with libvirt 9.0 often "sending of PortProfileRequest failed.", a request never sent or refused at once; "port-profile setlink timed out": no bridge answer, and then ${HIDDEN_VSI})`;
        } else event = 'observed-gone';
      }
      if (nic && nextState(nic.state, event) === undefined) return { nic, ...(held ? { held } : {}), changed: false };
      const bridgeVlan = params.vlan === 0 ? assignedVlan(held?.filters) : undefined;
      const after = this.apply(id, { event, cause, params, owner: 'libvirt', desiredMode, ...(reason ? { reason } : {}), bridgeVlan }).nic;
      return { nic: after, ...(held ? { held } : {}), changed: true };
    });
  }

  /** qbg sends no request for a NIC libvirt announces: the two would answer each other's VSI (docs/ownership.md). */
  private refuseNotOurs(nic: Nic | undefined): void {
    if (nic && nic.owner !== 'qbg') {
      throw qbgError('QBG_ERR_NIC_OWNER', nic.id, nic.owner, 'qbg', 'libvirt announces its VSI over netlink and qbg only observes it; qbg sends it no requests');
    }
  }

  /** Ask again in a given mode with the parameters pinned on the NIC (migration start, reconciler). */
  async request(id: string, mode: VdpRequestMode, cause: string): Promise<NicAnswer> {
    const nic = this.require(id);
    this.refuseNotOurs(nic);
    return this.submit(id, mode === 'deassoc' ? undefined : nic, mode, cause);
  }

  /** Disassociate a NIC; a NIC lldpad holds nothing for answers at once (idempotent). */
  async disassociate(id: string, opts: { cause?: string } = {}): Promise<NicAnswer> {
    this.refuseNotOurs(this.require(id));
    return this.submit(id, undefined, 'deassoc', opts.cause ?? 'api-deassoc');
  }

  /**
   * Forget a NIC (its history stays). Only a NIC lldpad cannot hold a VSI for ('new', 'disassociated') is forgotten
   * as it is: any other state may have a VSI behind it that nobody would ever de-associate, so it is refused with
   * QBG_ERR_NIC_HELD unless `disassociate` asks to de-associate it first (in the NIC's queue: no request slips in
   * between). Returns the NIC as it was when forgotten; a de-associate that did not settle throws its outcome.
   */
  async forget(id: string, opts: { disassociate?: boolean; cause?: string } = {}): Promise<{ nic: Nic; answer?: NicAnswer }> {
    this.require(id);
    return this.enqueue(id, async () => {
      let nic = this.settleLeftover(id);
      if (!nic) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
      let answer: NicAnswer | undefined;
      // libvirt holds and drops a libvirt-owned NIC's VSI itself: forgetting it leaves nothing orphaned
      if (nic.owner === 'qbg' && !FORGETTABLE_STATES.includes(nic.state)) {
        if (!opts.disassociate) throw qbgError('QBG_ERR_NIC_HELD', id, nic.state);
        answer = await this.run(id, undefined, 'deassoc', opts.cause ?? 'api-forget');
        nic = answer.nic;
        if (!FORGETTABLE_STATES.includes(nic.state)) return { nic, answer };
      }
      this.repo.forget(id);
      this.log?.info({ nicId: id, state: nic.state }, 'nic forgotten');
      return { nic, ...(answer ? { answer } : {}) };
    });
  }

  /**
   * The reconciler stops asking for this NIC: it settles in 'failed' with why (a nic.failed webhook) and stays there
   * until a new request (an explicit associate or per-NIC reconcile). No-op when the NIC moved on meanwhile.
   */
  async giveUp(id: string, reason: string): Promise<Nic | undefined> {
    return this.enqueue(id, async () => {
      const nic = this.repo.get(id);
      if (!nic || nextState(nic.state, 'retries-exhausted') === undefined) return undefined;
      return this.apply(id, { event: 'retries-exhausted', cause: 'reconcile-gave-up', reasonCode: nic.reasonCode, reason }).nic;
    });
  }

  /** True when the reconciler gave up on the NIC and nobody asked again since (its last transition says so). */
  givenUp(id: string): boolean {
    return this.repo.lastEntry(id)?.event === 'retries-exhausted';
  }

  /** Ask lldpad what it holds for the NIC and record what that proves (queued behind the NIC's other work). */
  async check(id: string, cause = 'check'): Promise<NicCheck> {
    this.require(id);
    return this.enqueue(id, () => this.checkNow(id, cause));
  }

  /**
   * Make lldpad hold what the NIC should hold (the reconciler's unit of work): query by instance UUID, record what
   * the answer proves, and request again when lldpad lacks it or holds it in another mode or with other parameters.
   * Returns undefined when nothing had to be sent.
   */
  async reconcile(id: string, cause = 'reconcile'): Promise<{ check: NicCheck; answer?: NicAnswer }> {
    // One read of the NIC, in its queue (a sweep calls this for every NIC: three reads of each were a sixth of a
    // sweep's time with 100,000 NICs, and each is a read transaction)
    return this.enqueue(id, async () => {
      // A NIC a killed qbg left "-ing" must be settled first, or asking again is an illegal transition.
      const settled = this.settleLeftover(id);
      if (!settled) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
      const check = await this.checkNow(id, cause, settled);
      const nic = check.nic;
      // libvirt's NIC: record what lldpad holds, never ask for anything (its owner re-associates, or nobody)
      if (nic.owner !== 'qbg') return { check };
      const want = nic.desiredMode;
      if (want === 'deassoc') {
        if (!check.held || nic.state === 'disassociated') return { check };
        return { check, answer: await this.exchange(id, undefined, 'deassoc', cause) };
      }
      if (check.held && holdsAsWanted(check.held, nic, want) && nic.state === heldStateFor(want)) return { check };
      return { check, answer: await this.exchange(id, nic, want, cause) };
    });
  }

  private resolve(req: NicAssociationRequest): NicParams {
    const type = this.types.get(req.type, req.version);
    if (!type) {
      if (req.version !== undefined && this.types.get(req.type)) {
        throw fieldError('version', 'QBG_ERR_TYPE_VERSION_NOT_FOUND', req.type, req.version);
      }
      throw fieldError('type', 'QBG_ERR_TYPE_NOT_FOUND', req.type);
    }
    return resolveNicParams(req, type);
  }

  private require(id: string): Nic {
    const nic = this.repo.get(id);
    if (!nic) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
    return nic;
  }

  /** Queue a request for the NIC, or share the answer of an equal one already queued or running. */
  private submit(id: string, params: NicParams | undefined, mode: VdpRequestMode, cause: string): Promise<NicAnswer> {
    const key = mode === 'deassoc' ? 'deassoc' : requestKey(params!, mode);
    const running = this.latest.get(id);
    if (running && running.key === key) return running.promise;
    const promise = this.enqueue(id, () => this.run(id, params, mode, cause));
    const entry = { key, promise };
    this.latest.set(id, entry);
    const clear = () => {
      if (this.latest.get(id) === entry) this.latest.delete(id);
    };
    promise.then(clear, clear);
    return promise;
  }

  private enqueue<T>(id: string, work: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const p = prev.then(work, work);
    const tail = p.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return p;
  }

  private async run(id: string, params: NicParams | undefined, mode: VdpRequestMode, cause: string): Promise<NicAnswer> {
    let nic = this.settleLeftover(id);
    if (mode === 'deassoc') {
      if (!nic) throw qbgError('QBG_ERR_NIC_NOT_FOUND', id);
      if (nic.state === 'disassociated' || nic.state === 'new') return { nic, asked: false };
      return this.exchange(id, undefined, 'deassoc', cause);
    }
    const p = params!;
    if (nic && nic.state === heldStateFor(mode) && nic.desiredMode === mode && sameNicParams(nic, p)) return { nic, asked: false };
    if (nic && HELD_STATES.includes(nic.state) && mustDropFirst(nic, p, mode)) {
      const dropped = await this.exchange(id, undefined, 'deassoc', `${cause}-replace`);
      if (dropped.nic.state !== 'disassociated') return dropped;
      nic = dropped.nic;
    }
    if (nic) await this.filterChangeWait(nic, p);
    // again, in the same tick as the request is recorded: two VMs asking at once cannot both pass
    this.refuseTwin(p);
    return this.exchange(id, p, mode, cause);
  }

  /** A VEPA bridge cannot tell two VSIs with the same MAC and VLAN apart: another VM's NIC that has them wins. */
  private refuseTwin(p: NicParams): void {
    const twin = this.repo.filterUsedByOtherVm(p);
    if (twin) throw fieldError('mac', 'QBG_ERR_NIC_FILTER_TAKEN', twin.id, twin.vmUuid, twin.mac, twin.vlan, twin.uplink);
  }

  /**
   * A new filter (VLAN, MAC, group) for the same VSI may go to lldpad only once the bridge has forgotten the old one.
   * lldpad's station refuses an in-place filter change (vdp22_addreq: "TODO mismatch filter data", R05), so the old
   * VSI is de-associated first; but bridge-role lldpad answers that de-associate as a keep-alive and keeps the VSI
   * until its keep-alive timer runs out, and it silently drops a request for the same VSI with another filter — after
   * stopping that very timer, so it then holds the old filter for good and every retry times out (openlldp
   * qbg/vdp22sm.c vdp22_station_info; lab evidence in docs/filter-change.md). So wait out the hold, counted from the
   * NIC's last recorded change: crash-safe (a restarted qbg or a second request waits only what is left) and it also
   * covers "disassociate, then associate with a new VLAN" sent as two calls.
   */
  private async filterChangeWait(nic: Nic, p: NicParams): Promise<void> {
    if (nic.state === 'new' || !isFilterChange(nic, p)) return;
    const waitMs = Date.parse(nic.updatedAt) + this.filterChangeHoldMs - Date.now();
    if (waitMs <= 0) return;
    this.log?.info({ nicId: nic.id, waitMs, fromVlan: nic.vlan, toVlan: p.vlan }, 'filter change: waiting for the bridge to forget the old filter');
    await new Promise((r) => setTimeout(r, waitMs));
  }

  /** Runs inside the NIC's queue. Only a previous qbg process can have left a request out (this one serialises
   *  per NIC): its answer is lost, so record it as failed; a check or a new request decides what follows. */
  private settleLeftover(id: string): Nic | undefined {
    const nic = this.repo.get(id);
    if (!nic || !IN_FLIGHT_STATES.includes(nic.state)) return nic;
    return this.apply(id, { event: 'answer-error', cause: 'recovery', reason: 'qbg stopped before lldpad answered' }).nic;
  }

  /** Persist the request ("-ing"), ask lldpad, persist what it answered. */
  private async exchange(id: string, params: NicParams | undefined, mode: VdpRequestMode, cause: string): Promise<NicAnswer> {
    const sent = this.apply(id, { event: requestEventFor(mode), cause, params, desiredMode: mode });
    const vsi = vsiRequestFor(sent.nic, mode);
    let outcome: VsiOutcome;
    this.requestsSent++;
    try {
      outcome = await this.associator.request(vsi, this.requestTimeoutMs ? { timeoutMs: this.requestTimeoutMs } : undefined);
    } catch (e) {
      outcome = { kind: 'transport-error', message: (e as Error).message };
    }
    if (outcome.kind === 'accepted') {
      const bridgeVlan = sent.nic.vlan === 0 && mode !== 'deassoc' ? (assignedVlan(outcome.filters) ?? null) : undefined;
      return { nic: this.apply(id, { event: 'answer-accepted', cause: 'lldpad-answer', bridgeVlan }).nic, asked: true, outcome };
    }
    if (mode === 'deassoc') {
      // lldpad refuses to de-associate a VSI it does not hold (R05): then the VSI is gone, which is what was asked.
      const gone = await this.queryQuietly(sent.nic);
      if (gone === null) {
        const why = outcome.kind === 'rejected' ? outcome.reason : outcome.kind === 'timeout' ? 'no answer' : outcome.message;
        return { nic: this.apply(id, { event: 'check-missing', cause: 'check', reason: `lldpad holds no such VSI (${why})` }).nic, asked: true, outcome };
      }
    }
    const answer = answerEvent(outcome);
    return { nic: this.apply(id, { event: answer.event, cause: 'lldpad-answer', reasonCode: answer.reasonCode, reason: answer.reason }).nic, asked: true, outcome };
  }

  /** null = lldpad does not hold it; undefined = could not ask. */
  private async queryQuietly(nic: Nic): Promise<VsiStatus | null | undefined> {
    try {
      return (await this.associator.query(nic.uplink, nic.instanceUuid)) ?? null;
    } catch (e) {
      // lldpad does not know the uplink at all: it cannot hold a VSI there.
      if (isQbgError(e) && e.message.includes('CMD_DEVICE_NOT_FOUND')) return null;
      return undefined;
    }
  }

  /** `current`: the NIC as just read in its queue by the caller (saves reading it again). */
  private async checkNow(id: string, cause: string, current?: Nic): Promise<NicCheck> {
    const nic = current ?? this.require(id);
    const held = await this.associator.query(nic.uplink, nic.instanceUuid);
    let event: NicEvent;
    if (!held) event = 'check-missing';
    else if (held.mode === 'assoc') event = 'check-associated';
    else if (held.mode === 'preassoc' || held.mode === 'preassoc-rr') event = 'check-pre-associated';
    else event = 'check-missing';
    // check-missing on a failed/timed-out NIC that should be held would hide the failure: the reconciler asks again.
    const settlesFailure = event === 'check-missing' && (nic.state === 'failed' || nic.state === 'timed-out');
    if (nextState(nic.state, event) === undefined || (settlesFailure && nic.desiredMode !== 'deassoc')) {
      return { nic, ...(held ? { held } : {}), changed: false };
    }
    const reason = event === 'check-missing' ? `lldpad holds no VSI ${nic.instanceUuid} on ${nic.uplink}` : undefined;
    const bridgeVlan = nic.vlan === 0 ? assignedVlan(held?.filters) : undefined;
    const after = this.apply(id, { event, cause, ...(reason ? { reason } : {}), bridgeVlan }).nic;
    return { nic: after, ...(held ? { held } : {}), changed: true };
  }

  private onVsiEvent(e: VsiEvent): void {
    const nic = this.repo.byInstanceUuid(e.instanceUuid);
    if (!nic) return; // a VSI made by someone else (vdptool, another manager)
    const event: NicEvent = e.kind === 'lost' ? 'keepalive-lost' : 'bridge-deassoc';
    // A NIC with a request out will learn its fate from the answer; a NIC not held has nothing to lose.
    if (this.busy(nic.id) || nextState(nic.state, event) === undefined) {
      this.log?.info({ nicId: nic.id, state: nic.state, vsiEvent: e.kind }, 'lldpad event for a NIC not held: ignored');
      return;
    }
    const apply = { event, cause: e.kind === 'lost' ? 'lldpad-lost' : 'bridge-deassoc', reasonCode: e.reasonCode, reason: e.reason };
    void this.enqueue(nic.id, async () => {
      const now = this.repo.get(nic.id);
      if (now && nextState(now.state, event) !== undefined) this.apply(nic.id, apply);
    }).catch((err) => this.log?.warn({ err, nicId: nic.id }, 'recording an lldpad event failed'));
  }

  private apply(id: string, a: Parameters<NicRepo['applyEvent']>[1]): Applied {
    const clean = Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as typeof a;
    const applied = this.repo.applyEvent(id, clean);
    const { nic, entry } = applied;
    this.bus?.publish({
      kind: 'nic-transition',
      seq: entry.seq,
      nicId: nic.id,
      vmUuid: nic.vmUuid,
      mac: nic.mac,
      uplink: nic.uplink,
      from: entry.from,
      to: entry.to,
      cause: entry.cause,
      ...(entry.reasonCode !== undefined ? { reasonCode: entry.reasonCode } : {}),
      ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
      at: entry.at,
    });
    // the transition is logged, at its level, by the bus's reader (logBusEvents)
    return applied;
  }
}

function answerEvent(o: Exclude<VsiOutcome, { kind: 'accepted' }>): { event: NicEvent; reasonCode?: number; reason: string } {
  switch (o.kind) {
    case 'rejected':
      return { event: 'answer-rejected', reasonCode: o.reasonCode, reason: o.reason };
    case 'timeout':
      return { event: 'answer-timeout', reason: `no answer from lldpad within ${o.afterMs} ms` };
    case 'transport-error':
      return { event: 'answer-error', reason: o.message };
  }
}

/**
 * lldpad refuses (R05) to change the filter (VLAN, MAC) of a VSI it holds, and to switch between the two
 * pre-associate modes; a deassoc whose type version differs from the held one is "accepted" and leaves the VSI in
 * place. So any change of what is held — other uplink, instance, VLAN, type or version — drops the old VSI with
 * its pinned parameters first (a filter change then also waits for the bridge: filterChangeWait); only
 * pre-associate → associate of the same parameters goes straight.
 */
function mustDropFirst(nic: Nic, p: NicParams, mode: VdpRequestMode): boolean {
  if (!sameNicParams(nic, p)) return true;
  return nic.state === 'pre-associated' && mode !== 'assoc' && mode !== nic.desiredMode;
}

/** lldpad holds the VSI in the wanted mode with the NIC's parameters (else the reconciler asks again). */
function holdsAsWanted(held: VsiStatus, nic: Nic, want: NicMode | VdpRequestMode): boolean {
  const modeOk = want === 'assoc' ? held.mode === 'assoc' : held.mode === 'preassoc' || held.mode === 'preassoc-rr';
  const f = held.filters[0];
  return (
    modeOk &&
    held.typeId === nic.typeId &&
    held.typeIdVersion === nic.typeIdVersion &&
    // a wildcard (VLAN 0) request is held under whatever VID the bridge assigned
    (f === undefined || ((f.vlan === nic.vlan || nic.vlan === 0) && (f.mac === undefined || f.mac.toLowerCase() === nic.mac)))
  );
}

/** The VID a bridge assigned to a wildcard request, from the filters lldpad reports holding (undefined: none). */
function assignedVlan(filters: readonly { vlan: number }[] | undefined): number | undefined {
  const v = filters?.[0]?.vlan;
  return v !== undefined && v > 0 ? v : undefined;
}
