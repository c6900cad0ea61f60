// The composed service: every route declares its role, the store persists uplink configs, and the service starts
// and stops cleanly on an embedded database with no other setup.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type QbgConfig } from '../../src/config.js';
import { createService } from '../../src/service/app.js';
import { openDatabase } from '../../src/store/db.js';
import { SqliteUplinkConfigStore } from '../../src/store/uplink-repo.js';
import { parseUplinkConfig } from '../../src/domain/evb-config.js';

function testConfig(over: Partial<QbgConfig> = {}): QbgConfig {
  const c = defaultConfig();
  c.dbPath = join(mkdtempSync(join(tmpdir(), 'qbg-app-')), 'qbg.db');
  c.listen.port = 0;
  c.logLevel = 'silent';
  // a namespace that does not exist: the service must still start and report lldpad as unreachable
  c.lldpad.netns = 'qbg-no-such-ns';
  return { ...c, ...over };
}

t.test('every route of the composed service declares a role (fail closed otherwise)', async (t) => {
  const svc = await createService(testConfig());
  t.teardown(() => svc.stop());
  const routes = svc.app.registeredRoutes.filter((r) => r.method !== 'HEAD');
  t.ok(routes.length > 25, `found ${routes.length} routes`);
  for (const r of routes) {
    t.ok(r.role && ['public', 'monitor', 'hook', 'admin'].includes(r.role), `${r.method} ${r.url} declares role ${r.role}`);
  }
  const publicRoutes = routes.filter((r) => r.role === 'public').map((r) => r.url);
  t.ok(publicRoutes.every((u) => u.startsWith('/docs') || ['/healthz', '/readyz'].includes(u) || u.startsWith('/ui')), `only docs, probes and the page are public: ${publicRoutes.join(' ')}`);
});

t.test('with tokens set, every route that is not public refuses a caller without one, and a monitor where it needs more', async (t) => {
  // the role check is bound to each route as it is registered: a route it missed would answer here
  const svc = await createService(testConfig({ tokens: { admin: ['adm'], hook: [], monitor: ['mon'] } }));
  t.teardown(() => svc.stop());
  const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, 'x').replace(/\*/g, 'x');
  const guarded = svc.app.registeredRoutes.filter((r) => r.role !== 'public');
  t.ok(guarded.length > 25, `${guarded.length} routes (HEAD twins included)`);
  for (const r of guarded) {
    const method = r.method as 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'PATCH';
    const anon = await svc.app.inject({ method, url: concrete(r.url) });
    t.equal(anon.statusCode, 401, `${r.method} ${r.url} without a token`);
    if (r.role === 'admin' || r.role === 'hook') {
      const mon = await svc.app.inject({ method, url: concrete(r.url), headers: { authorization: 'Bearer mon' } });
      t.equal(mon.statusCode, 403, `${r.method} ${r.url} as monitor (needs ${r.role})`);
    }
  }
});

t.test('starts on an empty embedded database and answers health, types, docs', async (t) => {
  const svc = await createService(testConfig());
  const [url] = await svc.start();
  t.teardown(() => svc.stop());
  const health = await fetch(`${url}/healthz`);
  t.equal(health.status, 200);
  const ready = await fetch(`${url}/readyz`);
  t.equal(ready.status, 503, 'lldpad unreachable → not ready');
  t.match(await ready.json(), { failing: ['lldpad'] });
  const types = await fetch(`${url}/types`);
  t.equal(types.status, 200);
  const docs = await fetch(`${url}/docs/json`);
  t.match(await docs.json(), { openapi: /^3\./, paths: { '/types': {}, '/uplinks': {}, '/xml/interface': {} } });
});

t.test('uplink configs persist in SQLite and configured uplinks seed the store', async (t) => {
  const cfg = testConfig({ uplinks: [{ uplink: 'eth7', ecpRte: 9 }] });
  const svc = await createService(cfg);
  await svc.stop();
  const db = openDatabase(cfg.dbPath);
  t.teardown(() => db.close());
  const store = new SqliteUplinkConfigStore(db);
  t.match(store.get('eth7'), { uplink: 'eth7', ecpRte: 9, role: 'station' });
  store.put(parseUplinkConfig({ uplink: 'eth8', gpid: true }));
  t.same(store.list().map((u) => u.uplink), ['eth7', 'eth8']);
  t.equal(store.delete('eth8'), true);
  t.equal(store.delete('eth8'), false);
  t.equal(store.get('eth8'), undefined);
});

