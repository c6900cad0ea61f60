// Reconciler decisions after a qbg crash, with a scripted lldpad (the lab tests use the real one).
import t, { type Test } from 'tap';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { NicService } from '../../src/service/nic-service.js';
import { Reconciler, failureOf } from '../../src/service/reconciler.js';
import { TransitionBus, type QbgEvent } from '../../src/service/transition-bus.js';
import { createMetrics } from '../../src/service/metrics.js';
import { WebhookDispatcher } from '../../src/service/webhooks.js';
import type { VsiOutcome } from '../../src/domain/vsi-request.js';
import { ScriptedLldpad } from '../helpers/scripted-lldpad.js';
import { until } from '../helpers/until.js';

const VM = '6f0c1a52-93b4-4f0e-8d3e-2b7c4a1e9d01';

async function world() {
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 1, typeId: 100, typeIdVersion: 1 });
  const lldpad = new ScriptedLldpad();
  const repo = new NicRepo(db);
  return { db, types, lldpad, repo };
}

/** A world whose NIC service is started and publishes on a bus (it hears lldpad's lost events), closed at teardown. */
async function startedService(t: Test) {
  const w = await world();
  t.teardown(() => w.db.close());
  const bus = new TransitionBus();
  const svc = new NicService({ repo: w.repo, associator: w.lldpad, types: w.types, bus });
  svc.start();
  t.teardown(() => svc.stop());
  return { ...w, bus, svc };
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

t.test('a NIC the bridge never answers is retried a bounded number of times, then settles in failed with a webhook', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const bus = new TransitionBus();
  const published: QbgEvent[] = [];
  bus.subscribe((e) => published.push(e));
  const metrics = createMetrics();
  const hooks: Array<{ event: string; data: { cause?: string } }> = [];
  const webhooks = new WebhookDispatcher([{ url: 'http://receiver.invalid/hook' }], {
    backoffMs: 1,
    fetch: (async (_url: string, init: { body: string }) => {
      hooks.push(JSON.parse(init.body));
      return new Response('', { status: 204 });
    }) as unknown as typeof fetch,
  });
  webhooks.attach(bus);
  t.teardown(() => webhooks.close());
  const svc = new NicService({ repo, associator: lldpad, types, bus });
  // every associate times out (a bridge that never answers); the first one is the hook's own request
  const silent = (): VsiOutcome => ({ kind: 'timeout', afterMs: 10_000 });
  for (let i = 0; i < 50; i++) lldpad.next.push(silent);
  const a = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:04', uplink: 'eth0', type: 'web', vlan: 10 });
  t.equal(a.nic.state, 'timed-out');
  const rec = new Reconciler({ service: svc, associator: lldpad, bus, metrics, sweepIntervalMs: 0, retryIntervalMs: 5, backoffBaseMs: 1, backoffMaxMs: 4, maxAttempts: 3 });
  t.teardown(() => rec.stop());
  await rec.start();
  const failed = await until('the reconciler gives up', async () => {
    const n = repo.get(a.nic.id)!;
    return n.state === 'failed' && svc.givenUp(n.id) && n;
  }, 10_000, 5);
  t.match(failed.reason, /gave up after 3 failed attempts/);
  t.equal(lldpad.requests.length, 1 + 3, 'the hook request and exactly 3 retries');
  const gaveUp = published.filter((e) => e.kind === 'nic-transition' && e.cause === 'reconcile-gave-up');
  t.equal(gaveUp.length, 1, 'one transition says so');
  t.equal(gaveUp[0].kind === 'nic-transition' && gaveUp[0].to, 'failed');
  await until('the nic.failed webhook is delivered', async () => hooks.some((h) => h.event === 'nic.failed' && h.data.cause === 'reconcile-gave-up'), 5_000, 5);

  // settled: sweeps and retry ticks leave it alone
  await rec.sweep('periodic');
  await rec.sweep('lldpad-restarted');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(lldpad.requests.length, 4, 'no request after giving up');
  const text = (await metrics.exposition()).body;
  t.match(text, /qbg_reconcile_retries_total\{outcome="failed",reason="TIMEOUT"\} 2/);
  t.match(text, /qbg_reconcile_retries_total\{outcome="gave-up",reason="TIMEOUT"\} 1/);

  // until someone asks again: an explicit associate is sent, and the NIC is retried again if it fails
  lldpad.next.length = 0;
  const again = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:04', uplink: 'eth0', type: 'web', vlan: 10 });
  t.equal(again.nic.state, 'associated');
  t.equal(svc.givenUp(a.nic.id), false);
});

