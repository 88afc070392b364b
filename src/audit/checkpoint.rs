//! Signed checkpoints of the audit chain, in a small text format that can be
//! kept anywhere (a file, another database, a transparency log).

use std::fmt;
use std::sync::Arc;

use super::chain::{check_signature, hex, hex_decode, signed_lines};
use crate::error::{Error, Result};

const HEADER: &str = "custodian audit checkpoint v1";

/// A signed statement: "the audit log of store S had `size` entries, and the
/// MAC of the last one was `head_mac`, at `time`".
///
/// The text form ([`Checkpoint::to_text`] / [`Checkpoint::parse`]) is:
///
/// ```text
/// custodian audit checkpoint v1
/// store 3f2a...
/// size 2000
/// head 9b1c...
/// time 1732262400000
/// signature 5e7d...
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The store's id.
    pub store_id: String,
    /// Number of entries covered (the sequence number of the last).
    pub size: u64,
    /// MAC of entry `size`.
    pub head_mac: Vec<u8>,
    /// When it was signed, Unix ms.
    pub time: i64,
    /// Ed25519 signature over the text above the signature line.
    pub signature: Vec<u8>,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Checkpoint {
    /// The text that is signed.
    pub(crate) fn signed_text(&self) -> String {
        format!(
            "{HEADER}\nstore {}\nsize {}\nhead {}\ntime {}\n",
            self.store_id,
            self.size,
            hex(&self.head_mac),
            self.time
        )
    }

    /// The checkpoint as text, signature last.
    pub fn to_text(&self) -> String {
        format!("{}signature {}\n", self.signed_text(), hex(&self.signature))
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let bad = |message: &str| Error::invalid("checkpoint", "checkpoint_syntax", message);
        let names = ["store", "size", "head", "time", "signature"];
        let v = signed_lines(text, HEADER, &names, "checkpoint", "checkpoint_syntax")?;
        Ok(Checkpoint {
            store_id: v[0].to_owned(),
            size: v[1].parse().map_err(|_| bad("size is not a number"))?,
            head_mac: hex_decode(v[2])?,
            time: v[3].parse().map_err(|_| bad("time is not a number"))?,
            signature: hex_decode(v[4])?,
        })
    }

    /// Checks the signature with a store's public key
    /// ([`crate::Store::audit_public_key`]).
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<()> {
        check_signature(public_key, &self.signed_text(), &self.signature, "checkpoint", "checkpoint_signature")
    }
}

/// Receives every checkpoint the store signs, after the entry it covers has
/// committed: keep it somewhere the database's owner cannot rewrite.
pub type CheckpointSink = Arc<dyn Fn(&Checkpoint) + Send + Sync>;

/// When signed checkpoints of the audit log fall due, and which sink
/// receives them: after `every_entries` entries or on the first entry
/// `every_secs` seconds after the last checkpoint, whichever comes first
/// (0 turns a rule off). An idle store makes none.
#[derive(Clone)]
#[non_exhaustive]
pub struct CheckpointPolicy {
    /// Entries after the last checkpoint at which the next falls due
    /// (default [`crate::audit::DEFAULT_CHECKPOINT_EVERY`]).
    pub every_entries: u64,
    /// Seconds after the last checkpoint at which the next falls due
    /// (default [`crate::audit::DEFAULT_CHECKPOINT_SECS`]).
    pub every_secs: u64,
    /// Receives each checkpoint after the entry it covers has committed.
    pub sink: Option<CheckpointSink>,
    /// Receives a signed receipt of every erasure and destruction after it
    /// has committed (what a restore after total loss needs to keep erased
    /// customers erased).
    pub receipts: Option<super::ReceiptSink>,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_entries: super::DEFAULT_CHECKPOINT_EVERY,
            every_secs: super::DEFAULT_CHECKPOINT_SECS,
            sink: None,
            receipts: None,
        }
    }
}

impl std::fmt::Debug for CheckpointPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointPolicy")
            .field("every_entries", &self.every_entries)
            .field("every_secs", &self.every_secs)
            .field("sink", &self.sink.as_ref().map(|_| "(host sink)"))
            .field("receipts", &self.receipts.as_ref().map(|_| "(host sink)"))
            .finish()
    }
}

impl CheckpointPolicy {
    /// Sets the count rule (0: never by count).
    pub fn every_entries(mut self, entries: u64) -> Self {
        self.every_entries = entries;
        self
    }

    /// Sets the time rule (0: never by time).
    pub fn every_secs(mut self, secs: u64) -> Self {
        self.every_secs = secs;
        self
    }

    /// Sets the sink that receives the checkpoints.
    pub fn sink(mut self, sink: CheckpointSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Sets the sink that receives the signed erasure receipts.
    pub fn receipts(mut self, sink: super::ReceiptSink) -> Self {
        self.receipts = Some(sink);
        self
    }
}
