// qbg explain without a lab: every finding from the facts that cause it (the facts are explain's input, gathered
// live by src/service/explain-facts.ts; test/lab/explain.test.ts checks the verdicts against what really happens),
// the owner each NIC gets, POST /explain's roles and shape, and the CLI's exit codes 0 / 1 / 2.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../src/api/server.js';
import { explainRoutes } from '../../src/api/explain-routes.js';
import { main } from '../../src/cli/main.js';
import { parseVsiTypeSpec, type VsiTypeVersion } from '../../src/domain/vsi-type.js';
import { EXPLAIN_FINDINGS, explainDomain, type ExplainFacts, type ExplainResult, type UplinkFacts } from '../../src/libvirt/explain.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';

const TYPES: VsiTypeVersion[] = [
  { name: 'web-tier', managerId: 12, typeId: 1193047, typeIdVersion: 1, allowedVlans: [100, '200-210'] },
  { name: 'web-tier', managerId: 12, typeId: 1193047, typeIdVersion: 2, allowedVlans: [100, '200-210'] },
  { name: 'db-tier', managerId: 13, typeId: 2193047, typeIdVersion: 3 },
].map((s) => ({ ...parseVsiTypeSpec(s), createdAt: '2026-12-01T00:00:00.000Z' }));

const types: ExplainFacts['types'] = {
  get: (name, v) => TYPES.filter((x) => x.name === name && (v === undefined || x.typeIdVersion === v)).pop(),
  list: () => [...new Map(TYPES.map((x) => [x.name, x])).values()],
};

const GOOD_UPLINK: UplinkFacts = { managed: true, evbNegotiated: true, reflectiveRelayOn: true };

function facts(over: Partial<ExplainFacts> = {}): ExplainFacts {
  return { types, lldpad: { ok: true, pid: 7 }, uplinks: { s0: GOOD_UPLINK }, libvirtd: { pid: 9, version: '9.0.0', portShim: true }, ...over };
}

interface NicSpec {
  mac: string;
  type?: string;
  dev?: string;
  mode?: string;
  vp?: string;
  vlanTag?: number;
  meta?: string;
}

function domain(nics: NicSpec[]): string {
  const meta = nics.filter((n) => n.meta).map((n) => `<qbg:nic mac="${n.mac}" ${n.meta}/>`).join('');
  const ifaces = nics.map((n) => {
    const type = n.type ?? 'direct';
    const source = type === 'direct' ? `<source dev='${n.dev ?? 's0'}' mode='${n.mode ?? 'vepa'}'/>` : type === 'network' ? "<source network='vepa'/>" : '';
    return `<interface type='${type}'><mac address='${n.mac}'/>${source}${n.vp ?? ''}${n.vlanTag !== undefined ? `<vlan><tag id='${n.vlanTag}'/></vlan>` : ''}</interface>`;
  });
  return `<domain type='kvm'><name>web1</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid><memory>65536</memory><os><type>hvm</type></os>
<metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1">${meta}</qbg:nics></metadata><devices>${ifaces.join('')}</devices></domain>`;
}

const QBG_VP = (typeid = 2193047, version = 3, managerid = 13) =>
  `<virtualport type='802.1Qbg'><parameters managerid='${managerid}' typeid='${typeid}' typeidversion='${version}' instanceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport>`;

const codes = (r: ExplainResult) => r.findings.map((f) => `${f.severity} ${f.code}${f.nic ? ` ${f.nic}` : ''}`);

t.test('a domain with nothing wrong: each NIC explained, ok', async (t) => {
  const r = explainDomain(
    domain([
      { mac: '52:54:00:00:00:01', meta: 'profile="web-tier" vlan="200"' },
      { mac: '52:54:00:00:00:02', vp: QBG_VP() },
      { mac: '52:54:00:00:00:03', type: 'user' },
    ]),
    facts(),
  );
  t.same(r.findings, []);
  t.equal(r.ok, true);
  t.same(r.domain, { name: 'web1', uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' });
  t.same(r.nics, [
    { mac: '52:54:00:00:00:01', interfaceType: 'direct', owner: 'qbg', ownerFrom: 'xml', type: { name: 'web-tier', typeIdVersion: 2, typeId: 1193047, managerId: 12 }, vlan: 200, uplink: 's0', mode: 'vepa' },
    { mac: '52:54:00:00:00:02', interfaceType: 'direct', owner: 'libvirt', ownerFrom: 'xml', type: { name: 'db-tier', typeIdVersion: 3, typeId: 2193047, managerId: 13 }, vlan: 0, uplink: 's0', mode: 'vepa' },
    { mac: '52:54:00:00:00:03', interfaceType: 'user', owner: 'none', ownerFrom: 'xml', type: null, vlan: 0, uplink: null },
  ]);
  // with the host's ownership configured, every qbg NIC takes it; NICs qbg has nothing to do with stay 'none'
  t.match(explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier"' }, { mac: '52:54:00:00:00:03', type: 'user' }]), facts({ ownership: 'qbg' })).nics, [
    { owner: 'qbg', ownerFrom: 'config' },
    { owner: 'none' },
  ]);
  t.match(explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP() }]), facts({ ownership: 'libvirt' })), { ok: true, findings: [], nics: [{ owner: 'libvirt', ownerFrom: 'config' }] });
});

