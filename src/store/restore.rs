//! Restores that undo no decision.
//!
//! A restore recovers customer data; it never rolls back what a data
//! subject, an administrator or the law decided since the backup. Into a
//! live store it replaces only the customer records (rows, sealed fields,
//! blind indexes, and the data keys they need) with the backup's, in one
//! audited transaction, and keeps everything else from the live store: the
//! whole audit log (so every checkpoint the host kept still verifies), the
//! consent records, restrictions, legal holds, the access directory,
//! retention policies and the erasure ledger. Customers created after the
//! backup are removed and reported; customers erased since stay erased.
//! Into an empty directory (the live store lost) the backup is copied whole.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::engine::{self, Call, Caller};
use super::{Store, StoreInner};
use crate::access::{Action, Purpose};
use crate::audit::{Checkpoint, CheckpointPolicy, ErasureReceipt};
use crate::crypto::KeySource;
use crate::error::{BackupProblem, Error, Result};
use crate::model::CustomerId;
use crate::storage::{
    CustomerRow, DATA_FILE, DirectoryKind, KEYS_FILE, SqliteBackend, SqliteOptions, Transaction, TxMode, WrappedKey,
};

use super::archive::Staging;
use super::backup::{BackupVerification, rebuild, verify_files};

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The backup's verification.
    pub verified: BackupVerification,
    /// Whether the whole store came from the backup (the target directory
    /// held no store); otherwise only customer records were replaced.
    pub keys_restored: bool,
    /// Customers of the backup erased since it was taken: kept out.
    pub removed_by_ledger: u64,
    /// Customers restored from the backup.
    pub restored: u64,
    /// Customers the restore removed: into a live store, those created
    /// after the backup; after a total loss, those the host's erasure
    /// receipts name.
    pub removed: Vec<CustomerId>,
    /// After a total loss, the part of the audit history nothing kept:
    /// the entries after `after` (the backup's last), through `through`
    /// (the last outside checkpoint's size) when the host gave one.
    pub unknown_history: Option<UnknownHistory>,
    /// Customers under a legal hold, left exactly as they were live (not
    /// rolled back, and not removed if created after the backup).
    pub kept_under_hold: Vec<CustomerId>,
}

/// A range of audit history lost with the store (see [`RestoreReport::unknown_history`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownHistory {
    /// The backup's last entry: everything after it is unknown...
    pub after: u64,
    /// ...through this entry (the last checkpoint the host kept), if known.
    pub through: Option<u64>,
}

/// What the host kept outside a store, for a restore after its total loss.
#[derive(Debug, Clone, Default)]
pub struct OutsideRecord {
    /// The last checkpoint the host received.
    pub checkpoint: Option<Checkpoint>,
    /// Every erasure receipt the host received.
    pub receipts: Vec<ErasureReceipt>,
}

/// How a restore is carried out.
#[derive(Default)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// When the restored store's audit entries are checkpointed, and which
    /// sink receives them (give the host's usual sink, so the restore's own
    /// entries are anchored outside like every other).
    pub checkpoints: CheckpointPolicy,
    /// The master key the backup was made under, when the store's key was
    /// rotated since (`None`: the same key as the store's).
    pub backup_key: Option<KeySource>,
    /// For a restore into an empty directory: what the host kept outside.
    pub outside: Option<OutsideRecord>,
    /// For a restore into an empty directory without an outside record:
    /// the caller accepts that erasures made after the backup are unknown.
    pub acknowledge_lost_history: bool,
    /// The increments to apply over the full backup, in order.
    pub increments: Vec<PathBuf>,
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("checkpoints", &self.checkpoints)
            .field("backup_key", &self.backup_key.as_ref().map(|_| "(given)"))
            .field("outside", &self.outside)
            .field("acknowledge_lost_history", &self.acknowledge_lost_history)
            .field("increments", &self.increments)
            .finish()
    }
}

