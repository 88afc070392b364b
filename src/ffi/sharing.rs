//! Sharing with third parties through C: recipients and shares managed
//! with JSON in and out, a `cust_share_session` handle through which a
//! recipient reads its share (customers come out as the usual
//! `cust_customer` and `cust_list` handles), and share packages verified
//! and opened without a store.

use std::ffi::{CString, c_char};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::boundary::{Outcome, bytes, c_string, free_handle, guard, into_handle, object, out_ptr, text, write};
use super::customer::{cust_customer, cust_list, hand_out, hand_out_list};
use super::json::{FilterJson, object_of};
use super::session::{cust_session, with_session};
use super::status::{Failure, LastError, copy_out, cust_status};
use super::store::{cust_store, with_store};
use crate::model::{CustomerId, Field};
use crate::sharing::package::{self, PackageManifest, PackagedCustomer, RecipientSecret};
use crate::sharing::{NewRecipient, NewShare, ShareCustomers};
use crate::{Error, Purpose, ShareSession};

/// Length of an X25519 key (public or secret).
const KEY_LEN: usize = 32;

/// A recipient's session on one share, opened by `cust_share_session_open`
/// and closed with `cust_share_session_close`. It reads only what the share
/// grants, of the customers inside it, and keeps the store alive.
pub struct cust_share_session {
    session: ShareSession,
    last_error: LastError,
}

/// Runs `body` on the share session behind `session`, recording failures on it.
fn with_share_session(session: *const cust_share_session, body: impl FnOnce(&ShareSession) -> Outcome) -> cust_status {
    // SAFETY: a caller of an exported function promises a valid or NULL handle.
    let handle = unsafe { session.as_ref() };
    guard(handle.map(|h| &h.last_error), || {
        body(&handle.ok_or_else(|| super::boundary::null("share_session"))?.session)
    })
}

fn internal(e: serde_json::Error) -> Failure {
    Failure::new(cust_status::Internal, format!("JSON: {e}"))
}

/// Writes `value` as JSON through a checked output pointer.
fn json_out(out: *mut *mut c_char, value: &impl Serialize) -> Outcome {
    let json = c_string(serde_json::to_string(value).map_err(internal)?)?;
    // SAFETY: every caller checked `out`.
    unsafe { write(out, json) };
    Ok(())
}

/// Writes `value` as JSON through `out` unless it is NULL (an optional output).
fn json_out_if(out: *mut *mut c_char, value: &impl Serialize) -> Outcome {
    if out.is_null() { Ok(()) } else { json_out(out, value) }
}

/// `value` as a library string holding customer values: the JSON is
/// measured first and written into a buffer of exactly that size (and its
/// NUL), so no reallocation leaves a copy of the values behind.
/// `cust_string_free` zeroes the one copy there is.
fn plaintext_json(value: &impl Serialize) -> Outcome<*mut c_char> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_err(internal)?;
    let mut buffer = Vec::with_capacity(count.0 + 1);
    if let Err(e) = serde_json::to_writer(&mut buffer, value) {
        buffer.zeroize();
        return Err(internal(e));
    }
    // The NUL goes into the byte reserved for it: no reallocation.
    CString::new(buffer).map(CString::into_raw).map_err(|e| {
        e.into_vec().zeroize();
        Failure::new(cust_status::Internal, "a result contained a NUL byte")
    })
}

/// A 32-byte key argument: exactly 32 bytes, else out of range.
fn key_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Outcome<&'a [u8]> {
    if len != KEY_LEN {
        return Err(Error::out_of_range(
            name,
            "key_length",
            format!("an X25519 key is exactly {KEY_LEN} bytes, got {len}"),
        )
        .into());
    }
    // SAFETY: the caller promises `len` readable bytes at `ptr`.
    unsafe { bytes(ptr, len, name) }
}

