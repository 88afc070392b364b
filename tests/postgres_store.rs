//! A whole store on the PostgreSQL backend: created, used by sessions
//! (create, read, versioned update, erasure), reopened, and its audit chain
//! verified. Runs with the `postgres` feature when the test databases' URLs
//! are in `CUSTODIAN_TEST_DATABASE_URL` and `CUSTODIAN_TEST_KEY_STORE_URL`
//! (`.ci/postgres.sh` starts a server and prints them); without them it says
//! so and passes, except under CI, where nothing may be skipped.
#![cfg(feature = "postgres")]

mod common;

use common::postgres::Schema;
use common::*;
use custodian::{
    AuthContext, CreateOptions, CustomerPatch, Error, Field, KeySource, PostgresBackend, PostgresOptions, Purpose,
    Store,
};

fn compliance(store: &Store) -> custodian::Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap()
}

#[test]
fn a_store_on_postgres_creates_reads_updates_erases_and_verifies() {
    let Some(schema) = Schema::fresh("store") else { return };
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let ids: Vec<_> = (1..=3).map(|i| a.create(sample(i)).unwrap().id).collect();

    let first = a.get(ids[0]).unwrap();
    assert_eq!(first.text(&Field::Name), "王五");
    assert_eq!(first.version, 1);
    let found: Vec<_> = a.find_by_mobile("13900000002").unwrap().into_iter().map(|v| v.id).collect();
    assert_eq!(found, vec![ids[1]], "the blind index finds the customer");

    let updated = a.update(ids[0], 1, CustomerPatch::new().set(Field::Notes, "已更新")).unwrap();
    assert_eq!((updated.version, updated.text(&Field::Notes)), (2, "已更新"));
    let stale = a.update(ids[0], 1, CustomerPatch::new().set(Field::Notes, "lost"));
    assert!(
        matches!(stale, Err(Error::VersionConflict { expected: 1, actual: 2, .. })),
        "a stale version changes nothing: {stale:?}"
    );
    assert_eq!(a.get(ids[0]).unwrap().text(&Field::Notes), "已更新");

    let c = compliance(&store);
    c.erase(ids[1], "dsr-1").unwrap();
    assert!(matches!(c.get(ids[1]), Err(Error::CustomerNotFound(_))));
    assert!(c.get(ids[2]).is_ok());

    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.entries > SETUP_ENTRIES, "{report:?}");
    drop((a, c));
    drop(store);

    // Reopened on a new backend (new connections): everything is still there.
    let wrong = Store::open(schema.backend(), KeySource::key_bytes(&[9u8; 32]).unwrap());
    assert!(matches!(wrong, Err(Error::WrongKey)), "{:?}", wrong.err());
    let store = Store::open(schema.backend(), key()).unwrap();
    let a = admin(&store);
    assert_eq!(a.get(ids[0]).unwrap().version, 2);
    assert!(matches!(a.get(ids[1]), Err(Error::CustomerNotFound(_))), "the erasure stands");
    assert!(store.verify_audit(None).unwrap().is_intact());

    // The data database holds no key, the key store no customer.
    let (data_tables, key_tables) = (schema.tables(&schema.data), schema.tables(&schema.keys));
    assert!(data_tables.contains(&"customers".to_owned()) && !data_tables.contains(&"data_keys".to_owned()));
    assert!(key_tables.contains(&"data_keys".to_owned()) && !key_tables.contains(&"customers".to_owned()));
}

/// Every audited call takes the writer's turn (its audit entry extends the
/// chain), so concurrent sessions queue behind it instead of failing.
#[test]
fn concurrent_sessions_on_postgres_all_succeed_and_the_chain_stays_intact() {
    let Some(schema) = Schema::fresh("store") else { return };
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1)).unwrap().id;
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let store = &store;
            scope.spawn(move || {
                let a = admin(store);
                for i in 0..10 {
                    assert_eq!(a.get(id).unwrap().id, id);
                    a.create(sample(100 + t * 10 + i)).unwrap();
                }
            });
        }
    });
    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{report:?}");
}

