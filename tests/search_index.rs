//! The encrypted keyword index: its answers are exactly those of a full
//! decrypt-and-scan for every role, writes keep it true, a changed
//! tokenisation rebuilds it, and its tokens are neither plaintext nor a plain
//! hash of it, and leave the files with an erased customer.

mod common;

use common::*;
use custodian::storage::DATA_FILE;
use custodian::{
    AuthContext, Catalogue, CreateOptions, CustomerId, CustomerInput, CustomerPatch, Field, Purpose, SearchQuery,
    Session, Store,
};
use proptest::prelude::*;
use ring::digest;

/// Pieces of generated text: CJK, Latin, digits, full-width forms, punctuation.
const PIECES: [&str; 22] = [
    "王",
    "李",
    "芳",
    "北京",
    "朝阳区",
    "发票",
    "客户",
    "有限公司",
    "VIP",
    "vip",
    "Zhang",
    "invoice",
    "Invoice-2",
    "12",
    "138",
    "ＡＢＣ",
    "ｖｉｐ",
    "１２",
    " ",
    "，",
    "-",
    "·",
];

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES.to_vec()), 1..7).prop_map(|p| p.concat())
}

fn keyword() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(PIECES.to_vec()), 1..3).prop_map(|p| p.concat()),
        // A slice of a piece: a fragment of a word or a single character.
        (proptest::sample::select(PIECES.to_vec()), 0usize..4, 1usize..4).prop_map(|(p, start, len)| p
            .chars()
            .skip(start)
            .take(len)
            .collect::<String>()),
    ]
}

/// Names a person may have (names take no digits or most punctuation).
const NAMES: [&str; 6] = ["王芳", "李北京", "Zhang Wei", "欧阳娜娜", "ＺＨＡＮＧ", "芳芳"];

/// One generated customer: name, organisation, notes.
fn person() -> impl Strategy<Value = (String, String, String)> {
    (proptest::sample::select(NAMES.to_vec()).prop_map(str::to_owned), text(), text())
}

fn input(i: usize, (name, organisation, notes): &(String, String, String)) -> CustomerInput {
    let mut c =
        CustomerInput::individual().set(Field::Email, format!("p{i}@example.com")).set(Field::Name, name.clone());
    for (field, value) in [(Field::Organisation, organisation), (Field::Notes, notes)] {
        if !value.trim().is_empty() {
            c = c.set(field, value.clone());
        }
    }
    c
}

/// A provisioned store with the catalogue's index on or off.
fn store(index: bool, bits: u8, dir: Option<&std::path::Path>) -> Store {
    let catalogue = Catalogue::default().with_search_index(index).with_search_token_bits(bits).unwrap();
    let options = CreateOptions::new().catalogue(catalogue);
    let store = match dir {
        Some(dir) => Store::create_at(dir, key(), options).unwrap(),
        None => Store::in_memory(key(), options).unwrap(),
    };
    provision(&store);
    store
}

/// Every session kind a search runs under.
fn sessions(store: &Store) -> Vec<(&'static str, Session)> {
    vec![
        ("admin", admin(store)),
        ("admin without MFA", store.session("admin", Purpose::Service).unwrap()),
        ("clerk", service(store)),
        ("marketer", marketing(store)),
        ("technician", store.session("technician", Purpose::Maintenance).unwrap()),
        ("auditor", auditor(store)),
    ]
}

/// The ids and total a search gives, or the error's code.
fn answer(session: &Session, keyword: &str) -> Result<(Vec<CustomerId>, u64), u32> {
    session
        .search(&SearchQuery::new(keyword).limit(1000))
        .map(|page| (page.items.iter().map(|v| v.id).collect(), page.total))
        .map_err(|e| e.code())
}

