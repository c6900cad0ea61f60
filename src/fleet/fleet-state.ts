// Small facts the fleet keeps in the host's own SQLite (table fleet_state, migration 'fleet_outbox').
import { randomUUID } from 'node:crypto';
import type { Database } from '../store/db.js';

export function readFleetState(db: Database, key: string): string | undefined {
  const r = db.prepare('SELECT value FROM fleet_state WHERE key = ?').get(key) as { value: string } | undefined;
  return r?.value;
}

export function writeFleetState(db: Database, key: string, value: string): void {
  db.prepare('INSERT INTO fleet_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** This database's identity in the fleet, made once: outbox seqs are unique within it (see fleet_hosts). */
export function incarnationOf(db: Database): string {
  const known = readFleetState(db, 'incarnation');
  if (known) return known;
  const made = randomUUID();
  writeFleetState(db, 'incarnation', made);
  return made;
}
