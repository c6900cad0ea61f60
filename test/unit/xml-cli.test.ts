// `qbg xml …` against a real in-process qbg (listening on 127.0.0.1:0, real fetch), through the real `qbg` entry
// point so exit codes and the one-line error are what an admin sees.
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from '../../src/api/server.js';
import { xmlRoutes } from '../../src/api/xml-routes.js';
import { main } from '../../src/cli/main.js';
import { fixtureTypes } from '../fixtures/libvirt/types.js';

const FIX = fileURLToPath(new URL('../fixtures/libvirt/', import.meta.url));
const fixture = (c: string, f: string) => readFileSync(join(FIX, c, f), 'utf8');

async function setup(t: Test, tokens?: { admin: string[]; hook: string[]; monitor: string[] }) {
  const app = await buildServer({ routes: [xmlRoutes({ types: fixtureTypes() })], logLevel: 'silent', tokens });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--url', address, ...argv], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      fetch: globalThis.fetch,
      readStdin: async () => stdin,
    });
    return { code, out: out.join(''), err };
  };
  return { run };
}

t.test('interface, interface-network and network print the same XML as the fixtures', async (t) => {
  const { run } = await setup(t);
  const i = await run(['xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56', '--vm-uuid', '4dea22b3-1d52-d8f3-2516-782e98ab3fa0']);
  t.equal(i.code, 0, i.err.join('\n'));
  t.equal(i.out, fixture('interface-direct-vepa', 'expected.xml'));

  const p = await run(['xml', 'interface', '--profile=web-tier', '--profile-version', '1', '--uplink', 'enp3s0f1', '--mac', '52-54-00-AB-CD-EF', '--mode', 'bridge', '--model', 'e1000e', '--instance-id', '09B11C53-8B5C-4EEB-8F00-D84EAA0AAA4F']);
  t.equal(p.out, fixture('interface-direct-pinned', 'expected.xml'), p.err.join('\n'));

  const n = await run(['xml', 'interface-network', '--network', 'vepa-net', '--portgroup', 'web', '--mac', '52:54:00:12:34:56', '--vm-uuid', '4dea22b3-1d52-d8f3-2516-782e98ab3fa0']);
  t.equal(n.out, fixture('interface-network-portgroup', 'expected.xml'), n.err.join('\n'));

  const net = await run([
    'xml', 'network', '--name', 'vepa-net', '--uuid', '81ff0d90-c91e-4742-a4da-4a736edb9a8b',
    '--uplink', 'eth1', '--uplink', 'eth2', '--uplink', 'eth3',
    '--portgroup', 'web=web-tier', '--portgroup', 'web-old=web-tier@1', '--portgroup', 'db=db-tier', '--default-portgroup', 'web',
  ]);
  t.equal(net.code, 0, net.err.join('\n'));
  t.equal(net.out, fixture('network-vepa-portgroups', 'expected.xml'));

  const j = await run(['--json', 'xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56', '--vm-uuid', '4dea22b3-1d52-d8f3-2516-782e98ab3fa0']);
  t.same(JSON.parse(j.out), { xml: fixture('interface-direct-vepa', 'expected.xml') });
});

t.test('rewrite from a file, from stdin, with --json; changes on stderr', async (t) => {
  const { run } = await setup(t);
  const file = join(FIX, 'rewrite-direct-added', 'input.xml');
  const expected = fixture('rewrite-direct-added', 'expected.xml');
  const a = await run(['xml', 'rewrite', file]);
  t.equal(a.code, 0, a.err.join('\n'));
  t.equal(a.out, expected);
  t.match(a.err.join('\n'), /52:54:00:12:34:56 added \(owner libvirt\): profile web-tier managerid 12 typeid 1193047 typeidversion 2 instanceid 371fa9b9-/);

  const input = readFileSync(file, 'utf8');
  t.equal((await run(['xml', 'rewrite', '-'], input)).out, expected, 'stdin with -');
  t.equal((await run(['xml', 'rewrite'], input)).out, expected, 'stdin without FILE');

  const j = await run(['xml', 'rewrite', '--json', file]);
  t.same(JSON.parse(j.out), { xml: expected, changes: JSON.parse(fixture('rewrite-direct-added', 'expected-changes.json')) });

  const withNet = await run(['xml', 'rewrite', join(FIX, 'rewrite-network-nic', 'input.xml'), '--network', `vepa-net=${join(FIX, 'rewrite-network-nic', 'network-vepa-net.xml')}`]);
  t.equal(withNet.out, fixture('rewrite-network-nic', 'expected.xml'), withNet.err.join('\n'));

  const uuid = await run(['xml', 'rewrite', join(FIX, 'rewrite-vm-uuid-option', 'input.xml'), '--vm-uuid', '4dea22b3-1d52-d8f3-2516-782e98ab3fa0']);
  t.equal(uuid.out, fixture('rewrite-vm-uuid-option', 'expected.xml'), uuid.err.join('\n'));
});

