//! Fault injection: a storage wrapper fails the Nth storage operation, for
//! every N, and the store must be exactly as it was after each failed call.

mod common;
#[path = "support/forward.rs"]
mod forward;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use common::*;
use custodian::consent::{Channel, ConsentRecord};
use custodian::model::{CustomerId, RecordKind};
use custodian::storage::{
    AccessDirectory, AuditFilter, AuditHead, AuditRecord, AuditStore, Backend, CustomerData, CustomerRow,
    DirectoryKind, IndexLink, KeyStore, MemoryBackend, Scan, ScannedCustomer, SqliteBackend, SqliteOptions,
    StoredCheckpoint, Transaction, TxMode, Unmatched, WrappedKey,
};
use custodian::storage::{DueFilter, RecordRow, StatusChange};
use custodian::{CreateOptions, CustomerPatch, Error, Field, Result, Store};

/// Fails the operation whose number reaches the countdown (-1 disarms it),
/// and every audit append while `audit_fails` is set.
struct Failing {
    inner: Arc<dyn Backend>,
    countdown: Arc<AtomicI64>,
    audit_fails: Arc<AtomicBool>,
}

struct FailingTx<'a> {
    inner: Box<dyn Transaction + 'a>,
    countdown: Arc<AtomicI64>,
    audit_fails: Arc<AtomicBool>,
}

fn tick(countdown: &AtomicI64) -> Result<()> {
    if countdown.load(Ordering::SeqCst) < 0 {
        return Ok(());
    }
    if countdown.fetch_sub(1, Ordering::SeqCst) == 0 {
        return Err(Error::storage("injected fault"));
    }
    Ok(())
}

impl Backend for Failing {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        tick(&self.countdown)?;
        Ok(Box::new(FailingTx {
            inner: self.inner.begin(mode)?,
            countdown: self.countdown.clone(),
            audit_fails: self.audit_fails.clone(),
        }))
    }
    fn prepare(&self, create: bool) -> Result<bool> {
        self.inner.prepare(create)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl FailingTx<'_> {
    fn before(&self) -> Result<()> {
        tick(&self.countdown)
    }
}

impl CustomerData for FailingTx<'_> {
    forward_customer_data!();

    fn scan_customers(
        &mut self,
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        tick(&self.countdown)?;
        let countdown = self.countdown.clone();
        // Every visited row counts as an operation too, so a scan can fail half-way.
        self.inner.scan_customers(fields, &mut |c| {
            tick(&countdown)?;
            visit(c)
        })
    }
}

impl KeyStore for FailingTx<'_> {
    forward_key_store!();
}

impl AuditStore for FailingTx<'_> {
    forward_audit_store!();

    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        self.before()?;
        self.inner.audit_head()
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<()> {
        tick(&self.countdown)?;
        if self.audit_fails.load(Ordering::SeqCst) {
            return Err(Error::storage("injected audit failure"));
        }
        self.inner.append_audit(record)
    }

    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()> {
        tick(&self.countdown)?;
        self.inner.scan_audit(filter, visit)
    }
}

impl AccessDirectory for FailingTx<'_> {
    forward_access_directory!();
}

impl Transaction for FailingTx<'_> {
    forward_transaction!();

    fn commit(self: Box<Self>) -> Result<()> {
        tick(&self.countdown)?;
        self.inner.commit()
    }
}

/// Everything the backend holds (customers with their keys, counts, and the
/// access directory), as comparable data.
type Snapshot = (
    Vec<(CustomerRow, Option<WrappedKey>, Vec<ConsentRecord>)>,
    u64,
    u64,
    Vec<(String, Vec<u8>)>,
    Vec<(RecordRow, Vec<StatusChange>)>,
);

