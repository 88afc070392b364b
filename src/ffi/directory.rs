//! Principals, grants, roles, credentials, consent and the audit log
//! through C. Reports (audit entries, access review, consents) come out as
//! JSON strings; everything a console needs to act has plain parameters.

use std::ffi::c_char;

use super::boundary::{Outcome, c_string, optional_text, out_ptr, text, write};
use super::session::{cust_session, with_session};
use super::status::{Failure, cust_status};
use crate::audit::AuditQuery;
use crate::consent::{Channel, ConsentChange};
use crate::model::CustomerId;
use crate::{NewPrincipal, Purpose, Role, RoleDefinition};

/// Writes `value` as JSON into `*out` (checked by the caller).
pub(crate) fn json_out(out: *mut *mut c_char, value: &impl serde::Serialize) -> Outcome {
    let json = serde_json::to_string(value).map_err(|e| Failure::new(cust_status::Internal, format!("JSON: {e}")))?;
    // SAFETY: every caller checked `out`.
    unsafe { write(out, c_string(json)?) };
    Ok(())
}

/// Registers principal `id` (a person, or a system if `system`). Needs an
/// administrator session.
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_register(
    session: *const cust_session,
    id: *const c_char,
    display_name: *const c_char,
    system: bool,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, name) = unsafe { (text(id, "id")?, text(display_name, "display_name")?) };
        let new = if system { NewPrincipal::system(id, name) } else { NewPrincipal::staff(id, name) };
        s.register_principal(&new)?;
        Ok(())
    })
}

/// Grants `role` (a built-in name such as `customer_service`, or a defined
/// role) to principal `id` until `expires_at_ms` (Unix ms; 0: no expiry).
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_grant(
    session: *const cust_session,
    id: *const c_char,
    role: *const c_char,
    expires_at_ms: i64,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, role) = unsafe { (text(id, "id")?, text(role, "role")?) };
        s.grant_role(id, Role::parse(role)?, (expires_at_ms != 0).then_some(expires_at_ms))?;
        Ok(())
    })
}

/// Removes `role` from principal `id`; open sessions lose it on their next call.
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_revoke_role(
    session: *const cust_session,
    id: *const c_char,
    role: *const c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, role) = unsafe { (text(id, "id")?, text(role, "role")?) };
        s.revoke_role(id, &Role::parse(role)?)?;
        Ok(())
    })
}

/// Revokes principal `id` (departure) for `reason`: its open sessions are
/// refused from their next call.
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_revoke(
    session: *const cust_session,
    id: *const c_char,
    reason: *const c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, reason) = unsafe { (text(id, "id")?, text(reason, "reason")?) };
        s.revoke_principal(id, reason)?;
        Ok(())
    })
}

/// Sets principal `id`'s password (kept only as a salted PBKDF2 hash).
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_set_password(
    session: *const cust_session,
    id: *const c_char,
    password: *const c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, password) = unsafe { (text(id, "id")?, text(password, "password")?) };
        s.set_password(id, password)?;
        Ok(())
    })
}

/// Enrols a fresh TOTP second factor for principal `id` (SHA-1, 6 digits,
/// 30 s) and returns its secret in `(*secret, *secret_len)` for the person's
/// authenticator; free it with `cust_bytes_free`, which zeroes it.
///
/// # Safety
/// `session` must be a valid handle; `id` NUL-terminated; the outputs writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_enrol_totp(
    session: *const cust_session,
    id: *const c_char,
    secret: *mut *mut u8,
    secret_len: *mut usize,
) -> cust_status {
    with_session(session, |s| {
        super::bytes_out_ptrs(secret, secret_len)?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let id = unsafe { text(id, "id") }?;
        let totp = s.enrol_totp(id)?;
        super::bytes_out(totp.secret().to_vec(), secret, secret_len);
        Ok(())
    })
}

/// Lifts a login lock on principal `id`.
///
/// # Safety
/// `session` must be a valid handle; `id` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_principal_unlock(session: *const cust_session, id: *const c_char) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        s.unlock_principal(unsafe { text(id, "id") }?)?;
        Ok(())
    })
}

