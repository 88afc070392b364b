//! [`Store`] and [`Session`]: the only road to customer plaintext.
//!
//! A store owns the storage backend, the unwrapped root secret (held as
//! derived subkeys), the catalogue and the policy. Callers never receive any
//! of them: every read or write of customer data goes through a
//! [`Session`], which names a principal and a purpose and runs each call as
//! one storage transaction: decide → read/write ciphertext → decrypt and
//! mask → commit → return.

mod archive;
mod audit_queries;
mod backup;
mod codec;
mod csv;
mod directory;
mod duplicates;
mod engine;
mod import;
mod lifecycle;
mod listing;
mod login;
mod merge;
mod purchase_totals;
mod records;
mod restore;
mod search_index;
mod session;
mod sharing;
mod sort_cache;
mod statistics;

pub use archive::{BACKUP_FORMAT, BackupKind, BackupManifest, BackupParent, BackupPart};
pub use backup::BackupVerification;
pub use csv::{CsvExportOptions, CsvExportSummary};
pub use duplicates::{CategoryQuality, DuplicateCheck, DuplicatePair, DuplicateReason, DuplicateReport, QualityReport};
pub use import::{
    ImportCounts, ImportOptions, ImportProblem, ImportReport, ImportRow, ImportedCustomer, Matched, MatchedRow,
    RejectedRow,
};
pub use lifecycle::{CustomerExport, RecordExport};
pub use login::LoginPolicy;
pub use merge::{MergeOptions, MergeReport, MergeSide};
pub use purchase_totals::{PurchaseTotals, PurchaseTotalsQuery};
pub use restore::{OutsideRecord, RestoreOptions, RestoreReport, UnknownHistory};
pub use statistics::{StatisticsCell, StatisticsDimension, StatisticsQuery, StatisticsTable};

pub use listing::{Filter, ListQuery, MAX_PAGE, SearchQuery};
pub use session::Session;
pub use sharing::{MAX_SHARE_FIELDS, SharePage, ShareSession};

use std::path::Path;
use std::sync::Arc;

use crate::access::{Action, AuthContext, Policy, Purpose};
use crate::audit::{AuditLog, AuditVerification, Checkpoint};
pub use crate::audit::{CheckpointPolicy, CheckpointSink};
use crate::clock::{Clock, SystemClock};
use crate::collate::{Collation, PinyinCollation};
use crate::consent::Channel;
use crate::crypto::{
    BlindIndexer, DEFAULT_KDF_ITERATIONS, KdfParams, KeySource, KeyWrapper, MasterKey, Secret, random_bytes,
};
use crate::error::{Error, Result};
use crate::model::Catalogue;
use crate::storage::{Backend, MemoryBackend, SqliteBackend, SqliteOptions, TxMode};
use engine::{Call, Caller};

/// Settings fixed when a store is created:
/// `CreateOptions::new().catalogue(catalogue).kdf_iterations(200_000)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateOptions {
    /// Field levels and custom attributes.
    pub catalogue: Catalogue,
    /// PBKDF2 iterations when the master key comes from a passphrase.
    pub kdf_iterations: u32,
}

impl CreateOptions {
    /// The default catalogue and KDF.
    pub fn new() -> Self {
        Self::default()
    }

    /// Field levels and custom attributes.
    pub fn catalogue(mut self, catalogue: Catalogue) -> Self {
        self.catalogue = catalogue;
        self
    }

    /// PBKDF2 iterations when the master key comes from a passphrase (at
    /// least [`crate::crypto::MIN_KDF_ITERATIONS`]).
    pub fn kdf_iterations(mut self, iterations: u32) -> Self {
        self.kdf_iterations = iterations;
        self
    }
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions { catalogue: Catalogue::default(), kdf_iterations: DEFAULT_KDF_ITERATIONS }
    }
}

/// Metadata names.
const META_STORE_ID: &str = "store_id";
const META_CATALOGUE: &str = "catalogue";
pub(crate) const KEY_META_STORE_ID: &str = "store_id";
pub(crate) const KEY_META_ROOT: &str = "root";
pub(crate) const KEY_META_KDF: &str = "kdf";
pub(crate) const KEY_META_GENERATION: &str = "generation";

