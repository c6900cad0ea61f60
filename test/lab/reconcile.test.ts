// lldpad keeps VSIs in memory only: kill -9 the station lldpad holding 100 of our VSIs, start it again, and the
// reconciler must bring every one back — each held once, and each NIC's history telling lost → associating →
// associated. Read back with vdptool (another client), one query per UUID.
//
// lldpad's state keeps moving while a test reads it (on a busy host a keep-alive can still go unanswered and the
// reconciler repairs that NIC), so every final check judges one consistent look, taken when lldpad and qbg agreed
// (`converged`), never a second read after a loop that saw the state it wanted.
import t from 'tap';
import { heldOn, startLab, type Lab } from './harness.js';
import { until } from '../helpers/until.js';
import { bounded } from '../helpers/bounded.js';
import { openDatabase } from '../../src/store/db.js';
import { NicRepo } from '../../src/store/nic-repo.js';
import { TypeService } from '../../src/vtdb/type-service.js';
import { Vdp22Client } from '../../src/lldpad/vdp22-client.js';
import { NicService } from '../../src/service/nic-service.js';
import { Reconciler } from '../../src/service/reconciler.js';
import { TransitionBus, type ServiceNotice } from '../../src/service/transition-bus.js';
import type { NicHistoryEntry } from '../../src/domain/nic.js';

