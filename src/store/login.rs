//! Login for hosts without one of their own (the legacy console), and the
//! first administrator.
//!
//! A principal may have a password (kept only as a salted PBKDF2 hash) and a
//! TOTP second factor (its secret sealed under a key derived from the
//! store's root secret). [`Store::login`] checks both and opens a session
//! whose authentication context says whether a second factor was verified.
//! Every attempt, failed or not, is audited (`principal.login`); after
//! [`LoginPolicy::max_failures`] consecutive failures the principal is
//! locked for [`LoginPolicy::lockout_secs`].

use serde::{Deserialize, Serialize};

use super::directory::{active_principal, load, load_all, register, save};
use super::engine::{self, Call, Caller};
use super::session::Session;
use super::{Store, StoreInner};
use crate::access::credentials::{PASSWORD_ITERATIONS, PasswordHash, Totp, TotpAlgorithm};
use crate::access::{
    Action, AuthContext, Grant, NewPrincipal, Principal, Purpose, Role, check_principal_id, check_text, rules,
};
use crate::crypto::{aead_key, open, seal_into};
use crate::error::{Error, Result};
use crate::storage::{DirectoryKind, Transaction, TxMode};

/// Who registered the first administrator, as principal records say.
const BOOTSTRAP: &str = "(bootstrap)";

/// How logins are checked: `LoginPolicy::new().max_failures(3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginPolicy {
    /// Consecutive failed attempts that lock the principal (at least 1).
    pub max_failures: u32,
    /// How long a lock lasts, in seconds.
    pub lockout_secs: u64,
    /// PBKDF2 iterations for passwords set from now on (at least
    /// [`crate::crypto::MIN_KDF_ITERATIONS`], 100,000).
    pub password_iterations: u32,
    /// TOTP steps of clock skew accepted either side of now.
    pub totp_window: u64,
}

impl LoginPolicy {
    /// The defaults: 5 failures lock for 15 minutes; 600,000 iterations; ±1 TOTP step.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consecutive failed attempts that lock the principal (at least 1).
    pub fn max_failures(mut self, failures: u32) -> Self {
        self.max_failures = failures;
        self
    }

    /// How long a lock lasts, in seconds.
    pub fn lockout_secs(mut self, secs: u64) -> Self {
        self.lockout_secs = secs;
        self
    }

    /// PBKDF2 iterations for passwords set from now on (at least 100,000).
    pub fn password_iterations(mut self, iterations: u32) -> Self {
        self.password_iterations = iterations;
        self
    }

    /// TOTP steps of clock skew accepted either side of now.
    pub fn totp_window(mut self, steps: u64) -> Self {
        self.totp_window = steps;
        self
    }
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy { max_failures: 5, lockout_secs: 15 * 60, password_iterations: PASSWORD_ITERATIONS, totp_window: 1 }
    }
}

/// A principal's login credentials as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    password: Option<PasswordHash>,
    totp: Option<SealedTotp>,
    /// Consecutive failed attempts since the last success or lock.
    failures: u32,
    /// Locked until this time (Unix ms).
    locked_until: Option<i64>,
    /// The last TOTP step accepted: a code is accepted only once.
    last_totp_step: Option<u64>,
}

/// A TOTP secret sealed (AES-256-GCM, AAD = principal id) with its parameters.
#[derive(Serialize, Deserialize)]
struct SealedTotp {
    algorithm: TotpAlgorithm,
    digits: u32,
    step_seconds: u64,
    sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTotp").field("algorithm", &self.algorithm).field("digits", &self.digits).finish()
    }
}

fn totp_aad(principal: &str) -> Vec<u8> {
    [b"custodian/v1/totp\0".as_slice(), principal.as_bytes()].concat()
}

impl StoreInner {
    fn seal_totp(&self, principal: &str, totp: &Totp) -> Result<SealedTotp> {
        let mut sealed = Vec::new();
        seal_into(&aead_key(self.credential_key.bytes()), &totp_aad(principal), totp.secret(), &mut sealed)?;
        Ok(SealedTotp { algorithm: totp.algorithm(), digits: totp.digits(), step_seconds: totp.step_seconds(), sealed })
    }

    fn open_totp(&self, principal: &str, sealed: &SealedTotp) -> Result<Totp> {
        let secret = open(&aead_key(self.credential_key.bytes()), &totp_aad(principal), &sealed.sealed)
            .ok_or_else(|| Error::corrupt(format!("the TOTP secret of principal '{principal}' failed to decrypt")))?;
        Totp::new(&secret, sealed.algorithm, sealed.digits, sealed.step_seconds)
    }
}

/// Why a login attempt failed, for the audit entry (never shown to the caller).
enum Failure {
    NoPassword,
    WrongPassword,
    CodeMissing,
    CodeWrong,
    CodeReused,
    CodeUnexpected,
}

