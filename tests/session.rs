//! Store and session behaviour on both backends: operations, roles and
//! masking, version checks, listing and search.

mod common;

use common::*;
use custodian::access::rules;
use custodian::{
    Catalogue, CreateOptions, CustomerId, CustomerInput, CustomerPatch, Error, Field, Filter, Level, ListQuery,
    Purpose, Role, SearchQuery, Shown, Store,
};

#[test]
fn create_get_update_delete_round_trip() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let created = s.create(sample(1)).unwrap();
        assert_eq!(created.version, 1);
        let got = s.get(created.id).unwrap();
        assert_eq!(got.text(&Field::Name), "王五", "{name}");
        assert_eq!(got.text(&Field::Mobile), "13900000001", "{name}");
        assert_eq!(got.text(&Field::Gender), "male", "{name}");
        assert_eq!(got.text(&Field::Tags), "vip,老客户", "{name}");
        assert_eq!(got.get(&Field::IdNumber), Some(&Shown::Plain(id_number("310101", "19900307", 1))), "{name}");
        assert_eq!(s.get_by_external_code("KH00001").unwrap().id, created.id, "{name}");

        let updated = s
            .update(created.id, 1, CustomerPatch::new().set(Field::Mobile, "+86 137-0000-0001").clear(Field::Notes))
            .unwrap();
        assert_eq!(updated.version, 2, "{name}");
        assert_eq!(updated.text(&Field::Mobile), "13700000001", "{name}");
        assert_eq!(updated.get(&Field::Notes), None, "{name}");
        assert!(s.find_by_mobile("13900000001").unwrap().is_empty(), "{name}: the old mobile is no longer indexed");
        assert_eq!(s.find_by_mobile("13700000001").unwrap()[0].id, created.id, "{name}");

        s.delete(created.id).unwrap();
        assert!(matches!(s.get(created.id), Err(Error::CustomerNotFound(id)) if id == created.id), "{name}");
        assert!(matches!(s.delete(created.id), Err(Error::CustomerNotFound(_))), "{name}");
        assert!(matches!(s.get_by_external_code("KH00001"), Err(Error::ExternalCodeNotFound(_))), "{name}");
        let counts = store.counts().unwrap();
        assert_eq!((counts.customers, counts.data_keys), (0, 0), "{name}: delete removes the data key too");
        let next = s.create(sample(2)).unwrap();
        assert!(next.id > created.id, "{name}: ids are not reused");
    }
}

#[test]
fn a_stale_version_is_refused_and_nothing_changes() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let c = s.create(sample(1)).unwrap();
        s.update(c.id, 1, CustomerPatch::new().set(Field::Title, "总监")).unwrap();
        let err = s.update(c.id, 1, CustomerPatch::new().set(Field::Title, "主任")).unwrap_err();
        match err {
            Error::VersionConflict { customer, expected, actual } => {
                assert_eq!((customer, expected, actual), (c.id, 1, 2), "{name}");
            }
            other => panic!("{name}: expected a version conflict, got {other:?}"),
        }
        let now = s.get(c.id).unwrap();
        assert_eq!((now.version, now.text(&Field::Title)), (2, "总监"), "{name}");
        assert!(matches!(
            s.update(CustomerId(999), 1, CustomerPatch::new().set(Field::Title, "x")),
            Err(Error::CustomerNotFound(CustomerId(999)))
        ));
    }
}

