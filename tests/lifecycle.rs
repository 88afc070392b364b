//! Data-subject rights and the data lifecycle: export, rectify, restrict,
//! erase (crypto-shredding with an erasure ledger that survives a restore),
//! legal holds, retention policies and the sweep with destruction records.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use custodian::access::rules;
use custodian::audit::AuditQuery;
use custodian::retention::{DestructionMethod, RetentionPolicy, RetentionRule};
use custodian::storage::{DATA_FILE, KEYS_FILE};
use custodian::{
    AuthContext, CreateOptions, CustomerId, CustomerPatch, Error, Field, ListQuery, ManualClock, Purpose, Store,
};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_800_000_000_000;

fn compliance(store: &Store) -> custodian::Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(T0)).unwrap()
}

fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn erasure_destroys_the_key_and_survives_a_restored_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let backup = dir.path().join("backup");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let keep = a.create(sample(1)).unwrap().id;
    let gone = a.create(sample(2)).unwrap().id;
    consent_to_sms(&store, gone);
    // The erased customer's ciphertext and wrapped key, as they sit on disk.
    let (sealed, wrapped, blind) = {
        let conn = rusqlite::Connection::open(path.join(DATA_FILE)).unwrap();
        let blind: Vec<u8> =
            conn.query_row("SELECT mobile_index FROM customers WHERE id = ?1", [gone.0], |r| r.get(0)).unwrap();
        let sealed: Vec<u8> =
            conn.query_row("SELECT sealed FROM customers WHERE id = ?1", [gone.0], |r| r.get(0)).unwrap();
        let keys = rusqlite::Connection::open(path.join(KEYS_FILE)).unwrap();
        let wrapped: Vec<u8> =
            keys.query_row("SELECT wrapped FROM data_keys WHERE customer_id = ?1", [gone.0], |r| r.get(0)).unwrap();
        (sealed, wrapped, blind)
    };
    drop(a);
    drop(store);
    // A backup of the customer data (not the key store) before the erasure.
    std::fs::create_dir(&backup).unwrap();
    std::fs::copy(path.join(DATA_FILE), backup.join(DATA_FILE)).unwrap();

    let store = Store::open_at(&path, key()).unwrap();
    let c = compliance(&store);
    c.place_hold(gone, "case-2026-117").unwrap();
    let err = c.erase(gone, "dsr-42").unwrap_err();
    assert!(
        matches!(&err, Error::LegalHold { customer, reason } if *customer == gone && reason == "case-2026-117"),
        "{err}"
    );
    assert_eq!(err.code(), 24);
    c.lift_hold(gone).unwrap();
    c.erase(gone, "dsr-42").unwrap();
    assert!(matches!(c.get(gone), Err(Error::CustomerNotFound(_))));
    assert!(c.get(keep).is_ok());
    assert!(matches!(c.erase(gone, "dsr-42"), Err(Error::CustomerNotFound(_))));

    // The destruction record: time, method, responsible principal, scope, reason.
    let log = auditor(&store).audit_entries(&AuditQuery::new().customer(gone).limit(100)).unwrap();
    let record = log.iter().find(|e| e.action == "customer.erase" && e.outcome == custodian::Outcome::Allowed).unwrap();
    let destruction = record.destruction.as_ref().unwrap();
    assert_eq!((destruction.method, destruction.reason.as_str()), (DestructionMethod::CryptoShred, "request:dsr-42"));
    assert_eq!((record.principal.as_str(), record.customers.as_slice()), ("admin", &[gone][..]));
    assert!(
        log.iter().any(|e| e.action == "customer.erase"
            && e.outcome == custodian::Outcome::Failed
            && e.error_code == Some(24)),
        "the refusal under hold is audited"
    );
    drop(c);
    drop(store);

    // Closing checkpointed the WAL; with secure_delete nothing of the erased
    // customer's ciphertext or key is left in any file.
    for (name, bytes) in file_bytes(&path) {
        assert!(!contains(&bytes, &sealed), "{name} still holds the erased ciphertext");
        assert!(!contains(&bytes, &wrapped), "{name} still holds the erased data key");
        assert!(!contains(&bytes, &blind), "{name} still holds the erased blind index");
        for value in ["13900000002", "user2@example.com", "第2位客户"] {
            assert!(!contains(&bytes, value.as_bytes()), "{name} holds the value '{value}'");
        }
    }

    // Restore the old customer data: the ledger brings no one back.
    std::fs::copy(backup.join(DATA_FILE), path.join(DATA_FILE)).unwrap();
    let _ = std::fs::remove_file(path.join(format!("{DATA_FILE}-wal")));
    // Its key is gone, so opening already completes the erasure (audited as
    // store.recover); the ledger's replay then finds nothing left to remove.
    let store = Store::open_at(&path, key()).unwrap();
    assert!(matches!(admin(&store).get(gone), Err(Error::CustomerNotFound(_))), "gone before any replay");
    let recovered = auditor(&store).audit_entries(&AuditQuery::new().customer(gone).limit(100)).unwrap();
    assert!(recovered.iter().any(|e| e.action == "store.recover"), "{recovered:?}");
    assert_eq!(store.replay_erasure_ledger().unwrap(), 0);
    assert!(admin(&store).get(keep).is_ok());
    assert_eq!(store.replay_erasure_ledger().unwrap(), 0);
}

