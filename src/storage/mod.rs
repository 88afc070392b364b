//! Storage behind a narrow trait.
//!
//! A [`Backend`] hands out [`Transaction`]s; a transaction that is dropped
//! without [`Transaction::commit`] rolls back. Backends store opaque rows:
//! plaintext classification columns, sealed field blobs, blind-index digests
//! and wrapped keys. They never see plaintext personal data or key material,
//! so a backend cannot leak what it was never given.
//!
//! Two areas are kept apart: the **customer data** and the **key store**
//! (wrapped data keys and the wrapped root secret). The SQLite backend keeps
//! them in two files, so a copy of the data file alone decrypts nothing, and
//! destroying a key in the key store destroys every copy of that customer's
//! ciphertext.

mod memory;
mod schema;
mod sqlite;
mod sqlite_records;

pub use memory::MemoryBackend;
pub(crate) use sqlite::is_open as sqlite_store_is_open;
pub use sqlite::{DATA_FILE, Durability, KEYS_FILE, SqliteBackend, SqliteOptions};

use std::collections::BTreeMap;

use crate::consent::{Channel, ConsentRecord};
use crate::error::Result;
use crate::model::{CustomerId, RecordKind};

/// The fields that carry a blind index; a backend may refuse any other.
pub const BLIND_INDEXED: [&str; 4] = ["mobile", "email", "id_number", "credit_code"];

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Read only: sees one consistent snapshot.
    Read,
    /// Read and write: takes the write lock at begin, so two writers never
    /// interleave and a version check inside it is race-free.
    Write,
    /// Like `Write`, but only the customer data (and audit log) may be
    /// written; the key store is only read, and not locked for writing. For
    /// calls that change no key: reads (which append audit entries) and updates.
    WriteData,
}

/// The plaintext columns of a customer row (classification and bookkeeping only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHeader {
    /// The customer's id.
    pub id: CustomerId,
    /// `individual` or `organisation`.
    pub kind: String,
    /// 编号, unique when present.
    pub external_code: Option<String>,
    /// 类别.
    pub category: Option<String>,
    /// Source channel.
    pub source: Option<String>,
    /// Value tier.
    pub tier: Option<String>,
    /// Record status.
    pub status: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
    /// Version, starting at 1 and incremented by every update.
    pub version: u64,
    /// Id of the data key the sealed fields are encrypted under.
    pub key_id: u64,
    /// The region derived from the address when it was written: a
    /// prefecture's or province's GB/T 2260 code (`330100`), so statistics
    /// count by region without decrypting addresses.
    pub region: Option<String>,
}

/// One combination of the classification columns statistics count by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassKey {
    /// `individual` or `organisation`.
    pub kind: String,
    /// 类别.
    pub category: Option<String>,
    /// Source channel.
    pub source: Option<String>,
    /// Value tier.
    pub tier: Option<String>,
    /// Record status.
    pub status: String,
    /// Derived region code.
    pub region: Option<String>,
}

/// A whole customer row as stored: header, sealed fields by field name, and
/// blind-index digests by field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    /// The plaintext columns.
    pub header: CustomerHeader,
    /// Sealed field values, by field name.
    pub sealed: BTreeMap<String, Vec<u8>>,
    /// Blind-index digests, by field name (only the fields in [`BLIND_INDEXED`]).
    pub blind: BTreeMap<String, Vec<u8>>,
    /// Keyword-index tokens this write sets; none in a row read back, which
    /// leaves the stored tokens as they are.
    pub search: crate::search::TokenChanges,
}

/// A data key as kept in the key store: its id and its wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The key id (also in every ciphertext header and AAD).
    pub key_id: u64,
    /// The key wrapped under the master key.
    pub wrapped: Vec<u8>,
}

/// A keyword-index token's entry in the register of grams (see
/// [`Transaction::search_gram`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GramEntry {
    /// The fingerprint of the first gram that gave the token.
    pub fingerprint: u64,
    /// Whether a gram of another fingerprint gave it too, since the token
    /// was last held by no one.
    pub mixed: bool,
}