/// Connection failures and bad options are storage errors that name the
/// database, never the password in the connection string. Needs no server.
#[test]
fn connection_failures_name_the_database_but_not_the_password() {
    let url = "postgresql://custodian:hunter2-secret@127.0.0.1:1/custodian_nowhere?connect_timeout=2";
    let backend = PostgresBackend::new(PostgresOptions::new(url, url)).unwrap();
    let err = Store::open(backend, key()).unwrap_err();
    let text = err.with_causes();
    assert!(matches!(err, Error::Storage { .. }), "{text}");
    assert!(text.contains("customer database") && text.contains("127.0.0.1:1/custodian_nowhere"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{:?}", PostgresOptions::new(url, url)).contains("hunter2"), "options print no password");
    let hostile = PostgresBackend::new(PostgresOptions::new(url, url).schema("x\"; DROP SCHEMA public; --"));
    assert!(matches!(hostile, Err(Error::InvalidArgument { .. })), "{:?}", hostile.err());
}

/// A clock that, once armed, kills the store's server connections the next
/// time the store asks it the time (inside a call's transaction).
struct KillingClock {
    armed: std::sync::atomic::AtomicBool,
    data_url: String,
    application: String,
}

impl custodian::Clock for KillingClock {
    fn now_millis(&self) -> i64 {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let mut client = ::postgres::Client::connect(&self.data_url, ::postgres::NoTls).unwrap();
            let killed: i64 = client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    &[&self.application],
                )
                .unwrap()
                .get(0);
            assert!(killed > 0, "the store had connections to kill");
        }
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }
}

/// `url` with the connection's application name set (to find its server
/// processes in `pg_stat_activity`).
fn named(url: &str, application: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}application_name={application}")
}

/// A connection terminated by the server in the middle of a call: the call
/// fails with a storage error, nothing of it is left, and the next call
/// works on fresh connections.
#[test]
fn a_connection_killed_mid_call_fails_that_call_only() {
    let Some(schema) = Schema::fresh("faults") else { return };
    let application = format!("custodian_{}", schema.name);
    let options = PostgresOptions::new(named(&schema.data, &application), named(&schema.keys, &application));
    let clock = std::sync::Arc::new(KillingClock {
        armed: false.into(),
        data_url: schema.data.clone(),
        application: application.clone(),
    });
    let store = Store::create(schema.backend_with(options), key(), CreateOptions::new())
        .unwrap()
        .with_clock(clock.clone())
        .unwrap();
    provision(&store);
    let a = admin(&store);
    let id = a.create(sample(1)).unwrap().id;
    let before = store.verify_audit(None).unwrap().entries;

    clock.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = a.update(id, 1, CustomerPatch::new().set(Field::Notes, "half done?"));
    let err = killed.expect_err("the call whose connection was killed fails");
    assert!(matches!(err, Error::Storage { .. } | Error::Busy), "a clear storage error: {}", err.with_causes());
    assert!(!clock.armed.load(std::sync::atomic::Ordering::SeqCst), "the kill happened");

    // Nothing half-done; the next calls work.
    let view = a.get(id).unwrap();
    assert_eq!((view.version, view.text(&Field::Notes)), (1, "第1位客户，需要发票"));
    let updated = a.update(id, 1, CustomerPatch::new().set(Field::Notes, "done")).unwrap();
    assert_eq!(updated.version, 2);
    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.entries > before, "{report:?}");
}

/// The installed `pg_dump`, from `PATH` or PostgreSQL's own directory.
fn pg_dump() -> std::path::PathBuf {
    let on_path = std::process::Command::new("pg_dump").arg("--version").output().is_ok_and(|o| o.status.success());
    if on_path {
        return "pg_dump".into();
    }
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().expect("pg_dump is installed with the server (.ci/postgres.sh)")
}

