//! Statistics that single out no one (issue 17, capability 12 of the
//! mission): counts of customers by classification attributes, one
//! dimension or a cross-tab of two, with every small cell suppressed.
//!
//! Counting reads no sealed data. The backend keeps the number of customers
//! per combination of the classification columns (kind, category, source,
//! tier, status and the region derived from the address at write time),
//! updated by every write in its own transaction, and the table is folded
//! from those few combinations.
//! Customers who restricted processing are taken out of the counts.
//!
//! **Suppression.** A cell, row total or column total with a count from 1
//! to k - 1 is suppressed (primary). Then, so that no suppressed count can
//! be recovered by subtraction, every line of the table (a row with its
//! total, a column with its total, the row totals with the grand total, the
//! column totals with the grand total) that holds exactly one suppressed
//! entry gets a second one: its smallest unsuppressed non-zero cell, or its
//! total when it has none (secondary). This repeats until no line has
//! exactly one. Zero counts are shown: an empty cell describes nobody.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::listing::Filter;
use super::session::{Call, Session};
use crate::access::Action;
use crate::crypto::FieldCipher;
use crate::error::{Error, Result};
use crate::model::date::civil_from_days;
use crate::model::region::{province_of, region_name};
use crate::model::{CustomerId, Field};
use crate::storage::ClassKey;
use crate::storage::Scan;

/// The default threshold k: counts below it are suppressed.
pub const DEFAULT_THRESHOLD: u64 = 5;
/// The lowest threshold a query may ask for.
pub const MIN_THRESHOLD: u64 = 2;

/// What customers are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatisticsDimension {
    /// `individual` or `organisation`.
    Kind,
    /// 类别.
    Category,
    /// Source channel.
    Source,
    /// Value tier.
    Tier,
    /// Record status (`active`, `unverified`, ...).
    Status,
    /// Province, from the address.
    Province,
    /// Prefecture-level city, from the address (a municipality counts as one).
    City,
    /// Age in bands (`0-17`, `18-29`, `30-39`, ... `70+`), from the birth
    /// date. The birth dates are decrypted inside the store for the count
    /// (no derived age is stored anywhere); only the suppressed band counts
    /// leave it, and the audit entry names `birth_date` among the fields used.
    /// Slower than the other dimensions: one decryption per customer.
    AgeBand,
    /// Consent to the purpose and channel the query names
    /// ([`StatisticsQuery::consent`]): `granted` when the customer's latest
    /// consent record for them is a grant, else `not granted`. Read from
    /// the consent records and the classification columns; nothing sealed.
    Consent,
}

impl StatisticsDimension {
    /// The dimension's name (`category`, `province`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StatisticsDimension::Kind => "kind",
            StatisticsDimension::Category => "category",
            StatisticsDimension::Source => "source",
            StatisticsDimension::Tier => "tier",
            StatisticsDimension::Status => "status",
            StatisticsDimension::Province => "province",
            StatisticsDimension::City => "city",
            StatisticsDimension::AgeBand => "age_band",
            StatisticsDimension::Consent => "consent",
        }
    }

    /// The dimension named `name`.
    pub fn parse(name: &str) -> Result<Self> {
        [
            StatisticsDimension::Kind,
            StatisticsDimension::Category,
            StatisticsDimension::Source,
            StatisticsDimension::Tier,
            StatisticsDimension::Status,
            StatisticsDimension::Province,
            StatisticsDimension::City,
            StatisticsDimension::AgeBand,
            StatisticsDimension::Consent,
        ]
        .into_iter()
        .find(|d| d.name() == name)
        .ok_or_else(|| {
            Error::invalid(
                "dimension",
                "statistics_dimension",
                "a dimension is one of kind, category, source, tier, status, province, city, age_band, consent",
            )
        })
    }

    /// The label of `key` along this dimension; `own` is the customer's
    /// label along the one dimension not kept in the classification columns
    /// (the age band or consent state), when the query has one.
    pub(super) fn label(self, key: &ClassKey, own: Option<&str>) -> String {
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| NONE.to_owned());
        match self {
            StatisticsDimension::AgeBand | StatisticsDimension::Consent => own.unwrap_or(NONE).to_owned(),
            StatisticsDimension::Kind => key.kind.clone(),
            StatisticsDimension::Category => text(&key.category),
            StatisticsDimension::Source => text(&key.source),
            StatisticsDimension::Tier => text(&key.tier),
            StatisticsDimension::Status => key.status.clone(),
            StatisticsDimension::Province => region_code(key)
                .and_then(|code| region_name(province_of(code)))
                .map_or_else(|| NONE.to_owned(), str::to_owned),
            StatisticsDimension::City => match region_code(key) {
                None => NONE.to_owned(),
                Some(code) => {
                    let province = region_name(province_of(code)).unwrap_or(NONE);
                    match region_name(code) {
                        Some(city) if code != province_of(code) => format!("{province}{city}"),
                        // A municipality is its own city.
                        _ if MUNICIPALITY_PROVINCES.contains(&(code / 10_000)) => province.to_owned(),
                        _ => format!("{province} {UNKNOWN_CITY}"),
                    }
                }
            },
        }
    }
}

