// The fleet's PostgreSQL schema as an ordered, APPEND-ONLY list of migrations — the same rules as the SQLite ones
// (src/store/migrations.ts): never edit, renumber or remove a committed entry; add one at the end. Many hosts start
// at once against one database: migrate() holds an advisory lock, so exactly one of them applies each migration
// and the others find it recorded.
import type pg from 'pg';
import { qbgError } from '../domain/errors.js';
import { checkMigrationList } from '../store/db.js';
import type { Migration } from '../store/migrations.js';

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'fleet_nics',
    // fleet_hosts: one row per hypervisor; incarnation names its SQLite database (a reinstalled host starts its
    //   outbox sequence again at 1 under a new incarnation). last_seq: highest outbox row applied.
    // fleet_nic_transitions: every NIC transition a host published, once: (host, incarnation, seq) is the outbox
    //   row's identity, so a row sent twice (kill -9 between COMMIT here and the delete there) is kept once.
    // fleet_nics: each host's NICs as last published; seq guards against an older row overwriting a newer one.
    sql: `
      CREATE TABLE fleet_hosts (
        host          text PRIMARY KEY,
        incarnation   text NOT NULL,
        last_seq      bigint NOT NULL DEFAULT 0,
        last_seen     timestamptz NOT NULL DEFAULT now(),
        outbox_rows   integer NOT NULL DEFAULT 0,
        outbox_oldest timestamptz,
        qbg_version   text
      );
      CREATE TABLE fleet_nic_transitions (
        host        text NOT NULL,
        incarnation text NOT NULL,
        seq         bigint NOT NULL,
        history_seq bigint NOT NULL,
        nic_id      text NOT NULL,
        at          timestamptz NOT NULL,
        from_state  text NOT NULL,
        to_state    text NOT NULL,
        event       text NOT NULL,
        cause       text NOT NULL,
        reason_code integer,
        reason      text,
        PRIMARY KEY (host, incarnation, seq)
      );
      CREATE INDEX fleet_nic_transitions_nic ON fleet_nic_transitions (host, nic_id, seq);
      CREATE TABLE fleet_nics (
        host            text NOT NULL,
        nic_id          text NOT NULL,
        vm_uuid         text NOT NULL,
        mac             text NOT NULL,
        uplink          text NOT NULL,
        type_name       text NOT NULL,
        type_id         integer NOT NULL,
        type_id_version integer NOT NULL,
        vlan            integer NOT NULL,
        instance_uuid   text NOT NULL,
        state           text NOT NULL,
        desired_mode    text NOT NULL,
        reason_code     integer,
        reason          text,
        request_cause   text,
        updated_at      timestamptz NOT NULL,
        incarnation     text NOT NULL,
        seq             bigint NOT NULL,
        PRIMARY KEY (host, nic_id)
      );
      -- keyset paging orders by (host, nic_id) under every filter
      CREATE INDEX fleet_nics_vm ON fleet_nics (vm_uuid, host, nic_id);
      CREATE INDEX fleet_nics_state ON fleet_nics (state, host, nic_id);
      CREATE INDEX fleet_nics_type ON fleet_nics (type_name, host, nic_id);
      CREATE INDEX fleet_nics_uplink ON fleet_nics (uplink, host, nic_id);
      CREATE INDEX fleet_nics_instance ON fleet_nics (instance_uuid);
    `,
  },
  {
    version: 2,
    name: 'fleet_vsi_types',
    // The fleet's VSI type database: same rows as the SQLite one (src/store/migrations.ts #1). typedb_rev counts
    // committed changes: a host whose copy is at an older rev reloads it. Its one row is also the lock that
    // orders concurrent type changes.
    sql: `
      CREATE TABLE fleet_vsi_types (
        name            text PRIMARY KEY,
        type_id         integer NOT NULL CHECK (type_id BETWEEN 0 AND 16777215),
        current_version integer NOT NULL CHECK (current_version BETWEEN 0 AND 255),
        created_at      text NOT NULL,
        updated_at      text NOT NULL
      );
      CREATE TABLE fleet_vsi_type_versions (
        id              bigserial PRIMARY KEY,
        name            text NOT NULL REFERENCES fleet_vsi_types(name) ON DELETE CASCADE,
        type_id_version integer NOT NULL CHECK (type_id_version BETWEEN 0 AND 255),
        manager_id2     text NOT NULL CHECK (length(manager_id2) = 32),
        type_id         integer NOT NULL CHECK (type_id BETWEEN 0 AND 16777215),
        spec            text NOT NULL,
        created_at      text NOT NULL,
        UNIQUE (name, type_id_version),
        UNIQUE (manager_id2, type_id, type_id_version)
      );
      CREATE TABLE fleet_typedb (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        rev bigint NOT NULL
      );
      INSERT INTO fleet_typedb (rev) VALUES (0);
    `,
  },
  {
    version: 3,
    name: 'fleet_check_indexes',
    // Every host runs the fleet checks every catchUpSeconds. With 100,000 NICs the double-held check grouped every
    // held row with three ordered array_aggs (1.9 s a round) and the migration check scanned the whole table
    // (150 ms): the first now finds the doubled instance UUIDs from this index alone (an index-only scan, min(host)
    // <> max(host) per group) and aggregates only those; the second reads the few rows a migration start left.
    // fleet_nics_instance served only these checks; the partial index replaces it.
    sql: `
      CREATE INDEX fleet_nics_held ON fleet_nics (instance_uuid, host) WHERE state IN ('associated', 'pre-associated');
      CREATE INDEX fleet_nics_migration_start ON fleet_nics (updated_at) WHERE state = 'associated' AND request_cause = 'migration-start';
      DROP INDEX fleet_nics_instance;
    `,
  },
  {
    version: 4,
    name: 'fleet_nic_transitions_at',
    // the retention job (src/fleet/retention.ts) deletes by age: without this it would scan every transition
    sql: `CREATE INDEX fleet_nic_transitions_at ON fleet_nic_transitions (at);`,
  },
  {
    version: 5,
    name: 'fleet_findings',
    // The checker host's last round of the fleet checks: the other hosts read their metric and GET /fleet/findings
    // from here instead of each running the checks. A row's existence means its event was raised: a new checker
    // (take-over) does not raise again what its predecessor did, and a key is raised once even if two hosts ever
    // believed they were the checker (INSERT … ON CONFLICT DO NOTHING decides).
    sql: `
      CREATE TABLE fleet_findings (
        "check"    text NOT NULL,
        key        text NOT NULL,
        detail     jsonb NOT NULL,
        since      timestamptz NOT NULL DEFAULT now(),
        raised_by  text NOT NULL,
        PRIMARY KEY ("check", key)
      );
    `,
  },
  {
    version: 6,
    name: 'fleet_nics_owner',
    // who announces the NIC's VSI on its host (docs/ownership.md): qbg over lldpad's client socket, or libvirt over
    // netlink with qbg only observing. Rows published before this column are qbg's: owner was added after them.
    sql: `ALTER TABLE fleet_nics ADD COLUMN owner text NOT NULL DEFAULT 'qbg';`,
  },
  // ↑ append new migrations here; never edit the ones above.
];

