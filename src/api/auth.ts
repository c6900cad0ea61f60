// Roles and bearer tokens. Every route declares the least role it needs in its route config
// (`config: { role: 'monitor' }`); a route without one is refused for everybody (fail closed), and a test walks
// every registered route to prove it.
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { fieldError, qbgError } from '../domain/errors.js';

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
    /** The route takes the token as `?token=` too: only for a stream a browser opens with EventSource, which
     *  cannot send headers. Everywhere else a token in the URL is refused (URLs end up in logs and history). */
    urlToken?: boolean;
  }
  interface FastifyRequest {
    role?: Role;
    /** The pattern of the route this request matched (/nics/:id), set by the role check; undefined for a 404. */
    routeUrl?: string;
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

// RFC 9110 §11.1: the auth scheme is case-insensitive ("bearer x", "BEARER x"); one or more spaces follow it.
const BEARER = /^bearer +(\S.*)$/i;

/** The token in the URL, if any: `?token=` (the first one when repeated). */
export function urlTokenOf(req: FastifyRequest): string | undefined {
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  const v = Array.isArray(q) ? q[0] : q;
  return typeof v === 'string' ? v : undefined;
}

/**
 * The caller's token: the Authorization header, or `?token=` on a route that takes one (see `urlToken`; when not
 * given, the route's config says, read only for a request without the header: each read of req.routeOptions builds
 * a new object).
 */
export function tokenFrom(req: FastifyRequest, urlToken?: boolean): string | undefined {
  const m = BEARER.exec(req.headers.authorization ?? '');
  if (m) return m[1].trim();
  return (urlToken ?? req.routeOptions.config?.urlToken === true) ? urlTokenOf(req) : undefined;
}

/**
 * With no tokens configured qbg trusts its caller and treats everybody as admin: it then listens only on loopback and
 * the root-only unix socket (src/service/listen-access.ts refuses anything else). With tokens configured every
 * non-public route needs one.
 *
 * The check is bound to each route as it is registered (an onRoute hook puts it first among the route's onRequest
 * hooks), with the route's role and pattern known then: a global hook has to read req.routeOptions on every request,
 * and each read builds a new object. It also records the pattern on the request (routeUrl) for the request log and
 * the request-duration metric. Routes registered before this call get no check: call it before adding any.
 * Requests that match no route (404) pass through no check; fastify answers them.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenConfig): void {
  const open = tokens.admin.length + tokens.hook.length + tokens.monitor.length === 0;
  app.decorateRequest('role', undefined);
  app.decorateRequest('routeUrl', undefined);
  app.addHook('onRoute', (route) => {
    // a new array: fastify's HEAD twin of a GET route shares the GET route's arrays and gets its own check
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [checkFor(route.url, route.config?.role, route.config?.urlToken === true), ...own];
  });

  // a callback hook (an async one adds a promise to each request): status reads are polled thousands of times a second
  function checkFor(url: string, needed: RouteRole | undefined, urlToken: boolean): onRequestHookHandler {
    return (req, _reply, done) => {
      req.routeUrl = url;
      if (needed === PUBLIC) return done();
      if (needed === undefined) return done(qbgError('QBG_ERR_FORBIDDEN', 'anyone', `${req.method} ${url}`, 'a declared role'));
      // refused in the open mode too: a client that puts its token in URLs must learn it before tokens are set
      if (!urlToken && urlTokenOf(req) !== undefined) return done(fieldError('token', 'QBG_ERR_TOKEN_IN_URL'));
      const role: Role | undefined = open ? 'admin' : roleForToken(tokens, tokenFrom(req, urlToken));
      if (!role) return done(qbgError('QBG_ERR_UNAUTHORIZED'));
      if (!GRANTS[role].includes(needed)) return done(qbgError('QBG_ERR_FORBIDDEN', role, `${req.method} ${url}`, needed));
      req.role = role;
      done();
    };
  }
}
