//! What every exported function does at the boundary: catch panics, check
//! pointers, validate strings, write outputs only on success, and record
//! the last error.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use zeroize::Zeroize;

use super::status::{Failure, LastError, cust_status, record};

/// What an exported function's body returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

/// Runs `body` with panics caught; records a failure as the thread's (and
/// `handle`'s) last error and turns it into its status.
pub(crate) fn guard(handle: Option<&LastError>, body: impl FnOnce() -> Outcome) -> cust_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => cust_status::Ok,
        Ok(Err(failure)) => {
            record(&failure, handle);
            failure.status
        }
        Err(_) => {
            let failure = Failure::new(cust_status::Panic, "the library panicked; the call had no committed effect");
            record(&failure, handle);
            cust_status::Panic
        }
    }
}

/// A NULL-argument failure naming the parameter.
pub(crate) fn null(name: &str) -> Failure {
    Failure::new(cust_status::NullArgument, format!("argument '{name}' is NULL"))
}

/// Borrows the object behind a handle pointer.
///
/// # Safety
/// `ptr` must be NULL or a live handle of type `T` made by this library.
pub(crate) unsafe fn object<'a, T>(ptr: *const T, name: &str) -> Outcome<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid for 'a.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// Borrows a mutable object behind a handle pointer.
///
/// # Safety
/// `ptr` must be NULL or a live handle of type `T` made by this library,
/// not used by another thread at the same time.
pub(crate) unsafe fn object_mut<'a, T>(ptr: *mut T, name: &str) -> Outcome<&'a mut T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid and unaliased for 'a.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and NUL-terminated, as the caller guarantees.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|_| Failure::new(cust_status::InvalidUtf8, format!("argument '{name}' is not valid UTF-8")))
}

/// Reads an optional string argument (NULL means none).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn optional_text<'a>(ptr: *const c_char, name: &str) -> Outcome<Option<&'a str>> {
    if ptr.is_null() { Ok(None) } else { unsafe { text(ptr, name) }.map(Some) }
}

/// Reads a byte-slice argument; `(NULL, 0)` is the empty slice.
///
/// # Safety
/// `ptr` must be NULL (with `len == 0`) or point to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL with `len` readable bytes, as the caller guarantees.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an output pointer before any work is done.
pub(crate) fn out_ptr<T>(ptr: *mut T, name: &str) -> Outcome<*mut T> {
    if ptr.is_null() { Err(null(name)) } else { Ok(ptr) }
}

/// Writes `value` through a checked output pointer.
///
/// # Safety
/// `ptr` must have passed [`out_ptr`] and be writable.
pub(crate) unsafe fn write<T>(ptr: *mut T, value: T) {
    // SAFETY: checked non-NULL and writable by the caller.
    unsafe { ptr.write(value) };
}

/// Writes `value` through `ptr` unless it is NULL (an optional output).
///
/// # Safety
/// `ptr` must be NULL or point to a writable `T`.
pub(crate) unsafe fn write_if<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL and writable, as the caller promises.
        unsafe { ptr.write(value) };
    }
}

/// Item `index` of a report's `items`, or an out-of-range failure naming `what`.
pub(crate) fn item<'a, T>(items: &'a [T], index: usize, what: &str) -> Outcome<&'a T> {
    items.get(index).ok_or_else(|| {
        Failure::new(
            crate::ffi::cust_status::InvalidArgument,
            format!("{what} {index} is past the report's {}", items.len()),
        )
    })
}

/// Moves a value to the heap as a handle for C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is ignored.
///
/// # Safety
/// `ptr` must be NULL or a handle of type `T` from [`into_handle`] that is
/// not used again.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: made by Box::into_raw and given back exactly once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A library-allocated C string for the caller, freed by `cust_string_free`.
pub(crate) fn c_string(text: String) -> Outcome<*mut c_char> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(cust_status::Internal, "a result contained a NUL byte"))
}

/// Zeroes and frees a string from [`c_string`].
///
/// # Safety
/// `ptr` must be NULL or a string from [`c_string`] not freed before.
pub(crate) unsafe fn free_c_string(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: made by CString::into_raw and given back exactly once.
    let owned = unsafe { CString::from_raw(ptr) };
    let mut bytes = owned.into_bytes_with_nul();
    bytes.zeroize();
}
