//! Sessions on several threads, and two processes on one store: no lost
//! update, no corrupt file. The last tests run two processes of four
//! threads each doing a mix of version-checked updates of shared customers,
//! creates, reads and erasures, on SQLite and (feature `postgres`) on
//! PostgreSQL: no update lost, every create and erasure kept, the audit
//! chain gapless and verifying, both files intact (keys and customers
//! matching on PostgreSQL).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use custodian::{AuthContext, CreateOptions, CustomerId, CustomerPatch, Error, Field, Purpose, Store};

/// Retries a call that lost its turn (`Busy`) or its version check, as a
/// caller of the store would; returns what finally happened.
fn patiently<T>(mut call: impl FnMut() -> custodian::Result<T>) -> custodian::Result<T> {
    for _ in 0..200 {
        match call() {
            Err(Error::Busy | Error::VersionConflict { .. }) => std::thread::yield_now(),
            other => return other,
        }
    }
    call()
}

/// Adds 1 to the number kept in the customer's notes, retrying on a version
/// conflict, `times` times.
fn increment(store: &Store, id: CustomerId, times: u32) {
    let s = admin(store);
    for _ in 0..times {
        patiently(|| {
            let v = s.get(id)?;
            let n: u64 = v.text(&Field::Notes).parse().unwrap();
            s.update(id, v.version, CustomerPatch::new().set(Field::Notes, (n + 1).to_string()))
        })
        .unwrap_or_else(|e| panic!("unexpected error: {e}"));
    }
}

fn counter_store(path: &Path) -> (Store, CustomerId) {
    let store = Store::create_at(path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1).set(Field::Notes, "0")).unwrap().id;
    (store, id)
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<custodian::Session>();
}

#[test]
fn threads_share_a_store_without_losing_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = counter_store(&dir.path().join("s"));
    let store = Arc::new(store);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                increment(&store, id, 25);
                // Creating in parallel too: ids stay unique.
                let s = admin(&store);
                (0..10).map(|i| s.create(sample(1000 + t * 10 + i)).unwrap().id).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<CustomerId> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let v = admin(&store).get(id).unwrap();
    assert_eq!(v.text(&Field::Notes), "100");
    assert_eq!(v.version, 101);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert_eq!(store.counts().unwrap().customers, 41);
}

#[test]
fn two_store_handles_on_one_directory_serialise_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let (first, id) = counter_store(&path);
    let second = Store::open_at(&path, key()).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| increment(&first, id, 30));
        scope.spawn(|| increment(&second, id, 30));
    });
    assert_eq!(admin(&first).get(id).unwrap().text(&Field::Notes), "60");
}

/// The child half of `two_processes_never_lose_an_update`: runs only when
/// the parent sets the variables.
#[test]
fn child_process_increments() {
    let (Ok(path), Ok(id)) = (std::env::var("CUSTODIAN_TEST_CHILD_STORE"), std::env::var("CUSTODIAN_TEST_CHILD_ID"))
    else {
        return;
    };
    let store = Store::open_at(&path, key()).unwrap();
    increment(&store, CustomerId(id.parse().unwrap()), 40);
}

#[test]
fn two_processes_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let (store, id) = counter_store(&path);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_process_increments", "--test-threads=1"])
                .env("CUSTODIAN_TEST_CHILD_STORE", &path)
                .env("CUSTODIAN_TEST_CHILD_ID", id.0.to_string())
                // The child's own test summary would read like ours; keep it out.
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    increment(&store, id, 40);
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
    }
    let v = admin(&store).get(id).unwrap();
    assert_eq!(v.text(&Field::Notes), "120", "3 processes x 40 increments");
    assert_eq!(v.version, 121);
    drop(store);
    let conn = rusqlite::Connection::open(path.join(custodian::storage::DATA_FILE)).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// The worker's environment variable: `<where>|<process index>|<report
/// file>`, `<where>` being `sqlite:<store dir>` or `postgres:<schema>`.
const WORKER: &str = "CUSTODIAN_CONCURRENCY_WORKER";
const PROCESSES: usize = 2;
const THREADS: usize = 4;
const OPERATIONS: usize = 40;
const SHARED: u32 = 8;

/// Opens the store a worker spec's `<where>` names.
fn open_where(place: &str) -> Store {
    match place.split_once(':') {
        Some(("sqlite", dir)) => Store::open_at(dir, key()).unwrap(),
        #[cfg(feature = "postgres")]
        Some(("postgres", schema)) => Store::open(common::postgres::Schema::borrowed(schema).backend(), key()).unwrap(),
        _ => panic!("unknown store location {place}"),
    }
}