/// The same customers, changes and erasures in two stores.
fn populate(stores: &[&Store], people: &[(String, String, String)], edits: &[(usize, String)]) {
    for store in stores {
        let a = admin(store);
        let ids: Vec<CustomerId> = people.iter().enumerate().map(|(i, p)| a.create(input(i, p)).unwrap().id).collect();
        for (n, (which, notes)) in edits.iter().enumerate() {
            let id = ids[which % ids.len()];
            let Ok(current) = a.get(id) else { continue };
            match n % 4 {
                3 => {
                    let c =
                        store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
                    c.erase(id, "dsr-1").unwrap();
                }
                2 => a.update(id, current.version, CustomerPatch::new().clear(Field::Notes)).map(|_| ()).unwrap(),
                _ => a
                    .update(id, current.version, CustomerPatch::new().set(Field::Notes, notes.clone()))
                    .map(|_| ())
                    .unwrap(),
            }
        }
        // Some customers consent to SMS marketing, so the marketer sees some.
        for id in ids.iter().step_by(2) {
            if a.get(*id).is_ok() {
                consent_to_sms(store, *id);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn index_search_answers_exactly_as_a_scan_for_every_role(
        people in proptest::collection::vec(person(), 1..25),
        edits in proptest::collection::vec((0usize..25, text()), 0..8),
        keywords in proptest::collection::vec(keyword(), 1..10),
        bits in proptest::sample::select(vec![16u8, 20, 48]),
    ) {
        let (indexed, scanned) = (store(true, bits, None), store(false, bits, None));
        populate(&[&indexed, &scanned], &people, &edits);
        for ((role, i), (_, s)) in sessions(&indexed).into_iter().zip(sessions(&scanned)) {
            for k in &keywords {
                prop_assert_eq!(answer(&i, k), answer(&s, k), "{} searching {:?}", role, k);
            }
        }
    }
}

#[test]
fn the_index_answers_without_a_scan_and_stays_true_through_writes() {
    for (name, store, _dir) in stores() {
        let a = admin(&store);
        let first = a.create(sample(1).set(Field::Notes, "需要增值税发票")).unwrap();
        let second = a.create(sample(2).set(Field::Notes, "普通咨询")).unwrap();
        let find = |k: &str| answer(&a, k).unwrap().0;
        assert_eq!(find("发票"), [first.id], "{name}");
        // An update moves the customer in and out of the answer.
        let v = a.update(second.id, second.version, CustomerPatch::new().set(Field::Notes, "电子发票")).unwrap();
        assert_eq!(find("发票"), [first.id, second.id], "{name}");
        a.update(second.id, v.version, CustomerPatch::new().clear(Field::Notes)).unwrap();
        assert_eq!(find("发票"), [first.id], "{name}");
        // Single characters are answered by a scan, with the same result.
        assert_eq!(find("票"), [first.id], "{name}");
        // Erasure takes the customer's tokens with it.
        let c = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
        c.erase(first.id, "dsr-7").unwrap();
        assert!(find("发票").is_empty(), "{name}");
    }
}

/// Tokens of the SQLite file, with the customer holding them.
fn postings(dir: &std::path::Path) -> Vec<(u64, i64)> {
    let conn = rusqlite::Connection::open(dir.join(DATA_FILE)).unwrap();
    let mut stmt = conn.prepare("SELECT token, customer_id FROM search_postings").unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn tokens_are_keyed_and_leave_the_files_with_an_erased_customer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    // 48 bits: a chance equality with a plain hash would be a 2^-48 event.
    let store = store(true, 48, Some(&path));
    let a = admin(&store);
    let keep = a.create(sample(1)).unwrap().id;
    let gone = a.create(sample(2).set(Field::Name, "欧阳娜娜").set(Field::Notes, "独一无二的备注Zyxwv")).unwrap().id;
    let tokens = postings(&path);
    let grams = ["欧阳", "阳娜", "娜娜", "独一", "zyx", "yxw", "xwv", "发票", "王五"];
    let low48 = |t: u64| t & ((1 << 48) - 1);
    for gram in grams {
        let sha = digest::digest(&digest::SHA256, gram.as_bytes());
        let hashed = u64::from_be_bytes(sha.as_ref()[..8].try_into().unwrap()) >> 16;
        let mut raw = [0u8; 8];
        let bytes = gram.as_bytes();
        raw[8 - bytes.len().min(6)..].copy_from_slice(&bytes[..bytes.len().min(6)]);
        let plain = u64::from_be_bytes(raw);
        for (token, _) in &tokens {
            assert_ne!(low48(*token), hashed, "{gram}: a token is the plain SHA-256");
            assert_ne!(low48(*token), low48(plain), "{gram}: a token is the plaintext");
        }
    }
    // The customer's own tokens: those no one else holds.
    let of = |id: CustomerId| -> Vec<u64> { tokens.iter().filter(|(_, c)| *c == id.0).map(|(t, _)| *t).collect() };
    let theirs: Vec<u64> = of(gone).into_iter().filter(|t| !of(keep).contains(t)).collect();
    assert!(theirs.len() >= 8, "{theirs:?}");
    let c = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(0)).unwrap();
    c.erase(gone, "dsr-9").unwrap();
    drop((a, c));
    let after = postings(&path);
    assert!(after.iter().all(|(_, c)| *c != gone.0), "no posting of the erased customer");
    assert!(after.iter().any(|(_, c)| *c == keep.0));
    drop(store);
    for entry in std::fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        for token in &theirs {
            // In the per-customer blob a token is its 8 big-endian bytes.
            assert!(
                !contains(&bytes, &token.to_be_bytes()),
                "{}: a token of the erased customer",
                entry.path().display()
            );
        }
    }
}

#[test]
fn a_store_rebuilds_an_index_another_tokenisation_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = store(true, 20, Some(&path));
    let a = admin(&store);
    let id = a.create(sample(1).set(Field::Notes, "需要发票")).unwrap().id;
    drop(a);
    drop(store);
    // As if an older version had built the index: the signature differs, the postings are gone.
    {
        let conn = rusqlite::Connection::open(path.join(DATA_FILE)).unwrap();
        conn.execute_batch(
            "UPDATE meta SET value = CAST('{\"version\":0}' AS BLOB) WHERE name = 'search_index';
             DELETE FROM search_postings; DELETE FROM search_tokens;",
        )
        .unwrap();
    }
    let store = Store::open_at(&path, key()).unwrap();
    assert_eq!(answer(&admin(&store), "发票").unwrap().0, [id]);
    assert!(!postings(&path).is_empty(), "rebuilt on open");
    let log = auditor(&store).audit_entries(&custodian::AuditQuery::new().limit(1000)).unwrap();
    let rebuilt = log.iter().find(|e| e.action == "store.rebuild_search_index").expect("the rebuild is audited");
    assert!(rebuilt.reason.as_deref().unwrap_or("").contains("1 customers"), "{rebuilt:?}");
    assert_eq!(store.rebuild_search_index().unwrap(), 1);
}

