// Roles and bearer tokens. Every route declares the least role it needs in its route config
// (`config: { role: 'monitor' }`); a route without one is refused for everybody (fail closed), and a test walks
// every registered route to prove it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { qbgError } from '../domain/errors.js';

export const ROLES = ['monitor', 'hook', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do: admin everything; hook associates/disassociates and reads; monitor only reads. */
const GRANTS: Record<Role, readonly Role[]> = {
  admin: ['admin', 'hook', 'monitor'],
  hook: ['hook', 'monitor'],
  monitor: ['monitor'],
};

export const PUBLIC = 'public' as const;
export type RouteRole = Role | typeof PUBLIC;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role that may call this route; 'public' for health probes and docs. */
    role?: RouteRole;
  }
  interface FastifyRequest {
    role?: Role;
  }
}

export interface TokenConfig {
  admin: string[];
  hook: string[];
  monitor: string[];
}

export function roleForToken(tokens: TokenConfig, token: string | undefined): Role | undefined {
  if (!token) return undefined;
  for (const role of ['admin', 'hook', 'monitor'] as const) if (tokens[role].includes(token)) return role;
  return undefined;
}

export function tokenFrom(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h?.startsWith('Bearer ')) return h.slice(7).trim();
  // EventSource cannot send headers: the web page passes the token as a query parameter on /events only.
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof q === 'string' ? q : undefined;
}

/**
 * With no tokens configured qbg trusts its caller (it then listens on loopback / a root-only unix socket by
 * default) and treats everybody as admin. With tokens configured every non-public route needs one.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenConfig): void {
  const open = tokens.admin.length + tokens.hook.length + tokens.monitor.length === 0;
  app.addHook('onRequest', async (req) => {
    const needed = req.routeOptions.config?.role;
    if (req.routeOptions.url === undefined) return; // 404: let fastify answer
    if (needed === PUBLIC) return;
    if (needed === undefined) throw qbgError('QBG_ERR_FORBIDDEN', 'anyone', `${req.method} ${req.routeOptions.url}`, 'a declared role');
    const role: Role | undefined = open ? 'admin' : roleForToken(tokens, tokenFrom(req));
    if (!role) throw qbgError('QBG_ERR_UNAUTHORIZED');
    if (!GRANTS[role].includes(needed)) throw qbgError('QBG_ERR_FORBIDDEN', role, `${req.method} ${req.routeOptions.url}`, needed);
    req.role = role;
  });
}