#[test]
fn exact_lookups_normalise_their_input() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let c = s.create(sample(5).set(Field::Email, " Li.Lei@Example.COM ")).unwrap();
        assert_eq!(s.find_by_email("li.lei@example.com").unwrap()[0].id, c.id, "{name}");
        assert_eq!(s.find_by_email("LI.LEI@EXAMPLE.COM").unwrap()[0].id, c.id, "{name}");
        assert_eq!(s.find_by_mobile("+86 139 0000 0005").unwrap()[0].id, c.id, "{name}");
        assert_eq!(s.find_by_mobile("0086-139-0000-0005").unwrap()[0].id, c.id, "{name}");
        let id = id_number("310101", "19900307", 5).to_lowercase();
        assert_eq!(s.find_by_id_number(&id).unwrap()[0].id, c.id, "{name}");
        assert!(s.find_by_mobile("13900000006").unwrap().is_empty(), "{name}");
        assert!(matches!(s.find_by_mobile("' OR 1=1 --"), Err(Error::Invalid { rule: "mobile_format", .. })));
        assert!(matches!(s.find(Field::Name, "王五"), Err(Error::InvalidArgument { rule: "not_indexed", .. })));
        // Two customers sharing a mobile are both found, in id order.
        let d = s.create(sample(6).set(Field::Mobile, "13900000005")).unwrap();
        let ids: Vec<_> = s.find_by_mobile("13900000005").unwrap().iter().map(|v| v.id).collect();
        assert_eq!(ids, vec![c.id, d.id], "{name}");
    }
}

#[test]
fn duplicate_external_codes_are_refused_on_create_and_update() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let a = s.create(sample(1)).unwrap();
        let b = s.create(sample(2)).unwrap();
        let err = s.create(sample(3).set(Field::ExternalCode, "KH00001")).unwrap_err();
        assert!(matches!(err, Error::DuplicateExternalCode { existing, .. } if existing == a.id), "{name}");
        let err = s.update(b.id, 1, CustomerPatch::new().set(Field::ExternalCode, "KH00001")).unwrap_err();
        assert!(matches!(err, Error::DuplicateExternalCode { existing, .. } if existing == a.id), "{name}");
        // Keeping one's own code is fine.
        s.update(b.id, 1, CustomerPatch::new().set(Field::ExternalCode, "KH00002")).unwrap();
        assert_eq!(store.counts().unwrap().customers, 2, "{name}");
    }
}

#[test]
fn customer_service_sees_l1_masked_and_cannot_delete() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        let cs = service(&store);
        let v = cs.get(id).unwrap();
        assert_eq!(v.get(&Field::Name), Some(&Shown::Plain("王五".into())), "{name}");
        assert_eq!(v.get(&Field::Mobile), Some(&Shown::Plain("13900000001".into())), "{name}");
        let idn = id_number("310101", "19900307", 1);
        assert_eq!(v.get(&Field::IdNumber), Some(&Shown::Masked(format!("3101**********{}", &idn[14..]))), "{name}");
        assert_eq!(v.get(&Field::BirthDate), Some(&Shown::Masked("****-**-**".into())), "{name}");
        assert_eq!(v.level(&Field::IdNumber), Some(Level::L1));
        assert!(v.withheld().is_empty(), "{name}");
        // Lookup by the full ID number works; the answer stays masked.
        assert!(cs.find_by_id_number(&idn).unwrap()[0].get(&Field::IdNumber).unwrap().is_masked(), "{name}");
        // It may write L1 values it cannot read back.
        let c = cs.create(sample(2)).unwrap();
        assert!(c.get(&Field::IdNumber).unwrap().is_masked(), "{name}");
        let err = cs.delete(id).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::SERVICE_NO_DELETE, .. }), "{name}: {err}");
        assert!(admin(&store).get(id).is_ok(), "{name}: nothing was deleted");
    }
}

#[test]
fn marketing_sees_contact_fields_only_and_writes_nothing() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        consent_to_sms(&store, id);
        let m = marketing(&store);
        let v = m.get(id).unwrap();
        for f in [Field::Name, Field::Mobile, Field::Email, Field::Category, Field::Tier, Field::ExternalCode] {
            assert!(matches!(v.get(&f), Some(Shown::Plain(_))), "{name}: {f} visible");
        }
        for f in [Field::IdNumber, Field::BirthDate, Field::Notes, Field::Address, Field::Organisation] {
            assert_eq!(v.get(&f), None, "{name}: {f} withheld");
            assert!(
                v.withheld().iter().any(|w| w.field == f && w.rule == rules::MARKETING_CONTACT_ONLY),
                "{name}: {f}"
            );
        }
        let err = m.create(sample(2)).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::MARKETING_READ_ONLY, .. }), "{name}");
        let err = m.find_by_id_number(&id_number("310101", "19900307", 1)).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::MARKETING_CONTACT_ONLY, .. }), "{name}: {err}");
        // Searching never reaches withheld fields: notes mention 发票, marketing cannot find it.
        let hits = m.search(&SearchQuery::new("发票").limit(10)).unwrap();
        assert_eq!(hits.total, 0, "{name}");
    }
}

