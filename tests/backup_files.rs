//! Sealed backup files and incremental chains: a stolen file reveals
//! nothing, every kind of damage has its own error, increments hold only
//! what changed, and a chain restores the store as it was at its last link,
//! less everything erased since.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use custodian::storage::{DATA_FILE, KEYS_FILE};
use custodian::{
    AuthContext, BackupKind, BackupProblem, CreateOptions, CustomerPatch, Error, Field, KeySource, Purpose,
    RestoreOptions, Role, Store,
};

fn problem(result: custodian::Result<impl std::fmt::Debug>) -> (BackupProblem, String, u32) {
    match result {
        Err(e @ Error::Backup { .. }) => {
            let code = e.code();
            let text = e.to_string();
            let Error::Backup { problem, .. } = e else { unreachable!() };
            (problem, text, code)
        }
        other => panic!("expected a backup error, got {other:?}"),
    }
}

fn new_store(path: &Path) -> Store {
    let store = Store::create_at(path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    store
}

/// A store without the keyword index: its postings spread one customer's
/// change over the index's pages (see
/// `an_increment_carries_the_keyword_index_pages_a_change_touches`).
fn unindexed_store(path: &Path) -> Store {
    let catalogue = custodian::Catalogue::default().with_search_index(false);
    let store = Store::create_at(path, key(), CreateOptions::new().catalogue(catalogue)).unwrap();
    provision(&store);
    store
}

fn compliance(store: &Store) -> custodian::Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap()
}

/// The chunks of a sealed body: (offset, length including the length prefix).
fn chunks(file: &[u8]) -> Vec<(usize, usize)> {
    let manifest_len = u32::from_be_bytes(file[12..16].try_into().unwrap()) as usize;
    let mut at = 16 + manifest_len + 32;
    let mut out = Vec::new();
    while at < file.len() {
        let len = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 4 + len));
        at += 4 + len;
    }
    out
}

#[test]
fn a_sealed_backup_holds_no_plaintext_classification_value_or_principal_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir.path().join("live"));
    principal(&store, "canary-clerk-5521", Role::CustomerService);
    let a = admin(&store);
    for i in 0..30 {
        a.create(sample(i).set(Field::Category, "宝石批发").set(Field::Source, "canary-source-88")).unwrap();
    }
    let backup = dir.path().join("full.cbk");
    let manifest = store.backup_to(&backup).unwrap();
    assert_eq!(manifest.kind, BackupKind::Full);
    assert_eq!(manifest.key_generation, 1);
    let sealed = std::fs::read(&backup).unwrap();
    for needle in ["宝石批发", "canary-source-88", "canary-clerk-5521", "customer.create", "王五", "SQLite format"]
    {
        assert!(!contains(&sealed, needle.as_bytes()), "the sealed backup holds {needle:?} in the clear");
    }
    // The same values are in the store's own files (so the canary can bite).
    let opened = dir.path().join("opened");
    Store::extract_backup(&[&backup], key(), &opened).unwrap();
    let data = std::fs::read(opened.join(DATA_FILE)).unwrap();
    assert!(contains(&data, "canary-clerk-5521".as_bytes()), "the canary is in the plain files");
    // The manifest alone is readable without the key, and says what the backup is.
    let read = Store::backup_manifest(&backup).unwrap();
    assert_eq!(read, manifest);
    assert_eq!(read.parts.iter().map(|p| p.file.as_str()).collect::<Vec<_>>(), [DATA_FILE, KEYS_FILE]);
    assert!(read.parts.iter().all(|p| p.stored_pages == p.pages && p.pages > 0));
}