/// What one customer leaves on disk: its sealed fields, its wrapped data
/// key and its mobile's blind-index digest.
fn footprint(path: &Path, id: CustomerId) -> [Vec<u8>; 3] {
    let conn = rusqlite::Connection::open(path.join(DATA_FILE)).unwrap();
    let sealed: Vec<u8> = conn.query_row("SELECT sealed FROM customers WHERE id = ?1", [id.0], |r| r.get(0)).unwrap();
    let blind: Vec<u8> =
        conn.query_row("SELECT mobile_index FROM customers WHERE id = ?1", [id.0], |r| r.get(0)).unwrap();
    let keys = rusqlite::Connection::open(path.join(KEYS_FILE)).unwrap();
    let wrapped: Vec<u8> =
        keys.query_row("SELECT wrapped FROM data_keys WHERE customer_id = ?1", [id.0], |r| r.get(0)).unwrap();
    [sealed, wrapped, blind]
}

/// Fails if any file in `dir` (main files, WALs, shared memory) holds any
/// piece of `footprint`.
fn assert_no_trace(dir: &Path, footprint: &[Vec<u8>; 3], when: &str) {
    let files = file_bytes(dir);
    assert!(files.iter().any(|(name, _)| name == DATA_FILE), "{when}: no store in {}", dir.display());
    for (name, bytes) in files {
        for (what, piece) in ["ciphertext", "data key", "blind index"].iter().zip(footprint) {
            assert!(!contains(&bytes, piece), "{when}: {name} still holds the destroyed customer's {what}");
        }
    }
}

