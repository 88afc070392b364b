//! Backups (online, data and key store apart), their verification, and
//! master-key rotation. Restores are in `restore.rs`.

use std::path::{Path, PathBuf};

use super::archive::{self, BackupManifest, Header, KeyRecord, NewBackup, Staging};
use super::engine::{self, Call, Caller};
use super::{KEY_META_GENERATION, KEY_META_KDF, KEY_META_ROOT, KEY_META_STORE_ID, Store, StoreInner};
use crate::access::{Action, Purpose};
use crate::crypto::{DEFAULT_KDF_ITERATIONS, FieldCipher, KdfParams, KeySource, KeyWrapper};
use crate::error::{BackupProblem, Error, Result};
use crate::model::Field;
use crate::storage::{DATA_FILE, KEYS_FILE, Scan, TxMode, WrappedKey};

/// What a verified backup (or chain of backups) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupVerification {
    /// Customers in the backup.
    pub customers: u64,
    /// Audit entries whose chain verified.
    pub audit_entries: u64,
    /// Customers whose every sealed field was decrypted as a sample.
    pub sampled: u64,
    /// The manifest of the chain's last link (the state verified).
    pub manifest: BackupManifest,
    /// Links in the chain (1: a full backup alone).
    pub links: usize,
}

/// Customers decrypted in full by a verification.
const SAMPLE: u64 = 25;

impl StoreInner {
    /// The master-key facts a backup records, as the key store holds them now.
    fn key_record(&self) -> Result<KeyRecord> {
        let mut tx = self.backend.begin(TxMode::Read)?;
        let wrapped_root =
            tx.key_meta_get(KEY_META_ROOT)?.ok_or_else(|| Error::corrupt("the wrapped root secret is missing"))?;
        let kdf = match tx.key_meta_get(KEY_META_KDF)?.filter(|k| !k.is_empty()) {
            Some(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::corrupt_caused("the KDF parameters are unreadable", e))?,
            ),
            None => None,
        };
        Ok(KeyRecord { generation: key_generation(tx.as_mut())?, kdf, wrapped_root })
    }

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

/// Verifies the store files rebuilt in `dir` (see [`Store::verify_backup`]).
pub(crate) fn verify_files(dir: &Path, key: KeySource, links: &[(PathBuf, Header)]) -> Result<BackupVerification> {
    let (last_path, last) = links.last().expect("a chain has a link");
    // Opened without the repair a live store gets: verifying writes nothing.
    let backend = crate::storage::SqliteBackend::new(dir, crate::storage::SqliteOptions::default());
    let store = Store::open_unrepaired(backend, key).map_err(|e| match e {
        Error::WrongKey => Error::Backup {
            path: last_path.display().to_string(),
            problem: BackupProblem::WrongKey {
                generation: last.manifest.key_generation,
                hint: " (the last link of a chain needs the key it was made under)".into(),
            },
        },
        other => other,
    })?;
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
    Ok(BackupVerification {
        customers: store.counts()?.customers,
        audit_entries: audit.entries,
        sampled,
        manifest: last.manifest.clone(),
        links: links.len(),
    })
}

/// Reads a chain of backup files, authenticates every link with `key`, and
/// rebuilds the store files at its last link into `dir`.
pub(crate) fn rebuild(chain: &[PathBuf], key: &KeySource, dir: &Path) -> Result<Vec<(PathBuf, Header)>> {
    let links = archive::read_chain(chain, None)?;
    let secret = archive::secret_from_key(&links, key)?;
    archive::reconstruct(&links, &secret, dir)?;
    Ok(links)
}

impl Store {
    /// Takes a full backup of the live store into the new file `path`: an
    /// online snapshot of the customer database and the key store, sealed
    /// as a whole (see the README, "Backups"). The snapshot is staged in a
    /// private directory beside the store's files and removed once sealed;
    /// the file appears only when complete. Returns its manifest. Audited
    /// (`store.backup`).
    pub fn backup_to(&self, path: impl AsRef<Path>) -> Result<BackupManifest> {
        self.take_backup(path.as_ref(), None)
    }

    /// Takes an increment over the backup `parent` (a full backup or an
    /// increment of this store) into the new file `path`: only the pages of
    /// the store's files that differ from the parent's, bound to the parent.
    /// Restore it with its chain ([`RestoreOptions::increments`]). Audited
    /// (`store.backup_increment`).
    ///
    /// [`RestoreOptions::increments`]: crate::RestoreOptions::increments
    pub fn backup_increment(&self, path: impl AsRef<Path>, parent: impl AsRef<Path>) -> Result<BackupManifest> {
        self.take_backup(path.as_ref(), Some(parent.as_ref()))
    }

