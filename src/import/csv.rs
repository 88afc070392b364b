//! CSV files as spreadsheets write them (Excel, WPS): read as a stream of
//! import rows, and written from customer views.
//!
//! **Encodings.** UTF-8 with or without a byte-order mark, and GBK (read as
//! GB18030, its superset, through `encoding_rs`). `CsvEncoding::Auto`
//! decides from the first 64 KiB: a UTF-8 BOM or valid UTF-8 means UTF-8,
//! anything that decodes as GB18030 means GBK; a UTF-16 file or bytes that
//! are neither are refused with the byte offset of the first bad byte. A
//! file detected as UTF-8 that later holds a byte sequence that is not
//! UTF-8 is refused there too (with a hint to name the encoding).
//!
//! **Columns.** The header row maps columns to fields by their Chinese names
//! as the prototype and Chinese CRMs label them (编号, 姓名, 单位, 类别, 职务,
//! 手机, 邮箱, 备注, 地址, 性别, 出生日期, 身份证号, 来源, 等级, 标签, 类型) or by
//! the field names (`external_code`, `name`, ..., `custom.<key>`, or a
//! declared custom attribute's bare key). An unknown, repeated or read-only
//! column is refused by its name and position, before any row is read. An
//! explicit mapping replaces the header's names.
//!
//! **Rows** are numbered as the spreadsheet numbers them: the header is row
//! 1, the first customer row 2, however many lines a quoted cell spans. A
//! cell that export neutralised against formula injection (`'=...`) is read
//! back without the apostrophe.

use std::io::{BufRead, BufReader, Read, Write};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::{Catalogue, CustomerInput, Field, Shown};
use crate::store::ImportRow;

/// How many bytes detection looks at.
const SNIFF_BYTES: usize = 64 * 1024;
/// Longest record (all cells of one row, in bytes) the reader accepts: a
/// larger one is refused rather than buffered.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Most columns a file may have.
pub const MAX_COLUMNS: usize = 256;

/// The text encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// Decide from the content (see the module docs).
    #[default]
    Auto,
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// GBK (read as GB18030). On export: GB18030, which Excel and WPS in
    /// mainland China open as their default encoding.
    Gbk,
    /// On export only: UTF-8 with a byte-order mark, so Excel recognises it.
    Utf8Bom,
}

impl CsvEncoding {
    /// Stable name (`auto`, `utf-8`, `gbk`, `utf-8-bom`).
    pub fn name(self) -> &'static str {
        match self {
            CsvEncoding::Auto => "auto",
            CsvEncoding::Utf8 => "utf-8",
            CsvEncoding::Gbk => "gbk",
            CsvEncoding::Utf8Bom => "utf-8-bom",
        }
    }

    /// The encoding with this name (`gb18030` is accepted for `gbk`).
    pub fn parse(name: &str) -> Result<CsvEncoding> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "auto" | "" => CsvEncoding::Auto,
            "utf-8" | "utf8" => CsvEncoding::Utf8,
            "gbk" | "gb18030" | "gb2312" => CsvEncoding::Gbk,
            "utf-8-bom" | "utf8-bom" => CsvEncoding::Utf8Bom,
            _ => {
                return Err(Error::invalid(
                    "encoding",
                    "csv_encoding_name",
                    "must be one of: auto, utf-8, gbk, utf-8-bom",
                ));
            }
        })
    }
}

/// The Chinese column names spreadsheets use, with their fields.
const CHINESE_NAMES: &[(&str, Field)] = &[
    ("编号", Field::ExternalCode),
    ("客户编号", Field::ExternalCode),
    ("姓名", Field::Name),
    ("联系人", Field::Name),
    ("单位", Field::Organisation),
    ("公司", Field::Organisation),
    ("单位名称", Field::Organisation),
    ("类别", Field::Category),
    ("客户类别", Field::Category),
    ("职务", Field::Title),
    ("职位", Field::Title),
    ("手机", Field::Mobile),
    ("手机号", Field::Mobile),
    ("手机号码", Field::Mobile),
    ("邮箱", Field::Email),
    ("电子邮箱", Field::Email),
    ("电子邮件", Field::Email),
    ("备注", Field::Notes),
    ("地址", Field::Address),
    ("联系地址", Field::Address),
    ("性别", Field::Gender),
    ("出生日期", Field::BirthDate),
    ("生日", Field::BirthDate),
    ("身份证号", Field::IdNumber),
    ("身份证号码", Field::IdNumber),
    ("来源", Field::Source),
    ("客户来源", Field::Source),
    ("等级", Field::Tier),
    ("客户等级", Field::Tier),
    ("标签", Field::Tags),
    ("类型", Field::Kind),
    ("客户类型", Field::Kind),
    ("统一社会信用代码", Field::CreditCode),
    ("信用代码", Field::CreditCode),
    ("注册地址", Field::RegisteredAddress),
    ("座机", Field::Landline),
    ("固定电话", Field::Landline),
    ("电话", Field::Landline),
    ("联系人列表", Field::Contacts),
];

