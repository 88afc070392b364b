//! Verification of the audit chain: finds the first bad entry and says what is wrong.

use std::collections::BTreeMap;
use std::fmt;

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use super::Checkpoint;
use super::chain::AuditLog;
use super::entry_check::check_entries;
use crate::error::Result;
use crate::storage::{AuditRecordView, IndexLink, Transaction};

/// What is wrong with the log at [`AuditProblem::seq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The entry's content does not match its MAC (edited), or a query
    /// column disagrees with the MACed content.
    Altered,
    /// The entry with this sequence number is missing (deleted).
    Missing,
    /// The entry in this position carries another sequence number (entries reordered).
    Reordered,
    /// The customer index of the entry disagrees with its content (an
    /// access hidden from, or added to, "who saw this customer" queries).
    IndexMismatch,
    /// The log ends before this entry, but the store's own head record
    /// (or a stored checkpoint) says it went further: the tail was deleted.
    TailDeleted,
    /// The log, its head record and its checkpoints agree, but a trusted
    /// checkpoint shows the log was longer: the database was rolled back to
    /// an older copy.
    RolledBack,
    /// The log differs from a (trusted or stored) checkpoint at this size: a
    /// different history was substituted.
    Forked,
    /// A checkpoint's signature does not verify, or it belongs to another store.
    BadCheckpoint,
    /// The head record is missing or disagrees with the last entry.
    HeadMismatch,
}

impl ProblemKind {
    fn describe(self) -> &'static str {
        match self {
            ProblemKind::Altered => "entry altered",
            ProblemKind::Missing => "entry deleted",
            ProblemKind::Reordered => "entries reordered",
            ProblemKind::IndexMismatch => "customer index altered",
            ProblemKind::TailDeleted => "tail deleted",
            ProblemKind::RolledBack => "database rolled back to an older copy",
            ProblemKind::Forked => "history differs from a checkpoint",
            ProblemKind::BadCheckpoint => "invalid checkpoint",
            ProblemKind::HeadMismatch => "head record disagrees with the log",
        }
    }
}

/// The first problem found in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// The first bad sequence number.
    pub seq: u64,
    /// What is wrong.
    pub kind: ProblemKind,
    /// Details.
    pub detail: String,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "first bad entry {}: {}: {}", self.seq, self.kind.describe(), self.detail)
    }
}

/// The result of [`crate::Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Entries checked (up to the first problem).
    pub entries: u64,
    /// Stored checkpoints whose signature and MAC were checked.
    pub checkpoints: u64,
    /// Whether a trusted checkpoint was checked against the log.
    pub trusted_checked: bool,
    /// The first problem, if any.
    pub problem: Option<AuditProblem>,
}

