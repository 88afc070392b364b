//! Backups, restores and master-key rotation through C. A backup is one
//! sealed file; a chain is a full backup and its increments, passed as an
//! array of paths. Reports come out as JSON strings.

use std::ffi::c_char;

use super::boundary::{Outcome, optional_text, out_ptr, text, write};
use super::directory::json_out;
use super::status::{LastError, cust_status};
use super::store::{cust_store, key_source, passphrase_source, with_store};
use crate::crypto::{DEFAULT_KDF_ITERATIONS, KeySource};
use crate::{RestoreOptions, Store};

/// Takes a full backup of the live store into the new file `path`: an
/// online snapshot of customer data and key store, sealed as a whole.
/// `*manifest` (if `out` is not NULL) receives its manifest as JSON.
///
/// # Safety
/// `store` must be a valid handle; `path` NUL-terminated; `manifest` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_backup(
    store: *const cust_store,
    path: *const c_char,
    manifest: *mut *mut c_char,
) -> cust_status {
    with_store(store, |s| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let made = s.store.backup_to(unsafe { text(path, "path") }?)?;
        manifest_out(manifest, &made)
    })
}

/// Takes an increment over the backup file `parent` (a full backup or an
/// increment of this store) into the new file `path`: only what changed
/// since the parent, bound to it. `*manifest` as `cust_store_backup`'s.
///
/// # Safety
/// `store` must be a valid handle; the strings NUL-terminated; `manifest` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_backup_increment(
    store: *const cust_store,
    path: *const c_char,
    parent: *const c_char,
    manifest: *mut *mut c_char,
) -> cust_status {
    with_store(store, |s| {
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (path, parent) = unsafe { (text(path, "path")?, text(parent, "parent")?) };
        let made = s.store.backup_increment(path, parent)?;
        manifest_out(manifest, &made)
    })
}

/// The manifest of the backup file `path` as JSON in `*out`, read without
/// a key (`store_id`, `backup_id`, `kind`, `parent`, `taken_at`, `parts`,
/// `key_generation`): authenticated only by a verification or restore.
///
/// # Safety
/// `path` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_manifest_json(path: *const c_char, out: *mut *mut c_char) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let manifest = Store::backup_manifest(unsafe { text(path, "path") }?)?;
        manifest_out(out, &manifest)
    })
}

fn manifest_out(out: *mut *mut c_char, manifest: &crate::BackupManifest) -> Outcome {
    if out.is_null() {
        return Ok(());
    }
    let parts: Vec<_> = manifest
        .parts
        .iter()
        .map(|p| {
            serde_json::json!({
                "file": p.file, "bytes": p.bytes, "page_size": p.page_size, "pages": p.pages,
                "stored_pages": p.stored_pages,
            })
        })
        .collect();
    let json = serde_json::json!({
        "format": manifest.format,
        "store_id": manifest.store_id,
        "backup_id": manifest.backup_id,
        "kind": manifest.kind,
        "parent": manifest.parent.as_ref().map(|p| p.backup_id.clone()),
        "taken_at": manifest.taken_at,
        "parts": parts,
        "stored_bytes": manifest.stored_bytes(),
        "key_generation": manifest.key_generation,
        "needs_passphrase": manifest.needs_passphrase(),
    });
    json_out(out, &json)
}

/// The `count` NUL-terminated paths at `chain`.
///
/// # Safety
/// `chain` NULL or `count` readable pointers, each NULL or NUL-terminated.
unsafe fn chain_paths(chain: *const *const c_char, count: usize) -> Outcome<Vec<std::path::PathBuf>> {
    if chain.is_null() {
        return Err(super::boundary::null("chain"));
    }
    // SAFETY: `count` readable pointers, as the caller promises.
    let pointers = unsafe { std::slice::from_raw_parts(chain, count) };
    pointers
        .iter()
        .enumerate()
        // SAFETY: each NULL or NUL-terminated, as the caller promises.
        .map(|(i, p)| unsafe { text(*p, &format!("chain[{i}]")) }.map(std::path::PathBuf::from))
        .collect()
}

