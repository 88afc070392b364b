//! Attached records: transactions and after-sales service records, under
//! the same policy, encryption, audit and lifecycle rules as the customer.

mod common;

use std::sync::Arc;

use common::*;
use custodian::Clock;
use custodian::access::{Effect, rules};
use custodian::audit::AuditQuery;
use custodian::retention::{DestructionMethod, RetentionPolicy, RetentionRule};
use custodian::storage::{DATA_FILE, KEYS_FILE};
use custodian::{
    Action, AuthContext, CreateOptions, CustomerId, DueQuery, Error, Field, Level, ManualClock, PaymentMethod,
    Priority, Purpose, RecordId, RecordKind, RecordPatch, RestoreOptions, Role, RoleDefinition, RoleRule,
    ServiceChannel, ServiceInput, ServiceKind, ServiceStatus, Session, Store, TimelineQuery, TransactionInput,
    TransactionStatus,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_800_000_000_000;
const CARD: &str = "4111 1111 1111 1111";
const CARD_DIGITS: &str = "4111111111111111";
const ACCOUNT: &str = "6217001234567890123";
const DESCRIPTION: &str = "快递三次没送到，要求退款 canary-description-7f3a";

/// A provisioned store on a manual clock at `T0`, in memory or in `dir`.
fn clocked(dir: Option<&std::path::Path>) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = match dir {
        Some(dir) => Store::create_at(dir.join("store"), key(), CreateOptions::new()).unwrap(),
        None => Store::in_memory(key(), CreateOptions::new()).unwrap(),
    };
    let store = store.with_clock(clock.clone()).unwrap();
    provision(&store);
    (store, clock)
}

fn order(reference: &str) -> TransactionInput {
    TransactionInput::new(reference, "CNY", 29_000, PaymentMethod::BankCard)
        .item("龙井茶 250g", 2, 8_800)
        .item("茶具", 1, 12_000)
        .adjustment("会员折扣", -600)
        .card(CARD)
}

fn complaint() -> ServiceInput {
    ServiceInput::new(ServiceKind::Complaint, ServiceChannel::Phone, "物流投诉", DESCRIPTION).owner("clerk")
}

fn rule_of(e: &Error) -> &'static str {
    match e {
        Error::Invalid { rule, .. } | Error::InvalidArgument { rule, .. } | Error::Denied { rule, .. } => rule,
        other => panic!("no rule: {other:?}"),
    }
}

fn timeline_len(s: &Session, id: CustomerId) -> usize {
    s.timeline(id, &TimelineQuery::new(100)).unwrap().records.len()
}