impl AuditVerification {
    /// Whether the log verified with no problem.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

pub(super) fn problem(seq: u64, kind: ProblemKind, detail: impl Into<String>) -> Option<AuditProblem> {
    Some(AuditProblem { seq, kind, detail: detail.into() })
}

/// The derived query indexes, folded per entry into a keyed hash of the
/// links that point at it. The key is random per verification, so nobody
/// can forge links that hash alike; comparing per entry finds the first
/// entry whose links were added, removed or changed.
pub(super) struct IndexDigest {
    hasher: RandomState,
    /// Entries `1..=indexed` are covered; `per_entry[seq]` sums their links.
    indexed: u64,
    per_entry: Vec<u64>,
    /// The first link that points past the covered entries, if any.
    stray: Option<u64>,
}

impl IndexDigest {
    fn read(tx: &mut dyn Transaction) -> Result<IndexDigest> {
        let hasher = RandomState::new();
        let mut per_entry: Vec<u64> = Vec::new();
        let mut stray: Option<u64> = None;
        let indexed = tx.scan_audit_index(&mut |link| {
            let seq = link_seq(&link);
            let slot = usize::try_from(seq).unwrap_or(usize::MAX);
            if slot >= per_entry.len() && slot < (1 << 32) {
                per_entry.resize(slot + 1, 0);
            }
            match per_entry.get_mut(slot) {
                Some(sum) if seq > 0 => *sum = sum.wrapping_add(link_hash(&hasher, &link)),
                _ => stray = Some(stray.map_or(seq, |s| s.min(seq))),
            }
            Ok(())
        })?;
        if per_entry.len() as u64 > indexed + 1 {
            let first_beyond = (indexed + 1..per_entry.len() as u64).find(|s| per_entry[*s as usize] != 0);
            stray = match (stray, first_beyond) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(IndexDigest { hasher, indexed, per_entry, stray })
    }

    /// Whether the links pointing at this entry are exactly the ones it implies.
    pub(super) fn agrees(&self, record: &AuditRecordView<'_>) -> bool {
        if record.seq > self.indexed {
            return true;
        }
        let seq = record.seq;
        let mut sum = link_hash(&self.hasher, &IndexLink::Principal(record.principal, seq));
        for customer in record.customers {
            sum = sum.wrapping_add(link_hash(&self.hasher, &IndexLink::Customer(*customer, seq)));
        }
        if let Some(hash) = record.value_hash {
            sum = sum.wrapping_add(link_hash(&self.hasher, &IndexLink::Value(hash, seq)));
        }
        self.per_entry.get(seq as usize).copied().unwrap_or(0) == sum
    }
}

fn link_seq(link: &IndexLink<'_>) -> u64 {
    match link {
        IndexLink::Customer(_, seq) | IndexLink::Principal(_, seq) | IndexLink::Value(_, seq) => *seq,
    }
}

/// The keyed hash of one link: its kind, its key and its entry.
fn link_hash(hasher: &RandomState, link: &IndexLink<'_>) -> u64 {
    let mut h = hasher.build_hasher();
    match link {
        IndexLink::Customer(c, seq) => (0u8, c.0, *seq).hash(&mut h),
        IndexLink::Principal(p, seq) => (1u8, *p, *seq).hash(&mut h),
        IndexLink::Value(v, seq) => (2u8, *v, *seq).hash(&mut h),
    }
    h.finish()
}

/// Walks the whole chain inside `tx`.
pub(crate) fn verify(
    log: &AuditLog,
    tx: &mut dyn Transaction,
    trusted: Option<&Checkpoint>,
) -> Result<AuditVerification> {
    let public_key = log.public_key()?;
    let mut report = AuditVerification { entries: 0, checkpoints: 0, trusted_checked: false, problem: None };
    if let Some(cp) = trusted {
        if cp.store_id != log.store_id || cp.verify_signature(&public_key).is_err() {
            report.problem = problem(
                cp.size,
                ProblemKind::BadCheckpoint,
                "the trusted checkpoint's signature does not verify for this store",
            );
            return Ok(report);
        }
    }
    let mut stored: BTreeMap<u64, Checkpoint> = BTreeMap::new();
    for s in tx.checkpoints()? {
        let cp = Checkpoint {
            store_id: log.store_id.clone(),
            size: s.size,
            head_mac: s.head_mac,
            time: s.time,
            signature: s.signature,
        };
        if cp.verify_signature(&public_key).is_err() {
            report.problem =
                problem(cp.size, ProblemKind::BadCheckpoint, "a stored checkpoint's signature does not verify");
            return Ok(report);
        }
        stored.insert(cp.size, cp);
    }

    let index = IndexDigest::read(tx)?;
    let (last, previous, found) = check_entries(log, tx, &index, trusted, &stored)?;
    let mut found = found;
    // Every entry before the first problem passed every check.
    let passed = found.as_ref().map_or(last, |p| p.seq - 1);
    report.entries = passed;
    report.checkpoints = stored.range(1..=passed).count() as u64;
    report.trusted_checked = trusted.is_some_and(|cp| (1..=passed).contains(&cp.size));
    if found.is_none() {
        if let Some(seq) = index.stray {
            found = problem(seq, ProblemKind::IndexMismatch, "the query indexes list an entry that was never indexed");
        }
    }
    if found.is_some() {
        report.problem = found;
        return Ok(report);
    }

    let head = tx.audit_head()?;
    let head_seq = head.as_ref().map_or(0, |h| h.seq);
    let furthest_stored = stored.keys().next_back().copied().unwrap_or(0);
    report.problem = if head_seq > last || furthest_stored > last {
        problem(
            last + 1,
            ProblemKind::TailDeleted,
            format!("the log ends at entry {last}, but the store recorded {} entries", head_seq.max(furthest_stored)),
        )
    } else if head_seq < last || head.as_ref().is_some_and(|h| h.mac != previous) {
        problem(
            head_seq + 1,
            ProblemKind::HeadMismatch,
            format!("the head record says {head_seq} entries, the log has {last}"),
        )
    } else if let Some(cp) = trusted.filter(|cp| cp.size > last) {
        problem(
            last + 1,
            ProblemKind::RolledBack,
            format!("the log ends at entry {last}, but a trusted checkpoint covers {} entries", cp.size),
        )
    } else {
        None
    };
    Ok(report)
}
