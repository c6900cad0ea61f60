// Who may reach qbg and how: with no tokens only loopback and the unix socket (anything else refused at start, or
// opened by a lab on purpose with a warning); the startup line says every address really bound; a token goes in the
// Authorization header (scheme in any case), in the URL only for the SSE stream; no token reaches a log line.
import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { defaultConfig, type QbgConfig } from '../../src/config.js';
import { createService } from '../../src/service/app.js';
import { isLoopback } from '../../src/service/listen-access.js';
import { startQbg } from '../helpers/qbg-process.js';

const TOKENS = { admin: ['adm-S3CRET-admin'], hook: ['hk-S3CRET-hook'], monitor: ['mon-S3CRET-monitor'] };
const NO_TOKENS = { admin: [], hook: [], monitor: [] };

function testConfig(over: Partial<QbgConfig> = {}, listen: Partial<QbgConfig['listen']> = {}): QbgConfig {
  const c = defaultConfig();
  c.dbPath = join(mkdtempSync(join(tmpdir(), 'qbg-access-')), 'qbg.db');
  c.listen = { ...c.listen, port: 0, ...listen };
  c.logLevel = 'silent';
  c.lldpad.netns = 'qbg-no-such-ns'; // lldpad unreachable: the service still starts
  return { ...c, ...over };
}

/** A pino destination that keeps every line. */
function captureLog(): DestinationStream & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

/** This host's addresses that are not loopback (the test machine has at least one: its eth0). */
const outside = Object.values(networkInterfaces())
  .flat()
  .filter((a) => a !== undefined && !a.internal && !isLoopback(a.address) && !a.address.startsWith('fe80:'))
  .map((a) => a!.address);

t.test('loopback is 127/8 and ::1 (also IPv4-mapped); the unspecified and outside addresses are not', async (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopback(a), a);
  for (const a of ['0.0.0.0', '::', '192.0.2.2', 'fd00::2', '::ffff:192.0.2.2', '128.0.0.1', 'localhost']) t.notOk(isLoopback(a), a);
});

