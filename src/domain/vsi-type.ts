// The VSI type as a network admin thinks of it, and the one validation of it used by API, CLI and profile files.
import { checkPrintable } from './printable.js';
import { fieldError, isQbgError, qbgError, type QbgError } from './errors.js';
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
  const { spec, problems } = checkVsiTypeSpec(input);
  if (!spec) throw problems[0];
  return spec;
}

/**
 * The same validation, collecting every problem instead of stopping at the first (a profile file lists them all):
 * each field is checked on its own, and a rule across fields only when the fields it reads are valid.
 */
export function checkVsiTypeSpec(input: unknown): { spec?: VsiTypeSpec; problems: QbgError[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { problems: [qbgError('QBG_ERR_BAD_REQUEST', 'a VSI type must be an object with name, typeId, typeIdVersion, managerId…')] };
  }
  const o = input as Record<string, unknown>;
  const problems: QbgError[] = [];
  /** fn's value, or undefined with its error recorded */
  const check = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!isQbgError(e)) throw e;
      problems.push(e);
      return undefined;
    }
  };
  for (const key of Object.keys(o)) {
    if (!(SPEC_FIELDS as readonly string[]).includes(key)) {
      problems.push(fieldError(key, 'QBG_ERR_UNKNOWN_FIELD', key, SPEC_FIELDS.join(', ')));
    }
  }
  const given = (f: string) => o[f] !== undefined && o[f] !== null;
  for (const required of ['name', 'typeId', 'typeIdVersion'] as const) {
    if (!given(required)) problems.push(fieldError(required, 'QBG_ERR_FIELD_REQUIRED', required));
  }
  if (o.managerId === undefined && o.managerId2 === undefined) {
    problems.push(fieldError('managerId', 'QBG_ERR_FIELD_REQUIRED', 'managerId (0–255) or managerId2 (16 bytes)'));
  }
  const name = given('name') ? check(() => parseName(o.name, 'name')) : undefined;
  const description = check(() => {
    const d = o.description === undefined ? '' : o.description;
    if (typeof d !== 'string') throw fieldError('description', 'QBG_ERR_FIELD_TYPE', 'description', 'a string', d);
    if (d.length > 500) throw fieldError('description', 'QBG_ERR_STRING_LENGTH', 'description', 500, d.length);
    // printed to terminals and pages: a description may span lines, nothing else
    return checkPrintable('description', d, { multiLine: true });
  });

  let managerId = o.managerId === undefined ? undefined : check(() => parseManagerId(o.managerId, 'managerId'));
  const managerIdOk = o.managerId === undefined || managerId !== undefined;
  const managerId2 =
    o.managerId2 !== undefined
      ? check(() => parseManagerId2(o.managerId2))
      : managerId !== undefined
        ? parseManagerId2(managerId, 'managerId')
        : undefined;
  if (managerId !== undefined && managerId2 !== undefined && managerId2ToByte(managerId2) !== managerId) {
    problems.push(
      fieldError(
        'managerId2',
        'QBG_ERR_BAD_REQUEST',
        `managerId ${managerId} and managerId2 ${managerId2} disagree: give one, or a managerId2 whose value is managerId`,
      ),
    );
  }
  if (managerIdOk && managerId2 !== undefined) managerId ??= managerId2ToByte(managerId2);

  const filterFormat = o.filterFormat === undefined ? 'vlan-mac' : o.filterFormat;
  const filterOk = (FILTER_FORMATS as readonly unknown[]).includes(filterFormat);
  if (!filterOk) problems.push(fieldError('filterFormat', 'QBG_ERR_FILTER_FORMAT', filterFormat));
  const groupId = o.groupId === undefined ? undefined : check(() => parseGroupId(o.groupId));
  const grouped = GROUP_FILTER_FORMATS.includes(filterFormat as FilterFormat);
  if (filterOk && grouped && o.groupId === undefined) {
    problems.push(fieldError('groupId', 'QBG_ERR_FIELD_REQUIRED', `groupId (1–4294967295, with filterFormat ${String(filterFormat)})`));
  }
  if (filterOk && !grouped && o.groupId !== undefined) {
    problems.push(fieldError('groupId', 'QBG_ERR_BAD_REQUEST', 'groupId is only allowed with filterFormat vlan-group or vlan-mac-group'));
  }
  const typeId = given('typeId') ? check(() => parseTypeId(o.typeId)) : undefined;
  const typeIdVersion = given('typeIdVersion') ? check(() => parseTypeIdVersion(o.typeIdVersion)) : undefined;
  const allowedVlans = check(() => parseVlanRanges(o.allowedVlans));
  if (problems.length > 0) return { problems };

  const spec: VsiTypeSpec = {
    name: name!,
    description: description!,
    managerId2: managerId2!,
    typeId: typeId!,
    typeIdVersion: typeIdVersion!,
    filterFormat: filterFormat as FilterFormat,
    allowedVlans: allowedVlans!,
  };
  if (managerId !== undefined) spec.managerId = managerId;
  if (groupId !== undefined) spec.groupId = groupId;
  return { spec, problems };
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