/// One thread's share of the work; returns the lines of its report.
fn work(store: &Store, process: usize, thread: usize, shared: &[CustomerId]) -> Vec<String> {
    let service = admin(store);
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    let mut rng = fastrand::Rng::with_seed((process * 100 + thread) as u64);
    let mut report = Vec::new();
    for k in 0..OPERATIONS {
        let tag = format!("P{process}T{thread}K{k}");
        match rng.u8(0..4) {
            0 | 1 => {
                let id = shared[rng.usize(0..shared.len())];
                patiently(|| {
                    let view = service.get(id)?;
                    service.update(id, view.version, CustomerPatch::new().set(Field::Notes, format!("更新 {tag}")))
                })
                .unwrap();
                report.push(format!("update {}", id.0));
            }
            2 => {
                let code = format!("C-{tag}");
                patiently(|| service.create(sample(k as u32).set(Field::ExternalCode, code.clone()))).unwrap();
                report.push(format!("create {code}"));
            }
            _ => {
                let code = format!("E-{tag}");
                let id =
                    patiently(|| service.create(sample(k as u32).set(Field::ExternalCode, code.clone()))).unwrap().id;
                service.get(shared[rng.usize(0..shared.len())]).unwrap();
                patiently(|| compliance.erase(id, &format!("dsr-{tag}"))).unwrap();
                report.push(format!("erase {code}"));
            }
        }
    }
    report
}

/// The child: runs its threads, then writes what succeeded to its report.
#[test]
fn concurrency_worker() {
    let Ok(spec) = std::env::var(WORKER) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let (place, process, report) = (parts[0], parts[1].parse().unwrap(), Path::new(parts[2]));
    let store = open_where(place);
    let shared: Vec<CustomerId> =
        (0..SHARED).map(|i| admin(&store).get_by_external_code(&format!("S{i}")).unwrap().id).collect();
    let lines: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn({
                    let (store, shared) = (&store, &shared);
                    move || work(store, process, t, shared)
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut file = std::fs::File::create(report).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

#[test]
fn two_processes_of_four_threads_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    mixed_work_from_two_processes(store, &format!("sqlite:{}", path.display()), dir.path());
    for file in ["customers.db", "keys.db"] {
        let conn = rusqlite::Connection::open(path.join(file)).unwrap();
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(verdict, "ok", "{file}");
    }
}

/// The same work on one store in a PostgreSQL schema: many connections from
/// two processes.
#[cfg(feature = "postgres")]
#[test]
fn two_processes_of_four_threads_lose_no_update_on_postgres() {
    let Some(schema) = common::postgres::Schema::fresh("concurrency") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    mixed_work_from_two_processes(store, &format!("postgres:{}", schema.name), dir.path());
    // Every customer has its key and every key its customer.
    let counts = Store::open(schema.backend(), key()).unwrap().counts().unwrap();
    assert_eq!(counts.customers, counts.data_keys, "{counts:?}");
}

/// Provisions `store` (just created) with the shared customers, runs
/// [`PROCESSES`] worker processes on the store at `place`, and checks what
/// their reports say against what the store holds: no update lost, every
/// create there, every erasure gone, a chain that verifies.
fn mixed_work_from_two_processes(store: Store, place: &str, scratch: &Path) {
    let shared: Vec<CustomerId> = {
        provision(&store);
        let s = admin(&store);
        (0..SHARED).map(|i| s.create(sample(i).set(Field::ExternalCode, format!("S{i}"))).unwrap().id).collect()
    };
    drop(store);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let report = scratch.join(format!("report-{p}"));
            let child = Command::new(&exe)
                .args(["--exact", "concurrency_worker", "--nocapture", "--test-threads", "1"])
                .env(WORKER, format!("{place}|{p}|{}", report.display()))
                // The child's test summary would read like ours; its failures
                // still show on stderr and in its exit status.
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            (child, report)
        })
        .collect();
    // Every child is waited for before any verdict: the store (a schema on
    // PostgreSQL) must outlive them all.
    let finished: Vec<_> = children.into_iter().map(|(mut child, report)| (child.wait().unwrap(), report)).collect();
    let mut lines = Vec::new();
    for (status, report) in finished {
        assert!(status.success(), "a worker process failed");
        lines.extend(std::fs::read_to_string(report).unwrap().lines().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_eq!(lines.len(), PROCESSES * THREADS * OPERATIONS, "every operation reported");

    let store = open_where(place);
    let s = admin(&store);
    let mut updates: BTreeMap<i64, u64> = BTreeMap::new();
    let (mut created, mut erased) = (0, 0);
    for line in &lines {
        let (what, value) = line.split_once(' ').unwrap();
        match what {
            "update" => *updates.entry(value.parse().unwrap()).or_default() += 1,
            "create" => {
                s.get_by_external_code(value).unwrap_or_else(|e| panic!("created {value} is missing: {e}"));
                created += 1;
            }
            "erase" => {
                assert!(
                    matches!(s.get_by_external_code(value), Err(Error::ExternalCodeNotFound(_))),
                    "erased {value} is still there"
                );
                erased += 1;
            }
            other => panic!("unknown report line {other}"),
        }
    }
    assert!(created > 0 && erased > 0 && !updates.is_empty(), "every kind of work ran");
    for id in &shared {
        let view = s.get(*id).unwrap();
        let applied = updates.get(&id.0).copied().unwrap_or(0);
        assert_eq!(view.version, 1 + applied, "customer {id}: {applied} updates succeeded, none may be lost");
    }
    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{:?}", report.problem);
    // Any purge the workers' readers held off is paid now that they are gone.
    store.purge_logs().unwrap();
    assert!(!store.purge_owed());
}
