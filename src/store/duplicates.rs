//! Possible duplicate customers: pairs that share an ID number, a mobile or
//! an e-mail (found through the blind indexes, without decrypting), or
//! whose name and organisation are the same once normalised (full-width
//! and half-width, case, spaces and punctuation). A store-wide report, and a
//! check on create that refuses, warns or allows.
//!
//! A session is told only about signals it could read itself: a pair found
//! by mobile is reported only to a session that may see mobiles (plain or
//! masked), and customers it may not see at all are absent. The report
//! names customers and reasons, never a value.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use zeroize::Zeroizing;

use super::session::{Call, IdBlock, Session};
use crate::access::{Action, FieldPlan};
use crate::crypto::FieldCipher;
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerInput, CustomerView, Field};
use crate::storage::{Scan, Transaction};

/// Why two customers may be the same person or organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// The same national ID number.
    SameIdNumber,
    /// The same mobile number.
    SameMobile,
    /// The same e-mail address.
    SameEmail,
    /// The same unified social credit code (organisations).
    SameCreditCode,
    /// The same name and organisation, once normalised.
    SameNameAndOrganisation,
}

impl DuplicateReason {
    /// Stable name (`same_id_number`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DuplicateReason::SameIdNumber => "same_id_number",
            DuplicateReason::SameMobile => "same_mobile",
            DuplicateReason::SameEmail => "same_email",
            DuplicateReason::SameCreditCode => "same_credit_code",
            DuplicateReason::SameNameAndOrganisation => "same_name_and_organisation",
        }
    }

    /// How strongly the reason alone suggests a duplicate (0-100).
    fn weight(self) -> u8 {
        match self {
            DuplicateReason::SameIdNumber => 95,
            DuplicateReason::SameMobile => 80,
            DuplicateReason::SameEmail => 70,
            DuplicateReason::SameCreditCode => 95,
            DuplicateReason::SameNameAndOrganisation => 60,
        }
    }

    /// The blind-indexed field of the reason, if it has one.
    fn field(self) -> Option<Field> {
        match self {
            DuplicateReason::SameIdNumber => Some(Field::IdNumber),
            DuplicateReason::SameMobile => Some(Field::Mobile),
            DuplicateReason::SameEmail => Some(Field::Email),
            DuplicateReason::SameCreditCode => Some(Field::CreditCode),
            DuplicateReason::SameNameAndOrganisation => None,
        }
    }
}

/// Two customers that may be one, with a score (0-100: the strongest
/// reason's weight, plus 5 for each further reason) and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicatePair {
    /// The lower id.
    pub first: CustomerId,
    /// The higher id.
    pub second: CustomerId,
    /// How likely the two are one customer, 0-100.
    pub score: u8,
    /// Why, strongest first.
    pub reasons: Vec<DuplicateReason>,
}

/// A store-wide duplicate report: the pairs, highest score first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DuplicateReport {
    /// The pairs found, highest score first, then by ids.
    pub pairs: Vec<DuplicatePair>,
    /// Whether more pairs were found than the limit let through.
    pub truncated: bool,
}

/// What a create does about possible duplicates of the new customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateCheck {
    /// Create it anyway; report nothing.
    #[default]
    Allow,
    /// Create it and report the possible duplicates.
    Warn,
    /// Refuse it (`possible_duplicate`, naming the other customer and the
    /// field, never the value) and create nothing.
    Refuse,
}

impl DuplicateCheck {
    /// The check with this name (`allow`, `warn`, `refuse`).
    pub fn parse(name: &str) -> Result<DuplicateCheck> {
        match name {
            "allow" => Ok(DuplicateCheck::Allow),
            "warn" => Ok(DuplicateCheck::Warn),
            "refuse" => Ok(DuplicateCheck::Refuse),
            _ => Err(Error::invalid("duplicates", "duplicate_check", "must be one of: allow, warn, refuse")),
        }
    }
}

