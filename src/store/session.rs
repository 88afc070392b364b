//! The session: one principal, one purpose, every call one transaction.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::StoreInner;
use super::codec::Values;
use crate::access::{Action, Decision, FieldPlan, Principal, Purpose, rules};
use crate::crypto::{DataKey, FieldCipher};
use crate::error::{Error, Result};
use crate::model::validate::{check_record, normalise, normalise_lookup};
use crate::model::{CustomerId, CustomerInput, CustomerPatch, CustomerView, Field, Storage};
use crate::storage::{CustomerHeader, CustomerRow, Transaction, TxMode, WrappedKey};

/// Status of a newly created customer.
const STATUS_ACTIVE: &str = "active";
const MILLIS_PER_DAY: i64 = 86_400_000;

/// A principal acting for a purpose: the only road to customer plaintext.
///
/// Each call decides what the principal may do, runs in one storage
/// transaction, and returns plaintext only after that transaction has
/// committed. A failed call changes nothing.
pub struct Session {
    store: Arc<StoreInner>,
    principal: Principal,
    purpose: Purpose,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("principal", &self.principal.id()).field("purpose", &self.purpose).finish()
    }
}

impl Session {
    pub(crate) fn new(store: Arc<StoreInner>, principal: Principal, purpose: Purpose) -> Self {
        Session { store, principal, purpose }
    }

    /// The session's principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The session's purpose.
    pub fn purpose(&self) -> &Purpose {
        &self.purpose
    }