#[test]
fn truncated_altered_reordered_foreign_and_wrong_key_backups_each_have_their_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir.path().join("live"));
    // Enough customers for a body of several chunks.
    admin(&store).create_many((0..2500).map(sample)).unwrap();
    let backup = dir.path().join("full.cbk");
    store.backup_to(&backup).unwrap();
    let good = std::fs::read(&backup).unwrap();
    let parts = chunks(&good);
    assert!(parts.len() >= 3, "{} chunks", parts.len());
    let check = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        problem(Store::verify_backup(&path, key()))
    };
    let mut codes = std::collections::BTreeSet::new();

    // Truncated: inside the header, inside a chunk, and at a chunk boundary (the final chunk missing).
    for (name, len) in [("cut-header", 40), ("cut-chunk", parts[1].0 + 100), ("cut-boundary", parts[2].0)] {
        let (p, text, code) = check(name, &good[..len]);
        assert!(matches!(p, BackupProblem::Truncated(_)), "{name}: {text}");
        assert!(text.contains(name), "the error names the file: {text}");
        codes.insert(code);
    }
    // Altered: a byte of a chunk, a byte of the manifest, bytes appended.
    let mut flipped = good.clone();
    flipped[parts[1].0 + 500] ^= 0x20;
    let (p, text, code) = check("flipped", &flipped);
    assert!(matches!(&p, BackupProblem::Altered(d) if d.contains("chunk 1")), "{text}");
    codes.insert(code);
    let mut edited = good.clone();
    let at = contains_at(&edited, b"\"taken_at\":").unwrap() + 11;
    edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
    let (p, text, _) = check("edited", &edited);
    assert!(matches!(&p, BackupProblem::Altered(d) if d.contains("manifest")), "{text}");
    let mut longer = good.clone();
    longer.extend_from_slice(b"more");
    let (p, text, _) = check("longer", &longer);
    assert!(matches!(p, BackupProblem::Altered(_)), "{text}");
    // Reordered: two chunks swapped.
    let (a, b) = (parts[0], parts[1]);
    assert_eq!(a.1, b.1, "full chunks have one length");
    let mut swapped = good.clone();
    swapped[a.0..a.0 + a.1].copy_from_slice(&good[b.0..b.0 + b.1]);
    swapped[b.0..b.0 + b.1].copy_from_slice(&good[a.0..a.0 + a.1]);
    let (p, text, _) = check("swapped", &swapped);
    assert!(matches!(&p, BackupProblem::Altered(d) if d.contains("chunk 0")), "{text}");
    // Not a backup at all.
    let (p, text, code) = check("not-a-backup", b"SQLite format 3\0 and so on");
    assert!(matches!(p, BackupProblem::NotABackup(_)), "{text}");
    codes.insert(code);
    // The wrong key: named with the generation it needs.
    let (p, text, code) = problem(Store::verify_backup(&backup, KeySource::key_bytes(&[1u8; 32]).unwrap()));
    assert!(matches!(p, BackupProblem::WrongKey { generation: 1, .. }), "{text}");
    codes.insert(code);
    // Foreign: another store's backup restored into this one, or used as a parent.
    let other = new_store(&dir.path().join("other"));
    let foreign = dir.path().join("foreign.cbk");
    other.backup_to(&foreign).unwrap();
    let (p, text, code) = problem(store.backup_increment(dir.path().join("inc.cbk"), &foreign));
    assert!(matches!(p, BackupProblem::Foreign { .. }), "{text}");
    assert!(!dir.path().join("inc.cbk").exists());
    codes.insert(code);
    drop((store, other));
    let (p, text, _) = problem(Store::restore(&foreign, dir.path().join("live"), key()));
    assert!(matches!(p, BackupProblem::Foreign { .. }), "{text}");
    // A chain problem has its own code too (see the chain test).
    let (p, _, code) = problem(Store::verify_backup_chain(&[&backup, &backup], key()));
    assert!(matches!(p, BackupProblem::Chain(_)));
    codes.insert(code);
    assert_eq!(codes.len(), 6, "truncated, altered, not a backup, wrong key, foreign and chain: {codes:?}");
    // The original still verifies.
    assert_eq!(Store::verify_backup(&backup, key()).unwrap().customers, 2500);
}