fn snapshot(backend: &dyn Backend) -> Snapshot {
    let mut tx = backend.begin(TxMode::Read).unwrap();
    let mut ids = Vec::new();
    tx.scan_customers(&[], &mut |c| {
        ids.push(c.header.id);
        Ok(Scan::Continue)
    })
    .unwrap();
    let mut records = Vec::new();
    for id in &ids {
        for record in tx.records_of(*id, None, u32::MAX).unwrap() {
            let history = tx.status_history(record.id).unwrap();
            records.push((record, history));
        }
    }
    let rows = ids
        .into_iter()
        .map(|id| (tx.get_customer(id).unwrap().unwrap(), tx.get_data_key(id).unwrap(), tx.consents_of(id).unwrap()))
        .collect();
    let mut directory = Vec::new();
    for kind in [
        DirectoryKind::Principal,
        DirectoryKind::Role,
        DirectoryKind::Credential,
        DirectoryKind::Hold,
        DirectoryKind::Restriction,
        DirectoryKind::RetentionPolicy,
        DirectoryKind::Merge,
    ] {
        directory
            .extend(tx.directory_list(kind).unwrap().into_iter().map(|(k, v)| (format!("{}:{k}", kind.name()), v)));
    }
    directory.extend(tx.erasure_ledger().unwrap().into_iter().map(|h| ("erasure_ledger".to_owned(), h)));
    (rows, tx.count_customers().unwrap(), tx.count_data_keys().unwrap(), directory, records)
}

/// Runs `op` with the Nth operation failing, for N = 0, 1, ... until it
/// succeeds; after every failure the store must be unchanged.
fn every_fault(inner: Arc<dyn Backend>, label: &str, op: impl Fn(&Store) -> Result<()>) -> usize {
    let countdown = Arc::new(AtomicI64::new(-1));
    let failing = Failing { inner: inner.clone(), countdown: countdown.clone(), audit_fails: Default::default() };
    let store = Store::open(failing, key()).unwrap();
    let mut n = 0;
    loop {
        let before = snapshot(inner.as_ref());
        countdown.store(n, Ordering::SeqCst);
        let result = op(&store);
        countdown.store(-1, Ordering::SeqCst);
        match result {
            Err(e) => {
                assert!(
                    matches!(&e, Error::Storage { context: m, .. } if m == "injected fault"),
                    "{label}: fault {n} surfaced as {e:?}"
                );
                assert_eq!(snapshot(inner.as_ref()), before, "{label}: fault {n} changed the store");
                n += 1;
            }
            Ok(()) => return n as usize,
        }
    }
}

/// The password `seeded` gives the clerk.
const PASSWORD: &str = "clerk password 2026";

/// An administrator session whose opening may itself hit an injected fault.
fn open_admin(store: &Store) -> Result<custodian::Session> {
    store.session("admin", custodian::Purpose::Service)
}

fn seeded(inner: &Arc<dyn Backend>) {
    let store = Store::create(SharedBackend(inner.clone()), key(), CreateOptions::new())
        .unwrap()
        .with_login_policy(custodian::LoginPolicy::new().password_iterations(100_000))
        .unwrap();
    provision(&store);
    let s = admin(&store);
    s.set_password("clerk", PASSWORD).unwrap();
    for i in 0..5 {
        s.create(sample(i)).unwrap();
    }
}

/// Lets a test keep a handle on the backend the store uses.
struct SharedBackend(Arc<dyn Backend>);

impl Backend for SharedBackend {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        self.0.begin(mode)
    }
    fn prepare(&self, create: bool) -> Result<bool> {
        self.0.prepare(create)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

fn backends() -> Vec<(&'static str, Arc<dyn Backend>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Backend> = Arc::new(SqliteBackend::new(dir.path().join("s"), SqliteOptions::new()));
    vec![("memory", Arc::new(MemoryBackend::new()), None), ("sqlite", sqlite, Some(dir))]
}

#[test]
fn every_failed_call_leaves_the_store_unchanged() {
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        let create_points = every_fault(inner.clone(), &format!("{name} create"), |store| {
            open_admin(store)?.create(sample(100)).map(drop)
        });
        assert!(create_points >= 5, "{name}: create has {create_points} storage operations");

        let update_points = every_fault(inner.clone(), &format!("{name} update"), |store| {
            let s = open_admin(store)?;
            let v = s.get(CustomerId(1))?;
            s.update(v.id, v.version, CustomerPatch::new().set(Field::Mobile, "13711112222").clear(Field::Notes))
                .map(drop)
        });
        assert!(update_points >= 4, "{name}");

        every_fault(inner.clone(), &format!("{name} delete"), |store| open_admin(store)?.delete(CustomerId(2)));
        // Reads change nothing either way, but must fail cleanly.
        every_fault(inner.clone(), &format!("{name} list"), |store| {
            open_admin(store)?.list(&custodian::ListQuery::new()).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} lookup"), |store| {
            open_admin(store)?.find_by_mobile("13711112222").map(drop)
        });
        // Management and login write the access directory and the log together.
        every_fault(inner.clone(), &format!("{name} grant"), |store| {
            open_admin(store)?.grant_role("nobody", custodian::Role::Marketing, None).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} revoke role"), |store| {
            open_admin(store)?.revoke_role("nobody", &custodian::Role::Marketing).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} failed login"), |store| {
            match store.login("clerk", "not the password", None, custodian::Purpose::Service) {
                Err(Error::Denied { .. }) => Ok(()),
                other => other.map(drop),
            }
        });
        every_fault(inner.clone(), &format!("{name} login"), |store| {
            store.login("clerk", PASSWORD, None, custodian::Purpose::Service).map(drop)
        });
        // An erasure deletes the row and the key and writes the ledger together, or nothing.
        every_fault(inner.clone(), &format!("{name} erase"), |store| {
            store
                .authenticated_session("admin", custodian::Purpose::Compliance, custodian::AuthContext::with_mfa(0))?
                .erase(CustomerId(3), "dsr-1")
        });
        let final_state = snapshot(inner.as_ref());
        assert_eq!(final_state.1, 4, "{name}: 5 seeded + 1 created - 1 deleted - 1 erased");
        assert_eq!(final_state.1, final_state.2, "{name}: one data key per customer");
    }
}

