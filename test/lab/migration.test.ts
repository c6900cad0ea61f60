// Live migration across two stations on one bridge, each station with its own qbg (NicService + Vdp22Client in
// its namespace + its own SQLite file): the destination pre-associates then associates, the source
// disassociates; a VSI is never held on both stations once the migration is done. Rollback drops only the
// destination's VSIs. What each lldpad holds is read with vdptool in its own namespace.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab, heldOn } from './harness.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';
import { NicService } from '../../src/service/nic-service.js';
import { MigrationService } from '../../src/service/migration.js';
import { nicId } from '../../src/domain/nic.js';
import { stableInstanceId } from '../../src/domain/instance-uuid.js';


t.test('live migration between two stations', async (t) => {
  const lab = await startLab(t, { stations: 2, bridge: 'lldpad', stationEvb: true });
  await Promise.all([lab.waitForEvb('st1'), lab.waitForEvb('st2')]);
  const dir = mkdtempSync(join(tmpdir(), 'qbg-migration-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const host = (station: string) => {
    const db = openDatabase(join(dir, `${station}.sqlite`));
    const types = new TypeService(db);
    types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 });
    const client = new Vdp22Client({ netns: lab.station(station).netns });
    const nics = new NicService({ repo: new NicRepo(db), associator: client, types });
    nics.start();
    t.teardown(async () => {
      await nics.stop();
      await client.close();
      db.close();
    });
    return { nics, migration: new MigrationService(nics), uplink: lab.station(station).uplink };
  };
  const src = host('st1');
  const dst = host('st2');
  const nicsOf = (i: number) => [0, 1].map((k) => ({ mac: `52:54:00:cc:0${i}:0${k}`, uplink: 's0', type: 'web', vlan: 100 + k }));

  await t.test('prepare → start → stop: the VSIs end on the destination only', async (t) => {
    const vm = '11111111-2222-4333-8444-000000000001';
    const nics = nicsOf(1);
    for (const n of nics) t.equal((await src.nics.associate({ ...n, vmUuid: vm })).nic.state, 'associated');
    const uuids = nics.map((n) => stableInstanceId(vm, n.mac));

    const prep = await dst.migration.prepare(vm, nics);
    t.equal(prep.ok, true, JSON.stringify(prep.nics.map((n) => [n.state, n.reason])));
    for (const u of uuids) {
      t.same(await heldOn(lab, 'st2', u), ['preassoc'], 'destination pre-associated (not RR)');
      t.same(await heldOn(lab, 'st1', u), ['assoc'], 'source still associated');
    }
    const start = await dst.migration.start(vm);
    t.equal(start.ok, true, JSON.stringify(start.nics.map((n) => [n.state, n.reason])));
    const stop = await src.migration.stop(vm);
    t.equal(stop.ok, true, JSON.stringify(stop.nics.map((n) => [n.state, n.reason])));
    for (const u of uuids) {
      t.same(await heldOn(lab, 'st2', u), ['assoc'], 'destination holds it');
      t.same(await heldOn(lab, 'st1', u), [], 'source holds nothing');
    }
    const h = dst.nics.repo.history(nicId(vm, nics[0].mac)).items.map((e) => `${e.to}:${e.cause}`);
    t.same(h, ['pre-associating:migration-prepare', 'pre-associated:lldpad-answer', 'associating:migration-start', 'associated:lldpad-answer']);
    const hs = src.nics.repo.history(nicId(vm, nics[0].mac)).items.map((e) => `${e.to}:${e.cause}`);
    t.same(hs.slice(-2), ['disassociating:migration-stop', 'disassociated:lldpad-answer']);
  });

  await t.test('rollback after prepare: destination dropped, source untouched', async (t) => {
    const vm = '11111111-2222-4333-8444-000000000002';
    const nics = nicsOf(2);
    for (const n of nics) await src.nics.associate({ ...n, vmUuid: vm });
    const srcHistory = nics.map((n) => src.nics.repo.history(nicId(vm, n.mac)).total);
    t.equal((await dst.migration.prepare(vm, nics)).ok, true);
    const rb = await dst.migration.rollback(vm);
    t.equal(rb.ok, true);
    for (const n of nics) {
      const u = stableInstanceId(vm, n.mac);
      t.same(await heldOn(lab, 'st2', u), [], 'destination holds nothing');
      t.same(await heldOn(lab, 'st1', u), ['assoc'], 'source still associated');
    }
    t.same(nics.map((n) => src.nics.repo.history(nicId(vm, n.mac)).total), srcHistory, 'source history unchanged');
    t.ok(rb.nics.every((n) => n.state === 'disassociated'));
  });

  await t.test('a prepare lldpad refuses for one NIC rolls the others back', async (t) => {
    const vm = '11111111-2222-4333-8444-000000000003';
    const nics = nicsOf(3);
    for (const n of nics) await src.nics.associate({ ...n, vmUuid: vm });
    const bad = [nics[0], { ...nics[1], uplink: 'nosuch0' }];
    const prep = await dst.migration.prepare(vm, bad);
    t.equal(prep.ok, false);
    t.ok(prep.nics.every((n) => n.state === 'disassociated'), JSON.stringify(prep.nics.map((n) => [n.state, n.reason])));
    t.same(await heldOn(lab, 'st2', stableInstanceId(vm, nics[0].mac)), [], 'the pre-associated one was dropped');
    for (const n of nics) t.same(await heldOn(lab, 'st1', stableInstanceId(vm, n.mac)), ['assoc'], 'source untouched');
    await t.rejects(dst.migration.start('11111111-2222-4333-8444-00000000ffff'), { code: 'QBG_ERR_NOT_FOUND' });
  });
});
