//! Organisation customers as Chinese records keep them: the unified social
//! credit code (GB 32100-2015), a registered address, landlines with area
//! code and extension, and contact persons — validated, sealed, and the
//! credit code blind-indexed for lookup and duplicate detection.

mod common;

use common::*;
use custodian::model::credit_code_check_character;
use custodian::storage::DATA_FILE;
use custodian::{CreateOptions, CustomerInput, DuplicateReason, Error, Field, Store};

/// A valid credit code: the first 17 characters and their check character.
fn credit_code(first17: &str) -> String {
    format!("{first17}{}", credit_code_check_character(first17.as_bytes()) as char)
}

fn company(code: &str) -> CustomerInput {
    CustomerInput::organisation()
        .set(Field::Organisation, "星辰科技有限公司")
        .set(Field::Name, "王五")
        .set(Field::CreditCode, code)
        .set(Field::RegisteredAddress, "北京市海淀区中关村大街1号")
        .set(Field::Address, "北京市朝阳区建国路88号")
        .set(Field::Landline, "(010) 6234 5678 转 801")
        .set(
            Field::Contacts,
            r#"[{"name": "李四", "title": "采购经理", "mobile": "+86 138 1234 5678", "email": "LiSi@Example.com"},
                {"name": "赵六", "landline": "0571-87654321"}]"#,
        )
}

fn rule_of(e: Error) -> (String, &'static str) {
    match e {
        Error::Invalid { field, rule, .. } => (field, rule),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_organisation_keeps_its_code_addresses_landline_and_contacts() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let code = credit_code("91110108MA01ABCD1");
        let created = a.create(company(&code.to_lowercase())).unwrap();
        assert_eq!(created.text(&Field::CreditCode), code, "{name}: upper-cased");
        assert_eq!(created.text(&Field::Landline), "010-62345678-801", "{name}");
        assert_eq!(created.text(&Field::RegisteredAddress), "北京市海淀区中关村大街1号");
        let contacts: serde_json::Value = serde_json::from_str(created.text(&Field::Contacts)).unwrap();
        assert_eq!(contacts[0]["mobile"], "13812345678", "{name}: normalised like the customer's own");
        assert_eq!(contacts[0]["email"], "lisi@example.com");
        assert_eq!(contacts[1]["landline"], "0571-87654321");
        assert_eq!(contacts[1].get("title"), None);
        // Exact lookup by credit code, however it is typed.
        let spaced = format!("{} {}", &code[..6], code[6..].to_lowercase());
        assert_eq!(a.find_by_credit_code(&spaced).unwrap()[0].id, created.id, "{name}");
        assert!(a.find_by_credit_code(&credit_code("91110108MA01ABCD2")).unwrap().is_empty());
        // A second record of the same organisation is a duplicate by its code.
        let other = a
            .create(
                CustomerInput::organisation()
                    .set(Field::Organisation, "星辰科技")
                    .set(Field::CreditCode, code.as_str()),
            )
            .unwrap();
        let report = a.duplicates(100).unwrap();
        let pair = report.pairs.iter().find(|p| (p.first, p.second) == (created.id, other.id)).unwrap();
        assert_eq!(pair.reasons, vec![DuplicateReason::SameCreditCode], "{name}");
        assert_eq!(pair.score, 95);
    }
}