/// A CSV import is one transaction: every fault leaves the store as it was.
#[test]
fn a_csv_import_leaves_the_store_unchanged_on_every_fault() {
    let file = "编号,姓名,手机\r\nCSV1,王五,13812345678\r\nCSV2,李四,bad\r\nKH00001,张三,13912345678\r\n";
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        let points = every_fault(inner.clone(), &format!("{name} csv import"), |store| {
            open_admin(store)?
                .import_csv(
                    file.as_bytes(),
                    &custodian::import::CsvReadOptions::new(),
                    &custodian::ImportOptions::new(),
                    None,
                )
                .map(drop)
        });
        assert!(points >= 6, "{name}: {points}");
    }
}

/// The calls on attached records: every fault leaves the store (records
/// and histories included) as it was, and so does every refused input.
#[test]
fn record_calls_leave_the_store_unchanged_on_every_fault() {
    use custodian::{
        DueQuery, PaymentMethod, RecordId, RecordPatch, ServiceChannel, ServiceInput, ServiceKind, ServiceStatus,
        TimelineQuery, TransactionInput, TransactionStatus,
    };
    let order = || {
        TransactionInput::new("SO-1", "CNY", 1_000, PaymentMethod::BankCard).item("茶", 2, 500).card("4111111111111111")
    };
    let complaint = || ServiceInput::new(ServiceKind::Complaint, ServiceChannel::Web, "投诉", "描述").owner("clerk");
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        {
            let store = Store::open(SharedBackend(inner.clone()), key()).unwrap();
            let s = admin(&store);
            s.add_transaction(CustomerId(1), &order().status(TransactionStatus::Pending)).unwrap();
            s.open_service_record(CustomerId(1), &complaint()).unwrap();
            s.add_transaction(CustomerId(4), &order()).unwrap();
        }
        let points = every_fault(inner.clone(), &format!("{name} add transaction"), |store| {
            open_admin(store)?.add_transaction(CustomerId(2), &order()).map(drop)
        });
        assert!(points >= 5, "{name}: {points}");
        every_fault(inner.clone(), &format!("{name} open service record"), |store| {
            open_admin(store)?.open_service_record(CustomerId(2), &complaint()).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} transaction status"), |store| {
            open_admin(store)?.set_transaction_status(RecordId(1), 1, TransactionStatus::Paid).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} transition"), |store| {
            open_admin(store)?
                .transition_service_record(RecordId(2), 1, ServiceStatus::Resolved, Some("已处理"))
                .map(drop)
        });
        every_fault(inner.clone(), &format!("{name} update record"), |store| {
            let patch = RecordPatch::new().set(custodian::Field::ServiceDescription, "更正");
            open_admin(store)?.update_record(RecordId(2), 2, &patch).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} assign"), |store| {
            open_admin(store)?.assign_service_record(RecordId(2), 3, "admin").map(drop)
        });
        every_fault(inner.clone(), &format!("{name} delete record"), |store| {
            open_admin(store)?.delete_record(RecordId(3))
        });
        every_fault(inner.clone(), &format!("{name} timeline"), |store| {
            open_admin(store)?.timeline(CustomerId(1), &TimelineQuery::new(10)).map(drop)
        });
        every_fault(inner.clone(), &format!("{name} due"), |store| {
            open_admin(store)?.service_due(&DueQuery::due_within(1000, 10)).map(drop)
        });
        // An erasure takes the customer's records with it, or nothing.
        every_fault(inner.clone(), &format!("{name} erase with records"), |store| {
            store
                .authenticated_session("admin", custodian::Purpose::Compliance, custodian::AuthContext::with_mfa(0))?
                .erase(CustomerId(2), "dsr-2")
        });
        let store = Store::open(SharedBackend(inner.clone()), key()).unwrap();
        let s = admin(&store);
        let before = snapshot(inner.as_ref());
        let refused: Vec<Result<()>> = vec![
            s.add_transaction(CustomerId(1), &order().item("x", -1, 1)).map(drop),
            s.add_transaction(CustomerId(1), &order().adjustment("fee", 1)).map(drop),
            s.add_transaction(CustomerId(1), &order().card("4111111111111112")).map(drop),
            s.open_service_record(CustomerId(1), &complaint().owner("ghost")).map(drop),
            s.open_service_record(CustomerId(1), &complaint().due_at(0)).map(drop),
            s.set_transaction_status(RecordId(1), 2, TransactionStatus::Pending).map(drop),
            s.transition_service_record(RecordId(2), 4, ServiceStatus::Open, None).map(drop),
            s.transition_service_record(RecordId(2), 1, ServiceStatus::Closed, None).map(drop),
            service(&store).delete_record(RecordId(1)),
        ];
        for (i, r) in refused.into_iter().enumerate() {
            assert!(r.is_err(), "{name}: attempt {i} should fail");
        }
        assert_eq!(snapshot(inner.as_ref()), before, "{name}");
        assert_eq!(before.4.len(), 2, "{name}: customer 1's two (customer 4's was deleted, customer 2's erased)");
    }
}