/// A 32-byte output buffer: exactly 32 bytes and not NULL.
fn key_out(ptr: *mut u8, len: usize, name: &str, len_name: &str) -> Outcome<*mut u8> {
    let ptr = out_ptr(ptr, name)?;
    if len != KEY_LEN {
        return Err(Error::out_of_range(
            len_name,
            "key_length",
            format!("an X25519 key is exactly {KEY_LEN} bytes, the buffer holds {len}"),
        )
        .into());
    }
    Ok(ptr)
}

/// A recipient secret from C bytes (copied into a buffer zeroed on drop).
fn secret_of(ptr: *const u8, len: usize) -> Outcome<RecipientSecret> {
    let given = key_bytes(ptr, len, "secret")?;
    let mut copy = Zeroizing::new([0u8; KEY_LEN]);
    copy.copy_from_slice(given);
    Ok(RecipientSecret::from_bytes(*copy))
}

/// The recipient JSON of `cust_recipient_register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientJson {
    id: String,
    name: String,
    agreement: String,
    agreement_from: i64,
    agreement_until: i64,
    public_key: String,
}

/// A public key written as 64 hexadecimal digits.
fn public_key_of(hex: &str) -> Outcome<[u8; KEY_LEN]> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let malformed = || {
        Failure::from(Error::invalid(
            "public_key",
            "recipient_public_key",
            "an X25519 public key is 64 hexadecimal digits (32 bytes)",
        ))
    };
    let raw = hex.as_bytes();
    if raw.len() != 2 * KEY_LEN {
        return Err(malformed());
    }
    let mut key = [0u8; KEY_LEN];
    for (i, pair) in raw.chunks(2).enumerate() {
        key[i] = digit(pair[0]).zip(digit(pair[1])).map(|(h, l)| h << 4 | l).ok_or_else(malformed)?;
    }
    Ok(key)
}

fn recipient_of(json: &str) -> Outcome<NewRecipient> {
    let parsed: RecipientJson = object_of(json, "recipient")?;
    Ok(NewRecipient {
        public_key: public_key_of(&parsed.public_key)?,
        id: parsed.id,
        name: parsed.name,
        agreement: parsed.agreement,
        agreement_from: parsed.agreement_from,
        agreement_until: parsed.agreement_until,
    })
}

/// The share JSON of `cust_share_create`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareJson {
    recipient: String,
    purpose: String,
    fields: Vec<String>,
    #[serde(default)]
    customers: Option<Vec<i64>>,
    #[serde(default)]
    filter: Option<FilterJson>,
    expires_at: i64,
    agreement: String,
}

/// The share a JSON text describes; purpose and field names are checked by
/// the Rust API's own parsers, everything else by the call itself.
fn share_of(json: &str) -> Outcome<NewShare> {
    let parsed: ShareJson = object_of(json, "share")?;
    let customers = match (parsed.customers, parsed.filter) {
        (Some(ids), None) => ShareCustomers::Listed(ids.into_iter().map(CustomerId).collect()),
        (None, Some(f)) => ShareCustomers::Matching(f.into_share_filter()),
        _ => {
            return Err(Error::invalid(
                "customers",
                "share_customers_or_filter",
                "a share names its customers by `customers` (a list of ids) or by `filter`, exactly one of them",
            )
            .into());
        }
    };
    let mut fields = Vec::with_capacity(parsed.fields.len());
    for name in &parsed.fields {
        fields.push(Field::parse(name)?);
    }
    Ok(NewShare {
        recipient: parsed.recipient,
        purpose: Purpose::parse(&parsed.purpose)?,
        fields,
        customers,
        expires_at: parsed.expires_at,
        agreement: parsed.agreement,
    })
}

