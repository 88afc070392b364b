//! Merging a duplicate into its survivor: values chosen per field, records,
//! consents, holds and restrictions moved, the merged-away customer
//! crypto-shredded with a destruction record, and its audit history found
//! through the survivor.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use custodian::consent::{Channel, ConsentChange};
use custodian::retention::DestructionMethod;
use custodian::storage::DATA_FILE;
use custodian::{
    AuditQuery, AuthContext, CheckpointPolicy, CreateOptions, CustomerId, CustomerInput, Error, Field, MergeOptions,
    MergeSide, PaymentMethod, Purpose, RecordKind, ServiceChannel, ServiceInput, ServiceKind, Session, Store,
    TimelineQuery, TransactionInput,
};

const NOTES_CANARY: &str = "merged-away-notes-canary-5c1e";

fn compliance(store: &Store) -> Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap()
}

/// The survivor: no e-mail, no notes.
fn survivor_input() -> CustomerInput {
    CustomerInput::individual()
        .set(Field::ExternalCode, "KH-A")
        .set(Field::Name, "王五")
        .set(Field::Organisation, "星辰科技有限公司")
        .set(Field::Mobile, "13900000001")
        .set(Field::Tags, "vip")
}

/// The duplicate: another mobile, an e-mail, notes and an ID number.
fn duplicate_input() -> CustomerInput {
    CustomerInput::individual()
        .set(Field::ExternalCode, "KH-B")
        .set(Field::Name, "王 五")
        .set(Field::Organisation, "星辰科技有限公司")
        .set(Field::Mobile, "13900000002")
        .set(Field::Email, "wangwu@example.com")
        .set(Field::Notes, NOTES_CANARY)
        .set(Field::IdNumber, id_number("310101", "19900307", 7))
        .set(Field::Tags, "老客户,vip")
}

fn consent(s: &Session, id: CustomerId, channel: Channel, granted: bool) {
    let change = ConsentChange {
        purpose: Purpose::Marketing,
        channel,
        granted,
        source: "counter".into(),
        policy_version: "v1".into(),
    };
    s.record_consent(id, &change).unwrap();
}

fn latest(s: &Session, id: CustomerId, channel: Channel) -> Option<bool> {
    s.consents(id).unwrap().into_iter().rev().find(|c| c.channel == channel).map(|c| c.granted)
}

