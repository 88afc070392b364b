//! Sharing through the store: recipients and share grants managed by
//! sessions with the `manage` action, and the recipient's own session on a
//! share, which sees the granted fields of the consenting customers and
//! nothing else.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::directory::{load, load_all, save};
use super::engine::{self, Call, Caller};
use super::lifecycle::check_reference;
use super::listing::MAX_PAGE;
use super::session::{STATUS_ANONYMISED, Session};
use super::{Store, StoreInner};
use crate::access::{Action, Decision, FieldPlan, Purpose, check_text};
use crate::audit::{AuditEntry, Outcome, hex};
use crate::consent::{Channel, THIRD_PARTIES};
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerView, Field, Level};
use crate::sharing::package::{self, PackageManifest, PackagedCustomer};
use crate::sharing::{
    CustomerShare, Disclosure, MAX_LISTED_CUSTOMERS, NewRecipient, NewShare, Recipient, Revocation, Share,
    ShareCustomers, SharingConsent, rules, sharing_consent,
};
use crate::storage::{AuditFilter, CustomerRow, DirectoryKind, Transaction, TxMode};

/// Most fields one share may grant.
pub const MAX_SHARE_FIELDS: usize = 32;
/// The audit principal prefix of a recipient's calls.
const RECIPIENT_PREFIX: &str = "recipient:";
/// The audit target prefix of a share.
const SHARE_PREFIX: &str = "share:";
/// The calls through which a recipient receives customer data.
const DISCLOSING_CALLS: [&str; 3] = ["share.get", "share.list", "share.package"];

fn share_key(id: u64) -> String {
    // Zero-padded so the directory lists shares in id order.
    format!("{id:012}")
}

fn load_share(tx: &mut dyn Transaction, id: u64) -> Result<Share> {
    load(tx, DirectoryKind::Share, &share_key(id))?.ok_or(Error::ShareNotFound(id))
}

fn load_recipient(tx: &mut dyn Transaction, id: &str) -> Result<Recipient> {
    load(tx, DirectoryKind::Recipient, id)?.ok_or_else(|| Error::RecipientNotFound(id.to_owned()))
}

/// Checks a recipient id: the syntax of a custom purpose (sharing consents
/// name it as theirs), and neither a built-in purpose nor `third_parties`.
fn check_recipient_id(id: &str) -> Result<()> {
    match Purpose::parse(id) {
        Ok(Purpose::Custom(_)) if id != THIRD_PARTIES => Ok(()),
        _ => Err(Error::invalid(
            "id",
            "recipient_id",
            "1-32 characters of a-z, 0-9 and _, starting with a letter; not a built-in purpose or 'third_parties'",
        )),
    }
}

/// Refuses a use of `share` at `now` unless it, its recipient and the
/// agreement are all in effect.
fn check_in_effect(share: &Share, recipient: &Recipient, now: i64) -> Result<()> {
    let denied = |rule: &'static str, reason: String| Err(Error::Denied { rule, reason });
    if let Some(r) = &share.revoked {
        return denied(rules::SHARE_REVOKED, format!("share {} was revoked by '{}' at {}", share.id, r.by, r.at));
    }
    if now >= share.expires_at {
        return denied(rules::SHARE_EXPIRED, format!("share {} expired at {}", share.id, share.expires_at));
    }
    if let Some(r) = &recipient.revoked {
        return denied(
            rules::RECIPIENT_REVOKED,
            format!("recipient '{}' was revoked by '{}' at {}", recipient.id, r.by, r.at),
        );
    }
    if now < recipient.agreement_from || now >= recipient.agreement_until {
        return denied(
            rules::AGREEMENT_NOT_IN_EFFECT,
            format!(
                "agreement '{}' with '{}' is in effect from {} until {}",
                recipient.agreement, recipient.id, recipient.agreement_from, recipient.agreement_until
            ),
        );
    }
    Ok(())
}

/// The customers that processing restrictions take out of every share.
fn restricted(tx: &mut dyn Transaction) -> Result<HashSet<CustomerId>> {
    Ok(tx
        .directory_list(DirectoryKind::Restriction)?
        .into_iter()
        .filter_map(|(key, _)| key.parse().ok().map(CustomerId))
        .collect())
}

/// Who of a share's customers is inside it now.
struct Membership<'a> {
    share: &'a Share,
    restricted: HashSet<CustomerId>,
}