/// The golden deadline test on a manual clock: opened, due, overdue,
/// resolved, closed, reopened, and a reopening past the policy's window.
#[test]
fn a_complaint_falls_due_in_48_hours_and_follows_its_life() {
    for dir in [None, Some(tempfile::tempdir().unwrap())] {
        let (store, clock) = clocked(dir.as_ref().map(|d| d.path()));
        let s = service(&store);
        let customer = admin(&store).create(sample(1)).unwrap().id;
        let record = s.open_service_record(customer, &complaint()).unwrap();
        assert_eq!(record.kind, RecordKind::Service);
        assert_eq!(record.text(&Field::ServiceDueAt), (T0 + 48 * HOUR).to_string());
        assert_eq!(record.text(&Field::ServiceStatus), "open");
        assert_eq!(record.text(&Field::ServiceDescription), DESCRIPTION);
        assert!(!record.overdue);
        // Due within the next 48 hours, not yet overdue.
        assert_eq!(s.service_due(&DueQuery::due_within(48, 10)).unwrap().len(), 1);
        assert_eq!(s.service_due(&DueQuery::due_within(47, 10)).unwrap().len(), 0);
        assert!(s.service_due(&DueQuery::overdue(10)).unwrap().is_empty());
        clock.set(T0 + 48 * HOUR);
        assert!(s.service_due(&DueQuery::overdue(10)).unwrap().is_empty(), "due at, not past");
        clock.set(T0 + 48 * HOUR + 1);
        let overdue = s.service_due(&DueQuery::overdue(10).owner("clerk")).unwrap();
        assert_eq!(overdue.len(), 1);
        assert!(overdue[0].overdue);
        assert!(s.service_due(&DueQuery::overdue(10).owner("admin")).unwrap().is_empty(), "by owner");
        // Work on it, resolve (a resolution is required), close.
        let r = s.transition_service_record(record.id, record.version, ServiceStatus::InProgress, None).unwrap();
        let e = s.transition_service_record(r.id, r.version, ServiceStatus::Resolved, None).unwrap_err();
        assert_eq!(rule_of(&e), "resolution_required");
        let r = s.transition_service_record(r.id, r.version, ServiceStatus::Resolved, Some("已退款并致歉")).unwrap();
        assert!(!r.overdue);
        assert!(s.service_due(&DueQuery::overdue(10)).unwrap().is_empty(), "a resolved record is not overdue");
        clock.advance(HOUR);
        let closed_at = T0 + 49 * HOUR + 1;
        let r = s.transition_service_record(r.id, r.version, ServiceStatus::Closed, None).unwrap();
        let history: Vec<(Option<&str>, &str, &str)> =
            r.history().iter().map(|c| (c.from.as_deref(), c.to.as_str(), c.by.as_str())).collect();
        assert_eq!(
            history,
            [
                (None, "open", "clerk"),
                (Some("open"), "in_progress", "clerk"),
                (Some("in_progress"), "resolved", "clerk"),
                (Some("resolved"), "closed", "clerk"),
            ]
        );
        assert_eq!(r.history().last().unwrap().at, closed_at);
        // Reopened within 30 days: a fresh due time from the policy.
        clock.set(closed_at + 29 * DAY);
        let reopened = s.transition_service_record(r.id, r.version, ServiceStatus::Reopened, None).unwrap();
        assert_eq!(reopened.text(&Field::ServiceDueAt), (closed_at + 29 * DAY + 48 * HOUR).to_string());
        let r = s.transition_service_record(reopened.id, reopened.version, ServiceStatus::Closed, None).unwrap();
        clock.advance(31 * DAY);
        let e = s.transition_service_record(r.id, r.version, ServiceStatus::Reopened, None).unwrap_err();
        assert_eq!(rule_of(&e), "reopen_expired");
        let e = s.transition_service_record(r.id, r.version, ServiceStatus::InProgress, None).unwrap_err();
        assert_eq!(rule_of(&e), "transition_invalid");
        // An explicit due time overrides the policy; one before the opening is refused.
        let urgent = s.open_service_record(customer, &complaint().priority(Priority::Urgent)).unwrap();
        assert_eq!(urgent.text(&Field::ServiceDueAt), (clock.now_millis() + 8 * HOUR).to_string());
        let e = s.open_service_record(customer, &complaint().due_at(clock.now_millis() - 1)).unwrap_err();
        assert_eq!(rule_of(&e), "due_before_opening");
    }
}

