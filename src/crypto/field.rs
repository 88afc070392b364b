//! Field ciphertexts and blind indexes.
//!
//! A sealed field is `version(1) ‖ key id(8, big-endian) ‖ nonce(12) ‖
//! ciphertext ‖ tag(16)`, AES-256-GCM under the customer's data key, with AAD
//! binding the customer id, the key id and the field name: a ciphertext moved
//! to another customer or another column fails authentication.

use ring::hmac;
use zeroize::Zeroizing;

use ring::aead::LessSafeKey;

use super::keys::{DataKey, Secret, aead_key, open, seal_into};
use crate::error::{Error, Result};
use crate::model::{CustomerId, Field};

const FIELD_VERSION: u8 = 1;
/// Length of a blind-index digest (truncated HMAC-SHA256).
const BLIND_DIGEST_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 8;

fn field_aad(customer: CustomerId, key_id: u64, field: &str) -> Vec<u8> {
    [b"custodian/v1/field\0".as_slice(), &customer.0.to_be_bytes(), &key_id.to_be_bytes(), field.as_bytes()].concat()
}

/// The AAD of a value of an attached record: the customer, the key, the
/// record and the field, so a value moved to another record fails.
fn record_aad(customer: CustomerId, key_id: u64, record: u64, field: &str) -> Vec<u8> {
    [
        b"custodian/v1/record\0".as_slice(),
        &customer.0.to_be_bytes(),
        &key_id.to_be_bytes(),
        &record.to_be_bytes(),
        field.as_bytes(),
    ]
    .concat()
}

/// Seals and opens the fields of one customer. The AES key schedule is
/// built once per customer and dropped with the cipher.
pub(crate) struct FieldCipher {
    customer: CustomerId,
    key_id: u64,
    aead: LessSafeKey,
}

impl FieldCipher {
    pub(crate) fn new(customer: CustomerId, key: &DataKey) -> Self {
        FieldCipher { customer, key_id: key.id, aead: aead_key(key.secret.bytes()) }
    }

    /// Encrypts `plaintext` as the value of `field`.
    pub(crate) fn seal(&self, field: &Field, plaintext: &str) -> Result<Vec<u8>> {
        self.seal_with(&field_aad(self.customer, self.key_id, &field.name()), plaintext)
    }

    /// Encrypts `plaintext` as the value of `field` of the customer's attached record `record`.
    pub(crate) fn seal_in_record(&self, record: u64, field: &Field, plaintext: &str) -> Result<Vec<u8>> {
        self.seal_with(&record_aad(self.customer, self.key_id, record, &field.name()), plaintext)
    }

    fn seal_with(&self, aad: &[u8], plaintext: &str) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(HEADER_LEN + 12 + plaintext.len() + 16);
        out.push(FIELD_VERSION);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        seal_into(&self.aead, aad, plaintext.as_bytes(), &mut out)?;
        Ok(out)
    }

    /// Decrypts the stored value of `field`.
    pub(crate) fn open(&self, field: &Field, sealed: &[u8]) -> Result<Zeroizing<String>> {
        self.open_with(field, None, sealed)
    }

    /// Decrypts the stored value of `field` of attached record `record`.
    pub(crate) fn open_in_record(&self, record: u64, field: &Field, sealed: &[u8]) -> Result<Zeroizing<String>> {
        self.open_with(field, Some(record), sealed)
    }

    fn open_with(&self, field: &Field, record: Option<u64>, sealed: &[u8]) -> Result<Zeroizing<String>> {
        let fail = |detail| Error::Decrypt { customer: self.customer, field: field.name().into_owned(), detail };
        if sealed.len() < HEADER_LEN || sealed[0] != FIELD_VERSION {
            return Err(fail("unknown ciphertext format"));
        }
        let key_id = u64::from_be_bytes(sealed[1..HEADER_LEN].try_into().expect("8 bytes"));
        if key_id != self.key_id {
            return Err(fail("ciphertext was made under another data key"));
        }
        let aad = match record {
            None => field_aad(self.customer, key_id, &field.name()),
            Some(record) => record_aad(self.customer, key_id, record, &field.name()),
        };
        let plain = open(&self.aead, &aad, &sealed[HEADER_LEN..]).ok_or_else(|| {
            fail("authentication failed: the ciphertext was altered or belongs to another customer, record or field")
        })?;
        let text = std::str::from_utf8(&plain).map_err(|_| fail("plaintext is not UTF-8"))?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

/// Computes blind indexes: HMAC-SHA256 of the normalised value under a key
/// derived from the root secret per field, so equal values can be found
/// without storing them and digests of different fields cannot be compared.
pub(crate) struct BlindIndexer {
    mobile: Secret,
    email: Secret,
    id_number: Secret,
    credit_code: Secret,
}

impl BlindIndexer {
    pub(crate) fn new(root: &Secret) -> Result<Self> {
        Ok(BlindIndexer {
            mobile: root.derive(b"custodian/v1/blind-index/mobile")?,
            email: root.derive(b"custodian/v1/blind-index/email")?,
            id_number: root.derive(b"custodian/v1/blind-index/id_number")?,
            credit_code: root.derive(b"custodian/v1/blind-index/credit_code")?,
        })
    }

    /// The digest of a normalised value, or `None` if `field` has no blind index.
    pub(crate) fn digest(&self, field: &Field, normalised: &str) -> Option<Vec<u8>> {
        let secret = match field {
            Field::Mobile => &self.mobile,
            Field::Email => &self.email,
            Field::IdNumber => &self.id_number,
            Field::CreditCode => &self.credit_code,
            _ => return None,
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.bytes());
        // 128 bits identify a value among any number of customers a store
        // will hold, and keep the lookup indexes half the size.
        Some(hmac::sign(&key, normalised.as_bytes()).as_ref()[..BLIND_DIGEST_LEN].to_vec())
    }
}
