//! Credentials for hosts without a login of their own (the legacy console):
//! passwords kept only as a salted, slow hash, and TOTP second factors
//! (RFC 6238) computed with ring's HMAC.
//!
//! These are the building blocks of principal login; storing them per
//! principal, lockout and auditing each attempt belong to the store.

use std::num::NonZeroU32;

use ring::{hmac, pbkdf2};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{MIN_KDF_ITERATIONS, random_bytes};
use crate::error::{Error, Result};

/// PBKDF2-HMAC-SHA256 iterations for passwords (OWASP's 2023 figure).
pub const PASSWORD_ITERATIONS: u32 = 600_000;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A password as stored: algorithm, iteration count, salt and derived hash.
/// Never the password. `Debug` shows the parameters, not the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    /// Always `pbkdf2-hmac-sha256` for now.
    pub algorithm: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Random 16-byte salt.
    pub salt: Vec<u8>,
    /// The 32-byte derived hash.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("algorithm", &self.algorithm)
            .field("iterations", &self.iterations)
            .finish()
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh salt. Refuses passwords shorter than
    /// [`MIN_PASSWORD_CHARS`] and iteration counts below
    /// [`crate::crypto::MIN_KDF_ITERATIONS`] (100,000).
    pub fn new(password: &str, iterations: u32) -> Result<PasswordHash> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::invalid(
                "password",
                "password_length",
                format!("a password has at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        let rounds = NonZeroU32::new(iterations).filter(|n| n.get() >= MIN_KDF_ITERATIONS).ok_or_else(|| {
            Error::out_of_range("iterations", "kdf_iterations", "at least 100,000 iterations are required")
        })?;
        let salt = random_bytes::<16>()?.to_vec();
        let mut hash = Zeroizing::new([0u8; 32]);
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), hash.as_mut());
        Ok(PasswordHash { algorithm: "pbkdf2-hmac-sha256".into(), iterations, salt, hash: hash.to_vec() })
    }

    /// Whether `password` matches, compared in constant time.
    pub fn verify(&self, password: &str) -> bool {
        let Some(rounds) = NonZeroU32::new(self.iterations) else { return false };
        self.algorithm == "pbkdf2-hmac-sha256"
            && pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &self.salt, password.as_bytes(), &self.hash).is_ok()
    }
}

/// The HMAC a TOTP secret uses (RFC 6238 allows SHA-1, SHA-256, SHA-512;
/// authenticator apps mostly use SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1, the authenticator-app default.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// A TOTP second factor: a shared secret, the code length and the time step.
/// The secret is zeroed on drop; neither `Debug` nor `Clone` shows or copies it.
pub struct Totp {
    secret: Zeroizing<Vec<u8>>,
    algorithm: TotpAlgorithm,
    digits: u32,
    step_seconds: u64,
}

impl Totp {
    /// A TOTP over `secret` (at least 16 bytes), with `digits` (6 to 8)
    /// digits and a time step of `step_seconds` (usually 30).
    pub fn new(secret: &[u8], algorithm: TotpAlgorithm, digits: u32, step_seconds: u64) -> Result<Totp> {
        if secret.len() < 16 {
            return Err(Error::out_of_range(
                "totp_secret",
                "totp_secret_length",
                "a TOTP secret has at least 16 bytes",
            ));
        }
        if !(6..=8).contains(&digits) || step_seconds == 0 {
            return Err(Error::out_of_range(
                "totp",
                "totp_parameters",
                "6 to 8 digits and a time step of at least 1 s",
            ));
        }
        Ok(Totp { secret: Zeroizing::new(secret.to_vec()), algorithm, digits, step_seconds })
    }

    /// A fresh random 20-byte SHA-1 secret with 6 digits every 30 s, the
    /// parameters authenticator apps expect.
    pub fn generate() -> Result<Totp> {
        Totp::new(&random_bytes::<20>()?, TotpAlgorithm::Sha1, 6, 30)
    }

