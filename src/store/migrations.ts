// The schema of qbg's SQLite store as an ordered, APPEND-ONLY list of migrations.
//
// To change the schema: add ONE new entry at the end of MIGRATIONS with the next version number and a short
// snake_case name. Never edit, renumber, reorder or remove an entry that has been committed: databases in the field
// have recorded it by version AND name, and openDatabase() refuses a database whose recorded history differs from
// this list (it would otherwise run new code against a schema it does not know).
// Each migration runs in its own transaction together with its schema_migrations row: all of it or nothing.

export interface Migration {
  /** 1, 2, 3, … without gaps, in array order. */
  readonly version: number;
  /** Short snake_case description, recorded with the version. */
  readonly name: string;
  /** One or more SQL statements (run with Database.exec). */
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'vsi_types',
    // A VSI type: a stable name and typeId; each change of parameters is a new row in vsi_type_versions.
    // (manager_id2, type_id, type_id_version) is what the bridge sees, so it is unique across all types.
    sql: `
      CREATE TABLE vsi_types (
        name            TEXT PRIMARY KEY,
        type_id         INTEGER NOT NULL CHECK (type_id BETWEEN 0 AND 16777215),
        current_version INTEGER NOT NULL CHECK (current_version BETWEEN 0 AND 255),
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      ) STRICT;
      CREATE TABLE vsi_type_versions (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL REFERENCES vsi_types(name) ON DELETE CASCADE,
        type_id_version INTEGER NOT NULL CHECK (type_id_version BETWEEN 0 AND 255),
        manager_id2     TEXT NOT NULL CHECK (length(manager_id2) = 32),
        type_id         INTEGER NOT NULL CHECK (type_id BETWEEN 0 AND 16777215),
        spec            TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        UNIQUE (name, type_id_version),
        UNIQUE (manager_id2, type_id, type_id_version)
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'remote_typedb_cache',
    // Answers of remote type databases, kept to revalidate by ETag and to serve while a remote is down.
    sql: `
      CREATE TABLE remote_typedb_cache (
        remote       TEXT NOT NULL,
        key          TEXT NOT NULL,
        etag         TEXT,
        body         TEXT NOT NULL,
        fetched_at   INTEGER NOT NULL,
        validated_at INTEGER NOT NULL,
        PRIMARY KEY (remote, key)
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'nics',
    // VM NICs and their association history. A NIC row is what qbg last learned from lldpad (state) plus what it
    // was asked to keep (desired_mode); every state change adds one nic_history row in the same transaction.
    // History has no foreign key: it outlives a NIC an admin forgets (audit), and its id is the SSE event id.
    sql: `
      CREATE TABLE nics (
        id              TEXT PRIMARY KEY,
        vm_uuid         TEXT NOT NULL,
        mac             TEXT NOT NULL,
        uplink          TEXT NOT NULL,
        type_name       TEXT NOT NULL,
        type_id         INTEGER NOT NULL CHECK (type_id BETWEEN 0 AND 16777215),
        type_id_version INTEGER NOT NULL CHECK (type_id_version BETWEEN 0 AND 255),
        manager_id2     TEXT NOT NULL CHECK (length(manager_id2) = 32),
        filter_format   TEXT NOT NULL,
        group_id        INTEGER,
        vlan            INTEGER NOT NULL CHECK (vlan BETWEEN 0 AND 4095),
        instance_uuid   TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL,
        desired_mode    TEXT NOT NULL,
        reason_code     INTEGER,
        reason          TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (vm_uuid, mac)
      ) STRICT;
      CREATE INDEX nics_uplink ON nics (uplink);
      CREATE INDEX nics_state ON nics (state);
      CREATE INDEX nics_type ON nics (type_name);
      CREATE TABLE nic_history (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        nic_id      TEXT NOT NULL,
        at          TEXT NOT NULL,
        from_state  TEXT NOT NULL,
        to_state    TEXT NOT NULL,
        event       TEXT NOT NULL,
        cause       TEXT NOT NULL,
        reason_code INTEGER,
        reason      TEXT
      ) STRICT;
      CREATE INDEX nic_history_nic ON nic_history (nic_id, seq);
    `,
  },
  {
    version: 4,
    name: 'uplinks',
    // The desired EVB/ECP/VDP configuration per uplink (what qbg re-applies when lldpad forgets it). Stored as the
    // validated JSON of UplinkEvbConfig: the domain owns its fields and ranges, the store only keeps it.
    sql: `
      CREATE TABLE uplinks (
        uplink     TEXT PRIMARY KEY,
        config     TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'nics_listing_order',
    // GET /nics pages in creation order: without this index every page scanned and sorted all NICs (14.6 ms a page
    // with 10,000 NICs, 1.1 ms with it — docs/benchmarks.md).
    sql: `CREATE INDEX nics_created ON nics (created_at, id);`,
  },
  {
    version: 6,
    name: 'fleet_outbox',
    // The fleet (src/fleet): each NIC state change is also written here, in the transaction that makes it, and
    // drained in seq order to PostgreSQL, then deleted. Written only when a fleet is configured. fleet_state keeps
    // this database's incarnation (a reinstalled host restarts seq at 1 under a new one) and the VSI type
    // revision of the local copy.
    sql: `
      CREATE TABLE fleet_outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        nic_id      TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('transition', 'forget', 'snapshot')),
        body        TEXT NOT NULL
      ) STRICT;
      CREATE TABLE fleet_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'nics_keyset_counts_changes',
    // Status reads without work proportional to the table (docs/benchmarks.md): a filtered page walks one index in
    // listing order from its cursor (uplink/state/type + created_at, id replace the single-column indexes); the
    // total of a filter sums a few nic_counts rows instead of count(*) over the matches; nic_changes.seq moves with
    // every write to nics (the list's ETag). Triggers keep both in the writing statement's own transaction, so no
    // code path (applyEvent, forget, a future one) can leave them behind the rows.
    sql: `
      DROP INDEX nics_uplink;
      DROP INDEX nics_state;
      DROP INDEX nics_type;
      CREATE INDEX nics_uplink_created ON nics (uplink, created_at, id);
      CREATE INDEX nics_state_created ON nics (state, created_at, id);
      CREATE INDEX nics_type_created ON nics (type_name, created_at, id);
      CREATE TABLE nic_counts (
        uplink    TEXT NOT NULL,
        state     TEXT NOT NULL,
        type_name TEXT NOT NULL,
        n         INTEGER NOT NULL,
        PRIMARY KEY (uplink, state, type_name)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO nic_counts SELECT uplink, state, type_name, count(*) FROM nics GROUP BY uplink, state, type_name;
      CREATE TABLE nic_changes (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL
      ) STRICT;
      INSERT INTO nic_changes VALUES (1, 0);
      CREATE TRIGGER nics_count_insert AFTER INSERT ON nics BEGIN
        INSERT INTO nic_counts VALUES (new.uplink, new.state, new.type_name, 1) ON CONFLICT DO UPDATE SET n = n + 1;
        UPDATE nic_changes SET seq = seq + 1;
      END;
      CREATE TRIGGER nics_count_delete AFTER DELETE ON nics BEGIN
        UPDATE nic_counts SET n = n - 1 WHERE uplink = old.uplink AND state = old.state AND type_name = old.type_name;
        UPDATE nic_changes SET seq = seq + 1;
      END;
      CREATE TRIGGER nics_count_update AFTER UPDATE OF uplink, state, type_name ON nics
        WHEN old.uplink IS NOT new.uplink OR old.state IS NOT new.state OR old.type_name IS NOT new.type_name BEGIN
        UPDATE nic_counts SET n = n - 1 WHERE uplink = old.uplink AND state = old.state AND type_name = old.type_name;
        INSERT INTO nic_counts VALUES (new.uplink, new.state, new.type_name, 1) ON CONFLICT DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER nics_change_update AFTER UPDATE ON nics BEGIN
        UPDATE nic_changes SET seq = seq + 1;
      END;
    `,
  },
  {
    version: 8,
    name: 'nics_bridge_vlan',
    // A NIC that asks for the wildcard VLAN 0 is given a VID by the bridge in its answer: kept here while the VSI is
    // held (NULL otherwise); vlan stays what was asked, so a new request asks the bridge again.
    sql: `ALTER TABLE nics ADD COLUMN bridge_vlan INTEGER CHECK (bridge_vlan BETWEEN 1 AND 4095);`,
  },
  {
    version: 9,
    name: 'nics_owner',
    // Who announces the NIC's VSI on a libvirt host (docs/ownership.md): qbg over lldpad's client socket, or libvirt
    // over netlink with qbg only observing. Every NIC recorded before this was qbg's own.
    sql: `ALTER TABLE nics ADD COLUMN owner TEXT NOT NULL DEFAULT 'qbg' CHECK (owner IN ('qbg', 'libvirt'));`,
  },
  {
    version: 10,
    name: 'nics_filter_index',
    // Every associate asks whether another VM's NIC holds or wants the same MAC + VLAN on the uplink
    // (NicRepo.filterUsedByOtherVm): without this index that walked every NIC of the uplink, per associate.
    sql: `CREATE INDEX nics_filter ON nics (uplink, mac, vlan, created_at, id);`,
  },
  {
    version: 11,
    name: 'vsi_type_changes',
    // The VSI type read cache (src/vtdb/type-read-cache.ts) is trusted while this moves not: triggers bump it with
    // every write to the type tables, in the writing transaction (a rollback takes it back with the rows), whoever
    // writes (any repo, plain SQL, another process on the file). Before, the cache watched total_changes(), which
    // every NIC transition moves too: each associate missed it and read the type again.
    sql: `
      CREATE TABLE vsi_type_changes (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL
      ) STRICT;
      INSERT INTO vsi_type_changes VALUES (1, 0);
      CREATE TRIGGER vsi_types_changed_insert AFTER INSERT ON vsi_types BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
      CREATE TRIGGER vsi_types_changed_update AFTER UPDATE ON vsi_types BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
      CREATE TRIGGER vsi_types_changed_delete AFTER DELETE ON vsi_types BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
      CREATE TRIGGER vsi_type_versions_changed_insert AFTER INSERT ON vsi_type_versions BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
      CREATE TRIGGER vsi_type_versions_changed_update AFTER UPDATE ON vsi_type_versions BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
      CREATE TRIGGER vsi_type_versions_changed_delete AFTER DELETE ON vsi_type_versions BEGIN UPDATE vsi_type_changes SET seq = seq + 1; END;
    `,
  },
  // ↑ append new migrations here (version 3, 4, …); never edit the ones above.
];
