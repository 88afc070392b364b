//! The PostgreSQL backend (feature `postgres`): the customer data and the key
//! store in two databases, so a dump of the data database alone decrypts
//! nothing.
//!
//! # Transactions
//!
//! A transaction holds one connection to each database. Write transactions
//! ([`TxMode::Write`], [`TxMode::WriteData`]) begin by taking the writer's
//! turn: they update the single row of `writer_turn`, which locks it until
//! they end, so writers from every connection and process run one after
//! another, as they do on SQLite. Run one at a time, they are serializable
//! whatever the isolation level; they run `READ COMMITTED`, so a writer that
//! waited for the turn proceeds on the state its predecessor committed
//! (under `SERIALIZABLE` its snapshot, taken before the wait, would be stale:
//! it would fail with a serialization failure, go back to the end of the
//! queue, and could starve past the busy timeout under load). Waiters queue
//! on the row lock in order. An engine that runs every transaction
//! `SERIALIZABLE` whatever is asked (CockroachDB) reports a lost turn as a
//! serialization failure; nothing has been handed back yet, so `begin` rolls
//! back and tries again, within the busy timeout. A writer that cannot get
//! the turn within the busy timeout fails with [`Error::Busy`]. Read
//! transactions run `REPEATABLE READ READ ONLY` and pin both snapshots at
//! begin, the data's first (keys commit first, so a customer seen has its
//! key).
//!
//! Inside a write transaction the audit head is read `FOR UPDATE` and ids come
//! from counter rows updated in place (`UPDATE ... RETURNING` takes the row
//! lock `FOR UPDATE` would): no sequence objects, which would leave gaps.
//!
//! Commit commits the key store first, then the data; a crash between the two
//! leaves what [`Transaction::unmatched_keys`] finds.
//!
//! Connections are made without TLS: use a local socket or loopback, or a
//! TLS-terminating proxy, until TLS support is added.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, RowIter, Statement};

mod audit;
mod customers;
mod keys;
mod records;
mod schema;

use crate::error::{Error, Result};
use crate::model::CustomerId;
use crate::storage::{AccessDirectory, Backend, DirectoryKind, Transaction, TxMode, Unmatched};
use schema::{DATA, KEYS};

/// Options for the PostgreSQL backend.
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connection string of the customer database (`postgresql://...` or
    /// `host=... dbname=...`).
    pub data_url: String,
    /// Connection string of the key-store database: a different database
    /// (ideally on another server, with other credentials).
    pub key_store_url: String,
    /// The PostgreSQL schema (namespace) the store's tables live in, in both
    /// databases; `None` uses each connection's default `search_path`.
    pub schema: Option<String>,
    /// How long a writer waits for its turn, and any statement for a lock
    /// (`lock_timeout`), before failing with [`Error::Busy`].
    pub busy_timeout: Duration,
    /// How long one statement may run (`statement_timeout`) before it is
    /// cancelled with [`Error::Busy`].
    pub statement_timeout: Duration,
    /// How long connecting to a server may take.
    pub connect_timeout: Duration,
    /// How many idle connection pairs (one to each database) are kept for
    /// reuse; more are opened when needed and closed when given back.
    pub pool_size: usize,
}

impl PostgresOptions {
    /// The defaults for these two databases: the default schema, a 5 s busy
    /// timeout, a 30 s statement timeout, a 10 s connect timeout, 8 pooled
    /// connection pairs.
    pub fn new(data_url: impl Into<String>, key_store_url: impl Into<String>) -> Self {
        PostgresOptions {
            data_url: data_url.into(),
            key_store_url: key_store_url.into(),
            schema: None,
            busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            pool_size: 8,
        }
    }

    /// Keeps the tables in schema `name` of both databases (created by
    /// [`Backend::prepare`] when creating). Letters, digits and `_` only,
    /// not starting with a digit, at most 63 characters.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// How long a writer waits for its turn (and any statement for a lock).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long one statement may run.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long connecting may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many idle connection pairs are kept for reuse.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }
}

