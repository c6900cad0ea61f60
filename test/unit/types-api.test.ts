import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { buildServer } from '../../src/api/server.js';
import { typesRoutes } from '../../src/api/types-routes.js';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';

const web = { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, allowedVlans: [10, '20-22'] };

async function setup(t: Test, tokens?: { admin: string[]; hook: string[]; monitor: string[] }) {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  const app = await buildServer({ routes: [typesRoutes({ types })], logLevel: 'silent', tokens });
  t.teardown(() => app.close());
  const count = () => (db.prepare('SELECT count(*) AS n FROM vsi_type_versions').get() as { n: number }).n;
  return { app, types, count };
}

t.test('create, read, list, versions', async (t) => {
  const { app } = await setup(t);
  const c = await app.inject({ method: 'POST', url: '/types', payload: web });
  t.equal(c.statusCode, 201, c.body);
  t.match(c.json(), { name: 'web', typeId: 100, typeIdVersion: 1, managerId2: '01000000000000000000000000000000' });
  t.same(c.json().allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 22 }]);

  const e = await app.inject({ method: 'PUT', url: '/types/web', payload: { allowedVlans: [{ from: 10, to: 12 }] } });
  t.equal(e.statusCode, 200, e.body);
  t.match(e.json(), { changed: true, type: { typeIdVersion: 2 } });
  const noop = await app.inject({ method: 'PUT', url: '/types/web', payload: { allowedVlans: ['10-12'] } });
  t.match(noop.json(), { changed: false, message: /unchanged/, type: { typeIdVersion: 2 } });

  t.match((await app.inject('/types')).json(), { types: [{ name: 'web', typeIdVersion: 2 }] });
  t.match((await app.inject('/types/web')).json(), { name: 'web', typeIdVersion: 2, versions: [1, 2] });
  const vs = (await app.inject('/types/web/versions')).json();
  t.equal(vs.current, 2);
  t.same(vs.versions.map((v: { typeIdVersion: number }) => v.typeIdVersion), [1, 2]);
  t.same((await app.inject('/types/web/versions/1')).json().allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 22 }]);

  const d = await app.inject({ method: 'DELETE', url: '/types/web' });
  t.same(d.json(), { name: 'web', versions: 2 });
  t.equal((await app.inject('/types/web')).statusCode, 404);
});

t.test('bad input on every route: 400 naming the field and the range, nothing stored', async (t) => {
  const { app, count } = await setup(t);
  await app.inject({ method: 'POST', url: '/types', payload: web });
  const before = count();
  const cases: Array<{ method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; payload?: unknown; field: string; msg: RegExp }> = [
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', typeId: 99999999 }, field: 'typeId', msg: /0–16777215/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', typeId: 'abc' }, field: 'typeId', msg: /0–16777215/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', typeIdVersion: 256 }, field: 'typeIdVersion', msg: /0–255/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', managerId: -1 }, field: 'managerId', msg: /0–255/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', managerId: undefined, managerId2: 'zz' }, field: 'managerId2', msg: /16 bytes/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', filterFormat: 'mac' }, field: 'filterFormat', msg: /vlan-mac, vlan-mac-group, vlan, vlan-group/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', allowedVlans: [4096] }, field: 'allowedVlans[0]', msg: /0–4095/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', allowedVlans: ['300-200'] }, field: 'allowedVlans[0]', msg: /low ≤ high/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'bad name!' }, field: 'name', msg: /1–64 characters/ },
    { method: 'POST', url: '/types', payload: { name: 'x', typeId: 1 }, field: 'typeIdVersion', msg: /required/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', typeid: 1 }, field: 'typeid', msg: /unknown field/ },
    { method: 'POST', url: '/types', payload: { ...web, name: 'x', groupId: 5 }, field: 'groupId', msg: /vlan-mac-group/ },
    { method: 'PUT', url: '/types/web', payload: { typeIdVersion: 300 }, field: 'typeIdVersion', msg: /0–255/ },
    { method: 'PUT', url: '/types/web', payload: { allowedVlans: [1, 5000] }, field: 'allowedVlans[1]', msg: /0–4095/ },
    { method: 'PUT', url: '/types/web', payload: { color: 'red' }, field: 'color', msg: /unknown field/ },
    { method: 'PUT', url: '/types/web', payload: { typeId: 5 }, field: 'typeId', msg: /stays so across versions/ },
    { method: 'GET', url: '/types/web/versions/256', field: 'v', msg: /0–255/ },
    { method: 'GET', url: '/types/web/versions/x', field: 'v', msg: /0–255/ },
    { method: 'POST', url: '/types/import', payload: { files: [] }, field: 'files', msg: /fewer than 1/ },
    { method: 'POST', url: '/types/import', payload: { files: [{ file: 'a.yaml' }] }, field: 'files[0].content', msg: /required/ },
    {
      method: 'POST',
      url: '/types/import',
      payload: { files: [{ file: 'p/web.yaml', content: 'name: web2\nmanagerId: 1\ntypeId: 99999999\ntypeIdVersion: 1\n' }] },
      field: 'typeId',
      msg: /^p\/web\.yaml:3: typeId must be an integer 0–16777215/,
    },
  ];
  for (const c of cases) {
    const r = await app.inject({ method: c.method, url: c.url, payload: c.payload as object | undefined });
    t.equal(r.statusCode, 400, `${c.method} ${c.url} ${JSON.stringify(c.payload)} → 400`);
    t.equal(r.json().field, c.field, `field of ${r.body}`);
    t.match(r.json().error, c.msg, r.body);
  }
  t.equal(count(), before, 'nothing stored');
});