fn contains_at(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_chain_restores_the_state_at_its_last_increment_less_later_erasures() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (full, inc1, inc2) = (dir.path().join("full.cbk"), dir.path().join("inc1.cbk"), dir.path().join("inc2.cbk"));
    let (store, _) = checkpointed_store(&live);
    let a = admin(&store);
    let ids = a.create_many((0..300).map(sample)).unwrap();
    consent_to_sms(&store, ids[0]);
    store.backup_to(&full).unwrap();

    // Between the full backup and the increment: decisions and data changes.
    withdraw_sms(&store, ids[0]);
    a.restrict(ids[1], "objection-8").unwrap();
    admin(&store).revoke_principal("technician", "left").unwrap();
    compliance(&store).erase(ids[2], "dsr-30").unwrap();
    let created = a.create(sample(1000)).unwrap().id;
    let view = a.get(ids[3]).unwrap();
    a.update(ids[3], view.version, CustomerPatch::new().set(Field::Notes, "at the increment")).unwrap();
    let manifest = store.backup_increment(&inc1, &full).unwrap();
    assert_eq!(manifest.kind, BackupKind::Increment);
    assert_eq!(manifest.parent.as_ref().unwrap().backup_id, Store::backup_manifest(&full).unwrap().backup_id);
    let full_bytes = std::fs::metadata(&full).unwrap().len();
    let inc_bytes = std::fs::metadata(&inc1).unwrap().len();
    assert!(inc_bytes * 4 < full_bytes, "the increment ({inc_bytes} bytes) holds only what changed ({full_bytes})");

    // After the increment: more changes, one of them an erasure.
    compliance(&store).erase(ids[4], "dsr-31").unwrap();
    let late = a.create(sample(1001)).unwrap().id;
    let view = a.get(ids[3]).unwrap();
    a.update(ids[3], view.version, CustomerPatch::new().set(Field::Notes, "after the increment")).unwrap();
    store.backup_increment(&inc2, &inc1).unwrap();
    let trusted = store.audit_checkpoint().unwrap();
    drop((a, store));

    // Every link verifies, and the chain does.
    let verified = Store::verify_backup_chain(&[&full, &inc1], key()).unwrap();
    assert_eq!((verified.links, verified.customers), (2, 300), "300 - 1 erased + 1 created");
    assert_eq!(Store::verify_backup_chain(&[&full, &inc1, &inc2], key()).unwrap().customers, 300);

    // A broken chain is refused by name: missing, reordered, starting with an increment.
    let (p, text, _) = problem(Store::verify_backup_chain(&[&full, &inc2], key()));
    assert!(matches!(&p, BackupProblem::Chain(d) if d.contains("missing link")), "{text}");
    let (p, text, _) = problem(Store::verify_backup_chain(&[&full, &inc2, &inc1], key()));
    assert!(matches!(&p, BackupProblem::Chain(d) if d.contains("out of order")), "{text}");
    let (p, text, _) = problem(Store::verify_backup_chain(&[&inc1, &inc2], key()));
    assert!(matches!(&p, BackupProblem::Chain(d) if d.contains("begins with a full backup")), "{text}");
    let (p, text, _) = problem(Store::verify_backup_chain(&[&full, &full], key()));
    assert!(matches!(p, BackupProblem::Chain(_)), "{text}");
    // An altered link.
    let mut bytes = std::fs::read(&inc1).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    let altered = dir.path().join("inc1-altered.cbk");
    std::fs::write(&altered, &bytes).unwrap();
    let (p, text, _) = problem(Store::verify_backup_chain(&[&full, &altered], key()));
    assert!(matches!(p, BackupProblem::Altered(_)), "{text}");
    // A link made by another parent of the same id cannot stand in: inc2 over a re-made inc1.

    // Restore full + inc1 into the live store: the state at inc1, less the later erasure.
    let options = RestoreOptions::default().increments([&inc1]);
    let report = Store::restore_with(&full, &live, key(), &options).unwrap();
    assert_eq!(report.removed, vec![late], "created after the increment: removed");
    // The erasure before the increment is not in the chain's state at all;
    // the one after it is kept out by the ledger.
    assert_eq!(report.removed_by_ledger, 1, "the erasure after the increment stands");
    let store = Store::open_at(&live, key()).unwrap();
    let verification = store.verify_audit(Some(&trusted)).unwrap();
    assert!(verification.is_intact() && verification.trusted_checked, "{:?}", verification.problem);
    let a = admin(&store);
    assert_eq!(a.get(ids[3]).unwrap().text(&Field::Notes), "at the increment");
    assert!(a.get(created).is_ok(), "created before the increment: restored");
    for erased in [ids[2], ids[4]] {
        assert!(matches!(a.get(erased), Err(Error::CustomerNotFound(_))), "erased stays erased");
    }
    assert!(matches!(a.get(ids[1]), Err(Error::Denied { .. })), "the restriction stands");
    assert!(matches!(marketing(&store).get(ids[0]), Err(Error::Denied { .. })), "the withdrawal stands");
    assert!(store.session("technician", Purpose::Maintenance).is_err(), "the revocation stands");
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(10_000)).unwrap();
    let reason = log.iter().rev().find(|e| e.action == "store.restore").unwrap().reason.clone().unwrap();
    assert!(reason.contains("with 1 increments"), "{reason}");
    assert!(log.iter().any(|e| e.action == "store.backup_increment"));
    drop((a, store));

    // The full backup alone: the state at it, every decision still in force.
    let report = Store::restore(&full, &live, key()).unwrap();
    assert_eq!(report.removed, vec![created]);
    let store = Store::open_at(&live, key()).unwrap();
    assert_ne!(admin(&store).get(ids[3]).unwrap().text(&Field::Notes), "at the increment");
    assert!(matches!(admin(&store).get(ids[4]), Err(Error::CustomerNotFound(_))));
    assert!(store.verify_audit(Some(&trusted)).unwrap().is_intact());
}

