// qbg's configuration: a JSON or YAML file (QBG_CONFIG or --config, default /etc/qbg/config.yaml when present),
// then environment overrides, then built-in defaults that need no setup (embedded SQLite, loopback).
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { qbgError } from './domain/errors.js';

export const DEFAULT_PORT = 8021; // "802.1"
export const DEFAULT_CONFIG_PATH = '/etc/qbg/config.yaml';
export const DEFAULT_SOCKET_PATH = '/run/qbg/qbg.sock';

export interface RemoteTypeDbConfig {
  name: string;
  url: string;
  /** Cached answers younger than this are used without asking the remote. */
  ttlSeconds: number;
}

/** Many hypervisors on one PostgreSQL (src/fleet): shared VSI types, one view of every VM NIC, cross-host checks. */
export interface FleetConfig {
  /** postgres://user:password@host:port/database — the fleet's database. */
  postgres: string;
  /** This hypervisor's name in the fleet (default: the machine's hostname). Unique per host. */
  host: string;
  /** How often this host says it is alive and reports its outbox depth. */
  heartbeatSeconds: number;
  /** A host silent for longer is stale (a fleet check). */
  staleSeconds: number;
  /** Types and fleet checks are re-read this often even without a notification (missed NOTIFY, reconnect). */
  catchUpSeconds: number;
  /** Longest wait between attempts to reach PostgreSQL while it is down. */
  backoffMaxSeconds: number;
  /** A migration's source may still hold the VSI this long after the destination associated it. */
  migrationGraceSeconds: number;
  /** Outbox rows per PostgreSQL transaction. */
  drainBatch: number;
  /** fleet_nic_transitions older than this many days are deleted (1–3650; default FLEET_TRANSITION_RETENTION_DAYS, filled in by loadConfig). */
  transitionRetentionDays?: number;
}

export interface QbgConfig {
  /** socket: also serve on this unix socket (mode 0600); `qbg serve` as root defaults it to /run/qbg/qbg.sock, "" = off.
   *  insecureNoAuth: allow a non-loopback host with no tokens (everybody is admin): closed labs only. */
  listen: { host: string; port: number; socket?: string; insecureNoAuth?: boolean };
  dbPath: string;
  logLevel: string;
  /** Bearer tokens per role. No tokens configured = open access, allowed on loopback and the unix socket only. */
  tokens: { admin: string[]; hook: string[]; monitor: string[] };
  remotes: RemoteTypeDbConfig[];
  lldpad: {
    /** Run lldptool/vdptool/helper inside this network namespace (lab use). */
    netns?: string;
    /** How qbg asks lldpad to (dis)associate VSIs: lldpad's VDP22 client socket or libvirt's netlink path. */
    transport: 'vdp22' | 'netlink';
    /** Where lldpad writes its pid (netlink path sends to it). */
    pidFile: string;
    /** VDP22 requests handed to lldpad at once (more queue in qbg). 1 is safe on a busy host: see docs/transport.md. */
    maxInFlight: number;
  };
  /**
   * Who announces the VSIs of this host's libvirt VMs (docs/ownership.md): 'qbg' (default) — the domain XML carries
   * no interface-level virtualport and the hook associates over lldpad's client socket; 'libvirt' — the XML carries
   * the full virtualport, libvirt associates over netlink and qbg only observes. Env QBG_OWNERSHIP.
   */
  ownership: 'qbg' | 'libvirt';
  /** Desired EVB configuration per uplink (see src/domain/evb-config.ts); validated by the uplink manager. */
  uplinks: unknown[];
  /** Receivers of failure and notice events (see src/service/webhooks.ts): [{ url, events?, secret? }]. */
  webhooks: unknown[];
  /**
   * maxAttempts: failed attempts per NIC before the reconciler gives up (the NIC stays 'failed' until asked again);
   * backoffBaseSeconds / backoffMaxSeconds: wait before the 2nd attempt, doubling (±25 % jitter) up to the maximum.
   */
  reconcile: { intervalSeconds: number; concurrency: number; maxAttempts: number; backoffBaseSeconds: number; backoffMaxSeconds: number };
  /** filterChangeHoldSeconds: how long a bridge may keep a VSI the station de-associated (see docs/filter-change.md). */
  nics: { filterChangeHoldSeconds: number };
  /** ratePerSecond/rateBurst: per bearer token, or per address for a caller without one (off in the open loopback
   *  mode: no tokens, loopback only); ratePerSecond 0 turns it off. */
  limits: { bodyBytes: number; ratePerSecond: number; rateBurst: number };
  /** Absent = no fleet: this qbg stands alone on its SQLite (the default). */
  fleet?: FleetConfig;
}

function defaultDbPath(): string {
  if (process.getuid?.() === 0) return '/var/lib/qbg/qbg.db';
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'qbg', 'qbg.db');
}

