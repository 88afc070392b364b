//! The SQLite backend (the default): two files in one directory,
//! `customers.db` (customer data) and `keys.db` (the key store), both in WAL
//! mode with STRICT tables.
//!
//! Every connection opens the key store as `main` and attaches the customer
//! data as `data`, so one transaction covers both and a rollback undoes both.
//! In WAL mode SQLite commits attached files one after the other, `main`
//! first: a crash between the two commits can leave a new data key without
//! its customer (harmless), or an erased customer's rows without their key
//! (unreadable, i.e. still erased) — never a readable customer without the
//! changes that came with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

mod records;
mod schema;

use crate::consent::{Channel, ConsentRecord};
use crate::error::{Error, Result};
use crate::model::{CustomerId, RecordKind};
use crate::storage::{
    AccessDirectory, AuditFilter, AuditHead, AuditRecord, AuditRecordView, AuditStore, Backend, ChangeMark, ClassKey,
    CustomerChanges, CustomerData, CustomerHeader, CustomerRow, DirectoryKind, DueFilter, GramEntry, IndexLink,
    KeyStore, RecordRow, Scan, ScannedCustomer, SealedFields, StatusChange, StoredCheckpoint, Transaction, TxMode,
    Unmatched, WrappedKey,
};
use schema::{DATA, KEYS};

/// File name of the customer database inside a store directory.
pub const DATA_FILE: &str = "customers.db";
/// File name of the key store inside a store directory.
pub const KEYS_FILE: &str = "keys.db";

/// How hard SQLite works to make a commit survive power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` (the default): a commit survives a crash of the
    /// process; the last commits before a power loss may be rolled back, but
    /// the files are never corrupted.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it returns.
    Full,
}

/// Options for the SQLite backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long to wait for a lock held by another connection or process.
    pub busy_timeout: Duration,
    /// Commit durability.
    pub durability: Durability,
    /// Where the key store lives; `None` means `keys.db` beside the data.
    pub key_store_path: Option<PathBuf>,
}

impl SqliteOptions {
    /// The defaults: a 5 s busy timeout, normal durability, `keys.db` beside the data.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long to wait for a lock held by another connection or process.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Keeps the key store at `path` instead of beside the data.
    pub fn key_store_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_store_path = Some(path.into());
        self
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { busy_timeout: Duration::from_secs(5), durability: Durability::Normal, key_store_path: None }
    }
}

/// A store kept in SQLite files.
pub struct SqliteBackend {
    data_path: PathBuf,
    keys_path: PathBuf,
    options: SqliteOptions,
    pool: Mutex<Vec<Connection>>,
    /// The customer database's canonical path, once this backend opened it
    /// (it is then listed in [`OPEN_STORES`] until dropped).
    registered: Mutex<Option<PathBuf>>,
}

/// The customer databases open in this process, with how many backends hold
/// each: a restore must not replace the files under an open store.
static OPEN_STORES: Mutex<BTreeMap<PathBuf, usize>> = Mutex::new(BTreeMap::new());

/// Whether the store whose customer database is `data_path` is open in this
/// process (through any backend not yet dropped).
pub(crate) fn is_open(data_path: &Path) -> bool {
    let Ok(canonical) = std::fs::canonicalize(data_path) else { return false };
    OPEN_STORES.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&canonical)
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        let registered = self.registered.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(path) = registered {
            let mut open = OPEN_STORES.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = open.get_mut(&path) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&path);
                }
            }
        }
    }
}

impl SqliteBackend {
    /// A backend for the store in directory `dir` (`customers.db` and `keys.db`).
    /// Nothing is touched on disk until the store is opened or created.
    pub fn new(dir: impl AsRef<Path>, options: SqliteOptions) -> Self {
        let dir = dir.as_ref();
        let keys_path = options.key_store_path.clone().unwrap_or_else(|| dir.join(KEYS_FILE));
        SqliteBackend {
            data_path: dir.join(DATA_FILE),
            keys_path,
            options,
            pool: Mutex::new(Vec::new()),
            registered: Mutex::new(None),
        }
    }

    /// Lists this backend's store as open in this process.
    fn register(&self) {
        let mut registered = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        if registered.is_some() {
            return;
        }
        if let Ok(canonical) = std::fs::canonicalize(&self.data_path) {
            *OPEN_STORES.lock().unwrap_or_else(|p| p.into_inner()).entry(canonical.clone()).or_insert(0) += 1;
            *registered = Some(canonical);
        }
    }

    /// Path of the customer database file.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Path of the key store file.
    pub fn keys_path(&self) -> &Path {
        &self.keys_path
    }

    fn connect(&self, create: bool) -> Result<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&self.keys_path, flags).db()?;
        conn.busy_timeout(self.options.busy_timeout).db()?;
        // Every statement this backend runs stays prepared: rusqlite's
        // default cache (16) is smaller than the set one session call uses,
        // and re-preparing costs more than the statement itself.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let data = self.data_path.to_str().ok_or_else(|| Error::storage("store path is not valid UTF-8"))?;
        conn.execute("ATTACH DATABASE ?1 AS data", [data]).db()?;
        let sync = match self.options.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        // Page size only takes effect on a new file. Small pages keep the WAL
        // frames of an audited read (a few pages each) small.
        conn.execute_batch("PRAGMA data.page_size = 2048;").db()?;
        // journal_mode answers with a row, so it is read rather than executed.
        for schema in ["main", "data"] {
            let mode: String = conn.query_row(&format!("PRAGMA {schema}.journal_mode = WAL"), [], |r| r.get(0)).db()?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::storage(format!("could not switch {schema} to WAL mode (got {mode})")));
            }
            conn.execute_batch(&format!("PRAGMA {schema}.synchronous = {sync};")).db()?;
        }
        // A larger page cache keeps big batches from spilling pages into the
        // WAL mid-transaction; a longer WAL between checkpoints lets the audit
        // log's hot pages be copied back once instead of every thousand
        // commits. (Memory-mapped I/O was measured: no faster here, and it
        // counts the mapped file in resident memory.)
        // secure_delete: deleted content (an erased customer's ciphertext,
        // a destroyed data key) is overwritten, not left in free pages.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;
             PRAGMA main.secure_delete = ON; PRAGMA data.secure_delete = ON;
             PRAGMA main.cache_size = -2048; PRAGMA data.cache_size = -16384;
             PRAGMA wal_autocheckpoint = 4000;",
        )
        .db()?;
        Ok(conn)
    }

    fn take_connection(&self) -> Result<Connection> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect(false),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
    }
}

/// A stored checkpoint from a row of `SELECT size, head_mac, time, signature`.
fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: r.get::<_, i64>(0)? as u64,
        head_mac: r.get(1)?,
        time: r.get(2)?,
        signature: r.get(3)?,
    })
}

/// The crate's error for a SQLite failure, keeping SQLite's own error as the
/// source. SQLite's messages name tables and constraints, never bound
/// parameter values, so they are safe to pass on.
pub(super) fn db_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            Error::corrupt_caused("SQLite found the database damaged", e)
        }
        _ => Error::storage_caused("the SQLite database failed", e),
    }
}

/// `?` for SQLite results: `.db()?` maps the error with [`db_error`].
pub(super) trait Db<T> {
    /// The result with a SQLite error mapped to the crate's error.
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(db_error)
    }
}