/// The Chinese column name export writes for `field`, if it has one.
pub fn chinese_name(field: &Field) -> Option<&'static str> {
    CHINESE_NAMES.iter().find(|(_, f)| f == field).map(|(name, _)| *name)
}

/// The field a header cell names, if any.
fn field_named(name: &str, catalogue: &Catalogue) -> Option<Field> {
    let name = name.trim();
    if let Some((_, field)) = CHINESE_NAMES.iter().find(|(n, _)| *n == name) {
        return Some(field.clone());
    }
    let lower = name.to_ascii_lowercase();
    if let Ok(field) = Field::parse(&lower) {
        return Some(field);
    }
    catalogue.custom_attributes().find(|(key, _)| *key == lower).map(|(key, _)| Field::Custom(key.to_owned()))
}

/// How a CSV file is read.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CsvReadOptions {
    /// Its encoding (default: detected).
    pub encoding: CsvEncoding,
    /// The field of each column, in order, instead of the header's names
    /// (`None` skips the column). The header row is still there and skipped.
    pub columns: Option<Vec<Option<Field>>>,
    /// The cell separator (default `,`).
    pub delimiter: u8,
}

impl CsvReadOptions {
    /// Detected encoding, the header's names, commas.
    pub fn new() -> Self {
        CsvReadOptions { encoding: CsvEncoding::Auto, columns: None, delimiter: b',' }
    }

    /// Names the encoding.
    pub fn encoding(mut self, encoding: CsvEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Maps the columns explicitly.
    pub fn columns(mut self, columns: Vec<Option<Field>>) -> Self {
        self.columns = Some(columns);
        self
    }

    /// Sets the cell separator (`;` and tab are common).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }
}

/// How far reading has got: rows read and bytes consumed of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsvProgress {
    /// Customer rows read so far.
    pub rows: u64,
    /// Bytes of the source read so far.
    pub bytes: u64,
}

fn bad_file(rule: &'static str, message: impl Into<String>) -> Error {
    Error::invalid("csv", rule, message)
}

/// Reads the source and decodes it to UTF-8 as it goes, keeping count of the
/// bytes consumed (for errors and progress).
struct Decoding<R: Read> {
    source: R,
    decoder: Option<encoding_rs::Decoder>,
    encoding: &'static encoding_rs::Encoding,
    raw: Vec<u8>,
    raw_start: usize,
    /// Bytes of the source handed to the decoder.
    consumed: u64,
    out: Vec<u8>,
    out_start: usize,
    eof: bool,
    bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Decoding<R> {
    fn fill_raw(&mut self) -> std::io::Result<()> {
        if self.raw_start > 0 {
            self.raw.drain(..self.raw_start);
            self.raw_start = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self.source.read(&mut chunk)?;
        if n == 0 {
            self.eof = true;
        }
        self.raw.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            if self.raw_start == self.raw.len() {
                if self.eof {
                    return Ok(0);
                }
                self.fill_raw()?;
            }
            let Some(decoder) = self.decoder.as_mut() else { return Ok(0) };
            let input = &self.raw[self.raw_start..];
            let mut text =
                String::with_capacity(decoder.max_utf8_buffer_length(input.len()).unwrap_or(input.len() * 3));
            let (result, read) = decoder.decode_to_string_without_replacement(input, &mut text, self.eof);
            if let encoding_rs::DecoderResult::Malformed(bad, after) = result {
                let offset = self.consumed + read as u64 - u64::from(after) - u64::from(bad);
                let hint = if self.encoding == encoding_rs::UTF_8 {
                    "; if the file is GBK (Excel or WPS in Chinese), name the encoding"
                } else {
                    ""
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    bad_file(
                        "csv_encoding",
                        format!("byte {offset} is not valid {}{hint}", self.encoding.name().to_ascii_uppercase()),
                    ),
                ));
            }
            self.raw_start += read;
            self.consumed += read as u64;
            self.bytes_read.store(self.consumed, std::sync::atomic::Ordering::Relaxed);
            self.out = text.into_bytes();
            if self.out.is_empty() && self.eof && self.raw_start == self.raw.len() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_start);
        buf[..n].copy_from_slice(&self.out[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Decides the encoding from the first bytes.
fn detect(head: &[u8], complete: bool) -> Result<&'static encoding_rs::Encoding> {
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(bad_file("csv_utf16", "the file is UTF-16; save it as UTF-8 or GBK (CSV, not Unicode text)"));
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(encoding_rs::UTF_8);
    }
    match std::str::from_utf8(head) {
        Ok(_) => return Ok(encoding_rs::UTF_8),
        // Cut in the middle of a character at the end of the sample.
        Err(e) if e.error_len().is_none() && !complete => return Ok(encoding_rs::UTF_8),
        Err(_) => {}
    }
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(head.len() * 2);
    let (result, read) = decoder.decode_to_string_without_replacement(head, &mut text, complete);
    match result {
        encoding_rs::DecoderResult::Malformed(bad, after) => {
            let offset = read - usize::from(after) - usize::from(bad);
            Err(bad_file(
                "csv_encoding",
                format!("the file is neither UTF-8 nor GBK: byte {offset} is valid in neither"),
            ))
        }
        _ => Ok(encoding_rs::GB18030),
    }
}

/// A CSV file being read as import rows.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<Decoding<BufReader<R>>>,
    columns: Vec<Option<Field>>,
    record: csv::StringRecord,
    rows: u64,
    bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for CsvRows<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvRows").field("columns", &self.columns).field("rows", &self.rows).finish()
    }
}

