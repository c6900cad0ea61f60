// TypeService.get answers from a cache (src/vtdb/type-read-cache.ts): every way the type database can change
// must show in the very next read — never a stale version.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { parseVsiTypeSpec } from '../../src/domain/vsi-type.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { nicId } from '../../src/domain/nic.js';

const web = { name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1, allowedVlans: [10] };

function fresh() {
  const db = openDatabase(':memory:');
  const svc = new TypeService(db);
  svc.create(web);
  // twice: the second read comes from the cache
  svc.get('web');
  svc.get('web', 1);
  return { db, svc };
}

t.test('create, edit and delete show in the next read', async (t) => {
  const { svc } = fresh();
  t.equal(svc.get('db'), undefined);
  svc.create({ ...web, name: 'db', typeId: 200 });
  t.equal(svc.get('db')?.typeId, 200, 'a type created after a miss');

  t.equal(svc.get('web')?.typeIdVersion, 1);
  svc.edit('web', { allowedVlans: [10, 20] });
  t.equal(svc.get('web')?.typeIdVersion, 2, 'the new current version');
  t.same(svc.get('web')?.allowedVlans, [{ from: 10, to: 10 }, { from: 20, to: 20 }]);
  t.same(svc.get('web', 1)?.allowedVlans, [{ from: 10, to: 10 }], 'the old version stays as it was');

  svc.delete('web');
  t.equal(svc.get('web'), undefined, 'deleted: current');
  t.equal(svc.get('web', 1), undefined, 'deleted: pinned version');
});

t.test('import shows in the next read; a rolled-back import leaves the cached version right', async (t) => {
  const { svc } = fresh();
  const v2 = parseVsiTypeSpec({ ...web, typeIdVersion: 2, managerId: 2 });
  const clash = parseVsiTypeSpec({ ...web, typeIdVersion: 1, managerId: 3 }); // known version, other parameters
  t.throws(() => svc.importSpecs([{ source: 'a.yaml', spec: v2 }, { source: 'b.yaml', spec: clash }]), { code: 'QBG_ERR_TYPE_VERSION_EXISTS' });
  t.equal(svc.get('web')?.typeIdVersion, 1, 'the batch was rolled back');
  t.equal(svc.get('web', 2), undefined);

  t.same(svc.importSpecs([{ source: 'a.yaml', spec: v2 }]).map((o) => o.action), ['new-version']);
  t.equal(svc.get('web')?.managerId, 2);
  t.equal(svc.get('web', 2)?.managerId, 2);
});

t.test('what is read inside a transaction that rolls back is not kept', async (t) => {
  const { db, svc } = fresh();
  t.throws(() =>
    db.transaction(() => {
      svc.edit('web', { managerId: 9 });
      t.equal(svc.get('web')?.managerId, 9, 'the transaction sees its own write');
      throw new Error('roll back');
    })(),
  );
  t.equal(svc.get('web')?.managerId, 1);
  t.equal(svc.get('web')?.typeIdVersion, 1);
});

t.test('writes that bypass this service: another service, plain SQL, another connection', async (t) => {
  const { db, svc } = fresh();
  new TypeService(db).edit('web', { managerId: 4 });
  t.equal(svc.get('web')?.managerId, 4, 'another TypeService on the same connection');
  db.prepare('DELETE FROM vsi_types WHERE name = ?').run('web');
  t.equal(svc.get('web'), undefined, 'plain SQL on the same connection');

  const dir = mkdtempSync(join(tmpdir(), 'qbg-type-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'qbg.db');
  const a = openDatabase(file);
  const b = openDatabase(file);
  t.teardown(() => {
    a.close();
    b.close();
  });
  const server = new TypeService(a);
  server.create(web);
  t.equal(server.get('web')?.managerId, 1);
  t.equal(server.get('web')?.managerId, 1);
  new TypeService(b).edit('web', { managerId: 5 }); // e.g. the CLI writing the same database file
  t.equal(server.get('web')?.managerId, 5, 'a commit by another connection');
});

t.test('a caller changing what it got does not change the next read', async (t) => {
  const { svc } = fresh();
  const v = svc.get('web')!;
  v.managerId = 77;
  v.allowedVlans[0].to = 99;
  v.allowedVlans.push({ from: 1, to: 1 });
  t.equal(svc.get('web')?.managerId, 1);
  t.same(svc.get('web')?.allowedVlans, [{ from: 10, to: 10 }]);
});

t.test('NIC writes leave the cache alone: an associate reads its type from memory', async (t) => {
  const { db, svc } = fresh();
  let reads = 0;
  const current = svc.repo.current.bind(svc.repo);
  svc.repo.current = (name) => (reads++, current(name));
  const nics = new NicRepo(db);
  const p = { vmUuid: '00000000-0000-4000-8000-000000000001', mac: '52:54:00:00:00:01', uplink: 'eth0', typeName: 'web', typeId: 100, typeIdVersion: 1, managerId2: '0'.repeat(30) + '01', filterFormat: 'vlan-mac' as const, vlan: 10, instanceUuid: '6f1c0e7a-1b9e-4c1e-9a53-2f1a7d3c5b10' };
  svc.get('web');
  const before = reads;
  nics.applyEvent(nicId(p.vmUuid, p.mac), { event: 'request-assoc', cause: 'api', params: p, desiredMode: 'assoc' });
  nics.applyEvent(nicId(p.vmUuid, p.mac), { event: 'answer-accepted', cause: 'lldpad-answer' });
  t.equal(svc.get('web')?.typeIdVersion, 1);
  t.equal(reads, before, 'no read of the type tables after two NIC transitions');
  svc.edit('web', { allowedVlans: [10, 30] });
  t.equal(svc.get('web')?.typeIdVersion, 2, 'a type write still shows at once');
});
