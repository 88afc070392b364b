//! Share packages: a share's minimised records sealed to the recipient's
//! X25519 public key, for transmission.
//!
//! # Format (`custodian-share-package/1`)
//!
//! ```text
//! magic      8 bytes   "CUSTSHR1"
//! length     4 bytes   big-endian length n of the manifest (at most 1 MiB)
//! manifest   n bytes   UTF-8 JSON: format, share, recipient, recipient_key,
//!                      ephemeral_key, purpose, agreement, fields, count,
//!                      created_at, expires_at (keys hex, times Unix ms)
//! sealed     rest-32   AES-256-GCM ciphertext and 16-byte tag of the content
//! hash       32 bytes  SHA-256 of every byte before it
//! ```
//!
//! The content is UTF-8 JSON: `{"customers": [{"id": 12, "fields":
//! {"name": "…", "mobile": "…"}, "withheld": ["id_number"]}]}`; `withheld`
//! lists granted fields left out for that customer (an L1 field without
//! consent covering sensitive data).
//!
//! # Key schedule (HPKE-style, base mode)
//!
//! The sender makes a fresh ephemeral X25519 key pair for every package, so
//! each content key is used once:
//!
//! 1. `dh = X25519(ephemeral_secret, recipient_key)`; an all-zero result
//!    (a low-order recipient key) is refused;
//! 2. `prk = HKDF-Extract(salt = "custodian/v1/share-package", dh)` with
//!    SHA-256;
//! 3. `key = HKDF-Expand(prk, info = ephemeral_key ‖ recipient_key, 32)`;
//! 4. the content is sealed with AES-256-GCM under `key`, nonce twelve zero
//!    bytes, and additional data the magic, length and manifest exactly as
//!    they appear in the package, so the manifest cannot be changed without
//!    the tag failing.
//!
//! The trailing hash lets anyone check a package arrived whole without the
//! key ([`verify`]); only the recipient's secret opens it ([`open`]). Any
//! language with X25519, HKDF-SHA256 and AES-GCM can open one in a dozen
//! lines: the README shows it in Python with `cryptography`.

use std::collections::BTreeMap;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::digest::{SHA256, digest};
use ring::hkdf::{HKDF_SHA256, Salt};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// The first eight bytes of every package.
pub const MAGIC: &[u8; 8] = b"CUSTSHR1";
/// The manifest's `format`.
pub const FORMAT: &str = "custodian-share-package/1";
/// The HKDF salt of the key schedule.
const SALT: &[u8] = b"custodian/v1/share-package";
/// Longest manifest accepted.
const MAX_MANIFEST: usize = 1 << 20;
const HASH_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// What a package says about itself, readable without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The share it was made from.
    pub share: u64,
    /// The recipient's id.
    pub recipient: String,
    /// The public key it is sealed to, hex.
    pub recipient_key: String,
    /// The sender's ephemeral public key, hex.
    pub ephemeral_key: String,
    /// The share's purpose.
    pub purpose: String,
    /// The agreement's reference.
    pub agreement: String,
    /// The fields granted, by name.
    pub fields: Vec<String>,
    /// How many customers it holds.
    pub count: u64,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When the share ends (Unix ms): the recipient may keep the data no longer.
    pub expires_at: i64,
}

/// A verified package's manifest and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPackage {
    /// The manifest.
    pub manifest: PackageManifest,
    /// The package's SHA-256 (its last 32 bytes), hex: the audit entry of
    /// the package's making names it.
    pub sha256: String,
}

/// One customer's granted values in an opened package. `Debug` shows no
/// value; the values are zeroed on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedCustomer {
    /// The customer's id in the sender's store.
    pub id: u64,
    /// The values, by field name.
    pub fields: BTreeMap<String, String>,
    /// Granted fields left out for this customer.
    #[serde(default)]
    pub withheld: Vec<String>,
}

impl std::fmt::Debug for PackagedCustomer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackagedCustomer")
            .field("id", &self.id)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("withheld", &self.withheld)
            .finish()
    }
}

