//! A restore recovers customer data and undoes no decision: after restoring
//! an older backup into the live store, a consent withdrawal, a restriction
//! of processing, a revoked principal and an erasure made since are still
//! in force, the audit log is the live one (it verifies against a checkpoint
//! kept before the restore), and customers created since are removed and
//! reported.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use custodian::access::rules;
use custodian::{AuthContext, Checkpoint, CreateOptions, CustomerPatch, Error, Field, Purpose, RestoreOptions, Store};

#[test]
fn a_restore_keeps_every_decision_made_since_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let (store, seen) = checkpointed_store(&live);
    let a = admin(&store);
    let consenting = a.create(sample(1)).unwrap().id;
    let restricted = a.create(sample(2)).unwrap().id;
    let erased = a.create(sample(3)).unwrap().id;
    let updated = a.create(sample(4)).unwrap();
    let deleted = a.create(sample(5).set(Field::ExternalCode, "KH-5")).unwrap().id;
    consent_to_sms(&store, consenting);
    store.backup_to(&backup).unwrap();

    // Decisions after the backup...
    withdraw_sms(&store, consenting);
    a.restrict(restricted, "objection-7").unwrap();
    admin(&store).revoke_principal("technician", "left the company").unwrap();
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    compliance.erase(erased, "dsr-13").unwrap();
    // ...and data changes.
    let created = a.create(sample(6)).unwrap().id;
    a.update(updated.id, updated.version, CustomerPatch::new().set(Field::Notes, "after the backup")).unwrap();
    a.delete(deleted).unwrap();
    let entries_before = store.verify_audit(None).unwrap().entries;
    let trusted = store.audit_checkpoint().unwrap();
    drop((a, compliance, store));

    let checkpoints = custodian::CheckpointPolicy::default().every_entries(1);
    let report =
        Store::restore_with(&backup, &live, key(), &RestoreOptions::default().checkpoints(checkpoints)).unwrap();
    assert!(!report.keys_restored);
    assert_eq!(report.removed, vec![created], "the customer created after the backup is removed and named");
    assert_eq!(report.removed_by_ledger, 1, "the erased customer is kept out");
    assert_eq!(report.restored, 4);

    let store = Store::open_at(&live, key()).unwrap();
    // One continuous history: the pre-restore checkpoint still verifies, nothing was lost.
    let verification = store.verify_audit(Some(&trusted)).unwrap();
    assert!(verification.is_intact() && verification.trusted_checked, "{:?}", verification.problem);
    assert_eq!(verification.entries, entries_before + 1, "the live log plus the restore's own entry");
    let a = admin(&store);
    // Data is the backup's: the update is undone, the deleted customer is back, the new one is gone.
    assert_eq!(a.get(updated.id).unwrap().text(&Field::Notes), updated.text(&Field::Notes), "the update is undone");
    assert!(a.get(updated.id).unwrap().version > updated.version + 1, "versions only grow");
    assert_eq!(a.get(deleted).unwrap().text(&Field::ExternalCode), "KH-5");
    assert!(matches!(a.get(created), Err(Error::CustomerNotFound(_))));
    // Decisions are still in force.
    assert!(matches!(a.get(erased), Err(Error::CustomerNotFound(_))), "erased stays erased");
    let err = a.get(restricted).unwrap_err();
    assert!(matches!(err, Error::Denied { rule, .. } if rule == rules::SUBJECT_RESTRICTED), "{err}");
    assert!(matches!(marketing(&store).get(consenting), Err(Error::Denied { .. })), "the withdrawal stands");
    let refused = store.session("technician", Purpose::Maintenance).unwrap_err();
    assert!(matches!(refused, Error::Denied { rule, .. } if rule == rules::PRINCIPAL_REVOKED), "{refused}");
    // The original destruction record is still in the log, and the restore is audited.
    let auditor = auditor(&store);
    let log = auditor.audit_entries(&custodian::AuditQuery::new().limit(10_000)).unwrap();
    assert!(log.iter().any(|e| e.action == "customer.erase" && e.customers == vec![erased]));
    let restore = log.iter().rev().find(|e| e.action == "store.restore").expect("the restore is audited");
    assert_eq!(restore.customers, vec![created]);
    let reason = restore.reason.as_deref().unwrap();
    assert!(reason.contains("4 customers restored, 1 created since removed, 1 erased since kept out"), "{reason}");
    assert!(seen.lock().unwrap().len() >= 2);
    // The restored customers decrypt and can be worked on.
    let view = a.get(deleted).unwrap();
    a.update(deleted, view.version, CustomerPatch::new().set(Field::Notes, "back")).unwrap();
}

