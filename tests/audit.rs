//! The audit log: one entry per call, no personal values, a keyed chain
//! whose verification names the first bad entry for every kind of tampering.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use custodian::audit::{AuditQuery, Outcome, ProblemKind};
use custodian::storage::DATA_FILE;
use custodian::{
    Checkpoint, Clock, CreateOptions, CustomerId, Error, Field, ListQuery, ManualClock, Purpose, Role, SearchQuery,
    Store,
};

/// A SQLite store whose checkpoints (every `every` entries) are collected.
fn store_with_sink(path: &Path, every: u64) -> (Store, Arc<Mutex<Vec<Checkpoint>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let store = Store::create_at(path, key(), CreateOptions::new())
        .unwrap()
        .with_checkpoints(every, Some(Arc::new(move |cp: &Checkpoint| sink.lock().unwrap().push(cp.clone()))))
        .unwrap();
    provision(&store);
    (store, seen)
}

/// Makes `n + 2` entries (session.open, a read of customer 1, `n` more
/// reads), plus a create after a failed read the first time.
fn activity(store: &Store, n: usize) {
    let s = admin(store);
    let id = match s.get(CustomerId(1)) {
        Ok(v) => v.id,
        Err(_) => s.create(sample(1)).unwrap().id,
    };
    for _ in 0..n {
        s.get(id).unwrap();
    }
}

/// Entries [`provision`] wrote before a test's own.
const S: u64 = SETUP_ENTRIES;

fn all_entries(store: &Store) -> Vec<custodian::AuditEntry> {
    let auditor = store.session("auditor", Purpose::Compliance).unwrap();
    auditor.audit_entries(&AuditQuery::new().limit(10_000)).unwrap()
}

fn db(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path.join(DATA_FILE)).unwrap()
}

fn problem(store: &Store, trusted: Option<&Checkpoint>) -> (u64, ProblemKind) {
    let report = store.verify_audit(trusted).unwrap();
    let p = report.problem.expect("tampering must be detected");
    eprintln!("{p}");
    (p.seq, p.kind)
}

fn fresh(dir: &tempfile::TempDir, name: &str, entries: usize) -> (PathBuf, Store) {
    let path = dir.path().join(name);
    let (store, _) = store_with_sink(&path, 1000);
    activity(&store, entries);
    (path, store)
}

#[test]
fn an_untouched_log_verifies_on_both_backends() {
    for (name, store, _guard) in stores() {
        activity(&store, 30);
        let report = store.verify_audit(None).unwrap();
        assert!(report.is_intact(), "{name}: {:?}", report.problem);
        assert_eq!(report.entries, S + 33, "{name}: setup, open, failed read, create, 30 reads");
        let cp = store.audit_checkpoint().unwrap();
        assert_eq!(cp.size, S + 33);
        let report = store.verify_audit(Some(&cp)).unwrap();
        assert!(report.is_intact() && report.trusted_checked, "{name}");
    }
}