/// Every bad input is refused with its rule, and leaves no record behind.
#[test]
fn bad_records_are_refused_with_the_rule_and_change_nothing() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let customer = a.create(sample(1)).unwrap().id;
        let refused: Vec<(&str, Error)> = vec![
            ("quantity_not_positive", a.add_transaction(customer, &order("A").item("x", -1, 100)).unwrap_err()),
            ("total_mismatch", a.add_transaction(customer, &order("B").adjustment("运费", 1)).unwrap_err()),
            ("currency_unknown", {
                let mut o = order("C");
                o.currency = "RMB".into();
                a.add_transaction(customer, &o).unwrap_err()
            }),
            (
                "amount_overflow",
                a.add_transaction(
                    customer,
                    &TransactionInput::new("D", "CNY", 0, PaymentMethod::Cash).item("x", 4, i64::MAX / 2),
                )
                .unwrap_err(),
            ),
            ("card_luhn", a.add_transaction(customer, &order("E").card("4111 1111 1111 1112")).unwrap_err()),
            ("owner_unknown", a.open_service_record(customer, &complaint().owner("ghost")).unwrap_err()),
            ("due_before_opening", a.open_service_record(customer, &complaint().due_at(0)).unwrap_err()),
            ("time_in_future", a.add_transaction(customer, &order("F").at(i64::MAX / 2)).unwrap_err()),
        ];
        for (rule, e) in &refused {
            assert_eq!(rule_of(e), *rule, "{name}: {e}");
            assert!(!e.to_string().contains("1111 1112") && !e.to_string().contains(CARD_DIGITS), "{e}");
        }
        a.revoke_principal("technician", "left").unwrap();
        let e = a.open_service_record(customer, &complaint().owner("technician")).unwrap_err();
        assert_eq!(rule_of(&e), "owner_revoked", "{name}");
        assert_eq!(timeline_len(&a, customer), 0, "{name}: nothing was stored");
        let e = a.add_transaction(CustomerId(999), &order("G")).unwrap_err();
        assert!(matches!(e, Error::CustomerNotFound(CustomerId(999))), "{name}: {e}");
        let e = a.record(RecordId(12345)).unwrap_err();
        assert!(matches!(e, Error::RecordNotFound(12345)), "{name}: {e}");
        // Transaction statuses move forward only; a stale version is a conflict.
        let t = a.add_transaction(customer, &order("H").status(TransactionStatus::Pending)).unwrap();
        let e = a.set_transaction_status(t.id, t.version, TransactionStatus::Refunded).unwrap_err();
        assert_eq!(rule_of(&e), "transition_invalid", "{name}");
        let paid = a.set_transaction_status(t.id, t.version, TransactionStatus::Paid).unwrap();
        let e = a.set_transaction_status(t.id, t.version, TransactionStatus::Refunded).unwrap_err();
        assert!(matches!(e, Error::RecordVersionConflict { expected: 1, actual: 2, .. }), "{name}: {e}");
        assert_eq!(a.record(t.id).unwrap().version, paid.version);
        // A field of the customer is not a record's, and the reverse.
        let e = a.update_record(t.id, paid.version, &RecordPatch::new().set(Field::ServiceSubject, "x")).unwrap_err();
        assert_eq!(rule_of(&e), "record_field_kind");
        let e = a.create(sample(2).set(Field::OrderReference, "X")).unwrap_err();
        assert_eq!(rule_of(&e), "catalogue.record_field");
    }
}