/// The label of customers with no value along a dimension.
pub const NONE: &str = "(none)";
/// The consent dimension's label of customers whose latest consent is a grant.
const CONSENT_GRANTED: &str = "granted";
/// The consent dimension's label of everyone else.
const CONSENT_NOT_GRANTED: &str = "not granted";
/// Appended to a province when the address named no city.
const UNKNOWN_CITY: &str = "(city unknown)";
const MUNICIPALITY_PROVINCES: [u32; 4] = [11, 12, 31, 50];

fn region_code(key: &ClassKey) -> Option<u32> {
    key.region.as_deref().and_then(|r| r.parse().ok())
}

/// A statistics request: `StatisticsQuery::new(StatisticsDimension::Category).by(StatisticsDimension::Tier)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatisticsQuery {
    /// The rows' dimension.
    pub rows: StatisticsDimension,
    /// The columns' dimension, for a cross-tab.
    pub columns: Option<StatisticsDimension>,
    /// Which customers are counted.
    pub filter: Filter,
    /// Counts from 1 to `threshold - 1` are suppressed (default 5, at least 2).
    pub threshold: u64,
    /// The purpose and channel the [`StatisticsDimension::Consent`]
    /// dimension counts consent to.
    pub consent: Option<(crate::Purpose, crate::consent::Channel)>,
}

impl StatisticsQuery {
    /// Counts by one dimension, threshold 5, every customer.
    pub fn new(rows: StatisticsDimension) -> Self {
        Self { rows, columns: None, filter: Filter::default(), threshold: DEFAULT_THRESHOLD, consent: None }
    }

    /// The purpose and channel the [`StatisticsDimension::Consent`]
    /// dimension counts consent to (marketing by SMS, sharing with a
    /// recipient, ...).
    pub fn consent(mut self, purpose: crate::Purpose, channel: crate::consent::Channel) -> Self {
        self.consent = Some((purpose, channel));
        self
    }

    /// A cross-tab: `columns` across.
    pub fn by(mut self, columns: StatisticsDimension) -> Self {
        self.columns = Some(columns);
        self
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

/// One published count, or its suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticsCell {
    /// The number of customers.
    Count(u64),
    /// Withheld: below the threshold, or able to reveal a withheld count.
    Suppressed,
}

impl StatisticsCell {
    /// The count, unless suppressed.
    pub fn count(self) -> Option<u64> {
        match self {
            StatisticsCell::Count(n) => Some(n),
            StatisticsCell::Suppressed => None,
        }
    }
}

/// A table of counts. Row and column labels are sorted; a one-dimension
/// table has a single column, labelled `count`.
///
/// A cell, row total or column total counting 1 to k - 1 customers is
/// suppressed; then every row, column and margin line holding exactly one
/// suppressed entry gets a second (its smallest non-zero cell, else its
/// total), until none holds exactly one, so no suppressed count can be
/// recovered by subtraction. Zero counts are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticsTable {
    /// The rows' dimension.
    pub rows: StatisticsDimension,
    /// The columns' dimension (`None`: one column of counts).
    pub columns: Option<StatisticsDimension>,
    /// The threshold applied.
    pub threshold: u64,
    /// Row labels.
    pub row_labels: Vec<String>,
    /// Column labels.
    pub column_labels: Vec<String>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<StatisticsCell>>,
    /// Each row's total.
    pub row_totals: Vec<StatisticsCell>,
    /// Each column's total.
    pub column_totals: Vec<StatisticsCell>,
    /// Every customer counted.
    pub total: StatisticsCell,
    /// Entries suppressed for being below the threshold.
    pub suppressed_primary: usize,
    /// Entries suppressed so that no other could be recovered.
    pub suppressed_secondary: usize,
}

