// Fault 6, end to end against a real qbg serve process:
// - 50 equal associate requests for one NIC at the same instant (a hook retried by an impatient orchestrator):
//   one association (one request to lldpad, one history), 50 equal answers, the VSI held once.
// - webhook receivers that hang (read the request, never answer) or are dead (reset every connection) do not slow
//   associations: each receiver has its own bounded queue and worker. The latency with and without the bad
//   receivers in the same run is printed as a ratio (no timing assertion); asserted: all associations succeeded
//   and the queues are bounded (qbg drops the oldest events once a receiver's queue is full).
import t from 'tap';
import { bounded, mean, metric, nicBody, nicIdOf, settledAndHeld, startReceiver, startRig, tally } from './helpers.js';

t.test('duplicate associates and bad webhook receivers', async (t) => {
  const hang = await startReceiver(t);
  const dead = await startReceiver(t);
  const rig = await startRig(t, { webhooks: [{ url: hang.url, events: ['*'] }, { url: dead.url, events: ['*'] }] });

  await t.test('50 equal associate requests at once: one association, 50 equal answers', async (t) => {
    const body = nicBody(0, 0xd0);
    const answers = await Promise.all(Array.from({ length: 50 }, () => rig.api('POST', '/nics/associate', body)));
    t.ok(answers.every((a) => a.status === 200), `all 50 answered 200 (${[...new Set(answers.map((a) => a.status))].join(', ')})`);
    const nics = answers.map((a) => JSON.stringify(a.body.nic));
    t.equal(new Set(nics).size, 1, '50 answers carry the same NIC (same state, instance UUID, updatedAt)');
    t.equal(answers[0].body.nic.state, 'associated');
    const asked = answers.filter((a) => a.body.asked).length;
    t.comment(`${asked} answers shared the one request to lldpad; ${50 - asked} found the NIC already associated`);
    t.ok(asked >= 1, 'at least one answer reports that lldpad was asked');
    const history = await rig.api('GET', `/nics/${nicIdOf(body)}/history?limit=1000`);
    t.same(
      history.body.items.map((h: { from: string; to: string }) => `${h.from}→${h.to}`),
      ['new→associating', 'associating→associated'],
      'one request to lldpad: the history has exactly one association',
    );
    await settledAndHeld(rig.lab, rig.qbg.url, [nicIdOf(body)], 'associated', 10_000);
    t.pass('lldpad holds the VSI exactly once');
  });

  await t.test('hanging and dead webhook receivers do not slow associations; their queues are bounded', async (t) => {
    const N = 100;
    const base = await bounded(N, 8, (i) => rig.api('POST', '/nics/associate', nicBody(i, 0xb1)));
    t.ok(base.every((r) => r.status === 200), 'baseline: 100 associations with healthy receivers succeeded');
    t.ok(hang.received.length > 0 && dead.received.length > 0, `healthy receivers got events (${hang.received.length}, ${dead.received.length})`);

    hang.mode = 'hang';
    dead.mode = 'dead';
    const bad = await bounded(N, 8, (i) => rig.api('POST', '/nics/associate', nicBody(i, 0xb2)));
    t.ok(bad.every((r) => r.status === 200), 'with a hanging and a dead receiver: 100 associations succeeded');
    const ratio = mean(bad.map((r) => r.ms)) / mean(base.map((r) => r.ms));
    t.comment(
      `association latency: healthy receivers mean ${mean(base.map((r) => r.ms)).toFixed(1)} ms, ` +
        `hanging+dead receivers mean ${mean(bad.map((r) => r.ms)).toFixed(1)} ms, RATIO ${ratio.toFixed(2)}`,
    );

    // Push well over a queue's worth (1000) of events at the stuck receivers: disassociate and associate again.
    const churn = async (prefix: number, mode: 'disassociate' | 'associate') =>
      bounded(N, 8, (i) =>
        mode === 'associate'
          ? rig.api('POST', '/nics/associate', nicBody(i, prefix))
          : rig.api('POST', `/nics/${encodeURIComponent(nicIdOf(nicBody(i, prefix)))}/disassociate`),
      );
    const rounds: Array<[number, 'disassociate' | 'associate']> = [
      [0xb2, 'disassociate'],
      [0xb2, 'associate'],
      [0xb1, 'disassociate'],
      [0xb1, 'associate'],
      [0xb2, 'disassociate'],
      [0xb2, 'associate'],
    ];
    for (const [prefix, mode] of rounds) {
      const r = await churn(prefix, mode);
      const off = r.find((x) => x.status !== 200);
      t.ok(!off, `${mode} ${N} NICs while the receivers are stuck: all 200${off ? ` (got ${JSON.stringify(tally(r, 'status'))}, e.g. ${JSON.stringify(off.body)})` : ''}`);
    }
    const metrics = (await rig.api('GET', '/metrics')).body as string;
    const dropped = metric(metrics, 'qbg_webhook_dropped_total');
    const transitions = metric(metrics, 'qbg_nic_transitions_total');
    t.comment(`NIC transitions ${transitions}, webhook events dropped (both receivers) ${dropped}`);
    t.ok(transitions > 1000, 'more events than one receiver queue holds (1000) were produced');
    t.ok(dropped > 0, 'the stuck receivers queues are bounded: qbg dropped the oldest events instead of growing');

    const all = [...Array.from({ length: N }, (_, i) => nicIdOf(nicBody(i, 0xb1))), ...Array.from({ length: N }, (_, i) => nicIdOf(nicBody(i, 0xb2)))];
    const end = await settledAndHeld(rig.lab, rig.qbg.url, all, 'associated', 30_000);
    t.ok(end.held.every((n) => n === 1), 'nothing lost: all 200 NICs associated, each VSI held once');
  });
});
