//! One contract suite for every storage backend: the SQLite backend, the
//! in-memory backend and (with the `postgres` feature and the test
//! databases' URLs in `CUSTODIAN_TEST_DATABASE_URL` and
//! `CUSTODIAN_TEST_KEY_STORE_URL`) the PostgreSQL backend must behave the
//! same through the `Backend` trait.

use std::collections::BTreeMap;

use custodian::Error;
use custodian::model::CustomerId;
use custodian::storage::{
    AuditFilter, AuditRecord, Backend, CustomerHeader, CustomerRow, MemoryBackend, Scan, SqliteBackend, SqliteOptions,
    TxMode, WrappedKey,
};

/// A backend under test, with whatever keeps its files (or schemas) alive.
/// Fields drop in order: the backend (and its pooled connections) first.
struct Fixture {
    backend: Box<dyn Backend>,
    _dir: Option<tempfile::TempDir>,
    #[cfg(feature = "postgres")]
    _schema: Option<pg::Schema>,
}

fn fixtures() -> Vec<(&'static str, Fixture)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteBackend::new(dir.path().join("store"), SqliteOptions::new());
    let fixture = |backend: Box<dyn Backend>, dir| Fixture {
        backend,
        _dir: dir,
        #[cfg(feature = "postgres")]
        _schema: None,
    };
    #[allow(unused_mut)]
    let mut out = vec![
        ("memory", fixture(Box::new(MemoryBackend::new()), None)),
        ("sqlite", fixture(Box::new(sqlite), Some(dir))),
    ];
    #[cfg(feature = "postgres")]
    if let Some(schema) = pg::Schema::fresh("contract") {
        out.push(("postgres", Fixture { backend: Box::new(schema.backend()), _dir: None, _schema: Some(schema) }));
    }
    for (name, f) in &mut out {
        assert!(!f.backend.prepare(true).unwrap(), "{name}: a fresh backend holds no store");
    }
    out
}

#[cfg(feature = "postgres")]
#[path = "common/postgres.rs"]
mod pg;

fn row(id: i64, code: Option<&str>, fields: &[(&str, &[u8])], blind: &[(&str, &[u8])]) -> CustomerRow {
    CustomerRow {
        header: CustomerHeader {
            id: CustomerId(id),
            kind: "individual".into(),
            external_code: code.map(str::to_owned),
            category: Some("零售".into()),
            source: None,
            tier: Some("A".into()),
            status: "active".into(),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_000,
            version: 1,
            key_id: 42,
            region: Some("330100".into()),
        },
        sealed: fields.iter().map(|(f, v)| ((*f).to_owned(), v.to_vec())).collect(),
        blind: blind.iter().map(|(f, v)| ((*f).to_owned(), v.to_vec())).collect(),
        search: Default::default(),
    }
}

/// Runs `check` against every backend.
fn each(check: impl Fn(&str, &dyn Backend)) {
    for (name, fixture) in fixtures() {
        check(name, fixture.backend.as_ref());
    }
}

#[test]
fn prepare_reports_an_existing_store() {
    each(|name, b| assert!(b.prepare(true).unwrap(), "{name}: second prepare sees the store"));
    let dir = tempfile::tempdir().unwrap();
    let missing = SqliteBackend::new(dir.path().join("nothing"), SqliteOptions::new());
    assert!(matches!(missing.prepare(false), Err(Error::NotAStore(_))));
    assert!(!dir.path().join("nothing").exists(), "opening a missing store creates nothing");
    #[cfg(feature = "postgres")]
    if let Some(schema) = pg::Schema::fresh("contract") {
        let missing = schema.backend();
        assert!(matches!(missing.prepare(false), Err(Error::NotAStore(_))), "postgres: no store in a new schema");
        assert!(!missing.prepare(true).unwrap(), "postgres: then created");
        assert!(missing.prepare(false).unwrap(), "postgres: and found");
    }
}

#[test]
fn metadata_round_trips_on_both_sides() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.meta_put("a", b"1").unwrap();
        tx.meta_put("a", b"2").unwrap();
        tx.key_meta_put("a", b"key-side").unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.meta_get("a").unwrap().as_deref(), Some(&b"2"[..]), "{name}");
        assert_eq!(tx.key_meta_get("a").unwrap().as_deref(), Some(&b"key-side"[..]), "{name}");
        assert_eq!(tx.meta_get("missing").unwrap(), None, "{name}");
    });
}

