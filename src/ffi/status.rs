//! Status codes and the last error's message.
//!
//! Every fallible C function returns a `cust_status`. The numbers are part
//! of the ABI and never change: the library's errors keep their
//! [`crate::Error::code`], and conditions only the C boundary has (NULL,
//! invalid UTF-8, a buffer too small, a caught panic) use 100 and above.
//! The detail message of the last failure is kept per thread and per handle
//! and copied out with `snprintf` semantics.

use std::cell::RefCell;
use std::ffi::c_char;
use std::sync::Mutex;

use crate::error::{BackupProblem, Error};

/// The result of a C call. `CUST_STATUS_OK` is 0; every other value says
/// what failed, and `cust_last_error` says why.
///
/// This enum is the one list of statuses: `build.rs` derives the list of
/// all statuses and their texts (`cust_status_str`, the quoted comment of
/// each variant) from it, cbindgen the header's enum, and
/// [`crate::Error::code`] is the status an exhaustive match assigns.
/// Numbers never change; a status is only ever added.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_status {
    /// Success.
    Ok = 0, // "ok"
    /// A value failed validation: customer data, or a text or JSON argument
    /// (field and rule in the message).
    Invalid = 10, // "invalid input"
    /// A field name the catalogue does not know.
    UnknownField = 11, // "unknown field"
    /// One input of a batch was rejected; nothing was stored.
    InBatch = 12, // "an input of the batch was rejected; nothing was stored"
    /// The customer does not exist.
    NotFound = 20, // "customer not found"
    /// No customer has this external code.
    CodeNotFound = 21, // "no customer has this external code"
    /// Another customer already uses this external code.
    DuplicateCode = 22, // "external code already in use"
    /// The record was changed by someone else since it was read.
    VersionConflict = 23, // "changed by someone else since it was read"
    /// The customer is under a legal hold and cannot be erased.
    LegalHold = 24, // "under a legal hold"
    /// The transaction or service record does not exist.
    RecordNotFound = 25, // "record not found"
    /// The share does not exist.
    ShareNotFound = 26, // "share not found"
    /// No recipient is registered under this id.
    RecipientNotFound = 27, // "recipient not registered"
    /// The policy refused the operation (rule and reason in the message).
    Denied = 30, // "access denied"
    /// The master key or passphrase does not open this store.
    WrongKey = 40, // "wrong master key or passphrase"
    /// A ciphertext failed authentication.
    Decrypt = 41, // "a ciphertext failed to decrypt"
    /// A customer's data key is missing from the key store.
    DataKeyMissing = 42, // "data key missing from the key store"
    /// The key store belongs to another store.
    KeyStoreMismatch = 43, // "key store belongs to another store"
    /// A store already exists there.
    AlreadyExists = 50, // "a store already exists there"
    /// No store there.
    NotAStore = 51, // "no store there"
    /// The store was written by a newer version of the library.
    SchemaTooNew = 52, // "store written by a newer library version"
    /// The store's files are damaged.
    Corrupt = 53, // "store is corrupt"
    /// The store is open in this process; close it before replacing its files.
    StoreOpen = 54, // "store is open in this process"
    /// The store stayed locked past the busy timeout.
    Busy = 60, // "store is busy"
    /// The storage failed.
    Storage = 61, // "storage error"
    /// A cryptographic primitive failed.
    Crypto = 70, // "cryptographic failure"
    /// The file is not a custodian backup (or of an unknown format).
    NotABackup = 80, // "not a custodian backup"
    /// The backup file ends early.
    BackupTruncated = 81, // "backup file is truncated"
    /// The backup file was altered after it was written.
    BackupAltered = 82, // "backup file was altered"
    /// The backup belongs to another store.
    BackupForeign = 83, // "backup belongs to another store"
    /// A chain of backups has a missing, reordered or foreign link.
    BackupChain = 84, // "backup chain is broken"
    /// The master key given does not open the backup.
    BackupKey = 85, // "master key does not open the backup"
    /// A share package is not a package, is truncated or altered, or is
    /// sealed to another key.
    PackageRejected = 86, // "share package rejected"
    /// A required pointer argument was NULL.
    NullArgument = 100, // "a required argument was NULL"
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 101, // "a string argument was not valid UTF-8"
    /// The caller's buffer was too small; `needed` says how large it must be.
    BufferTooSmall = 102, // "buffer too small"
    /// A numeric or enumerated argument was outside the range its
    /// documentation gives: an unknown field or kind code, an index past the
    /// end, a page or result limit, a key length, a KDF iteration count, a
    /// lookup on a field without an index, a time window that ends before it
    /// starts. A mistake in the calling program, never in the data (that is
    /// `CUST_STATUS_INVALID`).
    InvalidArgument = 103, // "argument out of range"
    /// The library panicked; the call had no effect that was committed.
    Panic = 104, // "internal panic caught at the C boundary"
    /// The audit chain failed verification (first bad entry in the message).
    AuditBroken = 105, // "the audit chain failed verification"
    /// An error this version of the C API has no code for (see the message).
    Internal = 199, // "internal error"
}

