//! The audit part of the storage seam: the entries of the keyed chain,
//! the head record kept apart from them (so a deleted tail shows), derived
//! query indexes, and the stored signed checkpoints.

use super::Scan;
use crate::error::Result;
use crate::model::CustomerId;

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

/// The audit log as stored. Part of a [`Transaction`](super::Transaction):
/// an entry commits with the call it records, or not at all.
pub trait AuditStore {
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
    /// default goes through [`AuditStore::scan_audit`]; a backend can lend
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

    /// The time of the log's first entry, if any (asked on every append
    /// while no checkpoint exists). The default stops a scan at the first
    /// entry; a backend whose scans fetch ahead answers with one row.
    fn first_audit_time(&mut self) -> Result<Option<i64>> {
        let mut first = None;
        self.scan_audit(&AuditFilter::default(), &mut |record| {
            first = Some(record.time);
            Ok(Scan::Stop)
        })?;
        Ok(first)
    }
}
