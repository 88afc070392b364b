//! PostgreSQL schema and migrations, per database (customer data, key store).
//!
//! Each database (in the backend's schema, through `search_path`) has a
//! `schema_version` table. Migrations run in a transaction of their own per
//! database, the key store's first (as every commit does); a database newer
//! than this library is refused rather than misread.
//!
//! Only portable SQL: no sequences, triggers, functions or advisory locks, so
//! that CockroachDB and YugabyteDB accept the same statements.

use super::Session;
use crate::error::{Error, Result};

/// One database's migrations: (version reached, SQL). `{tag}` is replaced by
/// a random number (the first change-journal entry's tag).
pub(super) struct Component {
    pub(super) name: &'static str,
    migrations: &'static [(i64, &'static str)],
}

pub(super) const KEYS: Component = Component {
    name: "keys",
    migrations: &[(
        1,
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
         CREATE TABLE data_keys (
             customer_id BIGINT PRIMARY KEY,
             key_id BIGINT NOT NULL,
             wrapped BYTEA NOT NULL
         );
         CREATE TABLE erasure_ledger (hash BYTEA PRIMARY KEY, at BIGINT NOT NULL);",
    )],
};

pub(super) const DATA: Component = Component {
    name: "data",
    migrations: &[(
        1,
        // Counters and the writer's turn are rows every writer locks (see
        // `begin`), never sequences: a rolled-back id is taken again, so ids
        // and audit sequence numbers have no gaps. The audit head row exists
        // from the start (seq 0: no entry yet) so that the first writer has a
        // row to lock too. Texts that are listed in order are compared
        // bytewise (COLLATE "C"), as SQLite and the memory backend order them.
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
         CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
         INSERT INTO counters (name, value) VALUES
             ('customer_id', 0), ('generation', 0), ('directory', 0), ('record_id', 0);
         CREATE TABLE writer_turn (id SMALLINT PRIMARY KEY CHECK (id = 1), taken BIGINT NOT NULL);
         INSERT INTO writer_turn (id, taken) VALUES (1, 0);
         CREATE TABLE customers (
             id BIGINT PRIMARY KEY,
             kind TEXT NOT NULL,
             external_code TEXT UNIQUE,
             category TEXT,
             source TEXT,
             tier TEXT,
             status TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             version BIGINT NOT NULL,
             key_id BIGINT NOT NULL,
             sealed BYTEA NOT NULL,
             mobile_index BYTEA,
             email_index BYTEA,
             id_number_index BYTEA,
             credit_code_index BYTEA,
             region TEXT
         );
         CREATE INDEX customers_by_mobile ON customers (mobile_index) WHERE mobile_index IS NOT NULL;
         CREATE INDEX customers_by_email ON customers (email_index) WHERE email_index IS NOT NULL;
         CREATE INDEX customers_by_id_number ON customers (id_number_index) WHERE id_number_index IS NOT NULL;
         CREATE INDEX customers_by_credit_code ON customers (credit_code_index) WHERE credit_code_index IS NOT NULL;
         CREATE TABLE class_counts (
             kind TEXT COLLATE \"C\" NOT NULL, category TEXT COLLATE \"C\" NOT NULL,
             source TEXT COLLATE \"C\" NOT NULL, tier TEXT COLLATE \"C\" NOT NULL,
             status TEXT COLLATE \"C\" NOT NULL, region TEXT COLLATE \"C\" NOT NULL,
             n BIGINT NOT NULL,
             PRIMARY KEY (kind, category, source, tier, status, region)
         );
         CREATE TABLE search_tokens (customer_id BIGINT PRIMARY KEY, tokens BYTEA NOT NULL);
         CREATE TABLE search_postings (
             token BIGINT NOT NULL,
             customer_id BIGINT NOT NULL,
             PRIMARY KEY (token, customer_id)
         );
         CREATE TABLE search_grams (
             token BIGINT PRIMARY KEY,
             fingerprint BIGINT NOT NULL,
             mixed BOOLEAN NOT NULL,
             holders BIGINT NOT NULL
         );
         CREATE TABLE customer_changes (generation BIGINT PRIMARY KEY, tag BIGINT NOT NULL, ids BYTEA);
         INSERT INTO customer_changes (generation, tag, ids) VALUES (0, {tag}, NULL);
         CREATE TABLE audit_entries (
             seq BIGINT PRIMARY KEY,
             time BIGINT NOT NULL,
             principal TEXT NOT NULL,
             action TEXT NOT NULL,
             outcome TEXT NOT NULL,
             value_hash BYTEA,
             customers BIGINT[] NOT NULL,
             body BYTEA NOT NULL,
             mac BYTEA NOT NULL
         );
         CREATE INDEX audit_by_time ON audit_entries (time);
         CREATE INDEX audit_by_principal ON audit_entries (principal, seq);
         CREATE INDEX audit_by_value ON audit_entries (value_hash, seq) WHERE value_hash IS NOT NULL;
         CREATE INDEX audit_by_customer ON audit_entries USING GIN (customers);
         CREATE TABLE audit_head (
             id SMALLINT PRIMARY KEY CHECK (id = 1),
             seq BIGINT NOT NULL,
             mac BYTEA NOT NULL,
             time BIGINT NOT NULL
         );
         INSERT INTO audit_head (id, seq, mac, time) VALUES (1, 0, ''::bytea, 0);
         CREATE TABLE audit_checkpoints (
             size BIGINT PRIMARY KEY,
             head_mac BYTEA NOT NULL,
             time BIGINT NOT NULL,
             signature BYTEA NOT NULL
         );
         CREATE TABLE consent_events (
             seq BIGINT PRIMARY KEY,
             customer_id BIGINT NOT NULL,
             purpose TEXT NOT NULL,
             channel TEXT NOT NULL,
             granted BOOLEAN NOT NULL,
             at BIGINT NOT NULL,
             source TEXT NOT NULL,
             policy_version TEXT NOT NULL,
             recorded_by TEXT NOT NULL
         );
         CREATE INDEX consent_by_customer ON consent_events (customer_id, purpose, channel, seq);
         CREATE INDEX consent_by_purpose ON consent_events (purpose, channel, customer_id, seq);
         CREATE TABLE directory (
             kind TEXT NOT NULL,
             key TEXT COLLATE \"C\" NOT NULL,
             value BYTEA NOT NULL,
             PRIMARY KEY (kind, key)
         );
         CREATE TABLE records (
             id BIGINT PRIMARY KEY,
             customer_id BIGINT NOT NULL,
             kind TEXT NOT NULL,
             time BIGINT NOT NULL,
             status TEXT NOT NULL,
             category TEXT,
             channel TEXT,
             priority TEXT,
             owner TEXT,
             due_at BIGINT,
             pending BOOLEAN NOT NULL,
             retention_start BIGINT,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             version BIGINT NOT NULL,
             key_id BIGINT NOT NULL,
             sealed BYTEA NOT NULL
         );
         CREATE INDEX records_by_customer ON records (customer_id, time, id);
         CREATE INDEX records_pending_due ON records (due_at, id) WHERE pending;
         CREATE INDEX records_pending_by_owner ON records (owner, due_at, id) WHERE pending;
         CREATE INDEX records_by_retention ON records (kind, retention_start) WHERE retention_start IS NOT NULL;
         CREATE TABLE record_history (
             record_id BIGINT NOT NULL,
             seq BIGINT NOT NULL,
             at BIGINT NOT NULL,
             changed_by TEXT NOT NULL,
             from_status TEXT,
             to_status TEXT NOT NULL,
             PRIMARY KEY (record_id, seq)
         );",
    )],
};