/// A merge moves values, records, consents and holds and destroys a
/// customer in one transaction: every fault leaves all of it as it was.
#[test]
fn a_merge_leaves_the_store_unchanged_on_every_fault() {
    use custodian::{MergeOptions, PaymentMethod, TransactionInput};
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        {
            let store = Store::open(SharedBackend(inner.clone()), key()).unwrap();
            let s = admin(&store);
            let order = TransactionInput::new("SO-1", "CNY", 1_000, PaymentMethod::Cash).item("茶", 2, 500);
            s.add_transaction(CustomerId(2), &order).unwrap();
            consent_to_sms(&store, CustomerId(2));
            withdraw_sms(&store, CustomerId(1));
            consent_to_sms(&store, CustomerId(1));
            withdraw_sms(&store, CustomerId(2));
            s.place_hold(CustomerId(2), "case-1").unwrap();
        }
        let points = every_fault(inner.clone(), &format!("{name} merge"), |store| {
            let s = open_admin(store)?;
            let (keep, gone) = (s.get(CustomerId(1))?, s.get(CustomerId(2))?);
            let options =
                MergeOptions::new("ticket-1").take(Field::Mobile, custodian::MergeSide::Merged).carrying_holds();
            s.merge(keep.id, keep.version, gone.id, gone.version, &options).map(drop)
        });
        assert!(points >= 10, "{name}: {points}");
        let state = snapshot(inner.as_ref());
        assert_eq!(state.1, 4, "{name}: the duplicate is gone once");
        assert!(state.3.iter().any(|(k, _)| k == "merge:2"), "{name}");
        assert!(state.3.iter().any(|(k, _)| k == "hold:1"), "{name}: the hold moved");
    }
}

#[test]
fn failed_validation_and_conflicts_change_nothing() {
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        let store = Store::open(SharedBackend(inner.clone()), key()).unwrap();
        let s = admin(&store);
        let before = snapshot(inner.as_ref());
        let attempts: Vec<Result<()>> = vec![
            s.create(sample(50).set(Field::Email, "not-an-email")).map(drop),
            s.create(sample(51).set(Field::ExternalCode, "KH00001")).map(drop),
            s.update(CustomerId(1), 1, CustomerPatch::new().set(Field::IdNumber, "110105194912310021")).map(drop),
            s.update(CustomerId(1), 7, CustomerPatch::new().set(Field::Title, "董事")).map(drop),
            s.update(CustomerId(1), 1, CustomerPatch::new().set(Field::Name, "")).map(drop),
            service(&store).delete(CustomerId(1)),
            marketing(&store).create(sample(52)).map(drop),
            s.delete(CustomerId(77)),
        ];
        for (i, r) in attempts.into_iter().enumerate() {
            assert!(r.is_err(), "{name}: attempt {i} should fail");
        }
        assert_eq!(snapshot(inner.as_ref()), before, "{name}");
    }
}

