// The /xml routes: output equal to the checked-in fixtures, roles, and a clear 4xx naming the field for bad input
// on every route. Types come from real parseVsiTypeSpec objects (test/fixtures/libvirt/types.json).
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { buildServer } from '../../src/api/server.js';
import { CHANGES_HEADER, xmlRoutes } from '../../src/api/xml-routes.js';
import { XML_LIMITS } from '../../src/libvirt/xml-read.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';

const FIX = new URL('../fixtures/libvirt/', import.meta.url);
const fixture = (c: string, f: string) => readFileSync(new URL(`${c}/${f}`, FIX), 'utf8');
const argsOf = (c: string) => (JSON.parse(fixture(c, 'args.json')) as { args: Record<string, unknown> }).args;

const TOKENS = { admin: ['adm'], hook: ['hk'], monitor: ['mon'] };

async function setup(t: Test, tokens?: typeof TOKENS) {
  const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent', tokens });
  t.teardown(() => app.close());
  return app;
}

const xmlHeaders = { 'content-type': 'application/xml' };

t.test('generation routes answer application/xml equal to the fixtures', async (t) => {
  const app = await setup(t);
  for (const [url, c] of [
    ['/xml/interface', 'interface-direct-vepa'],
    ['/xml/interface', 'interface-direct-pinned'],
    ['/xml/interface-network', 'interface-network-portgroup'],
    ['/xml/interface-network', 'interface-network-with-profile'],
    ['/xml/network', 'network-vepa-portgroups'],
  ] as const) {
    const r = await app.inject({ method: 'POST', url, payload: argsOf(c) });
    t.equal(r.statusCode, 200, `${url} ${c}: ${r.body}`);
    t.match(r.headers['content-type'], /^application\/xml/);
    t.equal(r.body, fixture(c, 'expected.xml'), `${url} ${c}`);
  }
});

t.test('rewrite: XML in, XML out with the summary in a header; JSON variants', async (t) => {
  const app = await setup(t);
  const input = fixture('rewrite-direct-added', 'input.xml');
  const r = await app.inject({ method: 'POST', url: '/xml/rewrite', headers: xmlHeaders, payload: input });
  t.equal(r.statusCode, 200, r.body);
  t.match(r.headers['content-type'], /^application\/xml/);
  t.equal(r.body, fixture('rewrite-direct-added', 'expected.xml'));
  t.same(JSON.parse(String(r.headers[CHANGES_HEADER])), JSON.parse(fixture('rewrite-direct-added', 'expected-changes.json')));

  const j = await app.inject({ method: 'POST', url: '/xml/rewrite?format=json', headers: { 'content-type': 'text/xml' }, payload: input });
  t.equal(j.statusCode, 200, j.body);
  t.same(j.json(), { xml: fixture('rewrite-direct-added', 'expected.xml'), changes: JSON.parse(fixture('rewrite-direct-added', 'expected-changes.json')) });

  // JSON body: networks are merge-checked; the vmUuid option reaches the rewrite
  const net = await app.inject({
    method: 'POST',
    url: '/xml/rewrite',
    payload: { xml: fixture('rewrite-network-nic', 'input.xml'), networks: { 'vepa-net': fixture('rewrite-network-nic', 'network-vepa-net.xml') } },
  });
  t.equal(net.statusCode, 200, net.body);
  t.equal(net.json().xml, fixture('rewrite-network-nic', 'expected.xml'));
  const uuid = await app.inject({ method: 'POST', url: `/xml/rewrite?vmUuid=${argsOf('rewrite-vm-uuid-option').vmUuid}`, headers: xmlHeaders, payload: fixture('rewrite-vm-uuid-option', 'input.xml') });
  t.equal(uuid.body, fixture('rewrite-vm-uuid-option', 'expected.xml'));
});

t.test('merge check route', async (t) => {
  const app = await setup(t);
  const ok = await app.inject({
    method: 'POST',
    url: '/xml/merge',
    payload: { interface: fixture('merge-named-portgroup', 'input.xml'), network: fixture('merge-named-portgroup', 'network.xml') },
  });
  t.equal(ok.statusCode, 200, ok.body);
  t.match(ok.json().virtualport, { type: '802.1Qbg', parameters: { managerId: 12, typeId: 3193047, typeIdVersion: 4 } });
  const bad = await app.inject({
    method: 'POST',
    url: '/xml/merge',
    payload: { interface: fixture('bad-merge-network-vs-portgroup', 'input.xml'), network: fixture('bad-merge-network-vs-portgroup', 'network.xml') },
  });
  t.equal(bad.statusCode, 409);
  t.match(bad.json(), { code: 'QBG_ERR_XML_MERGE_CONFLICT', field: 'virtualport.managerid', error: /network vepa-net.*portgroup bob of network vepa-net/ });
});

