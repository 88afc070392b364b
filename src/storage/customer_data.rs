//! The customer-data part of the storage seam: customer rows (plaintext
//! classification columns, sealed fields, blind-index digests), the
//! encrypted keyword index, attached records with their histories, and
//! consent records. Everything here is ciphertext or classification; the
//! keys that open it live in the [`KeyStore`](super::KeyStore).

use std::collections::BTreeMap;

use super::{Scan, WrappedKey};
use crate::consent::{Channel, ConsentRecord};
use crate::error::Result;
use crate::model::{CustomerId, RecordKind};

/// The fields that carry a blind index; a backend may refuse any other.
pub const BLIND_INDEXED: [&str; 4] = ["mobile", "email", "id_number", "credit_code"];

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

impl ClassKey {
    /// The classification columns of a customer.
    pub(crate) fn of(h: &CustomerHeader) -> Self {
        ClassKey {
            kind: h.kind.clone(),
            category: h.category.clone(),
            source: h.source.clone(),
            tier: h.tier.clone(),
            status: h.status.clone(),
            region: h.region.clone(),
        }
    }
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

/// A keyword-index token's entry in the register of grams (see
/// [`CustomerData::search_gram`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GramEntry {
    /// The fingerprint of the first gram that gave the token.
    pub fingerprint: u64,
    /// Whether a gram of another fingerprint gave it too, since the token
    /// was last held by no one.
    pub mixed: bool,
}

/// The sealed fields of one customer in one buffer: for each field, the
/// name's length (1 byte), the name, the value's length (4 bytes,
/// big-endian), the value. This is how scans hand a customer's fields to
/// the store, so reading a customer costs one allocation, not two per
/// field; a backend may keep the buffer as it is (SQLite does) or build it
/// from its own layout.
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

/// What [`CustomerData::customers_changed_since`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerChanges {
    /// Where the customers stand now.
    pub now: ChangeMark,
    /// Every customer inserted, replaced or deleted since, ascending, once each.
    pub ids: Vec<CustomerId>,
}

/// Customer data: rows, keyword index, attached records, consents, and the
/// data side's metadata. Part of a [`Transaction`](super::Transaction).
pub trait CustomerData {
    /// Reads a store metadata value (data side).
    fn meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Writes a store metadata value (data side).
    fn meta_put(&mut self, name: &str, value: &[u8]) -> Result<()>;

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
    /// [`CustomerData::scan_customers`] would, in that order.
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

    /// Appends a consent record.
    fn append_consent(&mut self, record: &ConsentRecord) -> Result<()>;

    /// A customer's consent records, oldest first.
    fn consents_of(&mut self, customer: CustomerId) -> Result<Vec<ConsentRecord>>;

    /// The customers whose latest record for (`purpose`, `channel`) grants consent, ascending.
    fn consenting(&mut self, purpose: &str, channel: Channel) -> Result<Vec<CustomerId>>;
}