    /// Runs one call: decide, then `op` inside a transaction, then commit.
    /// The result (which may hold plaintext) is returned only after commit.
    pub(super) fn run<T>(
        &self,
        action: Action,
        mode: TxMode,
        op: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan) -> Result<T>,
    ) -> Result<T> {
        let plan = self.store.policy.plan(&self.principal, &self.purpose, action, &self.store.catalogue)?;
        let mut tx = self.store.backend.begin(mode)?;
        let out = op(&self.store, tx.as_mut(), &plan)?;
        tx.commit()?;
        Ok(out)
    }

    pub(super) fn store(&self) -> &StoreInner {
        &self.store
    }

    fn today_days(&self) -> i64 {
        self.store.clock.now_millis().div_euclid(MILLIS_PER_DAY)
    }

    /// Validates and normalises one written value, and checks the plan lets
    /// this session write the field (plain or masked access).
    fn accept(&self, plan: &FieldPlan, field: &Field, raw: &str) -> Result<Option<Zeroizing<String>>> {
        // An unknown field is a catalogue error, whoever asks.
        self.store.catalogue.check_field(field)?;
        if let Decision::Deny(rule) = plan.decision(field) {
            return Err(Error::Denied {
                rule: write_rule(rule),
                reason: format!("principal '{}' may not write field '{field}'", self.principal.id()),
            });
        }
        Ok(normalise(field, raw, &self.store.catalogue, self.today_days())?.map(Zeroizing::new))
    }

    /// Creates a customer and returns it as this session sees it.
    pub fn create(&self, input: CustomerInput) -> Result<CustomerView> {
        self.run(Action::Create, TxMode::Write, |store, tx, plan| {
            let (row, key) = self.insert_new(store, tx, plan, &input)?;
            store.render_with(&row.header, &row.sealed, Some(&key), plan)
        })
    }

    /// Creates many customers in one transaction: all of them, or none.
    /// A rejected input fails the whole batch with [`Error::InBatch`], which
    /// names its position. Much faster than one `create` per customer for
    /// imports, since the batch commits once.
    pub fn create_many(&self, inputs: impl IntoIterator<Item = CustomerInput>) -> Result<Vec<CustomerId>> {
        self.run(Action::Create, TxMode::Write, |store, tx, plan| {
            let mut ids = Vec::new();
            for (index, input) in inputs.into_iter().enumerate() {
                let (row, _) = self
                    .insert_new(store, tx, plan, &input)
                    .map_err(|e| Error::InBatch { index, source: Box::new(e) })?;
                ids.push(row.header.id);
            }
            Ok(ids)
        })
    }

    /// Validates, seals and inserts one new customer inside `tx`.
    fn insert_new(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        input: &CustomerInput,
    ) -> Result<(CustomerRow, DataKey)> {
        let mut values = Values::new();
        for (field, raw) in &input.values {
            if let Some(v) = self.accept(plan, field, raw)? {
                values.insert(field.clone(), v);
            }
        }
        check_record(|f| values.get(f).map(|v| v.as_str().to_owned()))?;
        if let Some(code) = values.get(&Field::ExternalCode) {
            if let Some(existing) = tx.find_external_code(code)? {
                return Err(Error::DuplicateExternalCode { code: code.as_str().to_owned(), existing });
            }
        }
        let id = tx.next_customer_id()?;
        let key = DataKey::generate()?;
        tx.put_data_key(id, &WrappedKey { key_id: key.id, wrapped: store.wrapper.wrap_data_key(id, &key)? })?;
        let now = store.clock.now_millis();
        let mut row = CustomerRow {
            header: CustomerHeader {
                id,
                kind: String::new(),
                external_code: None,
                category: None,
                source: None,
                tier: None,
                status: STATUS_ACTIVE.into(),
                created_at: now,
                updated_at: now,
                version: 1,
                key_id: key.id,
            },
            sealed: Default::default(),
            blind: Default::default(),
        };
        store.header_from(&mut row.header, &values);
        let cipher = FieldCipher::new(id, &key);
        for (field, value) in values.iter().filter(|(f, _)| f.storage() == Storage::Sealed) {
            store.seal_field(&mut row, &cipher, field, Some(value))?;
        }
        tx.insert_customer(&row)?;
        Ok((row, key))
    }

    /// Reads a customer by id.
    pub fn get(&self, id: CustomerId) -> Result<CustomerView> {
        self.run(Action::Read, TxMode::Read, |store, tx, plan| {
            let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            let key = tx.get_data_key(id)?;
            store.render(&row.header, &row.sealed, key.as_ref(), plan)
        })
    }

    /// Reads a customer by its external code (编号).
    pub fn get_by_external_code(&self, code: &str) -> Result<CustomerView> {
        self.run(Action::Read, TxMode::Read, |store, tx, plan| {
            let code = normalise_lookup(&Field::ExternalCode, code, &store.catalogue, self.today_days())?;
            let id = tx.find_external_code(&code)?.ok_or_else(|| Error::ExternalCodeNotFound(code.clone()))?;
            let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            let key = tx.get_data_key(id)?;
            store.render(&row.header, &row.sealed, key.as_ref(), plan)
        })
    }

    /// Applies `patch` to customer `id` if its version is still
    /// `expected_version`; otherwise fails with [`Error::VersionConflict`] and
    /// changes nothing. Returns the customer's new state.
    pub fn update(&self, id: CustomerId, expected_version: u64, patch: CustomerPatch) -> Result<CustomerView> {
        if patch.is_empty() {
            return Err(Error::invalid("patch", "empty_patch", "the patch changes no field"));
        }
        self.run(Action::Update, TxMode::Write, |store, tx, plan| {
            let mut row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            if row.header.version != expected_version {
                return Err(Error::VersionConflict {
                    customer: id,
                    expected: expected_version,
                    actual: row.header.version,
                });
            }
            let wrapped = tx.get_data_key(id)?;
            let key = store.data_key(id, wrapped.as_ref())?;
            let mut values = store.unseal_all(&row, &key)?;
            let mut changed: Vec<&Field> = Vec::new();
            for (field, raw) in &patch.changes {
                let new = match raw {
                    Some(raw) => self.accept(plan, field, raw)?,
                    None => {
                        self.accept(plan, field, "")?;
                        None
                    }
                };
                match new {
                    Some(v) => values.insert(field.clone(), v),
                    None => values.remove(field),
                };
                changed.push(field);
            }
            check_record(|f| values.get(f).map(|v| v.as_str().to_owned()))?;
            if let Some(code) = values.get(&Field::ExternalCode) {
                if let Some(existing) = tx.find_external_code(code)?.filter(|holder| *holder != id) {
                    return Err(Error::DuplicateExternalCode { code: code.as_str().to_owned(), existing });
                }
            }
            store.header_from(&mut row.header, &values);
            let cipher = FieldCipher::new(id, &key);
            for field in changed.into_iter().filter(|f| f.storage() == Storage::Sealed) {
                store.seal_field(&mut row, &cipher, field, values.get(field).map(|v| v.as_str()))?;
            }
            row.header.version = expected_version + 1;
            row.header.updated_at = store.clock.now_millis().max(row.header.updated_at);
            if !tx.replace_customer(&row, expected_version)? {
                let actual = tx.get_customer(id)?.map_or(0, |r| r.header.version);
                return Err(Error::VersionConflict { customer: id, expected: expected_version, actual });
            }
            store.render_with(&row.header, &row.sealed, Some(&key), plan)
        })
    }

    /// Deletes customer `id`: its row, sealed fields, blind-index entries and data key.
    pub fn delete(&self, id: CustomerId) -> Result<()> {
        self.run(Action::Delete, TxMode::Write, |_, tx, _| {
            if !tx.delete_customer(id)? {
                return Err(Error::CustomerNotFound(id));
            }
            tx.delete_data_key(id)?;
            Ok(())
        })
    }

    /// Exact lookup by mobile number (any accepted format).
    pub fn find_by_mobile(&self, mobile: &str) -> Result<Vec<CustomerView>> {
        self.find(Field::Mobile, mobile)
    }

    /// Exact lookup by e-mail address (case-insensitive).
    pub fn find_by_email(&self, email: &str) -> Result<Vec<CustomerView>> {
        self.find(Field::Email, email)
    }

    /// Exact lookup by national ID number.
    pub fn find_by_id_number(&self, id_number: &str) -> Result<Vec<CustomerView>> {
        self.find(Field::IdNumber, id_number)
    }

    /// Exact lookup through a blind index (mobile, e-mail or ID number). The
    /// session must be allowed to see the field, plain or masked.
    pub fn find(&self, field: Field, value: &str) -> Result<Vec<CustomerView>> {
        if !field.has_blind_index() {
            return Err(Error::invalid(
                field.name(),
                "not_indexed",
                "exact lookup exists for mobile, email and id_number only",
            ));
        }
        let value = Zeroizing::new(normalise_lookup(&field, value, &self.store.catalogue, self.today_days())?);
        let digest = self.store.blind.digest(&field, &value).expect("field has a blind index");
        self.run(Action::Read, TxMode::Read, |store, tx, plan| {
            if let Decision::Deny(rule) = plan.decision(&field) {
                return Err(Error::Denied {
                    rule,
                    reason: format!("principal '{}' may not look up by '{field}'", self.principal.id()),
                });
            }
            let mut views = Vec::new();
            for id in tx.find_blind(&field.name(), &digest)? {
                let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
                let key = tx.get_data_key(id)?;
                views.push(store.render(&row.header, &row.sealed, key.as_ref(), plan)?);
            }
            Ok(views)
        })
    }
}

/// The rule id reported when a write hits a field the session cannot see.
fn write_rule(read_rule: &'static str) -> &'static str {
    if read_rule == rules::DEFAULT_DENY { rules::DEFAULT_DENY } else { rules::WRITE_NOT_PERMITTED }
}
