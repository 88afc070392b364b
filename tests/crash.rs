//! Crash loops: a child process works on a store — batch creates, legacy
//! imports, updates, erasures, master-key rotation — and is killed
//! (SIGKILL) at a random moment. After each kill the store is reopened and
//! checked: both files pass `integrity_check`, the store opens with exactly
//! one of the two master keys, the audit chain verifies against the last
//! checkpoint the host received, every batch is all or nothing, every
//! customer decrypts, no data key is orphaned and no customer has lost its
//! key. Every path gets its own trials.
//!
//! `CUSTODIAN_CRASH_TRIALS` sets the trials per path (default 6; for a long
//! run, e.g. `CUSTODIAN_CRASH_TRIALS=200 cargo test --release --test crash`).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use custodian::import::khzl::{self, LegacyRecord};
use custodian::{
    AuthContext, Checkpoint, CreateOptions, CustomerInput, CustomerPatch, Error, Field, KeySource, ListQuery, Purpose,
    Store,
};

/// The worker's environment variable: `<path>|<store dir>|<checkpoint file>`.
const WORKER: &str = "CUSTODIAN_CRASH_WORKER";
const KEY_A: [u8; 32] = [7u8; 32];
const KEY_B: [u8; 32] = [9u8; 32];
const PATHS: [&str; 5] = ["create", "import", "update", "erase", "rotate"];
const BATCH: usize = 20;
const IMPORT: usize = 10;

fn key_of(bytes: &[u8; 32]) -> KeySource {
    KeySource::key_bytes(bytes).unwrap()
}

/// Opens the store with whichever of the two keys opens it, and says which.
fn open_either(dir: &Path) -> (Store, [u8; 32], usize) {
    let mut opened = Vec::new();
    for key in [KEY_A, KEY_B] {
        match Store::open_at(dir, key_of(&key)) {
            Ok(store) => opened.push((store, key)),
            Err(Error::WrongKey) => {}
            Err(e) => panic!("the store does not open: {e}"),
        }
    }
    let count = opened.len();
    let (store, key) = opened.pop().expect("the store opens with one of the keys");
    (store, key, count)
}

/// Appends every checkpoint to `file`, each followed by a `--` line: a
/// checkpoint cut short by the kill has no terminator and is ignored.
fn sink_to(file: PathBuf) -> custodian::CheckpointSink {
    Arc::new(move |cp: &Checkpoint| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&file).unwrap();
        f.write_all(format!("{}--\n", cp.to_text()).as_bytes()).unwrap();
    })
}

/// The last complete checkpoint the host received.
fn last_checkpoint(file: &Path) -> Option<Checkpoint> {
    let text = std::fs::read_to_string(file).ok()?;
    let complete = text.rfind("--\n")?;
    let last = text[..complete].rsplit("--\n").find(|chunk| !chunk.trim().is_empty())?;
    Some(Checkpoint::parse(last).expect("a complete checkpoint parses"))
}

fn admin_of(store: &Store) -> custodian::Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap()
}

/// The child: works on the store until it is killed.
#[test]
fn crash_worker() {
    let Ok(spec) = std::env::var(WORKER) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let (path, dir, checkpoints) = (parts[0], Path::new(parts[1]), PathBuf::from(parts[2]));
    let (store, mut current, _) = open_either(dir);
    let store = store.with_checkpoints(3, Some(sink_to(checkpoints))).unwrap();
    let mut rng = fastrand::Rng::new();
    let run = format!("{:03}", std::process::id() % 1000);
    for k in 0u64.. {
        match path {
            "create" => {
                let inputs = (0..BATCH).map(|i| sample(i as u32).set(Field::ExternalCode, format!("C{run}-{k}-{i}")));
                admin_of(&store).create_many(inputs).unwrap();
            }
            "import" => {
                let records: Vec<LegacyRecord> = (0..IMPORT)
                    .map(|i| {
                        let code = format!("I{run}{:04}{i}", k % 10_000);
                        let mobile = format!("139{:08}", rng.u32(0..100_000_000));
                        LegacyRecord::new(i + 1, [&code, "王五", "星辰科技", "零售", "经理", &mobile, "", "批量导入"])
                    })
                    .collect();
                admin_of(&store).import_khzl(&khzl::write(&records, 0).unwrap()).unwrap();
            }
            "update" => {
                let s = admin_of(&store);
                let page = s.list(&ListQuery::new().limit(100)).unwrap();
                let view = &page.items[rng.usize(0..page.items.len())];
                s.update(view.id, view.version, CustomerPatch::new().set(Field::Notes, format!("更新 {run}-{k}")))
                    .unwrap();
            }
            "erase" => {
                let s = admin_of(&store);
                let id = s.create(sample(k as u32).set(Field::ExternalCode, format!("E{run}-{k}"))).unwrap().id;
                s.erase(id, &format!("dsr-{k}")).unwrap();
            }
            "rotate" => {
                let next = if current == KEY_A { KEY_B } else { KEY_A };
                store.rotate_master_key(key_of(&next)).unwrap();
                current = next;
            }
            other => panic!("unknown path {other}"),
        }
    }
}

