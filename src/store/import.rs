//! Importing records from outside (the prototype's saved file, CSV) and
//! verifying them afterwards (录入 → 审核).
//!
//! An import is one transaction: every row is stored or none is. A row whose
//! values fail validation is not lost: it is stored as entered, with status
//! `unverified`, and the report names each problem (field, rule, message;
//! never the value). A duplicate external code or mobile number is reported
//! too. An unverified customer becomes `active` once its values pass
//! validation: on the update that corrects them, or by [`Session::verify`].
//!
//! Importing the same file again adds nothing: a row whose external code
//! (编号) already belongs to a customer is matched with it. An identical row
//! is skipped and reported as already present; a different one is reported
//! as a conflict, naming the fields that differ, and not imported, unless
//! the caller asks for the existing customer to be updated
//! ([`ImportOptions::update_existing`]). Row numbers count from 1, as people
//! (and the console) count records.

use zeroize::Zeroizing;

use super::StoreInner;
use super::audit_queries::collect_entries;
use super::codec::Values;
use super::session::{Call, IdBlock, STATUS_ACTIVE, STATUS_UNVERIFIED, Session, replace_versioned, row_at_version};
use crate::access::{Action, FieldPlan, rules};
use crate::audit::Outcome;
use crate::audit::Trail;
use crate::error::{Error, Result};
use crate::model::validate::{MAX_RAW_BYTES, check_record, check_stored};
use crate::model::{CustomerId, CustomerInput, CustomerPatch, CustomerView, Field};
use crate::storage::AuditFilter;
use crate::storage::Transaction;

/// One row to import: its position in the source (record slot, CSV line)
/// and its values as entered.
#[derive(Debug)]
pub struct ImportRow {
    /// Where the row came from, for the report: its record or line number,
    /// counted from 1 as the user counts them.
    pub row: usize,
    /// The values as entered.
    pub input: CustomerInput,
}

/// Something wrong with one imported row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    /// The field concerned (or `record`).
    pub field: String,
    /// Stable rule id (`mobile_format`, `required`, `duplicate_code`, ...).
    pub rule: &'static str,
    /// What is wrong; never the value itself.
    pub message: String,
}

/// What became of one imported row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCustomer {
    /// The row's position in the source.
    pub row: usize,
    /// The customer it became.
    pub customer: CustomerId,
    /// Whether every value passed validation (status `active`); otherwise
    /// the customer is `unverified` until corrected.
    pub verified: bool,
    /// Everything reported about the row (validation failures, duplicates).
    pub problems: Vec<ImportProblem>,
}

/// A row whose external code already belongs to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRow {
    /// The row's position in the source (from 1).
    pub row: usize,
    /// The existing customer with the row's external code.
    pub customer: CustomerId,
    /// What the import did with it.
    pub outcome: Matched,
}

/// What an import did with a row that matched an existing customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// Every value of the row is already stored: skipped.
    AlreadyPresent,
    /// The row's values differ in `fields`: not imported (ask for
    /// [`ImportOptions::update_existing`] to apply them).
    Conflict {
        /// The fields whose values differ.
        fields: Vec<String>,
    },
    /// The existing customer was updated with the row's values in `fields`.
    Updated {
        /// The fields that changed.
        fields: Vec<String>,
    },
}

/// How an import treats rows that match existing customers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Apply a matched row's differing values to the existing customer (the
    /// session must be allowed to update customers) instead of reporting a
    /// conflict.
    pub update_existing: bool,
    /// Leave rows whose values fail validation out (reported in
    /// [`ImportReport::rejected`]) instead of keeping them `unverified`.
    pub reject_invalid: bool,
    /// List only the rows with something to report: in
    /// [`ImportReport::customers`] the unverified rows and those with a
    /// duplicate, in [`ImportReport::matched`] the conflicts and updates.
    /// Every row is still counted in [`ImportReport::counts`]. With it an
    /// import's memory no longer grows with the rows that went well (a
    /// million-row file).
    pub problems_only: bool,
}

impl ImportOptions {
    /// The defaults: matched rows that differ are reported as conflicts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ImportOptions::update_existing`].
    pub fn update_existing(mut self, update: bool) -> Self {
        self.update_existing = update;
        self
    }

    /// Sets [`ImportOptions::reject_invalid`].
    pub fn reject_invalid(mut self, reject: bool) -> Self {
        self.reject_invalid = reject;
        self
    }

    /// Sets [`ImportOptions::problems_only`].
    pub fn problems_only(mut self, problems_only: bool) -> Self {
        self.problems_only = problems_only;
        self
    }
}

