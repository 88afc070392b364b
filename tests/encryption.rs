//! Encryption at rest: canary values never reach the files, ciphertexts are
//! bound to their customer and field, and keys behave as documented.

mod common;

use std::path::Path;

use common::*;
use custodian::storage::{DATA_FILE, KEYS_FILE};
use custodian::{
    Catalogue, CreateOptions, CustomAttribute, CustomerInput, CustomerPatch, Error, Field, KeySource, Level, Store,
};

/// Every byte of every file in `dir` (database, WAL, shared memory, key store).
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

fn canary_input(i: u32) -> (CustomerInput, Vec<String>) {
    let idn = id_number("110105", "19851224", 100 + i);
    let values = vec![
        format!("Canaryname{}", ["alpha", "beta", "gamma"][i as usize]),
        format!("金丝雀{}", ["甲", "乙", "丙"][i as usize]),
        format!("1390077{i:04}"),
        format!("canary.mail{i}@example.org"),
        format!("CANARY-NOTE-{i}-紫色长颈鹿"),
        format!("金丝雀路{i}号CANARY-ADDR"),
        idn.clone(),
        format!("CANARY-LOYALTY-{i}"),
        format!("CanaryOrg{i}"),
    ];
    let input = CustomerInput::individual()
        .set(Field::Name, values[0].clone())
        .set(Field::Title, values[1].clone())
        .set(Field::Mobile, values[2].clone())
        .set(Field::Email, values[3].clone())
        .set(Field::Notes, values[4].clone())
        .set(Field::Address, values[5].clone())
        .set(Field::IdNumber, values[6].clone())
        .set(Field::BirthDate, "1985-12-24")
        .set(Field::Custom("loyalty".into()), values[7].clone())
        .set(Field::Organisation, values[8].clone())
        .set(Field::Category, "CANARYCATEGORY");
    (input, values)
}

#[test]
fn canary_values_never_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let catalogue =
        Catalogue::default().with_custom("loyalty", CustomAttribute { level: Level::L1, max_chars: 64 }).unwrap();
    let store = Store::create_at(&path, key(), CreateOptions::new().catalogue(catalogue)).unwrap();
    provision(&store);
    let s = admin(&store);
    let mut canaries = vec!["1985-12-24".to_owned(), "19851224".to_owned()];
    for i in 0..3 {
        let (input, values) = canary_input(i);
        let c = s.create(input).unwrap();
        canaries.extend(values);
        // Exercise updates and reads too, so every write path is covered.
        s.update(c.id, 1, CustomerPatch::new().set(Field::Tags, format!("CANARYTAG{i}"))).unwrap();
        canaries.push(format!("CANARYTAG{i}"));
        s.get(c.id).unwrap();
        s.find_by_mobile(&format!("1390077{i:04}")).unwrap();
    }
    // The search keyword and every looked-up value are canaries too: the
    // audit log (in the same database file) must keep only keyed hashes.
    s.search(&custodian::SearchQuery::new("紫色").limit(5)).unwrap();
    canaries.push("紫色".to_owned());
    s.find_by_email("canary.mail1@example.org").unwrap();
    s.find_by_id_number(&id_number("110105", "19851224", 102)).unwrap();
    let audited: i64 = rusqlite::Connection::open(path.join(DATA_FILE))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM audit_entries WHERE action IN ('customer.lookup', 'customer.search')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 6, "the lookups and the search were audited (and so examined below)");

    let check = |when: &str| {
        let files = all_bytes(&path);
        assert!(files.iter().any(|(n, _)| n == DATA_FILE) && files.iter().any(|(n, _)| n == KEYS_FILE));
        // The grep works: a plaintext classification value is found.
        assert!(files.iter().any(|(_, b)| contains(b, b"CANARYCATEGORY")), "{when}: sanity check");
        for (file, bytes) in &files {
            for canary in &canaries {
                assert!(!contains(bytes, canary.as_bytes()), "{when}: '{canary}' found in plaintext in {file}");
            }
        }
    };
    check("while open (WAL)");
    let wal = path.join(format!("{DATA_FILE}-wal"));
    assert!(wal.exists() && std::fs::metadata(&wal).unwrap().len() > 0, "the WAL was examined");
    drop(s);
    drop(store);
    check("after close");
}

