//! Keys and encryption at rest: the key hierarchy, field ciphertexts and
//! blind indexes. Nothing in here decides who may see what; the session does.

mod field;
mod keys;
mod random;

pub(crate) use field::{BlindIndexer, FieldCipher};
pub use keys::{DEFAULT_KDF_ITERATIONS, KEY_LEN, KdfParams, KeySource, MIN_KDF_ITERATIONS, MasterKey};
pub(crate) use keys::{DataKey, KeyWrapper, Secret, aead_key, open, random_bytes, seal_into};
