//! Session calls on the records attached to a customer: transactions and
//! after-sales service records.
//!
//! Every call runs through the audited-call path like a customer call. The
//! descriptive values of a record are sealed under its customer's data key,
//! bound to customer, record and field (so erasing the customer shreds them
//! and a value moved to another record fails to open). What a session sees
//! of a record is decided by the same field plan as the customer's fields:
//! the catalogue gives every record field a level, and the roles decide.

use std::collections::{BTreeMap, HashMap};

use zeroize::Zeroizing;

use super::StoreInner;
use super::directory::active_principal;
use super::session::{Call, STATUS_ANONYMISED, Session};
use crate::access::{Action, Decision, FieldPlan, mask, rules};
use crate::audit::Trail;
use crate::crypto::{DataKey, FieldCipher};
use crate::error::{Error, Result};
use crate::model::{CustomerId, Field, RECORD_FIELDS, RecordKind, Shown, Storage, Withheld};
use crate::records::service::{Priority, ServiceChannel, ServiceInput, ServiceStatus};
use crate::records::transaction::{
    PaymentMethod, TransactionInput, TransactionStatus, check_payment_patch, check_text,
};
use crate::records::{DueQuery, DueWindow, RecordId, RecordPatch, RecordView, TimelinePage, TimelineQuery};
use crate::storage::{DueFilter, RecordRow, StatusChange, Transaction};

/// Most records one page or query returns.
const MAX_RECORDS_PAGE: u32 = 1000;
const HOUR_MS: i64 = 3_600_000;
/// How far ahead of the store's clock a recorded time may lie (clock skew
/// between the host and the machine the time came from).
const FUTURE_SKEW_MS: i64 = 5 * 60_000;

impl StoreInner {
    /// Renders a stored record under `plan`, with its history if the plan shows its status.
    pub(crate) fn render_record(
        &self,
        row: &RecordRow,
        key: Option<&DataKey>,
        history: Vec<StatusChange>,
        plan: &FieldPlan,
    ) -> Result<RecordView> {
        let plain = plain_values(row);
        let cipher = key.map(|k| FieldCipher::new(row.customer, k));
        let mut view = RecordView {
            id: RecordId(row.id),
            customer: row.customer,
            kind: row.kind,
            version: row.version,
            overdue: false,
            values: BTreeMap::new(),
            levels: BTreeMap::new(),
            withheld: Vec::new(),
            history: Vec::new(),
        };
        for field in fields_of(row.kind) {
            let decision = plan.decision(field);
            if let Decision::Deny(rule) = decision {
                view.withheld.push(Withheld { field: field.clone(), rule });
                continue;
            }
            let value: Option<Zeroizing<String>> = match field.storage() {
                Storage::Plain => plain.get(field).map(|v| Zeroizing::new(v.clone())),
                Storage::Sealed => match (row.sealed.get(field.name().as_ref()), &cipher) {
                    (Some(bytes), Some(cipher)) => Some(cipher.open_in_record(row.id, field, bytes)?),
                    _ => None,
                },
            };
            let Some(value) = value else { continue };
            let shown = match decision {
                Decision::Allow => Shown::Plain(value.as_str().to_owned()),
                _ => Shown::Masked(mask(field, &value)),
            };
            view.levels.insert(field.clone(), self.catalogue.level(field));
            view.values.insert(field.clone(), shown);
        }
        let status = if row.kind == RecordKind::Service { Field::ServiceStatus } else { Field::OrderStatus };
        if plan.visible(&status) {
            view.history = history;
        }
        if row.kind == RecordKind::Service && plan.visible(&Field::ServiceDueAt) {
            view.overdue = row.pending && row.due_at.is_some_and(|due| self.clock.now_millis() > due);
        }
        Ok(view)
    }

    /// Reads `row`'s history and renders it.
    fn read_record_view(
        &self,
        tx: &mut dyn Transaction,
        row: &RecordRow,
        key: Option<&DataKey>,
        plan: &FieldPlan,
    ) -> Result<RecordView> {
        let history = tx.status_history(row.id)?;
        self.render_record(row, key, history, plan)
    }