#[test]
fn every_call_writes_one_entry_without_values() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let created = a.create(sample(1)).unwrap();
        a.create(sample(2)).unwrap();
        service(&store).get(created.id).unwrap();
        a.find_by_mobile("+86 139-0000-0001").unwrap();
        let page = a.list(&ListQuery::new().limit(10)).unwrap();
        assert_eq!(page.items.len(), 2);
        a.search(&SearchQuery::new("发票")).unwrap();
        let auditor_session = store.session("auditor", Purpose::Compliance).unwrap();
        assert!(auditor_session.get(created.id).is_err());
        assert!(a.get(CustomerId(404)).is_err());

        let entries: Vec<_> = all_entries(&store).into_iter().filter(|e| e.seq > S).collect();
        let actions: Vec<(&str, &str, Outcome)> =
            entries.iter().map(|e| (e.principal.as_str(), e.action.as_str(), e.outcome)).collect();
        assert_eq!(
            actions,
            vec![
                ("admin", "session.open", Outcome::Allowed),
                ("admin", "customer.create", Outcome::Allowed),
                ("admin", "customer.create", Outcome::Allowed),
                ("clerk", "session.open", Outcome::Allowed),
                ("clerk", "customer.get", Outcome::Masked),
                ("admin", "customer.lookup", Outcome::Allowed),
                ("admin", "customer.list", Outcome::Allowed),
                ("admin", "customer.search", Outcome::Allowed),
                ("auditor", "session.open", Outcome::Allowed),
                ("auditor", "customer.get", Outcome::Denied),
                ("admin", "customer.get", Outcome::Failed),
                ("auditor", "session.open", Outcome::Allowed),
            ],
            "{name}"
        );
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (S + 1..=S + 12).collect::<Vec<_>>(), "{name}: gapless");
        let masked = &entries[4];
        assert_eq!(masked.rule.as_deref(), Some(custodian::access::rules::SERVICE_L1_MASK), "{name}");
        assert!(masked.fields.contains(&"id_number".to_owned()) && masked.customers == vec![created.id], "{name}");
        let list = &entries[6];
        assert_eq!(list.customers.len(), 2, "{name}: one list entry names every returned customer");
        let denied = &entries[9];
        assert_eq!(denied.rule.as_deref(), Some(custodian::access::rules::AUDITOR_NO_CUSTOMER_DATA), "{name}");
        assert!(denied.reason.as_ref().unwrap().contains("no access to customer data"), "{name}");
        assert_eq!(denied.customers, vec![created.id], "{name}: a denial names its target");
        assert_eq!(entries[10].error_code, Some(Error::CustomerNotFound(CustomerId(404)).code()), "{name}");

        // The lookup kept a keyed hash of the number, findable by value.
        let hash = auditor_session.audit_hash("mobile", "13900000001").unwrap();
        assert_eq!(entries[5].lookup_hash.as_deref(), Some(hash.as_str()), "{name}");
        let by_value =
            auditor_session.audit_entries(&AuditQuery::new().lookup(Field::Mobile, "139 0000 0001")).unwrap();
        assert_eq!(by_value.len(), 1, "{name}");
        assert_eq!(by_value[0].seq, S + 6, "{name}");
        let text = format!("{entries:?}");
        for value in ["13900000001", "王五", "发票", "user1@example.com", "310101"] {
            assert!(!text.contains(value), "{name}: '{value}' leaked into the audit log");
        }
    }
}

#[test]
fn audit_queries_need_an_auditor_and_are_audited() {
    let store = memory_store();
    let clerk = service(&store);
    let err = clerk.audit_entries(&AuditQuery::new()).unwrap_err();
    assert!(matches!(err, Error::Denied { rule: custodian::access::rules::AUDIT_REQUIRES_AUDITOR, .. }), "{err}");
    assert!(clerk.audit_hash("mobile", "13800138000").is_err());
    let entries = all_entries(&store);
    assert!(entries.iter().any(|e| e.action == "audit.query" && e.outcome == Outcome::Denied));
    assert!(entries.iter().any(|e| e.action == "audit.hash" && e.outcome == Outcome::Denied));
}

#[test]
fn who_saw_this_customer_and_the_incident_list() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store = Store::in_memory(key(), CreateOptions::new()).unwrap().with_clock(clock.clone()).unwrap();
    provision(&store);
    let a = admin(&store);
    let one = a.create(sample(1)).unwrap().id;
    let two = a.create(sample(2)).unwrap().id;
    let three = a.create(sample(3)).unwrap().id;
    let rogue_id = principal(&store, "rogue", Role::CustomerService);
    clock.advance(60_000);
    let window_start = clock.now_millis();
    let rogue = store.session(rogue_id, Purpose::Service).unwrap();
    rogue.get(one).unwrap();
    rogue.find_by_mobile("13900000002").unwrap();
    rogue.get(one).unwrap();
    service(&store).get(three).unwrap();
    clock.advance(60_000);
    let window_end = clock.now_millis();
    rogue.get(three).unwrap();

    let auditor = store.session("auditor", Purpose::Compliance).unwrap();
    let report = auditor.customer_access_report(one).unwrap();
    let who: Vec<(&str, &str)> = report.iter().map(|e| (e.principal.as_str(), e.action.as_str())).collect();
    assert_eq!(who, vec![("admin", "customer.create"), ("rogue", "customer.get"), ("rogue", "customer.get")]);

    let touched = auditor.incident_customers(Some("rogue"), window_start, window_end).unwrap();
    let ids: Vec<(CustomerId, u64)> = touched.iter().map(|t| (t.customer, t.accesses)).collect();
    assert_eq!(ids, vec![(one, 2), (two, 1)], "customer three was read by rogue only after the window");
    let anyone = auditor.incident_customers(None, window_start, window_end).unwrap();
    assert_eq!(anyone.iter().map(|t| t.customer).collect::<Vec<_>>(), vec![one, two, three]);
    assert_eq!(anyone[2].principals, vec!["clerk".to_owned()]);

    let by_principal = auditor.audit_entries(&AuditQuery::new().principal("rogue")).unwrap();
    assert_eq!(by_principal.len(), 5, "session.open + 4 calls");
    let window = auditor.audit_entries(&AuditQuery::new().from_time(window_start).to_time(window_end)).unwrap();
    assert!(window.iter().all(|e| e.time >= window_start && e.time < window_end));
    assert_eq!(window.len(), 6, "two session opens and four reads");
    let denials = auditor.audit_entries(&AuditQuery::new().outcome(Outcome::Denied)).unwrap();
    assert!(denials.is_empty());
    assert!(matches!(auditor.incident_customers(None, 5, 5), Err(Error::InvalidArgument { rule: "time_window", .. })));
}