impl<'a> Membership<'a> {
    fn new(tx: &mut dyn Transaction, share: &'a Share) -> Result<Self> {
        Ok(Membership { share, restricted: restricted(tx)? })
    }

    /// Customer `id`'s row and sharing consent, if it is inside the share:
    /// covered by it, neither restricted nor anonymised, and consenting.
    fn member(&self, tx: &mut dyn Transaction, id: CustomerId) -> Result<Option<(CustomerRow, SharingConsent)>> {
        if self.restricted.contains(&id) {
            return Ok(None);
        }
        let Some(row) = tx.get_customer(id)? else { return Ok(None) };
        let covered = match &self.share.customers {
            ShareCustomers::Listed(ids) => ids.binary_search(&id).is_ok(),
            ShareCustomers::Matching(filter) => filter.admits(&row.header),
        };
        if !covered || row.header.status == STATUS_ANONYMISED {
            return Ok(None);
        }
        let consent = sharing_consent(&tx.consents_of(id)?, &self.share.recipient);
        Ok(consent.inside.then_some((row, consent)))
    }

    /// Every customer inside the share, in id order.
    fn members(&self, tx: &mut dyn Transaction) -> Result<Vec<CustomerId>> {
        // Only customers whose latest sharing consent for the recipient or
        // for every third party is a grant can be inside.
        let mut candidates: BTreeSet<CustomerId> =
            tx.consenting(&self.share.recipient, Channel::ThirdParty)?.into_iter().collect();
        candidates.extend(tx.consenting(THIRD_PARTIES, Channel::ThirdParty)?);
        let mut inside = Vec::new();
        for id in candidates {
            if self.member(tx, id)?.is_some() {
                inside.push(id);
            }
        }
        Ok(inside)
    }
}

/// `plan` without the L1 fields: for a customer whose sharing consent does
/// not name sensitive data.
fn without_sensitive(store: &StoreInner, plan: &FieldPlan) -> FieldPlan {
    let mut reduced = plan.clone();
    for (field, decision) in reduced.decisions.iter_mut() {
        if *decision == Decision::Allow && store.catalogue.level(field) == Level::L1 {
            *decision = Decision::Deny(rules::SENSITIVE_CONSENT_REQUIRED);
        }
    }
    reduced
}

impl Session {
    /// Registers a recipient of shared data (an external party under an
    /// agreement, with the public key its packages are sealed to). Needs
    /// the `manage` action; audited as `share.register_recipient`.
    pub fn register_recipient(&self, new: &NewRecipient) -> Result<Recipient> {
        let call =
            Call::new(Action::Manage, "share.register_recipient").targeting(&format!("{RECIPIENT_PREFIX}{}", new.id));
        self.run(call, |store, tx, _, _| {
            check_recipient_id(&new.id)?;
            if new.name.trim().is_empty() {
                return Err(Error::invalid("name", "required", "a recipient needs a name"));
            }
            check_text("name", &new.name, 64)?;
            check_reference("agreement", &new.agreement)?;
            if new.agreement_from >= new.agreement_until {
                return Err(Error::invalid(
                    "agreement_until",
                    "agreement_period",
                    "the agreement must end after it starts",
                ));
            }
            package::check_public_key(&new.public_key)?;
            if tx.directory_get(DirectoryKind::Recipient, &new.id)?.is_some() {
                return Err(Error::AlreadyExists(format!("recipient '{}' is already registered", new.id)));
            }
            let recipient = Recipient {
                id: new.id.clone(),
                name: new.name.trim().to_owned(),
                agreement: new.agreement.clone(),
                agreement_from: new.agreement_from,
                agreement_until: new.agreement_until,
                public_key: hex(&new.public_key),
                registered_at: store.clock.now_millis(),
                registered_by: self.principal_id().to_owned(),
                revoked: None,
            };
            save(tx, DirectoryKind::Recipient, &recipient.id, &recipient)?;
            Ok(recipient)
        })
    }

