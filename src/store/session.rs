//! The session: one principal, one purpose, every call one transaction.

use std::collections::HashSet;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::StoreInner;
use super::codec::Values;
pub(super) use super::engine::Call;
use super::engine::{self, Caller};
use crate::access::{Action, AuthContext, Decision, FieldPlan, Purpose, rules};
use crate::audit::{Trail, hex};
use crate::consent::{Channel, ConsentChange, ConsentRecord, THIRD_PARTIES, check_change};
use crate::crypto::{DataKey, FieldCipher};
use crate::error::{Error, Result};
use crate::model::validate::{check_record, normalise, normalise_lookup, passes};
use crate::model::{CustomerId, CustomerInput, CustomerPatch, CustomerView, Field, Storage};
use crate::storage::{CustomerHeader, CustomerRow, Transaction, TxMode, WrappedKey};

/// Status of a newly created customer whose every value passed validation.
pub(crate) const STATUS_ACTIVE: &str = "active";
/// Status of an imported customer with values that failed validation: kept
/// as entered until corrected and verified.
pub(crate) const STATUS_UNVERIFIED: &str = "unverified";
/// Status of a customer whose personal fields were destroyed: it keeps its
/// classification attributes only, and nothing more may be attached or merged.
pub(crate) const STATUS_ANONYMISED: &str = "anonymised";
const MILLIS_PER_DAY: i64 = 86_400_000;

/// A principal acting for a purpose: the only road to customer plaintext.
///
/// Each call decides what the principal may do, runs in one storage
/// transaction together with its audit entry, and returns plaintext only
/// after that transaction has committed. A failed call changes nothing but
/// the audit log, which records it too.
pub struct Session {
    store: Arc<StoreInner>,
    /// The acting principal's id; its grants are looked up on every call.
    principal_id: String,
    purpose: Purpose,
    auth: AuthContext,
    /// The contact channel of a marketing session.
    channel: Option<Channel>,
    /// What the session last resolved from the access directory.
    resolved: std::sync::Mutex<Option<Arc<super::directory::Resolved>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("principal", &self.principal_id).field("purpose", &self.purpose).finish()
    }
}

impl Session {
    pub(crate) fn new(
        store: Arc<StoreInner>,
        principal_id: String,
        purpose: Purpose,
        auth: AuthContext,
        channel: Option<Channel>,
    ) -> Self {
        Session { store, principal_id, purpose, auth, channel, resolved: Default::default() }
    }

