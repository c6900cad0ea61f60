// The per-caller rate limit (@fastify/rate-limit as qbg configures it) through fastify + inject. As a property
// over random request schedules of three callers: in any interval of L ms a caller gets at most
// burst × (⌊L / window⌋ + 2) requests through (the fixed window's bound: window = burst / perSecond s); a refused
// caller is accepted once the Retry-After it was given has passed; a caller idle for a window gets its whole burst
// whatever the others did. Then the answer itself: 429 QBG_ERR_RATE_LIMIT with Retry-After and the catalogue's
// shape, per token, per address without one, public routes never counted. Time is a fake clock (Date.now).
import t from 'tap';
import fc from 'fast-check';
import Fastify from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { registerAuth } from '../../src/api/auth.js';
import { registerRateLimit, rateLimitWindow } from '../../src/api/rate-limit.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { RUNS } from './arbitraries.js';

/** Run fn with Date.now() reading `clock.now` (the library's store keeps its windows by Date.now). */
async function withClock<T>(clock: { now: number }, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => clock.now;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

const CALLERS = ['a', 'b', 'c'] as const;

async function limitedApp(perSecond: number, burst: number, monitorTokens: string[] = []) {
  const app = Fastify();
  registerAuth(app, { admin: [], hook: [], monitor: monitorTokens });
  await registerRateLimit(app, { perSecond, burst });
  app.get('/x', { config: { role: 'monitor' } }, async () => ({ ok: true }));
  app.get('/probe', { config: { role: 'public' } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

// A server per limit setting, shared by the runs that draw it (building one costs more than a run's requests);
// each run's callers are addresses of their own, so runs cannot see each other's counts.
const apps = new Map<string, Awaited<ReturnType<typeof limitedApp>>>();
async function appFor(perSecond: number, burst: number) {
  const key = `${perSecond}/${burst}`;
  if (!apps.has(key)) apps.set(key, await limitedApp(perSecond, burst));
  return apps.get(key)!;
}
t.teardown(async () => {
  for (const app of apps.values()) await app.close();
});
let runNo = 0;

const scheduleArb = fc.record({
  perSecond: fc.constantFrom(0.1, 0.3, 1, 2.5, 7, 50, 200),
  burst: fc.constantFrom(1, 2, 3, 5, 8, 20),
  steps: fc.array(
    fc.record({
      caller: fc.constantFrom(...CALLERS),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 30_000 })),
      probe: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 60 },
  ),
});

t.test('per caller: at most burst × (⌊L/window⌋ + 2) in any L ms; Retry-After is kept; an idle caller is let in', async (t) => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(scheduleArb, async ({ perSecond, burst, steps }) => {
      const { max, timeWindowMs: w } = rateLimitWindow(perSecond, burst);
      if (max !== burst) throw new Error(`max ${max} is not the burst ${burst}`);
      const app = await appFor(perSecond, burst);
      const run = ++runNo;
      // no token (open mode): the count is per address, one per caller of this run
      const addressOf = (caller: string) => `10.${(run >> 8) & 255}.${run & 255}.${CALLERS.indexOf(caller as 'a') + 1}`;
      const clock = { now: 1_000_000 + run * 10_000_000 };
      await withClock(clock, async () => {
        const accepted: Record<string, number[]> = { a: [], b: [], c: [] };
        const promised: Record<string, number | undefined> = {};
        const last: Record<string, number | undefined> = {};
        for (const s of steps) {
          clock.now += s.advanceMs;
          const remoteAddress = addressOf(s.caller);
          if (s.probe) {
            const p = await app.inject({ url: '/probe', remoteAddress });
            if (p.statusCode !== 200) throw new Error(`public route answered ${p.statusCode}`);
          }
          const r = await app.inject({ url: '/x', remoteAddress });
          // a caller's first request, or its first after a whole window without any, opens a fresh window
          const idle = last[s.caller] === undefined || clock.now - last[s.caller]! >= w;
          last[s.caller] = clock.now;
          if (r.statusCode === 200) {
            accepted[s.caller].push(clock.now);
            promised[s.caller] = undefined;
            continue;
          }
          if (r.statusCode !== 429) throw new Error(`answered ${r.statusCode}: ${r.body}`);
          if (promised[s.caller] !== undefined && clock.now >= promised[s.caller]!) throw new Error('refused after the Retry-After it was given');
          if (idle) throw new Error(`refused after ${w} ms idle`);
          const retryAfter = Number(r.headers['retry-after']);
          if (!Number.isInteger(retryAfter) || retryAfter < 1 || retryAfter > Math.ceil(w / 1000)) throw new Error(`Retry-After ${r.headers['retry-after']} (window ${w} ms)`);
          promised[s.caller] = clock.now + retryAfter * 1000;
        }
        for (const times of Object.values(accepted)) {
          for (let i = 0; i < times.length; i++) {
            for (let j = i; j < times.length; j++) {
              const bound = burst * (Math.floor((times[j] - times[i]) / w) + 2);
              if (j - i + 1 > bound) throw new Error(`${j - i + 1} accepted in ${times[j] - times[i]} ms (burst ${burst}, window ${w} ms)`);
              checked++;
            }
          }
        }
      });
    }),
    { numRuns: RUNS },
  );
  t.ok(checked > 0, `${checked} intervals checked`);
});

