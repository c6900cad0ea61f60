// The libvirt association path: RTM_SETLINK unicast to lldpad's netlink port, then RTM_GETLINK polls for
// IFLA_PORT_RESPONSE, exactly as libvirt's virnetdevvportprofile.c does for <virtualport type='802.1Qbg'>.
// Must run in the station's network namespace: lldpad only hears netlink from its own namespace.
import { readFile } from 'node:fs/promises';
import { qbgError } from '../domain/errors.js';
import { parseIfname, parseUuid } from '../domain/identifiers.js';
import {
  decodeLinkReply,
  decodeNlError,
  decodeSetLink,
  encodeGetLink,
  encodeSetLink,
  libvirtSees,
  lldpadProgress,
  NLMSG_DONE,
  NLMSG_ERROR,
  PORT_REQUEST,
  portProfileFromVsiRequest,
  portProgress,
  RTM_NEWLINK,
  RTM_SETLINK,
  type LinkReply,
  type NetlinkMessage,
  type PortProfileRequest,
} from '../domain/port-profile.js';
import { decodeVdpReason } from '../domain/vdp-reasons.js';
import type { VsiAssociator, VsiEvent, VsiOutcome, VsiRequest, VsiStatus } from '../domain/vsi-request.js';
import { errnoName, LldpadNetlinkSocket, NetlinkReplyTimeout, NetlinkSendError } from './netlink-socket.js';

/** Where libvirt finds lldpad (LLDPAD_PID_FILE); lldpad writes it unless started with -p. */
export const LLDPAD_PID_FILE = '/var/run/lldpad.pid';
/** libvirt: STATUS_POLL_INTERVL_USEC 125 ms, STATUS_POLL_TIMEOUT_USEC 10 s → 80 polls. */
export const LIBVIRT_POLL_INTERVAL_MS = 125;
export const LIBVIRT_MAX_POLLS = 80;

/** How long lldpad's echo of our own disassociate is expected (it came within ms in the lab). */
const OWN_DEASSOC_ECHO_MS = 30_000;

/** The bridge answered within 10–50 ms in the lab; a changed VSI's stale 0 is trusted only after this. */
const DEFAULT_SETTLE_MS = 250;
const STALE_WARNING =
  'libvirt read a success left over from this VSI\'s previous request: lldpad keeps the old IFLA_PORT_RESPONSE until the bridge answers';

const STALE_DEASSOC_WARNING =
  'libvirt called the disassociate done while lldpad still listed the VSI with its previous response';

export type PidSource = number | (() => number | Promise<number>);

export interface NetlinkPortProfileOptions {
  /** lldpad's pid = its netlink port. A function is asked before every request, so a restarted lldpad is found. */
  lldpadPid?: PidSource;
  pollIntervalMs?: number;
  maxPolls?: number;
  /** How long to wait for lldpad's answer to one SETLINK or GETLINK. */
  replyTimeoutMs?: number;
  /** How long a 0 response of a VSI lldpad already held must persist after the ack before it counts (see run()). */
  settleMs?: number;
  now?: () => number;
}

/** Reads lldpad's pid file the way libvirt does (virNetDevVPortProfileGetLldpadPid). */
export async function readLldpadPidFile(path = LLDPAD_PID_FILE): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', ` (pid file ${path})`, `${(e as NodeJS.ErrnoException).code ?? e}: lldpad runs with -p or not at all`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', ` (pid file ${path})`, `no pid in it: ${JSON.stringify(text.slice(0, 40))}`);
  return pid;
}

/** One step of what happened, for the libvirt-eye diagnosis. */
export interface TraceStep {
  atMs: number;
  step: 'resolve' | 'pre-poll' | 'setlink' | 'ack' | 'poll' | 'verdict';
  detail: Record<string, unknown>;
}

export type LibvirtVerdict =
  | { result: 'success'; atMs: number; polls: number }
  | { result: 'failed'; atMs: number; message: string; status?: number }
  | { result: 'timeout'; atMs: number; message: string };

