//! Signed erasure receipts: the host's outside record of what was erased.
//!
//! Nothing inside a lost store can say what was erased after its last
//! backup, so every erasure (and every destruction by a retention policy)
//! is also handed to the host's receipt sink, signed with the store's
//! checkpoint key. A restore into an empty directory takes the receipts the
//! host kept and removes every customer they name. A receipt names the
//! customer only by the keyed hash the erasure ledger keeps, never by id.

use std::fmt;
use std::sync::Arc;

use ring::signature::{ED25519, UnparsedPublicKey};

use super::chain::{hex, hex_decode};
use crate::error::{Error, Result};

const HEADER: &str = "custodian erasure receipt v1";

/// "Store S destroyed the customer whose ledger hash is H at `time`, in
/// audit entry `seq`", signed by the store.
#[derive(Clone, PartialEq, Eq)]
pub struct ErasureReceipt {
    /// The store's id.
    pub store_id: String,
    /// The keyed hash of the customer id, as the erasure ledger keeps it.
    pub customer_hash: Vec<u8>,
    /// When the destruction committed, Unix ms.
    pub time: i64,
    /// The sequence number of the destruction's audit entry.
    pub seq: u64,
    /// Ed25519 signature over the text above the signature line.
    pub signature: Vec<u8>,
}

/// Receives every erasure receipt after the destruction it records has
/// committed: keep them outside the database, with the checkpoints.
pub type ReceiptSink = Arc<dyn Fn(&ErasureReceipt) + Send + Sync>;

impl fmt::Debug for ErasureReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl ErasureReceipt {
    /// The text that is signed.
    pub(crate) fn signed_text(&self) -> String {
        format!(
            "{HEADER}\nstore {}\ncustomer {}\ntime {}\nseq {}\n",
            self.store_id,
            hex(&self.customer_hash),
            self.time,
            self.seq
        )
    }

    /// The receipt as text, signature last.
    pub fn to_text(&self) -> String {
        format!("{}signature {}\n", self.signed_text(), hex(&self.signature))
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<ErasureReceipt> {
        let bad = |message: &str| Error::invalid("receipt", "receipt_syntax", message);
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line must be 'custodian erasure receipt v1'"));
        }
        let mut field = |name: &str| -> Result<String> {
            let line = lines.next().ok_or_else(|| bad("the receipt is truncated"))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("expected a '{name}' line")))
        };
        let store_id = field("store")?;
        let customer_hash = hex_decode(&field("customer")?)?;
        let time = field("time")?.parse().map_err(|_| bad("time is not a number"))?;
        let seq = field("seq")?.parse().map_err(|_| bad("seq is not a number"))?;
        let signature = hex_decode(&field("signature")?)?;
        Ok(ErasureReceipt { store_id, customer_hash, time, seq, signature })
    }

    /// Checks the signature with a store's public key
    /// ([`crate::Store::audit_public_key`]).
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(self.signed_text().as_bytes(), &self.signature)
            .map_err(|_| Error::invalid("receipt", "receipt_signature", "the signature does not verify with this key"))
    }
}