/// Registers a recipient of shared data: an external party receiving
/// customers' information under an agreement, with the X25519 public key
/// its packages are sealed to (`cust_recipient_keypair` makes a pair).
///
/// `recipient_json`: `{"id": "acme", "name": "顺达物流有限公司",
/// "agreement": "DPA-2026-017", "agreement_from": 1764547200000,
/// "agreement_until": 1796083200000, "public_key": "<64 hex digits>"}`,
/// every key required. `id` (`[a-z][a-z0-9_]{0,31}`, not a built-in purpose
/// nor `third_parties`; rule `recipient_id`) is what sharing consents name
/// as their purpose; `name` 1-64 printable characters; `agreement` the
/// agreement's reference; its period in Unix ms, the end exclusive and
/// after the start (rule `agreement_period`); `public_key` 64 hexadecimal
/// digits of a usable key (rule `recipient_public_key`). Bad JSON, anything
/// but an object, an unknown key or a value of the wrong type gives
/// `CUST_STATUS_INVALID`; an id already registered
/// `CUST_STATUS_ALREADY_EXISTS`. Nothing is stored on failure.
///
/// Needs the `manage` action (administrators); audited as
/// `share.register_recipient`. `*recipient_json_out` (may be NULL) receives
/// the recipient as stored: the keys above (the key as hex) and
/// `registered_at`, `registered_by`; free it with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `recipient_json` NUL-terminated;
/// `recipient_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_recipient_register(
    session: *const cust_session,
    recipient_json: *const c_char,
    recipient_json_out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let new = recipient_of(unsafe { text(recipient_json, "recipient_json") }?)?;
        let recipient = s.register_recipient(&new)?;
        json_out_if(recipient_json_out, &recipient)
    })
}

/// Revokes recipient `id` for `reason` (1-64 printable characters): every
/// share to it ends at once, and no new one can be granted. An unknown id
/// gives `CUST_STATUS_RECIPIENT_NOT_FOUND`; one already revoked
/// `CUST_STATUS_INVALID` (rule `already_revoked`). Needs the `manage`
/// action; audited as `share.revoke_recipient` with the reason.
/// `*recipient_json_out` (may be NULL) receives the recipient with its
/// `revoked` (`{"at", "by", "reason"}`); free it with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `id` and `reason` NUL-terminated;
/// `recipient_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_recipient_revoke(
    session: *const cust_session,
    id: *const c_char,
    reason: *const c_char,
    recipient_json_out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, reason) = unsafe { (text(id, "id")?, text(reason, "reason")?) };
        let recipient = s.revoke_recipient(id, reason)?;
        json_out_if(recipient_json_out, &recipient)
    })
}

/// Every registered recipient, revoked ones included (with their
/// `revoked`), by id, as a JSON array in the form `cust_recipient_register`
/// gives. Needs the `manage` action. Free `*json` with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_recipients_json(session: *const cust_session, json: *mut *mut c_char) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(json, "json")?;
        json_out(out, &s.recipients()?)
    })
}

/// Grants a share: the listed fields of the customers it covers, to a
/// registered recipient for one purpose, until it expires. A customer is
/// inside only while their separate consent to sharing with that recipient
/// stands (`cust_consent_record` with channel `third_party`, purpose the
/// recipient's id or `third_parties`; the latest of the two decides); L1
/// fields also need consent on channel `third_party_sensitive`.
///
/// `share_json`: `{"recipient": "acme", "purpose": "delivery", "fields":
/// ["name", "mobile"], "customers": [3, 7], "expires_at": 1767225600000,
/// "agreement": "DPA-2026-017"}`, or `"filter": {"category": "零售"}` (any of
/// `kind`, `category`, `tier`, `source`; `{}` covers everyone) instead of
/// `customers`: exactly one of the two (rule `share_customers_or_filter`).
/// `purpose` is a custom purpose, `service` or `analytics`; `fields` lists
/// 1-32 fields by name, never "all" (an unknown one gives
/// `CUST_STATUS_UNKNOWN_FIELD`); `customers` 1 to 100,000 existing ids (an
/// unknown one gives `CUST_STATUS_NOT_FOUND`); `expires_at` (Unix ms) in
/// the future and no later than the agreement's end; `agreement` the
/// recipient's. An unregistered recipient gives
/// `CUST_STATUS_RECIPIENT_NOT_FOUND`, a revoked one or an agreement not in
/// effect `CUST_STATUS_DENIED`. Bad JSON, anything but an object, an
/// unknown key or a value of the wrong type gives `CUST_STATUS_INVALID`.
/// Nothing is stored on failure.
///
/// Needs the `manage` action; audited as `share.create`, naming listed
/// customers. `*share_id` (may be NULL) receives the new share's id, for
/// `cust_share_session_open`; `*share_json_out` (may be NULL) the share:
/// `{"id", "recipient", "purpose", "fields", "customers": {"listed": [3,
/// 7]} or {"matching": {"category": "零售"}}, "expires_at", "agreement",
/// "created_at", "created_by"}`; free it with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `share_json` NUL-terminated;
/// `share_id` and `share_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_create(
    session: *const cust_session,
    share_json: *const c_char,
    share_id: *mut u64,
    share_json_out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let new = share_of(unsafe { text(share_json, "share_json") }?)?;
        let share = s.create_share(&new)?;
        json_out_if(share_json_out, &share)?;
        // SAFETY: NULL or writable, as the caller promises.
        unsafe { super::boundary::write_if(share_id, share.id) };
        Ok(())
    })
}