/// Most pairs one report holds.
pub const MAX_DUPLICATE_PAIRS: u32 = 100_000;

/// A name or organisation reduced to what tells two spellings apart:
/// full-width characters as half-width, lower case, no spaces or punctuation.
pub(crate) fn normalise_for_matching(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// The reasons found for each pair, before scoring.
#[derive(Default)]
struct Pairs {
    reasons: BTreeMap<(CustomerId, CustomerId), Vec<DuplicateReason>>,
}

impl Pairs {
    fn add_group(&mut self, group: &[CustomerId], reason: DuplicateReason, cap: usize) {
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                if self.reasons.len() >= cap && !self.reasons.contains_key(&(*a.min(b), *a.max(b))) {
                    return;
                }
                let entry = self.reasons.entry((*a.min(b), *a.max(b))).or_default();
                if !entry.contains(&reason) {
                    entry.push(reason);
                }
            }
        }
    }

    fn into_sorted(self) -> Vec<DuplicatePair> {
        let mut pairs: Vec<DuplicatePair> = self
            .reasons
            .into_iter()
            .map(|((first, second), mut reasons)| {
                reasons.sort_by_key(|r| std::cmp::Reverse(r.weight()));
                let extra = (reasons.len() as u8 - 1).saturating_mul(5);
                let score = reasons[0].weight().saturating_add(extra).min(100);
                DuplicatePair { first, second, score, reasons }
            })
            .collect();
        pairs.sort_by(|a, b| b.score.cmp(&a.score).then((a.first, a.second).cmp(&(b.first, b.second))));
        pairs
    }
}

const BLIND_REASONS: [DuplicateReason; 4] = [
    DuplicateReason::SameIdNumber,
    DuplicateReason::SameCreditCode,
    DuplicateReason::SameMobile,
    DuplicateReason::SameEmail,
];

impl Session {
    /// Finds possible duplicates across the store (see the module docs), at
    /// most `limit` pairs (1 to 100,000). Needs the `read` action; one audit
    /// entry (`customer.duplicates`) names every customer reported and the
    /// fields consulted.
    pub fn duplicates(&self, limit: u32) -> Result<DuplicateReport> {
        self.run(Call::new(Action::Read, "customer.duplicates"), |store, tx, plan, trail| {
            if limit == 0 || limit > MAX_DUPLICATE_PAIRS {
                return Err(Error::out_of_range(
                    "limit",
                    "duplicate_limit",
                    format!("a report holds 1 to {MAX_DUPLICATE_PAIRS} pairs"),
                ));
            }
            let scope = self.consent_scope(tx)?;
            let cap = limit as usize + 1;
            let mut pairs = Pairs::default();
            for reason in BLIND_REASONS {
                let field = reason.field().expect("blind reasons have a field");
                if !plan.visible(&field) {
                    continue;
                }
                trail.fields.insert(field.name().into_owned());
                for group in tx.blind_groups(&field.name())? {
                    let group: Vec<CustomerId> = group.into_iter().filter(|id| scope.admits(*id)).collect();
                    pairs.add_group(&group, reason, cap);
                }
            }
            if plan.visible(&Field::Name) && plan.visible(&Field::Organisation) {
                trail.fields.insert(Field::Name.name().into_owned());
                trail.fields.insert(Field::Organisation.name().into_owned());
                for group in name_groups(store, tx, &scope)? {
                    pairs.add_group(&group, DuplicateReason::SameNameAndOrganisation, cap);
                }
            }
            let mut sorted = pairs.into_sorted();
            let truncated = sorted.len() > limit as usize;
            sorted.truncate(limit as usize);
            for pair in &sorted {
                trail.touched(pair.first);
                trail.touched(pair.second);
            }
            Ok(DuplicateReport { pairs: sorted, truncated })
        })
    }

