//! Appending to the chain: sequence numbers, MACs, checkpoints.

use ring::hmac;
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::checkpoint::Checkpoint;
use super::{AuditEntry, Outcome};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::storage::{AuditRecord, AuditRecordView, StoredCheckpoint, Transaction};

/// Default number of entries after which a signed checkpoint falls due.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// Default number of seconds after the last checkpoint at which the next
/// falls due (on the next entry: an idle store makes none). A tail deleted
/// after the last outside checkpoint cannot be detected, so this bounds that
/// window in time as [`DEFAULT_CHECKPOINT_EVERY`] bounds it in entries.
pub const DEFAULT_CHECKPOINT_SECS: u64 = 60;

/// The audit keys and settings of one store.
pub(crate) struct AuditLog {
    mac_key: Secret,
    value_key: Secret,
    signing_seed: Secret,
    pub(crate) store_id: String,
    /// A checkpoint falls due this many entries after the last (0: never by count)...
    pub(crate) checkpoint_every: u64,
    /// ...or on the first entry this many milliseconds after it (0: never by time).
    pub(crate) checkpoint_after_millis: i64,
}

/// The MAC of a stored entry, chained to the previous entry's MAC. It
/// covers every column queries read (time, principal, action, outcome,
/// looked-up value hash, customers) as well as the full body, each
/// length-prefixed, so no column can be edited without breaking the chain
/// and verification never has to decode a body.
pub(crate) fn entry_mac(key: &hmac::Key, record: &AuditRecordView<'_>, previous: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    let mut field = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(bytes);
    };
    field(b"custodian/v1/audit-entry");
    field(&record.seq.to_be_bytes());
    field(&record.time.to_be_bytes());
    field(record.principal.as_bytes());
    field(record.action.as_bytes());
    field(record.outcome.as_bytes());
    field(record.value_hash.unwrap_or(b"\xff"));
    // The customers as one field of 8-byte big-endian ids, fed without
    // building the field first.
    ctx.update(&(record.customers.len() as u64 * 8).to_be_bytes());
    for customer in record.customers {
        ctx.update(&customer.0.to_be_bytes());
    }
    ctx.update(&(record.body.len() as u64).to_be_bytes());
    ctx.update(record.body);
    ctx.update(previous);
    ctx.sign()
}

/// What appending an entry made: its sequence number and time, and the
/// checkpoint that fell due with it (handed to the sink after the commit).
pub(crate) struct Appended {
    pub(crate) seq: u64,
    pub(crate) time: i64,
    pub(crate) checkpoint: Option<Checkpoint>,
}

/// The "previous MAC" of the first entry.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

impl AuditLog {
    pub(crate) fn new(root: &Secret, store_id: String) -> Result<Self> {
        Ok(AuditLog {
            mac_key: root.derive(b"custodian/v1/audit/mac")?,
            value_key: root.derive(b"custodian/v1/audit/value-hash")?,
            signing_seed: root.derive(b"custodian/v1/audit/checkpoint-signing")?,
            store_id,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            checkpoint_after_millis: DEFAULT_CHECKPOINT_SECS as i64 * 1000,
        })
    }

