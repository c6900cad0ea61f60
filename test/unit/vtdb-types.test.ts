import t from 'tap';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { parseVsiTypeSpec } from '../../src/domain/vsi-type.js';
import type { QbgError } from '../../src/domain/errors.js';

const web = { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, allowedVlans: [10, '20-22'] };

function fresh(opts: ConstructorParameters<typeof TypeService>[1] = {}) {
  const db = openDatabase(':memory:');
  return { db, svc: new TypeService(db, opts) };
}

function counts(db: ReturnType<typeof openDatabase>) {
  const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  return { types: n('SELECT count(*) AS n FROM vsi_types'), versions: n('SELECT count(*) AS n FROM vsi_type_versions') };
}

t.test('create stores the first version, readable through VsiTypeLookup', async (t) => {
  const { svc } = fresh({ now: () => new Date('2024-01-02T03:04:05Z') });
  const v = svc.create(web);
  t.match(v, { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, filterFormat: 'vlan-mac', createdAt: '2024-01-02T03:04:05.000Z' });
  t.same(v.allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 22 }]);
  t.equal(v.managerId2, '01000000000000000000000000000000');
  t.same(svc.get('web'), v);
  t.same(svc.get('web', 1), v);
  t.equal(svc.get('web', 2), undefined);
  t.equal(svc.get('nope'), undefined);
  t.throws(() => svc.require('nope'), { code: 'QBG_ERR_TYPE_NOT_FOUND' });
  t.throws(() => svc.require('web', 7), { code: 'QBG_ERR_TYPE_VERSION_NOT_FOUND' });
  t.throws(() => svc.create(web), { code: 'QBG_ERR_TYPE_EXISTS', field: 'name' });
});

t.test('bad input names the field and the range; nothing stored', async (t) => {
  const { db, svc } = fresh();
  t.throws(() => svc.create({ ...web, typeId: 99999999 }), { code: 'QBG_ERR_TYPEID_RANGE', field: 'typeId', message: /0–16777215/ });
  t.throws(() => svc.create({ ...web, typeIdVersion: 256 }), { code: 'QBG_ERR_TYPEID_VERSION_RANGE', field: 'typeIdVersion' });
  t.throws(() => svc.create({ ...web, allowedVlans: [5000] }), { code: 'QBG_ERR_VLAN_RANGE', field: 'allowedVlans[0]' });
  t.throws(() => svc.create({ ...web, typeid: 1 }), { code: 'QBG_ERR_UNKNOWN_FIELD', field: 'typeid' });
  t.same(counts(db), { types: 0, versions: 0 });
});

t.test('(managerId, typeId, typeIdVersion) belongs to one type', async (t) => {
  const { db, svc } = fresh();
  svc.create(web);
  const err = t.throws(() => svc.create({ ...web, name: 'other' }), { code: 'QBG_ERR_TYPE_ID_TAKEN' }) as unknown as QbgError;
  t.match(err.message, /used by VSI type web/);
  // Same typeId under another manager is another VSI type for the bridge: allowed.
  svc.create({ ...web, name: 'other', managerId: 2 });
  // Same manager via managerId2 spelling collides too (one value, two forms).
  t.throws(() => svc.create({ ...web, name: 'third', managerId: undefined, managerId2: '01000000000000000000000000000000' }), {
    code: 'QBG_ERR_TYPE_ID_TAKEN',
  });
  t.same(counts(db), { types: 2, versions: 2 });
});

t.test('edit: changed parameters make a new version; old versions stay readable; no change is a no-op', async (t) => {
  const { db, svc } = fresh();
  svc.create(web);
  const r1 = svc.edit('web', { allowedVlans: [10, 11] });
  t.equal(r1.changed, true);
  t.equal(r1.type.typeIdVersion, 2);
  t.same(r1.type.allowedVlans, [{ from: 10, to: 11 }]);
  t.equal(r1.type.managerId, 1, 'unchanged fields kept');
  t.same(svc.get('web', 1)!.allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 22 }], 'old version unchanged');
  t.equal(svc.get('web')!.typeIdVersion, 2);

  const same = svc.edit('web', { allowedVlans: ['11', 10] });
  t.equal(same.changed, false);
  t.match(same.message, /unchanged/);
  t.equal(counts(db).versions, 2);

  const r2 = svc.edit('web', { description: 'front', typeIdVersion: 9 });
  t.equal(r2.type.typeIdVersion, 9, 'admin-chosen version');
  t.throws(() => svc.edit('web', { description: 'again', typeIdVersion: 2 }), { code: 'QBG_ERR_TYPE_VERSION_EXISTS', field: 'typeIdVersion' });
  t.equal(svc.edit('web', { description: 'again' }).type.typeIdVersion, 10, 'default: previous + 1');
  t.same(svc.summary('web').versions, [1, 2, 9, 10]);
  t.same(svc.versions('web').map((v) => v.typeIdVersion), [1, 2, 9, 10]);

  t.throws(() => svc.edit('web', { typeId: 5 }), { code: 'QBG_ERR_BAD_REQUEST', field: 'typeId' });
  t.throws(() => svc.edit('web', { name: 'renamed' }), { code: 'QBG_ERR_BAD_REQUEST', field: 'name' });
  t.throws(() => svc.edit('web', { typeIdVersion: 300 }), { code: 'QBG_ERR_TYPEID_VERSION_RANGE' });
  t.throws(() => svc.edit('nope', { description: 'x' }), { code: 'QBG_ERR_TYPE_NOT_FOUND' });
  t.equal(counts(db).versions, 4, 'refused edits stored nothing');
});

