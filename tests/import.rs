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