impl Backend for SqliteBackend {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        let conn = self.take_connection()?;
        match mode {
            // Cached statements: parsing BEGIN and COMMIT on every call was a
            // measurable part of a point read.
            TxMode::Write => {
                conn.prepare_cached("BEGIN IMMEDIATE").db()?.execute([]).db()?;
            }
            TxMode::WriteData => {
                conn.prepare_cached("BEGIN DEFERRED").db()?.execute([]).db()?;
                // A write statement that changes nothing takes the customer
                // database's write lock (waiting out other writers) before any
                // read; then the key-store snapshot is pinned, read-only.
                conn.prepare_cached("UPDATE data.counters SET value = value WHERE 0").db()?.execute([]).db()?;
                conn.prepare_cached("SELECT count(*) FROM main.sqlite_master").db()?.query_row([], |_| Ok(())).db()?;
            }
            TxMode::Read => {
                conn.prepare_cached("BEGIN DEFERRED").db()?.execute([]).db()?;
                // Pin the data snapshot before the key-store snapshot: with
                // keys committed first, a customer visible here always has its key.
                conn.query_row("SELECT count(*) FROM data.sqlite_master", [], |_| Ok(())).db()?;
                conn.query_row("SELECT count(*) FROM main.sqlite_master", [], |_| Ok(())).db()?;
            }
        }
        Ok(Box::new(SqliteTx {
            backend: self,
            conn: Some(conn),
            mode,
            bumped: None,
            changed: Vec::new(),
            pending_postings: Default::default(),
            pending_grams: Default::default(),
        }))
    }

    fn prepare(&self, create: bool) -> Result<bool> {
        let exists = self.data_path.exists() && self.keys_path.exists();
        if !create && !exists {
            return Err(Error::NotAStore(self.describe()));
        }
        if create {
            for path in [&self.data_path, &self.keys_path] {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::storage_caused(format!("cannot create {}", parent.display()), e))?;
                }
            }
        }
        let conn = self.connect(create)?;
        let existed = DATA.version(&conn)? > 0 && KEYS.version(&conn)? > 0;
        if !create && !existed {
            return Err(Error::NotAStore(self.describe()));
        }
        if create && existed {
            return Ok(true);
        }
        conn.execute_batch("BEGIN IMMEDIATE").db()?;
        let migrated = DATA.migrate(&conn).and_then(|()| KEYS.migrate(&conn));
        match migrated {
            Ok(()) => conn.execute_batch("COMMIT").db()?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        self.give_back(conn);
        self.register();
        Ok(existed)
    }

    fn describe(&self) -> String {
        self.data_path.parent().map_or_else(|| self.data_path.display().to_string(), |p| p.display().to_string())
    }

    fn private_dir(&self) -> Option<PathBuf> {
        self.data_path.parent().map(Path::to_path_buf)
    }

    fn backup(&self, data_to: &Path, keys_to: &Path) -> Result<()> {
        for to in [data_to, keys_to] {
            if to.exists() {
                return Err(Error::AlreadyExists(to.display().to_string()));
            }
        }
        let conn = self.take_connection()?;
        // One read transaction pins both files' snapshots (data first, as
        // every read does), and both copies are taken inside it: the two
        // files agree, whatever writers in other connections do meanwhile.
        let copied = (|| {
            conn.execute_batch("BEGIN DEFERRED").db()?;
            conn.query_row("SELECT count(*) FROM data.sqlite_master", [], |_| Ok(())).db()?;
            conn.query_row("SELECT count(*) FROM main.sqlite_master", [], |_| Ok(())).db()?;
            let progress = None::<fn(rusqlite::backup::Progress)>;
            conn.backup("data", data_to, progress).db()?;
            conn.backup("main", keys_to, progress).db()?;
            conn.execute_batch("COMMIT").db()
        })();
        if copied.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            for to in [data_to, keys_to] {
                let _ = std::fs::remove_file(to);
            }
        }
        self.give_back(conn);
        copied
    }

    fn purge_logs(&self) -> Result<()> {
        let conn = self.take_connection()?;
        let result = (|| {
            for schema in ["main", "data"] {
                // TRUNCATE waits (busy handler) for readers of older frames,
                // copies every frame back and empties the file; `busy` = 1
                // means a reader still held the log when the timeout ran out.
                let busy: i64 =
                    conn.query_row(&format!("PRAGMA {schema}.wal_checkpoint(TRUNCATE)"), [], |r| r.get(0)).db()?;
                if busy != 0 {
                    let file = if schema == "main" { "key store" } else { "customer database" };
                    return Err(Error::storage(format!(
                        "the write-ahead log of the {file} could not be emptied: another connection kept reading \
                         past the busy timeout, so destroyed content stays in it until the next checkpoint"
                    )));
                }
            }
            Ok(())
        })();
        self.give_back(conn);
        result
    }

    fn integrity_check(&self) -> Result<()> {
        let conn = self.take_connection()?;
        for schema in ["main", "data"] {
            let verdict: String =
                conn.query_row(&format!("PRAGMA {schema}.integrity_check(1)"), [], |r| r.get(0)).db()?;
            if verdict != "ok" {
                self.give_back(conn);
                return Err(Error::corrupt(format!("integrity check of {schema}: {verdict}")));
            }
        }
        self.give_back(conn);
        Ok(())
    }
}

struct SqliteTx<'a> {
    backend: &'a SqliteBackend,
    conn: Option<Connection>,
    mode: TxMode,
    /// The customers generation this transaction moved on to, once it has.
    bumped: Option<i64>,
    /// The customers it inserted, replaced or deleted, for the change
    /// journal written at commit.
    changed: Vec<i64>,
    /// Keyword-index postings added but not yet written: a batch inserts
    /// them sorted by token at once (before a read or removal of postings,
    /// and at commit), so the postings tree is written in order instead of at
    /// random, which is what bulk inserts spent their time on.
    pending_postings: std::cell::RefCell<Vec<(i64, i64)>>,
    /// The register changes of the pending postings, per token: the first
    /// fingerprint, whether another one came, how many postings.
    pending_grams: std::cell::RefCell<BTreeMap<i64, (i64, bool, i64)>>,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed: roll back. A connection that cannot roll back is
            // in an unknown state and is closed rather than reused.
            if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
                self.backend.give_back(conn);
            }
        }
    }
}

const HEADER_COLUMNS: &str = "c.id, c.kind, c.external_code, c.category, c.source, c.tier, c.status, c.created_at, c.updated_at, c.version, c.key_id, c.region";

/// How many columns [`HEADER_COLUMNS`] has: what follows them starts here.
const HEADER_LEN: usize = 12;

/// Keyword-index postings a transaction holds back before writing them
/// sorted: enough for the writes of a batch to land together, bounded so a
/// million-row import or a rebuild keeps its memory (16 bytes each).
const PENDING_POSTINGS: usize = 65_536;

/// Prepared statements kept per connection (the backend has about 60).
const STATEMENT_CACHE: usize = 128;

/// A transaction that changes more customers than this leaves a journal
/// entry that lists none of them (caches behind it rebuild).
const JOURNAL_IDS: usize = 1024;

/// Change-journal entries kept (up to 63 more until the next pruning): a
/// cache more generations behind rebuilds.
const JOURNAL_KEPT: i64 = 1024;

fn read_header(r: &rusqlite::Row<'_>) -> rusqlite::Result<CustomerHeader> {
    Ok(CustomerHeader {
        id: CustomerId(r.get(0)?),
        kind: r.get(1)?,
        external_code: r.get(2)?,
        category: r.get(3)?,
        source: r.get(4)?,
        tier: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        version: r.get::<_, i64>(9)? as u64,
        key_id: r.get::<_, i64>(10)? as u64,
        region: r.get(11)?,
    })
}