#[test]
fn auditors_and_wrong_purposes_are_denied_with_a_rule() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        let auditor = store.session("auditor", Purpose::Compliance).unwrap();
        let err = auditor.get(id).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::AUDITOR_NO_CUSTOMER_DATA, .. }), "{name}: {err}");
        assert!(auditor.list(&ListQuery::new()).is_err(), "{name}");
        let cs_marketing = store.session("clerk", Purpose::Marketing).unwrap();
        let err = cs_marketing.get(id).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::PURPOSE_NOT_PERMITTED, .. }), "{name}: {err}");
        assert!(err.to_string().contains("marketing"), "{name}: the reason names the purpose");
        let nobody = store.session("nobody", Purpose::Service).unwrap();
        assert!(matches!(nobody.get(id), Err(Error::Denied { rule: rules::NO_CURRENT_GRANT, .. })), "{name}");
    }
}

#[test]
fn a_catalogue_override_changes_what_roles_see() {
    let catalogue = Catalogue::default().with_level(Field::Mobile, Level::L1).unwrap();
    let store = Store::in_memory(key(), CreateOptions::new().catalogue(catalogue)).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1)).unwrap().id;
    let v = service(&store).get(id).unwrap();
    assert_eq!(v.get(&Field::Mobile), Some(&Shown::Masked("139****0001".into())));
    assert_eq!(v.level(&Field::Mobile), Some(Level::L1));
}

#[test]
fn listing_pages_cover_every_customer_once_in_pinyin_order() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let surnames = ["张", "阿", "赵", "白", "陈", "李", "王", "欧阳", "Smith", "安"];
        for i in 0..57u32 {
            let n = format!("{}{}", surnames[i as usize % surnames.len()], ["一", "二", "三"][i as usize % 3]);
            let mut c = sample(i).set(Field::Name, n).set(Field::Tier, ["A", "B", "C"][i as usize % 3]);
            if i % 11 == 0 {
                c = c.set(Field::Name, "");
                c.insert(Field::Name, "无名");
            }
            s.create(c).unwrap();
        }
        let mut all = Vec::new();
        for offset in (0..57).step_by(20) {
            let page = s.list(&ListQuery::new().sort(Field::Name).offset(offset).limit(20)).unwrap();
            assert_eq!(page.total, 57, "{name}");
            all.extend(page.items.into_iter().map(|v| (v.text(&Field::Name).to_owned(), v.id)));
        }
        assert_eq!(all.len(), 57, "{name}");
        let collation = custodian::collate::PinyinCollation::new();
        use custodian::collate::Collation;
        for pair in all.windows(2) {
            let order = collation.compare(&pair[0].0, &pair[1].0);
            assert!(order.is_lt() || (order.is_eq() && pair[0].1 < pair[1].1), "{name}: {pair:?} out of order");
        }
        assert_eq!(all[0].0.chars().next(), Some('阿'), "{name}");

        let desc = s.list(&ListQuery::new().sort(Field::Name).descending(true).limit(57)).unwrap();
        let mut reversed: Vec<_> = desc.items.iter().map(|v| v.text(&Field::Name).to_owned()).collect();
        reversed.reverse();
        let names: Vec<_> = all.iter().map(|(n, _)| n.clone()).collect();
        let mut sorted_names = names.clone();
        sorted_names.sort_by(|a, b| collation.compare(a, b));
        reversed.sort_by(|a, b| collation.compare(a, b));
        assert_eq!(reversed, sorted_names, "{name}: descending holds the same customers");
        assert_eq!(desc.items[0].text(&Field::Name), names[56], "{name}: descending starts with the last name");

        let tier_b =
            s.list(&ListQuery::new().sort(Field::CreatedAt).filter(Filter::new().tier("b")).limit(100)).unwrap();
        assert_eq!(tier_b.total, 19, "{name}");
        assert!(tier_b.items.iter().all(|v| v.text(&Field::Tier) == "B"), "{name}");
        assert!(tier_b.items.windows(2).all(|w| w[0].id < w[1].id), "{name}: equal times fall back to id");
    }
}

