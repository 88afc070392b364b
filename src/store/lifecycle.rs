//! Data-subject requests (export, rectify, restrict, erase), legal holds,
//! retention policies and the sweep that destroys what is due.
//!
//! Every destruction is one audited call whose entry carries a
//! [`Destruction`] (method and reason): with the entry's time, principal,
//! customers and fields, that is the destruction record. Erasure destroys
//! the customer's data key and deletes its rows, blind-index entries and
//! consents (SQLite runs with `secure_delete`), and writes a keyed hash of
//! its id into the key store's erasure ledger, which a restore replays.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use super::StoreInner;
use super::audit_queries::collect_entries;
use super::directory::{load, load_all, save};
use super::session::{Call, STATUS_ANONYMISED, Session, read_view};
use crate::access::{Action, Purpose, rules};
use crate::audit::AuditEntry;
use crate::consent::ConsentRecord;
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerPatch, CustomerView, Field, RecordKind, Shown, Withheld};
use crate::retention::{Destruction, DestructionMethod, Marker, RetentionPolicy, RetentionRule, SweepReport};
use crate::storage::{AuditFilter, DirectoryKind, RecordRow, Scan, StatusChange, Transaction};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Everything held about one customer, for handing to the customer.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerExport {
    /// When the export was made (Unix ms).
    pub exported_at: i64,
    /// The customer's id.
    pub customer: CustomerId,
    /// Every field as the exporting session sees it (an export session
    /// should be a compliance session with MFA, which sees every value).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Fields shown masked or withheld from the exporting session.
    pub not_shown: Vec<String>,
    /// The consent history, oldest first.
    pub consents: Vec<ConsentRecord>,
    /// Every audit entry about the customer, oldest first: who did what, when, why.
    pub access_history: Vec<AuditEntry>,
    /// The active restriction of processing, if any.
    pub restriction: Option<Marker>,
    /// The active legal hold, if any.
    pub legal_hold: Option<Marker>,
    /// The customer's transactions and service records, newest first, as
    /// the exporting session sees them.
    pub records: Vec<RecordExport>,
    /// Every share the customer is or was in, with every disclosure made
    /// through it: to whom, when, which fields.
    pub shares: Vec<crate::sharing::CustomerShare>,
}

/// One attached record in a [`CustomerExport`].
#[derive(Debug, Clone, Serialize)]
pub struct RecordExport {
    /// The record's id.
    pub id: u64,
    /// `transaction` or `service`.
    pub kind: RecordKind,
    /// Its version.
    pub version: u64,
    /// Every field as the exporting session sees it in plaintext.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Fields shown masked or withheld from the exporting session.
    pub not_shown: Vec<String>,
    /// Its status changes, oldest first.
    pub history: Vec<StatusChange>,
}

/// Every value of a view the session sees in plaintext, and the names of
/// those masked or withheld.
fn exported<'a>(
    values: impl Iterator<Item = (&'a Field, &'a Shown)>,
    withheld: &[Withheld],
) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
    let mut fields = serde_json::Map::new();
    let mut not_shown = Vec::new();
    for (field, shown) in values {
        if shown.is_masked() {
            not_shown.push(field.name().into_owned());
        } else {
            fields.insert(field.name().into_owned(), serde_json::Value::String(shown.text().to_owned()));
        }
    }
    not_shown.extend(withheld.iter().map(|w| w.field.name().into_owned()));
    (fields, not_shown)
}

pub(super) fn key_of(id: CustomerId) -> String {
    id.0.to_string()
}

impl StoreInner {
    /// Empties the backend's write-ahead logs, recording the purge as owed
    /// when that fails and as paid when it succeeds.
    pub(crate) fn purge_logs(&self) -> Result<()> {
        let result = self.backend.purge_logs();
        self.purge_owed.store(result.is_err(), std::sync::atomic::Ordering::SeqCst);
        result
    }

    /// The keyed hash of a customer id in the erasure ledger.
    pub(crate) fn ledger_hash(&self, id: CustomerId) -> Vec<u8> {
        self.audit.value_hash("erasure_ledger", &key_of(id))
    }

