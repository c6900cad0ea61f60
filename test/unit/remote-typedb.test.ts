// Two real qbg instances on loopback: B serves its type database over HTTP, A reads it through the cache.
import t from 'tap';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { remotesRoutes, typedbRoutes } from '../../src/api/typedb-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { RemoteRegistry } from '../../src/vtdb/remote-registry.js';
import { HttpRemoteTypeDb } from '../../src/vtdb/remote-client.js';

const tmp = mkdtempSync(join(tmpdir(), 'qbg-remote-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const profiles = ['web-tier', 'app-tier', 'db-tier', 'backup', 'edge-v6mgr'].map((n) => ({
  file: `profiles/${n}.yaml`,
  content: readFileSync(`profiles/${n}.yaml`, 'utf8'),
}));

/** Instance B: its own SQLite file, listening on 127.0.0.1:0, counting what it answered. */
async function startRemote(tokens?: { admin: string[]; hook: string[]; monitor: string[] }) {
  const db = openDatabase(join(tmp, `b-${Math.random().toString(36).slice(2)}.db`));
  const types = new TypeService(db);
  const app = await buildServer({ routes: [typesRoutes({ types }), typedbRoutes({ types })], logLevel: 'silent', tokens });
  const seen: number[] = [];
  app.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith('/typedb/')) seen.push(reply.statusCode);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return { app, url, seen, types, db };
}

t.test('the served type-DB interface: schemaVersion, strong ETag, 304 on If-None-Match', async (t) => {
  const b = await startRemote();
  t.teardown(() => b.app.close());
  b.types.importSpecs((await import('../../src/vtdb/profile-files.js')).parseProfileSources(profiles));
  const r = await fetch(`${b.url}/typedb/v1/types`);
  t.equal(r.status, 200);
  const etag = r.headers.get('etag')!;
  t.match(etag, /^"[A-Za-z0-9_-]+"$/, 'strong ETag');
  const body = await r.json();
  t.equal(body.schemaVersion, 1);
  t.equal(body.types.length, 5);
  t.match(body.types.find((x: { name: string }) => x.name === 'db-tier'), { typeId: 1003, managerId: 10, managerId2: '0a000000000000000000000000000000', allowedVlans: ['300-399'] });
  t.equal((await fetch(`${b.url}/typedb/v1/types`, { headers: { 'if-none-match': etag } })).status, 304);
  t.equal((await fetch(`${b.url}/typedb/v1/types`, { headers: { 'if-none-match': `"x", ${etag}` } })).status, 304);
  t.equal((await fetch(`${b.url}/typedb/v1/types`, { headers: { 'if-none-match': '"other"' } })).status, 200);
  const one = await fetch(`${b.url}/typedb/v1/types/edge-v6mgr`);
  t.match(await one.json(), { schemaVersion: 1, type: { name: 'edge-v6mgr', managerId2: '20010db8010000000000000000000010' } });
  t.equal((await fetch(`${b.url}/typedb/v1/types/nope`)).status, 404);
  // A change changes the ETag.
  b.types.edit('web-tier', { description: 'changed' });
  t.not((await fetch(`${b.url}/typedb/v1/types`)).headers.get('etag'), etag);
});