impl Drop for PackagedCustomer {
    fn drop(&mut self) {
        for value in self.fields.values_mut() {
            value.zeroize();
        }
    }
}

/// An opened package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPackage {
    /// Its manifest.
    pub manifest: PackageManifest,
    /// Its hash, hex.
    pub sha256: String,
    /// The customers, by id.
    pub customers: Vec<PackagedCustomer>,
}

#[derive(Serialize, Deserialize)]
struct Content {
    customers: Vec<PackagedCustomer>,
}

/// A recipient's X25519 secret key: what opens packages sealed to it. Kept
/// by the recipient, never by the sending store. `Debug` shows only the
/// public key; the secret is zeroed on drop.
pub struct RecipientSecret(x25519_dalek::StaticSecret);

impl RecipientSecret {
    /// A new random secret (from the operating system's generator).
    pub fn generate() -> Result<RecipientSecret> {
        use ring::rand::SecureRandom;
        let mut bytes = Zeroizing::new([0u8; 32]);
        // Straight from the OS, not the store's pooled generator: a long-lived secret.
        ring::rand::SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Crypto("system random number generator failed"))?;
        Ok(RecipientSecret::from_bytes(*bytes))
    }

    /// The secret from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> RecipientSecret {
        RecipientSecret(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The secret's 32 bytes, for the recipient to keep.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key to register with the sender.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }
}

impl std::fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecipientSecret(public {})", crate::audit::hex(&self.public_key()))
    }
}

fn rejected(detail: impl Into<String>) -> Error {
    Error::Package(detail.into())
}

/// Checks that `key` can receive packages: 32 bytes and not of low order
/// (an agreement with it must give a non-zero secret).
pub(crate) fn check_public_key(key: &[u8; 32]) -> Result<()> {
    let rng = ring::rand::SystemRandom::new();
    let ephemeral = EphemeralPrivateKey::generate(&X25519, &rng).map_err(|_| Error::Crypto("X25519 key generation"))?;
    agreement::agree_ephemeral(ephemeral, &UnparsedPublicKey::new(&X25519, key), |dh| dh.iter().any(|b| *b != 0))
        .ok()
        .filter(|nonzero| *nonzero)
        .map(drop)
        .ok_or_else(|| Error::invalid("public_key", "recipient_public_key", "not a usable X25519 public key"))
}