export interface LibvirtDiagnosis {
  uplink: string;
  ifindex?: number;
  lldpadPid?: number;
  ourPort?: number;
  /** the decoded SETLINK we sent and its bytes (hex), as libvirt would build it */
  sent?: { request: PortProfileRequest; hex: string };
  steps: TraceStep[];
  /** what libvirt would have concluded (its nla_parse keeps the last of repeated attributes) */
  libvirt: LibvirtVerdict;
  /** qbg's own reading of the same replies (matches the UUID among every VSI) */
  qbg: VsiOutcome;
  ackMs?: number;
  doneMs?: number;
  elapsedMs: number;
  /** things libvirt got wrong on this run (e.g. a stale success) */
  warnings: string[];
}

interface RunResult {
  warnings: string[];
  outcome: VsiOutcome;
  libvirt: LibvirtVerdict;
  steps: TraceStep[];
  ifindex?: number;
  pid?: number;
  sent?: { request: PortProfileRequest; hex: string };
  ackMs?: number;
  doneMs?: number;
  elapsedMs: number;
}

/** A readable line for errnos lldpad answers a libvirt-style request with. */
function explainErrno(errno: number, uplink: string): string {
  const name = errnoName(errno);
  switch (name) {
    case 'EPROTONOSUPPORT':
      return `lldpad has no VDP on ${uplink} (EPROTONOSUPPORT): EVB is not enabled there or not yet exchanged with the bridge`;
    case 'EINVAL':
      return `lldpad refused the port-profile request on ${uplink} as malformed (EINVAL)`;
    case 'ENODEV':
    case 'ENXIO':
      return `lldpad does not know interface ${uplink} (${name}): not configured for LLDP/EVB`;
    default:
      return `lldpad answered ${name} for ${uplink}`;
  }
}

function explainSendError(e: NetlinkSendError | NetlinkReplyTimeout, pid: number): string {
  if (e instanceof NetlinkReplyTimeout) return `lldpad (pid ${pid}) did not answer within ${e.ms} ms`;
  if (e.code === 'ECONNREFUSED') {
    return `no netlink socket at port ${pid} (ECONNREFUSED): lldpad is not running with that pid in this network namespace`;
  }
  return `${e.message} (lldpad pid ${pid})`;
}