t.test('edit: managerId2 replaces managerId; leaving vlan-mac-group drops groupId', async (t) => {
  const { svc } = fresh();
  svc.create({ ...web, filterFormat: 'vlan-mac-group', groupId: 7 });
  const r = svc.edit('web', { managerId2: '2001:db8::1', filterFormat: 'vlan-mac' });
  t.equal(r.type.managerId, undefined);
  t.equal(r.type.managerId2, '20010db8000000000000000000000001');
  t.equal(r.type.groupId, undefined);
});

t.test('edit: version 255 is the last one given by default', async (t) => {
  const { svc } = fresh();
  svc.create({ ...web, typeIdVersion: 255 });
  t.throws(() => svc.edit('web', { description: 'x' }), { code: 'QBG_ERR_BAD_REQUEST', field: 'typeIdVersion', message: /0–255/ });
});

t.test('the triple check applies to new versions too', async (t) => {
  const { svc } = fresh();
  svc.create(web);
  svc.create({ ...web, name: 'app', typeIdVersion: 2 });
  t.throws(() => svc.edit('web', { description: 'x' }), { code: 'QBG_ERR_TYPE_ID_TAKEN', message: /VSI type app/ });
});

t.test('delete removes all versions, unless in use', async (t) => {
  let inUse: number | boolean = 2;
  const { db, svc } = fresh({ isInUse: (name) => (name === 'web' ? inUse : 0) });
  svc.create(web);
  svc.edit('web', { description: 'v2' });
  t.throws(() => svc.delete('web'), { code: 'QBG_ERR_TYPE_IN_USE', message: /used by 2 NIC/ });
  inUse = true;
  t.throws(() => svc.delete('web'), { code: 'QBG_ERR_TYPE_IN_USE' });
  t.same(counts(db), { types: 1, versions: 2 });
  inUse = 0;
  t.same(svc.delete('web'), { name: 'web', versions: 2 });
  t.same(counts(db), { types: 0, versions: 0 });
  t.throws(() => svc.delete('web'), { code: 'QBG_ERR_TYPE_NOT_FOUND' });
});

t.test('delete: a foreign key from a later table (NICs) also means in use', async (t) => {
  const { db, svc } = fresh();
  svc.create(web);
  db.exec('CREATE TABLE nic_fk_test (id INTEGER PRIMARY KEY, vsi_type TEXT REFERENCES vsi_types(name))');
  db.prepare("INSERT INTO nic_fk_test (vsi_type) VALUES ('web')").run();
  t.throws(() => svc.delete('web'), { code: 'QBG_ERR_TYPE_IN_USE' });
  t.same(counts(db), { types: 1, versions: 1 });
  svc.setUsageCheck(() => 3);
  t.throws(() => svc.delete('web'), { message: /used by 3 NIC/ });
});

t.test('importSpecs: created / new-version / unchanged; one conflict rolls back the batch', async (t) => {
  const { db, svc } = fresh();
  svc.create(web);
  const item = (source: string, o: object) => ({ source, spec: parseVsiTypeSpec(o) });
  const out = svc.importSpecs([
    item('a.yaml', web),
    item('b.yaml', { ...web, typeIdVersion: 2, description: 'v2' }),
    item('c.yaml', { name: 'app', managerId: 1, typeId: 200, typeIdVersion: 1 }),
  ]);
  t.same(out.map((o) => o.action), ['unchanged', 'new-version', 'created']);
  t.equal(svc.get('web')!.typeIdVersion, 2);
  const before = counts(db);
  t.throws(
    () =>
      svc.importSpecs([
        item('d.yaml', { name: 'db', managerId: 1, typeId: 300, typeIdVersion: 1 }),
        item('e.yaml', { ...web, typeIdVersion: 1, description: 'different' }),
      ]),
    { code: 'QBG_ERR_TYPE_VERSION_EXISTS', message: /^e\.yaml: / },
  );
  t.same(counts(db), before, 'nothing of the failed batch stored');
  t.equal(svc.get('db'), undefined);
});