/// The seeds' access rules: customer service sees orders but never payment
/// details; without a second factor the card is masked; marketing sees no
/// records; analysts see bookkeeping, no contents; auditors nothing.
#[test]
fn the_policy_table_for_record_fields() {
    let store = memory_store();
    let customer = admin(&store).create(sample(1)).unwrap().id;
    consent_to_sms(&store, customer);
    let t = admin(&store).add_transaction(customer, &order("SO-1")).unwrap();
    service(&store).open_service_record(customer, &complaint()).unwrap();

    // Administrator with MFA: everything in plaintext.
    let full = admin(&store).record(t.id).unwrap();
    assert_eq!(full.text(&Field::PaymentDetails), format!("card:{CARD_DIGITS}"));
    assert_eq!(full.text(&Field::OrderTotal), "290.00 CNY");
    assert_eq!(full.total().unwrap().minor(), 29_000);
    assert_eq!(full.level(&Field::PaymentDetails), Some(Level::L1));
    // Administrator without MFA: the card is masked.
    let no_mfa = store.session("admin", Purpose::Service).unwrap().record(t.id).unwrap();
    assert_eq!(no_mfa.text(&Field::PaymentDetails), "**** **** **** 1111");
    assert!(no_mfa.get(&Field::PaymentDetails).unwrap().is_masked());
    // Customer service: the order, never the payment details.
    let clerk = service(&store).record(t.id).unwrap();
    assert!(clerk.text(&Field::OrderItems).contains("龙井茶"));
    assert_eq!(clerk.text(&Field::OrderTotal), "290.00 CNY");
    assert!(clerk.get(&Field::PaymentDetails).is_none());
    assert!(
        clerk
            .withheld()
            .iter()
            .any(|w| w.field == Field::PaymentDetails && w.rule == rules::SERVICE_NO_PAYMENT_DETAILS)
    );
    let e = service(&store).add_transaction(customer, &order("SO-2")).unwrap_err();
    assert_eq!(rule_of(&e), rules::SERVICE_NO_PAYMENT_DETAILS, "customer service cannot record a card");
    let mut cashless = order("SO-3");
    cashless.payment = None;
    service(&store).add_transaction(customer, &cashless).unwrap();
    // Technician: L1 plaintext only with MFA.
    let tech = store.session("technician", Purpose::Maintenance).unwrap().record(t.id).unwrap();
    assert_eq!(tech.text(&Field::PaymentDetails), "**** **** **** 1111");
    let tech = store.authenticated_session("technician", Purpose::Maintenance, AuthContext::with_mfa(0)).unwrap();
    assert_eq!(tech.record(t.id).unwrap().text(&Field::PaymentDetails), format!("card:{CARD_DIGITS}"));
    // Marketing: no records at all.
    let e = marketing(&store).timeline(customer, &TimelineQuery::new(10)).unwrap_err();
    assert_eq!(rule_of(&e), rules::MARKETING_NO_RECORDS);
    let e = marketing(&store).record(t.id).unwrap_err();
    assert_eq!(rule_of(&e), rules::MARKETING_NO_RECORDS);
    // Analysts: bookkeeping (status, time, kind, deadlines), no contents.
    let analyst = store.session("analyst", Purpose::Analytics).unwrap();
    let page = analyst.timeline(customer, &TimelineQuery::new(10)).unwrap();
    assert_eq!(page.records.len(), 3);
    for r in &page.records {
        assert!(r.get(&Field::OrderItems).is_none() && r.get(&Field::ServiceDescription).is_none());
        assert!(r.get(&Field::OrderStatus).is_some() || r.get(&Field::ServiceStatus).is_some());
    }
    assert!(page.records.iter().flat_map(|r| r.withheld()).all(|w| w.rule == rules::ANALYST_CLASSIFICATION_ONLY));
    // Auditors: nothing.
    let e = auditor(&store).record(t.id).unwrap_err();
    assert_eq!(rule_of(&e), rules::AUDITOR_NO_CUSTOMER_DATA);
    // A defined role can name record fields: complaints desk sees service records only.
    admin(&store)
        .define_role(&RoleDefinition::new(
            "complaints_desk",
            "handles complaints",
            [RoleRule::new("desk.service", [Action::Read, Action::Update], [Purpose::Service], [], Effect::Allow)
                .with_fields([Field::ServiceSubject, Field::ServiceStatus, Field::ServiceDueAt, Field::Name])],
        ))
        .unwrap();
    principal(&store, "desk", Role::Custom("complaints_desk".into()));
    let desk = store.session("desk", Purpose::Service).unwrap();
    let e = desk.record(t.id).unwrap_err();
    assert_eq!(rule_of(&e), rules::DEFAULT_DENY, "default deny for transactions");
    let due = desk.service_due(&DueQuery::due_within(100, 10)).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].text(&Field::ServiceSubject), "物流投诉");
    assert!(due[0].get(&Field::ServiceDescription).is_none());
}