#[test]
fn a_ciphertext_moved_to_another_row_or_column_fails_to_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let a = admin(&store).create(sample(1)).unwrap().id;
    let b = admin(&store).create(sample(2)).unwrap().id;
    let conn = rusqlite::Connection::open(path.join(DATA_FILE)).unwrap();
    let blob = |id: i64, field: &str| -> Vec<u8> { sealed_fields(&conn, id).remove(field).unwrap() };
    let put = |id: i64, field: &str, value: &[u8]| {
        let mut fields = sealed_fields(&conn, id);
        fields.insert(field.to_owned(), value.to_vec());
        conn.execute("UPDATE customers SET sealed = ?2 WHERE id = ?1", (id, pack(&fields))).unwrap();
    };

    // A's mobile copied into B's row.
    let original_b = blob(b.0, "mobile");
    put(b.0, "mobile", &blob(a.0, "mobile"));
    match admin(&store).get(b) {
        Err(Error::Decrypt { customer, field, detail }) => {
            assert_eq!((customer, field.as_str()), (b, "mobile"));
            assert!(detail.contains("another data key"), "{detail}");
        }
        other => panic!("expected a decrypt error, got {other:?}"),
    }
    put(b.0, "mobile", &original_b);

    // A's mobile copied into A's e-mail column.
    put(a.0, "email", &blob(a.0, "mobile"));
    let err = admin(&store).get(a).unwrap_err();
    assert!(matches!(&err, Error::Decrypt { customer, field, .. } if *customer == a && field == "email"), "{err}");
    assert!(err.to_string().contains("authentication failed"), "{err}");

    // One flipped bit.
    let mut flipped = blob(b.0, "name");
    *flipped.last_mut().unwrap() ^= 1;
    put(b.0, "name", &flipped);
    assert!(matches!(admin(&store).get(b), Err(Error::Decrypt { field, .. }) if field == "name"));
    // Masked views decrypt too, so they fail the same way rather than show garbage.
    assert!(matches!(service(&store).get(b), Err(Error::Decrypt { .. })));
}

#[test]
fn a_wrong_key_or_passphrase_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    drop(Store::create_at(&raw, key(), CreateOptions::new()).unwrap());
    let wrong = Store::open_at(&raw, KeySource::key_bytes(&[8u8; 32]).unwrap()).unwrap_err();
    assert!(matches!(wrong, Error::WrongKey), "{wrong}");
    let kind = Store::open_at(&raw, KeySource::passphrase("a long passphrase").unwrap()).unwrap_err();
    assert!(matches!(kind, Error::Invalid { rule: "key_kind", .. }), "{kind}");
    assert!(matches!(KeySource::key_bytes(&[1u8; 31]), Err(Error::InvalidArgument { rule: "key_length", .. })));
    assert!(matches!(KeySource::passphrase("short"), Err(Error::Invalid { rule: "passphrase_length", .. })));

    let pw = dir.path().join("pw");
    let options = CreateOptions::new().kdf_iterations(100_000);
    let store = Store::create_at(&pw, KeySource::passphrase("Passphrase-CANARY-42").unwrap(), options).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1)).unwrap().id;
    drop(store);
    let err = Store::open_at(&pw, KeySource::passphrase("Passphrase-CANARY-43").unwrap()).unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err}");
    let store = Store::open_at(&pw, KeySource::passphrase("Passphrase-CANARY-42").unwrap()).unwrap();
    assert_eq!(admin(&store).get(id).unwrap().text(&Field::Name), "王五");
    for (file, bytes) in all_bytes(&pw) {
        assert!(!contains(&bytes, b"Passphrase-CANARY-42"), "the passphrase is stored in {file}");
    }
    // The one documented floor: 100,000 iterations, for tests as for production.
    assert_eq!(custodian::crypto::MIN_KDF_ITERATIONS, 100_000);
    for low in [10, 1_000, 99_999] {
        let options = CreateOptions::new().kdf_iterations(low);
        let err = Store::in_memory(KeySource::passphrase("long enough").unwrap(), options.clone()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { rule: "kdf_iterations", .. }), "{low}: {err}");
        // A refused create leaves nothing on disk.
        let refused = dir.path().join(format!("refused-{low}"));
        Store::create_at(&refused, KeySource::passphrase("long enough").unwrap(), options).unwrap_err();
        assert!(!refused.exists(), "a refused create left {}", refused.display());
    }
}