impl std::fmt::Debug for PostgresOptions {
    // The connection strings may carry passwords: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("data_url", &"<redacted>")
            .field("key_store_url", &"<redacted>")
            .field("schema", &self.schema)
            .field("busy_timeout", &self.busy_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// Which database a session talks to, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Data,
    Keys,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Data => "customer database",
            Side::Keys => "key-store database",
        }
    }
}

/// A store kept in two PostgreSQL databases (see the module documentation
/// for how transactions are isolated).
///
/// The backend keeps no files: [`Backend::backup`] is refused for now,
/// [`Backend::private_dir`] is `None`, and [`Backend::purge_logs`] has
/// nothing to do. What PostgreSQL itself keeps of deleted rows (dead tuples
/// until VACUUM, its WAL, archives, replicas, base backups) is the database
/// operator's to bound.
pub struct PostgresBackend {
    data_config: postgres::Config,
    keys_config: postgres::Config,
    options: PostgresOptions,
    /// `SET` statements every new connection runs.
    settings: String,
    description: String,
    pool: Mutex<Vec<Pair>>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend").field("store", &self.description).finish()
    }
}

/// Whether `name` is a plain identifier (so it can be quoted as it is).
fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// Where a configuration points, without user or password.
fn describe_config(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default)"))
}

impl PostgresBackend {
    /// A backend for the two databases of `options`. Nothing is contacted
    /// until the store is opened or created; a malformed connection string
    /// or schema name is refused here.
    pub fn new(options: PostgresOptions) -> Result<Self> {
        let parse = |url: &str, side: Side| {
            // The parser's message names the option, never the password.
            postgres::Config::from_str(url).map_err(|e| {
                Error::storage(format!("the connection string of the PostgreSQL {} is malformed: {e}", side.name()))
            })
        };
        let mut data_config = parse(&options.data_url, Side::Data)?;
        let mut keys_config = parse(&options.key_store_url, Side::Keys)?;
        for config in [&mut data_config, &mut keys_config] {
            config.connect_timeout(options.connect_timeout);
            if config.get_application_name().is_none() {
                config.application_name("custodian");
            }
        }
        let mut settings = format!(
            "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms';",
            options.busy_timeout.as_millis().max(1),
            options.statement_timeout.as_millis().max(1)
        );
        let mut description =
            format!("PostgreSQL {} (key store {})", describe_config(&data_config), describe_config(&keys_config));
        if let Some(schema) = &options.schema {
            if !valid_schema_name(schema) {
                return Err(Error::InvalidArgument {
                    argument: "schema".into(),
                    rule: "postgres_schema_name",
                    message: "a schema name has letters, digits and '_' only, does not start with a digit, \
                              and is at most 63 characters long"
                        .into(),
                });
            }
            settings.push_str(&format!(" SET search_path TO \"{schema}\";"));
            description.push_str(&format!(", schema {schema}"));
        }
        Ok(PostgresBackend { data_config, keys_config, options, settings, description, pool: Mutex::new(Vec::new()) })
    }

