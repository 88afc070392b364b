//! Online backups (data and key store apart), their verification, restores
//! that replay the erasure ledger, and master-key rotation.

mod common;

use std::path::Path;

use common::*;
use custodian::storage::{DATA_FILE, KEYS_FILE};
use custodian::{AuthContext, BackupProblem, CreateOptions, CustomerId, Error, KeySource, Purpose, Store};

fn new_key() -> KeySource {
    KeySource::key_bytes(&[9u8; 32]).unwrap()
}

fn sqlite_store(dir: &Path) -> Store {
    let store = Store::create_at(dir, key(), CreateOptions::new()).unwrap();
    provision(&store);
    store
}

#[test]
fn an_online_backup_verifies_while_sessions_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir.path().join("live"));
    let a = admin(&store);
    a.create_many((0..200).map(sample)).unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let s = admin(&store);
            for i in 200..260 {
                s.create(sample(i)).unwrap();
            }
        });
        store.backup_to(dir.path().join("backup")).unwrap();
        writer.join().unwrap();
    });
    let verified = Store::verify_backup(dir.path().join("backup"), key()).unwrap();
    assert!((200..=260).contains(&verified.customers), "{verified:?}");
    assert_eq!(verified.sampled, 25);
    assert!(verified.audit_entries > 0);
    assert!(matches!(store.backup_to(dir.path().join("backup")), Err(Error::AlreadyExists(_))));
    // A wrong key, and a damaged copy, are refused with their own errors.
    let err = Store::verify_backup(dir.path().join("backup"), new_key()).unwrap_err();
    assert!(matches!(&err, Error::Backup { problem: BackupProblem::WrongKey { generation: 1, .. }, .. }), "{err}");
    let damaged = dir.path().join("damaged");
    let sealed = std::fs::read(dir.path().join("backup")).unwrap();
    std::fs::write(&damaged, &sealed[..sealed.len() / 2]).unwrap();
    let err = Store::verify_backup(&damaged, key()).unwrap_err();
    assert!(matches!(&err, Error::Backup { problem: BackupProblem::Truncated(_), .. }), "{err}");
    assert!(Store::open_at(dir.path().join("nowhere"), key()).is_err());
}

#[test]
fn a_restored_older_backup_does_not_bring_an_erased_customer_back() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = sqlite_store(&live);
    let a = admin(&store);
    let keep = a.create(sample(1)).unwrap().id;
    let gone = a.create(sample(2)).unwrap().id;
    store.backup_to(dir.path().join("before")).unwrap();
    let sealed: Vec<u8> = rusqlite::Connection::open(live.join(DATA_FILE))
        .unwrap()
        .query_row("SELECT sealed FROM customers WHERE id = ?1", [gone.0], |r| r.get(0))
        .unwrap();
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    compliance.erase(gone, "dsr-9").unwrap();
    drop((a, compliance));
    store.backup_to(dir.path().join("after")).unwrap();
    drop(store);

    // A backup taken after the erasure holds none of its ciphertext, sealed or opened.
    let opened = dir.path().join("after-opened");
    Store::extract_backup(&[dir.path().join("after")], key(), &opened).unwrap();
    for file in [DATA_FILE, KEYS_FILE] {
        let bytes = std::fs::read(opened.join(file)).unwrap();
        assert!(!contains(&bytes, &sealed), "{file} of the later backup holds the erased ciphertext");
    }
    assert!(!contains(&std::fs::read(dir.path().join("after")).unwrap(), &sealed));

    // Restoring the earlier backup keeps the live key store and replays its ledger.
    let report = Store::restore(dir.path().join("before"), &live, key()).unwrap();
    assert!(!report.keys_restored);
    assert_eq!(report.removed_by_ledger, 1);
    let store = Store::open_at(&live, key()).unwrap();
    assert!(matches!(admin(&store).get(gone), Err(Error::CustomerNotFound(_))));
    assert_eq!(admin(&store).get(keep).unwrap().id, keep);

    // Into an empty directory the key store comes from the backup too.
    let fresh = dir.path().join("fresh");
    // (With the key store lost too, the caller must say what the host kept, or acknowledge it.)
    let lost = custodian::RestoreOptions::default().acknowledge_lost_history();
    let report = Store::restore_with(dir.path().join("after"), &fresh, key(), &lost).unwrap();
    assert!(report.keys_restored);
    assert_eq!(Store::open_at(&fresh, key()).unwrap().counts().unwrap().customers, 1);
}

