//! Possible duplicates: found by ID number, mobile and e-mail through the
//! blind indexes and by normalised name and organisation; shown only to
//! sessions that could read the signal; a create that refuses or warns.

mod common;

use common::*;
use custodian::{AuditQuery, CustomerInput, DuplicateCheck, DuplicateReason, Error, Field, ListQuery, Purpose, Store};

fn person(name: &str, organisation: &str) -> CustomerInput {
    CustomerInput::individual().set(Field::Name, name).set(Field::Organisation, organisation)
}

fn stocked(store: &Store) -> Vec<custodian::CustomerId> {
    let a = admin(store);
    vec![
        a.create(sample(1)).unwrap().id,                                   // 1
        a.create(sample(2).set(Field::Mobile, "13900000001")).unwrap().id, // 2: 1's mobile
        a.create(sample(3).set(Field::IdNumber, id_number("310101", "19900307", 1))).unwrap().id, // 3: 1's ID number
        a.create(sample(4).set(Field::Email, "USER1@example.com")).unwrap().id, // 4: 1's e-mail, other case
        a.create(person("李 四", "星辰科技（北京）有限公司")).unwrap().id, // 5
        a.create(person("李四", "星辰科技(北京)有限公司")).unwrap().id,    // 6: 5, spelt otherwise
        a.create(person("李四", "海风贸易")).unwrap().id,                  // 7: same name only
    ]
}

#[test]
fn the_report_finds_each_kind_of_duplicate_with_its_reasons() {
    for (name, store, _guard) in stores() {
        let ids = stocked(&store);
        let report = admin(&store).duplicates(100).unwrap();
        let find = |a: usize, b: usize| {
            report.pairs.iter().find(|p| (p.first, p.second) == (ids[a], ids[b])).map(|p| (p.score, p.reasons.clone()))
        };
        // Every sample(n) is 王五 of 星辰科技有限公司, so those pairs carry that reason too.
        let also = DuplicateReason::SameNameAndOrganisation;
        assert_eq!(find(0, 1), Some((85, vec![DuplicateReason::SameMobile, also])), "{name}");
        assert_eq!(find(0, 2), Some((100, vec![DuplicateReason::SameIdNumber, also])), "{name}");
        assert_eq!(find(0, 3), Some((75, vec![DuplicateReason::SameEmail, also])), "{name}");
        assert_eq!(find(1, 2), Some((60, vec![also])), "{name}");
        assert_eq!(find(4, 5), Some((60, vec![DuplicateReason::SameNameAndOrganisation])), "{name}");
        assert_eq!(find(5, 6), None, "{name}: the same name alone is no duplicate");
        assert_eq!(report.pairs[0].reasons[0], DuplicateReason::SameIdNumber);
        assert!(report.pairs.windows(2).all(|w| w[0].score >= w[1].score), "{name}: highest first");
        assert!(!report.truncated);
        let limited = admin(&store).duplicates(2).unwrap();
        assert_eq!(limited.pairs.len(), 2);
        assert!(limited.truncated);
        assert!(matches!(admin(&store).duplicates(0), Err(Error::InvalidArgument { .. })));
        // Audited, naming the customers reported.
        let log = auditor(&store).audit_entries(&AuditQuery::new().limit(500)).unwrap();
        let entry = log.iter().find(|e| e.action == "customer.duplicates").unwrap();
        assert!(entry.customers.contains(&ids[0]) && entry.customers.contains(&ids[5]), "{name}");
        assert!(entry.fields.contains(&"mobile".to_owned()));
    }
}

#[test]
fn a_session_learns_only_what_it_could_read() {
    let store = memory_store();
    let ids = stocked(&store);
    // Analysts see no personal field: no signal reaches them.
    let analyst = store.session("analyst", Purpose::Analytics).unwrap();
    assert!(analyst.duplicates(100).unwrap().pairs.is_empty());
    // Marketing sees only consenting customers.
    consent_to_sms(&store, ids[0]);
    consent_to_sms(&store, ids[1]);
    let report = marketing(&store).duplicates(100).unwrap();
    assert!(report.pairs.iter().all(|p| [ids[0], ids[1]].contains(&p.first) && [ids[0], ids[1]].contains(&p.second)));
    assert!(report.pairs.iter().any(|p| p.reasons.contains(&DuplicateReason::SameMobile)));
    // A restricted customer is absent for every purpose but compliance.
    let compliance =
        store.authenticated_session("admin", Purpose::Compliance, custodian::AuthContext::with_mfa(0)).unwrap();
    compliance.restrict(ids[2], "objection-1").unwrap();
    let report = service(&store).duplicates(100).unwrap();
    assert!(report.pairs.iter().all(|p| p.first != ids[2] && p.second != ids[2]));
    assert!(compliance.duplicates(100).unwrap().pairs.iter().any(|p| p.second == ids[2]));
}

#[test]
fn a_create_can_refuse_or_warn_about_duplicates() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let first = a.create(sample(1)).unwrap().id;
        let twin = || CustomerInput::individual().set(Field::Name, "王小五").set(Field::Mobile, "139-0000-0001");
        let e = a.create_checked(twin(), DuplicateCheck::Refuse).unwrap_err();
        match &e {
            Error::Invalid { field, rule, message } => {
                assert_eq!((field.as_str(), *rule), ("mobile", "possible_duplicate"), "{name}");
                assert!(
                    message.contains(&format!("customer {first}")) && !message.contains("13900000001"),
                    "{message}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(a.list(&ListQuery::new()).unwrap().total, 1, "{name}: nothing created");
        let (created, pairs) = a.create_checked(twin(), DuplicateCheck::Warn).unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].first, pairs[0].second), (first, created.id));
        assert_eq!(pairs[0].reasons, [DuplicateReason::SameMobile]);
        let (_, none) = a.create_checked(twin(), DuplicateCheck::Allow).unwrap();
        assert!(none.is_empty());
        let (_, unrelated) =
            a.create_checked(CustomerInput::individual().set(Field::Name, "赵六"), DuplicateCheck::Refuse).unwrap();
        assert!(unrelated.is_empty());
        assert!(matches!(DuplicateCheck::parse("maybe"), Err(Error::Invalid { rule: "duplicate_check", .. })));
    }
}

/// The data-quality report counts, by category, without reading a value.
#[test]
fn the_data_quality_report_counts_by_category() {
    for (name, store, _guard) in stores() {
        stocked(&store);
        let a = admin(&store);
        a.import(vec![custodian::ImportRow {
            row: 1,
            input: CustomerInput::individual()
                .set(Field::Name, "赵六")
                .set(Field::Mobile, "1381234")
                .set(Field::Category, "零售"),
        }])
        .unwrap();
        let report = a.data_quality().unwrap();
        assert_eq!(report.total.customers, 8, "{name}");
        let retail = &report.by_category["零售"];
        assert_eq!((retail.customers, retail.unverified), (5, 1), "{name}");
        assert_eq!(retail.possible_duplicates, 4, "{name}: customers 1-4 share an ID number, mobile or e-mail");
        let none = &report.by_category["(none)"];
        assert_eq!((none.customers, none.missing_contact), (3, 3), "{name}");
        let analyst = store.session("analyst", Purpose::Analytics).unwrap().data_quality().unwrap();
        assert_eq!(analyst.total, report.total, "{name}: counts are statistics, not values");
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("1381234") && !json.contains("王五"), "{name}");
    }
}