/// The columns of a customer row (`?1` to `?12`, then the blind indexes, then
/// the region, in the statements below).
fn row_params(row: &CustomerRow) -> Result<Vec<Value>> {
    let h = &row.header;
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    let mut values = vec![
        Value::Integer(h.id.0),
        Value::Text(h.kind.clone()),
        text(&h.external_code),
        text(&h.category),
        text(&h.source),
        text(&h.tier),
        Value::Text(h.status.clone()),
        Value::Integer(h.created_at),
        Value::Integer(h.updated_at),
        Value::Integer(h.version as i64),
        Value::Integer(h.key_id as i64),
        Value::Blob(SealedFields::pack(&row.sealed).packed().to_vec()),
    ];
    for (field, _) in BLIND_COLUMNS {
        values.push(row.blind.get(field).map_or(Value::Null, |d| Value::Blob(d.clone())));
    }
    if let Some(unknown) = row.blind.keys().find(|f| !super::BLIND_INDEXED.contains(&f.as_str())) {
        return Err(Error::storage(format!("no blind index for field '{unknown}'")));
    }
    values.push(text(&h.region));
    Ok(values)
}

/// Fields with a blind index ([`super::BLIND_INDEXED`]), and the column that holds it.
const BLIND_COLUMNS: [(&str, &str); 4] = [
    ("mobile", "mobile_index"),
    ("email", "email_index"),
    ("id_number", "id_number_index"),
    ("credit_code", "credit_code_index"),
];

/// The blind-index columns, comma-separated (`prefix` before each).
fn blind_column_list(prefix: &str) -> String {
    BLIND_COLUMNS.iter().map(|(_, column)| format!("{prefix}{column}")).collect::<Vec<_>>().join(", ")
}

/// Inserts a customer row: the header, the sealed fields, the blind indexes.
static INSERT_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let placeholders = (1..=13 + BLIND_COLUMNS.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO data.customers (id, kind, external_code, category, source, tier, status, created_at,
         updated_at, version, key_id, sealed, {}, region) VALUES ({placeholders})",
        blind_column_list("")
    )
});

/// Updates a customer's unindexed columns and returns its indexed ones.
static UPDATE_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE data.customers SET kind = ?2, category = ?4, source = ?5, tier = ?6, status = ?7,
         created_at = ?8, updated_at = ?9, version = ?10, key_id = ?11, sealed = ?12, region = ?13
         WHERE id = ?1 AND version = ?14
         RETURNING external_code, {}",
        blind_column_list("")
    )
});

/// Reads one customer row with its blind indexes.
static GET_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {HEADER_COLUMNS}, c.sealed, {} FROM data.customers c WHERE c.id = ?1", blind_column_list("c."))
});

/// The statement of a scan: header columns, the sealed column (unless no
/// sealed field is wanted: then NULL, and it is not read at all), the data
/// key; `tail` picks and orders the rows.
fn scan_sql(fields: &[&str], tail: &str) -> String {
    format!(
        "SELECT {HEADER_COLUMNS}, {}, k.key_id, k.wrapped
         FROM data.customers c
         LEFT JOIN main.data_keys k ON k.customer_id = c.id
         {tail}",
        if fields.is_empty() { "NULL" } else { "c.sealed" }
    )
}

/// A scanned customer from a row of header columns, the sealed column (or
/// NULL) and the data key's id and wrapped bytes.
fn scanned_of(r: &rusqlite::Row<'_>) -> Result<ScannedCustomer> {
    let header = read_header(r).db()?;
    let sealed = match r.get_ref(HEADER_LEN).db()?.as_blob_or_null().map_err(rusqlite::Error::from).db()? {
        Some(packed) => SealedFields::from_packed(header.id, packed.to_vec())?,
        None => SealedFields::default(),
    };
    let key = match r.get::<_, Option<i64>>(HEADER_LEN + 1).db()? {
        Some(key_id) => Some(WrappedKey { key_id: key_id as u64, wrapped: r.get(HEADER_LEN + 2).db()? }),
        None => None,
    };
    Ok(ScannedCustomer { header, sealed, key })
}

