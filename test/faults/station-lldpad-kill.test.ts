// Fault 1: the station's lldpad is killed (-9) and restarted while a batch of 200 associations is running.
// lldpad keeps VSIs in memory only, so everything it held is gone; requests that meet the dead lldpad fail. qbg
// notices the new pid, sweeps, and re-associates every NIC whose desired mode is assoc. Nothing lost: all 200
// associated per the API, each VSI held by lldpad exactly once.
import t from 'tap';
import { bounded, nicBody, nicIdOf, settledAndHeld, startRig, tally, until } from './helpers.js';

t.test('station lldpad kill -9 + restart during 200 associations: all 200 associated, none twice', async (t) => {
  const rig = await startRig(t);
  const N = 200;
  let killed: Promise<unknown> | undefined;
  const replies = await bounded(
    N,
    16,
    (i) => rig.api('POST', '/nics/associate', nicBody(i)),
    (done) => {
      // midway: kill -9 and start again at once (the restart races the rest of the batch)
      if (done === N / 2 && !killed) killed = rig.lab.killLldpad('st1', 'KILL').then(() => rig.lab.startLldpad('st1'));
    },
  );
  await killed;
  const statuses = tally(replies, 'status');
  t.comment(`hook answers during the batch: ${JSON.stringify(statuses)}`);
  t.ok((statuses['200'] ?? 0) >= N / 2, 'the first half was associated before the kill');
  t.ok(
    replies.every((r) => r.status === 200 || [409, 502, 504].includes(r.status)),
    'every answer is 200 or a catalogue error saying lldpad did not do it (no 500, no dropped connection)',
  );
  t.ok(replies.filter((r) => r.status !== 200).every((r) => /^QBG_ERR_/.test(r.body?.code ?? '')), 'refusals carry a catalogue code');

  const ids = Array.from({ length: N }, (_, i) => nicIdOf(nicBody(i)));
  const { nics, held } = await settledAndHeld(rig.lab, rig.qbg.url, ids, 'associated', 90_000);
  t.equal(nics.length, N, 'qbg knows all 200 NICs');
  t.ok(nics.every((n) => n.state === 'associated'), 'all 200 associated per the API');
  t.ok(held.every((n) => n === 1), 'lldpad holds each of the 200 VSIs exactly once');
  t.equal(new Set(nics.map((n) => n.instanceUuid)).size, N, '200 distinct instance UUIDs');

  // counted by the reconciler's 1 s ping when it sees the new pid; its sweep may have re-associated the NICs first
  const restartCounted = /qbg_lldpad_restarts_total [1-9]/;
  const restarts = await until('the lldpad restart in the metrics', async () => {
    const m = await rig.api('GET', '/metrics');
    if (!restartCounted.test(m.body)) throw new Error(`qbg_lldpad_restarts_total: ${/qbg_lldpad_restarts_total .*/.exec(m.body)?.[0] ?? 'absent'}`);
    return m;
  }, 10_000);
  t.match(restarts.body, restartCounted, 'qbg counted the lldpad restart');
});
