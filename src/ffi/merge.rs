//! Merging a duplicate customer into its survivor through C: the options
//! come in as JSON, the survivor as a customer handle and the report as
//! JSON.

use std::collections::BTreeMap;
use std::ffi::c_char;

use serde::{Deserialize, Serialize};

use super::boundary::{Outcome, c_string, out_ptr, text, write};
use super::customer::{cust_customer, hand_out};
use super::session::{cust_session, with_session};
use super::status::{Failure, cust_status};
use crate::model::{CustomerId, Field};
use crate::{MergeOptions, MergeReport, MergeSide};

/// The options JSON of `cust_customer_merge`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsJson {
    reference: String,
    #[serde(default)]
    take: BTreeMap<String, String>,
    #[serde(default)]
    carry_holds: bool,
}

/// The options a JSON text describes; field names and sides are checked by
/// the Rust API's own parsers.
fn options_of(json: &str) -> Outcome<MergeOptions> {
    let parsed: OptionsJson = serde_json::from_str(json)
        .map_err(|e| Failure::new(cust_status::Invalid, format!("invalid merge options JSON: {e}")))?;
    let mut options = MergeOptions::new(&parsed.reference);
    for (name, side) in &parsed.take {
        options = options.take(Field::parse(name)?, MergeSide::parse(side)?);
    }
    if parsed.carry_holds {
        options = options.carrying_holds();
    }
    Ok(options)
}

/// The JSON form of a merge report (the survivor itself goes out as a
/// handle), its keys in the documented order.
#[derive(Serialize)]
struct ReportJson<'a> {
    survivor: i64,
    merged: i64,
    fields_changed: &'a [String],
    records_moved: &'a [u64],
    consents_moved: usize,
    withdrawals_kept: Vec<Withdrawal<'a>>,
    hold_carried: bool,
    restriction_carried: bool,
}

/// A purpose and channel where a withdrawal was kept.
#[derive(Serialize)]
struct Withdrawal<'a> {
    purpose: &'a str,
    channel: &'static str,
}

/// The report as JSON text.
fn report_to_json(report: &MergeReport) -> Outcome<String> {
    let json = ReportJson {
        survivor: report.survivor.id.0,
        merged: report.merged.0,
        fields_changed: &report.fields_changed,
        records_moved: &report.records_moved,
        consents_moved: report.consents_moved,
        withdrawals_kept: report
            .withdrawals_kept
            .iter()
            .map(|(purpose, channel)| Withdrawal { purpose, channel: channel.name() })
            .collect(),
        hold_carried: report.hold_carried,
        restriction_carried: report.restriction_carried,
    };
    serde_json::to_string(&json).map_err(|e| Failure::new(cust_status::Internal, format!("JSON: {e}")))
}

/// Merges customer `merged` into customer `survivor`, both at the versions
/// the caller last read (else `CUST_STATUS_VERSION_CONFLICT`), in one
/// audited transaction: all of it or nothing.
///
/// `options_json`: `{"reference": "ticket-1", "take": {"mobile": "merged",
/// "email": "survivor"}, "carry_holds": false}`. `reference` (required,
/// 1-64 printable characters) names the request; the destruction record's
/// reason is `merge:<reference>`. `take` chooses whose value of a field
/// survives (`"survivor"` or `"merged"`); a field not named keeps the
/// survivor's value, or the merged-away customer's where the survivor has
/// none, and tags are joined. `carry_holds` lets a legal hold on either
/// customer move to the survivor; without it a hold gives
/// `CUST_STATUS_LEGAL_HOLD`. Bad JSON or an unknown key gives
/// `CUST_STATUS_INVALID`, an unknown field `CUST_STATUS_UNKNOWN_FIELD`.
///
/// Attached records and consents move to the survivor (a withdrawal on
/// either side stays a withdrawal), as does a restriction of processing;
/// the merged-away customer is crypto-shredded (destruction method
/// `merge`), and audit queries for its id lead to the survivor. Needs the
/// `update` and `erase` actions (customer service may not merge).
///
/// `*out` receives the survivor as the session sees it. `*report_json`
/// (may be NULL) receives what the merge did: `{"survivor": 3, "merged": 7,
/// "fields_changed": ["email", "mobile"], "records_moved": [12],
/// "consents_moved": 2, "withdrawals_kept": [{"purpose": "marketing",
/// "channel": "phone"}], "hold_carried": false, "restriction_carried":
/// false}` (field names only, never a value); free it with
/// `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `options_json` NUL-terminated; `out`
/// writable; `report_json` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_customer_merge(
    session: *const cust_session,
    survivor: i64,
    survivor_version: u64,
    merged: i64,
    merged_version: u64,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let options = options_of(unsafe { text(options_json, "options_json") }?)?;
        let report = s.merge(CustomerId(survivor), survivor_version, CustomerId(merged), merged_version, &options)?;
        if !report_json.is_null() {
            let json = c_string(report_to_json(&report)?)?;
            // SAFETY: checked non-NULL; writable as the caller promises.
            unsafe { write(report_json, json) };
        }
        hand_out(out, report.survivor);
        Ok(())
    })
}