// The list of all statuses (`ALL_STATUSES`) and `cust_status::text`,
// generated by build.rs from the enum above.
include!(concat!(env!("OUT_DIR"), "/statuses.rs"));

impl cust_status {
    /// The status of a library error. Exhaustive: an error variant without
    /// a status does not compile.
    pub(crate) const fn of(error: &Error) -> cust_status {
        match error {
            Error::Invalid { .. } => cust_status::Invalid,
            Error::UnknownField(_) => cust_status::UnknownField,
            Error::InBatch { .. } => cust_status::InBatch,
            Error::InvalidArgument { .. } => cust_status::InvalidArgument,
            Error::CustomerNotFound(_) => cust_status::NotFound,
            Error::ExternalCodeNotFound(_) => cust_status::CodeNotFound,
            Error::DuplicateExternalCode { .. } => cust_status::DuplicateCode,
            Error::VersionConflict { .. } | Error::RecordVersionConflict { .. } => cust_status::VersionConflict,
            Error::RecordNotFound(_) => cust_status::RecordNotFound,
            Error::ShareNotFound(_) => cust_status::ShareNotFound,
            Error::RecipientNotFound(_) => cust_status::RecipientNotFound,
            Error::Package(_) => cust_status::PackageRejected,
            Error::LegalHold { .. } => cust_status::LegalHold,
            Error::Denied { .. } => cust_status::Denied,
            Error::WrongKey => cust_status::WrongKey,
            Error::Decrypt { .. } => cust_status::Decrypt,
            Error::DataKeyMissing(_) => cust_status::DataKeyMissing,
            Error::KeyStoreMismatch { .. } => cust_status::KeyStoreMismatch,
            Error::AlreadyExists(_) => cust_status::AlreadyExists,
            Error::NotAStore(_) => cust_status::NotAStore,
            Error::SchemaTooNew { .. } => cust_status::SchemaTooNew,
            Error::Corrupt { .. } => cust_status::Corrupt,
            Error::StoreOpen(_) => cust_status::StoreOpen,
            Error::Backup { problem, .. } => match problem {
                BackupProblem::NotABackup(_) => cust_status::NotABackup,
                BackupProblem::Truncated(_) => cust_status::BackupTruncated,
                BackupProblem::Altered(_) => cust_status::BackupAltered,
                BackupProblem::Foreign { .. } => cust_status::BackupForeign,
                BackupProblem::Chain(_) => cust_status::BackupChain,
                BackupProblem::WrongKey { .. } => cust_status::BackupKey,
            },
            Error::Busy => cust_status::Busy,
            Error::Storage { .. } => cust_status::Storage,
            Error::Crypto(_) => cust_status::Crypto,
        }
    }

    /// The status with number `code`, if there is one.
    pub(crate) fn from_code(code: u32) -> Option<cust_status> {
        ALL_STATUSES.into_iter().find(|s| *s as u32 == code)
    }
}

/// A failure at the C boundary: a library error or a boundary condition,
/// with its message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: cust_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: cust_status, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        // Error messages never carry personal values, so they can cross.
        Failure { status: cust_status::of(&e), message: e.with_causes() }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The last error message of one handle.
