//! Purchase totals by classification (issue 17, item 6): how much the
//! customers of each tier (or category, source, region, ...) bought, with
//! the same suppression as the counts, so that no total describes fewer
//! than k customers.
//!
//! A transaction's total is sealed under its customer's data key, so this
//! reads every counted customer's transactions and opens their totals
//! inside the store; only the suppressed sums leave it. It is an analysis
//! call, slower than the counts: one index lookup per customer and one
//! decryption per transaction.

use std::collections::BTreeMap;

use super::listing::Filter;
use super::session::{Call, Session};
use super::statistics::{DEFAULT_THRESHOLD, StatisticsCell, StatisticsDimension, suppress};
use crate::access::Action;
use crate::crypto::FieldCipher;
use crate::error::{Error, Result};
use crate::model::{CustomerId, Field, RecordKind};
use crate::records::money::{Currency, Money};
use crate::storage::{ClassKey, Scan, WrappedKey};

/// The statuses whose transactions count as purchases, at their full total
/// (a partial refund's amount is not recorded).
const PURCHASED: [&str; 2] = ["paid", "partially_refunded"];

/// A purchase-totals request: `PurchaseTotalsQuery::new(StatisticsDimension::Tier, "CNY")`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PurchaseTotalsQuery {
    /// The rows' dimension: a classification dimension (not `age_band` or `consent`).
    pub rows: StatisticsDimension,
    /// The ISO 4217 currency summed; transactions in others are left out.
    pub currency: String,
    /// Which customers are counted.
    pub filter: Filter,
    /// Rows of 1 to `threshold - 1` buyers are suppressed (default 5, at least 2).
    pub threshold: u64,
}

impl PurchaseTotalsQuery {
    /// Totals in `currency` by `rows`, threshold 5, every customer.
    pub fn new(rows: StatisticsDimension, currency: impl Into<String>) -> Self {
        Self { rows, currency: currency.into(), filter: Filter::default(), threshold: DEFAULT_THRESHOLD }
    }

    /// Counts only the customers `filter` admits.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the threshold k (at least 2).
    pub fn threshold(mut self, k: u64) -> Self {
        self.threshold = k;
        self
    }
}

/// Purchase totals: per row, the customers who bought (paid or partially
/// refunded transactions in the currency) and what they paid. A row whose
/// buyers number 1 to k - 1 has both suppressed; then, as for counts, a
/// second row (the smallest) whenever exactly one is, and the grand total
/// with them if only it could give one away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseTotals {
    /// The rows' dimension.
    pub rows: StatisticsDimension,
    /// The currency summed.
    pub currency: String,
    /// The threshold applied.
    pub threshold: u64,
    /// Row labels, sorted.
    pub row_labels: Vec<String>,
    /// Buyers per row.
    pub buyers: Vec<StatisticsCell>,
    /// What each row's buyers paid (`12345.00 CNY`), `None` where suppressed.
    pub amounts: Vec<Option<String>>,
    /// Every buyer counted.
    pub total_buyers: StatisticsCell,
    /// What they paid in all, `None` if suppressed.
    pub total_amount: Option<String>,
    /// Entries (row counts and totals, as in [`crate::StatisticsTable`])
    /// suppressed for counting fewer than k buyers.
    pub suppressed_primary: usize,
    /// Entries suppressed so that no other could be recovered.
    pub suppressed_secondary: usize,
}