/// What every session of a store shares.
pub(crate) struct StoreInner {
    pub(crate) backend: Box<dyn Backend>,
    /// Wraps and unwraps data keys under the master key; swapped by a
    /// rotation while sessions go on (see [`Wrappers`]).
    pub(crate) wrappers: Wrappers,
    pub(crate) blind: BlindIndexer,
    /// Cuts searchable values into keyword-index tokens.
    pub(crate) search: crate::search::SearchIndexer,
    pub(crate) catalogue: Catalogue,
    pub(crate) policy: Policy,
    pub(crate) collation: Box<dyn Collation>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: AuditLog,
    pub(crate) checkpoint_sink: Option<CheckpointSink>,
    pub(crate) receipt_sink: Option<crate::audit::ReceiptSink>,
    pub(crate) sort_cache: sort_cache::SortCache,
    /// The last classification counts statistics read, with the customers'
    /// generation they are true for.
    pub(crate) class_counts: statistics::ClassCountCache,
    /// Seals principals' TOTP secrets (derived from the root secret).
    pub(crate) credential_key: Secret,
    /// Keys every backup of the store (derived from the root secret, so it
    /// survives a master-key rotation).
    pub(crate) backup_secret: Secret,
    pub(crate) login_policy: LoginPolicy,
    /// When service records fall due, and how long a closed one may reopen.
    pub(crate) service_levels: crate::records::service::ServiceLevelPolicy,
    /// Whether `verify` needs another principal than the one who entered or
    /// last changed the customer (录入 → 审核 by two people).
    pub(crate) four_eyes: bool,
    /// Whether a destruction committed but the write-ahead logs could not
    /// be emptied after it (readers held them past the busy timeout): the
    /// destruction or [`Store::purge_logs`] pays it.
    pub(crate) purge_owed: std::sync::atomic::AtomicBool,
}

/// The key wrapper of the current master key and, after a rotation in this
/// process, the previous one: a read whose snapshot predates the rotation's
/// commit still finds keys wrapped under the old key. New keys are always
/// wrapped under the current one (key-creating calls are serialised with
/// the rotation by the key store's write lock).
pub(crate) struct Wrappers {
    keys: std::sync::RwLock<(Arc<KeyWrapper>, Option<Arc<KeyWrapper>>)>,
}

impl Wrappers {
    fn new(current: KeyWrapper) -> Self {
        Wrappers { keys: std::sync::RwLock::new((Arc::new(current), None)) }
    }

    /// The wrapper of the current master key.
    pub(crate) fn current(&self) -> Arc<KeyWrapper> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Unwraps a data key with the current wrapper, or else the previous one.
    pub(crate) fn unwrap_data_key(
        &self,
        customer: crate::model::CustomerId,
        key_id: u64,
        wrapped: &[u8],
    ) -> Result<crate::crypto::DataKey> {
        let (current, previous) = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        match (current.unwrap_data_key(customer, key_id, wrapped), previous) {
            (Err(e), Some(previous)) => previous.unwrap_data_key(customer, key_id, wrapped).map_err(|_| e),
            (result, _) => result,
        }
    }

    /// Makes `next` current and keeps the one it replaces as the fallback;
    /// returns the replaced one, to put back if the rotation fails.
    pub(crate) fn swap(&self, next: Arc<KeyWrapper>) -> Arc<KeyWrapper> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let replaced = std::mem::replace(&mut keys.0, next);
        keys.1 = Some(replaced.clone());
        replaced
    }

    /// Undoes [`Wrappers::swap`].
    pub(crate) fn restore(&self, replaced: Arc<KeyWrapper>) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.0 = replaced;
        keys.1 = None;
    }
}

/// A customer-information store. `Send + Sync`: share it between threads
/// (it is cheap to clone) and open sessions on each.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.inner.backend.describe()).finish_non_exhaustive()
    }
}

