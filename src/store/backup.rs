//! Backups (online, data and key store apart), their verification, restore
//! with the erasure ledger replayed, and master-key rotation.

use std::path::Path;

use super::engine::{self, Call, Caller};
use super::{CheckpointPolicy, KEY_META_KDF, KEY_META_ROOT, KEY_META_STORE_ID, Store, StoreInner};
use crate::access::{Action, Purpose};
use crate::crypto::{DEFAULT_KDF_ITERATIONS, FieldCipher, KdfParams, KeySource, KeyWrapper};
use crate::error::{Error, Result};
use crate::model::Field;
use crate::storage::{BackupPart, DATA_FILE, KEYS_FILE, Scan, TxMode, WrappedKey};

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

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The backup's verification.
    pub verified: BackupVerification,
    /// Whether the key store was restored too (it was missing); otherwise
    /// the store's own key store, with its erasure ledger, was kept.
    pub keys_restored: bool,
    /// Customers the erasure ledger removed again after the restore.
    pub removed_by_ledger: u64,
}

/// How a restore is carried out.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// When the restored store's audit entries are checkpointed, and which
    /// sink receives them (give the host's usual sink, so the restore's own
    /// entries are anchored outside like every other).
    pub checkpoints: CheckpointPolicy,
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions").field("checkpoints", &self.checkpoints).finish()
    }
}

