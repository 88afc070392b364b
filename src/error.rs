//! The crate's error type.
//!
//! Every variant names what went wrong precisely enough to act on it: which
//! field and which rule for bad input, which customer and which versions for a
//! lost update, which rule for a denial. Messages never contain the value of a
//! personal field, so an error can be logged or shown without leaking data.

use crate::model::CustomerId;

/// The underlying error of a storage or corruption error, kept as the
/// error's [`std::error::Error::source`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in custodian.
///
/// Each variant has a stable numeric [`Error::code`] (the C ABI reuses it as a
/// status code), so callers can match on codes across versions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation: `field` broke `rule`.
    #[error("invalid value for field '{field}': {message} (rule {rule})")]
    Invalid {
        /// The field (or parameter) that was rejected.
        field: String,
        /// Stable identifier of the violated rule, e.g. `mobile_format`.
        rule: &'static str,
        /// Human-readable explanation; never contains the rejected value.
        message: String,
    },
    /// An argument lies outside the range its documentation gives (a page
    /// limit, a key length, a lookup on a field without an index, an
    /// unknown code): a mistake in the calling program, not in the data.
    #[error("argument '{argument}' is out of range: {message} (rule {rule})")]
    InvalidArgument {
        /// The parameter that was out of range.
        argument: String,
        /// Stable identifier of the violated rule, e.g. `page_limit`.
        rule: &'static str,
        /// What the range is; never contains a personal value.
        message: String,
    },
    /// One input of a batch was rejected, so the whole batch was: nothing was stored.
    #[error("input {index} of the batch was rejected, so nothing was stored: {source}")]
    InBatch {
        /// Position of the rejected input (0-based).
        index: usize,
        /// Why it was rejected.
        source: Box<Error>,
    },
    /// A field name that the store's catalogue does not know.
    #[error("unknown field '{0}'")]
    UnknownField(String),
    /// The customer does not exist (or no longer exists).
    #[error("customer {0} not found")]
    CustomerNotFound(CustomerId),
    /// The attached record (transaction or service record) does not exist.
    #[error("record {0} not found")]
    RecordNotFound(u64),
    /// The share does not exist.
    #[error("share {0} not found")]
    ShareNotFound(u64),
    /// No recipient is registered under this id.
    #[error("recipient '{0}' is not registered")]
    RecipientNotFound(String),
    /// A share package was refused: not a package, truncated, altered, or
    /// sealed to another key (the detail says which).
    #[error("share package rejected: {0}")]
    Package(String),
    /// A change to an attached record carried a version that is no longer
    /// current. Nothing was changed.
    #[error(
        "record {record} was changed by someone else: expected version {expected}, current version {actual}; nothing was changed"
    )]
    RecordVersionConflict {
        /// The record being changed.
        record: u64,
        /// The version the caller based its change on.
        expected: u64,
        /// The version now stored.
        actual: u64,
    },
    /// No customer has this external code.
    #[error("no customer has external code '{0}'")]
    ExternalCodeNotFound(String),
    /// Another customer already uses this external code.
    #[error("external code '{code}' is already used by customer {existing}")]
    DuplicateExternalCode {
        /// The conflicting code (external codes are classification data, not personal data).
        code: String,
        /// The customer that holds it.
        existing: CustomerId,
    },
    /// An update carried a version that is no longer current: someone else
    /// changed the record since it was read. Nothing was changed.
    #[error(
        "customer {customer} was changed by someone else: expected version {expected}, current version {actual}; nothing was changed"
    )]
    VersionConflict {
        /// The customer being updated.
        customer: CustomerId,
        /// The version the caller based its change on.
        expected: u64,
        /// The version currently stored.
        actual: u64,
    },
    /// The customer is under a legal hold: it cannot be erased or destroyed
    /// until the hold is lifted.
    #[error(
        "customer {customer} is under a legal hold ({reason}); it cannot be erased or destroyed until the hold is lifted"
    )]
    LegalHold {
        /// The held customer.
        customer: CustomerId,
        /// The hold's reason (a case or request reference).
        reason: String,
    },
    /// The policy refused the operation.
    #[error("access denied by rule {rule}: {reason}")]
    Denied {
        /// Stable identifier of the deciding rule.
        rule: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The master key (or passphrase) does not open this store.
    #[error("wrong master key or passphrase: the store's key check failed")]
    WrongKey,
    /// A ciphertext failed authentication: it was altered, moved to another
    /// customer or field, or encrypted under another key.
    #[error("field '{field}' of customer {customer} failed to decrypt: {detail}")]
    Decrypt {
        /// The customer whose field failed.
        customer: CustomerId,
        /// The field that failed.
        field: String,
        /// What exactly failed (header, key id, authentication tag).
        detail: &'static str,
    },
    /// The customer's data key is absent from the key store (the customer was
    /// crypto-shredded, or the key store does not belong to this data).
    #[error("no data key for customer {0} in the key store")]
    DataKeyMissing(CustomerId),
    /// The key store and the customer database belong to different stores.
    #[error("key store belongs to store {key_store}, but the customer database to store {data}")]
    KeyStoreMismatch {
        /// Store id recorded in the key store.
        key_store: String,
        /// Store id recorded in the customer database.
        data: String,
    },
    /// `create` was asked to create a store where one already exists.
    #[error("a store already exists at {0}")]
    AlreadyExists(String),
    /// `open` found no store.
    #[error("no store at {0}")]
    NotAStore(String),
    /// The store is open in this process, so its files cannot be replaced
    /// (a restore into it): close every handle and session first.
    #[error("the store at {0} is open in this process; close it (every handle and session) first")]
    StoreOpen(String),
    /// The files were written by a newer version of custodian.
    #[error("{component} schema version {found} is newer than this library supports ({supported})")]
    SchemaTooNew {
        /// Which part of the store (`data` or `keys`).
        component: &'static str,
        /// Version found on disk.
        found: i64,
        /// Newest version this library understands.
        supported: i64,
    },
    /// The store's files are damaged or were not written by custodian.
    #[error("store is corrupt: {detail}")]
    Corrupt {
        /// What is damaged.
        detail: String,
        /// The underlying error, if one reported it (the database's, a decoder's).
        #[source]
        source: Option<Cause>,
    },
    /// A backup file (or a chain of them) was refused: `problem` says how it
    /// failed, `path` which file.
    #[error("backup {path}: {problem}")]
    Backup {
        /// The backup file refused.
        path: String,
        /// What is wrong with it.
        problem: BackupProblem,
    },
    /// The database stayed locked by another connection or process past the busy timeout.
    #[error("the store is busy (locked by another connection) and the busy timeout expired")]
    Busy,
    /// The storage backend failed.
    #[error("storage error: {context}")]
    Storage {
        /// What failed.
        context: String,
        /// The underlying error (the database's, the file system's), if any.
        #[source]
        source: Option<Cause>,
    },
    /// A cryptographic primitive failed unexpectedly (e.g. the system RNG).
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

/// Why a backup file was refused (see [`Error::Backup`]). Each has its own
/// status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupProblem {
    /// The file is not a custodian backup, or of a format this version does
    /// not read.
    #[error("not a custodian backup: {0}")]
    NotABackup(String),
    /// The file ends early: cut inside its header or a chunk, or before its
    /// final chunk.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The file was changed after it was written: its manifest or a chunk
    /// fails authentication, chunks were moved, or bytes were added.
    #[error("altered: {0}")]
    Altered(String),
    /// The backup belongs to another store.
    #[error("belongs to store {found}, not to store {expected}")]
    Foreign {
        /// The store this backup was taken of.
        found: String,
        /// The store it was given for.
        expected: String,
    },
    /// A chain of backups is not in order: it does not begin with a full
    /// backup, a link is missing, or links are reordered.
    #[error("broken chain: {0}")]
    Chain(String),
    /// The master key given does not open the backup (it names the
    /// master-key generation it was made under).
    #[error("the master key given does not open it: it was made under master-key generation {generation}{hint}")]
    WrongKey {
        /// The generation of the master key the backup needs.
        generation: u64,
        /// More detail, e.g. that the backup wants a passphrase.
        hint: String,
    },
}