impl RestoreOptions {
    /// Sets the checkpoint policy and sink of the restored store.
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = policy;
        self
    }

    /// The increments over the full backup to restore with it, in chain
    /// order: the store is restored as it was at the last of them.
    pub fn increments<P: AsRef<Path>>(mut self, increments: impl IntoIterator<Item = P>) -> Self {
        self.increments = increments.into_iter().map(|p| p.as_ref().to_path_buf()).collect();
        self
    }

    /// The master key the backup was made under (a rotation since; for a
    /// chain, the key of its last link): the backup is read with it, and the restored store ends up under the
    /// store's current key all the same.
    pub fn backup_key(mut self, key: KeySource) -> Self {
        self.backup_key = Some(key);
        self
    }

    /// After a total loss: the last checkpoint and the erasure receipts the
    /// host kept; every customer a receipt names stays erased.
    pub fn outside_record(mut self, checkpoint: Option<Checkpoint>, receipts: Vec<ErasureReceipt>) -> Self {
        self.outside = Some(OutsideRecord { checkpoint, receipts });
        self
    }

    /// After a total loss, without an outside record: restore anyway,
    /// accepting that erasures made after the backup are unknown. Audited
    /// as such.
    pub fn acknowledge_lost_history(mut self) -> Self {
        self.acknowledge_lost_history = true;
        self
    }
}

