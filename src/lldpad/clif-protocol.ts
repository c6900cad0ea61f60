// lldpad's client-socket messages for the VDP22 module (what vdptool sends), encoded and decoded. Pure: no I/O.
// Layouts verified in the lab and against intel/openlldp (ctrl_iface.c, qbg/vdp22_cmds.c, qbg/vdp_ascii.c):
//   request  M<module 8 hex>C<version 1 hex><cmd 2 hex><ops 8 hex><ifname len 2 hex><ifname><type 2 hex><tlvid 8 hex><pairs>
//   pair     <key len 2 hex><key><value len 4 hex><value>
//   reply    R<status 2 hex><echo of the request header, then data>     (replies come back in send order)
//   event    M<module 8 hex>E<level><payload len 4 hex><pairs>          (to every attached client)
// Datagrams are handled as latin1 strings: lldpad prints a 16-byte manager id as raw bytes (see decodeManagerId2).
import { fieldError } from '../domain/errors.js';
import {
  GROUP_ID_MAX,
  GROUP_ID_MIN,
  parseIfname,
  parseMac,
  parseManagerId2,
  parseTypeId,
  parseTypeIdVersion,
  parseUuid,
  parseVlan,
} from '../domain/identifiers.js';
import { VDP_REQUEST_MODES, type VdpRequestMode, type VsiFilter, type VsiRequest } from '../domain/vsi-request.js';
import { FILTER_FORMATS, MAC_FILTER_FORMATS, type FilterFormat } from '../domain/vsi-type.js';

/** lldpad's module id of VDP22 (LLDP_MOD_VDP22): the attach word is "A80c4". */
export const VDP22_MODULE_ID = 0x80c4;
/** lldpad's client buffer (MAX_CLIF_MSGBUF): a longer command is cut off. */
export const CLIF_MAX_MESSAGE = 4095;

export const CLIF_PING = 'P';
export const CLIF_DETACH = 'D';
export function encodeAttach(moduleIds: readonly number[] = [VDP22_MODULE_ID]): string {
  return 'A' + moduleIds.map((m) => m.toString(16)).join(',');
}

const CLIF_MSG_VERSION = 3;
const NEAREST_CUSTOMER_BRIDGE = 2; // lldpad agent type "ncb": VDP22 runs on it
const CMD_GET_TLV = 1;
const CMD_SET_TLV = 2;
// ops bits (qbg_vdp22_clif.h): op_local 0x1, op_arg 0x4, op_argval 0x8, op_config 0x10; filter count in byte 1.
const OPS_SET = 0x1c;
const OPS_QUERY = 0x15;

/** VDP22 TLV type of each mode (qbg_vdp22def.h); lldpad takes it as the command's "tlvid". */
export const VDP22_MODE_TLV: Readonly<Record<VdpRequestMode, number>> = {
  preassoc: 1,
  'preassoc-rr': 2,
  assoc: 3,
  deassoc: 4,
};

/** Migration hints of a request (802.1Qbg-2012 M and S bits): VM is migrating "to" / "from" this station. */
export const VDP_HINTS = ['none', 'to', 'from'] as const;
export type VdpHint = (typeof VDP_HINTS)[number];

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

function pair(key: string, value: string): string {
  return hex(key.length, 2) + key + hex(value.length, 4) + value;
}

function header(cmd: number, ops: number, uplink: string, tlvid: number): string {
  return (
    'M' + hex(VDP22_MODULE_ID, 8) + 'C' + CLIF_MSG_VERSION.toString(16) + hex(cmd, 2) + hex(ops, 8) +
    hex(uplink.length, 2) + uplink + hex(NEAREST_CUSTOMER_BRIDGE, 2) + hex(tlvid, 8)
  );
}

/**
 * One filter in lldpad's words (vdp_ascii.c getfid): "VID" (vlan), "VID-MAC" (vlan-mac), "VID--GROUP" (vlan-group:
 * two dashes, no MAC) or "VID-MAC-GROUP" (vlan-mac-group); e.g. 0-52:54:00:11:22:33, 200--77.
 */