impl Store {
    /// Creates a new store on `backend`. Fails with [`Error::AlreadyExists`]
    /// if the backend already holds one.
    pub fn create(backend: impl Backend + 'static, key: KeySource, options: CreateOptions) -> Result<Store> {
        // Everything that can be refused is checked before the backend
        // touches the disk: a refused create leaves nothing behind.
        let store_id = crate::audit::hex(&random_bytes::<16>()?);
        let (master, kdf) = match key {
            KeySource::Key(master) => (master, None),
            KeySource::Passphrase(passphrase) => {
                let params = KdfParams::generate(options.kdf_iterations)?;
                (MasterKey::from_passphrase(&passphrase, &params)?, Some(params))
            }
        };
        if backend.prepare(true)? {
            return Err(Error::AlreadyExists(backend.describe()));
        }
        let wrapper = KeyWrapper::new(&master)?;
        let root = Secret::random()?;
        let mut tx = backend.begin(TxMode::Write)?;
        if tx.key_meta_get(KEY_META_ROOT)?.is_some() {
            return Err(Error::AlreadyExists(backend.describe()));
        }
        tx.key_meta_put(KEY_META_STORE_ID, store_id.as_bytes())?;
        tx.key_meta_put(KEY_META_ROOT, &wrapper.wrap_root(&store_id, &root)?)?;
        if let Some(params) = &kdf {
            tx.key_meta_put(KEY_META_KDF, &serde_json::to_vec(params).expect("KDF parameters serialise"))?;
        }
        tx.meta_put(META_STORE_ID, store_id.as_bytes())?;
        tx.meta_put(META_CATALOGUE, &serde_json::to_vec(&options.catalogue).expect("catalogue serialises"))?;
        // An empty store's (empty) index is current from the start.
        if let Some(signature) = crate::search::SearchIndexer::new(&root, &options.catalogue)?.signature() {
            tx.meta_put(search_index::META_SEARCH_INDEX, signature)?;
        }
        tx.commit()?;
        Self::assemble(Box::new(backend), wrapper, root, options.catalogue, store_id)
    }

    /// Opens an existing store on `backend` with its master key or passphrase.
    /// A wrong key fails with [`Error::WrongKey`].
    pub fn open(backend: impl Backend + 'static, key: KeySource) -> Result<Store> {
        let store = Self::open_unrepaired(backend, key)?;
        store.recover()?;
        store.refresh_search_index()?;
        Ok(store)
    }

    /// Opens the store without repairing an interrupted commit (a restore
    /// replays the erasure ledger first, so its report names the customers
    /// it removed).
    pub(crate) fn open_unrepaired(backend: impl Backend + 'static, key: KeySource) -> Result<Store> {
        backend.prepare(false)?;
        let mut tx = backend.begin(TxMode::Read)?;
        let text = |bytes: Option<Vec<u8>>, what: &str| -> Result<String> {
            let bytes = bytes.ok_or_else(|| Error::corrupt(format!("{what} is missing")))?;
            String::from_utf8(bytes).map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
        };
        let store_id = text(tx.meta_get(META_STORE_ID)?, "the store id of the customer database")?;
        let key_store_id = text(tx.key_meta_get(KEY_META_STORE_ID)?, "the store id of the key store")?;
        if store_id != key_store_id {
            return Err(Error::KeyStoreMismatch { key_store: key_store_id, data: store_id });
        }
        let catalogue: Catalogue = serde_json::from_slice(
            &tx.meta_get(META_CATALOGUE)?.ok_or_else(|| Error::corrupt("the catalogue is missing"))?,
        )
        .map_err(|e| Error::corrupt_caused("the catalogue is unreadable", e))?;
        let wrapped_root =
            tx.key_meta_get(KEY_META_ROOT)?.ok_or_else(|| Error::corrupt("the wrapped root secret is missing"))?;
        // An empty KDF record: the key was rotated to raw key bytes.
        let kdf = tx.key_meta_get(KEY_META_KDF)?.filter(|k| !k.is_empty());
        drop(tx);
        let master = match (key, kdf) {
            (KeySource::Key(master), _) => master,
            (KeySource::Passphrase(passphrase), Some(kdf)) => {
                let params: KdfParams = serde_json::from_slice(&kdf)
                    .map_err(|e| Error::corrupt_caused("the KDF parameters are unreadable", e))?;
                MasterKey::from_passphrase(&passphrase, &params)?
            }
            (KeySource::Passphrase(_), None) => {
                return Err(Error::invalid(
                    "key",
                    "key_kind",
                    "this store was created with a raw master key, not a passphrase",
                ));
            }
        };
        let wrapper = KeyWrapper::new(&master)?;
        let root = wrapper.unwrap_root(&store_id, &wrapped_root)?;
        Self::assemble(Box::new(backend), wrapper, root, catalogue, store_id)
    }