#[test]
fn bad_codes_landlines_and_contacts_get_their_own_rules() {
    let store = memory_store();
    let a = admin(&store);
    let code = credit_code("91350100M000100Y4");
    let wrong_check = format!("{}{}", &code[..17], if code.ends_with('0') { '1' } else { '0' });
    for (value, expected) in [
        (wrong_check.as_str(), "credit_code_check"),
        (&code[..17], "credit_code_length"),
        ("91350100M000100Y4I", "credit_code_format"),
        ("01350100M000100Y43", "credit_code_format"),
        // No organisation type 0 or letter (GB 32100 table 1).
        (&credit_code("90350100M000100Y4"), "credit_code_format"),
        (&credit_code("9A350100M000100Y4"), "credit_code_format"),
    ] {
        let err = a.create(company(value)).unwrap_err();
        assert_eq!(rule_of(err), ("credit_code".to_owned(), expected), "{value}");
    }
    for (value, expected) in [
        ("62345678", "landline_area_code"),
        ("010-0234567", "landline_number"),
        ("0571-8765432", "landline_unallocated"),
        ("010-62345678 转 1234567", "landline_extension"),
        ("010-6234abcd", "landline_format"),
    ] {
        let err = a.create(company(&code).set(Field::Landline, value)).unwrap_err();
        assert_eq!(rule_of(err), ("landline".to_owned(), expected), "{value}");
    }
    for (value, field, expected) in [
        ("not json", "contacts", "contacts_json"),
        ("[]", "contacts", "contacts_count"),
        (r#"[{"name": "李四", "fax": "1"}]"#, "contacts", "contacts_json"),
        (
            r#"[{"name": "李四"}, {"name": "赵六", "mobile": "14012345678"}]"#,
            "contacts[2].mobile",
            "mobile_unallocated",
        ),
        (r#"[{"name": " "}]"#, "contacts[1].name", "contact_name_required"),
        (r#"[{"name": "李四", "email": "no-at-sign"}]"#, "contacts[1].email", "email_syntax"),
    ] {
        let err = a.create(company(&code).set(Field::Contacts, value)).unwrap_err();
        let (got_field, rule) = rule_of(err);
        assert_eq!((got_field.as_str(), rule), (field, expected), "{value}");
    }
    // The refusal names the rule, never the value.
    let err = a.create(company(&code).set(Field::Contacts, r#"[{"name": "秘密甲乙", "mobile": "1"}]"#)).unwrap_err();
    assert!(!err.to_string().contains("秘密甲乙"), "{err}");
}

#[test]
fn the_new_values_are_sealed_on_disk_and_masked_for_narrow_roles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let code = credit_code("91310000MA1FL0CAN");
    let id = admin(&store)
        .create(company(&code).set(Field::RegisteredAddress, "canary-registered-address-71c2"))
        .unwrap()
        .id;
    // Marketing sees only contact fields, masked L1 and nothing else: the
    // organisation's contact persons are withheld or masked, never plain.
    consent_to_sms(&store, id);
    let seen = marketing(&store).get(id).unwrap();
    if let Some(shown) = seen.get(&Field::Contacts) {
        assert!(shown.is_masked() && !shown.text().contains("13812345678"), "{shown:?}");
    }
    drop(store);
    for entry in std::fs::read_dir(&path).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        for canary in [code.as_str(), "canary-registered-address-71c2", "13812345678", "62345678"] {
            assert!(!contains(&bytes, canary.as_bytes()), "{} holds '{canary}'", p.display());
        }
    }
    assert!(path.join(DATA_FILE).exists());
}

#[test]
fn a_csv_file_maps_the_chinese_headers_of_the_new_fields() {
    let store = memory_store();
    let code = credit_code("91440300MA5DXXXX1");
    let file = format!(
        "编号,类型,单位,统一社会信用代码,注册地址,座机\r\nORG1,organisation,海风贸易,{code},深圳市南山区科技园,0755-86668888-12\r\n"
    );
    let report = admin(&store)
        .import_csv(file.as_bytes(), &custodian::import::CsvReadOptions::new(), &custodian::ImportOptions::new(), None)
        .unwrap();
    assert_eq!(report.customers.len(), 1);
    assert!(report.customers[0].problems.is_empty(), "{:?}", report.customers[0].problems);
    let view = admin(&store).get_by_external_code("ORG1").unwrap();
    assert_eq!(view.text(&Field::CreditCode), code);
    assert_eq!(view.text(&Field::Landline), "0755-86668888-12");
}