export class NetlinkPortProfile implements VsiAssociator {
  private sock?: LldpadNetlinkSocket;
  private readonly listeners = new Set<(e: VsiEvent) => void>();
  /** What we last asked for each VSI: GETLINK only echoes UUID and response, query() fills in the rest. */
  private readonly asked = new Map<string, VsiRequest>();
  /**
   * VSIs we disassociated ourselves, until lldpad's echo arrives: lldpad sends the same unsolicited
   * SETLINK(PORT_REQUEST=3) to the requester when OUR disassociate completes (vdp22_nlback, seen in the lab)
   * as when the bridge ends the VSI. uuid → expiry (ms, this.now()).
   */
  private readonly ownDeassoc = new Map<string, number>();
  private readonly pollIntervalMs: number;
  private readonly maxPolls: number;
  private readonly replyTimeoutMs: number;
  private readonly settleMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: NetlinkPortProfileOptions = {}) {
    this.pollIntervalMs = opts.pollIntervalMs ?? LIBVIRT_POLL_INTERVAL_MS;
    this.maxPolls = opts.maxPolls ?? LIBVIRT_MAX_POLLS;
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 2000;
    this.settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    this.now = opts.now ?? (() => performance.now());
    for (const [k, v, lo, hi] of [
      ['pollIntervalMs', this.pollIntervalMs, 0, 60_000],
      ['maxPolls', this.maxPolls, 1, 10_000],
      ['replyTimeoutMs', this.replyTimeoutMs, 1, 60_000],
      ['settleMs', this.settleMs, 0, 60_000],
    ] as const) {
      if (!Number.isInteger(v) || v < lo || v > hi) throw qbgError('QBG_ERR_INTEGER_RANGE', k, lo, hi, v);
    }
  }

  private socket(): LldpadNetlinkSocket {
    if (!this.sock) {
      const s = new LldpadNetlinkSocket();
      s.on('unsolicited', (m: NetlinkMessage, from: number) => this.unsolicited(m, from));
      s.on('socket-error', () => undefined); // send errors reach the sender through its callback
      s.on('invalid', () => undefined);
      this.sock = s;
    }
    return this.sock;
  }

  private async lldpadPid(): Promise<number> {
    const src = this.opts.lldpadPid;
    if (src === undefined) return readLldpadPidFile();
    const pid = typeof src === 'number' ? src : await src();
    if (!Number.isInteger(pid) || pid <= 0) throw qbgError('QBG_ERR_INTEGER_RANGE', 'lldpadPid', 1, 4194304, pid);
    return pid;
  }

  /** lldpad's event: an RTM_SETLINK with PORT_REQUEST = DISASSOCIATE when the bridge (or a timeout) ends a VSI. */
  private unsolicited(m: NetlinkMessage, _from: number): void {
    if (m.type !== RTM_SETLINK) return;
    let d;
    try {
      d = decodeSetLink(m.payload);
    } catch {
      return;
    }
    if (d.instanceUuid === undefined || d.request !== PORT_REQUEST.DISASSOCIATE) return;
    const own = this.ownDeassoc.get(d.instanceUuid);
    if (own !== undefined) {
      this.ownDeassoc.delete(d.instanceUuid);
      if (own >= this.now()) return;
    }
    const ev: VsiEvent = {
      kind: 'deassociated-by-bridge',
      instanceUuid: d.instanceUuid,
      ...(d.ifname !== undefined ? { uplink: d.ifname } : {}),
      at: new Date().toISOString(),
    };
    for (const l of this.listeners) l(ev);
  }

  /** The kernel's ifindex of `uplink` in this network namespace (lldpad wants ifinfomsg.ifi_index). */
  async ifindexOf(uplink: string): Promise<number> {
    const name = parseIfname(uplink);
    const s = this.socket();
    const seq = s.nextSeq();
    const reply = await s.exchange(encodeGetLink(0, seq, s.port, name), seq, 0, this.replyTimeoutMs);
    if (reply.type === NLMSG_ERROR) {
      const errno = decodeNlError(reply.payload);
      throw qbgError('QBG_ERR_NOT_FOUND', `interface ${name} in this network namespace (${errnoName(errno)})`);
    }
    if (reply.type !== RTM_NEWLINK) throw qbgError('QBG_ERR_INTERNAL', `kernel answered GETLINK with type ${reply.type}`);
    return decodeLinkReply(reply.payload).ifindex;
  }

  /** One GETLINK to lldpad; returns the decoded reply and its raw bytes, or lldpad's errno. */
  async pollPort(
    uplink: string,
    ifindex: number,
    pid: number,
  ): Promise<{ reply: LinkReply; raw: Buffer } | { errno: number }> {
    const s = this.socket();
    const seq = s.nextSeq();
    const m = await s.exchange(encodeGetLink(ifindex, seq, s.port), seq, pid, this.replyTimeoutMs);
    if (m.type === NLMSG_ERROR) return { errno: decodeNlError(m.payload) };
    // lldpad answers with NLMSG_DONE carrying ifinfomsg + IFLA_VF_PORTS (lldp_vdpnl.c vdpnl_reply1)
    if (m.type !== NLMSG_DONE && m.type !== RTM_NEWLINK) {
      throw qbgError('QBG_ERR_LLDPAD_COMMAND', `GETLINK on ${uplink}`, `unexpected reply type ${m.type}`);
    }
    return { reply: decodeLinkReply(m.payload), raw: Buffer.from(m.payload) };
  }

  /** Every VSI lldpad lists on the uplink with its IFLA_PORT_RESPONSE (what the netlink path can see). */
  async portStatus(uplink: string): Promise<LinkReply & { raw: Buffer }> {
    const pid = await this.lldpadPid();
    const ifindex = await this.ifindexOf(uplink);
    let r;
    try {
      r = await this.pollPort(uplink, ifindex, pid);
    } catch (e) {
      if (e instanceof NetlinkSendError || e instanceof NetlinkReplyTimeout) {
        throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', ` over netlink (pid ${pid})`, explainSendError(e, pid));
      }
      throw e;
    }
    if ('errno' in r) {
      if (r.errno === 0) throw qbgError('QBG_ERR_LLDPAD_COMMAND', `GETLINK on ${uplink}`, 'an ACK instead of a link reply');
      throw qbgError('QBG_ERR_LLDPAD_COMMAND', `GETLINK on ${uplink}`, explainErrno(r.errno, uplink));
    }
    return { ...r.reply, raw: r.raw };
  }

  private async run(req: VsiRequest, timeoutMs: number | undefined, stopAtQbgVerdict: boolean): Promise<RunResult> {
    const t0 = this.now();
    const at = () => Math.round((this.now() - t0) * 1000) / 1000;
    const steps: TraceStep[] = [];
    const uuid = parseUuid(req.instanceUuid, 'instanceUuid');
    const deassoc = req.mode === 'deassoc';
    const res: Partial<RunResult> = { steps };
    const finish = (outcome: VsiOutcome, libvirt: LibvirtVerdict): RunResult => {
      steps.push({ atMs: at(), step: 'verdict', detail: { qbg: outcome, libvirt } });
      return { ...(res as RunResult), steps, outcome, libvirt, elapsedMs: at(), warnings: res.warnings ?? [] };
    };
    const transportError = (message: string): RunResult =>
      finish({ kind: 'transport-error', message }, { result: 'failed', atMs: at(), message });

    // Validation errors are the caller's: thrown before anything is sent.
    portProfileFromVsiRequest(req, 1);
    let pid: number;
    let ifindex: number;
    try {
      pid = await this.lldpadPid();
      ifindex = await this.ifindexOf(req.uplink);
    } catch (e) {
      return transportError((e as Error).message);
    }
    res.pid = pid;
    res.ifindex = ifindex;
    const s = this.socket();
    steps.push({ atMs: at(), step: 'resolve', detail: { lldpadPid: pid, ifindex, ourPort: s.port } });

    // Not something libvirt does: look first whether lldpad already holds this VSI with a response. lldpad keeps
    // that old IFLA_PORT_RESPONSE while the bridge works on a mode change (seen: preassoc → assoc read 0 one ms
    // after the ack, and a deassoc sent right then got EBUSY), so a 0 only counts after settleMs.
    let previous: number | undefined;
    if (!deassoc) {
      try {
        const pre = await this.pollPort(req.uplink, ifindex, pid);
        if (!('errno' in pre)) previous = pre.reply.vsis.filter((v) => v.instanceUuid === uuid).pop()?.response;
      } catch {
        // the SETLINK below reports an unreachable lldpad
      }
      steps.push({ atMs: at(), step: 'pre-poll', detail: { heldWithResponse: previous ?? null } });
    }

    const p = portProfileFromVsiRequest(req, ifindex);
    const seq = s.nextSeq();
    const bytes = encodeSetLink(p, seq, s.port);
    res.sent = { request: p, hex: bytes.toString('hex') };
    steps.push({ atMs: at(), step: 'setlink', detail: { seq, bytes: bytes.length, request: req.mode } });
    let ack: NetlinkMessage;
    try {
      ack = await s.exchange(bytes, seq, pid, this.replyTimeoutMs);
    } catch (e) {
      if (e instanceof NetlinkSendError || e instanceof NetlinkReplyTimeout) return transportError(explainSendError(e, pid));
      throw e;
    }
    const errno = ack.type === NLMSG_ERROR ? decodeNlError(ack.payload) : 0;
    res.ackMs = at();
    const ackAt = res.ackMs;
    steps.push({ atMs: res.ackMs, step: 'ack', detail: { type: ack.type, errno, ...(errno ? { name: errnoName(errno) } : {}) } });
    if (errno !== 0) return transportError(explainErrno(errno, req.uplink));
    this.asked.set(uuid, { ...req, instanceUuid: uuid });
    // lldpad answers the bridge's response after its ack, so the echo cannot overtake this
    if (deassoc) this.ownDeassoc.set(uuid, this.now() + OWN_DEASSOC_ECHO_MS);

    let libvirt: LibvirtVerdict | undefined;
    let outcome: VsiOutcome | undefined;
    let seen = false;
    const warnings: string[] = [];
    const deadline = timeoutMs === undefined ? Infinity : timeoutMs;
    for (let poll = 1; poll <= this.maxPolls && (outcome === undefined || libvirt === undefined); poll++) {
      if (poll > 1) await new Promise((r) => setTimeout(r, this.pollIntervalMs));
      if (at() > deadline) break;
      let r;
      try {
        r = await this.pollPort(req.uplink, ifindex, pid);
      } catch (e) {
        if (e instanceof NetlinkSendError || e instanceof NetlinkReplyTimeout) {
          const message = explainSendError(e, pid);
          steps.push({ atMs: at(), step: 'poll', detail: { poll, error: message } });
          outcome ??= { kind: 'transport-error', message };
          libvirt ??= { result: 'failed', atMs: at(), message };
          break;
        }
        throw e;
      }
      if ('errno' in r) {
        const message = explainErrno(r.errno, req.uplink);
        steps.push({ atMs: at(), step: 'poll', detail: { poll, errno: r.errno, error: message } });
        outcome ??= { kind: 'transport-error', message };
        libvirt ??= { result: 'failed', atMs: at(), message };
        break;
      }
      const mine = r.reply.vsis.filter((v) => v.instanceUuid === uuid).pop();
      const lv = libvirtSees(r.reply, uuid);
      steps.push({
        atMs: at(),
        step: 'poll',
        detail: {
          poll,
          vsisOnPort: r.reply.vsis.length,
          found: mine !== undefined,
          ...(mine?.response !== undefined ? { response: mine.response } : {}),
          libvirtFound: lv.found,
          ...(lv.found && lv.response !== undefined ? { libvirtResponse: lv.response } : {}),
        },
      });

      // libvirt: UUID (last in the nest) must match, then 0/0x100 = done, missing/0x101 = keep polling.
      if (libvirt === undefined) {
        if (!lv.found) {
          libvirt = { result: 'failed', atMs: at(), message: 'Could not find netlink response with expected parameters' };
        } else {
          const pr = portProgress(lv.response);
          if (pr.state === 'success') libvirt = { result: 'success', atMs: at(), polls: poll };
          else if (pr.state === 'failed') {
            libvirt = { result: 'failed', atMs: at(), status: pr.code, message: `error ${pr.code} during port-profile setlink on interface ${req.uplink} (${ifindex})` };
          }
        }
      }

      // qbg: find the UUID among every VSI; a disassociate is done when lldpad no longer lists it.
      if (outcome === undefined) {
        if (deassoc) {
          if (!mine) outcome = { kind: 'accepted', mode: req.mode, latencyMs: at() };
          else if (libvirt?.result === 'success' && !warnings.includes(STALE_DEASSOC_WARNING)) {
            warnings.push(STALE_DEASSOC_WARNING);
          }
        } else if (mine) {
          seen = true;
          const pr = lldpadProgress(mine.response);
          if (pr.state === 'success' && (previous === undefined || at() - ackAt >= this.settleMs)) {
            outcome = { kind: 'accepted', mode: req.mode, latencyMs: at() };
          } else if (pr.state === 'success' && libvirt?.result === 'success' && !warnings.includes(STALE_WARNING)) {
            warnings.push(STALE_WARNING);
          }
          else if (pr.state === 'failed') {
            const reason = decodeVdpReason(pr.code);
            outcome = { kind: 'rejected', reasonCode: pr.code, reason: `${reason.name}: ${reason.text}`, latencyMs: at() };
          }
        } else if (seen) {
          outcome = { kind: 'transport-error', message: `lldpad dropped VSI ${uuid} from ${req.uplink} without a response` };
        }
        if (outcome) res.doneMs = at();
      }
      if (outcome !== undefined && stopAtQbgVerdict) break;
    }
    res.warnings = warnings;
    outcome ??= { kind: 'timeout', afterMs: at() };
    libvirt ??= { result: 'timeout', atMs: at(), message: 'port-profile setlink timed out' };
    return finish(outcome, libvirt);
  }

  async request(req: VsiRequest, opts: { timeoutMs?: number } = {}): Promise<VsiOutcome> {
    const r = await this.run(req, opts.timeoutMs, true);
    return r.outcome;
  }

  /**
   * Do exactly what libvirt would (SETLINK, then a GETLINK every pollIntervalMs up to maxPolls) and report each
   * step, libvirt's verdict and qbg's. Polling goes on until both have a verdict (or maxPolls).
   */
  async diagnose(req: VsiRequest, opts: { timeoutMs?: number } = {}): Promise<LibvirtDiagnosis> {
    const r = await this.run(req, opts.timeoutMs, false);
    return {
      uplink: req.uplink,
      ...(r.ifindex !== undefined ? { ifindex: r.ifindex } : {}),
      ...(r.pid !== undefined ? { lldpadPid: r.pid } : {}),
      ...(this.sock ? { ourPort: this.sock.port } : {}),
      ...(r.sent ? { sent: r.sent } : {}),
      steps: r.steps,
      libvirt: r.libvirt,
      qbg: r.outcome,
      ...(r.ackMs !== undefined ? { ackMs: r.ackMs } : {}),
      ...(r.doneMs !== undefined ? { doneMs: r.doneMs } : {}),
      elapsedMs: r.elapsedMs,
      warnings: r.warnings,
    };
  }

  async query(uplink: string, instanceUuid: string): Promise<VsiStatus | undefined> {
    const uuid = parseUuid(instanceUuid, 'instanceUuid');
    const st = await this.portStatus(uplink);
    const v = st.vsis.filter((x) => x.instanceUuid === uuid).pop();
    if (!v) return undefined;
    const asked = this.asked.get(uuid);
    if (!asked) {
      // GETLINK echoes only UUID, VF and response; mode, type and filter are not on this path.
      throw qbgError(
        'QBG_ERR_LLDPAD_COMMAND',
        `query of VSI ${uuid} over netlink`,
        'lldpad holds it, but the netlink path reports only its UUID and response; query it over the VDP22 client socket',
      );
    }
    return {
      instanceUuid: uuid,
      mode: asked.mode,
      typeId: asked.typeId,
      typeIdVersion: asked.typeIdVersion,
      managerId2: asked.managerId2,
      filters: asked.filters.map((f) => ({ ...f })),
    };
  }

  onEvent(listener: (e: VsiEvent) => void): () => void {
    this.listeners.add(listener);
    this.socket();
    return () => this.listeners.delete(listener);
  }

  /** ok when lldpad's netlink socket answers a GETLINK (any answer, even an errno, proves it is there). */
  async ping(): Promise<{ ok: boolean; pid?: number }> {
    let pid: number;
    try {
      pid = await this.lldpadPid();
    } catch {
      return { ok: false };
    }
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return { ok: false, pid };
    }
    const s = this.socket();
    const seq = s.nextSeq();
    try {
      // ifindex 1 (lo): lldpad answers ENODEV/EPROTONOSUPPORT for it, which is answer enough.
      await s.exchange(encodeGetLink(1, seq, s.port), seq, pid, this.replyTimeoutMs);
      return { ok: true, pid };
    } catch {
      return { ok: false, pid };
    }
  }

  async close(): Promise<void> {
    this.sock?.close();
    this.sock = undefined;
    this.listeners.clear();
  }
}
