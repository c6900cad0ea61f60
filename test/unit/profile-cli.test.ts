// `qbg profile` against a real in-process qbg listening on loopback, over real fetch.
import type { Test } from 'tap';
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { profileCommand } from '../../src/cli/profile.js';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

const tmp = mkdtempSync(join(tmpdir(), 'qbg-profile-cli-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

async function start(t: Test) {
  const types = new TypeService(openDatabase(':memory:'));
  const app = await buildServer({ routes: [typesRoutes({ types })], logLevel: 'silent' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const out: string[] = [];
  const err: string[] = [];
  const io = (json = false): CliIo => ({
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    json,
    baseUrl,
    fetch,
    readStdin: async () => '',
  });
  const reset = () => {
    out.length = 0;
    err.length = 0;
  };
  /** Through `qbg` main, as a user runs it: exit code and what was printed. */
  const qbg = async (...argv: string[]) => {
    reset();
    const code = await main(['--url', baseUrl, 'profile', ...argv], { out: (s) => out.push(s), err: (s) => err.push(s), fetch });
    return { code, out: out.join('\n'), err: [...err] };
  };
  return { types, io, out, err, reset, qbg };
}

t.test('add (flags and file), list, show, edit, rm — human and --json', async (t) => {
  const { types, io, out, reset } = await start(t);
  t.equal(
    await profileCommand(['add', '--name', 'web', '--manager-id', '10', '--type-id', '1001', '--type-version', '1', '--vlans', '100,110-119', '--description', 'web servers'], io()),
    0,
  );
  t.match(out.join('\n'), /created VSI type web version 1/);
  t.same(types.get('web')!.allowedVlans, [{ from: 100, to: 100 }, { from: 110, to: 119 }]);

  reset();
  t.equal(await profileCommand(['add', '--file', 'profiles/edge-v6mgr.yaml'], io()), 0);
  t.equal(types.get('edge-v6mgr')!.managerId2, '20010db8010000000000000000000010');

  reset();
  t.equal(await profileCommand(['list'], io()), 0);
  const lines = out.join('\n').split('\n');
  t.match(lines[0], /^NAME\s+VERSION\s+MANAGER\s+TYPEID/);
  t.match(lines.find((l) => l.startsWith('web ')), /web\s+1\s+10\s+1001\s+vlan-mac\s+100,110-119\s+web servers/);
  t.match(lines.find((l) => l.startsWith('edge-v6mgr')), /mgrid2 2001:db8:100::10\s/, 'a 16-byte manager id in the form it was written');

  reset();
  t.equal(await profileCommand(['list'], io(true)), 0);
  t.same(JSON.parse(out.join('')).types.map((v: { name: string }) => v.name), ['edge-v6mgr', 'web']);

  reset();
  t.equal(await profileCommand(['edit', 'web', '--vlans', '100'], io()), 0);
  t.match(out.join('\n'), /new version 2 \(was 1\)/);
  reset();
  t.equal(await profileCommand(['edit', 'web', '--vlans', '100'], io(true)), 0);
  t.match(JSON.parse(out.join('')), { changed: false, type: { typeIdVersion: 2 } });

  reset();
  t.equal(await profileCommand(['show', 'web'], io()), 0);
  t.match(out.join('\n'), /VSI type web \(current version 2; versions 1, 2\)[\s\S]*allowed VLANs\s+100\n/);
  reset();
  t.equal(await profileCommand(['show', 'web', '--version', '1', '--json'], io()), 0);
  t.match(JSON.parse(out.join('')), { typeIdVersion: 1, allowedVlans: [{ from: 100, to: 100 }, { from: 110, to: 119 }] });

  reset();
  t.equal(await profileCommand(['rm', 'web'], io()), 0);
  t.equal(out.join(''), 'deleted VSI type web (2 versions)');
  t.equal(types.get('web'), undefined);
});

t.test('import a directory and export it again: round trip', async (t) => {
  const { types, io, out, reset } = await start(t);
  t.equal(await profileCommand(['import', 'profiles'], io()), 0);
  t.match(out.join('\n'), /imported 5 file\(s\): 5 created, 0 new version\(s\), 0 unchanged/);
  t.equal(types.list().length, 5);
  types.edit('db-tier', { allowedVlans: ['300-349'] });

  const dir = join(tmp, 'export-all');
  reset();
  t.equal(await profileCommand(['export', dir, '--all-versions', '--json'], io()), 0);
  t.equal(JSON.parse(out.join('')).written.length, 6);
  t.ok(readdirSync(dir).includes('db-tier.002.yaml'));

  // A second qbg imports the export through its CLI and ends up with the same types and histories.
  const other = await start(t);
  t.equal(await profileCommand(['import', dir, '--json'], other.io()), 0);
  const strip = (v: { createdAt?: string }) => ({ ...v, createdAt: undefined });
  t.same(other.types.list().map(strip), types.list().map(strip));
  t.same(other.types.versions('db-tier').map(strip), types.versions('db-tier').map(strip));
  t.same(JSON.parse(other.out.join('')).imported.map((i: { action: string }) => i.action).filter((a: string) => a === 'new-version'), ['new-version']);

  const cur = join(tmp, 'export-json');
  reset();
  t.equal(await profileCommand(['export', cur, '--format', 'json'], io()), 0);
  t.match(out.join(''), /wrote 5 profile file\(s\) for 5 VSI type\(s\)/);
  t.same(JSON.parse(readFileSync(join(cur, 'db-tier.json'), 'utf8')).allowedVlans, ['300-349']);
});

t.test('bad input: non-zero exit and one line naming the field', async (t) => {
  const { types, qbg } = await start(t);
  let r = await qbg('add', '--name', 'web', '--manager-id', '10', '--type-id', '99999999', '--type-version', '1');
  t.equal(r.code, 1);
  t.equal(r.err.length, 1);
  t.match(r.err[0], /typeId.*0–16777215/);

  r = await qbg('add', '--name', 'web', '--manager-id', '300', '--type-id', '1', '--type-version', '1');
  t.equal(r.code, 1);
  t.match(r.err[0], /managerId.*0–255/);

  r = await qbg('add', '--name', 'web', '--manager-id2', 'nonsense', '--type-id', '1', '--type-version', '1');
  t.match(r.err, [/managerId2.*16 bytes/]);

  r = await qbg('add', '--name', 'web', '--manager-id', '1', '--type-id', '1', '--type-version', '1', '--vlans', '10,5000');
  t.equal(r.code, 1);
  t.match(r.err, [/allowedVlans\[1\].*0–4095/]);

  r = await qbg('add', '--name', 'web', '--typeid', '1');
  t.equal(r.code, 2, 'usage error');
  t.match(r.err, [/unknown option --typeid/]);

  r = await qbg('edit', 'web', '--description', 'x');
  t.equal(r.code, 1);
  t.match(r.err, [/VSI type web not found/]);

  const bad = join(tmp, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'a.yaml'), 'name: a\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n');
  writeFileSync(join(bad, 'web.yaml'), '# web\nname: web\nmanagerId: 1\ntypeId: 99999999\ntypeIdVersion: 1\n');
  r = await qbg('import', bad);
  t.equal(r.code, 1);
  t.equal(r.err.length, 1);
  t.match(r.err[0], new RegExp(`${bad}/web\\.yaml:4: typeId must be an integer 0–16777215 \\(24 bit\\), got 99999999`));
  writeFileSync(join(bad, 'x.yaml'), 'name: x\nmanagerId: 1\ntypeId: 2\ntypeIdVersion: 999\n');
  r = await qbg('import', bad);
  t.equal(r.code, 1);
  t.equal(r.err.length, 2, 'the first problem as the error, the other listed');
  t.same(types.list(), [], 'nothing imported');

  // two files with the same type version, and a file with two bad fields: each problem on its own line
  const dup = join(tmp, 'dup');
  mkdirSync(dup);
  writeFileSync(join(dup, 'a.yaml'), 'name: web\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n');
  writeFileSync(join(dup, 'b.yaml'), '# copy\nname: web\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n');
  writeFileSync(join(dup, 'c.yaml'), 'name: c\nmanagerId: 300\ntypeId: 3\ntypeIdVersion: 999\n');
  r = await qbg('import', dup);
  t.equal(r.code, 1);
  t.match(r.err[0], new RegExp(`^qbg: managerId: ${dup}/c\\.yaml:2: managerId must be an integer 0–255, got 300 \\(and 2 more problem\\(s\\); nothing imported\\)`));
  t.same(r.err.slice(1), [
    `  also: ${dup}/c.yaml:4: typeIdVersion must be an integer 0–255, got 999`,
    `  also: ${dup}/b.yaml:2: duplicate: typeIdVersion 1 of VSI type web is in two files: ${dup}/a.yaml:1 and ${dup}/b.yaml:2`,
  ]);
  t.same(types.list(), [], 'nothing imported');

  r = await qbg('import', join(tmp, 'does-not-exist'));
  t.equal(r.code, 1);
  t.match(r.err, [/does-not-exist: cannot read: ENOENT/]);

  r = await qbg('show', 'web', '--type-version', '300');
  t.equal(r.code, 1);
  t.match(r.err, [/0–255/]);
  r = await qbg('frobnicate');
  t.equal(r.code, 2);
});