/// The sealed fields of one customer in one buffer, as the SQLite backend
/// stores them: for each field, the name's length (1 byte), the name, the
/// value's length (4 bytes, big-endian), the value. Scans hand this out
/// instead of a map, so reading a customer costs one allocation, not two
/// per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedFields {
    packed: Vec<u8>,
}

impl SealedFields {
    /// Packs a map of field name to sealed value.
    pub fn pack(fields: &BTreeMap<String, Vec<u8>>) -> SealedFields {
        let mut packed = Vec::with_capacity(fields.iter().map(|(k, v)| 5 + k.len() + v.len()).sum());
        for (name, value) in fields {
            packed.push(u8::try_from(name.len()).expect("field names are short"));
            packed.extend_from_slice(name.as_bytes());
            packed.extend_from_slice(&(value.len() as u32).to_be_bytes());
            packed.extend_from_slice(value);
        }
        SealedFields { packed }
    }

    /// Checks and adopts a packed buffer read from storage.
    pub fn from_packed(customer: CustomerId, packed: Vec<u8>) -> crate::Result<SealedFields> {
        let fields = SealedFields { packed };
        if fields.entries().any(|entry| entry.is_none()) {
            return Err(crate::Error::corrupt(format!("the sealed fields of customer {customer} are malformed")));
        }
        Ok(fields)
    }

    /// The packed form.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// The sealed value of field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every field with its sealed value, in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries().map_while(|entry| entry)
    }

    /// Unpacks into a map.
    pub fn to_map(&self) -> BTreeMap<String, Vec<u8>> {
        self.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect()
    }

    /// Entries, `None` where the buffer is malformed (then iteration stops).
    fn entries(&self) -> impl Iterator<Item = Option<(&str, &[u8])>> {
        let mut rest = self.packed.as_slice();
        std::iter::from_fn(move || {
            let (&name_len, tail) = rest.split_first()?;
            let name_len = usize::from(name_len);
            let parsed = (|| {
                let name = std::str::from_utf8(tail.get(..name_len)?).ok()?;
                let len_bytes: [u8; 4] = tail.get(name_len..name_len + 4)?.try_into().ok()?;
                let start = name_len + 4;
                let value = tail.get(start..start + u32::from_be_bytes(len_bytes) as usize)?;
                Some((name, value, start + value.len()))
            })();
            match parsed {
                Some((name, value, used)) => {
                    rest = &tail[used..];
                    Some(Some((name, value)))
                }
                None => {
                    rest = &[];
                    Some(None)
                }
            }
        })
    }
}

/// A record attached to a customer (a transaction or a service record) as
/// stored: plaintext bookkeeping columns and sealed values by field name,
/// under the customer's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The record's id (never reused).
    pub id: u64,
    /// The customer it belongs to.
    pub customer: CustomerId,
    /// Transaction or service record.
    pub kind: RecordKind,
    /// When it happened: a transaction's time, a service record's opening (Unix ms).
    pub time: i64,
    /// Its status (`paid`, `open`, ...).
    pub status: String,
    /// A service record's kind (`complaint`, ...).
    pub category: Option<String>,
    /// A service record's channel.
    pub channel: Option<String>,
    /// A service record's priority.
    pub priority: Option<String>,
    /// The principal who handles a service record.
    pub owner: Option<String>,
    /// When a service record is due (Unix ms).
    pub due_at: Option<i64>,
    /// Whether it still awaits a resolution (only those count for deadlines).
    pub pending: bool,
    /// Where its retention period starts (a transaction's time, a service
    /// record's closing); `None` while none runs.
    pub retention_start: Option<i64>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// Version, from 1, incremented by every change.
    pub version: u64,
    /// The customer's data key the sealed values are under.
    pub key_id: u64,
    /// Sealed values by field name.
    pub sealed: BTreeMap<String, Vec<u8>>,
}