t.test('a failure the bridge calls permanent is not retried', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const metrics = createMetrics();
  const svc = new NicService({ repo, associator: lldpad, types });
  // INVALID_FILTER (5): the bridge refuses the VLAN/MAC; the same request can never pass
  const refuse = (): VsiOutcome => ({ kind: 'rejected', reasonCode: 5, reason: 'Invalid VID, GroupID or MAC address', latencyMs: 1 });
  for (let i = 0; i < 10; i++) lldpad.next.push(refuse);
  const a = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:05', uplink: 'eth0', type: 'web', vlan: 10 });
  t.equal(a.nic.state, 'failed');
  const rec = new Reconciler({ service: svc, associator: lldpad, metrics, sweepIntervalMs: 0, retryIntervalMs: 5, backoffBaseMs: 1, backoffMaxMs: 4, maxAttempts: 8 });
  t.teardown(() => rec.stop());
  const report = await rec.start();
  t.equal(report.gaveUp, 1);
  t.ok(svc.givenUp(a.nic.id));
  t.match(repo.get(a.nic.id)!.reason, /permanent/);
  t.equal(repo.get(a.nic.id)!.reasonCode, 5, 'the bridge reason code stays');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(lldpad.requests.length, 2, 'the hook request and one reconcile attempt, no more');
  t.match((await metrics.exposition()).body, /qbg_reconcile_retries_total\{outcome="gave-up",reason="INVALID_FILTER"\} 1/);
  // an admin sweep is someone asking again
  lldpad.next.length = 0;
  const admin = await rec.sweep('admin');
  t.equal(admin.repaired, 1);
  t.equal(repo.get(a.nic.id)!.state, 'associated');
});

t.test('failures: permanent VDP reasons and lldpad command refusals', async (t) => {
  t.same(failureOf({ kind: 'rejected', reasonCode: 1, reason: '', latencyMs: 1 }), { name: 'INVALID_FORMAT', permanent: true });
  t.same(failureOf({ kind: 'rejected', reasonCode: 2, reason: '', latencyMs: 1 }), { name: 'INSUFFICIENT_RESOURCES', permanent: false });
  t.equal(failureOf({ kind: 'rejected', reasonCode: 0x12, reason: '', latencyMs: 1 }).permanent, true, 'hard-error bit');
  t.same(failureOf({ kind: 'transport-error', message: 'x', clifStatus: 15 }), { name: 'CMD_VDP_BUSY', permanent: false });
  t.same(failureOf({ kind: 'transport-error', message: 'x', clifStatus: 5 }), { name: 'CMD_BAD_PARAMS', permanent: true });
  t.same(failureOf({ kind: 'timeout', afterMs: 1 }), { name: 'TIMEOUT', permanent: false });
});

t.test('a NIC lldpad reports lost is re-associated on the next retry tick, without waiting for a full sweep', async (t) => {
  const { lldpad, repo, bus, svc } = await startedService(t);
  // no periodic sweep: only the lost event can bring the NIC back
  const rec = new Reconciler({ service: svc, associator: lldpad, bus, sweepIntervalMs: 0, retryIntervalMs: 20 });
  t.teardown(() => rec.stop());
  const a = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:04', uplink: 'eth0', type: 'web', vlan: 10 });
  await rec.start();
  const sent = lldpad.requests.length;
  for (const kind of ['lost', 'deassociated-by-bridge'] as const) {
    lldpad.lose(a.nic.instanceUuid, kind);
    await until(`re-associated after a ${kind} event`, async () => repo.get(a.nic.id)!.state === 'associated' && lldpad.held.has(a.nic.instanceUuid), 5000, 10);
  }
  t.equal(lldpad.requests.length - sent, 2, 'one associate per loss');
  const tail = repo.history(a.nic.id).items.slice(-6).map((h) => `${h.to}:${h.cause}`);
  t.same(tail.map((x) => x.split(':')[0]), ['lost', 'associating', 'associated', 'lost', 'associating', 'associated'], tail.join(', '));
});

t.test('reconcile reads the NIC in its queue: an unknown id and a NIC forgotten by the work queued before it are NOT_FOUND, nothing sent', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const svc = new NicService({ repo, associator: lldpad, types });
  await t.rejects(svc.reconcile(`${VM}_52:54:00:00:00:09`), { code: 'QBG_ERR_NIC_NOT_FOUND' });
  const a = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:04', uplink: 'eth0', type: 'web', vlan: 10 });
  await svc.disassociate(a.nic.id);
  const asked = lldpad.requests.length;
  // forget is queued first, the reconcile behind it: by the time the reconcile runs the NIC is gone
  const forgotten = svc.forget(a.nic.id);
  const reconciled = svc.reconcile(a.nic.id);
  await forgotten;
  await t.rejects(reconciled, { code: 'QBG_ERR_NIC_NOT_FOUND' });
  t.equal(repo.get(a.nic.id), undefined, 'the NIC stays forgotten');
  t.equal(lldpad.requests.length, asked, 'no request sent for it');
});

