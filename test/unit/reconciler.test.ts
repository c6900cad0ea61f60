// Reconciler decisions after a qbg crash, with a scripted lldpad (the lab tests use the real one).
import t from 'tap';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { Reconciler } from '../../src/service/reconciler.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';

const VM = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d01';

async function world() {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 });
  const lldpad = new ScriptedLldpad();
  const repo = new NicRepo(db);
  return { db, types, lldpad, repo };
}

t.test('a disassociate cut short by a qbg crash is finished by the next start sweep', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const before = new NicService({ repo, associator: lldpad, types });
  const a = await before.associate({ vmUuid: VM, mac: '52:54:00:00:00:01', uplink: 'eth0', type: 'web', vlan: 10 });
  t.equal(a.nic.state, 'associated');
  t.ok(lldpad.held.has(a.nic.instanceUuid));
  // qbg recorded the disassociate request, then died before lldpad answered
  repo.applyEvent(a.nic.id, { event: 'request-deassoc', cause: 'api-deassoc', desiredMode: 'deassoc' });
  t.equal(repo.get(a.nic.id)!.state, 'disassociating');

  // the restarted qbg: a new service and reconciler on the same store
  const after = new NicService({ repo, associator: lldpad, types });
  const rec = new Reconciler({ service: after, associator: lldpad, sweepIntervalMs: 0 });
  t.teardown(() => rec.stop());
  const report = await rec.start();
  t.equal(report.checked, 1, 'the NIC left disassociating is looked at');
  t.equal(repo.get(a.nic.id)!.state, 'disassociated');
  t.notOk(lldpad.held.has(a.nic.instanceUuid), 'lldpad no longer holds the VSI');
  const causes = repo.history(a.nic.id).items.map((h) => `${h.from}→${h.to}`);
  t.same(causes.slice(-4), ['disassociating→failed', 'failed→associated', 'associated→disassociating', 'disassociating→disassociated'], `history: ${causes.join(', ')}`);
});

t.test('an association cut short is finished too, and a held NIC costs no request', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const svc = new NicService({ repo, associator: lldpad, types });
  const held = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:02', uplink: 'eth0', type: 'web', vlan: 10 });
  const cut = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:03', uplink: 'eth0', type: 'web', vlan: 10 });
  lldpad.held.delete(cut.nic.instanceUuid);
  repo.applyEvent(cut.nic.id, { event: 'request-assoc', cause: 'api-assoc', desiredMode: 'assoc' });
  const sent = lldpad.requests.length;
  const rec = new Reconciler({ service: new NicService({ repo, associator: lldpad, types }), associator: lldpad, sweepIntervalMs: 0 });
  t.teardown(() => rec.stop());
  const report = await rec.start();
  t.equal(report.checked, 2);
  t.equal(repo.get(cut.nic.id)!.state, 'associated');
  t.equal(repo.get(held.nic.id)!.state, 'associated');
  t.equal(lldpad.requests.length - sent, 1, 'one request, for the cut one only');
});