/// Defines (or redefines) a role from its JSON form: `{"name": ..,
/// "description": .., "rules": [{"id": .., "actions": ["read"], "purposes":
/// ["service"], "levels": ["L2"], "fields": ["mobile"], "effect": "allow"|"mask",
/// "requires_mfa": false, "max_auth_age_secs": null}], "without_mfa": "mask"|"deny"}`.
///
/// # Safety
/// `session` must be a valid handle; `json` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_role_define_json(session: *const cust_session, json: *const c_char) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let json = unsafe { text(json, "json") }?;
        let definition: RoleDefinition = serde_json::from_str(json)
            .map_err(|e| Failure::new(cust_status::Invalid, format!("invalid role definition JSON: {e}")))?;
        s.define_role(&definition)?;
        Ok(())
    })
}

/// The access review as JSON in `*out` (free with `cust_string_free`):
/// every principal, its grants, their last use, and which are expired or
/// unused for `stale_after_days`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_access_review_json(
    session: *const cust_session,
    stale_after_days: u32,
    out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        json_out(out, &s.access_review(stale_after_days)?)
    })
}

/// Records customer `customer`'s consent to `purpose` on `channel` being
/// given (`granted`) or withdrawn, where (`source`: `web_form`, `counter`,
/// `call`, ...) and under which privacy-policy version. Takes effect on the
/// next call of every session. `channel` is `sms`, `email`, `phone` or
/// `post`, or `third_party` / `third_party_sensitive` for the separate
/// consent to sharing, whose `purpose` is then a registered recipient's id
/// or `third_parties` (else `CUST_STATUS_INVALID`, rule
/// `consent_recipient_unknown`).
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_consent_record(
    session: *const cust_session,
    customer: i64,
    purpose: *const c_char,
    channel: *const c_char,
    granted: bool,
    source: *const c_char,
    policy_version: *const c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (purpose, channel, source, version) = unsafe {
            (
                text(purpose, "purpose")?,
                text(channel, "channel")?,
                text(source, "source")?,
                text(policy_version, "policy_version")?,
            )
        };
        let change = ConsentChange {
            purpose: Purpose::parse(purpose)?,
            channel: Channel::parse(channel)?,
            granted,
            source: source.to_owned(),
            policy_version: version.to_owned(),
        };
        s.record_consent(CustomerId(customer), &change)?;
        Ok(())
    })
}

/// Customer `customer`'s consent history as JSON (oldest first) in `*out`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_consent_list_json(
    session: *const cust_session,
    customer: i64,
    out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        json_out(out, &s.consents(CustomerId(customer))?)
    })
}

/// Audit entries as JSON in `*out` (auditors and administrators): those
/// about `customer` (0: any), by `principal` (NULL: any), in
/// `[from_ms, to_ms)` (0: unbounded), at most `limit` (0: 1,000). The query
/// is itself audited.
///
/// # Safety
/// `session` must be a valid handle; `principal` NULL or NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_audit_query_json(
    session: *const cust_session,
    customer: i64,
    principal: *const c_char,
    from_ms: i64,
    to_ms: i64,
    limit: u32,
    out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let principal = unsafe { optional_text(principal, "principal") }?;
        let query = AuditQuery {
            customer: (customer != 0).then_some(CustomerId(customer)),
            principal: principal.map(str::to_owned),
            from_time: (from_ms != 0).then_some(from_ms),
            to_time: (to_ms != 0).then_some(to_ms),
            limit,
            ..Default::default()
        };
        json_out(out, &s.audit_entries(&query)?)
    })
}

/// Verifies customer `id` (审核): an `unverified` customer whose values all
/// pass validation becomes `active`; otherwise the first failing field is
/// reported (`CUST_STATUS_INVALID`) and nothing changes.
///
/// # Safety
/// `session` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_verify(
    session: *const cust_session,
    id: i64,
    expected_version: u64,
) -> cust_status {
    with_session(session, |s| {
        s.verify(CustomerId(id), expected_version)?;
        Ok(())
    })
}