t.test('conflicts and missing things', async (t) => {
  const { app, count } = await setup(t);
  await app.inject({ method: 'POST', url: '/types', payload: web });
  const dup = await app.inject({ method: 'POST', url: '/types', payload: web });
  t.match(dup.json(), { statusCode: 409, code: 'QBG_ERR_TYPE_EXISTS' });
  const taken = await app.inject({ method: 'POST', url: '/types', payload: { ...web, name: 'app' } });
  t.match(taken.json(), { statusCode: 409, code: 'QBG_ERR_TYPE_ID_TAKEN', error: /VSI type web/ });
  const ver = await app.inject({ method: 'PUT', url: '/types/web', payload: { description: 'x', typeIdVersion: 1 } });
  t.match(ver.json(), { statusCode: 409, code: 'QBG_ERR_TYPE_VERSION_EXISTS' });
  for (const url of ['/types/nope', '/types/nope/versions', '/types/web/versions/9']) {
    t.equal((await app.inject(url)).statusCode, 404, url);
  }
  t.equal((await app.inject({ method: 'PUT', url: '/types/nope', payload: { description: 'x' } })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: '/types/nope' })).statusCode, 404);
  t.equal(count(), 1);
});

t.test('POST /types/import: all or nothing, errors name file/line/field', async (t) => {
  const { app, types } = await setup(t);
  const files = ['web-tier', 'app-tier', 'db-tier', 'backup', 'edge-v6mgr'].map((n) => ({
    file: `profiles/${n}.yaml`,
    content: readFileSync(`profiles/${n}.yaml`, 'utf8'),
  }));
  const bad = { file: 'profiles/zz.yaml', content: 'name: zz\nmanagerId: 1\ntypeId: 5\ntypeIdVersion: 1\nallowedVlans: [1, 99999]\n' };
  const r1 = await app.inject({ method: 'POST', url: '/types/import', payload: { files: [...files, bad] } });
  t.equal(r1.statusCode, 400);
  t.match(r1.json(), { code: 'QBG_ERR_PROFILE_FILE', field: 'allowedVlans[1]', error: /^profiles\/zz\.yaml:5: allowedVlans\[1\] must be a VLAN id 0–4095/ });
  t.same(types.list(), []);
  // A conflict found only while storing (same triple as a file earlier in the batch) also rolls back everything.
  const clash = { file: 'profiles/clash.yaml', content: 'name: clash\nmanagerId: 10\ntypeId: 1001\ntypeIdVersion: 1\n' };
  const r2 = await app.inject({ method: 'POST', url: '/types/import', payload: { files: [...files, clash] } });
  t.match(r2.json(), { statusCode: 409, code: 'QBG_ERR_TYPE_ID_TAKEN', error: /^profiles\/clash\.yaml:3: .*web-tier/ });
  t.same(types.list(), []);
  const ok = await app.inject({ method: 'POST', url: '/types/import', payload: { files } });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(ok.json().imported.map((i: { action: string }) => i.action), ['created', 'created', 'created', 'created', 'created']);
  t.equal(types.list().length, 5);
});