/// Revokes share `share` for `reason` (1-64 printable characters): its
/// recipient sees nothing through it from the next call on (an open
/// `cust_share_session` gets `CUST_STATUS_DENIED`, rule `share.revoked`).
/// An unknown share gives `CUST_STATUS_SHARE_NOT_FOUND`; one already
/// revoked `CUST_STATUS_INVALID` (rule `already_revoked`). Needs the
/// `manage` action; audited as `share.revoke`. `*share_json_out` (may be
/// NULL) receives the share with its `revoked`; free it with
/// `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `reason` NUL-terminated;
/// `share_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_revoke(
    session: *const cust_session,
    share: u64,
    reason: *const c_char,
    share_json_out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let reason = unsafe { text(reason, "reason") }?;
        let revoked = s.revoke_share(share, reason)?;
        json_out_if(share_json_out, &revoked)
    })
}

/// Every share granted, revoked and expired ones included, by id, as a
/// JSON array in the form `cust_share_create` gives. Needs the `manage`
/// action. Free `*json` with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_shares_json(session: *const cust_session, json: *mut *mut c_char) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(json, "json")?;
        json_out(out, &s.shares()?)
    })
}

/// Every share customer `customer` is or was in (listed by it, inside it
/// now, or disclosed through), for the customer's access report, as JSON:
/// `[{"share": {...}, "inside_now": true, "disclosures": [{"at": ms, "seq":
/// 41, "recipient": "acme", "share": 1, "action": "share.get", "fields":
/// ["mobile", "name"]}]}]` (the share as `cust_share_create` gives it; the
/// disclosures from the audit log, oldest first, field names only). Needs
/// the `audit` action (auditors, administrators for compliance). Free
/// `*json` with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_shares_json(
    session: *const cust_session,
    customer: i64,
    json: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(json, "json")?;
        json_out(out, &s.customer_shares(CustomerId(customer))?)
    })
}

/// Opens the recipient's session on share `share`, for the host serving
/// that recipient: it reads the share's granted fields of the customers
/// inside it and nothing else, and can do nothing else. Every call is
/// audited under principal `recipient:<id>` with target `share:<id>`,
/// naming the customers and fields disclosed; the opening too
/// (`share.session_open`). An unknown share gives
/// `CUST_STATUS_SHARE_NOT_FOUND`; a share revoked or expired, a revoked
/// recipient or an agreement not in effect `CUST_STATUS_DENIED` (rules
/// `share.revoked`, `share.expired`, `share.recipient_revoked`,
/// `share.agreement_not_in_effect`), then and on any later call. The
/// session keeps the store alive; close it with `cust_share_session_close`.
///
/// # Safety
/// `store` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_session_open(
    store: *const cust_store,
    share: u64,
    out: *mut *mut cust_share_session,
) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(out, "out")?;
        let session = s.store.share_session(share)?;
        // SAFETY: checked.
        unsafe { write(out, into_handle(cust_share_session { session, last_error: LastError::default() })) };
        Ok(())
    })
}

