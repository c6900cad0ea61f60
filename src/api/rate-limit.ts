// A request rate per caller, kept by @fastify/rate-limit: one counter per bearer token (or, for a caller without a
// token, per IP address). A hook fires a handful of calls per VM start, so a sane limit never bites it; a runaway
// script or a loop in an orchestrator gets 429 QBG_ERR_RATE_LIMIT with Retry-After instead of queueing work on
// lldpad. Public routes (health probes, docs) are not counted: a prober must never be told the service is unhealthy.
//
// The library counts in fixed windows, not a token bucket: qbg's two knobs map onto it as `burst` requests per
// window of burst / perSecond seconds, the same sustained rate and the same burst after an idle spell. A caller
// may get up to 2 × burst through around a window's end; a limit against runaways, not a meter, can live with that.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import { fieldError, qbgError } from '../domain/errors.js';
import { PUBLIC, tokenFrom } from './auth.js';

export interface RateLimitOptions {
  /** sustained requests per second per caller, > 0 */
  perSecond: number;
  /** requests a caller may make at once after being idle, integer ≥ 1 */
  burst: number;
  /** callers remembered (least recently used forgotten beyond this: bounds memory against rotating tokens) */
  maxCallers?: number;
}

export const RATE_LIMIT_DEFAULT_MAX_CALLERS = 10_000;

/** The library's window for qbg's knobs: `max` requests per `timeWindowMs`. */
export function rateLimitWindow(perSecond: number, burst: number): { max: number; timeWindowMs: number } {
  if (!Number.isFinite(perSecond) || perSecond <= 0) throw qbgError('QBG_ERR_CONFIG', 'limits.ratePerSecond', `must be a number > 0 (0 turns the limit off), got ${perSecond}`);
  if (!Number.isInteger(burst) || burst < 1) throw qbgError('QBG_ERR_CONFIG', 'limits.rateBurst', `must be an integer ≥ 1, got ${burst}`);
  return { max: burst, timeWindowMs: Math.max(1, Math.ceil((burst * 1000) / perSecond)) };
}

/** Who is asking: the bearer token when there is one, else the peer address. */
export function callerKey(req: FastifyRequest): string {
  const token = tokenFrom(req);
  return token !== undefined ? `token:${token}` : `ip:${req.ip}`;
}

/**
 * Install the limiter on every route registered after this call. Its hooks are route-level onRequest hooks, which
 * fastify runs after the server's own (the auth check): a request with an unknown token gets 401 and is not counted.
 */
export async function registerRateLimit(app: FastifyInstance, opts: RateLimitOptions): Promise<void> {
  const maxCallers = opts.maxCallers ?? RATE_LIMIT_DEFAULT_MAX_CALLERS;
  if (!Number.isInteger(maxCallers) || maxCallers < 1) throw qbgError('QBG_ERR_CONFIG', 'rateLimit.maxCallers', `must be an integer ≥ 1, got ${maxCallers}`);
  const { max, timeWindowMs } = rateLimitWindow(opts.perSecond, opts.burst);
  // Public routes get no limiter hook at all (the library's per-route opt-out, read once as each route is added;
  // this hook runs before the library's own, added below): an allowList function would run on every request and
  // read req.routeOptions, a new object at each read.
  app.addHook('onRoute', (route) => {
    if (route.config?.role === PUBLIC) route.config = { ...route.config, rateLimit: false };
  });
  await app.register(fastifyRateLimit, {
    max,
    timeWindow: timeWindowMs,
    cache: maxCallers,
    keyGenerator: callerKey,
    errorResponseBuilder: (req, ctx) => {
      // field: what the counter is keyed on, the caller's token or address
      const byToken = tokenFrom(req) !== undefined;
      const who = byToken ? 'this token' : `address ${req.ip}`;
      return fieldError(byToken ? 'authorization' : 'ip', 'QBG_ERR_RATE_LIMIT', who, ctx.max, timeWindowMs / 1000, Math.ceil(ctx.ttl / 1000));
    },
  });
}
