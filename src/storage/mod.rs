//! Storage behind a seam cut into its parts.
//!
//! A [`Backend`] hands out [`Transaction`]s; a transaction that is dropped
//! without [`Transaction::commit`] rolls back. A transaction is the sum of
//! four parts, each a trait of its own so that each could be served by a
//! different backend (keys in their own database, later a KMS):
//!
//! | part | trait | holds |
//! |---|---|---|
//! | customer data | [`CustomerData`] | customer rows, keyword index, attached records, consents |
//! | key store | [`KeyStore`] | wrapped data keys, the wrapped root secret, the erasure ledger |
//! | audit log | [`AuditStore`] | chain entries, head record, derived indexes, checkpoints |
//! | access directory | [`AccessDirectory`] | principals, roles, credentials, holds, shares |
//!
//! Backends store opaque rows: plaintext classification columns, sealed
//! field blobs, blind-index digests and wrapped keys. They never see
//! plaintext personal data or key material, so a backend cannot leak what
//! it was never given. The customer data and the key store are kept apart:
//! the SQLite backend keeps them in two files, so a copy of the data file
//! alone decrypts nothing, and destroying a key in the key store destroys
//! every copy of that customer's ciphertext.
//!
//! # The contract a backend gives
//!
//! - **Isolation.** A [`TxMode::Read`] transaction sees one consistent
//!   snapshot of all four parts, from its first read to its end. Write
//!   transactions ([`TxMode::Write`], [`TxMode::WriteData`]) are
//!   serializable: the result is as if they ran one after another. SQLite
//!   gives this by letting one writer in at a time (its write lock is taken
//!   when the transaction begins, in this process or any other); a backend
//!   that runs writers concurrently must detect the conflicts that
//!   serializability forbids and fail one side.
//! - **The audit chain.** Every audited call appends its entry in the same
//!   transaction as its own changes. The store reads the head
//!   ([`AuditStore::audit_head`]), assigns the next sequence number and
//!   chains the MAC, then appends ([`AuditStore::append_audit`]); the head
//!   must be read and written under the transaction's isolation, so two
//!   transactions never both extend the same head. Sequence numbers come
//!   from the head, never from an auto-increment or sequence object (those
//!   leave gaps on rollback), so the log is gapless.
//! - **Conflicts.** A write transaction that cannot get its turn within the
//!   backend's timeout, or that lost a conflict, fails with
//!   [`crate::Error::Busy`] and leaves nothing behind; the caller may try
//!   again. A backend that can retry the whole transaction itself (a
//!   serialization failure before anything was handed back) may do so.
//! - **Atomicity across parts.** A commit applies the changes of every part
//!   or none. Where the parts live in separate files or databases and the
//!   backend commits them one after the other, it commits the key store
//!   first, and a crash between the two can leave a key without its
//!   customer or a customer without its key; [`Transaction::unmatched_keys`]
//!   finds both, and the store repairs them on open.
//!
//! The contract suite (`tests/storage_contract.rs`) runs against every
//! backend and tests these rules (the PostgreSQL backend, behind the
//! `postgres` feature, when test databases are configured).

mod audit_log;
mod customer_data;
mod directory;
mod key_store;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresBackend, PostgresOptions};
pub use audit_log::{AuditFilter, AuditHead, AuditRecord, AuditRecordView, AuditStore, IndexLink, StoredCheckpoint};
pub use customer_data::{
    BLIND_INDEXED, ChangeMark, ClassKey, CustomerChanges, CustomerData, CustomerHeader, CustomerRow, DueFilter,
    GramEntry, RecordRow, ScannedCustomer, SealedFields, StatusChange,
};
pub use directory::{AccessDirectory, DirectoryKind};
pub use key_store::{KeyStore, WrappedKey};
pub use memory::MemoryBackend;
pub(crate) use sqlite::is_open as sqlite_store_is_open;
pub use sqlite::{DATA_FILE, Durability, KEYS_FILE, SqliteBackend, SqliteOptions};

use crate::error::Result;
use crate::model::CustomerId;

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Read only: sees one consistent snapshot.
    Read,
    /// Read and write: takes the write lock at begin, so two writers never
    /// interleave and a version check inside it is race-free.
    Write,
    /// Like `Write`, but the transaction promises to write only the customer
    /// data, the audit log and the directory: the key store is only read.
    /// For calls that change no key: reads (which append audit entries) and
    /// updates. A backend may use the promise to leave the key store
    /// unlocked (SQLite does) and must refuse a key-store write in this mode.
    WriteData,
}

/// What the visitor of a scan wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Go on to the next customer.
    Continue,
    /// Stop the scan.
    Stop,
}

/// What [`Transaction::unmatched_keys`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmatched {
    /// Data keys whose customer row does not exist.
    pub orphan_keys: Vec<CustomerId>,
    /// Customers with sealed fields whose data key does not exist.
    pub keyless_customers: Vec<CustomerId>,
}

impl Unmatched {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.orphan_keys.is_empty() && self.keyless_customers.is_empty()
    }
}

/// A storage backend: a source of transactions. Must be shareable between threads.
pub trait Backend: Send + Sync {
    /// Begins a transaction. Write transactions wait (up to the backend's
    /// busy timeout) for other writers, in this process or another.
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>>;

    /// Creates or migrates the schema; called by the store before first use.
    /// Returns whether the backend already held a store.
    fn prepare(&self, create: bool) -> Result<bool>;

    /// A short description for messages (e.g. the directory).
    fn describe(&self) -> String;

    /// Copies the customer database (customers, audit log, consents,
    /// directory) into the new file `data_to` and the key store (wrapped
    /// root secret, data keys, erasure ledger) into the new file `keys_to`,
    /// while the store stays in use: both from one snapshot, so every key
    /// has its customer and every customer its key. Backends without files
    /// refuse.
    fn backup(&self, data_to: &std::path::Path, keys_to: &std::path::Path) -> Result<()> {
        let _ = (data_to, keys_to);
        Err(crate::Error::storage(format!("{} cannot make file backups", self.describe())))
    }

    /// A directory as private as the store's own files, where a backup
    /// stages its snapshot before sealing it (`None`: the backend keeps no
    /// files, and cannot back up).
    fn private_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Runs the backend's own integrity check (SQLite: `PRAGMA
    /// integrity_check` on both files); `Err(Corrupt)` names what is wrong.
    fn integrity_check(&self) -> Result<()> {
        Ok(())
    }

    /// Makes content that committed transactions deleted unrecoverable from
    /// the store's files now, not at the next clean close: SQLite copies the
    /// write-ahead logs into the main files (whose freed content
    /// `secure_delete` has zeroed) and truncates both logs to nothing. Called
    /// after every destruction commits (erasure, deletion, sweep). A backend
    /// without logs has nothing to do.
    fn purge_logs(&self) -> Result<()> {
        Ok(())
    }
}

/// One storage transaction. Dropping it without `commit` rolls back every
/// change made through it, in both the data and the key store.
pub trait Transaction: CustomerData + KeyStore + AuditStore + AccessDirectory {
    /// Data keys and customers that lost their partner: keys whose customer
    /// row does not exist (a create whose key-store half committed and whose
    /// data half did not), and customers with sealed fields but no key (a
    /// deletion whose key-store half committed). SQLite commits the two
    /// files one after the other, so a crash between them can leave either.
    fn unmatched_keys(&mut self) -> Result<Unmatched>;

    /// Commits every change made through this transaction, atomically.
    fn commit(self: Box<Self>) -> Result<()>;
}
