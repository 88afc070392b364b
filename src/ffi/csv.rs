//! CSV files through C: an import from a file or a buffer, with a progress
//! callback and the usual report, and an export of what the session may
//! see, into a file or a buffer.

use std::ffi::{c_char, c_void};

use serde::Deserialize;

use super::boundary::{Outcome, into_handle, out_ptr, text, write, write_if};
use super::import::cust_import_report;
use super::session::{cust_session, with_session};
use super::status::{Failure, cust_status};
use crate::error::Error;
use crate::import::{CsvEncoding, CsvProgress, CsvReadOptions};
use crate::{CsvExportOptions, Field, Filter, ImportOptions};

/// Receives an import's progress: customer rows read and bytes of the file
/// consumed so far, with the `user` pointer given with it. Called every
/// thousand rows and once at the end, on the importing thread, inside the
/// import's transaction: it must not call the library.
#[allow(non_camel_case_types)]
pub type cust_progress_sink = Option<unsafe extern "C" fn(user: *mut c_void, rows: u64, bytes: u64)>;

/// An optional text argument (NULL: none).
///
/// # Safety
/// `ptr` must be NULL or NUL-terminated.
unsafe fn optional<'a>(ptr: *const c_char, name: &str) -> Outcome<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded caller guarantee.
    Ok(Some(unsafe { text(ptr, name) }?))
}

/// What an import reads and does: from the C flags or the options JSON.
struct Settings {
    /// How the file is read (its encoding).
    read: CsvReadOptions,
    /// What the import does with its rows.
    import: ImportOptions,
}

/// The settings of an import with `encoding` (NULL or a name) and the two
/// flags of `cust_import_csv` and `cust_import_csv_file`.
///
/// # Safety
/// `encoding` must be NULL or NUL-terminated.
unsafe fn flag_settings(encoding: *const c_char, reject_invalid: bool, update_existing: bool) -> Outcome<Settings> {
    // SAFETY: forwarded caller guarantee.
    let encoding = match unsafe { optional(encoding, "encoding") }? {
        None => CsvEncoding::Auto,
        Some(name) => CsvEncoding::parse(name)?,
    };
    Ok(Settings {
        read: CsvReadOptions::new().encoding(encoding),
        import: ImportOptions::new().reject_invalid(reject_invalid).update_existing(update_existing),
    })
}

/// The options JSON of `cust_import_csv_with` and `cust_import_csv_file_with`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsJson {
    #[serde(default = "auto")]
    encoding: String,
    #[serde(default)]
    reject_invalid: bool,
    #[serde(default)]
    update_existing: bool,
    #[serde(default)]
    problems_only: bool,
}

/// The default encoding's name.
fn auto() -> String {
    CsvEncoding::Auto.name().to_owned()
}

/// The settings an options JSON object describes (NULL: the defaults).
/// Anything but an object, an unknown key or a value of the wrong type is
/// refused (`CUST_STATUS_INVALID`); the encoding's name is checked by the
/// Rust API's parser.
///
/// # Safety
/// `options_json` must be NULL or NUL-terminated.
unsafe fn json_settings(options_json: *const c_char) -> Outcome<Settings> {
    let invalid =
        |e: serde_json::Error| Failure::new(cust_status::Invalid, format!("invalid import options JSON: {e}"));
    // SAFETY: forwarded caller guarantee.
    let parsed = match unsafe { optional(options_json, "options_json") }? {
        None => OptionsJson { encoding: auto(), reject_invalid: false, update_existing: false, problems_only: false },
        Some(json) => {
            // An object only (a struct would also be read from an array).
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(invalid)?;
            serde_json::from_value(serde_json::Value::Object(object)).map_err(invalid)?
        }
    };
    Ok(Settings {
        read: CsvReadOptions::new().encoding(CsvEncoding::parse(&parsed.encoding)?),
        import: ImportOptions::new()
            .reject_invalid(parsed.reject_invalid)
            .update_existing(parsed.update_existing)
            .problems_only(parsed.problems_only),
    })
}

/// Imports `source` with `settings` and hands the report out through `out`
/// (checked): the one routine behind every CSV import function.
///
/// # Safety
/// `out` writable; `progress`, if given, callable with `user`.
unsafe fn import_into(
    session: &crate::Session,
    source: impl std::io::Read,
    settings: &Settings,
    progress: cust_progress_sink,
    user: *mut c_void,
    out: *mut *mut cust_import_report,
) -> Outcome {
    let mut report = |p: CsvProgress| {
        if let Some(sink) = progress {
            // SAFETY: the host's callback, called as its type says.
            unsafe { sink(user, p.rows, p.bytes) }
        }
    };
    let report = session.import_csv(source, &settings.read, &settings.import, Some(&mut report))?;
    // SAFETY: the caller checked `out`.
    unsafe { write(out, into_handle(cust_import_report { report })) };
    Ok(())
}