impl Failure {
    fn describe(&self) -> &'static str {
        match self {
            Failure::NoPassword => "the principal has no password",
            Failure::WrongPassword => "wrong password",
            Failure::CodeMissing => "a one-time code is required and none was given",
            Failure::CodeWrong => "wrong one-time code",
            Failure::CodeReused => "the one-time code was already used",
            Failure::CodeUnexpected => "a one-time code was given but none is enrolled",
        }
    }
}

impl Store {
    /// Replaces the login policy. Only possible before the store is shared
    /// or a session is opened.
    pub fn with_login_policy(mut self, policy: LoginPolicy) -> Result<Store> {
        self.set_login_policy(policy)?;
        Ok(self)
    }

    /// [`Store::with_login_policy`] in place.
    pub fn set_login_policy(&mut self, policy: LoginPolicy) -> Result<()> {
        if policy.max_failures == 0 || policy.password_iterations < crate::crypto::MIN_KDF_ITERATIONS {
            return Err(Error::out_of_range(
                "login_policy",
                "login_policy",
                "at least one failure before a lock, and at least 100,000 PBKDF2 iterations",
            ));
        }
        let inner = std::sync::Arc::get_mut(&mut self.inner).ok_or_else(|| {
            Error::invalid(
                "login_policy",
                "store_shared",
                "the login policy can only be set before the store is cloned or a session is opened",
            )
        })?;
        inner.login_policy = policy;
        Ok(())
    }

    /// Registers the first administrator of a store. Allowed only while no
    /// active principal holds a current administrator grant (a new store, or
    /// one whose administrators all left); audited as `principal.bootstrap`.
    /// The host that holds the master key is the root of trust here.
    pub fn bootstrap_administrator(&self, new: &NewPrincipal) -> Result<Principal> {
        check_principal_id(&new.id)?;
        check_text("display_name", &new.display_name, 64)?;
        let caller = Caller::Host { principal: &new.id, purpose: Purpose::Maintenance, mfa: false };
        let call = Call::new(Action::Manage, "principal.bootstrap").targeting(&new.id);
        engine::run(&self.inner, caller, call, |store, tx, _, trail| {
            let now = store.clock.now_millis();
            let principals: Vec<Principal> = load_all(tx, DirectoryKind::Principal)?;
            let admin = principals.iter().find(|p| p.current_roles(now).contains(&Role::Administrator));
            if let Some(admin) = admin {
                return Err(Error::Denied {
                    rule: rules::BOOTSTRAP_CLOSED,
                    reason: format!("principal '{}' is already an active administrator", admin.id),
                });
            }
            let grant = Grant {
                role: Role::Administrator,
                granted_at: now,
                granted_by: BOOTSTRAP.into(),
                expires_at: None,
                last_used: None,
            };
            let principal = register(tx, new, now, BOOTSTRAP, vec![grant])?;
            trail.changed.push("grant.administrator".into());
            Ok(principal)
        })
    }

    /// Logs principal `principal_id` in with its password and, if it has a
    /// TOTP second factor enrolled, the current one-time `code`, and opens a
    /// session for `purpose`. With both factors verified the session is an
    /// MFA session (L1 plaintext where the roles allow it); with a password
    /// alone it is single-factor.
    ///
    /// Every attempt is audited as `principal.login`. A failure is reported
    /// as [`Error::Denied`] with rule `login.failed` and does not say which
    /// factor was wrong (the audit entry does); after
    /// [`LoginPolicy::max_failures`] consecutive failures the principal is
    /// refused with rule `login.locked` until the lock expires, even with the
    /// right credentials.
    pub fn login(&self, principal_id: &str, password: &str, code: Option<&str>, purpose: Purpose) -> Result<Session> {
        check_principal_id(principal_id)?;
        let inner = &self.inner;
        let caller = Caller::Host { principal: principal_id, purpose: purpose.clone(), mfa: false };
        let call = Call::new(Action::Read, "principal.login").targeting(principal_id);
        // The slow hash is checked outside any write transaction, so a login
        // never holds the write lock for the length of PBKDF2.
        let check_password = || {
            let mut tx = inner.backend.begin(TxMode::Read)?;
            let credentials: Option<Credentials> = load(tx.as_mut(), DirectoryKind::Credential, principal_id)?;
            Ok(credentials.as_ref().and_then(|c| c.password.as_ref()).is_some_and(|hash| hash.verify(password)))
        };
        let (id, auth) = engine::run_after(inner, caller, call, check_password, |password_ok, store, tx, _, trail| {
            let now = store.clock.now_millis();
            let principal = active_principal(tx, principal_id).map_err(|e| {
                trail.reason = Some(format!("refused: principal '{principal_id}' is unknown or revoked"));
                // An unknown id is reported like any other failure.
                if matches!(&e, Error::Denied { rule, .. } if *rule == rules::PRINCIPAL_UNKNOWN) {
                    login_failed()
                } else {
                    e
                }
            })?;
            // Re-read inside the write transaction: counters are updated atomically.
            let mut credentials: Credentials = load(tx, DirectoryKind::Credential, &principal.id)?.unwrap_or_default();
            if let Some(until) = credentials.locked_until.filter(|until| now < *until) {
                return Err(Error::Denied {
                    rule: rules::LOGIN_LOCKED,
                    reason: format!(
                        "principal '{principal_id}' is locked after repeated failed logins until {until} (Unix ms)"
                    ),
                });
            }
            match check_factors(store, &principal.id, &credentials, password_ok, code, now) {
                Ok((mfa, step)) => {
                    credentials.failures = 0;
                    credentials.locked_until = None;
                    if step.is_some() {
                        credentials.last_totp_step = step;
                    }
                    save(tx, DirectoryKind::Credential, &principal.id, &credentials)?;
                    trail.mfa = Some(mfa);
                    let auth = if mfa {
                        AuthContext::with_mfa(now)
                    } else {
                        AuthContext { mfa: false, authenticated_at: Some(now) }
                    };
                    Ok((principal.id, auth))
                }
                Err(failure) => {
                    credentials.failures += 1;
                    let mut reason = failure.describe().to_owned();
                    if credentials.failures >= store.login_policy.max_failures {
                        let until = now.saturating_add(store.login_policy.lockout_secs.saturating_mul(1000) as i64);
                        credentials.locked_until = Some(until);
                        reason.push_str(&format!(
                            "; {} consecutive failures: locked until {until} (Unix ms)",
                            credentials.failures
                        ));
                        credentials.failures = 0;
                    }
                    save(tx, DirectoryKind::Credential, &principal.id, &credentials)?;
                    // The failure count persists with the refusal's entry.
                    trail.reason = Some(reason);
                    trail.keep_refusal = true;
                    Err(login_failed())
                }
            }
        })?;
        Ok(Session::new(self.inner.clone(), id, purpose, auth, None))
    }
}