/// One change of a record's status, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    /// When (Unix ms).
    pub at: i64,
    /// The principal who made it.
    pub by: String,
    /// The status before (`None` when the record was opened).
    pub from: Option<String>,
    /// The status after.
    pub to: String,
}

/// Which pending service records a due-time query visits: those due in
/// `[from, to]`, optionally of one owner, in (due time, id) order after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueFilter {
    /// Earliest due time (inclusive), if any.
    pub from: Option<i64>,
    /// Latest due time (inclusive).
    pub to: i64,
    /// Only records of this owner.
    pub owner: Option<String>,
    /// Resume after this (due time, record id).
    pub after: Option<(i64, u64)>,
    /// At most this many.
    pub limit: u32,
}

/// What a scan hands to its visitor for each customer: the header and its
/// sealed fields (at least the requested ones; select them by name).
#[derive(Debug)]
pub struct ScannedCustomer {
    /// The plaintext columns.
    pub header: CustomerHeader,
    /// Sealed fields: at least the requested ones that are present.
    pub sealed: SealedFields,
    /// The customer's wrapped data key, if the key store has it.
    pub key: Option<WrappedKey>,
}

/// What the visitor of a scan wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Go on to the next customer.
    Continue,
    /// Stop the scan.
    Stop,
}

/// An audit entry as stored. The body is the canonical encoding the chain
/// MAC covers; the other columns repeat what queries filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Sequence number, gapless from 1.
    pub seq: u64,
    /// Time of the entry, Unix milliseconds.
    pub time: i64,
    /// The acting principal's id.
    pub principal: String,
    /// What was done (`customer.get`, `session.open`, ...).
    pub action: String,
    /// `allowed`, `masked`, `denied` or `failed`.
    pub outcome: String,
    /// The customers the entry concerns, ascending.
    pub customers: Vec<CustomerId>,
    /// Keyed hash of a looked-up value, if the call searched by one.
    pub value_hash: Option<Vec<u8>>,
    /// The canonical entry body.
    pub body: Vec<u8>,
    /// HMAC(key, seq ‖ body ‖ previous MAC).
    pub mac: Vec<u8>,
}

impl AuditRecord {
    /// The record borrowed as a view.
    pub fn view(&self) -> AuditRecordView<'_> {
        AuditRecordView {
            seq: self.seq,
            time: self.time,
            principal: &self.principal,
            action: &self.action,
            outcome: &self.outcome,
            customers: &self.customers,
            value_hash: self.value_hash.as_deref(),
            body: &self.body,
            mac: &self.mac,
        }
    }
}

/// An audit entry as stored, borrowed from the backend's row buffer: what
/// verification reads, without an allocation per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRecordView<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Time of the entry, Unix milliseconds.
    pub time: i64,
    /// The acting principal's id.
    pub principal: &'a str,
    /// What was done.
    pub action: &'a str,
    /// The outcome's name.
    pub outcome: &'a str,
    /// The customers the entry concerns, ascending.
    pub customers: &'a [CustomerId],
    /// Keyed hash of a looked-up value, if any.
    pub value_hash: Option<&'a [u8]>,
    /// The canonical entry body.
    pub body: &'a [u8],
    /// The stored MAC.
    pub mac: &'a [u8],
}

/// The last audit entry as recorded by the store: its sequence number, MAC
/// and time. Entry times never go backwards, so a time window is a range of
/// sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Its MAC.
    pub mac: Vec<u8>,
    /// Its time, Unix ms.
    pub time: i64,
}

/// Which audit entries a scan visits. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries that concern this customer.
    pub customer: Option<CustomerId>,
    /// Only entries of this principal.
    pub principal: Option<String>,
    /// Only entries at or after this time (Unix ms).
    pub from_time: Option<i64>,
    /// Only entries before this time (Unix ms).
    pub to_time: Option<i64>,
    /// Only entries with this outcome.
    pub outcome: Option<String>,
    /// Only entries that looked up a value with this keyed hash.
    pub value_hash: Option<Vec<u8>>,
    /// Only entries with a sequence number greater than this.
    pub after_seq: u64,
}