impl Component {
    pub(super) fn latest(&self) -> i64 {
        self.migrations.last().map_or(0, |(v, _)| *v)
    }

    /// The version in the session's schema; 0 when it holds no custodian schema.
    pub(super) fn version(&self, session: &mut Session) -> Result<i64> {
        // current_schema() is NULL when no schema of the search path exists:
        // then there is no table either.
        let has_table: bool = session
            .query_one(
                "SELECT count(*) > 0 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'schema_version'",
                &[],
            )?
            .try_get(0)
            .map_err(|e| session.decode_error(e))?;
        if !has_table {
            return Ok(0);
        }
        let row = session.query_opt("SELECT version FROM schema_version WHERE component = $1", &[&self.name])?;
        match row {
            Some(row) => row.try_get(0).map_err(|e| session.decode_error(e)),
            None => Err(Error::corrupt(format!(
                "the {} database has a schema_version table without a '{}' row",
                self.name, self.name
            ))),
        }
    }

    /// Applies pending migrations in a transaction of their own.
    pub(super) fn migrate(&self, session: &mut Session) -> Result<()> {
        session.batch("BEGIN")?;
        let migrated = self.migrate_in_transaction(session);
        match migrated {
            Ok(()) => session.batch("COMMIT"),
            Err(e) => {
                let _ = session.batch("ROLLBACK");
                // Statements prepared against tables the rollback removed
                // would fail on their next use.
                session.forget_statements();
                Err(e)
            }
        }
    }

    fn migrate_in_transaction(&self, session: &mut Session) -> Result<()> {
        let current = self.version(session)?;
        if current > self.latest() {
            return Err(Error::SchemaTooNew { component: self.name, found: current, supported: self.latest() });
        }
        if current == 0 {
            session.batch("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version BIGINT NOT NULL)")?;
            session.execute("INSERT INTO schema_version (component, version) VALUES ($1, 0)", &[&self.name])?;
        }
        for (version, sql) in self.migrations.iter().filter(|(v, _)| *v > current) {
            session.batch(&sql.replace("{tag}", &super::random_tag()?.to_string()))?;
            session.execute("UPDATE schema_version SET version = $1 WHERE component = $2", &[version, &self.name])?;
        }
        Ok(())
    }
}