    /// The options this backend was made with.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    fn connect(&self, side: Side) -> Result<Session> {
        let config = match side {
            Side::Data => &self.data_config,
            Side::Keys => &self.keys_config,
        };
        let mut client = config.connect(NoTls).map_err(|e| {
            let reason = match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            };
            Error::storage(format!(
                "cannot connect to the PostgreSQL {} at {}: {reason}",
                side.name(),
                describe_config(config)
            ))
        })?;
        client.batch_execute(&self.settings).map_err(|e| pg_error(side, e))?;
        Ok(Session { client, side, statements: HashMap::new(), in_transaction: false, failed: false })
    }

    fn take_pair(&self) -> Result<Pair> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(pair) => Ok(pair),
            None => self.new_pair(),
        }
    }

    fn new_pair(&self) -> Result<Pair> {
        Ok(Pair { data: self.connect(Side::Data)?, keys: self.connect(Side::Keys)? })
    }

    /// Returns a pair to the pool, if both connections are idle and healthy.
    fn give_back(&self, pair: Pair) {
        let healthy = |s: &Session| !s.in_transaction && !s.client.is_closed();
        if !healthy(&pair.data) || !healthy(&pair.keys) {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.options.pool_size {
            pool.push(pair);
        }
    }

    /// Begins the data side of a write transaction: takes the writer's turn,
    /// retrying (on an engine that runs it `SERIALIZABLE` anyway) while the
    /// turn changed hands under a stale snapshot.
    fn begin_write(&self, data: &mut Session) -> Result<()> {
        let deadline = Instant::now() + self.options.busy_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Busy);
            }
            // One round trip: begin, wait at most the remaining time for the
            // turn, then the full timeout again for whatever follows.
            let sql = format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '{}ms';
                 UPDATE writer_turn SET taken = taken + 1 WHERE id = 1;
                 SET LOCAL lock_timeout = '{}ms';",
                remaining.as_millis().max(1),
                self.options.busy_timeout.as_millis().max(1)
            );
            data.in_transaction = true;
            match data.client.batch_execute(&sql) {
                Ok(()) => {
                    data.failed = false;
                    return Ok(());
                }
                Err(e) => {
                    let serialization = e.code() == Some(&postgres::error::SqlState::T_R_SERIALIZATION_FAILURE);
                    data.rollback();
                    if !serialization {
                        return Err(pg_error(Side::Data, e));
                    }
                }
            }
        }
    }

    fn begin_on(&self, pair: &mut Pair, mode: TxMode) -> Result<()> {
        match mode {
            TxMode::Write | TxMode::WriteData => self.begin_write(&mut pair.data),
            TxMode::Read => {
                // The SELECTs pin both snapshots now, the data's first (keys
                // commit first, so a customer seen has its key), one right
                // after the other: a reader sees one state of both
                // databases, as near as two servers allow, not keys from
                // whenever it first reads one.
                let mut failure = None;
                for session in [&mut pair.data, &mut pair.keys] {
                    session.in_transaction = true;
                    session.failed = false;
                    let begun =
                        session.client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1");
                    if let Err(e) = begun {
                        failure = Some(pg_error(session.side, e));
                        break;
                    }
                }
                if let Some(e) = failure {
                    pair.data.rollback();
                    pair.keys.rollback();
                    return Err(e);
                }
                Ok(())
            }
        }
    }
}

impl Backend for PostgresBackend {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        let mut pair = self.take_pair()?;
        if let Err(e) = self.begin_on(&mut pair, mode) {
            // A pooled connection the server closed meanwhile: once more on
            // a new one.
            if !pair.data.client.is_closed() && !pair.keys.client.is_closed() {
                self.give_back(pair);
                return Err(e);
            }
            pair = self.new_pair()?;
            self.begin_on(&mut pair, mode)?;
        }
        Ok(Box::new(PostgresTx {
            backend: self,
            pair: Some(pair),
            keys_begun: mode == TxMode::Read,
            mode,
            bumped: None,
            changed: Vec::new(),
            pending_postings: Vec::new(),
            pending_grams: BTreeMap::new(),
        }))
    }

    fn prepare(&self, create: bool) -> Result<bool> {
        let mut pair = self.new_pair()?;
        if let Some(schema) = self.options.schema.as_ref().filter(|_| create) {
            for session in [&mut pair.data, &mut pair.keys] {
                session.batch(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))?;
            }
        }
        let existed = DATA.version(&mut pair.data)? > 0 && KEYS.version(&mut pair.keys)? > 0;
        if !create && !existed {
            return Err(Error::NotAStore(self.describe()));
        }
        if create && existed {
            self.give_back(pair);
            return Ok(true);
        }
        // The key store first, as every commit.
        KEYS.migrate(&mut pair.keys)?;
        DATA.migrate(&mut pair.data)?;
        self.give_back(pair);
        Ok(existed)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn backup(&self, _data_to: &std::path::Path, _keys_to: &std::path::Path) -> Result<()> {
        Err(Error::storage(format!(
            "{}: file backups are not supported on PostgreSQL yet (a consistent export of both databases is \
             separate work)",
            self.description
        )))
    }

    fn integrity_check(&self) -> Result<()> {
        // PostgreSQL checks its own pages; what can be checked from here is
        // that both databases are reachable and hold this library's schema.
        let mut pair = self.take_pair()?;
        for (component, session) in [(&DATA, &mut pair.data), (&KEYS, &mut pair.keys)] {
            let version = component.version(session)?;
            if version != component.latest() {
                return Err(Error::corrupt(format!(
                    "the {} holds schema version {version}, expected {}",
                    session.side.name(),
                    component.latest()
                )));
            }
        }
        self.give_back(pair);
        Ok(())
    }

    /// Nothing to do: this backend keeps no local files or write-ahead logs.
    /// What PostgreSQL itself retains of deleted rows (dead tuples until
    /// VACUUM, its WAL and archives, replicas, base backups) is the database
    /// operator's concern: schedule VACUUM and bound WAL retention to match
    /// the store's erasure promises.
    fn purge_logs(&self) -> Result<()> {
        Ok(())
    }
}