#[test]
fn a_backup_of_another_store_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for path in [&one, &two] {
        let store = Store::create_at(path, key(), CreateOptions::new()).unwrap();
        provision(&store);
        admin(&store).create(sample(1)).unwrap();
    }
    let backup = dir.path().join("backup-of-two");
    Store::open_at(&two, key()).unwrap().backup_to(&backup).unwrap();
    let err = Store::restore(&backup, &one, key()).unwrap_err();
    assert!(matches!(&err, Error::Backup { problem: custodian::BackupProblem::Foreign { .. }, .. }), "{err}");
    let store = Store::open_at(&one, key()).unwrap();
    assert_eq!(store.counts().unwrap().customers, 1);
    assert!(store.verify_audit(None).unwrap().is_intact());
}

#[test]
fn a_backup_made_before_a_rotation_restores_with_its_own_key_and_ends_under_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let new_key = || custodian::KeySource::key_bytes(&[3u8; 32]).unwrap();
    let store = Store::create_at(&live, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let kept = admin(&store).create(sample(1)).unwrap().id;
    let deleted = admin(&store).create(sample(2)).unwrap().id;
    store.backup_to(&backup).unwrap();
    store.rotate_master_key(new_key()).unwrap();
    admin(&store).delete(deleted).unwrap();
    drop(store);
    let err = Store::verify_backup(&backup, new_key()).unwrap_err();
    assert!(
        matches!(&err, Error::Backup { problem: custodian::BackupProblem::WrongKey { generation: 1, .. }, .. }),
        "made under the old key: {err}"
    );

    // Into the live store: read with the old key, rewrapped under the current one.
    let options = RestoreOptions::default().backup_key(key());
    let report = Store::restore_with(&backup, &live, new_key(), &options).unwrap();
    assert_eq!(report.restored, 2);
    assert!(matches!(Store::open_at(&live, key()), Err(Error::WrongKey)));
    let store = Store::open_at(&live, new_key()).unwrap();
    assert_eq!(admin(&store).get(deleted).unwrap().id, deleted, "its key came back, under the new master key");
    assert_eq!(admin(&store).get(kept).unwrap().id, kept);
    drop(store);

    // Total loss: the whole backup, then rotated to the current key.
    let fresh = dir.path().join("fresh");
    let options = RestoreOptions::default().backup_key(key()).acknowledge_lost_history();
    let report = Store::restore_with(&backup, &fresh, new_key(), &options).unwrap();
    assert!(report.keys_restored);
    assert!(matches!(Store::open_at(&fresh, key()), Err(Error::WrongKey)));
    let store = Store::open_at(&fresh, new_key()).unwrap();
    assert_eq!(admin(&store).get(deleted).unwrap().id, deleted);
}