    /// The data key of `customer`, unwrapped.
    /// The data key of `customer`, unwrapped, or `None` if it was destroyed
    /// (anonymised: its records keep no sealed value).
    pub(crate) fn optional_customer_key(
        &self,
        tx: &mut dyn Transaction,
        customer: CustomerId,
    ) -> Result<Option<DataKey>> {
        tx.get_data_key(customer)?.map(|wrapped| self.data_key(customer, Some(&wrapped))).transpose()
    }

    fn customer_key(&self, tx: &mut dyn Transaction, customer: CustomerId) -> Result<DataKey> {
        let wrapped = tx.get_data_key(customer)?;
        self.data_key(customer, wrapped.as_ref())
    }
}

/// The fields of records of `kind`.
fn fields_of(kind: RecordKind) -> impl Iterator<Item = &'static Field> {
    RECORD_FIELDS.iter().filter(move |f| f.record_kind() == kind)
}

/// The plaintext bookkeeping columns of a record as field values.
fn plain_values(row: &RecordRow) -> BTreeMap<Field, String> {
    let mut values = BTreeMap::new();
    let mut put = |field: Field, value: Option<String>| {
        if let Some(v) = value {
            values.insert(field, v);
        }
    };
    match row.kind {
        RecordKind::Transaction => {
            put(Field::OrderTime, Some(row.time.to_string()));
            put(Field::OrderStatus, Some(row.status.clone()));
        }
        RecordKind::Service => {
            put(Field::ServiceKind, row.category.clone());
            put(Field::ServiceChannel, row.channel.clone());
            put(Field::ServicePriority, row.priority.clone());
            put(Field::ServiceOwner, row.owner.clone());
            put(Field::ServiceStatus, Some(row.status.clone()));
            put(Field::ServiceOpenedAt, Some(row.time.to_string()));
            put(Field::ServiceDueAt, row.due_at.map(|d| d.to_string()));
        }
        RecordKind::Customer => {}
    }
    values
}

/// Refuses a call on records of `kind` when the plan shows none of their
/// fields, naming the rule that withheld them.
fn check_visible(plan: &FieldPlan, kind: RecordKind, principal: &str) -> Result<()> {
    let mut rule = rules::DEFAULT_DENY;
    for field in fields_of(kind) {
        match plan.decision(field) {
            Decision::Deny(r) if rule == rules::DEFAULT_DENY => rule = r,
            Decision::Deny(_) => {}
            _ => return Ok(()),
        }
    }
    Err(Error::Denied { rule, reason: format!("principal '{principal}' may not see {} records", kind.name()) })
}

/// Refuses writing `field` when the plan withholds it, with the withholding rule.
fn check_writable(plan: &FieldPlan, field: &Field, principal: &str) -> Result<()> {
    match plan.decision(field) {
        Decision::Deny(rule) => {
            Err(Error::Denied { rule, reason: format!("principal '{principal}' may not write field '{field}'") })
        }
        _ => Ok(()),
    }
}

/// Record `id`, which must exist.
fn load(tx: &mut dyn Transaction, id: RecordId) -> Result<RecordRow> {
    tx.get_record(id.0)?.ok_or(Error::RecordNotFound(id.0))
}

/// Record `id` at `expected_version`, of `kind`.
fn load_at(tx: &mut dyn Transaction, id: RecordId, expected_version: u64, kind: RecordKind) -> Result<RecordRow> {
    let row = load(tx, id)?;
    if row.kind != kind {
        return Err(Error::invalid(
            "record",
            "record_kind",
            format!("record {id} is a {} record, not a {} record", row.kind.name(), kind.name()),
        ));
    }
    if row.version != expected_version {
        return Err(Error::RecordVersionConflict { record: id.0, expected: expected_version, actual: row.version });
    }
    Ok(row)
}

/// Stores `row` as the version after `expected_version`.
fn store_next(store: &StoreInner, tx: &mut dyn Transaction, row: &mut RecordRow, expected_version: u64) -> Result<()> {
    row.version = expected_version + 1;
    row.updated_at = store.clock.now_millis().max(row.updated_at);
    if !tx.replace_record(row, expected_version)? {
        let actual = tx.get_record(row.id)?.map_or(0, |r| r.version);
        return Err(Error::RecordVersionConflict { record: row.id, expected: expected_version, actual });
    }
    Ok(())
}

/// Checks an explicit time: not more than the allowed skew in the future.
fn check_not_future(field: &str, at: i64, now: i64) -> Result<()> {
    if at > now.saturating_add(FUTURE_SKEW_MS) {
        return Err(Error::invalid(field, "time_in_future", "the time lies in the future"));
    }
    Ok(())
}

