// The README's own example domain (docs/examples/web1.xml) with the shipped profiles: what a provisioning hook does
// with it must work end to end. The libvirt hook runs in process (runHook, the code the installed script runs)
// against a qbg on loopback with the real NIC API, NIC service, SQLite store and VSI types; a scripted
// VsiAssociator stands in for lldpad (test/lab/hooks.test.ts runs hooks against a real one).
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../src/api/server.js';
import { nicsRoutes } from '../../src/api/nics-routes.js';
import { healthRoutes } from '../../src/api/health-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { parseProfileSources, readProfileSources } from '../../src/vtdb/profile-files.js';
import { readHookDomain } from '../../src/hooks/domain-nics.js';
import { libvirtStep } from '../../src/hooks/plan.js';
import { runHook } from '../../src/hooks/run-hook.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';

const WEB1 = readFileSync(new URL('../../docs/examples/web1.xml', import.meta.url), 'utf8');
const VM = '4dea22b3-1d52-d8f3-2516-782e98ab3fa0';
const MAC = '52:54:00:12:34:56';

const db = openDatabase(':memory:');
const types = new TypeService(db);
types.importSpecs(parseProfileSources(await readProfileSources('profiles')));
const lldpad = new ScriptedLldpad();
const nics = new NicService({ repo: new NicRepo(db), associator: lldpad, types });
const app = await buildServer({ routes: [healthRoutes({ storeOk: () => true, lldpadPing: () => lldpad.ping(), uplinks: () => [], evbUp: async () => true }), nicsRoutes({ nics, migration: new MigrationService(nics) })], logLevel: 'silent' });
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

t.test("web1.xml: libvirt's prepare hook associates its NIC with the VLAN its metadata names", async (t) => {
  const lines: string[] = [];
  const code = await runHook({
    label: 'web1',
    step: libvirtStep('prepare', 'begin'),
    domainXml: () => WEB1,
    config: { url, onQbgDown: 'fail', connectTimeoutMs: 2000, requestTimeoutMs: 5000 },
    failCode: 1,
    stderr: (l) => lines.push(l),
  });
  t.equal(code, 0, lines.join('\n'));
  t.notMatch(lines.join('\n'), /not allowed by VSI type/);
  t.match(nics.repo.get(`${VM}_${MAC}`), { state: 'associated', typeName: 'web-tier', uplink: 'eth0', vlan: 100 });
  t.match(lldpad.requests[0], { mode: 'assoc', typeId: 1001, filters: [{ vlan: 100, mac: MAC }] });
});

t.test('where the hook takes the VLAN from: qbg metadata, else <vlan><tag>, else 0', async (t) => {
  const dom = (meta: string, iface = '') =>
    `<domain><uuid>${VM}</uuid><metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="${MAC}" profile="web-tier"${meta}/></qbg:nics></metadata>` +
    `<devices><interface type='direct'><mac address='${MAC}'/><source dev='eth0' mode='vepa'/>${iface}</interface></devices></domain>`;
  t.equal(readHookDomain(dom(' vlan="101"')).nics[0].vlan, 101);
  t.equal(readHookDomain(dom(' vlan="101"', "<vlan><tag id='7'/></vlan>")).nics[0].vlan, 101, 'the metadata wins');
  t.equal(readHookDomain(dom('', "<vlan><tag id='7'/></vlan>")).nics[0].vlan, 7);
  t.equal(readHookDomain(dom('')).nics[0].vlan, 0);
  t.throws(() => readHookDomain(dom(' vlan="5000"')), { field: `metadata.nic[${MAC}].vlan`, message: /0–4095, got "?5000/ });
});
