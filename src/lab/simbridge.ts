// A simulated EVB bridge port for the lab: speaks LLDP (with the EVB TLV), ECP22 and VDP22 to a station lldpad
// and answers each VSI request as a scenario says. Bridge-role lldpad accepts every VSI, so the reject, timeout,
// keep-alive-loss and unsolicited de-associate paths need a bridge we control. Replaces the bridge lldpad
// (start the lab with `--bridge none`): two answering peers on one link race each other.
// Timing traps (see shared notes): the station waits only 10 µs × 2^RTE for an ECP ACK before retransmitting, so
// we ACK first and process afterwards; a retransmitted sequence number is ACKed again but processed once.
import { fieldError } from '../domain/errors.js';
import { parseTypeId, parseUuid } from '../domain/identifiers.js';
import {
  decodeEcpFrame,
  decodeEthernetHeader,
  ECP_ETHERTYPE,
  ECP_SUBTYPE_VDP,
  ECP_SUBTYPES,
  ECP_VERSION,
  encodeEcpAck,
  encodeEcpFrame,
  NEAREST_CUSTOMER_BRIDGE_MAC,
  nextEcpSequence,
} from '../domain/ecp.js';
import { bridgeLldpTlvs, decodeLldpFrame, encodeLldpFrame, LLDP_ETHERTYPE, type EvbTlv } from '../domain/lldp-evb.js';
import {
  decodeVdp22Pdu,
  describeVdp22Status,
  encodeVdp22Pdu,
  vdp22BridgeDeassociate,
  vdp22RequestHints,
  vdp22Response,
  vsisWithManager,
  type Vdp22RequestHints,
  type Vdp22VsiTlv,
} from '../domain/vdp22-tlv.js';
import type { FramePort } from './raw-socket.js';

export const VDP_ACTIONS = ['accept', 'reject', 'silent', 'no-ack', 'keepalive-loss', 'end-once'] as const;
/**
 * accept: ECP ACK + success. reject: ECP ACK + response with `reason` (default 2, insufficient resources).
 * silent: ECP ACK, no VDP response. no-ack: not even the ECP ACK. keepalive-loss: accept a new request or a mode
 * change, then ignore the station's keep-alives (same mode again) so it eventually drops the VSI. end-once: answer
 * the first request for the VSI with a de-associate of status 0 — what bridge-role lldpad does when a lost frame
 * made it end the VSI as the request crossed (docs/ecp.md) — and accept the ones after it.
 */
export type VdpAction = (typeof VDP_ACTIONS)[number];

export interface ScenarioRule {
  action: VdpAction;
  /** reject: reason code 1–15 (VDP22_REASONS). */
  reason?: number;
  /** reject: set the keep bit (the station keeps its previous state) / the hard-error bit. */
  keep?: boolean;
  hard?: boolean;
  /** keepalive-loss: still ACK the ECP frames of ignored keep-alives (default true). */
  ackEcp?: boolean;
  /** accept/reject: answer only after this many ms (0–60000). */
  delayMs?: number;
  /** accept/keepalive-loss: answer a filter that asks for the wildcard VID 0 with this VID (1–4095), as a bridge that
   *  chooses the VLAN does. Filters that name a VID are echoed unchanged. */
  assignVlan?: number;
}

/** Rules by instance UUID win over rules by VSI type id, which win over the default (accept). */
export interface Scenario {
  default?: ScenarioRule;
  byUuid?: Record<string, ScenarioRule>;
  byTypeId?: Record<string, ScenarioRule>;
}

const RULE_KEYS = ['action', 'reason', 'keep', 'hard', 'ackEcp', 'delayMs', 'assignVlan'];
const SCENARIO_KEYS = ['default', 'byUuid', 'byTypeId'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intIn(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw fieldError(field, 'QBG_ERR_INTEGER_RANGE', field, min, max, v);
  }
  return v;
}

function boolOpt(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'true or false', v);
  return v;
}