/// Every read and change is an audit entry naming customer, record and
/// fields; no value ever reaches the log.
#[test]
fn record_calls_are_audited_without_values() {
    let store = memory_store();
    let a = admin(&store);
    let customer = a.create(sample(1)).unwrap().id;
    let t = a.add_transaction(customer, &order("SO-1")).unwrap();
    let c = service(&store).open_service_record(customer, &complaint()).unwrap();
    a.record(t.id).unwrap();
    service(&store).timeline(customer, &TimelineQuery::new(10)).unwrap();
    let entries = auditor(&store).audit_entries(&AuditQuery::new().customer(customer).limit(100)).unwrap();
    let find = |action: &str| entries.iter().find(|e| e.action == action).unwrap_or_else(|| panic!("{action}"));
    let created = find("transaction.create");
    assert_eq!(created.records, vec![t.id.0]);
    assert!(created.fields.contains(&"transaction.payment_details".to_owned()));
    assert_eq!(find("service.open").records, vec![c.id.0]);
    assert_eq!(find("record.get").records, vec![t.id.0]);
    let timeline = find("customer.timeline");
    assert_eq!(timeline.records, vec![t.id.0, c.id.0]);
    assert!(timeline.reason.as_deref().unwrap_or("").contains("builtin.customer_service.no_payment_details"));
    let log = serde_json::to_string(&entries).unwrap();
    for secret in [CARD_DIGITS, "1111 1111", "龙井茶", "canary-description", "290.00"] {
        assert!(!log.contains(secret), "{secret} reached the audit log");
    }
}

