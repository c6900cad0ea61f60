// A VM NIC as qbg manages it: identified by VM UUID + MAC, announced to the bridge as one VSI on an uplink with
// parameters pinned from a VSI type version at request time. Validation of a hook's request lives here once,
// for API, CLI and migration alike.
import { fieldError, qbgError } from './errors.js';
import { parseIfname, parseMac, parseName, parseTypeIdVersion, parseUuid, parseVlan } from './identifiers.js';
import { stableInstanceId } from './instance-uuid.js';
import type { NicEvent, NicState } from './nic-state.js';
import type { VdpRequestMode, VsiFilter, VsiRequest } from './vsi-request.js';
import { formatVlanRanges, GROUP_FILTER_FORMATS, MAC_FILTER_FORMATS, vlanAllowed, type FilterFormat, type VsiTypeVersion } from './vsi-type.js';

/** The modes a hook may ask for a NIC; 'deassoc' is a separate verb (disassociate). */
export const NIC_MODES = ['assoc', 'preassoc', 'preassoc-rr'] as const;
export type NicMode = (typeof NIC_MODES)[number];

/**
 * Who announces a NIC's VSI to lldpad on a libvirt host (config `ownership`, docs/ownership.md): 'qbg' over lldpad's
 * client socket when a hook asks (the domain XML carries no interface-level virtualport, so libvirt sends nothing),
 * or 'libvirt' itself over netlink from the interface's full 802.1Qbg virtualport (qbg then only observes the VSI by
 * instance UUID and never sends a request for it). lldpad answers only the first requester of a VSI and lets either
 * side's de-associate remove the other's, so one NIC never has both; a NIC keeps the owner it was recorded with.
 */
export const NIC_OWNERS = ['qbg', 'libvirt'] as const;
export type NicOwner = (typeof NIC_OWNERS)[number];

/** What a hook sends to associate / pre-associate a NIC (API body, CLI flags). */
export interface NicAssociationInput {
  vmUuid: string;
  mac: string;
  uplink: string;
  /** VSI type name in the type database. */
  type: string;
  /** Pin a type version; default: the type's current version. */
  version?: number;
  vlan: number;
  /** Default: derived from VM UUID + MAC (same on every host, so a migrating VM keeps its VSI identity). */
  instanceUuid?: string;
  mode?: NicMode;
}

/** The input after validation: instance UUID and mode decided. */
export type NicAssociationRequest = Omit<NicAssociationInput, 'instanceUuid' | 'mode'> & { instanceUuid: string; mode: NicMode };

/** Everything lldpad is told about a NIC, pinned when the request is made (a later type edit does not move it). */
export interface NicParams {
  vmUuid: string;
  mac: string;
  uplink: string;
  typeName: string;
  typeId: number;
  typeIdVersion: number;
  managerId2: string;
  filterFormat: FilterFormat;
  groupId?: number;
  vlan: number;
  instanceUuid: string;
}

export interface Nic extends NicParams {
  id: string;
  /** Who announces the VSI (set when the NIC is first recorded; never changed silently). */
  owner: NicOwner;
  state: NicState;
  /** The VID the bridge assigned while held, when the NIC asked for the wildcard VLAN 0 (802.1Qbg 41.2.9). */
  bridgeVlan?: number;
  /** What qbg was last asked to make lldpad hold ('deassoc' = nothing): the reconciler's target. */
  desiredMode: VdpRequestMode;
  /** Last VDP reason (failed / lost): code as decoded by vdp-reasons, text for humans. */
  reasonCode?: number;
  reason?: string;
  createdAt: string;
  updatedAt: string;
}

/** One persisted transition. `seq` is the history row id, also the SSE event id. */
export interface NicHistoryEntry {
  seq: number;
  nicId: string;
  at: string;
  from: NicState;
  to: NicState;
  event: NicEvent;
  /** Who/why: 'api-associate', 'lldpad-answer', 'reconcile', 'bridge-deassoc', 'migration-prepare', … */
  cause: string;
  reasonCode?: number;
  reason?: string;
}