#[test]
fn after_a_total_loss_the_hosts_receipts_keep_erased_customers_erased() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let checkpoints = Arc::new(Mutex::new(Vec::<Checkpoint>::new()));
    let receipts = Arc::new(Mutex::new(Vec::<custodian::ErasureReceipt>::new()));
    let (cps, rcs) = (checkpoints.clone(), receipts.clone());
    let policy = custodian::CheckpointPolicy::default()
        .every_entries(2)
        .sink(Arc::new(move |cp: &Checkpoint| cps.lock().unwrap().push(cp.clone())))
        .receipts(Arc::new(move |r: &custodian::ErasureReceipt| rcs.lock().unwrap().push(r.clone())));
    let store = Store::create_at(&live, key(), CreateOptions::new()).unwrap().with_checkpoint_policy(policy).unwrap();
    provision(&store);
    let a = admin(&store);
    let kept = a.create(sample(1)).unwrap().id;
    let erased = a.create(sample(2)).unwrap().id;
    store.backup_to(&backup).unwrap();
    let backup_entries = Store::verify_backup(&backup, key()).unwrap().audit_entries;
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    compliance.erase(erased, "dsr-21").unwrap();
    a.create(sample(3)).unwrap();
    drop((a, compliance, store));
    let receipts = receipts.lock().unwrap().clone();
    assert_eq!(receipts.len(), 1, "one erasure, one receipt");
    let receipt = custodian::ErasureReceipt::parse(&receipts[0].to_text()).unwrap();
    assert_eq!(receipt, receipts[0]);
    assert!(!receipt.to_text().contains(&erased.to_string()) || erased.0 < 10, "names a keyed hash, not the id");
    let last = checkpoints.lock().unwrap().last().cloned().unwrap();
    assert!(last.size > backup_entries);

    // The store is lost, key store and all.
    std::fs::remove_dir_all(&live).unwrap();

    // Without the outside record the restore is refused, and leaves nothing.
    let err = Store::restore(&backup, &live, key()).unwrap_err();
    assert!(matches!(err, Error::Invalid { rule: "outside_record_required", .. }), "{err}");
    assert!(!live.exists());
    // A receipt that was tampered with is refused.
    let mut forged = receipt.clone();
    forged.time += 1;
    let bad = RestoreOptions::default().outside_record(Some(last.clone()), vec![forged]);
    let err = Store::restore_with(&backup, &live, key(), &bad).unwrap_err();
    assert!(matches!(err, Error::Invalid { rule: "receipt_signature", .. }), "{err}");
    assert!(!live.exists());

    // With it: the erased customer stays erased, and the lost history is named.
    let options = RestoreOptions::default().outside_record(Some(last.clone()), receipts.clone());
    let report = Store::restore_with(&backup, &live, key(), &options).unwrap();
    assert!(report.keys_restored);
    assert_eq!(report.removed, vec![erased]);
    let gap = report.unknown_history.unwrap();
    assert_eq!((gap.after, gap.through), (backup_entries, Some(last.size)));
    let store = Store::open_at(&live, key()).unwrap();
    assert!(matches!(admin(&store).get(erased), Err(Error::CustomerNotFound(_))));
    assert_eq!(admin(&store).get(kept).unwrap().id, kept);
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    let entry = log.iter().rev().find(|e| e.action == "store.restore").unwrap();
    let reason = entry.reason.as_deref().unwrap();
    assert!(reason.contains(&format!("after entry {backup_entries} through entry {}", last.size)), "{reason}");
    assert_eq!(entry.customers, vec![erased]);
    drop(store);
    // The restored ledger remembers: a second restore of the old backup keeps it out too.
    let report = Store::restore(&backup, &live, key()).unwrap();
    assert_eq!(report.removed_by_ledger, 1);

    // Acknowledged without a record: restored, and audited as such.
    let blind = dir.path().join("blind");
    let report =
        Store::restore_with(&backup, &blind, key(), &RestoreOptions::default().acknowledge_lost_history()).unwrap();
    assert_eq!(report.unknown_history.unwrap().through, None);
    let store = Store::open_at(&blind, key()).unwrap();
    assert!(admin(&store).get(erased).is_ok(), "without the receipts nothing can know it was erased");
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    let reason = log.iter().rev().find(|e| e.action == "store.restore").unwrap().reason.clone().unwrap();
    assert!(reason.contains("acknowledged"), "{reason}");
}

