// VDP22 TLVs (802.1Qbg-2012 clause 41.2) as they travel in ECP22 frames. Pure codec, no I/O.
// Checked against openlldp qbg/vdp22sm.c (vsi22_2tlv, ptlv_2_vsi22, vdp22_ecp22in) and lldpad frames captured in
// the lab (test/fixtures/frames/*.hex). Notable: lldpad sends a manager id TLV first, then one VSI TLV, and no
// End TLV; it ignores a VSI TLV whose length does not match its filter count exactly.
import { bytesToMac, decodeFail, decodeOk, macToBytes, type DecodeResult } from './ecp.js';
import { bytesToUuid, formatIpv6, parseIpv6, parseUuid, uuidToBytes } from './identifiers.js';
import type { VdpRequestMode } from './vsi-request.js';

/** TLV type codes (7 bits). */
export const VDP22_TLV_END = 0;
export const VDP22_TLV_MANAGER_ID = 5;
export const VDP22_TLV_OUI = 0x7f;
export const VDP22_MODE_TLV: Readonly<Record<VdpRequestMode, number>> = {
  preassoc: 1,
  'preassoc-rr': 2,
  assoc: 3,
  deassoc: 4,
};
const MODE_BY_TLV: Readonly<Record<number, VdpRequestMode>> = { 1: 'preassoc', 2: 'preassoc-rr', 3: 'assoc', 4: 'deassoc' };

export const VDP22_MANAGER_ID_LEN = 16;
export const VDP22_VSI_ID_LEN = 16;
/** status(1) type id(3) version(1) VSI id format(1) VSI id(16) filter format(1) filter count(2). */
export const VDP22_VSI_FIXED_LEN = 25;
export const VDP22_MAX_TLV_LEN = 0x1ff;

/** VSI id formats (41.2.6). lldpad's own clients only send UUIDs; a bridge must read them all. */
export const VSI_ID_FORMAT = { ipv4: 1, ipv6: 2, mac: 3, local: 4, uuid: 5 } as const;

/** Filter info formats (41.2.8) and the bytes of one entry in each. */
export const VDP22_FILTER_FORMAT = { vid: 1, macVid: 2, groupVid: 3, groupMacVid: 4 } as const;
const FILTER_ENTRY_LEN: Readonly<Record<number, number>> = { 1: 2, 2: 8, 3: 6, 4: 12 };

/** lldpad/qbg names for the filter formats (FilterFormat in vsi-type.ts covers 1, 2 and 4). */
export const FILTER_FORMAT_NAMES: Readonly<Record<number, string>> = {
  1: 'vlan',
  2: 'vlan-mac',
  3: 'vlan-group',
  4: 'vlan-mac-group',
};

/**
 * A VSI id in each format of 41.2.6, laid into the 16-byte field as lldpad checks it (vdp22.c is_ipv4, is_mac):
 * IPv4 as an IPv4-mapped IPv6 address (10 zero bytes, ff ff, the address), a MAC right-aligned after 10 zero bytes,
 * IPv6 and UUID as their 16 bytes, a local id as any 16 bytes (32 hex digits).
 */
export type Vdp22VsiId =
  | { format: 'ipv4'; address: string }
  | { format: 'ipv6'; address: string }
  | { format: 'mac'; mac: string }
  | { format: 'local'; value: string }
  | { format: 'uuid'; uuid: string };

const IPV4_MAPPED_PREFIX = '00000000000000000000ffff';
const MAC_PREFIX = '00000000000000000000';