t.test('an idle caller gets its whole burst, then one refusal, whatever the other callers spent', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 20 }), fc.array(fc.constantFrom('b', 'c'), { maxLength: 40 }), async (perSecond, burst, others) => {
      const app = await limitedApp(perSecond, burst, [...CALLERS]);
      const { timeWindowMs: w } = rateLimitWindow(perSecond, burst);
      const clock = { now: 5_000_000 };
      const get = async (caller: string) => (await app.inject({ url: '/x', headers: { authorization: `Bearer ${caller}` } })).statusCode;
      try {
        await withClock(clock, async () => {
          for (const o of others) await get(o);
          for (let i = 0; i < burst; i++) if ((await get('a')) !== 200) throw new Error(`burst request ${i + 1} refused`);
          if ((await get('a')) !== 429) throw new Error('request beyond the burst accepted');
          clock.now += w;
          for (let i = 0; i < burst; i++) if ((await get('a')) !== 200) throw new Error(`after a window idle, request ${i + 1} refused`);
        });
      } finally {
        await app.close();
      }
    }),
    { numRuns: Math.ceil(RUNS / 10) },
  );
  t.pass();
});

t.test('the knobs map onto the window and bad values are refused naming them', async (t) => {
  t.same(rateLimitWindow(200, 1000), { max: 1000, timeWindowMs: 5000 }, 'the defaults: 1000 per 5 s');
  t.same(rateLimitWindow(1, 3), { max: 3, timeWindowMs: 3000 });
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => rateLimitWindow(bad, 1), { code: 'QBG_ERR_CONFIG', message: /limits\.ratePerSecond/ }, `perSecond ${bad}`);
  }
  for (const bad of [0, 1.5, -3]) t.throws(() => rateLimitWindow(1, bad), { code: 'QBG_ERR_CONFIG', message: /limits\.rateBurst/ }, `burst ${bad}`);
  const app = Fastify();
  await t.rejects(registerRateLimit(app, { perSecond: 0, burst: 1 }), { code: 'QBG_ERR_CONFIG' }, 'registering validates too');
  await app.close();
});

t.test('429 QBG_ERR_RATE_LIMIT with Retry-After per token; other tokens and public routes unaffected', async (t) => {
  const clock = { now: 0 };
  const types = new TypeService(openDatabase(':memory:'));
  const app = await buildServer({
    routes: [typesRoutes({ types }), healthRoutes({ storeOk: () => true, lldpadPing: async () => ({ ok: true }), uplinks: () => [], evbUp: async () => true })],
    logLevel: 'silent',
    tokens: { admin: ['adm'], hook: [], monitor: ['mon1', 'mon2'] },
    rateLimit: { perSecond: 2, burst: 3 },
  });
  t.teardown(() => app.close());
  const get = (token: string, url = '/types') => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  await withClock(clock, async () => {
    for (let i = 0; i < 3; i++) t.equal((await get('mon1')).statusCode, 200, `burst request ${i + 1}`);
    const limited = await get('mon1');
    t.equal(limited.statusCode, 429);
    t.same(Object.keys(limited.json()).sort(), ['code', 'error', 'field', 'statusCode'], 'the documented error shape');
    t.match(limited.json(), { statusCode: 429, code: 'QBG_ERR_RATE_LIMIT', field: 'authorization', error: /this token: at most 3 per 1\.5 s.*retry in 2 s/ });
    t.equal(limited.headers['retry-after'], '2', 'the window (1.5 s) ends in 2 s, rounded up');
    t.equal((await get('mon2')).statusCode, 200, 'another token has its own count');
    for (let i = 0; i < 5; i++) t.equal((await get('mon1', '/healthz')).statusCode, 200, 'public routes are neither counted nor limited');
    t.equal((await app.inject({ method: 'GET', url: '/types' })).statusCode, 401, 'no token: auth answers first');
    t.equal((await get('nobody')).statusCode, 401, 'an unknown token is refused by auth, not counted');
    clock.now += 1499;
    t.equal((await get('mon1')).statusCode, 429, 'still inside the window');
    clock.now += 1;
    t.equal((await get('mon1')).statusCode, 200, 'a new window');
  });
});

t.test('without a token the count is per address', async (t) => {
  const clock = { now: 0 };
  const types = new TypeService(openDatabase(':memory:'));
  const app = await buildServer({ routes: [typesRoutes({ types })], logLevel: 'silent', rateLimit: { perSecond: 1, burst: 2 } });
  t.teardown(() => app.close());
  const from = (remoteAddress: string) => app.inject({ method: 'GET', url: '/types', remoteAddress });
  await withClock(clock, async () => {
    t.same([(await from('192.0.2.1')).statusCode, (await from('192.0.2.1')).statusCode], [200, 200]);
    const r = await from('192.0.2.1');
    t.equal(r.statusCode, 429);
    t.match(r.json(), { code: 'QBG_ERR_RATE_LIMIT', field: 'ip', error: /address 192\.0\.2\.1/ });
    t.ok(r.headers['retry-after'], 'Retry-After');
    t.equal((await from('192.0.2.2')).statusCode, 200, 'another address has its own count');
  });
});