#[test]
fn create_refuses_an_existing_store_and_open_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    assert!(matches!(Store::open_at(&path, key()), Err(Error::NotAStore(_))));
    assert!(!path.exists(), "a failed open leaves nothing behind");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1)).unwrap().id;
    drop(store);
    assert!(matches!(Store::create_at(&path, key(), CreateOptions::new()), Err(Error::AlreadyExists(_))));
    let store = Store::open_at(&path, key()).unwrap();
    assert_eq!(admin(&store).get(id).unwrap().id, id, "the existing store is untouched");
}

#[test]
fn a_key_store_from_another_store_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    drop(Store::create_at(&one, key(), CreateOptions::new()).unwrap());
    drop(Store::create_at(&two, key(), CreateOptions::new()).unwrap());
    std::fs::copy(two.join(KEYS_FILE), one.join(KEYS_FILE)).unwrap();
    let _ = std::fs::remove_file(one.join(format!("{KEYS_FILE}-wal")));
    let _ = std::fs::remove_file(one.join(format!("{KEYS_FILE}-shm")));
    let err = Store::open_at(&one, key()).unwrap_err();
    assert!(matches!(err, Error::KeyStoreMismatch { .. }), "{err}");
}

#[test]
fn the_data_file_alone_decrypts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
    provision(&store);
    let id = admin(&store).create(sample(1)).unwrap().id;
    drop(store);
    std::fs::remove_file(path.join(KEYS_FILE)).unwrap();
    let _ = std::fs::remove_file(path.join(format!("{KEYS_FILE}-wal")));
    assert!(matches!(Store::open_at(&path, key()), Err(Error::NotAStore(_))));
    let _ = id;
}

#[test]
fn a_file_that_is_not_a_store_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join(DATA_FILE), vec![0x42u8; 8192]).unwrap();
    std::fs::write(path.join(KEYS_FILE), vec![0x42u8; 8192]).unwrap();
    let err = Store::open_at(&path, key()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    // The database's own error is kept as the source, not flattened.
    let source = std::error::Error::source(&err).expect("a corruption error keeps its source");
    let sqlite = source.downcast_ref::<rusqlite::Error>().expect("the source is SQLite's error");
    assert_eq!(sqlite.sqlite_error_code(), Some(rusqlite::ErrorCode::NotADatabase));
    assert!(err.with_causes().starts_with(&format!("{err}: ")), "{}", err.with_causes());
}

#[test]
fn a_storage_error_keeps_the_file_system_error_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create_at(dir.path().join("store"), key(), CreateOptions::new()).unwrap();
    // The backup directory's parent is a file: the directory cannot be made.
    std::fs::write(dir.path().join("a-file"), b"x").unwrap();
    let err = store.backup_to(dir.path().join("a-file").join("backup")).unwrap_err();
    let Error::Storage { context, source: Some(source) } = &err else { panic!("{err:?}") };
    assert!(context.contains("cannot create"), "{context}");
    assert!(source.downcast_ref::<std::io::Error>().is_some(), "{source:?}");
    assert!(!err.to_string().contains(&source.to_string()), "the message does not repeat its source");
}

/// The sealed fields of a customer row, unpacked from the documented column
/// format: per field, name length (1 byte), name, value length (4 bytes BE), value.
fn sealed_fields(conn: &rusqlite::Connection, id: i64) -> std::collections::BTreeMap<String, Vec<u8>> {
    let packed: Vec<u8> = conn.query_row("SELECT sealed FROM customers WHERE id = ?1", [id], |r| r.get(0)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    let mut rest = packed.as_slice();
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n);
        let name = String::from_utf8(tail[..n].to_vec()).unwrap();
        let len = u32::from_be_bytes(tail[n..n + 4].try_into().unwrap()) as usize;
        out.insert(name, tail[n + 4..n + 4 + len].to_vec());
        rest = &tail[n + 4 + len..];
    }
    out
}

fn pack(fields: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}
