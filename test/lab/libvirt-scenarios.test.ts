// Scenarios against a real libvirtd, a real station lldpad, a real bridge lldpad and a real `qbg serve` in the
// station's namespace, with qbg's hook installed by `qbg hook install`. One libvirtd serves all the tests of this file.
// NICs are named in qbg's domain metadata and carry no interface-level virtualport: qbg's hook associates them at
// `prepare begin` and disassociates them at `release end` (libvirt sends nothing over netlink for them).
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { heldOn } from './harness.js';
import { guestXml, shutdownGuest, startLibvirtLab, vsiOn, writeShutdownBootSector } from './libvirt-harness.js';
import { hookAssociates, hookCalls, nicXml, startStationQbg, vdpRequests, SCENARIO_TYPE as TYPE } from './libvirt-qbg.js';
import { until } from '../helpers/until.js';

// ~100 s alone; up to ~210 s measured at load 18 beside another libvirt lab (tap's default is 300 s)
t.setTimeout(900_000);

let n = 0;
/** A guest with one NIC named in qbg's metadata; `alsoNamed`: MACs named there too, for NICs hot-plugged later. */
function guest(alsoNamed: string[] = [], shutdownDisk?: string) {
  n++;
  const hex = n.toString(16).padStart(2, '0');
  const name = `qbg-sc${n}`;
  const uuid = `6d1a4b5c-2222-4222-8333-9444555566${hex}`;
  const mac = `52:54:00:78:00:${hex}`;
  const xml = guestXml({ name, uuid, nics: [{ mac, profile: TYPE.name }], shutdownDisk }).replace(
    '    </qbg:nics>',
    alsoNamed.map((m) => `      <qbg:nic mac='${m}' profile='${TYPE.name}'/>\n`).join('') + '    </qbg:nics>',
  );
  return { name, uuid, mac, nicId: `${uuid}_${mac}`, xml };
}