#[test]
fn empty_values_sort_last_in_both_directions() {
    let store = memory_store();
    let s = admin(&store);
    let with_title = s.create(sample(1).set(Field::Title, "经理")).unwrap().id;
    let without = s.create(sample(2).set(Field::Title, "")).unwrap().id;
    let other = s.create(sample(3).set(Field::Title, "主任")).unwrap().id;
    for descending in [false, true] {
        let page = s.list(&ListQuery::new().sort(Field::Title).descending(descending)).unwrap();
        let ids: Vec<_> = page.items.iter().map(|v| v.id).collect();
        assert_eq!(ids.last(), Some(&without), "descending={descending}");
        let expected = if descending { vec![other, with_title, without] } else { vec![with_title, other, without] };
        assert_eq!(ids, expected, "descending={descending}");
    }
}

#[test]
fn sorting_needs_plain_access_and_pages_are_bounded() {
    let store = memory_store();
    admin(&store).create(sample(1)).unwrap();
    let cs = service(&store);
    let err = cs.list(&ListQuery::new().sort(Field::IdNumber)).unwrap_err();
    assert!(matches!(err, Error::Denied { rule: rules::NEEDS_PLAIN_ACCESS, .. }), "{err}");
    assert!(matches!(cs.list(&ListQuery::new().limit(0)), Err(Error::InvalidArgument { rule: "page_size", .. })));
    assert!(matches!(cs.list(&ListQuery::new().limit(1001)), Err(Error::InvalidArgument { rule: "page_size", .. })));
    let far = cs.list(&ListQuery::new().offset(10)).unwrap();
    assert_eq!((far.items.len(), far.total), (0, 1));
}

#[test]
fn search_finds_readable_text_but_never_l1_values() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        for i in 0..30 {
            let notes = if i % 3 == 0 { "客户要求开具增值税发票" } else { "普通咨询" };
            s.create(sample(i).set(Field::Notes, notes)).unwrap();
        }
        let page = s.search(&SearchQuery::new("发票").limit(4)).unwrap();
        assert_eq!((page.total, page.items.len()), (10, 4), "{name}");
        let rest = s.search(&SearchQuery::new("发票").offset(8).limit(4)).unwrap();
        assert_eq!(rest.items.len(), 2, "{name}");
        assert!(rest.items[0].id > page.items[3].id, "{name}: id order");
        // Full-width and upper-case keywords match their normalised forms.
        assert_eq!(s.search(&SearchQuery::new("ｆａ票").limit(5)).unwrap().total, 0);
        let vip = s.create(sample(100).set(Field::Notes, "VIP-2 客户")).unwrap().id;
        let found = s.search(&SearchQuery::new("ｖｉｐ－２").limit(5)).unwrap();
        assert_eq!(found.items.iter().map(|v| v.id).collect::<Vec<_>>(), [vip], "{name}");
        // E-mail and the external code are not search fields by default
        // (they have exact lookups); a catalogue may add e-mail.
        assert_eq!(s.search(&SearchQuery::new("USER7@").limit(5)).unwrap().total, 0);
        assert_eq!(s.search(&SearchQuery::new("KH0001").limit(50)).unwrap().total, 0);
        // ID numbers (L1) are never searched, not even by an administrator.
        let idn = id_number("310101", "19900307", 7);
        assert_eq!(s.search(&SearchQuery::new(idn[..12].to_owned()).limit(5)).unwrap().total, 0);
        assert!(matches!(
            s.search(&SearchQuery::new("  ").limit(5)),
            Err(Error::Invalid { rule: "keyword_length", .. })
        ));
    }
}

