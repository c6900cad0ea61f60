// How a hook finds qbg. libvirt runs hooks with an almost empty environment, so the settings live in a small JSON
// file written by `qbg hook install` (default /etc/qbg/hook.json, mode 0600: it may hold a token); environment
// variables override it (tests, manual runs).
import { readFileSync } from 'node:fs';
import { qbgError } from '../domain/errors.js';
import { parseIfname } from '../domain/identifiers.js';

export const DEFAULT_HOOK_CONFIG = '/etc/qbg/hook.json';

export interface HookConfig {
  /** Base URL of the local qbg. */
  url: string;
  token?: string;
  /** What to do when qbg cannot be reached (down, timeout, 5xx): fail the VM start, or let it through with a warning. */
  onQbgDown: 'fail' | 'allow';
  /** Time limit of the reachability check before anything else. */
  connectTimeoutMs: number;
  /** Time limit of one association request: lldpad may take up to ~10 s to answer. */
  requestTimeoutMs: number;
  /** Uplink for NICs whose XML does not name one (type='network' NICs: the network decides the device). */
  defaultUplink?: string;
}

const KEYS = ['url', 'token', 'tokenFile', 'onQbgDown', 'connectTimeoutMs', 'requestTimeoutMs', 'defaultUplink'];

function intIn(v: unknown, name: string, min: number, max: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw qbgError('QBG_ERR_CONFIG', name, `must be an integer ${min}–${max}, got ${String(v)}`);
  return n;
}

export function loadHookConfig(path: string | undefined, env: NodeJS.ProcessEnv): HookConfig {
  const file = env.QBG_HOOK_CONFIG ?? path ?? DEFAULT_HOOK_CONFIG;
  let raw: Record<string, unknown> = {};
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw qbgError('QBG_ERR_CONFIG', file, (e as Error).message);
  }
  if (text !== undefined) {
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw qbgError('QBG_ERR_CONFIG', file, (e as Error).message);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw qbgError('QBG_ERR_CONFIG', file, 'must be a JSON object');
    for (const k of Object.keys(raw)) if (!KEYS.includes(k)) throw qbgError('QBG_ERR_CONFIG', `${file}: ${k}`, `unknown key (allowed: ${KEYS.join(', ')})`);
  }
  const url = env.QBG_URL ?? (raw.url as string | undefined) ?? 'http://127.0.0.1:8021';
  try {
    new URL(url);
  } catch {
    throw qbgError('QBG_ERR_CONFIG', 'url', `must be a URL like http://127.0.0.1:8021, got ${url}`);
  }
  let token = env.QBG_TOKEN ?? (raw.token as string | undefined);
  if (token === undefined && typeof raw.tokenFile === 'string') {
    try {
      token = readFileSync(raw.tokenFile, 'utf8').trim();
    } catch (e) {
      throw qbgError('QBG_ERR_CONFIG', 'tokenFile', (e as Error).message);
    }
  }
  const onQbgDown = env.QBG_HOOK_ON_QBG_DOWN ?? raw.onQbgDown ?? 'fail';
  if (onQbgDown !== 'fail' && onQbgDown !== 'allow') throw qbgError('QBG_ERR_CONFIG', 'onQbgDown', `must be fail or allow, got ${String(onQbgDown)}`);
  const cfg: HookConfig = {
    url,
    onQbgDown,
    connectTimeoutMs: intIn(env.QBG_HOOK_CONNECT_TIMEOUT_MS ?? raw.connectTimeoutMs ?? 2000, 'connectTimeoutMs', 50, 60_000),
    requestTimeoutMs: intIn(env.QBG_HOOK_TIMEOUT_MS ?? raw.requestTimeoutMs ?? 20_000, 'requestTimeoutMs', 100, 300_000),
  };
  if (token) cfg.token = token;
  const uplink = env.QBG_HOOK_DEFAULT_UPLINK ?? raw.defaultUplink;
  if (uplink !== undefined) cfg.defaultUplink = parseIfname(uplink, 'defaultUplink');
  return cfg;
}