const N = 100;
const vm = (i: number) => `3f0c2a1e-0000-4000-8000-${String(Math.floor(i / 4)).padStart(12, '0')}`;
const mac = (i: number) => `52:54:00:bb:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

interface Look {
  /** modes lldpad holds per NIC id */
  held: Map<string, string[]>;
  /** each NIC's history as qbg had it right after lldpad was read */
  histories: Map<string, NicHistoryEntry[]>;
}

/**
 * One pass over every NIC: what lldpad holds (vdptool, one query per UUID), then what qbg says. Converged when lldpad
 * holds each VSI exactly once, in assoc, and qbg calls each NIC associated with no request out; a VSI lost during
 * the pass shows in one of the two, so the pass does not count.
 */
async function converged(lab: Lab, svc: NicService, ids: string[]): Promise<Look | false> {
  const qbgSaysHeld = () => ids.every((id) => svc.repo.get(id)?.state === 'associated' && !svc.busy(id));
  if (!qbgSaysHeld()) return false; // cheap: no lldpad pass while qbg is still at work
  const modes = await bounded(ids.length, 8, (i) => heldOn(lab, 'st1', svc.repo.get(ids[i])!.instanceUuid));
  if (!modes.every((m) => m.join() === 'assoc') || !qbgSaysHeld()) return false;
  return { held: new Map(ids.map((id, i) => [id, modes[i]])), histories: new Map(ids.map((id) => [id, svc.repo.history(id).items])) };
}

t.test('reconciler against a station lldpad killed with 100 VSIs', async (t) => {
  const lab = await startLab(t, { stations: 1, bridge: 'lldpad', stationEvb: true });
  await lab.waitForEvb('st1');
  const st = lab.station('st1');
  const db = openDatabase(':memory:');
  const types = new TypeService(db);
  types.create({ name: 'web', managerId: 16, typeId: 1193047, typeIdVersion: 2 });
  const client = new Vdp22Client({ netns: st.netns, requestTimeoutMs: 10_000 });
  const bus = new TransitionBus();
  const notices: ServiceNotice[] = [];
  bus.subscribe((e) => {
    if (e.kind !== 'nic-transition') notices.push(e);
  });
  const svc = new NicService({ repo: new NicRepo(db), associator: client, types, bus });
  svc.start();
  // every NIC the reconciler could not re-associate, and why
  const failures: string[] = [];
  const log = { info() {}, warn: (obj: object, msg?: string) => void failures.push(`${msg}: ${JSON.stringify(obj)}`) };
  const rec = new Reconciler({ service: svc, associator: client, bus, log, pingIntervalMs: 1000, retryIntervalMs: 500, backoffBaseMs: 500, backoffMaxMs: 4000, concurrency: 16 });
  t.teardown(async () => {
    await rec.stop();
    await svc.stop();
    await client.close();
    db.close();
  });

  const ids: string[] = [];
  await t.test(`associate ${N} NICs`, async (t) => {
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) => svc.associate({ vmUuid: vm(i), mac: mac(i), uplink: st.uplink, type: 'web', vlan: 100 + (i % 10) })),
    );
    t.equal(answers.filter((a) => a.nic.state === 'associated').length, N, answers.find((a) => a.nic.state !== 'associated')?.nic.reason ?? '');
    ids.push(...answers.map((a) => a.nic.id));
    const first = await rec.start();
    t.equal(first.checked, N, 'start sweep checks every NIC');
    t.equal(first.ok, N, 'all held: nothing sent');
    t.equal(first.repaired, 0);
  });

  await t.test('kill -9 the station lldpad, start it again: every NIC associated again, once', async (t) => {
    const sentBefore = svc.requestsSent;
    const failuresBefore = failures.length;
    const oldPid = lab.station('st1').lldpadPid;
    const noticesBefore = notices.length;
    await lab.killLldpad('st1', 'KILL');
    const restartedAt = Date.now();
    await lab.startLldpad('st1');
    t.not(lab.station('st1').lldpadPid, oldPid, 'a new lldpad');
    // The NICs still read 'associated' until qbg notices the restart: wait for that (and the sweep it starts)
    // before judging, or a quick look finds the old states.
    await until(
      'restart noticed and a reconcile finished after it',
      async () => {
        const since = notices.slice(noticesBefore).map((n) => n.kind);
        const r = since.indexOf('lldpad-restarted');
        return r >= 0 && since.indexOf('reconcile-finished', r) > r;
      },
      60_000,
      50,
    );
    await until('qbg calls every NIC associated again', async () => ids.every((id) => svc.repo.get(id)?.state === 'associated' && !svc.busy(id)), 120_000, 50);
    const reassociatedMs = Date.now() - restartedAt;
    const look = await until('lldpad holds every VSI once, in assoc, and qbg calls every NIC associated', () => converged(lab, svc, ids), 120_000, 100);
    t.comment(`re-associated ${N} NICs ${reassociatedMs} ms after the restart; lldpad and qbg agreed at ${Date.now() - restartedAt} ms`);
    t.ok(notices.some((n) => n.kind === 'lldpad-restarted'), 'restart noticed and published');
    for (const id of ids) t.same(look.held.get(id), ['assoc'], `${id} held once`);
    t.ok(svc.requestsSent - sentBefore >= N, `at least one request per NIC (${svc.requestsSent - sentBefore} sent)`);
    // The sweep starts as soon as lldpad answers, a second before its VDP runs: those NICs wait for VDP (the client
    // repeats lldpad's refusals), they are not failed and backed off (which left them for a later retry sweep).
    const notStarted = failures.slice(failuresBefore).filter((f) => /CMD_DEVICE_NOT_FOUND|CMD_VDP_NOT_SUPPORTED|lldpad restarted/.test(f));
    t.same(notStarted, [], 'no NIC failed because lldpad had just restarted');
    // each history tells the story: held, then lost (not held any more), then associated again
    for (const id of ids) {
      const h = look.histories.get(id)!;
      const tail = h.slice(2).map((e) => e.to);
      t.equal(tail[0], 'lost', `${id}: lost after the restart (${h.map((e) => `${e.to}:${e.cause}`).join(', ')})`);
      t.equal(tail.at(-1), 'associated');
      t.ok(h.slice(2).some((e) => e.to === 'associating' && e.cause.startsWith('reconcile')), `${id}: re-associated by the reconciler`);
    }
  });

  await t.test('a sweep after recovery asks only for NICs lldpad really lost since', async (t) => {
    // Every NIC must be left alone but those lldpad really lost (a keep-alive that went unanswered on a busy host,
    // repaired again): a sweep sends nothing for a VSI that is held.
    const before = new Map(ids.map((id) => [id, svc.repo.history(id).total]));
    // Requests counted between the start and the end of this very sweep: a retry sweep for a NIC lost meanwhile
    // may run first (sweeps run one at a time, and a sweep asked for during another shares that one's report).
    let sentAtStart = 0;
    let sentAtEnd = 0;
    const off = bus.subscribe((e) => {
      if (e.kind === 'reconcile-started' && e.detail.reason === 'manual') sentAtStart = svc.requestsSent;
      if (e.kind === 'reconcile-finished' && e.detail.reason === 'manual') sentAtEnd = svc.requestsSent;
    });
    let r = await rec.sweep('manual');
    while (r.reason !== 'manual') r = await rec.sweep('manual');
    off();
    t.equal(r.checked + r.skipped, N);
    t.equal(r.failed, 0);
    t.equal(r.ok + r.repaired, r.checked);
    t.equal(sentAtEnd - sentAtStart, r.repaired, 'one request per repaired NIC, none for held ones');
    for (const id of ids) {
      const h = svc.repo.history(id);
      const added = h.items.slice(before.get(id)!);
      if (added.length === 0) continue;
      t.comment(`${id}: ${h.items.map((e) => `${e.at.slice(17)} ${e.to}:${e.cause}:${e.reason ?? ''}`).join(' | ')}`);
      t.ok(added.some((e) => e.to === 'lost'), `${id} was touched because it was lost`);
    }
    // Without any further sweep asked for: the reconciler repairs a NIC lldpad reports lost on its own.
    const look = await until('lldpad holds every VSI once, in assoc, and qbg calls every NIC associated', () => converged(lab, svc, ids), 60_000, 100);
    for (const id of ids) t.same(look.held.get(id), ['assoc'], `${id} held once`);
  });
});
