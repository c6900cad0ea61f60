// /uplinks without a lab: an uplink whose lldpad cannot be read is reported (actual null, every setting in the
// diff with its actual value unknown), not answered with a 500.
import t from 'tap';
import { buildServer } from '../../src/api/server.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { UplinkManager, MemoryUplinkConfigStore } from '../../src/service/uplink-manager.js';
import { Lldptool } from '../../src/lldpad/lldptool.js';

t.test('an unreachable lldpad is a status, not an error', async (t) => {
  // a namespace that does not exist: every lldptool run fails the way a stopped lldpad or a downed port does
  const uplinks = new UplinkManager({ store: new MemoryUplinkConfigStore(), lldptool: () => new Lldptool({ netns: 'qbg-no-such-ns' }) });
  const app = await buildServer({ logLevel: 'silent', routes: [uplinksRoutesFor(uplinks)] });
  t.teardown(() => app.close());
  const put = await app.inject({ method: 'PUT', url: '/uplinks/eth9', payload: { gpid: true } });
  t.equal(put.statusCode, 200, put.body);
  const r = await app.inject({ url: '/uplinks/eth9' });
  t.equal(r.statusCode, 200, r.body);
  const body = r.json();
  t.equal(body.actual, null);
  t.equal(body.inSync, false);
  t.match(body.error, { code: /^QBG_ERR_LLDPAD_/ });
  t.ok(body.diff.length > 0 && body.diff.every((c: { actual?: unknown }) => c.actual === undefined), 'every setting differs, actual unknown');
  const list = await app.inject({ url: '/uplinks' });
  t.equal(list.statusCode, 200);
});