/** Any two qbg processes migrating at once take turns on this lock (an arbitrary constant: "qbg1"). */
const MIGRATION_LOCK = 0x71626731;

/** Applies the migrations the fleet database lacks; refuses a database whose recorded history differs. */
export async function migratePg(pool: pg.Pool, list: readonly Migration[] = PG_MIGRATIONS): Promise<number[]> {
  checkMigrationList(list);
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query(`CREATE TABLE IF NOT EXISTS qbg_schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = (await c.query<{ version: number; name: string }>('SELECT version, name FROM qbg_schema_migrations ORDER BY version')).rows;
    for (const row of applied) {
      const known = list[row.version - 1];
      if (!known) throw qbgError('QBG_ERR_FLEET', `the fleet database has schema version ${row.version} (${row.name}), newer than this qbg knows (${list.length}); upgrade this qbg`);
      if (known.name !== row.name) throw qbgError('QBG_ERR_FLEET', `the fleet database recorded migration ${row.version} as "${row.name}" but this qbg has "${known.name}"`);
    }
    const done: number[] = [];
    for (const m of list.slice(applied.length)) {
      await c.query(m.sql);
      await c.query('INSERT INTO qbg_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      done.push(m.version);
    }
    await c.query('COMMIT');
    return done;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => (broken = true));
    throw e;
  } finally {
    c.release(broken);
  }
}