#[test]
fn a_merge_moves_values_records_and_consents_and_shreds_the_duplicate() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let keep = a.create(survivor_input()).unwrap();
        let dup = a.create(duplicate_input()).unwrap();
        let order = TransactionInput::new("SO-9", "CNY", 1_000, PaymentMethod::BankCard)
            .item("茶", 2, 500)
            .card("4111 1111 1111 1111");
        let sold = a.add_transaction(dup.id, &order).unwrap();
        let complaint = ServiceInput::new(ServiceKind::Complaint, ServiceChannel::Phone, "物流", "三次没送到");
        let opened = a.open_service_record(dup.id, &complaint).unwrap();
        // SMS: the survivor granted, the duplicate later withdrew → withdrawn.
        consent(&a, keep.id, Channel::Sms, true);
        consent(&a, dup.id, Channel::Sms, false);
        // Phone: the survivor withdrew, the duplicate later granted → withdrawn.
        consent(&a, keep.id, Channel::Phone, false);
        consent(&a, dup.id, Channel::Phone, true);
        // E-mail: only the duplicate granted → granted.
        consent(&a, dup.id, Channel::Email, true);

        let options = MergeOptions::new("ticket-77").take(Field::Mobile, MergeSide::Merged);
        let report = a.merge(keep.id, keep.version, dup.id, dup.version, &options).unwrap();
        assert_eq!(report.merged, dup.id);
        let survivor = &report.survivor;
        assert_eq!(survivor.id, keep.id, "{name}");
        assert_eq!(survivor.text(&Field::ExternalCode), "KH-A", "{name}: the survivor keeps its own code");
        assert_eq!(survivor.text(&Field::Name), "王五", "{name}: the survivor's value by default");
        assert_eq!(survivor.text(&Field::Mobile), "13900000002", "{name}: chosen from the merged-away");
        assert_eq!(survivor.text(&Field::Email), "wangwu@example.com", "{name}: an empty field filled");
        assert_eq!(survivor.text(&Field::Notes), NOTES_CANARY, "{name}");
        assert_eq!(survivor.text(&Field::Tags), "vip,老客户", "{name}: tags joined, no repeat");
        assert_eq!(survivor.version, keep.version + 1);
        let mut changed = report.fields_changed.clone();
        changed.sort();
        assert_eq!(changed, ["email", "id_number", "mobile", "notes", "tags"], "{name}");
        assert_eq!(report.records_moved, vec![sold.id.0, opened.id.0].into_iter().rev().collect::<Vec<_>>());
        assert_eq!(report.consents_moved, 3);
        assert_eq!(report.withdrawals_kept, vec![("marketing".to_owned(), Channel::Phone)], "{name}");
        assert!(!report.hold_carried && !report.restriction_carried);

        // The duplicate is gone; its values are found on the survivor.
        assert!(matches!(a.get(dup.id), Err(Error::CustomerNotFound(_))), "{name}");
        assert_eq!(a.find_by_mobile("13900000002").unwrap().iter().map(|v| v.id).collect::<Vec<_>>(), [keep.id]);
        assert!(a.find_by_mobile("13900000001").unwrap().is_empty(), "{name}: the old blind index is gone");
        assert_eq!(a.find_by_email("wangwu@example.com").unwrap()[0].id, keep.id);
        assert!(a.get_by_external_code("KH-B").is_err(), "{name}: the duplicate's code went with it");

        // Its records are the survivor's now, and still open (re-sealed under the survivor's key).
        let timeline = a.timeline(keep.id, &TimelineQuery::new(50)).unwrap();
        assert_eq!(timeline.records.len(), 2, "{name}");
        let moved = a.record(sold.id).unwrap();
        assert_eq!(moved.customer, keep.id);
        assert_eq!(moved.kind, RecordKind::Transaction);
        assert_eq!(moved.text(&Field::PaymentDetails), "card:4111111111111111", "{name}");
        assert_eq!(a.record(opened.id).unwrap().text(&Field::ServiceDescription), "三次没送到");

        // Consents: a withdrawal on either side stays a withdrawal.
        assert_eq!(latest(&a, keep.id, Channel::Sms), Some(false), "{name}");
        assert_eq!(latest(&a, keep.id, Channel::Phone), Some(false), "{name}");
        assert_eq!(latest(&a, keep.id, Channel::Email), Some(true), "{name}");
        let sms = store.marketing_session("marketer", Channel::Sms, AuthContext::single_factor()).unwrap();
        assert!(sms.get(keep.id).is_err(), "{name}: marketing by SMS no longer reaches the survivor");
        let mail = store.marketing_session("marketer", Channel::Email, AuthContext::single_factor()).unwrap();
        assert!(mail.get(keep.id).is_ok(), "{name}");

        // The destruction record, naming both, with method `merge`.
        let log = auditor(&store).audit_entries(&AuditQuery::new().customer(dup.id).limit(1000)).unwrap();
        let merge = log.iter().find(|e| e.action == "customer.merge").unwrap();
        assert_eq!(merge.customers, vec![keep.id, dup.id], "{name}");
        let destruction = merge.destruction.as_ref().unwrap();
        assert_eq!((destruction.method, destruction.reason.as_str()), (DestructionMethod::Merge, "merge:ticket-77"));
        assert_eq!(merge.records, vec![sold.id.0, opened.id.0], "{name}");
        // The merged-away id leads to the survivor's history, and back.
        assert!(log.iter().any(|e| e.action == "customer.create" && e.customers == [keep.id]), "{name}");
        assert!(log.iter().any(|e| e.action == "customer.create" && e.customers == [dup.id]), "{name}");
        let by_old = auditor(&store).audit_entries(&AuditQuery::new().customer(dup.id).limit(1000)).unwrap();
        let by_new = auditor(&store).audit_entries(&AuditQuery::new().customer(keep.id).limit(1000)).unwrap();
        // The same history either way (the later query also sees the earlier query's own entry).
        assert_eq!(by_old.len() + 1, by_new.len(), "{name}");
        assert!(by_old.iter().zip(&by_new).all(|(o, n)| o.seq == n.seq), "{name}");
        assert_eq!(by_new.last().unwrap().action, "audit.query");
        assert!(by_new.windows(2).all(|w| w[0].seq < w[1].seq), "{name}: in sequence order, once each");
        let report = auditor(&store).customer_access_report(keep.id).unwrap();
        assert!(report.iter().any(|e| e.action == "customer.create" && e.customers == [dup.id]), "{name}");
        let export = compliance(&store).export_customer(keep.id).unwrap();
        assert!(export.access_history.iter().any(|e| e.customers == [dup.id]), "{name}");
        assert_eq!(export.records.len(), 2);
        assert!(store.verify_audit(None).unwrap().problem.is_none());
    }
}