/// Card numbers, accounts and descriptions never reach the database, the
/// WAL, the key store or a backup in plaintext; a ciphertext moved to
/// another record fails; after erasure nothing of the records remains.
#[test]
fn canaries_for_payment_data_and_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = clocked(Some(dir.path()));
    let a = admin(&store);
    let customer = a.create(sample(1)).unwrap().id;
    let other = a.create(sample(2)).unwrap().id;
    let t = a.add_transaction(customer, &order("SO-1")).unwrap();
    let transfer =
        TransactionInput::new("SO-2", "CNY", 100, PaymentMethod::BankTransfer).item("x", 1, 100).bank_account(ACCOUNT);
    let t2 = a.add_transaction(customer, &transfer).unwrap();
    let c = a.open_service_record(customer, &complaint()).unwrap();
    a.add_transaction(other, &order("SO-3")).unwrap();
    let backup = dir.path().join("backup.cbk");
    store.backup_to(&backup).unwrap();
    let store_dir = dir.path().join("store");
    let all_bytes = || -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&store_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.push((backup.display().to_string(), std::fs::read(&backup).unwrap()));
        files
    };
    for (file, bytes) in all_bytes() {
        for canary in [CARD_DIGITS.as_bytes(), ACCOUNT.as_bytes(), "canary-description".as_bytes(), "龙井茶".as_bytes()]
        {
            assert!(!contains(&bytes, canary), "{} found in {file}", String::from_utf8_lossy(canary));
        }
    }
    // A ciphertext moved between records of the same customer fails to open.
    let conn = rusqlite::Connection::open(store_dir.join(DATA_FILE)).unwrap();
    let sealed = |id: RecordId| -> Vec<u8> {
        conn.query_row("SELECT sealed FROM records WHERE id = ?1", [id.0 as i64], |r| r.get(0)).unwrap()
    };
    let (first, second) = (sealed(t.id), sealed(t2.id));
    conn.execute("UPDATE records SET sealed = ?1 WHERE id = ?2", rusqlite::params![first, t2.id.0 as i64]).unwrap();
    let e = a.record(t2.id).unwrap_err();
    assert!(matches!(e, Error::Decrypt { customer: c, .. } if c == customer), "{e}");
    conn.execute("UPDATE records SET sealed = ?1 WHERE id = ?2", rusqlite::params![second, t2.id.0 as i64]).unwrap();
    a.record(t2.id).unwrap();
    // Erasure: every record row and its history go; the ciphertext leaves the files.
    let ciphertexts: Vec<Vec<u8>> = [t.id, t2.id, c.id].into_iter().map(sealed).collect();
    drop(conn);
    store
        .authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(T0))
        .unwrap()
        .erase(customer, "dsr-1")
        .unwrap();
    let conn = rusqlite::Connection::open(store_dir.join(DATA_FILE)).unwrap();
    let left: i64 =
        conn.query_row("SELECT count(*) FROM records WHERE customer_id = ?1", [customer.0], |r| r.get(0)).unwrap();
    let history: i64 = conn
        .query_row(
            "SELECT count(*) FROM record_history WHERE record_id IN (?1, ?2, ?3)",
            [t.id.0 as i64, t2.id.0 as i64, c.id.0 as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((left, history), (0, 0));
    drop(conn);
    for (file, bytes) in all_bytes().into_iter().filter(|(f, _)| !f.ends_with("backup.cbk")) {
        for ciphertext in &ciphertexts {
            assert!(!contains(&bytes, &ciphertext[9..41]), "record ciphertext survives in {file}");
        }
    }
    let keys = std::fs::read(store_dir.join(KEYS_FILE)).unwrap();
    assert!(!keys.is_empty());
    assert_eq!(timeline_len(&a, other), 1, "the other customer keeps its record");
}

/// Export, rectification, restriction, legal holds, retention and
/// anonymisation all reach the attached records.
#[test]
fn the_lifecycle_reaches_attached_records() {
    for dir in [None, Some(tempfile::tempdir().unwrap())] {
        let (store, clock) = clocked(dir.as_ref().map(|d| d.path()));
        let a = admin(&store);
        let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(T0)).unwrap();
        let customer = a.create(sample(1)).unwrap().id;
        let t = a.add_transaction(customer, &order("SO-1")).unwrap();
        let c = service(&store).open_service_record(customer, &complaint()).unwrap();
        // Export: both records with their histories.
        let export = compliance.export_customer(customer).unwrap();
        assert_eq!(export.records.len(), 2);
        let json = serde_json::to_string(&export).unwrap();
        assert!(json.contains("transaction.items") && json.contains("物流投诉") && json.contains("\"to\":\"open\""));
        // Rectify: audited as such, with the request.
        let fixed = compliance
            .rectify_record(c.id, c.version, &RecordPatch::new().set(Field::ServiceSubject, "物流延误投诉"), "dsr-2")
            .unwrap();
        assert_eq!(fixed.text(&Field::ServiceSubject), "物流延误投诉");
        let log = auditor(&store).audit_entries(&AuditQuery::new().customer(customer).limit(100)).unwrap();
        let rectify = log.iter().find(|e| e.action == "record.rectify").unwrap();
        assert_eq!(rectify.target.as_deref(), Some("request:dsr-2"));
        assert_eq!(rectify.changed, vec!["service.subject".to_owned()]);
        // Restriction: records hidden from every purpose but compliance.
        compliance.restrict(customer, "objection-1").unwrap();
        let e = service(&store).record(t.id).unwrap_err();
        assert_eq!(rule_of(&e), rules::SUBJECT_RESTRICTED);
        let e = service(&store).timeline(customer, &TimelineQuery::new(10)).unwrap_err();
        assert_eq!(rule_of(&e), rules::SUBJECT_RESTRICTED);
        assert!(service(&store).service_due(&DueQuery::due_within(100, 10)).unwrap().is_empty());
        assert_eq!(compliance.service_due(&DueQuery::due_within(100, 10)).unwrap().len(), 1);
        compliance.lift_restriction(customer).unwrap();
        // Retention: closed service records after N days, transactions after a period.
        let c = a.record(c.id).unwrap();
        let c = a.transition_service_record(c.id, c.version, ServiceStatus::Closed, Some("已处理")).unwrap();
        for (id, rule) in [
            ("service-3y", RetentionRule::ServiceRecordsClosedFor { days: 3 * 365 }),
            ("orders-5y", RetentionRule::TransactionsOlderThan { days: 5 * 365 }),
        ] {
            a.define_retention_policy(&RetentionPolicy { id: id.into(), rule, method: DestructionMethod::CryptoShred })
                .unwrap();
        }
        clock.advance(3 * 365 * DAY + 1);
        compliance.place_hold(customer, "case-9").unwrap();
        let held = compliance.sweep().unwrap();
        assert_eq!(held.records_held, vec![(c.id.0, customer, "service-3y".to_owned())]);
        assert!(held.records_destroyed.is_empty());
        compliance.lift_hold(customer).unwrap();
        let swept = compliance.sweep().unwrap();
        assert_eq!(
            swept.records_destroyed,
            vec![(c.id.0, customer, "service-3y".into(), DestructionMethod::CryptoShred)]
        );
        assert!(matches!(a.record(c.id).unwrap_err(), Error::RecordNotFound(_)));
        assert_eq!(a.record(t.id).unwrap().id, t.id, "the transaction is kept for 5 years");
        clock.advance(2 * 365 * DAY);
        let swept = compliance.sweep().unwrap();
        assert_eq!(swept.records_destroyed.len(), 1);
        assert!(swept.destroyed.is_empty(), "the customer itself stays");
        let log = auditor(&store).audit_entries(&AuditQuery::new().customer(customer).limit(1000)).unwrap();
        let destroyed: Vec<_> = log
            .iter()
            .filter(|e| e.action == "retention.destroy_record" && e.outcome == custodian::Outcome::Allowed)
            .collect();
        assert_eq!(destroyed.len(), 2, "the held attempt is recorded as refused, not as a destruction");
        assert!(destroyed.iter().all(|e| e.destruction.as_ref().is_some_and(|d| d.reason.starts_with("policy:"))));
        // Anonymisation strips a customer's records to bookkeeping.
        let kept = a.create(sample(2)).unwrap().id;
        let t = a.add_transaction(kept, &order("SO-9")).unwrap();
        a.define_retention_policy(&RetentionPolicy {
            id: "inactive".into(),
            rule: RetentionRule::InactiveFor { days: 1 },
            method: DestructionMethod::Anonymise,
        })
        .unwrap();
        clock.advance(2 * DAY);
        compliance.sweep().unwrap();
        let stripped = a.record(t.id).unwrap();
        assert_eq!(stripped.text(&Field::OrderStatus), "paid");
        assert!(stripped.get(&Field::OrderItems).is_none() && stripped.get(&Field::PaymentDetails).is_none());
        let e = a.add_transaction(kept, &order("SO-10")).unwrap_err();
        assert_eq!(rule_of(&e), "customer_anonymised");
        let e = a.set_transaction_status(t.id, stripped.version, TransactionStatus::Refunded).unwrap_err();
        assert_eq!(rule_of(&e), "customer_anonymised");
        let export = compliance.export_customer(kept).unwrap();
        assert_eq!(export.records.len(), 1, "an anonymised customer's export lists its stripped records");
    }
}