export function encodeFilter(format: FilterFormat, f: VsiFilter, field = 'filters[0]'): string {
  const vlan = parseVlan(f.vlan, `${field}.vlan`);
  if (format === 'vlan') return String(vlan);
  const mac = format === 'vlan-group' ? '' : parseMac(f.mac, `${field}.mac`);
  if (format === 'vlan-mac') return `${vlan}-${mac}`;
  // lldpad reads the group id as 1..2^32-1 (a 0 would mean "no group").
  const g = f.groupId;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < GROUP_ID_MIN || g > GROUP_ID_MAX) {
    throw fieldError(`${field}.groupId`, 'QBG_ERR_INTEGER_RANGE', `${field}.groupId`, GROUP_ID_MIN, GROUP_ID_MAX, g);
  }
  return `${vlan}-${mac}-${g}`;
}

/** The set command for one VSI request (cmd 02): what `vdptool -T -V assoc -c mode=… -c …` sends. */
export function encodeVsiSet(req: VsiRequest, hints: VdpHint = 'none'): string {
  const uplink = parseIfname(req.uplink, 'uplink');
  if (!VDP_REQUEST_MODES.includes(req.mode)) throw fieldError('mode', 'QBG_ERR_ENUM', 'mode', VDP_REQUEST_MODES.join(', '), req.mode);
  if (!VDP_HINTS.includes(hints)) throw fieldError('hints', 'QBG_ERR_ENUM', 'hints', VDP_HINTS.join(', '), hints);
  if (!FILTER_FORMATS.includes(req.filterFormat)) throw fieldError('filterFormat', 'QBG_ERR_FILTER_FORMAT', req.filterFormat);
  const mgrid2 = parseManagerId2(req.managerId2, 'managerId2');
  const typeId = parseTypeId(req.typeId);
  const typeIdVersion = parseTypeIdVersion(req.typeIdVersion);
  const uuid = parseUuid(req.instanceUuid, 'instanceUuid');
  if (!Array.isArray(req.filters) || req.filters.length === 0) {
    throw fieldError('filters', 'QBG_ERR_FIELD_REQUIRED', 'filters (at least one VLAN/MAC filter)');
  }
  if (req.filters.length > 255) throw fieldError('filters', 'QBG_ERR_INTEGER_RANGE', 'number of filters', 1, 255, req.filters.length);
  const filters = req.filters.map((f, i) => encodeFilter(req.filterFormat, f, `filters[${i}]`));
  // lldpad refuses a MAC listed twice; say so here rather than get a bare R05.
  if (MAC_FILTER_FORMATS.includes(req.filterFormat)) {
    const macs = req.filters.map((f) => String(f.mac).toLowerCase());
    const dup = macs.findIndex((m, i) => macs.indexOf(m) !== i);
    if (dup >= 0) throw fieldError(`filters[${dup}].mac`, 'QBG_ERR_BAD_REQUEST', `filters[${dup}].mac ${macs[dup]} is listed twice; lldpad refuses duplicate MACs`);
  }
  const msg =
    header(CMD_SET_TLV, (filters.length << 8) | OPS_SET, uplink, VDP22_MODE_TLV[req.mode]) +
    pair('mode', req.mode) +
    pair('mgrid2', mgrid2) +
    pair('typeid', String(typeId)) +
    pair('typeidver', String(typeIdVersion)) +
    pair('uuid', uuid) +
    pair('hints', hints) +
    filters.map((f) => pair('filter', f)).join('');
  if (msg.length > CLIF_MAX_MESSAGE) {
    throw fieldError('filters', 'QBG_ERR_BAD_REQUEST', `too many filters: the request is ${msg.length} bytes, lldpad reads at most ${CLIF_MAX_MESSAGE}`);
  }
  return msg;
}

