//! The data lifecycle through C: data-subject requests, legal holds,
//! retention (backups and restores are in `backup.rs`). Reports come out
//! as JSON strings.

use std::ffi::c_char;

use super::boundary::{out_ptr, text};
use super::customer::{cust_customer, cust_input, patch_of};
use super::directory::json_out;
use super::session::{cust_session, with_session};
use super::status::{Failure, cust_status};
use crate::model::CustomerId;
use crate::retention::RetentionPolicy;

/// Everything held about customer `id` (fields, consents, every audit entry
/// about it) as JSON in `*out`, for handing to the customer. Needs the
/// `export` action; use a compliance session with MFA to include L1 values.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_export_json(
    session: *const cust_session,
    id: i64,
    out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        json_out(out, &s.export_customer(CustomerId(id))?)
    })
}

/// Rectifies customer `id` at the customer's request `request` (applied
/// like `cust_customer_update`; the audit entry names the request and the
/// fields changed, never their values).
///
/// # Safety
/// `session` and `patch` must be valid handles; `request` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_rectify(
    session: *const cust_session,
    id: i64,
    expected_version: u64,
    patch: *const cust_input,
    request: *const c_char,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL and a string or NULL.
        let (input, request) = unsafe { (super::boundary::object(patch, "patch")?, text(request, "request")?) };
        let view = s.rectify(CustomerId(id), expected_version, patch_of(input), request)?;
        super::customer::hand_out(out, view);
        Ok(())
    })
}

/// Restricts processing of customer `id` (the customer's objection,
/// `reason` a reference): until lifted, only compliance sessions may use it.
///
/// # Safety
/// `session` must be a valid handle; `reason` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_restrict(
    session: *const cust_session,
    id: i64,
    reason: *const c_char,
) -> cust_status {
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    with_session(session, |s| Ok(s.restrict(CustomerId(id), unsafe { text(reason, "reason") }?)?))
}

/// Lifts a restriction of processing.
///
/// # Safety
/// `session` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_lift_restriction(session: *const cust_session, id: i64) -> cust_status {
    with_session(session, |s| Ok(s.lift_restriction(CustomerId(id))?))
}

/// Places a legal hold on customer `id` (`reason`: a case reference): no
/// erasure or sweep destroys it until lifted.
///
/// # Safety
/// `session` must be a valid handle; `reason` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_place_hold(
    session: *const cust_session,
    id: i64,
    reason: *const c_char,
) -> cust_status {
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    with_session(session, |s| Ok(s.place_hold(CustomerId(id), unsafe { text(reason, "reason") }?)?))
}

/// Lifts a legal hold.
///
/// # Safety
/// `session` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_lift_hold(session: *const cust_session, id: i64) -> cust_status {
    with_session(session, |s| Ok(s.lift_hold(CustomerId(id))?))
}

/// Erases customer `id` at the customer's request `reason` (a request
/// reference) by crypto-shredding; a customer under a legal hold gives
/// `CUST_STATUS_LEGAL_HOLD`. The audit entry is the destruction record.
///
/// # Safety
/// `session` must be a valid handle; `reason` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_erase(
    session: *const cust_session,
    id: i64,
    reason: *const c_char,
) -> cust_status {
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    with_session(session, |s| Ok(s.erase(CustomerId(id), unsafe { text(reason, "reason") }?)?))
}

/// Defines (or replaces) a retention policy from JSON: `{"id":
/// "inactive-3y", "rule": {"rule": "inactive_for", "days": 1095}, "method":
/// "crypto_shred"|"anonymise"}` or `{"rule": "withdrawn_marketing_consent",
/// "category": "lead"}`.
///
/// # Safety
/// `session` must be a valid handle; `json` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_retention_define_json(session: *const cust_session, json: *const c_char) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let json = unsafe { text(json, "json") }?;
        let policy: RetentionPolicy = serde_json::from_str(json)
            .map_err(|e| Failure::new(cust_status::Invalid, format!("invalid retention policy JSON: {e}")))?;
        Ok(s.define_retention_policy(&policy)?)
    })
}

/// Destroys every customer a retention policy says is due now; the report
/// (destroyed customers with policy and method, and those skipped under a
/// legal hold) as JSON in `*out`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_retention_sweep_json(session: *const cust_session, out: *mut *mut c_char) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        json_out(out, &s.sweep()?)
    })
}