#[test]
fn a_failed_audit_append_fails_the_call_and_returns_no_plaintext() {
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        let audit_fails = Arc::new(AtomicBool::new(false));
        let failing =
            Failing { inner: inner.clone(), countdown: Arc::new(AtomicI64::new(-1)), audit_fails: audit_fails.clone() };
        let store = Store::open(failing, key()).unwrap();
        let s = admin(&store);
        let before = snapshot(inner.as_ref());
        audit_fails.store(true, Ordering::SeqCst);

        let injected =
            |r: Result<()>| matches!(r, Err(Error::Storage { context: m, .. }) if m == "injected audit failure");
        assert!(injected(s.create(sample(90)).map(drop)), "{name}: create");
        assert!(injected(s.create_many(vec![sample(91)]).map(drop)), "{name}: create_many");
        assert!(
            injected(s.update(CustomerId(1), 1, CustomerPatch::new().set(Field::Title, "总监")).map(drop)),
            "{name}"
        );
        assert!(injected(s.delete(CustomerId(2))), "{name}: delete");
        // Reads return an error, not the customer: plaintext only leaves after the entry commits.
        assert!(injected(s.get(CustomerId(1)).map(drop)), "{name}: get");
        assert!(injected(s.find_by_mobile("13900000001").map(drop)), "{name}: lookup");
        assert!(injected(s.list(&custodian::ListQuery::new()).map(drop)), "{name}: list");
        assert!(injected(s.search(&custodian::SearchQuery::new("发票")).map(drop)), "{name}: search");
        // Not even a session can be opened without its audit entry.
        assert!(matches!(store.session("admin", custodian::Purpose::Service), Err(Error::Storage { .. })));
        assert_eq!(snapshot(inner.as_ref()), before, "{name}: nothing changed");

        audit_fails.store(false, Ordering::SeqCst);
        assert_eq!(s.get(CustomerId(1)).unwrap().version, 1, "{name}: works again once the log can be written");
        assert!(store.verify_audit(None).unwrap().is_intact(), "{name}");
    }
}

#[test]
fn a_master_key_rotation_killed_midway_loses_nothing() {
    for (name, inner, _guard) in backends() {
        seeded(&inner);
        let new_key = || custodian::KeySource::key_bytes(&[9u8; 32]).unwrap();
        let mut n = 0;
        loop {
            let countdown = Arc::new(AtomicI64::new(-1));
            let failing =
                Failing { inner: inner.clone(), countdown: countdown.clone(), audit_fails: Default::default() };
            let store = Store::open(failing, key()).unwrap();
            let before = snapshot(inner.as_ref());
            countdown.store(n, Ordering::SeqCst);
            let result = store.rotate_master_key(new_key());
            countdown.store(-1, Ordering::SeqCst);
            drop(store);
            match result {
                Err(e) => {
                    assert!(
                        matches!(&e, Error::Storage { context: m, .. } if m == "injected fault"),
                        "{name}: fault {n}: {e:?}"
                    );
                    assert_eq!(snapshot(inner.as_ref()), before, "{name}: fault {n} changed the store");
                    // Still the old key, and every customer decrypts.
                    let store = Store::open(SharedBackend(inner.clone()), key()).unwrap();
                    for id in 1..=5 {
                        admin(&store).get(CustomerId(id)).unwrap();
                    }
                    n += 1;
                }
                Ok(()) => {
                    assert!(matches!(Store::open(SharedBackend(inner.clone()), key()), Err(Error::WrongKey)), "{name}");
                    let store = Store::open(SharedBackend(inner.clone()), new_key()).unwrap();
                    for id in 1..=5 {
                        admin(&store).get(CustomerId(id)).unwrap();
                    }
                    assert!(n >= 8, "{name}: the rotation has {n} storage operations");
                    break;
                }
            }
        }
    }
}
