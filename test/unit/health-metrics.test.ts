import t from 'tap';
import type { FastifyPluginAsync } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { healthRoutes, type ReadinessDeps } from '../../src/api/health-routes.js';
import { metricsRoutes } from '../../src/api/metrics-routes.js';
import { createMetrics, instrumentAssociator, nicCountsFromDb } from '../../src/service/metrics.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { nicId } from '../../src/domain/nic.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';
import { TransitionBus, type NicTransition } from '../../src/service/transition-bus.js';
import type { VsiAssociator, VsiEvent, VsiOutcome, VsiRequest } from '../../src/domain/vsi-request.js';

const tokens = { admin: ['adm'], hook: ['hk'], monitor: ['mon'] };

/** A metric sample's value from the exposition text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function readiness(over: Partial<ReadinessDeps> = {}): ReadinessDeps {
  return {
    storeOk: () => true,
    lldpadPing: async () => ({ ok: true, pid: 4242 }),
    uplinks: () => ['s0', 's1'],
    evbUp: async () => true,
    checkTimeoutMs: 200,
    ...over,
  };
}

t.test('healthz is public and readyz names the failing checks', async (t) => {
  let lldpadOk = true;
  let evbDown = new Set<string>();
  let storeThrows = false;
  const app = await buildServer({
    logLevel: 'silent',
    tokens,
    routes: [
      healthRoutes(
        readiness({
          storeOk: () => {
            if (storeThrows) throw new Error('SQLITE_CORRUPT');
            return true;
          },
          lldpadPing: async () => ({ ok: lldpadOk, pid: lldpadOk ? 4242 : undefined }),
          evbUp: async (u) => !evbDown.has(u),
          version: '0.1.0',
        }),
      ),
    ],
  });
  t.teardown(() => app.close());

  const h = await app.inject({ url: '/healthz' });
  t.equal(h.statusCode, 200, 'no token needed');
  t.equal(h.json().status, 'ok');
  t.equal(h.json().version, '0.1.0');

  let r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 200);
  t.same(r.json().failing, []);
  t.same(r.json().checks.map((c: { name: string }) => c.name), ['store', 'lldpad', 'evb:s0', 'evb:s1']);
  t.match(r.json().checks[1], { name: 'lldpad', ok: true, detail: 'pid 4242' });

  lldpadOk = false;
  evbDown = new Set(['s1']);
  r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 503);
  t.equal(r.json().status, 'not-ready');
  t.same(r.json().failing, ['lldpad', 'evb:s1']);

  lldpadOk = true;
  evbDown = new Set();
  storeThrows = true;
  r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 503);
  t.same(r.json().failing, ['store']);
  t.match(r.json().checks[0].detail, /SQLITE_CORRUPT/);
});

t.test('a readiness check that never answers fails by its time limit instead of hanging the probe', async (t) => {
  const app = await buildServer({
    logLevel: 'silent',
    routes: [healthRoutes(readiness({ lldpadPing: () => new Promise(() => {}), checkTimeoutMs: 50 }))],
  });
  t.teardown(() => app.close());
  const r = await app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 503);
  t.same(r.json().failing, ['lldpad']);
  t.match(r.json().checks[1].detail, /no answer within 50 ms/);
});

t.test('metrics: own registry, NIC gauge, bus counters, VDP outcomes, HTTP durations, monitor role', async (t) => {
  let counts: Record<string, number> = { associated: 3, failed: 1 };
  const metrics = createMetrics({ nicCountsByState: () => counts, processMetrics: false });
  const bus = new TransitionBus();
  metrics.attach(bus);

  // a stand-in lldpad transport: the instrumented wrapper is what is tested
  const eventListeners: Array<(e: VsiEvent) => void> = [];
  const outcomes: VsiOutcome[] = [
    { kind: 'accepted', mode: 'assoc', latencyMs: 7 },
    { kind: 'rejected', reasonCode: 3, reason: 'insufficient resources', latencyMs: 9 },
    { kind: 'timeout', afterMs: 10_000 },
    { kind: 'transport-error', message: 'ECONNREFUSED' },
  ];
  let lldpadAnswers = true;
  const transport: VsiAssociator = {
    request: async () => outcomes.shift()!,
    query: async () => undefined,
    onEvent: (l) => {
      eventListeners.push(l);
      return () => {};
    },
    ping: async () => ({ ok: lldpadAnswers }),
    close: async () => {},
  };
  const associator = instrumentAssociator(transport, metrics);
  const req = { mode: 'assoc' } as VsiRequest;
  for (let i = 0; i < 4; i++) await associator.request(req);
  for (const l of eventListeners) l({ kind: 'lost', instanceUuid: 'x', at: new Date().toISOString() });

  const tr = (to: string, cause: string, seq: number): NicTransition => ({
    kind: 'nic-transition', seq, nicId: 'n1', vmUuid: 'v', mac: '52:54:00:00:00:01', uplink: 's0', from: 'associating', to, cause, at: new Date().toISOString(),
  });
  bus.publish(tr('associated', 'lldpad-answer', 1));
  bus.publish(tr('lost', 'keepalive-lost', 2));
  bus.publish({ kind: 'lldpad-restarted', detail: { pid: 9 }, at: new Date().toISOString() });
  bus.publish({ kind: 'reconcile-finished', detail: {}, at: new Date().toISOString() });
  bus.publish({ kind: 'reconcile-finished', detail: {}, at: new Date().toISOString() });

  const probe: FastifyPluginAsync = async (app) => {
    app.get('/nics/:id', { config: { role: 'monitor' } }, async () => ({ ok: true }));
  };
  const app = await buildServer({ logLevel: 'silent', tokens, routes: [metricsRoutes({ metrics }), probe], observeRequest: (m, r, s, sec) => metrics.observeHttp(m, r, s, sec) });
  t.teardown(() => app.close());

  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401, 'needs a token');
  await app.inject({ url: '/nics/a', headers: { authorization: 'Bearer mon' } });
  await app.inject({ url: '/nics/b', headers: { authorization: 'Bearer mon' } });
  await app.inject({ url: '/nics/c' }); // 401: counted under its route too
  await app.inject({ method: 'HEAD', url: '/nics/d', headers: { authorization: 'Bearer mon' } });
  await app.inject({ url: '/no/such/route', headers: { authorization: 'Bearer mon' } }); // 404: no series

  let res = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer mon' } });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain; version=0\.0\.4/);
  let text = res.body;
  t.equal(sample(text, 'qbg_nics{state="associated"}'), 3);
  t.equal(sample(text, 'qbg_nics{state="failed"}'), 1);
  t.equal(sample(text, 'qbg_vdp_request_duration_seconds_count{mode="assoc",outcome="accepted"}'), 1);
  t.equal(sample(text, 'qbg_vdp_request_duration_seconds_bucket{le="0.01",mode="assoc",outcome="accepted"}'), 1, '7 ms lands in the 10 ms bucket');
  t.equal(sample(text, 'qbg_vdp_request_duration_seconds_bucket{le="0.005",mode="assoc",outcome="accepted"}'), 0);
  t.equal(sample(text, 'qbg_vdp_failures_total{reason="insufficient resources"}'), 1);
  t.equal(sample(text, 'qbg_vdp_failures_total{reason="timeout"}'), 1);
  t.equal(sample(text, 'qbg_vdp_failures_total{reason="transport-error"}'), 1);
  t.equal(sample(text, 'qbg_vdp_failures_total{reason="lost"}'), 1);
  t.equal(sample(text, 'qbg_nic_transitions_total{to="lost",cause="keepalive-lost"}'), 1);
  t.equal(sample(text, 'qbg_lldpad_restarts_total'), 1);
  t.equal(sample(text, 'qbg_reconcile_runs_total'), 2);
  t.equal(sample(text, 'qbg_http_request_duration_seconds_count{method="GET",route="/nics/:id",status_code="200"}'), 2, 'labelled by route pattern');
  t.equal(sample(text, 'qbg_http_request_duration_seconds_count{method="GET",route="/nics/:id",status_code="401"}'), 1, 'a refused request is counted');
  t.equal(sample(text, 'qbg_http_request_duration_seconds_count{method="HEAD",route="/nics/:id",status_code="200"}'), 1, "fastify's HEAD twin of a GET route is counted");
  t.notMatch(text, /no\/such\/route|status_code="404"/, 'a URL that matches no route makes no series');
  t.equal(sample(text, 'qbg_process_cpu_seconds_total'), undefined, 'process metrics off as asked');

  t.equal(sample(text, 'qbg_lldpad_up'), 1, 'pinged at scrape time');
  lldpadAnswers = false;
  text = (await app.inject({ url: '/metrics', headers: { authorization: 'Bearer mon' } })).body;
  t.equal(sample(text, 'qbg_lldpad_up'), 0);

  counts = { associated: 2 };
  text = (await app.inject({ url: '/metrics', headers: { authorization: 'Bearer mon' } })).body;
  t.equal(sample(text, 'qbg_nics{state="associated"}'), 2);
  t.equal(sample(text, 'qbg_nics{state="failed"}'), 0, 'a state that emptied reads 0 rather than vanishing');

  res = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer hk' } });
  t.equal(res.statusCode, 200, 'hook role includes monitor');

  const other = createMetrics({ processMetrics: true });
  const otherText = (await other.exposition()).body;
  t.equal(sample(otherText, 'qbg_reconcile_runs_total'), 0, 'a second instance has its own registry');
  t.ok(otherText.includes('qbg_process_cpu_seconds_total'), 'process metrics with the qbg_ prefix');
});

t.test('NIC gauge straight from the store', async (t) => {
  const db = openDatabase(':memory:');
  const repo = new NicRepo(db);
  const vmUuid = '44444444-4444-4444-8444-444444444444';
  for (let i = 1; i <= 3; i++) {
    const mac = `52:54:00:00:01:0${i}`;
    const params = {
      vmUuid, mac, uplink: 'eth0', typeName: 'web', typeId: 7, typeIdVersion: 1, managerId2: '0'.repeat(30) + '10',
      filterFormat: 'vlan-mac' as const, vlan: 10, instanceUuid: stableInstanceId(vmUuid, mac),
    };
    repo.applyEvent(nicId(vmUuid, mac), { event: 'request-assoc', cause: 'api', params, desiredMode: 'assoc' });
    if (i < 3) repo.applyEvent(nicId(vmUuid, mac), { event: 'answer-accepted', cause: 'lldpad-answer' });
  }
  const metrics = createMetrics({ nicCountsByState: nicCountsFromDb(db), processMetrics: false });
  const text = (await metrics.exposition()).body;
  t.equal(sample(text, 'qbg_nics{state="associated"}'), 2);
  t.equal(sample(text, 'qbg_nics{state="associating"}'), 1);
});
