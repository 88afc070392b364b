//! Sessions on several threads, and two processes on one store: no lost
//! update, no corrupt file.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use custodian::{CreateOptions, CustomerId, CustomerPatch, Error, Field, Store};

/// Adds 1 to the number kept in the customer's notes, retrying on a version
/// conflict, `times` times.
fn increment(store: &Store, id: CustomerId, times: u32) {
    let s = admin(store);
    for _ in 0..times {
        loop {
            let v = s.get(id).unwrap();
            let n: u64 = v.text(&Field::Notes).parse().unwrap();
            match s.update(id, v.version, CustomerPatch::new().set(Field::Notes, (n + 1).to_string())) {
                Ok(_) => break,
                Err(Error::VersionConflict { .. }) | Err(Error::Busy) => continue,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
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