    /// Revokes recipient `id`: every share to it ends at once. Needs the
    /// `manage` action; audited as `share.revoke_recipient` with the reason.
    pub fn revoke_recipient(&self, id: &str, reason: &str) -> Result<Recipient> {
        let call = Call::new(Action::Manage, "share.revoke_recipient").targeting(&format!("{RECIPIENT_PREFIX}{id}"));
        self.run(call, |store, tx, _, trail| {
            check_reference("reason", reason)?;
            let mut recipient = load_recipient(tx, id)?;
            if recipient.revoked.is_some() {
                return Err(Error::invalid("id", "already_revoked", format!("recipient '{id}' is already revoked")));
            }
            recipient.revoked = Some(Revocation {
                at: store.clock.now_millis(),
                by: self.principal_id().to_owned(),
                reason: reason.to_owned(),
            });
            save(tx, DirectoryKind::Recipient, id, &recipient)?;
            trail.reason = Some(format!("recipient '{id}' revoked: {reason}"));
            Ok(recipient)
        })
    }

    /// Every registered recipient, revoked ones included, by id. Needs the
    /// `manage` action.
    pub fn recipients(&self) -> Result<Vec<Recipient>> {
        self.run(Call::new(Action::Manage, "share.recipients"), |_, tx, _, _| load_all(tx, DirectoryKind::Recipient))
    }

    /// Grants a share: `new.fields` of the customers `new.customers`
    /// covers, to `new.recipient` for `new.purpose` until `new.expires_at`.
    /// A customer is inside only while their separate consent to sharing
    /// with that recipient (or every third party) stands; L1 fields also
    /// need consent naming sensitive data. Needs the `manage` action;
    /// audited as `share.create`, naming listed customers.
    pub fn create_share(&self, new: &NewShare) -> Result<Share> {
        let call = Call::new(Action::Manage, "share.create").targeting(&format!("{RECIPIENT_PREFIX}{}", new.recipient));
        self.run(call, |store, tx, _, trail| {
            let now = store.clock.now_millis();
            let recipient = load_recipient(tx, &new.recipient)?;
            if new.fields.is_empty() {
                return Err(Error::invalid(
                    "fields",
                    "share_fields_required",
                    "a share lists the fields it grants, at least one",
                ));
            }
            if new.fields.len() > MAX_SHARE_FIELDS {
                return Err(Error::invalid(
                    "fields",
                    "share_fields_too_many",
                    format!("at most {MAX_SHARE_FIELDS} fields"),
                ));
            }
            let mut fields: Vec<String> = Vec::new();
            for field in &new.fields {
                store.catalogue.check_field(field)?;
                let name = field.name().into_owned();
                if fields.contains(&name) {
                    return Err(Error::invalid(name, "share_field_duplicate", "the field is listed twice"));
                }
                fields.push(name);
            }
            check_reference("agreement", &new.agreement)?;
            if new.agreement != recipient.agreement {
                return Err(Error::invalid(
                    "agreement",
                    "share_agreement_mismatch",
                    format!("recipient '{}' is registered under agreement '{}'", recipient.id, recipient.agreement),
                ));
            }
            if new.expires_at <= now {
                return Err(Error::invalid("expires_at", "share_expiry_past", "the share must expire in the future"));
            }
            if new.expires_at > recipient.agreement_until {
                return Err(Error::invalid(
                    "expires_at",
                    "share_outlives_agreement",
                    format!("the agreement ends at {}; the share may not expire later", recipient.agreement_until),
                ));
            }
            // A share to a revoked recipient or outside its agreement could never be used.
            let probe = Share {
                id: 0,
                recipient: recipient.id.clone(),
                purpose: new.purpose.name().to_owned(),
                fields,
                customers: new.customers.clone(),
                expires_at: new.expires_at,
                agreement: new.agreement.clone(),
                created_at: now,
                created_by: self.principal_id().to_owned(),
                revoked: None,
            };
            check_in_effect(&probe, &recipient, now)?;
            let customers = match &new.customers {
                ShareCustomers::Listed(ids) => {
                    if ids.is_empty() || ids.len() > MAX_LISTED_CUSTOMERS {
                        return Err(Error::invalid(
                            "customers",
                            "share_customers_count",
                            format!("1 to {MAX_LISTED_CUSTOMERS} customers"),
                        ));
                    }
                    let mut sorted = ids.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    for id in &sorted {
                        tx.get_customer(*id)?.ok_or(Error::CustomerNotFound(*id))?;
                        trail.touched(*id);
                    }
                    ShareCustomers::Listed(sorted)
                }
                ShareCustomers::Matching(filter) => ShareCustomers::Matching(filter.clone()),
            };
            let id = tx
                .directory_list(DirectoryKind::Share)?
                .last()
                .and_then(|(key, _)| key.parse::<u64>().ok())
                .map_or(1, |last| last + 1);
            let share = Share { id, customers, ..probe };
            save(tx, DirectoryKind::Share, &share_key(id), &share)?;
            let covered = match &share.customers {
                ShareCustomers::Listed(ids) => format!("{} listed", ids.len()),
                ShareCustomers::Matching(filter) => filter.describe(),
            };
            trail.reason = Some(format!(
                "share {id} to '{}' for {}: fields {}; customers {covered}; expires {}",
                share.recipient,
                share.purpose,
                share.fields.join(", "),
                share.expires_at
            ));
            Ok(share)
        })
    }

