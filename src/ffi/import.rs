//! The prototype's saved file through C: the import and its report, row by
//! row, with the records matched to existing customers.

use std::ffi::c_char;

use super::boundary::{Outcome, free_handle, into_handle, item, object, out_ptr, write, write_if};
use super::session::{cust_session, with_session};
use super::status::{Failure, copy_out, cust_status};
use crate::{ImportOptions, ImportReport, Matched};

/// What an import did, row by row.
pub struct cust_import_report {
    pub(super) report: ImportReport,
}

/// What an import did with a record whose number (编号) already belonged to
/// a customer.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_match {
    /// Every value was already stored: skipped.
    Present = 0,
    /// Its values differ (fields listed): not imported.
    Conflict = 1,
    /// The existing customer was updated with its values (fields listed).
    Updated = 2,
}

/// Imports the prototype's saved file held in `bytes` (`len` bytes): all of
/// it or, if it is not such a file or its last record is truncated, nothing
/// (`CUST_STATUS_INVALID`, the reason in the message). Records that fail
/// validation are imported as `unverified`. A record whose number (编号)
/// already belongs to a customer is not imported again: it is matched
/// (`cust_import_report_matched`) as already present or, if it differs, as a
/// conflict. `*out` reports every record (`cust_import_report_counts`
/// counts them by outcome); record numbers count from 1.
///
/// # Safety
/// `session` must be a valid handle; `bytes` hold `len` bytes; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_khzl(
    session: *const cust_session,
    bytes: *const u8,
    len: usize,
    out: *mut *mut cust_import_report,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe { import_khzl(session, bytes, len, &ImportOptions::new(), out) }
}

/// `cust_import_khzl`, but a matched record that differs updates the
/// existing customer with its values (`CUST_MATCH_UPDATED`) instead of
/// being reported as a conflict. The session needs the update action too;
/// the import is audited as `customer.import_update`.
///
/// # Safety
/// As `cust_import_khzl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_khzl_update(
    session: *const cust_session,
    bytes: *const u8,
    len: usize,
    out: *mut *mut cust_import_report,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe { import_khzl(session, bytes, len, &ImportOptions::new().update_existing(true), out) }
}

/// # Safety
/// As `cust_import_khzl`.
unsafe fn import_khzl(
    session: *const cust_session,
    bytes: *const u8,
    len: usize,
    options: &ImportOptions,
    out: *mut *mut cust_import_report,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { super::boundary::bytes(bytes, len, "bytes") }?;
        let report = s.import_khzl_with(data, options)?;
        // SAFETY: checked.
        unsafe { write(out, into_handle(cust_import_report { report })) };
        Ok(())
    })
}

/// Rows the import created customers for (0 for NULL). With
/// `problems_only` (`cust_import_csv_with`) only the rows listed: the
/// unverified ones and those with a duplicate note; the counts of every row
/// are in `cust_import_report_counts`.
///
/// # Safety
/// `report` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_len(report: *const cust_import_report) -> usize {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { report.as_ref() }.map_or(0, |r| r.report.customers.len())
}

/// Row `index` of the report: the record's number in the file (from 1),
/// the customer id it became, whether it is verified, and how many problems it has.
/// Any output pointer may be NULL.
///
/// # Safety
/// `report` must be a valid handle; the outputs NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_row(
    report: *const cust_import_report,
    index: usize,
    slot: *mut usize,
    customer: *mut i64,
    verified: *mut bool,
    problems: *mut usize,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL.
        let report = unsafe { object(report, "report") }?;
        let row = item(&report.report.customers, index, "row")?;
        // SAFETY: each output is NULL or writable, as the caller promises.
        unsafe {
            write_if(slot, row.row);
            write_if(customer, row.customer.0);
            write_if(verified, row.verified);
            write_if(problems, row.problems.len());
        }
        Ok(())
    })
}

/// Problem `problem` of row `index` as text (`field: message (rule)`), with
/// `snprintf` semantics. It never contains the rejected value.
///
/// # Safety
/// `report` must be a valid handle; `buf` NULL or `len` writable bytes; `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_problem(
    report: *const cust_import_report,
    index: usize,
    problem: usize,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        report_text(report, buf, len, needed, "the problem text", |report| {
            let p = report.customers.get(index).and_then(|row| row.problems.get(problem)).ok_or_else(|| {
                Failure::new(cust_status::InvalidArgument, format!("no problem {problem} in row {index}"))
            })?;
            Ok(Some(format!("{}: {} ({})", p.field, p.message, p.rule)))
        })
    }
}

/// Runs `text` on the report and copies the text it gives (if any) into
/// `buf` with `snprintf` semantics.
///
/// # Safety
/// `report` must be NULL or a valid handle; `buf` NULL or `len` writable bytes; `needed` NULL or writable.
unsafe fn report_text(
    report: *const cust_import_report,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    what: &str,
    text: impl FnOnce(&ImportReport) -> Outcome<Option<String>>,
) -> cust_status {
    let mut status = cust_status::Ok;
    let guarded = super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL.
        let report = unsafe { object(report, "report") }?;
        let Some(text) = text(&report.report)? else { return Ok(()) };
        // SAFETY: forwarded caller guarantees.
        status = unsafe { copy_out(&text, buf, len, needed) };
        if status != cust_status::Ok {
            return Err(Failure::new(status, format!("the buffer holds {len} bytes; {what} needs more")));
        }
        Ok(())
    });
    if guarded == cust_status::Ok { status } else { guarded }
}