/// One connection to each database.
struct Pair {
    data: Session,
    keys: Session,
}

/// A connection with its prepared statements.
struct Session {
    client: Client,
    side: Side,
    statements: HashMap<String, Statement>,
    /// Whether a transaction is open on it.
    in_transaction: bool,
    /// Whether a statement failed in the open transaction: PostgreSQL then
    /// refuses every further statement, and would answer COMMIT by rolling
    /// back without an error, so commit must refuse instead.
    failed: bool,
}

/// Prepared statements kept per connection (the backend uses about 80).
const STATEMENT_CACHE: usize = 256;

/// Rows per page of a scan: scans read page by page (keyset pagination)
/// rather than as one statement, so a visitor that stops early ends the
/// transfer and a long scan never meets the statement timeout.
const PAGE: usize = 1000;

impl Session {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(|e| self.fail(e))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn forget_statements(&mut self) {
        self.statements.clear();
    }

    /// Notes a failure of a statement and maps its error.
    fn fail(&mut self, e: postgres::Error) -> Error {
        if self.in_transaction {
            self.failed = true;
        }
        pg_error(self.side, e)
    }

    fn decode_error(&self, e: postgres::Error) -> Error {
        Error::corrupt(format!("the PostgreSQL {} returned a value of an unexpected type: {e}", self.side.name()))
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params).map_err(|e| self.fail(e))
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params).map_err(|e| self.fail(e))
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params).map_err(|e| self.fail(e))
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params).map_err(|e| self.fail(e))
    }

    /// Streams the rows of a query instead of collecting them (for scans).
    fn stream<'a>(&'a mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Stream<'a>> {
        let statement = self.statement(sql)?;
        let Session { client, side, failed, in_transaction, .. } = self;
        match client.query_raw(&statement, params.iter().copied()) {
            Ok(rows) => Ok(Stream { rows, side: *side, failed }),
            Err(e) => {
                if *in_transaction {
                    *failed = true;
                }
                Err(pg_error(*side, e))
            }
        }
    }

    /// Runs statements without parameters, in one round trip.
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| self.fail(e))
    }

    /// Ends the open transaction, if any, without keeping its changes.
    fn rollback(&mut self) {
        if self.in_transaction && self.client.batch_execute("ROLLBACK").is_ok() {
            self.in_transaction = false;
            self.failed = false;
        }
    }

    /// Commits the open transaction, refusing one a failed statement
    /// aborted.
    fn commit(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::storage(format!(
                "a statement failed earlier in this transaction, so the PostgreSQL {} rolled it back",
                self.side.name()
            )));
        }
        // `SELECT 1` first: in a transaction the server aborted without the
        // client reading the error (a scan's remaining rows are discarded
        // unread), it fails with 25P02, where COMMIT alone would roll back
        // and report success.
        self.batch("SELECT 1; COMMIT")?;
        self.in_transaction = false;
        Ok(())
    }
}

/// Rows of a query as they arrive.
struct Stream<'a> {
    rows: RowIter<'a>,
    side: Side,
    failed: &'a mut bool,
}

impl Stream<'_> {
    fn next(&mut self) -> Result<Option<Row>> {
        self.rows.next().map_err(|e| {
            *self.failed = true;
            pg_error(self.side, e)
        })
    }
}