    /// Revokes share `id`: its recipient sees nothing through it from the
    /// next call on. Needs the `manage` action; audited as `share.revoke`.
    pub fn revoke_share(&self, id: u64, reason: &str) -> Result<Share> {
        self.run(
            Call::new(Action::Manage, "share.revoke").targeting(&format!("{SHARE_PREFIX}{id}")),
            |store, tx, _, trail| {
                check_reference("reason", reason)?;
                let mut share = load_share(tx, id)?;
                if share.revoked.is_some() {
                    return Err(Error::invalid("id", "already_revoked", format!("share {id} is already revoked")));
                }
                share.revoked = Some(Revocation {
                    at: store.clock.now_millis(),
                    by: self.principal_id().to_owned(),
                    reason: reason.to_owned(),
                });
                save(tx, DirectoryKind::Share, &share_key(id), &share)?;
                trail.reason = Some(format!("share {id} revoked: {reason}"));
                Ok(share)
            },
        )
    }

    /// Every share granted, revoked and expired ones included, by id. Needs
    /// the `manage` action.
    pub fn shares(&self) -> Result<Vec<Share>> {
        self.run(Call::new(Action::Manage, "share.list_grants"), |_, tx, _, _| load_all(tx, DirectoryKind::Share))
    }

    /// Every share customer `id` is or was in, with whether it is inside
    /// now and every disclosure made to the recipient through it (from the
    /// audit log): for the customer's access report. Needs the `audit` action.
    pub fn customer_shares(&self, id: CustomerId) -> Result<Vec<CustomerShare>> {
        self.run(Call::about(Action::Audit, "audit.customer_shares", id), |store, tx, _, _| {
            customer_shares(store, tx, id)
        })
    }
}

/// Every share customer `id` is or was in: those it is inside now, those
/// that list it, and those anything about it was disclosed through.
pub(super) fn customer_shares(
    store: &StoreInner,
    tx: &mut dyn Transaction,
    id: CustomerId,
) -> Result<Vec<CustomerShare>> {
    let filter = AuditFilter { customer: Some(id), ..Default::default() };
    let disclosures: Vec<Disclosure> = super::audit_queries::collect_entries(tx, &filter, usize::MAX, is_disclosure)?
        .into_iter()
        .filter_map(|e| disclosure_of(&e))
        .collect();
    let now = store.clock.now_millis();
    let mut out = Vec::new();
    for share in load_all::<Share>(tx, DirectoryKind::Share)? {
        let in_effect = match load_recipient(tx, &share.recipient) {
            Ok(recipient) => check_in_effect(&share, &recipient, now).is_ok(),
            Err(_) => false,
        };
        let inside_now = in_effect && Membership::new(tx, &share)?.member(tx, id)?.is_some();
        let listed = matches!(&share.customers, ShareCustomers::Listed(ids) if ids.binary_search(&id).is_ok());
        let through: Vec<Disclosure> = disclosures.iter().filter(|d| d.share == share.id).cloned().collect();
        if inside_now || listed || !through.is_empty() {
            out.push(CustomerShare { share, inside_now, disclosures: through });
        }
    }
    Ok(out)
}

/// Whether `entry` records customer data disclosed to a recipient.
pub(super) fn is_disclosure(entry: &AuditEntry) -> bool {
    matches!(entry.outcome, Outcome::Allowed | Outcome::Masked) && DISCLOSING_CALLS.contains(&entry.action.as_str())
}

fn disclosure_of(entry: &AuditEntry) -> Option<Disclosure> {
    Some(Disclosure {
        at: entry.time,
        seq: entry.seq,
        recipient: entry.principal.strip_prefix(RECIPIENT_PREFIX)?.to_owned(),
        share: entry.target.as_deref()?.strip_prefix(SHARE_PREFIX)?.parse().ok()?,
        action: entry.action.clone(),
        fields: entry.fields.clone(),
    })
}

