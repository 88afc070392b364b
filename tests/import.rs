//! Importing rows: invalid ones kept as unverified with a report, duplicates
//! reported, one transaction, and verification afterwards.

mod common;

use common::*;
use custodian::{CustomerInput, CustomerPatch, Error, Field, ImportRow};

fn row(row: usize, input: CustomerInput) -> ImportRow {
    ImportRow { row, input }
}

fn person(code: &str, name: &str, mobile: &str) -> CustomerInput {
    CustomerInput::individual().set(Field::ExternalCode, code).set(Field::Name, name).set(Field::Mobile, mobile)
}

#[test]
fn invalid_rows_are_kept_unverified_and_duplicates_reported() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let existing = a.create(person("KH9", "老客户", "13900000009")).unwrap().id;
        let report = a
            .import(vec![
                row(0, person("KH1", "王五", "13800000001").set(Field::Email, "wang@example.com")),
                row(1, person("KH2", "李四", "12345").set(Field::Email, "li4-at-example.com")),
                row(2, CustomerInput::individual().set(Field::ExternalCode, "KH3").set(Field::Mobile, "13800000003")),
                row(3, person("KH1", "张三", "13800000004")),
                row(4, person("KH9", "赵六", "13900000009")),
            ])
            .unwrap();
        assert_eq!(report.customers.len(), 5, "{name}");
        assert_eq!((report.verified(), report.unverified()), (1, 4), "{name}");
        let rules = |i: usize| report.customers[i].problems.iter().map(|p| p.rule).collect::<Vec<_>>();
        assert!(report.customers[0].problems.is_empty() && report.customers[0].verified, "{name}");
        assert_eq!(rules(1), vec!["mobile_format", "email_syntax"], "{name}");
        assert_eq!(rules(2), vec!["required"], "{name}: a person needs a name");
        assert_eq!(rules(3), vec!["duplicate_code"], "{name}");
        assert!(report.customers[3].problems[0].message.contains("row 0"), "{name}");
        assert_eq!(rules(4), vec!["duplicate_code", "duplicate_mobile"], "{name}");
        assert!(report.customers[4].problems[1].message.contains(&format!("customer {existing}")), "{name}");
        // Reports name fields and rules, never the values.
        let text = format!("{report:?}");
        for value in ["12345", "li4-at-example.com", "李四", "13900000009"] {
            assert!(!text.contains(value), "{name}: '{value}' in the report");
        }

        // The unverified customer holds its values as entered.
        let li = a.get(report.customers[1].customer).unwrap();
        assert_eq!(li.text(&Field::Status), "unverified", "{name}");
        assert_eq!(li.text(&Field::Mobile), "12345", "{name}");
        assert_eq!(a.get(report.customers[3].customer).unwrap().get(&Field::ExternalCode), None, "{name}");
        assert!(matches!(
            a.verify(li.id, li.version),
            Err(Error::Invalid { ref field, rule: "mobile_format", .. }) if field == "mobile"
        ));
        // Correcting one value is not enough; correcting both verifies it.
        let li = a.update(li.id, li.version, CustomerPatch::new().set(Field::Mobile, "13800000002")).unwrap();
        assert_eq!(li.text(&Field::Status), "unverified", "{name}");
        let li = a.update(li.id, li.version, CustomerPatch::new().set(Field::Email, "li4@example.com")).unwrap();
        assert_eq!(li.text(&Field::Status), "active", "{name}");
        // verify() on a valid customer changes nothing.
        let again = a.verify(li.id, li.version).unwrap();
        assert_eq!(again.version, li.version, "{name}");
        assert!(store.verify_audit(None).unwrap().is_intact(), "{name}");
    }
}

#[test]
fn an_import_the_session_may_not_make_stores_nothing() {
    let store = memory_store();
    let before = store.counts().unwrap();
    let err = marketing(&store).import(vec![row(0, person("KH1", "王五", "13800000001"))]).unwrap_err();
    assert!(matches!(err, Error::Denied { .. }), "{err}");
    assert_eq!(store.counts().unwrap(), before);
    // A value too long to keep even as entered is reported and left out.
    let huge = "x".repeat(70 * 1024);
    let report =
        admin(&store).import(vec![row(7, person("KH1", "王五", "13800000001").set(Field::Notes, huge))]).unwrap();
    assert_eq!(report.customers[0].problems[0].rule, "too_long");
    assert!(report.customers[0].problems[0].message.ends_with("left out"));
    assert_eq!(admin(&store).get(report.customers[0].customer).unwrap().get(&Field::Notes), None);
}

