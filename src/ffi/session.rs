//! `cust_session`: a principal acting for a purpose, opened on a store by
//! the host (with the authentication context it verified) or by login.

use std::ffi::c_char;

use super::boundary::{Outcome, free_handle, guard, into_handle, object, optional_text, out_ptr, text, write};
use super::status::{LastError, copy_out, cust_status};
use super::store::{cust_store, with_store};
use crate::consent::Channel;
use crate::{AuthContext, Purpose, Session};

/// A session. Every call through it is checked against the policy and
/// audited. Close it with `cust_session_close`.
pub struct cust_session {
    pub(crate) session: Session,
    pub(crate) last_error: LastError,
}

/// Runs `body` on the session behind `session`, recording failures on it.
pub(crate) fn with_session(session: *const cust_session, body: impl FnOnce(&Session) -> Outcome) -> cust_status {
    // SAFETY: a caller of an exported function promises a valid or NULL handle.
    let handle = unsafe { session.as_ref() };
    guard(handle.map(|h| &h.last_error), || body(&handle.ok_or_else(|| super::boundary::null("session"))?.session))
}

fn auth(mfa: bool, authenticated_at_ms: i64) -> AuthContext {
    AuthContext { mfa, authenticated_at: (authenticated_at_ms != 0).then_some(authenticated_at_ms) }
}

fn hand_out(out: *mut *mut cust_session, session: Session) {
    // SAFETY: every caller checked `out` first.
    unsafe { write(out, into_handle(cust_session { session, last_error: LastError::default() })) };
}

/// Opens a session for registered principal `principal` acting for
/// `purpose` (`service`, `marketing`, `analytics`, `maintenance`,
/// `compliance` or a custom name). `mfa` says whether the host verified a
/// second factor (L1 plaintext needs it); `authenticated_at_ms` is when the
/// principal authenticated (Unix ms), or 0 if the host does not say.
///
/// # Safety
/// `store` must be a valid handle; the strings NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_open(
    store: *const cust_store,
    principal: *const c_char,
    purpose: *const c_char,
    mfa: bool,
    authenticated_at_ms: i64,
    out: *mut *mut cust_session,
) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (principal, purpose) = unsafe { (text(principal, "principal")?, text(purpose, "purpose")?) };
        let session =
            s.store.authenticated_session(principal, Purpose::parse(purpose)?, auth(mfa, authenticated_at_ms))?;
        hand_out(out, session);
        Ok(())
    })
}

/// Opens a marketing session for contacting customers by `channel`
/// (`sms`, `email`, `phone`, `post`): it sees only customers who currently
/// consent to marketing on that channel.
///
/// # Safety
/// As for `cust_session_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_open_marketing(
    store: *const cust_store,
    principal: *const c_char,
    channel: *const c_char,
    mfa: bool,
    authenticated_at_ms: i64,
    out: *mut *mut cust_session,
) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (principal, channel) = unsafe { (text(principal, "principal")?, text(channel, "channel")?) };
        let session = s.store.marketing_session(principal, Channel::parse(channel)?, auth(mfa, authenticated_at_ms))?;
        hand_out(out, session);
        Ok(())
    })
}

/// Logs `principal` in with its password and, if it has TOTP enrolled, the
/// current one-time `code` (NULL otherwise), and opens a session for
/// `purpose`. Both factors give an MFA session. Every attempt is audited; a
/// failure is `CUST_STATUS_DENIED` (rule `login.failed`, or `login.locked`
/// after repeated failures).
///
/// # Safety
/// `store` must be a valid handle; the strings NUL-terminated (`code` may be NULL); `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_login(
    store: *const cust_store,
    principal: *const c_char,
    password: *const c_char,
    code: *const c_char,
    purpose: *const c_char,
    out: *mut *mut cust_session,
) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (principal, password, code, purpose) = unsafe {
            (
                text(principal, "principal")?,
                text(password, "password")?,
                optional_text(code, "code")?,
                text(purpose, "purpose")?,
            )
        };
        let session = s.store.login(principal, password, code, Purpose::parse(purpose)?)?;
        hand_out(out, session);
        Ok(())
    })
}

/// Whether the session was opened with a verified second factor.
///
/// # Safety
/// `session` must be a valid handle; `mfa` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_mfa(session: *const cust_session, mfa: *mut bool) -> cust_status {
    with_session(session, |s| {
        let mfa = out_ptr(mfa, "mfa")?;
        // SAFETY: checked.
        unsafe { write(mfa, s.auth().mfa) };
        Ok(())
    })
}

/// Closes a session (NULL is ignored).
///
/// # Safety
/// `session` must be NULL or a handle not closed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_close(session: *mut cust_session) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(session) }
}

/// Copies the last error message recorded on `session` (snprintf
/// semantics, as `cust_last_error`).
///
/// # Safety
/// `session` must be a valid handle; `buf` NULL or `len` writable bytes; `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_session_last_error(
    session: *const cust_session,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL.
    match unsafe { object(session, "session") } {
        // SAFETY: forwarded caller guarantees.
        Ok(s) => unsafe { copy_out(&s.last_error.get(), buf, len, needed) },
        Err(_) => cust_status::NullArgument,
    }
}