    /// Deletes, inside `tx`, every customer whose ledger hash `erased`
    /// admits (with its data key and consents), and returns their ids.
    pub(crate) fn delete_erased(
        &self,
        tx: &mut dyn Transaction,
        erased: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<CustomerId>> {
        let mut ids = Vec::new();
        tx.scan_customers(&[], &mut |c| {
            if erased(&self.ledger_hash(c.header.id)) {
                ids.push(c.header.id);
            }
            Ok(Scan::Continue)
        })?;
        for id in &ids {
            tx.delete_customer(*id)?;
            tx.delete_data_key(*id)?;
        }
        Ok(ids)
    }

    /// Destroys customer `id` by `method` inside `tx` and records it in the
    /// erasure ledger. Refuses a customer under a legal hold.
    pub(super) fn destroy(&self, tx: &mut dyn Transaction, id: CustomerId, method: DestructionMethod) -> Result<()> {
        if let Some(hold) = load::<Marker>(tx, DirectoryKind::Hold, &key_of(id))? {
            return Err(Error::LegalHold { customer: id, reason: hold.reason });
        }
        let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
        let mut attached = Vec::new();
        if method == DestructionMethod::Anonymise {
            for record in tx.records_of(id, None, u32::MAX)? {
                let history = tx.status_history(record.id)?;
                attached.push((record, history));
            }
        }
        // Deleting the customer deletes its attached records with it.
        tx.delete_customer(id)?;
        tx.delete_data_key(id)?;
        if method == DestructionMethod::Anonymise {
            // The row comes back with its classification attributes only,
            // under no key: nothing in it identifies anyone.
            let mut kept = row;
            kept.sealed.clear();
            kept.blind.clear();
            kept.header.external_code = None;
            // The region is coarsened to the province: a city beside the
            // category and the times could narrow an anonymised row to few people.
            kept.header.region = kept.header.region.as_deref().and_then(crate::model::region::province_code);
            kept.header.status = STATUS_ANONYMISED.into();
            kept.header.version += 1;
            kept.header.updated_at = self.clock.now_millis().max(kept.header.updated_at);
            tx.insert_customer(&kept)?;
            // Its records come back as bookkeeping only: times, statuses,
            // kinds; every sealed value is gone with the key.
            for (mut record, history) in attached {
                strip_record(&mut record, self.clock.now_millis());
                tx.insert_record(&record)?;
                for change in &history {
                    tx.append_status_change(record.id, change)?;
                }
            }
        }
        tx.directory_delete(DirectoryKind::Restriction, &key_of(id))?;
        tx.record_erasure(&self.ledger_hash(id), self.clock.now_millis())?;
        Ok(())
    }
}

impl StoreInner {
    /// Destroys attached record `id` by `method` inside `tx`: deleted with
    /// its history, or stripped to its bookkeeping.
    fn destroy_record(&self, tx: &mut dyn Transaction, id: u64, method: DestructionMethod) -> Result<()> {
        let mut record = tx.get_record(id)?.ok_or(Error::RecordNotFound(id))?;
        match method {
            DestructionMethod::CryptoShred | DestructionMethod::Merge => {
                tx.delete_record(id)?;
            }
            DestructionMethod::Anonymise => {
                let version = record.version;
                strip_record(&mut record, self.clock.now_millis());
                if !tx.replace_record(&record, version)? {
                    return Err(Error::RecordVersionConflict { record: id, expected: version, actual: 0 });
                }
            }
        }
        Ok(())
    }
}

impl Session {
    /// Everything held about customer `id` — fields, consents, every audit
    /// entry about it — for handing to the customer (serialise it with
    /// serde_json). Needs the `export` action; the export is audited.
    pub fn export_customer(&self, id: CustomerId) -> Result<CustomerExport> {
        self.run(Call::about(Action::Export, "customer.export", id), |store, tx, plan, trail| {
            let view = read_view(store, tx, plan, id)?;
            trail.saw(&view, plan);
            let (fields, not_shown) = exported(view.iter(), view.withheld());
            // An anonymised customer has no key any more, and its records no sealed value.
            let key = store.optional_customer_key(tx, id)?;
            let mut records = Vec::new();
            for row in tx.records_of(id, None, u32::MAX)? {
                let history = tx.status_history(row.id)?;
                let record = store.render_record(&row, key.as_ref(), history, plan)?;
                trail.saw_record(&record, plan);
                let (fields, not_shown) = exported(record.iter(), record.withheld());
                records.push(RecordExport {
                    id: row.id,
                    kind: row.kind,
                    version: row.version,
                    fields,
                    not_shown,
                    history: record.history().to_vec(),
                });
            }
            let filter = AuditFilter { customer: Some(id), ..Default::default() };
            Ok(CustomerExport {
                exported_at: store.clock.now_millis(),
                customer: id,
                fields,
                not_shown,
                consents: tx.consents_of(id)?,
                access_history: collect_entries(tx, &filter, usize::MAX, |_| true)?,
                restriction: load(tx, DirectoryKind::Restriction, &key_of(id))?,
                legal_hold: load(tx, DirectoryKind::Hold, &key_of(id))?,
                records,
                shares: super::sharing::customer_shares(store, tx, id)?,
            })
        })
    }