#[test]
fn ids_increase_and_are_never_reused() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        let first = tx.next_customer_id().unwrap();
        tx.insert_customer(&row(first.0, None, &[], &[])).unwrap();
        let second = tx.next_customer_id().unwrap();
        assert!(second > first, "{name}");
        tx.insert_customer(&row(second.0, None, &[], &[])).unwrap();
        assert!(tx.delete_customer(second).unwrap());
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Write).unwrap();
        let third = tx.next_customer_id().unwrap();
        assert!(third > second, "{name}: the id of a deleted customer is not reused");
    });
}

#[test]
fn rows_round_trip_and_lookups_find_them() {
    each(|name, b| {
        let r = row(1, Some("KH1"), &[("name", b"sealed-name"), ("mobile", b"sealed-mobile")], &[("mobile", b"d1")]);
        let r2 = row(2, Some("KH2"), &[("name", b"n2")], &[("mobile", b"d1")]);
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&r).unwrap();
        tx.insert_customer(&r2).unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.get_customer(CustomerId(1)).unwrap().as_ref(), Some(&r), "{name}");
        assert_eq!(tx.get_customer(CustomerId(3)).unwrap(), None, "{name}");
        assert_eq!(tx.find_external_code("KH2").unwrap(), Some(CustomerId(2)), "{name}");
        assert_eq!(tx.find_external_code("kh2").unwrap(), None, "{name}: codes are exact");
        assert_eq!(tx.find_blind("mobile", b"d1").unwrap(), vec![CustomerId(1), CustomerId(2)], "{name}");
        assert_eq!(tx.find_blind("email", b"d1").unwrap(), vec![], "{name}: digests are per field");
        assert_eq!(tx.count_customers().unwrap(), 2, "{name}");
        // Both rows share their classification: one combination, counted twice.
        let classes = tx.class_counts().unwrap();
        assert_eq!(classes.len(), 1, "{name}");
        let (key, n) = &classes[0];
        assert_eq!(
            (key.category.as_deref(), key.tier.as_deref(), key.region.as_deref(), *n),
            (Some("零售"), Some("A"), Some("330100"), 2)
        );
    });
}

#[test]
fn duplicate_external_code_is_refused() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, Some("KH1"), &[], &[])).unwrap();
        assert!(tx.insert_customer(&row(2, Some("KH1"), &[], &[])).is_err(), "{name}");
    });
}

#[test]
fn replace_checks_the_version_and_replaces_children() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, Some("KH1"), &[("name", b"old"), ("notes", b"x")], &[("mobile", b"old")])).unwrap();
        tx.commit().unwrap();

        let mut new = row(1, Some("KH9"), &[("name", b"new")], &[("mobile", b"new")]);
        new.header.version = 2;
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert!(!tx.replace_customer(&new, 5).unwrap(), "{name}: wrong version changes nothing");
        assert_eq!(tx.get_customer(CustomerId(1)).unwrap().unwrap().header.version, 1);
        assert!(tx.replace_customer(&new, 1).unwrap(), "{name}");
        tx.commit().unwrap();

        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.get_customer(CustomerId(1)).unwrap().as_ref(), Some(&new), "{name}: old fields are gone");
        assert_eq!(tx.find_blind("mobile", b"old").unwrap(), vec![], "{name}: old digest is gone");
        assert_eq!(tx.find_blind("mobile", b"new").unwrap(), vec![CustomerId(1)], "{name}");
        assert_eq!(tx.find_external_code("KH1").unwrap(), None, "{name}");
        assert_eq!(tx.find_external_code("KH9").unwrap(), Some(CustomerId(1)), "{name}");
    });
}

#[test]
fn delete_removes_fields_digests_and_code() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, Some("KH1"), &[("name", b"n")], &[("mobile", b"d")])).unwrap();
        assert!(tx.delete_customer(CustomerId(1)).unwrap(), "{name}");
        assert!(!tx.delete_customer(CustomerId(1)).unwrap(), "{name}: second delete finds nothing");
        assert_eq!(tx.find_blind("mobile", b"d").unwrap(), vec![], "{name}");
        assert_eq!(tx.find_external_code("KH1").unwrap(), None, "{name}");
        // The code is free again.
        tx.insert_customer(&row(2, Some("KH1"), &[], &[])).unwrap();
    });
}

