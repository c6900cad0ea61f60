// Desired EVB configuration of one uplink (the station port facing the adjacent bridge), its validation and the
// comparison with what lldpad actually runs. Pure: no I/O. The ranges are lldpad's (openlldp lldp_evb22_cmds.c:
// ecpretries 0–7, the exponents ecprte/vdprwd/vdprka 0–31) which are the field widths of the 802.1Qbg-2012 EVB TLV
// (D.2.13: R 3 bits, RTE/RWD/RKA 5 bits).
import { fieldError } from './errors.js';

export const LLDP_ADMIN_STATUSES = ['rx', 'tx', 'rxtx', 'disabled'] as const;
export type LldpAdminStatus = (typeof LLDP_ADMIN_STATUSES)[number];

export const EVB_ROLES = ['station', 'bridge'] as const;
export type EvbRole = (typeof EVB_ROLES)[number];

/** The settings lldpad holds per uplink, in the words of the standard. */
export interface EvbSettings {
  /** LLDP on the nearest-customer-bridge agent: EVB needs rx (to hear the bridge) and tx (to be heard). */
  adminStatus: LldpAdminStatus;
  /** Send the EVB TLV (lldpad also ignores a received EVB TLV while this is off). */
  evbTx: boolean;
  /** Our side of the link. lldpad fixes the VDP22 role when it starts the module: a change needs an lldpad restart. */
  role: EvbRole;
  /** Group identifiers supported (SGID for a station, BGID for a bridge). */
  gpid: boolean;
  /** Station: request reflective relay (RRREQ). Bridge: offer it (RRCAP). */
  reflectiveRelay: boolean;
  /** ECP maximum retries, 0–7. */
  ecpRetries: number;
  /** ECP retransmission timer exponent: timeout 10 µs × 2^RTE, 0–31. */
  ecpRte: number;
  /** VDP re-init keep-alive exponent (RKA): keep-alive every 10 µs × 2^RKA, 0–31. */
  vdpRka: number;
  /** VDP resource wait delay exponent (RWD): wait for the bridge up to 10 µs × 2^RWD, 0–31. */
  vdpRwd: number;
}

export interface UplinkEvbConfig extends EvbSettings {
  /** Interface name of the uplink, e.g. eth0 or s0. */
  uplink: string;
  /** Network namespace whose lldpad manages the uplink (labs, containers); absent: qbg's own namespace. */
  netns?: string;
}

/**
 * What qbg applies for fields the user leaves out: lldpad's own defaults (openlldp evb22_conf_*), except that EVB is
 * on and ECP tolerates a busy host. lldpad's ECP declares a frame lost when no ACK came within (retries + 1) × 10 µs ×
 * 2^RTE: 10 ms with its defaults (3, 8), less than lldpad waits to be scheduled on a loaded hypervisor — measured in
 * the lab at load ~20 on 2 cores, 1 % of ECP frames got no ACK in time and each took a VSI down. 7 retries and RTE 9
 * wait up to 41 ms (no loss in the same run), and still carry 195 VDP messages a second per uplink: lldpad sends
 * one ECP frame per RTE period. Both peers use the larger value each side advertises, so the station alone can raise
 * it. The measurements are in docs/ecp.md.
 */
export const EVB_DEFAULTS: EvbSettings = {
  adminStatus: 'rxtx',
  evbTx: true,
  role: 'station',
  gpid: false,
  reflectiveRelay: false,
  ecpRetries: 7,
  ecpRte: 9,
  vdpRka: 20,
  vdpRwd: 20,
};

export const EVB_RANGES = {
  ecpRetries: [0, 7],
  ecpRte: [0, 31],
  vdpRka: [0, 31],
  vdpRwd: [0, 31],
} as const satisfies Partial<Record<keyof EvbSettings, readonly [number, number]>>;

/** Order matters when applying: LLDP first, then the role (lldpad stores GPID under the current role). */
export const EVB_SETTING_FIELDS: ReadonlyArray<keyof EvbSettings> = [
  'adminStatus',
  'role',
  'evbTx',
  'gpid',
  'reflectiveRelay',
  'ecpRetries',
  'ecpRte',
  'vdpRka',
  'vdpRwd',
];

const CONFIG_FIELDS = ['uplink', 'netns', ...EVB_SETTING_FIELDS];

// Linux IFNAMSIZ is 16 including the NUL; we also refuse "/", ":" and whitespace, which the kernel or lldptool reject.
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function parseUplinkName(v: unknown, field = 'uplink'): string {
  if (typeof v !== 'string' || !IFNAME_RE.test(v)) throw fieldError(field, 'QBG_ERR_IFNAME_FORMAT', field, v);
  return v;
}

export function parseNetnsName(v: unknown, field = 'netns'): string {
  if (typeof v !== 'string' || !NETNS_RE.test(v)) throw fieldError(field, 'QBG_ERR_NAME_FORMAT', field, v);
  return v;
}

