//! `cust_store`: creating, opening and closing a store; bootstrapping its
//! first administrator; verifying its audit chain.

use std::ffi::{c_char, c_void};

use super::boundary::{
    Outcome, c_string, free_handle, guard, into_handle, object, optional_text, out_ptr, text, write,
};
use super::status::{Failure, LastError, copy_out, cust_status};
use crate::{Checkpoint, CreateOptions, KeySource, NewPrincipal, Store};

/// An open store. Close it with `cust_store_close`; sessions opened on it
/// keep it alive until they are closed too.
pub struct cust_store {
    pub(crate) store: Store,
    pub(crate) last_error: LastError,
}

/// Runs `body` on the store behind `store`, recording failures on it.
pub(crate) fn with_store(store: *const cust_store, body: impl FnOnce(&cust_store) -> Outcome) -> cust_status {
    // SAFETY: a caller of an exported function promises a valid or NULL handle.
    let handle = unsafe { store.as_ref() };
    guard(handle.map(|h| &h.last_error), || body(handle.ok_or_else(|| super::boundary::null("store"))?))
}

/// A raw-key source from a C byte argument.
pub(crate) fn key_source(key: *const u8, key_len: usize) -> Outcome<KeySource> {
    // SAFETY: the caller promises `key_len` readable bytes at `key`.
    let bytes = unsafe { super::boundary::bytes(key, key_len, "key") }?;
    Ok(KeySource::key_bytes(bytes)?)
}

pub(crate) unsafe fn passphrase_source(passphrase: *const c_char) -> Outcome<KeySource> {
    // SAFETY: forwarded caller guarantee.
    Ok(KeySource::passphrase(unsafe { text(passphrase, "passphrase") }?)?)
}

pub(super) fn open_common(
    dir: *const c_char,
    out: *mut *mut cust_store,
    make: impl FnOnce(&str) -> Outcome<Store>,
) -> cust_status {
    open_backend(out, || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let dir = unsafe { text(dir, "dir") }?;
        make(dir)
    })
}

/// Checks `out`, makes the store and hands out its handle.
fn open_backend(out: *mut *mut cust_store, make: impl FnOnce() -> Outcome<Store>) -> cust_status {
    guard(None, || {
        let out = out_ptr(out, "out")?;
        let store = make()?;
        // SAFETY: `out` was checked.
        unsafe { write(out, into_handle(cust_store { store, last_error: LastError::default() })) };
        Ok(())
    })
}

/// Creates a new store in directory `dir` (`customers.db` and `keys.db`)
/// under the 32-byte master key `key`. Fails with
/// `CUST_STATUS_ALREADY_EXISTS` if one is there.
///
/// # Safety
/// `dir` must be a NUL-terminated string, `key` hold `key_len` bytes, `out` be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create(
    dir: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut cust_store,
) -> cust_status {
    open_common(dir, out, |dir| Ok(Store::create_at(dir, key_source(key, key_len)?, CreateOptions::new())?))
}

/// Creates a new store in `dir` whose master key is derived from
/// `passphrase` (PBKDF2-HMAC-SHA256, `kdf_iterations`, 0 for the default
/// 600,000; at least 100,000).
///
/// # Safety
/// `dir` and `passphrase` must be NUL-terminated strings, `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create_passphrase(
    dir: *const c_char,
    passphrase: *const c_char,
    kdf_iterations: u32,
    out: *mut *mut cust_store,
) -> cust_status {
    open_common(dir, out, |dir| {
        // SAFETY: forwarded caller guarantee.
        let key = unsafe { passphrase_source(passphrase) }?;
        Ok(Store::create_at(dir, key, kdf_options(kdf_iterations))?)
    })
}

/// Opens the store in `dir` with its 32-byte master key. A wrong key gives
/// `CUST_STATUS_WRONG_KEY`.
///
/// # Safety
/// `dir` must be a NUL-terminated string, `key` hold `key_len` bytes, `out` be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_open(
    dir: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut cust_store,
) -> cust_status {
    open_common(dir, out, |dir| Ok(Store::open_at(dir, key_source(key, key_len)?)?))
}

