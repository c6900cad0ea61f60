import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { parseProfileSource, parseProfileSources, readProfileSources, writeProfiles } from '../../src/vtdb/profile-files.js';
import type { QbgError } from '../../src/domain/errors.js';
import type { VsiTypeVersion } from '../../src/domain/vsi-type.js';

const tmp = mkdtempSync(join(tmpdir(), 'qbg-profiles-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const stripCreated = (v: VsiTypeVersion) => {
  const { createdAt, ...spec } = v;
  void createdAt;
  return spec;
};

t.test('the shipped example profiles are valid and import together', async (t) => {
  const sources = await readProfileSources('profiles');
  t.ok(sources.length >= 5);
  const items = parseProfileSources(sources);
  const svc = new TypeService(openDatabase(':memory:'));
  const out = svc.importSpecs(items);
  t.ok(out.every((o) => o.action === 'created'));
  const edge = svc.get('edge-v6mgr')!;
  t.equal(edge.managerId, undefined, 'a 16-byte IPv6 manager id has no one-byte managerId');
  t.equal(edge.managerId2, '20010db8010000000000000000000010');
  t.equal(svc.get('backup')!.filterFormat, 'vlan');
  t.same(svc.get('db-tier')!.allowedVlans, [{ from: 300, to: 399 }]);
});

t.test('an error names file, line and field', async (t) => {
  const content = ['# web', 'name: web', 'managerId: 1', 'typeId: 99999999', 'typeIdVersion: 1', ''].join('\n');
  const err = t.throws(() => parseProfileSource({ file: 'profiles/web.yaml', content }), {
    code: 'QBG_ERR_PROFILE_FILE',
    field: 'typeId',
  }) as unknown as QbgError;
  t.equal(err.message, 'profiles/web.yaml:4: typeId must be an integer 0–16777215 (24 bit), got 99999999');

  const vlan = ['name: web', 'managerId: 1', 'typeId: 1', 'typeIdVersion: 1', 'allowedVlans:', '  - 10', '  - 4096'].join('\n');
  t.throws(() => parseProfileSource({ file: 'v.yaml', content: vlan }), { message: /^v\.yaml:7: allowedVlans\[1\] must be a VLAN id 0–4095/ });

  const unknown = ['name: web', 'managerId: 1', 'typeId: 1', 'typeIdVersion: 1', 'typeid: 5'].join('\n');
  t.throws(() => parseProfileSource({ file: 'u.yaml', content: unknown }), { message: /^u\.yaml:5: unknown field typeid/ });

  const json = '{\n  "name": "web",\n  "managerId": 300,\n  "typeId": 1,\n  "typeIdVersion": 1\n}\n';
  t.throws(() => parseProfileSource({ file: 'w.json', content: json }), { message: /^w\.json:3: managerId must be an integer 0–255, got 300/ });

  t.throws(() => parseProfileSource({ file: 'm.yaml', content: 'name: web\ntypeId: 1\ntypeIdVersion: 1\n' }), {
    message: /^m\.yaml:1: managerId \(0–255\) or managerId2 \(16 bytes\) is required/,
  });
  t.throws(() => parseProfileSource({ file: 's.yaml', content: 'name: [web\n' }), { message: /^s\.yaml:\d+: / });
  t.throws(() => parseProfileSource({ file: 'd.yaml', content: 'name: a\nname: b\n' }), { message: /^d\.yaml:2: / });
  t.throws(() => parseProfileSource({ file: 'e.yaml', content: '# nothing\n' }), { message: /e\.yaml: file is empty/ });
  t.throws(() => parseProfileSource({ file: 'two.yaml', content: 'name: a\n---\nname: b\n' }), { message: /^two\.yaml:2: one VSI type per file/ });
  t.throws(() => parseProfileSource({ file: 'l.yaml', content: '- 1\n- 2\n' }), { message: /^l\.yaml:1: a VSI type must be an object/ });
});

t.test('all files are validated first and every problem is listed', async (t) => {
  const good = { file: 'good.yaml', content: 'name: a\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n' };
  const bad1 = { file: 'bad1.yaml', content: 'name: b\nmanagerId: 1\ntypeId: -1\ntypeIdVersion: 1\n' };
  const bad2 = { file: 'bad2.yaml', content: 'name: c\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 256\n' };
  const err = t.throws(() => parseProfileSources([good, bad1, bad2]), { code: 'QBG_ERR_PROFILE_FILE' }) as unknown as QbgError;
  t.match(err.message, /^bad1\.yaml:3: typeId .* \(and 1 more problem\(s\); nothing imported\)$/);
  t.same(
    (err.details!.errors as Array<{ file: string; line: number; field: string }>).map((e) => `${e.file}:${e.line}:${e.field}`),
    ['bad1.yaml:3:typeId', 'bad2.yaml:4:typeIdVersion'],
  );
});

t.test('import of a directory: one bad file → nothing imported', async (t) => {
  const dir = join(tmp, 'mixed');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.yaml'), 'name: a\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n');
  writeFileSync(join(dir, 'b.yml'), 'name: b\nmanagerId: 1\ntypeId: 2\ntypeIdVersion: 1\nfilterFormat: mac\n');
  writeFileSync(join(dir, 'README.txt'), 'not a profile');
  const sources = await readProfileSources(dir);
  t.same(sources.map((s) => s.file), [join(dir, 'a.yaml'), join(dir, 'b.yml')]);
  const db = openDatabase(':memory:');
  const svc = new TypeService(db);
  t.throws(() => svc.importSpecs(parseProfileSources(sources)), { message: new RegExp(`b\\.yml:5: filterFormat must be one of`) });
  t.same(svc.list(), []);
  await t.rejects(readProfileSources(join(tmp, 'missing')), { code: 'QBG_ERR_PROFILE_FILE' });
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  await t.rejects(readProfileSources(empty), { message: /no profile files/ });
});

t.test('export → import round-trips losslessly (current versions, and all versions)', async (t) => {
  const src = new TypeService(openDatabase(':memory:'));
  src.importSpecs(parseProfileSources(await readProfileSources('profiles')));
  src.create({ name: 'grp', managerId2: '10.1.2.3', typeId: 77, typeIdVersion: 0, filterFormat: 'vlan-mac-group', groupId: 4000000000, description: 'x: "quoted" # not a comment' });
  src.create({ name: 'grp-vid', managerId2: 'ascii:mgr-a', typeId: 78, typeIdVersion: 0, filterFormat: 'vlan-group', groupId: 77 });
  src.edit('web-tier', { allowedVlans: [100, 101, 102], typeIdVersion: 5 });
  src.edit('web-tier', { description: 'third' });
  src.edit('db-tier', { managerId2: '00112233445566778899aabbccddeeff' });

  for (const format of ['yaml', 'json'] as const) {
    const cur = join(tmp, `export-current-${format}`);
    const written = await writeProfiles(cur, src.list().map((v) => [v]), { format });
    t.equal(written.length, src.list().length);
    const dst = new TypeService(openDatabase(':memory:'));
    dst.importSpecs(parseProfileSources(await readProfileSources(cur)));
    t.same(dst.list().map(stripCreated), src.list().map(stripCreated), `current versions round-trip (${format})`);
    // Importing the same export again changes nothing.
    t.ok(dst.importSpecs(parseProfileSources(await readProfileSources(cur))).every((o) => o.action === 'unchanged'));

    const all = join(tmp, `export-all-${format}`);
    const types = src.list().map((v) => src.versions(v.name));
    await writeProfiles(all, types, { allVersions: true, format });
    t.ok(readdirSync(all).includes(`web-tier.003.${format}`));
    const dst2 = new TypeService(openDatabase(':memory:'));
    dst2.importSpecs(parseProfileSources(await readProfileSources(all)));
    for (const v of src.list()) {
      t.same(dst2.versions(v.name).map(stripCreated), src.versions(v.name).map(stripCreated), `history of ${v.name} (${format})`);
    }
    t.same(dst2.list().map(stripCreated), src.list().map(stripCreated));
  }
  t.match(readFileSync(join(tmp, 'export-current-yaml', 'edge-v6mgr.yaml'), 'utf8'), /managerId2: "?20010db8010000000000000000000010/);
});

t.test('every bad field of a file is listed, each with its line, not only the first', async (t) => {
  const content = ['name: web', 'managerId: 300', 'typeId: -1', 'typeIdVersion: 256', 'filterFormat: mac', 'allowedVlans: [10, 5000]', 'colour: red', ''].join('\n');
  const err = t.throws(() => parseProfileSources([{ file: 'web.yaml', content }]), { code: 'QBG_ERR_PROFILE_FILE' }) as unknown as QbgError;
  const listed = (err.details!.errors as Array<{ file: string; line: number; field: string }>).map((e) => `${e.file}:${e.line}:${e.field}`);
  t.same(listed, ['web.yaml:2:managerId', 'web.yaml:3:typeId', 'web.yaml:4:typeIdVersion', 'web.yaml:5:filterFormat', 'web.yaml:6:allowedVlans[1]', 'web.yaml:7:colour']);
  t.match(err.message, /^web\.yaml:2: managerId must be an integer 0–255, got 300 \(and 5 more problem\(s\); nothing imported\)$/);
});

t.test('a VSI type version in two files is a duplicate naming both file:line; distinct versions are not', async (t) => {
  const a = { file: 'p/web.yaml', content: '# the web tier\nname: web\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\n' };
  const b = { file: 'p/web-copy.yaml', content: 'name: web\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 1\nallowedVlans: [5]\n' };
  let err = t.throws(() => parseProfileSources([a, b]), { code: 'QBG_ERR_PROFILE_FILE' }) as unknown as QbgError;
  t.equal(err.message, 'p/web-copy.yaml:1: duplicate: typeIdVersion 1 of VSI type web is in two files: p/web.yaml:2 and p/web-copy.yaml:1 (nothing imported)');
  t.match(err.details!.errors, [{ file: 'p/web-copy.yaml', line: 1, field: 'name' }]);

  const c = { file: 'p/web-other.yaml', content: 'name: web\nmanagerId: 1\ntypeId: 2\ntypeIdVersion: 2\n' };
  err = t.throws(() => parseProfileSources([a, c])) as unknown as QbgError;
  t.match(err.message, /^p\/web-other\.yaml:1: duplicate: VSI type web has typeId 1 in p\/web\.yaml:2 but 2 in p\/web-other\.yaml:1/);

  // what `export --all-versions` writes: one file per version of one type, which must import
  const v2 = { file: 'p/web.002.yaml', content: 'name: web\nmanagerId: 1\ntypeId: 1\ntypeIdVersion: 2\n' };
  t.equal(parseProfileSources([a, v2]).length, 2);

  // duplicates and bad fields together: all listed; the service imports nothing
  const bad = { file: 'p/bad.yaml', content: 'name: bad\nmanagerId: 1\ntypeId: 99999999\ntypeIdVersion: 1\n' };
  err = t.throws(() => parseProfileSources([a, bad, b])) as unknown as QbgError;
  t.same((err.details!.errors as Array<{ file: string }>).map((e) => e.file), ['p/bad.yaml', 'p/web-copy.yaml']);
});

t.test('a control character in a bad value is shown escaped: the error stays one line (fuzz counterexample)', async (t) => {
  const doc = JSON.stringify({ name: '\n', description: 'front end', managerId: 12, typeId: 1193047, typeIdVersion: 2, filterFormat: 'vlan-mac', allowedVlans: ['100-110', 200] }, null, 2);
  let err: QbgError | undefined;
  try {
    parseProfileSource({ file: 'profiles/web.yaml', content: doc });
  } catch (e) {
    err = e as QbgError;
  }
  t.equal(err?.code, 'QBG_ERR_PROFILE_FILE');
  t.notMatch(err?.message ?? '', /\n/, 'one line');
  t.match(err?.message ?? '', /^profiles\/web\.yaml:2: name must be 1–64 characters .*, got "\\n"$/);
});
