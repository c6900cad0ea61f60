// LLDP frames (802.1AB) and the EVB TLV (802.1Qbg-2012 D.2.12, OUI 00-80-C2 subtype 0x0d). Pure codec, no I/O.
// A fresh station lldpad answers "VDP protocol not supported on interface" unless its peer's LLDP carries the EVB
// TLV, so a simulated bridge must send one. Bit layout checked against openlldp include/lldp_evb22.h and frames
// captured from lldpad in the lab.
import {
  bytesToMac,
  decodeEthernetHeader,
  decodeFail,
  decodeOk,
  macToBytes,
  NEAREST_CUSTOMER_BRIDGE_MAC,
  type DecodeResult,
} from './ecp.js';

export const LLDP_ETHERTYPE = 0x88cc;
export const LLDP_TLV = { end: 0, chassisId: 1, portId: 2, ttl: 3, org: 127 } as const;
export const CHASSIS_ID_SUBTYPE_MAC = 4;
export const PORT_ID_SUBTYPE_MAC = 3;
export const EVB_OUI = '0080c2';
export const EVB_SUBTYPE = 0x0d;
/** Minimum Ethernet frame without FCS; lldpad pads its LLDPDUs to it. */
export const ETH_MIN_FRAME = 60;

export type EvbMode = 'none' | 'bridge' | 'station' | 'reserved';
const EVB_MODES: readonly EvbMode[] = ['none', 'bridge', 'station', 'reserved'];

/** The 5 bytes after OUI + subtype. Exponents are in units of 10 µs × 2^n (lldpad: ecprte, vdprwd, vdprka). */
export interface EvbTlv {
  bridge: { bgid: boolean; rrcap: boolean; rrctr: boolean };
  station: { sgid: boolean; rrreq: boolean; rrstat: number };
  /** ECP max retries, 3 bits. */
  retries: number;
  /** ECP retransmission exponent, 5 bits (8 → 2.56 ms). */
  rte: number;
  mode: EvbMode;
  /** Remote/local flag for RWD: the value was taken from the peer. */
  rwdRemote: boolean;
  /** VDP resource wait delay exponent, 5 bits. */
  rwd: number;
  rkaRemote: boolean;
  /** VDP re-init keep-alive exponent, 5 bits (20 → about 10.5 s). */
  rka: number;
}

export interface LldpTlv {
  type: number;
  value: Buffer;
}

