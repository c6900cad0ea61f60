// The libvirt↔lldpad netlink port-profile messages (802.1Qbg), encoded and decoded without I/O.
// Layouts: linux/if_link.h (IFLA_VF_PORTS, struct ifla_port_vsi, ifla_vf_mac, ifla_vf_vlan), as libvirt's
// virnetdevvportprofile.c builds them and lldpad's lldp_vdpnl.c parses and answers them.
// One byte order everywhere: netlink is host order, and every machine lldpad runs on here is little-endian.
import { fieldError, qbgError } from './errors.js';
import { bytesToUuid, managerId2ToByte, parseMac, parseUuid, uuidToBytes } from './identifiers.js';
import type { VdpRequestMode, VsiRequest } from './vsi-request.js';

// --- netlink / rtnetlink numbers (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h) ---
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
const NLA_TYPE_MASK = 0x3fff; // strips NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000): lldpad sets the former
const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;

export const IFLA_IFNAME = 3;
export const IFLA_VFINFO_LIST = 22;
export const IFLA_VF_PORTS = 24;
export const IFLA_EXT_MASK = 29;
export const IFLA_VF_INFO = 1;
export const IFLA_VF_MAC = 1;
export const IFLA_VF_VLAN = 2;
export const IFLA_VF_PORT = 1;
export const IFLA_PORT_VF = 1;
export const IFLA_PORT_VSI_TYPE = 3;
export const IFLA_PORT_INSTANCE_UUID = 4;
export const IFLA_PORT_REQUEST = 6;
export const IFLA_PORT_RESPONSE = 7;
export const RTEXT_FILTER_VF = 1;
/** vf = -1: the port itself, not an SR-IOV virtual function; libvirt always uses it for 802.1Qbg. */
export const PORT_SELF_VF = 0xffffffff;

/** IFLA_PORT_REQUEST values (enum in linux/if_link.h). */
export const PORT_REQUEST = { PREASSOCIATE: 0, PREASSOCIATE_RR: 1, ASSOCIATE: 2, DISASSOCIATE: 3 } as const;
export type PortRequest = (typeof PORT_REQUEST)[keyof typeof PORT_REQUEST];

const MODE_TO_REQUEST: Record<VdpRequestMode, PortRequest> = {
  preassoc: PORT_REQUEST.PREASSOCIATE,
  'preassoc-rr': PORT_REQUEST.PREASSOCIATE_RR,
  assoc: PORT_REQUEST.ASSOCIATE,
  deassoc: PORT_REQUEST.DISASSOCIATE,
};

export function portRequestOf(mode: VdpRequestMode): PortRequest {
  return MODE_TO_REQUEST[mode];
}

export function modeOfPortRequest(request: number): VdpRequestMode | undefined {
  return (Object.keys(MODE_TO_REQUEST) as VdpRequestMode[]).find((m) => MODE_TO_REQUEST[m] === request);
}

/** IFLA_PORT_RESPONSE values: 0–0xff are VDP reasons (0 = success); 0x100+ the 802.1Qbh/"port profile" set. */
export const PORT_RESPONSE = {
  VDP_SUCCESS: 0,
  PROFILE_SUCCESS: 0x100,
  PROFILE_INPROGRESS: 0x101,
} as const;

/** Everything one libvirt-style SETLINK carries: one-byte manager id and exactly one MAC+VLAN filter. */
export interface PortProfileRequest {
  ifindex: number;
  /** libvirt names the lower device too; lldpad then skips if_indextoname. */
  ifname?: string;
  request: PortRequest;
  managerId: number;
  typeId: number;
  typeIdVersion: number;
  instanceUuid: string;
  mac: string;
  vlan: number;
  qos?: number;
}

/**
 * What of a VsiRequest the netlink path can carry. libvirt's XML (and so this path) has a one-byte managerid and
 * one MAC+VLAN per interface; anything richer must go over lldpad's VDP22 client socket instead.
 */
export function portProfileFromVsiRequest(req: VsiRequest, ifindex: number): PortProfileRequest {
  const managerId = managerId2ToByte(req.managerId2);
  if (managerId === undefined) {
    throw fieldError(
      'managerId2',
      'QBG_ERR_XML_NOT_EXPRESSIBLE',
      `managerId2 ${req.managerId2}`,
      'the netlink port-profile path carries a one-byte manager id (0–255); use the VDP22 client transport',
    );
  }
  if (req.filterFormat !== 'vlan-mac') {
    throw fieldError(
      'filterFormat',
      'QBG_ERR_XML_NOT_EXPRESSIBLE',
      `filterFormat ${req.filterFormat}`,
      'the netlink port-profile path carries exactly one MAC+VLAN (filterFormat vlan-mac)',
    );
  }
  if (req.filters.length !== 1 || req.filters[0].mac === undefined) {
    throw fieldError(
      'filters',
      'QBG_ERR_XML_NOT_EXPRESSIBLE',
      `${req.filters.length} filter(s)`,
      'the netlink port-profile path carries exactly one filter with a MAC and a VLAN 0–4095',
    );
  }
  const f = req.filters[0];
  return {
    ifindex,
    ifname: req.uplink,
    request: portRequestOf(req.mode),
    managerId,
    typeId: req.typeId,
    typeIdVersion: req.typeIdVersion,
    instanceUuid: parseUuid(req.instanceUuid, 'instanceUuid'),
    mac: parseMac(f.mac, 'filters[0].mac'),
    vlan: f.vlan,
  };
}