/// Closes a share session (NULL is ignored).
///
/// # Safety
/// `session` must be NULL or a handle not closed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_session_close(session: *mut cust_share_session) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(session) }
}

/// Copies the id of the share session's recipient into `buf` (snprintf
/// semantics, as `cust_last_error`).
///
/// # Safety
/// `session` must be a valid handle; `buf` NULL or `len` writable bytes;
/// `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_session_recipient(
    session: *const cust_share_session,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    let mut status = cust_status::Ok;
    let guarded = with_share_session(session, |s| {
        // SAFETY: forwarded caller guarantees.
        status = unsafe { copy_out(s.recipient(), buf, len, needed) };
        if status != cust_status::Ok {
            return Err(Failure::new(status, format!("the buffer holds {len} bytes; the recipient's id needs more")));
        }
        Ok(())
    });
    if guarded == cust_status::Ok { status } else { guarded }
}

/// Copies the last error message recorded on the share session (snprintf
/// semantics, as `cust_last_error`).
///
/// # Safety
/// `session` must be a valid handle; `buf` NULL or `len` writable bytes;
/// `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_session_last_error(
    session: *const cust_share_session,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL.
    match unsafe { object(session, "share_session") } {
        // SAFETY: forwarded caller guarantees.
        Ok(s) => unsafe { copy_out(&s.last_error.get(), buf, len, needed) },
        Err(_) => cust_status::NullArgument,
    }
}

/// Reads customer `customer` through the share: `*out` receives it with
/// the granted fields only (read it with `cust_customer_field`,
/// `cust_customer_to_json`, ...; free it with `cust_customer_free`). Every
/// other field is withheld (rule `share.field_not_granted`), and so are L1
/// fields unless the customer's sharing consent names sensitive data (rule
/// `share.sensitive_consent_required`). A customer outside the share (not
/// covered, not consenting, restricted, erased) gives `CUST_STATUS_NOT_FOUND`,
/// as one that does not exist. Audited as `share.get`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_get(
    session: *const cust_share_session,
    customer: i64,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_share_session(session, |s| {
        let out = out_ptr(out, "out")?;
        hand_out(out, s.get(CustomerId(customer))?);
        Ok(())
    })
}

/// Up to `limit` (1 to 1000, else `CUST_STATUS_INVALID_ARGUMENT`) customers
/// inside the share with ids above `after` (0: from the first), in id
/// order, each as `cust_share_get` gives it, in `*out` (a `cust_list`: read
/// it with `cust_list_len` and `cust_list_get`, free it with
/// `cust_list_free`; its `cust_list_total` is this page's length, as a
/// share does not count its members). `*next` (may be NULL) receives the
/// `after` of the next page, 0 on the last. Audited as `share.list`, naming
/// the customers.
///
/// # Safety
/// `session` must be a valid handle; `next` NULL or writable; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_customers(
    session: *const cust_share_session,
    after: i64,
    limit: u32,
    next: *mut i64,
    out: *mut *mut cust_list,
) -> cust_status {
    with_share_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let page = s.customers((after != 0).then_some(CustomerId(after)), limit)?;
        // SAFETY: NULL or writable, as the caller promises.
        unsafe { super::boundary::write_if(next, page.next.map_or(0, |id| id.0)) };
        let total = page.customers.len() as u64;
        hand_out_list(out, page.customers, total);
        Ok(())
    })
}

/// Seals every customer inside the share, minimised to the granted fields,
/// into a package for the recipient: `(*out, *out_len)` receive its bytes
/// (free them with `cust_bytes_free`). The package is sealed to the
/// recipient's public key with a fresh ephemeral key (X25519, HKDF-SHA256,
/// AES-256-GCM with the manifest as additional data) and ends with its
/// SHA-256: `cust_package_verify` checks it without a key,
/// `cust_package_open` opens it with the recipient's secret. Audited as
/// `share.package`, naming the customers, the fields and the package's
/// SHA-256.
///
/// # Safety
/// `session` must be a valid handle; `out` and `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_share_package(
    session: *const cust_share_session,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> cust_status {
    with_share_session(session, |s| {
        super::bytes_out_ptrs(out, out_len)?;
        super::bytes_out(s.package()?, out, out_len);
        Ok(())
    })
}

