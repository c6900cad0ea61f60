// With no tokens configured qbg treats every caller as admin. That is safe only where every caller is the host's
// own admin: loopback and the root-only unix socket. Listening anywhere else without tokens is refused at start,
// unless a lab says so explicitly (listen.insecureNoAuth), and then it is logged as a warning.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { qbgError } from '../domain/errors.js';
import type { QbgConfig } from '../config.js';

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. The unspecified addresses (0.0.0.0, ::) are every address. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(a)?.[1];
  if (v4 !== undefined && isIP(v4) === 4) return v4.startsWith('127.');
  return a === '::1' || a === '0:0:0:0:0:0:0:1';
}

/** The addresses a listen host stands for: fastify listens on every address a name resolves to. */
export async function addressesOf(host: string): Promise<string[]> {
  if (host === '') return ['::']; // node listens on the unspecified address
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch (e) {
    throw qbgError('QBG_ERR_CONFIG', 'listen.host', `cannot resolve ${host}: ${(e as Error).message}`);
  }
}

export function tokensConfigured(config: QbgConfig): boolean {
  return config.tokens.admin.length + config.tokens.hook.length + config.tokens.monitor.length > 0;
}

/**
 * Whether qbg may listen on these addresses with the configured tokens: throws the one-line refusal, or returns a
 * warning to log when a lab opted out. Callers check the resolved host before listening and the bound addresses after.
 */
export function checkListenAccess(config: QbgConfig, addresses: string[]): { warning?: string } {
  if (tokensConfigured(config)) return {};
  const exposed = addresses.length === 0 ? ['(none resolved)'] : addresses.filter((a) => !isLoopback(a));
  if (exposed.length === 0) return {};
  const where = exposed.join(', ');
  if (config.listen.insecureNoAuth === true) {
    return { warning: `listening on ${where} with no tokens: anyone who can reach it is admin (listen.insecureNoAuth is set; never do this outside a closed lab)` };
  }
  throw qbgError(
    'QBG_ERR_CONFIG',
    'listen.host',
    `${config.listen.host} is not a loopback address and no tokens are configured: set tokens (QBG_ADMIN_TOKENS / tokens.admin, …), listen on 127.0.0.1 or the unix socket, or for a closed lab set listen.insecureNoAuth: true (QBG_INSECURE_NO_AUTH=1)`,
  );
}

/** An address fastify bound, as a URL a client can use the host part of. */
export function listenUrl(a: { address: string; family: string; port: number }): string {
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}