/// Opens the CSV file at `path` for an import.
///
/// # Safety
/// `path` must be NULL or NUL-terminated.
unsafe fn open(path: *const c_char) -> Outcome<std::fs::File> {
    // SAFETY: forwarded caller guarantee.
    let path = unsafe { text(path, "path") }?;
    Ok(std::fs::File::open(path).map_err(|e| Error::storage_caused(format!("opening the CSV file {path}"), e))?)
}

/// Imports CSV `bytes` (`len` bytes): see `cust_import_csv_file`.
///
/// # Safety
/// As `cust_import_csv_file`, with `bytes` holding `len` readable bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_import_csv(
    session: *const cust_session,
    bytes: *const u8,
    len: usize,
    encoding: *const c_char,
    reject_invalid: bool,
    update_existing: bool,
    progress: cust_progress_sink,
    user: *mut c_void,
    out: *mut *mut cust_import_report,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { super::boundary::bytes(bytes, len, "bytes") }?;
        // SAFETY: forwarded caller guarantees.
        unsafe {
            let settings = flag_settings(encoding, reject_invalid, update_existing)?;
            import_into(s, data, &settings, progress, user, out)
        }
    })
}

/// Imports the CSV file at `path` (streamed: a large file is never held in
/// memory whole) in one transaction. `encoding` is NULL or `"auto"`
/// (detected), `"utf-8"` or `"gbk"`. The header maps columns by their
/// Chinese (编号, 姓名, 手机, ...) or field names; an unknown, repeated or
/// read-only column, a malformed row, or bytes in no supported encoding
/// fail the whole import with `CUST_STATUS_INVALID` (the column, row or
/// byte offset in the message) and import nothing. Rows that fail
/// validation are imported `unverified`, or with `reject_invalid` left out
/// (`cust_import_report_rejected`). Rows whose 编号 already belongs to a
/// customer are matched (`cust_import_report_matched`): skipped if
/// identical, a conflict if not, or with `update_existing` applied. Row
/// numbers are the spreadsheet's (the header is row 1). `progress` may be
/// NULL. `*out` receives the report.
///
/// # Safety
/// `session` must be a valid handle; `path` and `encoding` NULL or
/// NUL-terminated; `out` writable; `progress`, if given, callable with `user`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_import_csv_file(
    session: *const cust_session,
    path: *const c_char,
    encoding: *const c_char,
    reject_invalid: bool,
    update_existing: bool,
    progress: cust_progress_sink,
    user: *mut c_void,
    out: *mut *mut cust_import_report,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated path or NULL.
        let file = unsafe { open(path) }?;
        // SAFETY: forwarded caller guarantees.
        unsafe {
            let settings = flag_settings(encoding, reject_invalid, update_existing)?;
            import_into(s, file, &settings, progress, user, out)
        }
    })
}

/// `cust_import_csv` with its options as JSON: `options_json` is NULL (the
/// defaults) or an object with any of the keys `encoding` (`"auto"`, the
/// default, `"utf-8"` or `"gbk"`), `reject_invalid`, `update_existing` and
/// `problems_only` (booleans, false by default), e.g.
/// `{"encoding": "gbk", "problems_only": true}`. Anything else (bad JSON,
/// an unknown key, a value of the wrong type) gives `CUST_STATUS_INVALID`
/// and imports nothing. With `problems_only` the report lists only the
/// rows with something to report: the unverified rows and those with a
/// duplicate note (`cust_import_report_row`), the conflicts and updates
/// (`cust_import_report_matched`; records already present are not listed)
/// and, as always, the rejected rows; `cust_import_report_counts` still
/// counts every row, so a report of a million rows that went well stays
/// small.
///
/// # Safety
/// As `cust_import_csv_file_with`, with `bytes` holding `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_csv_with(
    session: *const cust_session,
    bytes: *const u8,
    len: usize,
    options_json: *const c_char,
    progress: cust_progress_sink,
    user: *mut c_void,
    out: *mut *mut cust_import_report,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let settings = unsafe { json_settings(options_json) }?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { super::boundary::bytes(bytes, len, "bytes") }?;
        // SAFETY: forwarded caller guarantees.
        unsafe { import_into(s, data, &settings, progress, user, out) }
    })
}

