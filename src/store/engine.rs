//! The audited call: the one road by which anything reads customer data or
//! changes the store.
//!
//! [`run`] owns the whole sequence, so no caller can leave a step out:
//!
//! 1. choose the transaction mode (only calls that create or destroy keys
//!    lock the key store);
//! 2. for a session, resolve its principal and grants inside the call's own
//!    transaction, authorise the action and check a restriction of
//!    processing on the customer the call names;
//! 3. run the operation;
//! 4. append the audit entry in the same transaction, commit, and only then
//!    return the result (which may hold plaintext);
//! 5. hand every checkpoint that fell due to the host's sink, and after a
//!    destruction empty the write-ahead logs, so nothing it destroyed
//!    survives in any file of the store when the call returns;
//! 6. on a refusal or failure, roll back and record it in a transaction of
//!    its own (or, for a refusal whose bookkeeping must persist, such as a
//!    failed login's counter, commit that with the refusal's entry).
//!
//! Calls come from sessions ([`Caller::Session`]), from a recipient's
//! session on a share ([`Caller::Recipient`]), or from the host on its own
//! authority ([`Caller::Host`]: the store itself, a bootstrap, a login or a
//! session being opened), whose principal is recorded but not authorised
//! by the policy: the host holds the master key.

use super::StoreInner;
use super::session::Session;
use super::sharing::ShareSession;
use crate::access::{Action, FieldPlan, Purpose};
use crate::audit::{Appended, AuditEntry, Checkpoint, Outcome, Trail};
use crate::error::{Error, Result};
use crate::model::CustomerId;
use crate::retention::Destruction;
use crate::storage::{Transaction, TxMode};

/// The principal id under which the store records what it does itself.
pub(crate) const STORE_PRINCIPAL: &str = "(store)";

/// Who makes an audited call.
pub(crate) enum Caller<'a> {
    /// A session: authorised by the policy on every call.
    Session(&'a Session),
    /// A recipient's session on one share: authorised by the share, its
    /// recipient and agreement on every call.
    Recipient(&'a ShareSession),
    /// The host, on its own authority: recorded as `principal` acting for
    /// `purpose`, not authorised by the policy.
    Host {
        /// The principal the entry names (the store itself, or the
        /// principal being bootstrapped, logged in or given a session).
        principal: &'a str,
        /// The purpose recorded.
        purpose: Purpose,
        /// Whether a second factor was verified (a login may raise it).
        mfa: bool,
    },
}

impl<'a> Caller<'a> {
    /// The store acting for itself (backups, restores, rotation, the ledger).
    pub(crate) fn store(purpose: Purpose) -> Caller<'a> {
        Caller::Host { principal: STORE_PRINCIPAL, purpose, mfa: false }
    }

    fn principal(&self) -> &str {
        match self {
            Caller::Session(session) => session.principal_id(),
            Caller::Recipient(session) => session.principal(),
            Caller::Host { principal, .. } => principal,
        }
    }

    fn purpose(&self) -> &Purpose {
        match self {
            Caller::Session(session) => session.purpose(),
            Caller::Recipient(session) => session.purpose(),
            Caller::Host { purpose, .. } => purpose,
        }
    }

    fn mfa(&self) -> bool {
        match self {
            Caller::Session(session) => session.auth().mfa,
            Caller::Recipient(_) => false,
            Caller::Host { mfa, .. } => *mfa,
        }
    }

    /// Authorises `call` inside `tx`: the plan the operation runs under.
    fn authorise(&self, tx: &mut dyn Transaction, call: &Call) -> Result<FieldPlan> {
        match self {
            Caller::Session(session) => {
                // The principal and its grants are read inside the call's own
                // transaction: a revocation committed before it is always seen.
                let plan = session.authorise(tx, call.action, true)?;
                // A customer who restricted processing is refused to every
                // purpose but compliance.
                if let Some(id) = call.subject {
                    session.check_restriction(tx, id)?;
                }
                Ok(plan)
            }
            // The share's fields, while the share, its recipient and the
            // agreement are in effect.
            Caller::Recipient(session) => session.authorise(tx, call.action),
            // The host reads no customer values through a plan.
            Caller::Host { .. } => Ok(FieldPlan::nothing()),
        }
    }
}

