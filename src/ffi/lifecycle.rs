//! The data lifecycle through C: data-subject requests, legal holds,
//! retention, backups, restore and master-key rotation. Reports come out
//! as JSON strings.

use std::ffi::c_char;

use super::boundary::{Outcome, optional_text, out_ptr, text, write};
use super::customer::{cust_customer, cust_input, patch_of};
use super::directory::json_out;
use super::session::{cust_session, with_session};
use super::status::{Failure, LastError, cust_status};
use super::store::{cust_store, key_source, passphrase_source, with_store};
use crate::crypto::{DEFAULT_KDF_ITERATIONS, KeySource};
use crate::model::CustomerId;
use crate::retention::RetentionPolicy;
use crate::{RestoreOptions, Store};

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

/// Backs the live store up into the new directory `dir` (customer data and
/// key store in separate files, online).
///
/// # Safety
/// `store` must be a valid handle; `dir` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_backup(store: *const cust_store, dir: *const c_char) -> cust_status {
    with_store(store, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        Ok(s.store.backup_to(unsafe { text(dir, "dir") }?)?)
    })
}

/// Verifies the backup in `dir` with the 32-byte master key: it opens,
/// passes the integrity check, its audit chain verifies and a sample
/// decrypts. `*customers` (if not NULL) receives how many it holds.
///
/// # Safety
/// `dir` NUL-terminated; `key` `key_len` readable bytes; `customers` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify(
    dir: *const c_char,
    key: *const u8,
    key_len: usize,
    customers: *mut u64,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { verify_backup(dir, key_source(key, key_len)?, customers) })
}

/// `cust_backup_verify` for a store whose master key comes from a passphrase.
///
/// # Safety
/// `dir` and `passphrase` NUL-terminated; `customers` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify_passphrase(
    dir: *const c_char,
    passphrase: *const c_char,
    customers: *mut u64,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { verify_backup(dir, passphrase_source(passphrase)?, customers) })
}

/// # Safety
/// As `cust_backup_verify`.
unsafe fn verify_backup(dir: *const c_char, key: KeySource, customers: *mut u64) -> Outcome<()> {
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    let dir = unsafe { text(dir, "dir") }?;
    let verified = Store::verify_backup(dir, key)?;
    if !customers.is_null() {
        // SAFETY: non-NULL and writable, as the caller promises.
        unsafe { write(customers, verified.customers) };
    }
    Ok(())
}

/// Restores the backup in `backup_dir` into the store directory
/// `store_dir` (not open in this process: `CUST_STATUS_STORE_OPEN`). Into a
/// live store only the customer records are replaced: the audit log,
/// consents, restrictions, holds, principals, retention policies and the
/// erasure ledger are kept, customers created since the backup are removed
/// and customers erased since stay erased. Into an empty directory the
/// backup is copied whole. The report as JSON in `*out` if `out` is not
/// NULL: `customers`, `keys_restored`, `removed_by_ledger`, `restored`,
/// `removed` (ids).
///
/// # Safety
/// The strings NUL-terminated; `key` `key_len` readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore(backup_dir, store_dir, key_source(key, key_len)?, out) })
}

/// `cust_store_restore` for a store whose master key comes from a passphrase.
///
/// # Safety
/// The strings NUL-terminated; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_passphrase(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore(backup_dir, store_dir, passphrase_source(passphrase)?, out) })
}

/// `cust_store_restore` of a backup made before the store's master key was
/// rotated: the backup is read with `backup_key` (the key it was made
/// under), and the store ends up under `key` (its current one).
///
/// # Safety
/// The strings NUL-terminated; each key its length in readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_rotated(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    backup_key: *const u8,
    backup_key_len: usize,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
) -> cust_status {
    super::plain(|| {
        let options = RestoreOptions::default().backup_key(key_source(backup_key, backup_key_len)?);
        // SAFETY: forwarded caller guarantees.
        unsafe { restore_with(backup_dir, store_dir, key_source(key, key_len)?, &options, out) }
    })
}