/// What the checks found after one kill.
#[derive(Default, Debug)]
struct Findings {
    trials: usize,
    integrity: usize,
    keys: usize,
    audit: usize,
    partial_batches: usize,
    undecryptable: usize,
    orphan_keys: usize,
    keyless_customers: usize,
    /// Kills that left a key without its customer (or the reverse) on disk,
    /// repaired when the store was reopened (not an inconsistency).
    repaired_on_open: usize,
}

impl Findings {
    fn inconsistencies(&self) -> usize {
        self.integrity
            + self.keys
            + self.audit
            + self.partial_batches
            + self.undecryptable
            + self.orphan_keys
            + self.keyless_customers
    }
}

fn check(path: &str, dir: &Path, checkpoints: &Path, found: &mut Findings) {
    found.trials += 1;
    for file in ["customers.db", "keys.db"] {
        let conn = rusqlite::Connection::open(dir.join(file)).unwrap();
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        if verdict != "ok" {
            eprintln!("{path}: integrity_check of {file}: {verdict}");
            found.integrity += 1;
        }
    }
    let (orphans, keyless) = unmatched(dir);
    if orphans + keyless > 0 {
        eprintln!("{path}: on disk after the kill: {orphans} orphan keys, {keyless} customers without a key");
        found.repaired_on_open += 1;
    }
    let (store, _, opening_keys) = open_either(dir);
    if opening_keys != 1 {
        eprintln!("{path}: the store opens with {opening_keys} keys");
        found.keys += 1;
    }
    let trusted = last_checkpoint(checkpoints);
    let report = store.verify_audit(trusted.as_ref()).unwrap();
    if let Some(problem) = &report.problem {
        eprintln!("{path}: audit: {problem}");
        found.audit += 1;
    }
    // Every customer decrypts, and every batch is whole.
    let s = admin_of(&store);
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let page = s.list(&ListQuery::new().sort(Field::CreatedAt).offset(offset).limit(1000)).unwrap();
        for item in &page.items {
            match s.get(item.id) {
                Ok(view) => {
                    let code = view.text(&Field::ExternalCode).to_owned();
                    let batch = match path {
                        "create" if code.starts_with('C') => code.rsplit_once('-').map(|(b, _)| b.to_owned()),
                        "import" if code.len() == 10 => Some(code[..8].to_owned()),
                        _ => None,
                    };
                    if let Some(batch) = batch {
                        *groups.entry(batch).or_default() += 1;
                    }
                }
                Err(e) => {
                    eprintln!("{path}: customer {} does not decrypt: {e}", item.id);
                    found.undecryptable += 1;
                }
            }
        }
        if page.items.len() < 1000 {
            break;
        }
        offset += 1000;
    }
    let whole = if path == "create" { BATCH } else { IMPORT };
    for (batch, n) in &groups {
        if *n != whole {
            eprintln!("{path}: batch {batch} has {n} of {whole} customers");
            found.partial_batches += 1;
        }
    }
    drop((s, store));
    // After the reopen, keys and customers match one to one.
    let (orphans, keyless) = unmatched(dir);
    if orphans > 0 || keyless > 0 {
        eprintln!("{path}: after reopening: {orphans} orphan keys, {keyless} customers without a key");
    }
    found.orphan_keys += orphans;
    found.keyless_customers += keyless;
}

/// Data keys without a customer, and customers with sealed data but no key
/// (anonymised rows hold neither), read from the files directly.
fn unmatched(dir: &Path) -> (usize, usize) {
    let conn = rusqlite::Connection::open(dir.join("keys.db")).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS data", [dir.join("customers.db").to_str().unwrap()]).unwrap();
    let count = |sql: &str| -> usize { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize };
    (
        count("SELECT count(*) FROM main.data_keys WHERE customer_id NOT IN (SELECT id FROM data.customers)"),
        count(
            "SELECT count(*) FROM data.customers WHERE length(sealed) > 0 \
             AND id NOT IN (SELECT customer_id FROM main.data_keys)",
        ),
    )
}