/// One link of a derived audit index: entry `seq` concerns this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexLink<'a> {
    /// Entry `seq` concerns this customer.
    Customer(CustomerId, u64),
    /// Entry `seq` was made by this principal.
    Principal(&'a str, u64),
    /// Entry `seq` looked up a value with this keyed hash.
    Value(&'a [u8], u64),
}

/// What [`Transaction::unmatched_keys`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmatched {
    /// Data keys whose customer row does not exist.
    pub orphan_keys: Vec<CustomerId>,
    /// Customers with sealed fields whose data key does not exist.
    pub keyless_customers: Vec<CustomerId>,
}

impl Unmatched {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.orphan_keys.is_empty() && self.keyless_customers.is_empty()
    }
}

/// A signed checkpoint of the audit chain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Number of entries the checkpoint covers (the last seq).
    pub size: u64,
    /// The MAC of entry `size`.
    pub head_mac: Vec<u8>,
    /// When it was made, Unix ms.
    pub time: i64,
    /// Ed25519 signature over the checkpoint text.
    pub signature: Vec<u8>,
}

/// The kinds of record in the access directory (principals and their
/// grants, defined roles, login credentials). The store encodes them; a
/// backend keeps them as opaque values by kind and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectoryKind {
    /// A principal with its grants, keyed by principal id.
    Principal,
    /// A defined role, keyed by role name.
    Role,
    /// A principal's login credentials (password hash, sealed TOTP secret,
    /// failure count), keyed by principal id.
    Credential,
    /// A legal hold on a customer, keyed by customer id.
    Hold,
    /// A restriction of processing on a customer, keyed by customer id.
    Restriction,
    /// A retention policy, keyed by policy id.
    RetentionPolicy,
    /// A customer merged into another, keyed by the merged-away id: where
    /// its audit history now leads.
    Merge,
    /// A recipient of shared data, keyed by recipient id.
    Recipient,
    /// A share grant, keyed by share id.
    Share,
}

impl DirectoryKind {
    /// Stable name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryKind::Principal => "principal",
            DirectoryKind::Role => "role",
            DirectoryKind::Credential => "credential",
            DirectoryKind::Hold => "hold",
            DirectoryKind::Restriction => "restriction",
            DirectoryKind::RetentionPolicy => "retention_policy",
            DirectoryKind::Merge => "merge",
            DirectoryKind::Recipient => "recipient",
            DirectoryKind::Share => "share",
        }
    }
}

/// A point in the customers' history of changes: the generation (moved on
/// by every write transaction that changes a customer) and the random tag
/// that transaction left, so that two histories reaching the same generation
/// (a store restored from an older backup, then written to) are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeMark {
    /// How many changing transactions the customers have seen.
    pub generation: u64,
    /// The tag of the transaction that reached `generation` (0 where the
    /// backend keeps none).
    pub tag: u64,
}

/// What [`Transaction::customers_changed_since`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerChanges {
    /// Where the customers stand now.
    pub now: ChangeMark,
    /// Every customer inserted, replaced or deleted since, ascending, once each.
    pub ids: Vec<CustomerId>,
}

/// A storage backend: a source of transactions. Must be shareable between threads.
pub trait Backend: Send + Sync {
    /// Begins a transaction. Write transactions wait (up to the backend's
    /// busy timeout) for other writers, in this process or another.
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>>;

    /// Creates or migrates the schema; called by the store before first use.
    /// Returns whether the backend already held a store.
    fn prepare(&self, create: bool) -> Result<bool>;

    /// A short description for messages (e.g. the directory).
    fn describe(&self) -> String;