impl Store {
    /// Restores the backup in `backup` into the store directory `store_dir`
    /// (the store must not be open in this process: [`Error::StoreOpen`]).
    /// The backup is verified first.
    ///
    /// If `store_dir` holds the live store, only its customer records are
    /// replaced with the backup's, in one audited transaction
    /// (`store.restore`): the audit log, consents, restrictions, holds, the
    /// access directory, retention policies and the erasure ledger stay as
    /// they are, customers created since the backup are removed (and
    /// reported), and customers erased since stay erased. Into an empty
    /// directory the backup is copied whole.
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
        let created = !store_dir.exists();
        let restored = Self::restore_chain(backup, store_dir, key, options);
        if restored.is_err() && created {
            // Nothing of a failed restore stays behind in a directory it made.
            let _ = std::fs::remove_dir_all(store_dir);
        }
        restored
    }

    fn restore_chain(
        backup: &Path,
        store_dir: &Path,
        key: KeySource,
        options: &RestoreOptions,
    ) -> Result<RestoreReport> {
        let backup_key = || options.backup_key.as_ref().unwrap_or(&key).duplicate();
        let chain: Vec<PathBuf> =
            std::iter::once(backup.to_path_buf()).chain(options.increments.iter().cloned()).collect();
        // The chain is rebuilt beside the store's files, as private as they are.
        let staging = Staging::new(store_dir, "restore-staging")?;
        let links = rebuild(&chain, &backup_key(), staging.path())?;
        let verified = verify_files(staging.path(), backup_key(), &links)?;
        let size: u64 = chain.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let last = &links.last().expect("a chain has a link").1.manifest;
        let described = match links.len() {
            1 => format!("the full backup {} in {} ({size} bytes)", last.backup_id, backup.display()),
            n => format!(
                "the backup {} in {} with {} increments through backup {} ({size} bytes in all)",
                links[0].1.manifest.backup_id,
                backup.display(),
                n - 1,
                last.backup_id
            ),
        };
        let source_dir = staging.path();
        let live_exists = store_dir.join(DATA_FILE).exists() && store_dir.join(KEYS_FILE).exists();
        if !live_exists {
            let rotated = options.backup_key.is_some();
            return Self::restore_whole(
                source_dir,
                &described,
                store_dir,
                backup_key(),
                rotated.then_some(key),
                options,
                verified,
            );
        }
        let source = Store::open_unrepaired(SqliteBackend::new(source_dir, SqliteOptions::default()), backup_key())?;
        let live = Store::open_unrepaired(SqliteBackend::new(store_dir, SqliteOptions::default()), key)?
            .with_checkpoint_policy(options.checkpoints.clone())?;
        if live.inner.audit.store_id != source.inner.audit.store_id {
            return Err(Error::Backup {
                path: backup.display().to_string(),
                problem: BackupProblem::Foreign {
                    found: source.inner.audit.store_id.clone(),
                    expected: live.inner.audit.store_id.clone(),
                },
            });
        }
        live.recover()?;
        let call = Call::new(Action::Manage, "store.restore").writing_keys().shredding();
        engine::run(&live.inner, Caller::store(Purpose::Maintenance), call, |inner, tx, _, trail| {
            let applied = apply_backup(inner, tx, &source.inner)?;
            trail.customers.extend(applied.removed.iter().copied());
            trail.reason = Some(format!(
                "restored {described}, taken at {} (Unix ms): {} customers restored, {} created since removed, \
                 {} erased since kept out, {} under a legal hold left as they were; audit log, consents, \
                 restrictions, holds, access directory, retention policies and erasure ledger kept",
                applied.taken_at,
                applied.restored,
                applied.removed.len(),
                applied.kept_out,
                applied.held.len()
            ));
            Ok(RestoreReport {
                verified,
                keys_restored: false,
                removed_by_ledger: applied.kept_out,
                restored: applied.restored,
                removed: applied.removed,
                unknown_history: None,
                kept_under_hold: applied.held,
            })
        })
    }

    /// Total loss: the backup becomes the store (its key store only if the
    /// directory has none). Without the directory's own key store nothing
    /// local says what was erased since the backup: the host's outside
    /// record must, or the caller must acknowledge the unknown history.
    #[allow(clippy::too_many_arguments)]
    fn restore_whole(
        backup: &Path,
        described: &str,
        store_dir: &Path,
        key: KeySource,
        current_key: Option<KeySource>,
        options: &RestoreOptions,
        verified: BackupVerification,
    ) -> Result<RestoreReport> {
        // A key store that survived the loss of the data is kept: its
        // erasure ledger (replayed below) keeps erased customers out.
        let keys_restored = !store_dir.join(KEYS_FILE).exists();
        let outside = options.outside.as_ref().filter(|_| keys_restored);
        match (outside, keys_restored) {
            (Some(record), _) => check_outside(backup, key.duplicate(), record)?,
            (None, true) if !options.acknowledge_lost_history => {
                return Err(Error::invalid(
                    "restore",
                    "outside_record_required",
                    format!(
                        "{} holds no store: nothing in the backup can say what was erased since it was taken; \
                         pass the last checkpoint and the erasure receipts the host kept, or acknowledge the \
                         unknown history",
                        store_dir.display()
                    ),
                ));
            }
            (None, _) => {}
        }
        std::fs::create_dir_all(store_dir)
            .map_err(|e| Error::storage_caused(format!("cannot create {}", store_dir.display()), e))?;
        let files: &[&str] = if keys_restored { &[DATA_FILE, KEYS_FILE] } else { &[DATA_FILE] };
        for file in files.iter().copied() {
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(store_dir.join(format!("{file}{suffix}")));
            }
            // The rebuilt files sit beside the store: moved, not copied.
            std::fs::rename(backup.join(file), store_dir.join(file))
                .map_err(|e| Error::storage_caused(format!("cannot restore {file}"), e))?;
        }
        let backend = SqliteBackend::new(store_dir, SqliteOptions::default());
        let store = Store::open_unrepaired(backend, key)?.with_checkpoint_policy(options.checkpoints.clone())?;
        // The backup's last entry, before the restore appends its own.
        let backup_last = store.verify_audit(None)?.entries;
        // The ledger first, so the report names what it removed.
        let removed_by_ledger = store.replay_erasure_ledger()?;
        store.recover()?;
        store.refresh_search_index()?;
        let unknown_history = keys_restored.then(|| UnknownHistory {
            after: backup_last,
            through: outside.as_ref().and_then(|o| o.checkpoint.as_ref()).map(|c| c.size),
        });
        let call = Call::new(Action::Manage, "store.restore").writing_keys().shredding();
        let removed = engine::run(&store.inner, Caller::store(Purpose::Maintenance), call, |inner, tx, _, trail| {
            let mut removed = Vec::new();
            if let Some(record) = outside {
                // Every customer a receipt names stays erased, and the
                // restored ledger learns of it for every later restore.
                let erased: BTreeMap<Vec<u8>, i64> =
                    record.receipts.iter().map(|r| (r.customer_hash.clone(), r.time)).collect();
                removed = inner.delete_erased(tx, |hash| erased.contains_key(hash))?;
                for (hash, at) in &erased {
                    tx.record_erasure(hash, *at)?;
                }
            }
            trail.customers.extend(removed.iter().copied());
            let history = match unknown_history {
                None => "its own key store kept".to_owned(),
                Some(UnknownHistory { after, through: Some(through) }) => format!(
                    "the key store lost too: {} customers removed by the host's erasure receipts; the history after \
                     entry {after} through entry {through} (the last outside checkpoint) is unknown",
                    removed.len()
                ),
                Some(UnknownHistory { after, through: None }) if outside.is_some() => format!(
                    "the key store lost too: {} customers removed by the host's erasure receipts; the history after \
                     entry {after} is unknown (no outside checkpoint)",
                    removed.len()
                ),
                Some(UnknownHistory { after, .. }) => format!(
                    "the key store lost too, and no outside record was given: acknowledged that the history after \
                     entry {after}, and any erasure in it, is unknown"
                ),
            };
            trail.reason = Some(format!("restored {described} into a directory without customer data ({history})"));
            Ok(removed)
        })?;
        let restored = store.counts()?.customers;
        // Made under an older key: the restored store ends under the current one.
        if let Some(current) = current_key {
            store.rotate_master_key(current)?;
        }
        Ok(RestoreReport {
            verified,
            keys_restored,
            removed_by_ledger,
            restored,
            removed,
            unknown_history,
            kept_under_hold: Vec::new(),
        })
    }
}