#[test]
fn the_catalogue_chooses_the_search_fields() {
    let catalogue = Catalogue::default().with_search_fields([Field::Name, Field::Email]).unwrap();
    let store = Store::in_memory(key(), CreateOptions::new().catalogue(catalogue)).unwrap();
    provision(&store);
    let s = admin(&store);
    for i in 0..10 {
        s.create(sample(i).set(Field::Notes, "发票")).unwrap();
    }
    assert_eq!(s.search(&SearchQuery::new("USER7@").limit(5)).unwrap().total, 1);
    assert_eq!(s.search(&SearchQuery::new("发票").limit(5)).unwrap().total, 0, "notes are not searched here");
    let refuse = |field: Field, rule: &str| {
        let e = Catalogue::default().with_search_fields([field.clone()]).unwrap_err();
        assert!(matches!(&e, Error::Invalid { rule: r, .. } if *r == rule), "{field}: {e:?}");
    };
    refuse(Field::IdNumber, "catalogue.search_field");
    refuse(Field::BirthDate, "catalogue.search_field");
    refuse(Field::Category, "catalogue.search_field");
    refuse(Field::OrderItems, "catalogue.record_field");
    // A field made L1 leaves the search fields.
    let l1 = Catalogue::default().with_level(Field::Notes, Level::L1).unwrap();
    assert!(!l1.search().fields().any(|f| f == Field::Notes) && l1.search().fields().any(|f| f == Field::Name));
    let bits = Catalogue::default().with_search_token_bits(12).unwrap_err();
    assert!(matches!(bits, Error::Invalid { rule: "catalogue.search_token_bits", .. }), "{bits:?}");
}

#[test]
fn custom_attributes_are_sealed_and_readable() {
    let catalogue = Catalogue::default()
        .with_custom("loyalty_no", custodian::CustomAttribute { level: Level::L1, max_chars: 20 })
        .unwrap();
    let store = Store::in_memory(key(), CreateOptions::new().catalogue(catalogue)).unwrap();
    provision(&store);
    let f = Field::Custom("loyalty_no".into());
    let id = admin(&store).create(sample(1).set(f.clone(), "LY-123456")).unwrap().id;
    assert_eq!(admin(&store).get(id).unwrap().text(&f), "LY-123456");
    assert!(service(&store).get(id).unwrap().get(&f).unwrap().is_masked());
    let err = admin(&store).create(sample(2).set(f.clone(), "x".repeat(21))).unwrap_err();
    assert!(matches!(err, Error::Invalid { rule: "too_long", ref field, .. } if field == "custom.loyalty_no"), "{err}");
}

#[test]
fn organisation_customers_need_an_organisation() {
    let store = memory_store();
    let s = admin(&store);
    let org = s
        .create(
            CustomerInput::organisation()
                .set(Field::Organisation, "华夏物流（上海）有限公司")
                .set(Field::Name, "李四")
                .set(Field::Address, "上海市浦东新区世纪大道100号"),
        )
        .unwrap();
    assert_eq!(s.get(org.id).unwrap().text(&Field::Kind), "organisation");
    let page = s.list(&ListQuery::new().sort(Field::Organisation).filter(Filter::new().kind("organisation"))).unwrap();
    assert_eq!(page.total, 1);
}

#[test]
fn debug_output_never_shows_values() {
    let store = memory_store();
    let input = sample(1).set(Field::Name, "金丝雀").set(Field::Notes, "CANARY-DEBUG-NOTE");
    let debug_input = format!("{input:?}");
    let view = admin(&store).create(input).unwrap();
    let debug_view = format!("{view:?} {store:?} {:?}", admin(&store));
    for text in [&debug_input, &debug_view] {
        assert!(!text.contains("金丝雀") && !text.contains("CANARY-DEBUG-NOTE"), "{text}");
        assert!(!text.contains("13900000001"), "{text}");
    }
    let patch = CustomerPatch::new().set(Field::Mobile, "13812345678");
    assert!(!format!("{patch:?}").contains("13812345678"));
}

