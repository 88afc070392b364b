//! The kept order of all customers by a field: brought up to date by the
//! change journal under every kind of write (in this process or another),
//! saved sealed across opens, and never trusted when its history is not the
//! store's.

mod common;

use std::path::Path;

use common::*;
use custodian::{
    AuthContext, CustomerId, CustomerInput, CustomerPatch, Field, Filter, ListQuery, Purpose, Session, Store,
};

/// Names with shared surnames and duplicates, so ties are common.
const NAMES: [&str; 9] = ["王五", "王芳", "李雷", "韩梅梅", "张伟", "张伟", "阿强", "Zoe Smith", "欧阳娜娜"];

fn input(i: usize) -> CustomerInput {
    let mut input =
        CustomerInput::individual().set(Field::Name, NAMES[i % NAMES.len()]).set(Field::Mobile, format!("139{i:08}"));
    // Every third customer has no title: those sort after the rest.
    if i % 3 != 0 {
        input = input.set(Field::Title, ["经理", "主任", "工程师", "总监"][i % 4]);
    }
    input
}

/// Every customer's id in the order of an unfiltered listing (which uses the
/// kept order), both directions, in pages.
fn listed(s: &Session, field: &Field, descending: bool) -> Vec<CustomerId> {
    let mut all = Vec::new();
    loop {
        let query = ListQuery::new().sort(field.clone()).descending(descending).offset(all.len() as u64).limit(70);
        let page = s.list(&query).unwrap();
        if page.items.is_empty() {
            assert_eq!(page.total, all.len() as u64);
            return all;
        }
        all.extend(page.items.iter().map(|v| v.id));
    }
}

/// The same listing through the filtered path (a filter every customer
/// passes), which sorts afresh on every call and keeps nothing.
fn sorted_afresh(s: &Session, field: &Field, descending: bool) -> Vec<CustomerId> {
    let query = ListQuery::new().sort(field.clone()).descending(descending).filter(Filter::new().kind("individual"));
    s.list(&query.limit(1000)).unwrap().items.iter().map(|v| v.id).collect()
}

fn assert_in_order(s: &Session, step: &str) {
    for field in [Field::Name, Field::Title, Field::UpdatedAt] {
        for descending in [false, true] {
            assert_eq!(
                listed(s, &field, descending),
                sorted_afresh(s, &field, descending),
                "{step}: by {field}, descending {descending}"
            );
        }
    }
}

fn compliance(store: &Store) -> Session {
    store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap()
}

#[test]
fn a_kept_order_follows_every_kind_of_change() {
    for (name, store, _dir) in stores() {
        let s = admin(&store);
        let ids = s.create_many((0..120).map(input)).unwrap();
        assert_in_order(&s, &format!("{name}: created"));
        let one = s.create(input(500).set(Field::Name, "阿阿")).unwrap();
        assert_in_order(&s, &format!("{name}: one more"));
        // A name moved to the front, one to the back, one to a tie, one unchanged.
        for (id, to) in [(ids[7], "阿爱"), (ids[8], "左左"), (ids[9], "张伟"), (ids[10], NAMES[10 % NAMES.len()])]
        {
            let version = s.get(id).unwrap().version;
            s.update(id, version, CustomerPatch::new().set(Field::Name, to)).unwrap();
            assert_in_order(&s, &format!("{name}: {id:?} renamed {to}"));
        }
        // A title cleared (to the missing end) and one given (back among the rest).
        let version = s.get(ids[1]).unwrap().version;
        s.update(ids[1], version, CustomerPatch::new().clear(Field::Title)).unwrap();
        let version = s.get(ids[3]).unwrap().version;
        s.update(ids[3], version, CustomerPatch::new().set(Field::Title, "董事")).unwrap();
        assert_in_order(&s, &format!("{name}: titles changed"));
        let c = compliance(&store);
        c.erase(ids[20], "dsr-1").unwrap();
        c.erase(one.id, "dsr-2").unwrap();
        assert_in_order(&s, &format!("{name}: erased"));
        // Several changes between two listings, in separate transactions.
        for i in 30..45 {
            let version = s.get(ids[i]).unwrap().version;
            s.update(ids[i], version, CustomerPatch::new().set(Field::Name, NAMES[(i * 7) % NAMES.len()])).unwrap();
        }
        s.create_many((600..610).map(input)).unwrap();
        assert_in_order(&s, &format!("{name}: a batch of changes"));
        // A batch too large for the journal to list: rebuilt, still right.
        s.create_many((1000..2100).map(input)).unwrap();
        let page = s.list(&ListQuery::new().sort(Field::Name).limit(50)).unwrap();
        assert_eq!(page.total, 120 + 1 - 2 + 10 + 1100, "{name}");
        let afresh = s.list(&ListQuery::new().sort(Field::Name).filter(Filter::new().kind("individual")).limit(50));
        let ids_of = |p: custodian::Page| p.items.iter().map(|v| v.id).collect::<Vec<_>>();
        assert_eq!(ids_of(page), ids_of(afresh.unwrap()), "{name}: after a large batch");
    }
}