/// A customer's timeline pages newest first, transactions and service
/// records together.
#[test]
fn the_timeline_pages_newest_first() {
    let (store, clock) = clocked(None);
    let a = admin(&store);
    let customer = a.create(sample(1)).unwrap().id;
    let mut made = Vec::new();
    for i in 0..7 {
        clock.advance(HOUR);
        made.push(if i % 3 == 2 {
            a.open_service_record(customer, &complaint()).unwrap().id
        } else {
            a.add_transaction(customer, &order(&format!("SO-{i}"))).unwrap().id
        });
    }
    let mut seen = Vec::new();
    let mut query = TimelineQuery::new(3);
    loop {
        let page = a.timeline(customer, &query).unwrap();
        seen.extend(page.records.iter().map(|r| r.id));
        match page.next {
            Some(next) => query = query.before(next),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made);
    let e = a.timeline(customer, &TimelineQuery::new(0)).unwrap_err();
    assert_eq!(rule_of(&e), "page_size");
    let stranger = a.create(sample(2)).unwrap().id;
    let e = a.timeline(stranger, &TimelineQuery::new(3).before(made[0])).unwrap_err();
    assert_eq!(rule_of(&e), "record_not_in_timeline");
}

/// A restore gives a customer back its records as they were at the backup.
#[test]
fn a_restore_replaces_the_attached_records() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let backup = dir.path().join("backup");
    let (store, _seen) = checkpointed_store(&live);
    let a = admin(&store);
    let customer = a.create(sample(1)).unwrap().id;
    let t = a.add_transaction(customer, &order("SO-1")).unwrap();
    store.backup_to(&backup).unwrap();
    a.set_transaction_status(t.id, t.version, TransactionStatus::Refunded).unwrap();
    let later = a.add_transaction(customer, &order("SO-2")).unwrap();
    drop((a, store));
    Store::restore_with(&backup, &live, key(), &RestoreOptions::default()).unwrap();
    let store = Store::open_at(&live, key()).unwrap();
    let a = admin(&store);
    assert_eq!(a.record(t.id).unwrap().text(&Field::OrderStatus), "paid");
    assert!(matches!(a.record(later.id).unwrap_err(), Error::RecordNotFound(_)));
    assert_eq!(timeline_len(&a, customer), 1);
}

