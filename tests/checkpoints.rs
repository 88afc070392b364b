//! Every checkpoint reaches the host's sink: with a checkpoint due after
//! every entry, every kind of call (allowed, masked, denied, failed, logins
//! good and bad, a lockout, the bootstrap, store-level actions, backup,
//! restore, sweep, key rotation) must hand the sink one checkpoint per
//! entry, in order, each verifying against the store.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use custodian::retention::{DestructionMethod, RetentionPolicy, RetentionRule};
use custodian::{
    AuthContext, Checkpoint, CheckpointPolicy, CheckpointSink, CreateOptions, CustomerId, Error, Field, KeySource,
    LoginPolicy, ManualClock, NewPrincipal, Purpose, RestoreOptions, Store,
};

const T0: i64 = 1_750_000_000_000;
const PASSWORD: &str = "a long enough password";

fn collecting() -> (CheckpointSink, Arc<Mutex<Vec<Checkpoint>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (Arc::new(move |cp: &Checkpoint| sink.lock().unwrap().push(cp.clone())), seen)
}

/// Every checkpoint in `seen` is signed by `store`, they cover the sizes
/// `from..=to` one by one in order, and the store's log verifies against each.
fn assert_every_size(store: &Store, seen: &[Checkpoint], from: u64, to: u64, what: &str) {
    let sizes: Vec<u64> = seen.iter().map(|c| c.size).collect();
    let expected: Vec<u64> = (from..=to).collect();
    assert_eq!(sizes, expected, "{what}: the sink must receive a checkpoint for every entry, in order");
    let public_key = store.audit_public_key().unwrap();
    for cp in seen {
        cp.verify_signature(&public_key).unwrap();
        let report = store.verify_audit(Some(cp)).unwrap();
        assert!(report.is_intact() && report.trusted_checked, "{what}: checkpoint {} does not verify", cp.size);
    }
}

fn entries(store: &Store) -> u64 {
    store.verify_audit(None).unwrap().entries
}

#[test]
fn every_kind_of_call_hands_its_checkpoint_to_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let clock = Arc::new(ManualClock::new(T0));
    let (sink, seen) = collecting();
    let store = Store::create_at(&path, key(), CreateOptions::new())
        .unwrap()
        .with_clock(clock.clone())
        .unwrap()
        .with_login_policy(LoginPolicy::new().max_failures(2).password_iterations(100_000))
        .unwrap()
        .with_checkpoints(1, Some(sink))
        .unwrap();

    // Bootstrap (allowed), then a refused second bootstrap.
    provision(&store);
    assert!(store.bootstrap_administrator(&NewPrincipal::staff("admin-2", "Second")).is_err());
    {
        let admin = admin(&store);
        let clerk = service(&store);
        let id = admin.create(sample(1)).unwrap().id; // allowed
        clerk.get(id).unwrap(); // masked
        assert!(matches!(clerk.delete(id), Err(Error::Denied { .. }))); // denied
        assert!(matches!(admin.get(CustomerId(999_999)), Err(Error::CustomerNotFound(_)))); // failed
        assert!(store.session("ghost", Purpose::Service).is_err()); // a refused session opening

        // Logins: good, bad, and a lockout.
        let manager = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(T0)).unwrap();
        manager.set_password("technician", PASSWORD).unwrap();
        store.login("technician", PASSWORD, None, Purpose::Maintenance).unwrap();
        for _ in 0..2 {
            assert!(store.login("technician", "a wrong password!", None, Purpose::Maintenance).is_err());
        }
        assert!(store.login("technician", PASSWORD, None, Purpose::Maintenance).is_err(), "locked");
        assert!(store.login("ghost", PASSWORD, None, Purpose::Maintenance).is_err());

        // Retention: a sweep that destroys one customer.
        let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(T0)).unwrap();
        compliance
            .define_retention_policy(&RetentionPolicy {
                id: "inactive-30d".into(),
                rule: RetentionRule::InactiveFor { days: 30 },
                method: DestructionMethod::CryptoShred,
            })
            .unwrap();
        clock.advance(31 * 86_400_000);
        let swept = compliance.sweep().unwrap();
        assert_eq!(swept.destroyed.len(), 1);
        admin.create(sample(2).set(Field::ExternalCode, "K-2")).unwrap();
    }

    // Store-level actions: the erasure ledger replayed, a backup.
    store.replay_erasure_ledger().unwrap();
    let backup = dir.path().join("backup");
    store.backup_to(&backup).unwrap();
    // Key rotation (no session open).
    store.rotate_master_key(KeySource::key_bytes(&[9u8; 32]).unwrap()).unwrap();
    let end = entries(&store);
    assert_every_size(&store, &seen.lock().unwrap(), 1, end, "the live store");
    drop(store);

    // A restore, into another directory: its own entries reach its sink.
    let (restore_sink, restored_seen) = collecting();
    let at_backup = Store::verify_backup(&backup, key()).unwrap().audit_entries;
    let restored_dir = dir.path().join("restored");
    let policy = CheckpointPolicy::default().every_entries(1).sink(restore_sink);
    let options = RestoreOptions::default().checkpoints(policy).acknowledge_lost_history();
    Store::restore_with(&backup, &restored_dir, key(), &options).unwrap();
    let restored = Store::open_at(&restored_dir, key()).unwrap();
    let end = entries(&restored);
    assert!(end > at_backup, "the restore is audited");
    assert_every_size(&restored, &restored_seen.lock().unwrap(), at_backup + 1, end, "the restore");
}

