//! Key hierarchy: master key → (key-encryption key) → root secret and
//! per-customer data keys.
//!
//! - The **master key** comes from the caller (32 bytes) or from a passphrase
//!   through PBKDF2-HMAC-SHA256 with a stored salt and iteration count. It is
//!   never stored.
//! - The **root secret** is random, made when the store is created, and kept
//!   wrapped by the master key in the key store. Blind-index keys (and later
//!   audit keys) derive from it, so rotating the master key only rewraps.
//!   Unwrapping it is the key check: a wrong master key fails here.
//! - Each customer's **data key** is random and kept wrapped by the master key
//!   in the key store, bound (AAD) to the customer id and key id.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::{hkdf, pbkdf2};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::CustomerId;

/// Length of every symmetric key in the store.
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAP_VERSION: u8 = 1;

/// A 32-byte master key. Zeroed on drop; neither `Debug` nor `Clone`:
///
/// ```compile_fail
/// fn printable<T: std::fmt::Debug>() {}
/// printable::<custodian::MasterKey>();
/// ```
///
/// ```compile_fail
/// fn copyable<T: Clone>() {}
/// copyable::<custodian::KeySource>();
/// ```
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// A master key from exactly 32 caller-supplied bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::out_of_range(
                "master_key",
                "key_length",
                format!("a master key is exactly {KEY_LEN} bytes, got {}", bytes.len()),
            )
        })?;
        Ok(MasterKey(Zeroizing::new(array)))
    }

    /// Derives the master key from a passphrase with the stored KDF parameters.
    pub(crate) fn from_passphrase(passphrase: &[u8], params: &KdfParams) -> Result<Self> {
        let iterations = std::num::NonZeroU32::new(params.iterations)
            .ok_or_else(|| Error::corrupt("stored KDF iteration count is zero"))?;
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &params.salt, passphrase, out.as_mut());
        Ok(MasterKey(out))
    }

    /// The key-encryption key, derived so the master key itself never keys AES directly.
    fn kek(&self) -> Result<Secret> {
        derive(&self.0[..], b"custodian/v1/kek")
    }
}

/// How the caller supplies the master key to [`crate::Store::create`] / [`crate::Store::open`].
/// Neither `Debug` nor `Clone`; the passphrase is zeroed on drop.
pub enum KeySource {
    /// 32 raw key bytes (e.g. from an HSM or a secrets manager).
    Key(MasterKey),
    /// A passphrase; the key is derived with PBKDF2-HMAC-SHA256 and the salt
    /// and iteration count stored in the key store.
    Passphrase(Zeroizing<Vec<u8>>),
}

impl KeySource {
    /// A key source from 32 raw bytes.
    pub fn key_bytes(bytes: &[u8]) -> Result<Self> {
        MasterKey::from_bytes(bytes).map(KeySource::Key)
    }

    /// A key source from a passphrase (at least 8 bytes).
    pub fn passphrase(passphrase: impl AsRef<[u8]>) -> Result<Self> {
        let p = passphrase.as_ref();
        if p.len() < 8 {
            return Err(Error::invalid("passphrase", "passphrase_length", "a passphrase has at least 8 bytes"));
        }
        Ok(KeySource::Passphrase(Zeroizing::new(p.to_vec())))
    }

    /// A second copy, for a call that opens two stores with one key (restore).
    pub(crate) fn duplicate(&self) -> KeySource {
        match self {
            KeySource::Key(master) => KeySource::Key(MasterKey(master.0.clone())),
            KeySource::Passphrase(p) => KeySource::Passphrase(p.clone()),
        }
    }
}

/// Stored parameters of the passphrase KDF (not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always `pbkdf2-hmac-sha256` for now.
    pub algorithm: String,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// Random salt.
    pub salt: Vec<u8>,
}

/// Default PBKDF2-HMAC-SHA256 iteration count (OWASP's 2023 recommendation).
pub const DEFAULT_KDF_ITERATIONS: u32 = 600_000;
/// The lowest PBKDF2 iteration count a new store (or a rotation to a
/// passphrase) accepts. The header, the README and the code agree on it;
/// there is no lower setting, for tests or otherwise (100,000 iterations
/// take a few tens of milliseconds, which tests can afford).
pub const MIN_KDF_ITERATIONS: u32 = 100_000;

impl KdfParams {
    pub(crate) fn generate(iterations: u32) -> Result<Self> {
        if iterations < MIN_KDF_ITERATIONS {
            return Err(Error::out_of_range(
                "kdf_iterations",
                "kdf_iterations",
                format!("at least {MIN_KDF_ITERATIONS} PBKDF2 iterations are required"),
            ));
        }
        Ok(KdfParams { algorithm: "pbkdf2-hmac-sha256".into(), iterations, salt: random_bytes::<16>()?.to_vec() })
    }
}