impl Session {
    /// What every aggregate call (statistics, purchase totals) checks before
    /// it counts: the threshold's floor, and that the session is not a
    /// marketing one (which sees only consenting customers, while aggregates
    /// count everyone). Returns `filter` normalised.
    pub(super) fn aggregate_filter(&self, threshold: u64, filter: &Filter) -> Result<Filter> {
        if threshold < MIN_THRESHOLD {
            return Err(Error::out_of_range(
                "threshold",
                "statistics_threshold",
                format!("the threshold is at least {MIN_THRESHOLD}"),
            ));
        }
        if self.purpose() == &crate::Purpose::Marketing {
            return Err(Error::Denied {
                rule: "statistics.marketing",
                reason: "a marketing session sees only consenting customers; statistics count everyone".into(),
            });
        }
        filter.normalised(self, self.today_days())
    }

    /// Counts customers by `query`'s dimensions, suppressed as
    /// [`StatisticsTable`] describes.
    /// Needs the `read` action; a marketing session, which sees only
    /// consenting customers, is refused (`statistics.marketing`). Audited as
    /// `customer.statistics` with the dimensions, filter and threshold,
    /// naming no customer. Nothing in the result is a customer's value
    /// beyond its classification.
    pub fn statistics(&self, query: &StatisticsQuery) -> Result<StatisticsTable> {
        self.run(Call::new(Action::Read, "customer.statistics"), |store, tx, _plan, trail| {
            let filter = self.aggregate_filter(query.threshold, &query.filter)?;
            if query.columns == Some(query.rows) {
                return Err(Error::invalid("columns", "statistics_same_dimension", "a cross-tab needs two dimensions"));
            }
            trail.reason = Some(describe(query));
            for dimension in [Some(query.rows), query.columns].into_iter().flatten() {
                trail.fields.insert(dimension.name().to_owned());
            }
            let dimensions = [Some(query.rows), query.columns];
            let by_age = dimensions.contains(&Some(StatisticsDimension::AgeBand));
            let by_consent = dimensions.contains(&Some(StatisticsDimension::Consent));
            let consent = match (by_consent, &query.consent) {
                (true, None) => {
                    return Err(Error::invalid(
                        "consent",
                        "statistics_consent_purpose",
                        "counting by consent needs the purpose and channel (StatisticsQuery::consent)",
                    ));
                }
                (true, Some(_)) if by_age => {
                    return Err(Error::invalid(
                        "columns",
                        "statistics_dimension_pair",
                        "age_band and consent cannot be crossed with each other",
                    ));
                }
                (true, Some((purpose, channel))) => Some((purpose.name().to_owned(), *channel)),
                (false, _) => None,
            };
            if let Some((purpose, channel)) = &consent {
                trail.fields.insert(format!("consent.{purpose}.{channel}"));
            }
            let mut cells: BTreeMap<(String, String), u64> = BTreeMap::new();
            let mut add = |key: &ClassKey, band: Option<&str>, n: u64| {
                let row = query.rows.label(key, band);
                let column = query.columns.map_or_else(|| "count".to_owned(), |d| d.label(key, band));
                *cells.entry((row, column)).or_default() += n;
            };
            if by_age {
                trail.fields.insert(Field::BirthDate.name().into_owned());
                let restricted = self.restricted(tx)?;
                let (y, m, d) = civil_from_days(self.today_days());
                let mut failure = None;
                tx.scan_customers(&["birth_date"], &mut |c| {
                    let key = ClassKey::of(&c.header);
                    if restricted.contains(&c.header.id) || !filter.matches_class(&key) {
                        return Ok(Scan::Continue);
                    }
                    let band = match (c.sealed.get("birth_date"), c.key.as_ref()) {
                        (Some(sealed), Some(wrapped)) => match store
                            .data_key(c.header.id, Some(wrapped))
                            .and_then(|k| FieldCipher::new(c.header.id, &k).open(&Field::BirthDate, sealed))
                        {
                            Ok(birth) => age_band(&birth, (y, m, d)),
                            Err(e) => {
                                failure = Some(e);
                                return Ok(Scan::Stop);
                            }
                        },
                        _ => None,
                    };
                    add(&key, band, 1);
                    Ok(Scan::Continue)
                })?;
                if let Some(e) = failure {
                    return Err(e);
                }
            } else {
                let mut counts: BTreeMap<ClassKey, u64> = store.class_counts.get(tx)?.iter().cloned().collect();
                // Customers who restricted processing are not counted.
                let restricted = self.restricted(tx)?;
                for id in restricted.iter() {
                    uncount(tx, &mut counts, *id)?;
                }
                // Consenting customers per classification, from their rows;
                // everyone else of that classification does not consent.
                let granted = match &consent {
                    None => None,
                    Some((purpose, channel)) => {
                        let mut granted: BTreeMap<ClassKey, u64> = BTreeMap::new();
                        for id in tx.consenting(purpose, *channel)? {
                            if restricted.contains(&id) {
                                continue;
                            }
                            if let Some(row) = tx.get_customer(id)? {
                                *granted.entry(ClassKey::of(&row.header)).or_default() += 1;
                            }
                        }
                        Some(granted)
                    }
                };
                for (key, n) in counts.iter().filter(|(key, n)| **n > 0 && filter.matches_class(key)) {
                    match &granted {
                        None => add(key, None, *n),
                        Some(granted) => {
                            let yes = granted.get(key).copied().unwrap_or(0).min(*n);
                            for (label, count) in [(CONSENT_GRANTED, yes), (CONSENT_NOT_GRANTED, n - yes)] {
                                if count > 0 {
                                    add(key, Some(label), count);
                                }
                            }
                        }
                    }
                }
            }
            Ok(tabulate(query, &cells))
        })
    }
}