    pub(super) fn cached_resolution(&self) -> Option<Arc<super::directory::Resolved>> {
        self.resolved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn cache_resolution(&self, resolved: Arc<super::directory::Resolved>) {
        *self.resolved.lock().unwrap_or_else(|p| p.into_inner()) = Some(resolved);
    }

    /// For a marketing session, the customers it may see: those whose latest
    /// consent to marketing on the session's channel is a grant. `None` for
    /// every other purpose (service for an existing contract needs no
    /// marketing consent).
    pub(super) fn consent_scope(&self, tx: &mut dyn Transaction) -> Result<Scope> {
        let restricted = self.restricted(tx)?;
        if self.purpose != Purpose::Marketing {
            return Ok(Scope { allowed: None, restricted });
        }
        let Some(channel) = self.channel else { return Ok(Scope { allowed: Some(HashSet::new()), restricted }) };
        let allowed = Some(tx.consenting(Purpose::Marketing.name(), channel)?.into_iter().collect());
        Ok(Scope { allowed, restricted })
    }

    /// Refuses a direct read of a customer a marketing session may not see.
    fn check_consent(&self, tx: &mut dyn Transaction, id: CustomerId) -> Result<()> {
        if self.purpose != Purpose::Marketing {
            return Ok(());
        }
        let consents = match self.channel {
            Some(channel) => tx
                .consents_of(id)?
                .into_iter()
                .rev()
                .find(|c| c.purpose == Purpose::Marketing.name() && c.channel == channel)
                .is_some_and(|c| c.granted),
            None => false,
        };
        if consents {
            return Ok(());
        }
        let channel = self.channel.map_or("(no channel named)".to_owned(), |c| c.name().to_owned());
        Err(Error::Denied {
            rule: rules::MARKETING_CONSENT_REQUIRED,
            reason: format!("customer {id} has no current consent to marketing by {channel}"),
        })
    }

    /// Records a consent being given or withdrawn for customer `id`. It
    /// takes effect on the very next call of any session.
    pub fn record_consent(&self, id: CustomerId, change: &ConsentChange) -> Result<ConsentRecord> {
        self.run(Call::about(Action::Update, "consent.record", id), |store, tx, _, trail| {
            check_change(change)?;
            tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            if !change.channel.is_contact() {
                // A sharing consent names a registered recipient, or every third party.
                let recipient = change.purpose.name();
                if recipient != THIRD_PARTIES
                    && tx.directory_get(crate::storage::DirectoryKind::Recipient, recipient)?.is_none()
                {
                    return Err(Error::invalid(
                        "purpose",
                        "consent_recipient_unknown",
                        format!(
                            "a consent to sharing names a registered recipient or '{THIRD_PARTIES}', not '{recipient}'"
                        ),
                    ));
                }
            }
            let record = ConsentRecord {
                customer: id,
                purpose: change.purpose.name().to_owned(),
                channel: change.channel,
                granted: change.granted,
                at: store.clock.now_millis(),
                source: change.source.clone(),
                policy_version: change.policy_version.clone(),
                recorded_by: self.principal_id.clone(),
            };
            tx.append_consent(&record)?;
            trail.changed.push(format!("consent.{}.{}", record.purpose, record.channel));
            Ok(record)
        })
    }

    /// Customer `id`'s consent records, oldest first.
    pub fn consents(&self, id: CustomerId) -> Result<Vec<ConsentRecord>> {
        self.run(Call::about(Action::Read, "consent.read", id), |_, tx, _, _| {
            tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
            tx.consents_of(id)
        })
    }

    /// How the session's principal authenticated.
    pub fn auth(&self) -> &AuthContext {
        &self.auth
    }

    /// The id of the session's principal.
    pub fn principal_id(&self) -> &str {
        &self.principal_id
    }

    /// Whether the session's principal may currently perform `action` for
    /// the session's purpose (as of now: grants are looked up again). Not
    /// audited: it reveals nothing but the principal's own permissions.
    pub fn can(&self, action: Action) -> Result<bool> {
        let mut tx = self.store.backend.begin(TxMode::Read)?;
        match self.authorise(tx.as_mut(), action, false) {
            Ok(_) => Ok(true),
            Err(Error::Denied { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The session's purpose.
    pub fn purpose(&self) -> &Purpose {
        &self.purpose
    }

    /// Runs one audited call of this session through the engine
    /// ([`super::engine::run`]): authorised, audited, committed.
    pub(super) fn run<T>(
        &self,
        call: Call,
        op: impl FnOnce(&StoreInner, &mut dyn Transaction, &FieldPlan, &mut Trail) -> Result<T>,
    ) -> Result<T> {
        engine::run(&self.store, Caller::Session(self), call, op)
    }

    pub(super) fn store(&self) -> &StoreInner {
        &self.store
    }

    pub(super) fn today_days(&self) -> i64 {
        self.store.clock.now_millis().div_euclid(MILLIS_PER_DAY)
    }

    /// Validates and normalises one written value, and checks the plan lets
    /// this session write the field (plain or masked access).
    pub(super) fn accept(&self, plan: &FieldPlan, field: &Field, raw: &str) -> Result<Option<Zeroizing<String>>> {
        // An unknown field is a catalogue error, whoever asks.
        self.store.catalogue.check_field(field)?;
        if let Decision::Deny(rule) = plan.decision(field) {
            return Err(Error::Denied {
                rule: write_rule(rule),
                reason: format!("principal '{}' may not write field '{field}'", self.principal_id),
            });
        }
        Ok(normalise(field, raw, &self.store.catalogue, self.today_days())?.map(Zeroizing::new))
    }

    /// Creates a customer and returns it as this session sees it.
    pub fn create(&self, input: CustomerInput) -> Result<CustomerView> {
        self.run(Call::new(Action::Create, "customer.create"), |store, tx, plan, trail| {
            trail.wrote(input.fields(), false);
            let (row, key) = self.insert_new(store, tx, plan, &input, &mut IdBlock::new(1))?;
            trail.touched(row.header.id);
            let view = store.render_with(&row.header, &row.sealed, Some(&key), plan)?;
            trail.saw(&view, plan);
            Ok(view)
        })
    }

    /// Creates many customers in one transaction: all of them, or none.
    /// A rejected input fails the whole batch with [`Error::InBatch`], which
    /// names its position. Much faster than one `create` per customer for
    /// imports, since the batch commits once. One audit entry lists them all.
    pub fn create_many(&self, inputs: impl IntoIterator<Item = CustomerInput>) -> Result<Vec<CustomerId>> {
        self.run(Call::new(Action::Create, "customer.create_many"), |store, tx, plan, trail| {
            let inputs = inputs.into_iter();
            // Reserve as many ids as the input says it holds, so an exact-size
            // batch leaves no gap in the id sequence.
            let mut block = IdBlock::new(u32::try_from(inputs.size_hint().0).unwrap_or(u32::MAX).clamp(1, 65_536));
            let mut ids = Vec::new();
            for (index, input) in inputs.enumerate() {
                trail.wrote(input.fields(), false);
                let (row, _) = self
                    .insert_new(store, tx, plan, &input, &mut block)
                    .map_err(|e| Error::InBatch { index, source: Box::new(e) })?;
                trail.touched(row.header.id);
                ids.push(row.header.id);
            }
            Ok(ids)
        })
    }

    /// Validates, seals and inserts one new customer inside `tx`.
    pub(super) fn insert_new(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        input: &CustomerInput,
        ids: &mut IdBlock,
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
        self.insert_values(store, tx, &values, STATUS_ACTIVE, ids)
    }

    /// Seals and inserts a new customer holding `values` (already checked,
    /// and the external code free) with `status`.
    pub(super) fn insert_values(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        values: &Values,
        status: &str,
        ids: &mut IdBlock,
    ) -> Result<(CustomerRow, DataKey)> {
        let id = ids.take(tx)?;
        let key = DataKey::generate()?;
        tx.put_data_key(
            id,
            &WrappedKey { key_id: key.id, wrapped: store.wrappers.current().wrap_data_key(id, &key)? },
        )?;
        let now = store.clock.now_millis();
        let mut row = CustomerRow {
            header: CustomerHeader {
                id,
                kind: String::new(),
                external_code: None,
                category: None,
                source: None,
                tier: None,
                status: status.into(),
                created_at: now,
                updated_at: now,
                version: 1,
                key_id: key.id,
                region: None,
            },
            sealed: Default::default(),
            blind: Default::default(),
            search: Default::default(),
        };
        store.header_from(&mut row.header, values);
        let cipher = FieldCipher::new(id, &key);
        for (field, value) in values.iter().filter(|(f, _)| f.storage() == Storage::Sealed) {
            store.seal_field(&mut row, &cipher, field, Some(value))?;
        }
        tx.insert_customer(&row)?;
        Ok((row, key))
    }

    /// Reads a customer by id.
    pub fn get(&self, id: CustomerId) -> Result<CustomerView> {
        self.run(Call::about(Action::Read, "customer.get", id), |store, tx, plan, trail| {
            self.check_consent(tx, id)?;
            let view = read_view(store, tx, plan, id)?;
            trail.saw(&view, plan);
            Ok(view)
        })
    }

    /// Reads a customer by its external code (编号).
    pub fn get_by_external_code(&self, code: &str) -> Result<CustomerView> {
        self.run(Call::new(Action::Read, "customer.get"), |store, tx, plan, trail| {
            let code = normalise_lookup(&Field::ExternalCode, code, &store.catalogue, self.today_days())?;
            let id = tx.find_external_code(&code)?.ok_or_else(|| Error::ExternalCodeNotFound(code.clone()))?;
            trail.touched(id);
            self.check_restriction(tx, id)?;
            self.check_consent(tx, id)?;
            let view = read_view(store, tx, plan, id)?;
            trail.saw(&view, plan);
            Ok(view)
        })
    }

    /// Applies `patch` to customer `id` if its version is still
    /// `expected_version`; otherwise fails with [`Error::VersionConflict`] and
    /// changes nothing. Returns the customer's new state.
    pub fn update(&self, id: CustomerId, expected_version: u64, patch: CustomerPatch) -> Result<CustomerView> {
        self.update_as(Call::about(Action::Update, "customer.update", id), id, expected_version, patch)
    }

    /// An update recorded as `call`.
    pub(super) fn update_as(
        &self,
        call: Call,
        id: CustomerId,
        expected_version: u64,
        patch: CustomerPatch,
    ) -> Result<CustomerView> {
        self.run(call, |store, tx, plan, trail| {
            let (row, key) = self.apply_patch(store, tx, plan, trail, id, expected_version, &patch)?;
            let view = store.render_with(&row.header, &row.sealed, Some(&key), plan)?;
            trail.saw(&view, plan);
            Ok(view)
        })
    }

    /// Applies `patch` to customer `id` at `expected_version` inside `tx`
    /// (validated, re-sealed, version bumped; an `unverified` customer that
    /// it makes valid becomes `active`) and returns the stored row and key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_patch(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        trail: &mut Trail,
        id: CustomerId,
        expected_version: u64,
        patch: &CustomerPatch,
    ) -> Result<(CustomerRow, DataKey)> {
        if patch.is_empty() {
            return Err(Error::invalid("patch", "empty_patch", "the patch changes no field"));
        }
        trail.wrote(patch.changes.keys(), true);
        let mut row = row_at_version(tx, id, expected_version)?;
        let wrapped = tx.get_data_key(id)?;
        let key = store.data_key(id, wrapped.as_ref())?;
        let mut values = store.unseal_all(&row, &key)?;
        for (field, raw) in &patch.changes {
            match self.accept(plan, field, raw.as_deref().unwrap_or(""))? {
                Some(v) => values.insert(field.clone(), v),
                None => values.remove(field),
            };
        }
        check_record(|f| values.get(f).map(|v| v.as_str().to_owned()))?;
        if let Some(code) = values.get(&Field::ExternalCode) {
            if let Some(existing) = tx.find_external_code(code)?.filter(|holder| *holder != id) {
                return Err(Error::DuplicateExternalCode { code: code.as_str().to_owned(), existing });
            }
        }
        store.header_from(&mut row.header, &values);
        if row.header.status == STATUS_UNVERIFIED && passes(&values, &store.catalogue, self.today_days()) {
            // The correction made every value valid: the customer is verified.
            row.header.status = STATUS_ACTIVE.into();
            trail.changed.push(Field::Status.name().into_owned());
        }
        let cipher = FieldCipher::new(id, &key);
        for field in patch.changes.keys().filter(|f| f.storage() == Storage::Sealed) {
            store.seal_field(&mut row, &cipher, field, values.get(field).map(|v| v.as_str()))?;
        }
        replace_versioned(store, tx, &mut row, expected_version)?;
        Ok((row, key))
    }

    /// Deletes customer `id`: its row, sealed fields, blind-index entries and data key.
    pub fn delete(&self, id: CustomerId) -> Result<()> {
        self.run(Call::about(Action::Delete, "customer.delete", id), |_, tx, _, _| {
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

    /// Exact lookup by unified social credit code (any case, spaces allowed).
    pub fn find_by_credit_code(&self, credit_code: &str) -> Result<Vec<CustomerView>> {
        self.find(Field::CreditCode, credit_code)
    }

    /// Exact lookup through a blind index (mobile, e-mail, ID number or credit code). The
    /// session must be allowed to see the field, plain or masked. The audit
    /// entry keeps a keyed hash of the value, never the value.
    pub fn find(&self, field: Field, value: &str) -> Result<Vec<CustomerView>> {
        self.run(Call::new(Action::Read, "customer.lookup"), |store, tx, plan, trail| {
            if !field.has_blind_index() {
                return Err(Error::out_of_range(
                    field.name(),
                    "not_indexed",
                    "exact lookup exists for mobile, email, id_number and credit_code only",
                ));
            }
            let value = Zeroizing::new(normalise_lookup(&field, value, &store.catalogue, self.today_days())?);
            trail.lookup = Some((field.name().into_owned(), hex(&store.audit.value_hash(&field.name(), &value))));
            if let Decision::Deny(rule) = plan.decision(&field) {
                return Err(Error::Denied {
                    rule,
                    reason: format!("principal '{}' may not look up by '{field}'", self.principal_id),
                });
            }
            let digest = store.blind.digest(&field, &value).expect("field has a blind index");
            let scope = self.consent_scope(tx)?;
            let mut views = Vec::new();
            for id in tx.find_blind(&field.name(), &digest)? {
                // Customers a marketing session may not see are simply absent.
                if !scope.admits(id) {
                    continue;
                }
                let view = read_view(store, tx, plan, id)?;
                trail.saw(&view, plan);
                views.push(view);
            }
            Ok(views)
        })
    }
}

/// Which customers a session may find in lists, lookups and searches: for a
/// marketing session only consenting ones; for any purpose but compliance
/// none that restricted processing.
pub(super) struct Scope {
    allowed: Option<HashSet<CustomerId>>,
    restricted: Arc<HashSet<CustomerId>>,
}

impl Scope {
    /// Whether the session may see customer `id`.
    pub(super) fn admits(&self, id: CustomerId) -> bool {
        self.allowed.as_ref().is_none_or(|a| a.contains(&id)) && !self.restricted.contains(&id)
    }

    /// Whether it admits every customer (no filtering needed).
    pub(super) fn admits_everyone(&self) -> bool {
        self.allowed.is_none() && self.restricted.is_empty()
    }
}

/// Customer ids reserved from the store a block at a time, so a batch does
/// not update the id counter once per customer.
pub(super) struct IdBlock {
    size: u32,
    next: i64,
    end: i64,
}

impl IdBlock {
    pub(super) fn new(size: u32) -> Self {
        IdBlock { size, next: 0, end: 0 }
    }

    fn take(&mut self, tx: &mut dyn Transaction) -> Result<CustomerId> {
        if self.next == self.end {
            self.next = tx.reserve_customer_ids(self.size)?.0;
            self.end = self.next + i64::from(self.size);
            // Later blocks (for inputs longer than announced) stay small.
            self.size = self.size.min(256);
        }
        self.next += 1;
        Ok(CustomerId(self.next - 1))
    }
}

/// Customer `id`'s row, if it is still at `expected_version`; otherwise
/// [`Error::VersionConflict`] (or not found).
pub(super) fn row_at_version(tx: &mut dyn Transaction, id: CustomerId, expected_version: u64) -> Result<CustomerRow> {
    let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
    if row.header.version != expected_version {
        return Err(Error::VersionConflict { customer: id, expected: expected_version, actual: row.header.version });
    }
    Ok(row)
}

/// Stores `row` as the next version after `expected_version`, or fails with
/// [`Error::VersionConflict`] if someone else changed it meanwhile.
pub(super) fn replace_versioned(
    store: &StoreInner,
    tx: &mut dyn Transaction,
    row: &mut CustomerRow,
    expected_version: u64,
) -> Result<()> {
    row.header.version = expected_version + 1;
    row.header.updated_at = store.clock.now_millis().max(row.header.updated_at);
    if !tx.replace_customer(row, expected_version)? {
        let actual = tx.get_customer(row.header.id)?.map_or(0, |r| r.header.version);
        return Err(Error::VersionConflict { customer: row.header.id, expected: expected_version, actual });
    }
    Ok(())
}

/// Reads and renders one customer under `plan`.
pub(super) fn read_view(
    store: &StoreInner,
    tx: &mut dyn Transaction,
    plan: &FieldPlan,
    id: CustomerId,
) -> Result<CustomerView> {
    let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
    let key = tx.get_data_key(id)?;
    store.render(&row.header, &row.sealed, key.as_ref(), plan)
}

/// The rule id reported when a write hits a field the session cannot see.
fn write_rule(read_rule: &'static str) -> &'static str {
    if read_rule == rules::DEFAULT_DENY { rules::DEFAULT_DENY } else { rules::WRITE_NOT_PERMITTED }
}
