//! CSV in and out: spreadsheets' encodings and quoting, the per-row report
//! with the spreadsheet's row numbers, all-or-nothing on a malformed file,
//! idempotent re-imports, hostile files, and exports that show only what
//! the session may see, neutralised against formula injection.

mod common;

use common::*;
use custodian::import::{CsvEncoding, CsvReadOptions};
use custodian::{
    AuditQuery, CsvExportOptions, Error, Field, Filter, ImportOptions, ImportReport, ListQuery, Session, Store,
};

const HEADER: &str = "编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n";

fn import(s: &Session, bytes: &[u8]) -> custodian::Result<ImportReport> {
    s.import_csv(bytes, &CsvReadOptions::new(), &ImportOptions::new(), None)
}

fn rule_of(e: &Error) -> &'static str {
    match e {
        Error::Invalid { rule, .. } | Error::InvalidArgument { rule, .. } | Error::Denied { rule, .. } => rule,
        other => panic!("no rule: {other:?}"),
    }
}

fn count(store: &Store) -> u64 {
    admin(store).list(&ListQuery::new()).unwrap().total
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn a_spreadsheet_imports_with_its_row_numbers_and_quoting() {
    let store = memory_store();
    let a = admin(&store);
    let file = format!(
        "{HEADER}KH001,王五,星辰科技有限公司,零售,经理,13812345678,wang@example.com,\"需要发票，\r\n每月寄送\"\r\n\
         KH002,李四,,,,not-a-mobile,li@example.com,\r\n\
         KH003,\"张三\",北京某某有限公司,,,13912345678,,\"=1+1 \"\"引号\"\"\"\r\n"
    );
    let report = import(&a, file.as_bytes()).unwrap();
    assert_eq!(report.customers.len(), 3);
    // The spreadsheet's rows: the header is row 1; a quoted cell spanning two lines is still one row.
    assert_eq!(report.customers.iter().map(|c| c.row).collect::<Vec<_>>(), [2, 3, 4]);
    let bad = &report.customers[1];
    assert!(!bad.verified);
    assert_eq!((bad.problems[0].field.as_str(), bad.problems[0].rule), ("mobile", "mobile_format"));
    assert!(!bad.problems[0].message.contains("not-a-mobile"), "never the value");
    let first = a.get(report.customers[0].customer).unwrap();
    assert_eq!(first.text(&Field::Notes), "需要发票，\r\n每月寄送");
    assert_eq!(first.text(&Field::Mobile), "13812345678");
    let third = a.get(report.customers[2].customer).unwrap();
    assert!(report.customers[2].verified);
    assert_eq!(third.text(&Field::Name), "张三");
    assert_eq!(third.text(&Field::Notes), "=1+1 \"引号\"", "stored as text, never evaluated");
    // Importing it again adds nothing: matched by external code, identical rows skipped.
    let again = import(&a, file.as_bytes()).unwrap();
    assert!(again.customers.is_empty());
    assert_eq!(again.already_present(), 3);
    assert_eq!(count(&store), 3);
    // With reject_invalid the bad row is left out and reported.
    let fresh = memory_store();
    let rejected = admin(&fresh)
        .import_csv(file.as_bytes(), &CsvReadOptions::new(), &ImportOptions::new().reject_invalid(true), None)
        .unwrap();
    assert_eq!(rejected.customers.len(), 2);
    assert_eq!(rejected.rejected.len(), 1);
    assert_eq!(rejected.rejected[0].row, 3);
    assert_eq!(rejected.rejected[0].problems[0].rule, "mobile_format");
    assert_eq!(count(&fresh), 2);
}

#[test]
fn encodings_are_detected_or_named_and_bad_bytes_are_refused_by_offset() {
    let text = format!("{HEADER}KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,备注\r\n");
    for (name, bytes, encoding) in [
        ("utf-8", text.as_bytes().to_vec(), CsvEncoding::Auto),
        ("utf-8 with BOM", [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(), CsvEncoding::Auto),
        ("gbk detected", gbk(&text), CsvEncoding::Auto),
        ("gbk named", gbk(&text), CsvEncoding::Gbk),
    ] {
        let store = memory_store();
        let a = admin(&store);
        let report = a.import_csv(&bytes[..], &CsvReadOptions::new().encoding(encoding), &ImportOptions::new(), None);
        let report = report.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.verified(), 1, "{name}");
        let view = a.get(report.customers[0].customer).unwrap();
        assert_eq!((view.text(&Field::Name), view.text(&Field::Organisation)), ("王五", "星辰科技"), "{name}");
    }
    let store = memory_store();
    let a = admin(&store);
    // GBK named as UTF-8: refused at the first byte that is not UTF-8, with a hint.
    let e =
        a.import_csv(&gbk(&text)[..], &CsvReadOptions::new().encoding(CsvEncoding::Utf8), &ImportOptions::new(), None);
    let e = e.unwrap_err();
    assert_eq!(rule_of(&e), "csv_encoding");
    assert!(e.to_string().contains("byte 0") && e.to_string().contains("name the encoding"), "{e}");
    // Neither UTF-8 nor GBK.
    let e = import(&a, b"\x81\x20name\r\n").unwrap_err();
    assert_eq!(rule_of(&e), "csv_encoding");
    assert!(e.to_string().contains("byte 0"), "{e}");
    // UTF-16 (Excel's "Unicode text").
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("name\r\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    assert_eq!(rule_of(&import(&a, &utf16).unwrap_err()), "csv_utf16");
    // A UTF-8 file that turns invalid after the detection window: refused there, nothing imported.
    let mut long = String::from("name,notes\r\n");
    while long.len() < 70_000 {
        long.push_str("王五,备注\r\n");
    }
    let mut bytes = long.into_bytes();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xFF\xFE,x\r\n");
    let e = import(&a, &bytes).unwrap_err();
    assert!(e.to_string().contains(&format!("byte {offset}")), "{e}");
    assert_eq!(count(&store), 0, "nothing half-imported");
}

#[test]
fn hostile_files_get_a_specific_error_or_report() {
    let store = memory_store();
    let a = admin(&store);
    assert_eq!(rule_of(&import(&a, b"").unwrap_err()), "csv_empty");
    // A header only: nothing to import, nothing imported.
    let report = import(&a, HEADER.as_bytes()).unwrap();
    assert!(report.customers.is_empty() && report.matched.is_empty());
    // Unknown, repeated and read-only columns are refused by name before any row.
    let e = import(&a, b"name,shoe_size\r\nx,42\r\n").unwrap_err();
    assert_eq!(rule_of(&e), "csv_unknown_column");
    assert!(e.to_string().contains("column 2 'shoe_size'"), "{e}");
    assert_eq!(rule_of(&import(&a, "姓名,name\r\n王五,王五\r\n".as_bytes()).unwrap_err()), "csv_duplicate_column");
    assert_eq!(rule_of(&import(&a, b"name,status\r\nx,active\r\n").unwrap_err()), "csv_read_only_column");
    // 1,000 columns.
    let wide = (0..1000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
    assert_eq!(rule_of(&import(&a, format!("{wide}\r\n").as_bytes()).unwrap_err()), "csv_too_many_columns");
    // A row with a cell too many, after good rows: the whole file is refused, nothing imported.
    let e = import(&a, "姓名,手机\r\n王五,13812345678\r\n李四,13912345678,extra\r\n".as_bytes()).unwrap_err();
    assert_eq!(rule_of(&e), "csv_row_length");
    assert!(e.to_string().contains("row 3"), "{e}");
    assert_eq!(count(&store), 0);
    // A 10 MB cell: the row is imported, the value reported and left out.
    let huge = format!("姓名,备注\r\n王五,{}\r\n", "长".repeat(3_500_000));
    let report = import(&a, huge.as_bytes()).unwrap();
    assert_eq!(report.customers.len(), 1);
    assert_eq!(report.customers[0].problems[0].field, "notes");
    assert!(report.customers[0].problems[0].message.contains("left out"));
    // A quote left open at the end of the file is read to the end: one cell, nothing lost or invented.
    let open = import(&a, "姓名,备注\r\n赵六,\"未闭合的引号\r\n".as_bytes()).unwrap();
    assert_eq!(open.customers.len(), 1);
    assert_eq!(a.get(open.customers[0].customer).unwrap().text(&Field::Notes), "未闭合的引号");
    // An explicit mapping replaces the header, and a column can be skipped.
    let mapped = a
        .import_csv(
            "A,B,C\r\n孙七,ignored,13700000001\r\n".as_bytes(),
            &CsvReadOptions::new().columns(vec![Some(Field::Name), None, Some(Field::Mobile)]),
            &ImportOptions::new(),
            None,
        )
        .unwrap();
    let view = a.get(mapped.customers[0].customer).unwrap();
    assert_eq!((view.text(&Field::Name), view.text(&Field::Mobile)), ("孙七", "13700000001"));
}

#[test]
fn exports_round_trip_in_utf8_and_gbk_and_show_only_what_the_session_sees() {
    let store = memory_store();
    let a = admin(&store);
    for i in 1..=5 {
        a.create(sample(i)).unwrap();
    }
    a.create(sample(6).set(Field::Notes, "=HYPERLINK(\"http://evil\")").set(Field::Title, "-经理")).unwrap();
    let columns = CsvExportOptions::default().columns.clone();
    for encoding in [CsvEncoding::Utf8, CsvEncoding::Utf8Bom, CsvEncoding::Gbk] {
        let mut file = Vec::new();
        let summary =
            a.export_csv(&mut file, &CsvExportOptions::new().encoding(encoding).chinese_headers(true)).unwrap();
        assert_eq!(summary.rows, 6);
        if encoding == CsvEncoding::Utf8Bom {
            assert!(file.starts_with(&[0xEF, 0xBB, 0xBF]));
        }
        let text = match encoding {
            CsvEncoding::Gbk => encoding_rs::GB18030.decode(&file).0.into_owned(),
            _ => String::from_utf8(file.clone()).unwrap(),
        };
        assert!(text.contains("'=HYPERLINK") && text.contains("'-经理"), "formula cells are neutralised");
        // Into a fresh store: the same customers.
        let copy = memory_store();
        let report = admin(&copy).import_csv(&file[..], &CsvReadOptions::new(), &ImportOptions::new(), None).unwrap();
        assert_eq!(report.customers.len(), 6, "{encoding:?}");
        for (original, imported) in (1..=6).zip(&report.customers) {
            let before = a.get(custodian::CustomerId(original)).unwrap();
            let after = admin(&copy).get(imported.customer).unwrap();
            for field in &columns {
                assert_eq!(before.text(field), after.text(field), "{encoding:?}: {field}");
            }
        }
    }
    // Customer service: L1 masked as shown; chosen columns; a filter.
    let mut file = Vec::new();
    service(&store)
        .export_csv(
            &mut file,
            &CsvExportOptions::new().columns([Field::Name, Field::IdNumber, Field::Mobile]).filter(Filter::default()),
        )
        .unwrap();
    let text = String::from_utf8(file).unwrap();
    let line = text.lines().nth(1).unwrap();
    assert!(line.starts_with("王五,3101**********") && line.ends_with(",13900000001"), "{line}");
    assert!(!text.contains(&id_number("310101", "19900307", 1)), "L1 never exported in plaintext to customer service");
    // Marketing: only consenting customers, contact fields only; the rest empty.
    consent_to_sms(&store, custodian::CustomerId(2));
    let mut file = Vec::new();
    let summary =
        marketing(&store).export_csv(&mut file, &CsvExportOptions::new().columns([Field::Name, Field::Notes])).unwrap();
    assert_eq!(summary.rows, 1);
    assert_eq!(String::from_utf8(file).unwrap(), "name,notes\r\n王五,\r\n");
    // Audited as an export naming the customers.
    let log = auditor(&store).audit_entries(&AuditQuery::new().limit(1000)).unwrap();
    let export = log.iter().rev().find(|e| e.action == "customer.export_csv").unwrap();
    assert_eq!(export.customers, vec![custodian::CustomerId(2)]);
    assert!(export.fields.contains(&"name".to_owned()));
    let e = a.export_csv(Vec::new(), &CsvExportOptions::new().columns([])).unwrap_err();
    assert_eq!(rule_of(&e), "csv_no_columns");
    let e = a.export_csv(Vec::new(), &CsvExportOptions::new().columns([Field::OrderTotal])).unwrap_err();
    assert_eq!(rule_of(&e), "catalogue.record_field");
}

#[test]
fn a_large_file_streams_with_progress() {
    let store = memory_store();
    let a = admin(&store);
    let mut file = String::from("编号,姓名,手机\r\n");
    for i in 0..5_000 {
        file.push_str(&format!("KH{i:05},王五,139{i:08}\r\n"));
    }
    let mut seen = Vec::new();
    let mut progress = |p: custodian::import::CsvProgress| seen.push(p);
    let report =
        a.import_csv(file.as_bytes(), &CsvReadOptions::new(), &ImportOptions::new(), Some(&mut progress)).unwrap();
    assert_eq!(report.verified(), 5_000);
    assert_eq!(seen.iter().map(|p| p.rows).collect::<Vec<_>>(), [1000, 2000, 3000, 4000, 5000, 5000]);
    assert_eq!(seen.last().unwrap().bytes, file.len() as u64);
    assert!(seen.windows(2).all(|w| w[0].bytes <= w[1].bytes));
}

#[test]
fn a_problems_only_report_lists_the_rows_to_look_at_and_counts_the_rest() {
    // Rows 2-3 good; 4 an invalid mobile; 5 repeats row 2's code; 6 repeats row 3's mobile.
    let file = format!(
        "{HEADER}KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n\
         KH002,李四,星辰科技,零售,,13912345678,,\r\n\
         KH003,张三,,,,not-a-mobile,,\r\n\
         KH001,赵六,,,,13712345678,,\r\n\
         KH004,钱七,,,,13912345678,,\r\n"
    );
    let quiet = ImportOptions::new().problems_only(true);
    for (_, backend, _dir) in stores() {
        let a = admin(&backend);
        let full = memory_store();
        let full_report = import(&admin(&full), file.as_bytes()).unwrap();
        let report = a.import_csv(file.as_bytes(), &CsvReadOptions::new(), &quiet, None).unwrap();
        // The invalid row and the one stored without its repeated code stay unverified.
        let expected = custodian::ImportCounts { created: 5, verified: 3, ..Default::default() };
        assert_eq!(report.counts, expected);
        assert_eq!(full_report.counts, expected, "the full report counts the same");
        assert_eq!((report.verified(), report.unverified()), (3, 2));
        // Only the rows with something to say, with the same problems as the full report.
        assert_eq!(report.customers.iter().map(|c| c.row).collect::<Vec<_>>(), [4, 5, 6]);
        let rules: Vec<Vec<&str>> =
            report.customers.iter().map(|c| c.problems.iter().map(|p| p.rule).collect()).collect();
        assert_eq!(rules, [vec!["mobile_format"], vec!["duplicate_code"], vec!["duplicate_mobile"]]);
        let full_problems: Vec<_> = full_report.with_problems().map(|c| (c.row, c.problems.clone())).collect();
        let quiet_problems: Vec<_> = report.customers.iter().map(|c| (c.row, c.problems.clone())).collect();
        assert_eq!(full_problems, quiet_problems);
        // In-file duplicates name the earlier row (found in the store, not in a map of the file).
        let row2 = report.customers[1].problems[0].message.clone();
        assert!(row2.contains("row 2 (customer"), "{row2}");
        let row6 = report.customers[2].problems[0].message.clone();
        assert!(row6.contains("row 3 (customer"), "{row6}");
        assert!(!row6.contains("13912345678"), "never the value");
        // Again: every row matched; only the conflict is listed (row 5 was stored without its code,
        // so its 编号 now matches row 2's customer with different values).
        let again = a.import_csv(file.as_bytes(), &CsvReadOptions::new(), &quiet, None).unwrap();
        assert_eq!(again.counts, custodian::ImportCounts { already_present: 4, conflicts: 1, ..Default::default() });
        assert_eq!(again.matched.iter().map(|m| m.row).collect::<Vec<_>>(), [5]);
        assert!(again.customers.is_empty());
        assert_eq!(count(&backend), 5);
    }
}