/// The crate's error for a CSV reading failure, with the row it happened in.
fn read_error(e: csv::Error, row: u64) -> Error {
    let position = e.position().map_or(row, |p| p.record() + 1);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => match io.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(error)) => *error,
            Some(Err(other)) => Error::storage_caused("reading the CSV file", other),
            None => Error::storage("reading the CSV file failed"),
        },
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            bad_file("csv_row_length", format!("row {position} has {len} cells, but the header has {expected_len}"))
        }
        csv::ErrorKind::Utf8 { .. } => bad_file("csv_encoding", format!("row {position} is not valid UTF-8")),
        other => bad_file("csv_syntax", format!("row {position}: {other:?}")),
    }
}

impl<R: Read> CsvRows<R> {
    /// Opens `source`: detects or takes its encoding and maps its header.
    /// A file without a header row, or whose header names a column that no
    /// field has, is refused here.
    pub fn open(source: R, options: &CsvReadOptions, catalogue: &Catalogue) -> Result<CsvRows<R>> {
        let mut buffered = BufReader::with_capacity(SNIFF_BYTES, source);
        let head = buffered.fill_buf().map_err(|e| Error::storage_caused("reading the CSV file", e))?;
        if head.is_empty() {
            return Err(bad_file("csv_empty", "the file is empty: a header row is required"));
        }
        let complete = head.len() < SNIFF_BYTES;
        let encoding = match options.encoding {
            CsvEncoding::Auto => detect(head, complete)?,
            CsvEncoding::Utf8 | CsvEncoding::Utf8Bom => encoding_rs::UTF_8,
            CsvEncoding::Gbk => encoding_rs::GB18030,
        };
        let bytes_read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let decoding = Decoding {
            source: buffered,
            // BOM removal applies to UTF-8 only (GB18030 has none).
            decoder: Some(encoding.new_decoder_with_bom_removal()),
            encoding,
            raw: Vec::new(),
            raw_start: 0,
            consumed: 0,
            out: Vec::new(),
            out_start: 0,
            eof: false,
            bytes_read: bytes_read.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(if options.delimiter == 0 { b',' } else { options.delimiter })
            .has_headers(true)
            .flexible(false)
            .from_reader(decoding);
        let header = reader.headers().map_err(|e| read_error(e, 1))?.clone();
        if header.is_empty() || header.iter().all(|h| h.trim().is_empty()) {
            return Err(bad_file("csv_empty", "the file has no header row"));
        }
        if header.len() > MAX_COLUMNS {
            return Err(bad_file(
                "csv_too_many_columns",
                format!("the header has {} columns; at most {MAX_COLUMNS}", header.len()),
            ));
        }
        let columns = match &options.columns {
            Some(columns) => {
                if columns.len() != header.len() {
                    return Err(Error::out_of_range(
                        "columns",
                        "csv_mapping_length",
                        format!("the mapping names {} columns, the file has {}", columns.len(), header.len()),
                    ));
                }
                columns.clone()
            }
            None => header
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let shown: String = name.trim().chars().take(40).collect();
                    field_named(name, catalogue).map(Some).ok_or_else(|| {
                        Error::invalid(
                            format!("column {} '{shown}'", i + 1),
                            "csv_unknown_column",
                            "no field has this name (use a Chinese or field name, or map the columns)",
                        )
                    })
                })
                .collect::<Result<_>>()?,
        };
        for (i, field) in columns.iter().enumerate() {
            let Some(field) = field else { continue };
            let what = format!("column {} '{field}'", i + 1);
            if !field.is_writable() {
                return Err(Error::invalid(what, "csv_read_only_column", "this field is kept by the store"));
            }
            catalogue.check_field(field).map_err(|_| {
                Error::invalid(what.clone(), "csv_unknown_column", "not a customer field this store declares")
            })?;
            if columns[..i].iter().flatten().any(|f| f == field) {
                return Err(Error::invalid(what, "csv_duplicate_column", "two columns map to the same field"));
            }
        }
        Ok(CsvRows { reader, columns, record: csv::StringRecord::new(), rows: 0, bytes_read, done: false })
    }

    /// How far reading has got.
    pub fn progress(&self) -> CsvProgress {
        CsvProgress { rows: self.rows, bytes: self.bytes_read.load(std::sync::atomic::Ordering::Relaxed) }
    }

    /// The field of each column.
    pub fn columns(&self) -> &[Option<Field>] {
        &self.columns
    }
}

