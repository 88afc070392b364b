//! The per-entry half of verification: every entry's MAC, index links and
//! checkpoints, checked on worker threads while the backend reads on.
//!
//! Entry `n`'s MAC covers the stored MAC of entry `n - 1`, so an entry can be
//! checked as soon as it and its predecessor are read: the chain does not
//! force one thread. Up to the first bad entry every stored MAC equals the
//! computed one, so checking against the stored predecessor finds the same
//! first problem a walk in order finds. The calling thread reads entries
//! into batches and checks that sequence numbers run without a gap; workers
//! take whole batches and report the first problem in each; the earliest of
//! those is the log's first problem.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use super::chain::{AuditLog, GENESIS, entry_mac};
use super::verify::{AuditProblem, IndexDigest, ProblemKind, problem};
use super::{AuditEntry, Checkpoint};
use crate::error::{Error, Result};
use crate::model::CustomerId;
use crate::storage::{AuditRecordView, Scan, Transaction};

/// Entries per batch: large enough that handing a batch over costs nothing
/// beside checking it, small enough that a bad entry stops the scan soon.
const BATCH: usize = 512;

/// Batches waiting per worker before the reader blocks (bounds memory).
const QUEUED_PER_WORKER: usize = 4;

/// Where one entry's columns lie in its batch's buffers.
struct Packed {
    seq: u64,
    time: i64,
    principal: Range<usize>,
    action: Range<usize>,
    outcome: Range<usize>,
    value_hash: Option<Range<usize>>,
    customers: Range<usize>,
    body: Range<usize>,
    mac: Range<usize>,
}

/// Consecutive entries copied out of the backend's rows into three buffers.
struct Batch {
    /// The stored MAC of the entry before the first.
    previous: Vec<u8>,
    text: String,
    bytes: Vec<u8>,
    customers: Vec<CustomerId>,
    entries: Vec<Packed>,
}

impl Batch {
    fn new(previous: Vec<u8>) -> Self {
        Batch {
            previous,
            text: String::new(),
            bytes: Vec::new(),
            customers: Vec::new(),
            entries: Vec::with_capacity(BATCH),
        }
    }

    fn push(&mut self, record: &AuditRecordView<'_>) {
        fn put(buffer: &mut Vec<u8>, value: &[u8]) -> Range<usize> {
            buffer.extend_from_slice(value);
            buffer.len() - value.len()..buffer.len()
        }
        let mut text = |value: &str| {
            self.text.push_str(value);
            self.text.len() - value.len()..self.text.len()
        };
        let (principal, action, outcome) = (text(record.principal), text(record.action), text(record.outcome));
        self.customers.extend_from_slice(record.customers);
        self.entries.push(Packed {
            seq: record.seq,
            time: record.time,
            principal,
            action,
            outcome,
            value_hash: record.value_hash.map(|v| put(&mut self.bytes, v)),
            customers: self.customers.len() - record.customers.len()..self.customers.len(),
            body: put(&mut self.bytes, record.body),
            mac: put(&mut self.bytes, record.mac),
        });
    }

    fn view(&self, entry: &Packed) -> AuditRecordView<'_> {
        AuditRecordView {
            seq: entry.seq,
            time: entry.time,
            principal: &self.text[entry.principal.clone()],
            action: &self.text[entry.action.clone()],
            outcome: &self.text[entry.outcome.clone()],
            customers: &self.customers[entry.customers.clone()],
            value_hash: entry.value_hash.clone().map(|r| &self.bytes[r]),
            body: &self.bytes[entry.body.clone()],
            mac: &self.bytes[entry.mac.clone()],
        }
    }
}

/// What every worker needs to check an entry.
struct Checks<'a> {
    key: ring::hmac::Key,
    index: &'a IndexDigest,
    trusted: Option<&'a Checkpoint>,
    stored: &'a BTreeMap<u64, Checkpoint>,
}

impl Checks<'_> {
    /// The first problem among the batch's entries, in the order a walk
    /// checks one entry: its MAC, its index links, the checkpoints at it.
    fn first_problem(&self, batch: &Batch) -> Option<AuditProblem> {
        let mut previous = batch.previous.as_slice();
        for packed in &batch.entries {
            let record = batch.view(packed);
            let seq = record.seq;
            let mac = entry_mac(&self.key, &record, previous);
            if mac.as_ref() != record.mac {
                // An entry's body names its own sequence number, which tells a
                // moved entry from an edited one.
                return match serde_json::from_slice::<AuditEntry>(record.body) {
                    Ok(entry) if entry.seq != seq => problem(
                        seq,
                        ProblemKind::Reordered,
                        format!("the entry in position {seq} is entry {}", entry.seq),
                    ),
                    _ => problem(seq, ProblemKind::Altered, "the entry or one of its columns does not match its MAC"),
                };
            }
            if !self.index.agrees(&record) {
                return problem(seq, ProblemKind::IndexMismatch, "the query indexes do not list this entry as it is");
            }
            for (cp, whose) in
                [(self.trusted.filter(|cp| cp.size == seq), "the trusted"), (self.stored.get(&seq), "a stored")]
            {
                if cp.is_some_and(|cp| cp.head_mac != mac.as_ref()) {
                    return problem(
                        seq,
                        ProblemKind::Forked,
                        format!("entry {seq} differs from {whose} checkpoint of size {seq}"),
                    );
                }
            }
            previous = record.mac;
        }
        None
    }
}