#[test]
fn dropping_a_transaction_rolls_back_both_sides() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        let id = tx.next_customer_id().unwrap();
        tx.insert_customer(&row(id.0, Some("KH1"), &[("name", b"n")], &[("mobile", b"d")])).unwrap();
        tx.put_data_key(id, &WrappedKey { key_id: 1, wrapped: vec![1, 2, 3] }).unwrap();
        tx.meta_put("m", b"v").unwrap();
        drop(tx);
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.count_customers().unwrap(), 0, "{name}");
        assert_eq!(tx.count_data_keys().unwrap(), 0, "{name}");
        assert_eq!(tx.meta_get("m").unwrap(), None, "{name}");
        assert_eq!(tx.find_blind("mobile", b"d").unwrap(), vec![], "{name}");
        drop(tx);
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(tx.next_customer_id().unwrap(), id, "{name}: the rolled-back id was never taken");
    });
}

#[test]
fn read_transactions_refuse_writes() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert!(tx.meta_put("a", b"b").is_err(), "{name}");
        assert!(tx.next_customer_id().is_err(), "{name}");
        assert!(tx.insert_customer(&row(1, None, &[], &[])).is_err(), "{name}");
        assert!(tx.put_data_key(CustomerId(1), &WrappedKey { key_id: 1, wrapped: vec![] }).is_err(), "{name}");
    });
}

#[test]
fn data_keys_live_in_the_key_store() {
    each(|name, b| {
        let k = WrappedKey { key_id: 9, wrapped: vec![9; 61] };
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.put_data_key(CustomerId(1), &k).unwrap();
        tx.put_data_key(CustomerId(2), &k).unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(tx.get_data_key(CustomerId(1)).unwrap(), Some(k.clone()), "{name}");
        assert_eq!(tx.count_data_keys().unwrap(), 2, "{name}");
        assert!(tx.delete_data_key(CustomerId(1)).unwrap(), "{name}");
        assert!(!tx.delete_data_key(CustomerId(1)).unwrap(), "{name}");
        assert_eq!(tx.get_data_key(CustomerId(1)).unwrap(), None, "{name}");
        assert_eq!(tx.count_data_keys().unwrap(), 1, "{name}");
    });
}

#[test]
fn scans_visit_customers_in_id_order_with_the_requested_fields() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        for id in [3, 1, 2] {
            tx.insert_customer(&row(id, None, &[("name", b"n"), ("notes", b"x"), ("email", b"e")], &[])).unwrap();
        }
        tx.put_data_key(CustomerId(2), &WrappedKey { key_id: 7, wrapped: vec![7] }).unwrap();
        tx.insert_customer(&row(4, None, &[], &[])).unwrap();
        tx.commit().unwrap();

        let mut tx = b.begin(TxMode::Read).unwrap();
        let mut seen = Vec::new();
        tx.scan_customers(&["name", "email"], &mut |c| {
            // A backend may hand out more fields than asked for; the asked-for ones must be there.
            let mut fields: Vec<String> =
                c.sealed.iter().map(|(n, _)| n.to_owned()).filter(|n| n == "name" || n == "email").collect();
            fields.sort();
            assert_eq!(c.sealed.get("name").is_some(), c.header.id.0 != 4);
            seen.push((c.header.id.0, fields, c.key.map(|k| k.key_id)));
            Ok(Scan::Continue)
        })
        .unwrap();
        let both = vec!["email".to_owned(), "name".to_owned()];
        assert_eq!(
            seen,
            vec![(1, both.clone(), None), (2, both.clone(), Some(7)), (3, both, None), (4, vec![], None)],
            "{name}"
        );

        let mut visited = 0;
        tx.scan_customers(&[], &mut |c| {
            assert!(c.sealed.is_empty());
            visited += 1;
            Ok(if visited == 2 { Scan::Stop } else { Scan::Continue })
        })
        .unwrap();
        assert_eq!(visited, 2, "{name}: Stop stops");
    });
}