/// The content key for one package.
fn content_key(dh: &[u8], ephemeral: &[u8], recipient: &[u8]) -> Result<LessSafeKey> {
    if dh.iter().all(|b| *b == 0) {
        return Err(rejected("the key agreement gave an all-zero secret (a low-order key)"));
    }
    let prk = Salt::new(HKDF_SHA256, SALT).extract(dh);
    let info = [ephemeral, recipient];
    let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| Error::Crypto("HKDF expand"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Seals `customers` under `manifest` (its `ephemeral_key` and `count` are
/// filled in here) to the manifest's recipient key. Returns the package
/// and its hash (hex).
pub(crate) fn seal(
    mut manifest: PackageManifest,
    recipient_key: &[u8; 32],
    customers: Vec<PackagedCustomer>,
) -> Result<(Vec<u8>, String)> {
    let rng = ring::rand::SystemRandom::new();
    let ephemeral = EphemeralPrivateKey::generate(&X25519, &rng).map_err(|_| Error::Crypto("X25519 key generation"))?;
    let ephemeral_public = ephemeral.compute_public_key().map_err(|_| Error::Crypto("X25519 public key"))?;
    manifest.format = FORMAT.into();
    manifest.recipient_key = crate::audit::hex(recipient_key);
    manifest.ephemeral_key = crate::audit::hex(ephemeral_public.as_ref());
    manifest.count = customers.len() as u64;
    let header = serde_json::to_vec(&manifest).map_err(|e| Error::storage_caused("package manifest", e))?;
    let mut package = Vec::with_capacity(header.len() + 64);
    package.extend_from_slice(MAGIC);
    package.extend_from_slice(&(header.len() as u32).to_be_bytes());
    package.extend_from_slice(&header);
    let mut sealed = Zeroizing::new(
        serde_json::to_vec(&Content { customers }).map_err(|e| Error::storage_caused("package content", e))?,
    );
    let key = agreement::agree_ephemeral(ephemeral, &UnparsedPublicKey::new(&X25519, recipient_key), |dh| {
        content_key(dh, ephemeral_public.as_ref(), recipient_key)
    })
    .map_err(|_| Error::invalid("public_key", "recipient_public_key", "not a usable X25519 public key"))??;
    // The plaintext buffer is sealed in place and so holds only ciphertext
    // afterwards; a failure leaves it to Zeroizing.
    let mut buffer = std::mem::take(&mut *sealed);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::from(&package[..]), &mut buffer)
        .map_err(|_| Error::Crypto("AES-256-GCM seal"))?;
    package.extend_from_slice(&buffer);
    let hash = digest(&SHA256, &package);
    package.extend_from_slice(hash.as_ref());
    Ok((package, crate::audit::hex(hash.as_ref())))
}

/// The parts of a package: where the manifest ends, and the manifest.
fn parse(package: &[u8]) -> Result<(usize, PackageManifest)> {
    if package.len() < MAGIC.len() || &package[..MAGIC.len()] != MAGIC {
        return Err(rejected("not a custodian share package (the magic bytes are missing)"));
    }
    let Some(length) = package.get(8..12) else { return Err(rejected("truncated within the manifest length")) };
    let length = u32::from_be_bytes(length.try_into().expect("four bytes")) as usize;
    if length > MAX_MANIFEST {
        return Err(rejected(format!("the manifest length {length} exceeds {MAX_MANIFEST} bytes")));
    }
    let header_end = 12 + length;
    if package.len() < header_end + TAG_LEN + HASH_LEN {
        return Err(rejected(format!(
            "truncated: {} bytes, at least {} expected",
            package.len(),
            header_end + TAG_LEN + HASH_LEN
        )));
    }
    let body_end = package.len() - HASH_LEN;
    if digest(&SHA256, &package[..body_end]).as_ref() != &package[body_end..] {
        return Err(rejected("altered or truncated: the SHA-256 at its end does not match its contents"));
    }
    let manifest: PackageManifest = serde_json::from_slice(&package[12..header_end])
        .map_err(|e| rejected(format!("the manifest is unreadable: {e}")))?;
    if manifest.format != FORMAT {
        return Err(rejected(format!("unknown package format '{}'", manifest.format)));
    }
    Ok((header_end, manifest))
}

/// Checks a package without its key: the format, the manifest, and the
/// hash over everything (so a truncated or altered package is refused).
/// Returns the manifest and hash.
pub fn verify(package: &[u8]) -> Result<VerifiedPackage> {
    let (_, manifest) = parse(package)?;
    Ok(VerifiedPackage { manifest, sha256: crate::audit::hex(&package[package.len() - HASH_LEN..]) })
}

fn key_of(hex: &str, what: &str) -> Result<[u8; 32]> {
    crate::audit::hex_decode(hex)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| rejected(format!("the manifest's {what} is not a 32-byte hex key")))
}

/// Opens a package with the recipient's secret: verified as by [`verify`],
/// then decrypted (which also authenticates the manifest). Refused with
/// [`Error::Package`] if it is sealed to another key, altered, truncated
/// or not a package.
pub fn open(package: &[u8], secret: &RecipientSecret) -> Result<OpenedPackage> {
    let (header_end, manifest) = parse(package)?;
    let recipient_key = key_of(&manifest.recipient_key, "recipient_key")?;
    if recipient_key != secret.public_key() {
        return Err(rejected(format!(
            "sealed to another key ({}), not to this secret's public key",
            manifest.recipient_key
        )));
    }
    let ephemeral = key_of(&manifest.ephemeral_key, "ephemeral_key")?;
    let dh = secret.0.diffie_hellman(&x25519_dalek::PublicKey::from(ephemeral));
    let key = content_key(dh.as_bytes(), &ephemeral, &recipient_key)?;
    let body_end = package.len() - HASH_LEN;
    let mut buffer = Zeroizing::new(package[header_end..body_end].to_vec());
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key([0; 12]), Aad::from(&package[..header_end]), &mut buffer)
        .map_err(|_| rejected("the content failed to decrypt: the manifest or content was altered"))?;
    let content: Content =
        serde_json::from_slice(plain).map_err(|e| rejected(format!("the content is unreadable: {e}")))?;
    if content.customers.len() as u64 != manifest.count {
        return Err(rejected(format!(
            "the manifest counts {} customers, the content holds {}",
            manifest.count,
            content.customers.len()
        )));
    }
    Ok(OpenedPackage { manifest, sha256: crate::audit::hex(&package[body_end..]), customers: content.customers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> PackageManifest {
        PackageManifest {
            format: String::new(),
            share: 7,
            recipient: "acme".into(),
            recipient_key: String::new(),
            ephemeral_key: String::new(),
            purpose: "delivery".into(),
            agreement: "DPA-1".into(),
            fields: vec!["name".into(), "mobile".into()],
            count: 0,
            created_at: 1,
            expires_at: 2,
        }
    }

    fn customer(id: u64, mobile: &str) -> PackagedCustomer {
        PackagedCustomer {
            id,
            fields: [("mobile".to_owned(), mobile.to_owned())].into_iter().collect(),
            withheld: vec![],
        }
    }

    #[test]
    fn a_package_opens_with_its_secret_only_and_whole_only() {
        let secret = RecipientSecret::generate().unwrap();
        let (package, hash) = seal(manifest(), &secret.public_key(), vec![customer(1, "13800138000")]).unwrap();
        assert!(!package.windows(11).any(|w| w == b"13800138000"), "the value is sealed");
        let opened = open(&package, &secret).unwrap();
        assert_eq!(opened.sha256, hash);
        assert_eq!(opened.manifest.count, 1);
        assert_eq!(opened.customers[0].fields["mobile"], "13800138000");
        assert_eq!(verify(&package).unwrap().manifest, opened.manifest);

        let other = RecipientSecret::generate().unwrap();
        assert!(matches!(open(&package, &other), Err(Error::Package(m)) if m.contains("another key")));
        for cut in [0, 5, 11, 40, package.len() - 1] {
            assert!(matches!(open(&package[..cut], &secret), Err(Error::Package(_))), "cut at {cut}");
        }
        let mut hash_flipped = package.clone();
        *hash_flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(open(&hash_flipped, &secret), Err(Error::Package(_))));
        // Any flipped bit before the hash is refused: by the hash, or (hash
        // recomputed) by the tag, the magic or the manifest's parser.
        for at in [3, 9, 20, package.len() - 40, package.len() - HASH_LEN - 1] {
            let mut altered = package.clone();
            altered[at] ^= 1;
            assert!(matches!(open(&altered, &secret), Err(Error::Package(_))), "flip at {at}");
            let body = altered.len() - HASH_LEN;
            let rehashed = digest(&SHA256, &altered[..body]);
            altered[body..].copy_from_slice(rehashed.as_ref());
            assert!(open(&altered, &secret).is_err(), "flip at {at}, rehashed");
        }
    }

    #[test]
    fn low_order_keys_are_refused() {
        assert!(check_public_key(&[0; 32]).is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(check_public_key(&one).is_err());
        assert!(check_public_key(&RecipientSecret::generate().unwrap().public_key()).is_ok());
        let secret = RecipientSecret::generate().unwrap();
        assert!(!format!("{secret:?}").contains(&crate::audit::hex(secret.to_bytes().as_ref())));
    }
}
