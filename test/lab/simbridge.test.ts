// The simulated bridge against a real station lldpad, with vdptool as ground truth (nothing else of ours on the
// station side): accept, reject with a reason, silence, missing ECP ACKs, keep-alive loss and an unsolicited
// de-associate each end the way lldpad reports them. One lab (bridge lldpad replaced by the simulator) for all.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { startSimLab, type SimEvent } from './simbridge-process.js';
import { until } from '../helpers/until.js';

// Station and simulator both advertise RKA/RWD 17 (10 µs × 2^17 ≈ 1.3 s) instead of 20 (≈ 10.5 s): the station
// uses the larger of both, and its response wait ((1 + 2·retries)·2^RTE + 2^RWD) × 1.5 ≈ 2 s then stays inside
// vdptool -W's 5 s wait, and a lost keep-alive ends the VSI in a few seconds instead of half a minute.
const EXP = '17';

function vsiArgs(mode: string, uuid: string, typeId: number, mac: string): string[] {
  return ['-c', `mode=${mode}`, '-c', 'mgrid2=0', '-c', `typeid=${typeId}`, '-c', 'typeidver=1', '-c', `uuid=${uuid}`, '-c', 'hints=none', '-c', `filter=0-${mac}`];
}

t.test('simulated bridge vs station lldpad (vdptool as ground truth)', async (t) => {
  const { lab, st, sim } = await startSimLab(t, EXP);

  let macN = 0x10;
  const nextMac = (): string => `52:54:00:00:00:${(macN++).toString(16).padStart(2, '0')}`;
  const vdp = async (mode: string, uuid: string, typeId: number, mac: string): Promise<string> => {
    const r = await lab.vdptool(st.netns, ['-i', st.uplink, '-T', '-W', '-V', 'assoc', ...vsiArgs(mode, uuid, typeId, mac)]);
    return r.stdout + r.stderr;
  };
  /** What lldpad holds for one VSI (query by UUID: listing all truncates silently past ~20 VSIs). */
  const holds = async (uuid: string): Promise<boolean> => {
    const r = await lab.vdptool(st.netns, ['-i', st.uplink, '-t', '-V', 'assoc', '-c', `uuid=${uuid}`]);
    return r.stdout.includes(`uuid = ${uuid}`);
  };
  const eventsFor = (uuid: string, event: string): SimEvent[] => sim.events.filter((e) => e.event === event && e.instanceUuid === uuid);
  // The simulator reports on its own channel, which can deliver after vdptool already printed lldpad's answer:
  // wait for the report instead of reading the event list once.
  const reported = (uuid: string, event: string): Promise<SimEvent> =>
    sim.waitFor((e) => e.event === event && e.instanceUuid === uuid, 5000, `the simulator's '${event}' report for ${uuid}`);

  // The first association after EVB comes up can still meet "VDP protocol not supported": retry a warm-up VSI.
  const warm = randomUUID();
  const warmMac = nextMac();
  let warmOut = '';
  for (let i = 0; i < 20 && !warmOut.includes('mode = assoc'); i++) {
    warmOut = await vdp('assoc', warm, 7, warmMac);
    if (!warmOut.includes('mode = assoc')) await new Promise((r) => setTimeout(r, 500));
  }
  t.match(warmOut, /mode = assoc/, 'warm-up association through the simulator');
  t.match(await vdp('deassoc', warm, 7, warmMac), /mode = deassoc/);

  await t.test('accept: associated, held by lldpad, then de-associated', async (t) => {
    const uuid = randomUUID();
    const mac = nextMac();
    const out = await vdp('assoc', uuid, 100, mac);
    t.match(out, new RegExp(`uuid = ${uuid}`));
    t.match(out, /mode = assoc/);
    t.notMatch(out, /Error/);
    t.equal(await holds(uuid), true, 'station lldpad holds the VSI');
    const sent = await reported(uuid, 'sent'); // reported after the request: both are in the list from here on
    const req = eventsFor(uuid, 'vdp-request')[0];
    t.match(req, { mode: 'assoc', typeId: 100, typeIdVersion: 1, keepalive: false, action: 'accept', filterFormat: 2, filters: [{ vid: 0, mac }] });
    t.match(sent, { kind: 'vdp-response', mode: 'assoc', status: 0x40, reasonCode: 0 });
    t.match(await vdp('deassoc', uuid, 100, mac), /mode = deassoc/);
    t.equal(await holds(uuid), false, 'gone after deassoc');
  });

  await t.test('reject by instance UUID with reason 2: vdptool reports insufficient resources', async (t) => {
    const uuid = randomUUID();
    await sim.send({ cmd: 'rule', uuid, rule: { action: 'reject', reason: 2 } });
    const out = await vdp('assoc', uuid, 101, nextMac());
    t.match(out, /Error returned by Bridge: Insufficient resources at bridge/);
    t.match(await reported(uuid, 'sent'), { kind: 'vdp-response', status: 0x42, reasonCode: 2, reason: 'Insufficient resources at bridge' });
    t.equal(await holds(uuid), false, 'station does not hold a rejected VSI');
  });

  await t.test('reject by VSI type id with reason 5; other type ids still accepted', async (t) => {
    await sim.send({ cmd: 'rule', typeId: 555, rule: { action: 'reject', reason: 5 } });
    const bad = randomUUID();
    t.match(await vdp('assoc', bad, 555, nextMac()), /Invalid VID, GroupID or MAC address field/);
    const good = randomUUID();
    const mac = nextMac();
    t.match(await vdp('assoc', good, 556, mac), /mode = assoc/);
    t.match(await vdp('deassoc', good, 556, mac), /mode = deassoc/);
    await sim.send({ cmd: 'rule', typeId: 555, rule: null });
  });

  await t.test('silent bridge (ECP ACK, no VDP answer): the station times out', async (t) => {
    const uuid = randomUUID();
    await sim.send({ cmd: 'rule', uuid, rule: { action: 'silent' } });
    const out = await vdp('assoc', uuid, 102, nextMac());
    t.match(out, /Internal Error : Ack not received from bridge/);
    t.ok(await reported(uuid, 'vdp-ignored'), 'simulator saw the request and stayed silent');
    t.equal(eventsFor(uuid, 'sent').length, 0, 'no VDP response sent');
    t.equal(await holds(uuid), false);
  });

  await t.test('no ECP ACK at all: the station retransmits, then gives up', async (t) => {
    const uuid = randomUUID();
    await sim.send({ cmd: 'rule', uuid, rule: { action: 'no-ack' } });
    const out = await vdp('assoc', uuid, 103, nextMac());
    t.match(out, /Internal Error/, 'vdptool reports a failure');
    const withheldOf = () => sim.events.filter((e) => e.event === 'ecp-ack-withheld' && e.instanceUuid === uuid);
    const withheld = await until('the simulator\'s reports of two withheld ACKs', async () => (withheldOf().length >= 2 ? withheldOf() : undefined), 5000).catch(() => withheldOf());
    t.ok(withheld.length >= 2, `station retransmitted the unacknowledged ECP frame (${withheld.length} copies seen)`);
    t.equal(await holds(uuid), false);
  });

  await t.test('keep-alive loss: associated, then the station drops the VSI', async (t) => {
    const uuid = randomUUID();
    await sim.send({ cmd: 'rule', uuid, rule: { action: 'keepalive-loss' } });
    const out = await vdp('assoc', uuid, 104, nextMac());
    t.match(out, /mode = assoc/);
    const associatedAt = Date.now();
    t.equal(await holds(uuid), true, 'held right after the association');
    let gone = false;
    while (!gone && Date.now() - associatedAt < 30_000) {
      await new Promise((r) => setTimeout(r, 250));
      gone = !(await holds(uuid));
    }
    const lostAfterMs = Date.now() - associatedAt;
    t.ok(gone, `station dropped the VSI (after about ${lostAfterMs} ms)`);
    t.comment(`keep-alive loss: VSI dropped about ${lostAfterMs} ms after the association (RKA/RWD ${EXP})`);
    const ignored = eventsFor(uuid, 'vdp-ignored').filter((e) => e.why === 'keepalive-loss');
    t.ok(ignored.length >= 1, 'simulator ignored at least one keep-alive');
    t.ok(eventsFor(uuid, 'vdp-request').some((e) => e.keepalive === true), 'the ignored request was a keep-alive');
  });

  await t.test('unsolicited de-associate from the bridge: the station no longer holds the VSI', async (t) => {
    const uuid = randomUUID();
    const mac = nextMac();
    t.match(await vdp('assoc', uuid, 105, mac), /mode = assoc/);
    t.equal(await holds(uuid), true);
    await sim.send({ cmd: 'deassoc', uuid });
    await sim.waitFor((e) => e.event === 'ecp-acked' && e.kind === 'unsolicited-deassoc', 5000, 'station ACK of the de-associate');
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      gone = !(await holds(uuid));
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(gone, 'station dropped the VSI');
    const held = await sim.send({ cmd: 'held' });
    t.notOk((held.vsis as { instanceUuid: string }[]).some((v) => v.instanceUuid === uuid), 'simulator no longer holds it either');
  });

  t.equal(sim.events.filter((e) => e.event === 'decode-error').length, 0, 'every frame the station sent decoded');
});
