//! SQLite schema and migrations, per component (customer data, key store).
//!
//! Each file has a `schema_version` table. Migrations are applied in order
//! inside the caller's write transaction; a file newer than this library is
//! refused rather than misread.

use rusqlite::{Connection, OptionalExtension};

use super::Db;

use crate::error::{Error, Result};

/// One component's migrations: (version reached, SQL). `{db}` is replaced
/// by the schema name the file is attached under.
pub(super) struct Component {
    pub(super) name: &'static str,
    pub(super) schema: &'static str,
    pub(super) migrations: &'static [(i64, &'static str)],
}

pub(super) const KEYS: Component = Component {
    name: "keys",
    schema: "main",
    migrations: &[
        (
            1,
            "CREATE TABLE {db}.meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
         CREATE TABLE {db}.data_keys (
             customer_id INTEGER PRIMARY KEY,
             key_id INTEGER NOT NULL,
             wrapped BLOB NOT NULL
         ) STRICT;",
        ),
        (
            2,
            "CREATE TABLE {db}.erasure_ledger (
                 hash BLOB PRIMARY KEY,
                 at INTEGER NOT NULL
             ) STRICT, WITHOUT ROWID;",
        ),
    ],
};

pub(super) const DATA: Component = Component {
    name: "data",
    schema: "data",
    migrations: &[
        (
            1,
            "CREATE TABLE {db}.meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
         CREATE TABLE {db}.counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
         INSERT INTO {db}.counters (name, value) VALUES ('customer_id', 0), ('generation', 0);
         CREATE TABLE {db}.customers (
             id INTEGER PRIMARY KEY,
             kind TEXT NOT NULL,
             external_code TEXT UNIQUE,
             category TEXT,
             source TEXT,
             tier TEXT,
             status TEXT NOT NULL,
             created_at INTEGER NOT NULL,
             updated_at INTEGER NOT NULL,
             version INTEGER NOT NULL,
             key_id INTEGER NOT NULL,
             sealed BLOB NOT NULL,
             mobile_index BLOB,
             email_index BLOB,
             id_number_index BLOB
         ) STRICT;
         CREATE INDEX {db}.customers_by_mobile ON customers (mobile_index) WHERE mobile_index IS NOT NULL;
         CREATE INDEX {db}.customers_by_email ON customers (email_index) WHERE email_index IS NOT NULL;
         CREATE INDEX {db}.customers_by_id_number ON customers (id_number_index) WHERE id_number_index IS NOT NULL;",
        ),
        (
            2,
            "CREATE TABLE {db}.audit_entries (
                 seq INTEGER PRIMARY KEY,
                 time INTEGER NOT NULL,
                 principal TEXT NOT NULL,
                 action TEXT NOT NULL,
                 outcome TEXT NOT NULL,
                 value_hash BLOB,
                 customers BLOB NOT NULL,
                 body BLOB NOT NULL,
                 mac BLOB NOT NULL
             ) STRICT;
             CREATE TABLE {db}.audit_head (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 seq INTEGER NOT NULL,
                 mac BLOB NOT NULL,
                 time INTEGER NOT NULL,
                 indexed_through INTEGER NOT NULL DEFAULT 0
             ) STRICT;
             CREATE TABLE {db}.audit_customers (
                 customer_id INTEGER NOT NULL,
                 seq INTEGER NOT NULL,
                 PRIMARY KEY (customer_id, seq)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE {db}.audit_principals (
                 principal TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 PRIMARY KEY (principal, seq)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE {db}.audit_values (
                 value_hash BLOB NOT NULL,
                 seq INTEGER NOT NULL,
                 PRIMARY KEY (value_hash, seq)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE {db}.audit_checkpoints (
                 size INTEGER PRIMARY KEY,
                 head_mac BLOB NOT NULL,
                 time INTEGER NOT NULL,
                 signature BLOB NOT NULL
             ) STRICT;",
        ),
        (
            3,
            "CREATE TABLE {db}.consent_events (
                 seq INTEGER PRIMARY KEY,
                 customer_id INTEGER NOT NULL,
                 purpose TEXT NOT NULL,
                 channel TEXT NOT NULL,
                 granted INTEGER NOT NULL,
                 at INTEGER NOT NULL,
                 source TEXT NOT NULL,
                 policy_version TEXT NOT NULL,
                 recorded_by TEXT NOT NULL
             ) STRICT;
             CREATE INDEX {db}.consent_by_customer ON consent_events (customer_id, purpose, channel, seq);
             CREATE INDEX {db}.consent_by_purpose ON consent_events (purpose, channel, customer_id, seq);",
        ),
        (
            4,
            "CREATE TABLE {db}.directory (
                 kind TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (kind, key)
             ) STRICT, WITHOUT ROWID;",
        ),
        (5, "INSERT OR IGNORE INTO {db}.counters (name, value) VALUES ('directory', 0);"),
        (
            6,
            "INSERT OR IGNORE INTO {db}.counters (name, value) VALUES ('record_id', 0);
             CREATE TABLE {db}.records (
                 id INTEGER PRIMARY KEY,
                 customer_id INTEGER NOT NULL,
                 kind TEXT NOT NULL,
                 time INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 category TEXT,
                 channel TEXT,
                 priority TEXT,
                 owner TEXT,
                 due_at INTEGER,
                 pending INTEGER NOT NULL,
                 retention_start INTEGER,
                 created_at INTEGER NOT NULL,
                 updated_at INTEGER NOT NULL,
                 version INTEGER NOT NULL,
                 key_id INTEGER NOT NULL,
                 sealed BLOB NOT NULL
             ) STRICT;
             CREATE INDEX {db}.records_by_customer ON records (customer_id, time, id);
             CREATE INDEX {db}.records_pending_due ON records (due_at, id) WHERE pending = 1;
             CREATE INDEX {db}.records_pending_by_owner ON records (owner, due_at, id) WHERE pending = 1;
             CREATE INDEX {db}.records_by_retention ON records (kind, retention_start)
                 WHERE retention_start IS NOT NULL;
             CREATE TABLE {db}.record_history (
                 record_id INTEGER NOT NULL,
                 seq INTEGER NOT NULL,
                 at INTEGER NOT NULL,
                 by TEXT NOT NULL,
                 from_status TEXT,
                 to_status TEXT NOT NULL,
                 PRIMARY KEY (record_id, seq)
             ) STRICT, WITHOUT ROWID;",
        ),
        (
            7,
            "ALTER TABLE {db}.customers ADD COLUMN credit_code_index BLOB;
             CREATE INDEX {db}.customers_by_credit_code ON customers (credit_code_index)
                 WHERE credit_code_index IS NOT NULL;",
        ),
        (
            8,
            // The region derived from the address (customers written before
            // this version have none until their next update), and the number
            // of customers per combination of classification columns, kept by
            // every write in its own transaction, which statistics read ('' for
            // no value: NULLs would never meet in the unique key).
            "ALTER TABLE {db}.customers ADD COLUMN region TEXT;
             CREATE TABLE {db}.class_counts (
                 kind TEXT NOT NULL, category TEXT NOT NULL, source TEXT NOT NULL, tier TEXT NOT NULL,
                 status TEXT NOT NULL, region TEXT NOT NULL, n INTEGER NOT NULL,
                 PRIMARY KEY (kind, category, source, tier, status, region)
             ) WITHOUT ROWID;
             INSERT INTO {db}.class_counts
                 SELECT kind, coalesce(category, ''), coalesce(source, ''), coalesce(tier, ''), status,
                        coalesce(region, ''), count(*)
                 FROM {db}.customers GROUP BY 1, 2, 3, 4, 5, 6;",
        ),
        (
            9,
            // The encrypted keyword index: each customer's tokens (keyed,
            // truncated n-gram HMACs, 8 bytes each, big-endian, sorted), per
            // token the customers holding it, and per token the register of
            // its grams (first fingerprint, whether another gram gave it, how
            // many customers hold it). Filled by the store's rebuild on its
            // next open.
            "CREATE TABLE {db}.search_tokens (
                 customer_id INTEGER PRIMARY KEY,
                 tokens BLOB NOT NULL
             ) STRICT;
             CREATE TABLE {db}.search_postings (
                 token INTEGER NOT NULL,
                 customer_id INTEGER NOT NULL,
                 PRIMARY KEY (token, customer_id)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE {db}.search_grams (
                 token INTEGER PRIMARY KEY,
                 fingerprint INTEGER NOT NULL,
                 mixed INTEGER NOT NULL,
                 holders INTEGER NOT NULL
             ) STRICT;
             DELETE FROM {db}.meta WHERE name = 'search_index';",
        ),
        (
            10,
            // The change journal: per write transaction that changed
            // customers, its generation, a random tag (telling histories
            // apart after a restore), and the ids it changed (8 bytes each,
            // big-endian, ascending; NULL for too many to list), so a cached
            // sort order applies the changes instead of rebuilding. The
            // generation reached before the journal existed gets an entry
            // that lists nothing a cache could start from.
            "CREATE TABLE {db}.customer_changes (
                 generation INTEGER PRIMARY KEY,
                 tag INTEGER NOT NULL,
                 ids BLOB
             ) STRICT;
             INSERT INTO {db}.customer_changes (generation, tag, ids)
                 SELECT value, random(), NULL FROM {db}.counters WHERE name = 'generation';",
        ),
    ],
};