#[test]
fn checkpoints_reach_the_sink_and_verify_outside() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seen) = store_with_sink(&dir.path().join("s"), 10);
    activity(&store, 40); // S + 42 entries
    let checkpoints = seen.lock().unwrap().clone();
    assert_eq!(checkpoints.iter().map(|c| c.size).collect::<Vec<_>>(), vec![10, 20, 30, 40, 50]);
    let public_key = store.audit_public_key().unwrap();
    for cp in &checkpoints {
        let parsed = Checkpoint::parse(&cp.to_text()).unwrap();
        assert_eq!(&parsed, cp);
        parsed.verify_signature(&public_key).unwrap();
    }
    let forged = checkpoints[0].to_text().replace("size 10", "size 11");
    assert!(Checkpoint::parse(&forged).unwrap().verify_signature(&public_key).is_err());
    assert!(matches!(Checkpoint::parse("not a checkpoint"), Err(Error::Invalid { rule: "checkpoint_syntax", .. })));
    let report = store.verify_audit(Some(&checkpoints[4])).unwrap();
    assert!(report.is_intact() && report.trusted_checked);
    assert_eq!(report.checkpoints, 5);
}

#[test]
fn an_edited_entry_is_reported_at_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "edit", 10);
    let conn = db(&path);
    let seq = S + 5;
    let body: Vec<u8> =
        conn.query_row("SELECT body FROM audit_entries WHERE seq = ?1", [seq as i64], |r| r.get(0)).unwrap();
    let edited = String::from_utf8(body).unwrap().replace("customer.get", "customer.gex");
    conn.execute("UPDATE audit_entries SET body = ?1 WHERE seq = ?2", (edited.into_bytes(), seq as i64)).unwrap();
    assert_eq!(problem(&store, None), (seq, ProblemKind::Altered));
}

#[test]
fn an_edited_query_column_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "column", 10);
    db(&path).execute("UPDATE audit_entries SET principal = 'someone-else' WHERE seq = 7", []).unwrap();
    assert_eq!(problem(&store, None), (7, ProblemKind::Altered));
}

#[test]
fn a_deleted_entry_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "delete", 10);
    let conn = db(&path);
    conn.execute("DELETE FROM audit_entries WHERE seq = 6", []).unwrap();
    conn.execute("DELETE FROM audit_customers WHERE seq = 6", []).unwrap();
    assert_eq!(problem(&store, None), (6, ProblemKind::Missing));
}

#[test]
fn reordered_entries_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "reorder", 10);
    let conn = db(&path);
    conn.execute_batch(
        "UPDATE audit_entries SET seq = -1 WHERE seq = 4;
         UPDATE audit_entries SET seq = 4 WHERE seq = 5;
         UPDATE audit_entries SET seq = 5 WHERE seq = -1;",
    )
    .unwrap();
    assert_eq!(problem(&store, None), (4, ProblemKind::Reordered));
}