#[test]
fn another_process_writes_are_applied_to_the_kept_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), custodian::CreateOptions::new()).unwrap();
    provision(&store);
    let s = admin(&store);
    let ids = s.create_many((0..60).map(input)).unwrap();
    assert_in_order(&s, "before");
    // A second handle on the same files stands for another process.
    let other = Store::open_at(&path, key()).unwrap();
    let o = admin(&other);
    let version = o.get(ids[5]).unwrap().version;
    o.update(ids[5], version, CustomerPatch::new().set(Field::Name, "阿阿")).unwrap();
    o.create(input(99).set(Field::Name, "左左")).unwrap();
    compliance(&other).erase(ids[6], "dsr-3").unwrap();
    assert_in_order(&s, "after the other handle wrote");
    let first = s.list(&ListQuery::new().sort(Field::Name).limit(1)).unwrap();
    assert_eq!(first.items[0].id, ids[5]);
}

fn sealed_orders(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("sort-order-"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn the_order_is_saved_sealed_and_a_reopened_store_starts_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::create_at(&path, key(), custodian::CreateOptions::new()).unwrap();
    provision(&store);
    let s = admin(&store);
    let ids = s
        .create_many((0..80).map(|i| {
            let letters: String = [b'a' + (i / 26) as u8, b'a' + (i % 26) as u8].iter().map(|b| *b as char).collect();
            input(i).set(Field::Name, format!("欧阳canary{letters}"))
        }))
        .unwrap();
    assert_in_order(&s, "first listing");
    drop(s);
    drop(store);
    let saved = sealed_orders(&path);
    assert_eq!(saved.len(), 3, "one file per field listed: {:?}", saved.iter().map(|f| &f.0).collect::<Vec<_>>());
    for (file, bytes) in &saved {
        assert!(!contains(bytes, "canary".as_bytes()) && !contains(bytes, "欧阳".as_bytes()), "{file}");
        // Nor the ids in the clear: the order is sealed.
        let first = ids[0].0.to_le_bytes();
        assert!(!contains(bytes, &[&first[..], &ids[1].0.to_le_bytes()[..]].concat()), "{file}");
    }

    // Reopened with nothing changed: the saved order is current, nothing is
    // rebuilt or written again.
    let store = Store::open_at(&path, key()).unwrap();
    assert_in_order(&admin(&store), "reopened");
    drop(store);
    assert_eq!(sealed_orders(&path), saved, "an order read back is not rewritten");

    // Written to while closed to this process (another handle), then
    // reopened: the saved order is brought up to date.
    let other = Store::open_at(&path, key()).unwrap();
    let o = admin(&other);
    let version = o.get(ids[40]).unwrap().version;
    o.update(ids[40], version, CustomerPatch::new().set(Field::Name, "阿阿")).unwrap();
    drop(o);
    drop(other);
    let store = Store::open_at(&path, key()).unwrap();
    let s = admin(&store);
    assert_in_order(&s, "changed while closed");
    assert_eq!(s.list(&ListQuery::new().sort(Field::Name).limit(1)).unwrap().items[0].id, ids[40]);
    drop(s);
    drop(store);

    // A damaged file is ignored (and replaced); the listing stays right.
    for (file, bytes) in sealed_orders(&path) {
        let mut damaged = bytes.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 1;
        std::fs::write(path.join(&file), damaged).unwrap();
    }
    let store = Store::open_at(&path, key()).unwrap();
    assert_in_order(&admin(&store), "damaged files");
    drop(store);
    for (file, bytes) in sealed_orders(&path) {
        let again = Store::open_at(&path, key()).unwrap();
        drop(again);
        assert_eq!(std::fs::read(path.join(&file)).unwrap(), bytes, "{file} was rewritten whole");
    }
}

/// Copies every file of directory `from` into `to`, over any of the same name.
fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_order_from_a_replaced_history_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let old = dir.path().join("old");
    let store = Store::create_at(&path, key(), custodian::CreateOptions::new()).unwrap();
    provision(&store);
    let ids = admin(&store).create_many((0..40).map(input)).unwrap();
    drop(store);
    // The files as they are now, put aside (as an operator's file copy would be).
    std::fs::create_dir(&old).unwrap();
    copy_files(&path, &old);
    // One history: customer 0 renamed to the front, the order kept and saved.
    let store = Store::open_at(&path, key()).unwrap();
    let s = admin(&store);
    let version = s.get(ids[0]).unwrap().version;
    s.update(ids[0], version, CustomerPatch::new().set(Field::Name, "阿阿")).unwrap();
    assert_in_order(&s, "first history");
    drop(s);
    drop(store);
    // The old files back, the saved order left: the same number of changes
    // reaches the same generation by another history.
    copy_files(&old, &path);
    let store = Store::open_at(&path, key()).unwrap();
    let s = admin(&store);
    let version = s.get(ids[1]).unwrap().version;
    s.update(ids[1], version, CustomerPatch::new().set(Field::Name, "左左")).unwrap();
    assert_in_order(&s, "second history");
    let first = s.list(&ListQuery::new().sort(Field::Name).limit(1)).unwrap();
    assert_ne!(first.items[0].id, ids[0], "the order of the other history is not used");
}