    /// Copies the customer database (customers, audit log, consents,
    /// directory) into the new file `data_to` and the key store (wrapped
    /// root secret, data keys, erasure ledger) into the new file `keys_to`,
    /// while the store stays in use: both from one snapshot, so every key
    /// has its customer and every customer its key. Backends without files
    /// refuse.
    fn backup(&self, data_to: &std::path::Path, keys_to: &std::path::Path) -> Result<()> {
        let _ = (data_to, keys_to);
        Err(crate::Error::storage(format!("{} cannot make file backups", self.describe())))
    }

    /// A directory as private as the store's own files, where a backup
    /// stages its snapshot before sealing it (`None`: the backend keeps no
    /// files, and cannot back up).
    fn private_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Runs the backend's own integrity check (SQLite: `PRAGMA
    /// integrity_check` on both files); `Err(Corrupt)` names what is wrong.
    fn integrity_check(&self) -> Result<()> {
        Ok(())
    }

    /// Makes content that committed transactions deleted unrecoverable from
    /// the store's files now, not at the next clean close: SQLite copies the
    /// write-ahead logs into the main files (whose freed content
    /// `secure_delete` has zeroed) and truncates both logs to nothing. Called
    /// after every destruction commits (erasure, deletion, sweep). A backend
    /// without logs has nothing to do.
    fn purge_logs(&self) -> Result<()> {
        Ok(())
    }
}

/// One storage transaction. Dropping it without `commit` rolls back every
/// change made through it, in both the data and the key store.
pub trait Transaction {
    /// Reads a store metadata value (data side).
    fn meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Writes a store metadata value (data side).
    fn meta_put(&mut self, name: &str, value: &[u8]) -> Result<()>;
    /// Reads a key-store metadata value.
    fn key_meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Writes a key-store metadata value.
    fn key_meta_put(&mut self, name: &str, value: &[u8]) -> Result<()>;