/// A cell as imported: an apostrophe that export put before a formula
/// character is taken off again.
fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = Result<ImportRow>;

    fn next(&mut self) -> Option<Result<ImportRow>> {
        if self.done {
            return None;
        }
        let row = self.rows + 2;
        match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(read_error(e, row)))
            }
            Ok(true) => {
                if self.record.as_slice().len() > MAX_RECORD_BYTES {
                    self.done = true;
                    return Some(Err(bad_file(
                        "csv_row_too_large",
                        format!("row {row} holds more than {MAX_RECORD_BYTES} bytes"),
                    )));
                }
                self.rows += 1;
                // The spreadsheet's own row number: the header is row 1.
                let row = self.record.position().map_or(row, |p| p.record() + 1) as usize;
                let mut input = CustomerInput::individual();
                for (cell, field) in self.record.iter().zip(&self.columns) {
                    let Some(field) = field else { continue };
                    let cell = unneutralise(cell);
                    if !cell.trim().is_empty() {
                        input.insert(field.clone(), cell);
                    }
                }
                // The record buffer held personal values: overwrite it before reuse.
                let len = self.record.as_slice().len();
                let mut bytes = std::mem::take(&mut self.record).into_byte_record();
                bytes.clear();
                bytes.push_field(&vec![0u8; len]);
                bytes.clear();
                self.record = csv::StringRecord::from_byte_record(bytes).unwrap_or_default();
                Some(Ok(ImportRow { row, input }))
            }
        }
    }
}

/// The characters a spreadsheet treats as the start of a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as exported: one a spreadsheet would execute gets an apostrophe
/// in front (OWASP's advice on CSV injection).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) { std::borrow::Cow::Owned(format!("'{cell}")) } else { cell.into() }
}

/// Writes CSV rows in an encoding, neutralising formula cells.
pub(crate) struct CsvWriter<W: Write> {
    out: W,
    encoder: Option<encoding_rs::Encoder>,
}

impl<W: Write> CsvWriter<W> {
    /// A writer into `out`: UTF-8 (`Utf8Bom` writes the BOM first) or GB18030.
    pub(crate) fn new(mut out: W, encoding: CsvEncoding) -> Result<CsvWriter<W>> {
        if encoding == CsvEncoding::Utf8Bom {
            out.write_all(&[0xEF, 0xBB, 0xBF]).map_err(|e| Error::storage_caused("writing the CSV file", e))?;
        }
        let encoder = (encoding == CsvEncoding::Gbk).then(|| encoding_rs::GB18030.new_encoder());
        Ok(CsvWriter { out, encoder })
    }

    /// Writes one row (quoted as needed, CRLF-terminated, as Excel writes them).
    pub(crate) fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let io = |e: std::io::Error| Error::storage_caused("writing the CSV file", e);
        // One small writer per row, so the row's bytes can be wiped once written.
        let mut writer =
            csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).buffer_capacity(512).from_writer(Vec::new());
        for cell in cells {
            writer
                .write_field(neutralise(cell).as_bytes())
                .map_err(|e| Error::storage_caused("writing the CSV file", e))?;
        }
        writer.write_record(None::<&[u8]>).map_err(|e| Error::storage_caused("writing the CSV file", e))?;
        let buffer = Zeroizing::new(writer.into_inner().map_err(|e| io(e.into_error()))?);
        match &mut self.encoder {
            None => self.out.write_all(&buffer).map_err(io)?,
            Some(encoder) => {
                let text = std::str::from_utf8(&buffer).expect("the csv writer writes UTF-8");
                let capacity =
                    encoder.max_buffer_length_from_utf8_without_replacement(text.len()).unwrap_or(text.len() * 4);
                let mut encoded = Zeroizing::new(Vec::with_capacity(capacity));
                let _ = encoder.encode_from_utf8_to_vec_without_replacement(text, &mut encoded, false);
                self.out.write_all(&encoded).map_err(io)?;
            }
        }
        Ok(())
    }

    /// The output, everything written.
    pub(crate) fn into_inner(self) -> W {
        self.out
    }
}

/// The text a view gives a column: plain or masked as shown, empty if withheld or absent.
pub(crate) fn cell_text(shown: Option<&Shown>) -> &str {
    shown.map_or("", Shown::text)
}