#[test]
fn a_hidden_access_in_the_customer_index_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "index", 10);
    // The query indexes are brought up to date by audit queries.
    all_entries(&store);
    let conn = db(&path);
    conn.execute("DELETE FROM audit_customers WHERE seq = ?1", [(S + 8) as i64]).unwrap();
    assert_eq!(problem(&store, None), (S + 8, ProblemKind::IndexMismatch));
    conn.execute("INSERT INTO audit_customers (customer_id, seq) VALUES (1, ?1)", [(S + 8) as i64]).unwrap();
    assert!(store.verify_audit(None).unwrap().is_intact(), "restored");
    conn.execute("INSERT INTO audit_customers (customer_id, seq) VALUES (77, ?1)", [(S + 6) as i64]).unwrap();
    assert_eq!(problem(&store, None), (S + 6, ProblemKind::IndexMismatch), "an access that never happened");
    conn.execute("DELETE FROM audit_customers WHERE customer_id = 77", []).unwrap();
    conn.execute("UPDATE audit_principals SET principal = 'nobody' WHERE seq = 3", []).unwrap();
    assert_eq!(problem(&store, None), (3, ProblemKind::IndexMismatch), "an entry hidden from its principal");
}

#[test]
fn a_deleted_tail_is_reported_with_and_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail");
    let (store, seen) = store_with_sink(&path, 10);
    activity(&store, 23); // S + 26 = 39 entries: checkpoints at 10, 20 and 30
    let trusted = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(trusted.size, 30);
    let conn = db(&path);
    let cut = S + 16;
    conn.execute("DELETE FROM audit_entries WHERE seq >= ?1", [cut as i64]).unwrap();
    conn.execute("DELETE FROM audit_customers WHERE seq >= ?1", [cut as i64]).unwrap();
    assert_eq!(problem(&store, Some(&trusted)), (cut, ProblemKind::TailDeleted));
    // A careful attacker also rewrites the head record and the stored
    // checkpoints; only the trusted outside checkpoint still shows it.
    conn.execute("DELETE FROM audit_checkpoints WHERE size >= ?1", [cut as i64]).unwrap();
    let mac: Vec<u8> =
        conn.query_row("SELECT mac FROM audit_entries WHERE seq = ?1", [(cut - 1) as i64], |r| r.get(0)).unwrap();
    conn.execute("UPDATE audit_head SET seq = ?1, mac = ?2", ((cut - 1) as i64, mac)).unwrap();
    assert!(store.verify_audit(None).unwrap().is_intact(), "without an outside checkpoint a clean cut is invisible");
    assert_eq!(problem(&store, Some(&trusted)), (cut, ProblemKind::RolledBack));
}

#[test]
fn a_database_rolled_back_to_an_older_copy_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live");
    let copy = dir.path().join("copy");
    let (store, seen) = store_with_sink(&path, 10);
    activity(&store, 10); // S + 13 = 26 entries
    drop(store);
    copy_store(&path, &copy);
    let store = Store::open_at(&path, key()).unwrap().with_checkpoints(10, Some(sink_into(seen.clone()))).unwrap();
    activity(&store, 20); // +22 entries: 48, checkpoints at 30 and 40
    let trusted = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(trusted.size, 40);
    drop(store);
    copy_store(&copy, &path);
    let store = Store::open_at(&path, key()).unwrap();
    assert!(store.verify_audit(None).unwrap().is_intact(), "the old copy is consistent in itself");
    assert_eq!(problem(&store, Some(&trusted)), (S + 14, ProblemKind::RolledBack));

    // Rolled back and then written on: the history forks at the checkpoint.
    activity(&store, 30);
    assert_eq!(problem(&store, Some(&trusted)), (40, ProblemKind::Forked));
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir, "forged", 5);
    let mut cp = store.audit_checkpoint().unwrap();
    cp.size += 1;
    assert_eq!(problem(&store, Some(&cp)), (cp.size, ProblemKind::BadCheckpoint));
    let other = Store::in_memory(key(), CreateOptions::new()).unwrap();
    provision(&other);
    activity(&other, 5);
    let foreign = other.audit_checkpoint().unwrap();
    assert_eq!(problem(&store, Some(&foreign)).1, ProblemKind::BadCheckpoint);
    db(&path).execute("UPDATE audit_head SET seq = seq + 1", []).unwrap();
    assert_eq!(problem(&store, None).1, ProblemKind::TailDeleted);
}