/// How many rows of an import went which way; complete whatever the
/// report lists ([`ImportOptions::problems_only`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Rows that became new customers (verified and unverified).
    pub created: u64,
    /// New customers whose values all passed validation (`active`).
    pub verified: u64,
    /// Rows matched by external code and skipped as already present.
    pub already_present: u64,
    /// Matched rows that differ and were not imported.
    pub conflicts: u64,
    /// Matched rows that updated their customer.
    pub updated: u64,
    /// Rows left out because their values failed validation.
    pub rejected: u64,
}

/// The result of an import: one line per row, in source order (only the
/// rows with something to report under [`ImportOptions::problems_only`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Every row counted by outcome.
    pub counts: ImportCounts,
    /// Every row that became a new customer.
    pub customers: Vec<ImportedCustomer>,
    /// Every row whose external code already belonged to a customer.
    pub matched: Vec<MatchedRow>,
    /// Rows left out because their values failed validation (with
    /// [`ImportOptions::reject_invalid`]), with what was wrong.
    pub rejected: Vec<RejectedRow>,
}

/// A row an import left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The row's position in the source.
    pub row: usize,
    /// Why (field and rule; never the value).
    pub problems: Vec<ImportProblem>,
}

impl ImportReport {
    /// Rows imported as verified customers.
    pub fn verified(&self) -> usize {
        self.counts.verified as usize
    }

    /// Rows imported but left unverified.
    pub fn unverified(&self) -> usize {
        (self.counts.created - self.counts.verified) as usize
    }

    /// Rows with anything reported (unverified ones and duplicates).
    pub fn with_problems(&self) -> impl Iterator<Item = &ImportedCustomer> {
        self.customers.iter().filter(|c| !c.problems.is_empty())
    }

    /// Matched rows that were skipped as already present.
    pub fn already_present(&self) -> usize {
        self.counts.already_present as usize
    }

    /// Matched rows that differ and were not imported.
    pub fn conflicts(&self) -> impl Iterator<Item = &MatchedRow> {
        self.matched.iter().filter(|m| matches!(m.outcome, Matched::Conflict { .. }))
    }
}

impl ImportCounts {
    fn count(&mut self, outcome: &Matched) {
        match outcome {
            Matched::AlreadyPresent => self.already_present += 1,
            Matched::Conflict { .. } => self.conflicts += 1,
            Matched::Updated { .. } => self.updated += 1,
        }
    }
}

/// The customers an import has created so far, for naming the row of an
/// in-file duplicate: ids are handed out in increasing order, so a row
/// number per id from the first one (4 bytes a row) is all it takes.
#[derive(Default)]
struct CreatedRows {
    first: Option<CustomerId>,
    rows: Vec<u32>,
}

impl CreatedRows {
    fn record(&mut self, id: CustomerId, row: usize) {
        let first = *self.first.get_or_insert(id);
        let at = (id.0 - first.0) as usize;
        if self.rows.len() <= at {
            self.rows.resize(at + 1, 0);
        }
        self.rows[at] = u32::try_from(row).unwrap_or(u32::MAX);
    }

    /// The row customer `id` came from, if this import created it.
    fn row_of(&self, id: CustomerId) -> Option<u32> {
        let first = self.first?;
        let at = usize::try_from(id.0.checked_sub(first.0)?).ok()?;
        self.rows.get(at).copied().filter(|row| *row != 0)
    }
}

fn problem(e: &Error) -> Option<ImportProblem> {
    match e {
        Error::Invalid { field, rule, message } => {
            Some(ImportProblem { field: field.clone(), rule, message: message.clone() })
        }
        Error::UnknownField(field) => {
            Some(ImportProblem { field: field.clone(), rule: "unknown_field", message: "not in the catalogue".into() })
        }
        _ => None,
    }
}

impl Session {
    /// Imports `rows` in one transaction: all of them or, if storage fails
    /// or the session may not create customers, none. Rows that fail
    /// validation are imported as `unverified` with their values as entered;
    /// duplicate external codes (the later row is imported without the
    /// code) and mobile numbers are reported. One audit entry names every
    /// customer created.
    pub fn import(&self, rows: impl IntoIterator<Item = ImportRow>) -> Result<ImportReport> {
        self.import_with(rows, &ImportOptions::default())
    }

    /// [`Session::import`] with options: whether rows that match existing
    /// customers (by external code) and differ update them. An import that
    /// may update is audited as `customer.import_update` and needs the
    /// `update` action as well as `create`.
    pub fn import_with(
        &self,
        rows: impl IntoIterator<Item = ImportRow>,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        self.import_stream("customer.import", rows.into_iter().map(Ok), options)
    }