/// Copies a live store directory without closing it, as a crash (or a copy
/// taken by someone holding the files) would leave it.
fn crash_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in file_bytes(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

#[test]
fn destroyed_customers_leave_no_byte_on_disk_while_the_store_is_open_or_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap().with_clock(clock.clone()).unwrap();
    provision(&store);
    let a = admin(&store);
    let keep = a.create(sample(1)).unwrap().id;
    let erased = a.create(sample(2)).unwrap().id;
    let deleted = a.create(sample(3)).unwrap().id;
    // Everything written so far sits in the WALs, not yet in the main files.
    let (erased_trace, deleted_trace) = (footprint(&path, erased), footprint(&path, deleted));
    let c = compliance(&store);

    for (kind, id, trace) in [("erasure", erased, &erased_trace), ("deletion", deleted, &deleted_trace)] {
        match kind {
            "erasure" => c.erase(id, "dsr-77").unwrap(),
            _ => a.delete(id).unwrap(),
        }
        // The store is still open, sessions and all.
        assert_no_trace(&path, trace, &format!("after the {kind}, store open"));
        let crashed = dir.path().join(format!("crashed-after-{kind}"));
        crash_copy(&path, &crashed);
        assert_no_trace(&crashed, trace, &format!("after the {kind}, crash copy"));
        // The crash copy is a working store without the customer.
        let copy = Store::open_at(&crashed, key()).unwrap();
        assert!(matches!(admin(&copy).get(id), Err(Error::CustomerNotFound(_))));
        assert_eq!(admin(&copy).get(keep).unwrap().id, keep);
    }

    // A sweep purges once, at its end, for everything it destroyed.
    let swept: Vec<CustomerId> = (10..13).map(|i| a.create(sample(i)).unwrap().id).collect();
    let traces: Vec<[Vec<u8>; 3]> = swept.iter().map(|id| footprint(&path, *id)).collect();
    c.define_retention_policy(&RetentionPolicy {
        id: "inactive-30d".into(),
        rule: RetentionRule::InactiveFor { days: 30 },
        method: DestructionMethod::CryptoShred,
    })
    .unwrap();
    clock.advance(31 * DAY);
    a.update(keep, 1, CustomerPatch::new().set(Field::Notes, "still a customer")).unwrap();
    let report = c.sweep().unwrap();
    assert_eq!(report.destroyed.len(), swept.len());
    let crashed = dir.path().join("crashed-after-sweep");
    crash_copy(&path, &crashed);
    for trace in &traces {
        assert_no_trace(&path, trace, "after the sweep, store open");
        assert_no_trace(&crashed, trace, "after the sweep, crash copy");
    }
}

#[test]
fn a_sweep_on_a_simulated_clock_destroys_exactly_what_is_due() {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::in_memory(key(), CreateOptions::new()).unwrap().with_clock(clock.clone()).unwrap();
    provision(&store);
    let a = admin(&store);
    let ids: Vec<CustomerId> = (0..4).map(|i| a.create(sample(i)).unwrap().id).collect();
    let lead = a.create(sample(10).set(Field::Category, "lead")).unwrap().id;
    consent_to_sms(&store, lead);
    let c = compliance(&store);
    c.define_retention_policy(&RetentionPolicy {
        id: "inactive-30d".into(),
        rule: RetentionRule::InactiveFor { days: 30 },
        method: DestructionMethod::CryptoShred,
    })
    .unwrap();
    c.define_retention_policy(&RetentionPolicy {
        id: "leads-withdrawn".into(),
        rule: RetentionRule::WithdrawnMarketingConsent { category: "lead".into() },
        method: DestructionMethod::Anonymise,
    })
    .unwrap();
    assert!(matches!(
        c.define_retention_policy(&RetentionPolicy {
            id: "Bad Id".into(),
            rule: RetentionRule::InactiveFor { days: 1 },
            method: DestructionMethod::CryptoShred
        }),
        Err(Error::Invalid { rule: "policy_id", .. })
    ));

    // Day 20: customer 1 changes; nothing is due yet.
    clock.set(T0 + 20 * DAY);
    let v = a.get(ids[1]).unwrap();
    a.update(ids[1], v.version, CustomerPatch::new().set(Field::Title, "总监")).unwrap();
    c.place_hold(ids[2], "litigation-7").unwrap();
    let report = c.sweep().unwrap();
    assert!(report.destroyed.is_empty() && report.held.is_empty(), "{report:?}");

    // The lead withdraws its marketing consent: anonymised at the next sweep.
    let withdraw = custodian::consent::ConsentChange {
        purpose: Purpose::Marketing,
        channel: custodian::consent::Channel::Sms,
        granted: false,
        source: "call".into(),
        policy_version: "v1".into(),
    };
    service(&store).record_consent(lead, &withdraw).unwrap();

    // Day 31: customers 0, 2, 3 and the lead were last changed 31 days ago;
    // 1 only 11 days ago; 2 is held.
    clock.set(T0 + 31 * DAY);
    let report = c.sweep().unwrap();
    let mut destroyed: Vec<(CustomerId, String)> = report.destroyed.iter().map(|(id, p, _)| (*id, p.clone())).collect();
    destroyed.sort();
    assert_eq!(
        destroyed,
        vec![
            (ids[0], "inactive-30d".to_owned()),
            (ids[3], "inactive-30d".to_owned()),
            (lead, "inactive-30d".to_owned()),
        ],
        "the first policy that finds a customer due decides"
    );
    assert_eq!(report.held, vec![(ids[2], "inactive-30d".to_owned())]);
    assert!(a.get(ids[1]).is_ok() && a.get(ids[2]).is_ok());
    assert!(matches!(a.get(ids[0]), Err(Error::CustomerNotFound(_))));

    // Lifting the hold lets the next sweep proceed.
    c.lift_hold(ids[2]).unwrap();
    let report = c.sweep().unwrap();
    assert_eq!(report.destroyed.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(), vec![ids[2]]);

    // Every destruction record verifies in the chain.
    let records: Vec<_> = auditor(&store)
        .audit_entries(&AuditQuery::new().limit(10_000))
        .unwrap()
        .into_iter()
        .filter(|e| e.destruction.is_some())
        .collect();
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|e| e.destruction.as_ref().unwrap().reason == "policy:inactive-30d" && e.principal == "admin")
    );
    assert!(store.verify_audit(None).unwrap().is_intact());
}

