//! Retention and destruction: how long data is kept, what stops its
//! destruction (legal holds), how it is destroyed, and the record each
//! destruction leaves in the audit chain.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::CustomerId;

/// How data was destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestructionMethod {
    /// The customer's data key was destroyed and its rows, blind-index
    /// entries and consents deleted (with SQLite `secure_delete`): every copy
    /// of its ciphertext, in every backup, is unreadable.
    CryptoShred,
    /// Personal fields destroyed with the key; the non-identifying
    /// classification attributes (kind, category, source, tier) kept for
    /// statistics, under no key.
    Anonymise,
    /// The customer was merged into another (its values, consents, records
    /// and holds moved to the survivor), then crypto-shredded like an
    /// erasure. Never a retention policy's method.
    Merge,
}

impl DestructionMethod {
    /// Stable name (`crypto_shred`, `anonymise`, `merge`).
    pub fn name(self) -> &'static str {
        match self {
            DestructionMethod::CryptoShred => "crypto_shred",
            DestructionMethod::Anonymise => "anonymise",
            DestructionMethod::Merge => "merge",
        }
    }
}

/// How and why data was destroyed; with its audit entry's time, principal,
/// customers and fields, a destruction record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destruction {
    /// The method.
    pub method: DestructionMethod,
    /// Why: `request:<id>` for a data-subject request, `policy:<id>` for a
    /// retention policy.
    pub reason: String,
}

/// What a retention policy keeps, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RetentionRule {
    /// Customers not changed for `days` days.
    InactiveFor {
        /// Days since the last change.
        days: u32,
    },
    /// Customers whose latest consent to marketing, on every channel they
    /// ever consented on, is withdrawn, and who hold no other record worth
    /// keeping (`category` equal to the policy's `category`): destroyed at once.
    WithdrawnMarketingConsent {
        /// Only customers of this category (marketing leads, say).
        category: String,
    },
    /// Service records closed `days` days ago or more (the seeds: after-sales
    /// records kept N years after closing). Destroys the records, not their customer.
    ServiceRecordsClosedFor {
        /// Days since the record was closed.
        days: u32,
    },
    /// Transactions that took place `days` days ago or more. Destroys the
    /// records, not their customer.
    TransactionsOlderThan {
        /// Days since the transaction.
        days: u32,
    },
}

impl RetentionRule {
    /// Whether the rule destroys attached records rather than customers.
    pub fn is_for_records(&self) -> bool {
        matches!(self, RetentionRule::ServiceRecordsClosedFor { .. } | RetentionRule::TransactionsOlderThan { .. })
    }
}

/// A retention policy: which customers are due, and how they are destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Stable id, written into destruction records (`[a-z0-9_.-]`, 1-64).
    pub id: String,
    /// Which customers are due.
    pub rule: RetentionRule,
    /// How they are destroyed.
    pub method: DestructionMethod,
}

impl RetentionPolicy {
    /// Checks the id and the rule.
    pub fn validate(&self) -> Result<()> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(Error::invalid(
                "policy",
                "policy_id",
                "a policy id is 1-64 characters of a-z, 0-9, '_', '.' and '-'",
            ));
        }
        if self.method == DestructionMethod::Merge {
            return Err(Error::invalid(
                "method",
                "retention_method",
                "a retention policy destroys by crypto_shred or anonymise; merge is not a retention method",
            ));
        }
        if let RetentionRule::InactiveFor { days: 0 }
        | RetentionRule::ServiceRecordsClosedFor { days: 0 }
        | RetentionRule::TransactionsOlderThan { days: 0 } = self.rule
        {
            return Err(Error::invalid("days", "retention_days", "a retention period is at least one day"));
        }
        Ok(())
    }
}

/// A legal hold or a restriction on a customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The customer.
    pub customer: CustomerId,
    /// Why (a case, request or ticket reference).
    pub reason: String,
    /// When it was placed (Unix ms).
    pub at: i64,
    /// Who placed it.
    pub by: String,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// The time the sweep judged against (Unix ms).
    pub now: i64,
    /// Customers destroyed: id, policy id and method.
    pub destroyed: Vec<(CustomerId, String, DestructionMethod)>,
    /// Customers that were due but are under a legal hold: id and policy id.
    pub held: Vec<(CustomerId, String)>,
    /// Attached records destroyed: record id, its customer, policy id and method.
    pub records_destroyed: Vec<(u64, CustomerId, String, DestructionMethod)>,
    /// Attached records that were due but whose customer is under a legal
    /// hold: record id, customer and policy id.
    pub records_held: Vec<(u64, CustomerId, String)>,
}