export function parseScenarioRule(v: unknown, field = 'rule'): ScenarioRule {
  if (!isObject(v)) throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'an object like {"action":"accept"}', v);
  for (const k of Object.keys(v)) {
    if (!RULE_KEYS.includes(k)) throw fieldError(`${field}.${k}`, 'QBG_ERR_UNKNOWN_FIELD', k, RULE_KEYS.join(', '));
  }
  if (!VDP_ACTIONS.includes(v.action as VdpAction)) {
    throw fieldError(`${field}.action`, 'QBG_ERR_ENUM', `${field}.action`, VDP_ACTIONS.join(', '), v.action);
  }
  const rule: ScenarioRule = { action: v.action as VdpAction };
  if (v.reason !== undefined) rule.reason = intIn(v.reason, `${field}.reason`, 0, 15);
  const keep = boolOpt(v.keep, `${field}.keep`);
  const hard = boolOpt(v.hard, `${field}.hard`);
  const ackEcp = boolOpt(v.ackEcp, `${field}.ackEcp`);
  if (keep !== undefined) rule.keep = keep;
  if (hard !== undefined) rule.hard = hard;
  if (ackEcp !== undefined) rule.ackEcp = ackEcp;
  if (v.delayMs !== undefined) rule.delayMs = intIn(v.delayMs, `${field}.delayMs`, 0, 60000);
  if (v.assignVlan !== undefined) rule.assignVlan = intIn(v.assignVlan, `${field}.assignVlan`, 1, 4095);
  return rule;
}

export function parseScenario(v: unknown): Scenario {
  if (!isObject(v)) throw fieldError('scenario', 'QBG_ERR_FIELD_TYPE', 'scenario', 'an object', v);
  for (const k of Object.keys(v)) {
    if (!SCENARIO_KEYS.includes(k)) throw fieldError(`scenario.${k}`, 'QBG_ERR_UNKNOWN_FIELD', k, SCENARIO_KEYS.join(', '));
  }
  const s: Scenario = {};
  if (v.default !== undefined) s.default = parseScenarioRule(v.default, 'scenario.default');
  if (v.byUuid !== undefined) {
    if (!isObject(v.byUuid)) throw fieldError('scenario.byUuid', 'QBG_ERR_FIELD_TYPE', 'scenario.byUuid', 'an object', v.byUuid);
    s.byUuid = {};
    for (const [k, r] of Object.entries(v.byUuid)) s.byUuid[parseUuid(k, 'scenario.byUuid')] = parseScenarioRule(r, `scenario.byUuid.${k}`);
  }
  if (v.byTypeId !== undefined) {
    if (!isObject(v.byTypeId)) throw fieldError('scenario.byTypeId', 'QBG_ERR_FIELD_TYPE', 'scenario.byTypeId', 'an object', v.byTypeId);
    s.byTypeId = {};
    for (const [k, r] of Object.entries(v.byTypeId)) {
      s.byTypeId[String(parseTypeId(k, 'scenario.byTypeId'))] = parseScenarioRule(r, `scenario.byTypeId.${k}`);
    }
  }
  return s;
}

export function ruleFor(s: Scenario, instanceUuid: string | undefined, typeId: number | undefined): ScenarioRule {
  return (
    (instanceUuid !== undefined ? s.byUuid?.[instanceUuid] : undefined) ??
    (typeId !== undefined ? s.byTypeId?.[String(typeId)] : undefined) ??
    s.default ?? { action: 'accept' }
  );
}

/** EVB parameters we advertise. The station uses the larger of its own and ours for each of them. */
export interface SimEvbParams {
  retries: number;
  rte: number;
  rwd: number;
  rka: number;
}

export interface SimBridgeOptions {
  scenario?: Scenario;
  evb?: Partial<SimEvbParams>;
  /** How often to send LLDP (ms); the station must keep hearing the EVB TLV. */
  lldpIntervalMs?: number;
  /** Our own ECP retransmission: wait per attempt (ms) and retries after the first send. */
  ecpAckTimeoutMs?: number;
  ecpRetries?: number;
  /** First ECP sequence number; random by default so a restarted simulator is not taken for a retransmission. */
  firstSequence?: number;
  log: (event: Record<string, unknown>) => void;
}

export interface HeldVsi {
  managerId2: string;
  vsi: Vdp22VsiTlv;
  /** The hints of the request that made or last changed it (the response itself carries none). */
  hints: Vdp22RequestHints;
  since: number;
  keepalives: number;
}

interface Outgoing {
  payload: Buffer;
  what: Record<string, unknown>;
}

interface InFlight extends Outgoing {
  seq: number;
  frame: Buffer;
  attempts: number;
  sentAt: number;
  timer: NodeJS.Timeout;
}

export class SimBridge {
  private scenario: Scenario;
  private readonly evb: SimEvbParams;
  private readonly held = new Map<string, HeldVsi>();
  /** VSIs an end-once rule has ended already. */
  private readonly endedOnce = new Set<string>();
  private readonly queue: Outgoing[] = [];
  private inflight: InFlight | undefined;
  private txSeq: number;
  private lastRxSeq: number | undefined;
  private stationStatus: EvbTlv['station'] = { sgid: false, rrreq: false, rrstat: 0 };
  private stationHeard = false;
  private lldpTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly t0 = performance.now();