/// The classification counts of the last statistics call, kept while no
/// customer changes. SQLite keeps the counts in a table of their own, so
/// reading them is cheap anyway; the memory backend counts its rows on each
/// read, which this spares. Any insert, update or erasure moves the
/// customers' generation, and the next call reads afresh (from this process
/// or another).
#[derive(Default)]
pub(crate) struct ClassCountCache(Mutex<Option<(crate::storage::ChangeMark, ClassCounts)>>);

/// Customers per combination of classification columns.
type ClassCounts = Arc<Vec<(ClassKey, u64)>>;

impl ClassCountCache {
    fn get(&self, tx: &mut dyn crate::storage::Transaction) -> Result<ClassCounts> {
        let generation = tx.customers_change_mark()?;
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, counts)) = cached.as_ref()
            && *at == generation
        {
            return Ok(counts.clone());
        }
        let counts = Arc::new(tx.class_counts()?);
        *cached = Some((generation, counts.clone()));
        Ok(counts)
    }
}

fn describe(query: &StatisticsQuery) -> String {
    let f = &query.filter;
    let filter: Vec<String> = [("kind", &f.kind), ("category", &f.category), ("tier", &f.tier), ("source", &f.source)]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name}={v}")))
        .collect();
    let consent = match &query.consent {
        Some((purpose, channel)) => format!(" consent={purpose}/{channel}"),
        None => String::new(),
    };
    format!(
        "statistics rows={} columns={} filter=[{}] k={}{consent}",
        query.rows.name(),
        query.columns.map_or("-", StatisticsDimension::name),
        filter.join(","),
        query.threshold
    )
}

/// The band of someone born on `birth` (`YYYY-MM-DD`) on `today`.
fn age_band(birth: &str, today: (i32, u32, u32)) -> Option<&'static str> {
    let part = |range: std::ops::Range<usize>| birth.get(range).and_then(|p| p.parse::<i32>().ok());
    let (by, bm, bd) = (part(0..4)?, part(5..7)?, part(8..10)?);
    let (ty, tm, td) = today;
    let age = ty - by - i32::from((tm as i32, td as i32) < (bm, bd));
    Some(match age {
        ..18 => "0-17",
        18..30 => "18-29",
        30..40 => "30-39",
        40..50 => "40-49",
        50..60 => "50-59",
        60..70 => "60-69",
        _ => "70+",
    })
}