const NIC_FIELDS = ['vmUuid', 'mac', 'uplink', 'type', 'version', 'vlan', 'instanceUuid', 'mode'] as const;

/**
 * The stable NIC id: "<vm uuid>_<mac>". Not "/" (it would split a URL path segment) and readable by an admin;
 * both parts are canonical lower case, so one NIC has exactly one id.
 */
export function nicId(vmUuid: string, mac: string): string {
  return `${vmUuid}_${mac}`;
}

/** Accepts "<uuid>_<mac>" and, for people pasting, "<uuid>/<mac>". */
export function parseNicId(v: unknown, field = 'id'): { vmUuid: string; mac: string; id: string } {
  const s = typeof v === 'string' ? v.trim() : '';
  const m = /^([0-9A-Fa-f-]{32,36})[_/]([0-9A-Fa-f:-]{17})$/.exec(s);
  if (!m) {
    throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'a NIC id "<vm uuid>_<mac>", e.g. 8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c_52:54:00:12:34:56', v);
  }
  const vmUuid = parseUuid(m[1], field);
  const mac = parseMac(m[2], field);
  return { vmUuid, mac, id: nicId(vmUuid, mac) };
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const ZERO_MAC = '00:00:00:00:00:00';

function parseInstanceUuid(v: unknown): string {
  const u = parseUuid(v, 'instanceUuid');
  // lldpad's check_vsiid: an all-zero UUID is no VSI id.
  if (u === NIL_UUID) throw fieldError('instanceUuid', 'QBG_ERR_UUID_FORMAT', 'instanceUuid', `${String(v)} (the nil UUID is no VSI id)`);
  return u;
}

/** Validate a hook's associate request; unknown fields are refused so a typo never becomes a default. */
export function parseNicAssociation(input: unknown): NicAssociationRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw qbgError('QBG_ERR_BAD_REQUEST', 'an association request must be an object with vmUuid, mac, uplink, type, vlan');
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(NIC_FIELDS as readonly string[]).includes(key)) throw fieldError(key, 'QBG_ERR_UNKNOWN_FIELD', key, NIC_FIELDS.join(', '));
  }
  for (const required of ['vmUuid', 'mac', 'uplink', 'type', 'vlan'] as const) {
    if (o[required] === undefined || o[required] === null) throw fieldError(required, 'QBG_ERR_FIELD_REQUIRED', required);
  }
  const vmUuid = parseUuid(o.vmUuid, 'vmUuid');
  // libvirt never gives a VM the nil UUID, and lldpad refuses an all-zero VSI id: refuse here, not after a request.
  if (vmUuid === NIL_UUID) throw fieldError('vmUuid', 'QBG_ERR_UUID_FORMAT', 'vmUuid', `${String(o.vmUuid)} (the nil UUID names no VM)`);
  const mac = parseMac(o.mac, 'mac');
  // No frame carries the all-zero MAC: a bridge cannot forward to it (lldpad's filter check refuses it too).
  if (mac === ZERO_MAC) throw fieldError('mac', 'QBG_ERR_MAC_FORMAT', 'mac', `${String(o.mac)} (all zero: no frame carries it)`);
  const mode = o.mode === undefined ? 'assoc' : o.mode;
  if (!(NIC_MODES as readonly unknown[]).includes(mode)) throw fieldError('mode', 'QBG_ERR_ENUM', 'mode', NIC_MODES.join(', '), mode);
  const req: NicAssociationRequest = {
    vmUuid,
    mac,
    uplink: parseIfname(o.uplink, 'uplink'),
    type: parseName(o.type, 'type'),
    vlan: parseVlan(o.vlan, 'vlan'),
    instanceUuid: o.instanceUuid === undefined ? stableInstanceId(vmUuid, mac) : parseInstanceUuid(o.instanceUuid),
    mode: mode as NicMode,
  };
  if (o.version !== undefined) req.version = parseTypeIdVersion(o.version, 'version');
  return req;
}