/// 32 secret bytes, zeroed on drop; neither `Debug` nor `Clone`.
pub(crate) struct Secret(Zeroizing<[u8; KEY_LEN]>);

impl Secret {
    pub(crate) fn random() -> Result<Self> {
        let mut s = Zeroizing::new([0u8; KEY_LEN]);
        super::random::fill(s.as_mut())?;
        Ok(Secret(s))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A subkey for `purpose` (HKDF-SHA256).
    pub(crate) fn derive(&self, purpose: &[u8]) -> Result<Secret> {
        derive(&self.0[..], purpose)
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

fn derive(ikm: &[u8], info: &[u8]) -> Result<Secret> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"custodian").extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len32).map_err(|_| Error::Crypto("HKDF expand failed"))?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    okm.fill(out.as_mut()).map_err(|_| Error::Crypto("HKDF fill failed"))?;
    Ok(Secret(out))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    super::random::fill(&mut b)?;
    Ok(b)
}

/// An AES-256-GCM key built just before use (ring does not wipe its own key
/// schedule, so these are never kept longer than one operation).
pub(crate) fn aead_key(secret: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, secret).expect("32-byte AES-256 key"))
}

/// Seals `plaintext` as `nonce ‖ ciphertext ‖ tag` appended to `out`.
pub(crate) fn seal_into(key: &LessSafeKey, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(start);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
        .map_err(|_| Error::Crypto("AES-GCM seal failed"))?;
    out.extend_from_slice(&body);
    Ok(())
}

/// Opens `nonce ‖ ciphertext ‖ tag`; `None` if authentication fails.
pub(crate) fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key.open_in_place(nonce, Aad::from(aad), buf.as_mut_slice()).ok()?.len();
    buf.truncate(len);
    Some(buf)
}

/// The master key's view of the key store: wraps and unwraps the root secret and data keys.
pub(crate) struct KeyWrapper {
    kek: Secret,
}

impl KeyWrapper {
    pub(crate) fn new(master: &MasterKey) -> Result<Self> {
        Ok(KeyWrapper { kek: master.kek()? })
    }

    fn wrap(&self, aad: &[u8], secret: &Secret) -> Result<Vec<u8>> {
        let mut out = vec![WRAP_VERSION];
        seal_into(&aead_key(self.kek.bytes()), aad, secret.bytes(), &mut out)?;
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Option<Secret> {
        let (&version, rest) = wrapped.split_first()?;
        if version != WRAP_VERSION {
            return None;
        }
        let plain = open(&aead_key(self.kek.bytes()), aad, rest)?;
        let array: [u8; KEY_LEN] = plain.as_slice().try_into().ok()?;
        Some(Secret(Zeroizing::new(array)))
    }

    pub(crate) fn wrap_root(&self, store_id: &str, root: &Secret) -> Result<Vec<u8>> {
        self.wrap(&root_aad(store_id), root)
    }

    /// Unwraps the root secret; failure means the master key is wrong.
    pub(crate) fn unwrap_root(&self, store_id: &str, wrapped: &[u8]) -> Result<Secret> {
        self.unwrap(&root_aad(store_id), wrapped).ok_or(Error::WrongKey)
    }

    pub(crate) fn wrap_data_key(&self, customer: CustomerId, key: &DataKey) -> Result<Vec<u8>> {
        self.wrap(&data_key_aad(customer, key.id), &key.secret)
    }

    pub(crate) fn unwrap_data_key(&self, customer: CustomerId, key_id: u64, wrapped: &[u8]) -> Result<DataKey> {
        self.unwrap(&data_key_aad(customer, key_id), wrapped).map(|secret| DataKey { id: key_id, secret }).ok_or_else(
            || Error::Decrypt {
                customer,
                field: "(data key)".into(),
                detail: "wrapped data key failed authentication",
            },
        )
    }
}

fn root_aad(store_id: &str) -> Vec<u8> {
    [b"custodian/v1/root\0".as_slice(), store_id.as_bytes()].concat()
}

fn data_key_aad(customer: CustomerId, key_id: u64) -> Vec<u8> {
    [b"custodian/v1/data-key\0".as_slice(), &customer.0.to_be_bytes(), &key_id.to_be_bytes()].concat()
}

/// A customer's data key with its id. Zeroed on drop; neither `Debug` nor `Clone`.
pub(crate) struct DataKey {
    pub(crate) id: u64,
    pub(crate) secret: Secret,
}

impl DataKey {
    pub(crate) fn generate() -> Result<Self> {
        // Key ids are random so a key id never repeats across customers or rewraps.
        Ok(DataKey { id: u64::from_be_bytes(random_bytes::<8>()?) >> 1, secret: Secret::random()? })
    }
}
