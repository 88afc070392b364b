//! Statistics through C: the query comes in as JSON and the suppressed
//! table goes out as JSON, a suppressed count as `null`.

use std::ffi::c_char;

use serde::{Deserialize, Serialize};

use super::boundary::{Outcome, c_string, out_ptr, text, write};
use super::json::{FilterJson, object_of};
use super::session::{cust_session, with_session};
use super::status::{Failure, cust_status};
use crate::{StatisticsCell, StatisticsDimension, StatisticsQuery, StatisticsTable};

/// The query JSON of `cust_statistics`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryJson {
    rows: String,
    #[serde(default)]
    columns: Option<String>,
    #[serde(default)]
    filter: Option<FilterJson>,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    consent: Option<ConsentJson>,
}

/// The purpose and channel the `consent` dimension counts consent to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentJson {
    purpose: String,
    channel: String,
}

/// The query a JSON text describes; dimension names are checked by the
/// Rust API's own parser, the threshold and the pair of dimensions by the
/// call itself.
fn query_of(json: &str) -> Outcome<StatisticsQuery> {
    let parsed: QueryJson = object_of(json, "statistics query")?;
    let mut query = StatisticsQuery::new(StatisticsDimension::parse(&parsed.rows)?);
    if let Some(k) = parsed.threshold {
        query = query.threshold(k);
    }
    if let Some(c) = &parsed.consent {
        query = query.consent(crate::Purpose::parse(&c.purpose)?, crate::consent::Channel::parse(&c.channel)?);
    }
    if let Some(columns) = &parsed.columns {
        query = query.by(StatisticsDimension::parse(columns)?);
    }
    if let Some(f) = parsed.filter {
        query = query.filter(f.into_filter());
    }
    Ok(query)
}

/// The JSON form of a table, its keys in the documented order; a
/// suppressed count is `null`.
#[derive(Serialize)]
struct TableJson<'a> {
    rows: &'static str,
    columns: Option<&'static str>,
    threshold: u64,
    row_labels: &'a [String],
    column_labels: &'a [String],
    cells: Vec<Vec<Option<u64>>>,
    row_totals: Vec<Option<u64>>,
    column_totals: Vec<Option<u64>>,
    total: Option<u64>,
    suppressed_primary: usize,
    suppressed_secondary: usize,
}

/// The table as JSON text.
fn table_to_json(table: &StatisticsTable) -> Outcome<String> {
    let counts = |cells: &[StatisticsCell]| cells.iter().map(|c| c.count()).collect::<Vec<_>>();
    let json = TableJson {
        rows: table.rows.name(),
        columns: table.columns.map(StatisticsDimension::name),
        threshold: table.threshold,
        row_labels: &table.row_labels,
        column_labels: &table.column_labels,
        cells: table.cells.iter().map(|row| counts(row)).collect(),
        row_totals: counts(&table.row_totals),
        column_totals: counts(&table.column_totals),
        total: table.total.count(),
        suppressed_primary: table.suppressed_primary,
        suppressed_secondary: table.suppressed_secondary,
    };
    serde_json::to_string(&json).map_err(|e| Failure::new(cust_status::Internal, format!("JSON: {e}")))
}

/// Counts customers along one dimension, or cross-tabulates
/// two, with every small count suppressed. Only `age_band` reads sealed
/// data: the birth dates, decrypted inside the store for the count.
///
/// `query_json`: `{"rows": "category", "columns": "tier", "filter":
/// {"category": "零售"}, "threshold": 5}`. `rows` (required) and `columns`
/// (optional: one column of counts, labelled `count`) are each one of
/// `kind`, `category`, `source`, `tier`, `status`, `province`, `city`,
/// `age_band`, `consent` (else `CUST_STATUS_INVALID`, rule `statistics_dimension`),
/// not the same one twice (rule `statistics_same_dimension`). `consent`
/// counts customers as `granted` or `not granted` by their latest consent
/// to the query's `"consent": {"purpose": "marketing", "channel": "sms"}`
/// (required with it: rule `statistics_consent_purpose`; not crossed with
/// `age_band`: rule `statistics_dimension_pair`). `filter` (optional) counts
/// only the customers whose `kind`, `category`, `tier` and `source` match
/// those given. `threshold` k (default 5) is at least 2, else
/// `CUST_STATUS_INVALID_ARGUMENT` (rule `statistics_threshold`). Bad JSON,
/// anything but an object, an unknown key or a value of the wrong type
/// gives `CUST_STATUS_INVALID` and nothing is counted or audited.
///
/// A cell, row total or column total counting 1 to k - 1 customers is
/// suppressed; then every row, column and margin line holding exactly one
/// suppressed entry gets a second (its smallest non-zero cell, else its
/// total) until none does, so no suppressed count can be recovered by
/// subtraction. Zero counts are shown. Customers who restricted processing
/// are not counted. Needs the `read` action; a marketing session is refused
/// (`CUST_STATUS_DENIED`, rule `statistics.marketing`). Audited as
/// `customer.statistics` with the dimensions, filter and threshold, naming
/// no customer.
///
/// `*table_json` receives the table: `{"rows": "category", "columns":
/// "tier", "threshold": 5, "row_labels": ["批发", "零售"], "column_labels":
/// ["A", "B"], "cells": [[null, null], [null, null]], "row_totals": [17,
/// 15], "column_totals": [20, 12], "total": 32, "suppressed_primary": 1,
/// "suppressed_secondary": 3}`, labels sorted, `cells[row][column]`, a
/// suppressed count `null`, `columns` `null` for one dimension (customers
/// without a value are labelled `(none)`); free it with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `query_json` NUL-terminated;
/// `table_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_statistics(
    session: *const cust_session,
    query_json: *const c_char,
    table_json: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(table_json, "table_json")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let query = query_of(unsafe { text(query_json, "query_json") }?)?;
        let json = c_string(table_to_json(&s.statistics(&query)?)?)?;
        // SAFETY: checked non-NULL; writable as the caller promises.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The query JSON of `cust_purchase_totals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseQueryJson {
    rows: String,
    currency: String,
    #[serde(default)]
    filter: Option<FilterJson>,
    #[serde(default)]
    threshold: Option<u64>,
}

