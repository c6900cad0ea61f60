// Fresh planner statistics for the fleet view. A page of GET /fleet/nics is an index walk of 101 rows only while
// PostgreSQL knows how many rows a filter matches: with statistics from when fleet_nics was nearly empty it estimated
// ~100 rows for state = 'associated' among 100,000, chose a bitmap scan of all of them plus a sort, and a page took
// 130–150 ms instead of 0.2 ms (npm run bench -- fleet). autovacuum re-analyzes only after 10 % of the table changed
// and looks once a minute (autovacuum_naptime), so a fleet whose hosts all joined at once queried with stale plans for
// that long. The checker host (src/fleet/fleet.ts) asks at each of its rounds and analyzes the view when it lags.
import type pg from 'pg';

/** Analyze once this many rows changed since the last analyze, and at least this share of the live rows. */
export const STALE_ROWS = 1000;
export const STALE_SHARE = 0.1;

/** ANALYZE fleet_nics when PostgreSQL's statistics lag it (rule above); true when it ran. */
export async function analyzeViewIfStale(db: pg.Pool | pg.ClientBase): Promise<boolean> {
  const r = await db.query<{ changed: string; live: string }>(
    "SELECT n_mod_since_analyze AS changed, n_live_tup AS live FROM pg_stat_user_tables WHERE relname = 'fleet_nics'",
  );
  const row = r.rows[0];
  if (!row) return false;
  const changed = Number(row.changed);
  if (changed < STALE_ROWS || changed < STALE_SHARE * Number(row.live)) return false;
  await db.query('ANALYZE fleet_nics');
  return true;
}