/// Restores the backup in `backup_dir` into `store_dir` after the store was
/// lost whole (no data, no key store there): nothing in the backup can say
/// what was erased since it was taken, so the host's outside record must.
/// `checkpoint` is the text of the last checkpoint the host kept (or NULL);
/// `receipts` the texts of every erasure receipt it kept, one after the
/// other (or NULL): every customer a receipt names stays erased. With
/// neither, the restore is refused (`CUST_STATUS_INVALID`,
/// `outside_record_required`) unless `acknowledge_lost_history` is true,
/// which is audited. The report JSON (as `cust_store_restore`'s) adds
/// `unknown_after` and `unknown_through`: the range of lost history.
///
/// # Safety
/// The strings NUL-terminated or NULL where allowed; `key` `key_len` readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_store_restore_after_loss(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    key: *const u8,
    key_len: usize,
    checkpoint: *const c_char,
    receipts: *const c_char,
    acknowledge_lost_history: bool,
    out: *mut *mut c_char,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (checkpoint, receipts) =
            unsafe { (optional_text(checkpoint, "checkpoint")?, optional_text(receipts, "receipts")?) };
        let mut options = RestoreOptions::default();
        if checkpoint.is_some() || receipts.is_some() {
            let checkpoint = checkpoint.map(crate::Checkpoint::parse).transpose()?;
            let receipts = receipts.map(parse_receipts).transpose()?.unwrap_or_default();
            options = options.outside_record(checkpoint, receipts);
        }
        if acknowledge_lost_history {
            options = options.acknowledge_lost_history();
        }
        // SAFETY: forwarded caller guarantees.
        unsafe { restore_with(backup_dir, store_dir, key_source(key, key_len)?, &options, out) }
    })
}

/// Receipts written one after the other, each starting with its header line.
fn parse_receipts(text: &str) -> crate::Result<Vec<crate::ErasureReceipt>> {
    const HEADER: &str = "custodian erasure receipt v1";
    let starts: Vec<usize> = text.match_indices(HEADER).map(|(at, _)| at).collect();
    if starts.is_empty() && !text.trim().is_empty() {
        return Err(crate::Error::invalid("receipts", "receipt_syntax", "no erasure receipt in the text"));
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, start)| crate::ErasureReceipt::parse(&text[*start..starts.get(i + 1).copied().unwrap_or(text.len())]))
        .collect()
}

/// # Safety
/// As `cust_store_restore`.
unsafe fn restore(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    key: KeySource,
    out: *mut *mut c_char,
) -> Outcome<()> {
    // SAFETY: forwarded caller guarantees.
    unsafe { restore_with(backup_dir, store_dir, key, &RestoreOptions::default(), out) }
}

/// # Safety
/// As `cust_store_restore`.
unsafe fn restore_with(
    backup_dir: *const c_char,
    store_dir: *const c_char,
    key: KeySource,
    options: &RestoreOptions,
    out: *mut *mut c_char,
) -> Outcome<()> {
    // SAFETY: the caller promises NUL-terminated strings or NULL.
    let (backup, target) = unsafe { (text(backup_dir, "backup_dir")?, text(store_dir, "store_dir")?) };
    let report = Store::restore_with(backup, target, key, options)?;
    if !out.is_null() {
        let gap = report.unknown_history;
        let json = serde_json::json!({
            "unknown_after": gap.map(|g| g.after),
            "unknown_through": gap.and_then(|g| g.through),
            "customers": report.verified.customers,
            "keys_restored": report.keys_restored,
            "removed_by_ledger": report.removed_by_ledger,
            "restored": report.restored,
            "removed": report.removed.iter().map(|id| id.0).collect::<Vec<_>>(),
        });
        json_out(out, &json)?;
    }
    Ok(())
}

/// Rewraps every data key under the new 32-byte master key `new_key`
/// (no data is re-encrypted; all or nothing). Sessions open on the store go
/// on working; another process with the store open must reopen it with the
/// new key.
///
/// # Safety
/// `store` must be a valid handle not used by another thread during the call;
/// `new_key` `key_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_rotate_key(
    store: *mut cust_store,
    new_key: *const u8,
    key_len: usize,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe { rotate(store, || key_source(new_key, key_len), DEFAULT_KDF_ITERATIONS) }
}

/// Rewraps every data key under a master key derived from `passphrase`
/// (PBKDF2-HMAC-SHA256 with `kdf_iterations`, 0 for the default 600,000;
/// at least 100,000), whatever the store's key was before. Sessions open
/// on the store go on working.
///
/// # Safety
/// `store` must be a valid handle not used by another thread during the call;
/// `passphrase` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_rotate_key_passphrase(
    store: *mut cust_store,
    passphrase: *const c_char,
    kdf_iterations: u32,
) -> cust_status {
    let iterations = if kdf_iterations == 0 { DEFAULT_KDF_ITERATIONS } else { kdf_iterations };
    // SAFETY: forwarded caller guarantees.
    unsafe { rotate(store, || passphrase_source(passphrase), iterations) }
}

/// # Safety
/// `store` must be NULL or a valid handle not used by another thread during the call.
unsafe fn rotate(store: *mut cust_store, key: impl FnOnce() -> Outcome<KeySource>, iterations: u32) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let Some(handle) = (unsafe { store.as_mut() }) else {
        return super::plain(|| Err(super::boundary::null("store")));
    };
    let cust_store { store, last_error } = handle;
    let last_error: &LastError = last_error;
    super::boundary::guard(Some(last_error), || Ok(store.rotate_master_key_with(key()?, iterations)?))
}
