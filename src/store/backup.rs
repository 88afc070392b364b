//! Backups (online, data and key store apart), their verification, and
//! master-key rotation. Restores are in `restore.rs`.

use std::path::Path;

use super::engine::{self, Call, Caller};
use super::{KEY_META_KDF, KEY_META_ROOT, KEY_META_STORE_ID, Store, StoreInner};
use crate::access::{Action, Purpose};
use crate::crypto::{DEFAULT_KDF_ITERATIONS, FieldCipher, KdfParams, KeySource, KeyWrapper};
use crate::error::{Error, Result};
use crate::model::Field;
use crate::storage::{DATA_FILE, KEYS_FILE, Scan, TxMode, WrappedKey};

/// What a verified backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupVerification {
    /// Customers in the backup.
    pub customers: u64,
    /// Audit entries whose chain verified.
    pub audit_entries: u64,
    /// Customers whose every sealed field was decrypted as a sample.
    pub sampled: u64,
}

/// Customers decrypted in full by a verification.
const SAMPLE: u64 = 25;

impl StoreInner {
    /// Decrypts every sealed field of up to `limit` customers.
    fn decrypt_sample(&self, limit: u64) -> Result<u64> {
        let mut tx = self.backend.begin(TxMode::Read)?;
        let mut failure = None;
        let mut ids = Vec::new();
        tx.scan_customers(&[], &mut |c| {
            ids.push(c.header.id);
            Ok(if ids.len() as u64 >= limit { Scan::Stop } else { Scan::Continue })
        })?;
        for id in &ids {
            let row = tx.get_customer(*id)?.ok_or(Error::CustomerNotFound(*id))?;
            let key = self.data_key(*id, tx.get_data_key(*id)?.as_ref())?;
            let cipher = FieldCipher::new(*id, &key);
            for (name, sealed) in &row.sealed {
                let field = Field::parse(name).map_err(|_| Error::corrupt(format!("unknown stored field '{name}'")))?;
                if let Err(e) = cipher.open(&field, sealed) {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(ids.len() as u64),
        }
    }
}

impl Store {
    /// Backs the live store up into the new directory `dir`: the customer
    /// database and, in a file of its own, the key store, each an online
    /// snapshot taken while sessions go on working. Keep the key-store copy
    /// apart from the data copies. Audited (`store.backup`).
    pub fn backup_to(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        if dir.exists() {
            return Err(Error::AlreadyExists(dir.display().to_string()));
        }
        let backend = &self.inner.backend;
        // The copy is taken before the audited transaction begins: holding
        // the write lock for its length would stall every writer.
        let copy = || {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::storage_caused(format!("cannot create {}", dir.display()), e))?;
            backend.backup(&dir.join(DATA_FILE), &dir.join(KEYS_FILE))
        };
        let call = Call::new(Action::Export, "store.backup");
        engine::run_after(&self.inner, Caller::store(Purpose::Maintenance), call, copy, |(), _, _, _, _| Ok(()))
    }

    /// Verifies the backup in `dir` with the master key: it opens, passes
    /// SQLite's integrity check, every customer has its data key and every
    /// key its customer, its audit chain verifies, and a sample of customers
    /// decrypts in full. Any failure says what failed. It writes nothing.
    pub fn verify_backup(dir: impl AsRef<Path>, key: KeySource) -> Result<BackupVerification> {
        // Opened without the repair a live store gets: verifying writes nothing.
        let backend = crate::storage::SqliteBackend::new(dir.as_ref(), crate::storage::SqliteOptions::default());
        let store = Store::open_unrepaired(backend, key)?;
        store.inner.backend.integrity_check()?;
        let unmatched = store.inner.backend.begin(TxMode::Read)?.unmatched_keys()?;
        if !unmatched.is_empty() {
            return Err(Error::corrupt(format!(
                "the backup's key store and customer data disagree: {} data keys without a customer, \
                 {} customers without a data key (first: {:?})",
                unmatched.orphan_keys.len(),
                unmatched.keyless_customers.len(),
                unmatched.keyless_customers.first().or(unmatched.orphan_keys.first())
            )));
        }
        let audit = store.verify_audit(None)?;
        if let Some(problem) = audit.problem {
            return Err(Error::corrupt(format!("the backup's audit chain does not verify: {problem}")));
        }
        let sampled = store.inner.decrypt_sample(SAMPLE)?;
        Ok(BackupVerification { customers: store.counts()?.customers, audit_entries: audit.entries, sampled })
    }

    /// Rewraps the root secret and every data key under the master key
    /// `new`, without re-encrypting any data, in one key-store transaction:
    /// an interrupted rotation leaves the store opening with the old key and
    /// nothing lost; a finished one, with the new key only. Sessions go on
    /// working meanwhile (they wait only for the transaction's write lock);
    /// another process that has the store open keeps the old key and must
    /// reopen it with the new one. Audited (`store.rotate_master_key`).
    pub fn rotate_master_key(&self, new: KeySource) -> Result<()> {
        self.rotate_master_key_with(new, DEFAULT_KDF_ITERATIONS)
    }

    /// [`Store::rotate_master_key`] with the PBKDF2 iteration count used
    /// when `new` is a passphrase (at least
    /// [`crate::crypto::MIN_KDF_ITERATIONS`]; ignored for raw key bytes).
    pub fn rotate_master_key_with(&self, new: KeySource, kdf_iterations: u32) -> Result<()> {
        let (master, kdf) = match new {
            KeySource::Key(master) => (master, None),
            KeySource::Passphrase(passphrase) => {
                let params = KdfParams::generate(kdf_iterations)?;
                (crate::crypto::MasterKey::from_passphrase(&passphrase, &params)?, Some(params))
            }
        };
        let rewrapper = std::sync::Arc::new(KeyWrapper::new(&master)?);
        // The wrapper in use before the swap, once the operation made it.
        let replaced = std::cell::RefCell::new(None);
        let call = Call::new(Action::Manage, "store.rotate_master_key").writing_keys();
        let rotated = engine::run(&self.inner, Caller::store(Purpose::Maintenance), call, |inner, tx, _, _| {
            let current = inner.wrappers.current();
            let store_id = String::from_utf8(tx.key_meta_get(KEY_META_STORE_ID)?.unwrap_or_default())
                .map_err(|_| Error::corrupt("the key store's store id is not UTF-8"))?;
            let wrapped_root =
                tx.key_meta_get(KEY_META_ROOT)?.ok_or_else(|| Error::corrupt("the wrapped root secret is missing"))?;
            let root = current.unwrap_root(&store_id, &wrapped_root)?;
            tx.key_meta_put(KEY_META_ROOT, &rewrapper.wrap_root(&store_id, &root)?)?;
            let kdf_bytes = match &kdf {
                Some(params) => serde_json::to_vec(params).expect("KDF parameters serialise"),
                None => Vec::new(), // a raw key: no KDF
            };
            tx.key_meta_put(KEY_META_KDF, &kdf_bytes)?;
            for (customer, wrapped) in tx.data_keys()? {
                let key = inner.wrappers.unwrap_data_key(customer, wrapped.key_id, &wrapped.wrapped)?;
                let rewrapped =
                    WrappedKey { key_id: wrapped.key_id, wrapped: rewrapper.wrap_data_key(customer, &key)? };
                tx.put_data_key(customer, &rewrapped)?;
            }
            // Swapped while this transaction still holds the key store's
            // write lock: no key can be wrapped under the old key after the
            // commit, and reads of older snapshots fall back to it.
            *replaced.borrow_mut() = Some(inner.wrappers.swap(rewrapper.clone()));
            Ok(())
        });
        if let (Err(_), Some(old)) = (&rotated, replaced.borrow_mut().take()) {
            self.inner.wrappers.restore(old);
        }
        rotated
    }
}