#[test]
fn hostile_strings_are_data() {
    each(|name, b| {
        let evil = "x'); DROP TABLE customers; --";
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, Some(evil), &[(evil, evil.as_bytes())], &[("email", evil.as_bytes())])).unwrap();
        assert!(
            tx.insert_customer(&row(2, None, &[], &[(evil, b"d")])).is_err(),
            "{name}: blind indexes exist for known fields only"
        );
        tx.meta_put(evil, evil.as_bytes()).unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.find_external_code(evil).unwrap(), Some(CustomerId(1)), "{name}");
        assert_eq!(tx.find_blind("email", evil.as_bytes()).unwrap(), vec![CustomerId(1)], "{name}");
        assert_eq!(tx.find_blind(evil, b"d").unwrap(), vec![], "{name}");
        let stored = tx.get_customer(CustomerId(1)).unwrap().unwrap();
        assert_eq!(stored.sealed, BTreeMap::from([(evil.to_owned(), evil.as_bytes().to_vec())]), "{name}");
        assert_eq!(tx.count_customers().unwrap(), 1, "{name}");
    });
}

#[test]
fn data_only_transactions_write_data_but_not_keys() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        tx.meta_put("m", b"v").unwrap();
        tx.insert_customer(&row(1, None, &[], &[])).unwrap();
        assert!(tx.put_data_key(CustomerId(1), &WrappedKey { key_id: 1, wrapped: vec![1] }).is_err(), "{name}");
        assert!(tx.delete_data_key(CustomerId(1)).is_err(), "{name}");
        assert!(tx.key_meta_put("k", b"v").is_err(), "{name}");
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.count_customers().unwrap(), 1, "{name}: the data write committed");
    });
}

#[test]
fn the_change_mark_moves_on_every_change_and_the_journal_lists_them() {
    each(|name, b| {
        let mark = |b: &dyn Backend| b.begin(TxMode::Read).unwrap().customers_change_mark().unwrap();
        let since = |b: &dyn Backend, m| b.begin(TxMode::Read).unwrap().customers_changed_since(m).unwrap();
        let start = mark(b);
        assert_eq!(since(b, start).unwrap().ids, vec![], "{name}: nothing since now");
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, None, &[], &[])).unwrap();
        tx.insert_customer(&row(2, None, &[], &[])).unwrap();
        tx.commit().unwrap();
        let after_insert = mark(b);
        assert!(after_insert.generation > start.generation, "{name}");
        let mut tx = b.begin(TxMode::Write).unwrap();
        let mut changed = row(1, None, &[], &[]);
        changed.header.version = 2;
        assert!(tx.replace_customer(&changed, 1).unwrap());
        tx.commit().unwrap();
        let after_replace = mark(b);
        assert!(after_replace.generation > after_insert.generation, "{name}");
        let changes = since(b, after_insert).unwrap();
        assert_eq!((changes.now, changes.ids), (after_replace, vec![CustomerId(1)]), "{name}");
        assert_eq!(since(b, start).unwrap().ids, vec![CustomerId(1), CustomerId(2)], "{name}: once each");
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.delete_customer(CustomerId(2)).unwrap();
        drop(tx);
        assert_eq!(mark(b), after_replace, "{name}: a rolled-back change leaves it");
        // A mark not in this history: the backend cannot say.
        let foreign = custodian::storage::ChangeMark { generation: after_insert.generation, tag: after_insert.tag ^ 1 };
        assert_eq!(since(b, foreign), None, "{name}");
        let ahead = custodian::storage::ChangeMark { generation: after_replace.generation + 5, tag: 0 };
        assert_eq!(since(b, ahead), None, "{name}");
        // More changes than the journal lists or keeps: it cannot say either.
        let mut tx = b.begin(TxMode::Write).unwrap();
        for id in 10..1100 {
            tx.insert_customer(&row(id, None, &[], &[])).unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(since(b, after_replace), None, "{name}: 1,090 changes since");
    });
}

#[test]
fn sealed_fields_pack_and_refuse_malformed_buffers() {
    use custodian::storage::SealedFields;
    let map = BTreeMap::from([("name".to_owned(), vec![1, 2, 3]), ("notes".to_owned(), vec![])]);
    let packed = SealedFields::pack(&map);
    assert_eq!(packed.get("name"), Some(&[1u8, 2, 3][..]));
    assert_eq!(packed.get("notes"), Some(&[][..]));
    assert_eq!(packed.get("email"), None);
    assert_eq!(packed.to_map(), map);
    let again = SealedFields::from_packed(CustomerId(1), packed.packed().to_vec()).unwrap();
    assert_eq!(again, packed);
    for cut in 1..packed.packed().len() {
        let truncated = packed.packed()[..cut].to_vec();
        let whole_fields = cut == 12; // "name" entry is 1 + 4 + 4 + 3 bytes
        assert_eq!(SealedFields::from_packed(CustomerId(1), truncated).is_ok(), whole_fields, "cut at {cut}");
    }
}