#[test]
fn anonymisation_keeps_classification_attributes_only() {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::in_memory(key(), CreateOptions::new()).unwrap().with_clock(clock.clone()).unwrap();
    provision(&store);
    let lead = admin(&store)
        .create(sample(3).set(Field::Category, "lead").set(Field::Address, "浙江省杭州市西湖区"))
        .unwrap()
        .id;
    let c = compliance(&store);
    c.define_retention_policy(&RetentionPolicy {
        id: "leads-withdrawn".into(),
        rule: RetentionRule::WithdrawnMarketingConsent { category: "lead".into() },
        method: DestructionMethod::Anonymise,
    })
    .unwrap();
    consent_to_sms(&store, lead);
    let withdraw = custodian::consent::ConsentChange {
        purpose: Purpose::Marketing,
        channel: custodian::consent::Channel::Sms,
        granted: false,
        source: "web_form".into(),
        policy_version: "v2".into(),
    };
    service(&store).record_consent(lead, &withdraw).unwrap();
    let report = c.sweep().unwrap();
    assert_eq!(report.destroyed, vec![(lead, "leads-withdrawn".to_owned(), DestructionMethod::Anonymise)]);
    let left = admin(&store).get(lead).unwrap();
    assert_eq!(left.text(&Field::Status), "anonymised");
    assert_eq!(left.text(&Field::Category), "lead");
    assert_eq!(left.text(&Field::Tier), "A");
    for gone in [Field::Name, Field::Mobile, Field::Email, Field::IdNumber, Field::ExternalCode, Field::Notes] {
        assert_eq!(left.get(&gone), None, "{gone} survived anonymisation");
    }
    assert!(admin(&store).find_by_mobile("13900000003").unwrap().is_empty(), "its blind index is gone");
    assert!(c.sweep().unwrap().destroyed.is_empty(), "an anonymised customer is not due again");
    // Statistics still count it, by province only: its city went with the address.
    let by_city = admin(&store)
        .statistics(&custodian::StatisticsQuery::new(custodian::StatisticsDimension::City).threshold(2))
        .unwrap();
    assert_eq!(by_city.row_labels, ["浙江省 (city unknown)"]);
}