// --- attribute encoding ---

const align4 = (n: number) => (n + 3) & ~3;

/** One netlink attribute: 16-bit length (header + payload, unpadded), 16-bit type, payload, zero pad to 4. */
export function nlAttr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  Buffer.from(payload).copy(out, 4);
  return out;
}

/** A nest without NLA_F_NESTED, as libvirt's libnl and node-netlink send it; lldpad does not check the flag. */
export function nlNest(type: number, children: Buffer[]): Buffer {
  return nlAttr(type, Buffer.concat(children));
}

const u8 = (v: number) => Buffer.from([v & 0xff]);
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** struct ifla_port_vsi: mgr_id, type_id[3] least significant byte first, version, pad[3]. */
export function encodeVsiType(managerId: number, typeId: number, typeIdVersion: number): Buffer {
  return Buffer.from([managerId, typeId & 0xff, (typeId >> 8) & 0xff, (typeId >> 16) & 0xff, typeIdVersion, 0, 0, 0]);
}

function nlmsg(type: number, flags: number, seq: number, pid: number, body: Buffer): Buffer {
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq >>> 0, 8);
  hdr.writeUInt32LE(pid >>> 0, 12);
  return Buffer.concat([hdr, body]);
}

/** struct ifinfomsg with family AF_UNSPEC and everything but the index zero. */
function ifinfomsg(ifindex: number): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeInt32LE(ifindex, 4);
  return b;
}

function ifnameAttr(ifname: string): Buffer {
  return nlAttr(IFLA_IFNAME, Buffer.from(ifname + '\0', 'latin1'));
}

/**
 * The RTM_SETLINK libvirt sends to lldpad, attribute for attribute in libvirt's order: IFLA_IFNAME, IFLA_VFINFO_LIST
 * (lldpad answers EINVAL without it), IFLA_VF_PORTS{IFLA_VF_PORT{VSI_TYPE, INSTANCE_UUID, REQUEST}}. IFLA_PORT_VF is
 * left out as libvirt does for PORT_SELF_VF. `pid` is our socket's port: lldpad answers and sends events there.
 */
export function encodeSetLink(p: PortProfileRequest, seq: number, pid: number): Buffer {
  const vfMac = Buffer.concat([u32(PORT_SELF_VF), macBytes(p.mac), Buffer.alloc(26)]); // mac[32]
  const vfVlan = Buffer.concat([u32(PORT_SELF_VF), u32(p.vlan), u32(p.qos ?? 0)]);
  const attrs = [
    ...(p.ifname !== undefined ? [ifnameAttr(p.ifname)] : []),
    nlNest(IFLA_VFINFO_LIST, [nlNest(IFLA_VF_INFO, [nlAttr(IFLA_VF_MAC, vfMac), nlAttr(IFLA_VF_VLAN, vfVlan)])]),
    nlNest(IFLA_VF_PORTS, [
      nlNest(IFLA_VF_PORT, [
        nlAttr(IFLA_PORT_VSI_TYPE, encodeVsiType(p.managerId, p.typeId, p.typeIdVersion)),
        nlAttr(IFLA_PORT_INSTANCE_UUID, uuidToBytes(p.instanceUuid)),
        nlAttr(IFLA_PORT_REQUEST, u8(p.request)),
      ]),
    ]),
  ];
  return nlmsg(RTM_SETLINK, NLM_F_REQUEST, seq, pid, Buffer.concat([ifinfomsg(p.ifindex), ...attrs]));
}

/** The status poll libvirt sends (virNetDevLinkDump): RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_VF. */
export function encodeGetLink(ifindex: number, seq: number, pid: number, ifname?: string): Buffer {
  const attrs = [...(ifname !== undefined ? [ifnameAttr(ifname)] : []), nlAttr(IFLA_EXT_MASK, u32(RTEXT_FILTER_VF))];
  return nlmsg(RTM_GETLINK, NLM_F_REQUEST, seq, pid, Buffer.concat([ifinfomsg(ifindex), ...attrs]));
}