/// Checks that `owner` is a registered, active principal.
fn check_owner(tx: &mut dyn Transaction, owner: &str) -> Result<String> {
    match active_principal(tx, owner) {
        Ok(principal) => Ok(principal.id),
        Err(Error::Denied { rule: rules::PRINCIPAL_REVOKED, .. }) => Err(Error::invalid(
            "service.owner",
            "owner_revoked",
            format!("principal '{owner}' was revoked and cannot own a service record"),
        )),
        Err(Error::Denied { .. }) => Err(Error::invalid(
            "service.owner",
            "owner_unknown",
            format!("principal '{}' is not registered in this store", owner.chars().take(64).collect::<String>()),
        )),
        Err(e) => Err(e),
    }
}

impl Session {
    /// Records a transaction of customer `customer` (needs `create`). The
    /// total must equal the items plus adjustments; a card number must pass
    /// its check digit. Its descriptive values and payment details are sealed.
    pub fn add_transaction(&self, customer: CustomerId, input: &TransactionInput) -> Result<RecordView> {
        self.run(Call::about(Action::Create, "transaction.create", customer).keyless(), |store, tx, plan, trail| {
            let key = self.attachable(store, tx, customer)?;
            let (row, change) = self.insert_transaction(store, tx, plan, trail, customer, &key, input)?;
            let view = store.render_record(&row, Some(&key), vec![change], plan)?;
            trail.saw_record(&view, plan);
            Ok(view)
        })
    }

