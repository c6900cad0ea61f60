// The VSI type as a network admin thinks of it, and the one validation of it used by API, CLI and profile files.
import { fieldError, qbgError } from './errors.js';
import {
  managerId2ToByte,
  parseGroupId,
  parseManagerId,
  parseManagerId2,
  parseName,
  parseTypeId,
  parseTypeIdVersion,
  parseVlan,
} from './identifiers.js';

/**
 * VDP22 filter info formats (802.1Qbg-2012 41.2.9): 1 VID "vlan", 2 MAC/VID "vlan-mac", 3 GroupID/VID "vlan-group",
 * 4 GroupID/MAC/VID "vlan-mac-group". The names are vdptool's (its man page writes format 3's filter as
 * "vlan--group", e.g. 200--77: a VID and a group id with no MAC between the dashes).
 */
export const FILTER_FORMATS = ['vlan-mac', 'vlan-mac-group', 'vlan', 'vlan-group'] as const;
export type FilterFormat = (typeof FILTER_FORMATS)[number];

/** Formats whose filters carry a group id (3 and 4): a type with one of them names its group. */
export const GROUP_FILTER_FORMATS: readonly FilterFormat[] = ['vlan-group', 'vlan-mac-group'];
/** Formats whose filters carry the NIC's MAC (2 and 4). */
export const MAC_FILTER_FORMATS: readonly FilterFormat[] = ['vlan-mac', 'vlan-mac-group'];

export interface VlanRange {
  from: number;
  to: number;
}

/** Everything an admin declares about one version of a VSI type (one profile file). */
export interface VsiTypeSpec {
  /** Admin's handle, e.g. "web-tier"; stable across versions. */
  name: string;
  description: string;
  /** libvirt's one-byte managerid; absent when the 16-byte managerId2 does not fit a byte. */
  managerId?: number;
  /** VDP22 16-byte manager id, canonical 32 hex digits; derived from managerId when not given. */
  managerId2: string;
  /** 24-bit VSI type id, stable across versions. */
  typeId: number;
  /** 8-bit VSI type version: each change of parameters is a new version. */
  typeIdVersion: number;
  filterFormat: FilterFormat;
  /** VLANs a NIC of this type may use; empty = any. */
  allowedVlans: VlanRange[];
  /** VDP22 group id 1–4294967295, with filterFormat vlan-group or vlan-mac-group only. */
  groupId?: number;
}

/** A stored version of a VSI type. */
export interface VsiTypeVersion extends VsiTypeSpec {
  createdAt: string;
}

export const SPEC_FIELDS = [
  'name',
  'description',
  'managerId',
  'managerId2',
  'typeId',
  'typeIdVersion',
  'filterFormat',
  'allowedVlans',
  'groupId',
] as const;

function parseVlanRanges(v: unknown, field = 'allowedVlans'): VlanRange[] {
  if (v === undefined || v === null) return [];
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(items)) {
    throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'a list of VLAN ids 0–4095 or ranges like "100-110"', v);
  }
  const ranges = items.map((item, i): VlanRange => {
    const f = `${field}[${i}]`;
    if (typeof item === 'string' && item.includes('-')) {
      // split('-', 2) would read "100-110-4000" as 100-110: a third part is a typo, not something to drop
      const parts = item.split('-');
      if (parts.length !== 2) throw fieldError(f, 'QBG_ERR_FIELD_TYPE', f, 'a range low-high with low ≤ high', item);
      const [a, b] = parts;
      const from = parseVlan(a.trim(), f);
      const to = parseVlan(b.trim(), f);
      if (from > to) throw fieldError(f, 'QBG_ERR_FIELD_TYPE', f, 'a range low-high with low ≤ high', item);
      return { from, to };
    }
    if (typeof item === 'object' && item !== null && 'from' in item && 'to' in item) {
      const r = item as { from: unknown; to: unknown };
      const from = parseVlan(r.from, `${f}.from`);
      const to = parseVlan(r.to, `${f}.to`);
      if (from > to) throw fieldError(f, 'QBG_ERR_FIELD_TYPE', f, 'a range with from ≤ to', JSON.stringify(item));
      return { from, to };
    }
    const n = parseVlan(item, f);
    return { from: n, to: n };
  });
  return normaliseRanges(ranges);
}

/** Sorted, merged ranges: two equal sets always compare and store the same. */
export function normaliseRanges(ranges: VlanRange[]): VlanRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const out: VlanRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ ...r });
  }
  return out;
}