t.test('with tokens configured the per-token rate limit is on (429 naming the limit); without tokens it is off', async (t) => {
  const limited = await createService(testConfig({ tokens: { admin: ['adm'], hook: [], monitor: ['mon'] }, limits: { bodyBytes: 1 << 20, ratePerSecond: 1, rateBurst: 3 } }));
  t.teardown(() => limited.stop());
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await limited.app.inject({ url: '/types', headers: { authorization: 'Bearer mon' } })).statusCode);
  t.same(codes.slice(0, 3), [200, 200, 200], 'the burst goes through');
  t.equal(codes[4], 429, 'then the token is limited');
  const r = await limited.app.inject({ url: '/types', headers: { authorization: 'Bearer mon' } });
  t.match(r.json(), { code: 'QBG_ERR_RATE_LIMIT' });
  t.equal((await limited.app.inject({ url: '/types', headers: { authorization: 'Bearer adm' } })).statusCode, 200, 'another token has its own bucket');

  const open = await createService(testConfig({ limits: { bodyBytes: 1 << 20, ratePerSecond: 1, rateBurst: 1 } }));
  t.teardown(() => open.stop());
  for (let i = 0; i < 5; i++) t.equal((await open.app.inject({ url: '/types' })).statusCode, 200);
});

t.test('also serves on a root-only unix socket when listen.socket is set', async (t) => {
  const { request } = await import('node:http');
  const { statSync } = await import('node:fs');
  const cfg = testConfig();
  cfg.listen.socket = join(mkdtempSync(join(tmpdir(), 'qbg-sock-')), 'run', 'qbg.sock');
  const svc = await createService(cfg);
  const addresses = await svc.start();
  t.teardown(() => svc.stop());
  t.ok(addresses.includes(`unix:${cfg.listen.socket}`), addresses.join(' '));
  t.equal(statSync(cfg.listen.socket).mode & 0o777, 0o600, 'socket mode 0600');
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ socketPath: cfg.listen.socket, path: '/types', method: 'GET' }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c)).on('end', () => resolve(`${res.statusCode} ${b}`));
    });
    req.on('error', reject);
    req.end();
  });
  t.match(body, /^200 \{"types":\[\]\}/, "the API answers on the socket");
  // a second qbg on the same socket path is refused instead of stealing it
  const second = await createService({ ...testConfig(), listen: { host: '127.0.0.1', port: 0, socket: cfg.listen.socket } });
  t.teardown(() => second.stop());
  await t.rejects(second.start(), { code: 'QBG_ERR_CONFIG', message: /in use/ });
});

t.test('each role is refused on every route that needs a higher one (walks the whole route table)', async (t) => {
  const svc = await createService(testConfig({ tokens: { admin: ['adm'], hook: ['hk'], monitor: ['mon'] } }));
  t.teardown(() => svc.stop());
  const below: Record<string, string[]> = { admin: ['hk', 'mon'], hook: ['mon'], monitor: [] };
  let refusals = 0;
  for (const r of svc.app.registeredRoutes) {
    if (r.method === 'HEAD' || !r.role || r.role === 'public') continue;
    const url = r.url.replace(/:([A-Za-z]+)/g, 'x1').replace(/\*/g, 'x');
    for (const token of below[r.role]) {
      const res = await svc.app.inject({ method: r.method as 'GET', url, headers: { authorization: `Bearer ${token}` } });
      t.equal(res.statusCode, 403, `${r.method} ${r.url} (${r.role}) refused to ${token}`);
      refusals++;
    }
    const none = await svc.app.inject({ method: r.method as 'GET', url });
    t.equal(none.statusCode, 401, `${r.method} ${r.url} without a token`);
  }
  t.ok(refusals >= 25, `${refusals} refusals checked`);
});