    /// Imports rows as a source yields them (a CSV file being read), in one
    /// transaction: a source error (a malformed file) fails the import
    /// whole, nothing imported. Audited as `name` (`_update` appended when
    /// matched rows may update customers).
    pub(super) fn import_stream(
        &self,
        name: &'static str,
        rows: impl Iterator<Item = Result<ImportRow>>,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        let name = match (options.update_existing, name) {
            (false, name) => name,
            (true, "customer.import_csv") => "customer.import_csv_update",
            (true, _) => "customer.import_update",
        };
        if options.update_existing && !self.can(Action::Update)? {
            return self.run(Call::new(Action::Update, name), |_, _, _, _| Ok(ImportReport::default()));
        }
        self.run(Call::new(Action::Create, name), |store, tx, plan, trail| {
            // An exact-size source reserves exactly its ids; a stream (a CSV
            // file) reserves blocks of 256 (unused ones are skipped, never reused).
            let hint = u32::try_from(rows.size_hint().0).unwrap_or(u32::MAX);
            let mut ids = IdBlock::new(if hint == 0 { 256 } else { hint.clamp(1, 65_536) });
            // Duplicates within the file are found in the store itself (the
            // rows inserted so far are visible in this transaction), not in
            // maps of the file's values: `new_rows` tells the customers this
            // import created, and their rows, from their ids.
            let mut new_rows = CreatedRows::default();
            let mut report = ImportReport::default();
            for next in rows {
                let ImportRow { row, input } = next?;
                trail.wrote(input.fields(), false);
                let mut problems = Vec::new();
                let mut values = Values::new();
                let mut valid = Values::new();
                for (field, raw) in &input.values {
                    match self.accept(plan, field, raw) {
                        Ok(Some(v)) => {
                            valid.insert(field.clone(), v.clone());
                            values.insert(field.clone(), v);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let Some(p) = problem(&e) else { return Err(e) };
                            if raw.len() > MAX_RAW_BYTES || !field.is_writable() || matches!(e, Error::UnknownField(_))
                            {
                                // Not storable as entered: reported and left out.
                                problems.push(ImportProblem { message: format!("{}; left out", p.message), ..p });
                                continue;
                            }
                            problems.push(p);
                            values.insert(field.clone(), Zeroizing::new(raw.trim().to_owned()));
                        }
                    }
                }
                if let Err(e) = check_record(|f| valid.get(f).map(|v| v.as_str().to_owned())) {
                    problems.extend(problem(&e));
                }
                let code = values.get(&Field::ExternalCode).map(|c| c.as_str().to_owned());
                let holder = match &code {
                    Some(code) => tx.find_external_code(code)?,
                    None => None,
                };
                match holder.and_then(|id| new_rows.row_of(id).map(|earlier| (id, earlier))) {
                    Some((id, earlier)) => {
                        problems.push(ImportProblem {
                            field: Field::ExternalCode.name().into_owned(),
                            rule: "duplicate_code",
                            message: format!(
                                "code '{}' already belongs to row {earlier} (customer {id}); imported without it",
                                code.as_deref().unwrap_or_default()
                            ),
                        });
                        values.remove(&Field::ExternalCode);
                    }
                    None => {
                        if let Some(existing) = holder {
                            // Imported before (or entered by hand): matched, never doubled.
                            let outcome = self.match_existing(store, tx, plan, trail, existing, &values, options)?;
                            report.counts.count(&outcome);
                            if !(options.problems_only && outcome == Matched::AlreadyPresent) {
                                report.matched.push(MatchedRow { row, customer: existing, outcome });
                            }
                            continue;
                        }
                    }
                }
                let mut duplicate_mobile = None;
                if let Some(digest) = valid.get(&Field::Mobile).and_then(|m| store.blind.digest(&Field::Mobile, m)) {
                    // The earliest holder: an existing customer before any row of this file.
                    duplicate_mobile =
                        tx.find_blind("mobile", &digest)?.into_iter().min().map(|id| match new_rows.row_of(id) {
                            Some(earlier) => format!("row {earlier} (customer {id})"),
                            None => format!("customer {id}"),
                        });
                }
                if options.reject_invalid && !problems.is_empty() {
                    report.counts.rejected += 1;
                    report.rejected.push(RejectedRow { row, problems });
                    continue;
                }
                let status = if problems.is_empty() { STATUS_ACTIVE } else { STATUS_UNVERIFIED };
                let (created, _) = self.insert_values(store, tx, &values, status, &mut ids)?;
                let id = created.header.id;
                trail.touched(id);
                if let Some(holder) = duplicate_mobile {
                    problems.push(ImportProblem {
                        field: Field::Mobile.name().into_owned(),
                        rule: "duplicate_mobile",
                        message: format!("the same mobile number as {holder}"),
                    });
                }
                new_rows.record(id, row);
                report.counts.created += 1;
                report.counts.verified += u64::from(status == STATUS_ACTIVE);
                if !(options.problems_only && problems.is_empty()) {
                    report.customers.push(ImportedCustomer {
                        row,
                        customer: id,
                        verified: status == STATUS_ACTIVE,
                        problems,
                    });
                }
            }
            Ok(report)
        })
    }