/** "100,200-210" — the form used in profile files, CLI output and error messages. */
export function formatVlanRanges(ranges: VlanRange[]): string {
  if (ranges.length === 0) return 'any';
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/** Profile-file form of allowedVlans: numbers for single VLANs, "a-b" strings for ranges. */
export function vlanRangesToList(ranges: VlanRange[]): Array<number | string> {
  return ranges.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`));
}

export function vlanAllowed(spec: Pick<VsiTypeSpec, 'allowedVlans'>, vlan: number): boolean {
  return spec.allowedVlans.length === 0 || spec.allowedVlans.some((r) => vlan >= r.from && vlan <= r.to);
}

/**
 * Validate an admin's VSI type declaration (API body, CLI flags or a profile file) into canonical form.
 * Unknown fields are refused so a typo ("typeid") never silently becomes a default.
 */
export function parseVsiTypeSpec(input: unknown): VsiTypeSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw qbgError('QBG_ERR_BAD_REQUEST', 'a VSI type must be an object with name, typeId, typeIdVersion, managerId…');
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(SPEC_FIELDS as readonly string[]).includes(key)) {
      throw fieldError(key, 'QBG_ERR_UNKNOWN_FIELD', key, SPEC_FIELDS.join(', '));
    }
  }
  for (const required of ['name', 'typeId', 'typeIdVersion'] as const) {
    if (o[required] === undefined || o[required] === null) throw fieldError(required, 'QBG_ERR_FIELD_REQUIRED', required);
  }
  if (o.managerId === undefined && o.managerId2 === undefined) {
    throw fieldError('managerId', 'QBG_ERR_FIELD_REQUIRED', 'managerId (0–255) or managerId2 (16 bytes)');
  }
  const name = parseName(o.name, 'name');
  const description = o.description === undefined ? '' : o.description;
  if (typeof description !== 'string') throw fieldError('description', 'QBG_ERR_FIELD_TYPE', 'description', 'a string', description);
  if (description.length > 500) throw fieldError('description', 'QBG_ERR_STRING_LENGTH', 'description', 500, description.length);

  let managerId = o.managerId === undefined ? undefined : parseManagerId(o.managerId, 'managerId');
  const managerId2 = o.managerId2 === undefined ? parseManagerId2(managerId!, 'managerId') : parseManagerId2(o.managerId2);
  if (managerId !== undefined && managerId2ToByte(managerId2) !== managerId) {
    throw fieldError(
      'managerId2',
      'QBG_ERR_BAD_REQUEST',
      `managerId ${managerId} and managerId2 ${managerId2} disagree: give one, or a managerId2 whose value is managerId`,
    );
  }
  managerId ??= managerId2ToByte(managerId2);

  const filterFormat = o.filterFormat === undefined ? 'vlan-mac' : o.filterFormat;
  if (!(FILTER_FORMATS as readonly unknown[]).includes(filterFormat)) {
    throw fieldError('filterFormat', 'QBG_ERR_FILTER_FORMAT', filterFormat);
  }
  const groupId = o.groupId === undefined ? undefined : parseGroupId(o.groupId);
  const grouped = GROUP_FILTER_FORMATS.includes(filterFormat as FilterFormat);
  if (grouped && groupId === undefined) {
    throw fieldError('groupId', 'QBG_ERR_FIELD_REQUIRED', `groupId (1–4294967295, with filterFormat ${String(filterFormat)})`);
  }
  if (!grouped && groupId !== undefined) {
    throw fieldError('groupId', 'QBG_ERR_BAD_REQUEST', 'groupId is only allowed with filterFormat vlan-group or vlan-mac-group');
  }
  const spec: VsiTypeSpec = {
    name,
    description,
    managerId2,
    typeId: parseTypeId(o.typeId),
    typeIdVersion: parseTypeIdVersion(o.typeIdVersion),
    filterFormat: filterFormat as FilterFormat,
    allowedVlans: parseVlanRanges(o.allowedVlans),
  };
  if (managerId !== undefined) spec.managerId = managerId;
  if (groupId !== undefined) spec.groupId = groupId;
  return spec;
}

/** The profile-file form of a spec (what export writes and import reads back unchanged). */
export function specToProfile(spec: VsiTypeSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { name: spec.name };
  if (spec.description) out.description = spec.description;
  if (spec.managerId !== undefined) out.managerId = spec.managerId;
  else out.managerId2 = spec.managerId2;
  out.typeId = spec.typeId;
  out.typeIdVersion = spec.typeIdVersion;
  out.filterFormat = spec.filterFormat;
  out.allowedVlans = vlanRangesToList(spec.allowedVlans);
  if (spec.groupId !== undefined) out.groupId = spec.groupId;
  return out;
}

/** True when two specs would announce the same thing to the bridge (used to decide whether an edit is a new version). */
export function sameParameters(a: VsiTypeSpec, b: VsiTypeSpec): boolean {
  return JSON.stringify(specToProfile(a)) === JSON.stringify(specToProfile(b));
}

/**
 * How the rest of qbg reads the type database (XML generation, associations): by the admin's name, the current
 * version unless a typeIdVersion is pinned. Synchronous because the local store (SQLite) is.
 */
export interface VsiTypeLookup {
  get(name: string, typeIdVersion?: number): VsiTypeVersion | undefined;
}