/// One page of the customers inside a share.
#[derive(Debug, Clone)]
pub struct SharePage {
    /// The customers, in id order, each with the granted fields only.
    pub customers: Vec<CustomerView>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<CustomerId>,
}

/// A recipient's session on one share: the only road by which a recipient
/// receives customer data. It sees the share's granted fields of the
/// customers inside it (covered by the share and consenting to sharing with
/// the recipient) until the share expires or is revoked, its recipient is
/// revoked or the agreement ends; every other field is withheld and every
/// other customer absent. It can do nothing else. Every call is audited
/// under principal `recipient:<id>` with target `share:<id>`, naming the
/// customers and fields disclosed.
pub struct ShareSession {
    store: Arc<StoreInner>,
    share: u64,
    recipient: String,
    principal: String,
    purpose: Purpose,
}

impl std::fmt::Debug for ShareSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareSession").field("share", &self.share).field("recipient", &self.recipient).finish()
    }
}

impl Store {
    /// Opens recipient session on share `share` (for the host serving that
    /// recipient). Fails with [`Error::ShareNotFound`], or is denied if the
    /// share, its recipient or the agreement is not in effect. The opening
    /// is audited (`share.session_open`).
    pub fn share_session(&self, share: u64) -> Result<ShareSession> {
        let stored = {
            let mut tx = self.inner.backend.begin(TxMode::Read)?;
            load_share(tx.as_mut(), share)?
        };
        let session = ShareSession {
            store: self.inner.clone(),
            share,
            principal: format!("{RECIPIENT_PREFIX}{}", stored.recipient),
            recipient: stored.recipient,
            purpose: Purpose::parse(&stored.purpose)?,
        };
        session.run(session.call(Action::Read, "share.session_open"), |_, _, _, _| Ok(()))?;
        Ok(session)
    }
}

impl ShareSession {
    /// The share's id.
    pub fn share_id(&self) -> u64 {
        self.share
    }