#[test]
fn the_caller_chooses_per_field_and_the_survivors_empty_choice_holds() {
    let store = memory_store();
    let a = admin(&store);
    let keep = a.create(survivor_input()).unwrap();
    let dup = a.create(duplicate_input()).unwrap();
    let options = MergeOptions::new("ticket-1")
        .take(Field::Email, MergeSide::Survivor) // stays empty
        .take(Field::Tags, MergeSide::Survivor)
        .take(Field::ExternalCode, MergeSide::Merged);
    let report = a.merge(keep.id, keep.version, dup.id, dup.version, &options).unwrap();
    assert_eq!(report.survivor.get(&Field::Email), None);
    assert_eq!(report.survivor.text(&Field::Tags), "vip");
    assert_eq!(report.survivor.text(&Field::ExternalCode), "KH-B", "the code is free once its holder is gone");
    assert_eq!(a.get_by_external_code("KH-B").unwrap().id, keep.id);
    assert!(a.get_by_external_code("KH-A").is_err());
}

#[test]
fn refused_merges_change_nothing_and_say_why() {
    let store = memory_store();
    let a = admin(&store);
    let keep = a.create(survivor_input()).unwrap();
    let dup = a.create(duplicate_input()).unwrap();
    let count = || a.list(&custodian::ListQuery::new()).unwrap().total;
    let before = count();
    let options = MergeOptions::new("ticket-2");
    let rule = |e: Error| match e {
        Error::Invalid { rule, .. } | Error::InvalidArgument { rule, .. } | Error::Denied { rule, .. } => rule,
        other => panic!("{other:?}"),
    };
    assert_eq!(rule(a.merge(keep.id, keep.version, keep.id, keep.version, &options).unwrap_err()), "merge_self");
    assert!(matches!(
        a.merge(keep.id, keep.version + 1, dup.id, dup.version, &options),
        Err(Error::VersionConflict { customer, .. }) if customer == keep.id
    ));
    assert!(matches!(
        a.merge(keep.id, keep.version, dup.id, 9, &options),
        Err(Error::VersionConflict { customer, .. }) if customer == dup.id
    ));
    assert!(matches!(
        a.merge(keep.id, keep.version, CustomerId(999), 1, &options),
        Err(Error::CustomerNotFound(CustomerId(999)))
    ));
    assert_eq!(
        rule(a.merge(keep.id, keep.version, dup.id, dup.version, &MergeOptions::new("")).unwrap_err()),
        "reference"
    );
    let read_only = MergeOptions::new("t").take(Field::Status, MergeSide::Merged);
    assert_eq!(rule(a.merge(keep.id, keep.version, dup.id, dup.version, &read_only).unwrap_err()), "read_only");
    let record_field = MergeOptions::new("t").take(Field::OrderTotal, MergeSide::Merged);
    assert!(a.merge(keep.id, keep.version, dup.id, dup.version, &record_field).is_err());
    // Customer service may update but not erase: no merge.
    let denied = service(&store).merge(keep.id, keep.version, dup.id, dup.version, &options).unwrap_err();
    assert!(matches!(denied, Error::Denied { .. }), "{denied:?}");
    // Too many tags together.
    let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let dup2 = a.create(CustomerInput::individual().set(Field::Name, "x").set(Field::Tags, many.join(","))).unwrap();
    let keep2 = a
        .create(
            CustomerInput::individual()
                .set(Field::Name, "y")
                .set(Field::Tags, (20..40).map(|i| format!("t{i}")).collect::<Vec<_>>().join(",")),
        )
        .unwrap();
    assert_eq!(rule(a.merge(keep2.id, keep2.version, dup2.id, dup2.version, &options).unwrap_err()), "too_many_tags");
    assert_eq!(count(), before + 2, "nothing merged");
    assert_eq!(a.get(dup.id).unwrap().version, dup.version);
    assert_eq!(a.get(keep.id).unwrap().version, keep.version);
    // Every refusal is audited as a failure of customer.merge.
    let log = auditor(&store).audit_entries(&AuditQuery::new().limit(1000)).unwrap();
    assert!(log.iter().filter(|e| e.action == "customer.merge").all(|e| e.outcome != custodian::Outcome::Allowed));
    assert!(log.iter().filter(|e| e.action == "customer.merge").count() >= 8);
}