    /// Rectifies customer `id` at the customer's request `request`: the
    /// patch is applied like an update (with the expected version), and the
    /// audit entry (`customer.rectify`) names the request and the fields
    /// changed, never their values.
    pub fn rectify(
        &self,
        id: CustomerId,
        expected_version: u64,
        patch: CustomerPatch,
        request: &str,
    ) -> Result<CustomerView> {
        check_reference("request", request)?;
        self.update_as(
            Call::about(Action::Update, "customer.rectify", id).targeting(&format!("request:{request}")),
            id,
            expected_version,
            patch,
        )
    }

    /// Restricts processing of customer `id` (the customer's objection):
    /// until lifted, only compliance sessions may use it; every other
    /// purpose is denied it and no longer finds it in lists, lookups or searches.
    pub fn restrict(&self, id: CustomerId, reason: &str) -> Result<()> {
        self.place_marker(DirectoryKind::Restriction, Call::about(Action::Update, "customer.restrict", id), id, reason)
    }

    /// Lifts a restriction of processing.
    pub fn lift_restriction(&self, id: CustomerId) -> Result<()> {
        self.remove_marker(DirectoryKind::Restriction, Call::about(Action::Update, "customer.lift_restriction", id), id)
    }

    /// Places a legal hold on customer `id`: no erasure or retention sweep
    /// destroys it until the hold is lifted. Needs the `erase` action.
    pub fn place_hold(&self, id: CustomerId, reason: &str) -> Result<()> {
        self.place_marker(DirectoryKind::Hold, Call::about(Action::Erase, "customer.hold", id), id, reason)
    }

    /// Lifts a legal hold.
    pub fn lift_hold(&self, id: CustomerId) -> Result<()> {
        self.remove_marker(DirectoryKind::Hold, Call::about(Action::Erase, "customer.lift_hold", id), id)
    }

    /// Erases customer `id` at the customer's request `request`
    /// (crypto-shredding): its data key is destroyed, its rows, blind-index
    /// entries and consents deleted, and its id recorded (as a keyed hash)
    /// in the erasure ledger so that no restored backup brings it back. A
    /// customer under a legal hold is refused with [`Error::LegalHold`].
    /// Needs the `erase` action; the audit entry is the destruction record.
    pub fn erase(&self, id: CustomerId, request: &str) -> Result<()> {
        check_reference("request", request)?;
        let call = Call::about(Action::Erase, "customer.erase", id)
            .destroying(Destruction { method: DestructionMethod::CryptoShred, reason: format!("request:{request}") });
        self.run(call, |store, tx, _, _| store.destroy(tx, id, DestructionMethod::CryptoShred))
    }

    /// Defines (or replaces) a retention policy. Needs `manage`.
    pub fn define_retention_policy(&self, policy: &RetentionPolicy) -> Result<()> {
        self.run(
            Call::new(Action::Manage, "retention.define").targeting(&format!("policy:{}", policy.id)),
            |_, tx, _, _| {
                policy.validate()?;
                save(tx, DirectoryKind::RetentionPolicy, &policy.id, policy)
            },
        )
    }