t.test('libvirt scenarios, qbg owns the VSI (its hook associates)', async (t) => {
  const lv = await startLibvirtLab(t, { hook: { onQbgDown: 'fail' } });
  const { lab } = lv;
  const qbg = await startStationQbg(t, lv);
  t.teardown(() => {
    if (!t.passing()) t.comment(`--- qbg log (tail) ---\n${qbg.log().slice(-4000)}`);
  });
  t.equal((await qbg.api('POST', '/types', TYPE)).status, 201, 'VSI type web');
  const historyTo = async (id: string): Promise<string[]> => (await qbg.api('GET', `/nics/${id}/history`)).body.items.map((h: { to: string }) => h.to);
  const stateOf = async (id: string): Promise<string | undefined> => {
    const r = await qbg.api('GET', `/nics/${id}`);
    return r.status === 404 ? undefined : r.body.state;
  };
  const disassociated = (id: string) => until(`qbg to record ${id} disassociated`, async () => ((await stateOf(id)) === 'disassociated' ? 'disassociated' : undefined), 30_000);

  await t.test('virsh start: the hook associates through qbg; virsh destroy: disassociated everywhere', async (t) => {
    const g = guest();
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    const r = await lv.virsh(['start', g.name]);
    t.equal(r.code, 0, `virsh start: ${r.stdout}${r.stderr}`);
    const nic = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.match(nic, { state: 'associated', uplink: 's0', typeName: 'web', typeIdVersion: 2 }, "qbg's record");
    t.match(await vsiOn(lab, 'st1', nic.instanceUuid), { mode: 'assoc', mgrid2: '11', typeid: '1193047', typeidver: '2', filter: `0-${g.mac}` }, 'the station lldpad holds the VSI');
    t.same(await historyTo(g.nicId), ['associating', 'associated'], 'history');
    t.notMatch(lv.log(), /ASSOCIATE: ifname: s0/, 'libvirt sent nothing over netlink (no interface-level virtualport)');

    const d = await lv.virsh(['destroy', g.name]);
    t.equal(d.code, 0, `virsh destroy: ${d.stderr}`);
    t.equal((await until('qbg to record the de-association', async () => {
      const s = (await qbg.api('GET', `/nics/${g.nicId}`)).body.state;
      return s === 'disassociated' ? s : undefined;
    }, 30_000)), 'disassociated');
    t.same(await heldOn(lab, 'st1', nic.instanceUuid), [], 'nothing held');
    t.same(hookCalls(lv.logSinceStart(), g.name), ['prepare begin', 'start begin', 'started begin', 'stopped end', 'release end'], 'hook calls');
  });

  await t.test('virsh shutdown: the guest powers itself off (ACPI), the hook disassociates, nothing held', async (t) => {
    const g = guest([], writeShutdownBootSector(`${lab.stateDir}/shutdown.img`));
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    t.equal((await lv.virsh(['start', g.name])).code, 0);
    const nic = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.equal(nic.state, 'associated');
    const { shutdown, state } = await shutdownGuest(lv, g.name);
    t.equal(shutdown.code, 0, `virsh shutdown: ${shutdown.stderr}`);
    t.equal(state, 'shut off (shutdown)', 'the guest powered itself off');
    t.equal(await disassociated(g.nicId), 'disassociated');
    t.same(await heldOn(lab, 'st1', nic.instanceUuid), [], 'nothing held');
    t.same(hookCalls(lv.logSinceStart(), g.name), ['prepare begin', 'start begin', 'started begin', 'stopped end', 'release end'], 'hook calls');
  });

  await t.test('libvirtd restarted with the guest running (reconnect): no new association, no state change, no second request', async (t) => {
    const g = guest();
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    t.equal((await lv.virsh(['start', g.name])).code, 0);
    const before = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.equal(before.state, 'associated');
    const historyBefore = await historyTo(g.nicId);
    const metricsBefore = (await qbg.api('GET', '/metrics')).body;
    const requestsBefore = vdpRequests(metricsBefore, 'assoc');
    const associatesBefore = hookAssociates(metricsBefore);

    await lv.stopLibvirtd('st1');
    await lv.startLibvirtd('st1');
    t.equal((await lv.virsh(['domstate', g.name])).stdout.trim(), 'running', 'the guest kept running and libvirtd took it back');
    // libvirtd runs the reconnect hook while it takes the domain back; the answer has come once virsh answers
    const calls = await until('the reconnect hook call', async () => (hookCalls(lv.log(), g.name).includes('reconnect begin') ? hookCalls(lv.log(), g.name) : undefined), 30_000);
    t.ok(calls.includes('reconnect begin'), 'the hook ran at reconnect begin');
    // its call has been answered once qbg counted it (the hook ran in libvirtd's reconnect thread, not before virsh)
    await until("the hook's associate call answered", async () => hookAssociates((await qbg.api('GET', '/metrics')).body) > associatesBefore, 30_000);
    const after = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.equal(after.state, 'associated', 'state unchanged');
    t.equal(after.instanceUuid, before.instanceUuid, 'the same VSI');
    t.same(await historyTo(g.nicId), historyBefore, 'no new transition');
    t.equal(vdpRequests((await qbg.api('GET', '/metrics')).body, 'assoc'), requestsBefore, 'no second request to lldpad');
    t.same(await heldOn(lab, 'st1', before.instanceUuid), ['assoc'], 'still held');

    t.equal((await lv.virsh(['destroy', g.name])).code, 0);
    await disassociated(g.nicId);
  });

  await t.test('hot-plug: no hook runs for attach-device; a NIC asked of qbg before the attach is held; stop releases all', async (t) => {
    const [unasked, asked] = ['52:54:00:78:01:01', '52:54:00:78:01:02'];
    const g = guest([unasked, asked]);
    // i440fx hot-plugs PCI devices through ACPI: without <acpi/> qemu says "Bus 'pci.0' does not support hotplugging"
    t.equal((await lv.defineXml('define', g.xml.replace('  <devices>', '  <features><acpi/></features>\n  <devices>'))).code, 0);
    t.equal((await lv.virsh(['start', g.name])).code, 0);
    const callsAtStart = hookCalls(lv.log(), g.name);
    const attach = async (mac: string) => {
      const file = `${lab.stateDir}/hotplug-${mac.replaceAll(':', '')}.xml`;
      writeFileSync(file, nicXml(mac));
      const r = await lv.virsh(['attach-device', g.name, file, '--live']);
      t.equal(r.code, 0, `attach-device ${mac}: ${r.stderr}`);
      return file;
    };

    // What libvirt really does: the NIC is in the guest, no hook ran, qbg was not asked, nothing announced
    await attach(unasked);
    t.match((await lv.virsh(['domiflist', g.name])).stdout, unasked, 'the guest has the NIC');
    t.same(hookCalls(lv.log(), g.name), callsAtStart, 'no hook call for attach-device');
    t.equal(await stateOf(`${g.uuid}_${unasked}`), undefined, 'qbg was not asked');

    // The documented way (docs/hooks.md, "Hot-plug"): associate through qbg first, then attach
    const a = await qbg.api('POST', '/nics/associate', { vmUuid: g.uuid, mac: asked, uplink: 's0', type: TYPE.name, vlan: 0 });
    t.equal(a.status, 200, JSON.stringify(a.body));
    t.equal(a.body.nic.state, 'associated');
    const askedFile = await attach(asked);
    t.same(await heldOn(lab, 'st1', a.body.nic.instanceUuid), ['assoc'], 'held while the hot-plugged NIC runs');

    // detach-device only ASKS the guest (ACPI eject): a guest that does not answer (ours has no OS) keeps the NIC,
    // so "virsh detach-device" returning 0 does not mean the NIC is gone: disassociate once it left domiflist
    const d = await lv.virsh(['detach-device', g.name, askedFile, '--live']);
    t.equal(d.code, 0, `detach-device: ${d.stderr}`);
    t.match((await lv.virsh(['domiflist', g.name])).stdout, asked, 'the NIC is still in the guest (eject not acknowledged)');
    t.same(await heldOn(lab, 'st1', a.body.nic.instanceUuid), ['assoc'], 'and its VSI stays held, as it must');
    t.same(hookCalls(lv.log(), g.name), callsAtStart, 'no hook call for detach-device');

    // The stop: the hook reads the live XML (hot-plugged NICs included) and releases every NIC qbg holds
    t.equal((await lv.virsh(['destroy', g.name])).code, 0);
    await disassociated(g.nicId);
    await disassociated(`${g.uuid}_${asked}`);
    t.same(await heldOn(lab, 'st1', a.body.nic.instanceUuid), [], 'the hot-plugged NIC qbg associated is released at the stop');
    t.equal(await stateOf(`${g.uuid}_${unasked}`), undefined, 'the unasked NIC stays unknown');
  });

  await t.test('qbg down at start: onQbgDown=fail refuses the start with the reason in virsh\'s error; allow lets it run unannounced', async (t) => {
    const g = guest();
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    await qbg.stop();
    t.teardown(() => qbg.start());
    let r = await lv.virsh(['start', g.name]);
    t.not(r.code, 0, 'virsh start fails');
    t.comment(`virsh start with qbg down: ${r.stderr.trim()}`);
    t.match(r.stderr, /qbg hook \(libvirt qemu prepare begin\): qbg at http:\/\/127\.0\.0\.1:8021 is not reachable/, "virsh shows the hook's reason");
    t.match(r.stderr, /refused because qbg is down \(onQbgDown=fail/);
    t.equal((await lv.virsh(['domstate', g.name])).stdout.trim(), 'shut off');

    qbg.setHookConfig({ onQbgDown: 'allow' });
    t.teardown(() => qbg.setHookConfig({ onQbgDown: 'fail' }));
    r = await lv.virsh(['start', g.name]);
    t.equal(r.code, 0, `virsh start with onQbgDown=allow: ${r.stderr}`);
    t.equal((await lv.virsh(['domstate', g.name])).stdout.trim(), 'running');
    r = await lv.virsh(['destroy', g.name]);
    t.equal(r.code, 0, 'a stop is never refused, qbg down or not');
    await qbg.start();
    t.equal(await stateOf(g.nicId), undefined, 'qbg never heard of the NIC (associate it later, or restart the VM)');
  });
});