/// Drops the queue's receiving end if its worker panics, so the reader's
/// next send fails instead of waiting for a worker that is gone.
struct HangUpOnPanic<'a>(&'a Mutex<Option<mpsc::Receiver<Batch>>>);

impl Drop for HangUpOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        }
    }
}

/// Checks every entry of the log in `tx`. Returns the last sequence number
/// read, the stored MAC of that entry (the genesis value for an empty log)
/// and the first problem, if any.
pub(super) fn check_entries(
    log: &AuditLog,
    tx: &mut dyn Transaction,
    index: &IndexDigest,
    trusted: Option<&Checkpoint>,
    stored: &BTreeMap<u64, Checkpoint>,
) -> Result<(u64, Vec<u8>, Option<AuditProblem>)> {
    let checks = Checks { key: log.mac_key(), index, trusted, stored };
    // The reader keeps a core busy; the others check.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).clamp(1, 7);
    // The earliest bad sequence number any worker has found: the reader
    // stops past it, as nothing later can be the first problem.
    let first_bad = AtomicU64::new(u64::MAX);
    let (send, receive) = mpsc::sync_channel::<Batch>(workers * QUEUED_PER_WORKER);
    let receive = Mutex::new(Some(receive));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let _guard = HangUpOnPanic(&receive);
                    let mut earliest: Option<AuditProblem> = None;
                    loop {
                        let next = receive.lock().ok().and_then(|r| r.as_ref().map(|r| r.recv()));
                        let Some(Ok(batch)) = next else { break };
                        if let Some(found) = checks.first_problem(&batch) {
                            first_bad.fetch_min(found.seq, Ordering::Relaxed);
                            if earliest.as_ref().is_none_or(|e| found.seq < e.seq) {
                                earliest = Some(found);
                            }
                        }
                    }
                    earliest
                })
            })
            .collect();

        let read = read_batches(tx, &send, &first_bad);
        drop(send);
        let mut earliest: Option<AuditProblem> = None;
        for handle in handles {
            let found = handle.join().map_err(|_| Error::storage("an audit verification worker failed"))?;
            if let Some(found) = found {
                if earliest.as_ref().is_none_or(|e| found.seq < e.seq) {
                    earliest = Some(found);
                }
            }
        }
        let (last, previous, gap) = read?;
        // A gap is found at the first missing number, after every entry
        // before it was handed out; a bad entry before it comes first.
        Ok((last, previous, earliest.or(gap)))
    })
}

/// Reads the log into batches for the workers, checking that sequence
/// numbers run from 1 without a gap. Returns the last number read, its
/// stored MAC, and the gap found, if any.
fn read_batches(
    tx: &mut dyn Transaction,
    send: &mpsc::SyncSender<Batch>,
    first_bad: &AtomicU64,
) -> Result<(u64, Vec<u8>, Option<AuditProblem>)> {
    let mut previous = GENESIS.to_vec();
    let mut expected = 1u64;
    let mut gap: Option<AuditProblem> = None;
    let mut batch = Batch::new(previous.clone());
    let mut workers_gone = false;
    tx.scan_audit_views(&mut |record| {
        let seq = record.seq;
        if seq > first_bad.load(Ordering::Relaxed) {
            return Ok(Scan::Stop);
        }
        if seq != expected {
            gap = problem(
                expected,
                ProblemKind::Missing,
                format!("the log jumps from entry {} to entry {seq}", expected - 1),
            );
            return Ok(Scan::Stop);
        }
        batch.push(record);
        previous.clear();
        previous.extend_from_slice(record.mac);
        expected += 1;
        if batch.entries.len() == BATCH {
            let full = std::mem::replace(&mut batch, Batch::new(previous.clone()));
            if send.send(full).is_err() {
                workers_gone = true;
                return Ok(Scan::Stop);
            }
        }
        Ok(Scan::Continue)
    })?;
    if !batch.entries.is_empty() && send.send(batch).is_err() {
        workers_gone = true;
    }
    if workers_gone {
        return Err(Error::storage("the audit verification workers stopped early"));
    }
    Ok((expected - 1, previous, gap))
}