#[test]
fn a_restore_into_a_store_open_in_this_process_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = sqlite_store(&live);
    let id = admin(&store).create(sample(1)).unwrap().id;
    store.backup_to(dir.path().join("backup")).unwrap();
    admin(&store).create(sample(2)).unwrap();
    let files_before: Vec<Vec<u8>> =
        [DATA_FILE, KEYS_FILE].iter().map(|f| std::fs::read(live.join(f)).unwrap()).collect();

    let err = Store::restore(dir.path().join("backup"), &live, key()).unwrap_err();
    assert!(matches!(&err, Error::StoreOpen(path) if path == &live.display().to_string()), "{err:?}");
    assert!(err.to_string().contains("is open in this process; close it"), "{err}");
    let files_after: Vec<Vec<u8>> =
        [DATA_FILE, KEYS_FILE].iter().map(|f| std::fs::read(live.join(f)).unwrap()).collect();
    assert!(files_before == files_after, "a refused restore changes no file");
    assert_eq!(store.counts().unwrap().customers, 2);

    // A session alone keeps the store open.
    let session = admin(&store);
    drop(store);
    assert!(matches!(Store::restore(dir.path().join("backup"), &live, key()), Err(Error::StoreOpen(_))));
    drop(session);
    let report = Store::restore(dir.path().join("backup"), &live, key()).unwrap();
    assert_eq!(report.verified.customers, 1);
    assert_eq!(admin(&Store::open_at(&live, key()).unwrap()).get(id).unwrap().id, id);
}

#[test]
fn rotating_the_master_key_rewraps_without_reencrypting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = sqlite_store(&path);
    let ids: Vec<CustomerId> = admin(&store).create_many((0..20).map(sample)).unwrap();
    let sealed_before: Vec<u8> = rusqlite::Connection::open(path.join(DATA_FILE))
        .unwrap()
        .query_row("SELECT sealed FROM customers WHERE id = ?1", [ids[3].0], |r| r.get(0))
        .unwrap();
    // A session stays open across the rotation and goes on working.
    let open = admin(&store);
    store.rotate_master_key(new_key()).unwrap();
    assert_eq!(open.get(ids[4]).unwrap().id, ids[4]);
    drop(open);
    assert_eq!(admin(&store).get(ids[3]).unwrap().id, ids[3], "the live store works on with the new key");
    drop(store);
    assert!(matches!(Store::open_at(&path, key()), Err(Error::WrongKey)), "the old key stops working");
    let store = Store::open_at(&path, new_key()).unwrap();
    let a = admin(&store);
    for id in &ids {
        assert_eq!(a.get(*id).unwrap().text(&custodian::Field::Name), "王五");
    }
    let sealed_after: Vec<u8> = rusqlite::Connection::open(path.join(DATA_FILE))
        .unwrap()
        .query_row("SELECT sealed FROM customers WHERE id = ?1", [ids[3].0], |r| r.get(0))
        .unwrap();
    assert_eq!(sealed_before, sealed_after, "data is not re-encrypted");
    drop(a);
    // To a passphrase and back to key bytes.
    let store = store;
    store.rotate_master_key(KeySource::passphrase("a rotated passphrase").unwrap()).unwrap();
    drop(store);
    let store = Store::open_at(&path, KeySource::passphrase("a rotated passphrase").unwrap()).unwrap();
    store.rotate_master_key(key()).unwrap();
    drop(store);
    let store = Store::open_at(&path, key()).unwrap();
    assert_eq!(store.counts().unwrap().data_keys, 20);
    assert!(store.verify_audit(None).unwrap().is_intact());
}

#[test]
fn the_master_key_rotates_while_sessions_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = sqlite_store(&path);
    let a = admin(&store);
    let ids: Vec<_> = (0..30).map(|i| a.create(sample(i)).unwrap().id).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let started = std::sync::Barrier::new(2);
    let new = [5u8; 32];
    std::thread::scope(|scope| {
        // A reader in another session throughout the rotations.
        let reader = scope.spawn(|| {
            let s = service(&store);
            let mut reads = 0;
            started.wait();
            loop {
                for id in &ids {
                    s.get(*id).expect("reads go on during a rotation");
                    reads += 1;
                }
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return reads;
                }
            }
        });
        started.wait();
        for round in 0..4 {
            let next = if round % 2 == 0 { new } else { [7u8; 32] };
            store.rotate_master_key(KeySource::key_bytes(&next).unwrap()).unwrap();
            a.create(sample(100 + round)).unwrap(); // a key made right after, under the new master key
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    // Four rotations end under the original key; every customer decrypts on a fresh open.
    drop(a);
    drop(store);
    assert!(matches!(Store::open_at(&path, KeySource::key_bytes(&new).unwrap()), Err(Error::WrongKey)));
    let store = Store::open_at(&path, key()).unwrap();
    let a = admin(&store);
    let page = a.list(&custodian::ListQuery::new().limit(100)).unwrap();
    assert_eq!(page.total, 34);
    for item in &page.items {
        a.get(item.id).unwrap();
    }
}