/** The id format number and the 32 hex digits of a VSI id. Throws RangeError on a malformed id (we built it). */
export function encodeVsiId(id: Vdp22VsiId): { vsiIdFormat: number; vsiId: string } {
  switch (id.format) {
    case 'ipv4': {
      const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(id.address);
      if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new RangeError(`VSI id ipv4 must be a dotted IPv4 address, got ${id.address}`);
      return { vsiIdFormat: VSI_ID_FORMAT.ipv4, vsiId: IPV4_MAPPED_PREFIX + m.slice(1).map((o) => Number(o).toString(16).padStart(2, '0')).join('') };
    }
    case 'ipv6': {
      const hex = parseIpv6(id.address.toLowerCase());
      if (!hex) throw new RangeError(`VSI id ipv6 must be an IPv6 address, got ${id.address}`);
      return { vsiIdFormat: VSI_ID_FORMAT.ipv6, vsiId: hex };
    }
    case 'mac':
      return { vsiIdFormat: VSI_ID_FORMAT.mac, vsiId: MAC_PREFIX + macToBytes(id.mac).toString('hex') };
    case 'local':
      if (!/^[0-9a-f]{32}$/i.test(id.value)) throw new RangeError(`VSI id local must be 32 hex digits, got ${id.value}`);
      return { vsiIdFormat: VSI_ID_FORMAT.local, vsiId: id.value.toLowerCase() };
    case 'uuid': {
      let uuid: string;
      try {
        uuid = parseUuid(id.uuid);
      } catch {
        throw new RangeError(`VSI id uuid must be a UUID, got ${id.uuid}`);
      }
      return { vsiIdFormat: VSI_ID_FORMAT.uuid, vsiId: uuid.replace(/-/g, '') };
    }
  }
}

/** Read the 16-byte VSI id in its format; an id that breaks its format's layout (or an unknown format) fails. */
export function decodeVsiId(vsiIdFormat: number, vsiId: string): DecodeResult<Vdp22VsiId> {
  if (!/^[0-9a-f]{32}$/.test(vsiId)) return decodeFail(`VSI id must be 32 lower-case hex digits, got ${vsiId}`, 0);
  const b = Buffer.from(vsiId, 'hex');
  switch (vsiIdFormat) {
    case VSI_ID_FORMAT.ipv4:
      if (!vsiId.startsWith(IPV4_MAPPED_PREFIX)) return decodeFail('VSI id format 1 (IPv4) needs an IPv4-mapped address (::ffff:a.b.c.d)', 0);
      return decodeOk({ format: 'ipv4', address: Array.from(b.subarray(12), String).join('.') });
    case VSI_ID_FORMAT.ipv6:
      return decodeOk({ format: 'ipv6', address: formatIpv6(vsiId) });
    case VSI_ID_FORMAT.mac:
      if (!vsiId.startsWith(MAC_PREFIX)) return decodeFail('VSI id format 3 (MAC) needs the MAC right-aligned after 10 zero bytes', 0);
      return decodeOk({ format: 'mac', mac: bytesToMac(b, 10) });
    case VSI_ID_FORMAT.local:
      return decodeOk({ format: 'local', value: vsiId });
    case VSI_ID_FORMAT.uuid:
      return decodeOk({ format: 'uuid', uuid: bytesToUuid(b) });
    default:
      return decodeFail(`VSI id format ${vsiIdFormat} is not 1–5 (IPv4, IPv6, MAC, local, UUID)`, 0);
  }
}

/**
 * Status byte. In a bridge response: 0x40 response (ACK) bit, 0x20 keep (the previous state is kept), 0x10 hard
 * error, low nibble the reason. In a station request the byte carries the migration hints instead (lldpad:
 * 0x10 M-bit "migrate to", 0x20 S-bit "migrate from").
 */
export const VDP22_STATUS = {
  response: 0x40,
  keep: 0x20,
  hard: 0x10,
  reasonMask: 0x0f,
  hintMigrateTo: 0x10,
  hintMigrateFrom: 0x20,
} as const;

/** Reason codes in the low nibble of a response status, worded as vdptool prints them. */
export const VDP22_REASONS: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'VDP TLV Format is Invalid',
  2: 'Insufficient resources at bridge',
  3: 'Unable to contact VSI Mgr',
  4: 'Other Failures',
  5: 'Invalid VID, GroupID or MAC address field',
};

export interface Vdp22Filter {
  /** 12-bit VLAN id; 0 lets the bridge choose (lldpad then takes the returned VID). */
  vid: number;
  /** Priority code point, 3 bits. */
  pcp: number;
  /** PS bit: the PCP is significant. */
  ps: boolean;
  /** Formats 2 and 4. */
  mac?: string;
  /** Formats 3 and 4, 32 bit. */
  groupId?: number;
}