    pub(crate) fn mac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.mac_key.bytes())
    }

    /// Keyed hash of a normalised value, for finding entries by value
    /// without storing it. A different key from the blind indexes, so the
    /// log cannot be joined to the customer tables without the key.
    pub(crate) fn value_hash(&self, field: &str, normalised: &str) -> Vec<u8> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.value_key.bytes());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(field.as_bytes());
        ctx.update(b"\0");
        ctx.update(normalised.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    fn signing_key(&self) -> Result<Ed25519KeyPair> {
        Ed25519KeyPair::from_seed_unchecked(self.signing_seed.bytes()).map_err(|_| Error::Crypto("Ed25519 key"))
    }

    /// The Ed25519 public key that verifies this store's checkpoints.
    pub(crate) fn public_key(&self) -> Result<Vec<u8>> {
        Ok(self.signing_key()?.public_key().as_ref().to_vec())
    }

    /// Appends `entry` (its `seq` is assigned here) inside `tx`. Returns the
    /// checkpoint made if this entry completes an interval; the caller hands
    /// it to the sink only after the transaction commits.
    pub(crate) fn append(&self, tx: &mut dyn Transaction, mut entry: AuditEntry) -> Result<Appended> {
        let head = tx.audit_head()?;
        let (previous_seq, previous_mac) = head.as_ref().map_or((0, &GENESIS[..]), |h| (h.seq, h.mac.as_slice()));
        entry.seq = previous_seq + 1;
        // Entry times never go backwards (a clock stepped back is held at the
        // last entry's time), so time windows map to sequence ranges.
        entry.time = entry.time.max(head.as_ref().map_or(i64::MIN, |h| h.time));
        entry.customers.sort();
        entry.customers.dedup();
        let body = serde_json::to_vec(&entry).map_err(|e| Error::storage_caused("audit entry encoding", e))?;
        let value_hash = entry.lookup_hash.as_deref().map(hex_decode).transpose()?;
        let mut record = AuditRecord {
            seq: entry.seq,
            time: entry.time,
            principal: entry.principal,
            action: entry.action,
            outcome: entry.outcome.name().to_owned(),
            customers: entry.customers,
            value_hash,
            body,
            mac: Vec::new(),
        };
        let mac = entry_mac(&self.mac_key(), &record.view(), previous_mac).as_ref().to_vec();
        record.mac = mac.clone();
        tx.append_audit(&record)?;
        let appended = Appended { seq: record.seq, time: record.time, checkpoint: None };
        if !self.checkpoint_due(tx, record.seq, record.time)? {
            return Ok(appended);
        }
        let checkpoint = self.sign(record.seq, mac, record.time)?;
        tx.put_checkpoint(&StoredCheckpoint {
            size: checkpoint.size,
            head_mac: checkpoint.head_mac.clone(),
            time: checkpoint.time,
            signature: checkpoint.signature.clone(),
        })?;
        Ok(Appended { checkpoint: Some(checkpoint), ..appended })
    }

    /// Whether entry `seq`, made at `time`, is due for a checkpoint: `N`
    /// entries or `T` ms after the last stored one, whichever comes first.
    fn checkpoint_due(&self, tx: &mut dyn Transaction, seq: u64, time: i64) -> Result<bool> {
        if self.checkpoint_every == 0 && self.checkpoint_after_millis <= 0 {
            return Ok(false);
        }
        let (last_size, last_time) = match tx.last_checkpoint()? {
            Some(last) => (last.size, last.time),
            // None yet: count from the start, and time from the first entry.
            None if seq == 1 => (0, time),
            None => (0, tx.first_audit_time()?.unwrap_or(time)),
        };
        let by_count = self.checkpoint_every > 0 && seq.saturating_sub(last_size) >= self.checkpoint_every;
        let by_time =
            self.checkpoint_after_millis > 0 && time.saturating_sub(last_time) >= self.checkpoint_after_millis;
        Ok(by_count || by_time)
    }

    /// Signs an erasure receipt for the customer whose ledger hash is
    /// `customer_hash`, destroyed in entry `seq` at `time`.
    pub(crate) fn receipt(&self, customer_hash: Vec<u8>, time: i64, seq: u64) -> Result<super::ErasureReceipt> {
        let mut receipt =
            super::ErasureReceipt { store_id: self.store_id.clone(), customer_hash, time, seq, signature: Vec::new() };
        receipt.signature = self.signing_key()?.sign(receipt.signed_text().as_bytes()).as_ref().to_vec();
        Ok(receipt)
    }

    /// Signs a checkpoint of the chain at `size` entries.
    pub(crate) fn sign(&self, size: u64, head_mac: Vec<u8>, time: i64) -> Result<Checkpoint> {
        let mut checkpoint =
            Checkpoint { store_id: self.store_id.clone(), size, head_mac, time, signature: Vec::new() };
        checkpoint.signature = self.signing_key()?.sign(checkpoint.signed_text().as_bytes()).as_ref().to_vec();
        Ok(checkpoint)
    }
}

/// An entry with everything but sequence number, ready to append.
pub(crate) fn blank_entry(time: i64, principal: &str, purpose: &str, action: &str, outcome: Outcome) -> AuditEntry {
    AuditEntry {
        seq: 0,
        time,
        principal: principal.to_owned(),
        purpose: purpose.to_owned(),
        mfa: false,
        action: action.to_owned(),
        customers: Vec::new(),
        fields: Vec::new(),
        changed: Vec::new(),
        outcome,
        rule: None,
        reason: None,
        error_code: None,
        lookup_field: None,
        lookup_hash: None,
        target: None,
        destruction: None,
        records: Vec::new(),
    }
}

/// The values of the `name value` lines that follow the `header` line of a
/// signed text (a checkpoint, a receipt), in `names` order; anything else is
/// refused as `what` breaking `rule`.
pub(crate) fn signed_lines<'a>(
    text: &'a str,
    header: &str,
    names: &[&str],
    what: &str,
    rule: &'static str,
) -> Result<Vec<&'a str>> {
    let bad = |message: String| Error::invalid(what, rule, message);
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(bad(format!("the first line must be '{header}'")));
    }
    names
        .iter()
        .map(|name| {
            let line = lines.next().ok_or_else(|| bad(format!("the {what} is truncated")))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or_else(|| bad(format!("expected a '{name}' line")))
        })
        .collect()
}

/// Checks an Ed25519 `signature` over `text` with a store's public key.
pub(crate) fn check_signature(
    public_key: &[u8],
    text: &str,
    signature: &[u8],
    what: &str,
    rule: &'static str,
) -> Result<()> {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(text.as_bytes(), signature)
        .map_err(|_| Error::invalid(what, rule, "the signature does not verify with this key"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex_decode(text: &str) -> Result<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid("hex", "hex_syntax", "expected an even number of hexadecimal digits"));
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| unreachable_hex())).collect()
}

fn unreachable_hex() -> Error {
    Error::invalid("hex", "hex_syntax", "expected hexadecimal digits")
}