/// A dump of both databases holds no personal value in plaintext.
#[test]
fn a_dump_of_both_databases_holds_no_personal_value() {
    let Some(schema) = Schema::fresh("canary") else { return };
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    // Names take no digits: the canary's number is its own character.
    let name = |i: u32| format!("金丝雀{}", ["甲", "乙", "丙"][i as usize - 1]);
    let canary = |i: u32| {
        sample(i)
            .set(Field::Name, name(i))
            .set(Field::Address, format!("北京市朝阳区雀鸣路{i}号"))
            .set(Field::Notes, format!("canary-note-{i}"))
            .set(Field::Organisation, format!("雀鸣{i}有限公司"))
    };
    let ids: Vec<_> = (1..=3).map(|i| a.create(canary(i)).unwrap().id).collect();
    compliance(&store).erase(ids[2], "dsr-canary").unwrap();
    drop(a);
    drop(store);

    let mut dumps = Vec::new();
    for url in [&schema.data, &schema.keys] {
        let out = std::process::Command::new(pg_dump())
            .args(["--no-owner", "--schema", &schema.name, "--dbname", url])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        dumps.push(out.stdout);
    }
    let (data, keys) = (&dumps[0], &dumps[1]);
    assert!(contains(data, b"COPY"), "the dump holds the tables' rows");
    for i in 1..=3u32 {
        let id_number = id_number("310101", "19900307", i);
        let values = [
            name(i),
            format!("北京市朝阳区雀鸣路{i}号"),
            format!("canary-note-{i}"),
            format!("雀鸣{i}有限公司"),
            format!("139{i:08}"),
            format!("user{i}@example.com"),
            id_number,
        ];
        for value in values {
            for (which, dump) in [("data", data), ("key store", keys)] {
                assert!(!contains(dump, value.as_bytes()), "the {which} dump holds {value}");
            }
        }
    }
}

/// A master-key rotation on PostgreSQL: the old key stops opening the
/// store, the new one opens it and decrypts every customer; a file backup
/// is refused with a storage error that says why, and leaves no file.
#[test]
fn rotation_works_and_a_file_backup_is_refused_on_postgres() {
    let Some(schema) = Schema::fresh("rotation") else { return };
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let ids: Vec<_> = (1..=3).map(|i| a.create(sample(i)).unwrap().id).collect();
    let new_key = || KeySource::key_bytes(&[11u8; 32]).unwrap();
    store.rotate_master_key(new_key()).unwrap();
    for id in &ids {
        assert_eq!(a.get(*id).unwrap().text(&Field::Name), "王五", "sessions go on working");
    }
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    let refused = store.backup_to(&backup).unwrap_err();
    assert!(matches!(refused, Error::Storage { .. }), "{}", refused.with_causes());
    assert!(refused.to_string().contains("cannot make file backups"), "{refused}");
    assert!(!backup.exists(), "a refused backup leaves no file");
    drop(a);
    drop(store);

    assert!(matches!(Store::open(schema.backend(), key()), Err(Error::WrongKey)), "the old key stops working");
    let store = Store::open(schema.backend(), new_key()).unwrap();
    let a = admin(&store);
    for id in &ids {
        assert_eq!(a.get(*id).unwrap().text(&Field::Name), "王五", "every customer decrypts under the new key");
    }
    assert!(store.verify_audit(None).unwrap().is_intact());
}

/// Scans read in pages of 1,000 rows: a log of more than a page verifies,
/// and a listing over more than a page of customers sees every one of
/// them, in order, with its key.
#[test]
fn scans_longer_than_a_page_see_every_row() {
    let Some(schema) = Schema::fresh("pages") else { return };
    let store = Store::create(schema.backend(), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store);
    let ids: Vec<_> =
        (0..5).flat_map(|batch| a.create_many((0..500).map(|i| sample(batch * 500 + i + 1))).unwrap()).collect();
    for id in ids.iter().take(1_100) {
        a.get(*id).unwrap();
    }
    let report = store.verify_audit(None).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.entries > 1_100, "{report:?}");

    let mut seen = Vec::new();
    for page in 0..3u64 {
        // Sorted by name: the order is built from a scan of every customer.
        let query = custodian::ListQuery::new().sort(Field::Name).offset(page * 1_000).limit(1_000);
        let listed = a.list(&query).unwrap();
        assert_eq!(listed.total, 2_500);
        seen.extend(listed.items.iter().map(|v| (v.id, v.text(&Field::Name).to_owned())));
    }
    assert_eq!(seen.len(), 2_500);
    assert!(seen.iter().all(|(_, name)| name == "王五"), "every customer decrypts: its key was found");
    let mut listed_ids: Vec<_> = seen.iter().map(|(id, _)| *id).collect();
    listed_ids.sort();
    let mut created = ids.clone();
    created.sort();
    assert_eq!(listed_ids, created);
}
