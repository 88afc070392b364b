//! Importing rows: invalid ones kept as unverified with a report, duplicates
//! reported, one transaction, and verification afterwards.

mod common;

use common::*;
use custodian::import::khzl::{self, LegacyRecord};
use custodian::{CustomerInput, CustomerPatch, Error, Field, ImportOptions, ImportRow, Matched, MatchedRow, Purpose};

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
                row(1, person("KH1", "王五", "13800000001").set(Field::Email, "wang@example.com")),
                row(2, person("KH2", "李四", "12345").set(Field::Email, "li4-at-example.com")),
                row(3, CustomerInput::individual().set(Field::ExternalCode, "KH3").set(Field::Mobile, "13800000003")),
                row(4, person("KH1", "张三", "13800000004")),
                row(5, person("KH8", "赵六", "13900000009")),
                row(6, person("KH9", "赵六", "13900000009")),
            ])
            .unwrap();
        assert_eq!(report.customers.len(), 5, "{name}");
        assert_eq!(
            (report.verified(), report.unverified()),
            (2, 3),
            "{name}: a duplicate mobile alone is reported, not held back"
        );
        let rules = |i: usize| report.customers[i].problems.iter().map(|p| p.rule).collect::<Vec<_>>();
        assert!(report.customers[0].problems.is_empty() && report.customers[0].verified, "{name}");
        assert!(report.customers[4].verified, "{name}");
        assert_eq!(rules(1), vec!["mobile_format", "email_syntax"], "{name}");
        assert_eq!(rules(2), vec!["required"], "{name}: a person needs a name");
        assert_eq!(rules(3), vec!["duplicate_code"], "{name}");
        assert!(report.customers[3].problems[0].message.contains("row 1 "), "{name}: rows count from 1");
        assert_eq!(rules(4), vec!["duplicate_mobile"], "{name}");
        assert!(report.customers[4].problems[0].message.contains(&format!("customer {existing}")), "{name}");
        // KH9 exists already: the row is matched with it, not imported again.
        assert_eq!(
            report.matched,
            vec![MatchedRow { row: 6, customer: existing, outcome: Matched::Conflict { fields: vec!["name".into()] } }],
            "{name}"
        );
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
        assert_eq!(a.get(existing).unwrap().text(&Field::Name), "老客户", "{name}: a conflict changes nothing");
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

/// The prototype's file of three customers (the second with an invalid mobile).
fn legacy_file(third_notes: &str) -> Vec<u8> {
    let records = [
        LegacyRecord::new(1, ["KH01", "王五", "星辰科技", "零售", "经理", "13800000001", "w5@example.com", "老客户"]),
        LegacyRecord::new(2, ["KH02", "李四", "", "批发", "", "12345", "", ""]),
        LegacyRecord::new(3, ["KH03", "张三", "", "零售", "", "13800000003", "", third_notes]),
    ];
    khzl::write(&records, 1).unwrap()
}

