//! Signed checkpoints of the audit chain, in a small text format that can be
//! kept anywhere (a file, another database, a transparency log).

use std::fmt;

use ring::signature::{ED25519, UnparsedPublicKey};

use super::chain::{hex, hex_decode};
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
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line must be 'custodian audit checkpoint v1'"));
        }
        let mut field = |name: &str| -> Result<String> {
            let line = lines.next().ok_or_else(|| bad("the checkpoint is truncated"))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("expected a '{name}' line")))
        };
        let store_id = field("store")?;
        let size = field("size")?.parse().map_err(|_| bad("size is not a number"))?;
        let head_mac = hex_decode(&field("head")?)?;
        let time = field("time")?.parse().map_err(|_| bad("time is not a number"))?;
        let signature = hex_decode(&field("signature")?)?;
        Ok(Checkpoint { store_id, size, head_mac, time, signature })
    }

    /// Checks the signature with a store's public key
    /// ([`crate::Store::audit_public_key`]).
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(&ED25519, public_key).verify(self.signed_text().as_bytes(), &self.signature).map_err(
            |_| Error::invalid("checkpoint", "checkpoint_signature", "the signature does not verify with this key"),
        )
    }
}
