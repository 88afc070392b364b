//! The C ABI (`include/custodian.h`).
//!
//! Conventions, the same for every function:
//! - Names are `cust_<object>_<verb>`; objects are opaque handles
//!   (`cust_store`, `cust_session`, `cust_customer`, `cust_record`, ...).
//! - Enumerated values of attached records (statuses, payment methods,
//!   service kinds) and record fields go by their stable names as text.
//! - Every fallible function returns a `cust_status` (0 is success). The
//!   detail of the last failure is kept per thread (`cust_last_error`) and
//!   per store and session handle, and copied out with `snprintf` semantics.
//! - Output parameters are written only on success.
//! - NULL pointers get `CUST_STATUS_NULL_ARGUMENT`, strings that are not
//!   UTF-8 `CUST_STATUS_INVALID_UTF8`; `(NULL, 0)` is an empty byte string.
//! - Results the library allocates are freed only by the library
//!   (`cust_string_free`, `cust_bytes_free`, `cust_*_free`), which zero
//!   them first.
//! - Panics are caught at the boundary (`CUST_STATUS_PANIC`); the crate
//!   keeps `panic = "unwind"` for that.
//! - Child handles (sessions) keep the store alive, so closing the store
//!   first is always safe.
//!
//! Functions taking pointers are `unsafe extern "C"`: the caller promises
//! each pointer is NULL or valid as documented.

#![allow(non_camel_case_types)] // C type names: `cust_store`, not `CustStore`.

mod backup;
mod boundary;
mod csv;
mod customer;
mod directory;
mod import;
mod json;
mod lifecycle;
mod merge;
mod records;
mod search;
mod session;
mod sharing;
mod statistics;
mod status;
mod store;

pub use customer::{cust_customer, cust_field, cust_input, cust_kind, cust_list, cust_shown};
pub use import::{cust_import_counts, cust_import_report, cust_match};
pub use records::{cust_record, cust_record_list, cust_service_input, cust_transaction_input};
pub use session::cust_session;
pub use sharing::cust_share_session;
pub use status::cust_status;
pub use store::cust_store;

use std::ffi::c_char;

use boundary::{guard, out_ptr};
use status::{copy_out, thread_last_error};

/// The library's version as static text, e.g. `"0.1.0"`.
#[unsafe(no_mangle)]
pub extern "C" fn cust_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Static text describing `status` (any number: unknown ones get
/// `"unknown status"`). Never NULL; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn cust_status_str(status: u32) -> *const c_char {
    let text = cust_status::from_code(status).map_or(&b"unknown status\0"[..], |s| s.text());
    text.as_ptr().cast()
}

/// Copies this thread's last error message into `buf` (`len` bytes) with
/// `snprintf` semantics: `*needed` (if not NULL) receives the size needed,
/// NUL included; a short buffer gets a truncated, NUL-terminated copy and
/// `CUST_STATUS_BUFFER_TOO_SMALL`. `len == 0` is a size query: nothing is
/// written (`buf` may be NULL), `*needed` receives the size, and the call
/// returns `CUST_STATUS_BUFFER_TOO_SMALL`, as for any buffer too small.
/// Every function that copies text out follows this contract.
///
/// # Safety
/// `buf` must be NULL or hold `len` writable bytes; `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_last_error(buf: *mut c_char, len: usize, needed: *mut usize) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe { copy_out(&thread_last_error(), buf, len, needed) }
}

/// Overwrites `len` bytes at `p` with zeros in a way the compiler keeps
/// (for the caller's own copies of secrets). NULL or 0 does nothing.
///
/// # Safety
/// `p` must be NULL or hold `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_memzero(p: *mut u8, len: usize) {
    if p.is_null() || len == 0 {
        return;
    }
    // SAFETY: `p` holds `len` writable bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(p, len) };
    zeroize::Zeroize::zeroize(bytes);
}

/// Zeroes and frees a string the library returned. NULL is ignored.
///
/// # Safety
/// `s` must be NULL or a string from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_string_free(s: *mut c_char) {
    // SAFETY: forwarded caller guarantee.
    unsafe { boundary::free_c_string(s) }
}

/// Zeroes and frees a byte buffer of `len` bytes the library returned.
/// NULL is ignored.
///
/// # Safety
/// `p` must be NULL or a buffer from this library with exactly `len` bytes,
/// not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_bytes_free(p: *mut u8, len: usize) {
    if p.is_null() {
        return;
    }
    // SAFETY: made by Box<[u8]>::into_raw with this length, given back once.
    let mut owned = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)) };
    zeroize::Zeroize::zeroize(owned.as_mut());
}

/// Hands a byte buffer to C as `(*out, *out_len)`, freed by `cust_bytes_free`.
pub(crate) fn bytes_out(data: Vec<u8>, out: *mut *mut u8, out_len: *mut usize) {
    let len = data.len();
    let raw = Box::into_raw(data.into_boxed_slice());
    // SAFETY: both pointers were checked non-NULL by the caller.
    unsafe {
        out.write(raw.cast::<u8>());
        out_len.write(len);
    }
}

/// Checks two output pointers of a byte result.
pub(crate) fn bytes_out_ptrs(out: *mut *mut u8, out_len: *mut usize) -> boundary::Outcome {
    out_ptr(out, "out")?;
    out_ptr(out_len, "out_len")?;
    Ok(())
}

/// Runs a body that needs no handle (thread-local error only).
pub(crate) fn plain(body: impl FnOnce() -> boundary::Outcome) -> cust_status {
    guard(None, body)
}