#[test]
fn create_many_stores_all_or_nothing() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        let ids = s.create_many((0..20).map(sample)).unwrap();
        assert_eq!(ids.len(), 20, "{name}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}");
        let bad = (20..30).map(|i| if i == 27 { sample(i).set(Field::Email, "broken@") } else { sample(i) });
        match s.create_many(bad).unwrap_err() {
            Error::InBatch { index, source } => {
                assert_eq!(index, 7, "{name}");
                assert!(matches!(*source, Error::Invalid { rule: "email_syntax", .. }), "{name}: {source}");
            }
            other => panic!("{name}: expected InBatch, got {other:?}"),
        }
        let counts = store.counts().unwrap();
        assert_eq!((counts.customers, counts.data_keys), (20, 20), "{name}: nothing of the failed batch stayed");
        let err = service(&store).create_many(vec![sample(40)]).map(drop);
        assert!(err.is_ok(), "{name}: customer service may create");
        let err = marketing(&store).create_many(vec![sample(41)]).unwrap_err();
        assert!(matches!(err, Error::Denied { .. }), "{name}");
    }
}

#[test]
fn a_cached_sort_order_follows_every_change_from_any_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let s = admin(&store);
    let zhang = s.create(sample(1).set(Field::Name, "张三")).unwrap();
    s.create(sample(2).set(Field::Name, "李四")).unwrap();
    let names = |s: &custodian::Session| -> Vec<String> {
        s.list(&ListQuery::new()).unwrap().items.iter().map(|v| v.text(&Field::Name).to_owned()).collect()
    };
    assert_eq!(names(&s), ["李四", "张三"]);
    assert_eq!(names(&s), ["李四", "张三"], "served from the cached order");
    s.update(zhang.id, 1, CustomerPatch::new().set(Field::Name, "阿三")).unwrap();
    assert_eq!(names(&s), ["阿三", "李四"], "an update invalidates the order");
    // Another handle (as another process would) adds and deletes customers.
    let other = Store::open_at(&path, key()).unwrap();
    let ba = admin(&other).create(sample(3).set(Field::Name, "白五")).unwrap();
    assert_eq!(names(&s), ["阿三", "白五", "李四"]);
    admin(&other).delete(ba.id).unwrap();
    assert_eq!(names(&s), ["阿三", "李四"]);
}

#[test]
fn l1_plaintext_needs_a_second_factor_for_every_role() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        let single = store.session(principal(&store, "admin2", Role::Administrator), Purpose::Service).unwrap();
        let v = single.get(id).unwrap();
        assert!(
            v.get(&Field::IdNumber).unwrap().is_masked(),
            "{name}: L1 masked without MFA, even for an administrator"
        );
        assert!(v.get(&Field::BirthDate).unwrap().is_masked(), "{name}");
        assert!(matches!(v.get(&Field::Mobile), Some(Shown::Plain(_))), "{name}: L2 unaffected");
        let err = single.list(&ListQuery::new().sort(Field::IdNumber)).unwrap_err();
        assert!(matches!(err, Error::Denied { rule: rules::NEEDS_PLAIN_ACCESS, .. }), "{name}");
        let with_mfa = admin(&store).get(id).unwrap();
        assert!(matches!(with_mfa.get(&Field::IdNumber), Some(Shown::Plain(_))), "{name}: plaintext with MFA");
        assert!(with_mfa.get(&Field::IdNumber).is_some());

        let auditor = store.session("auditor", Purpose::Compliance).unwrap();
        let entries = auditor.audit_entries(&custodian::AuditQuery::new()).unwrap();
        let masked = entries.iter().find(|e| e.principal == "admin2" && e.action == "customer.get").unwrap();
        assert_eq!(masked.rule.as_deref(), Some(rules::L1_REQUIRES_MFA), "{name}");
        assert!(!masked.mfa, "{name}");
        assert!(entries.iter().any(|e| e.principal == "admin" && e.action == "customer.get" && e.mfa), "{name}");
    }
}