    fn take_backup(&self, dest: &Path, parent: Option<&Path>) -> Result<BackupManifest> {
        let inner = &self.inner;
        let backend = &inner.backend;
        let store_id = &inner.audit.store_id;
        // The snapshot and sealing happen before the audited transaction
        // begins: holding the write lock for their length would stall every writer.
        let make = || {
            if dest.exists() {
                return Err(Error::AlreadyExists(dest.display().to_string()));
            }
            let parent = parent.map(|p| archive::read_parent(p, store_id, &inner.backup_secret)).transpose()?;
            let private = backend
                .private_dir()
                .ok_or_else(|| Error::storage(format!("{} cannot make file backups", backend.describe())))?;
            let staging = Staging::new(&private, "backup-staging")?;
            let before = inner.key_record()?;
            backend.backup(&staging.path().join(DATA_FILE), &staging.path().join(KEYS_FILE))?;
            let key = inner.key_record()?;
            if key.generation != before.generation {
                return Err(Error::storage("the master key was rotated while the backup was taken; take it again"));
            }
            let new = NewBackup {
                store_id,
                taken_at: inner.clock.now_millis(),
                key,
                parent: parent.as_ref().map(|(header, tables)| (header, tables)),
            };
            archive::write_backup(&inner.backup_secret, staging.path(), dest, new)
        };
        let action = if parent.is_some() { "store.backup_increment" } else { "store.backup" };
        let call = Call::new(Action::Export, action);
        engine::run_after(inner, Caller::store(Purpose::Maintenance), call, make, |manifest, _, _, _, trail| {
            let parent = manifest.parent.as_ref().map_or(String::new(), |p| format!(" over backup {}", p.backup_id));
            trail.reason = Some(format!(
                "{} backup {}{parent} into {}: {} bytes of store pages ({} of {} pages)",
                if parent.is_empty() { "full" } else { "incremental" },
                manifest.backup_id,
                dest.display(),
                manifest.stored_bytes(),
                manifest.parts.iter().map(|p| p.stored_pages).sum::<u64>(),
                manifest.parts.iter().map(|p| p.pages).sum::<u64>(),
            ));
            Ok(manifest)
        })
    }

    /// Reads the manifest of the backup file `path` without a key: what it
    /// is (store, full or increment, parent, time, sizes, the master-key
    /// generation it needs). Not authenticated until the backup is verified
    /// or restored with the key.
    pub fn backup_manifest(path: impl AsRef<Path>) -> Result<BackupManifest> {
        Ok(archive::read_header(path.as_ref())?.0.manifest)
    }

    /// Verifies the full backup `path` with the master key (see
    /// [`Store::verify_backup_chain`]).
    pub fn verify_backup(path: impl AsRef<Path>, key: KeySource) -> Result<BackupVerification> {
        Self::verify_backup_chain(&[path.as_ref()], key)
    }

    /// Verifies a chain of backups (a full backup, then its increments in
    /// order) with a master key that opens it: every link authenticates and
    /// binds to the one before it; the store files rebuilt from it (in a
    /// private temporary directory, removed afterwards) match the last
    /// link's page digests, pass SQLite's integrity check, every customer
    /// has its data key and every key its customer, the audit chain
    /// verifies, and a sample of customers decrypts in full. Any failure
    /// says what failed and in which file ([`Error::Backup`] for the files
    /// themselves). It writes nothing beside the temporary directory.
    pub fn verify_backup_chain<P: AsRef<Path>>(chain: &[P], key: KeySource) -> Result<BackupVerification> {
        let chain: Vec<PathBuf> = chain.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let staging = Staging::new(&std::env::temp_dir(), "custodian-verify")?;
        let links = rebuild(&chain, &key, staging.path())?;
        verify_files(staging.path(), key, &links)
    }

    /// Writes the store files (`customers.db`, `keys.db`) as they were at
    /// the last link of `chain` into the new directory `out_dir`, for an
    /// investigation or a manual restore. The files hold what the store
    /// held (sealed fields stay sealed); keep them as you keep the store.
    pub fn extract_backup<P: AsRef<Path>>(
        chain: &[P],
        key: KeySource,
        out_dir: impl AsRef<Path>,
    ) -> Result<BackupManifest> {
        let out_dir = out_dir.as_ref();
        if out_dir.exists() {
            return Err(Error::AlreadyExists(out_dir.display().to_string()));
        }
        let chain: Vec<PathBuf> = chain.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let staging = Staging::new(parent, "custodian-extract")?;
        let links = rebuild(&chain, &key, staging.path())?;
        std::fs::rename(staging.path(), out_dir)
            .map_err(|e| Error::storage_caused(format!("cannot create {}", out_dir.display()), e))?;
        Ok(links.last().expect("a chain has a link").1.manifest.clone())
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
            let generation = key_generation(tx)? + 1;
            tx.key_meta_put(KEY_META_GENERATION, &generation.to_be_bytes())?;
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

/// The master-key generation: 1 at creation, one more at each rotation.
fn key_generation(tx: &mut dyn crate::storage::Transaction) -> Result<u64> {
    match tx.key_meta_get(KEY_META_GENERATION)? {
        None => Ok(1),
        Some(bytes) => Ok(u64::from_be_bytes(
            bytes.as_slice().try_into().map_err(|_| Error::corrupt("the master-key generation is unreadable"))?,
        )),
    }
}