    /// Records many transactions of customer `customer` in one call: all of
    /// them, or none (a rejected input fails the batch with
    /// [`Error::InBatch`], which names its position). One audit entry names
    /// every record; much faster than one call each for an order history.
    pub fn add_transactions<'a>(
        &self,
        customer: CustomerId,
        inputs: impl IntoIterator<Item = &'a TransactionInput>,
    ) -> Result<Vec<RecordId>> {
        let inputs: Vec<&TransactionInput> = inputs.into_iter().collect();
        let call = Call::about(Action::Create, "transaction.create_many", customer).keyless();
        self.run(call, |store, tx, plan, trail| {
            if inputs.is_empty() || inputs.len() > MAX_RECORDS_PAGE as usize {
                return Err(Error::out_of_range(
                    "inputs",
                    "batch_size",
                    format!("a batch holds 1 to {MAX_RECORDS_PAGE} transactions"),
                ));
            }
            let key = self.attachable(store, tx, customer)?;
            let mut ids = Vec::with_capacity(inputs.len());
            for (index, input) in inputs.iter().enumerate() {
                let (row, _) = self
                    .insert_transaction(store, tx, plan, trail, customer, &key, input)
                    .map_err(|e| Error::InBatch { index, source: Box::new(e) })?;
                trail.records.insert(row.id);
                ids.push(RecordId(row.id));
            }
            Ok(ids)
        })
    }

    /// Checks, seals and inserts one transaction of `customer` inside `tx`.
    #[allow(clippy::too_many_arguments)]
    fn insert_transaction(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        trail: &mut Trail,
        customer: CustomerId,
        key: &DataKey,
        input: &TransactionInput,
    ) -> Result<(RecordRow, StatusChange)> {
        let checked = input.check()?;
        let now = store.clock.now_millis();
        let time = input.time.unwrap_or(now);
        check_not_future("transaction.time", time, now)?;
        let mut written = vec![
            Field::OrderReference,
            Field::OrderTime,
            Field::OrderStatus,
            Field::OrderItems,
            Field::OrderTotal,
            Field::PaymentMethod,
        ];
        if checked.payment.is_some() {
            written.push(Field::PaymentDetails);
        }
        trail.wrote(&written, false);
        for field in &written {
            check_writable(plan, field, self.principal_id())?;
        }
        let mut row = new_row(tx, customer, RecordKind::Transaction, time, input.status.name(), key, now)?;
        row.retention_start = Some(time);
        let cipher = FieldCipher::new(customer, key);
        let method = input.payment_method.name();
        let mut seal = |field: Field, value: &str| -> Result<()> {
            row.sealed.insert(field.name().into_owned(), cipher.seal_in_record(row.id, &field, value)?);
            Ok(())
        };
        seal(Field::OrderReference, &checked.reference)?;
        seal(Field::OrderItems, &checked.items)?;
        seal(Field::OrderTotal, &checked.total)?;
        seal(Field::PaymentMethod, method)?;
        if let Some(payment) = &checked.payment {
            seal(Field::PaymentDetails, payment)?;
        }
        tx.insert_record(&row)?;
        let change = StatusChange { at: now, by: self.principal_id().to_owned(), from: None, to: row.status.clone() };
        tx.append_status_change(row.id, &change)?;
        Ok((row, change))
    }

    /// Moves transaction `id` to `status` (`pending` → `paid` | `cancelled`,
    /// `paid` → `partially_refunded` | `refunded`, `partially_refunded` →
    /// `refunded`); the change is kept in its history.
    pub fn set_transaction_status(
        &self,
        id: RecordId,
        expected_version: u64,
        status: TransactionStatus,
    ) -> Result<RecordView> {
        self.change_record(id, "transaction.status", |store, tx, plan, _, row| {
            *row = load_at(tx, id, expected_version, RecordKind::Transaction)?;
            check_writable(plan, &Field::OrderStatus, self.principal_id())?;
            let from = TransactionStatus::parse(&row.status)?;
            from.check_transition(status)?;
            row.status = status.name().to_owned();
            store_next(store, tx, row, expected_version)?;
            self.record_change(store, tx, row.id, Some(from.name()), status.name())?;
            Ok(vec![Field::OrderStatus])
        })
    }

    /// Opens a service record for customer `customer` (needs `create`). Its
    /// due time comes from the store's service-level policy for its kind and
    /// priority, unless the input gives one; an owner must be a registered,
    /// active principal.
    pub fn open_service_record(&self, customer: CustomerId, input: &ServiceInput) -> Result<RecordView> {
        self.run(Call::about(Action::Create, "service.open", customer).keyless(), |store, tx, plan, trail| {
            let subject = check_text("service.subject", &input.subject, 200)?;
            let description = optional_text("service.description", &input.description, 4000)?;
            let now = store.clock.now_millis();
            let opened = input.opened_at.unwrap_or(now);
            check_not_future("service.opened_at", opened, now)?;
            let policy = &store.service_levels;
            let due = match input.due_at {
                Some(due) => {
                    policy.check_due(opened, due)?;
                    due
                }
                None => policy.due_at(input.kind, input.priority, opened)?,
            };
            let owner = input.owner.as_deref().map(|o| check_owner(tx, o)).transpose()?;
            let mut written = vec![
                Field::ServiceKind,
                Field::ServiceChannel,
                Field::ServiceSubject,
                Field::ServicePriority,
                Field::ServiceStatus,
                Field::ServiceOpenedAt,
                Field::ServiceDueAt,
            ];
            if description.is_some() {
                written.push(Field::ServiceDescription);
            }
            if owner.is_some() {
                written.push(Field::ServiceOwner);
            }
            trail.wrote(&written, false);
            for field in &written {
                check_writable(plan, field, self.principal_id())?;
            }
            let key = self.attachable(store, tx, customer)?;
            let status = ServiceStatus::Open.name();
            let mut row = new_row(tx, customer, RecordKind::Service, opened, status, &key, now)?;
            row.category = Some(input.kind.name().to_owned());
            row.channel = Some(input.channel.name().to_owned());
            row.priority = Some(input.priority.name().to_owned());
            row.owner = owner;
            row.due_at = Some(due);
            row.pending = true;
            let cipher = FieldCipher::new(customer, &key);
            row.sealed.insert(
                Field::ServiceSubject.name().into_owned(),
                cipher.seal_in_record(row.id, &Field::ServiceSubject, &subject)?,
            );
            if let Some(description) = &description {
                row.sealed.insert(
                    Field::ServiceDescription.name().into_owned(),
                    cipher.seal_in_record(row.id, &Field::ServiceDescription, description)?,
                );
            }
            tx.insert_record(&row)?;
            let change = StatusChange { at: now, by: self.principal_id().to_owned(), from: None, to: status.into() };
            tx.append_status_change(row.id, &change)?;
            let view = store.render_record(&row, Some(&key), vec![change], plan)?;
            trail.saw_record(&view, plan);
            Ok(view)
        })
    }

    /// Assigns service record `id` to principal `owner` (registered and active).
    pub fn assign_service_record(&self, id: RecordId, expected_version: u64, owner: &str) -> Result<RecordView> {
        self.change_record(id, "service.assign", |store, tx, plan, _, row| {
            *row = load_at(tx, id, expected_version, RecordKind::Service)?;
            check_writable(plan, &Field::ServiceOwner, self.principal_id())?;
            row.owner = Some(check_owner(tx, owner)?);
            store_next(store, tx, row, expected_version)?;
            Ok(vec![Field::ServiceOwner])
        })
    }

    /// Moves service record `id` to `to`, with a resolution text where one is
    /// given (resolving or closing needs one, given now or before). Refused
    /// with the rule: `transition_invalid`, `resolution_required`,
    /// `reopen_expired` (a record closed longer ago than the policy allows).
    /// A reopened record gets a fresh due time from the policy.
    pub fn transition_service_record(
        &self,
        id: RecordId,
        expected_version: u64,
        to: ServiceStatus,
        resolution: Option<&str>,
    ) -> Result<RecordView> {
        self.change_record(id, "service.transition", |store, tx, plan, key, row| {
            *row = load_at(tx, id, expected_version, RecordKind::Service)?;
            let mut changed = vec![Field::ServiceStatus];
            check_writable(plan, &Field::ServiceStatus, self.principal_id())?;
            let resolution = resolution.map(|r| optional_text("service.resolution", r, 4000)).transpose()?.flatten();
            if resolution.is_some() {
                check_writable(plan, &Field::ServiceResolution, self.principal_id())?;
                changed.push(Field::ServiceResolution);
            }
            let has_resolution =
                resolution.is_some() || row.sealed.contains_key(Field::ServiceResolution.name().as_ref());
            let from = ServiceStatus::parse(&row.status)?;
            let now = store.clock.now_millis();
            let closed_at = if from == ServiceStatus::Closed { row.retention_start } else { None };
            store.service_levels.check_transition(from, to, has_resolution, closed_at, now)?;
            if let Some(resolution) = &resolution {
                let sealed = FieldCipher::new(row.customer, key).seal_in_record(
                    row.id,
                    &Field::ServiceResolution,
                    resolution,
                )?;
                row.sealed.insert(Field::ServiceResolution.name().into_owned(), sealed);
            }
            row.status = to.name().to_owned();
            row.pending = to.is_pending();
            row.retention_start = (to == ServiceStatus::Closed).then_some(now);
            if to == ServiceStatus::Reopened {
                let kind = row.category.as_deref().map(crate::records::service::ServiceKind::parse).transpose()?;
                let priority = row.priority.as_deref().map(Priority::parse).transpose()?;
                if let (Some(kind), Some(priority)) = (kind, priority) {
                    row.due_at = Some(store.service_levels.due_at(kind, priority, now)?);
                    changed.push(Field::ServiceDueAt);
                }
            }
            store_next(store, tx, row, expected_version)?;
            self.record_change(store, tx, row.id, Some(from.name()), to.name())?;
            Ok(changed)
        })
    }

    /// Changes descriptive values of record `id` (see [`RecordPatch`] for
    /// the fields a patch may change).
    pub fn update_record(&self, id: RecordId, expected_version: u64, patch: &RecordPatch) -> Result<RecordView> {
        self.patch_record(Call::new(Action::Update, "record.update"), id, expected_version, patch)
    }

    /// Rectifies record `id` at the customer's request `request`: applied
    /// like [`Session::update_record`], audited as `record.rectify` naming the
    /// request and the fields changed, never their values.
    pub fn rectify_record(
        &self,
        id: RecordId,
        expected_version: u64,
        patch: &RecordPatch,
        request: &str,
    ) -> Result<RecordView> {
        super::lifecycle::check_reference("request", request)?;
        let call = Call::new(Action::Update, "record.rectify").targeting(&format!("request:{request}"));
        self.patch_record(call, id, expected_version, patch)
    }

    fn patch_record(&self, call: Call, id: RecordId, expected_version: u64, patch: &RecordPatch) -> Result<RecordView> {
        self.change_record_as(call, id, |store, tx, plan, key, row| {
            if patch.is_empty() {
                return Err(Error::invalid("patch", "empty_patch", "the patch changes no field"));
            }
            let kind = load(tx, id)?.kind;
            *row = load_at(tx, id, expected_version, kind)?;
            let cipher = FieldCipher::new(row.customer, key);
            for (field, value) in &patch.changes {
                if field.record_kind() != row.kind {
                    return Err(Error::invalid(
                        field.name(),
                        "record_field_kind",
                        format!("'{field}' is not a field of a {} record", row.kind.name()),
                    ));
                }
                check_writable(plan, field, self.principal_id())?;
                let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
                apply_change(store, row, &cipher, field, value)?;
            }
            store_next(store, tx, row, expected_version)?;
            Ok(patch.changes.keys().cloned().collect())
        })
    }

    /// Deletes record `id` with its history (needs `delete`). Its bytes
    /// leave the store's files before the call returns.
    pub fn delete_record(&self, id: RecordId) -> Result<()> {
        self.run(Call::new(Action::Delete, "record.delete").keyless().shredding(), |_, tx, plan, trail| {
            let row = load(tx, id)?;
            trail.touched(row.customer);
            trail.records.insert(id.0);
            self.check_restriction(tx, row.customer)?;
            check_visible(plan, row.kind, self.principal_id())?;
            tx.delete_record(id.0)?;
            Ok(())
        })
    }

    /// Reads record `id`.
    pub fn record(&self, id: RecordId) -> Result<RecordView> {
        self.run(Call::new(Action::Read, "record.get"), |store, tx, plan, trail| {
            let row = load(tx, id)?;
            trail.touched(row.customer);
            trail.records.insert(id.0);
            self.check_restriction(tx, row.customer)?;
            check_visible(plan, row.kind, self.principal_id())?;
            let key = store.optional_customer_key(tx, row.customer)?;
            let view = store.read_record_view(tx, &row, key.as_ref(), plan)?;
            trail.saw_record(&view, plan);
            Ok(view)
        })
    }

    /// A page of customer `customer`'s timeline: its transactions and
    /// service records, newest first. Record kinds the session sees nothing
    /// of are left out; a session that sees neither is refused. Like every
    /// list, the page carries no status histories ([`Session::record`] does).
    pub fn timeline(&self, customer: CustomerId, query: &TimelineQuery) -> Result<TimelinePage> {
        self.run(Call::about(Action::Read, "customer.timeline", customer), |store, tx, plan, trail| {
            check_limit(query.limit)?;
            let sees = |kind| check_visible(plan, kind, self.principal_id()).is_ok();
            let (transactions, services) = (sees(RecordKind::Transaction), sees(RecordKind::Service));
            if !transactions && !services {
                check_visible(plan, RecordKind::Service, self.principal_id())?;
            }
            tx.get_customer(customer)?.ok_or(Error::CustomerNotFound(customer))?;
            let mut cursor = match query.before {
                None => None,
                Some(before) => match tx.get_record(before.0)? {
                    Some(row) if row.customer == customer => Some((row.time, row.id)),
                    _ => {
                        return Err(Error::out_of_range(
                            "before",
                            "record_not_in_timeline",
                            format!("record {before} is not in the timeline of customer {customer}"),
                        ));
                    }
                },
            };
            let key = store.optional_customer_key(tx, customer)?;
            let mut records = Vec::new();
            let mut exhausted = false;
            while records.len() < query.limit as usize && !exhausted {
                let rows = tx.records_of(customer, cursor, query.limit)?;
                exhausted = rows.len() < query.limit as usize;
                for row in rows {
                    cursor = Some((row.time, row.id));
                    let shown = match row.kind {
                        RecordKind::Transaction => transactions,
                        _ => services,
                    };
                    if shown && records.len() < query.limit as usize {
                        // Lists carry no history: `record(id)` reads it.
                        let view = store.render_record(&row, key.as_ref(), Vec::new(), plan)?;
                        trail.saw_record(&view, plan);
                        records.push(view);
                    }
                }
            }
            let next = if exhausted { None } else { records.last().map(|r: &RecordView| r.id) };
            Ok(TimelinePage { records, next })
        })
    }

    /// Pending service records by deadline, most urgent first: overdue
    /// ones, or those due within the next hours; everyone's or one owner's.
    /// Customers the session may not use (restricted processing) are left out.
    /// The records carry no status histories ([`Session::record`] does).
    pub fn service_due(&self, query: &DueQuery) -> Result<Vec<RecordView>> {
        self.run(Call::new(Action::Read, "service.due"), |store, tx, plan, trail| {
            check_limit(query.limit)?;
            check_visible(plan, RecordKind::Service, self.principal_id())?;
            if let Decision::Deny(rule) = plan.decision(&Field::ServiceDueAt) {
                return Err(Error::Denied {
                    rule,
                    reason: format!("principal '{}' may not see the deadlines of service records", self.principal_id()),
                });
            }
            let now = store.clock.now_millis();
            let (from, to) = match query.window {
                DueWindow::Overdue => (None, now - 1),
                DueWindow::Within { hours } => {
                    if hours == 0 || hours > 8760 {
                        return Err(Error::out_of_range("hours", "due_window", "a window is 1 to 8760 hours"));
                    }
                    (Some(now), now + i64::from(hours) * HOUR_MS)
                }
            };
            let after = match query.after {
                None => None,
                Some(after) => match tx.get_record(after.0)? {
                    Some(RecordRow { kind: RecordKind::Service, due_at: Some(due), id, .. }) => Some((due, id)),
                    _ => {
                        return Err(Error::out_of_range(
                            "after",
                            "record_not_service",
                            format!("record {after} is not a service record"),
                        ));
                    }
                },
            };
            let scope = self.consent_scope(tx)?;
            let mut filter = DueFilter { from, to, owner: query.owner.clone(), after, limit: query.limit };
            let mut keys: HashMap<CustomerId, Option<DataKey>> = HashMap::new();
            let mut views = Vec::new();
            loop {
                let rows = tx.records_due(&filter)?;
                let exhausted = rows.len() < filter.limit as usize;
                for row in rows {
                    filter.after = Some((row.due_at.unwrap_or(i64::MAX), row.id));
                    if !scope.admits(row.customer) || views.len() >= query.limit as usize {
                        continue;
                    }
                    let key = match keys.entry(row.customer) {
                        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(store.optional_customer_key(tx, row.customer)?)
                        }
                    };
                    let view = store.render_record(&row, key.as_ref(), Vec::new(), plan)?;
                    trail.saw_record(&view, plan);
                    views.push(view);
                }
                if exhausted || views.len() >= query.limit as usize {
                    break;
                }
            }
            Ok(views)
        })
    }

    /// The data key of `customer`, to whom a record is being attached: the
    /// customer must exist and not be anonymised.
    fn attachable(&self, store: &StoreInner, tx: &mut dyn Transaction, customer: CustomerId) -> Result<DataKey> {
        let row = tx.get_customer(customer)?.ok_or(Error::CustomerNotFound(customer))?;
        if row.header.status == STATUS_ANONYMISED {
            return Err(Error::invalid(
                "customer",
                "customer_anonymised",
                format!("customer {customer} was anonymised; no record can be attached to it"),
            ));
        }
        store.customer_key(tx, customer)
    }

    /// Appends a status change made by this session now.
    fn record_change(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        record: u64,
        from: Option<&str>,
        to: &str,
    ) -> Result<()> {
        let change = StatusChange {
            at: store.clock.now_millis(),
            by: self.principal_id().to_owned(),
            from: from.map(str::to_owned),
            to: to.to_owned(),
        };
        tx.append_status_change(record, &change)
    }

    /// A change of record `id` audited as `name` (action `update`).
    fn change_record(
        &self,
        id: RecordId,
        name: &'static str,
        change: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan, &DataKey, &mut RecordRow) -> Result<Vec<Field>>,
    ) -> Result<RecordView> {
        self.change_record_as(Call::new(Action::Update, name), id, change)
    }

    /// Runs `change` on record `id` as `call`: the record's customer is
    /// named in the audit entry and checked for a restriction, the change
    /// stores the row, and the call returns the record as it now is.
    fn change_record_as(
        &self,
        call: Call,
        id: RecordId,
        change: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan, &DataKey, &mut RecordRow) -> Result<Vec<Field>>,
    ) -> Result<RecordView> {
        self.run(call, |store, tx, plan, trail: &mut Trail| {
            let mut row = load(tx, id)?;
            trail.touched(row.customer);
            trail.records.insert(id.0);
            self.check_restriction(tx, row.customer)?;
            check_visible(plan, row.kind, self.principal_id())?;
            let Some(key) = store.optional_customer_key(tx, row.customer)? else {
                // Anonymised: the record keeps its bookkeeping only, under no key.
                return Err(Error::invalid(
                    "record",
                    "customer_anonymised",
                    format!("record {id} belongs to an anonymised customer and can no longer change"),
                ));
            };
            let changed = change(store, tx, plan, &key, &mut row)?;
            trail.wrote(&changed, true);
            let view = store.read_record_view(tx, &row, Some(&key), plan)?;
            trail.saw_record(&view, plan);
            Ok(view)
        })
    }
}

