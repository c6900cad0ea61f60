// Property-based bad-input tests of the `qbg` command line: random argv (the real words, flags and key=value
// settings mixed with garbage) never throws, always exits 0, 1 or 2, and a failure prints exactly one line.
// The commands talk HTTP to a real in-memory qbg (fastify inject behind io.fetch); files live in a temp dir.
// `serve` and `lab` are left out: they start a server or real network namespaces.
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { parseArgs } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/io.js';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { xmlRoutes } from '../../src/api/xml-routes.js';
import { uplinksRoutesFor } from '../../src/api/uplinks-routes.js';
import { qbgError } from '../../src/domain/errors.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { MemoryUplinkConfigStore, UplinkManager } from '../../src/service/uplink-manager.js';
import type { Lldptool } from '../../src/lldpad/lldptool.js';
import { nastyString, RUNS } from './arbitraries.js';

const dir = mkdtempSync(join(tmpdir(), 'qbg-cli-fuzz-'));
const cwd = process.cwd();
process.chdir(dir); // profile export writes relative to here
t.teardown(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync('web.yaml', 'name: web\nmanagerId: 1\ntypeId: 100\ntypeIdVersion: 1\nallowedVlans: [10]\n');
writeFileSync('bad.yaml', 'name: web\ntypeId: 99999999999\n');
writeFileSync('dom.xml', '<domain><uuid>8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c</uuid><metadata><qbg:nics xmlns:qbg="https://qbg.example/xmlns/1"><qbg:nic mac="52:54:00:12:34:56" profile="web"/></qbg:nics></metadata><devices><interface type="direct"><mac address="52:54:00:12:34:56"/></interface></devices></domain>');
writeFileSync('net.xml', '<network><name>n</name><forward mode="vepa"/></network>');

const db = openDatabase(':memory:');
const types = new TypeService(db);
types.create({ name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 });
const noLldptool = (): Lldptool => {
  throw qbgError('QBG_ERR_LLDPAD_UNREACHABLE', '', 'no lldptool in this test');
};
const app = await buildServer({
  routes: [typesRoutes({ types }), xmlRoutes({ types }), uplinksRoutesFor(new UplinkManager({ store: new MemoryUplinkConfigStore(), lldptool: noLldptool }))],
  logLevel: 'silent',
});
t.teardown(() => app.close());

/** io.fetch backed by fastify inject: the CLI's real HTTP requests, no socket. */
const injectFetch = (async (input: string | URL | Request, init?: RequestInit) => {
  const url = new URL(String(input));
  const headers = Object.fromEntries(new Headers(init?.headers).entries());
  const r = await app.inject({ method: (init?.method ?? 'GET') as 'GET', url: url.pathname + url.search, headers, ...(init?.body !== undefined ? { payload: init.body as string } : {}) });
  return new Response(r.statusCode === 204 ? null : r.body, { status: r.statusCode, headers: { 'content-type': String(r.headers['content-type'] ?? 'text/plain') } });
}) as typeof fetch;

const WORDS = [
  'uplink', 'profile', 'xml', 'help', 'status', 'set', 'apply', 'delete', 'list', 'show', 'add', 'edit', 'rm', 'import', 'export',
  'interface', 'interface-network', 'network', 'rewrite', 'merge', '--help', '-h', '--version', '--json', '--url', '--token', '--',
  '--name', '--file', '--manager-id', '--manager-id2', '--type-id', '--type-version', '--filter-format', '--vlans', '--group-id',
  '--description', '--version', '--profile', '--uplink', '--mac', '--vm-uuid', '--mode', '--model', '--instance-id', '--network',
  '--portgroup', '--default-portgroup', '--uuid', '--interface', '--all-versions', '--format', '--netns', '--id', '--all',
  'ecpRte=8', 'role=station', 'evbTx=maybe', 'ecpRetries=99', 'adminStatus=rxtx', '=', 'x=', 'web', 'eth0', 's0', 'web.yaml', 'bad.yaml',
  'dom.xml', 'net.xml', 'missing.yaml', '.', '-', 'out', '52:54:00:12:34:56', '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c', '5', '-1',
  '99999999999', '', 'yaml', 'json', 'vepa', 'n=web', 'n=web@1', 'http://127.0.0.1:1', '--constructor', '--__proto__', '--toString',
];

/** A token: a real word, or garbage (never a path outside the temp dir, never `serve` or `lab`). */
const token = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 1, arbitrary: nastyString.filter((s) => s.length < 2000).map((s) => s.replace(/[/\\]/g, '_').replace(/^\.\.?$/, '_')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...WORDS.filter((w) => w.startsWith('--'))), fc.string({ maxLength: 12 })).map(([f, v]) => `${f}=${v.replace(/[/\\]/g, '_')}`) },
);
const argvArb = fc
  .tuple(fc.constantFrom('uplink', 'profile', 'xml', '--json', '--help', 'nope'), fc.array(token, { maxLength: 10 }))
  .map(([first, rest]) => [first, ...rest].filter((a) => a !== 'serve' && a !== 'lab'));