/// Checks the host's outside record against the backup: every receipt and
/// the checkpoint are signed by the backup's store.
fn check_outside(backup: &Path, key: KeySource, record: &OutsideRecord) -> Result<()> {
    let source = Store::open_unrepaired(SqliteBackend::new(backup, SqliteOptions::default()), key)?;
    let public_key = source.audit_public_key()?;
    let store_id = &source.inner.audit.store_id;
    for receipt in &record.receipts {
        if &receipt.store_id != store_id {
            return Err(Error::invalid("receipt", "foreign_receipt", "an erasure receipt belongs to another store"));
        }
        receipt.verify_signature(&public_key)?;
    }
    if let Some(checkpoint) = &record.checkpoint {
        if &checkpoint.store_id != store_id {
            return Err(Error::invalid("checkpoint", "foreign_checkpoint", "the checkpoint belongs to another store"));
        }
        checkpoint.verify_signature(&public_key)?;
    }
    Ok(())
}

/// What applying a backup's customer records changed.
struct Applied {
    restored: u64,
    removed: Vec<CustomerId>,
    kept_out: u64,
    held: Vec<CustomerId>,
    taken_at: i64,
}

/// Replaces the live customer records in `tx` with `source`'s (the opened
/// backup), keeping every other record of the live store.
fn apply_backup(live: &StoreInner, tx: &mut dyn Transaction, source: &StoreInner) -> Result<Applied> {
    let mut src = source.backend.begin(TxMode::Read)?;
    let taken_at = src.audit_head()?.map_or(0, |h| h.time);
    let ledger: HashSet<Vec<u8>> = tx.erasure_ledger()?.into_iter().collect();
    let backup_ids = headers(src.as_mut())?;
    let live_ids = headers(tx)?;
    // A legal hold preserves a customer as it is: neither rolled back nor removed.
    let held: HashSet<CustomerId> = tx
        .directory_list(DirectoryKind::Hold)?
        .into_iter()
        .filter_map(|(key, _)| key.parse().ok().map(CustomerId))
        .filter(|id| live_ids.contains_key(id))
        .collect();

    // Customers created since the backup go (with their keys and consents).
    let removed: Vec<CustomerId> =
        live_ids.keys().filter(|id| !backup_ids.contains_key(id) && !held.contains(id)).copied().collect();
    for id in &removed {
        tx.delete_customer(*id)?;
        tx.delete_data_key(*id)?;
    }
    // A code that moved between customers since the backup is freed first,
    // so restoring the rows one by one never meets a duplicate.
    let mut versions: BTreeMap<CustomerId, u64> = live_ids.iter().map(|(id, (v, _))| (*id, *v)).collect();
    for (id, (version, code)) in live_ids.iter().filter(|(id, _)| !held.contains(id)) {
        let Some((_, wanted)) = backup_ids.get(id) else { continue };
        if code.is_some() && code != wanted {
            let mut freed = tx.get_customer(*id)?.ok_or(Error::CustomerNotFound(*id))?;
            freed.header.external_code = None;
            freed.header.version = version + 1;
            tx.replace_customer(&freed, *version)?;
            versions.insert(*id, version + 1);
        }
    }
    let (mut restored, mut kept_out) = (0, 0);
    for id in backup_ids.keys() {
        if held.contains(id) {
            continue; // left exactly as it is live
        }
        if ledger.contains(&live.ledger_hash(*id)) {
            kept_out += 1; // erased since the backup: it stays erased
            continue;
        }
        let mut row: CustomerRow = src.get_customer(*id)?.ok_or(Error::CustomerNotFound(*id))?;
        match tx.get_data_key(*id)? {
            Some(key) if key.key_id == row.header.key_id => {}
            _ => {
                // Deleted since the backup (its key went with it): the
                // backup's key comes back, rewrapped under the live master key.
                let wrapped = src.get_data_key(*id)?.ok_or(Error::DataKeyMissing(*id))?;
                let key = source.wrappers.unwrap_data_key(*id, wrapped.key_id, &wrapped.wrapped)?;
                tx.put_data_key(
                    *id,
                    &WrappedKey { key_id: wrapped.key_id, wrapped: live.wrappers.current().wrap_data_key(*id, &key)? },
                )?;
            }
        }
        match versions.get(id) {
            Some(version) => {
                // Versions only grow, so a client holding a later one sees a conflict.
                row.header.version = version + 1;
                tx.replace_customer(&row, *version)?;
            }
            None => {
                row.header.version = row.header.version.max(1);
                tx.insert_customer(&row)?;
            }
        }
        // Its keyword-index tokens are the backup's values', from the live index's keys.
        let tokens = live.tokens_of(tx, *id)?;
        tx.put_search_tokens(*id, &tokens)?;
        // Its attached records become the backup's, with their histories.
        for record in tx.records_of(*id, None, u32::MAX)? {
            tx.delete_record(record.id)?;
        }
        for record in src.records_of(*id, None, u32::MAX)? {
            tx.insert_record(&record)?;
            for change in src.status_history(record.id)? {
                tx.append_status_change(record.id, &change)?;
            }
        }
        restored += 1;
    }
    let mut held: Vec<CustomerId> = held.into_iter().collect();
    held.sort();
    // A stale live index is re-derived whole, in this transaction.
    if !live.search_index_current(tx)? {
        live.rebuild_search_index_in(tx)?;
    }
    Ok(Applied { restored, removed, kept_out, held, taken_at })
}

/// Every customer id with its version and external code, from one scan.
fn headers(tx: &mut dyn Transaction) -> Result<BTreeMap<CustomerId, (u64, Option<String>)>> {
    let mut headers = BTreeMap::new();
    tx.scan_customers(&[], &mut |c| {
        headers.insert(c.header.id, (c.header.version, c.header.external_code));
        Ok(crate::storage::Scan::Continue)
    })?;
    Ok(headers)
}
