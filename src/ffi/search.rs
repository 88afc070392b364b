//! The keyword index through C: creating a store with chosen search
//! settings, reading them back, and rebuilding the index.

use std::ffi::c_char;

use serde::{Deserialize, Serialize};

use super::boundary::{c_string, optional_text, out_ptr, write};
use super::status::{Failure, cust_status};
use super::store::{cust_store, key_source, open_common, passphrase_source, with_store};
use crate::{Catalogue, CreateOptions, Field, Store};

/// The catalogue JSON of `cust_store_create_with`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CatalogueJson {
    #[serde(default)]
    search: Option<SearchJson>,
}

/// Search settings as JSON, in and out.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SearchJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_bits: Option<u8>,
}

fn catalogue_of(json: Option<&str>) -> Result<Catalogue, Failure> {
    let parsed: CatalogueJson = match json {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Failure::new(cust_status::Invalid, format!("invalid catalogue JSON: {e}")))?,
        None => CatalogueJson::default(),
    };
    let mut catalogue = Catalogue::default();
    if let Some(search) = parsed.search {
        if let Some(names) = search.fields {
            let fields = names.iter().map(|n| Field::parse(n)).collect::<crate::Result<Vec<Field>>>()?;
            catalogue = catalogue.with_search_fields(fields)?;
        }
        if let Some(index) = search.index {
            catalogue = catalogue.with_search_index(index);
        }
        if let Some(bits) = search.token_bits {
            catalogue = catalogue.with_search_token_bits(bits)?;
        }
    }
    Ok(catalogue)
}

/// Creates a new store in directory `dir` under the 32-byte master key
/// `key`, as `cust_store_create` does, with the catalogue settings in
/// `catalogue_json` (NULL: the defaults):
/// `{"search": {"fields": ["name", "notes"], "index": true, "token_bits": 20}}`.
/// `fields` are the fields keyword search covers (sealed text fields of
/// level L2 or L3; rule `catalogue.search_field`), `index` whether the
/// encrypted keyword index is kept, `token_bits` how many bits of each
/// token's HMAC it keeps (16 to 48; rule `catalogue.search_token_bits`).
/// Bad JSON or an unknown key is `CUST_STATUS_INVALID`, and nothing is created.
///
/// # Safety
/// `dir` must be a NUL-terminated string, `key` hold `key_len` bytes,
/// `catalogue_json` be NULL or NUL-terminated, `out` be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create_with(
    dir: *const c_char,
    key: *const u8,
    key_len: usize,
    catalogue_json: *const c_char,
    out: *mut *mut cust_store,
) -> cust_status {
    open_common(dir, out, |dir| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let catalogue = catalogue_of(unsafe { optional_text(catalogue_json, "catalogue_json") }?)?;
        Ok(Store::create_at(dir, key_source(key, key_len)?, CreateOptions::new().catalogue(catalogue))?)
    })
}

/// `cust_store_create_with` for a store whose master key is derived from
/// `passphrase` (PBKDF2-HMAC-SHA256, `kdf_iterations`, 0 for the default
/// 600,000; at least 100,000), as `cust_store_create_passphrase` does.
///
/// # Safety
/// `dir` and `passphrase` must be NUL-terminated strings, `catalogue_json`
/// NULL or NUL-terminated, `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_create_passphrase_with(
    dir: *const c_char,
    passphrase: *const c_char,
    kdf_iterations: u32,
    catalogue_json: *const c_char,
    out: *mut *mut cust_store,
) -> cust_status {
    open_common(dir, out, |dir| {
        // SAFETY: the caller promises NUL-terminated strings (or NULL for the catalogue).
        let catalogue = catalogue_of(unsafe { optional_text(catalogue_json, "catalogue_json") }?)?;
        // SAFETY: forwarded caller guarantee.
        let key = unsafe { passphrase_source(passphrase) }?;
        Ok(Store::create_at(dir, key, super::store::kdf_options(kdf_iterations).catalogue(catalogue))?)
    })
}

/// Writes the store's search settings as JSON into `*settings_json` (free
/// it with `cust_string_free`): `{"fields": ["address", "name", ...],
/// "index": true, "token_bits": 20}`.
///
/// # Safety
/// `store` must be a valid handle; `settings_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_search_settings(
    store: *const cust_store,
    settings_json: *mut *mut c_char,
) -> cust_status {
    with_store(store, |s| {
        let out = out_ptr(settings_json, "settings_json")?;
        let settings = s.store.catalogue().search();
        let json = SearchJson {
            fields: Some(settings.fields().map(|f| f.name().into_owned()).collect()),
            index: Some(settings.index()),
            token_bits: Some(settings.token_bits()),
        };
        let text =
            serde_json::to_string(&json).map_err(|e| Failure::new(cust_status::Internal, format!("JSON: {e}")))?;
        // SAFETY: checked non-NULL; writable as the caller promises.
        unsafe { write(out, c_string(text)?) };
        Ok(())
    })
}

/// Re-derives the encrypted keyword index from every customer, in one
/// transaction (a store does this by itself on open when its index was
/// built by another tokenisation). `*indexed` (if not NULL) receives how
/// many customers hold tokens. Audited as `store.rebuild_search_index`.
///
/// # Safety
/// `store` must be a valid handle; `indexed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_store_rebuild_search_index(store: *const cust_store, indexed: *mut u64) -> cust_status {
    with_store(store, |s| {
        let count = s.store.rebuild_search_index()?;
        if !indexed.is_null() {
            // SAFETY: non-NULL and writable, as the caller promises.
            unsafe { write(indexed, count) };
        }
        Ok(())
    })
}