#[test]
fn consent_records_keep_history_and_the_latest_decides() {
    use custodian::consent::{Channel, ConsentRecord};
    each(|name, b| {
        let record = |customer: i64, channel: Channel, granted: bool| ConsentRecord {
            customer: CustomerId(customer),
            purpose: "marketing".into(),
            channel,
            granted,
            at: 1,
            source: "counter".into(),
            policy_version: "v1".into(),
            recorded_by: "clerk".into(),
        };
        let mut tx = b.begin(TxMode::Write).unwrap();
        for id in [1, 2, 3] {
            tx.insert_customer(&row(id, None, &[], &[])).unwrap();
        }
        tx.append_consent(&record(1, Channel::Sms, true)).unwrap();
        tx.append_consent(&record(2, Channel::Sms, true)).unwrap();
        tx.append_consent(&record(2, Channel::Sms, false)).unwrap();
        tx.append_consent(&record(3, Channel::Email, true)).unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(tx.consenting("marketing", Channel::Sms).unwrap(), vec![CustomerId(1)], "{name}");
        assert_eq!(tx.consenting("marketing", Channel::Email).unwrap(), vec![CustomerId(3)], "{name}");
        assert_eq!(tx.consenting("analytics", Channel::Sms).unwrap(), vec![], "{name}");
        let history = tx.consents_of(CustomerId(2)).unwrap();
        assert_eq!(history.iter().map(|c| c.granted).collect::<Vec<_>>(), vec![true, false], "{name}");
        // A replaced row keeps its consents (the memory backend once lost them).
        let mut changed = row(2, None, &[("name", b"new")], &[]);
        changed.header.version = 2;
        assert!(tx.replace_customer(&changed, 1).unwrap());
        assert_eq!(tx.consents_of(CustomerId(2)).unwrap().len(), 2, "{name}: kept across a replace");
        tx.delete_customer(CustomerId(1)).unwrap();
        assert!(tx.consents_of(CustomerId(1)).unwrap().is_empty(), "{name}: deleted with the customer");
        assert_eq!(tx.consenting("marketing", Channel::Sms).unwrap(), vec![], "{name}");
    });
}

#[test]
fn the_access_directory_keeps_records_by_kind_and_key() {
    use custodian::storage::DirectoryKind;
    each(|name, b| {
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        tx.directory_put(DirectoryKind::Principal, "clerk", b"one").unwrap();
        tx.directory_put(DirectoryKind::Principal, "admin", b"two").unwrap();
        tx.directory_put(DirectoryKind::Credential, "clerk", b"secret").unwrap();
        tx.directory_put(DirectoryKind::Principal, "clerk", b"three").unwrap();
        tx.commit().unwrap();

        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(
            tx.directory_get(DirectoryKind::Principal, "clerk").unwrap().as_deref(),
            Some(&b"three"[..]),
            "{name}: replaced"
        );
        assert_eq!(tx.directory_get(DirectoryKind::Role, "clerk").unwrap(), None, "{name}: kinds are apart");
        let listed: Vec<String> =
            tx.directory_list(DirectoryKind::Principal).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(listed, vec!["admin".to_owned(), "clerk".to_owned()], "{name}: listed by key");
        assert!(tx.directory_put(DirectoryKind::Role, "x", b"y").is_err(), "{name}: a read transaction cannot write");
        drop(tx);

        let mut tx = b.begin(TxMode::WriteData).unwrap();
        assert!(tx.directory_delete(DirectoryKind::Credential, "clerk").unwrap(), "{name}");
        assert!(!tx.directory_delete(DirectoryKind::Credential, "clerk").unwrap(), "{name}: already gone");
        tx.directory_put(DirectoryKind::Role, "support_lead", b"rules").unwrap();
        drop(tx); // rolled back
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert!(tx.directory_get(DirectoryKind::Credential, "clerk").unwrap().is_some(), "{name}: rollback kept it");
        assert!(tx.directory_list(DirectoryKind::Role).unwrap().is_empty(), "{name}: rollback dropped the role");
    });
}