/// The JSON form of purchase totals; a suppressed entry is `null`.
#[derive(Serialize)]
struct PurchaseTotalsJson<'a> {
    rows: &'static str,
    currency: &'a str,
    threshold: u64,
    row_labels: &'a [String],
    buyers: Vec<Option<u64>>,
    amounts: &'a [Option<String>],
    total_buyers: Option<u64>,
    total_amount: Option<&'a str>,
    suppressed_primary: usize,
    suppressed_secondary: usize,
}

fn purchase_query_of(json: &str) -> Outcome<crate::PurchaseTotalsQuery> {
    let parsed: PurchaseQueryJson = object_of(json, "purchase totals query")?;
    let mut query = crate::PurchaseTotalsQuery::new(StatisticsDimension::parse(&parsed.rows)?, parsed.currency);
    if let Some(k) = parsed.threshold {
        query = query.threshold(k);
    }
    if let Some(f) = parsed.filter {
        query = query.filter(f.into_filter());
    }
    Ok(query)
}

/// Sums what customers bought (their `paid` and `partially_refunded`
/// transactions in one currency, at full total) by one classification
/// dimension, with small rows suppressed.
///
/// `query_json`: `{"rows": "tier", "currency": "CNY", "filter": {"category":
/// "零售"}, "threshold": 5}`; `rows` is `kind`, `category`, `source`, `tier`,
/// `status`, `province` or `city` (else `CUST_STATUS_INVALID`, rule
/// `statistics_dimension`); `currency` an ISO 4217 code (rule
/// `currency_unknown`); `threshold` at least 2 (`CUST_STATUS_INVALID_ARGUMENT`,
/// rule `statistics_threshold`). Bad JSON, an unknown key or a wrong type
/// is `CUST_STATUS_INVALID` and nothing is read or audited.
///
/// A row with 1 to k - 1 buyers has its buyers and amount suppressed, then
/// a second row whenever only one is, as for `cust_statistics`. The totals
/// are decrypted inside the store; only the suppressed sums leave it.
/// Customers who restricted processing are left out; a marketing session is
/// refused (`statistics.marketing`). Audited as `customer.purchase_totals`,
/// naming no customer.
///
/// `*totals_json` receives `{"rows": "tier", "currency": "CNY",
/// "threshold": 5, "row_labels": ["A", "B"], "buyers": [6, null],
/// "amounts": ["650.50 CNY", null], "total_buyers": 12, "total_amount":
/// "1450.50 CNY", "suppressed_primary": 2, "suppressed_secondary": 2}`;
/// free it with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `query_json` NUL-terminated;
/// `totals_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_purchase_totals(
    session: *const cust_session,
    query_json: *const c_char,
    totals_json: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(totals_json, "totals_json")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let query = purchase_query_of(unsafe { text(query_json, "query_json") }?)?;
        let totals = s.purchase_totals(&query)?;
        let json = PurchaseTotalsJson {
            rows: totals.rows.name(),
            currency: &totals.currency,
            threshold: totals.threshold,
            row_labels: &totals.row_labels,
            buyers: totals.buyers.iter().map(|c| c.count()).collect(),
            amounts: &totals.amounts,
            total_buyers: totals.total_buyers.count(),
            total_amount: totals.total_amount.as_deref(),
            suppressed_primary: totals.suppressed_primary,
            suppressed_secondary: totals.suppressed_secondary,
        };
        let text =
            serde_json::to_string(&json).map_err(|e| Failure::new(cust_status::Internal, format!("JSON: {e}")))?;
        // SAFETY: checked non-NULL; writable as the caller promises.
        unsafe { write(out, c_string(text)?) };
        Ok(())
    })
}