// --- decoding ---

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** Split one datagram into netlink messages; a truncated trailer is an error, not silently dropped. */
export function decodeNetlinkMessages(buf: Uint8Array): NetlinkMessage[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > b.length) {
      throw qbgError('QBG_ERR_LLDPAD_COMMAND', 'netlink', `malformed message: length ${len} at offset ${off} of ${b.length}`);
    }
    out.push({
      type: b.readUInt16LE(off + 4),
      flags: b.readUInt16LE(off + 6),
      seq: b.readUInt32LE(off + 8),
      pid: b.readUInt32LE(off + 12),
      payload: b.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** NLMSG_ERROR payload: the (negative) errno; 0 is an ACK. */
export function decodeNlError(payload: Buffer): number {
  if (payload.length < 4) throw qbgError('QBG_ERR_LLDPAD_COMMAND', 'netlink', 'NLMSG_ERROR shorter than 4 bytes');
  return payload.readInt32LE(0);
}

export interface NlAttr {
  type: number;
  nested: boolean;
  value: Buffer;
}

/** The attributes of one level, in order, duplicates kept (lldpad repeats them, see decodePortStatus). */
export function decodeAttrs(buf: Buffer): NlAttr[] {
  const out: NlAttr[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < 4 || off + len > buf.length) {
      throw qbgError('QBG_ERR_LLDPAD_COMMAND', 'netlink', `malformed attribute: length ${len} at offset ${off} of ${buf.length}`);
    }
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & 0x8000) !== 0, value: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

const first = (attrs: NlAttr[], type: number) => attrs.find((a) => a.type === type);

/** One VSI as lldpad reports it in a GETLINK reply: UUID, VF, and IFLA_PORT_RESPONSE once there is one. */
export interface PortVsiStatus {
  instanceUuid: string;
  vf?: number;
  /** absent = lldpad has no answer yet (its VDP22_RESP_NONE) */
  response?: number;
}

export interface LinkReply {
  ifindex: number;
  ifname?: string;
  vsis: PortVsiStatus[];
  /** Each IFLA_VF_PORT nest's attributes in order, for the libvirt view (libvirtSees) and diagnostics. */
  portNests: NlAttr[][];
}

/**
 * Decode lldpad's answer to GETLINK (an NLMSG_DONE carrying ifinfomsg + attributes, nests flagged NLA_F_NESTED).
 * It lists every VSI on the port. Debian's lldpad 1.1 writes one IFLA_VF_PORT{INSTANCE_UUID, PORT_VF, [RESPONSE]}
 * per VSI (seen in the lab); older openlldp (lldp_vdpnl.c vdpnl_getlink) wrote one nest and repeated the three
 * attributes inside it. Each INSTANCE_UUID therefore opens a new VSI record, which reads both layouts.
 */
export function decodeLinkReply(payload: Buffer): LinkReply {
  if (payload.length < IFINFOMSG_LEN) {
    throw qbgError('QBG_ERR_LLDPAD_COMMAND', 'netlink', `link reply shorter than ifinfomsg (${payload.length} bytes)`);
  }
  const ifindex = payload.readInt32LE(4);
  const top = decodeAttrs(payload.subarray(IFINFOMSG_LEN));
  const name = first(top, IFLA_IFNAME);
  const vsis: PortVsiStatus[] = [];
  const portNests: NlAttr[][] = [];
  for (const ports of top.filter((a) => a.type === IFLA_VF_PORTS)) {
    for (const port of decodeAttrs(ports.value).filter((a) => a.type === IFLA_VF_PORT)) {
      const attrs = decodeAttrs(port.value);
      portNests.push(attrs);
      let cur: PortVsiStatus | undefined;
      for (const a of attrs) {
        if (a.type === IFLA_PORT_INSTANCE_UUID && a.value.length === 16) {
          cur = { instanceUuid: bytesToUuid(a.value) };
          vsis.push(cur);
        } else if (cur && a.type === IFLA_PORT_VF && a.value.length >= 4) {
          cur.vf = a.value.readUInt32LE(0);
        } else if (cur && a.type === IFLA_PORT_RESPONSE && a.value.length >= 2) {
          cur.response = a.value.readUInt16LE(0);
        }
      }
    }
  }
  return { ifindex, ...(name ? { ifname: cString(name.value) } : {}), vsis, portNests };
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

/**
 * What libvirt's virNetDevVPortProfileGetStatus concludes from a reply: it parses each IFLA_VF_PORT nest with
 * nla_parse_nested, where a repeated attribute keeps only its LAST occurrence, then wants that UUID and vf == -1.
 * With the old one-nest layout libvirt therefore only ever saw the last VSI on the port.
 * Returns the response libvirt reads (undefined: missing = "in progress" for 802.1Qbg) or 'not-found'.
 */
export function libvirtSees(reply: LinkReply, instanceUuid: string): { found: false } | { found: true; response?: number } {
  const want = uuidToBytes(instanceUuid);
  for (const attrs of reply.portNests) {
    const last = (t: number) => [...attrs].reverse().find((a) => a.type === t);
    const uuid = last(IFLA_PORT_INSTANCE_UUID);
    const vf = last(IFLA_PORT_VF);
    if (uuid && uuid.value.equals(want) && vf && vf.value.length >= 4 && vf.value.readUInt32LE(0) === PORT_SELF_VF) {
      const resp = last(IFLA_PORT_RESPONSE);
      return resp && resp.value.length >= 2 ? { found: true, response: resp.value.readUInt16LE(0) } : { found: true };
    }
  }
  return { found: false };
}

/** A SETLINK decoded: lldpad's unsolicited one (the bridge ended a VSI) or, in tests, our own. */
export interface DecodedSetLink {
  ifindex: number;
  ifname?: string;
  mac?: string;
  vlan?: number;
  qos?: number;
  managerId?: number;
  typeId?: number;
  typeIdVersion?: number;
  instanceUuid?: string;
  vf?: number;
  request?: number;
}

export function decodeSetLink(payload: Buffer): DecodedSetLink {
  if (payload.length < IFINFOMSG_LEN) {
    throw qbgError('QBG_ERR_LLDPAD_COMMAND', 'netlink', `SETLINK shorter than ifinfomsg (${payload.length} bytes)`);
  }
  const out: DecodedSetLink = { ifindex: payload.readInt32LE(4) };
  const top = decodeAttrs(payload.subarray(IFINFOMSG_LEN));
  const name = first(top, IFLA_IFNAME);
  if (name) out.ifname = cString(name.value);
  const list = first(top, IFLA_VFINFO_LIST);
  const info = list && first(decodeAttrs(list.value), IFLA_VF_INFO);
  if (info) {
    const vf = decodeAttrs(info.value);
    const mac = first(vf, IFLA_VF_MAC);
    if (mac && mac.value.length >= 10) {
      out.mac = [...mac.value.subarray(4, 10)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    }
    const vlan = first(vf, IFLA_VF_VLAN);
    if (vlan && vlan.value.length >= 12) {
      out.vlan = vlan.value.readUInt32LE(4);
      out.qos = vlan.value.readUInt32LE(8);
    }
  }
  const ports = first(top, IFLA_VF_PORTS);
  const port = ports && first(decodeAttrs(ports.value), IFLA_VF_PORT);
  if (port) {
    const attrs = decodeAttrs(port.value);
    const t = first(attrs, IFLA_PORT_VSI_TYPE);
    if (t && t.value.length >= 5) {
      out.managerId = t.value[0];
      out.typeId = t.value[1] | (t.value[2] << 8) | (t.value[3] << 16);
      out.typeIdVersion = t.value[4];
    }
    const uuid = first(attrs, IFLA_PORT_INSTANCE_UUID);
    if (uuid && uuid.value.length === 16) out.instanceUuid = bytesToUuid(uuid.value);
    const vf = first(attrs, IFLA_PORT_VF);
    if (vf && vf.value.length >= 4) out.vf = vf.value.readUInt32LE(0);
    // libvirt sends REQUEST as u8, lldpad's unsolicited message as u16: the low byte is the value either way.
    const r = first(attrs, IFLA_PORT_REQUEST);
    if (r && r.value.length >= 1) out.request = r.value[0];
  }
  return out;
}

export type PortProgress = { state: 'in-progress' } | { state: 'success' } | { state: 'failed'; code: number };

/**
 * How one poll's IFLA_PORT_RESPONSE reads the way libvirt reads it for 802.1Qbg: missing or 0x101 = keep polling,
 * 0 or 0x100 = done (the kernel's port-profile enum). Used to predict what libvirt will conclude.
 */
export function portProgress(response: number | undefined): PortProgress {
  if (response === undefined || response === PORT_RESPONSE.PROFILE_INPROGRESS) return { state: 'in-progress' };
  if (response === PORT_RESPONSE.VDP_SUCCESS || response === PORT_RESPONSE.PROFILE_SUCCESS) return { state: 'success' };
  return { state: 'failed', code: response };
}

/**
 * How qbg reads the same value: lldpad's VDP22 module puts its own 16-bit response there (status byte | state-machine
 * error bits << 8, see vdp-reasons.ts), so only 0 is success and 0x100/0x101 are keep-alive-timeout failures that
 * libvirt would misread as success / in progress. Missing = lldpad has no answer yet.
 */
export function lldpadProgress(response: number | undefined): PortProgress {
  if (response === undefined) return { state: 'in-progress' };
  if (response === 0) return { state: 'success' };
  return { state: 'failed', code: response };
}