t.test('one owner per VSI: what the hook refuses under the host ownership', async (t) => {
  // ownership qbg: an interface-level virtualport would make libvirt announce the VSI too
  let r = explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP() }]), facts({ ownership: 'qbg' }));
  t.same(codes(r), ['error owner-conflict 52:54:00:00:00:02']);
  t.match(r.findings[0], { field: 'interface[52:54:00:00:00:02].virtualport', fix: /qbg xml rewrite.*ownership: libvirt/ });
  // ownership libvirt: a metadata-only direct NIC would have no announcer; a type='network' NIC gets its virtualport
  // from the network at start
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier"' }]), facts({ ownership: 'libvirt' }));
  t.same(codes(r), ['error virtualport-missing 52:54:00:00:00:01']);
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:01', type: 'network', meta: 'profile="db-tier"' }]), facts({ ownership: 'libvirt', defaultUplink: 's0' }))), []);
  // derived from the XML (no ownership given), there is nothing to conflict with
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP() }]), facts())), []);
});

t.test('the VSI type: unknown name, unknown pinned version, unknown typeid, unknown typeidversion', async (t) => {
  let r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="no-such"' }]), facts());
  t.same(codes(r), ['error type-unknown 52:54:00:00:00:01']);
  t.match(r.findings[0], { field: 'metadata.nic[52:54:00:00:00:01].profile', message: /no VSI type named no-such/, fix: /qbg profile add/ });
  t.equal(r.ok, false);
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="web-tier" version="7"' }]), facts());
  t.same(codes(r), ['error type-version-unknown 52:54:00:00:00:01']);
  t.match(r.findings[0], { field: 'metadata.nic[52:54:00:00:00:01].version', message: /web-tier has no version 7 \(current: 2\)/ });
  // a libvirt-owned NIC: libvirt announces whatever the XML says, the bridge decides: a warning, not a failure
  r = explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP(4242) }]), facts());
  t.same(codes(r), ['warning type-unknown 52:54:00:00:00:02']);
  t.match(r.findings[0], { field: 'interface[52:54:00:00:00:02].virtualport.parameters.typeid', message: /no VSI type with typeid 4242 and managerid 13/ });
  t.equal(r.ok, true);
  r = explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP(1193047, 9, 12) }]), facts());
  t.same(codes(r), ['warning type-version-unknown 52:54:00:00:00:02']);
  t.match(r.findings[0], { message: /web-tier \(typeid 1193047\) has no version 9/ });
  // the same NIC under ownership qbg: the hook refuses its virtualport, and qbg cannot associate a type it does not know
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP(4242) }]), facts({ ownership: 'qbg' }))), ['error owner-conflict 52:54:00:00:00:02', 'error type-unknown 52:54:00:00:00:02']);
  // the version the virtualport pins is found, not only the current one
  t.match(explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP(1193047, 1, 12) }]), facts()).nics[0].type, { name: 'web-tier', typeIdVersion: 1 });
});