/// The crate's error for a PostgreSQL failure. Conflicts and timeouts are
/// [`Error::Busy`]; other server errors keep their SQLSTATE, message and
/// constraint but never the DETAIL, which can quote row contents (`Key
/// (external_code)=(...) already exists`).
fn pg_error(side: Side, e: postgres::Error) -> Error {
    use postgres::error::SqlState;
    if let Some(code) = e.code() {
        // 40001, 40P01, 55P03 and 57014 (statement_timeout or a cancel).
        if [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
        ]
        .contains(code)
        {
            return Error::Busy;
        }
    }
    if let Some(db) = e.as_db_error() {
        let mut message =
            format!("the PostgreSQL {} failed: {} (SQLSTATE {})", side.name(), db.message(), db.code().code());
        if let Some(constraint) = db.constraint() {
            message.push_str(&format!(", constraint {constraint}"));
        }
        if [SqlState::DATA_CORRUPTED, SqlState::INDEX_CORRUPTED].contains(db.code()) {
            return Error::corrupt(message);
        }
        return Error::storage(message);
    }
    if e.is_closed() {
        return Error::storage(format!("the connection to the PostgreSQL {} was closed", side.name()));
    }
    // Client-side errors (I/O, encoding, decoding) name no row contents.
    Error::storage(format!("the PostgreSQL {} failed: {e}", side.name()))
}

/// A random change-journal tag.
fn random_tag() -> Result<i64> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Crypto("system random number generator failed"))?;
    Ok(i64::from_be_bytes(bytes))
}

/// A column of a row, with a type mismatch reported as damage.
fn col<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(|e| Error::corrupt(format!("a PostgreSQL row holds a value of an unexpected type: {e}")))
}

/// An id column as a customer id.
fn customer_col(row: &Row, index: usize) -> Result<CustomerId> {
    col(row, index).map(CustomerId)
}

struct PostgresTx<'a> {
    backend: &'a PostgresBackend,
    pair: Option<Pair>,
    /// Whether the key-store side's transaction has begun (at its first use).
    keys_begun: bool,
    mode: TxMode,
    /// The customers generation this transaction moved on to, once it has.
    bumped: Option<i64>,
    /// The customers it inserted, replaced or deleted, for the change
    /// journal written at commit.
    changed: Vec<i64>,
    /// Keyword-index postings added but not yet written: written together
    /// (one statement per batch, not one per posting) before postings are
    /// read or removed, and at commit.
    pending_postings: Vec<(i64, i64)>,
    /// The register changes of the pending postings, per token: the first
    /// fingerprint, whether another one came, how many postings.
    pending_grams: BTreeMap<i64, (i64, bool, i64)>,
}

impl Drop for PostgresTx<'_> {
    fn drop(&mut self) {
        if let Some(mut pair) = self.pair.take() {
            // Not committed: roll back both. A connection that cannot roll
            // back stays marked in a transaction and is closed, not reused.
            pair.keys.rollback();
            pair.data.rollback();
            self.backend.give_back(pair);
        }
    }
}

impl PostgresTx<'_> {
    fn pair(&mut self) -> &mut Pair {
        self.pair.as_mut().expect("connections present until commit or drop")
    }

    /// The customer database, for reading.
    fn data(&mut self) -> &mut Session {
        &mut self.pair().data
    }

    /// The customer database, for a write.
    fn data_writable(&mut self) -> Result<&mut Session> {
        if self.mode == TxMode::Read {
            return Err(Error::storage("write attempted in a read transaction"));
        }
        Ok(self.data())
    }

    /// The key store, for reading; its transaction begins at first use.
    fn keys(&mut self) -> Result<&mut Session> {
        if !self.keys_begun {
            // Only a `Write` transaction may change keys; the others read
            // one snapshot (taken now, after the data's and after the turn).
            let begin = match self.mode {
                TxMode::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
                TxMode::WriteData | TxMode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            };
            let keys = &mut self.pair().keys;
            keys.in_transaction = true;
            keys.failed = false;
            keys.batch(begin)?;
            self.keys_begun = true;
        }
        Ok(&mut self.pair().keys)
    }

    /// The key store, for a write (only in `TxMode::Write`).
    fn keys_writable(&mut self) -> Result<&mut Session> {
        if self.mode != TxMode::Write {
            return Err(Error::storage("key store write attempted in a transaction that does not lock it"));
        }
        self.keys()
    }

    /// Both sessions at once (for scans that merge a data and a key stream),
    /// the key store's transaction begun.
    fn both(&mut self) -> Result<(&mut Session, &mut Session)> {
        self.keys()?;
        let pair = self.pair();
        Ok((&mut pair.data, &mut pair.keys))
    }
}

