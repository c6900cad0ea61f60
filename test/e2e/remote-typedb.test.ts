// Two real qbg processes on loopback: "core" is the type database, "edge" queries it as a remote, caches it with
// ETag revalidation, and keeps answering from its cache — saying so — when core goes away.
import t from 'tap';
import { startQbg } from '../helpers/qbg-process.js';

t.test('a second qbg serves as remote type DB; the cache answers when it is gone', async (t) => {
  const core = await startQbg();
  t.teardown(() => core.kill());
  const created = await fetch(`${core.url}/types`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'web-tier', managerId: 10, typeId: 1001, typeIdVersion: 1, allowedVlans: [100, '101'] }),
  });
  t.equal(created.status, 201, 'type created on core');

  const edge = await startQbg({ config: { remotes: [{ name: 'core', url: core.url, ttlSeconds: 0 }] } });
  t.teardown(() => edge.kill());

  const first = await (await fetch(`${edge.url}/remotes/core/types/web-tier`)).json();
  t.match(first, { source: 'remote', stale: false, type: { name: 'web-tier', typeId: 1001 } }, 'first answer comes from core');

  const again = await (await fetch(`${edge.url}/remotes/core/types/web-tier`)).json();
  t.match(again, { source: 'remote', revalidated: true }, 'TTL 0: revalidated with core by ETag (304)');

  await core.kill();
  const offline = await fetch(`${edge.url}/remotes/core/types/web-tier`);
  t.equal(offline.status, 200, 'still answers with core gone');
  t.match(await offline.json(), { source: 'cache', stale: true, error: /./, type: { name: 'web-tier' } }, 'from cache, says stale and why');

  const unknown = await fetch(`${edge.url}/remotes/core/types/never-cached`);
  t.equal(unknown.status, 502, 'nothing cached and remote down: 502');
  t.match(await unknown.json(), { code: 'QBG_ERR_REMOTE_TYPEDB', error: /core/ });

  await edge.stop();
  t.equal(edge.child.exitCode, 0, 'graceful stop exits 0');
});