t.test('VLAN not allowed by the type, from the metadata or a <vlan> tag', async (t) => {
  let r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="web-tier" vlan="300"' }]), facts());
  t.same(codes(r), ['error vlan-not-allowed 52:54:00:00:00:01']);
  t.match(r.findings[0], { field: 'metadata.nic[52:54:00:00:00:01].vlan', message: /VLAN 300 is not allowed by VSI type web-tier version 2 \(allowed: 100,200-210\)/, fix: /use one of 100,200-210/ });
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', type: 'direct', mode: 'passthrough', meta: 'profile="web-tier"', vlanTag: 5 }]), facts());
  t.match(r.findings, [{ code: 'vlan-not-allowed', field: 'interface[52:54:00:00:00:01].vlan.tag.id' }]);
  // no VLAN given is VLAN 0, which web-tier does not allow either; for a libvirt-owned NIC the bridge decides
  r = explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: QBG_VP(1193047, 2, 12) }]), facts());
  t.same(codes(r), ['warning vlan-not-allowed 52:54:00:00:00:02']);
  t.match(r.findings[0], { field: 'interface[52:54:00:00:00:02].vlan', message: /VLAN 0 is not allowed/ });
  // db-tier allows any
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier" vlan="3000"' }]), facts())), []);
});