/// Verifies the full backup file `path` with the 32-byte master key: every
/// chunk authenticates, the rebuilt files pass the integrity check, its
/// audit chain verifies and a sample decrypts. `*customers` (if not NULL)
/// receives how many it holds.
///
/// # Safety
/// `path` NUL-terminated; `key` `key_len` readable bytes; `customers` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    customers: *mut u64,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let path = std::path::PathBuf::from(unsafe { text(path, "path") }?);
        // SAFETY: forwarded caller guarantees.
        unsafe { verify_chain(&[path], key_source(key, key_len)?, customers) }
    })
}

/// `cust_backup_verify` for a store whose master key comes from a passphrase.
///
/// # Safety
/// `path` and `passphrase` NUL-terminated; `customers` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify_passphrase(
    path: *const c_char,
    passphrase: *const c_char,
    customers: *mut u64,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let path = std::path::PathBuf::from(unsafe { text(path, "path") }?);
        // SAFETY: forwarded caller guarantees.
        unsafe { verify_chain(&[path], passphrase_source(passphrase)?, customers) }
    })
}

/// Verifies a chain of `count` backup files (a full backup, then its
/// increments in order) with a 32-byte master key that opens it: every link
/// authenticates and binds to the one before it (a missing, reordered or
/// foreign link is `CUST_STATUS_BACKUP_CHAIN` or `_BACKUP_FOREIGN`), and
/// the store rebuilt from it verifies as `cust_backup_verify`'s.
///
/// # Safety
/// `chain` `count` NUL-terminated strings; `key` `key_len` readable bytes; `customers` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify_chain(
    chain: *const *const c_char,
    count: usize,
    key: *const u8,
    key_len: usize,
    customers: *mut u64,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { verify_chain(&chain_paths(chain, count)?, key_source(key, key_len)?, customers) })
}

/// `cust_backup_verify_chain` with a passphrase.
///
/// # Safety
/// As `cust_backup_verify_chain`; `passphrase` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_verify_chain_passphrase(
    chain: *const *const c_char,
    count: usize,
    passphrase: *const c_char,
    customers: *mut u64,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { verify_chain(&chain_paths(chain, count)?, passphrase_source(passphrase)?, customers) })
}

/// # Safety
/// `customers` NULL or writable.
unsafe fn verify_chain(chain: &[std::path::PathBuf], key: KeySource, customers: *mut u64) -> Outcome<()> {
    let verified = Store::verify_backup_chain(chain, key)?;
    if !customers.is_null() {
        // SAFETY: non-NULL and writable, as the caller promises.
        unsafe { write(customers, verified.customers) };
    }
    Ok(())
}

/// Writes the store files as they were at the last link of the chain of
/// `count` backup files into the new directory `out_dir` (sealed fields
/// stay sealed), for an investigation or a manual restore.
///
/// # Safety
/// `chain` `count` NUL-terminated strings; `key` `key_len` readable bytes; `out_dir` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_extract(
    chain: *const *const c_char,
    count: usize,
    key: *const u8,
    key_len: usize,
    out_dir: *const c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { extract(chain, count, key_source(key, key_len)?, out_dir) })
}

/// `cust_backup_extract` with a passphrase.
///
/// # Safety
/// As `cust_backup_extract`; `passphrase` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_backup_extract_passphrase(
    chain: *const *const c_char,
    count: usize,
    passphrase: *const c_char,
    out_dir: *const c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { extract(chain, count, passphrase_source(passphrase)?, out_dir) })
}

/// # Safety
/// As `cust_backup_extract`.
unsafe fn extract(chain: *const *const c_char, count: usize, key: KeySource, out_dir: *const c_char) -> Outcome<()> {
    // SAFETY: forwarded caller guarantees.
    let (chain, out_dir) = unsafe { (chain_paths(chain, count)?, text(out_dir, "out_dir")?) };
    Store::extract_backup(&chain, key, out_dir)?;
    Ok(())
}

