// Parsing and range checks for the identifiers VDP and libvirt use. Every limit lives here once; every error
// names the field and the allowed range (users find the manager/type id model and the field sizes confusing).
import { fieldError } from './errors.js';

export const MANAGER_ID_MAX = 255; // libvirt managerid: one byte
export const TYPE_ID_MAX = 0xffffff; // VSI type id: 24 bit
export const TYPE_ID_VERSION_MAX = 255; // VSI type version: one byte
export const VLAN_MAX = 4095; // 12-bit VID (0 = untagged / "any" in VDP filters)
export const GROUP_ID_MAX = 0xffffffff; // VDP22 group id: 32 bit
export const GROUP_ID_MIN = 1; // lldpad reads a filter's group id as 1–2^32-1 (vdp_ascii.c getfid): 0 means "no group"

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Accepts a JS number or a decimal string (CLI, XML attributes); anything else is a range error. */
function toInt(v: unknown): number | undefined {
  if (isInt(v)) return v;
  if (typeof v === 'string' && /^\d{1,10}$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

export function parseManagerId(v: unknown, field = 'managerId'): number {
  const n = toInt(v);
  if (n === undefined || n < 0 || n > MANAGER_ID_MAX) throw fieldError(field, 'QBG_ERR_MANAGER_ID_RANGE', v);
  return n;
}

export function parseTypeId(v: unknown, field = 'typeId'): number {
  const n = toInt(v);
  if (n === undefined || n < 0 || n > TYPE_ID_MAX) throw fieldError(field, 'QBG_ERR_TYPEID_RANGE', v);
  return n;
}

export function parseTypeIdVersion(v: unknown, field = 'typeIdVersion'): number {
  const n = toInt(v);
  if (n === undefined || n < 0 || n > TYPE_ID_VERSION_MAX) throw fieldError(field, 'QBG_ERR_TYPEID_VERSION_RANGE', v);
  return n;
}

export function parseVlan(v: unknown, field = 'vlan'): number {
  const n = toInt(v);
  if (n === undefined || n < 0 || n > VLAN_MAX) throw fieldError(field, 'QBG_ERR_VLAN_RANGE', field, v);
  return n;
}

export function parseGroupId(v: unknown, field = 'groupId'): number {
  const n = toInt(v);
  if (n === undefined || n < GROUP_ID_MIN || n > GROUP_ID_MAX) throw fieldError(field, 'QBG_ERR_INTEGER_RANGE', field, GROUP_ID_MIN, GROUP_ID_MAX, v);
  return n;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** MAC in canonical lower-case colon form. Multicast/broadcast are refused: a VM NIC's MAC is unicast. */
export function parseMac(v: unknown, field = 'mac'): string {
  // most MACs arrive canonical (libvirt writes them so, and qbg reads each a few times per document)
  let s = typeof v === 'string' ? v : '';
  if (!MAC_RE.test(s)) {
    s = s.trim().toLowerCase().replace(/-/g, ':');
    if (!MAC_RE.test(s)) throw fieldError(field, 'QBG_ERR_MAC_FORMAT', field, v);
  }
  // the group bit: the low bit of the first octet's second hex digit (lower case by now)
  const c = s.charCodeAt(1);
  if ((c <= 0x39 ? c - 0x30 : c - 0x57) & 1) throw fieldError(field, 'QBG_ERR_MAC_FORMAT', field, `${String(v)} (multicast)`);
  return s;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** UUID in canonical lower-case 8-4-4-4-12 form; the 32-hex-digit form without dashes is accepted too. */
export function parseUuid(v: unknown, field = 'uuid'): string {
  if (typeof v === 'string' && UUID_RE.test(v)) return v; // already canonical
  let s = typeof v === 'string' ? v.trim().toLowerCase() : '';
  if (/^[0-9a-f]{32}$/.test(s)) s = `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  if (!UUID_RE.test(s)) throw fieldError(field, 'QBG_ERR_UUID_FORMAT', field, v);
  return s;
}

export function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Prefix of the printable-ASCII manager id form ("ascii:web", "ascii:10" for the two bytes "10"). */
export const MGRID2_ASCII_PREFIX = 'ascii:';
const MGRID2_ASCII_MAX = 16;

/**
 * VDP22's manager id is 16 bytes (lldpad/vdptool "mgrid2"); vendors put a number, an address or a name there.
 * Canonical form: 32 lower-case hex digits, byte 0 first. Accepted (formatManagerId2 writes each back):
 * - 32 hex digits: the bytes themselves;
 * - a number 0–255: the short numeric form, in the FIRST byte (where lldpad puts libvirt's one-byte managerid —
 *   qbg/vdp22.c copies vsi_mgrid to mgrid[0] — and what it prints back as a plain number);
 * - an IPv4 address (stored IPv4-mapped, ::ffff:a.b.c.d, as 802.1Qbg and lldpad's is_ipv4 lay it out) or an IPv6
 *   address;
 * - printable ASCII, 1–16 characters, zero-padded (what vdptool sends for an alphanumeric mgrid2), written
 *   "ascii:TEXT": always with the prefix, so a mistyped number, address or hex string stays an error, not a name.
 */
export function parseManagerId2(v: unknown, field = 'managerId2'): string {
  const raw = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  const s = raw.toLowerCase();
  if (raw.startsWith(MGRID2_ASCII_PREFIX)) {
    const text = asciiManagerId(raw.slice(MGRID2_ASCII_PREFIX.length));
    if (text) return text;
    throw fieldError(field, 'QBG_ERR_MGRID2_FORMAT', v);
  }
  if (/^[0-9a-f]{32}$/.test(s)) return s;
  if (/^\d{1,3}$/.test(s) && Number(s) <= 255) return Number(s).toString(16).padStart(2, '0') + '0'.repeat(30);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255)) {
    return '00000000000000000000ffff' + v4.slice(1).map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  }
  const v6 = parseIpv6(s);
  if (v6) return v6;
  throw fieldError(field, 'QBG_ERR_MGRID2_FORMAT', v);
}

/** 1–16 printable ASCII characters (no leading/trailing space: input is trimmed) → 32 hex digits, zero-padded. */
function asciiManagerId(text: string): string | undefined {
  if (text.length < 1 || text.length > MGRID2_ASCII_MAX || !/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(text)) return undefined;
  return Buffer.from(text, 'latin1').toString('hex').padEnd(32, '0');
}

export type ManagerId2Format = 'number' | 'ipv4' | 'ipv6' | 'ascii';

/**
 * The readable form of a canonical manager id, which parseManagerId2 reads back to the same 16 bytes: the short
 * number when only the first byte is set (as lldpad prints it), an IPv4 address when IPv4-mapped, "ascii:TEXT" when
 * the bytes are printable text followed by zeros (lldpad's mgrid2str shows the text), else the IPv6 address (any 16
 * bytes are one).
 */
export function formatManagerId2(mgrid2: string): { format: ManagerId2Format; text: string } {
  if (!/^[0-9a-f]{32}$/.test(mgrid2)) throw new RangeError(`managerId2 must be 32 lower-case hex digits, got ${mgrid2}`);
  const b = Buffer.from(mgrid2, 'hex');
  let last = b.length - 1;
  while (last >= 0 && b[last] === 0) last--;
  if (last <= 0) return { format: 'number', text: String(b[0]) };
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { format: 'ipv4', text: Array.from(b.subarray(12), String).join('.') };
  }
  const text = b.subarray(0, last + 1).toString('latin1');
  if (asciiManagerId(text) === mgrid2) return { format: 'ascii', text: MGRID2_ASCII_PREFIX + text };
  return { format: 'ipv6', text: formatIpv6(mgrid2) };
}

/** 32 hex digits → RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIpv6(hex: string): string {
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(hex.slice(i * 4, i * 4 + 4), 16).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** An IPv6 address in text (full or "::"-compressed, no embedded IPv4) → 32 hex digits, or undefined. */
export function parseIpv6(s: string): string | undefined {
  if (!/^[0-9a-f:]+$/.test(s) || !s.includes(':')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => g.padStart(4, '0')).join('');
}

/** A one-byte managerid expressed as a VDP22 mgrid2, or undefined when the 16 bytes do not fit one byte. */
export function managerId2ToByte(mgrid2: string): number | undefined {
  return /^[0-9a-f]{2}0{30}$/.test(mgrid2) ? parseInt(mgrid2.slice(0, 2), 16) : undefined;
}

/** Names of VSI types, uplinks, networks: safe to show, store and pass as argv. */
export function parseName(v: unknown, field = 'name'): string {
  const s = typeof v === 'string' ? v.trim() : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s)) throw fieldError(field, 'QBG_ERR_NAME_FORMAT', field, v);
  return s;
}

/** Linux interface names (IFNAMSIZ 16 incl. NUL); checked before they reach lldptool/vdptool argv. */
export function parseIfname(v: unknown, field = 'uplink'): string {
  const s = typeof v === 'string' ? v : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$/.test(s)) {
    throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'a Linux interface name (1–15 of letters, digits, ".", "_", "-", "@")', v);
  }
  return s;
}