/// Records the import matched with existing customers (0 for NULL). With
/// `problems_only` only the conflicts and updates are listed, not the
/// records already present.
///
/// # Safety
/// `report` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_matched_len(report: *const cust_import_report) -> usize {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { report.as_ref() }.map_or(0, |r| r.report.matched.len())
}

/// Matched record `index`: its number in the file (from 1), the existing
/// customer with its number, what the import did (a `cust_match`), and the
/// fields that differ, comma-separated, copied into `buf` with `snprintf`
/// semantics (`""` when already present). Any output pointer may be NULL
/// (with `len` 0 for `buf`).
///
/// # Safety
/// `report` must be a valid handle; the outputs NULL or writable; `buf`
/// NULL or `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_matched(
    report: *const cust_import_report,
    index: usize,
    slot: *mut usize,
    customer: *mut i64,
    outcome: *mut u32,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        report_text(report, buf, len, needed, "the field list", |report| {
            let row = item(&report.matched, index, "matched record")?;
            let (code, fields) = match &row.outcome {
                Matched::AlreadyPresent => (cust_match::Present, String::new()),
                Matched::Conflict { fields } => (cust_match::Conflict, fields.join(", ")),
                Matched::Updated { fields } => (cust_match::Updated, fields.join(", ")),
            };
            // Each output is NULL or writable, as the caller promises.
            write_if(slot, row.row);
            write_if(customer, row.customer.0);
            write_if(outcome, code as u32);
            Ok((!buf.is_null() || len != 0 || !needed.is_null()).then_some(fields))
        })
    }
}

/// How many rows of an import went which way (`cust_import_report_counts`).
/// Complete whatever the report lists: with `problems_only` the rows that
/// went well are counted here, not listed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub struct cust_import_counts {
    /// Rows that became new customers (verified and unverified).
    pub created: u64,
    /// New customers whose values all passed validation (`active`).
    pub verified: u64,
    /// Rows matched by 编号 and skipped as already present.
    pub already_present: u64,
    /// Matched rows that differ and were not imported.
    pub conflicts: u64,
    /// Matched rows that updated their customer.
    pub updated: u64,
    /// Rows left out because their values failed validation.
    pub rejected: u64,
}

/// Fills `*out` with the report's counts of every row by outcome: created
/// (of which verified), already present, conflicts, updated and rejected.
/// They are complete even when the report lists only the problems
/// (`problems_only`), for CSV and khzl imports alike.
///
/// # Safety
/// `report` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_counts(
    report: *const cust_import_report,
    out: *mut cust_import_counts,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let report = unsafe { object(report, "report") }?;
        let c = report.report.counts;
        let counts = cust_import_counts {
            created: c.created,
            verified: c.verified,
            already_present: c.already_present,
            conflicts: c.conflicts,
            updated: c.updated,
            rejected: c.rejected,
        };
        // SAFETY: checked non-NULL; writable as the caller promises.
        unsafe { write(out, counts) };
        Ok(())
    })
}

/// Frees an import report (NULL is ignored).
///
/// # Safety
/// `report` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_free(report: *mut cust_import_report) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(report) }
}

/// Rows the import left out because their values failed validation (with
/// the reject option of `cust_import_csv`; 0 for NULL).
///
/// # Safety
/// `report` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_rejected_len(report: *const cust_import_report) -> usize {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { report.as_ref() }.map_or(0, |r| r.report.rejected.len())
}

/// Left-out row `index`: its row number in the file and how many problems
/// it has. Either output may be NULL.
///
/// # Safety
/// `report` must be a valid handle; the outputs NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_rejected(
    report: *const cust_import_report,
    index: usize,
    row: *mut usize,
    problems: *mut usize,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL.
        let report = unsafe { object(report, "report") }?;
        let rejected = item(&report.report.rejected, index, "rejected row")?;
        // SAFETY: each output is NULL or writable, as the caller promises.
        unsafe {
            write_if(row, rejected.row);
            write_if(problems, rejected.problems.len());
        }
        Ok(())
    })
}

/// Problem `problem` of left-out row `index` as text (`field: message
/// (rule)`), with `snprintf` semantics. It never contains the value.
///
/// # Safety
/// `report` must be a valid handle; `buf` NULL or `len` writable bytes; `needed` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_report_rejected_problem(
    report: *const cust_import_report,
    index: usize,
    problem: usize,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> cust_status {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        report_text(report, buf, len, needed, "the problem text", |report| {
            let p = report.rejected.get(index).and_then(|row| row.problems.get(problem)).ok_or_else(|| {
                Failure::new(cust_status::InvalidArgument, format!("no problem {problem} in rejected row {index}"))
            })?;
            Ok(Some(format!("{}: {} ({})", p.field, p.message, p.rule)))
        })
    }
}