#[derive(Debug, Default)]
pub(crate) struct LastError(Mutex<String>);

impl LastError {
    pub(crate) fn set(&self, message: &str) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.clear();
        slot.push_str(message);
    }

    pub(crate) fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Records `failure` as this thread's (and, if given, the handle's) last error.
pub(crate) fn record(failure: &Failure, handle: Option<&LastError>) {
    LAST_ERROR.with(|slot| {
        let mut slot = slot.borrow_mut();
        slot.clear();
        slot.push_str(&failure.message);
    });
    if let Some(handle) = handle {
        handle.set(&failure.message);
    }
}

/// This thread's last error message.
pub(crate) fn thread_last_error() -> String {
    LAST_ERROR.with(|slot| slot.borrow().clone())
}

/// Copies `text` into `buf` (`len` bytes) with `snprintf` semantics:
/// `*needed` (if not NULL) receives the size with the NUL; a buffer too
/// small gets a truncated, NUL-terminated copy and `BufferTooSmall`.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes; `needed` must be
/// NULL or point to a writable `usize`.
pub(crate) unsafe fn copy_out(text: &str, buf: *mut c_char, len: usize, needed: *mut usize) -> cust_status {
    let bytes = text.as_bytes();
    if !needed.is_null() {
        // SAFETY: the caller passes a writable usize or NULL.
        unsafe { *needed = bytes.len() + 1 };
    }
    if len == 0 {
        // Not even room for the NUL: a size query.
        return cust_status::BufferTooSmall;
    }
    if buf.is_null() {
        return cust_status::NullArgument;
    }
    let n = bytes.len().min(len - 1);
    // SAFETY: `buf` has `len` writable bytes and `n + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
    if n < bytes.len() { cust_status::BufferTooSmall } else { cust_status::Ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(NAME, number)` of every `CUST_STATUS_*` constant in the committed header.
    fn header_statuses() -> Vec<(String, u32)> {
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/custodian.h")).unwrap();
        let body = header.split_once("enum cust_status").unwrap().1.split_once("};").unwrap().0;
        body.lines()
            .filter_map(|line| line.trim().strip_prefix("CUST_STATUS_"))
            .map(|rest| {
                let (name, number) = rest.trim_end_matches(',').split_once(" = ").unwrap();
                (name.to_owned(), number.parse().unwrap())
            })
            .collect()
    }

    /// `InvalidArgument` as the header spells it: `INVALID_ARGUMENT`.
    fn screaming(status: cust_status) -> String {
        let mut out = String::new();
        for (i, c) in format!("{status:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn the_header_lists_exactly_the_statuses_of_the_one_list() {
        let listed: Vec<(String, u32)> = ALL_STATUSES.iter().map(|s| (screaming(*s), *s as u32)).collect();
        assert_eq!(header_statuses(), listed);
    }

    #[test]
    fn every_status_has_a_text_and_a_unique_number() {
        let mut numbers: Vec<u32> = ALL_STATUSES.iter().map(|s| *s as u32).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), ALL_STATUSES.len());
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "listed in ascending order");
        for status in ALL_STATUSES {
            let text = status.text();
            assert!(text.len() > 1 && text.ends_with(b"\0") && !text[..text.len() - 1].contains(&0), "{status:?}");
            assert_eq!(cust_status::from_code(status as u32), Some(status));
        }
        assert_eq!(cust_status::from_code(9999), None);
    }

    #[test]
    fn every_error_has_the_status_of_its_code() {
        let errors = [
            Error::invalid("f", "r", "m"),
            Error::out_of_range("a", "r", "m"),
            Error::UnknownField("x".into()),
            Error::Busy,
            Error::WrongKey,
            Error::Crypto("x"),
        ];
        for error in errors {
            let status = cust_status::of(&error);
            assert_eq!(status as u32, error.code());
            assert_ne!(status, cust_status::Internal);
        }
        assert_eq!(Error::out_of_range("a", "r", "m").code(), cust_status::InvalidArgument as u32);
    }
}