/// `cust_import_csv_file` with its options as JSON (see
/// `cust_import_csv_with`); the options are checked before the file is
/// opened.
///
/// # Safety
/// `session` must be a valid handle; `path` NUL-terminated; `options_json`
/// NULL or NUL-terminated; `out` writable; `progress`, if given, callable
/// with `user`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_import_csv_file_with(
    session: *const cust_session,
    path: *const c_char,
    options_json: *const c_char,
    progress: cust_progress_sink,
    user: *mut c_void,
    out: *mut *mut cust_import_report,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let settings = unsafe { json_settings(options_json) }?;
        // SAFETY: the caller promises a NUL-terminated path or NULL.
        let file = unsafe { open(path) }?;
        // SAFETY: forwarded caller guarantees.
        unsafe { import_into(s, file, &settings, progress, user, out) }
    })
}

/// The export options from the C arguments.
///
/// # Safety
/// Every pointer NULL or NUL-terminated.
unsafe fn export_options(
    columns: *const c_char,
    encoding: *const c_char,
    chinese_headers: bool,
    kind: *const c_char,
    category: *const c_char,
    tier: *const c_char,
    source: *const c_char,
) -> Outcome<CsvExportOptions> {
    let mut options = CsvExportOptions::new().chinese_headers(chinese_headers);
    // SAFETY: forwarded caller guarantees, for every pointer below.
    if let Some(columns) = unsafe { optional(columns, "columns") }? {
        let fields: Vec<Field> = columns.split(',').map(|name| Field::parse(name.trim())).collect::<Result<_, _>>()?;
        options = options.columns(fields);
    }
    // SAFETY: as above.
    if let Some(name) = unsafe { optional(encoding, "encoding") }? {
        options = options.encoding(CsvEncoding::parse(name)?);
    }
    // SAFETY: as above.
    let owned = |p, name| unsafe { optional(p, name) }.map(|v| v.map(str::to_owned));
    let filter = Filter {
        kind: owned(kind, "kind")?,
        category: owned(category, "category")?,
        tier: owned(tier, "tier")?,
        source: owned(source, "source")?,
    };
    Ok(options.filter(filter))
}

/// Exports the customers this session may see as CSV into a new buffer
/// (`*out`, `*out_len`; free it with `cust_bytes_free`, which zeroes it).
/// `columns` is NULL (every writable built-in field) or comma-separated
/// field names (`"name,mobile,custom.vip_level"`); `encoding` NULL or
/// `"utf-8"`, `"utf-8-bom"` (for Excel) or `"gbk"`; `chinese_headers`
/// writes 编号, 姓名, ... as the header; `kind`, `category`, `tier` and
/// `source` filter (NULL: any). Values appear as the session sees them:
/// masked values masked, withheld ones empty; cells starting with `=`, `+`,
/// `-`, `@`, tab or carriage return get an apostrophe in front. `*rows`
/// (may be NULL) receives the number of customers written. Audited
/// (`customer.export_csv`) naming every customer exported.
///
/// # Safety
/// `session` must be a valid handle; every text argument NULL or
/// NUL-terminated; `out` and `out_len` writable; `rows` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_export_csv(
    session: *const cust_session,
    columns: *const c_char,
    encoding: *const c_char,
    chinese_headers: bool,
    kind: *const c_char,
    category: *const c_char,
    tier: *const c_char,
    source: *const c_char,
    rows: *mut u64,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> cust_status {
    with_session(session, |s| {
        super::bytes_out_ptrs(out, out_len)?;
        // SAFETY: forwarded caller guarantees.
        let options = unsafe { export_options(columns, encoding, chinese_headers, kind, category, tier, source) }?;
        let mut buffer = Vec::new();
        let summary = s.export_csv(&mut buffer, &options)?;
        super::bytes_out(buffer, out, out_len);
        // SAFETY: NULL or writable, as the caller promises.
        unsafe { write_if(rows, summary.rows) };
        Ok(())
    })
}

/// `cust_export_csv` into a new file at `path` (refused if it exists).
///
/// # Safety
/// As `cust_export_csv`, with `path` NUL-terminated.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_export_csv_file(
    session: *const cust_session,
    path: *const c_char,
    columns: *const c_char,
    encoding: *const c_char,
    chinese_headers: bool,
    kind: *const c_char,
    category: *const c_char,
    tier: *const c_char,
    source: *const c_char,
    rows: *mut u64,
) -> cust_status {
    with_session(session, |s| {
        // SAFETY: the caller promises a NUL-terminated path or NULL.
        let path = unsafe { text(path, "path") }?;
        // SAFETY: forwarded caller guarantees.
        let options = unsafe { export_options(columns, encoding, chinese_headers, kind, category, tier, source) }?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::storage_caused(format!("creating the CSV file {path}"), e))?;
        let summary = s.export_csv(std::io::BufWriter::new(file), &options)?;
        // SAFETY: NULL or writable, as the caller promises.
        unsafe { write_if(rows, summary.rows) };
        Ok(())
    })
}
