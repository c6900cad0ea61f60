// A real libvirtd and a real station lldpad facing the simulated bridge (src/lab/simbridge.ts), scripted to refuse or
// to stay silent, with a real `qbg serve` in the station's namespace and qbg's hook installed by `qbg hook install`.
// What an admin sees from `virsh start` when the bridge says no, and what lldpad still holds afterwards.
// NICs are named in qbg's domain metadata (no interface-level virtualport): qbg's hook associates them.
import t from 'tap';
import { heldOn } from './harness.js';
import { guestXml } from './libvirt-harness.js';
import { SIM_TYPES, startSimBridgeLibvirtLab, startStationQbg } from './libvirt-qbg.js';
import { until } from '../helpers/until.js';

// ~100 s alone; up to ~210 s measured at load 18 beside another libvirt lab (tap's default is 300 s)
t.setTimeout(900_000);

const TYPES = SIM_TYPES;

t.test('libvirt + simulated bridge: refusals reach virsh, nothing stays held', async (t) => {
  const { lv, sim } = await startSimBridgeLibvirtLab(t); // the bridge refuses TYPES.refused, ignores TYPES.silent
  const { lab } = lv;

  const qbg = await startStationQbg(t, lv);
  t.teardown(() => {
    if (!t.passing()) t.comment(`--- qbg log (tail) ---\n${qbg.log().slice(-4000)}`);
  });
  for (const ty of Object.values(TYPES)) t.equal((await qbg.api('POST', '/types', ty)).status, 201, `VSI type ${ty.name}`);
  // VDP may answer "not supported" for a moment after the EVB exchange: one accepted association first
  const warm = await until('a first association through the simulated bridge', async () => {
    const r = await qbg.api('POST', '/nics/associate', { vmUuid: '6d1a4b5c-3333-4222-8333-944455556600', mac: '52:54:00:79:00:00', uplink: 's0', type: 'web', vlan: 0 });
    return r.status === 200 ? r.body.nic : undefined;
  }, 30_000, 500);
  t.equal((await qbg.api('POST', `/nics/${warm.id}/disassociate`)).status, 200);

  let n = 0;
  const guest = (type: string) => {
    n++;
    const name = `qbg-sim${n}`;
    const uuid = `6d1a4b5c-3333-4222-8333-9444555566${n.toString(16).padStart(2, '0')}`;
    const mac = `52:54:00:79:00:${n.toString(16).padStart(2, '0')}`;
    return { name, uuid, mac, nicId: `${uuid}_${mac}`, xml: guestXml({ name, uuid, nics: [{ mac, profile: type }] }) };
  };

  await t.test('the bridge refuses: virsh start fails and its error carries the decoded reason', async (t) => {
    const g = guest('refused');
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    const started = Date.now();
    const r = await lv.virsh(['start', g.name]);
    t.comment(`virsh start refused by the bridge after ${Date.now() - started} ms:\n${r.stderr.trim()}`);
    t.not(r.code, 0, 'virsh start fails');
    t.match(r.stderr, /Hook script execution failed/, 'libvirt names the hook');
    t.match(r.stderr, new RegExp(`qbg hook \\(libvirt qemu prepare begin\\): VM ${g.name} NIC ${g.mac}: [^\\n]*INSUFFICIENT_RESOURCES[^\\n]*\\[QBG_ERR_VDP_REJECTED`), "the bridge's reason, decoded, with qbg's code");
    t.equal((await lv.virsh(['domstate', g.name])).stdout.trim(), 'shut off');
    const nic = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.comment(`qbg's record after the refusal: ${nic.state} ${nic.reason ?? ''}`);
    t.same(await heldOn(lab, 'st1', nic.instanceUuid), [], 'lldpad holds nothing for it');
    t.same((await sim.send({ cmd: 'held' })).held ?? [], [], 'nor does the bridge');
  });

  await t.test("the bridge is silent: the start fails on lldpad's verdict through qbg (not the hook's timeout), nothing hidden stays in lldpad", async (t) => {
    const g = guest('silent');
    t.equal((await lv.defineXml('define', g.xml)).code, 0);
    const started = Date.now();
    let r = await lv.virsh(['start', g.name]);
    t.comment(`virsh start against a silent bridge failed after ${Date.now() - started} ms:\n${r.stderr.trim()}`);
    t.not(r.code, 0, 'virsh start fails');
    // lldpad itself gives up first (its response wait, ≈ 2 s here) and reports the VSI refused for want of an answer
    t.match(r.stderr, new RegExp(`VM ${g.name} NIC ${g.mac}: [^\\n]*NO_RESPONSE[^\\n]*no response from the bridge[^\\n]*\\[QBG_ERR_VDP_REJECTED`), "qbg's answer: the bridge did not answer");
    t.notMatch(r.stderr, /not reachable|no answer within/, 'not the hook giving up on qbg');
    const nic = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.comment(`qbg's record after the timeout: ${nic.state} ${nic.reason ?? ''}`);
    // lldpad keeps a timed-out VSI (hints 255) until its own ack timer drops it: poll, bounded
    t.same(await until('lldpad to drop the timed-out VSI', async () => ((await heldOn(lab, 'st1', nic.instanceUuid)).length === 0 ? [] : undefined), 30_000), [], 'not held');
    // Nothing hidden: the same VSI (same NIC, same instance UUID) can be associated again once the bridge answers;
    // a hidden VSI would refuse it at once (EBUSY, "Device not found or inactive")
    await sim.send({ cmd: 'rule', typeId: TYPES.silent.typeId, rule: { action: 'accept' } });
    r = await lv.virsh(['start', g.name]);
    t.equal(r.code, 0, `the next start with the same VSI: ${r.stderr}`);
    const again = (await qbg.api('GET', `/nics/${g.nicId}`)).body;
    t.equal(again.instanceUuid, nic.instanceUuid, 'the same instance UUID');
    t.same(await heldOn(lab, 'st1', nic.instanceUuid), ['assoc'], 'held now');
    t.equal((await lv.virsh(['destroy', g.name])).code, 0);
    t.same(await until('the de-association', async () => ((await heldOn(lab, 'st1', nic.instanceUuid)).length === 0 ? [] : undefined), 30_000), []);
  });
});