    /// Repairs what a crash between the commits of the two files can leave
    /// (SQLite commits the key store first): a data key whose customer's row
    /// never committed is deleted, and a customer whose key was destroyed by
    /// a deletion or erasure whose data half never committed is deleted too,
    /// completing it. Audited (`store.recover`) when it finds anything; a
    /// store in order costs two index lookups per key and customer, read only.
    pub(crate) fn recover(&self) -> Result<()> {
        let mut tx = self.inner.backend.begin(TxMode::Read)?;
        let found = tx.unmatched_keys()?;
        drop(tx);
        if found.is_empty() {
            return Ok(());
        }
        let call = Call::new(Action::Erase, "store.recover").writing_keys().shredding();
        engine::run(&self.inner, Caller::store(Purpose::Maintenance), call, |_, tx, _, trail| {
            // Again under the write lock: no other writer is between its two commits now.
            let found = tx.unmatched_keys()?;
            for id in &found.orphan_keys {
                tx.delete_data_key(*id)?;
            }
            for id in &found.keyless_customers {
                tx.delete_customer(*id)?;
                trail.touched(*id);
            }
            trail.reason = Some(format!(
                "after an interrupted commit: removed {} data keys of customers whose creation did not commit, \
                 and completed the deletion of {} customers whose keys were already destroyed",
                found.orphan_keys.len(),
                found.keyless_customers.len()
            ));
            Ok(())
        })
    }

    /// Creates a store in directory `dir` on SQLite (`customers.db` and `keys.db`).
    pub fn create_at(dir: impl AsRef<Path>, key: KeySource, options: CreateOptions) -> Result<Store> {
        Self::create(SqliteBackend::new(dir, SqliteOptions::default()), key, options)
    }

    /// Opens the SQLite store in directory `dir`.
    pub fn open_at(dir: impl AsRef<Path>, key: KeySource) -> Result<Store> {
        Self::open(SqliteBackend::new(dir, SqliteOptions::default()), key)
    }

    /// Creates a store that lives in memory only.
    pub fn in_memory(key: KeySource, options: CreateOptions) -> Result<Store> {
        Self::create(MemoryBackend::new(), key, options)
    }

    fn assemble(
        backend: Box<dyn Backend>,
        wrapper: KeyWrapper,
        root: Secret,
        catalogue: Catalogue,
        store_id: String,
    ) -> Result<Store> {
        // Everything the store needs from the root secret is derived here;
        // the root itself is dropped (and zeroed) at the end of this call.
        let blind = BlindIndexer::new(&root)?;
        let search = crate::search::SearchIndexer::new(&root, &catalogue)?;
        let audit = AuditLog::new(&root, store_id)?;
        let credential_key = root.derive(b"custodian/v1/principal-credentials")?;
        let sort_cache = sort_cache::SortCache::new(backend.private_dir(), &root)?;
        let inner = StoreInner {
            backend,
            wrappers: Wrappers::new(wrapper),
            blind,
            search,
            catalogue,
            policy: Policy,
            collation: Box::new(PinyinCollation::new()),
            clock: Arc::new(SystemClock),
            audit,
            checkpoint_sink: None,
            receipt_sink: None,
            sort_cache,
            class_counts: Default::default(),
            credential_key,
            backup_secret: archive::secret_from_root(&root)?,
            login_policy: LoginPolicy::default(),
            service_levels: Default::default(),
            four_eyes: false,
            purge_owed: std::sync::atomic::AtomicBool::new(false),
        };
        Ok(Store { inner: Arc::new(inner) })
    }

    /// Sets the service-level policy: the hours within which service records
    /// of each kind and priority fall due, and how long after closing one
    /// may be reopened. Only possible before the store is shared or a
    /// session is opened.
    pub fn with_service_levels(mut self, policy: crate::records::service::ServiceLevelPolicy) -> Result<Store> {
        self.set_service_levels(policy)?;
        Ok(self)
    }