#[test]
fn the_erasure_ledger_lives_in_the_key_store() {
    each(|name, b| {
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        assert!(tx.record_erasure(b"hash-1", 5).is_err(), "{name}: a data-only transaction cannot write the key store");
        drop(tx);
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.record_erasure(b"hash-2", 5).unwrap();
        tx.record_erasure(b"hash-1", 6).unwrap();
        tx.record_erasure(b"hash-1", 7).unwrap(); // idempotent
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.erasure_ledger().unwrap(), vec![b"hash-1".to_vec(), b"hash-2".to_vec()], "{name}");
    });
}

#[test]
fn the_directory_generation_moves_on_every_change_but_bookkeeping() {
    use custodian::storage::DirectoryKind;
    each(|name, b| {
        let generation = |b: &dyn Backend| b.begin(TxMode::Read).unwrap().directory_generation().unwrap();
        let start = generation(b);
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        tx.directory_put(DirectoryKind::Principal, "p", b"1").unwrap();
        tx.commit().unwrap();
        let after_put = generation(b);
        assert!(after_put > start, "{name}: a put moves it");
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        tx.directory_touch(DirectoryKind::Principal, "p", b"2").unwrap();
        tx.commit().unwrap();
        assert_eq!(generation(b), after_put, "{name}: a touch does not");
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.directory_get(DirectoryKind::Principal, "p").unwrap().as_deref(), Some(&b"2"[..]), "{name}");
        drop(tx);
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        assert!(!tx.directory_delete(DirectoryKind::Role, "none").unwrap());
        tx.commit().unwrap();
        assert_eq!(generation(b), after_put, "{name}: deleting nothing does not");
        let mut tx = b.begin(TxMode::WriteData).unwrap();
        assert!(tx.directory_delete(DirectoryKind::Principal, "p").unwrap());
        tx.commit().unwrap();
        assert!(generation(b) > after_put, "{name}: a delete moves it");
    });
}

fn record(id: u64, customer: i64, kind: custodian::RecordKind, time: i64) -> custodian::storage::RecordRow {
    custodian::storage::RecordRow {
        id,
        customer: CustomerId(customer),
        kind,
        time,
        status: "open".into(),
        category: Some("complaint".into()),
        channel: Some("phone".into()),
        priority: Some("normal".into()),
        owner: Some(if id % 2 == 0 { "clerk" } else { "admin" }.into()),
        due_at: (kind == custodian::RecordKind::Service).then_some(time + 100),
        pending: kind == custodian::RecordKind::Service,
        retention_start: (kind == custodian::RecordKind::Transaction).then_some(time),
        created_at: time,
        updated_at: time,
        version: 1,
        key_id: 42,
        sealed: [("service.subject".to_owned(), vec![id as u8; 20])].into_iter().collect(),
    }
}