/// Opens the store in `dir` with its passphrase.
///
/// # Safety
/// `dir` and `passphrase` must be NUL-terminated strings, `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_open_passphrase(
    dir: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut cust_store,
) -> cust_status {
    // SAFETY: forwarded caller guarantee.
    open_common(dir, out, |dir| Ok(Store::open_at(dir, unsafe { passphrase_source(passphrase) }?)?))
}

/// The PostgreSQL backend for two connection strings and an optional
/// schema; refused when the library was built without it.
#[cfg(feature = "postgres")]
fn postgres_backend(data_url: &str, key_store_url: &str, schema: Option<&str>) -> Outcome<crate::PostgresBackend> {
    let mut options = crate::PostgresOptions::new(data_url, key_store_url);
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    Ok(crate::PostgresBackend::new(options)?)
}

// Never makes a backend: the type only satisfies the callers.
#[cfg(not(feature = "postgres"))]
fn postgres_backend(_: &str, _: &str, _: Option<&str>) -> Outcome<crate::MemoryBackend> {
    Err(crate::Error::InvalidArgument {
        argument: "data_url".into(),
        rule: "feature.postgres",
        message: "this build of custodian has no PostgreSQL backend (build it with the cargo feature `postgres`)"
            .into(),
    }
    .into())
}

/// The backend the connection arguments of `cust_store_create_url` and its
/// kin name.
///
/// # Safety
/// As for those functions.
unsafe fn url_backend(
    data_url: *const c_char,
    key_store_url: *const c_char,
    schema: *const c_char,
) -> Outcome<impl crate::storage::Backend + 'static> {
    // SAFETY: forwarded caller guarantee.
    let (data, keys, schema) = unsafe {
        (text(data_url, "data_url")?, text(key_store_url, "key_store_url")?, optional_text(schema, "schema")?)
    };
    postgres_backend(data, keys, schema)
}

/// Create options with `kdf_iterations` (0 keeps the default).
pub(super) fn kdf_options(kdf_iterations: u32) -> CreateOptions {
    let mut options = CreateOptions::new();
    if kdf_iterations != 0 {
        options.kdf_iterations = kdf_iterations;
    }
    options
}

/// Creates a new store on a PostgreSQL server: customer data in the
/// database of `data_url`, keys in the (different) database of
/// `key_store_url`, both connection strings in libpq form
/// (`postgresql://user:password@host:port/db` or `host=... dbname=...`);
/// `schema` (NULL for each connection's default) names the schema the
/// tables live in, created if missing. The 32-byte master key is `key`.
/// Fails with `CUST_STATUS_ALREADY_EXISTS` if a store is there, and with
/// `CUST_STATUS_INVALID_ARGUMENT` (rule `feature.postgres`) if the library
/// was built without the PostgreSQL backend.
///
/// # Safety
/// `data_url` and `key_store_url` must be NUL-terminated strings, `schema`
/// NULL or one, `key` hold `key_len` bytes, `out` be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create_url(
    data_url: *const c_char,
    key_store_url: *const c_char,
    schema: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut cust_store,
) -> cust_status {
    open_backend(out, || {
        // SAFETY: forwarded caller guarantee.
        let backend = unsafe { url_backend(data_url, key_store_url, schema) }?;
        Ok(Store::create(backend, key_source(key, key_len)?, CreateOptions::new())?)
    })
}

/// Opens the store on a PostgreSQL server (arguments as for
/// `cust_store_create_url`). A wrong key gives `CUST_STATUS_WRONG_KEY`,
/// no store there `CUST_STATUS_NOT_A_STORE`.
///
/// # Safety
/// As for `cust_store_create_url`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_open_url(
    data_url: *const c_char,
    key_store_url: *const c_char,
    schema: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut cust_store,
) -> cust_status {
    open_backend(out, || {
        // SAFETY: forwarded caller guarantee.
        let backend = unsafe { url_backend(data_url, key_store_url, schema) }?;
        Ok(Store::open(backend, key_source(key, key_len)?)?)
    })
}

