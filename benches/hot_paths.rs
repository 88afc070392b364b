//! Criterion benches of the hot paths, to find regressions:
//!
//! - `read_by_id`: an audited `Session::get`, the same call on a backend that
//!   discards audit writes (the cost of the audit log), and plain rusqlite
//!   reading the same columns in plaintext by primary key;
//! - `lookup`: an audited exact lookup by mobile number (blind index);
//! - `list`: the first page of 50 sorted by name from the cached order;
//! - `write`: creating a batch of 100 customers, and one update;
//! - `audit`: verifying the whole chain.
//!
//! ```text
//! cargo bench --bench hot_paths
//! ```

use std::hint::black_box;

#[path = "../tests/support/forward.rs"]
mod forward;

use criterion::{Criterion, criterion_group, criterion_main};
use custodian::consent::{Channel, ConsentRecord};
use custodian::model::{CustomerId, RecordKind};
use custodian::storage::{
    AccessDirectory, AuditFilter, AuditHead, AuditRecord, AuditStore, Backend, CustomerData, CustomerRow,
    DirectoryKind, IndexLink, KeyStore, Scan, ScannedCustomer, SqliteBackend, SqliteOptions, StoredCheckpoint,
    Transaction, TxMode, Unmatched, WrappedKey,
};
use custodian::storage::{DueFilter, RecordRow, StatusChange};
use custodian::{
    CreateOptions, CustomerInput, CustomerPatch, Field, KeySource, ListQuery, NewPrincipal, Purpose, Result, Store,
};

const CUSTOMERS: i64 = 10_000;

fn customer(i: i64) -> CustomerInput {
    CustomerInput::individual()
        .set(Field::ExternalCode, format!("KH{i:06}"))
        .set(Field::Name, "王小明")
        .set(Field::Organisation, "星辰科技有限公司")
        .set(Field::Mobile, format!("138{i:08}"))
        .set(Field::Email, format!("c{i}@example.com"))
        .set(Field::Notes, "客户要求每月寄送对账单")
        .set(Field::Tier, "A")
}

/// Forwards everything but throws audit entries away: the same read path
/// with the audit log's storage work removed (the entry is still built and
/// MACed, which is a small part of its cost).
struct DiscardAudit(SqliteBackend);

struct DiscardTx<'a> {
    inner: Box<dyn Transaction + 'a>,
}

impl DiscardTx<'_> {
    fn before(&self) -> Result<()> {
        Ok(())
    }
}

impl Backend for DiscardAudit {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        Ok(Box::new(DiscardTx { inner: self.0.begin(mode)? }))
    }
    fn prepare(&self, create: bool) -> Result<bool> {
        self.0.prepare(create)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

impl CustomerData for DiscardTx<'_> {
    forward_customer_data!();
    fn scan_customers(
        &mut self,
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        self.inner.scan_customers(fields, visit)
    }
}

impl KeyStore for DiscardTx<'_> {
    forward_key_store!();
}

impl AuditStore for DiscardTx<'_> {
    forward_audit_store!();
    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        Ok(None)
    }
    fn append_audit(&mut self, _: &AuditRecord) -> Result<()> {
        Ok(())
    }
    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()> {
        self.inner.scan_audit(filter, visit)
    }
}

impl AccessDirectory for DiscardTx<'_> {
    forward_access_directory!();
}

impl Transaction for DiscardTx<'_> {
    forward_transaction!();
    fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit()
    }
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let key = || KeySource::key_bytes(&[9u8; 32]).unwrap();
    let admin = "bench";
    let path = dir.path().join("store");
    {
        let store = Store::create_at(&path, key(), CreateOptions::new()).unwrap();
        store.bootstrap_administrator(&NewPrincipal::system(admin, "benchmark")).unwrap();
        store.session(admin, Purpose::Service).unwrap().create_many((0..CUSTOMERS).map(customer)).unwrap();
    }
    let audited = Store::open_at(&path, key()).unwrap();
    let discarding = Store::open(DiscardAudit(SqliteBackend::new(&path, SqliteOptions::new())), key()).unwrap();

    let plain = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    plain
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE customers (id INTEGER PRIMARY KEY, code TEXT, name TEXT, organisation TEXT,
                                     mobile TEXT, email TEXT, notes TEXT, tier TEXT);",
        )
        .unwrap();
    let tx = plain.unchecked_transaction().unwrap();
    for i in 1..=CUSTOMERS {
        tx.execute(
            "INSERT INTO customers VALUES (?1, ?2, '王小明', '星辰科技有限公司', ?3, ?4, '客户要求每月寄送对账单', 'A')",
            (i, format!("KH{i:06}"), format!("138{i:08}"), format!("c{i}@example.com")),
        )
        .unwrap();
    }
    tx.commit().unwrap();

    let mut group = c.benchmark_group("read_by_id");
    let mut n = 0i64;
    let mut next = move || {
        n = n % CUSTOMERS + 1;
        n
    };
    let session = audited.session(admin, Purpose::Service).unwrap();
    group.bench_function("custodian_audited", |b| b.iter(|| black_box(session.get(CustomerId(next())).unwrap())));
    let session = discarding.session(admin, Purpose::Service).unwrap();
    group.bench_function("custodian_audit_discarded", |b| {
        b.iter(|| black_box(session.get(CustomerId(next())).unwrap()))
    });
    group.bench_function("plain_rusqlite", |b| {
        let mut stmt = plain.prepare_cached("SELECT * FROM customers WHERE id = ?1").unwrap();
        b.iter(|| {
            let row: (i64, String, String, String, String, String, String, String) = stmt
                .query_row([next()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })
                .unwrap();
            black_box(row)
        })
    });
    group.finish();

    let session = audited.session(admin, Purpose::Service).unwrap();
    let mut group = c.benchmark_group("lookup");
    group.bench_function("by_mobile_audited", |b| {
        b.iter(|| black_box(session.find_by_mobile(&format!("138{:08}", next() - 1)).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("list");
    let query = ListQuery::new().sort(Field::Name).limit(50);
    session.list(&query).unwrap();
    group.bench_function("first_page_by_name_cached", |b| b.iter(|| black_box(session.list(&query).unwrap())));
    group.finish();

    let mut group = c.benchmark_group("write");
    group.sample_size(20);
    let mut fresh = CUSTOMERS;
    group.bench_function("create_batch_of_100", |b| {
        b.iter(|| {
            let inputs: Vec<CustomerInput> = (0..100)
                .map(|_| {
                    fresh += 1;
                    customer(fresh)
                })
                .collect();
            black_box(session.create_many(inputs).unwrap())
        })
    });
    group.bench_function("update_one_field", |b| {
        b.iter(|| {
            let v = session.get(CustomerId(1)).unwrap();
            black_box(session.update(v.id, v.version, CustomerPatch::new().set(Field::Title, "经理")).unwrap())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.bench_function("verify_chain", |b| {
        b.iter(|| {
            let verified = audited.verify_audit(None).unwrap();
            assert!(verified.is_intact(), "the benchmark's own log verifies");
            black_box(verified.entries)
        })
    });
    group.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);