/// A verified package's manifest, its keys in the documented order, and hash.
#[derive(Serialize)]
struct VerifiedJson<'a> {
    #[serde(flatten)]
    manifest: &'a PackageManifest,
    sha256: &'a str,
}

/// An opened package.
#[derive(Serialize)]
struct OpenedJson<'a> {
    manifest: &'a PackageManifest,
    sha256: &'a str,
    customers: &'a [PackagedCustomer],
}

/// Checks a share package without its key: the format, the manifest, and
/// the SHA-256 over everything, so a truncated or altered package is
/// refused (`CUST_STATUS_PACKAGE_REJECTED`, the message says how).
/// `*manifest_json` receives what the package says about itself, readable
/// by anyone who holds it: `{"format": "custodian-share-package/1",
/// "share": 1, "recipient": "acme", "recipient_key": "<hex>",
/// "ephemeral_key": "<hex>", "purpose": "delivery", "agreement":
/// "DPA-2026-017", "fields": ["name", "mobile"], "count": 3, "created_at":
/// ms, "expires_at": ms, "sha256": "<hex>"}` (no customer value); free it
/// with `cust_string_free`.
///
/// # Safety
/// `package` must hold `package_len` readable bytes (or be NULL with 0);
/// `manifest_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_package_verify(
    package: *const u8,
    package_len: usize,
    manifest_json: *mut *mut c_char,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(manifest_json, "manifest_json")?;
        // SAFETY: the caller promises `package_len` readable bytes.
        let package = unsafe { bytes(package, package_len, "package") }?;
        let verified = package::verify(package)?;
        json_out(out, &VerifiedJson { manifest: &verified.manifest, sha256: &verified.sha256 })
    })
}

/// Opens a share package with the recipient's 32-byte X25519 `secret`
/// (another length: `CUST_STATUS_INVALID_ARGUMENT`): verified as by
/// `cust_package_verify`, then decrypted, which also authenticates the
/// manifest. A package sealed to another key, altered, truncated or not a
/// package gives `CUST_STATUS_PACKAGE_REJECTED`. Needs no store: this is
/// what the recipient runs.
///
/// `*content_json` receives `{"manifest": {...as cust_package_verify
/// gives it, without sha256}, "sha256": "<hex>", "customers": [{"id": 3,
/// "fields": {"mobile": "13900000000", "name": "王五"}, "withheld":
/// ["id_number"]}]}`: each customer's granted values by field name, and the
/// granted fields left out for that customer (L1 without consent naming
/// sensitive data). It holds personal data: free it with
/// `cust_string_free`, which zeroes it (the library keeps no other copy).
///
/// # Safety
/// `package` must hold `package_len` readable bytes (or be NULL with 0);
/// `secret` `secret_len` readable bytes; `content_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_package_open(
    package: *const u8,
    package_len: usize,
    secret: *const u8,
    secret_len: usize,
    content_json: *mut *mut c_char,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(content_json, "content_json")?;
        // SAFETY: the caller promises `package_len` readable bytes.
        let package = unsafe { bytes(package, package_len, "package") }?;
        let secret = secret_of(secret, secret_len)?;
        let opened = package::open(package, &secret)?;
        let json = plaintext_json(&OpenedJson {
            manifest: &opened.manifest,
            sha256: &opened.sha256,
            customers: &opened.customers,
        })?;
        // SAFETY: checked.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// Makes a new recipient key pair from the operating system's random