impl SqliteTx<'_> {
    /// The stored classification of customer `id`, if it exists.
    fn stored_class(&self, id: CustomerId) -> Result<Option<ClassKey>> {
        self.conn()
            .prepare_cached("SELECT kind, category, source, tier, status, region FROM data.customers WHERE id = ?1")
            .db()?
            .query_row([id.0], |r| {
                Ok(ClassKey {
                    kind: r.get(0)?,
                    category: r.get(1)?,
                    source: r.get(2)?,
                    tier: r.get(3)?,
                    status: r.get(4)?,
                    region: r.get(5)?,
                })
            })
            .optional()
            .db()
    }

    /// Adds `delta` to the count of customers classified as `key`.
    fn count_class(&self, key: &ClassKey, delta: i64) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        self.writable()?
            .prepare_cached(
                "INSERT INTO data.class_counts (kind, category, source, tier, status, region, n)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (kind, category, source, tier, status, region) DO UPDATE SET n = n + excluded.n",
            )
            .db()?
            .execute(params![
                key.kind,
                text(&key.category),
                text(&key.source),
                text(&key.tier),
                key.status,
                text(&key.region),
                delta
            ])
            .db()?;
        Ok(())
    }

    /// Customer `id`'s stored keyword-index tokens.
    fn stored_tokens(&self, id: CustomerId) -> Result<Vec<u64>> {
        let blob: Option<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT tokens FROM data.search_tokens WHERE customer_id = ?1")
            .db()?
            .query_row([id.0], |r| r.get(0))
            .optional()
            .db()?;
        let blob = blob.unwrap_or_default();
        if blob.len() % 8 != 0 {
            return Err(Error::corrupt(format!("customer {id}'s keyword-index tokens are malformed")));
        }
        Ok(blob.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    /// Makes customer `id`'s tokens `wanted` (sorted), given the `stored`
    /// ones; `fingerprint` gives the gram fingerprint of each added token.
    /// Only the postings that differ are written; additions wait in the
    /// pending lists, removals happen at once.
    fn write_tokens(
        &self,
        id: CustomerId,
        stored: &[u64],
        wanted: &[u64],
        fingerprint: &dyn Fn(u64) -> Option<u64>,
    ) -> Result<()> {
        if stored == wanted {
            return Ok(());
        }
        let conn = self.writable()?;
        let (old, new): (BTreeSet<u64>, BTreeSet<u64>) =
            (stored.iter().copied().collect(), wanted.iter().copied().collect());
        if old.difference(&new).next().is_some() {
            self.flush_postings()?;
            let mut remove =
                conn.prepare_cached("DELETE FROM data.search_postings WHERE token = ?1 AND customer_id = ?2").db()?;
            let mut release = conn
                .prepare_cached("UPDATE data.search_grams SET holders = holders - 1 WHERE token = ?1 RETURNING holders")
                .db()?;
            let mut forget = conn.prepare_cached("DELETE FROM data.search_grams WHERE token = ?1").db()?;
            for token in old.difference(&new) {
                remove.execute(params![*token as i64, id.0]).db()?;
                let left: Option<i64> = release.query_row([*token as i64], |r| r.get(0)).optional().db()?;
                if left.is_some_and(|n| n <= 0) {
                    forget.execute([*token as i64]).db()?;
                }
            }
        }
        let mut postings = self.pending_postings.borrow_mut();
        let mut grams = self.pending_grams.borrow_mut();
        for token in new.difference(&old) {
            let fp = fingerprint(*token)
                .ok_or_else(|| Error::storage("a keyword-index token came without its fingerprint"))?
                as i64;
            postings.push((*token as i64, id.0));
            let entry = grams.entry(*token as i64).or_insert((fp, false, 0));
            entry.1 |= entry.0 != fp;
            entry.2 += 1;
        }
        let full = postings.len() >= PENDING_POSTINGS;
        drop((postings, grams));
        if full {
            self.flush_postings()?;
        }
        if wanted.is_empty() {
            conn.prepare_cached("DELETE FROM data.search_tokens WHERE customer_id = ?1").db()?.execute([id.0]).db()?;
        } else {
            let blob: Vec<u8> = wanted.iter().flat_map(|t| t.to_be_bytes()).collect();
            conn.prepare_cached(
                "INSERT INTO data.search_tokens (customer_id, tokens) VALUES (?1, ?2)
                 ON CONFLICT (customer_id) DO UPDATE SET tokens = excluded.tokens",
            )
            .db()?
            .execute(params![id.0, blob])
            .db()?;
        }
        Ok(())
    }

    /// Writes the pending postings, sorted.
    fn flush_postings(&self) -> Result<()> {
        let mut pending = std::mem::take(&mut *self.pending_postings.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_unstable();
        let conn = self.writable()?;
        let mut add =
            conn.prepare_cached("INSERT INTO data.search_postings (token, customer_id) VALUES (?1, ?2)").db()?;
        for (token, id) in pending {
            add.execute(params![token, id]).db()?;
        }
        let grams = std::mem::take(&mut *self.pending_grams.borrow_mut());
        let mut register = conn
            .prepare_cached(
                "INSERT INTO data.search_grams (token, fingerprint, mixed, holders) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (token) DO UPDATE SET holders = holders + excluded.holders,
                     mixed = mixed OR excluded.mixed OR fingerprint != excluded.fingerprint",
            )
            .db()?;
        for (token, (fingerprint, mixed, holders)) in grams {
            register.execute(params![token, fingerprint, mixed, holders]).db()?;
        }
        Ok(())
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until commit or drop")
    }

    /// The connection, for a write to the customer data.
    fn writable(&self) -> Result<&Connection> {
        if self.mode == TxMode::Read {
            return Err(Error::storage("write attempted in a read transaction"));
        }
        Ok(self.conn())
    }

    /// Marks customer `id` as changed: moves the generation on (once per
    /// transaction) and notes the id for the change journal.
    fn changing(&mut self, id: CustomerId) -> Result<()> {
        if self.bumped.is_none() {
            let generation: i64 = self
                .writable()?
                .prepare_cached("UPDATE data.counters SET value = value + 1 WHERE name = 'generation' RETURNING value")
                .db()?
                .query_row([], |r| r.get(0))
                .db()?;
            self.bumped = Some(generation);
        }
        // Past the journal's limit the entry lists none, so stop collecting
        // (an id changed twice may count twice: the entry then lists none,
        // and caches rebuild, which is safe).
        if self.changed.len() <= JOURNAL_IDS {
            self.changed.push(id.0);
        }
        Ok(())
    }

    /// Writes this transaction's entry in the change journal (its
    /// generation, a random tag, the ids it changed, or NULL for more than
    /// [`JOURNAL_IDS`]) and, every 64th generation, drops entries older than [`JOURNAL_KEPT`]
    /// generations.
    fn write_change_journal(&mut self) -> Result<()> {
        let Some(generation) = self.bumped else { return Ok(()) };
        let mut ids = std::mem::take(&mut self.changed);
        ids.sort_unstable();
        ids.dedup();
        let listed: Option<Vec<u8>> =
            (ids.len() <= JOURNAL_IDS).then(|| ids.iter().flat_map(|id| id.to_be_bytes()).collect());
        let conn = self.writable()?;
        conn.prepare_cached("INSERT INTO data.customer_changes (generation, tag, ids) VALUES (?1, random(), ?2)")
            .db()?
            .execute(params![generation, listed])
            .db()?;
        // Pruned every 64th generation, not on every write.
        if generation % 64 == 0 {
            conn.prepare_cached("DELETE FROM data.customer_changes WHERE generation <= ?1")
                .db()?
                .execute([generation - JOURNAL_KEPT])
                .db()?;
        }
        Ok(())
    }

    fn bump_directory_generation(&mut self) -> Result<()> {
        self.writable()?
            .prepare_cached("UPDATE data.counters SET value = value + 1 WHERE name = 'directory'")
            .db()?
            .execute([])
            .db()?;
        Ok(())
    }

    /// The connection, for a write to the key store.
    fn keys_writable(&self) -> Result<&Connection> {
        if self.mode != TxMode::Write {
            return Err(Error::storage("key store write attempted in a transaction that does not lock it"));
        }
        Ok(self.conn())
    }

    fn get_blob(&self, sql: &str, name: &str) -> Result<Option<Vec<u8>>> {
        self.conn().prepare_cached(sql).db()?.query_row([name], |r| r.get(0)).optional().db()
    }
}

/// An audit record from an `audit_entries` row (seq, time, principal,
/// action, outcome, value_hash, body, mac, customers).
fn audit_record(r: &rusqlite::Row<'_>) -> Result<AuditRecord> {
    let seq = r.get::<_, i64>(0).db()? as u64;
    let mut customers = Vec::new();
    unpack_ids_into(seq, r.get_ref(8).db()?.as_blob().map_err(rusqlite::Error::from).db()?, &mut customers)?;
    Ok(AuditRecord {
        seq,
        time: r.get(1).db()?,
        principal: r.get(2).db()?,
        action: r.get(3).db()?,
        outcome: r.get(4).db()?,
        value_hash: r.get(5).db()?,
        body: r.get(6).db()?,
        mac: r.get(7).db()?,
        customers,
    })
}

/// Reads the packed customer list of audit entry `seq` into `out`.
fn unpack_ids_into(seq: u64, packed: &[u8], out: &mut Vec<CustomerId>) -> Result<()> {
    if packed.len() % 8 != 0 {
        return Err(Error::corrupt(format!("the customer list of audit entry {seq} is malformed")));
    }
    out.clear();
    out.extend(packed.chunks_exact(8).map(|c| CustomerId(i64::from_be_bytes(c.try_into().expect("8 bytes")))));
    Ok(())
}

/// Customer ids as consecutive 8-byte big-endian integers.
fn pack_ids(ids: &[CustomerId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.0.to_be_bytes()).collect()
}

impl SqliteTx<'_> {
    /// The first sequence number whose entry time is at or after `time`
    /// (one past the last entry if none): a binary search over the
    /// primary key, valid because entry times never decrease.
    fn first_seq_at_or_after(&self, time: i64) -> Result<i64> {
        let mut at_or_after = self
            .conn()
            .prepare_cached("SELECT seq, time FROM data.audit_entries WHERE seq >= ?1 ORDER BY seq LIMIT 1")
            .db()?;
        let last: i64 = self
            .conn()
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM data.audit_entries")
            .db()?
            .query_row([], |r| r.get(0))
            .db()?;
        let (mut lo, mut hi) = (1i64, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match at_or_after.query_row([mid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional().db()? {
                Some((_, t)) if t >= time => hi = mid,
                Some((seq, _)) => lo = seq + 1,
                None => hi = mid,
            }
        }
        Ok(lo)
    }

    fn indexed_through(&self) -> Result<u64> {
        let n: Option<i64> = self
            .conn()
            .prepare_cached("SELECT indexed_through FROM data.audit_head WHERE id = 1")
            .db()?
            .query_row([], |r| r.get(0))
            .optional()
            .db()?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Adds the entries appended since the last audit query to the derived
    /// indexes (by customer, principal and looked-up value).
    fn catch_up_audit_index(&self) -> Result<u64> {
        let from = self.indexed_through()?;
        let conn = self.writable()?;
        let mut entries = conn
            .prepare_cached(
                "SELECT seq, time, principal, action, outcome, value_hash, body, mac, customers
             FROM data.audit_entries WHERE seq > ?1 ORDER BY seq",
            )
            .db()?;
        let mut by_customer =
            conn.prepare_cached("INSERT INTO data.audit_customers (customer_id, seq) VALUES (?1, ?2)").db()?;
        let mut by_principal =
            conn.prepare_cached("INSERT INTO data.audit_principals (principal, seq) VALUES (?1, ?2)").db()?;
        let mut by_value =
            conn.prepare_cached("INSERT INTO data.audit_values (value_hash, seq) VALUES (?1, ?2)").db()?;
        let mut rows = entries.query([from as i64]).db()?;
        let mut last = from;
        while let Some(r) = rows.next().db()? {
            let record = audit_record(r)?;
            let seq = record.seq as i64;
            for customer in &record.customers {
                by_customer.execute([customer.0, seq]).db()?;
            }
            by_principal.execute(params![record.principal, seq]).db()?;
            if let Some(hash) = &record.value_hash {
                by_value.execute(params![hash, seq]).db()?;
            }
            last = record.seq;
        }
        if last > from {
            conn.prepare_cached("UPDATE data.audit_head SET indexed_through = ?1 WHERE id = 1")
                .db()?
                .execute([last as i64])
                .db()?;
        }
        Ok(last)
    }
}

impl CustomerData for SqliteTx<'_> {
    fn meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        self.get_blob("SELECT value FROM data.meta WHERE name = ?1", name)
    }

    fn meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.writable()?
            .prepare_cached("INSERT INTO data.meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value").db()?
            .execute(params![name, value]).db()?;
        Ok(())
    }

    fn reserve_customer_ids(&mut self, count: u32) -> Result<CustomerId> {
        let last: i64 = self
            .writable()?
            .prepare_cached("UPDATE data.counters SET value = value + ?1 WHERE name = 'customer_id' RETURNING value")
            .db()?
            .query_row([count.max(1)], |r| r.get(0))
            .db()?;
        Ok(CustomerId(last - i64::from(count.max(1)) + 1))
    }

    fn insert_customer(&mut self, row: &CustomerRow) -> Result<()> {
        let values = row_params(row)?;
        self.changing(row.header.id)?;
        self.writable()?.prepare_cached(&INSERT_CUSTOMER).db()?.execute(params_from_iter(values)).db()?;
        self.write_tokens(row.header.id, &[], &row.search.applied_to(&[]), &|t| row.search.fingerprint(t))?;
        self.count_class(&ClassKey::of(&row.header), 1)
    }

    fn replace_customer(&mut self, row: &CustomerRow, expected_version: u64) -> Result<bool> {
        let mut values = row_params(row)?;
        self.changing(row.header.id)?;
        // Indexed columns (the external code and the blind indexes) are set
        // apart, and only when they change: naming an indexed column in an
        // UPDATE rewrites its index entry even when the value is the same,
        // which moves cells and dirties index pages that an incremental
        // backup would then carry.
        let region = values.pop().expect("row_params ends with the region");
        let before = self.stored_class(row.header.id)?;
        let blind = values.split_off(12);
        let code = std::mem::replace(&mut values[2], Value::Null);
        // RETURNING gives the stored indexed values, so the common update
        // (none of them changed) costs no further statement.
        let stored: Option<Vec<Value>> = self
            .writable()?
            .prepare_cached(&UPDATE_CUSTOMER)
            .db()?
            .query_row(
                params_from_iter(values.iter().cloned().chain([region, Value::Integer(expected_version as i64)])),
                |r| (0..=BLIND_COLUMNS.len()).map(|i| r.get::<_, Value>(i)).collect(),
            )
            .optional()
            .db()?;
        let changed = stored.is_some();
        let wanted =
            std::iter::once(("external_code", code)).chain(BLIND_COLUMNS.iter().map(|(_, column)| *column).zip(blind));
        for ((column, value), old) in wanted.zip(stored.unwrap_or_default()) {
            if value != old {
                self.writable()?
                    .prepare_cached(&format!("UPDATE data.customers SET {column} = ?2 WHERE id = ?1"))
                    .db()?
                    .execute(params_from_iter([values[0].clone(), value]))
                    .db()?;
            }
        }
        if changed && !row.search.is_empty() {
            let stored = self.stored_tokens(row.header.id)?;
            self.write_tokens(row.header.id, &stored, &row.search.applied_to(&stored), &|t| row.search.fingerprint(t))?;
        }
        let after = ClassKey::of(&row.header);
        if let Some(before) = before.filter(|before| changed && *before != after) {
            self.count_class(&before, -1)?;
            self.count_class(&after, 1)?;
        }
        Ok(changed)
    }

    fn delete_customer(&mut self, id: CustomerId) -> Result<bool> {
        self.changing(id)?;
        records::delete_of(self.writable()?, id)?;
        self.writable()?
            .prepare_cached("DELETE FROM data.consent_events WHERE customer_id = ?1")
            .db()?
            .execute([id.0])
            .db()?;
        let Some(before) = self.stored_class(id)? else { return Ok(false) };
        let stored = self.stored_tokens(id)?;
        self.write_tokens(id, &stored, &[], &|_| None)?;
        self.writable()?.prepare_cached("DELETE FROM data.customers WHERE id = ?1").db()?.execute([id.0]).db()?;
        self.count_class(&before, -1)?;
        Ok(true)
    }

    fn get_customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>> {
        let row = self
            .conn()
            .prepare_cached(&GET_CUSTOMER)
            .db()?
            .query_row([id.0], |r| {
                let blind: Vec<Option<Vec<u8>>> = (HEADER_LEN + 1..HEADER_LEN + 1 + BLIND_COLUMNS.len())
                    .map(|i| r.get(i))
                    .collect::<rusqlite::Result<_>>()?;
                Ok((read_header(r)?, r.get::<_, Vec<u8>>(HEADER_LEN)?, blind))
            })
            .optional()
            .db()?;
        let Some((header, packed, blind)) = row else { return Ok(None) };
        let sealed = SealedFields::from_packed(id, packed)?.to_map();
        let blind = BLIND_COLUMNS
            .iter()
            .zip(blind)
            .filter_map(|((field, _), digest)| digest.map(|d| ((*field).to_owned(), d)))
            .collect();
        Ok(Some(CustomerRow { header, sealed, blind, search: Default::default() }))
    }

    fn search_postings(&mut self, token: u64) -> Result<Vec<CustomerId>> {
        self.flush_postings()?;
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT customer_id FROM data.search_postings WHERE token = ?1 ORDER BY customer_id")
            .db()?;
        let ids = stmt.query_map([token as i64], |r| r.get(0).map(CustomerId)).db()?;
        ids.collect::<rusqlite::Result<Vec<_>>>().db()
    }

    fn search_gram(&mut self, token: u64) -> Result<Option<GramEntry>> {
        self.flush_postings()?;
        self.conn()
            .prepare_cached("SELECT fingerprint, mixed FROM data.search_grams WHERE token = ?1")
            .db()?
            .query_row([token as i64], |r| {
                Ok(GramEntry { fingerprint: r.get::<_, i64>(0)? as u64, mixed: r.get::<_, i64>(1)? != 0 })
            })
            .optional()
            .db()
    }

    fn put_search_tokens(&mut self, id: CustomerId, tokens: &[(u64, u64)]) -> Result<()> {
        let stored = self.stored_tokens(id)?;
        let wanted: Vec<u64> = tokens.iter().map(|(t, _)| *t).collect();
        let fingerprints: BTreeMap<u64, u64> = tokens.iter().copied().collect();
        self.write_tokens(id, &stored, &wanted, &|t| fingerprints.get(&t).copied())
    }

    fn blind_groups(&mut self, field: &str) -> Result<Vec<Vec<CustomerId>>> {
        // The column name comes from a fixed list, never from the caller.
        let Some((_, column)) = BLIND_COLUMNS.iter().find(|(name, _)| *name == field) else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {column}, id FROM data.customers WHERE {column} IN
                   (SELECT {column} FROM data.customers WHERE {column} IS NOT NULL
                    GROUP BY {column} HAVING count(*) > 1)
                 ORDER BY {column}, id"
            ))
            .db()?;
        let mut rows = stmt.query([]).db()?;
        let mut groups: Vec<Vec<CustomerId>> = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        while let Some(r) = rows.next().db()? {
            let digest: Vec<u8> = r.get(0).db()?;
            let id = CustomerId(r.get(1).db()?);
            match groups.last_mut() {
                Some(group) if last.as_deref() == Some(digest.as_slice()) => group.push(id),
                _ => groups.push(vec![id]),
            }
            last = Some(digest);
        }
        Ok(groups)
    }

    fn find_external_code(&mut self, code: &str) -> Result<Option<CustomerId>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT id FROM data.customers WHERE external_code = ?1")
            .db()?
            .query_row([code], |r| r.get(0))
            .optional()
            .db()?
            .map(CustomerId))
    }

    fn find_blind(&mut self, field: &str, digest: &[u8]) -> Result<Vec<CustomerId>> {
        // The column name comes from a fixed list, never from the caller.
        let Some((_, column)) = BLIND_COLUMNS.iter().find(|(name, _)| *name == field) else {
            return Ok(Vec::new());
        };
        // The explicit IS NOT NULL matches the partial index's condition, so
        // the plan does not depend on the bound value and the statement is
        // not re-prepared for every new digest. Matches are few: they are
        // sorted here rather than by a sorter in SQLite.
        let mut ids: Vec<CustomerId> = self
            .conn()
            .prepare_cached(&format!("SELECT id FROM data.customers WHERE {column} = ?1 AND {column} IS NOT NULL"))
            .db()?
            .query_map([digest], |r| r.get(0).map(CustomerId))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()?;
        ids.sort();
        Ok(ids)
    }

    fn customers_change_mark(&mut self) -> Result<ChangeMark> {
        let (generation, tag): (i64, Option<i64>) = self
            .conn()
            .prepare_cached(
                "SELECT c.value, j.tag FROM data.counters c \
                 LEFT JOIN data.customer_changes j ON j.generation = c.value WHERE c.name = 'generation'",
            )
            .db()?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .db()?;
        // Inside a write transaction that changed customers the entry is not
        // written yet: tag 0 matches no journal entry, so nothing trusts it.
        Ok(ChangeMark { generation: generation as u64, tag: tag.unwrap_or(0) as u64 })
    }

    fn customers_changed_since(&mut self, since: ChangeMark) -> Result<Option<CustomerChanges>> {
        let now = self.customers_change_mark()?;
        if now == since {
            return Ok(Some(CustomerChanges { now, ids: Vec::new() }));
        }
        let Ok(from) = i64::try_from(since.generation) else { return Ok(None) };
        let tag: Option<i64> = self
            .conn()
            .prepare_cached("SELECT tag FROM data.customer_changes WHERE generation = ?1")
            .db()?
            .query_row([from], |r| r.get(0))
            .optional()
            .db()?;
        if tag.map(|t| t as u64) != Some(since.tag) {
            return Ok(None);
        }
        let mut statement = self
            .conn()
            .prepare_cached(
                "SELECT generation, ids FROM data.customer_changes WHERE generation > ?1 ORDER BY generation",
            )
            .db()?;
        let mut rows = statement.query([from]).db()?;
        let (mut expected, mut ids) = (from + 1, Vec::new());
        while let Some(row) = rows.next().db()? {
            let generation: i64 = row.get(0).db()?;
            let Some(listed) = row.get::<_, Option<Vec<u8>>>(1).db()? else { return Ok(None) };
            if generation != expected || listed.len() % 8 != 0 {
                return Ok(None);
            }
            ids.extend(listed.chunks_exact(8).map(|b| CustomerId(i64::from_be_bytes(b.try_into().expect("8 bytes")))));
            expected += 1;
        }
        if expected - 1 != now.generation as i64 {
            return Ok(None);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Some(CustomerChanges { now, ids }))
    }

    fn count_customers(&mut self) -> Result<u64> {
        let n: i64 =
            self.conn().prepare_cached("SELECT count(*) FROM data.customers").db()?.query_row([], |r| r.get(0)).db()?;
        Ok(n as u64)
    }

    fn class_counts(&mut self) -> Result<Vec<(ClassKey, u64)>> {
        // Kept by every write (`count_class`): a few hundred rows at most.
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT kind, category, source, tier, status, region, n FROM data.class_counts WHERE n > 0
                 ORDER BY kind, category, source, tier, status, region",
            )
            .db()?;
        let none_if_empty = |s: String| (!s.is_empty()).then_some(s);
        let rows = stmt
            .query_map([], |r| {
                let key = ClassKey {
                    kind: r.get(0)?,
                    category: none_if_empty(r.get(1)?),
                    source: none_if_empty(r.get(2)?),
                    tier: none_if_empty(r.get(3)?),
                    status: r.get(4)?,
                    region: none_if_empty(r.get(5)?),
                };
                Ok((key, r.get::<_, i64>(6)? as u64))
            })
            .db()?;
        rows.collect::<rusqlite::Result<_>>().db()
    }

    fn scan_customers(
        &mut self,
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(&scan_sql(fields, "ORDER BY c.id")).db()?;
        let mut rows = stmt.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            if visit(scanned_of(r)?)? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn scan_customers_by_id(
        &mut self,
        ids: &[CustomerId],
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(&scan_sql(fields, "WHERE c.id = ?1")).db()?;
        for id in ids {
            let mut rows = stmt.query([id.0]).db()?;
            let Some(r) = rows.next().db()? else { continue };
            let scanned = scanned_of(r)?;
            drop(rows);
            if visit(scanned)? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn next_record_id(&mut self) -> Result<u64> {
        records::next_id(self.writable()?)
    }

    fn insert_record(&mut self, row: &RecordRow) -> Result<()> {
        records::insert(self.writable()?, row)
    }

    fn replace_record(&mut self, row: &RecordRow, expected_version: u64) -> Result<bool> {
        records::replace(self.writable()?, row, expected_version)
    }

    fn get_record(&mut self, id: u64) -> Result<Option<RecordRow>> {
        records::get(self.conn(), id)
    }

    fn delete_record(&mut self, id: u64) -> Result<bool> {
        records::delete(self.writable()?, id)
    }

    fn records_of(&mut self, customer: CustomerId, before: Option<(i64, u64)>, limit: u32) -> Result<Vec<RecordRow>> {
        records::of_customer(self.conn(), customer, before, limit)
    }

    fn records_due(&mut self, filter: &DueFilter) -> Result<Vec<RecordRow>> {
        records::due(self.conn(), filter)
    }

    fn records_retained_since(&mut self, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>> {
        records::retained_since(self.conn(), kind, cutoff)
    }

    fn append_status_change(&mut self, record: u64, change: &StatusChange) -> Result<()> {
        records::append_change(self.writable()?, record, change)
    }

    fn status_history(&mut self, record: u64) -> Result<Vec<StatusChange>> {
        records::history(self.conn(), record)
    }

    fn append_consent(&mut self, record: &ConsentRecord) -> Result<()> {
        self.writable()?
            .prepare_cached(
                "INSERT INTO data.consent_events (customer_id, purpose, channel, granted, at, source, policy_version, recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            ).db()?
            .execute(params![
                record.customer.0,
                record.purpose,
                record.channel.name(),
                record.granted,
                record.at,
                record.source,
                record.policy_version,
                record.recorded_by
            ]).db()?;
        Ok(())
    }

    fn consents_of(&mut self, customer: CustomerId) -> Result<Vec<ConsentRecord>> {
        // `+?1`: see `records::collect`.
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT customer_id, purpose, channel, granted, at, source, policy_version, recorded_by
             FROM data.consent_events WHERE customer_id = +?1 ORDER BY seq",
            )
            .db()?;
        let mut rows = stmt.query([customer.0]).db()?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().db()? {
            out.push(ConsentRecord {
                customer: CustomerId(r.get(0).db()?),
                purpose: r.get(1).db()?,
                channel: Channel::parse(&r.get::<_, String>(2).db()?)
                    .map_err(|_| Error::corrupt("a consent record names an unknown channel"))?,
                granted: r.get(3).db()?,
                at: r.get(4).db()?,
                source: r.get(5).db()?,
                policy_version: r.get(6).db()?,
                recorded_by: r.get(7).db()?,
            });
        }
        Ok(out)
    }

    fn consenting(&mut self, purpose: &str, channel: Channel) -> Result<Vec<CustomerId>> {
        // The latest record per customer decides.
        self.conn()
            .prepare_cached(
                "SELECT customer_id FROM data.consent_events e
                 WHERE purpose = ?1 AND channel = ?2 AND granted = 1
                   AND seq = (SELECT max(seq) FROM data.consent_events l
                              WHERE l.customer_id = e.customer_id AND l.purpose = ?1 AND l.channel = ?2)
                 ORDER BY customer_id",
            )
            .db()?
            .query_map(params![purpose, channel.name()], |r| r.get(0).map(CustomerId))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }
}

impl KeyStore for SqliteTx<'_> {
    fn key_meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        self.get_blob("SELECT value FROM main.meta WHERE name = ?1", name)
    }

    fn key_meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.keys_writable()?
            .prepare_cached("INSERT INTO main.meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value").db()?
            .execute(params![name, value]).db()?;
        Ok(())
    }

    fn put_data_key(&mut self, customer: CustomerId, key: &WrappedKey) -> Result<()> {
        self.keys_writable()?
            .prepare_cached(
                "INSERT INTO main.data_keys (customer_id, key_id, wrapped) VALUES (?1, ?2, ?3)
                 ON CONFLICT (customer_id) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped",
            )
            .db()?
            .execute(params![customer.0, key.key_id as i64, key.wrapped])
            .db()?;
        Ok(())
    }

    fn get_data_key(&mut self, customer: CustomerId) -> Result<Option<WrappedKey>> {
        self.conn()
            .prepare_cached("SELECT key_id, wrapped FROM main.data_keys WHERE customer_id = ?1")
            .db()?
            .query_row([customer.0], |r| Ok(WrappedKey { key_id: r.get::<_, i64>(0)? as u64, wrapped: r.get(1)? }))
            .optional()
            .db()
    }

    fn delete_data_key(&mut self, customer: CustomerId) -> Result<bool> {
        let n = self
            .keys_writable()?
            .prepare_cached("DELETE FROM main.data_keys WHERE customer_id = ?1")
            .db()?
            .execute([customer.0])
            .db()?;
        Ok(n > 0)
    }

    fn data_keys(&mut self) -> Result<Vec<(CustomerId, WrappedKey)>> {
        self.conn()
            .prepare_cached("SELECT customer_id, key_id, wrapped FROM main.data_keys ORDER BY customer_id")
            .db()?
            .query_map([], |r| {
                Ok((CustomerId(r.get(0)?), WrappedKey { key_id: r.get::<_, i64>(1)? as u64, wrapped: r.get(2)? }))
            })
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }

    fn count_data_keys(&mut self) -> Result<u64> {
        let n: i64 =
            self.conn().prepare_cached("SELECT count(*) FROM main.data_keys").db()?.query_row([], |r| r.get(0)).db()?;
        Ok(n as u64)
    }

    fn record_erasure(&mut self, hash: &[u8], at: i64) -> Result<()> {
        self.keys_writable()?
            .prepare_cached("INSERT OR IGNORE INTO main.erasure_ledger (hash, at) VALUES (?1, ?2)")
            .db()?
            .execute(params![hash, at])
            .db()?;
        Ok(())
    }

    fn erasure_ledger(&mut self) -> Result<Vec<Vec<u8>>> {
        self.conn()
            .prepare_cached("SELECT hash FROM main.erasure_ledger ORDER BY hash")
            .db()?
            .query_map([], |r| r.get(0))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }
}