impl Component {
    fn latest(&self) -> i64 {
        self.migrations.last().map_or(0, |(v, _)| *v)
    }

    /// The version on disk; 0 when the file holds no custodian schema.
    pub(super) fn version(&self, conn: &Connection) -> Result<i64> {
        let has_table: bool = conn
            .query_row(
                &format!(
                    "SELECT count(*) > 0 FROM {}.sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                    self.schema
                ),
                [],
                |r| r.get(0),
            )
            .db()?;
        if !has_table {
            return Ok(0);
        }
        let version: Option<i64> = conn
            .query_row(
                &format!("SELECT version FROM {}.schema_version WHERE component = ?1", self.schema),
                [self.name],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        version.ok_or_else(|| {
            Error::corrupt(format!("{} file has a schema_version table without a '{}' row", self.name, self.name))
        })
    }

    /// Applies pending migrations; must run inside a write transaction.
    pub(super) fn migrate(&self, conn: &Connection) -> Result<()> {
        let current = self.version(conn)?;
        if current > self.latest() {
            return Err(Error::SchemaTooNew { component: self.name, found: current, supported: self.latest() });
        }
        if current == 0 {
            conn.execute_batch(&format!(
                "CREATE TABLE {}.schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT;",
                self.schema
            ))
            .db()?;
            conn.execute(
                &format!("INSERT INTO {}.schema_version (component, version) VALUES (?1, 0)", self.schema),
                [self.name],
            )
            .db()?;
        }
        for (version, sql) in self.migrations.iter().filter(|(v, _)| *v > current) {
            conn.execute_batch(&sql.replace("{db}", self.schema)).db()?;
            conn.execute(
                &format!("UPDATE {}.schema_version SET version = ?1 WHERE component = ?2", self.schema),
                rusqlite::params![version, self.name],
            )
            .db()?;
        }
        Ok(())
    }
}