t.test('merge prints the merged virtualport with its sources', async (t) => {
  const { run } = await setup(t);
  const m = await run(['xml', 'merge', '--interface', join(FIX, 'merge-named-portgroup', 'input.xml'), '--network', join(FIX, 'merge-named-portgroup', 'network.xml')]);
  t.equal(m.code, 0, m.err.join('\n'));
  t.match(m.out, /managerId 12 \(from network vepa-net\)/);
  t.match(m.out, /typeId 3193047 \(from portgroup alice of network vepa-net\)/);
});

t.test('errors: exit 1 and one line naming the field; usage errors exit 2', async (t) => {
  const { run } = await setup(t);
  const cases: Array<{ argv: string[]; code: number; line: RegExp }> = [
    { argv: ['xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '01:00:5e:00:00:01'], code: 1, line: /^qbg: mac: .*MAC address.*\[QBG_ERR_MAC_FORMAT\]$/ },
    { argv: ['xml', 'interface', '--profile', 'mgr2-ipv4', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56'], code: 1, line: /^qbg: profile: .*0–255.*\[QBG_ERR_XML_NOT_EXPRESSIBLE\]$/ },
    { argv: ['xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56', '--profile-version', '300'], code: 1, line: /^qbg: version: .*0–255/ },
    { argv: ['xml', 'interface', '--profile', 'web-tier@9', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56'], code: 1, line: /^qbg: version: VSI type web-tier has no version 9 \[QBG_ERR_TYPE_VERSION_NOT_FOUND\]$/ },
    { argv: ['xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56', '--mode', 'vepa2'], code: 1, line: /^qbg: mode: .*vepa, bridge, private, passthrough/ },
    { argv: ['xml', 'network', '--name', 'n', '--uplink', 'eth1', '--portgroup', 'a=mgr2-ipv4'], code: 1, line: /^qbg: portgroups\[0\]\.profile: / },
    {
      argv: ['xml', 'rewrite', join(FIX, 'bad-rewrite-network-conflict', 'input.xml'), '--network', `vepa-net=${join(FIX, 'bad-rewrite-network-conflict', 'network-vepa-net.xml')}`],
      code: 1,
      line: /^qbg: virtualport\.typeid: virtualport typeid is 2193047 in interface 52:54:00:12:34:57 but 2193048 in portgroup db of network vepa-net/,
    },
    { argv: ['xml', 'rewrite', '/nonexistent/domain.xml'], code: 1, line: /^qbg: file: cannot read \/nonexistent\/domain.xml: ENOENT/ },
    { argv: ['xml', 'interface', '--profile', 'web-tier', '--mac', '52:54:00:12:34:56'], code: 2, line: /--uplink is required/ },
    { argv: ['xml', 'interface', '--colour', 'red'], code: 2, line: /unknown option --colour/ },
    { argv: ['xml', 'network', '--name', 'n', '--uplink', 'eth1', '--portgroup', 'noequals'], code: 2, line: /NAME=PROFILE\[@VERSION\]/ },
    { argv: ['xml', 'frobnicate'], code: 2, line: /unknown xml subcommand "frobnicate"/ },
    { argv: ['xml'], code: 2, line: /needs a subcommand/ },
  ];
  for (const c of cases) {
    const r = await run(c.argv);
    t.equal(r.code, c.code, c.argv.join(' '));
    t.equal(r.err.length, 1, `one line: ${r.err.join(' | ')}`);
    t.match(r.err[0], c.line, c.argv.join(' '));
    t.equal(r.out, '', 'nothing on stdout');
  }
  const stdinBad = await run(['xml', 'rewrite'], '<domain><name>x</domain>');
  t.equal(stdinBad.code, 1);
  t.match(stdinBad.err[0], /^qbg: domain: XML is not well-formed/);
});

t.test('roles through the CLI: a monitor token may generate but not rewrite', async (t) => {
  const { run } = await setup(t, { admin: [], hook: ['hk'], monitor: ['mon'] });
  const dir = mkdtempSync(join(tmpdir(), 'qbg-xml-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'd.xml');
  writeFileSync(file, fixture('rewrite-unchanged', 'input.xml'));
  t.equal((await run(['--token', 'mon', 'xml', 'interface', '--profile', 'web-tier', '--uplink', 'eth0', '--mac', '52:54:00:12:34:56'])).code, 0);
  const denied = await run(['--token', 'mon', 'xml', 'rewrite', file]);
  t.equal(denied.code, 1);
  t.match(denied.err[0], /QBG_ERR_FORBIDDEN/);
  const ok = await run(['--token', 'hk', 'xml', 'rewrite', file]);
  t.equal(ok.code, 0);
  t.equal(ok.out, fixture('rewrite-unchanged', 'input.xml'), 'complete already: byte for byte');
});