    /// Reserves `count` consecutive customer ids and returns the first. Ids
    /// are never reused, even after deletion (unused reserved ids are skipped).
    fn reserve_customer_ids(&mut self, count: u32) -> Result<CustomerId>;
    /// Allocates the next customer id.
    fn next_customer_id(&mut self) -> Result<CustomerId> {
        self.reserve_customer_ids(1)
    }
    /// Inserts a new customer row with the keyword-index tokens in
    /// `row.search`. The external code must be free (checked by the caller).
    fn insert_customer(&mut self, row: &CustomerRow) -> Result<()>;
    /// Replaces a customer row if its stored version is `expected_version`,
    /// applying `row.search` to its stored keyword-index tokens; returns
    /// `false` (changing nothing) otherwise.
    fn replace_customer(&mut self, row: &CustomerRow, expected_version: u64) -> Result<bool>;
    /// Deletes a customer row with its sealed fields, blind-index entries,
    /// keyword-index tokens, consent records and attached records (with their histories); returns
    /// whether it existed.
    fn delete_customer(&mut self, id: CustomerId) -> Result<bool>;
    /// Reads a whole customer row.
    fn get_customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>>;
    /// Visits the customers `ids` (ascending) that exist, as
    /// [`Transaction::scan_customers`] would, in that order.
    fn scan_customers_by_id(
        &mut self,
        ids: &[CustomerId],
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()>;
    /// The customers holding keyword-index `token`, in id order.
    fn search_postings(&mut self, token: u64) -> Result<Vec<CustomerId>>;
    /// What the index knows of the grams behind `token`: the fingerprint
    /// of the first gram that gave it, and whether another gram (another
    /// fingerprint) has given it since; `None` if no customer holds it. A
    /// token no other gram gave is answered from its postings alone.
    fn search_gram(&mut self, token: u64) -> Result<Option<GramEntry>>;
    /// Makes customer `id`'s keyword-index tokens exactly `tokens` (token
    /// and fingerprint, sorted by token, de-duplicated), for a rebuild or a
    /// restore; only what differs is written.
    fn put_search_tokens(&mut self, id: CustomerId, tokens: &[(u64, u64)]) -> Result<()>;
    /// Finds the customer with an external code.
    fn find_external_code(&mut self, code: &str) -> Result<Option<CustomerId>>;
    /// Finds the customers whose blind index for `field` equals `digest`, in id order.
    fn find_blind(&mut self, field: &str, digest: &[u8]) -> Result<Vec<CustomerId>>;
    /// The customers that share a blind-index digest of `field`: one group
    /// per digest held by two customers or more, each group's ids ascending,
    /// groups in digest order (which reveals nothing).
    fn blind_groups(&mut self, field: &str) -> Result<Vec<Vec<CustomerId>>>;
    /// Number of customers.
    fn count_customers(&mut self) -> Result<u64>;

    /// Customers counted by their classification columns: one entry per
    /// combination that occurs. Reads no sealed data.
    fn class_counts(&mut self) -> Result<Vec<(ClassKey, u64)>>;
    /// Where the customers stand in their history of changes (moved on by
    /// every transaction that inserts, replaces or deletes a customer, in any
    /// connection or process), for caches to check.
    fn customers_change_mark(&mut self) -> Result<ChangeMark>;
    /// The customers changed after `since`, up to now, for a cache kept at
    /// `since` to apply; `None` when the backend cannot say: `since` is not
    /// in this store's history (its journal entry was pruned, or a restore
    /// replaced the history it belongs to) or a transaction since changed too
    /// many customers to list. The caller then rebuilds.
    fn customers_changed_since(&mut self, since: ChangeMark) -> Result<Option<CustomerChanges>>;
    /// Visits every customer in id order with (at least) the named sealed
    /// fields and its wrapped key, without loading them all at once. With no
    /// field named, a backend should not read the sealed fields at all.
    fn scan_customers(&mut self, fields: &[&str], visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>)
    -> Result<()>;

    /// Reserves the next record id (ids are never reused).
    fn next_record_id(&mut self) -> Result<u64>;
    /// Inserts an attached record (its customer exists; checked by the caller).
    fn insert_record(&mut self, row: &RecordRow) -> Result<()>;
    /// Replaces a record if its stored version is `expected_version`;
    /// returns `false` (changing nothing) otherwise.
    fn replace_record(&mut self, row: &RecordRow, expected_version: u64) -> Result<bool>;
    /// Reads a record.
    fn get_record(&mut self, id: u64) -> Result<Option<RecordRow>>;
    /// Deletes a record with its history; returns whether it existed.
    fn delete_record(&mut self, id: u64) -> Result<bool>;
    /// A customer's records, newest first by (time, id), strictly before
    /// `before` when given, at most `limit`.
    fn records_of(&mut self, customer: CustomerId, before: Option<(i64, u64)>, limit: u32) -> Result<Vec<RecordRow>>;
    /// Pending service records matching `filter`, by (due time, id).
    fn records_due(&mut self, filter: &DueFilter) -> Result<Vec<RecordRow>>;
    /// The ids and customers of records of `kind` whose retention period
    /// started at or before `cutoff`, by id.
    fn records_retained_since(&mut self, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>>;
    /// Appends a status change to a record's history.
    fn append_status_change(&mut self, record: u64, change: &StatusChange) -> Result<()>;
    /// A record's status changes, oldest first.
    fn status_history(&mut self, record: u64) -> Result<Vec<StatusChange>>;

    /// Stores a customer's wrapped data key in the key store.
    fn put_data_key(&mut self, customer: CustomerId, key: &WrappedKey) -> Result<()>;
    /// Reads a customer's wrapped data key.
    fn get_data_key(&mut self, customer: CustomerId) -> Result<Option<WrappedKey>>;
    /// Deletes a customer's data key; returns whether it existed.
    fn delete_data_key(&mut self, customer: CustomerId) -> Result<bool>;
    /// Every data key in the key store, by customer id.
    fn data_keys(&mut self) -> Result<Vec<(CustomerId, WrappedKey)>>;
    /// Number of data keys in the key store.
    fn count_data_keys(&mut self) -> Result<u64>;
    /// Data keys and customers that lost their partner: keys whose customer
    /// row does not exist (a create whose key-store half committed and whose
    /// data half did not), and customers with sealed fields but no key (a
    /// deletion whose key-store half committed). SQLite commits the two
    /// files one after the other, so a crash between them can leave either.
    fn unmatched_keys(&mut self) -> Result<Unmatched>;

    /// The last audit entry's sequence number and MAC, as recorded by the
    /// last append (kept apart from the entries, so a deleted tail shows).
    fn audit_head(&mut self) -> Result<Option<AuditHead>>;
    /// Appends an audit entry (its customers indexed) and records it as the head.
    fn append_audit(&mut self, record: &AuditRecord) -> Result<()>;
    /// Visits audit entries matching `filter` in sequence order. A backend
    /// may answer through derived indexes (by customer, principal and value);
    /// in a writable transaction it first brings them up to date.
    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()>;
    /// Visits every audit entry in sequence order, borrowed (for
    /// verification, which reads the whole log and keeps nothing). The
    /// default goes through [`Transaction::scan_audit`]; a backend can lend
    /// its row buffers instead.
    fn scan_audit_views(&mut self, visit: &mut dyn FnMut(&AuditRecordView<'_>) -> Result<Scan>) -> Result<()> {
        self.scan_audit(&AuditFilter::default(), &mut |record| visit(&record.view()))
    }
    /// How far the derived audit indexes reach (entries `1..=n` are indexed),
    /// and every link in them, for verification. A backend without derived
    /// indexes reports 0 and no links.
    fn scan_audit_index(&mut self, visit: &mut dyn FnMut(IndexLink<'_>) -> Result<()>) -> Result<u64>;
    /// Stores a signed checkpoint.
    fn put_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<()>;
    /// Every stored checkpoint, by size.
    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>>;
    /// The stored checkpoint of the greatest size, if any (the next one
    /// falls due counting from it).
    fn last_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>>;

    /// Appends a consent record.
    fn append_consent(&mut self, record: &ConsentRecord) -> Result<()>;
    /// A customer's consent records, oldest first.
    fn consents_of(&mut self, customer: CustomerId) -> Result<Vec<ConsentRecord>>;
    /// The customers whose latest record for (`purpose`, `channel`) grants consent, ascending.
    fn consenting(&mut self, purpose: &str, channel: Channel) -> Result<Vec<CustomerId>>;

    /// Records in the key store's erasure ledger that the customer with this
    /// keyed hash was erased at `at` (Unix ms). Idempotent.
    fn record_erasure(&mut self, hash: &[u8], at: i64) -> Result<()>;
    /// Every keyed hash in the erasure ledger.
    fn erasure_ledger(&mut self) -> Result<Vec<Vec<u8>>>;

    /// Reads an access-directory record.
    fn directory_get(&mut self, kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>>;
    /// Writes (inserts or replaces) an access-directory record and moves the
    /// directory generation on.
    fn directory_put(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;
    /// Writes a record without moving the generation on: for bookkeeping
    /// that changes no decision (a grant's last use).
    fn directory_touch(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;
    /// A number that changes whenever any directory record is put or
    /// deleted (by any connection or process), so sessions can cache what
    /// they resolved from the directory and still see every change at once.
    fn directory_generation(&mut self) -> Result<u64>;
    /// Deletes an access-directory record (moving the generation on);
    /// returns whether it existed.
    fn directory_delete(&mut self, kind: DirectoryKind, key: &str) -> Result<bool>;
    /// Every record of `kind`, by key.
    fn directory_list(&mut self, kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>>;

    /// Commits every change made through this transaction, atomically.
    fn commit(self: Box<Self>) -> Result<()>;
}
