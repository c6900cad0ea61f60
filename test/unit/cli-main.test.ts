import t from 'tap';
import { main } from '../../src/cli/main.js';
import { parseArgs } from '../../src/cli/args.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) } };
}

t.test('qbg --help lists every command; unknown command is a usage error (exit 2)', async (t) => {
  const c = capture();
  t.equal(await main(['--help'], c.io), 0);
  t.match(c.out.join('\n'), /serve/);
  const d = capture();
  t.equal(await main(['frobnicate'], d.io), 2);
  t.match(d.err.join('\n'), /unknown command "frobnicate"/);
});

t.test('--version, also as JSON', async (t) => {
  const c = capture();
  t.equal(await main(['--version', '--json'], c.io), 0);
  t.match(JSON.parse(c.out[0]), { version: /^\d+\.\d+\.\d+/ });
});

t.test('argument parser: strict about unknown flags and missing values', async (t) => {
  const spec = { name: { value: true }, force: { value: false }, vlan: { value: true, multiple: true } };
  t.same(parseArgs(['x', '--name', 'web', '--force', '--vlan=1', '--vlan', '2'], spec), {
    positionals: ['x'],
    flags: { name: 'web', force: true, vlan: ['1', '2'] },
  });
  t.throws(() => parseArgs(['--nmae', 'web'], spec), /unknown option --nmae/);
  t.throws(() => parseArgs(['--name'], spec), /--name needs a value/);
  t.throws(() => parseArgs(['--force=yes'], spec), /takes no value/);
});

t.test('a missing required flag is a usage error in the CLI\'s words, and nothing is sent', async (t) => {
  const noFetch = (async () => {
    throw new Error('the CLI sent a request although a flag was missing');
  }) as unknown as typeof fetch;
  const run = async (...argv: string[]) => {
    const c = capture();
    const code = await main(argv, { ...c.io, fetch: noFetch, baseUrl: 'http://qbg.test' });
    return { code, err: c.err.join('\n') };
  };
  const vm = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
  let r = await run('nic', 'associate', '--vm', vm, '--uplink', 's0', '--type', 'web', '--vlan', '100');
  t.equal(r.code, 2);
  t.equal(r.err, 'qbg: --mac is required (see qbg --help)');
  r = await run('nic', 'associate', '--vm', vm, '--type', 'web');
  t.equal(r.code, 2);
  t.equal(r.err, 'qbg: --mac, --uplink and --vlan are required (see qbg --help)');
  t.notMatch(r.err, /body/);
  r = await run('profile', 'add', '--name', 'web', '--manager-id', '1', '--type-id', '5');
  t.equal(r.code, 2);
  t.equal(r.err, 'qbg: --type-version is required (see qbg --help)');
  r = await run('profile', 'add', '--name', 'web', '--type-id', '5', '--type-version', '1');
  t.equal(r.code, 2);
  t.equal(r.err, 'qbg: --manager-id or --manager-id2 is required (see qbg --help)');
});

t.test('an unreachable service is reported as such (exit 1), never as an internal error', async (t) => {
  const { createServer } = await import('node:http');
  // a port nobody listens on: bind one, note it, close it
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const url = `http://127.0.0.1:${port}`;
  for (const argv of [['profile', 'list'], ['nic', 'list'], ['uplink', 'status']]) {
    const c = capture();
    const code = await main(['--url', url, ...argv], c.io);
    t.equal(code, 1, argv.join(' '));
    const err = c.err.join('\n');
    t.match(err, new RegExp(`cannot reach qbg at ${url}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`), argv.join(' '));
    t.notMatch(err, /500|INTERNAL|internal error/, argv.join(' '));
  }
  const j = capture();
  t.equal(await main(['--url', url, '--json', 'profile', 'list'], j.io), 1);
  t.match(JSON.parse(j.out[0]), { code: 'QBG_ERR_SERVICE_UNREACHABLE', error: /cannot reach qbg/ });

  // something that is not qbg answers at the URL: said so, with its status
  const other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => other.close());
  const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  const c = capture();
  t.equal(await main(['--url', otherUrl, 'profile', 'list'], c.io), 1);
  t.match(c.err.join('\n'), `cannot reach qbg at ${otherUrl}: HTTP 404 that is not a qbg answer`);
});