t.test('roles: generation is monitor, rewrite is hook', async (t) => {
  const app = await setup(t, TOKENS);
  const gen = (token?: string) =>
    app.inject({ method: 'POST', url: '/xml/interface', headers: token ? { authorization: `Bearer ${token}` } : {}, payload: argsOf('interface-direct-vepa') });
  const rw = (token: string) =>
    app.inject({ method: 'POST', url: '/xml/rewrite', headers: { ...xmlHeaders, authorization: `Bearer ${token}` }, payload: fixture('rewrite-unchanged', 'input.xml') });
  t.equal((await gen()).statusCode, 401);
  t.equal((await gen('mon')).statusCode, 200);
  const denied = await rw('mon');
  t.equal(denied.statusCode, 403);
  t.match(denied.json(), { code: 'QBG_ERR_FORBIDDEN' });
  t.equal((await rw('hk')).statusCode, 200);
  t.equal((await rw('adm')).statusCode, 200);
  const merge = await app.inject({ method: 'POST', url: '/xml/merge', headers: { authorization: 'Bearer mon' }, payload: { interface: '<interface type="network"><source network="n"/></interface>', network: '<network><name>n</name></network>' } });
  t.equal(merge.statusCode, 200, merge.body);
  t.same(merge.json(), { virtualport: null });
});