    /// Creates a customer like [`Session::create`], checking first for
    /// customers with the same ID number, mobile or e-mail (the blind
    /// indexes; the name-and-organisation comparison is the report's, as it
    /// decrypts every customer). `Refuse` fails with rule
    /// `possible_duplicate` and creates nothing; `Warn` creates it and
    /// returns the pairs; `Allow` is `create`.
    pub fn create_checked(
        &self,
        input: CustomerInput,
        check: DuplicateCheck,
    ) -> Result<(CustomerView, Vec<DuplicatePair>)> {
        self.run(Call::new(Action::Create, "customer.create"), |store, tx, plan, trail| {
            trail.wrote(input.fields(), false);
            let (row, key) = self.insert_new(store, tx, plan, &input, &mut IdBlock::new(1))?;
            let id = row.header.id;
            trail.touched(id);
            let mut found = Vec::new();
            if check != DuplicateCheck::Allow {
                let scope = self.consent_scope(tx)?;
                found = blind_matches(tx, plan, &scope, id, &row.blind)?;
            }
            if check == DuplicateCheck::Refuse {
                if let Some(pair) = found.first() {
                    let other = if pair.first == id { pair.second } else { pair.first };
                    let field = pair.reasons[0].field().map_or("record".into(), |f| f.name().into_owned());
                    return Err(Error::invalid(
                        field,
                        "possible_duplicate",
                        format!(
                            "customer {other} has the same value ({}); nothing was created",
                            pair.reasons[0].name()
                        ),
                    ));
                }
            }
            for pair in &found {
                trail.touched(pair.first.min(pair.second));
                trail.touched(pair.first.max(pair.second));
            }
            let view = store.render_with(&row.header, &row.sealed, Some(&key), plan)?;
            trail.saw(&view, plan);
            Ok((view, found))
        })
    }
}