impl AuditStore for SqliteTx<'_> {
    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        self.conn()
            .prepare_cached("SELECT seq, mac, time FROM data.audit_head WHERE id = 1")
            .db()?
            .query_row([], |r| Ok(AuditHead { seq: r.get::<_, i64>(0)? as u64, mac: r.get(1)?, time: r.get(2)? }))
            .optional()
            .db()
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<()> {
        // Two pages change per entry: the log's last page and the head. The
        // query indexes are brought up to date later, by the next audit query.
        let conn = self.writable()?;
        let seq = record.seq as i64;
        conn.prepare_cached(
            "INSERT INTO data.audit_entries (seq, time, principal, action, outcome, value_hash, customers, body, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .db()?
        .execute(params![
            seq,
            record.time,
            record.principal,
            record.action,
            record.outcome,
            record.value_hash,
            pack_ids(&record.customers),
            record.body,
            record.mac
        ])
        .db()?;
        conn.prepare_cached(
            "INSERT INTO data.audit_head (id, seq, mac, time) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, time = excluded.time",
        )
        .db()?
        .execute(params![seq, record.mac, record.time])
        .db()?;
        Ok(())
    }

    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()> {
        let indexed = if self.mode == TxMode::Read { self.indexed_through()? } else { self.catch_up_audit_index()? };
        let mut conditions = vec!["e.seq > ?".to_owned()];
        let mut values: Vec<Value> = vec![Value::Integer(filter.after_seq as i64)];
        // Entry times never decrease, so a time window is a sequence range:
        // found by binary search instead of an index on time.
        if let Some(from) = filter.from_time {
            conditions.push("e.seq >= ?".to_owned());
            values.push(Value::Integer(self.first_seq_at_or_after(from)?));
        }
        if let Some(to) = filter.to_time {
            conditions.push("e.seq < ?".to_owned());
            values.push(Value::Integer(self.first_seq_at_or_after(to)?));
        }
        // The derived indexes answer for the entries they cover; newer ones
        // (only possible in a read-only transaction) are filtered directly.
        let through = Value::Integer(indexed as i64);
        if let Some(customer) = filter.customer {
            conditions.push(
                "(e.seq IN (SELECT seq FROM data.audit_customers WHERE customer_id = ?) OR e.seq > ?)".to_owned(),
            );
            values.extend([Value::Integer(customer.0), through.clone()]);
        }
        if let Some(principal) = &filter.principal {
            conditions.push(
                "(e.seq IN (SELECT seq FROM data.audit_principals WHERE principal = ?) OR e.seq > ?) AND e.principal = ?"
                    .to_owned(),
            );
            values.extend([Value::Text(principal.clone()), through.clone(), Value::Text(principal.clone())]);
        }
        if let Some(hash) = &filter.value_hash {
            conditions.push(
                "(e.seq IN (SELECT seq FROM data.audit_values WHERE value_hash = ?) OR e.seq > ?) AND e.value_hash = ?"
                    .to_owned(),
            );
            values.extend([Value::Blob(hash.clone()), through, Value::Blob(hash.clone())]);
        }
        let mut add = |condition: &str, value: Value| {
            conditions.push(condition.to_owned());
            values.push(value);
        };
        if let Some(from) = filter.from_time {
            add("e.time >= ?", Value::Integer(from));
        }
        if let Some(to) = filter.to_time {
            add("e.time < ?", Value::Integer(to));
        }
        if let Some(outcome) = &filter.outcome {
            add("e.outcome = ?", Value::Text(outcome.clone()));
        }
        let sql = format!(
            "SELECT e.seq, e.time, e.principal, e.action, e.outcome, e.value_hash, e.body, e.mac, e.customers
             FROM data.audit_entries e WHERE {} ORDER BY e.seq",
            conditions.join(" AND ")
        );
        let mut stmt = self.conn().prepare_cached(&sql).db()?;
        let mut rows = stmt.query(params_from_iter(values)).db()?;
        while let Some(r) = rows.next().db()? {
            let record = audit_record(r)?;
            if filter.customer.is_some_and(|c| !record.customers.contains(&c)) {
                continue;
            }
            if visit(record)? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn scan_audit_views(&mut self, visit: &mut dyn FnMut(&AuditRecordView<'_>) -> Result<Scan>) -> Result<()> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT seq, time, principal, action, outcome, value_hash, body, mac, customers
                 FROM data.audit_entries ORDER BY seq",
            )
            .db()?;
        let mut rows = stmt.query([]).db()?;
        // One customer buffer for the whole scan; every other column is
        // lent straight from SQLite's row.
        let mut customers: Vec<CustomerId> = Vec::new();
        while let Some(r) = rows.next().db()? {
            let seq = r.get::<_, i64>(0).db()? as u64;
            unpack_ids_into(seq, r.get_ref(8).db()?.as_blob().map_err(rusqlite::Error::from).db()?, &mut customers)?;
            let text = |i: usize| r.get_ref(i).db()?.as_str().map_err(rusqlite::Error::from).db();
            let view = AuditRecordView {
                seq,
                time: r.get(1).db()?,
                principal: text(2)?,
                action: text(3)?,
                outcome: text(4)?,
                value_hash: r.get_ref(5).db()?.as_blob_or_null().map_err(rusqlite::Error::from).db()?,
                body: r.get_ref(6).db()?.as_blob().map_err(rusqlite::Error::from).db()?,
                mac: r.get_ref(7).db()?.as_blob().map_err(rusqlite::Error::from).db()?,
                customers: &customers,
            };
            if visit(&view)? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn scan_audit_index(&mut self, visit: &mut dyn FnMut(IndexLink<'_>) -> Result<()>) -> Result<u64> {
        let indexed = self.indexed_through()?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT customer_id, seq FROM data.audit_customers").db()?;
        let mut rows = stmt.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            visit(IndexLink::Customer(CustomerId(r.get(0).db()?), r.get::<_, i64>(1).db()? as u64))?;
        }
        let mut stmt = conn.prepare_cached("SELECT principal, seq FROM data.audit_principals").db()?;
        let mut rows = stmt.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            visit(IndexLink::Principal(
                r.get_ref(0).db()?.as_str().map_err(rusqlite::Error::from).db()?,
                r.get::<_, i64>(1).db()? as u64,
            ))?;
        }
        let mut stmt = conn.prepare_cached("SELECT value_hash, seq FROM data.audit_values").db()?;
        let mut rows = stmt.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            visit(IndexLink::Value(
                r.get_ref(0).db()?.as_blob().map_err(rusqlite::Error::from).db()?,
                r.get::<_, i64>(1).db()? as u64,
            ))?;
        }
        Ok(indexed)
    }

    fn put_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<()> {
        self.writable()?
            .prepare_cached(
                "INSERT INTO data.audit_checkpoints (size, head_mac, time, signature) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (size) DO UPDATE SET head_mac = excluded.head_mac, time = excluded.time,
                 signature = excluded.signature",
            )
            .db()?
            .execute(params![checkpoint.size as i64, checkpoint.head_mac, checkpoint.time, checkpoint.signature])
            .db()?;
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>> {
        self.conn()
            .prepare_cached("SELECT size, head_mac, time, signature FROM data.audit_checkpoints ORDER BY size")
            .db()?
            .query_map([], checkpoint_row)
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }

    fn last_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>> {
        self.conn()
            .prepare_cached(
                "SELECT size, head_mac, time, signature FROM data.audit_checkpoints ORDER BY size DESC LIMIT 1",
            )
            .db()?
            .query_row([], checkpoint_row)
            .optional()
            .db()
    }
}

impl AccessDirectory for SqliteTx<'_> {
    fn directory_get(&mut self, kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn()
            .prepare_cached("SELECT value FROM data.directory WHERE kind = ?1 AND key = ?2")
            .db()?
            .query_row(params![kind.name(), key], |r| r.get(0))
            .optional()
            .db()
    }

    fn directory_put(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        self.directory_touch(kind, key, value)?;
        self.bump_directory_generation()
    }

    fn directory_touch(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        self.writable()?
            .prepare_cached("INSERT OR REPLACE INTO data.directory (kind, key, value) VALUES (?1, ?2, ?3)")
            .db()?
            .execute(params![kind.name(), key, value])
            .db()?;
        Ok(())
    }

    fn directory_generation(&mut self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .prepare_cached("SELECT value FROM data.counters WHERE name = 'directory'")
            .db()?
            .query_row([], |r| r.get(0))
            .db()?;
        Ok(n as u64)
    }

    fn directory_delete(&mut self, kind: DirectoryKind, key: &str) -> Result<bool> {
        let removed = self
            .writable()?
            .prepare_cached("DELETE FROM data.directory WHERE kind = ?1 AND key = ?2")
            .db()?
            .execute(params![kind.name(), key])
            .db()?;
        if removed > 0 {
            self.bump_directory_generation()?;
        }
        Ok(removed > 0)
    }

    fn directory_list(&mut self, kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>> {
        self.conn()
            // `+?1`: see `records::collect` (a bare `kind = ?1` whose
            // index serves the ORDER BY is re-prepared after every use).
            .prepare_cached("SELECT key, value FROM data.directory WHERE kind = +?1 ORDER BY key")
            .db()?
            .query_map([kind.name()], |r| Ok((r.get(0)?, r.get(1)?)))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }
}

impl Transaction for SqliteTx<'_> {
    fn unmatched_keys(&mut self) -> Result<Unmatched> {
        let ids = |conn: &Connection, sql: &str| -> Result<Vec<CustomerId>> {
            conn.prepare_cached(sql)
                .db()?
                .query_map([], |r| r.get(0).map(CustomerId))
                .db()?
                .collect::<rusqlite::Result<_>>()
                .db()
        };
        let conn = self.conn();
        Ok(Unmatched {
            orphan_keys: ids(
                conn,
                "SELECT customer_id FROM main.data_keys k
                 WHERE NOT EXISTS (SELECT 1 FROM data.customers c WHERE c.id = k.customer_id)",
            )?,
            keyless_customers: ids(
                conn,
                "SELECT id FROM data.customers c WHERE length(c.sealed) > 0
                 AND NOT EXISTS (SELECT 1 FROM main.data_keys k WHERE k.customer_id = c.id)",
            )?,
        })
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.flush_postings()?;
        self.write_change_journal()?;
        let conn = self.conn.take().expect("connection present until commit or drop");
        let committed = conn.prepare_cached("COMMIT").and_then(|mut c| c.execute([]));
        match committed {
            Ok(_) => {
                self.backend.give_back(conn);
                Ok(())
            }
            Err(e) => {
                // Put it back in `self` so Drop rolls back (or discards) it.
                self.conn = Some(conn);
                Err(db_error(e))
            }
        }
    }
}