/**
 * The query command for one VSI by instance UUID (cmd 01). lldpad only matches VSIs whose current mode equals the
 * command's tlvid, so a VSI of unknown mode needs one query per mode.
 */
export function encodeVsiQuery(uplink: string, instanceUuid: string, mode: Exclude<VdpRequestMode, 'deassoc'>): string {
  return header(CMD_GET_TLV, OPS_QUERY, parseIfname(uplink, 'uplink'), VDP22_MODE_TLV[mode]) + pair('uuid', parseUuid(instanceUuid, 'instanceUuid'));
}

export interface ClifReply {
  status: number;
  /** What follows the status: an echo of the request header and, for queries and pings, the data. */
  body: string;
}

export type ClifDatagram =
  | { type: 'reply'; reply: ClifReply }
  | { type: 'event'; moduleId: number; level: number; payload: string }
  | { type: 'other'; raw: string };

/** Sort a datagram from lldpad: a reply to our last-but-pending command, or an event for attached clients. */
export function classifyDatagram(raw: string): ClifDatagram {
  if (/^R[0-9a-f]{2}/i.test(raw)) return { type: 'reply', reply: { status: parseInt(raw.slice(1, 3), 16), body: raw.slice(3) } };
  const ev = /^M([0-9a-f]{8})E/i.exec(raw);
  if (ev) {
    // "E<level>" is decimal and runs straight into a hex length (VDP22: "E16" + "0098"): take the split where the
    // 4-hex-digit length matches what follows.
    const rest = raw.slice(ev[0].length);
    let k = 1;
    while (k <= 3 && !(/^\d+$/.test(rest.slice(0, k)) && parseInt(rest.slice(k, k + 4), 16) === rest.length - k - 4)) k++;
    if (k > 3) k = /^\d*/.exec(rest)![0].length;
    return { type: 'event', moduleId: parseInt(ev[1], 16), level: Number(rest.slice(0, k)), payload: rest.slice(k) };
  }
  return { type: 'other', raw };
}

/** `P` → `R00PPONG<pid>`. */
export function parsePong(reply: ClifReply): number | undefined {
  const m = /^PPONG(\d+)/.exec(reply.body);
  return reply.status === 0 && m ? Number(m[1]) : undefined;
}

/** A VSI as lldpad prints it (events and query replies). */
export interface ClifVsi {
  mode: VdpRequestMode | 'unknown';
  /** Canonical 32 hex digits when lldpad's print of it can be read back, else undefined (see decodeManagerId2). */
  managerId2?: string;
  typeId: number;
  typeIdVersion: number;
  instanceUuid: string;
  /** Events: lldpad's response code (decode with decodeVdpReason). Query replies: the last status. */
  hints: number;
  filterFormat?: FilterFormat;
  filters: VsiFilter[];
}

function readPairs(s: string, from = 0, to = s.length): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = from;
  while (i < to) {
    const klen = parseInt(s.slice(i, i + 2), 16);
    if (!Number.isFinite(klen) || i + 2 + klen + 4 > to) throw new Error(`bad key length at ${i} in "${s.slice(from, to)}"`);
    const key = s.slice(i + 2, i + 2 + klen);
    i += 2 + klen;
    const vlen = parseInt(s.slice(i, i + 4), 16);
    if (!Number.isFinite(vlen) || i + 4 + vlen > to) throw new Error(`bad value length for ${key} in "${s.slice(from, to)}"`);
    out.push([key, s.slice(i + 4, i + 4 + vlen)]);
    i += 4 + vlen;
  }
  return out;
}

/**
 * lldpad prints mgrid2 as a decimal number when only its FIRST byte is set (how a one-byte libvirt managerid lands
 * in lldpad), otherwise as the raw 16 bytes cut at the first zero byte. So "0" and "5" decode exactly; raw text
 * decodes up to its first zero byte; an id whose first byte is zero prints as "" and cannot be read back.
 */
