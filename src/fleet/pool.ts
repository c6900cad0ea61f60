// The connection pool to the fleet's PostgreSQL. Every wait is bounded: a hypervisor must never hang on the
// network (connect, each statement, each query), and an idle connection that PostgreSQL drops (restart, failover)
// is an event to log, not a crash of qbg.
import pg from 'pg';
import type { FleetConfig } from '../config.js';

export type { Pool, PoolClient } from 'pg';

export interface PoolLogger {
  warn(obj: object, msg?: string): void;
}

export const CONNECT_TIMEOUT_MS = 3000;
export const STATEMENT_TIMEOUT_MS = 10_000;

export function createFleetPool(fleet: Pick<FleetConfig, 'postgres' | 'host'>, log?: PoolLogger, max = 4): pg.Pool {
  const pool = new pg.Pool({
    connectionString: fleet.postgres,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    // the server cancels a statement running longer; the client gives up shortly after if the server is gone
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 2000,
    application_name: `qbg ${fleet.host}`.slice(0, 63),
    keepAlive: true,
  });
  pool.on('error', (err) => log?.warn({ err: err.message }, 'fleet: idle PostgreSQL connection lost'));
  return pool;
}

/** A dedicated session (not pooled): LISTEN and the checker's advisory lock live as long as the connection. */
export function createFleetSession(fleet: Pick<FleetConfig, 'postgres' | 'host'>): pg.Client {
  return new pg.Client({
    connectionString: fleet.postgres,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 2000,
    application_name: `qbg ${fleet.host} session`.slice(0, 63),
    keepAlive: true,
  });
}

/** The URL without its password, for logs and status answers. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** Runs fn in one transaction on a pooled connection: COMMIT on success, ROLLBACK on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, isolation = 'READ COMMITTED'): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query(`BEGIN ISOLATION LEVEL ${isolation}`);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    // a connection that failed mid-transaction is not given back to the pool (it may be half-dead)
    await c.query('ROLLBACK').catch(() => (broken = true));
    throw e;
  } finally {
    c.release(broken);
  }
}