impl AccessDirectory for PostgresTx<'_> {
    fn directory_get(&mut self, kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>> {
        let row =
            self.data().query_opt("SELECT value FROM directory WHERE kind = $1 AND key = $2", &[&kind.name(), &key])?;
        row.map(|r| col(&r, 0)).transpose()
    }

    fn directory_put(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        self.directory_touch(kind, key, value)?;
        self.bump_directory_generation()
    }

    fn directory_touch(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        self.data_writable()?.execute(
            "INSERT INTO directory (kind, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
            &[&kind.name(), &key, &value],
        )?;
        Ok(())
    }

    fn directory_generation(&mut self) -> Result<u64> {
        let row = self.data().query_one("SELECT value FROM counters WHERE name = 'directory'", &[])?;
        Ok(col::<i64>(&row, 0)? as u64)
    }

    fn directory_delete(&mut self, kind: DirectoryKind, key: &str) -> Result<bool> {
        let removed = self
            .data_writable()?
            .execute("DELETE FROM directory WHERE kind = $1 AND key = $2", &[&kind.name(), &key])?;
        if removed > 0 {
            self.bump_directory_generation()?;
        }
        Ok(removed > 0)
    }

    fn directory_list(&mut self, kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>> {
        let rows =
            self.data().query("SELECT key, value FROM directory WHERE kind = $1 ORDER BY key", &[&kind.name()])?;
        rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
    }
}

impl PostgresTx<'_> {
    fn bump_directory_generation(&mut self) -> Result<()> {
        self.data_writable()?.execute("UPDATE counters SET value = value + 1 WHERE name = 'directory'", &[])?;
        Ok(())
    }
}

impl Transaction for PostgresTx<'_> {
    fn unmatched_keys(&mut self) -> Result<Unmatched> {
        // The two lists live in two databases: both streamed in id order and
        // merged here.
        let (data, keys) = self.both()?;
        let mut customers = data.stream("SELECT id, length(sealed) > 0 FROM customers ORDER BY id", &[])?;
        let mut key_rows = keys.stream("SELECT customer_id FROM data_keys ORDER BY customer_id", &[])?;
        let mut unmatched = Unmatched::default();
        let mut next_key = key_rows.next()?.map(|r| customer_col(&r, 0)).transpose()?;
        while let Some(row) = customers.next()? {
            let (id, sealed): (CustomerId, bool) = (customer_col(&row, 0)?, col(&row, 1)?);
            while let Some(key) = next_key.filter(|k| *k < id) {
                unmatched.orphan_keys.push(key);
                next_key = key_rows.next()?.map(|r| customer_col(&r, 0)).transpose()?;
            }
            if next_key == Some(id) {
                next_key = key_rows.next()?.map(|r| customer_col(&r, 0)).transpose()?;
            } else if sealed {
                unmatched.keyless_customers.push(id);
            }
        }
        while let Some(key) = next_key {
            unmatched.orphan_keys.push(key);
            next_key = key_rows.next()?.map(|r| customer_col(&r, 0)).transpose()?;
        }
        Ok(unmatched)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.mode != TxMode::Read {
            self.flush_postings()?;
            self.write_change_journal()?;
        }
        let mut pair = self.pair.take().expect("connections present until commit or drop");
        // The key store first: a crash before the data commits leaves a key
        // without its customer (found by `unmatched_keys`), never a readable
        // customer without the changes that came with it.
        let committed = (|| {
            // Neither side commits if a statement failed on either: the keys
            // must not commit while the data is bound to roll back.
            if pair.data.failed || pair.keys.failed {
                return Err(Error::storage(
                    "a statement failed earlier in this transaction, so nothing of it was committed",
                ));
            }
            if self.keys_begun {
                pair.keys.commit()?;
            }
            pair.data.commit()
        })();
        // On failure Drop rolls back whatever is still open.
        self.pair = Some(pair);
        committed
    }
}