fn clocked_store(path: Option<&std::path::Path>, policy: CheckpointPolicy) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = match path {
        Some(path) => Store::create_at(path, key(), CreateOptions::new()).unwrap(),
        None => Store::in_memory(key(), CreateOptions::new()).unwrap(),
    };
    let store = store.with_clock(clock.clone()).unwrap().with_checkpoint_policy(policy).unwrap();
    provision(&store);
    (store, clock)
}

fn sizes(seen: &Mutex<Vec<Checkpoint>>) -> Vec<u64> {
    seen.lock().unwrap().iter().map(|c| c.size).collect()
}

#[test]
fn a_checkpoint_falls_due_by_count_or_by_time_whichever_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    for path in [None, Some(dir.path().join("s"))] {
        let (sink, seen) = collecting();
        let policy = CheckpointPolicy::default().every_entries(10).every_secs(60).sink(sink);
        let (store, clock) = clocked_store(path.as_deref(), policy);
        assert_eq!(SETUP_ENTRIES, 13);
        assert_eq!(sizes(&seen), vec![10], "by count");
        clock.advance(59_000);
        let admin = admin(&store); // entry 14, 59 s after the checkpoint
        assert_eq!(sizes(&seen), vec![10]);
        clock.advance(1_000);
        let id = admin.create(sample(1)).unwrap().id; // entry 15, 60 s after it
        assert_eq!(sizes(&seen), vec![10, 15], "by time");
        clock.advance(3_600_000);
        assert_eq!(sizes(&seen), vec![10, 15], "an idle store makes none");
        admin.get(id).unwrap(); // entry 16
        assert_eq!(sizes(&seen), vec![10, 15, 16], "due on the first entry after the interval");
        for _ in 0..10 {
            admin.get(id).unwrap();
        }
        assert_eq!(sizes(&seen), vec![10, 15, 16, 26], "counted from the last checkpoint");
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert!(store.verify_audit(Some(&last)).unwrap().is_intact());
    }
}

#[test]
fn the_time_rule_alone_counts_from_the_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    for path in [None, Some(dir.path().join("s"))] {
        let (sink, seen) = collecting();
        let (store, clock) = clocked_store(path.as_deref(), CheckpointPolicy::default().every_entries(0).sink(sink));
        assert!(sizes(&seen).is_empty(), "no count rule, and all at the first entry's time");
        clock.advance(crate_default_secs() * 1000);
        admin(&store);
        assert_eq!(sizes(&seen), vec![SETUP_ENTRIES + 1]);
        // Both rules off: none ever.
        let (sink, seen) = collecting();
        let off = CheckpointPolicy::default().every_entries(0).every_secs(0).sink(sink);
        let dir2 = tempfile::tempdir().unwrap();
        let (store, clock) = clocked_store(path.as_ref().map(|_| dir2.path().join("off")).as_deref(), off);
        clock.advance(86_400_000);
        admin(&store);
        assert!(sizes(&seen).is_empty());
    }
}

fn crate_default_secs() -> i64 {
    custodian::audit::DEFAULT_CHECKPOINT_SECS as i64
}

/// The engine is the only code that appends audit entries or opens a
/// writing transaction (besides creating a store, which writes no entry),
/// so no call can skip a step of the audited path.
#[test]
fn only_the_engine_appends_audit_entries() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 30);
    for file in files {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        if relative != "src/store/engine.rs" {
            assert!(!text.contains("audit.append("), "{relative} appends an audit entry outside the engine");
            assert!(
                !text.contains("begin(TxMode::WriteData)"),
                "{relative} opens a write transaction outside the engine"
            );
        }
        if relative != "src/store/engine.rs" && relative != "src/store/mod.rs" {
            assert!(!text.contains("begin(TxMode::Write)"), "{relative} opens a write transaction outside the engine");
        }
    }
}