/// Like `cust_store_create_url`, with a master key derived from
/// `passphrase` (PBKDF2-HMAC-SHA256, `kdf_iterations`, 0 for the default
/// 600,000; at least 100,000).
///
/// # Safety
/// The strings as for `cust_store_create_url`; `passphrase` a
/// NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create_url_passphrase(
    data_url: *const c_char,
    key_store_url: *const c_char,
    schema: *const c_char,
    passphrase: *const c_char,
    kdf_iterations: u32,
    out: *mut *mut cust_store,
) -> cust_status {
    open_backend(out, || {
        // SAFETY: forwarded caller guarantee.
        let (backend, key) = unsafe { (url_backend(data_url, key_store_url, schema)?, passphrase_source(passphrase)?) };
        Ok(Store::create(backend, key, kdf_options(kdf_iterations))?)
    })
}

/// Like `cust_store_open_url`, with the store's passphrase.
///
/// # Safety
/// As for `cust_store_create_url_passphrase`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_open_url_passphrase(
    data_url: *const c_char,
    key_store_url: *const c_char,
    schema: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut cust_store,
) -> cust_status {
    open_backend(out, || {
        // SAFETY: forwarded caller guarantee.
        let (backend, key) = unsafe { (url_backend(data_url, key_store_url, schema)?, passphrase_source(passphrase)?) };
        Ok(Store::open(backend, key)?)
    })
}

/// Closes a store handle (NULL is ignored). Sessions still open keep the
/// store itself alive until they are closed.
///
/// # Safety
/// `store` must be NULL or a handle from `cust_store_create`/`_open` not closed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_close(store: *mut cust_store) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(store) }
}

/// Sets how logins are checked: `max_failures` consecutive failures lock a
/// principal for `lockout_secs`; passwords set from now on use
/// `password_iterations` PBKDF2 iterations (at least 100,000; 0 keeps the
/// default 600,000; fewer: `CUST_STATUS_INVALID_ARGUMENT`). Only possible before any session is opened on the
/// store (`CUST_STATUS_INVALID` otherwise).
///
/// # Safety
/// `store` must be a valid handle not used by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_set_login_policy(
    store: *mut cust_store,
    max_failures: u32,
    lockout_secs: u64,
    password_iterations: u32,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let handle = unsafe { store.as_mut() };
    let Some(handle) = handle else {
        return guard(None, || Err(super::boundary::null("store")));
    };
    let cust_store { store: inner, last_error } = handle;
    guard(Some(last_error), || {
        let mut policy = crate::LoginPolicy::new().max_failures(max_failures).lockout_secs(lockout_secs);
        if password_iterations != 0 {
            policy.password_iterations = password_iterations;
        }
        inner.set_login_policy(policy)?;
        Ok(())
    })
}

/// Receives the text of one signed checkpoint or erasure receipt (valid
/// only during the call) and the `user` pointer given with it. It may be
/// called from any thread that uses the store, after the entry it concerns
/// has committed; keep the text somewhere the database's owner cannot
/// rewrite.
#[allow(non_camel_case_types)]
pub type cust_text_sink = Option<unsafe extern "C" fn(user: *mut c_void, text: *const c_char)>;

/// The host's sinks and their `user` pointer, shared by the closures the
/// store calls (the host promises the pointer stays valid and usable from
/// any thread).
struct HostSink {
    sink: unsafe extern "C" fn(*mut c_void, *const c_char),
    user: *mut c_void,
}

// SAFETY: the host promises `user` may be used from any thread (see cust_store_set_checkpoints).
unsafe impl Send for HostSink {}
// SAFETY: as above.
unsafe impl Sync for HostSink {}

impl HostSink {
    fn deliver(&self, text: String) {
        if let Ok(text) = std::ffi::CString::new(text) {
            // SAFETY: the host gave this function and pointer for this purpose.
            unsafe { (self.sink)(self.user, text.as_ptr()) }
        }
    }
}

