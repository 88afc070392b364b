//! The key-store part of the storage seam: the wrapped data key of every
//! customer, the key store's own metadata (the wrapped root secret) and the
//! erasure ledger. Kept apart from the customer data so that a copy of the
//! data alone decrypts nothing, and destroying a key here destroys every
//! copy of that customer's ciphertext.

use crate::error::Result;
use crate::model::CustomerId;

/// A data key as kept in the key store: its id and its wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The key id (also in every ciphertext header and AAD).
    pub key_id: u64,
    /// The key wrapped under the master key.
    pub wrapped: Vec<u8>,
}

/// The key store. Part of a [`Transaction`](super::Transaction); a backend
/// may keep it in another file or database than the customer data.
pub trait KeyStore {
    /// Reads a key-store metadata value.
    fn key_meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Writes a key-store metadata value.
    fn key_meta_put(&mut self, name: &str, value: &[u8]) -> Result<()>;

    /// Stores a customer's wrapped data key in the key store.
    fn put_data_key(&mut self, customer: CustomerId, key: &WrappedKey) -> Result<()>;

    /// Reads a customer's wrapped data key.
    fn get_data_key(&mut self, customer: CustomerId) -> Result<Option<WrappedKey>>;

    /// Deletes a customer's data key; returns whether it existed.
    fn delete_data_key(&mut self, customer: CustomerId) -> Result<bool>;

    /// Every data key in the key store, by customer id.
    fn data_keys(&mut self) -> Result<Vec<(CustomerId, WrappedKey)>>;

    /// Number of data keys in the key store.
    fn count_data_keys(&mut self) -> Result<u64>;

    /// Records in the key store's erasure ledger that the customer with this
    /// keyed hash was erased at `at` (Unix ms). Idempotent.
    fn record_erasure(&mut self, hash: &[u8], at: i64) -> Result<()>;

    /// Every keyed hash in the erasure ledger.
    fn erasure_ledger(&mut self) -> Result<Vec<Vec<u8>>>;
}
