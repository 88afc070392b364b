//! CSV in and out through a session: an import streams the file into one
//! audited transaction, with the same guarantees as every import (see
//! `import.rs`); an export writes what the session may see — masked
//! values masked, withheld ones empty — as one audited call naming every
//! customer exported.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use super::listing::Filter;
use super::session::{Call, Session};
use crate::access::Action;
use crate::error::{Error, Result};
use crate::import::csv::{CsvEncoding, CsvProgress, CsvReadOptions, CsvRows, CsvWriter, cell_text, chinese_name};
use crate::model::{BUILTIN_FIELDS, Field, Storage};
use crate::storage::Scan;

use super::import::{ImportOptions, ImportReport};

/// Rows between two progress reports of a CSV import.
const PROGRESS_EVERY: u64 = 1_000;

/// What a CSV export writes: `CsvExportOptions::new().columns([Field::Name,
/// Field::Mobile]).encoding(CsvEncoding::Gbk)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CsvExportOptions {
    /// The columns, in order (default: every writable built-in field).
    pub columns: Vec<Field>,
    /// Only the customers this filter admits.
    pub filter: Filter,
    /// UTF-8 (default), UTF-8 with a BOM for Excel, or GBK.
    pub encoding: CsvEncoding,
    /// Header cells in Chinese (编号, 姓名, ...) instead of field names.
    pub chinese_headers: bool,
}

impl Default for CsvExportOptions {
    fn default() -> Self {
        CsvExportOptions {
            columns: BUILTIN_FIELDS.iter().filter(|f| f.is_writable()).cloned().collect(),
            filter: Filter::default(),
            encoding: CsvEncoding::Utf8,
            chinese_headers: false,
        }
    }
}

impl CsvExportOptions {
    /// Every writable built-in field, every customer the session sees, UTF-8.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the columns.
    pub fn columns(mut self, columns: impl IntoIterator<Item = Field>) -> Self {
        self.columns = columns.into_iter().collect();
        self
    }

    /// Exports only the customers `filter` admits.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Chooses the encoding (`Auto` means UTF-8).
    pub fn encoding(mut self, encoding: CsvEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Writes the header in Chinese.
    pub fn chinese_headers(mut self, chinese: bool) -> Self {
        self.chinese_headers = chinese;
        self
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvExportSummary {
    /// Customer rows written (the header not counted).
    pub rows: u64,
}

impl Session {
    /// Imports a CSV file (see `custodian::import::csv` for encodings and
    /// columns) in one transaction, with the guarantees of
    /// [`Session::import_with`]: rows that fail validation kept `unverified`
    /// or, with [`ImportOptions::reject_invalid`], left out and reported;
    /// matched rows by external code skipped, reported or updated; nothing
    /// imported if the file is malformed anywhere (the error names the row or
    /// byte). The report's row numbers are the spreadsheet's (the header is
    /// row 1). `progress`, if given, is called every thousand rows and at
    /// the end, from inside the import's transaction: it must not call the
    /// store.
    pub fn import_csv(
        &self,
        source: impl Read,
        read: &CsvReadOptions,
        options: &ImportOptions,
        mut progress: Option<&mut dyn FnMut(CsvProgress)>,
    ) -> Result<ImportReport> {
        let mut rows = match CsvRows::open(source, read, &self.store().catalogue) {
            Ok(rows) => rows,
            // A refused file is audited like any refused call.
            Err(e) => return self.run(Call::new(Action::Create, "customer.import_csv"), |_, _, _, _| Err(e)),
        };
        let mut finished = false;
        let stream = std::iter::from_fn(|| {
            let next = rows.next();
            let done = rows.progress();
            if let Some(report) = progress.as_mut() {
                if next.is_none() && !finished {
                    finished = true;
                    report(done);
                } else if next.is_some() && done.rows % PROGRESS_EVERY == 0 {
                    report(done);
                }
            }
            next
        });
        self.import_stream("customer.import_csv", stream, options)
    }

    /// Writes the customers this session may see as CSV into `out`: a header
    /// row, then one row per customer in id order with the chosen columns,
    /// each value as the session sees it (masked values masked, withheld
    /// ones empty). Cells a spreadsheet would execute are neutralised. Needs
    /// the `read` action; one audit entry (`customer.export_csv`) names every
    /// customer and field exported. The file is assembled in memory and
    /// written only after that entry has committed, like any plaintext the
    /// store returns.
    pub fn export_csv(&self, mut out: impl Write, options: &CsvExportOptions) -> Result<CsvExportSummary> {
        let (bytes, rows) = self.run(Call::new(Action::Read, "customer.export_csv"), |store, tx, plan, trail| {
            if options.columns.is_empty() {
                return Err(Error::out_of_range("columns", "csv_no_columns", "an export names at least one column"));
            }
            for (i, field) in options.columns.iter().enumerate() {
                store.catalogue.check_field(field)?;
                if options.columns[..i].contains(field) {
                    return Err(Error::invalid(field.name(), "csv_duplicate_column", "a column appears twice"));
                }
            }
            let encoding = if options.encoding == CsvEncoding::Auto { CsvEncoding::Utf8 } else { options.encoding };
            let mut writer = CsvWriter::new(Vec::new(), encoding)?;
            let header: Vec<String> = options
                .columns
                .iter()
                .map(|f| match (options.chinese_headers, chinese_name(f)) {
                    (true, Some(name)) => name.to_owned(),
                    _ => f.name().into_owned(),
                })
                .collect();
            writer.row(header.iter().map(String::as_str))?;
            let scope = self.consent_scope(tx)?;
            let sealed: Vec<String> = options
                .columns
                .iter()
                .filter(|f| f.storage() == Storage::Sealed)
                .map(|f| f.name().into_owned())
                .collect();
            let sealed: Vec<&str> = sealed.iter().map(String::as_str).collect();
            let mut rows = 0u64;
            let mut failure = None;
            tx.scan_customers(&sealed, &mut |c| {
                if !options.filter.matches(&c.header) || !scope.admits(c.header.id) {
                    return Ok(Scan::Continue);
                }
                if c.key.is_none() && !c.sealed.is_empty() {
                    return Ok(Scan::Continue); // crypto-shredded: nothing to export
                }
                let view = match store.render(&c.header, &c.sealed.to_map(), c.key.as_ref(), plan) {
                    Ok(view) => view,
                    Err(e) => {
                        failure = Some(e);
                        return Ok(Scan::Stop);
                    }
                };
                if let Err(e) = writer.row(options.columns.iter().map(|f| cell_text(view.get(f)))) {
                    failure = Some(e);
                    return Ok(Scan::Stop);
                }
                trail.saw(&view, plan);
                rows += 1;
                Ok(Scan::Continue)
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            Ok((Zeroizing::new(writer.into_inner()), rows))
        })?;
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Error::storage_caused("writing the CSV file", e))?;
        Ok(CsvExportSummary { rows })
    }
}