/// Sets when checkpoints of the audit log fall due (`every_entries`
/// entries or `every_secs` seconds after the last, whichever comes first;
/// 0 turns a rule off) and the host's sinks: `checkpoint_sink` receives
/// every checkpoint's text (`cust_store_verify_audit` takes it back),
/// `receipt_sink` every erasure receipt's text (what
/// `cust_store_restore_after_loss` needs after a total loss). Either may
/// be NULL. Only possible before any session is opened on the store
/// (`CUST_STATUS_INVALID` otherwise).
///
/// # Safety
/// `store` must be a valid handle not used by another thread during the
/// call; the sinks must be NULL or functions that stay callable, with
/// `user`, from any thread for as long as the store is open.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_set_checkpoints(
    store: *mut cust_store,
    every_entries: u64,
    every_secs: u64,
    checkpoint_sink: cust_text_sink,
    receipt_sink: cust_text_sink,
    user: *mut c_void,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let Some(handle) = (unsafe { store.as_mut() }) else {
        return guard(None, || Err(super::boundary::null("store")));
    };
    let cust_store { store: inner, last_error } = handle;
    guard(Some(last_error), || {
        let mut policy = crate::CheckpointPolicy::default().every_entries(every_entries).every_secs(every_secs);
        if let Some(sink) = checkpoint_sink {
            let host = HostSink { sink, user };
            policy = policy.sink(std::sync::Arc::new(move |cp: &crate::Checkpoint| host.deliver(cp.to_text())));
        }
        if let Some(sink) = receipt_sink {
            let host = HostSink { sink, user };
            policy = policy.receipts(std::sync::Arc::new(move |r: &crate::ErasureReceipt| host.deliver(r.to_text())));
        }
        inner.set_checkpoint_policy(policy)?;
        Ok(())
    })
}

/// Registers the store's first administrator `id` (allowed only while no
/// active administrator exists; audited).
///
/// # Safety
/// `store` must be a valid handle; `id` and `display_name` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_bootstrap_admin(
    store: *const cust_store,
    id: *const c_char,
    display_name: *const c_char,
) -> cust_status {
    with_store(store, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (id, name) = unsafe { (text(id, "id")?, text(display_name, "display_name")?) };
        s.store.bootstrap_administrator(&NewPrincipal::staff(id, name))?;
        Ok(())
    })
}

/// Verifies the whole audit chain, against `trusted_checkpoint` (the text
/// of a checkpoint kept outside the database) if not NULL. On success
/// `*entries` (if not NULL) receives the number of entries checked. A broken
/// chain returns `CUST_STATUS_AUDIT_BROKEN`, and the message names the
/// first bad entry and what is wrong with it.
///
/// # Safety
/// `store` must be a valid handle; `trusted_checkpoint` NULL or a
/// NUL-terminated string; `entries` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_verify_audit(
    store: *const cust_store,
    trusted_checkpoint: *const c_char,
    entries: *mut u64,
) -> cust_status {
    with_store(store, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let trusted = match unsafe { optional_text(trusted_checkpoint, "trusted_checkpoint") }? {
            Some(text) => Some(Checkpoint::parse(text)?),
            None => None,
        };
        let report = s.store.verify_audit(trusted.as_ref())?;
        if let Some(problem) = report.problem {
            return Err(Failure::new(cust_status::AuditBroken, problem.to_string()));
        }
        if !entries.is_null() {
            // SAFETY: non-NULL and writable, as the caller promises.
            unsafe { write(entries, report.entries) };
        }
        Ok(())
    })
}

/// Signs a checkpoint of the audit log as it is now and returns its text in
/// `*out` (free with `cust_string_free`). Keep it where the database's
/// owner cannot rewrite it, and pass it to `cust_store_verify_audit` later.
///
/// # Safety
/// `store` must be a valid handle and `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_checkpoint(store: *const cust_store, out: *mut *mut c_char) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(out, "out")?;
        let text = c_string(s.store.audit_checkpoint()?.to_text())?;
        // SAFETY: `out` was checked.
        unsafe { write(out, text) };
        Ok(())
    })
}