    /// The retention policies, by id.
    pub fn retention_policies(&self) -> Result<Vec<RetentionPolicy>> {
        self.run(Call::new(Action::Audit, "retention.read"), |_, tx, _, _| load_all(tx, DirectoryKind::RetentionPolicy))
    }

    /// Destroys every customer a retention policy says is due at the store
    /// clock's now (inject a clock with [`crate::Store::with_clock`] to
    /// judge another day). Each destruction is its own audited call with a
    /// destruction record; customers under a legal hold are skipped and
    /// reported. Needs the `erase` action.
    pub fn sweep(&self) -> Result<SweepReport> {
        let (now, due, records_due) = self.run(Call::new(Action::Erase, "retention.sweep"), |store, tx, _, _| {
            let now = store.clock.now_millis();
            let policies: Vec<RetentionPolicy> = load_all(tx, DirectoryKind::RetentionPolicy)?;
            let mut due: Vec<(CustomerId, RetentionPolicy)> = Vec::new();
            let mut records_due: Vec<(u64, CustomerId, RetentionPolicy)> = Vec::new();
            for policy in policies {
                for (record, customer) in records_due_under(tx, &policy, now)? {
                    if !records_due.iter().any(|(r, _, _)| *r == record) {
                        records_due.push((record, customer, policy.clone()));
                    }
                }
                for id in due_under(tx, &policy, now)? {
                    if !due.iter().any(|(d, _)| *d == id) {
                        due.push((id, policy.clone()));
                    }
                }
            }
            Ok((now, due, records_due))
        })?;
        let mut report = SweepReport { now, ..Default::default() };
        let mut failure = None;
        for (record, customer, policy) in records_due {
            if due.iter().any(|(id, _)| *id == customer) {
                continue; // its customer goes whole, records with it
            }
            let call = Call::about(Action::Erase, "retention.destroy_record", customer)
                .keyless()
                .destroying_records(Destruction { method: policy.method, reason: format!("policy:{}", policy.id) })
                .purge_deferred();
            let destroyed = self.run(call, |store, tx, _, trail| {
                trail.records.insert(record);
                if let Some(hold) = load::<Marker>(tx, DirectoryKind::Hold, &key_of(customer))? {
                    return Err(Error::LegalHold { customer, reason: hold.reason });
                }
                store.destroy_record(tx, record, policy.method)
            });
            match destroyed {
                Ok(()) => report.records_destroyed.push((record, customer, policy.id.clone(), policy.method)),
                Err(Error::LegalHold { .. }) => report.records_held.push((record, customer, policy.id.clone())),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // A failure among the records stops the sweep before any customer.
        let due = if failure.is_none() { due } else { Vec::new() };
        for (id, policy) in due {
            let call = Call::about(Action::Erase, "retention.destroy", id)
                .destroying(Destruction { method: policy.method, reason: format!("policy:{}", policy.id) })
                .purge_deferred();
            match self.run(call, |store, tx, _, _| store.destroy(tx, id, policy.method)) {
                Ok(()) => report.destroyed.push((id, policy.id.clone(), policy.method)),
                Err(Error::LegalHold { .. }) => report.held.push((id, policy.id.clone())),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // One purge for the whole sweep, also when it stopped early: what it
        // destroyed leaves the files before it returns.
        if !report.destroyed.is_empty() || !report.records_destroyed.is_empty() {
            // The destructions stand either way; a purge readers blocked is owed.
            let _ = self.store().purge_logs();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    fn place_marker(&self, kind: DirectoryKind, call: Call, id: CustomerId, reason: &str) -> Result<()> {
        check_reference("reason", reason)?;
        self.run(call, |store, tx, _, trail| {
            tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            trail.changed.push(kind.name().to_owned());
            let marker = Marker {
                customer: id,
                reason: reason.to_owned(),
                at: store.clock.now_millis(),
                by: self.principal_id().to_owned(),
            };
            save(tx, kind, &key_of(id), &marker)
        })
    }

    fn remove_marker(&self, kind: DirectoryKind, call: Call, id: CustomerId) -> Result<()> {
        self.run(call, |_, tx, _, trail| {
            if !tx.directory_delete(kind, &key_of(id))? {
                return Err(Error::invalid(kind.name(), "not_placed", format!("customer {id} has no {}", kind.name())));
            }
            trail.changed.push(kind.name().to_owned());
            Ok(())
        })
    }

    /// Customers under a restriction of processing, for sessions that must not see them.
    pub(super) fn restricted(&self, tx: &mut dyn Transaction) -> Result<Arc<HashSet<CustomerId>>> {
        if self.purpose() == &Purpose::Compliance {
            return Ok(Arc::default());
        }
        Ok(self.resolved(tx)?.restricted.clone())
    }

    /// Refuses a call about a restricted customer for any purpose but compliance.
    pub(super) fn check_restriction(&self, tx: &mut dyn Transaction, id: CustomerId) -> Result<()> {
        if self.purpose() == &Purpose::Compliance || !self.resolved(tx)?.restricted.contains(&id) {
            return Ok(());
        }
        match load::<Marker>(tx, DirectoryKind::Restriction, &key_of(id))? {
            None => Ok(()),
            Some(marker) => Err(Error::Denied {
                rule: rules::SUBJECT_RESTRICTED,
                reason: format!(
                    "customer {id} has restricted processing since {} ({}); only compliance may use it",
                    marker.at, marker.reason
                ),
            }),
        }
    }
}

/// The customers `policy` says are due at `now`.
fn due_under(tx: &mut dyn Transaction, policy: &RetentionPolicy, now: i64) -> Result<Vec<CustomerId>> {
    let mut due = Vec::new();
    match &policy.rule {
        RetentionRule::ServiceRecordsClosedFor { .. } | RetentionRule::TransactionsOlderThan { .. } => {}
        RetentionRule::InactiveFor { days } => {
            let cutoff = now - i64::from(*days) * MILLIS_PER_DAY;
            tx.scan_customers(&[], &mut |c| {
                if c.header.updated_at <= cutoff && c.header.status != STATUS_ANONYMISED {
                    due.push(c.header.id);
                }
                Ok(Scan::Continue)
            })?;
        }
        RetentionRule::WithdrawnMarketingConsent { category } => {
            let mut candidates = Vec::new();
            tx.scan_customers(&[], &mut |c| {
                if c.header.category.as_deref() == Some(category.as_str()) && c.header.status != STATUS_ANONYMISED {
                    candidates.push(c.header.id);
                }
                Ok(Scan::Continue)
            })?;
            for id in candidates {
                let consents = tx.consents_of(id)?;
                let marketing: Vec<&ConsentRecord> =
                    consents.iter().filter(|c| c.purpose == Purpose::Marketing.name()).collect();
                let mut channels: Vec<_> = marketing.iter().map(|c| c.channel).collect();
                channels.dedup();
                let all_withdrawn = !marketing.is_empty()
                    && channels
                        .iter()
                        .all(|ch| marketing.iter().rev().find(|c| c.channel == *ch).is_some_and(|c| !c.granted));
                if all_withdrawn {
                    due.push(id);
                }
            }
        }
    }
    Ok(due)
}

/// The attached records (with their customers) `policy` says are due at `now`.
fn records_due_under(tx: &mut dyn Transaction, policy: &RetentionPolicy, now: i64) -> Result<Vec<(u64, CustomerId)>> {
    let (kind, days) = match policy.rule {
        RetentionRule::ServiceRecordsClosedFor { days } => (RecordKind::Service, days),
        RetentionRule::TransactionsOlderThan { days } => (RecordKind::Transaction, days),
        _ => return Ok(Vec::new()),
    };
    tx.records_retained_since(kind, now - i64::from(days) * MILLIS_PER_DAY)
}

/// Strips a record down to its bookkeeping: no sealed value, no retention
/// period left to run (nothing in it identifies anyone any more).
fn strip_record(record: &mut RecordRow, now: i64) {
    record.sealed.clear();
    record.key_id = 0;
    record.retention_start = None;
    record.version += 1;
    record.updated_at = now.max(record.updated_at);
}

/// A request id, hold reason or restriction reason: 1-64 printable characters.
pub(super) fn check_reference(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "reference",
            "1-64 printable characters (a request, case or ticket reference)",
        ));
    }
    Ok(())
}