#[test]
fn no_later_backup_or_increment_holds_an_erased_customers_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = new_store(&live);
    let a = admin(&store);
    let ids = a.create_many((0..50).map(sample)).unwrap();
    let erased = ids[17];
    let full = dir.path().join("full.cbk");
    store.backup_to(&full).unwrap();
    let sealed: Vec<u8> = rusqlite::Connection::open(live.join(DATA_FILE))
        .unwrap()
        .query_row("SELECT sealed FROM customers WHERE id = ?1", [erased.0], |r| r.get(0))
        .unwrap();
    compliance(&store).erase(erased, "dsr-40").unwrap();
    let (inc, later) = (dir.path().join("inc.cbk"), dir.path().join("later.cbk"));
    store.backup_increment(&inc, &full).unwrap();
    store.backup_to(&later).unwrap();
    let opened = |chain: &[&PathBuf], name: &str| {
        let out = dir.path().join(name);
        Store::extract_backup(chain, key(), &out).unwrap();
        [DATA_FILE, KEYS_FILE].map(|f| std::fs::read(out.join(f)).unwrap())
    };
    // The canary bites: the full backup from before the erasure holds it.
    assert!(opened(&[&full], "before").iter().any(|bytes| contains(bytes, &sealed)));
    // The increment's pages are part of the chain's last state; neither it
    // nor a later full backup holds any byte of the erased ciphertext.
    for (name, chain) in [("with-inc", vec![&full, &inc]), ("later", vec![&later])] {
        for bytes in opened(&chain, name) {
            assert!(!contains(&bytes, &sealed), "{name} holds the erased customer's ciphertext");
        }
    }
}

#[test]
fn an_increment_carries_the_keyword_index_pages_a_change_touches() {
    // With the keyword index, a customer's changed notes remove its postings
    // from every token's run of the postings tree, and the runs of common
    // grams span the store: 1% of customers changed, evenly spread, touches
    // many of the tree's pages, which the increment then carries (measured:
    // 0.10 of the full backup; without the index it stays under 0.05).
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir.path().join("live"));
    let a = admin(&store);
    let ids = a.create_many((0..5000).map(sample)).unwrap();
    let (full, inc) = (dir.path().join("full.cbk"), dir.path().join("inc.cbk"));
    let full_manifest = store.backup_to(&full).unwrap();
    for id in ids.iter().step_by(100) {
        let view = a.get(*id).unwrap();
        a.update(*id, view.version, CustomerPatch::new().set(Field::Notes, "changed")).unwrap();
    }
    let ratio =
        store.backup_increment(&inc, &full).unwrap().stored_bytes() as f64 / full_manifest.stored_bytes() as f64;
    assert!(ratio <= 0.15, "1% of customers changed with the index: the increment holds {ratio:.3} of the full backup");
}