impl Session {
    /// Sums what customers bought, by one classification dimension, with
    /// small rows suppressed as [`PurchaseTotals`] describes. Needs the
    /// `read` action; refused to marketing (`statistics.marketing`).
    /// Customers who restricted processing are left out. Audited as
    /// `customer.purchase_totals` with the dimension, filter, currency and
    /// threshold, naming no customer.
    pub fn purchase_totals(&self, query: &PurchaseTotalsQuery) -> Result<PurchaseTotals> {
        self.run(Call::new(Action::Read, "customer.purchase_totals"), |store, tx, _, trail| {
            let filter = self.aggregate_filter(query.threshold, &query.filter)?;
            if matches!(query.rows, StatisticsDimension::AgeBand | StatisticsDimension::Consent) {
                return Err(Error::invalid(
                    "rows",
                    "statistics_dimension",
                    "purchase totals are by kind, category, source, tier, status, province or city",
                ));
            }
            let currency = Currency::from_code(query.currency.trim())?;
            trail.reason = Some(format!(
                "purchase totals rows={} currency={} k={}",
                query.rows.name(),
                currency.code(),
                query.threshold
            ));
            for field in [query.rows.name(), "transaction.total", "transaction.status"] {
                trail.fields.insert(field.to_owned());
            }
            let restricted = self.restricted(tx)?;
            // The counted customers, their row and wrapped key (the scan holds the transaction).
            let mut counted: Vec<(CustomerId, String, Option<WrappedKey>)> = Vec::new();
            tx.scan_customers(&[], &mut |c| {
                let key = ClassKey::of(&c.header);
                if !restricted.contains(&c.header.id) && filter.matches_class(&key) {
                    counted.push((c.header.id, query.rows.label(&key, None), c.key));
                }
                Ok(Scan::Continue)
            })?;
            let mut rows: BTreeMap<String, (u64, i64)> = BTreeMap::new();
            for (id, label, wrapped) in counted {
                let records = tx.records_of(id, None, u32::MAX)?;
                let bought: Vec<_> = records
                    .iter()
                    .filter(|r| r.kind == RecordKind::Transaction && PURCHASED.contains(&r.status.as_str()))
                    .collect();
                let Some(wrapped) = wrapped.filter(|_| !bought.is_empty()) else { continue };
                let cipher = FieldCipher::new(id, &store.data_key(id, Some(&wrapped))?);
                let mut paid = 0i64;
                let mut any = false;
                for record in bought {
                    let Some(sealed) = record.sealed.get(Field::OrderTotal.name().as_ref()) else { continue };
                    let total = cipher.open_in_record(record.id, &Field::OrderTotal, sealed)?;
                    let (amount, code) = total.split_once(' ').unwrap_or((total.as_str(), ""));
                    if code != currency.code() {
                        continue;
                    }
                    let minor = Money::parse(amount, currency, "transaction.total")?.minor();
                    paid = paid.checked_add(minor).ok_or_else(overflow)?;
                    any = true;
                }
                if any {
                    let row = rows.entry(label).or_default();
                    row.0 += 1;
                    row.1 = row.1.checked_add(paid).ok_or_else(overflow)?;
                }
            }
            Ok(tabulate(query, currency, rows))
        })
    }
}

fn overflow() -> Error {
    Error::invalid("transaction.total", "amount_overflow", "the sum is too large to represent exactly")
}

fn tabulate(query: &PurchaseTotalsQuery, currency: Currency, rows: BTreeMap<String, (u64, i64)>) -> PurchaseTotals {
    let buyers: Vec<Vec<u64>> = rows.values().map(|(n, _)| vec![*n]).collect();
    let s = suppress(&buyers, query.threshold);
    let amount = |minor: i64| Money::from_minor(minor, currency).to_string();
    let total_minor: i64 = rows.values().map(|(_, m)| *m).fold(0i64, |a, m| a.saturating_add(m));
    let hidden: Vec<bool> = (0..rows.len()).map(|i| s.hidden[i][0] || s.row_hidden[i]).collect();
    PurchaseTotals {
        rows: query.rows,
        currency: currency.code().to_owned(),
        threshold: query.threshold,
        buyers: rows
            .values()
            .zip(&hidden)
            .map(|((n, _), h)| if *h { StatisticsCell::Suppressed } else { StatisticsCell::Count(*n) })
            .collect(),
        amounts: rows.values().zip(&hidden).map(|((_, m), h)| (!h).then(|| amount(*m))).collect(),
        total_buyers: if s.total_hidden { StatisticsCell::Suppressed } else { StatisticsCell::Count(s.total) },
        total_amount: (!s.total_hidden).then(|| amount(total_minor)),
        row_labels: rows.into_keys().collect(),
        suppressed_primary: s.primary,
        suppressed_secondary: s.secondary,
    }
}