/// Checks the password verdict and the one-time code: `Ok((mfa, step))`.
fn check_factors(
    inner: &StoreInner,
    principal: &str,
    credentials: &Credentials,
    password_ok: bool,
    code: Option<&str>,
    now: i64,
) -> std::result::Result<(bool, Option<u64>), Failure> {
    if credentials.password.is_none() {
        return Err(Failure::NoPassword);
    }
    if !password_ok {
        return Err(Failure::WrongPassword);
    }
    let Some(sealed) = &credentials.totp else {
        return if code.is_some() { Err(Failure::CodeUnexpected) } else { Ok((false, None)) };
    };
    let code = code.ok_or(Failure::CodeMissing)?;
    let totp = inner.open_totp(principal, sealed).map_err(|_| Failure::CodeWrong)?;
    let seconds = u64::try_from(now.div_euclid(1000)).unwrap_or(0);
    let step = totp.verify(code, seconds, inner.login_policy.totp_window).ok_or(Failure::CodeWrong)?;
    if credentials.last_totp_step.is_some_and(|last| step <= last) {
        return Err(Failure::CodeReused);
    }
    Ok((true, Some(step)))
}

fn login_failed() -> Error {
    Error::Denied { rule: rules::LOGIN_FAILED, reason: "the principal id, password or one-time code is wrong".into() }
}

impl Session {
    /// Sets (or replaces) principal `id`'s password, kept only as a salted
    /// PBKDF2 hash. Needs `manage`.
    pub fn set_password(&self, id: &str, password: &str) -> Result<()> {
        let hash = PasswordHash::new(password, self.store().login_policy.password_iterations);
        self.change_credentials(Call::new(Action::Manage, "principal.set_password").targeting(id), id, |_, c| {
            c.password = Some(hash?);
            Ok(())
        })
    }

    /// Enrols a fresh TOTP second factor for principal `id` (replacing any
    /// earlier one) and returns it, so its secret can be handed to the
    /// person's authenticator app once. Needs `manage`.
    pub fn enrol_totp(&self, id: &str) -> Result<Totp> {
        let totp = Totp::generate()?;
        self.change_credentials(Call::new(Action::Manage, "principal.enrol_totp").targeting(id), id, |store, c| {
            c.totp = Some(store.seal_totp(id, &totp)?);
            c.last_totp_step = None;
            Ok(())
        })?;
        Ok(totp)
    }

    /// Lifts a login lock on principal `id` and clears its failure count. Needs `manage`.
    pub fn unlock_principal(&self, id: &str) -> Result<()> {
        self.change_credentials(Call::new(Action::Manage, "principal.unlock").targeting(id), id, |_, c| {
            c.failures = 0;
            c.locked_until = None;
            Ok(())
        })
    }

    fn change_credentials(
        &self,
        call: Call,
        id: &str,
        change: impl FnOnce(&StoreInner, &mut Credentials) -> Result<()>,
    ) -> Result<()> {
        self.run(call, |store, tx: &mut dyn Transaction, _, _| {
            active_principal(tx, id).map_err(|_| {
                Error::invalid("principal", "principal_unknown", format!("principal '{id}' is not an active principal"))
            })?;
            let mut credentials: Credentials = load(tx, DirectoryKind::Credential, id)?.unwrap_or_default();
            change(store, &mut credentials)?;
            save(tx, DirectoryKind::Credential, id, &credentials)
        })
    }
}