/// A new record row of `kind` for `customer` with a fresh id.
fn new_row(
    tx: &mut dyn Transaction,
    customer: CustomerId,
    kind: RecordKind,
    time: i64,
    status: &str,
    key: &DataKey,
    now: i64,
) -> Result<RecordRow> {
    Ok(RecordRow {
        id: tx.next_record_id()?,
        customer,
        kind,
        time,
        status: status.to_owned(),
        category: None,
        channel: None,
        priority: None,
        owner: None,
        due_at: None,
        pending: false,
        retention_start: None,
        created_at: now,
        updated_at: now,
        version: 1,
        key_id: key.id,
        sealed: BTreeMap::new(),
    })
}

/// Applies one patched value to `row`.
fn apply_change(
    store: &StoreInner,
    row: &mut RecordRow,
    cipher: &FieldCipher,
    field: &Field,
    value: Option<&str>,
) -> Result<()> {
    let name = field.name().into_owned();
    let seal = |row: &mut RecordRow, value: Option<&str>| -> Result<()> {
        match value {
            Some(v) => {
                row.sealed.insert(name.clone(), cipher.seal_in_record(row.id, field, v)?);
            }
            None => {
                row.sealed.remove(&name);
            }
        }
        Ok(())
    };
    let required = || Error::invalid(field.name(), "required", "this value cannot be cleared");
    match field {
        Field::OrderReference => seal(row, Some(&check_text(&name, value.ok_or_else(required)?, 64)?)),
        Field::PaymentDetails => match value {
            None => seal(row, None),
            Some(v) => {
                let method = match row.sealed.get(Field::PaymentMethod.name().as_ref()).cloned() {
                    Some(bytes) => {
                        PaymentMethod::parse(&cipher.open_in_record(row.id, &Field::PaymentMethod, &bytes)?)?
                    }
                    None => PaymentMethod::Other,
                };
                seal(row, Some(&check_payment_patch(v, method)?))
            }
        },
        Field::ServiceSubject => seal(row, Some(&check_text(&name, value.ok_or_else(required)?, 200)?)),
        Field::ServiceDescription => match value {
            None => seal(row, None),
            Some(v) => seal(row, Some(&check_text(&name, v, 4000)?)),
        },
        Field::ServiceResolution => match value {
            None if !row.pending => Err(Error::invalid(
                "service.resolution",
                "resolution_required",
                format!("a {} record keeps its resolution", row.status),
            )),
            None => seal(row, None),
            Some(v) => seal(row, Some(&check_text(&name, v, 4000)?)),
        },
        Field::ServiceChannel => {
            row.channel = Some(ServiceChannel::parse(value.ok_or_else(required)?)?.name().to_owned());
            Ok(())
        }
        Field::ServicePriority => {
            row.priority = Some(Priority::parse(value.ok_or_else(required)?)?.name().to_owned());
            Ok(())
        }
        Field::ServiceDueAt => {
            let text = value.ok_or_else(required)?;
            let due: i64 = text
                .parse()
                .map_err(|_| Error::invalid("service.due_at", "time_syntax", "a time is Unix milliseconds"))?;
            store.service_levels.check_due(row.time, due)?;
            row.due_at = Some(due);
            Ok(())
        }
        _ => Err(Error::invalid(
            field.name(),
            "not_patchable",
            format!("'{field}' is kept by the store or changed by its own call"),
        )),
    }
}

/// An optional text: `None` when empty after trimming, else checked like [`check_text`].
fn optional_text(field: &str, raw: &str, max: usize) -> Result<Option<String>> {
    if raw.trim().is_empty() { Ok(None) } else { check_text(field, raw, max).map(Some) }
}

/// Checks a page size.
fn check_limit(limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_RECORDS_PAGE {
        return Err(Error::out_of_range("limit", "page_size", format!("a page holds 1 to {MAX_RECORDS_PAGE} records")));
    }
    Ok(())
}