impl Error {
    /// Stable numeric code of this error; never renumbered. It is the C
    /// status of the error (`cust_status`, the one list of codes), so Rust
    /// and C callers match on the same numbers.
    pub fn code(&self) -> u32 {
        crate::ffi::cust_status::of(self) as u32
    }

    /// A storage failure described by `context` (for backends: what failed).
    pub fn storage(context: impl Into<String>) -> Self {
        Error::Storage { context: context.into(), source: None }
    }

    /// A storage failure described by `context`, caused by `source`.
    pub fn storage_caused(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Storage { context: context.into(), source: Some(source.into()) }
    }

    /// Damaged store contents, described by `detail`.
    pub fn corrupt(detail: impl Into<String>) -> Self {
        Error::Corrupt { detail: detail.into(), source: None }
    }

    /// Damaged store contents, described by `detail`, reported by `source`.
    pub fn corrupt_caused(detail: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Corrupt { detail: detail.into(), source: Some(source.into()) }
    }

    /// The message followed by every underlying cause (`storage error:
    /// the SQLite database failed: disk I/O error`), for hosts that show one
    /// line, such as the C ABI's last error.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }

    /// Shorthand for an argument outside its documented range.
    pub(crate) fn out_of_range(argument: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { argument: argument.into(), rule, message: message.into() }
    }

    /// Shorthand for a validation error.
    pub(crate) fn invalid(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), rule, message: message.into() }
    }
}