export interface Vdp22ManagerIdTlv {
  kind: 'manager-id';
  /** 16 bytes as 32 lower-case hex digits (same form as identifiers.parseManagerId2). */
  managerId2: string;
}

export interface Vdp22VsiTlv {
  kind: 'vsi';
  mode: VdpRequestMode;
  /** Raw status byte: hints in a request, response bit | keep | hard | reason in a response. */
  status: number;
  typeId: number;
  typeIdVersion: number;
  vsiIdFormat: number;
  /** The 16-byte VSI id as 32 hex digits. */
  vsiId: string;
  /** Canonical UUID when vsiIdFormat is 5 (UUID). */
  instanceUuid?: string;
  filterFormat: number;
  filters: Vdp22Filter[];
}

/** Organizationally defined TLVs (0x7f) and unknown types are kept as raw bytes. */
export interface Vdp22RawTlv {
  kind: 'raw';
  type: number;
  value: Buffer;
}

export type Vdp22Tlv = Vdp22ManagerIdTlv | Vdp22VsiTlv | Vdp22RawTlv;

export interface Vdp22Pdu {
  tlvs: Vdp22Tlv[];
  /** True when an End TLV (type 0) closed the list; bytes after it are padding. */
  ended: boolean;
}

/**
 * A VSI TLV to encode: give instanceUuid (format 5), a typed id, or vsiIdFormat + vsiId; and the status byte, or the
 * request hints (a station's request) which are turned into it.
 */