#[test]
fn importing_the_same_file_again_doubles_nothing() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let first = a.import_khzl(&legacy_file("需要发票")).unwrap();
        assert_eq!(first.customers.iter().map(|c| c.row).collect::<Vec<_>>(), vec![1, 2, 3], "{name}: rows from 1");
        assert!(first.matched.is_empty());
        let counts = store.counts().unwrap();

        // The same file again: every row is already there.
        let again = a.import_khzl(&legacy_file("需要发票")).unwrap();
        assert!(again.customers.is_empty(), "{name}: {again:?}");
        assert_eq!(again.already_present(), 3, "{name}");
        assert_eq!(again.matched.iter().map(|m| m.row).collect::<Vec<_>>(), vec![1, 2, 3], "{name}");
        assert_eq!(store.counts().unwrap(), counts, "{name}: no second copy");

        // A changed row is a conflict, naming the field, and changes nothing...
        let third = first.customers[2].customer;
        let changed = a.import_khzl(&legacy_file("改开增值税发票")).unwrap();
        assert_eq!(changed.already_present(), 2, "{name}");
        let conflicts: Vec<&MatchedRow> = changed.conflicts().collect();
        assert_eq!(conflicts.len(), 1, "{name}");
        assert_eq!((conflicts[0].row, conflicts[0].customer), (3, third), "{name}");
        assert_eq!(conflicts[0].outcome, Matched::Conflict { fields: vec!["notes".into()] }, "{name}");
        assert_eq!(a.get(third).unwrap().text(&Field::Notes), "需要发票", "{name}");
        assert!(!format!("{changed:?}").contains("增值税"), "{name}: the report holds no value");

        // ...unless the caller asks for an update, which is audited as one.
        let options = ImportOptions::new().update_existing(true);
        let updated = a.import_khzl_with(&legacy_file("改开增值税发票"), &options).unwrap();
        assert_eq!(updated.matched[2].outcome, Matched::Updated { fields: vec!["notes".into()] }, "{name}");
        let view = a.get(third).unwrap();
        assert_eq!((view.text(&Field::Notes), view.version), ("改开增值税发票", 2), "{name}");
        assert_eq!(store.counts().unwrap(), counts, "{name}");
        let auditor = store.session("auditor", Purpose::Compliance).unwrap();
        let entries = auditor.audit_entries(&custodian::AuditQuery::new().customer(third).limit(100)).unwrap();
        let entry = entries.iter().find(|e| e.action == "customer.import_update").expect("the update is audited");
        assert_eq!(entry.changed, vec!["notes".to_owned()], "{name}");

        // Updating needs the update action: a session that may only create is refused.
        let clerk_file = legacy_file("第三次");
        let err = marketing(&store).import_khzl_with(&clerk_file, &options).unwrap_err();
        assert!(matches!(err, Error::Denied { .. }), "{name}: {err}");
        assert_eq!(a.get(third).unwrap().version, 2, "{name}");
        assert!(store.verify_audit(None).unwrap().is_intact(), "{name}");
    }
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
        let bytes = khzl::write(&[record(1, "王五", "需要发票")], 2).unwrap();
        assert_eq!(bytes.len(), 3 * RECORD_LEN);
        let read = khzl::parse(&bytes).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].get(&Field::Name), Some("王五"));
        assert_eq!(read[0].get(&Field::Notes), Some("需要发票"));
        assert_eq!(read[0].slot, 1, "records count from 1, as the console showed them");
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
        let bytes = khzl::write(&[record(1, "王五", ""), record(2, "张三", "")], 0).unwrap();
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
        assert!(err.to_string().contains("record 1:"), "{err}");
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

/// With four-eyes verification, whoever entered or last changed a customer
/// may not verify it; someone else may.
#[test]
fn four_eyes_verification_needs_a_second_principal() {
    for four_eyes in [true, false] {
        let mut store = custodian::Store::in_memory(key(), custodian::CreateOptions::new()).unwrap();
        store.set_four_eyes(four_eyes).unwrap();
        provision(&store);
        principal(&store, "checker", custodian::Role::CustomerService);
        let clerk = service(&store);
        let report = clerk
            .import(vec![custodian::ImportRow {
                row: 1,
                input: custodian::CustomerInput::individual()
                    .set(custodian::Field::Name, "王五")
                    .set(custodian::Field::Mobile, "1381234"),
            }])
            .unwrap();
        let id = report.customers[0].customer;
        let fixed =
            clerk.update(id, 1, custodian::CustomerPatch::new().set(custodian::Field::Mobile, "13812345678")).unwrap();
        let by_clerk = clerk.verify(id, fixed.version);
        if !four_eyes {
            by_clerk.unwrap();
            continue;
        }
        match by_clerk.unwrap_err() {
            custodian::Error::Denied { rule, reason } => {
                assert_eq!(rule, custodian::access::rules::FOUR_EYES);
                assert!(reason.contains("'clerk'") && reason.contains("customer.update"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let checker = store.session("checker", custodian::Purpose::Service).unwrap();
        checker.verify(id, fixed.version).unwrap();
        // Set only before the store is shared.
        let e = store.set_four_eyes(false).unwrap_err();
        assert!(matches!(e, custodian::Error::Invalid { rule: "store_shared", .. }));
    }
}