/// Empties the write-ahead logs now, so that what committed destructions
/// removed leaves the store's files (waits up to the busy timeout for other
/// connections' readers). Every destruction does this before it returns;
/// when readers held the logs past the timeout the destruction still stands
/// and the purge is owed (`cust_store_purge_owed`). Fails, and stays owed,
/// while readers still hold the logs.
///
/// # Safety
/// `store` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_purge_logs(store: *const cust_store) -> cust_status {
    with_store(store, |s| Ok(s.store.purge_logs()?))
}

/// Whether a committed destruction's purge of the write-ahead logs is still
/// owed (see `cust_store_purge_logs`).
///
/// # Safety
/// `store` must be a valid handle; `owed` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_purge_owed(store: *const cust_store, owed: *mut bool) -> cust_status {
    with_store(store, |s| {
        let owed = out_ptr(owed, "owed")?;
        // SAFETY: checked.
        unsafe { write(owed, s.store.purge_owed()) };
        Ok(())
    })
}

/// Copies the last error message recorded on `store` (snprintf semantics,
/// as `cust_last_error`).
///
/// # Safety
/// `store` must be a valid handle; `buf` NULL or `len` writable bytes; `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_last_error(
    store: *const cust_store,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL.
    match unsafe { object(store, "store") } {
        // SAFETY: forwarded caller guarantees.
        Ok(s) => unsafe { copy_out(&s.last_error.get(), buf, len, needed) },
        Err(_) => cust_status::NullArgument,
    }
}

/// Sets how many hours service records of `kind` at `priority` (by name:
/// `complaint`, `normal`, ...) have before they fall due (at least 1), in
/// the store's service-level policy (complaints at normal priority: 48 h by
/// default). Only before the first session is opened or the store is
/// shared: `CUST_STATUS_INVALID` (rule `store_shared`) otherwise.
///
/// # Safety
/// `store` must be a valid handle used by this thread only; `kind` and
/// `priority` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_set_service_hours(
    store: *mut cust_store,
    kind: *const c_char,
    priority: *const c_char,
    hours: u32,
) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let Some(handle) = (unsafe { store.as_mut() }) else {
        return guard(None, || Err(super::boundary::null("store")));
    };
    let cust_store { store: inner, last_error } = handle;
    guard(Some(last_error), || {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let kind = crate::ServiceKind::parse(unsafe { super::boundary::text(kind, "kind") }?)?;
        // SAFETY: as above.
        let priority = crate::Priority::parse(unsafe { super::boundary::text(priority, "priority") }?)?;
        let policy = inner.service_levels().clone().hours(kind, priority, hours)?;
        inner.set_service_levels(policy)?;
        Ok(())
    })
}

/// Sets how many days after closing a service record may be reopened
/// (default 30; 0: never). The same conditions as
/// `cust_store_set_service_hours`.
///
/// # Safety
/// `store` must be a valid handle used by this thread only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_set_reopen_days(store: *mut cust_store, days: u32) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let Some(handle) = (unsafe { store.as_mut() }) else {
        return guard(None, || Err(super::boundary::null("store")));
    };
    let cust_store { store: inner, last_error } = handle;
    guard(Some(last_error), || {
        let policy = inner.service_levels().clone().reopen_within_days(days);
        inner.set_service_levels(policy)?;
        Ok(())
    })
}

/// Requires (`true`) or not that customers be verified
/// (`cust_customer_verify`) by another principal than the one who entered
/// or last changed them (refused with `CUST_STATUS_DENIED`, rule
/// `verify.four_eyes`). The same conditions as `cust_store_set_service_hours`.
///
/// # Safety
/// `store` must be a valid handle used by this thread only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_set_four_eyes(store: *mut cust_store, required: bool) -> cust_status {
    // SAFETY: the caller promises a valid handle or NULL, used by this thread only.
    let Some(handle) = (unsafe { store.as_mut() }) else {
        return guard(None, || Err(super::boundary::null("store")));
    };
    let cust_store { store: inner, last_error } = handle;
    guard(Some(last_error), || {
        inner.set_four_eyes(required)?;
        Ok(())
    })
}