mod khzl_files {
    use custodian::import::khzl::{self, LegacyRecord, RECORD_LEN};
    use custodian::{Error, Field};

    fn record(slot: usize, name: &str, notes: &str) -> LegacyRecord {
        LegacyRecord::new(
            slot,
            ["KH01", name, "星辰科技有限公司", "零售", "经理", "13800000001", "a@example.com", notes],
        )
    }

    fn rule(e: Error) -> &'static str {
        match e {
            Error::Invalid { rule, .. } => rule,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn written_files_read_back_and_empty_slots_are_skipped() {
        let bytes = khzl::write(&[record(0, "王五", "需要发票")], 2).unwrap();
        assert_eq!(bytes.len(), 3 * RECORD_LEN);
        let read = khzl::parse(&bytes).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].get(&Field::Name), Some("王五"));
        assert_eq!(read[0].get(&Field::Notes), Some("需要发票"));
        assert_eq!(read[0].slot, 0);
        // GBK on disk: 王五 is CD F5 CE E5.
        assert_eq!(&bytes[10..14], [0xcd, 0xf5, 0xce, 0xe5]);
    }

    #[test]
    fn full_arrays_and_leftover_bytes_after_the_nul() {
        let mut bytes = khzl::write(&[record(0, "王五", "")], 0).unwrap();
        bytes[0..10].copy_from_slice(b"KH12345678"); // bh full, no NUL
        bytes[14] = 0;
        bytes[15..25].copy_from_slice(b"garbage!!!"); // left over after xm's NUL
        let read = khzl::parse(&bytes).unwrap();
        assert_eq!(read[0].get(&Field::ExternalCode), Some("KH12345678"));
        assert_eq!(read[0].get(&Field::Name), Some("王五"));
    }

    #[test]
    fn files_that_are_not_legacy_files_import_nothing() {
        assert_eq!(rule(khzl::parse(&[]).unwrap_err()), "khzl_empty");
        let bytes = khzl::write(&[record(0, "王五", ""), record(1, "张三", "")], 0).unwrap();
        let err = khzl::parse(&bytes[..bytes.len() - 7]).unwrap_err();
        assert!(err.to_string().contains("truncated") && err.to_string().contains("nothing was imported"));
        assert_eq!(rule(err), "khzl_length");
        let mut binary = vec![0x89u8; RECORD_LEN];
        binary[0] = 0x01;
        assert_eq!(rule(khzl::parse(&binary).unwrap_err()), "khzl_not_legacy");
        // A GB18030 four-byte sequence decodes, but CP936 never wrote one.
        let mut four_byte = bytes.clone();
        four_byte[10..14].copy_from_slice(&[0x81, 0x30, 0x8b, 0x38]); // U+0100 in GB18030
        assert_eq!(rule(khzl::parse(&four_byte).unwrap_err()), "khzl_not_legacy");
        let mut no_number = bytes.clone();
        no_number[0..10].fill(0);
        let err = khzl::parse(&no_number).unwrap_err();
        assert!(err.to_string().contains("record 0"), "{err}");
        assert_eq!(rule(err), "khzl_not_legacy");
    }

    #[test]
    fn writing_refuses_what_the_format_cannot_hold() {
        assert_eq!(rule(khzl::write(&[record(0, "王五", "😀")], 0).unwrap_err()), "khzl_not_gbk");
        assert_eq!(rule(khzl::write(&[record(0, "王五", &"长".repeat(41))], 0).unwrap_err()), "khzl_too_long");
        // Exactly full (80 bytes = 40 GBK characters) is allowed.
        let bytes = khzl::write(&[record(0, "王五", &"长".repeat(40))], 0).unwrap();
        assert_eq!(khzl::parse(&bytes).unwrap()[0].get(&Field::Notes).unwrap().chars().count(), 40);
    }

    #[test]
    fn debug_output_and_errors_hold_no_personal_values() {
        let canary = record(0, "金丝雀", "CANARY-NOTE");
        let debug = format!("{canary:?}");
        assert!(!debug.contains("金丝雀") && !debug.contains("CANARY") && !debug.contains("13800000001"), "{debug}");
        let mut bytes = khzl::write(&[canary], 0).unwrap();
        bytes[145] = 0x07; // a control character inside bz (which starts at byte 140)
        let err = khzl::parse(&bytes).unwrap_err().to_string();
        assert!(!err.contains("CANARY") && err.contains("bz"), "{err}");
    }
}