#[test]
fn attached_records_page_by_time_and_deadline_and_go_with_their_customer() {
    use custodian::RecordKind::{Service, Transaction};
    use custodian::storage::{DueFilter, StatusChange};
    each(|name, b| {
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, None, &[], &[])).unwrap();
        tx.insert_customer(&row(2, None, &[], &[])).unwrap();
        let ids: Vec<u64> = (0..6).map(|_| tx.next_record_id().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6], "{name}: record ids count up from 1");
        for (id, kind, time) in [(1, Transaction, 30), (2, Service, 10), (3, Service, 30), (4, Transaction, 20)] {
            tx.insert_record(&record(id, 1, kind, time)).unwrap();
        }
        tx.insert_record(&record(5, 2, Service, 5)).unwrap();
        assert!(tx.insert_record(&record(5, 2, Service, 5)).is_err(), "{name}: ids are unique");
        let change = StatusChange { at: 11, by: "clerk".into(), from: None, to: "open".into() };
        tx.append_status_change(2, &change).unwrap();
        tx.append_status_change(2, &StatusChange { from: Some("open".into()), to: "closed".into(), ..change.clone() })
            .unwrap();
        assert_eq!(tx.status_history(2).unwrap().len(), 2, "{name}");
        // Newest first by (time, id), paged strictly before a cursor.
        let order = |rows: Vec<custodian::storage::RecordRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(order(tx.records_of(CustomerId(1), None, 10).unwrap()), [3, 1, 4, 2], "{name}");
        assert_eq!(order(tx.records_of(CustomerId(1), Some((30, 1)), 2).unwrap()), [4, 2], "{name}");
        assert_eq!(tx.get_record(3).unwrap().unwrap(), record(3, 1, Service, 30), "{name}: round trip");
        // Pending service records by (due, id) within a window, by owner.
        let due = |from, to, owner: Option<&str>, after| DueFilter {
            from,
            to,
            owner: owner.map(str::to_owned),
            after,
            limit: 10,
        };
        assert_eq!(order(tx.records_due(&due(None, 1000, None, None)).unwrap()), [5, 2, 3], "{name}");
        assert_eq!(order(tx.records_due(&due(Some(106), 130, None, None)).unwrap()), [2, 3], "{name}");
        assert_eq!(order(tx.records_due(&due(None, 1000, Some("clerk"), None)).unwrap()), [2], "{name}");
        assert_eq!(order(tx.records_due(&due(None, 1000, None, Some((110, 2)))).unwrap()), [3], "{name}");
        assert_eq!(tx.records_retained_since(Transaction, 25).unwrap(), [(4, CustomerId(1))], "{name}");
        // Versioned replace.
        let mut changed = record(3, 1, Service, 30);
        changed.version = 2;
        changed.pending = false;
        assert!(tx.replace_record(&changed, 1).unwrap(), "{name}");
        assert!(!tx.replace_record(&changed, 1).unwrap(), "{name}: a stale version changes nothing");
        assert_eq!(order(tx.records_due(&due(None, 1000, None, None)).unwrap()), [5, 2], "{name}");
        // Deleting a customer deletes its records and their histories.
        assert!(tx.delete_customer(CustomerId(1)).unwrap());
        assert!(tx.records_of(CustomerId(1), None, 10).unwrap().is_empty(), "{name}");
        assert!(tx.status_history(2).unwrap().is_empty(), "{name}");
        assert_eq!(tx.get_record(5).unwrap().map(|r| r.id), Some(5), "{name}: another customer's record stays");
        assert!(tx.delete_record(5).unwrap() && !tx.delete_record(5).unwrap(), "{name}");
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(tx.next_record_id().unwrap(), 7, "{name}: ids are never reused");
    });
}

#[test]
fn class_counts_follow_every_write_and_roll_back_with_it() {
    each(|name, b| {
        let counts = |tx: &mut dyn custodian::storage::Transaction| -> Vec<(Option<String>, Option<String>, u64)> {
            tx.class_counts().unwrap().into_iter().map(|(k, n)| (k.tier, k.region, n)).collect()
        };
        let mut tx = b.begin(TxMode::Write).unwrap();
        tx.insert_customer(&row(1, None, &[], &[])).unwrap();
        tx.insert_customer(&row(2, None, &[], &[])).unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(counts(tx.as_mut()), [(Some("A".into()), Some("330100".into()), 2)], "{name}");
        // A stale replace changes nothing; a replace that moves a customer moves its count.
        let mut moved = row(1, None, &[], &[]);
        moved.header.tier = None;
        moved.header.region = None;
        moved.header.version = 2;
        assert!(!tx.replace_customer(&moved, 7).unwrap());
        assert_eq!(counts(tx.as_mut()), [(Some("A".into()), Some("330100".into()), 2)], "{name}");
        assert!(tx.replace_customer(&moved, 1).unwrap());
        let mut after = counts(tx.as_mut());
        after.sort();
        assert_eq!(after, [(None, None, 1), (Some("A".into()), Some("330100".into()), 1)], "{name}");
        // Dropped: rolled back with the transaction.
        drop(tx);
        let mut tx = b.begin(TxMode::Write).unwrap();
        assert_eq!(counts(tx.as_mut()), [(Some("A".into()), Some("330100".into()), 2)], "{name}");
        assert!(tx.delete_customer(CustomerId(2)).unwrap());
        assert!(!tx.delete_customer(CustomerId(9)).unwrap(), "{name}: deleting nobody counts nothing");
        tx.commit().unwrap();
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(counts(tx.as_mut()), [(Some("A".into()), Some("330100".into()), 1)], "{name}");
    });
}

/// The contract's isolation rule: write transactions are serializable, so
/// concurrent read-modify-write cycles lose no update.
#[test]
fn concurrent_write_transactions_lose_no_update() {
    each(|name, b| {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        let mut tx = b.begin(TxMode::WriteData).unwrap();
                        let n: u64 = tx
                            .meta_get("counter")
                            .unwrap()
                            .map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap());
                        tx.meta_put("counter", (n + 1).to_string().as_bytes()).unwrap();
                        tx.commit().unwrap();
                    }
                });
            }
        });
        let mut tx = b.begin(TxMode::Read).unwrap();
        assert_eq!(tx.meta_get("counter").unwrap(), Some(b"100".to_vec()), "{name}");
    });
}