t.test('A reads B through the cache: fetch, 304 revalidation, TTL, import, B going away, never reached', async (t) => {
  const b = await startRemote();
  let bClosed = false;
  t.teardown(() => (bClosed ? undefined : b.app.close()));
  const put = await fetch(`${b.url}/types/import`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files: profiles }) });
  t.equal(put.status, 200, 'B filled through its own API');

  let clock = 1_700_000_000_000;
  const dbA = openDatabase(join(tmp, 'a.db'));
  const typesA = new TypeService(dbA);
  const remotes = new RemoteRegistry(
    dbA,
    [
      { name: 'lab', url: b.url, ttlSeconds: 0 },
      { name: 'lab-ttl', url: b.url, ttlSeconds: 3600 },
      { name: 'ghost', url: 'http://127.0.0.1:9', ttlSeconds: 60 },
    ],
    { now: () => clock, timeoutMs: 2000 },
  );
  const a = await buildServer({ routes: [typesRoutes({ types: typesA }), remotesRoutes({ remotes, types: typesA })], logLevel: 'silent' });
  t.teardown(() => a.close());
  const get = async (url: string) => {
    const r = await a.inject(url);
    return { status: r.statusCode, body: r.json() };
  };

  t.same((await get('/remotes')).body.remotes.map((r: { name: string }) => r.name), ['lab', 'lab-ttl', 'ghost']);

  const first = await get('/remotes/lab/types');
  t.equal(first.status, 200);
  t.match(first.body, { remote: 'lab', source: 'remote', stale: false, revalidated: false, ageSeconds: 0 });
  t.equal(first.body.error, undefined);
  t.equal(first.body.types.length, 5);
  t.same(b.seen, [200]);

  clock += 5000;
  const second = await get('/remotes/lab/types');
  t.match(second.body, { source: 'remote', revalidated: true, stale: false, ageSeconds: 0 });
  t.same(second.body.types, first.body.types);
  t.same(b.seen, [200, 304], 'B answered 304 to the revalidation');

  const one = await get('/remotes/lab/types/web-tier');
  t.match(one.body, { source: 'remote', type: { name: 'web-tier', typeId: 1001 } });
  t.match((await get('/remotes/lab/types/web-tier')).body, { source: 'remote', revalidated: true });
  t.same(b.seen.slice(-2), [200, 304]);

  // A change on B is seen at the next revalidation (new ETag → 200).
  b.types.edit('web-tier', { allowedVlans: [100, 101, 102] });
  const changed = await get('/remotes/lab/types');
  t.match(changed.body, { source: 'remote', revalidated: false });
  t.equal(changed.body.types.find((x: { name: string }) => x.name === 'web-tier').typeIdVersion, 2);

  // Within the TTL the cache answers without asking B.
  const n = b.seen.length;
  t.match((await get('/remotes/lab-ttl/types')).body, { source: 'remote' });
  clock += 10_000;
  t.match((await get('/remotes/lab-ttl/types')).body, { source: 'cache', stale: false, ageSeconds: 10 });
  t.equal(b.seen.length, n + 1, 'one request to B for two answers');

  // Copy a remote type into the local database.
  const imp = await a.inject({ method: 'POST', url: '/remotes/lab/types/db-tier/import' });
  t.equal(imp.statusCode, 200, imp.body);
  t.match(imp.json(), { source: 'remote', imported: { name: 'db-tier', typeIdVersion: 2, action: 'created' } });
  t.match((await get('/types/db-tier')).body, { typeId: 1003, allowedVlans: [{ from: 300, to: 399 }] });
  t.match((await a.inject({ method: 'POST', url: '/remotes/lab/types/db-tier/import' })).json(), { imported: { action: 'unchanged' } });

  t.match(await get('/remotes/lab/types/nope'), { status: 404, body: { code: 'QBG_ERR_TYPE_NOT_FOUND', error: /nope.*lab/ } });

  // B goes away: answers come from the cache and say so.
  await b.app.close();
  bClosed = true;
  clock += 42_000;
  const down = await get('/remotes/lab/types');
  t.equal(down.status, 200);
  t.match(down.body, { source: 'cache', stale: true, revalidated: false, error: /remote type database lab: unreachable/ });
  t.equal(down.body.ageSeconds, 52, 'seconds since B last confirmed the list');
  t.equal(down.body.types.find((x: { name: string }) => x.name === 'web-tier').typeIdVersion, 2, 'last known data');
  t.match((await get('/remotes/lab/types/web-tier')).body, { source: 'cache', stale: true, error: /unreachable/ });
  // Never fetched on its own, but the cached list knows it.
  t.match((await get('/remotes/lab/types/backup')).body, { source: 'cache', stale: true, type: { name: 'backup' } });
  // Import refuses stale data unless asked.
  const staleImp = await a.inject({ method: 'POST', url: '/remotes/lab/types/app-tier/import' });
  t.match(staleImp.json(), { statusCode: 502, field: 'allowStale', error: /stale/ });
  t.match((await a.inject({ method: 'POST', url: '/remotes/lab/types/app-tier/import?allowStale=true' })).json(), { stale: true, imported: { action: 'created' } });

  // A remote never reached: a clear 502 naming it.
  const ghost = await get('/remotes/ghost/types');
  t.match(ghost, { status: 502, body: { code: 'QBG_ERR_REMOTE_TYPEDB', error: /^remote type database ghost: unreachable at http:\/\/127\.0\.0\.1:9\// } });
  t.match(await get('/remotes/ghost/types/web-tier'), { status: 502, body: { error: /ghost/ } });
  t.match(await get('/remotes/nobody/types'), { status: 404, body: { code: 'QBG_ERR_REMOTE_NOT_CONFIGURED', error: /lab, lab-ttl, ghost/ } });
  // The cache lives in A's SQLite file.
  t.ok((dbA.prepare('SELECT count(*) AS n FROM remote_typedb_cache').get() as { n: number }).n >= 3);
});

t.test('a remote requiring tokens: the client sends its bearer token', async (t) => {
  const b = await startRemote({ admin: [], hook: [], monitor: ['mon'] });
  t.teardown(() => b.app.close());
  await t.rejects(new HttpRemoteTypeDb({ name: 'locked', url: b.url }).listTypes(), { code: 'QBG_ERR_REMOTE_TYPEDB', message: /HTTP 401/ });
  const ok = await new HttpRemoteTypeDb({ name: 'locked', url: b.url, token: 'mon' }).listTypes();
  t.match(ok, { status: 'ok', value: [] });
});

t.test('a misbehaving remote is refused, not trusted', async (t) => {
  let reply = JSON.stringify({ schemaVersion: 2, types: [] });
  const srv = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(reply));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const remote = new HttpRemoteTypeDb({ name: 'odd', url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/` });
  await t.rejects(remote.listTypes(), { code: 'QBG_ERR_REMOTE_TYPEDB', message: /schemaVersion 2/ });
  reply = JSON.stringify({ schemaVersion: 1, types: [{ name: 'x', managerId: 1, typeId: 99999999, typeIdVersion: 1, createdAt: '' }] });
  await t.rejects(remote.listTypes(), { code: 'QBG_ERR_REMOTE_TYPEDB', message: /invalid VSI type "x": typeId must be an integer 0–16777215/ });
  reply = 'not json';
  await t.rejects(remote.listTypes(), { message: /not JSON/ });
});