    /// [`Store::with_service_levels`] on a store held by reference (the C ABI's handle).
    pub fn set_service_levels(&mut self, policy: crate::records::service::ServiceLevelPolicy) -> Result<()> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "service_levels",
                "store_shared",
                "the service-level policy can only be set before the store is cloned or a session is opened",
            )
        })?;
        inner.service_levels = policy;
        Ok(())
    }

    /// Requires (`true`) or not (`false`, the default) that a customer be
    /// verified by another principal than the one who entered or last
    /// changed it: [`Session::verify`] by that principal is then refused with
    /// rule `verify.four_eyes`. Only before the store is shared or a session
    /// is opened.
    pub fn set_four_eyes(&mut self, required: bool) -> Result<()> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "four_eyes",
                "store_shared",
                "four-eyes verification can only be set before the store is cloned or a session is opened",
            )
        })?;
        inner.four_eyes = required;
        Ok(())
    }

    /// [`Store::set_four_eyes`], builder style.
    pub fn with_four_eyes(mut self, required: bool) -> Result<Store> {
        self.set_four_eyes(required)?;
        Ok(self)
    }

    /// The store's service-level policy.
    pub fn service_levels(&self) -> &crate::records::service::ServiceLevelPolicy {
        &self.inner.service_levels
    }

    /// Replaces the clock (for tests and scheduled jobs). Only possible
    /// before the store is shared or a session is opened.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Result<Store> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "clock",
                "store_shared",
                "the clock can only be replaced before the store is cloned or a session is opened",
            )
        })?;
        inner.clock = clock;
        Ok(self)
    }

    /// Sets after how many entries a checkpoint of the audit log falls due
    /// (`every`; 0: never by count) and where checkpoints go, keeping the
    /// time rule ([`DEFAULT_CHECKPOINT_SECS`]). Only possible before the
    /// store is shared or a session is opened.
    ///
    /// [`DEFAULT_CHECKPOINT_SECS`]: crate::audit::DEFAULT_CHECKPOINT_SECS
    pub fn with_checkpoints(self, every: u64, sink: Option<CheckpointSink>) -> Result<Store> {
        let mut policy = CheckpointPolicy::default().every_entries(every);
        policy.sink = sink;
        self.with_checkpoint_policy(policy)
    }

    /// Sets when checkpoints of the audit log fall due and where they go.
    /// Only possible before the store is shared or a session is opened.
    pub fn with_checkpoint_policy(mut self, policy: CheckpointPolicy) -> Result<Store> {
        self.set_checkpoint_policy(policy)?;
        Ok(self)
    }

    /// [`Store::with_checkpoint_policy`] in place.
    pub fn set_checkpoint_policy(&mut self, policy: CheckpointPolicy) -> Result<()> {
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "checkpoints",
                "store_shared",
                "checkpointing can only be configured before the store is cloned or a session is opened",
            )
        })?;
        inner.audit.checkpoint_every = policy.every_entries;
        inner.audit.checkpoint_after_millis = i64::try_from(policy.every_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        inner.checkpoint_sink = policy.sink;
        inner.receipt_sink = policy.receipts;
        Ok(())
    }

    /// Empties the write-ahead logs now, so that content committed
    /// destructions removed (erasures, deletions, sweeps) leaves the store's
    /// files: waits up to the busy timeout for readers in other connections
    /// or processes. Every destruction does this before it returns; when
    /// readers held the logs past the timeout, the destruction still stands
    /// and [`Store::purge_owed`] says the purge is owed. Fails (and stays
    /// owed) if readers still hold the logs.
    pub fn purge_logs(&self) -> Result<()> {
        self.inner.purge_logs()
    }

    /// Whether a committed destruction's purge of the write-ahead logs is
    /// still owed (see [`Store::purge_logs`]); paid by the next destruction
    /// or `purge_logs` that empties the logs, or when the last connection to
    /// the store's files closes (SQLite then empties and removes them).
    pub fn purge_owed(&self) -> bool {
        self.inner.purge_owed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Verifies the whole audit chain, optionally against a trusted
    /// checkpoint kept outside the database. Reveals no customer data, so it
    /// needs no session. Fails only if the storage fails; tampering is
    /// reported in [`AuditVerification::problem`].
    pub fn verify_audit(&self, trusted: Option<&Checkpoint>) -> Result<AuditVerification> {
        let mut tx = self.inner.backend.begin(TxMode::Read)?;
        crate::audit::verify(&self.inner.audit, tx.as_mut(), trusted)
    }

    /// Signs a checkpoint of the audit log as it is now (also handed to the sink).
    pub fn audit_checkpoint(&self) -> Result<Checkpoint> {
        let mut tx = self.inner.backend.begin(TxMode::Read)?;
        let (size, head) = tx.audit_head()?.map_or((0, crate::audit::GENESIS.to_vec()), |h| (h.seq, h.mac));
        drop(tx);
        let checkpoint = self.inner.audit.sign(size, head, self.inner.clock.now_millis())?;
        engine::publish(&self.inner, Some(checkpoint.clone()));
        Ok(checkpoint)
    }

    /// The Ed25519 public key that verifies this store's checkpoints
    /// ([`Checkpoint::verify_signature`]); safe to publish.
    pub fn audit_public_key(&self) -> Result<Vec<u8>> {
        self.inner.audit.public_key()
    }

    /// The store's field catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// Opens a session for the registered principal `principal_id` acting
    /// for `purpose`, authenticated with one factor: L1 values are at most
    /// masked. The principal must be registered and active; its grants are
    /// looked up again on every call, so a revocation or a change of roles
    /// takes effect on the next call. Every call is checked against the
    /// policy and audited; opening is audited too (`session.open`), and
    /// fails if that entry cannot be written.
    pub fn session(&self, principal_id: &str, purpose: Purpose) -> Result<Session> {
        self.authenticated_session(principal_id, purpose, AuthContext::single_factor())
    }

    /// Opens a session whose principal the host authenticated as `auth`
    /// says (for example with a second factor, which L1 plaintext
    /// requires). Hosts without a login of their own use [`Store::login`].
    pub fn authenticated_session(&self, principal_id: &str, purpose: Purpose, auth: AuthContext) -> Result<Session> {
        self.open_session(principal_id, purpose, auth, None)
    }

    /// Opens a marketing session for contacting customers by `channel`. It
    /// sees only customers who currently consent to marketing on that
    /// channel: others are absent from its lists, lookups and searches, and
    /// a direct read of one is denied. (A marketing session opened without a
    /// channel sees no customer.)
    pub fn marketing_session(&self, principal_id: &str, channel: Channel, auth: AuthContext) -> Result<Session> {
        if !channel.is_contact() {
            return Err(Error::invalid(
                "channel",
                "marketing_channel",
                format!(
                    "'{channel}' records consent to sharing; a marketing session contacts by sms, email, phone or post"
                ),
            ));
        }
        self.open_session(principal_id, Purpose::Marketing, auth, Some(channel))
    }

    /// Opens a session after checking that the principal is registered and
    /// active; the opening (or its refusal) is audited.
    pub(crate) fn open_session(
        &self,
        principal_id: &str,
        purpose: Purpose,
        auth: AuthContext,
        channel: Option<Channel>,
    ) -> Result<Session> {
        crate::access::check_principal_id(principal_id)?;
        let opening = Caller::Host { principal: principal_id, purpose: purpose.clone(), mfa: auth.mfa };
        engine::run(&self.inner, opening, Call::new(Action::Read, "session.open"), |_, tx, _, _| {
            directory::active_principal(tx, principal_id).map(drop)
        })?;
        Ok(Session::new(self.inner.clone(), principal_id.to_owned(), purpose, auth, channel))
    }

    /// Replays the key store's erasure ledger against the customer data:
    /// every customer whose id the ledger lists is deleted again (with its
    /// blind-index entries and consents). Run after restoring customer data
    /// from a backup, so that no erased customer comes back. Returns how many
    /// customers it removed; each removal is audited (`retention.replay`).
    pub fn replay_erasure_ledger(&self) -> Result<u64> {
        let call = Call::new(Action::Erase, "retention.replay").writing_keys().shredding();
        engine::run(&self.inner, Caller::store(Purpose::Compliance), call, |inner, tx, _, trail| {
            let ledger: std::collections::HashSet<Vec<u8>> = tx.erasure_ledger()?.into_iter().collect();
            let erased = inner.delete_erased(tx, |hash| ledger.contains(hash))?;
            trail.customers.extend(erased.iter().copied());
            Ok(erased.len() as u64)
        })
    }

    /// Number of customers and of data keys, for integrity checks and tests.
    /// Reveals no customer data.
    pub fn counts(&self) -> Result<StoreCounts> {
        let mut tx = self.inner.backend.begin(TxMode::Read)?;
        Ok(StoreCounts { customers: tx.count_customers()?, data_keys: tx.count_data_keys()? })
    }
}

/// Row counts of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreCounts {
    /// Customers in the customer database.
    pub customers: u64,
    /// Data keys in the key store.
    pub data_keys: u64,
}