t.test('the uplink: unreadable, EVB not negotiated, reflective relay off for a VEPA NIC, unknown', async (t) => {
  const nic = [{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier"' }];
  let r = explainDomain(domain(nic), facts({ uplinks: { s0: { managed: false, evbNegotiated: false, error: 'lldptool: no such interface s0' } } }));
  t.same(codes(r), ['error uplink-unreadable 52:54:00:00:00:01']);
  t.match(r.findings[0], { field: 'uplink s0', message: /no such interface s0/ });
  r = explainDomain(domain(nic), facts({ uplinks: { s0: { managed: false, evbNegotiated: false } } }));
  t.same(codes(r), ['error uplink-evb-not-negotiated 52:54:00:00:00:01']);
  t.match(r.findings[0], { field: 'uplink s0', fix: /qbg does not manage s0: qbg uplink set s0/ });
  t.notMatch(explainDomain(domain(nic), facts({ uplinks: { s0: { managed: true, evbNegotiated: false } } })).findings[0].fix, /does not manage/);
  r = explainDomain(domain(nic), facts({ uplinks: { s0: { managed: true, evbNegotiated: true, reflectiveRelayOn: false } } }));
  t.same(codes(r), ['error bridge-no-reflective-relay 52:54:00:00:00:01']);
  // reflective relay matters to VEPA only
  t.same(codes(explainDomain(domain([{ ...nic[0], mode: 'private' }]), facts({ uplinks: { s0: { managed: true, evbNegotiated: true, reflectiveRelayOn: false } } }))), []);
  // a type='network' NIC names no device: its uplink is the network's, unknown here, unless defaultUplink says it
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', type: 'network', meta: 'profile="db-tier"' }]), facts());
  t.same(codes(r), ['warning uplink-unknown 52:54:00:00:00:01']);
  t.equal(r.ok, true);
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', type: 'network', meta: 'profile="db-tier"' }]), facts({ defaultUplink: 's0' }));
  t.same([codes(r), r.nics[0].uplink], [[], 's0']);
});

t.test('lldpad down: one finding for the document, only when a NIC needs lldpad', async (t) => {
  const r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier"' }, { mac: '52:54:00:00:00:02', vp: QBG_VP() }]), facts({ lldpad: { ok: false } }));
  t.same(codes(r), ['error lldpad-down']);
  t.match(r.findings[0], { field: 'lldpad', fix: /start lldpad/ });
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:03', type: 'user' }]), facts({ lldpad: { ok: false } }))), []);
});

t.test('libvirt-owned NICs: libvirt 9.0 without the netlink port shim, no libvirtd found', async (t) => {
  const libvirtNic = [{ mac: '52:54:00:00:00:02', vp: QBG_VP() }];
  let r = explainDomain(domain(libvirtNic), facts({ libvirtd: { pid: 99, version: '9.0.0', portShim: false } }));
  t.same(codes(r), ['error libvirt-netlink-lost 52:54:00:00:00:02']);
  t.match(r.findings[0], { field: 'libvirtd', message: /libvirt 9\.0\.0 \(pid 99\) without the netlink port shim/, fix: /let qbg own the NIC/ });
  t.same(codes(explainDomain(domain(libvirtNic), facts({ libvirtd: { pid: 99, version: '9.0.0', portShim: true } }))), [], 'the shim loaded');
  t.same(codes(explainDomain(domain(libvirtNic), facts({ libvirtd: { pid: 99, version: '10.0.0', portShim: false } }))), [], 'a version not measured to lose requests');
  t.same(codes(explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier"' }]), facts({ libvirtd: { pid: 99, version: '9.0.0', portShim: false } }))), [], 'qbg-owned NICs do not use libvirt\'s netlink path');
  r = explainDomain(domain(libvirtNic), facts({ libvirtd: null }));
  t.same(codes(r), ['warning libvirtd-unknown 52:54:00:00:00:02']);
});

t.test('what libvirt would refuse, and a document qbg cannot read', async (t) => {
  let r = explainDomain(domain([{ mac: '52:54:00:00:00:02', vp: "<virtualport type='802.1Qbg'><parameters managerid='300' typeid='1' typeidversion='1'/></virtualport>" }]), facts());
  t.match(r.findings, [{ code: 'libvirt-refuses', severity: 'error', field: "interface 52:54:00:00:00:02 (type 'direct') <virtualport>", message: /parameter-range: managerid="300"/ }]);
  t.equal(r.ok, false);
  r = explainDomain('<network/>', facts());
  t.same(codes(r), ['error domain-unreadable']);
  r = explainDomain(domain([{ mac: '52:54:00:00:00:01', meta: 'profile="db-tier" colour="red"' }]), facts());
  t.match(r.findings, [{ code: 'domain-unreadable', field: 'metadata.nic.colour' }]);
  // every code the catalogue lists is produced by a test above
  t.same(Object.keys(EXPLAIN_FINDINGS).length, 14);
});

t.test('POST /explain (monitor role) and qbg explain: exit 0 / 1 / 2, --json', async (t) => {
  const uplinks = new UplinkManager({ store: new MemoryUplinkConfigStore() });
  let lldpadUp = true;
  const app = await buildServer({
    routes: [explainRoutes({ types, uplinks, lldpadPing: async () => ({ ok: lldpadUp, pid: 7 }), libvirtd: async () => ({ pid: 9, version: '9.0.0', portShim: false }) })],
    logLevel: 'silent',
    tokens: { admin: ['adm'], hook: ['hk'], monitor: ['mon'] },
  });
  t.teardown(() => app.close());
  // a type='network' NIC (no uplink to read) and a NIC qbg has nothing to do with: the answer depends on lldpad alone
  const xml = domain([{ mac: '52:54:00:00:00:01', type: 'network', meta: 'profile="db-tier"' }, { mac: '52:54:00:00:00:03', type: 'user' }]);
  const post = (payload: unknown, token = 'mon') => app.inject({ method: 'POST', url: '/explain', headers: { authorization: `Bearer ${token}` }, payload: payload as object });
  let res = await post({ xml });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { ok: true, findings: [{ code: 'uplink-unknown', severity: 'warning' }], host: { lldpad: { ok: true, pid: 7 }, libvirtd: { pid: 9, version: '9.0.0', portShim: false } } });
  t.equal((await app.inject({ method: 'POST', url: '/explain', payload: { xml } })).statusCode, 401, 'no token');
  res = await post({ xml, defaultUplink: 'bad name!' });
  t.equal(res.statusCode, 400);
  t.match(res.json(), { field: 'defaultUplink' });
  t.equal((await post({ xml, extra: 1 })).statusCode, 400, 'unknown body field');

  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'qbg-explain-'));
  const file = join(dir, 'web1.xml');
  writeFileSync(file, xml);
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--url', url, '--token', 'mon', ...argv], { out: (s) => out.push(s), err: (s) => err.push(s), fetch: globalThis.fetch, readStdin: async () => stdin });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  let r = await run(['explain', file]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /NIC 52:54:00:00:00:01 \(network\): qbg associates it \(hook\) \[owner from xml\], VSI type db-tier v3 \(typeid 2193047\), VLAN 0, uplink unknown/);
  t.match(r.out, /warning uplink-unknown NIC 52:54:00:00:00:01 .*\n {4}what to do: set defaultUplink/);
  t.match(r.out, /ok: nothing found that would make the start fail$/);
  lldpadUp = false;
  r = await run(['explain', '-', '--json'], xml);
  t.equal(r.code, 1);
  t.match(JSON.parse(r.out), { ok: false, findings: [{ code: 'lldpad-down' }] });
  r = await run(['explain', file]);
  t.match(r.out, /^error lldpad-down \(lldpad\): lldpad does not answer/m);
  t.equal((await run(['explain'])).code, 2, 'usage: no file');
  t.equal((await run(['explain', file, file])).code, 2, 'usage: two files');
  t.equal((await run(['explain', file, '--bogus'])).code, 2, 'usage: unknown flag');
  t.equal((await run(['explain', '-'], '')).code, 2, 'usage: empty stdin');
});