impl RestoreOptions {
    /// Sets the checkpoint policy and sink of the restored store.
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = policy;
        self
    }
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
            backend.backup(BackupPart::Data, &dir.join(DATA_FILE))?;
            backend.backup(BackupPart::Keys, &dir.join(KEYS_FILE))
        };
        let call = Call::new(Action::Export, "store.backup");
        engine::run_after(&self.inner, Caller::store(Purpose::Maintenance), call, copy, |(), _, _, _, _| Ok(()))
    }

    /// Verifies the backup in `dir` with the master key: it opens, passes
    /// SQLite's integrity check, its audit chain verifies, and a sample of
    /// customers decrypts in full. Any failure says what failed.
    pub fn verify_backup(dir: impl AsRef<Path>, key: KeySource) -> Result<BackupVerification> {
        let store = Store::open_at(dir.as_ref(), key)?;
        store.inner.backend.integrity_check()?;
        let audit = store.verify_audit(None)?;
        if let Some(problem) = audit.problem {
            return Err(Error::corrupt(format!("the backup's audit chain does not verify: {problem}")));
        }
        let sampled = store.inner.decrypt_sample(SAMPLE)?;
        Ok(BackupVerification { customers: store.counts()?.customers, audit_entries: audit.entries, sampled })
    }

    /// Restores the backup in `backup` into the store directory `store_dir`
    /// (the store must be closed). The backup is verified first. The
    /// store's own key store is kept if it exists, so its erasure ledger
    /// (and the absence of every erased customer's key) survives; it is
    /// restored from the backup only if missing. The ledger is then
    /// replayed: no customer erased since the backup comes back.
    pub fn restore(backup: impl AsRef<Path>, store_dir: impl AsRef<Path>, key: KeySource) -> Result<RestoreReport> {
        Self::restore_with(backup, store_dir, key, &RestoreOptions::default())
    }

    /// [`Store::restore`] with options: where the checkpoints of the
    /// restore's own audit entries go.
    pub fn restore_with(
        backup: impl AsRef<Path>,
        store_dir: impl AsRef<Path>,
        key: KeySource,
        options: &RestoreOptions,
    ) -> Result<RestoreReport> {
        let (backup, store_dir) = (backup.as_ref(), store_dir.as_ref());
        if crate::storage::sqlite_store_is_open(&store_dir.join(DATA_FILE)) {
            return Err(Error::StoreOpen(store_dir.display().to_string()));
        }
        let verified = Store::verify_backup(backup, key.duplicate())?;
        std::fs::create_dir_all(store_dir)
            .map_err(|e| Error::storage_caused(format!("cannot create {}", store_dir.display()), e))?;
        let keys_restored = !store_dir.join(KEYS_FILE).exists();
        let mut copies = vec![DATA_FILE];
        if keys_restored {
            copies.push(KEYS_FILE);
        }
        for file in copies {
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(store_dir.join(format!("{file}{suffix}")));
            }
            std::fs::copy(backup.join(file), store_dir.join(file))
                .map_err(|e| Error::storage_caused(format!("cannot restore {file}"), e))?;
        }
        let backend = crate::storage::SqliteBackend::new(store_dir, crate::storage::SqliteOptions::default());
        let store = Store::open_unrepaired(backend, key)?.with_checkpoint_policy(options.checkpoints.clone())?;
        // The ledger first, so the report names every erased customer it
        // removed; then anything else an interrupted commit left.
        let removed_by_ledger = store.replay_erasure_ledger()?;
        store.recover()?;
        let call = Call::new(Action::Manage, "store.restore");
        engine::run(&store.inner, Caller::store(Purpose::Maintenance), call, |_, _, _, _| Ok(()))?;
        Ok(RestoreReport { verified, keys_restored, removed_by_ledger })
    }

    /// Rewraps the root secret and every data key under the master key
    /// `new`, without re-encrypting any data, in one key-store transaction:
    /// an interrupted rotation leaves the store opening with the old key and
    /// nothing lost; a finished one, with the new key only. Only possible
    /// while no session is open on this store. Audited (`store.rotate_master_key`).
    pub fn rotate_master_key(&mut self, new: KeySource) -> Result<()> {
        self.rotate_master_key_with(new, DEFAULT_KDF_ITERATIONS)
    }

    /// [`Store::rotate_master_key`] with the PBKDF2 iteration count used
    /// when `new` is a passphrase (at least
    /// [`crate::crypto::MIN_KDF_ITERATIONS`]; ignored for raw key bytes).
    pub fn rotate_master_key_with(&mut self, new: KeySource, kdf_iterations: u32) -> Result<()> {
        let inner = std::sync::Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "key",
                "store_shared",
                "close every session (and clone) of the store before rotating its key",
            )
        })?;
        let (master, kdf) = match new {
            KeySource::Key(master) => (master, None),
            KeySource::Passphrase(passphrase) => {
                let params = KdfParams::generate(kdf_iterations)?;
                (crate::crypto::MasterKey::from_passphrase(&passphrase, &params)?, Some(params))
            }
        };
        let rewrapper = KeyWrapper::new(&master)?;
        let call = Call::new(Action::Manage, "store.rotate_master_key").writing_keys();
        engine::run(inner, Caller::store(Purpose::Maintenance), call, |inner, tx, _, _| {
            let store_id = String::from_utf8(tx.key_meta_get(KEY_META_STORE_ID)?.unwrap_or_default())
                .map_err(|_| Error::corrupt("the key store's store id is not UTF-8"))?;
            let wrapped_root =
                tx.key_meta_get(KEY_META_ROOT)?.ok_or_else(|| Error::corrupt("the wrapped root secret is missing"))?;
            let root = inner.wrapper.unwrap_root(&store_id, &wrapped_root)?;
            tx.key_meta_put(KEY_META_ROOT, &rewrapper.wrap_root(&store_id, &root)?)?;
            let kdf_bytes = match &kdf {
                Some(params) => serde_json::to_vec(params).expect("KDF parameters serialise"),
                None => Vec::new(), // a raw key: no KDF
            };
            tx.key_meta_put(KEY_META_KDF, &kdf_bytes)?;
            for (customer, wrapped) in tx.data_keys()? {
                let key = inner.wrapper.unwrap_data_key(customer, wrapped.key_id, &wrapped.wrapped)?;
                let rewrapped =
                    WrappedKey { key_id: wrapped.key_id, wrapped: rewrapper.wrap_data_key(customer, &key)? };
                tx.put_data_key(customer, &rewrapped)?;
            }
            Ok(())
        })?;
        inner.wrapper = rewrapper;
        Ok(())
    }
}
