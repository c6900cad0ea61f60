// SQLite home of the desired uplink configuration (UplinkConfigStore), so it survives a qbg restart and can be
// re-applied when lldpad restarts and forgets.
import type { Database } from 'better-sqlite3';
import { parseUplinkConfig, type UplinkConfigStore, type UplinkEvbConfig } from '../domain/evb-config.js';

export class SqliteUplinkConfigStore implements UplinkConfigStore {
  constructor(private readonly db: Database) {}

  list(): UplinkEvbConfig[] {
    const rows = this.db.prepare('SELECT config FROM uplinks ORDER BY uplink').all() as Array<{ config: string }>;
    return rows.map((r) => parseUplinkConfig(JSON.parse(r.config)));
  }

  get(uplink: string): UplinkEvbConfig | undefined {
    const row = this.db.prepare('SELECT config FROM uplinks WHERE uplink = ?').get(uplink) as { config: string } | undefined;
    return row ? parseUplinkConfig(JSON.parse(row.config)) : undefined;
  }

  put(cfg: UplinkEvbConfig): void {
    this.db
      .prepare(
        `INSERT INTO uplinks (uplink, config, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (uplink) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
      )
      .run(cfg.uplink, JSON.stringify(cfg), new Date().toISOString());
  }

  delete(uplink: string): boolean {
    return this.db.prepare('DELETE FROM uplinks WHERE uplink = ?').run(uplink).changes > 0;
  }
}