/// Restores the full backup file `backup` into the store directory
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
    backup: *const c_char,
    store_dir: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore(backup, store_dir, key_source(key, key_len)?, out) })
}

/// `cust_store_restore` for a store whose master key comes from a passphrase.
///
/// # Safety
/// The strings NUL-terminated; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_passphrase(
    backup: *const c_char,
    store_dir: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore(backup, store_dir, passphrase_source(passphrase)?, out) })
}

/// Restores a chain of `count` backup files (a full backup, then its
/// increments in order) into `store_dir`, as `cust_store_restore` does a
/// full backup: the store's customer records become those at the chain's
/// last link, less everything erased since.
///
/// # Safety
/// `chain` `count` NUL-terminated strings; `store_dir` NUL-terminated; `key` `key_len` readable bytes;
/// `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_chain(
    chain: *const *const c_char,
    count: usize,
    store_dir: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore_chain(chain, count, store_dir, key_source(key, key_len)?, out) })
}

/// `cust_store_restore_chain` with a passphrase.
///
/// # Safety
/// As `cust_store_restore_chain`; `passphrase` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_chain_passphrase(
    chain: *const *const c_char,
    count: usize,
    store_dir: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut c_char,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    super::plain(|| unsafe { restore_chain(chain, count, store_dir, passphrase_source(passphrase)?, out) })
}

/// # Safety
/// As `cust_store_restore_chain`.
unsafe fn restore_chain(
    chain: *const *const c_char,
    count: usize,
    store_dir: *const c_char,
    key: KeySource,
    out: *mut *mut c_char,
) -> Outcome<()> {
    // SAFETY: forwarded caller guarantees.
    let chain = unsafe { chain_paths(chain, count) }?;
    let Some((full, increments)) = chain.split_first() else {
        return Err(crate::Error::out_of_range("count", "backup_chain_empty", "a chain has at least one file").into());
    };
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    let target = unsafe { text(store_dir, "store_dir") }?;
    report_restore(full, target, key, &RestoreOptions::default().increments(increments), out)
}

/// `cust_store_restore` of a backup made before the store's master key was
/// rotated: the backup is read with `backup_key` (the key it was made
/// under), and the store ends up under `key` (its current one).
///
/// # Safety
/// The strings NUL-terminated; each key its length in readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_restore_rotated(
    backup: *const c_char,
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
        unsafe { restore_with(backup, store_dir, key_source(key, key_len)?, &options, out) }
    })
}

/// Restores the backup file `backup` into `store_dir` after the store was
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
    backup: *const c_char,
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
        unsafe { restore_with(backup, store_dir, key_source(key, key_len)?, &options, out) }
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
    backup: *const c_char,
    store_dir: *const c_char,
    key: KeySource,
    out: *mut *mut c_char,
) -> Outcome<()> {
    // SAFETY: forwarded caller guarantees.
    unsafe { restore_with(backup, store_dir, key, &RestoreOptions::default(), out) }
}

/// # Safety
/// As `cust_store_restore`.
unsafe fn restore_with(
    backup: *const c_char,
    store_dir: *const c_char,
    key: KeySource,
    options: &RestoreOptions,
    out: *mut *mut c_char,
) -> Outcome<()> {
    // SAFETY: the caller promises NUL-terminated strings or NULL.
    let (backup, target) = unsafe { (text(backup, "backup")?, text(store_dir, "store_dir")?) };
    report_restore(std::path::Path::new(backup), target, key, options, out)
}

/// Restores and writes the report as JSON in `*out` (if not NULL).
fn report_restore(
    backup: &std::path::Path,
    target: &str,
    key: KeySource,
    options: &RestoreOptions,
    out: *mut *mut c_char,
) -> Outcome<()> {
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
