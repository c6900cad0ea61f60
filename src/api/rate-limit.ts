// A request rate per caller: one token bucket per bearer token (or, for a caller without a token, per IP
// address). A hook fires a handful of calls per VM start, so a sane limit never bites it; a runaway script or a
// loop in an orchestrator gets 429 QBG_ERR_RATE_LIMIT with Retry-After instead of queueing work on lldpad.
// Public routes (health probes, docs) are not counted: a prober must never be told the service is unhealthy.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { qbgError } from '../domain/errors.js';
import { tokenFrom } from './auth.js';

export interface RateLimitOptions {
  /** sustained requests per second per caller (refill rate), > 0 */
  perSecond: number;
  /** bucket size: requests a caller may make at once after being idle, integer ≥ 1 */
  burst: number;
  /** buckets kept; the least recently used is forgotten beyond this (bounds memory against rotating tokens) */
  maxCallers?: number;
  /** milliseconds clock, for tests */
  now?: () => number;
}

export const RATE_LIMIT_DEFAULT_MAX_CALLERS = 10_000;

/** Token buckets keyed by caller, least recently used first (Map keeps insertion order). */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly perSecond: number,
    readonly burst: number,
    readonly maxCallers = RATE_LIMIT_DEFAULT_MAX_CALLERS,
  ) {
    if (!Number.isFinite(perSecond) || perSecond <= 0) throw qbgError('QBG_ERR_CONFIG', 'rateLimit.perSecond', `must be a number > 0, got ${perSecond}`);
    if (!Number.isInteger(burst) || burst < 1) throw qbgError('QBG_ERR_CONFIG', 'rateLimit.burst', `must be an integer ≥ 1, got ${burst}`);
    if (!Number.isInteger(maxCallers) || maxCallers < 1) throw qbgError('QBG_ERR_CONFIG', 'rateLimit.maxCallers', `must be an integer ≥ 1, got ${maxCallers}`);
  }

  /** Take one token for `key` at time `now` (ms). Refused: how long until the next token. */
  take(key: string, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const prev = this.buckets.get(key);
    // a clock that steps back (NTP) must not mint tokens: elapsed is never negative
    const elapsed = prev ? Math.max(0, now - prev.at) : 0;
    const tokens = prev ? Math.min(this.burst, prev.tokens + (elapsed * this.perSecond) / 1000) : this.burst;
    const at = prev ? Math.max(prev.at, now) : now;
    this.buckets.delete(key); // re-insert: most recently used last
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at });
      this.evict();
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at });
    return { ok: false, retryAfterMs: Math.ceil(((1 - tokens) * 1000) / this.perSecond) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    while (this.buckets.size > this.maxCallers) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/** Who is asking: the bearer token when there is one, else the peer address. */
export function callerKey(req: FastifyRequest): string {
  const token = tokenFrom(req);
  return token !== undefined ? `token:${token}` : `ip:${req.ip}`;
}

/**
 * The limiter as a fastify plugin for buildServer({ routes: [rateLimit({ perSecond, burst }), ...] }). It is not
 * encapsulated (skip-override), so its onRequest hook covers every route of the server; it runs after the auth
 * hook, so only callers with a valid token (or any caller when no tokens are configured) are counted.
 */
export function rateLimit(opts: RateLimitOptions): FastifyPluginAsync {
  const buckets = new TokenBuckets(opts.perSecond, opts.burst, opts.maxCallers);
  const now = opts.now ?? Date.now;
  const plugin: FastifyPluginAsync = async (app) => {
    app.addHook('onRequest', async (req, reply) => {
      if (req.routeOptions.url === undefined || req.routeOptions.config?.role === 'public') return;
      const r = buckets.take(callerKey(req), now());
      if (!r.ok) {
        reply.header('retry-after', String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))));
        throw qbgError('QBG_ERR_RATE_LIMIT', opts.perSecond);
      }
    });
  };
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