t.test('random argv: never throws, exits 0/1/2, a failure is one line on stderr', async (t) => {
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(argvArb, fc.oneof(fc.constant('<domain/>'), fc.string({ maxLength: 50 })), async (argv, stdin) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(argv, { out: (s) => void out.push(s), err: (s) => void err.push(s), fetch: injectFetch, readStdin: async () => stdin, baseUrl: 'http://qbg.test' });
      seen.add(code);
      const what = `qbg ${JSON.stringify(argv)} → ${code}: ${JSON.stringify(err).slice(0, 400)}`;
      if (![0, 1, 2].includes(code)) throw new Error(`exit code: ${what}`);
      if (code === 2 && err.length === 0) {
        // no command / subcommand: its help goes to stdout (exit 2 says it was not a run)
        if (!/^(Usage: )?qbg /m.test(out.join('\n'))) throw new Error(`exit 2 without an error or the help: ${what}`);
        return;
      }
      if (code !== 0) {
        // rewrite prints its changes on stderr on success only; a failure is exactly one line, followed only by the
        // "  also:" lines of a profile import that found more than one problem
        if (err.length < 1 || err.slice(1).some((l) => !l.startsWith('  also: '))) throw new Error(`${err.length} stderr lines: ${what}`);
        if (err[0].trimEnd().includes('\n')) throw new Error(`multi-line error: ${what}`);
        if (!err[0].startsWith('qbg: ')) throw new Error(`error not prefixed: ${what}`);
      }
      for (const line of [...out, ...err]) {
        // whatever the input, nothing printed carries a raw control character (tab, newline and CRLF aside)
        if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|\r(?!\n)/.test(line)) throw new Error(`control character printed: ${JSON.stringify(line).slice(0, 300)}`);
      }
    }),
    // random argv rarely reaches a refusal by the API; these make sure each exit code's checks run every time
    { numRuns: RUNS, examples: [[['profile', 'show', 'no-such-type'], ''], [['nope'], ''], [['profile', 'list'], ''], [['uplink', '\n'], '<domain/>']] },
  );
  t.ok(seen.has(1) && seen.has(2), `exit codes seen: ${[...seen].sort().join(', ')}`);
});

t.test('regression: flags named like Object.prototype members are unknown options', async (t) => {
  // spec[name] found Object.prototype.constructor, so `qbg profile list --constructor` was accepted silently
  for (const f of ['--constructor', '--toString', '--__proto__', '--hasOwnProperty=1']) {
    try {
      parseArgs([f], { name: { value: true } });
      t.fail(`${f} accepted`);
    } catch (e) {
      t.ok(e instanceof UsageError && /unknown option/.test(e.message), `${f}: ${(e as Error).message}`);
    }
  }
  const err: string[] = [];
  t.equal(await main(['profile', 'list', '--constructor'], { out: () => undefined, err: (s) => void err.push(s), fetch: injectFetch, baseUrl: 'http://qbg.test' }), 2);
  t.match(err[0], /unknown option --constructor/);
});

t.test('argument parser: random argv gives positionals/flags or a UsageError, nothing else', async (t) => {
  const spec = { name: { value: true }, force: { value: false }, vlan: { value: true, multiple: true } };
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom('--name', '--force', '--vlan', '--', '-', '--name=', '--force=1', 'x'), token), { maxLength: 12 }), (argv) => {
      try {
        const p = parseArgs(argv, spec);
        for (const k of Object.keys(p.flags)) if (!(k in spec) || !Object.hasOwn(spec, k)) throw new Error(`flag ${k} is not in the spec: ${JSON.stringify(argv)}`);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
