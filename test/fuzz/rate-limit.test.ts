// The per-token rate limiter on its own: the token-bucket bound as a property over random request schedules
// (never more than burst + rate × elapsed accepted per caller, callers independent, a refused caller is accepted
// again once the promised Retry-After has passed), and the fastify plugin through buildServer + inject (429
// QBG_ERR_RATE_LIMIT with Retry-After, per token, public routes never counted). Time is a fake clock.
import t from 'tap';
import fc from 'fast-check';
import { buildServer } from '../../src/api/server.js';
import { rateLimit, TokenBuckets } from '../../src/api/rate-limit.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { isQbgError } from '../../src/domain/errors.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { RUNS } from './arbitraries.js';

const scheduleArb = fc.record({
  perSecond: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0.1, max: 50, noNaN: true })),
  burst: fc.integer({ min: 1, max: 50 }),
  steps: fc.array(fc.record({ caller: fc.constantFrom('a', 'b', 'c'), advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2000 })) }), { minLength: 1, maxLength: 300 }),
});

t.test('token bucket: accepted ≤ burst + rate × elapsed for every caller and window; refusals keep their promise', async (t) => {
  fc.assert(
    fc.property(scheduleArb, ({ perSecond, burst, steps }) => {
      const b = new TokenBuckets(perSecond, burst);
      let now = 1_000_000;
      const accepted: Record<string, number[]> = { a: [], b: [], c: [] };
      const promised: Record<string, number | undefined> = {};
      for (const s of steps) {
        now += s.advanceMs;
        const r = b.take(s.caller, now);
        if (r.ok) accepted[s.caller].push(now);
        else {
          if (!(r.retryAfterMs > 0) || r.retryAfterMs > Math.ceil(1000 / perSecond)) throw new Error(`retryAfterMs ${r.retryAfterMs}`);
          // a caller refused must not have been promised a token already available
          if (promised[s.caller] !== undefined && now >= promised[s.caller]!) throw new Error('refused after the promised time');
          promised[s.caller] = now + r.retryAfterMs;
        }
        if (r.ok) promised[s.caller] = undefined;
      }
      for (const times of Object.values(accepted)) {
        // every window [times[i], times[j]]: j - i + 1 requests in (times[j] - times[i]) ms
        for (let i = 0; i < times.length; i++) {
          for (let j = i; j < times.length; j++) {
            const allowed = burst + ((times[j] - times[i]) * perSecond) / 1000 + 1e-9;
            if (j - i + 1 > allowed) throw new Error(`${j - i + 1} accepted in ${times[j] - times[i]} ms (burst ${burst}, ${perSecond}/s)`);
          }
        }
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

t.test('token bucket: a refused caller waiting retryAfterMs is accepted; an idle caller gets its whole burst', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 20 }), (perSecond, burst) => {
      const b = new TokenBuckets(perSecond, burst);
      let now = 0;
      for (let i = 0; i < burst; i++) if (!b.take('x', now).ok) throw new Error(`burst request ${i + 1} refused`);
      const r = b.take('x', now);
      if (r.ok) throw new Error('request beyond the burst accepted');
      now += r.retryAfterMs;
      if (!b.take('x', now).ok) throw new Error('refused after waiting retryAfterMs');
      if (!b.take('y', now).ok) throw new Error('another caller was limited too');
      now += 3_600_000;
      for (let i = 0; i < burst; i++) if (!b.take('x', now).ok) throw new Error('an idle caller did not get its burst back');
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

t.test('token bucket: a clock stepping back mints nothing; memory is bounded by maxCallers', async (t) => {
  const b = new TokenBuckets(1, 2, 100);
  t.ok(b.take('x', 10_000).ok);
  t.ok(b.take('x', 10_000).ok);
  t.notOk(b.take('x', 5_000).ok, 'going back in time gives no tokens');
  t.notOk(b.take('x', 10_500).ok, 'nor does coming back to where it was');
  for (let i = 0; i < 1000; i++) b.take(`caller-${i}`, 0);
  t.equal(b.size, 100);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new TokenBuckets(bad, 1), { code: 'QBG_ERR_CONFIG' }, `perSecond ${bad}`);
  }
  for (const bad of [0, 1.5, -3]) t.throws(() => new TokenBuckets(1, bad), { code: 'QBG_ERR_CONFIG' }, `burst ${bad}`);
  t.ok(isQbgError((() => { try { rateLimit({ perSecond: 0, burst: 1 }); } catch (e) { return e; } })()), 'the plugin factory validates too');
});

t.test('plugin: 429 QBG_ERR_RATE_LIMIT with Retry-After per token; other tokens and public routes unaffected', async (t) => {
  let now = 0;
  const types = new TypeService(openDatabase(':memory:'));
  const app = await buildServer({
    routes: [rateLimit({ perSecond: 2, burst: 3, now: () => now }), typesRoutes({ types }), healthRoutes({ storeOk: () => true, lldpadPing: async () => ({ ok: true }), uplinks: () => [], evbUp: async () => true })],
    logLevel: 'silent',
    tokens: { admin: ['adm'], hook: [], monitor: ['mon1', 'mon2'] },
  });
  t.teardown(() => app.close());
  const get = (token: string, url = '/types') => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < 3; i++) t.equal((await get('mon1')).statusCode, 200, `burst request ${i + 1}`);
  const limited = await get('mon1');
  t.equal(limited.statusCode, 429);
  t.match(limited.json(), { statusCode: 429, code: 'QBG_ERR_RATE_LIMIT', error: /limit 2 per second/ });
  t.equal(limited.headers['retry-after'], '1');
  t.equal((await get('mon2')).statusCode, 200, 'another token has its own bucket');
  t.equal((await get('mon1', '/healthz')).statusCode, 200, 'public routes are not counted');
  t.equal((await app.inject({ method: 'GET', url: '/types' })).statusCode, 401, 'no token: auth answers first');
  now += 500;
  t.equal((await get('mon1')).statusCode, 200, 'one token back after 1/rate s');
  t.equal((await get('mon1')).statusCode, 429);
});