/// number generator: the 32-byte X25519 secret into `secret` (kept by the
/// recipient, never by the sending store: wipe your copies with
/// `cust_memzero`) and its 32-byte public key into `public_key` (hex-encode
/// it for `cust_recipient_register`). Both lengths must be 32, else
/// `CUST_STATUS_INVALID_ARGUMENT`; nothing is written on failure.
///
/// # Safety
/// `secret` must hold `secret_len` writable bytes, `public_key`
/// `public_key_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_recipient_keypair(
    secret: *mut u8,
    secret_len: usize,
    public_key: *mut u8,
    public_key_len: usize,
) -> cust_status {
    super::plain(|| {
        let secret_out = key_out(secret, secret_len, "secret", "secret_len")?;
        let public_out = key_out(public_key, public_key_len, "public_key", "public_key_len")?;
        let made = RecipientSecret::generate()?;
        let bytes = made.to_bytes();
        let public = made.public_key();
        // SAFETY: both checked non-NULL with 32 writable bytes, as the caller promises.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), secret_out, KEY_LEN);
            std::ptr::copy_nonoverlapping(public.as_ptr(), public_out, KEY_LEN);
        }
        Ok(())
    })
}

/// The 32-byte X25519 public key of the recipient secret `secret` (32
/// bytes) into `public_key` (32 bytes); another length of either is
/// `CUST_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `secret` must hold `secret_len` readable bytes, `public_key`
/// `public_key_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_recipient_public_key(
    secret: *const u8,
    secret_len: usize,
    public_key: *mut u8,
    public_key_len: usize,
) -> cust_status {
    super::plain(|| {
        let public_out = key_out(public_key, public_key_len, "public_key", "public_key_len")?;
        let public = secret_of(secret, secret_len)?.public_key();
        // SAFETY: checked non-NULL with 32 writable bytes, as the caller promises.
        unsafe { std::ptr::copy_nonoverlapping(public.as_ptr(), public_out, KEY_LEN) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_64_hex_digits() {
        let key = public_key_of(&"0aF1".repeat(16)).ok().unwrap();
        assert_eq!(&key[..2], &[0x0a, 0xf1]);
        for bad in ["", "0a", &"0g".repeat(32), &"0a".repeat(33), &"é".repeat(32)] {
            let e = public_key_of(bad).unwrap_err();
            assert_eq!(e.status, cust_status::Invalid, "{bad}");
            assert!(e.message.contains("(rule recipient_public_key)"), "{}", e.message);
        }
    }

    #[test]
    fn a_share_names_its_customers_one_way_only() {
        let base =
            r#""recipient": "acme", "purpose": "delivery", "fields": ["name"], "expires_at": 1, "agreement": "A""#;
        let listed = share_of(&format!(r#"{{{base}, "customers": [3, 1]}}"#)).ok().unwrap();
        assert_eq!(listed.customers, ShareCustomers::Listed(vec![CustomerId(3), CustomerId(1)]));
        let filtered = share_of(&format!(r#"{{{base}, "filter": {{"tier": "A"}}}}"#)).ok().unwrap();
        assert!(matches!(filtered.customers, ShareCustomers::Matching(f) if f.tier.as_deref() == Some("A")));
        for bad in [format!("{{{base}}}"), format!(r#"{{{base}, "customers": [1], "filter": {{}}}}"#)] {
            assert!(share_of(&bad).unwrap_err().message.contains("share_customers_or_filter"), "{bad}");
        }
        assert!(
            share_of(&format!(r#"{{{base}, "filter": {{"colour": "red"}}}}"#)).unwrap_err().message.contains("colour")
        );
        assert!(share_of("[]").unwrap_err().message.contains("invalid share JSON"));
    }

    #[test]
    fn plaintext_json_is_exactly_sized() {
        let text = plaintext_json(&serde_json::json!({"a": "王五", "b": [1, 2]})).ok().unwrap();
        // SAFETY: made just above; freed once.
        let owned = unsafe { CString::from_raw(text) };
        assert_eq!(owned.to_str().unwrap(), r#"{"a":"王五","b":[1,2]}"#);
    }
}