/** Pin the type version's parameters onto the NIC; the VLAN must be one the type allows. */
export function resolveNicParams(req: NicAssociationRequest, type: VsiTypeVersion): NicParams {
  if (!vlanAllowed(type, req.vlan)) {
    throw fieldError('vlan', 'QBG_ERR_VLAN_NOT_ALLOWED', req.vlan, `${type.name} v${type.typeIdVersion}`, formatVlanRanges(type.allowedVlans));
  }
  const p: NicParams = {
    vmUuid: req.vmUuid,
    mac: req.mac,
    uplink: req.uplink,
    typeName: type.name,
    typeId: type.typeId,
    typeIdVersion: type.typeIdVersion,
    managerId2: type.managerId2,
    filterFormat: type.filterFormat,
    vlan: req.vlan,
    instanceUuid: req.instanceUuid,
  };
  if (type.groupId !== undefined) p.groupId = type.groupId;
  return p;
}

/**
 * The VDP request for a NIC in the given mode (filters follow the type's filter format). A de-associate names the
 * VID the bridge assigned to a wildcard request: lldpad holds the VSI under it and refuses (R05) one that says 0.
 */
export function vsiRequestFor(p: NicParams & { bridgeVlan?: number }, mode: VdpRequestMode): VsiRequest {
  const filter: VsiFilter = { vlan: mode === 'deassoc' && p.bridgeVlan !== undefined ? p.bridgeVlan : p.vlan };
  if (MAC_FILTER_FORMATS.includes(p.filterFormat)) filter.mac = p.mac;
  if (GROUP_FILTER_FORMATS.includes(p.filterFormat)) filter.groupId = p.groupId;
  return {
    uplink: p.uplink,
    mode,
    managerId2: p.managerId2,
    typeId: p.typeId,
    typeIdVersion: p.typeIdVersion,
    instanceUuid: p.instanceUuid,
    filterFormat: p.filterFormat,
    filters: [filter],
  };
}

const PARAM_KEYS = ['vmUuid', 'mac', 'uplink', 'typeName', 'typeId', 'typeIdVersion', 'managerId2', 'filterFormat', 'groupId', 'vlan', 'instanceUuid'] as const;

/** True when lldpad would be told exactly the same thing (an idempotent repeat needs no new request). */
export function sameNicParams(a: NicParams, b: NicParams): boolean {
  return PARAM_KEYS.every((k) => a[k] === b[k]);
}

/**
 * lldpad (station and bridge role alike) finds a VSI by manager id, type id, type version, id format, instance UUID
 * and filter format (openlldp qbg/vdp22sm.c vdp22_vsi_equal); the filter (VLAN, MAC, group) is not part of it. Two
 * parameter sets with the same key and another filter are a filter change of one VSI, which lldpad cannot do in place.
 */
const VSI_KEY = ['uplink', 'instanceUuid', 'managerId2', 'typeId', 'typeIdVersion', 'filterFormat'] as const;
const FILTER_KEYS = ['vlan', 'mac', 'groupId'] as const;

/** Same VSI as lldpad and a bridge key it (see VSI_KEY). */
export function sameVsiKey(a: NicParams, b: NicParams): boolean {
  return VSI_KEY.every((k) => a[k] === b[k]);
}

/** The same VSI with another filter (VLAN, MAC or group id): lldpad's station refuses it in place (R05). */
export function isFilterChange(from: NicParams, to: NicParams): boolean {
  return sameVsiKey(from, to) && !FILTER_KEYS.every((k) => from[k] === to[k]);
}

/** A key that is equal for two requests that would send the same thing to lldpad (coalescing in-flight work). */
export function requestKey(p: NicParams, mode: VdpRequestMode): string {
  return JSON.stringify([mode, ...PARAM_KEYS.map((k) => p[k] ?? null)]);
}