#[test]
fn concurrent_sessions_keep_the_sequence_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_sink(&dir.path().join("s"), 25);
    admin(&store).create(sample(1)).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| activity(&store, 50));
        }
    });
    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{:?}", report.problem);
    assert_eq!(report.entries, S + 2 + 4 * 52, "setup, open and create, then per thread: open, 51 reads");
}

fn sink_into(seen: Arc<Mutex<Vec<Checkpoint>>>) -> custodian::CheckpointSink {
    Arc::new(move |cp: &Checkpoint| seen.lock().unwrap().push(cp.clone()))
}

/// Copies a closed store directory (database, key store, and any WAL).
fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_failed_batch_names_no_customer_it_rolled_back() {
    let store = memory_store();
    let a = admin(&store);
    let bad = (0..3).map(|i| if i == 2 { sample(i).set(Field::Email, "broken") } else { sample(i) });
    assert!(a.create_many(bad).is_err());
    let created = a.create(sample(7)).unwrap().id;
    let entries = all_entries(&store);
    let failed = entries.iter().find(|e| e.action == "customer.create_many").unwrap();
    assert_eq!(failed.outcome, Outcome::Failed);
    assert!(failed.customers.is_empty(), "the rolled-back ids are reused: {:?}", failed.customers);
    assert_eq!(failed.rule.as_deref(), Some("email_syntax"));
    let auditor = store.session("auditor", Purpose::Compliance).unwrap();
    let about_new = auditor.audit_entries(&AuditQuery::new().customer(created)).unwrap();
    assert!(about_new.iter().all(|e| e.action != "customer.create_many"));
}

/// Verification checks entries in batches on several threads; the first
/// problem must still be the earliest one, whichever batch holds it and
/// whatever lies in later batches, and a clean long log must verify with
/// every checkpoint counted.
#[test]
fn in_a_long_log_the_earliest_of_several_problems_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long");
    let (store, seen) = store_with_sink(&path, 250);
    activity(&store, 3000);
    let report = store.verify_audit(seen.lock().unwrap().last()).unwrap();
    assert!(report.is_intact(), "{:?}", report.problem);
    // session.open, a failed read, a create and 3,001 reads.
    let total = S + 3003;
    assert_eq!(report.entries, total);
    assert_eq!(report.checkpoints, total / 250, "every stored checkpoint is checked");
    assert!(report.trusted_checked);

    let conn = db(&path);
    let body_of = |seq: u64| -> Vec<u8> {
        conn.query_row("SELECT body FROM audit_entries WHERE seq = ?1", [seq as i64], |r| r.get(0)).unwrap()
    };
    let edit = |seq: u64| {
        let body = String::from_utf8(body_of(seq)).unwrap();
        assert!(body.contains("customer.get"), "entry {seq} is a read");
        let edited = body.replace("customer.get", "customer.gex");
        conn.execute("UPDATE audit_entries SET body = ?1 WHERE seq = ?2", (edited.into_bytes(), seq as i64)).unwrap();
    };
    // Problems far apart, made latest first: each new one is the one reported.
    conn.execute("DELETE FROM audit_entries WHERE seq = 2900", []).unwrap();
    conn.execute("DELETE FROM audit_customers WHERE seq = 2900", []).unwrap();
    assert_eq!(problem(&store, None), (2900, ProblemKind::Missing));
    edit(2100);
    assert_eq!(problem(&store, None), (2100, ProblemKind::Altered));
    // An entry at the first of a batch, then at the last of one (batches
    // hold 512 entries; neither position may be skipped).
    edit(1025);
    assert_eq!(problem(&store, None), (1025, ProblemKind::Altered));
    edit(1024);
    assert_eq!(problem(&store, None), (1024, ProblemKind::Altered));
    let report = store.verify_audit(None).unwrap();
    assert_eq!(report.entries, 1023, "entries before the first problem passed");
    assert_eq!(report.checkpoints, 1023 / 250);
    edit(S + 5);
    assert_eq!(problem(&store, None), (S + 5, ProblemKind::Altered));
}
