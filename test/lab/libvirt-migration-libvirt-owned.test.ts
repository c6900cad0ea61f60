// Live migration between two real libvirtds (stations 1 and 2 of one lab, each in its own network and mount
// namespace, each with its own lldpad, `qbg serve` and qbg's hook): `virsh migrate --live` with the client driving
// both daemons over their unix sockets and qemu's migration stream over a unix socket in the lab's state dir (the
// one path both private mount namespaces share). Each station's libvirtd has its own host UUID (lab.sh): libvirt
// refuses a migration between two daemons with the same one.
// Here libvirt owns the VSIs (qbg config ownership: libvirt): the NIC carries the full virtualport, libvirt
// pre-associates on the destination at the migration's start and associates at its finish over netlink; qbg only
// records what lldpad holds (started begin, the guest's macvtap going up, release end) and sends nothing.
import t from 'tap';
import { heldOn } from './harness.js';
import { guestXml, startLibvirtLab } from './libvirt-harness.js';
import { migrateLive, migrateSuspended, netlinkRequests, settles as settlesTo, startStationQbg, statesOf, SCENARIO_TYPE, type StationQbg } from './libvirt-qbg.js';
import { until } from '../helpers/until.js';

// ~100 s alone; up to ~210 s measured at load 18 beside another libvirt lab (tap's default is 300 s)
t.setTimeout(900_000);

const TYPE = SCENARIO_TYPE;
const VM = { name: 'qbg-migl1', uuid: '6d1a4b5c-9999-4222-8333-944455556601', mac: '52:54:00:7a:01:01' };
const INSTANCE = '09b11c53-8b5c-4eeb-8f00-d84eaa0a9901';
const NIC = `${VM.uuid}_${VM.mac}`;

t.test('virsh migrate --live, libvirt owns the VSIs: libvirt pre-associates and associates, qbg records each step', async (t) => {
  const lv = await startLibvirtLab(t, { stations: 2, hook: { onQbgDown: 'fail' } });
  const { lab } = lv;
  const src = await startStationQbg(t, lv, 'st1', { ownership: 'libvirt' });
  const dst = await startStationQbg(t, lv, 'st2', { ownership: 'libvirt' });
  t.teardown(() => {
    if (!t.passing()) for (const [n, q] of [['st1', src], ['st2', dst]] as const) t.comment(`--- ${n} qbg log (tail) ---\n${q.log().slice(-3000)}`);
  });
  for (const q of [src, dst]) t.equal((await q.api('POST', '/types', TYPE)).status, 201, 'VSI type web');
  const historyTo = (q: StationQbg): Promise<string[]> => statesOf(q, NIC);
  // what libvirt's steps left, without the reconciler's looks (check-associated once libvirt's ASSOCIATE is in)
  const observedTo = (q: StationQbg): Promise<string[]> => statesOf(q, NIC, { withoutChecks: true });

  t.equal((await lv.defineXml('define', guestXml({ ...VM, nics: [{ mac: VM.mac, virtualport: { managerid: TYPE.managerId, typeid: TYPE.typeId, typeidversion: TYPE.typeIdVersion, instanceid: INSTANCE } }] }))).code, 0);
  let r = await lv.virsh(['start', VM.name]);
  t.equal(r.code, 0, `virsh start: ${r.stderr}`);
  const nic = await until('the source to record it', async () => {
    const b = (await src.api('GET', `/nics/${NIC}`)).body;
    return b?.state === 'associated' ? b : undefined;
  }, 30_000);
  t.match(nic, { owner: 'libvirt', instanceUuid: INSTANCE }, 'observed associated on the source');
  const vsi = nic.instanceUuid as string;
  t.same(await heldOn(lab, 'st1', vsi), ['assoc']);

  const migrate = (from: string, to: string, extra: string[] = []): Promise<void> => migrateLive(t, lv, VM.name, from, to, extra);
  const settles = (q: StationQbg, state: string, what: string): Promise<string> => settlesTo(q, NIC, state, what);

  // 1. Station 1 → 2, the guest left paused on arrival (--suspend): libvirt keeps its macvtap down, qbg keeps the
  //    pre-association; `virsh resume` brings the macvtap up and qbg associates
  await migrateSuspended(t, lv, VM.name, src, NIC, vsi);
  const dstNic = (await dst.api('GET', `/nics/${NIC}`)).body;
  t.equal(dstNic.instanceUuid, vsi, 'the destination records the very same VSI');
  t.same(await observedTo(dst), ['pre-associated'], 'destination: observed pre-associated (started begin), left so while the guest is paused');
  t.same(netlinkRequests(lv.log('st2'), VM.mac), ['PREASSOCIATE', 'ASSOCIATE'], "libvirt's own requests on the destination: at the migration's start and finish");
  // libvirt associates at the finish even when the guest stays paused: qbg observes pre-associated until the guest
  // runs (its macvtap goes up), while lldpad already holds the association
  t.same(await heldOn(lab, 'st2', vsi), ['assoc'], "the destination's lldpad holds it associated (libvirt's ASSOCIATE at the finish)");

  t.equal((await lv.virsh(['resume', VM.name], { station: 'st2' })).code, 0, 'virsh resume');
  t.equal(await settles(dst, 'associated', 'the destination to associate once the guest runs'), 'associated');
  t.same(await historyTo(dst), ['pre-associated', 'associated'], 'destination history: observed, no request');
  t.same(await heldOn(lab, 'st2', vsi), ['assoc'], "the destination's lldpad holds it associated");

  // 2. Back, station 2 → 1, plain live migration: associated on arrival, released on the source
  await migrate('st2', 'st1');
  t.equal((await lv.virsh(['domstate', VM.name])).stdout.trim(), 'running', 'the guest runs on station 1 again');
  t.equal(await settles(src, 'associated', 'station 1 to associate on arrival'), 'associated');
  t.same((await historyTo(src)).slice(-2), ['pre-associated', 'associated'], 'station 1: observed pre-associated, then associated');
  t.equal(await settles(dst, 'disassociated', 'station 2 to de-associate'), 'disassociated');
  t.same(await heldOn(lab, 'st1', vsi), ['assoc']);
  t.same(await heldOn(lab, 'st2', vsi), []);

  t.equal((await lv.virsh(['destroy', VM.name])).code, 0);
  t.same(await until('station 1 to de-associate', async () => ((await heldOn(lab, 'st1', vsi)).length === 0 ? [] : undefined), 30_000), []);
});