/// The customers that share a blind-indexed value with new customer `id`.
fn blind_matches(
    tx: &mut dyn Transaction,
    plan: &FieldPlan,
    scope: &super::session::Scope,
    id: CustomerId,
    blind: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<DuplicatePair>> {
    let mut pairs = Pairs::default();
    for reason in BLIND_REASONS {
        let field = reason.field().expect("blind reasons have a field");
        let Some(digest) = blind.get(field.name().as_ref()) else { continue };
        if !plan.visible(&field) {
            continue;
        }
        for other in tx.find_blind(&field.name(), digest)? {
            if other != id && scope.admits(other) {
                pairs.add_group(&[id, other], reason, usize::MAX);
            }
        }
    }
    Ok(pairs.into_sorted())
}

/// Groups of customers whose name and organisation (both present) are the
/// same once normalised. Decrypts both fields of every customer.
fn name_groups(
    store: &super::StoreInner,
    tx: &mut dyn Transaction,
    scope: &super::session::Scope,
) -> Result<Vec<Vec<CustomerId>>> {
    // Keyed by the normalised texts (wiped below, once grouped).
    let mut groups: HashMap<String, Vec<CustomerId>> = HashMap::new();
    let mut failure = None;
    tx.scan_customers(&["name", "organisation"], &mut |c| {
        if !scope.admits(c.header.id) {
            return Ok(Scan::Continue);
        }
        let (Some(name), Some(organisation)) = (c.sealed.get("name"), c.sealed.get("organisation")) else {
            return Ok(Scan::Continue);
        };
        let Some(wrapped) = &c.key else { return Ok(Scan::Continue) };
        let opened = store.data_key(c.header.id, Some(wrapped)).and_then(|key| {
            let cipher = FieldCipher::new(c.header.id, &key);
            Ok((cipher.open(&Field::Name, name)?, cipher.open(&Field::Organisation, organisation)?))
        });
        match opened {
            Ok((name, organisation)) => {
                let name = Zeroizing::new(normalise_for_matching(&name));
                let organisation = Zeroizing::new(normalise_for_matching(&organisation));
                groups.entry(format!("{}\u{0}{}", name.as_str(), organisation.as_str())).or_default().push(c.header.id);
                Ok(Scan::Continue)
            }
            Err(e) => {
                failure = Some(e);
                Ok(Scan::Stop)
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let mut found = Vec::new();
    for (key, group) in groups {
        drop(Zeroizing::new(key));
        if group.len() > 1 {
            found.push(group);
        }
    }
    found.sort();
    Ok(found)
}

/// Data quality of one category of customers: counts only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CategoryQuality {
    /// Customers in the category.
    pub customers: u64,
    /// Of them, kept `unverified` (imported with values that failed
    /// validation, not yet corrected and verified).
    pub unverified: u64,
    /// Of them, sharing an ID number, mobile or e-mail with another customer.
    pub possible_duplicates: u64,
    /// Of them, with neither a mobile number nor an e-mail address.
    pub missing_contact: u64,
}

/// The store's data quality by category (`(none)` for customers without one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QualityReport {
    /// Every category's counts.
    pub by_category: BTreeMap<String, CategoryQuality>,
    /// The counts over all customers.
    pub total: CategoryQuality,
}

impl Session {
    /// Counts, by category, the customers this session may see that are
    /// unverified, possible duplicates (by the blind indexes) or without
    /// contact details. Reads no value: statuses and categories are
    /// plaintext, duplicates come from the blind indexes, a missing contact
    /// from which sealed fields exist. Needs `read`; audited as
    /// `customer.data_quality` (it names no customer).
    pub fn data_quality(&self) -> Result<QualityReport> {
        self.run(Call::new(Action::Read, "customer.data_quality"), |_, tx, _, _| {
            let scope = self.consent_scope(tx)?;
            let mut duplicated = std::collections::HashSet::new();
            for reason in BLIND_REASONS {
                let field = reason.field().expect("blind reasons have a field");
                for group in tx.blind_groups(&field.name())? {
                    duplicated.extend(group);
                }
            }
            let mut report = QualityReport::default();
            tx.scan_customers(&["mobile", "email"], &mut |c| {
                if !scope.admits(c.header.id) {
                    return Ok(Scan::Continue);
                }
                let category = c.header.category.clone().unwrap_or_else(|| "(none)".to_owned());
                let counts = report.by_category.entry(category).or_default();
                for slot in [&mut *counts, &mut report.total] {
                    slot.customers += 1;
                    slot.unverified += u64::from(c.header.status == super::session::STATUS_UNVERIFIED);
                    slot.possible_duplicates += u64::from(duplicated.contains(&c.header.id));
                    slot.missing_contact +=
                        u64::from(c.sealed.get("mobile").is_none() && c.sealed.get("email").is_none());
                }
                Ok(Scan::Continue)
            })?;
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_that_differ_only_in_width_case_and_spacing_match() {
        assert_eq!(
            normalise_for_matching("星辰科技（北京）有限公司"),
            normalise_for_matching("星辰科技(北京)有限公司")
        );
        assert_eq!(normalise_for_matching("ＡＢＣ Trading"), "abctrading");
        assert_eq!(normalise_for_matching("王 五"), "王五");
        assert_ne!(normalise_for_matching("王五"), normalise_for_matching("王六"));
    }

    #[test]
    fn pairs_are_scored_by_their_strongest_reason() {
        let (a, b, c) = (CustomerId(1), CustomerId(2), CustomerId(3));
        let mut pairs = Pairs::default();
        pairs.add_group(&[a, b, c], DuplicateReason::SameMobile, usize::MAX);
        pairs.add_group(&[a, b], DuplicateReason::SameIdNumber, usize::MAX);
        let sorted = pairs.into_sorted();
        assert_eq!(sorted.len(), 3);
        assert_eq!((sorted[0].first, sorted[0].second, sorted[0].score), (a, b, 100));
        assert_eq!(sorted[0].reasons, [DuplicateReason::SameIdNumber, DuplicateReason::SameMobile]);
        assert_eq!(sorted[1].score, 80);
    }
}