#[test]
fn a_restore_that_fails_half_way_changes_nothing_but_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let store = Store::create_at(&live, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let ids: Vec<_> = (0..40).map(|i| a.create(sample(i)).unwrap().id).collect();
    store.backup_to(&backup).unwrap();
    // Deleted since the backup: the restore must bring its key back from the backup...
    let last = *ids.last().unwrap();
    a.delete(last).unwrap();
    let edited = a.update(ids[0], 1, CustomerPatch::new().set(Field::Notes, "kept if the restore fails")).unwrap();
    drop((a, store));
    // ...but a key in the backup's key store does not unwrap (a customer
    // past the 25 verification samples). A sealed backup cannot be edited,
    // so the damaged one is made from an extracted copy.
    let copy = dir.path().join("copy");
    Store::extract_backup(&[&backup], key(), &copy).unwrap();
    let keys = rusqlite::Connection::open(copy.join("keys.db")).unwrap();
    let wrapped: Vec<u8> =
        keys.query_row("SELECT wrapped FROM data_keys WHERE customer_id = ?1", [last.0], |r| r.get(0)).unwrap();
    let mut bad = wrapped.clone();
    let len = bad.len();
    bad[len - 1] ^= 1;
    keys.execute("UPDATE data_keys SET wrapped = ?2 WHERE customer_id = ?1", (last.0, bad)).unwrap();
    drop(keys);
    let damaged = dir.path().join("damaged-backup");
    Store::open_at(&copy, key()).unwrap().backup_to(&damaged).unwrap();
    let backup = damaged;

    // Verification passes (the key is past the sample) and writes nothing into the backup.
    let backup_before = std::fs::read(&backup).unwrap();
    Store::verify_backup(&backup, key()).unwrap();
    assert_eq!(std::fs::read(&backup).unwrap(), backup_before);
    // The restore fails half way, in its transaction.
    let err = Store::restore(&backup, &live, key()).unwrap_err();
    assert!(!matches!(err, Error::Corrupt { .. } | Error::StoreOpen(_)), "it failed inside the restore: {err}");
    let store = Store::open_at(&live, key()).unwrap();
    let a = admin(&store);
    assert_eq!(store.counts().unwrap().customers, 39, "nothing was replaced");
    assert_eq!(a.get(ids[0]).unwrap().text(&Field::Notes), edited.text(&Field::Notes));
    assert_eq!(a.get(ids[0]).unwrap().version, edited.version);
    assert!(matches!(a.get(last), Err(Error::CustomerNotFound(_))));
    // The failure itself is on record.
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(10_000)).unwrap();
    let failed = log.iter().rev().find(|e| e.action == "store.restore").expect("the failed restore is audited");
    assert_eq!(failed.outcome, custodian::Outcome::Failed);
    assert!(store.verify_audit(None).unwrap().is_intact());
}

#[test]
fn customers_under_a_legal_hold_are_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let store = Store::create_at(&live, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let old = a.create(sample(1)).unwrap();
    let free = a.create(sample(2)).unwrap();
    store.backup_to(&backup).unwrap();
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    // After the backup: an existing customer changed and put under a hold,
    // a new one under a hold, another change without one.
    let changed = a.update(old.id, old.version, CustomerPatch::new().set(Field::Notes, "evidence")).unwrap();
    compliance.place_hold(old.id, "case-41").unwrap();
    let new = a.create(sample(3)).unwrap().id;
    compliance.place_hold(new, "case-41").unwrap();
    a.update(free.id, free.version, CustomerPatch::new().set(Field::Notes, "rolled back")).unwrap();
    drop((a, compliance, store));

    let report = Store::restore(&backup, &live, key()).unwrap();
    assert_eq!(report.kept_under_hold, vec![old.id, new]);
    assert!(report.removed.is_empty(), "a held customer created since is not removed");
    let store = Store::open_at(&live, key()).unwrap();
    let a = admin(&store);
    let kept = a.get(old.id).unwrap();
    assert_eq!((kept.text(&Field::Notes), kept.version), ("evidence", changed.version), "held: not rolled back");
    assert!(a.get(new).is_ok());
    assert_eq!(a.get(free.id).unwrap().text(&Field::Notes), free.text(&Field::Notes), "not held: restored");
}
