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

use crate::error::Error;

/// The result of a C call. `CUST_STATUS_OK` is 0; every other value says
/// what failed, and `cust_last_error` says why.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_status {
    /// Success.
    Ok = 0,
    /// An input failed validation (field and rule in the message).
    Invalid = 10,
    /// A field name the catalogue does not know.
    UnknownField = 11,
    /// One input of a batch was rejected; nothing was stored.
    InBatch = 12,
    /// The customer does not exist.
    NotFound = 20,
    /// No customer has this external code.
    CodeNotFound = 21,
    /// Another customer already uses this external code.
    DuplicateCode = 22,
    /// The record was changed by someone else since it was read.
    VersionConflict = 23,
    /// The customer is under a legal hold and cannot be erased.
    LegalHold = 24,
    /// The policy refused the operation (rule and reason in the message).
    Denied = 30,
    /// The master key or passphrase does not open this store.
    WrongKey = 40,
    /// A ciphertext failed authentication.
    Decrypt = 41,
    /// A customer's data key is missing from the key store.
    DataKeyMissing = 42,
    /// The key store belongs to another store.
    KeyStoreMismatch = 43,
    /// A store already exists there.
    AlreadyExists = 50,
    /// No store there.
    NotAStore = 51,
    /// The store was written by a newer version of the library.
    SchemaTooNew = 52,
    /// The store's files are damaged.
    Corrupt = 53,
    /// The store stayed locked past the busy timeout.
    Busy = 60,
    /// The storage failed.
    Storage = 61,
    /// A cryptographic primitive failed.
    Crypto = 70,
    /// A required pointer argument was NULL.
    NullArgument = 100,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 101,
    /// The caller's buffer was too small; `needed` says how large it must be.
    BufferTooSmall = 102,
    /// An argument was out of range (an unknown field, kind or channel code, an index).
    InvalidArgument = 103,
    /// The library panicked; the call had no effect that was committed.
    Panic = 104,
    /// The audit chain failed verification (first bad entry in the message).
    AuditBroken = 105,
    /// An error this version of the C API has no code for (see the message).
    Internal = 199,
}

/// Every status, for `cust_status_str` and tests.
pub(crate) const ALL_STATUSES: [cust_status; 28] = [
    cust_status::Ok,
    cust_status::Invalid,
    cust_status::UnknownField,
    cust_status::InBatch,
    cust_status::NotFound,
    cust_status::CodeNotFound,
    cust_status::DuplicateCode,
    cust_status::VersionConflict,
    cust_status::LegalHold,
    cust_status::Denied,
    cust_status::WrongKey,
    cust_status::Decrypt,
    cust_status::DataKeyMissing,
    cust_status::KeyStoreMismatch,
    cust_status::AlreadyExists,
    cust_status::NotAStore,
    cust_status::SchemaTooNew,
    cust_status::Corrupt,
    cust_status::Busy,
    cust_status::Storage,
    cust_status::Crypto,
    cust_status::NullArgument,
    cust_status::InvalidUtf8,
    cust_status::BufferTooSmall,
    cust_status::InvalidArgument,
    cust_status::Panic,
    cust_status::AuditBroken,
    cust_status::Internal,
];

impl cust_status {
    /// The status for a library error (its stable code).
    pub(crate) fn of(error: &Error) -> cust_status {
        let code = error.code();
        ALL_STATUSES.into_iter().find(|s| *s as u32 == code && code < 100).unwrap_or(cust_status::Internal)
    }

    /// Static, NUL-terminated text for the status.
    pub(crate) fn text(self) -> &'static [u8] {
        match self {
            cust_status::Ok => b"ok\0",
            cust_status::Invalid => b"invalid input\0",
            cust_status::UnknownField => b"unknown field\0",
            cust_status::InBatch => b"an input of the batch was rejected; nothing was stored\0",
            cust_status::NotFound => b"customer not found\0",
            cust_status::CodeNotFound => b"no customer has this external code\0",
            cust_status::DuplicateCode => b"external code already in use\0",
            cust_status::VersionConflict => b"changed by someone else since it was read\0",
            cust_status::LegalHold => b"under a legal hold\0",
            cust_status::Denied => b"access denied\0",
            cust_status::WrongKey => b"wrong master key or passphrase\0",
            cust_status::Decrypt => b"a ciphertext failed to decrypt\0",
            cust_status::DataKeyMissing => b"data key missing from the key store\0",
            cust_status::KeyStoreMismatch => b"key store belongs to another store\0",
            cust_status::AlreadyExists => b"a store already exists there\0",
            cust_status::NotAStore => b"no store there\0",
            cust_status::SchemaTooNew => b"store written by a newer library version\0",
            cust_status::Corrupt => b"store is corrupt\0",
            cust_status::Busy => b"store is busy\0",
            cust_status::Storage => b"storage error\0",
            cust_status::Crypto => b"cryptographic failure\0",
            cust_status::NullArgument => b"a required argument was NULL\0",
            cust_status::InvalidUtf8 => b"a string argument was not valid UTF-8\0",
            cust_status::BufferTooSmall => b"buffer too small\0",
            cust_status::InvalidArgument => b"argument out of range\0",
            cust_status::Panic => b"internal panic caught at the C boundary\0",
            cust_status::AuditBroken => b"the audit chain failed verification\0",
            cust_status::Internal => b"internal error\0",
        }
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
        Failure { status: cust_status::of(&e), message: e.to_string() }
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