    /// Imports the prototype's saved file (all or nothing: a file that is not
    /// one, or whose last record is truncated, imports nothing). Each used
    /// slot becomes a customer; the report's `row` is its slot.
    pub fn import_khzl(&self, bytes: &[u8]) -> Result<ImportReport> {
        self.import_khzl_with(bytes, &ImportOptions::default())
    }

    /// [`Session::import_khzl`] with options (see [`Session::import_with`]).
    pub fn import_khzl_with(&self, bytes: &[u8], options: &ImportOptions) -> Result<ImportReport> {
        let records = match crate::import::khzl::parse(bytes) {
            Ok(records) => records,
            // A refused file is audited like any refused call.
            Err(e) => return self.run(Call::new(Action::Create, "customer.import"), |_, _, _, _| Err(e)),
        };
        self.import_with(records.iter().map(|r| ImportRow { row: r.slot, input: r.to_input() }), options)
    }

    /// Compares an imported row's `values` with existing customer `id`, and
    /// updates the customer with the differing ones if `options` say so.
    #[allow(clippy::too_many_arguments)]
    fn match_existing(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        plan: &FieldPlan,
        trail: &mut Trail,
        id: CustomerId,
        values: &Values,
        options: &ImportOptions,
    ) -> Result<Matched> {
        let row = tx.get_customer(id)?.ok_or(Error::CustomerNotFound(id))?;
        let key = store.data_key(id, tx.get_data_key(id)?.as_ref())?;
        let stored = store.unseal_all(&row, &key)?;
        let differing: Vec<&Field> = values
            .iter()
            .filter(|(field, value)| {
                field.is_writable() && stored.get(*field).map(|s| s.as_str()) != Some(value.as_str())
            })
            .map(|(field, _)| field)
            .collect();
        let fields: Vec<String> = differing.iter().map(|f| f.name().into_owned()).collect();
        if differing.is_empty() {
            return Ok(Matched::AlreadyPresent);
        }
        if !options.update_existing {
            return Ok(Matched::Conflict { fields });
        }
        // A customer who restricted processing is not changed by an import.
        self.check_restriction(tx, id)?;
        let patch = differing
            .iter()
            .fold(CustomerPatch::new(), |patch, field| patch.set((*field).clone(), values[*field].as_str()));
        trail.touched(id);
        self.apply_patch(store, tx, plan, trail, id, row.header.version, &patch)?;
        Ok(Matched::Updated { fields })
    }

    /// Refuses a verification by the principal who entered or last changed
    /// customer `id`, as the audit log records it.
    fn check_second_pair_of_eyes(&self, tx: &mut dyn Transaction, id: CustomerId) -> Result<()> {
        const WRITES: [&str; 9] = [
            "customer.create",
            "customer.merge",
            "customer.create_many",
            "customer.update",
            "customer.rectify",
            "customer.import",
            "customer.import_update",
            "customer.import_csv",
            "customer.import_csv_update",
        ];
        let filter = AuditFilter { customer: Some(id), ..Default::default() };
        let writes = collect_entries(tx, &filter, usize::MAX, |e| {
            matches!(e.outcome, Outcome::Allowed | Outcome::Masked) && WRITES.contains(&e.action.as_str())
        })?;
        match writes.last() {
            Some(last) if last.principal == self.principal_id() => Err(Error::Denied {
                rule: rules::FOUR_EYES,
                reason: format!(
                    "customer {id} was last entered or changed by principal '{}' ({}); another principal must verify it",
                    last.principal, last.action
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Verifies customer `id` (审核): if every stored value passes
    /// validation, an `unverified` customer becomes `active`; otherwise the
    /// first failing value's field and rule are reported and nothing
    /// changes. `expected_version` guards against lost updates. With
    /// four-eyes verification ([`crate::Store::set_four_eyes`]) the principal
    /// who entered or last changed the customer is refused
    /// (`verify.four_eyes`).
    pub fn verify(&self, id: CustomerId, expected_version: u64) -> Result<CustomerView> {
        self.run(Call::about(Action::Update, "customer.verify", id), |store, tx, plan, trail| {
            let mut row = row_at_version(tx, id, expected_version)?;
            if store.four_eyes {
                self.check_second_pair_of_eyes(tx, id)?;
            }
            let key = store.data_key(id, tx.get_data_key(id)?.as_ref())?;
            let values = store.unseal_all(&row, &key)?;
            check_stored(&values, &store.catalogue, self.today_days())?;
            if row.header.status == STATUS_UNVERIFIED {
                row.header.status = STATUS_ACTIVE.into();
                trail.changed.push(Field::Status.name().into_owned());
                replace_versioned(store, tx, &mut row, expected_version)?;
            }
            let view = store.render_with(&row.header, &row.sealed, Some(&key), plan)?;
            trail.saw(&view, plan);
            Ok(view)
        })
    }
}