t.test('no tokens: a host that is not loopback is refused before anything is opened, naming what to configure', async (t) => {
  t.ok(outside.length > 0, `this host has an outside address: ${outside.join(', ')}`);
  for (const host of ['0.0.0.0', '::', '', ...outside]) {
    const cfg = testConfig({ tokens: NO_TOKENS }, { host });
    await t.rejects(
      createService(cfg),
      { code: 'QBG_ERR_CONFIG', message: /listen\.host: .*not a loopback address and no tokens are configured: set tokens \(QBG_ADMIN_TOKENS.*insecureNoAuth/ },
      `host ${JSON.stringify(host)}`,
    );
    t.notOk(existsSync(cfg.dbPath), 'no database was created');
  }
});

t.test('the addresses returned at start are the ones really bound, every one', async (t) => {
  const loop = await createService(testConfig({ tokens: NO_TOKENS }, { host: '127.0.0.1' }));
  const [l] = await loop.start();
  t.teardown(() => loop.stop());
  t.match(l, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same(loop.warnings, [], 'loopback without tokens is the normal, quiet case');

  const v6 = await createService(testConfig({ tokens: NO_TOKENS }, { host: '::1' }));
  t.teardown(() => v6.stop());
  t.match(await v6.start(), [/^http:\/\/\[::1\]:\d+$/]);

  // with tokens any host is fine; today's bug printed http://127.0.0.1:… for 0.0.0.0
  const all = await createService(testConfig({ tokens: TOKENS }, { host: '0.0.0.0' }));
  t.teardown(() => all.stop());
  const addresses = await all.start();
  t.equal(addresses.length, 1);
  t.match(addresses[0], /^http:\/\/0\.0\.0\.0:\d+$/, 'all IPv4 addresses, said so');
  const port = new URL(addresses[0]).port;
  const remote = await fetch(`http://${outside.find((a) => !a.includes(':'))}:${port}/types`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  t.equal(remote.status, 401, 'a caller from outside without a token is refused');
});

t.test('a lab may open an outside address without tokens: it is said loudly, and the per-address limit is on', async (t) => {
  const log = captureLog();
  const cfg = testConfig({ tokens: NO_TOKENS, logLevel: 'info', limits: { bodyBytes: 1 << 20, ratePerSecond: 1, rateBurst: 2 } }, { host: '0.0.0.0', insecureNoAuth: true });
  const svc = await createService(cfg, { logDestination: log });
  t.teardown(() => svc.stop());
  const [url] = await svc.start();
  t.match(svc.warnings, [/listening on 0\.0\.0\.0 with no tokens: anyone who can reach it is admin \(listen\.insecureNoAuth/]);
  const warned = log.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40 && /insecureNoAuth/.test(l.msg));
  t.equal(warned.length, 1, 'logged once at warn');
  const base = `http://${outside.find((a) => !a.includes(':'))}:${new URL(url).port}`;
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await fetch(`${base}/types`)).status);
  t.same(codes, [200, 200, 429], 'anonymous callers are limited per address');
});

t.test('qbg serve: an open outside address is one line on stderr and exit 1; --insecure-no-auth starts with a warning', async (t) => {
  const refused = await startQbg({ env: { QBG_HOST: '0.0.0.0' }, timeoutMs: 120_000 }).then(
    async (p) => (await p.stop(), 'started'),
    (e: Error) => e.message,
  );
  t.match(refused, /^qbg serve exited with 1: qbg: configuration listen\.host: 0\.0\.0\.0 is not a loopback address and no tokens are configured: set tokens .*\[QBG_ERR_CONFIG\]\n$/);
  t.equal(refused.split('\n').filter(Boolean).length, 1, 'one line');

  const lab = await startQbg({ env: { QBG_HOST: '0.0.0.0', QBG_INSECURE_NO_AUTH: '1' }, timeoutMs: 120_000 });
  t.teardown(() => lab.stop());
  t.match(lab.url, /^http:\/\/0\.0\.0\.0:\d+$/, 'the startup line says the address really bound');
  const port = new URL(lab.url).port;
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await lab.stop();
  t.match(lab.log().stderr, /\nqbg: WARNING: listening on 0\.0\.0\.0 with no tokens: anyone who can reach it is admin/);
});

t.test('the Authorization scheme is case-insensitive; other schemes are not a bearer token', async (t) => {
  const svc = await createService(testConfig({ tokens: TOKENS }));
  t.teardown(() => svc.stop());
  const mon = TOKENS.monitor[0];
  for (const h of [`Bearer ${mon}`, `bearer ${mon}`, `BEARER ${mon}`, `bEaReR   ${mon}`]) {
    t.equal((await svc.app.inject({ url: '/types', headers: { authorization: h } })).statusCode, 200, h);
  }
  for (const h of [`Basic ${mon}`, `Bearer`, `Bearer `, `Bearer${mon}`, mon]) {
    t.equal((await svc.app.inject({ url: '/types', headers: { authorization: h } })).statusCode, 401, h);
  }
});

t.test('a token in the URL: accepted on GET /events only, refused on every other route (writes too)', async (t) => {
  const svc = await createService(testConfig({ tokens: TOKENS }));
  t.teardown(() => svc.stop());
  const adm = TOKENS.admin[0];
  const post = await svc.app.inject({ method: 'POST', url: `/types?token=${adm}`, payload: { name: 'web' } });
  t.equal(post.statusCode, 400, 'POST /types');
  t.same(post.json(), { statusCode: 400, code: 'QBG_ERR_TOKEN_IN_URL', error: post.json().error, field: 'token' });
  t.match(post.json().error, /accepted only on GET \/events.*Authorization: Bearer/);
  t.equal(svc.types.list().length, 0, 'nothing was created');
  const nics = await svc.app.inject({ url: `/nics?token=${adm}` });
  t.match(nics.json(), { statusCode: 400, code: 'QBG_ERR_TOKEN_IN_URL' }, 'GET /nics');
  const both = await svc.app.inject({ url: `/types?token=${adm}`, headers: { authorization: `Bearer ${adm}` } });
  t.match(both.json(), { code: 'QBG_ERR_TOKEN_IN_URL' }, 'refused even beside a header: the URL already carried it');
  let walked = 0;
  for (const r of svc.app.registeredRoutes) {
    if (r.method === 'HEAD' || r.role === 'public' || r.url === '/events') continue;
    const url = `${r.url.replace(/:([A-Za-z]+)/g, 'x1').replace(/\*/g, 'x')}?token=${adm}`;
    const res = await svc.app.inject({ method: r.method as 'GET', url });
    t.equal(res.json().code, 'QBG_ERR_TOKEN_IN_URL', `${r.method} ${r.url}`);
    walked++;
  }
  t.ok(walked > 25, `${walked} routes refuse a URL token`);
  // /events takes it: a bad filter is reached (auth passed) with a good token, 401 with a wrong one
  t.match((await svc.app.inject({ url: `/events?token=${TOKENS.monitor[0]}&kind=bogus` })).json(), { statusCode: 400, code: 'QBG_ERR_ENUM', field: 'kind' });
  t.equal((await svc.app.inject({ url: '/events?token=wrong&kind=bogus' })).statusCode, 401);
  t.equal((await svc.app.inject({ url: `/healthz?token=${adm}` })).statusCode, 200, 'public routes ignore it');

  const open = await createService(testConfig({ tokens: NO_TOKENS }));
  t.teardown(() => open.stop());
  t.match((await open.app.inject({ method: 'POST', url: '/types?token=x', payload: { name: 'web' } })).json(), { code: 'QBG_ERR_TOKEN_IN_URL' }, 'refused in the open mode too');
});

t.test('no token reaches the log: not from the URL, not from the Authorization header', async (t) => {
  const log = captureLog();
  const svc = await createService(testConfig({ tokens: TOKENS, logLevel: 'trace' }), { logDestination: log });
  t.teardown(() => svc.stop());
  const [adm, hk, mon] = [TOKENS.admin[0], TOKENS.hook[0], TOKENS.monitor[0]];
  await svc.app.inject({ url: `/events?token=${mon}&kind=bogus` });
  await svc.app.inject({ url: `/events?kind=bogus&token=${encodeURIComponent(mon)}#frag` });
  await svc.app.inject({ method: 'POST', url: `/types?token=${adm}`, payload: {} });
  await svc.app.inject({ url: `/types?a=1&TOKEN=${adm}&b=2` });
  await svc.app.inject({ url: `/no-such-route?token=${hk}` });
  await svc.app.inject({ url: '/types', headers: { authorization: `Bearer ${adm}` } });
  svc.app.log.info({ req: { headers: { authorization: `Bearer ${hk}` } } }, 'a request object logged by hand');
  svc.app.log.info({ headers: { authorization: `bearer ${hk}` } }, 'headers on their own');
  svc.app.log.info({ upstream: { call: { headers: { Authorization: `Bearer "${adm}" \\ ${mon}` } } } }, 'deeper, with quotes and a backslash in the value');
  svc.app.log.warn(`a message quoting http://qbg:8021/events?kind=notice&token=${mon} in free text`);
  const text = log.lines.join('');
  t.ok(log.lines.length >= 10, `${log.lines.length} lines logged`);
  t.match(text, /"url":"\/events\?token=\[redacted\]&kind=bogus"/, 'the request line keeps the URL, token blanked');
  t.match(text, /"url":"\/no-such-route\?token=\[redacted\]"/, 'the line of a request no route took too');
  t.match(text, /quoting http:\/\/qbg:8021\/events\?kind=notice&token=\[redacted\] in free text/, 'a URL in a message too');
  t.match(text, /"authorization":"\[redacted\]"/, 'a logged Authorization header is blanked');
  t.match(text, /"Authorization":"\[redacted\]"\}\}\}/, 'at any depth and in any case, the whole value (escapes included)');
  for (const secret of [adm, hk, mon, 'S3CRET']) t.notOk(text.includes(secret), `${secret} is in no log line`);
});