t.test('roles: monitor reads, admin writes', async (t) => {
  const { app } = await setup(t, { admin: ['A'], hook: ['H'], monitor: ['M'] });
  const as = (tok: string) => ({ authorization: `Bearer ${tok}` });
  t.equal((await app.inject({ url: '/types', headers: as('M') })).statusCode, 200);
  t.equal((await app.inject({ url: '/types' })).statusCode, 401);
  t.equal((await app.inject({ method: 'POST', url: '/types', payload: web, headers: as('M') })).statusCode, 403);
  t.equal((await app.inject({ method: 'POST', url: '/types', payload: web, headers: as('H') })).statusCode, 403);
  t.equal((await app.inject({ method: 'POST', url: '/types', payload: web, headers: as('A') })).statusCode, 201);
  t.equal((await app.inject({ method: 'DELETE', url: '/types/web', headers: as('M') })).statusCode, 403);
  t.equal((await app.inject({ method: 'POST', url: '/types/import', payload: { files: [{ file: 'a', content: '' }] }, headers: as('M') })).statusCode, 403);
});

t.test('the schemas document the ranges in the OpenAPI description', async (t) => {
  const { app } = await setup(t);
  const doc = (await app.inject('/docs/json')).json();
  const body = doc.paths['/types'].post.requestBody.content['application/json'].schema;
  t.match(body.properties.typeId, { type: 'integer', minimum: 0, maximum: 16777215 });
  t.match(body.properties.typeIdVersion, { minimum: 0, maximum: 255 });
  t.match(body.properties.managerId, { minimum: 0, maximum: 255 });
  t.same(body.required.sort(), ['name', 'typeId', 'typeIdVersion']);
  for (const p of ['/types', '/types/{name}', '/types/{name}/versions', '/types/{name}/versions/{v}', '/types/import']) t.ok(doc.paths[p], p);
});

t.test('a VSI type can ask for every filter format, group id formats with their group (API schema and validation)', async (t) => {
  const { app } = await setup(t);
  const grp = await app.inject({ method: 'POST', url: '/types', payload: { ...web, name: 'grp-vid', filterFormat: 'vlan-group', groupId: 77 } });
  t.equal(grp.statusCode, 201, grp.body);
  t.match(grp.json(), { filterFormat: 'vlan-group', groupId: 77 });
  const ascii = await app.inject({ method: 'POST', url: '/types', payload: { ...web, name: 'named-mgr', typeId: 101, managerId: undefined, managerId2: 'ascii:mgr-a' } });
  t.equal(ascii.statusCode, 201, ascii.body);
  t.equal(ascii.json().managerId2, '6d67722d610000000000000000000000', 'printable ASCII manager id, zero-padded');
  // leaving a group format drops the group id; entering one without it is refused
  const e = await app.inject({ method: 'PUT', url: '/types/grp-vid', payload: { filterFormat: 'vlan' } });
  t.equal(e.statusCode, 200, e.body);
  t.equal(e.json().type.groupId, undefined);
  const bad = await app.inject({ method: 'PUT', url: '/types/grp-vid', payload: { filterFormat: 'vlan-group' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { field: 'groupId', code: 'QBG_ERR_FIELD_REQUIRED' });
  const zero = await app.inject({ method: 'POST', url: '/types', payload: { ...web, name: 'g0', typeId: 102, filterFormat: 'vlan-group', groupId: 0 } });
  t.equal(zero.statusCode, 400, 'group id 0 means "no group" to lldpad');
  t.match(zero.json(), { field: 'groupId' });
});