/// A batch of transactions for one customer: all or nothing, one audit entry.
#[test]
fn a_batch_of_transactions_is_all_or_nothing() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let customer = a.create(sample(1)).unwrap().id;
        let batch = [order("SO-1"), order("SO-2").item("x", 0, 1), order("SO-3")];
        match a.add_transactions(customer, &batch).unwrap_err() {
            Error::InBatch { index: 1, source } => assert_eq!(rule_of(&source), "quantity_not_positive", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(timeline_len(&a, customer), 0, "{name}: nothing was stored");
        let ids = a.add_transactions(customer, &[order("SO-1"), order("SO-2"), order("SO-3")]).unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(timeline_len(&a, customer), 3, "{name}");
        let e = a.add_transactions(customer, &[]).unwrap_err();
        assert_eq!(rule_of(&e), "batch_size");
        let log = auditor(&store).audit_entries(&AuditQuery::new().customer(customer).limit(100)).unwrap();
        let entry = log.iter().rfind(|e| e.action == "transaction.create_many").unwrap();
        assert_eq!(entry.records, ids.iter().map(|r| r.0).collect::<Vec<_>>(), "{name}");
        assert_eq!(entry.outcome, custodian::Outcome::Allowed);
    }
}

/// The store's service-level policy sets due times; it is fixed once sessions exist.
#[test]
fn the_service_level_policy_is_the_stores() {
    let clock = Arc::new(ManualClock::new(T0));
    let policy = custodian::ServiceLevelPolicy::default()
        .hours(ServiceKind::Complaint, Priority::Normal, 6)
        .unwrap()
        .reopen_within_days(0);
    let mut store = Store::in_memory(key(), CreateOptions::new())
        .unwrap()
        .with_clock(clock.clone())
        .unwrap()
        .with_service_levels(policy.clone())
        .unwrap();
    provision(&store);
    assert_eq!(store.service_levels(), &policy);
    let a = admin(&store);
    let e = store.set_service_levels(custodian::ServiceLevelPolicy::default()).unwrap_err();
    assert_eq!(rule_of(&e), "store_shared");
    let customer = a.create(sample(1)).unwrap().id;
    let opened = a.open_service_record(customer, &complaint()).unwrap();
    assert_eq!(opened.text(&Field::ServiceDueAt), (T0 + 6 * HOUR).to_string());
    let closed = a.transition_service_record(opened.id, opened.version, ServiceStatus::Closed, Some("已处理")).unwrap();
    let e = a.transition_service_record(closed.id, closed.version, ServiceStatus::Reopened, None).unwrap_err();
    assert_eq!(rule_of(&e), "reopen_expired", "0 days: never");
}
