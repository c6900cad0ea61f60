// The VDP22 association path over lldpad's client socket, against a real station lldpad and a real bridge lldpad.
// The test process stays in the root namespace; the client's python helper runs in the station's namespace.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { VsiEvent, VsiOutcome, VsiRequest } from '../../src/domain/vsi-request.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';
import { startLab, type Lab } from './harness.js';
import { until } from '../helpers/until.js';

const MGR = '0'.repeat(32);

function vsi(i: number, mode: VsiRequest['mode'], instanceUuid = randomUUID()): VsiRequest {
  const mac = `52:54:00:0a:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  return {
    uplink: 's0',
    mode,
    managerId2: MGR,
    typeId: 4000 + i, // every VSI its own type id and MAC: a crossed match shows in the query
    typeIdVersion: 1 + (i % 250),
    instanceUuid,
    filterFormat: 'vlan-mac',
    filters: [{ vlan: 100 + (i % 50), mac }],
  };
}

/** vdptool's own view of one VSI (query by uuid: the list-all form goes silent with many VSIs). */
async function vdptoolShow(lab: Lab, uuid: string): Promise<Record<string, string>> {
  const r = await lab.vdptool(lab.station().netns, ['-t', '-i', 's0', '-V', 'assoc', '-c', `uuid=${uuid}`]);
  const out: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^\s*(\w+) = (.*)$/gm)) out[m[1]] = m[2].trim();
  return out;
}

t.test('VDP22 over the client socket', async (t) => {
  const lab = await startLab(t, { stationEvb: true });
  await lab.waitForEvb();
  const st = lab.station();
  const client = new Vdp22Client({ netns: st.netns, requestTimeoutMs: 20_000 });
  t.teardown(() => client.close());
  const events: VsiEvent[] = [];
  client.onEvent((e) => events.push(e));

  // VDP starts once lldpad has processed the bridge's EVB TLV; until then lldpad answers "VDP not supported".
  const probe = vsi(0, 'assoc');
  let first: VsiOutcome = { kind: 'timeout', afterMs: 0 };
  for (let i = 0; i < 50 && first.kind !== 'accepted'; i++) {
    first = await client.request(probe);
    if (first.kind !== 'accepted') await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(first.kind, 'accepted', `VDP22 works on ${st.netns}/s0: ${JSON.stringify(first)}`);
  t.match(await client.request({ ...probe, mode: 'deassoc' }), { kind: 'accepted', mode: 'deassoc' });

  await t.test('ping answers with the station lldpad pid', async (t) => {
    t.same(await client.ping(), { ok: true, pid: (await lab.status()).stations[0].lldpadPid });
  });

  await t.test('associate, query, cross-check with vdptool, disassociate', async (t) => {
    const req = vsi(1, 'assoc');
    t.match(await client.request(req), { kind: 'accepted', mode: 'assoc' });
    t.same(await client.query('s0', req.instanceUuid), {
      instanceUuid: req.instanceUuid,
      mode: 'assoc',
      typeId: req.typeId,
      typeIdVersion: req.typeIdVersion,
      managerId2: MGR,
      filters: req.filters,
    });
    t.match(await vdptoolShow(lab, req.instanceUuid), { mode: 'assoc', typeid: String(req.typeId), filter: `${req.filters[0].vlan}-${req.filters[0].mac}` });
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted', mode: 'deassoc' });
    t.equal(await client.query('s0', req.instanceUuid), undefined, 'lldpad no longer holds it');
  });

  await t.test('pre-associate, then associate (live migration: destination side)', async (t) => {
    const req = vsi(2, 'preassoc');
    t.match(await client.request(req), { kind: 'accepted', mode: 'preassoc' });
    t.match(await client.query('s0', req.instanceUuid), { mode: 'preassoc', typeId: req.typeId });
    t.match(await client.request({ ...req, mode: 'assoc' }), { kind: 'accepted', mode: 'assoc' });
    t.match(await client.query('s0', req.instanceUuid), { mode: 'assoc' });
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted' });
  });

  await t.test('pre-associate with resource reservation', async (t) => {
    const req = vsi(3, 'preassoc-rr');
    t.match(await client.request(req), { kind: 'accepted', mode: 'preassoc-rr' });
    t.match(await client.query('s0', req.instanceUuid), { mode: 'preassoc-rr', typeId: req.typeId });
    t.match(await vdptoolShow(lab, req.instanceUuid), {}, 'vdptool -V assoc lists only assoc-mode VSIs');
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted' });
    t.equal(await client.query('s0', req.instanceUuid), undefined);
  });

  await t.test('unknown interface and disassociating an unknown VSI give clear errors', async (t) => {
    const bad = await client.request({ ...vsi(4, 'assoc'), uplink: 'nope0' });
    t.match(bad, { kind: 'transport-error', message: /does not know uplink nope0.*R02/ });
    await t.rejects(client.query('nope0', randomUUID()), { code: 'QBG_ERR_LLDPAD_COMMAND', message: /nope0/ });
    const never = await client.request(vsi(5, 'deassoc'));
    t.match(never, { kind: 'transport-error', message: /not associated.*R05/ });
    await t.rejects(client.request({ ...vsi(6, 'assoc'), typeId: 1 << 24 }), { code: 'QBG_ERR_TYPEID_RANGE', field: 'typeId' });
  });

  // Matching by UUID, with all 100 requests inside lldpad at once (maxInFlight 100): events interleave freely.
  await t.test('100 VSIs at once in lldpad, every outcome matched to its own request by UUID', async (t) => {
    const wide = new Vdp22Client({ netns: st.netns, requestTimeoutMs: 25_000, maxInFlight: 100, initialInFlight: 100 });
    t.teardown(() => wide.close());
    const lost = new Set<string>();
    wide.onEvent((e) => e.kind === 'lost' && lost.add(e.instanceUuid));
    const reqs = Array.from({ length: 100 }, (_, i) => vsi(100 + i, 'assoc'));
    const outcomes = await Promise.all(reqs.map((r) => wide.request(r)));
    // With many exchanges overlapping, lldpad may fail a VSI itself (ECP ACK timeout after ~16 s): that is still
    // an answer for THIS VSI. What must never happen: a timeout, or an answer taken from another VSI.
    for (const [i, o] of outcomes.entries()) {
      t.ok(o.kind === 'accepted' || (o.kind === 'rejected' && o.reasonCode !== 0), `VSI ${i}: ${JSON.stringify(o)}`);
    }
    const statuses = await Promise.all(reqs.map((r) => wide.query('s0', r.instanceUuid)));
    let accepted = 0;
    for (const [i, r] of reqs.entries()) {
      const s = statuses[i];
      if (outcomes[i].kind === 'accepted') {
        accepted++;
        if (!s && lost.has(r.instanceUuid)) continue; // accepted, then lost (keep-alive) and reported as such
        t.same(s, { instanceUuid: r.instanceUuid, mode: 'assoc', typeId: r.typeId, typeIdVersion: r.typeIdVersion, managerId2: MGR, filters: r.filters }, `VSI ${i} held as asked`);
      } else {
        t.equal(s, undefined, `VSI ${i} was reported failed and lldpad does not hold it`);
      }
    }
    t.comment(`${accepted}/100 accepted with 100 in flight; the rest failed inside lldpad and were reported for their own VSI`);
    for (const i of [0, 37, 99]) {
      if (!statuses[i]) continue;
      t.match(await vdptoolShow(lab, reqs[i].instanceUuid), { uuid: reqs[i].instanceUuid, typeid: String(reqs[i].typeId), filter: `${reqs[i].filters[0].vlan}-${reqs[i].filters[0].mac}` }, `vdptool agrees on VSI ${i}`);
    }
    const held = reqs.filter((_, i) => statuses[i] !== undefined);
    const gone = await Promise.all(held.map((r) => wide.request({ ...r, mode: 'deassoc' })));
    for (const [i, o] of gone.entries()) {
      if (o.kind !== 'accepted' && lost.has(held[i].instanceUuid)) continue;
      t.match(o, { kind: 'accepted', mode: 'deassoc' }, `deassoc ${held[i].instanceUuid}`);
    }
    const after = await Promise.all(held.map((r) => wide.query('s0', r.instanceUuid)));
    t.ok(after.every((s) => s === undefined), 'lldpad holds none of them');
  });

  // The default client hands lldpad one request at a time: 100 concurrent callers, all associated, none lost.
  await t.test('100 concurrent callers with the default client: all associated, then all disassociated', async (t) => {
    const reqs = Array.from({ length: 100 }, (_, i) => vsi(300 + i, 'assoc'));
    const outcomes = await Promise.all(reqs.map((r) => client.request(r)));
    t.same(outcomes.map((o) => o.kind), reqs.map(() => 'accepted'), JSON.stringify(outcomes.filter((o) => o.kind !== 'accepted')));
    const statuses = await Promise.all(reqs.map((r) => client.query('s0', r.instanceUuid)));
    t.same(statuses.map((s) => s && [s.instanceUuid, s.typeId, s.filters[0].mac]), reqs.map((r) => [r.instanceUuid, r.typeId, r.filters[0].mac]));
    const gone = await Promise.all(reqs.map((r) => client.request({ ...r, mode: 'deassoc' })));
    t.same(gone.map((o) => o.kind), reqs.map(() => 'accepted'));
    t.same(await Promise.all(reqs.map((r) => client.query('s0', r.instanceUuid))), reqs.map(() => undefined));
  });

  await t.test('a restarted lldpad: held VSIs reported lost, client re-attaches and works again', async (t) => {
    const req = vsi(7, 'assoc');
    t.match(await client.request(req), { kind: 'accepted' });
    const oldPid = (await client.ping()).pid;
    const lost = new Promise<VsiEvent>((resolve) => {
      const off = client.onEvent((e) => {
        if (e.instanceUuid === req.instanceUuid) {
          off();
          resolve(e);
        }
      });
    });
    await lab.killLldpad('st1', 'KILL');
    t.match(await client.request(vsi(8, 'assoc')), { kind: 'transport-error', message: /lldpad is not reachable in network namespace/ });
    t.same(await client.ping(), { ok: false });
    await lab.startLldpad('st1');
    const e = await lost; // the watchdog pings every second and notices the new pid
    t.match(e, { kind: 'lost', instanceUuid: req.instanceUuid, uplink: 's0', reason: /restarted/ });
    const newPid = (await client.ping()).pid;
    t.not(newPid, oldPid);
    await lab.waitForEvb();
    let again: VsiOutcome = { kind: 'timeout', afterMs: 0 };
    for (let i = 0; i < 50 && again.kind !== 'accepted'; i++) {
      again = await client.request(req);
      if (again.kind !== 'accepted') await new Promise((r) => setTimeout(r, 200));
    }
    t.match(again, { kind: 'accepted' }, 'events reach us again: the client re-attached to the new lldpad');
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted' });
  });

  await t.test('a ping that sees a new lldpad re-attaches at once, without the watchdog', async (t) => {
    // No watchdog: only a ping can tell this client that lldpad restarted (the reconciler pings through it).
    const quiet = new Vdp22Client({ netns: st.netns, requestTimeoutMs: 20_000, watchIntervalMs: 0 });
    t.teardown(() => quiet.close());
    const events: VsiEvent[] = [];
    quiet.onEvent((e) => events.push(e));
    await lab.waitForEvb();
    const req = vsi(9, 'assoc');
    t.match(await quiet.request(req), { kind: 'accepted' });
    await lab.killLldpad('st1', 'TERM');
    await lab.startLldpad('st1');
    t.match(await quiet.ping(), { ok: true });
    const lost = await until('the held VSI reported lost after the ping', async () => events.find((e) => e.instanceUuid === req.instanceUuid), 10_000, 20);
    t.match(lost, { kind: 'lost', uplink: 's0', reason: /restarted/ }, 'the ping saw the new pid and the client re-attached');
  });

  await t.test('right after a restart a request waits for lldpad to start VDP instead of failing', async (t) => {
    await lab.waitForEvb();
    const before = { ...client.vdpStartWaits };
    await lab.killLldpad('st1', 'TERM');
    await lab.startLldpad('st1');
    // lldpad answers now, but starts VDP on s0 only at its first EVB timer tick, a second after it started: until
    // then it refuses every VSI request (R02, then R0d) and does nothing with it.
    const req = vsi(10, 'assoc');
    const [held, o] = await Promise.allSettled([client.query('s0', req.instanceUuid), client.request(req)]);
    t.same(held, { status: 'fulfilled', value: undefined }, 'a query meanwhile: lldpad holds nothing there (not an error)');
    t.match(o, { status: 'fulfilled', value: { kind: 'accepted', mode: 'assoc' } }, `the first request after the restart waited for VDP: ${JSON.stringify(o)}`);
    t.comment(`lldpad refused it ${client.vdpStartWaits.refusals - before.refusals} times while VDP started; the longest wait so far ${client.vdpStartWaits.longestMs} ms`);
    t.match(await client.query('s0', req.instanceUuid), { instanceUuid: req.instanceUuid, mode: 'assoc' });
    t.match(await client.request({ ...req, mode: 'deassoc' }), { kind: 'accepted' });
  });

  await t.test('an uplink lldpad does not know still fails after a restart, once the start grace is over', async (t) => {
    // lldpad answers R02 both for an uplink it does not know and for one whose VDP has not started: the wait is bounded.
    await lab.killLldpad('st1', 'TERM');
    await lab.startLldpad('st1');
    const o = await client.request({ ...vsi(11, 'assoc'), uplink: 'nosuch0' });
    t.match(o, { kind: 'transport-error', clifStatus: 2, message: /does not know uplink nosuch0/ });
  });
});
