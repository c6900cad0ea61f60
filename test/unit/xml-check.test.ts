// `qbg xml check` and POST /xml/check without a libvirtd: libvirt's number and UUID readers, each rule named with
// its element, the CLI's exit codes (0 / 1 / 2) and the route. Whether the verdicts are libvirt's own is proved
// against a real libvirtd in test/lab/libvirt-xml-check.test.ts.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildServer } from '../../src/api/server.js';
import { xmlRoutes } from '../../src/api/xml-routes.js';
import { main } from '../../src/cli/main.js';
import { checkLibvirtXml, libvirtUnsignedInt, libvirtUuid, XML_RULES } from '../../src/libvirt/xml-check.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';

const CORPUS = new URL('../fixtures/libvirt-oracle/', import.meta.url).pathname;

t.test('numbers as libvirt reads them (virStrToLong_ui, base 0)', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['11', 11], ['0x0b', 11], ['0X1F', 31], ['010', 8], ['0', 0], ['-0', 0], ['+2', 2], [' 5', 5], ['\t7', 7],
    ['-1', 4294967295], ['-4294967295', 1], ['4294967295', 4294967295],
    ['08', undefined], ['0x', undefined], ['', undefined], ['11 ', undefined], ['1e3', undefined], ['4294967296', undefined],
    ['-4294967296', undefined], ['0x1g', undefined], ['- 1', undefined], ['1.0', undefined],
  ];
  for (const [text, want] of cases) t.equal(libvirtUnsignedInt(text), want, JSON.stringify(text));
});

t.test('UUIDs as libvirt reads them (virUUIDParse)', async (t) => {
  for (const ok of ['09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f', '09B11C538B5C4EEB8F00D84EAA0AAA4F', ' 09b11c53 8b5c4eeb8f00-d84e-aa0aaa4f ', '--09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'])
    t.ok(libvirtUuid(ok), ok);
  for (const bad of ['vm1-nic0', '9b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f0', '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4', '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f00', '0-9b11c538b5c4eeb8f00d84eaa0aaa4f', ''])
    t.notOk(libvirtUuid(bad), bad);
});

const domain = (iface: string) =>
  `<domain type='qemu'><name>d</name><devices><interface type='direct'><mac address='52:54:00:00:00:01'/><source dev='eth0' mode='vepa'/>${iface}</interface></devices></domain>`;

t.test('each rule names its rule id and the element', async (t) => {
  const r = checkLibvirtXml(domain("<virtualport type='802.1Qbg'><parameters managerid='0x100' typeid='5' typeidversion='2'/></virtualport>"));
  t.same(r, {
    kind: 'domain',
    ok: false,
    violations: [{ rule: 'parameter-range', element: "interface 52:54:00:00:00:01 (type 'direct') <virtualport>", message: 'managerid="0x100" is 256, out of range 0–255' }],
  });
  t.match(checkLibvirtXml(domain("<virtualport type='802.1Qbg'><parameters managerid='1' typeid='5' typeidversion='2' profileid='web'/></virtualport>")).violations, [
    { rule: 'parameter-foreign', message: /profileid not allowed in <virtualport type='802.1Qbg'>/ },
  ]);
  t.match(checkLibvirtXml(domain("<virtualport><parameters managerid='1'/></virtualport>")).violations, [{ rule: 'virtualport-type-required' }]);
  t.match(checkLibvirtXml(domain("<virtualport type='802.1Qbg'><parameters managerid='1'/></virtualport>")).violations, [
    { rule: 'parameter-missing', message: /missing typeid, typeidversion/ },
  ]);
  t.match(checkLibvirtXml('<network><name>n</name><portgroup name="a" default="yes"/><portgroup name="b" default="Yes"/></network>').violations, [
    { rule: 'portgroup-default', element: 'network n', message: /2 default portgroups \(a, b\)/ },
  ]);
  t.match(checkLibvirtXml('<pool/>'), { kind: 'unknown', ok: false, violations: [{ rule: 'document-root' }] });
  t.match(checkLibvirtXml('<network/>', { kind: 'domain' }), { kind: 'domain', ok: false, violations: [{ rule: 'document-root' }] });
  // every rule the corpus exercises is a documented one
  const seen = new Set<string>();
  for (const kind of ['domain', 'network', 'networkport']) {
    for (const f of readdirSync(join(CORPUS, kind))) {
      const r = checkLibvirtXml(readFileSync(join(CORPUS, kind, f), 'utf8'), kind === 'networkport' ? { network: readFileSync(join(CORPUS, 'port-network.xml'), 'utf8') } : {});
      t.equal(r.ok, f.startsWith('accept-'), `${kind}/${f}`);
      for (const v of r.violations) seen.add(v.rule);
    }
  }
  // start cases: a guest and the network its NIC names, judged as `virsh start` judges them
  const startRules = new Set<string>();
  for (const c of readdirSync(join(CORPUS, 'start'))) {
    const domain = readFileSync(join(CORPUS, 'start', c, 'domain.xml'), 'utf8');
    const network = readFileSync(join(CORPUS, 'start', c, 'network.xml'), 'utf8');
    const r = checkLibvirtXml(domain, { network });
    t.equal(r.ok, c.startsWith('accept-'), `start/${c}`);
    t.equal(checkLibvirtXml(domain).ok, true, `start/${c}: the guest alone defines (these rules apply at start)`);
    t.equal(checkLibvirtXml(network).ok, true, `start/${c}: the network alone defines`);
    for (const v of r.violations) (seen.add(v.rule), startRules.add(v.rule));
  }
  t.same([...startRules].sort(), ['network-vlan', 'parameter-missing', 'virtualport-forward-mode', 'virtualport-merge'], 'every start rule is refused by some start case');
  const untested = Object.keys(XML_RULES).filter((k) => !seen.has(k) && k !== 'document-root');
  t.same(untested, [], 'the corpus refuses a document under every rule');
});