/// One audited call: what the policy decides on, what the audit entry
/// calls it, and what it concerns.
pub(crate) struct Call {
    pub(crate) action: Action,
    pub(crate) name: &'static str,
    /// The customer the call is about, if any.
    pub(crate) subject: Option<CustomerId>,
    /// The principal or role a management call concerns.
    pub(crate) target: Option<String>,
    /// For a destruction: its method and reason (the destruction record).
    pub(crate) destruction: Option<Destruction>,
    /// Which customers the destruction erases (the host gets an erasure
    /// receipt for each): those the entry names, one of them, or none (when
    /// it destroys some of their records).
    erases: Erases,
    /// Whether the call writes the key store although its action alone
    /// would not say so (a key rotation, the erasure ledger's replay).
    writes_keys: bool,
    /// Whether the call creates or deletes without touching a key although
    /// its action would say so (attached records live under their
    /// customer's existing key).
    keyless: bool,
    /// Whether what the call destroys must be gone from every file of the
    /// store before it returns (erasures, deletions: the logs are purged
    /// after the commit), or `Deferred` to the end of a batch of them.
    purge: Purge,
}

/// Which of the customers a call names it erases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Erases {
    /// None (it destroys nothing, or only attached records).
    Nothing,
    /// Every customer its audit entry names.
    Named,
    /// Only this one (a merge names the survivor too).
    Only(CustomerId),
}

/// When a destroying call empties the store's write-ahead logs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purge {
    /// It destroys nothing.
    No,
    /// After its commit, before it returns.
    OnReturn,
    /// The caller purges once at the end of a batch (a sweep).
    Deferred,
}

impl Call {
    pub(crate) fn new(action: Action, name: &'static str) -> Self {
        let purge = if action == Action::Delete { Purge::OnReturn } else { Purge::No };
        Call {
            action,
            name,
            subject: None,
            target: None,
            destruction: None,
            erases: Erases::Nothing,
            writes_keys: false,
            keyless: false,
            purge,
        }
    }

    pub(crate) fn about(action: Action, name: &'static str, subject: CustomerId) -> Self {
        Call { subject: Some(subject), ..Call::new(action, name) }
    }

    /// Names the principal (or `role:<name>`) the call concerns.
    pub(crate) fn targeting(mut self, target: &str) -> Self {
        // Principal ids are checked before they are stored; a hostile one
        // still cannot grow an audit entry without bound.
        self.target = Some(target.chars().take(80).collect());
        self
    }

    /// Records the destruction this call performs; its bytes are purged
    /// from the store's files before it returns.
    pub(crate) fn destroying(mut self, destruction: Destruction) -> Self {
        self.destruction = Some(destruction);
        self.erases = Erases::Named;
        self.purge = Purge::OnReturn;
        self
    }

    /// Records the destruction of customer `erased` alone among those the
    /// call names (a merge, which names its survivor too).
    pub(crate) fn erasing_only(mut self, erased: CustomerId, destruction: Destruction) -> Self {
        self.destruction = Some(destruction);
        self.erases = Erases::Only(erased);
        self.purge = Purge::OnReturn;
        self
    }

    /// Records the destruction of attached records (not of their customer,
    /// so no erasure receipt); their bytes are purged before it returns.
    pub(crate) fn destroying_records(mut self, destruction: Destruction) -> Self {
        self.destruction = Some(destruction);
        self.purge = Purge::OnReturn;
        self
    }