export interface LldpFrame {
  dst: string;
  src: string;
  /** Every TLV before the End TLV, in order. */
  tlvs: LldpTlv[];
  chassisId: { subtype: number; value: Buffer };
  portId: { subtype: number; value: Buffer };
  ttl: number;
  evb?: EvbTlv;
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be an integer 0–${max}, got ${v}`);
}

export function encodeEvbTlvValue(e: EvbTlv): Buffer {
  checkUint('retries', e.retries, 7);
  checkUint('rte', e.rte, 31);
  checkUint('rwd', e.rwd, 31);
  checkUint('rka', e.rka, 31);
  checkUint('rrstat', e.station.rrstat, 3);
  const mode = EVB_MODES.indexOf(e.mode);
  if (mode < 0) throw new RangeError(`mode must be one of ${EVB_MODES.join(', ')}, got ${e.mode}`);
  return Buffer.from([
    0x00, 0x80, 0xc2, EVB_SUBTYPE,
    (e.bridge.bgid ? 4 : 0) | (e.bridge.rrcap ? 2 : 0) | (e.bridge.rrctr ? 1 : 0),
    (e.station.sgid ? 8 : 0) | (e.station.rrreq ? 4 : 0) | e.station.rrstat,
    (e.retries << 5) | e.rte,
    (mode << 6) | (e.rwdRemote ? 0x20 : 0) | e.rwd,
    (e.rkaRemote ? 0x20 : 0) | e.rka,
  ]);
}

/** Decode the value of an organizationally specific TLV that is the EVB TLV (9 bytes incl. OUI + subtype). */
export function decodeEvbTlvValue(v: Uint8Array, offset = 0): DecodeResult<EvbTlv> {
  if (v.length !== 9) return decodeFail(`EVB TLV length ${v.length} is not 9`, offset);
  if (v[0] !== 0x00 || v[1] !== 0x80 || v[2] !== 0xc2 || v[3] !== EVB_SUBTYPE) {
    return decodeFail('not an EVB TLV (OUI 00-80-C2 subtype 0x0d)', offset);
  }
  return decodeOk({
    bridge: { bgid: (v[4] & 4) !== 0, rrcap: (v[4] & 2) !== 0, rrctr: (v[4] & 1) !== 0 },
    station: { sgid: (v[5] & 8) !== 0, rrreq: (v[5] & 4) !== 0, rrstat: v[5] & 3 },
    retries: v[6] >> 5,
    rte: v[6] & 0x1f,
    mode: EVB_MODES[v[7] >> 6],
    rwdRemote: (v[7] & 0x20) !== 0,
    rwd: v[7] & 0x1f,
    rkaRemote: (v[8] & 0x20) !== 0,
    rka: v[8] & 0x1f,
  });
}

function tlv(type: number, value: Uint8Array): Buffer {
  checkUint('LLDP TLV type', type, 127);
  checkUint('LLDP TLV length', value.length, 0x1ff);
  const h = Buffer.alloc(2);
  h.writeUInt16BE((type << 9) | value.length, 0);
  return Buffer.concat([h, value]);
}

/** A whole LLDP frame: the TLVs given, an End TLV, zero padding up to padTo bytes (lldpad pads to 60). */
export function encodeLldpFrame(f: { dst?: string; src: string; tlvs: readonly LldpTlv[]; padTo?: number }): Buffer {
  const type = Buffer.alloc(2);
  type.writeUInt16BE(LLDP_ETHERTYPE, 0);
  const frame = Buffer.concat([
    macToBytes(f.dst ?? NEAREST_CUSTOMER_BRIDGE_MAC),
    macToBytes(f.src),
    type,
    ...f.tlvs.map((t) => tlv(t.type, t.value)),
    Buffer.alloc(2), // End of LLDPDU
  ]);
  const pad = (f.padTo ?? ETH_MIN_FRAME) - frame.length;
  return pad > 0 ? Buffer.concat([frame, Buffer.alloc(pad)]) : frame;
}

/**
 * The LLDPDU a bridge port sends, as lldpad does: chassis id and port id = the port's MAC, TTL, EVB TLV.
 * TTL 120 s matches lldpad (msgTxHold 4 × msgTxInterval 30).
 */
export function bridgeLldpTlvs(o: { mac: string; ttl?: number; evb: EvbTlv }): LldpTlv[] {
  const mac = macToBytes(o.mac);
  const ttl = Buffer.alloc(2);
  checkUint('ttl', o.ttl ?? 120, 0xffff);
  ttl.writeUInt16BE(o.ttl ?? 120, 0);
  return [
    { type: LLDP_TLV.chassisId, value: Buffer.concat([Buffer.from([CHASSIS_ID_SUBTYPE_MAC]), mac]) },
    { type: LLDP_TLV.portId, value: Buffer.concat([Buffer.from([PORT_ID_SUBTYPE_MAC]), mac]) },
    { type: LLDP_TLV.ttl, value: ttl },
    { type: LLDP_TLV.org, value: encodeEvbTlvValue(o.evb) },
  ];
}

/**
 * Decode an LLDP frame. Requires the three mandatory TLVs first (chassis id, port id, TTL) as 802.1AB 9.2 says;
 * an EVB TLV, when present, is decoded too. Never throws.
 */
export function decodeLldpFrame(buf: Uint8Array): DecodeResult<LldpFrame> {
  const eth = decodeEthernetHeader(buf);
  if (!eth.ok) return eth;
  const { dst, src, ethertype, payloadOffset } = eth.value;
  if (ethertype !== LLDP_ETHERTYPE) {
    return decodeFail(`ethertype 0x${ethertype.toString(16).padStart(4, '0')} is not LLDP (0x88cc)`, payloadOffset - 2);
  }
  const tlvs: LldpTlv[] = [];
  const tlvOffsets: number[] = [];
  let off = payloadOffset;
  let ended = false;
  while (off < buf.length) {
    if (buf.length - off < 2) return decodeFail('LLDP TLV header truncated', off);
    const head = (buf[off] << 8) | buf[off + 1];
    const type = head >> 9;
    const len = head & 0x1ff;
    if (type === LLDP_TLV.end) {
      ended = true;
      break;
    }
    if (off + 2 + len > buf.length) return decodeFail(`LLDP TLV type ${type} length ${len} runs past the end`, off);
    tlvs.push({ type, value: Buffer.from(buf.subarray(off + 2, off + 2 + len)) });
    tlvOffsets.push(off);
    off += 2 + len;
  }
  if (!ended) return decodeFail('LLDPDU has no End TLV', off);
  const need: [number, string, number][] = [
    [LLDP_TLV.chassisId, 'chassis id', 2],
    [LLDP_TLV.portId, 'port id', 2],
    [LLDP_TLV.ttl, 'TTL', 2],
  ];
  for (let i = 0; i < need.length; i++) {
    const [type, name, minLen] = need[i];
    const t = tlvs[i];
    if (!t || t.type !== type) return decodeFail(`LLDP TLV ${i + 1} must be the ${name} TLV`, tlvOffsets[i] ?? off);
    if (t.value.length < minLen) return decodeFail(`${name} TLV is too short`, tlvOffsets[i]);
  }
  let evb: EvbTlv | undefined;
  for (let i = 3; i < tlvs.length; i++) {
    const t = tlvs[i];
    if (t.type === LLDP_TLV.org && t.value.length >= 4 && t.value.subarray(0, 3).toString('hex') === EVB_OUI && t.value[3] === EVB_SUBTYPE) {
      const e = decodeEvbTlvValue(t.value, tlvOffsets[i] + 2);
      if (!e.ok) return e;
      evb = e.value;
    }
  }
  return decodeOk({
    dst,
    src,
    tlvs,
    chassisId: { subtype: tlvs[0].value[0], value: tlvs[0].value.subarray(1) },
    portId: { subtype: tlvs[1].value[0], value: tlvs[1].value.subarray(1) },
    ttl: tlvs[2].value.readUInt16BE(0),
    ...(evb ? { evb } : {}),
  });
}

/** The MAC in a chassis/port id of subtype MAC, else undefined. */
export function lldpIdMac(id: { subtype: number; value: Buffer }, macSubtype: number): string | undefined {
  return id.subtype === macSubtype && id.value.length === 6 ? bytesToMac(id.value) : undefined;
}