t.test('bad input on every route: 4xx with code and field', async (t) => {
  const app = await setup(t);
  const iface = argsOf('interface-direct-vepa');
  const net = argsOf('network-vepa-portgroups');
  const nif = argsOf('interface-network-portgroup');
  const deep = '<domain>' + '<x>'.repeat(XML_LIMITS.maxDepth) + '</x>'.repeat(XML_LIMITS.maxDepth) + '</domain>';
  const cases: Array<{ url: string; payload: unknown; headers?: Record<string, string>; status: number; code: string; field?: string; msg?: RegExp }> = [
    { url: '/xml/interface', payload: { ...iface, mac: undefined }, status: 400, code: 'QBG_ERR_FIELD_REQUIRED', field: 'mac' },
    { url: '/xml/interface', payload: { ...iface, colour: 'red' }, status: 400, code: 'QBG_ERR_UNKNOWN_FIELD', field: 'colour' },
    { url: '/xml/interface', payload: { ...iface, mac: '01:00:5e:00:00:01' }, status: 400, code: 'QBG_ERR_MAC_FORMAT', field: 'mac' },
    { url: '/xml/interface', payload: { ...iface, mode: 'vepa2' }, status: 400, code: 'QBG_ERR_FIELD_TYPE', field: 'mode', msg: /vepa, bridge, private, passthrough/ },
    { url: '/xml/interface', payload: { ...iface, version: 256 }, status: 400, code: 'QBG_ERR_FIELD_TYPE', field: 'version', msg: /0–255/ },
    { url: '/xml/interface', payload: { ...iface, version: 9 }, status: 404, code: 'QBG_ERR_TYPE_VERSION_NOT_FOUND', field: 'version' },
    { url: '/xml/interface', payload: { ...iface, profile: 'nope' }, status: 404, code: 'QBG_ERR_TYPE_NOT_FOUND', field: 'profile' },
    { url: '/xml/interface', payload: { ...iface, profile: 'mgr2-ipv4' }, status: 422, code: 'QBG_ERR_XML_NOT_EXPRESSIBLE', field: 'profile', msg: /0–255/ },
    { url: '/xml/interface', payload: { ...iface, uplink: 'eth0;reboot' }, status: 400, code: 'QBG_ERR_FIELD_TYPE', field: 'uplink' },
    { url: '/xml/interface', payload: { ...iface, vmUuid: 'x' }, status: 400, code: 'QBG_ERR_UUID_FORMAT', field: 'vmUuid' },
    { url: '/xml/interface-network', payload: { ...nif, network: 'a b' }, status: 400, code: 'QBG_ERR_NAME_FORMAT', field: 'network' },
    { url: '/xml/interface-network', payload: { ...nif, version: 1 }, status: 400, code: 'QBG_ERR_BAD_REQUEST', field: 'version' },
    { url: '/xml/network', payload: { ...net, uplinks: [] }, status: 400, code: 'QBG_ERR_FIELD_TYPE', field: 'uplinks' },
    { url: '/xml/network', payload: { ...net, portgroups: [{ name: 'a' }] }, status: 400, code: 'QBG_ERR_FIELD_REQUIRED', field: 'portgroups[0].profile' },
    { url: '/xml/network', payload: { ...net, portgroups: [{ name: 'a', profile: 'mgr2-ipv4' }] }, status: 422, code: 'QBG_ERR_XML_NOT_EXPRESSIBLE', field: 'portgroups[0].profile' },
    { url: '/xml/network', payload: { ...net, uplinks: ['eth1', 'eth1'] }, status: 400, code: 'QBG_ERR_BAD_REQUEST', field: 'uplinks[1]' },
    { url: '/xml/merge', payload: { interface: '<network/>', network: '<network/>' }, status: 400, code: 'QBG_ERR_XML_SHAPE', field: 'interface' },
    { url: '/xml/merge', payload: { interface: '<interface/>', network: '<x' }, status: 400, code: 'QBG_ERR_XML_PARSE', field: 'network' },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: '<domain><name>x</domain>', status: 400, code: 'QBG_ERR_XML_PARSE', field: 'domain', msg: /line 1/ },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: '', status: 400, code: 'QBG_ERR_XML_PARSE', field: 'domain' },
    {
      url: '/xml/rewrite',
      headers: xmlHeaders,
      payload: '<!DOCTYPE d [<!ENTITY a "aaaa">]><domain>&a;</domain>',
      status: 400,
      code: 'QBG_ERR_XML_SHAPE',
      field: 'domain',
      msg: /DOCTYPE/,
    },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: `<a>${'x'.repeat(XML_LIMITS.maxBytes)}</a>`, status: 413, code: 'QBG_ERR_XML_LIMIT', msg: /524288 bytes/ },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: deep, status: 413, code: 'QBG_ERR_XML_LIMIT', field: 'domain', msg: /depth/ },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: fixture('bad-rewrite-unknown-profile', 'input.xml'), status: 404, code: 'QBG_ERR_XML_UNKNOWN_PROFILE' },
    { url: '/xml/rewrite', headers: xmlHeaders, payload: fixture('bad-rewrite-document-conflict', 'input.xml'), status: 409, code: 'QBG_ERR_XML_MERGE_CONFLICT', field: 'virtualport.typeid' },
    { url: '/xml/rewrite?vmUuid=zz', headers: xmlHeaders, payload: fixture('rewrite-unchanged', 'input.xml'), status: 400, code: 'QBG_ERR_UUID_FORMAT', field: 'vmUuid' },
    { url: '/xml/rewrite?format=yaml', headers: xmlHeaders, payload: fixture('rewrite-unchanged', 'input.xml'), status: 400, code: 'QBG_ERR_FIELD_TYPE', field: 'format' },
    { url: '/xml/rewrite', payload: { xml: '<domain/>', extra: 1 }, status: 400, code: 'QBG_ERR_UNKNOWN_FIELD', field: 'extra' },
    { url: '/xml/rewrite', payload: { networks: {} }, status: 400, code: 'QBG_ERR_FIELD_REQUIRED', field: 'xml' },
  ];
  for (const c of cases) {
    const r = await app.inject({ method: 'POST', url: c.url, headers: c.headers, payload: c.payload as string });
    const what = `${c.url} ${JSON.stringify(c.payload).slice(0, 60)}`;
    t.equal(r.statusCode, c.status, `${what}: ${r.body.slice(0, 300)}`);
    const body = r.json();
    t.equal(body.code, c.code, what);
    if (c.field !== undefined) t.equal(body.field, c.field, `${what} names the field`);
    if (c.msg) t.match(body.error, c.msg, what);
  }
  const plain = await app.inject({ method: 'POST', url: '/xml/rewrite', headers: { 'content-type': 'text/plain' }, payload: '<domain/>' });
  t.equal(plain.statusCode, 400, 'other content types are refused');
  t.match(plain.json(), { code: 'QBG_ERR_BAD_REQUEST', field: 'content-type', error: /application\/xml/ });
});

t.test("rewrite on a host where qbg owns the VSIs (xmlRoutes ownership qbg, as qbg serve passes its config): no virtualport is written", async (t) => {
  const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes(), ownership: 'qbg' })], logLevel: 'silent' });
  t.teardown(() => app.close());
  const input = fixture('rewrite-direct-added', 'input.xml');
  const r = await app.inject({ method: 'POST', url: '/xml/rewrite?format=json', headers: xmlHeaders, payload: input });
  t.equal(r.statusCode, 200, r.body);
  t.equal(r.json().xml, input, 'the document as it came: libvirt announces nothing, the hook does');
  t.match(r.json().changes, [{ mac: '52:54:00:12:34:56', owner: 'qbg', action: 'unchanged', instanceIdFrom: 'generated' }]);
});