export function decodeManagerId2(v: string): string | undefined {
  if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return hex(Number(v), 2) + '0'.repeat(30);
  if (v.length === 0 || v.length > 16) return undefined;
  return Buffer.from(v, 'latin1').toString('hex').padEnd(32, '0');
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** lldpad's filter text back to a filter: "VID", "VID-MAC", "VID--GROUP", "VID-MAC-GROUP" (the VID may carry PCP bits). */
export function decodeFilter(v: string): { format?: FilterFormat; filter: VsiFilter } {
  const parts = v.split('-');
  const vlan = Number(parts[0]) & 0xfff; // lldpad prints qos << 12 | vid
  if (parts.length === 1) return { format: 'vlan', filter: { vlan } };
  if (parts.length === 2 && MAC_RE.test(parts[1])) return { format: 'vlan-mac', filter: { vlan, mac: parts[1].toLowerCase() } };
  if (parts.length === 3 && MAC_RE.test(parts[1])) {
    return { format: 'vlan-mac-group', filter: { vlan, mac: parts[1].toLowerCase(), groupId: Number(parts[2]) } };
  }
  if (parts.length === 3 && parts[1] === '' && /^\d+$/.test(parts[2])) return { format: 'vlan-group', filter: { vlan, groupId: Number(parts[2]) } };
  return { filter: { vlan } }; // not a form lldpad prints: keep the VID, claim no format
}

export function decodeVsiPairs(pairs: Array<[string, string]>): ClifVsi {
  const vsi: ClifVsi = { mode: 'unknown', typeId: NaN, typeIdVersion: NaN, instanceUuid: '', hints: NaN, filters: [] };
  for (const [k, v] of pairs) {
    switch (k) {
      case 'mode':
        vsi.mode = (VDP_REQUEST_MODES as readonly string[]).includes(v) ? (v as VdpRequestMode) : 'unknown';
        break;
      case 'mgrid2':
        vsi.managerId2 = decodeManagerId2(v);
        break;
      case 'typeid':
        vsi.typeId = Number(v);
        break;
      case 'typeidver':
        vsi.typeIdVersion = Number(v);
        break;
      case 'uuid':
        vsi.instanceUuid = v.toLowerCase();
        break;
      case 'hints':
        vsi.hints = Number(v);
        break;
      case 'filter': {
        const f = decodeFilter(v);
        vsi.filterFormat ??= f.format;
        vsi.filters.push(f.filter);
        break;
      }
      default: // "oui" and future keys: not ours
    }
  }
  return vsi;
}

/** The payload of a VDP22 event: <len 4 hex><pairs>. */
export function decodeVsiEvent(payload: string): ClifVsi {
  const len = parseInt(payload.slice(0, 4), 16);
  if (!Number.isFinite(len) || 4 + len > payload.length) throw new Error(`VDP22 event with bad length: "${payload}"`);
  return decodeVsiPairs(readPairs(payload, 4, 4 + len));
}

/**
 * A query reply body: echo `C3 01 <ops 8> <iflen 2> <ifname> <tlvid 8>` then zero or more `<len 4 hex><pairs>`.
 * Zero VSIs = lldpad holds no VSI with that UUID in that mode.
 */
export function decodeQueryReply(body: string): ClifVsi[] {
  const m = /^C[0-9a-f][0-9a-f]{2}[0-9a-f]{8}([0-9a-f]{2})/i.exec(body);
  if (!m) throw new Error(`unexpected query reply "${body}"`);
  let i = m[0].length + parseInt(m[1], 16) + 8;
  const out: ClifVsi[] = [];
  while (i < body.length) {
    const len = parseInt(body.slice(i, i + 4), 16);
    if (!Number.isFinite(len) || i + 4 + len > body.length) throw new Error(`bad VSI length at ${i} in query reply "${body}"`);
    out.push(decodeVsiPairs(readPairs(body, i + 4, i + 4 + len)));
    i += 4 + len;
  }
  return out;
}