#[test]
fn grams_that_share_a_token_are_told_apart() {
    // 16-bit tokens and thousands of distinct bigrams: many tokens are
    // given by two grams, and a one-gram keyword must not count the other's
    // holders (the register marks such tokens, and their holders are decrypted).
    let dir = tempfile::tempdir().unwrap();
    let indexed = store(true, 16, Some(&dir.path().join("indexed")));
    let scanned = store(false, 16, None);
    let han = |n: u32| char::from_u32(0x4E00 + (n * 7919) % 20000).unwrap();
    let notes: Vec<String> = (0..600u32).map(|i| (0..12).map(|k| han(i * 12 + k)).collect()).collect();
    for s in [&indexed, &scanned] {
        let a = admin(s);
        a.create_many(
            notes.iter().map(|n| CustomerInput::individual().set(Field::Name, "王芳").set(Field::Notes, n.clone())),
        )
        .unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join("indexed").join(DATA_FILE)).unwrap();
    let mixed: i64 = conn.query_row("SELECT count(*) FROM search_grams WHERE mixed = 1", [], |r| r.get(0)).unwrap();
    assert!(mixed > 50, "only {mixed} tokens were given by two grams");
    let (i, s) = (admin(&indexed), admin(&scanned));
    for n in (0..7200u32).step_by(29) {
        let keyword: String = [han(n), han(n + 1)].iter().collect();
        assert_eq!(answer(&i, &keyword), answer(&s, &keyword), "{keyword}");
        // And a pair no one holds: its token may be another gram's.
        let absent: String = [han(n + 1), han(n)].iter().collect();
        assert_eq!(answer(&i, &absent), answer(&s, &absent), "{absent}");
    }
}

#[test]
fn a_batch_larger_than_the_pending_postings_is_indexed_whole() {
    // 3,000 customers of some 40 grams each in one transaction: the pending
    // postings are written in several sorted flushes before the commit.
    let dir = tempfile::tempdir().unwrap();
    let store = store(true, 20, Some(&dir.path().join("store")));
    let a = admin(&store);
    let ids = a.create_many((0..3000).map(sample)).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("store").join(DATA_FILE)).unwrap();
    let postings: i64 = conn.query_row("SELECT count(*) FROM search_postings", [], |r| r.get(0)).unwrap();
    assert!(postings > 65_536, "{postings} postings: the batch did not exceed the pending limit");
    let (found, total) = answer(&a, "发票").unwrap();
    assert_eq!((found.len(), total), (1000, 3000), "the first page of 1,000 and the total");
    assert_eq!(found, ids[..1000]);
    assert_eq!(answer(&a, "第2999位").unwrap().1, 1);
}
