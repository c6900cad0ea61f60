// The end of an incoming migration as qbg sees it without a hook: the guest's macvtap going up. Which NICs it
// associates (only the pre-associated ones of a prepared migration, on the macvtap's uplink) and which it leaves
// alone. lldpad is a scripted VsiAssociator here; test/lab/libvirt-migration.test.ts runs it with libvirt.
import t from 'tap';
import pino from 'pino';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { MigrationArrival } from '../../src/service/migration-arrival.js';
import { linkKind } from '../../src/netdev/guest-links.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';

const VM = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4c';
const OTHER = '8c6f9e6e-2d0b-4a4e-9b3e-0e5f1f2a3b4d';

function setup() {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 });
  const lldpad = new ScriptedLldpad();
  const nics = new NicService({ repo: new NicRepo(db), associator: lldpad, types });
  const migration = new MigrationService(nics);
  const arrival = new MigrationArrival({ nics, migration, log: pino({ level: 'silent' }) });
  return { nics, migration, arrival, lldpad };
}

t.test('a prepared VM whose macvtap goes up on its uplink: every prepared NIC associated', async (t) => {
  const { nics, migration, arrival, lldpad } = setup();
  await migration.prepare(VM, [
    { mac: '52:54:00:12:34:56', uplink: 'eth0', type: 'web', vlan: 0 },
    { mac: '52:54:00:12:34:57', uplink: 'eth0', type: 'web', vlan: 0 },
  ]);
  t.same(nics.repo.all({ vmUuid: VM }).map((n) => n.state), ['pre-associated', 'pre-associated']);
  const before = lldpad.requests.length;
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap3', mac: '52:54:00:12:34:56', lower: 'eth0' }), [VM]);
  t.same(nics.repo.all({ vmUuid: VM }).map((n) => n.state), ['associated', 'associated'], 'both NICs of the VM, not only the one whose link came up');
  t.same(lldpad.requests.slice(before).map((r) => r.mode), ['assoc', 'assoc']);
  t.equal(nics.repo.lastEntry(`${VM}_52:54:00:12:34:56`)?.cause, 'lldpad-answer');
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap4', mac: '52:54:00:12:34:57', lower: 'eth0' }), [], 'the second link finds nothing left to do');
  t.equal(lldpad.requests.length, before + 2, 'no further request');
});

t.test('links that are not the end of a prepared migration change nothing', async (t) => {
  const { nics, migration, arrival, lldpad } = setup();
  await migration.prepare(VM, [{ mac: '52:54:00:12:34:56', uplink: 'eth0', type: 'web', vlan: 0 }]);
  await nics.associate({ vmUuid: OTHER, mac: '52:54:00:12:34:58', uplink: 'eth0', type: 'web', vlan: 0, mode: 'assoc' });
  const before = lldpad.requests.length;
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap0', mac: '52:54:00:12:34:56', lower: 'eth1' }), [], 'a macvtap on another uplink');
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap0', mac: '52:54:00:12:34:99', lower: 'eth0' }), [], 'an unknown MAC');
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap0', mac: '52:54:00:12:34:58', lower: 'eth0' }), [], 'a NIC already associated');
  t.equal(lldpad.requests.length, before, 'nothing sent to lldpad');
  t.equal(nics.repo.get(`${VM}_52:54:00:12:34:56`)?.state, 'pre-associated');
});

t.test('IFLA_LINKINFO kind', async (t) => {
  // as the kernel sent it for a macvtap and a veth (captured with node-netlink in a network namespace)
  t.equal(linkKind(Buffer.from('0c0001006d616376746170002c00020008000100', 'hex')), 'macvtap');
  t.equal(linkKind(Buffer.from('090001007665746800000000', 'hex')), 'veth');
  t.equal(linkKind(undefined), undefined);
  t.equal(linkKind(Buffer.from('0200', 'hex')), undefined, 'truncated');
  t.equal(linkKind(Buffer.from('0300010000', 'hex')), undefined, 'an attribute shorter than its header');
});

t.test('a libvirt-owned NIC is only observed: libvirt associated it at the finish, qbg sends nothing', async (t) => {
  const { nics, arrival, lldpad } = setup();
  const input = { vmUuid: VM, mac: '52:54:00:12:34:56', uplink: 'eth0', type: 'web', vlan: 0, instanceUuid: '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' };
  const vsi = { instanceUuid: input.instanceUuid, typeId: 1193047, typeIdVersion: 2, managerId2: '10', filters: [{ vlan: 0, mac: input.mac }] };
  // libvirt's PREASSOCIATE at the migration's start, observed by the hook at started begin
  lldpad.held.set(input.instanceUuid, { ...vsi, mode: 'preassoc' });
  await nics.observe(input, { expect: 'held' });
  t.match(nics.repo.get(`${VM}_${input.mac}`), { state: 'pre-associated', owner: 'libvirt' });
  // libvirt's ASSOCIATE at the finish, then the guest's CPUs run and its macvtap goes up
  lldpad.held.set(input.instanceUuid, { ...vsi, mode: 'assoc' });
  const sent = lldpad.requests.length;
  t.same(await arrival.guestLinkUp({ ifname: 'macvtap0', mac: input.mac, lower: 'eth0' }), [VM]);
  t.match(nics.repo.get(`${VM}_${input.mac}`), { state: 'associated', owner: 'libvirt' }, 'recorded as lldpad holds it');
  t.equal(lldpad.requests.length, sent, 'no request sent');
});