    /// Marks a call that deletes customers (their bytes are purged before it returns).
    pub(crate) fn shredding(mut self) -> Self {
        self.purge = Purge::OnReturn;
        self
    }

    /// Leaves the purge to the caller, which destroys a batch and purges once.
    pub(crate) fn purge_deferred(mut self) -> Self {
        if self.purge == Purge::OnReturn {
            self.purge = Purge::Deferred;
        }
        self
    }

    /// The same call decided as `action` instead.
    pub(crate) fn decided_as(self, action: Action) -> Self {
        Call { action, ..self }
    }

    /// Marks a call that writes the key store.
    pub(crate) fn writing_keys(mut self) -> Self {
        self.writes_keys = true;
        self
    }

    /// Marks a create or delete that creates or destroys no key (a record
    /// attached to a customer): it leaves the key store unlocked.
    pub(crate) fn keyless(mut self) -> Self {
        self.keyless = true;
        self
    }

    /// Only calls that create or destroy keys lock the key store.
    fn mode(&self) -> TxMode {
        let key_action = matches!(self.action, Action::Create | Action::Delete | Action::Erase) && !self.keyless;
        if self.writes_keys || key_action { TxMode::Write } else { TxMode::WriteData }
    }
}

/// Runs one audited call: decide, then `op` and the call's audit entry
/// inside one transaction, then commit, then publish due checkpoints. The
/// result is returned only after the commit; if the audit entry cannot be
/// written the call fails and its changes roll back (fail closed). A denied
/// or failed call is recorded in a transaction of its own.
pub(crate) fn run<T>(
    store: &StoreInner,
    caller: Caller<'_>,
    call: Call,
    op: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan, &mut Trail) -> Result<T>,
) -> Result<T> {
    let mut trail = Trail::about(call.subject);
    // A backend that cannot even begin could not record the failure either.
    let mut tx = store.backend.begin(call.mode())?;
    let plan = match caller.authorise(tx.as_mut(), &call) {
        Ok(plan) => plan,
        Err(e) => {
            drop(tx);
            return Err(refuse(store, &caller, &call, trail, e));
        }
    };
    match op(store, tx.as_mut(), &plan, &mut trail) {
        Ok(out) => {
            let outcome = if trail.masked_by.is_some() { Outcome::Masked } else { Outcome::Allowed };
            let rule = trail.masked_by.map(str::to_owned);
            let reason = trail.reason.take().or_else(|| trail.explanation());
            let entry = AuditEntry { rule, reason, ..entry(store, &caller, &call, trail, outcome) };
            let destroyed = match call.erases {
                Erases::Nothing => Vec::new(),
                Erases::Named => entry.customers.clone(),
                Erases::Only(id) => vec![id],
            };
            let appended = commit_with(store, tx, entry)?;
            // The host's outside record of every destruction.
            if let Some(sink) = &store.receipt_sink {
                for id in destroyed {
                    if let Ok(receipt) = store.audit.receipt(store.ledger_hash(id), appended.time, appended.seq) {
                        sink(&receipt);
                    }
                }
            }
            if call.purge == Purge::OnReturn {
                // Committed: what it destroyed must now leave the files too.
                // The call stands either way; a purge readers blocked is owed.
                let _ = store.purge_logs();
            }
            Ok(out)
        }
        Err(e) if trail.keep_refusal => {
            // The refusal's bookkeeping (a failed login's counter) commits
            // with the refusal's own entry.
            let entry = failure_entry(store, &caller, &call, trail, &e);
            commit_with(store, tx, entry)?;
            Err(e)
        }
        Err(e) => {
            drop(tx);
            Err(refuse(store, &caller, &call, trail, e))
        }
    }
}