export function defaultConfig(): QbgConfig {
  return {
    listen: { host: '127.0.0.1', port: DEFAULT_PORT },
    dbPath: defaultDbPath(),
    logLevel: 'info',
    tokens: { admin: [], hook: [], monitor: [] },
    remotes: [],
    lldpad: { transport: 'vdp22', pidFile: '/var/run/lldpad.pid', maxInFlight: 1 },
    ownership: 'qbg',
    uplinks: [],
    webhooks: [],
    reconcile: { intervalSeconds: 30, concurrency: 16, maxAttempts: 8, backoffBaseSeconds: 1, backoffMaxSeconds: 60 },
    nics: { filterChangeHoldSeconds: 17 },
    limits: { bodyBytes: 1024 * 1024, ratePerSecond: 200, rateBurst: 1000 },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merge plain objects; arrays and scalars replace. */
function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw qbgError('QBG_ERR_CONFIG', name, `must be an integer ${min}–${max}, got ${v}`);
  return n;
}

const splitTokens = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

/** Environment overrides: QBG_HOST, QBG_PORT, QBG_SOCKET, QBG_INSECURE_NO_AUTH (1/true/0/false), QBG_DB,
 *  QBG_LOG_LEVEL, QBG_ADMIN_TOKENS, QBG_HOOK_TOKENS, QBG_MONITOR_TOKENS (comma-separated), QBG_LLDPAD_NETNS,
 *  QBG_LLDPAD_TRANSPORT, QBG_OWNERSHIP, QBG_FLEET_URL, QBG_FLEET_HOST. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const listen: Record<string, unknown> = {};
  if (env.QBG_HOST) listen.host = env.QBG_HOST;
  const port = envInt(env, 'QBG_PORT', 0, 65535);
  if (port !== undefined) listen.port = port;
  if (env.QBG_SOCKET !== undefined) listen.socket = env.QBG_SOCKET; // "" = no socket
  const insecure = env.QBG_INSECURE_NO_AUTH;
  if (insecure !== undefined && insecure !== '') {
    if (!['1', 'true', '0', 'false'].includes(insecure)) throw qbgError('QBG_ERR_CONFIG', 'QBG_INSECURE_NO_AUTH', `must be 1, true, 0 or false, got ${insecure}`);
    listen.insecureNoAuth = insecure === '1' || insecure === 'true';
  }
  if (Object.keys(listen).length) o.listen = listen;
  if (env.QBG_DB) o.dbPath = env.QBG_DB;
  if (env.QBG_LOG_LEVEL) o.logLevel = env.QBG_LOG_LEVEL;
  const tokens: Record<string, unknown> = {};
  for (const role of ['admin', 'hook', 'monitor'] as const) {
    const list = splitTokens(env[`QBG_${role.toUpperCase()}_TOKENS`]);
    if (list) tokens[role] = list;
  }
  if (Object.keys(tokens).length) o.tokens = tokens;
  const lldpad: Record<string, unknown> = {};
  if (env.QBG_LLDPAD_NETNS) lldpad.netns = env.QBG_LLDPAD_NETNS;
  if (env.QBG_LLDPAD_TRANSPORT) lldpad.transport = env.QBG_LLDPAD_TRANSPORT;
  if (Object.keys(lldpad).length) o.lldpad = lldpad;
  if (env.QBG_OWNERSHIP) o.ownership = env.QBG_OWNERSHIP;
  const fleet: Record<string, unknown> = {};
  if (env.QBG_FLEET_URL) fleet.postgres = env.QBG_FLEET_URL;
  if (env.QBG_FLEET_HOST) fleet.host = env.QBG_FLEET_HOST;
  if (Object.keys(fleet).length) o.fleet = fleet;
  return o;
}

function validate(c: QbgConfig): QbgConfig {
  if (!['vdp22', 'netlink'].includes(c.lldpad.transport)) {
    throw qbgError('QBG_ERR_CONFIG', 'lldpad.transport', `must be vdp22 or netlink, got ${String(c.lldpad.transport)}`);
  }
  if (!['qbg', 'libvirt'].includes(c.ownership)) {
    throw qbgError('QBG_ERR_CONFIG', 'ownership', `must be qbg or libvirt (who announces a libvirt VM's VSIs), got ${String(c.ownership)}`);
  }
  if (!Number.isInteger(c.listen.port) || c.listen.port < 0 || c.listen.port > 65535) {
    throw qbgError('QBG_ERR_CONFIG', 'listen.port', `must be an integer 0–65535, got ${String(c.listen.port)}`);
  }
  if (!Number.isInteger(c.lldpad.maxInFlight) || c.lldpad.maxInFlight < 1 || c.lldpad.maxInFlight > 256) {
    throw qbgError('QBG_ERR_CONFIG', 'lldpad.maxInFlight', `must be an integer 1–256, got ${String(c.lldpad.maxInFlight)}`);
  }
  if (c.fleet !== undefined && c.fleet !== null) c.fleet = validateFleet(c.fleet);
  else delete c.fleet;
  const numberIn = (path: string, v: unknown, min: number, max: number, integer = false): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw qbgError('QBG_ERR_CONFIG', path, `must be ${integer ? 'an integer' : 'a number'} ${min}–${max}, got ${String(v)}`);
    }
  };
  numberIn('reconcile.maxAttempts', c.reconcile.maxAttempts, 1, 1000, true);
  numberIn('reconcile.backoffBaseSeconds', c.reconcile.backoffBaseSeconds, 0.01, 3600);
  numberIn('reconcile.backoffMaxSeconds', c.reconcile.backoffMaxSeconds, c.reconcile.backoffBaseSeconds, 86400);
  numberIn('nics.filterChangeHoldSeconds', c.nics.filterChangeHoldSeconds, 0, 3600);
  if (c.listen.insecureNoAuth !== undefined && typeof c.listen.insecureNoAuth !== 'boolean') {
    throw qbgError('QBG_ERR_CONFIG', 'listen.insecureNoAuth', `must be true or false, got ${JSON.stringify(c.listen.insecureNoAuth)}`);
  }
  const { ratePerSecond, rateBurst } = c.limits;
  if (typeof ratePerSecond !== 'number' || !Number.isFinite(ratePerSecond) || ratePerSecond < 0) {
    throw qbgError('QBG_ERR_CONFIG', 'limits.ratePerSecond', `must be a number ≥ 0 (0 = no limit), got ${JSON.stringify(ratePerSecond)}`);
  }
  if (ratePerSecond > 0 && (!Number.isInteger(rateBurst) || rateBurst < 1)) {
    throw qbgError('QBG_ERR_CONFIG', 'limits.rateBurst', `must be an integer ≥ 1, got ${JSON.stringify(rateBurst)}`);
  }
  for (const r of c.remotes) {
    if (!isObject(r) || typeof r.name !== 'string' || typeof r.url !== 'string') {
      throw qbgError('QBG_ERR_CONFIG', 'remotes', 'each remote needs a name and a url');
    }
    r.ttlSeconds ??= 60;
  }
  return c;
}

/** fleet_nic_transitions are kept this many days unless fleet.transitionRetentionDays says otherwise. */
export const FLEET_TRANSITION_RETENTION_DAYS = 30;
const FLEET_DEFAULTS = { heartbeatSeconds: 5, staleSeconds: 60, catchUpSeconds: 10, backoffMaxSeconds: 10, migrationGraceSeconds: 30 };
const FLEET_FIELDS = ['postgres', 'host', 'drainBatch', 'transitionRetentionDays', ...Object.keys(FLEET_DEFAULTS)];

/** `fleet:` needs a postgres URL; everything else has a default (host: this machine's name). */
function validateFleet(input: unknown): FleetConfig {
  if (!isObject(input)) throw qbgError('QBG_ERR_CONFIG', 'fleet', 'must be a mapping like { postgres: "postgres://…", host: "hv-017" }');
  for (const k of Object.keys(input)) if (!FLEET_FIELDS.includes(k)) throw qbgError('QBG_ERR_CONFIG', `fleet.${k}`, `is not a fleet setting (allowed: ${FLEET_FIELDS.join(', ')})`);
  const f = { ...FLEET_DEFAULTS, drainBatch: 500, transitionRetentionDays: FLEET_TRANSITION_RETENTION_DAYS, host: hostname(), ...input } as Record<string, unknown>;
  if (!Number.isInteger(f.drainBatch) || (f.drainBatch as number) < 1 || (f.drainBatch as number) > 10000) {
    throw qbgError('QBG_ERR_CONFIG', 'fleet.drainBatch', `must be an integer 1–10000, got ${String(f.drainBatch)}`);
  }
  const keep = f.transitionRetentionDays;
  if (!Number.isInteger(keep) || (keep as number) < 1 || (keep as number) > 3650) {
    throw qbgError('QBG_ERR_CONFIG', 'fleet.transitionRetentionDays', `must be a whole number of days 1–3650, got ${String(keep)}`);
  }
  if (typeof f.postgres !== 'string' || !/^postgres(ql)?:\/\/./.test(f.postgres)) {
    throw qbgError('QBG_ERR_CONFIG', 'fleet.postgres', 'must be a URL postgres://user:password@host:port/database (or set QBG_FLEET_URL)');
  }
  if (typeof f.host !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(f.host)) {
    throw qbgError('QBG_ERR_CONFIG', 'fleet.host', `must be 1–64 characters of letters, digits, ".", "_" or "-", got ${String(f.host)}`);
  }
  for (const k of Object.keys(FLEET_DEFAULTS)) {
    const v = f[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 86400) throw qbgError('QBG_ERR_CONFIG', `fleet.${k}`, `must be a number of seconds > 0 and ≤ 86400, got ${String(v)}`);
  }
  return f as unknown as FleetConfig;
}

export function loadConfig(opts: { path?: string; env?: NodeJS.ProcessEnv } = {}): QbgConfig {
  const env = opts.env ?? process.env;
  const path = opts.path ?? env.QBG_CONFIG ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  let fromFile: unknown = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw qbgError('QBG_ERR_CONFIG', path, (e as Error).message);
    }
    try {
      fromFile = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw qbgError('QBG_ERR_CONFIG', path, (e as Error).message);
    }
    if (fromFile !== null && fromFile !== undefined && !isObject(fromFile)) throw qbgError('QBG_ERR_CONFIG', path, 'must be a mapping');
  }
  return validate(merge(merge(defaultConfig(), fromFile ?? {}), envOverrides(env)));
}
