//! The tamper-evident audit log.
//!
//! Every session call, allowed or not, appends one entry in the same storage
//! transaction as the call's own changes; if the entry cannot be written the
//! call fails and returns nothing (fail closed). Entries never hold personal
//! values: a looked-up value is kept only as a keyed hash
//! ([`crate::Session::audit_hash`]).
//!
//! Entries form a keyed chain: `mac(n) = HMAC(K, seq ‖ body ‖ mac(n-1))`,
//! with gapless sequence numbers assigned inside the transaction. N entries
//! or T seconds after the last checkpoint, whichever comes first, the store
//! signs a [`Checkpoint`] (Ed25519) and hands it to a caller-supplied sink, so a copy lives outside the database: only an
//! outside checkpoint can reveal a deleted tail or a database rolled back to
//! an older copy. [`crate::Store::verify_audit`] walks the chain and reports
//! the first bad sequence number and what is wrong with it.

mod chain;
mod checkpoint;
mod entry_check;
mod receipt;
mod trail;
mod verify;

pub(crate) use chain::{Appended, AuditLog, GENESIS, blank_entry, hex, hex_decode};
pub use chain::{DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_SECS};
pub use checkpoint::{Checkpoint, CheckpointPolicy, CheckpointSink};
pub use receipt::{ErasureReceipt, ReceiptSink};
pub(crate) use trail::Trail;
pub(crate) use verify::verify;
pub use verify::{AuditProblem, AuditVerification, ProblemKind};

use serde::{Deserialize, Serialize};

use crate::model::CustomerId;

/// The outcome of an audited call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done, every value shown in plaintext.
    Allowed,
    /// Done, with some values shown masked.
    Masked,
    /// Refused by the policy.
    Denied,
    /// Failed for another reason (invalid input, not found, stale version...).
    Failed,
}

impl Outcome {
    /// Stable name (`allowed`, `masked`, `denied`, `failed`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Masked => "masked",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit entry. Holds who, why, what and on whom — never a personal value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, gapless from 1.
    pub seq: u64,
    /// Time, Unix milliseconds UTC.
    pub time: i64,
    /// The acting principal's id.
    pub principal: String,
    /// The session's purpose.
    pub purpose: String,
    /// Whether the session's principal authenticated with a second factor.
    pub mfa: bool,
    /// What was done: `session.open`, `customer.create`, `customer.get`,
    /// `customer.lookup`, `customer.list`, `customer.search`, `audit.query`, ...
    pub action: String,
    /// The customers concerned (created, read, changed or returned), ascending.
    pub customers: Vec<CustomerId>,
    /// The fields revealed (plain or masked), or written.
    pub fields: Vec<String>,
    /// For updates: the fields whose values changed.
    pub changed: Vec<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The deciding rule for `masked` and `denied`, or the validation rule for `failed`.
    pub rule: Option<String>,
    /// Why it was denied or failed (never contains a personal value).
    pub reason: Option<String>,
    /// The error code for `denied` and `failed` ([`crate::Error::code`]).
    pub error_code: Option<u32>,
    /// The field a lookup searched by (`mobile`, `email`, `id_number`, `keyword`...).
    pub lookup_field: Option<String>,
    /// Keyed hash (hex) of the looked-up value; compare with [`crate::Session::audit_hash`].
    pub lookup_hash: Option<String>,
    /// The principal (or `role:<name>`) a management or login call concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For a destruction (erasure, retention sweep): how and why. With the
    /// entry's time, principal, customers and fields it is the destruction
    /// record the regulations ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destruction: Option<crate::retention::Destruction>,
    /// The attached records (transactions, service records) concerned, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<u64>,
}

/// Which audit entries to return. Empty fields match everything:
/// `AuditQuery::new().customer(id).limit(100)`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Entries concerning this customer.
    pub customer: Option<CustomerId>,
    /// Entries of this principal.
    pub principal: Option<String>,
    /// Entries at or after this time (Unix ms).
    pub from_time: Option<i64>,
    /// Entries before this time (Unix ms).
    pub to_time: Option<i64>,
    /// Entries with this outcome (e.g. every denial).
    pub outcome: Option<Outcome>,
    /// Entries that looked up this value in this field (hashed before the search).
    pub lookup: Option<(crate::model::Field, String)>,
    /// Entries after this sequence number (for paging).
    pub after_seq: u64,
    /// At most this many entries (1..=10,000; 0 means 1,000).
    pub limit: u32,
}

impl AuditQuery {
    /// Every entry (the first 1,000).
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries concerning this customer.
    pub fn customer(mut self, customer: CustomerId) -> Self {
        self.customer = Some(customer);
        self
    }

    /// Entries of this principal.
    pub fn principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Entries at or after this time (Unix ms).
    pub fn from_time(mut self, from: i64) -> Self {
        self.from_time = Some(from);
        self
    }

    /// Entries before this time (Unix ms).
    pub fn to_time(mut self, to: i64) -> Self {
        self.to_time = Some(to);
        self
    }

    /// Entries with this outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Entries that looked up `value` in `field` (hashed before the search).
    pub fn lookup(mut self, field: crate::model::Field, value: impl Into<String>) -> Self {
        self.lookup = Some((field, value.into()));
        self
    }

    /// Entries after this sequence number (for paging).
    pub fn after_seq(mut self, seq: u64) -> Self {
        self.after_seq = seq;
        self
    }

    /// At most this many entries (1..=10,000; 0 means 1,000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

/// One customer of an incident notification list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedCustomer {
    /// The customer.
    pub customer: CustomerId,
    /// How many entries in the window touched it.
    pub accesses: u64,
    /// Time of the first such entry.
    pub first: i64,
    /// Time of the last such entry.
    pub last: i64,
    /// The principals that touched it.
    pub principals: Vec<String>,
}