fn audit_record(seq: u64) -> AuditRecord {
    AuditRecord {
        seq,
        time: seq as i64,
        principal: "contract".into(),
        action: "customer.get".into(),
        outcome: "allowed".into(),
        customers: vec![CustomerId(seq as i64)],
        value_hash: None,
        body: format!("{{\"seq\":{seq}}}").into_bytes(),
        mac: seq.to_be_bytes().to_vec(),
    }
}

/// The contract's audit rule: the next sequence number comes from the head
/// read in the same transaction, so concurrent writers extend the chain
/// one after another, without a gap or a number taken twice.
#[test]
fn concurrent_writers_extend_the_audit_head_without_a_gap() {
    each(|name, b| {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        let mut tx = b.begin(TxMode::WriteData).unwrap();
                        let next = tx.audit_head().unwrap().map_or(1, |h| h.seq + 1);
                        tx.append_audit(&audit_record(next)).unwrap();
                        tx.commit().unwrap();
                    }
                });
            }
        });
        let mut tx = b.begin(TxMode::Read).unwrap();
        let mut seqs = Vec::new();
        tx.scan_audit(&AuditFilter::default(), &mut |r| {
            assert_eq!(r, audit_record(r.seq), "{name}: entry {} as written", r.seq);
            seqs.push(r.seq);
            Ok(Scan::Continue)
        })
        .unwrap();
        assert_eq!(seqs, (1..=100).collect::<Vec<u64>>(), "{name}");
        let head = tx.audit_head().unwrap().unwrap();
        assert_eq!((head.seq, head.mac), (100, 100u64.to_be_bytes().to_vec()), "{name}");
        let mut views = 0;
        tx.scan_audit_views(&mut |v| {
            assert_eq!(*v, audit_record(v.seq).view(), "{name}: the borrowed view equals the owned record");
            views += 1;
            Ok(Scan::Continue)
        })
        .unwrap();
        assert_eq!(views, 100, "{name}");
    });
}

/// The contract's conflict rule: a writer that cannot get its turn within
/// the busy timeout fails with `Error::Busy`, leaving nothing behind, and
/// the next attempt after the other writer finishes succeeds. (SQLite: two
/// handles on one store, as two processes would hold; PostgreSQL: two
/// backends on one schema; the memory backend has no second handle.)
#[test]
fn a_writer_that_cannot_get_its_turn_fails_busy() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteBackend::new(dir.path().join("store"), SqliteOptions::new());
    first.prepare(true).unwrap();
    let second = SqliteBackend::new(
        dir.path().join("store"),
        SqliteOptions::new().busy_timeout(std::time::Duration::from_millis(50)),
    );
    second.prepare(false).unwrap();
    check_busy("sqlite", &first, &second);
    #[cfg(feature = "postgres")]
    if let Some(schema) = pg::Schema::fresh("contract") {
        let (first, second) = (
            schema.backend(),
            schema.backend_with(
                custodian::PostgresOptions::new(&schema.data, &schema.keys)
                    .busy_timeout(std::time::Duration::from_millis(50)),
            ),
        );
        first.prepare(true).unwrap();
        second.prepare(false).unwrap();
        check_busy("postgres", &first, &second);
    }
}

fn check_busy(name: &str, first: &dyn Backend, second: &dyn Backend) {
    let mut holding = first.begin(TxMode::Write).unwrap();
    holding.meta_put("held", b"1").unwrap();
    let started = std::time::Instant::now();
    let refused = match second.begin(TxMode::Write) {
        Ok(mut tx) => tx.meta_put("late", b"1").map(|()| tx),
        Err(e) => Err(e),
    };
    assert!(matches!(refused, Err(Error::Busy)), "{name}: {:?}", refused.err());
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{name}: the short timeout applied");
    holding.commit().unwrap();
    let mut tx = second.begin(TxMode::Write).unwrap();
    tx.meta_put("late", b"2").unwrap();
    tx.commit().unwrap();
    let mut tx = first.begin(TxMode::Read).unwrap();
    assert_eq!(tx.meta_get("held").unwrap(), Some(b"1".to_vec()), "{name}");
    assert_eq!(tx.meta_get("late").unwrap(), Some(b"2".to_vec()), "{name}: only the attempt that got its turn wrote");
}