#[test]
fn an_increment_after_a_1_percent_change_is_small_and_a_chain_spans_a_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = unindexed_store(&live);
    let a = admin(&store);
    let ids = a.create_many((0..5000).map(sample)).unwrap();
    let (full, inc, after) = (dir.path().join("full.cbk"), dir.path().join("inc.cbk"), dir.path().join("after.cbk"));
    let full_manifest = store.backup_to(&full).unwrap();
    for id in ids.iter().step_by(100) {
        let view = a.get(*id).unwrap();
        a.update(*id, view.version, CustomerPatch::new().set(Field::Notes, "changed")).unwrap();
    }
    let inc_manifest = store.backup_increment(&inc, &full).unwrap();
    let ratio = inc_manifest.stored_bytes() as f64 / full_manifest.stored_bytes() as f64;
    assert!(ratio <= 0.05, "1% of customers changed: the increment holds {ratio:.3} of the full backup's pages");
    let file_ratio = std::fs::metadata(&inc).unwrap().len() as f64 / std::fs::metadata(&full).unwrap().len() as f64;
    assert!(file_ratio <= 0.05, "the increment file is {file_ratio:.3} of the full backup file");

    // A rotation (every data key rewrapped), then another increment under the new key.
    let rotated = || KeySource::key_bytes(&[5u8; 32]).unwrap();
    store.rotate_master_key(rotated()).unwrap();
    let view = a.get(ids[7]).unwrap();
    a.update(ids[7], view.version, CustomerPatch::new().set(Field::Notes, "after the rotation")).unwrap();
    let after_manifest = store.backup_increment(&after, &inc).unwrap();
    assert_eq!((full_manifest.key_generation, inc_manifest.key_generation, after_manifest.key_generation), (1, 1, 2));
    drop((a, store));
    // The chain verifies with the key of its last link, and restores under it.
    let chain = [&full, &inc, &after];
    assert_eq!(Store::verify_backup_chain(&chain, rotated()).unwrap().customers, 5000);
    let (p, text, _) = problem(Store::verify_backup_chain(&chain, key()));
    assert!(matches!(p, BackupProblem::WrongKey { generation: 2, .. }), "{text}");
    let options = RestoreOptions::default().increments([&inc, &after]);
    Store::restore_with(&full, &live, rotated(), &options).unwrap();
    let store = Store::open_at(&live, rotated()).unwrap();
    assert_eq!(admin(&store).get(ids[100]).unwrap().text(&Field::Notes), "changed");
    assert_eq!(admin(&store).get(ids[7]).unwrap().text(&Field::Notes), "after the rotation");
}

#[test]
fn a_failed_backup_leaves_no_file_and_no_staged_copy_behind() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = new_store(&live);
    admin(&store).create_many((0..20).map(sample)).unwrap();
    let staged = || {
        std::fs::read_dir(&live)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with('.'))
    };
    // Into a directory that does not exist: refused, nothing left.
    let nowhere = dir.path().join("no-such-dir").join("full.cbk");
    assert!(matches!(store.backup_to(&nowhere), Err(Error::Storage { .. })));
    assert!(!nowhere.exists() && !staged());
    // Over a damaged parent: refused by name, no increment written.
    let full = dir.path().join("full.cbk");
    store.backup_to(&full).unwrap();
    assert!(!staged(), "the staged snapshot is removed after a backup");
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.cbk");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let inc = dir.path().join("inc.cbk");
    let (p, text, _) = problem(store.backup_increment(&inc, &cut));
    assert!(matches!(p, BackupProblem::Truncated(_)), "{text}");
    let mut flipped = bytes.clone();
    let at = chunks(&bytes)[0].0 + 50;
    flipped[at] ^= 1;
    let altered = dir.path().join("altered.cbk");
    std::fs::write(&altered, &flipped).unwrap();
    let (p, text, _) = problem(store.backup_increment(&inc, &altered));
    assert!(matches!(p, BackupProblem::Altered(_)), "{text}");
    assert!(!inc.exists() && !staged());
    // The failures are on record, and the store works on.
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    assert!(log.iter().any(|e| e.action == "store.backup_increment" && e.outcome == custodian::Outcome::Failed));
    store.backup_increment(&inc, &full).unwrap();
    assert_eq!(Store::verify_backup_chain(&[&full, &inc], key()).unwrap().customers, 20);
}