t.test('xml check --network: the start rules name the NIC, the network and both places of a conflict', async (t) => {
  const dir = join(CORPUS, 'start');
  const check = (c: string) =>
    checkLibvirtXml(readFileSync(join(dir, c, 'domain.xml'), 'utf8'), { network: readFileSync(join(dir, c, 'network.xml'), 'utf8') }).violations;
  t.match(check('reject-conflict-typeid'), [
    { rule: 'virtualport-merge', element: "interface 52:54:00:77:10:01 (type 'network') on network qbg-start", message: /typeid.*5.*interface 52:54:00:77:10:01.*1193047.*network qbg-start/ },
  ]);
  t.match(check('reject-conflict-portgroup'), [{ rule: 'virtualport-merge', message: /typeidversion.*portgroup web of network qbg-start/ }]);
  t.match(check('reject-incomplete-after-merge'), [{ rule: 'parameter-missing', message: /missing typeid, typeidversion/ }]);
  t.match(check('reject-openvswitch-on-vepa'), [{ rule: 'virtualport-forward-mode', message: /openvswitch.*macvtap/ }]);
  t.match(check('reject-interface-vlan'), [{ rule: 'network-vlan', element: "interface 52:54:00:77:10:01 (type 'network') <vlan>" }]);
  // a NIC on another network is not judged by this one
  const other = readFileSync(join(dir, 'reject-conflict-typeid', 'domain.xml'), 'utf8').replace("network='qbg-start'", "network='elsewhere'");
  t.same(checkLibvirtXml(other, { network: readFileSync(join(dir, 'reject-conflict-typeid', 'network.xml'), 'utf8') }).violations, []);
});

t.test('qbg xml check: exit 0 / 1 / 2, --json, stdin; POST /xml/check', async (t) => {
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), fetch: globalThis.fetch, readStdin: async () => stdin });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const good = join(CORPUS, 'domain', 'accept-hostdev-qbg.xml');
  let r = await run(['xml', 'check', good]);
  t.same([r.code, r.out], [0, 'ok: libvirt would define this domain']);
  r = await run(['xml', 'check', join(CORPUS, 'domain', 'reject-direct-profileid.xml')]);
  t.equal(r.code, 1);
  t.match(r.out, /^refused: libvirt would not define this domain\n {2}parameter-foreign: interface 52:54:00:0b:00:[0-9a-f]{2} \(type 'direct'\) <virtualport>: profileid not allowed/);
  r = await run(['xml', 'check', '-', '--json'], readFileSync(join(CORPUS, 'network', 'reject-vepa-vlan.xml'), 'utf8'));
  t.equal(r.code, 1);
  t.match(JSON.parse(r.out), { kind: 'network', ok: false, violations: [{ rule: 'network-vlan', element: 'network qbg-oracle-vepa-vlan <vlan>' }] });
  r = await run(['xml', 'check', join(CORPUS, 'networkport', 'reject-qbg-partial.xml'), '--network', join(CORPUS, 'port-network.xml')]);
  t.equal(r.code, 1);
  t.match(r.out, /parameter-missing: networkport on network qbg-oracle-vepa: missing typeid, typeidversion/);
  t.equal((await run(['xml', 'check', good, '--kind', 'pool'])).code, 2, 'usage: bad --kind');
  t.equal((await run(['xml', 'check', 'a', 'b'])).code, 2, 'usage: two files');

  const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent', tokens: { admin: ['adm'], hook: ['hk'], monitor: ['mon'] } });
  t.teardown(() => app.close());
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/xml/check', headers: { authorization: 'Bearer mon' }, payload: payload as object });
  let res = await post({ xml: readFileSync(good, 'utf8') });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { kind: 'domain', ok: true, violations: [] });
  res = await post({ xml: readFileSync(join(CORPUS, 'networkport', 'reject-ovs.xml'), 'utf8'), network: readFileSync(join(CORPUS, 'port-network.xml'), 'utf8') });
  t.match(res.json(), { kind: 'networkport', ok: false, violations: [{ rule: 'virtualport-forward-mode' }] });
  res = await post({ xml: '<domain>' });
  t.equal(res.statusCode, 400, 'not XML: a 4xx naming the field');
  t.match(res.json(), { field: 'xml' });
  res = await post({ xml: '<domain/>', kind: 'pool' });
  t.equal(res.statusCode, 400);
});