  constructor(
    private readonly port: FramePort,
    private readonly opts: SimBridgeOptions,
  ) {
    this.scenario = opts.scenario ?? {};
    this.evb = { retries: 3, rte: 8, rwd: 20, rka: 20, ...opts.evb };
    for (const [k, max] of [['retries', 7], ['rte', 31], ['rwd', 31], ['rka', 31]] as const) {
      intIn(this.evb[k], `evb.${k}`, 0, max);
    }
    this.txSeq = opts.firstSequence ?? 1 + Math.floor(Math.random() * 0xfff0);
  }

  private now(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }

  private emit(event: string, fields: Record<string, unknown> = {}): void {
    this.opts.log({ event, ms: this.now(), ...fields });
  }

  start(): void {
    this.unsubscribe = this.port.onFrame((f) => this.onFrame(f));
    this.sendLldp();
    this.lldpTimer = setInterval(() => this.sendLldp(), this.opts.lldpIntervalMs ?? 1000);
    this.emit('ready', { port: this.port.ifname, mac: this.port.mac, evb: this.evb, firstSequence: this.txSeq });
  }

  stop(): void {
    if (this.lldpTimer) clearInterval(this.lldpTimer);
    if (this.inflight) clearTimeout(this.inflight.timer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.unsubscribe?.();
  }

  setScenario(s: Scenario): void {
    this.scenario = s;
  }

  getScenario(): Scenario {
    return this.scenario;
  }

  /** Set or (rule undefined) remove one rule; target undefined = the default rule. */
  setRule(target: { uuid?: string; typeId?: number }, rule: ScenarioRule | undefined): void {
    const s: Scenario = { ...this.scenario, byUuid: { ...this.scenario.byUuid }, byTypeId: { ...this.scenario.byTypeId } };
    if (target.uuid !== undefined) {
      if (rule) s.byUuid![target.uuid] = rule;
      else delete s.byUuid![target.uuid];
    } else if (target.typeId !== undefined) {
      if (rule) s.byTypeId![String(target.typeId)] = rule;
      else delete s.byTypeId![String(target.typeId)];
    } else if (rule) s.default = rule;
    else delete s.default;
    this.scenario = s;
  }

  heldVsis(): { instanceUuid: string; mode: string; typeId: number; typeIdVersion: number; hints: Vdp22RequestHints; keepalives: number }[] {
    return [...this.held.entries()].map(([uuid, h]) => ({
      instanceUuid: uuid,
      mode: h.vsi.mode,
      typeId: h.vsi.typeId,
      typeIdVersion: h.vsi.typeIdVersion,
      hints: h.hints,
      keepalives: h.keepalives,
    }));
  }

  /** Send an unsolicited de-associate for a VSI we hold (the station matches every field, so we echo them). */
  deassociate(instanceUuid: string, reasonCode = 0): boolean {
    const h = this.held.get(instanceUuid);
    if (!h) return false;
    this.held.delete(instanceUuid);
    this.enqueue({
      payload: encodeVdp22Pdu([{ kind: 'manager-id', managerId2: h.managerId2 }, vdp22BridgeDeassociate(h.vsi, reasonCode)]),
      what: { kind: 'unsolicited-deassoc', instanceUuid, reasonCode },
    });
    return true;
  }

  private evbTlv(): EvbTlv {
    return {
      bridge: { bgid: true, rrcap: true, rrctr: this.stationStatus.rrreq },
      station: this.stationStatus,
      retries: this.evb.retries,
      rte: this.evb.rte,
      mode: 'bridge',
      rwdRemote: false,
      rwd: this.evb.rwd,
      rkaRemote: false,
      rka: this.evb.rka,
    };
  }

  private sendLldp(): void {
    this.port.send(encodeLldpFrame({ src: this.port.mac, tlvs: bridgeLldpTlvs({ mac: this.port.mac, evb: this.evbTlv() }) }));
  }

  private onFrame(frame: Buffer): void {
    const eth = decodeEthernetHeader(frame);
    if (!eth.ok) return;
    if (eth.value.ethertype === LLDP_ETHERTYPE) return this.onLldp(frame);
    if (eth.value.ethertype === ECP_ETHERTYPE) return this.onEcp(frame);
  }

  private onLldp(frame: Buffer): void {
    const l = decodeLldpFrame(frame);
    if (!l.ok) return this.emit('decode-error', { protocol: 'lldp', error: l.error, offset: l.offset });
    if (!l.value.evb) return;
    const s = l.value.evb.station;
    const changed = !this.stationHeard || JSON.stringify(s) !== JSON.stringify(this.stationStatus);
    this.stationStatus = s; // a bridge echoes the station status it last heard (lldp_evb22.c bridge_tlv)
    if (changed) {
      this.stationHeard = true;
      this.emit('lldp-station', { src: l.value.src, evb: l.value.evb });
      this.sendLldp(); // answer a change at once: the station needs our EVB TLV before VDP works
    }
  }

  private onEcp(frame: Buffer): void {
    const f = decodeEcpFrame(frame);
    if (!f.ok) return this.emit('decode-error', { protocol: 'ecp', error: f.error, offset: f.offset });
    const { header, payload, src } = f.value;
    // As lldpad does (ecp22.c ecp22_rx_receiveframe), a frame of another ECP version or of a subtype nobody defined
    // is dropped before anything else: no ACK, so the sender learns nothing was taken.
    if (header.version !== ECP_VERSION) {
      return this.emit('ecp-dropped', { seq: header.sequence, op: header.op, why: `ECP version ${header.version} is not ${ECP_VERSION}` });
    }
    if (!ECP_SUBTYPES.includes(header.subtype)) {
      return this.emit('ecp-dropped', { seq: header.sequence, op: header.op, why: `unknown ECP subtype ${header.subtype}` });
    }
    if (header.op === 'ack') return this.onAck(header.sequence);
    const pdu = header.subtype === ECP_SUBTYPE_VDP ? decodeVdp22Pdu(payload) : undefined;
    const pairs = pdu?.ok ? vsisWithManager(pdu.value) : [];
    const first = pairs[0]?.vsi;
    const rule = ruleFor(this.scenario, first?.instanceUuid, first?.typeId);
    const isKeepalive = first !== undefined && this.isKeepalive(first);
    const withhold = rule.action === 'no-ack' || (rule.action === 'keepalive-loss' && isKeepalive && rule.ackEcp === false);
    if (withhold) {
      return this.emit('ecp-ack-withheld', { seq: header.sequence, instanceUuid: first?.instanceUuid, action: rule.action });
    }
    // ACK before anything else: a late ACK makes the station retransmit (and, after 3 retries, give up)
    this.port.send(encodeEcpAck({ dst: NEAREST_CUSTOMER_BRIDGE_MAC, src: this.port.mac, subtype: header.subtype, sequence: header.sequence }));
    if (header.sequence === this.lastRxSeq) return this.emit('ecp-duplicate', { seq: header.sequence });
    this.lastRxSeq = header.sequence;
    // PECSP (802.1BR) is a defined subtype: ECP takes it, but no upper layer here speaks it (lldpad does the same).
    if (header.subtype !== ECP_SUBTYPE_VDP) return this.emit('ecp-unsupported-subtype', { seq: header.sequence, subtype: header.subtype });
    // A VDP PDU that breaks the manager id rule (or any other) is dropped as a whole: no VSI changes, no answer.
    if (pdu && !pdu.ok) return this.emit('decode-error', { protocol: 'vdp', seq: header.sequence, error: pdu.error, offset: pdu.offset });
    setImmediate(() => {
      for (const { managerId2, vsi } of pairs) this.onVsi(header.sequence, src, managerId2, vsi);
    });
  }

  private isKeepalive(vsi: Vdp22VsiTlv): boolean {
    const h = vsi.instanceUuid !== undefined ? this.held.get(vsi.instanceUuid) : undefined;
    return h !== undefined && h.vsi.mode === vsi.mode && vsi.mode !== 'deassoc';
  }

  private onVsi(seq: number, src: string, managerId2: string, vsi: Vdp22VsiTlv): void {
    const uuid = vsi.instanceUuid ?? vsi.vsiId;
    const keepalive = this.isKeepalive(vsi);
    const held = this.held.get(uuid);
    if (keepalive && held) held.keepalives++;
    const rule = ruleFor(this.scenario, vsi.instanceUuid, vsi.typeId);
    this.emit('vdp-request', {
      seq,
      station: src,
      instanceUuid: uuid,
      mode: vsi.mode,
      managerId2,
      typeId: vsi.typeId,
      typeIdVersion: vsi.typeIdVersion,
      // a request's status byte carries the migration hints (M/S), not a response's hard-error/keep bits
      hints: vdp22RequestHints(vsi.status),
      status: vsi.status,
      vsiIdFormat: vsi.vsiIdFormat,
      filterFormat: vsi.filterFormat,
      filters: vsi.filters,
      keepalive,
      action: rule.action,
    });
    if (vsi.status & 0x40) return this.emit('vdp-ignored', { instanceUuid: uuid, why: 'response bit set in a station request' });
    switch (rule.action) {
      case 'silent':
      case 'no-ack':
        return this.emit('vdp-ignored', { instanceUuid: uuid, mode: vsi.mode, why: rule.action });
      case 'keepalive-loss':
        if (keepalive) return this.emit('vdp-ignored', { instanceUuid: uuid, mode: vsi.mode, why: 'keepalive-loss' });
        return this.answer(managerId2, vsi, 0, rule);
      case 'end-once':
        if (!this.endedOnce.has(uuid)) {
          this.endedOnce.add(uuid);
          return this.answer(managerId2, { ...vsi, mode: 'deassoc' }, 0, rule);
        }
        return this.answer(managerId2, vsi, 0, rule);
      case 'accept':
        return this.answer(managerId2, vsi, 0, rule);
      case 'reject':
        return this.answer(managerId2, vsi, rule.reason ?? 2, rule);
    }
  }

  private answer(managerId2: string, vsi: Vdp22VsiTlv, reasonCode: number, rule: ScenarioRule): void {
    const uuid = vsi.instanceUuid ?? vsi.vsiId;
    const send = (): void => {
      const response = vdp22Response(vsi, reasonCode, {
        keep: rule.keep,
        hard: rule.hard,
        ...(reasonCode === 0 && rule.assignVlan !== undefined ? { assignVid: rule.assignVlan } : {}),
      });
      if (reasonCode === 0) {
        if (vsi.mode === 'deassoc') this.held.delete(uuid);
        else {
          const prev = this.held.get(uuid);
          const sameMode = prev?.vsi.mode === vsi.mode;
          this.held.set(uuid, {
            managerId2,
            vsi: response,
            hints: vdp22RequestHints(vsi.status),
            since: sameMode ? prev!.since : this.now(),
            keepalives: sameMode ? prev!.keepalives : 0,
          });
        }
      } else if (!rule.keep) {
        this.held.delete(uuid); // without the keep bit the station ends the VSI (vdp22sm.c bad_error)
      }
      const st = describeVdp22Status(response.status);
      this.enqueue({
        payload: encodeVdp22Pdu([{ kind: 'manager-id', managerId2 }, response]),
        what: {
          kind: 'vdp-response',
          instanceUuid: uuid,
          mode: vsi.mode,
          status: response.status,
          reasonCode: st.reasonCode,
          reason: st.reason,
          vids: response.filters.map((f) => f.vid),
        },
      });
    };
    if (rule.delayMs) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        send();
      }, rule.delayMs);
      this.timers.add(t);
    } else send();
  }

  private enqueue(o: Outgoing): void {
    this.queue.push(o);
    this.pump();
  }

  /** ECP allows one unacknowledged frame at a time: send the next when the previous is ACKed or given up. */
  private pump(): void {
    if (this.inflight) return;
    const next = this.queue.shift();
    if (!next) return;
    this.txSeq = nextEcpSequence(this.txSeq);
    const frame = encodeEcpFrame({
      dst: NEAREST_CUSTOMER_BRIDGE_MAC,
      src: this.port.mac,
      header: { version: ECP_VERSION, op: 'request', subtype: ECP_SUBTYPE_VDP, sequence: this.txSeq },
      payload: next.payload,
    });
    const inflight: InFlight = { ...next, seq: this.txSeq, frame, attempts: 1, sentAt: this.now(), timer: undefined as unknown as NodeJS.Timeout };
    this.inflight = inflight;
    this.port.send(frame);
    this.emit('sent', { seq: inflight.seq, ...next.what });
    inflight.timer = setTimeout(() => this.onTxTimeout(inflight), this.opts.ecpAckTimeoutMs ?? 50);
  }

  private onTxTimeout(f: InFlight): void {
    if (this.inflight !== f) return;
    if (f.attempts > (this.opts.ecpRetries ?? 3)) {
      this.inflight = undefined;
      this.emit('ecp-tx-failed', { seq: f.seq, attempts: f.attempts, ...f.what });
      return this.pump();
    }
    f.attempts++;
    this.port.send(f.frame);
    this.emit('ecp-retransmit', { seq: f.seq, attempt: f.attempts });
    f.timer = setTimeout(() => this.onTxTimeout(f), this.opts.ecpAckTimeoutMs ?? 50);
  }

  private onAck(seq: number): void {
    const f = this.inflight;
    if (!f || f.seq !== seq) return this.emit('ecp-ack-unexpected', { seq });
    clearTimeout(f.timer);
    this.inflight = undefined;
    this.emit('ecp-acked', { seq, afterMs: Math.round((this.now() - f.sentAt) * 10) / 10, kind: f.what.kind });
    this.pump();
  }
}
