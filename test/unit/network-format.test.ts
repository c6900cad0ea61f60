// qbg xml network FILE without a libvirtd: libvirt's element order, quoting and indentation, decimal numbers,
// canonical UUIDs, a made-up <uuid>, and refusals naming the element. That the output is byte for byte libvirt's
// own net-dumpxml is proved against a real libvirtd in test/lab/libvirt-network-format.test.ts.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { formatNetworkXml } from '../../src/libvirt/network-format.js';

const U = '81ff0d90-c91e-6742-64da-4a736edb9a8b';

t.test("libvirt's form: order, quotes, decimal numbers, canonical UUIDs, forward dev", async (t) => {
  const input = `<network>
	<portgroup name="web" default="YES"><virtualport type="802.1Qbg"><parameters typeidversion="0x2"/></virtualport></portgroup>
	<virtualport type="802.1Qbg"><parameters instanceid="B153FA89 1B879719EC1299E0054FB844" typeid="010" managerid=" 0x0b"/></virtualport>
	<forward mode="vepa"><interface dev="eth1"/><interface dev="eth2"/></forward>
	<uuid>81FF0D90C91E674264DA4A736EDB9A8B</uuid>
	<name>vepa&amp;net</name>
	<portgroup name="empty"/>
</network>`;
  t.equal(
    formatNetworkXml(input).xml,
    `<network>
  <name>vepa&amp;net</name>
  <uuid>${U}</uuid>
  <forward dev='eth1' mode='vepa'>
    <interface dev='eth1'/>
    <interface dev='eth2'/>
  </forward>
  <virtualport type='802.1Qbg'>
    <parameters managerid='11' typeid='8' instanceid='b153fa89-1b87-9719-ec12-99e0054fb844'/>
  </virtualport>
  <portgroup name='web' default='yes'>
    <virtualport type='802.1Qbg'>
      <parameters typeidversion='2'/>
    </virtualport>
  </portgroup>
  <portgroup name='empty'>
  </portgroup>
</network>
`,
  );
  // no <uuid>: made up, and said; no interfaces: a short <forward/>; a typed virtualport without parameters
  const r = formatNetworkXml("<network><name>n</name><forward mode='private'/><virtualport type='802.1Qbg'/></network>", { uuid: () => U });
  t.same(r, { xml: `<network>\n  <name>n</name>\n  <uuid>${U}</uuid>\n  <forward mode='private'/>\n  <virtualport type='802.1Qbg'/>\n</network>\n`, uuidGenerated: true });
  t.match(formatNetworkXml('<network><name>n</name><forward mode="vepa"/></network>').xml, /<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}<\/uuid>/);
});

t.test('refused, naming the element: what libvirt refuses, and networks outside the macvtap family', async (t) => {
  const refuse = (xml: string, message: RegExp, field: string) => t.throws(() => formatNetworkXml(xml), { code: 'QBG_ERR_XML_SHAPE', message, field });
  refuse("<network><name>n</name><forward mode='vepa'/><virtualport type='802.1Qbg'><parameters managerid='300'/></virtualport></network>", /libvirt would not define this network: parameter-range/, 'network n <virtualport>');
  refuse("<network><name>n</name><forward mode='vepa'/><ip address='10.0.0.1'/></network>", /<network> <ip>: not supported/, '<network> <ip>');
  refuse("<network><name>n</name><forward mode='nat'/></network>", /forward mode nat/, '<forward>');
  refuse('<network><name>n</name></network>', /forward mode none/, '<forward>');
  refuse("<network><name>n</name><forward mode='vepa'><pf dev='eth0'/></forward></network>", /<forward> <pf>: not supported/, '<forward> <pf>');
  refuse('<domain/>', /expected a libvirt <network>/, 'xml');
});

t.test('qbg xml network FILE|-: local, XML on stdout, --json, a made-up uuid said on stderr; usage', async (t) => {
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), fetch: globalThis.fetch, readStdin: async () => stdin });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const dir = mkdtempSync(join(tmpdir(), 'qbg-netfmt-'));
  const file = join(dir, 'n.xml');
  writeFileSync(file, `<network><name>n</name><uuid>${U}</uuid><forward mode="vepa"><interface dev="s0"/></forward></network>`);
  let r = await run(['xml', 'network', file]);
  t.same([r.code, r.out, r.err], [0, `<network>\n  <name>n</name>\n  <uuid>${U}</uuid>\n  <forward dev='s0' mode='vepa'>\n    <interface dev='s0'/>\n  </forward>\n</network>`, '']);
  r = await run(['xml', 'network', '-', '--json'], '<network><name>n</name><forward mode="vepa"/></network>');
  t.match(JSON.parse(r.out), { uuidGenerated: true, xml: /^<network>/ });
  r = await run(['xml', 'network', '-'], '<network><name>n</name><forward mode="vepa"/></network>');
  t.match(r.err, /no <uuid>: a random one was made up/);
  r = await run(['xml', 'network', '-'], '<network><name>n</name><forward mode="nat"/></network>');
  t.equal(r.code, 1);
  t.match(r.err, /QBG_ERR_XML_SHAPE|forward mode nat/);
  t.equal((await run(['xml', 'network', file, '--name', 'x'])).code, 2, 'a file and generator flags: usage');
});
