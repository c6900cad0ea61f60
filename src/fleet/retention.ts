// fleet_nic_transitions keeps every transition every host published: 200 hosts × 500 NICs changing a few times a day
// is millions of rows a month. The fleet view (fleet_nics) holds each NIC's current state, so old transitions are
// history only: they are dropped once older than fleet.transitionRetentionDays (by the transition's own time, `at`).
// One host prunes for the fleet (the checker, src/fleet/fleet.ts), in small batches so no DELETE holds locks for long
// or bloats one transaction; what a round leaves is taken by the next.
import type pg from 'pg';

/** Rows per DELETE, and DELETEs per round: at most 50,000 rows go in one round. */
const PRUNE_BATCH = 5000;
const PRUNE_BATCHES_PER_ROUND = 10;

/** Deletes transitions older than `days` (fleet_nic_transitions_at makes a round with nothing to do one index probe). */
export async function pruneTransitions(db: pg.Pool, days: number): Promise<number> {
  let pruned = 0;
  for (let i = 0; i < PRUNE_BATCHES_PER_ROUND; i++) {
    const r = await db.query(
      `DELETE FROM fleet_nic_transitions WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM fleet_nic_transitions WHERE at < now() - make_interval(days => $1) LIMIT $2))`,
      [days, PRUNE_BATCH],
    );
    pruned += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < PRUNE_BATCH) break;
  }
  return pruned;
}