#[test]
fn a_hold_blocks_the_merge_unless_carried_and_a_restriction_moves() {
    let store = memory_store();
    let c = compliance(&store);
    let keep = c.create(survivor_input()).unwrap();
    let dup = c.create(duplicate_input()).unwrap();
    c.place_hold(dup.id, "case-9").unwrap();
    let err = c.merge(keep.id, keep.version, dup.id, dup.version, &MergeOptions::new("t-3")).unwrap_err();
    assert!(
        matches!(&err, Error::LegalHold { customer, reason } if *customer == dup.id && reason == "case-9"),
        "{err}"
    );
    assert!(c.get(dup.id).is_ok(), "refused: nothing destroyed");
    c.restrict(dup.id, "objection-4").unwrap();
    let report =
        c.merge(keep.id, keep.version, dup.id, dup.version, &MergeOptions::new("t-3").carrying_holds()).unwrap();
    assert!(report.hold_carried && report.restriction_carried);
    // The survivor is now held and restricted as the duplicate was.
    let err = c.erase(keep.id, "dsr-1").unwrap_err();
    assert!(
        matches!(&err, Error::LegalHold { customer, reason } if *customer == keep.id && reason == "case-9"),
        "{err}"
    );
    let denied = admin(&store).get(keep.id).unwrap_err();
    assert!(matches!(denied, Error::Denied { rule: "subject.restricted", .. }), "{denied:?}");
    // A hold on the survivor blocks too.
    let third = c.create(CustomerInput::individual().set(Field::Name, "赵六")).unwrap();
    let held = c.get(keep.id).unwrap();
    let err = c.merge(keep.id, held.version, third.id, third.version, &MergeOptions::new("t-4")).unwrap_err();
    assert!(matches!(&err, Error::LegalHold { customer, .. } if *customer == keep.id), "{err}");
}

#[test]
fn the_duplicates_values_leave_the_files_and_a_receipt_names_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let receipts = Arc::new(Mutex::new(Vec::<custodian::ErasureReceipt>::new()));
    let sink = receipts.clone();
    let policy = CheckpointPolicy::default()
        .receipts(Arc::new(move |r: &custodian::ErasureReceipt| sink.lock().unwrap().push(r.clone())));
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let (keep, dup) = {
        let a = admin(&store);
        (
            a.create(survivor_input().set(Field::Notes, "the survivor's own notes")).unwrap(),
            a.create(duplicate_input()).unwrap(),
        )
    };
    drop(store);
    // The customer data as it was before the merge, as an old copy would hold it.
    let old = std::fs::read(path.join(DATA_FILE)).unwrap();
    assert!(contains(&old, b"KH-B"));

    let store = Store::open_at(&path, key()).unwrap().with_checkpoint_policy(policy).unwrap();
    let a = admin(&store);
    a.merge(keep.id, keep.version, dup.id, dup.version, &MergeOptions::new("t-5")).unwrap();
    let receipts = receipts.lock().unwrap().clone();
    assert_eq!(receipts.len(), 1, "one receipt: the survivor is not erased");
    drop(a);
    drop(store);
    for entry in std::fs::read_dir(&path).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(!contains(&bytes, NOTES_CANARY.as_bytes()), "{} holds the merged-away notes", p.display());
    }
    // The old copy of the data cannot bring the duplicate back: its key is gone.
    std::fs::write(path.join(DATA_FILE), &old).unwrap();
    let _ = std::fs::remove_file(path.join(format!("{DATA_FILE}-wal")));
    let store = Store::open_at(&path, key()).unwrap();
    let a = admin(&store);
    assert!(matches!(a.get(dup.id), Err(Error::CustomerNotFound(_))));
    assert!(a.get(keep.id).is_ok());
}