#[test]
fn export_lists_every_access_and_restriction_stops_processing() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(5)).unwrap().id;
        let clerk = service(&store);
        clerk.get(id).unwrap();
        clerk.find_by_mobile("13900000005").unwrap();
        let v = clerk.get(id).unwrap();
        clerk.update(id, v.version, CustomerPatch::new().set(Field::Title, "顾问")).unwrap();
        consent_to_sms(&store, id);

        let c = compliance(&store);
        let export = c.export_customer(id).unwrap();
        assert_eq!(export.fields.get("name").and_then(|v| v.as_str()), Some("王五"), "{name}");
        assert_eq!(export.fields.get("id_number").and_then(|v| v.as_str()).map(str::len), Some(18), "{name}");
        assert_eq!(export.consents.len(), 1, "{name}");
        let seen: Vec<(&str, &str)> =
            export.access_history.iter().map(|e| (e.principal.as_str(), e.action.as_str())).collect();
        for expected in [
            ("admin", "customer.create"),
            ("clerk", "customer.get"),
            ("clerk", "customer.lookup"),
            ("clerk", "customer.update"),
            ("clerk", "consent.record"),
        ] {
            assert!(seen.contains(&expected), "{name}: {expected:?} missing from {seen:?}");
        }
        assert_eq!(seen.iter().filter(|(p, a)| *p == "clerk" && *a == "customer.get").count(), 2, "{name}");
        let json = serde_json::to_string(&export).unwrap();
        assert!(json.contains("access_history"), "{name}");
        assert!(
            matches!(clerk.export_customer(id), Err(Error::Denied { .. })),
            "{name}: customer service may not export"
        );

        // Restriction: every purpose but compliance loses the customer at once.
        c.restrict(id, "objection-2026-09").unwrap();
        assert!(matches!(clerk.get(id), Err(Error::Denied { rule: rules::SUBJECT_RESTRICTED, .. })), "{name}");
        assert!(clerk.list(&ListQuery::new()).unwrap().items.is_empty(), "{name}");
        assert!(clerk.find_by_mobile("13900000005").unwrap().is_empty(), "{name}");
        assert!(matches!(
            clerk.update(id, v.version + 1, CustomerPatch::new().set(Field::Title, "x")),
            Err(Error::Denied { rule: rules::SUBJECT_RESTRICTED, .. })
        ));
        assert!(c.get(id).is_ok(), "{name}: compliance still may");
        assert!(c.export_customer(id).unwrap().restriction.is_some(), "{name}");
        c.lift_restriction(id).unwrap();
        assert!(clerk.get(id).is_ok(), "{name}");

        // Rectification: applied, and logged by field, never by value.
        let v = c.get(id).unwrap();
        c.rectify(id, v.version, CustomerPatch::new().set(Field::Email, "new.mail@example.com"), "dsr-7").unwrap();
        let log = auditor(&store).customer_access_report(id).unwrap();
        let rectified = log.iter().find(|e| e.action == "customer.rectify").unwrap();
        assert_eq!(rectified.changed, vec!["email".to_owned()], "{name}");
        assert_eq!(rectified.target.as_deref(), Some("request:dsr-7"), "{name}");
        assert!(!format!("{log:?}").contains("new.mail"), "{name}");
    }
}

/// A reader in another connection holding the write-ahead log past the
/// busy timeout cannot stop an erasure: it commits and returns `Ok`, and
/// the purge of the logs is owed (`purge_owed`) until a later purge, here
/// `purge_logs` once the reader is gone, empties them and leaves no trace.
#[test]
fn an_erasure_that_readers_keep_from_emptying_the_logs_stands_and_owes_the_purge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(Store::create_at(&path, key(), CreateOptions::new()).unwrap());
    let backend = custodian::SqliteBackend::new(
        &path,
        custodian::SqliteOptions::new().busy_timeout(std::time::Duration::from_millis(100)),
    );
    let store = Store::open(backend, key()).unwrap();
    provision(&store);
    let gone = admin(&store).create(sample(2)).unwrap().id;
    let traces = footprint(&path, gone);
    assert!(!store.purge_owed());

    // Another process's reader, in the middle of a read of both files.
    let reader = rusqlite::Connection::open(path.join(KEYS_FILE)).unwrap();
    reader.execute(&format!("ATTACH DATABASE '{}' AS data", path.join(DATA_FILE).display()), []).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0)).unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM data.customers", [], |r| r.get(0)).unwrap();

    compliance(&store).erase(gone, "dsr-held").unwrap();
    assert!(store.purge_owed(), "the reader kept the logs: the purge is owed");
    assert!(matches!(compliance(&store).get(gone), Err(Error::CustomerNotFound(_))), "the erasure stands");
    assert!(store.purge_logs().is_err(), "still held");
    assert!(store.purge_owed());

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    store.purge_logs().unwrap();
    assert!(!store.purge_owed(), "paid");
    assert_no_trace(&path, &traces, "after the owed purge");
}