    /// The secret, for provisioning an authenticator once. Handle with care.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The HMAC algorithm.
    pub fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }

    /// The number of digits of a code.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The time step, in seconds.
    pub fn step_seconds(&self) -> u64 {
        self.step_seconds
    }

    /// The time step containing `unix_seconds`.
    pub fn step_at(&self, unix_seconds: u64) -> u64 {
        unix_seconds / self.step_seconds
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    pub fn code_for_step(&self, step: u64) -> u32 {
        let algorithm = match self.algorithm {
            TotpAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TotpAlgorithm::Sha256 => hmac::HMAC_SHA256,
            TotpAlgorithm::Sha512 => hmac::HMAC_SHA512,
        };
        let tag = hmac::sign(&hmac::Key::new(algorithm, &self.secret), &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes(mac[offset..offset + 4].try_into().expect("4 bytes")) & 0x7fff_ffff;
        binary % 10u32.pow(self.digits)
    }

    /// The code at `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> u32 {
        self.code_for_step(self.step_at(unix_seconds))
    }

    /// Checks `code` against the steps from `window` before to `window`
    /// after the one containing `unix_seconds` (clock skew), computing every
    /// candidate so the time taken does not depend on which one matched.
    /// Returns the matching step, which the caller records so that a code is
    /// accepted only once.
    pub fn verify(&self, code: &str, unix_seconds: u64, window: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let given: u32 = code.parse().ok()?;
        let now = self.step_at(unix_seconds);
        let mut matched = None;
        for step in now.saturating_sub(window)..=now.saturating_add(window) {
            // A whole-word comparison has no data-dependent timing, and every
            // step of the window is computed whether or not one matched.
            if self.code_for_step(step) ^ given == 0 {
                matched = matched.or(Some(step));
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, Appendix B: seeds and expected 8-digit codes.
    #[test]
    fn rfc_6238_test_vectors() {
        let sha1 = Totp::new(b"12345678901234567890", TotpAlgorithm::Sha1, 8, 30).unwrap();
        let sha256 = Totp::new(b"12345678901234567890123456789012", TotpAlgorithm::Sha256, 8, 30).unwrap();
        let sha512 = Totp::new(
            b"1234567890123456789012345678901234567890123456789012345678901234",
            TotpAlgorithm::Sha512,
            8,
            30,
        )
        .unwrap();
        let vectors: [(u64, u32, u32, u32); 6] = [
            (59, 94_287_082, 46_119_246, 90_693_936),
            (1_111_111_109, 7_081_804, 68_084_774, 25_091_201),
            (1_111_111_111, 14_050_471, 67_062_674, 99_943_326),
            (1_234_567_890, 89_005_924, 91_819_424, 93_441_116),
            (2_000_000_000, 69_279_037, 90_698_825, 38_618_901),
            (20_000_000_000, 65_353_130, 77_737_706, 47_863_826),
        ];
        for (time, want1, want256, want512) in vectors {
            assert_eq!(sha1.code_at(time), want1, "SHA-1 at {time}");
            assert_eq!(sha256.code_at(time), want256, "SHA-256 at {time}");
            assert_eq!(sha512.code_at(time), want512, "SHA-512 at {time}");
        }
        assert_eq!(sha1.verify("07081804", 1_111_111_109, 0), Some(1_111_111_109 / 30));
    }

    #[test]
    fn verification_allows_skew_and_refuses_the_rest() {
        let totp = Totp::generate().unwrap();
        let now = 1_800_000_000;
        let code = format!("{:06}", totp.code_at(now - 30));
        assert_eq!(totp.verify(&code, now, 1), Some(totp.step_at(now) - 1), "one step of skew");
        assert_eq!(totp.verify(&code, now + 60, 1), None, "too old");
        assert_eq!(totp.verify("12345", now, 1), None, "wrong length");
        assert_eq!(totp.verify("12a456", now, 1), None, "not digits");
        assert!(Totp::new(&[0u8; 15], TotpAlgorithm::Sha1, 6, 30).is_err());
        assert!(Totp::new(&[0u8; 20], TotpAlgorithm::Sha1, 9, 30).is_err());
    }

    #[test]
    fn passwords_are_salted_slow_hashes() {
        let a = PasswordHash::new("correct horse battery", MIN_KDF_ITERATIONS).unwrap();
        let b = PasswordHash::new("correct horse battery", MIN_KDF_ITERATIONS).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash, "the same password hashes differently under different salts");
        assert!(a.verify("correct horse battery"));
        assert!(!a.verify("correct horse batterY"));
        assert!(!format!("{a:?}").contains("hash:"), "Debug shows no hash");
        assert!(matches!(
            PasswordHash::new("short", MIN_KDF_ITERATIONS),
            Err(Error::Invalid { rule: "password_length", .. })
        ));
        assert!(matches!(
            PasswordHash::new("long enough pw", MIN_KDF_ITERATIONS - 1),
            Err(Error::InvalidArgument { rule: "kdf_iterations", .. })
        ));
        let mut tampered = a.clone();
        tampered.iterations = 0;
        assert!(!tampered.verify("correct horse battery"));
    }
}