function parseBool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw fieldError(field, 'QBG_ERR_FIELD_TYPE', field, 'true or false', v);
}

function parseEnum<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw fieldError(field, 'QBG_ERR_ENUM', field, allowed.join(', '), v);
}

function parseRange(v: unknown, field: keyof typeof EVB_RANGES): number {
  const [lo, hi] = EVB_RANGES[field];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,3}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < lo || n > hi) throw fieldError(field, 'QBG_ERR_INTEGER_RANGE', field, lo, hi, v);
  return n;
}

function parseSetting<K extends keyof EvbSettings>(field: K, v: unknown): EvbSettings[K] {
  switch (field) {
    case 'adminStatus':
      return parseEnum(v, field, LLDP_ADMIN_STATUSES) as EvbSettings[K];
    case 'role':
      return parseEnum(v, field, EVB_ROLES) as EvbSettings[K];
    case 'evbTx':
    case 'gpid':
    case 'reflectiveRelay':
      return parseBool(v, field) as EvbSettings[K];
    default:
      return parseRange(v, field as keyof typeof EVB_RANGES) as EvbSettings[K];
  }
}

/**
 * Validate a desired uplink configuration (API body, CLI flags, stored row). Missing settings take EVB_DEFAULTS;
 * unknown fields are refused so a typo ("ecpRetry") is not silently ignored. The uplink name may come from the
 * URL instead of the body (then both must agree).
 */
export function parseUplinkConfig(input: unknown, uplinkFromPath?: string): UplinkEvbConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw fieldError('body', 'QBG_ERR_FIELD_TYPE', 'body', 'an object', input);
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!CONFIG_FIELDS.includes(k)) throw fieldError(k, 'QBG_ERR_UNKNOWN_FIELD', k, CONFIG_FIELDS.join(', '));
  }
  let uplink: string;
  if (uplinkFromPath !== undefined) {
    uplink = parseUplinkName(uplinkFromPath, 'name');
    if (o.uplink !== undefined && o.uplink !== uplink)
      throw fieldError('uplink', 'QBG_ERR_BAD_REQUEST', `uplink in the body (${String(o.uplink)}) differs from the name in the path (${uplink})`);
  } else {
    if (o.uplink === undefined) throw fieldError('uplink', 'QBG_ERR_FIELD_REQUIRED', 'uplink');
    uplink = parseUplinkName(o.uplink);
  }
  const cfg: UplinkEvbConfig = { uplink, ...EVB_DEFAULTS };
  if (o.netns !== undefined) cfg.netns = parseNetnsName(o.netns);
  for (const f of EVB_SETTING_FIELDS) {
    if (o[f] !== undefined) (cfg as unknown as Record<string, unknown>)[f] = parseSetting(f, o[f]);
  }
  return cfg;
}

export interface EvbSettingChange<K extends keyof EvbSettings = keyof EvbSettings> {
  field: K;
  /** what lldpad runs now (undefined: could not be read) */
  actual: EvbSettings[K] | undefined;
  desired: EvbSettings[K];
}

/** The settings that differ, in apply order. An actual value of undefined always differs. */
export function diffEvbSettings(desired: EvbSettings, actual: Partial<EvbSettings>): EvbSettingChange[] {
  const out: EvbSettingChange[] = [];
  for (const f of EVB_SETTING_FIELDS) {
    if (actual[f] !== desired[f]) out.push({ field: f, actual: actual[f], desired: desired[f] } as EvbSettingChange);
  }
  return out;
}

/** Only the settings of an uplink config (what is compared with lldpad). */
export function evbSettingsOf(cfg: UplinkEvbConfig): EvbSettings {
  const s = {} as Record<string, unknown>;
  for (const f of EVB_SETTING_FIELDS) s[f] = cfg[f];
  return s as unknown as EvbSettings;
}

/** "ecpRte 8→9, evbTx false→true": how drift and apply are logged. */
export function describeChanges(changes: readonly EvbSettingChange[]): string {
  return changes.map((c) => `${c.field} ${c.actual === undefined ? '?' : String(c.actual)}→${String(c.desired)}`).join(', ');
}

/**
 * Where desired uplink configs are kept. An in-memory implementation lives in src/service/uplink-manager.ts;
 * a persistent one may be synchronous (better-sqlite3) or not, so callers always await.
 */
export interface UplinkConfigStore {
  list(): UplinkEvbConfig[] | Promise<UplinkEvbConfig[]>;
  get(uplink: string): UplinkEvbConfig | undefined | Promise<UplinkEvbConfig | undefined>;
  put(cfg: UplinkEvbConfig): void | Promise<void>;
  /** true if something was removed */
  delete(uplink: string): boolean | Promise<boolean>;
}
