// Fault 3: qbg itself is killed (-9) in the middle of a batch of 200 associations, then started again on the same
// database. What was in flight is recorded as "-ing" in SQLite (qbg persists the request before it asks lldpad);
// the restarted qbg's first sweep asks lldpad per instance UUID and settles each such NIC on what lldpad holds,
// re-associating what it lacks. Then the hooks that got no answer ask again, as a hook does. Nothing lost.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { allNics, bounded, call, nicBody, nicIdOf, settledAndHeld, startRig, tally, until } from './helpers.js';

const IN_FLIGHT = ['pre-associating', 'associating', 'disassociating'];

t.test('qbg kill -9 during 200 associations, restart on the same database: nothing stuck, nothing twice', async (t) => {
  const rig = await startRig(t);
  const N = 200;
  const first = rig.qbg;
  let killed: Promise<void> | undefined;
  const replies = await bounded(
    N,
    16,
    (i) => call(first.url, 'POST', '/nics/associate', nicBody(i)),
    (done) => {
      if (done === N / 2 && !killed) killed = first.kill();
    },
  );
  await killed;
  const statuses = tally(replies, 'status');
  t.comment(`hook answers around the kill: ${JSON.stringify(statuses)}`);
  t.ok((statuses['200'] ?? 0) >= N / 2, 'the first half was answered 200 before the kill');
  t.ok((statuses['0'] ?? 0) > 0, 'some hooks lost their connection (the kill landed mid-batch)');
  t.ok(replies.every((r) => r.status === 200 || r.status === 0), 'before the kill every answer was 200');

  // What the killed qbg left on disk: requests recorded as out ("-ing") whose answers nobody will hear.
  const leftOut = Number(
    execFileSync('sqlite3', [rig.dbPath, "SELECT count(*) FROM nics WHERE state IN ('pre-associating','associating','disassociating')"]).toString().trim(),
  );
  t.comment(`NICs the killed qbg left in an -ing state: ${leftOut}`);
  t.ok(leftOut > 0, 'the kill left requests recorded as out (the case the restart must settle)');

  const second = await rig.restartQbg();
  t.not(second.url, '', 'qbg started again on the same database');
  // The restarted qbg's own first sweep must settle every NIC the dead one had recorded.
  const known = await until('restarted qbg settled every NIC it found in its database (nothing in an -ing state)', async () => {
    const nics = await allNics(second.url);
    const stuck = nics.filter((n) => IN_FLIGHT.includes(n.state));
    if (nics.length === 0 || stuck.length) throw new Error(`${stuck.length} of ${nics.length} NICs still in an -ing state, e.g. ${JSON.stringify(stuck[0])}`);
    return nics;
  }, 60_000);
  t.comment(`NICs recorded by the killed qbg: ${known.length}, states now ${JSON.stringify(tally(known, 'state'))}`);
  const got200 = replies.map((r, i) => (r.status === 200 ? nicIdOf(nicBody(i)) : undefined)).filter((x): x is string => !!x);
  // every NIC the database knows was wanted associated: the reconciler brings them all there
  const { held } = await settledAndHeld(rig.lab, second.url, known.map((n) => n.id), 'associated', 60_000);
  t.ok(held.every((n) => n === 1), `all ${known.length} NICs in the database associated, each VSI held once`);
  const knownIds = new Set(known.map((n) => n.id));
  t.ok(got200.every((id) => knownIds.has(id)), 'every NIC a hook got 200 for is in the database');

  // The hooks whose connection died retry (a VM start would be retried): idempotent, and they end associated too.
  const retried = await bounded(N, 16, async (i) => (replies[i].status === 200 ? undefined : call(second.url, 'POST', '/nics/associate', nicBody(i))));
  const retries = retried.filter((r) => r !== undefined);
  const refused = retries.find((r) => r!.status !== 200);
  t.ok(!refused, `every retried hook got 200 (${retries.length} retries${refused ? `; got ${JSON.stringify(tally(retries as { status: number }[], 'status'))}, e.g. ${JSON.stringify(refused.body)}` : ''})`);
  const all = Array.from({ length: N }, (_, i) => nicIdOf(nicBody(i)));
  const end = await settledAndHeld(rig.lab, second.url, all, 'associated', 60_000);
  t.equal(end.nics.length, N, 'all 200 NICs associated');
  t.ok(end.held.every((n) => n === 1), 'lldpad holds each of the 200 VSIs exactly once');
});
