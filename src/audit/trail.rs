//! What a session call collects for its audit entry while it runs.

use std::collections::{BTreeMap, BTreeSet};

use crate::access::{Decision, FieldPlan};
use crate::model::{CustomerId, CustomerView, Field};
use crate::records::RecordView;

/// The facts of one call that go into its audit entry.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    pub(crate) customers: BTreeSet<CustomerId>,
    /// The attached records concerned.
    pub(crate) records: BTreeSet<u64>,
    pub(crate) fields: BTreeSet<String>,
    pub(crate) changed: Vec<String>,
    /// The first masking rule that applied to a value returned.
    pub(crate) masked_by: Option<&'static str>,
    /// Every rule that masked or withheld a returned field, with the fields.
    pub(crate) explained: BTreeMap<(&'static str, &'static str), BTreeSet<String>>,
    /// The looked-up field and the keyed hash (hex) of the value.
    pub(crate) lookup: Option<(String, String)>,
    /// Whether a second factor was verified, when the call itself decides
    /// it (a login); otherwise the caller's.
    pub(crate) mfa: Option<bool>,
    /// The audited reason, when it must say more than the caller is told
    /// (a failed login's exact cause).
    pub(crate) reason: Option<String>,
    /// Set with a refusal whose writes must persist with its entry (a
    /// failed login's counter); any other failure rolls back.
    pub(crate) keep_refusal: bool,
}

impl Trail {
    pub(crate) fn about(subject: Option<CustomerId>) -> Self {
        Trail { customers: subject.into_iter().collect(), ..Default::default() }
    }

    /// Records a customer returned to the caller and the fields it revealed.
    pub(crate) fn saw(&mut self, view: &CustomerView, plan: &FieldPlan) {
        self.customers.insert(view.id);
        self.revealed(view.iter(), view.withheld(), plan);
    }

    /// Records an attached record returned to the caller and the fields it revealed.
    pub(crate) fn saw_record(&mut self, view: &RecordView, plan: &FieldPlan) {
        self.customers.insert(view.customer);
        self.records.insert(view.id.0);
        self.revealed(view.iter(), view.withheld(), plan);
    }

    fn revealed<'a>(
        &mut self,
        values: impl Iterator<Item = (&'a Field, &'a crate::model::Shown)>,
        withheld: &[crate::model::Withheld],
        plan: &FieldPlan,
    ) {
        for (field, shown) in values {
            if !self.fields.contains(field.name().as_ref()) {
                self.fields.insert(field.name().into_owned());
            }
            if shown.is_masked() {
                if let Decision::Mask(rule) = plan.decision(field) {
                    self.masked_by.get_or_insert(rule);
                    self.explain("masked", rule, field);
                }
            }
        }
        for withheld in withheld {
            self.explain("withheld", withheld.rule, &withheld.field);
        }
    }

    fn explain(&mut self, what: &'static str, rule: &'static str, field: &Field) {
        let fields = self.explained.entry((what, rule)).or_default();
        if !fields.contains(field.name().as_ref()) {
            fields.insert(field.name().into_owned());
        }
    }

    /// Why values were masked or withheld, rule by rule (`masked by
    /// builtin.l1_requires_mfa: birth_date, id_number`), or `None`.
    pub(crate) fn explanation(&self) -> Option<String> {
        let parts: Vec<String> = self
            .explained
            .iter()
            .map(|((what, rule), fields)| {
                format!("{what} by {rule}: {}", fields.iter().cloned().collect::<Vec<_>>().join(", "))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Records a customer touched without being returned (created in a batch, deleted).
    pub(crate) fn touched(&mut self, id: CustomerId) {
        self.customers.insert(id);
    }

    /// Records the fields a write set or changed.
    pub(crate) fn wrote<'a>(&mut self, fields: impl IntoIterator<Item = &'a Field>, changed: bool) {
        for field in fields {
            let name = field.name();
            if changed && !self.changed.iter().any(|c| *c == name) {
                self.changed.push(name.clone().into_owned());
            }
            if !self.fields.contains(name.as_ref()) {
                self.fields.insert(name.into_owned());
            }
        }
    }
}
