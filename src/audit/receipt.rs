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

use super::chain::{check_signature, hex, hex_decode, signed_lines};
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
        let names = ["store", "customer", "time", "seq", "signature"];
        let v = signed_lines(text, HEADER, &names, "receipt", "receipt_syntax")?;
        Ok(ErasureReceipt {
            store_id: v[0].to_owned(),
            customer_hash: hex_decode(v[1])?,
            time: v[2].parse().map_err(|_| bad("time is not a number"))?,
            seq: v[3].parse().map_err(|_| bad("seq is not a number"))?,
            signature: hex_decode(v[4])?,
        })
    }

    /// Checks the signature with a store's public key
    /// ([`crate::Store::audit_public_key`]).
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<()> {
        check_signature(public_key, &self.signed_text(), &self.signature, "receipt", "receipt_signature")
    }
}