t.test('while lldpad does not answer it is pinged often, so a restarted one is swept for as soon as it answers', async (t) => {
  const { types, lldpad, repo, db } = await world();
  t.teardown(() => db.close());
  const bus = new TransitionBus();
  const notices: string[] = [];
  bus.subscribe((e) => {
    if (e.kind !== 'nic-transition') notices.push(`${e.kind}:${String(e.detail.reason ?? '')}`);
  });
  const svc = new NicService({ repo, associator: lldpad, types, bus });
  const a = await svc.associate({ vmUuid: VM, mac: '52:54:00:00:00:05', uplink: 'eth0', type: 'web', vlan: 10 });
  // the regular ping far beyond the test's bound: only the pings while lldpad is away can notice its return
  const rec = new Reconciler({ service: svc, associator: lldpad, bus, sweepIntervalMs: 0, pingIntervalMs: 600_000, unreachablePingMs: 10 });
  t.teardown(() => rec.stop());
  let answer: { ok: boolean; pid?: number } = { ok: false };
  let pings = 0;
  (lldpad as { ping: () => Promise<{ ok: boolean; pid?: number }> }).ping = async () => (pings++, answer);
  await rec.start(); // lldpad is away: the start finds it unreachable
  t.equal(notices[0], 'lldpad-unreachable:', 'noticed as unreachable');
  await until('pinged again while unreachable', async () => pings >= 3, 5000, 5);
  // lldpad comes back as a new process that holds nothing
  lldpad.held.clear();
  answer = { ok: true, pid: 2 };
  await until('the NIC re-associated after lldpad answered again', async () => lldpad.held.has(a.nic.instanceUuid) && repo.get(a.nic.id)!.state === 'associated', 5000, 5);
  t.ok(notices.includes('reconcile-started:lldpad-reachable'), notices.join(', '));
  const settled = pings;
  await new Promise((r) => setTimeout(r, 100)); // ten fast periods
  t.equal(pings, settled, 'no more fast pings once lldpad answers');
});

t.test('NICs reported lost while a sweep runs are repaired by that sweep, not skipped as if backing off', async (t) => {
  const { lldpad, repo, bus, svc } = await startedService(t);
  // more NICs than a sweep reads at once (SWEEP_CHUNK), so later chunks are looked at after the lost events came
  const ids: string[] = [];
  for (let i = 0; i < 250; i++) {
    const mac = `52:54:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    ids.push((await svc.associate({ vmUuid: VM, mac, uplink: 'eth0', type: 'web', vlan: 10 })).nic.id);
  }
  // no retry sweep in this test: whatever the sweep skips stays lost
  const rec = new Reconciler({ service: svc, associator: lldpad, bus, sweepIntervalMs: 0, retryIntervalMs: 600_000 });
  t.teardown(() => rec.stop());
  await rec.start();
  // lldpad restarted: it holds nothing, and the client reports every VSI lost while the sweep works on its first
  // chunk (its requests wait at the gate until then)
  const uuids = [...lldpad.held.keys()];
  lldpad.held.clear();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const request = lldpad.request.bind(lldpad);
  lldpad.request = async (r) => (await gate, request(r));
  const sweep = rec.sweep('lldpad-restarted');
  await new Promise((r) => setTimeout(r, 5));
  for (const u of uuids) lldpad.lose(u);
  await new Promise((r) => setTimeout(r, 5));
  open();
  const report = await sweep;
  t.equal(report.skipped, 0, `nothing skipped: ${JSON.stringify(report)}`);
  const states = new Map<string, number>();
  for (const id of ids) states.set(repo.get(id)!.state, (states.get(repo.get(id)!.state) ?? 0) + 1);
  t.same([...states], [['associated', ids.length]], 'every NIC associated again by this sweep');
});

t.test('a sweep lets other work run while it checks NICs, even when lldpad answers every query at once', async (t) => {
  const { lldpad, svc } = await startedService(t);
  for (let i = 0; i < 300; i++) {
    const mac = `52:54:00:02:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    await svc.associate({ vmUuid: VM, mac, uplink: 'eth0', type: 'web', vlan: 10 });
  }
  const rec = new Reconciler({ service: svc, associator: lldpad, sweepIntervalMs: 0, retryIntervalMs: 600_000 });
  t.teardown(() => rec.stop());
  await rec.start();
  // the scripted lldpad answers a query in a microtask: without yielding, the whole sweep would run in one
  // event-loop turn and an HTTP request arriving meanwhile would wait for all of it
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const report = await rec.sweep('admin');
  running = false;
  t.equal(report.checked, 300);
  t.equal(report.ok, 300, 'every NIC found held');
  t.ok(turns > 1, `the event loop turned ${turns} times during the sweep`);
});