/// Like [`run`], but first does `outside`: work that must not hold the
/// write lock (an online backup, a slow password hash). If it fails, the
/// failure is recorded like any other; otherwise its result goes to `op`.
pub(crate) fn run_after<P, T>(
    store: &StoreInner,
    caller: Caller<'_>,
    call: Call,
    outside: impl FnOnce() -> Result<P>,
    op: impl FnOnce(P, &StoreInner, &mut dyn Transaction, &FieldPlan, &mut Trail) -> Result<T>,
) -> Result<T> {
    match outside() {
        Ok(prepared) => run(store, caller, call, |store, tx, plan, trail| op(prepared, store, tx, plan, trail)),
        Err(e) => Err(refuse(store, &caller, &call, Trail::about(call.subject), e)),
    }
}

/// Appends `entry` in `tx`, commits, and publishes the checkpoint that fell due.
fn commit_with(store: &StoreInner, mut tx: Box<dyn Transaction + '_>, entry: AuditEntry) -> Result<Appended> {
    let mut appended = store.audit.append(tx.as_mut(), entry)?;
    tx.commit()?;
    publish(store, appended.checkpoint.take());
    Ok(appended)
}

/// Hands a committed checkpoint to the host's sink.
pub(crate) fn publish(store: &StoreInner, checkpoint: Option<Checkpoint>) {
    if let (Some(cp), Some(sink)) = (checkpoint, &store.checkpoint_sink) {
        sink(&cp);
    }
}

/// The audit entry of a call (its sequence number is assigned on append).
fn entry(store: &StoreInner, caller: &Caller<'_>, call: &Call, trail: Trail, outcome: Outcome) -> AuditEntry {
    let mut entry = crate::audit::blank_entry(
        store.clock.now_millis(),
        caller.principal(),
        caller.purpose().name(),
        call.name,
        outcome,
    );
    entry.mfa = trail.mfa.unwrap_or_else(|| caller.mfa());
    entry.target = call.target.clone();
    // A refused or failed destruction destroyed nothing: no destruction record.
    if matches!(outcome, Outcome::Allowed | Outcome::Masked) {
        entry.destruction = call.destruction.clone();
    }
    entry.customers = trail.customers.into_iter().collect();
    entry.records = trail.records.into_iter().collect();
    entry.fields = trail.fields.into_iter().collect();
    entry.changed = trail.changed;
    if let Some((field, hash)) = trail.lookup {
        entry.lookup_field = Some(field);
        entry.lookup_hash = Some(hash);
    }
    entry
}

/// The entry that records `error` as the outcome of `call`.
fn failure_entry(store: &StoreInner, caller: &Caller<'_>, call: &Call, mut trail: Trail, error: &Error) -> AuditEntry {
    if call.action == Action::Create {
        // The ids a failed create had taken were rolled back with it and
        // will be given to other customers: they must not be named.
        trail.customers.clear();
    }
    let decided_by = match error {
        Error::InBatch { source, .. } => source.as_ref(),
        other => other,
    };
    let (outcome, rule) = match decided_by {
        Error::Denied { rule, .. } => (Outcome::Denied, Some((*rule).to_owned())),
        Error::Invalid { rule, .. } | Error::InvalidArgument { rule, .. } => {
            (Outcome::Failed, Some((*rule).to_owned()))
        }
        _ => (Outcome::Failed, None),
    };
    // Error messages never carry personal values, so the reason can be kept.
    let reason = trail.reason.take().unwrap_or_else(|| error.to_string());
    AuditEntry {
        rule,
        reason: Some(reason),
        error_code: Some(error.code()),
        ..entry(store, caller, call, trail, outcome)
    }
}

/// Records a denied or failed call in a transaction of its own and hands
/// the error back. If even that cannot be written, the caller still gets
/// the original error; nothing was returned or changed either way.
fn refuse(store: &StoreInner, caller: &Caller<'_>, call: &Call, trail: Trail, error: Error) -> Error {
    let entry = failure_entry(store, caller, call, trail, &error);
    if let Ok(tx) = store.backend.begin(TxMode::WriteData) {
        let _ = commit_with(store, tx, entry);
    }
    error
}