/// Takes customer `id` (restricted) out of `counts`.
fn uncount(
    tx: &mut dyn crate::storage::Transaction,
    counts: &mut BTreeMap<ClassKey, u64>,
    id: CustomerId,
) -> Result<()> {
    let Some(row) = tx.get_customer(id)? else { return Ok(()) };
    let key = ClassKey::of(&row.header);
    if let Some(n) = counts.get_mut(&key) {
        *n = n.saturating_sub(1);
    }
    Ok(())
}

/// Lays the counts out as a table and suppresses it.
fn tabulate(query: &StatisticsQuery, cells: &BTreeMap<(String, String), u64>) -> StatisticsTable {
    let mut row_labels: Vec<String> = cells.keys().map(|(r, _)| r.clone()).collect();
    row_labels.dedup();
    let mut column_labels: Vec<String> = cells.keys().map(|(_, c)| c.clone()).collect();
    column_labels.sort();
    column_labels.dedup();
    if query.columns.is_none() {
        column_labels = vec!["count".to_owned()];
    }
    let counts: Vec<Vec<u64>> = row_labels
        .iter()
        .map(|r| column_labels.iter().map(|c| cells.get(&(r.clone(), c.clone())).copied().unwrap_or(0)).collect())
        .collect();
    let s = suppress(&counts, query.threshold);
    let publish = |n: u64, hidden: bool| if hidden { StatisticsCell::Suppressed } else { StatisticsCell::Count(n) };
    StatisticsTable {
        rows: query.rows,
        columns: query.columns,
        threshold: query.threshold,
        cells: counts
            .iter()
            .enumerate()
            .map(|(i, row)| row.iter().enumerate().map(|(j, n)| publish(*n, s.hidden[i][j])).collect())
            .collect(),
        row_totals: s.row_totals.iter().zip(&s.row_hidden).map(|(n, h)| publish(*n, *h)).collect(),
        column_totals: s.column_totals.iter().zip(&s.column_hidden).map(|(n, h)| publish(*n, *h)).collect(),
        total: publish(s.total, s.total_hidden),
        row_labels,
        column_labels,
        suppressed_primary: s.primary,
        suppressed_secondary: s.secondary,
    }
}

/// The outcome of suppressing a table of counts.
#[derive(Debug)]
pub(crate) struct Suppression {
    pub(crate) hidden: Vec<Vec<bool>>,
    pub(crate) row_totals: Vec<u64>,
    pub(crate) row_hidden: Vec<bool>,
    pub(crate) column_totals: Vec<u64>,
    pub(crate) column_hidden: Vec<bool>,
    pub(crate) total: u64,
    pub(crate) total_hidden: bool,
    pub(crate) primary: usize,
    pub(crate) secondary: usize,
}

