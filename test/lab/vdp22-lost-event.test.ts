// A VDP22 outcome event that never reaches the client (a dropped datagram) must not cost the whole request
// timeout: after outcomeGraceMs the client asks lldpad what it holds and settles from that. The loss is simulated
// with the client's test-only testDropEvent hook; lldpad itself, the bridge and the exchange are real.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { VsiOutcome, VsiRequest } from '../../src/domain/vsi-request.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';
import { startLab, type Lab } from './harness.js';

const MGR = '0'.repeat(32);

function vsi(i: number, mode: VsiRequest['mode']): VsiRequest {
  return {
    uplink: 's0',
    mode,
    managerId2: MGR,
    typeId: 5000 + i,
    typeIdVersion: 1,
    instanceUuid: randomUUID(),
    filterFormat: 'vlan-mac',
    filters: [{ vlan: 200 + i, mac: `52:54:00:0b:00:${i.toString(16).padStart(2, '0')}` }],
  };
}

/** How many VSIs with this uuid vdptool sees in assoc mode (its own query, independent of our client). */
async function vdptoolCount(lab: Lab, uuid: string): Promise<number> {
  const r = await lab.vdptool(lab.station().netns, ['-t', '-i', 's0', '-V', 'assoc', '-c', `uuid=${uuid}`]);
  return [...r.stdout.matchAll(/^\s*uuid = (.*)$/gm)].filter((m) => m[1].trim().toLowerCase() === uuid).length;
}

t.test('a lost outcome event is recovered by querying lldpad', async (t) => {
  const lab = await startLab(t, { stationEvb: true });
  await lab.waitForEvb();
  const st = lab.station();
  const dropFor = new Set<string>();
  const dropped: string[] = [];
  const dropAll = new Set<string>();
  // requestTimeoutMs stays at the 10 s default: a request that only the timeout ended would read "timeout".
  const client = new Vdp22Client({
    netns: st.netns,
    outcomeGraceMs: 1000,
    testDropEvent: (uuid) => {
      if (dropAll.has(uuid)) return true;
      if (!dropFor.has(uuid)) return false;
      dropFor.delete(uuid); // only the next event of this VSI is lost
      dropped.push(uuid);
      return true;
    },
  });
  t.teardown(() => client.close());

  // VDP starts once lldpad has processed the bridge's EVB TLV; until then lldpad answers "VDP not supported".
  const probe = vsi(0, 'assoc');
  let first: VsiOutcome = { kind: 'timeout', afterMs: 0 };
  for (let i = 0; i < 50 && first.kind !== 'accepted'; i++) {
    first = await client.request(probe);
    if (first.kind !== 'accepted') await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(first.kind, 'accepted', `VDP22 works on ${st.netns}/s0: ${JSON.stringify(first)}`);
  t.match(await client.request({ ...probe, mode: 'deassoc' }), { kind: 'accepted', mode: 'deassoc' });

  await t.test('associate with its event lost: accepted from the query, held once', async (t) => {
    const req = vsi(1, 'assoc');
    const uuid = req.instanceUuid.toLowerCase();
    dropFor.add(uuid);
    const o = await client.request(req);
    t.same(dropped, [uuid], 'the outcome event arrived and was thrown away');
    t.match(o, { kind: 'accepted', mode: 'assoc' }, `settled from the query, not by the timeout: ${JSON.stringify(o)}`);
    t.match(await client.query('s0', uuid), { instanceUuid: uuid, mode: 'assoc', typeId: req.typeId });
    t.equal(await vdptoolCount(lab, uuid), 1, 'lldpad holds the VSI exactly once');

    await t.test('disassociate with its event lost: accepted once lldpad no longer holds it', async (t) => {
      dropFor.add(uuid);
      const d = await client.request({ ...req, mode: 'deassoc' });
      t.same(dropped, [uuid, uuid], 'the deassoc event was thrown away too');
      t.match(d, { kind: 'accepted', mode: 'deassoc' }, JSON.stringify(d));
      t.equal(await client.query('s0', uuid), undefined, 'lldpad no longer holds it');
      t.equal(await vdptoolCount(lab, uuid), 0);
    });
  });

  await t.test('without a loss the event still settles the request', async (t) => {
    const req = vsi(3, 'assoc');
    const o = await client.request(req);
    t.match(o, { kind: 'accepted', mode: 'assoc' });
    t.equal(dropped.length, 2, 'nothing else was dropped');
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted', mode: 'deassoc' });
  });

  // Last: it stops the bridge. lldpad then lists the VSI with no bridge answer (255) or drops it; neither is a
  // grant, so with every event lost the query must keep the request waiting until its timeout.
  await t.test('no bridge answer and every event lost: the query does not claim success', async (t) => {
    await lab.killLldpad('br');
    const req = vsi(4, 'assoc');
    const uuid = req.instanceUuid.toLowerCase();
    dropAll.add(uuid);
    const o = await client.request(req, { timeoutMs: 3500 });
    t.match(o, { kind: 'timeout' }, JSON.stringify(o));
    t.equal(await client.query('s0', uuid), undefined, 'lldpad holds no granted VSI');
  });
});
