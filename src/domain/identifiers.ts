// Parsing and range checks for the identifiers VDP and libvirt use. Every limit lives here once; every error
// names the field and the allowed range (users find the manager/type id model and the field sizes confusing).
import { fieldError } from './errors.js';

export const MANAGER_ID_MAX = 255; // libvirt managerid: one byte
export const TYPE_ID_MAX = 0xffffff; // VSI type id: 24 bit
export const TYPE_ID_VERSION_MAX = 255; // VSI type version: one byte
export const VLAN_MAX = 4095; // 12-bit VID (0 = untagged / "any" in VDP filters)
export const GROUP_ID_MAX = 0xffffffff; // VDP22 group id: 32 bit

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
  if (n === undefined || n < 0 || n > GROUP_ID_MAX) throw fieldError(field, 'QBG_ERR_INTEGER_RANGE', field, 0, GROUP_ID_MAX, v);
  return n;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** MAC in canonical lower-case colon form. Multicast/broadcast are refused: a VM NIC's MAC is unicast. */
export function parseMac(v: unknown, field = 'mac'): string {
  const s = typeof v === 'string' ? v.trim().toLowerCase().replace(/-/g, ':') : '';
  if (!MAC_RE.test(s)) throw fieldError(field, 'QBG_ERR_MAC_FORMAT', field, v);
  if (parseInt(s.slice(0, 2), 16) & 1) throw fieldError(field, 'QBG_ERR_MAC_FORMAT', field, `${String(v)} (multicast)`);
  return s;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** UUID in canonical lower-case 8-4-4-4-12 form; the 32-hex-digit form without dashes is accepted too. */
export function parseUuid(v: unknown, field = 'uuid'): string {
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

/**
 * VDP22's manager id is 16 bytes (lldpad/vdptool "mgrid2"); vendors put a number or an IP address there.
 * Canonical form: 32 lower-case hex digits, byte 0 first. Accepted: 32 hex digits, a number 0–255 (in the FIRST
 * byte: that is where lldpad puts libvirt's one-byte managerid — qbg/vdp22.c copies vsi_mgrid to mgrid[0] — and
 * what it prints back as a plain number), an IPv4 address (IPv4-mapped IPv6) or an IPv6 address.
 */
export function parseManagerId2(v: unknown, field = 'managerId2'): string {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().toLowerCase() : '';
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

function parseIpv6(s: string): string | undefined {
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