/// Primary and secondary suppression of `counts` (rows × columns) and its
/// margins at threshold `k`.
pub(crate) fn suppress(counts: &[Vec<u64>], k: u64) -> Suppression {
    let rows = counts.len();
    let columns = counts.first().map_or(0, Vec::len);
    // The table with its margins: row totals in column `columns`, column
    // totals in row `rows`, the grand total at the corner.
    let mut m = vec![vec![0u64; columns + 1]; rows + 1];
    for (i, row) in counts.iter().enumerate() {
        for (j, n) in row.iter().enumerate() {
            m[i][j] = *n;
            m[i][columns] += n;
            m[rows][j] += n;
            m[rows][columns] += n;
        }
    }
    let small = |n: u64| n > 0 && n < k;
    let mut hidden: Vec<Vec<bool>> = m.iter().map(|row| row.iter().map(|n| small(*n)).collect()).collect();
    let primary = hidden.iter().flatten().filter(|h| **h).count();
    // Every line: its interior entries, then its total (last).
    let mut lines: Vec<Vec<(usize, usize)>> = Vec::new();
    for i in 0..=rows {
        lines.push((0..=columns).map(|j| (i, j)).collect());
    }
    for j in 0..=columns {
        lines.push((0..=rows).map(|i| (i, j)).collect());
    }
    let mut secondary = 0;
    loop {
        let mut changed = false;
        for line in &lines {
            if line.iter().filter(|(i, j)| hidden[*i][*j]).count() != 1 {
                continue;
            }
            let (interior, total) = line.split_at(line.len() - 1);
            let pick = interior
                .iter()
                .filter(|(i, j)| !hidden[*i][*j] && m[*i][*j] > 0)
                .min_by_key(|(i, j)| m[*i][*j])
                .or_else(|| total.first().filter(|(i, j)| !hidden[*i][*j]))
                .or_else(|| interior.iter().find(|(i, j)| !hidden[*i][*j]));
            if let Some((i, j)) = pick {
                hidden[*i][*j] = true;
                secondary += 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Suppression {
        hidden: hidden[..rows].iter().map(|row| row[..columns].to_vec()).collect(),
        row_totals: m[..rows].iter().map(|row| row[columns]).collect(),
        row_hidden: hidden[..rows].iter().map(|row| row[columns]).collect(),
        column_totals: m[rows][..columns].to_vec(),
        column_hidden: hidden[rows][..columns].to_vec(),
        total: m[rows][columns],
        total_hidden: hidden[rows][columns],
        primary,
        secondary,
    }
}

impl Filter {
    /// Whether a combination of classification columns passes the filter
    /// (the filter already normalised).
    pub(super) fn matches_class(&self, key: &ClassKey) -> bool {
        let eq = |want: &Option<String>, have: Option<&String>| want.as_ref().is_none_or(|w| Some(w) == have);
        eq(&self.kind, Some(&key.kind))
            && eq(&self.category, key.category.as_ref())
            && eq(&self.tier, key.tier.as_ref())
            && eq(&self.source, key.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any line has exactly one suppressed entry (a count recoverable by subtraction).
    fn recoverable(s: &Suppression) -> bool {
        let rows = s.hidden.len();
        let columns = s.hidden.first().map_or(0, Vec::len);
        let row_lines =
            (0..rows).any(|i| s.hidden[i].iter().filter(|h| **h).count() + usize::from(s.row_hidden[i]) == 1);
        let column_lines =
            (0..columns).any(|j| (0..rows).filter(|i| s.hidden[*i][j]).count() + usize::from(s.column_hidden[j]) == 1);
        let margins = s.row_hidden.iter().filter(|h| **h).count() + usize::from(s.total_hidden) == 1
            || s.column_hidden.iter().filter(|h| **h).count() + usize::from(s.total_hidden) == 1;
        row_lines || column_lines || margins
    }

    #[test]
    fn small_cells_and_the_cells_that_would_reveal_them_are_suppressed() {
        let counts = vec![vec![20, 3, 15], vec![12, 9, 30], vec![8, 7, 6]];
        let s = suppress(&counts, 5);
        assert!(s.hidden[0][1], "3 < 5");
        assert_eq!(s.primary, 1);
        assert!(s.secondary >= 2, "its row and its column each need a second");
        assert!(!recoverable(&s));
        // Nothing below the threshold published.
        for (i, row) in counts.iter().enumerate() {
            for (j, n) in row.iter().enumerate() {
                assert!(!(*n > 0 && *n < 5) || s.hidden[i][j]);
            }
        }
    }

    #[test]
    fn one_dimension_with_its_total() {
        let s = suppress(&[vec![40], vec![2], vec![0], vec![25]], 5);
        assert!(s.hidden[1][0]);
        assert!(!s.hidden[2][0], "zero is shown");
        assert!(s.hidden[3][0], "the smallest other non-zero cell, else 40 - total would give it");
        assert!(!s.total_hidden);
        assert!(!recoverable(&s));
    }

    #[test]
    fn random_tables_never_leave_a_recoverable_cell() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..2_000 {
            let rows = 1 + (next() % 6) as usize;
            let columns = 1 + (next() % 6) as usize;
            let counts: Vec<Vec<u64>> = (0..rows)
                .map(|_| (0..columns).map(|_| [0, 1, 2, 4, 5, 9, 30][(next() % 7) as usize]).collect())
                .collect();
            let k = 2 + next() % 8;
            let s = suppress(&counts, k);
            assert!(!recoverable(&s), "{counts:?} k={k}: {s:?}");
            for (i, row) in counts.iter().enumerate() {
                for (j, n) in row.iter().enumerate() {
                    assert!(!(*n > 0 && *n < k) || s.hidden[i][j], "{counts:?} k={k}");
                }
            }
        }
    }
}