#[test]
fn killed_at_random_moments_the_store_stays_consistent() {
    let trials: usize = std::env::var("CUSTODIAN_CRASH_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(6);
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(2026);
    let mut report = Vec::new();
    for path in PATHS {
        let store_dir = dir.path().join(path);
        let checkpoints = dir.path().join(format!("{path}.checkpoints"));
        {
            let store = Store::create_at(&store_dir, key_of(&KEY_A), CreateOptions::new()).unwrap();
            provision(&store);
            let s = admin_of(&store);
            let seed: Vec<CustomerInput> =
                (0..50).map(|i| sample(i).set(Field::ExternalCode, format!("S-{i}"))).collect();
            s.create_many(seed).unwrap();
        }
        let mut found = Findings::default();
        for _ in 0..trials {
            let mut child = Command::new(&exe)
                .args(["--exact", "crash_worker", "--nocapture", "--test-threads=1"])
                .env(WORKER, format!("{path}|{}|{}", store_dir.display(), checkpoints.display()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Opening takes a moment; the kill lands somewhere in the work after it.
            std::thread::sleep(Duration::from_millis(rng.u64(100..600)));
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            assert!(!status.success(), "{path}: the worker ended by itself ({status})");
            check(path, &store_dir, &checkpoints, &mut found);
        }
        eprintln!("crash loop {path}: {found:?}");
        report.push((path, found));
    }
    for (path, found) in &report {
        assert_eq!(found.inconsistencies(), 0, "{path}: {found:?}");
    }
}

#[test]
fn the_checkpoint_file_keeps_only_complete_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cps");
    let store = Store::in_memory(key(), CreateOptions::new()).unwrap().with_checkpoints(1, Some(sink_to(file.clone())));
    let store = store.unwrap();
    provision(&store);
    let last = last_checkpoint(&file).unwrap();
    assert_eq!(last.size, SETUP_ENTRIES);
    // A checkpoint cut short by a kill is ignored.
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    f.write_all(b"custodian audit checkpoint v1\nstore ab").unwrap();
    assert_eq!(last_checkpoint(&file).unwrap().size, SETUP_ENTRIES);
}

/// The two states a crash between the files' commits can leave, made by
/// hand, are repaired (and audited) when the store is next opened.
#[test]
fn an_interrupted_commit_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (created, deleted, kept) = {
        let store = Store::create_at(&path, key_of(&KEY_A), CreateOptions::new()).unwrap();
        provision(&store);
        let s = admin_of(&store);
        let ids: Vec<_> = (0..3).map(|i| s.create(sample(i)).unwrap().id).collect();
        (ids[0], ids[1], ids[2])
    };
    // A create whose data half did not commit: its key is there, its row is not.
    let data = rusqlite::Connection::open(path.join("customers.db")).unwrap();
    data.execute("DELETE FROM customers WHERE id = ?1", [created.0]).unwrap();
    // A deletion whose key-store half committed: the row is there, its key is not.
    let keys = rusqlite::Connection::open(path.join("keys.db")).unwrap();
    keys.execute("DELETE FROM data_keys WHERE customer_id = ?1", [deleted.0]).unwrap();
    drop((data, keys));
    assert_eq!(unmatched(&path), (1, 1));

    let store = Store::open_at(&path, key_of(&KEY_A)).unwrap();
    assert_eq!(unmatched(&path), (0, 0));
    let counts = store.counts().unwrap();
    assert_eq!((counts.customers, counts.data_keys), (1, 1));
    assert_eq!(admin_of(&store).get(kept).unwrap().id, kept);
    let auditor = store.session("auditor", Purpose::Compliance).unwrap();
    let entries = auditor.audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    let repair = entries.iter().find(|e| e.action == "store.recover").expect("the repair is audited");
    assert_eq!(repair.customers, vec![deleted]);
    assert!(repair.reason.as_deref().unwrap().contains("removed 1 data keys"), "{repair:?}");
    assert!(store.verify_audit(None).unwrap().is_intact());
    drop((auditor, store));
    // A store in order is opened without any entry.
    let before = entries.len();
    let store = Store::open_at(&path, key_of(&KEY_A)).unwrap();
    let auditor = store.session("auditor", Purpose::Compliance).unwrap();
    let after = auditor.audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    assert_eq!(after.len(), before + 2, "the auditor's session and its query, nothing else");
}