export type Vdp22VsiInput = Omit<Vdp22VsiTlv, 'kind' | 'vsiIdFormat' | 'vsiId' | 'instanceUuid' | 'status'> & {
  kind?: 'vsi';
  vsiIdFormat?: number;
  vsiId?: string;
  instanceUuid?: string;
  id?: Vdp22VsiId;
  status?: number;
  hints?: Vdp22RequestHints;
};

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be an integer 0–${max}, got ${v}`);
}

function tlvHeader(type: number, len: number): Buffer {
  checkUint('TLV length', len, VDP22_MAX_TLV_LEN);
  const h = Buffer.alloc(2);
  h.writeUInt16BE(((type & 0x7f) << 9) | len, 0);
  return h;
}

export function encodeManagerIdTlv(managerId2: string): Buffer {
  if (!/^[0-9a-f]{32}$/i.test(managerId2)) throw new RangeError(`managerId2 must be 32 hex digits, got ${managerId2}`);
  return Buffer.concat([tlvHeader(VDP22_TLV_MANAGER_ID, VDP22_MANAGER_ID_LEN), Buffer.from(managerId2, 'hex')]);
}

function encodeFilter(fmt: number, f: Vdp22Filter): Buffer {
  checkUint('vid', f.vid, 0xfff);
  checkUint('pcp', f.pcp, 7);
  const vlanField = Buffer.alloc(2);
  vlanField.writeUInt16BE((f.ps ? 0x8000 : 0) | (f.pcp << 12) | f.vid, 0);
  const group = (): Buffer => {
    if (f.groupId === undefined) throw new RangeError(`filter format ${fmt} needs a groupId`);
    checkUint('groupId', f.groupId, 0xffffffff);
    const g = Buffer.alloc(4);
    g.writeUInt32BE(f.groupId, 0);
    return g;
  };
  const mac = (): Buffer => {
    if (f.mac === undefined) throw new RangeError(`filter format ${fmt} needs a mac`);
    return macToBytes(f.mac);
  };
  switch (fmt) {
    case 1:
      return vlanField;
    case 2:
      return Buffer.concat([mac(), vlanField]);
    case 3:
      return Buffer.concat([group(), vlanField]);
    case 4:
      return Buffer.concat([group(), mac(), vlanField]);
    default:
      throw new RangeError(`filterFormat must be 1–4, got ${fmt}`);
  }
}

export function encodeVsiTlv(v: Vdp22VsiInput): Buffer {
  const type = VDP22_MODE_TLV[v.mode];
  if (type === undefined) throw new RangeError(`mode must be one of preassoc, preassoc-rr, assoc, deassoc, got ${v.mode}`);
  if ((v.status === undefined) === (v.hints === undefined)) throw new RangeError('a VSI TLV needs a status byte or request hints (one of them)');
  const status = v.status ?? vdp22RequestStatus(v.hints!);
  checkUint('status', status, 0xff);
  checkUint('typeId', v.typeId, 0xffffff);
  checkUint('typeIdVersion', v.typeIdVersion, 0xff);
  checkUint('filterFormat', v.filterFormat, 0xff);
  let fmt = v.vsiIdFormat ?? VSI_ID_FORMAT.uuid;
  let id: Buffer;
  if (v.id !== undefined) {
    const e = encodeVsiId(v.id);
    fmt = e.vsiIdFormat;
    id = Buffer.from(e.vsiId, 'hex');
  } else if (v.vsiId !== undefined) {
    if (!/^[0-9a-f]{32}$/i.test(v.vsiId)) throw new RangeError(`vsiId must be 32 hex digits, got ${v.vsiId}`);
    id = Buffer.from(v.vsiId, 'hex');
  } else if (v.instanceUuid !== undefined) {
    fmt = VSI_ID_FORMAT.uuid;
    id = uuidToBytes(v.instanceUuid);
    if (id.length !== VDP22_VSI_ID_LEN) throw new RangeError(`instanceUuid must be a UUID, got ${v.instanceUuid}`);
  } else {
    throw new RangeError('a VSI TLV needs instanceUuid, id or vsiId');
  }
  checkUint('vsiIdFormat', fmt, 0xff);
  checkUint('filter count', v.filters.length, 0xffff);
  const fixed = Buffer.alloc(VDP22_VSI_FIXED_LEN);
  fixed[0] = status;
  fixed.writeUIntBE(v.typeId, 1, 3);
  fixed[4] = v.typeIdVersion;
  fixed[5] = fmt;
  id.copy(fixed, 6);
  fixed[22] = v.filterFormat;
  fixed.writeUInt16BE(v.filters.length, 23);
  const body = Buffer.concat([fixed, ...v.filters.map((f) => encodeFilter(v.filterFormat, f))]);
  return Buffer.concat([tlvHeader(type, body.length), body]);
}

export function encodeVdp22Tlv(t: Vdp22Tlv): Buffer {
  switch (t.kind) {
    case 'manager-id':
      return encodeManagerIdTlv(t.managerId2);
    case 'vsi':
      return encodeVsiTlv(t);
    case 'raw':
      checkUint('TLV type', t.type, 0x7f);
      return Buffer.concat([tlvHeader(t.type, t.value.length), t.value]);
  }
}

/** The ECP upper-layer data for a list of TLVs. lldpad sends no End TLV; `end: true` appends one. */
export function encodeVdp22Pdu(tlvs: readonly Vdp22Tlv[], opts: { end?: boolean } = {}): Buffer {
  const parts = tlvs.map(encodeVdp22Tlv);
  if (opts.end) parts.push(Buffer.alloc(2));
  return Buffer.concat(parts);
}

function decodeFilters(buf: Uint8Array, off: number, fmt: number, count: number): Vdp22Filter[] {
  const out: Vdp22Filter[] = [];
  for (let i = 0; i < count; i++) {
    let p = off + i * FILTER_ENTRY_LEN[fmt];
    const f: Partial<Vdp22Filter> = {};
    if (fmt === 3 || fmt === 4) {
      f.groupId = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      p += 4;
    }
    if (fmt === 2 || fmt === 4) {
      f.mac = bytesToMac(buf, p);
      p += 6;
    }
    const w = (buf[p] << 8) | buf[p + 1];
    out.push({ vid: w & 0xfff, pcp: (w >> 12) & 7, ps: (w & 0x8000) !== 0, ...f });
  }
  return out;
}

function decodeVsiBody(buf: Uint8Array, off: number, len: number, mode: VdpRequestMode): DecodeResult<Vdp22VsiTlv> {
  if (len < VDP22_VSI_FIXED_LEN) {
    return decodeFail(`VSI TLV length ${len} is shorter than its fixed part (${VDP22_VSI_FIXED_LEN})`, off - 2);
  }
  const fmt = buf[off + 22];
  const count = (buf[off + 23] << 8) | buf[off + 24];
  const entry = FILTER_ENTRY_LEN[fmt];
  if (entry === undefined) return decodeFail(`filter format ${fmt} is not 1–4`, off + 22);
  if (VDP22_VSI_FIXED_LEN + count * entry !== len) {
    return decodeFail(
      `VSI TLV length ${len} does not match ${count} filter entries of format ${fmt} (${VDP22_VSI_FIXED_LEN + count * entry})`,
      off - 2,
    );
  }
  const idFormat = buf[off + 5];
  const id = buf.subarray(off + 6, off + 22);
  const vsiId = Buffer.from(id).toString('hex');
  return decodeOk({
    kind: 'vsi',
    mode,
    status: buf[off],
    typeId: (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3],
    typeIdVersion: buf[off + 4],
    vsiIdFormat: idFormat,
    vsiId,
    ...(idFormat === VSI_ID_FORMAT.uuid ? { instanceUuid: bytesToUuid(id) } : {}),
    filterFormat: fmt,
    filters: decodeFilters(buf, off + VDP22_VSI_FIXED_LEN, fmt, count),
  });
}

/**
 * Decode VDP22 TLVs from ECP upper-layer data (offset = where they start). Stops at an End TLV (the rest is
 * padding) or at the end of the buffer; never throws, never loops: every TLV consumes at least its 2-byte header.
 * A PDU is refused as a whole, as lldpad drops it (vdp22sm.c vdp22_ecp22in), when its first TLV is not the manager
 * id TLV or when it carries a second one (802.1Qbg-2012 41.1: exactly one, and first). No TLV at all (an ACK's
 * empty payload, or padding only) decodes to an empty list.
 */
export function decodeVdp22Pdu(buf: Uint8Array, offset = 0): DecodeResult<Vdp22Pdu> {
  const tlvs: Vdp22Tlv[] = [];
  let off = offset;
  while (off < buf.length) {
    if (buf.length - off < 2) return decodeFail('TLV header truncated', off);
    const head = (buf[off] << 8) | buf[off + 1];
    const type = head >> 9;
    const len = head & 0x1ff;
    if (type === VDP22_TLV_END) return decodeOk({ tlvs, ended: true });
    if (tlvs.length === 0 && type !== VDP22_TLV_MANAGER_ID) {
      return decodeFail(`first TLV is type ${type}, not the manager id TLV (5): the whole PDU is dropped`, off);
    }
    if (tlvs.length > 0 && type === VDP22_TLV_MANAGER_ID) {
      return decodeFail('a second manager id TLV: the whole PDU is dropped', off);
    }
    const body = off + 2;
    if (body + len > buf.length) return decodeFail(`TLV type ${type} length ${len} runs past the end of the frame`, off);
    if (type === VDP22_TLV_MANAGER_ID) {
      if (len !== VDP22_MANAGER_ID_LEN) return decodeFail(`manager id TLV length ${len} is not 16`, off);
      tlvs.push({ kind: 'manager-id', managerId2: Buffer.from(buf.subarray(body, body + len)).toString('hex') });
    } else if (MODE_BY_TLV[type] !== undefined) {
      const v = decodeVsiBody(buf, body, len, MODE_BY_TLV[type]);
      if (!v.ok) return v;
      tlvs.push(v.value);
    } else {
      tlvs.push({ kind: 'raw', type, value: Buffer.from(buf.subarray(body, body + len)) });
    }
    off = body + len;
  }
  return decodeOk({ tlvs, ended: false });
}

/** Each VSI TLV with the PDU's manager id (a decoded PDU has exactly one, first; it applies to every VSI TLV). */
export function vsisWithManager(pdu: Vdp22Pdu): { managerId2: string; vsi: Vdp22VsiTlv }[] {
  const mgr = pdu.tlvs[0]?.kind === 'manager-id' ? pdu.tlvs[0].managerId2 : undefined;
  if (mgr === undefined) return [];
  return pdu.tlvs.flatMap((t) => (t.kind === 'vsi' ? [{ managerId2: mgr, vsi: t }] : []));
}

/**
 * The migration hints of a station's request (802.1Qbg-2012 41.2.4; lldpad qbg_vdp22def.h VDP22_MIGTO 0x10,
 * VDP22_MIGFROM 0x20): M = the VSI is migrating to this station, S = migrating away from it (suspended). The same
 * bits of a bridge's response mean hard error and keep: read a request's status with this, a response's with
 * describeVdp22Status, never the other way round.
 */
export interface Vdp22RequestHints {
  migrateTo: boolean;
  migrateFrom: boolean;
}

export function vdp22RequestHints(status: number): Vdp22RequestHints {
  return { migrateTo: (status & VDP22_STATUS.hintMigrateTo) !== 0, migrateFrom: (status & VDP22_STATUS.hintMigrateFrom) !== 0 };
}

/** The status byte of a station's request: the M and S bits, nothing else (lldpad sends no others). */
export function vdp22RequestStatus(h: Vdp22RequestHints): number {
  return (h.migrateTo ? VDP22_STATUS.hintMigrateTo : 0) | (h.migrateFrom ? VDP22_STATUS.hintMigrateFrom : 0);
}

/** A bridge response's status byte (not a request's: see vdp22RequestHints). */
export interface Vdp22StatusInfo {
  response: boolean;
  keep: boolean;
  hard: boolean;
  reasonCode: number;
  reason: string;
}

export function describeVdp22Status(status: number): Vdp22StatusInfo {
  const reasonCode = status & VDP22_STATUS.reasonMask;
  return {
    response: (status & VDP22_STATUS.response) !== 0,
    keep: (status & VDP22_STATUS.keep) !== 0,
    hard: (status & VDP22_STATUS.hard) !== 0,
    reasonCode,
    reason: VDP22_REASONS[reasonCode] ?? `reason ${reasonCode}`,
  };
}

/** A response status byte: response bit | optional keep/hard | reason 0–15. */
export function vdp22ResponseStatus(reasonCode: number, opts: { keep?: boolean; hard?: boolean } = {}): number {
  checkUint('reasonCode', reasonCode, VDP22_STATUS.reasonMask);
  return VDP22_STATUS.response | (opts.keep ? VDP22_STATUS.keep : 0) | (opts.hard ? VDP22_STATUS.hard : 0) | reasonCode;
}

/**
 * The bridge's answer to a station request: the same VSI fields (lldpad compares manager id, type, version, id,
 * filter format and filters before it accepts an answer) with a response status; the hints are not echoed.
 * assignVid: the VID a bridge chooses for each filter that asked for the wildcard VID 0 (41.2.9: the bridge returns
 * the VID it assigned; lldpad's cmp_fdata1 accepts any VID for a wildcard and takes it, vdp22sm.c vdp22_cpfid).
 */
export function vdp22Response(
  request: Vdp22VsiTlv,
  reasonCode: number,
  opts: { keep?: boolean; hard?: boolean; assignVid?: number } = {},
): Vdp22VsiTlv {
  if (opts.assignVid !== undefined) checkUint('assignVid', opts.assignVid, 0xfff);
  const filters = request.filters.map((f) => ({ ...f, ...(f.vid === 0 && opts.assignVid !== undefined ? { vid: opts.assignVid } : {}) }));
  return { ...request, status: vdp22ResponseStatus(reasonCode, opts), filters };
}

/** An unsolicited de-associate from the bridge: mode deassoc with the response bit clear (vdp22sm.c bridge_info). */
export function vdp22BridgeDeassociate(held: Vdp22VsiTlv, reasonCode = 0): Vdp22VsiTlv {
  checkUint('reasonCode', reasonCode, VDP22_STATUS.reasonMask);
  return { ...held, mode: 'deassoc', status: reasonCode, filters: held.filters.map((f) => ({ ...f })) };
}
