// ECP22 (802.1Qbg-2012 clause 43): the acknowledged transport VDP22 rides on. Pure codec, no I/O.
// Frame = Ethernet header (no VLAN tag in practice) + 4-byte ECP header + upper-layer data (VDP22 TLVs).
// Layouts checked against openlldp include/qbg_ecp22.h and frames captured from lldpad in the lab
// (test/fixtures/frames/*.hex).

/** Ratified ECP ethertype. lldptool/vdptool man pages say 0x8890; lldpad itself (ETH_P_ECP22) uses 0x8940. */
export const ECP_ETHERTYPE = 0x8940;
export const VLAN_TPID = 0x8100;
export const ECP_VERSION = 1;
/** ECP subtypes (upper layer protocols). */
export const ECP_SUBTYPE_VDP = 1;
export const ECP_SUBTYPE_PECSP = 2;
/** The subtypes 802.1Qbg-2012 43.3.2 defines; a frame with any other is dropped without an ACK (as lldpad does). */
export const ECP_SUBTYPES: readonly number[] = [ECP_SUBTYPE_VDP, ECP_SUBTYPE_PECSP];
/** Nearest customer bridge group address: where lldpad sends ECP and LLDP with `-g ncb`. */
export const NEAREST_CUSTOMER_BRIDGE_MAC = '01:80:c2:00:00:00';

export const ETH_HEADER_LEN = 14;
export const ECP_HEADER_LEN = 4;

/** The result of every decoder here: never throws on bad input, says what and where. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: string; offset: number };

export function decodeOk<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function decodeFail<T>(error: string, offset: number): DecodeResult<T> {
  return { ok: false, error, offset };
}

export type EcpOperation = 'request' | 'ack';

export interface EcpHeader {
  version: number; // 4 bits, 1 for ECP22
  op: EcpOperation;
  subtype: number; // 10 bits, 1 = VDP
  sequence: number; // 16 bits
}

export interface EcpFrame {
  dst: string;
  src: string;
  /** 802.1Q tag control (PCP/DEI/VID) when the frame was tagged; lldpad never tags. */
  vlanTci?: number;
  header: EcpHeader;
  /** Upper-layer data after the ECP header (VDP22 TLVs), including any Ethernet padding. */
  payload: Buffer;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** 6 bytes from "aa:bb:cc:dd:ee:ff". Throws on a malformed MAC: callers encode values they built themselves. */
export function macToBytes(mac: string): Buffer {
  if (!MAC_RE.test(mac)) throw new RangeError(`mac must look like 52:54:00:12:34:56, got ${mac}`);
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

export function bytesToMac(b: Uint8Array, offset = 0): string {
  return Array.from(b.subarray(offset, offset + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be an integer 0–${max}, got ${v}`);
}

/** ver(4) | op(2) | subtype(10), then the sequence number; both big-endian. */
export function encodeEcpHeader(h: EcpHeader): Buffer {
  checkUint('version', h.version, 0xf);
  checkUint('subtype', h.subtype, 0x3ff);
  checkUint('sequence', h.sequence, 0xffff);
  const b = Buffer.alloc(ECP_HEADER_LEN);
  b.writeUInt16BE((h.version << 12) | ((h.op === 'ack' ? 1 : 0) << 10) | h.subtype, 0);
  b.writeUInt16BE(h.sequence, 2);
  return b;
}

export function decodeEcpHeader(buf: Uint8Array, offset = 0): DecodeResult<EcpHeader> {
  if (buf.length - offset < ECP_HEADER_LEN) return decodeFail('ECP header truncated (needs 4 bytes)', offset);
  const w = (buf[offset] << 8) | buf[offset + 1];
  const opBits = (w >> 10) & 3;
  if (opBits > 1) return decodeFail(`ECP operation ${opBits} is neither request (0) nor ack (1)`, offset);
  return decodeOk({
    version: w >> 12,
    op: opBits === 1 ? 'ack' : 'request',
    subtype: w & 0x3ff,
    sequence: (buf[offset + 2] << 8) | buf[offset + 3],
  });
}

export function encodeEcpFrame(f: { dst: string; src: string; vlanTci?: number; header: EcpHeader; payload?: Uint8Array }): Buffer {
  const parts: Buffer[] = [macToBytes(f.dst), macToBytes(f.src)];
  if (f.vlanTci !== undefined) {
    checkUint('vlanTci', f.vlanTci, 0xffff);
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(VLAN_TPID, 0);
    tag.writeUInt16BE(f.vlanTci, 2);
    parts.push(tag);
  }
  const type = Buffer.alloc(2);
  type.writeUInt16BE(ECP_ETHERTYPE, 0);
  parts.push(type, encodeEcpHeader(f.header));
  if (f.payload) parts.push(Buffer.from(f.payload));
  return Buffer.concat(parts);
}

/** An ACK is the bare ECP header echoing the request's sequence number (ecp22.c ecp22_es_send_ack). */
export function encodeEcpAck(opts: { dst?: string; src: string; subtype?: number; sequence: number }): Buffer {
  return encodeEcpFrame({
    dst: opts.dst ?? NEAREST_CUSTOMER_BRIDGE_MAC,
    src: opts.src,
    header: { version: ECP_VERSION, op: 'ack', subtype: opts.subtype ?? ECP_SUBTYPE_VDP, sequence: opts.sequence },
  });
}

/** Where the ethertype sits and what it is, skipping one 802.1Q tag; shared by the ECP and LLDP decoders. */
export function decodeEthernetHeader(
  buf: Uint8Array,
): DecodeResult<{ dst: string; src: string; vlanTci?: number; ethertype: number; payloadOffset: number }> {
  if (buf.length < ETH_HEADER_LEN) return decodeFail('Ethernet header truncated (needs 14 bytes)', 0);
  let off = 12;
  let ethertype = (buf[off] << 8) | buf[off + 1];
  let vlanTci: number | undefined;
  if (ethertype === VLAN_TPID) {
    if (buf.length < ETH_HEADER_LEN + 4) return decodeFail('802.1Q tag truncated', off);
    vlanTci = (buf[off + 2] << 8) | buf[off + 3];
    off += 4;
    ethertype = (buf[off] << 8) | buf[off + 1];
  }
  return decodeOk({ dst: bytesToMac(buf, 0), src: bytesToMac(buf, 6), vlanTci, ethertype, payloadOffset: off + 2 });
}

export function decodeEcpFrame(buf: Uint8Array): DecodeResult<EcpFrame> {
  const eth = decodeEthernetHeader(buf);
  if (!eth.ok) return eth;
  const { dst, src, vlanTci, ethertype, payloadOffset } = eth.value;
  if (ethertype !== ECP_ETHERTYPE) {
    return decodeFail(`ethertype 0x${ethertype.toString(16).padStart(4, '0')} is not ECP (0x8940)`, payloadOffset - 2);
  }
  const h = decodeEcpHeader(buf, payloadOffset);
  if (!h.ok) return h;
  return decodeOk({
    dst,
    src,
    ...(vlanTci !== undefined ? { vlanTci } : {}),
    header: h.value,
    payload: Buffer.from(buf.subarray(payloadOffset + ECP_HEADER_LEN)),
  });
}

/** Next ECP sequence number: lldpad never uses 0 (ecp22.c inc_seqno skips it on wrap). */
export function nextEcpSequence(x: number): number {
  const n = (x + 1) & 0xffff;
  return n === 0 ? 1 : n;
}