    /// The recipient's id.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    pub(super) fn principal(&self) -> &str {
        &self.principal
    }

    pub(super) fn purpose(&self) -> &Purpose {
        &self.purpose
    }

    fn call(&self, action: Action, name: &'static str) -> Call {
        Call::new(action, name).targeting(&format!("{SHARE_PREFIX}{}", self.share))
    }

    fn run<T>(
        &self,
        call: Call,
        op: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan, &mut crate::audit::Trail) -> Result<T>,
    ) -> Result<T> {
        engine::run(&self.store, Caller::Recipient(self), call, op)
    }

    /// The plan of a call: the granted fields in plaintext, while the share
    /// is in effect; only reads and packages.
    pub(super) fn authorise(&self, tx: &mut dyn Transaction, action: Action) -> Result<FieldPlan> {
        if !matches!(action, Action::Read | Action::Export) {
            return Err(Error::Denied {
                rule: rules::READ_ONLY,
                reason: "a recipient session only reads its share".into(),
            });
        }
        let share = load_share(tx, self.share)?;
        let recipient = load_recipient(tx, &share.recipient)?;
        check_in_effect(&share, &recipient, self.store.clock.now_millis())?;
        let mut plan = FieldPlan::nothing();
        plan.undeclared_custom = Decision::Deny(rules::FIELD_NOT_GRANTED);
        for field in self.store.catalogue.fields() {
            plan.decisions.insert(field, Decision::Deny(rules::FIELD_NOT_GRANTED));
        }
        for name in &share.fields {
            plan.decisions.insert(Field::parse(name)?, Decision::Allow);
        }
        Ok(plan)
    }

    /// Renders one member under the plan its consent allows.
    fn render(
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        reduced: &FieldPlan,
        row: &CustomerRow,
        consent: SharingConsent,
    ) -> Result<(CustomerView, bool)> {
        let key = tx.get_data_key(row.header.id)?;
        let plan = if consent.sensitive { plan } else { reduced };
        Ok((store.render(&row.header, &row.sealed, key.as_ref(), plan)?, consent.sensitive))
    }

    /// Customer `id` with the granted fields, if it is inside the share;
    /// otherwise [`Error::CustomerNotFound`], as for a customer that does
    /// not exist. L1 fields are withheld (rule
    /// `share.sensitive_consent_required`) unless the customer's sharing
    /// consent names sensitive data. Audited as `share.get`.
    pub fn get(&self, id: CustomerId) -> Result<CustomerView> {
        let mut call = self.call(Action::Read, "share.get");
        call.subject = Some(id);
        self.run(call, |store, tx, plan, trail| {
            let share = load_share(tx, self.share)?;
            let Some((row, consent)) = Membership::new(tx, &share)?.member(tx, id)? else {
                return Err(Error::CustomerNotFound(id));
            };
            let reduced = without_sensitive(store, plan);
            let (view, sensitive) = Self::render(store, tx, plan, &reduced, &row, consent)?;
            trail.saw(&view, if sensitive { plan } else { &reduced });
            Ok(view)
        })
    }

    /// Up to `limit` (1 to 1000) customers inside the share with ids after
    /// `after`, in id order, each with the granted fields as for
    /// [`ShareSession::get`]. Audited as `share.list`, naming them.
    pub fn customers(&self, after: Option<CustomerId>, limit: u32) -> Result<SharePage> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::out_of_range("limit", "page_size", format!("1 to {MAX_PAGE} customers")));
        }
        self.run(self.call(Action::Read, "share.list"), |store, tx, plan, trail| {
            let share = load_share(tx, self.share)?;
            let membership = Membership::new(tx, &share)?;
            let reduced = without_sensitive(store, plan);
            let mut customers = Vec::new();
            let mut next = None;
            for id in membership.members(tx)?.into_iter().filter(|id| after.is_none_or(|a| *id > a)) {
                if customers.len() == limit as usize {
                    next = customers.last().map(|v: &CustomerView| v.id);
                    break;
                }
                if let Some((row, consent)) = membership.member(tx, id)? {
                    let (view, sensitive) = Self::render(store, tx, plan, &reduced, &row, consent)?;
                    trail.saw(&view, if sensitive { plan } else { &reduced });
                    customers.push(view);
                }
            }
            Ok(SharePage { customers, next })
        })
    }

    /// Every customer inside the share, minimised to the granted fields and
    /// sealed to the recipient's public key (see [`crate::sharing::package`]
    /// for the format and key schedule). Audited as `share.package`, naming
    /// the customers, the fields and the package's SHA-256.
    pub fn package(&self) -> Result<Vec<u8>> {
        self.run(self.call(Action::Export, "share.package"), |store, tx, plan, trail| {
            let share = load_share(tx, self.share)?;
            let recipient = load_recipient(tx, &share.recipient)?;
            let recipient_key: [u8; 32] = crate::audit::hex_decode(&recipient.public_key)?
                .try_into()
                .map_err(|_| Error::corrupt(format!("recipient '{}' has a malformed public key", recipient.id)))?;
            let membership = Membership::new(tx, &share)?;
            let reduced = without_sensitive(store, plan);
            let mut customers = Vec::new();
            for id in membership.members(tx)? {
                let Some((row, consent)) = membership.member(tx, id)? else { continue };
                let (view, sensitive) = Self::render(store, tx, plan, &reduced, &row, consent)?;
                trail.saw(&view, if sensitive { plan } else { &reduced });
                customers.push(PackagedCustomer {
                    id: id.0 as u64,
                    fields: view.iter().map(|(f, shown)| (f.name().into_owned(), shown.text().to_owned())).collect(),
                    withheld: view
                        .withheld()
                        .iter()
                        .filter(|w| w.rule == rules::SENSITIVE_CONSENT_REQUIRED)
                        .map(|w| w.field.name().into_owned())
                        .collect(),
                });
            }
            let manifest = PackageManifest {
                format: String::new(),
                share: share.id,
                recipient: share.recipient.clone(),
                recipient_key: String::new(),
                ephemeral_key: String::new(),
                purpose: share.purpose.clone(),
                agreement: share.agreement.clone(),
                fields: share.fields.clone(),
                count: 0,
                created_at: store.clock.now_millis(),
                expires_at: share.expires_at,
            };
            let count = customers.len();
            let (bytes, hash) = package::seal(manifest, &recipient_key, customers)?;
            let explained = trail.explanation().map(|e| format!("; {e}")).unwrap_or_default();
            trail.reason = Some(format!("package sha256={hash} customers={count}{explained}"));
            Ok(bytes)
        })
    }
}
