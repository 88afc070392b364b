//! The bench's `records` phase: every customer gets 10 transactions and 2
//! service records, side by side with plain rusqlite inserting the same rows
//! in plaintext with the same transactions: for half the customers one call
//! (one plain transaction) per record, for the other half the ten
//! transactions in one batch call (one plain transaction). Then a
//! customer's timeline and the overdue query over everyone, against the
//! plain indexed queries.

use std::time::{Duration, Instant};

use custodian::{
    CustomerId, DueQuery, PaymentMethod, Priority, ServiceChannel, ServiceInput, ServiceKind, Session, TimelineQuery,
    TransactionInput,
};

use super::{Report, median, micros};

const TRANSACTIONS_PER_CUSTOMER: usize = 10;
const SERVICE_RECORDS_PER_CUSTOMER: usize = 2;
const HOUR: i64 = 3_600_000;
const TIMELINE_READS: usize = 2_000;
const OVERDUE_QUERIES: usize = 50;

const PLAIN_SCHEMA: &str = "
    CREATE TABLE transactions (
        id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, reference TEXT NOT NULL, time INTEGER NOT NULL,
        status TEXT NOT NULL, items TEXT NOT NULL, total TEXT NOT NULL, payment_method TEXT NOT NULL, card TEXT
    ) STRICT;
    CREATE INDEX transactions_by_customer ON transactions (customer_id, time);
    CREATE TABLE service_records (
        id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, kind TEXT NOT NULL, channel TEXT NOT NULL,
        subject TEXT NOT NULL, description TEXT, priority TEXT NOT NULL, owner TEXT, status TEXT NOT NULL,
        opened_at INTEGER NOT NULL, due_at INTEGER NOT NULL, pending INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX service_by_customer ON service_records (customer_id, opened_at);
    CREATE INDEX service_pending_due ON service_records (due_at, id) WHERE pending = 1;";

/// A row of the plain timeline query: kind, id, time, status and five values.
type PlainTimelineRow = (String, i64, i64, String, String, Option<String>, String, String, Option<String>);
/// A row of the plain overdue query.
type PlainServiceRow = (i64, i64, String, Option<String>, Option<String>, String, i64);

fn order(i: usize, now: i64) -> TransactionInput {
    let price = 1_000 + (i as i64 % 50) * 100;
    TransactionInput::new(&format!("SO-{i:08}"), "CNY", 2 * price + 1_500, PaymentMethod::BankCard)
        .item("龙井茶 250g", 2, price)
        .item("茶具", 1, 1_500)
        .card("6200 0000 0000 0005")
        .at(now - (i as i64 % 1000) * HOUR)
}

fn complaint(i: usize, now: i64) -> ServiceInput {
    // Opened up to four days ago: complaints fall due after 48 hours, so about half are overdue.
    ServiceInput::new(ServiceKind::Complaint, ServiceChannel::Phone, "物流投诉", "快递三次没送到，客户要求退运费")
        .priority(Priority::Normal)
        .owner("bench")
        .opened_at(now - (i as i64 % 96) * HOUR)
}

/// Runs the phase over `customers` (ids in the store and, 1-based, in `plain`).
pub fn run(
    report: &Report,
    session: &Session,
    plain: &rusqlite::Connection,
    customers: &[i64],
) -> Result<(), Box<dyn std::error::Error>> {
    let per = TRANSACTIONS_PER_CUSTOMER + SERVICE_RECORDS_PER_CUSTOMER;
    report.section(&format!(
        "Attached records: {} customers x ({TRANSACTIONS_PER_CUSTOMER} transactions + {SERVICE_RECORDS_PER_CUSTOMER} service records); half one call per record, half the transactions batched",
        customers.len()
    ));
    plain.execute_batch(PLAIN_SCHEMA)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    // The first half of the customers one call (one plain transaction) per
    // record; the second half with each customer's ten transactions in one
    // batch call (one plain transaction) and its service records one each.
    let half = customers.len() / 2;
    let mut timings = [(Duration::ZERO, Duration::ZERO, 0usize); 2];
    let mut n = 0usize;
    for (k, id) in customers.iter().enumerate() {
        let batched = k >= half;
        let customer = CustomerId(*id);
        let orders: Vec<TransactionInput> = (0..TRANSACTIONS_PER_CUSTOMER).map(|j| order(n + j, now)).collect();
        let t = Instant::now();
        if batched {
            session.add_transactions(customer, &orders)?;
        } else {
            for order in &orders {
                session.add_transaction(customer, order)?;
            }
        }
        for j in 0..SERVICE_RECORDS_PER_CUSTOMER {
            session.open_service_record(customer, &complaint(n + TRANSACTIONS_PER_CUSTOMER + j, now))?;
        }
        let custodian_time = t.elapsed();
        let t = Instant::now();
        let plain_id = k as i64 + 1;
        let mut tx = Some(plain.unchecked_transaction()?);
        for j in 0..TRANSACTIONS_PER_CUSTOMER {
            let i = n + j;
            let price = 1_000 + (i as i64 % 50) * 100;
            let items = format!(
                r#"{{"currency":"CNY","lines":[{{"item":"龙井茶 250g","quantity":2,"unit_price_minor":{price}}},{{"item":"茶具","quantity":1,"unit_price_minor":1500}}],"adjustments":[]}}"#
            );
            let current = match tx.take() {
                Some(tx) => tx,
                None => plain.unchecked_transaction()?,
            };
            current
                .prepare_cached(
                    "INSERT INTO transactions (customer_id, reference, time, status, items, total, payment_method, card)
                     VALUES (?1, ?2, ?3, 'paid', ?4, ?5, 'bank_card', 'card:6200000000000005')",
                )?
                .execute(rusqlite::params![
                    plain_id,
                    format!("SO-{i:08}"),
                    now - (i as i64 % 1000) * HOUR,
                    items,
                    format!("{}.00 CNY", (2 * price + 1_500) / 100)
                ])?;
            if batched {
                tx = Some(current);
            } else {
                current.commit()?;
            }
        }
        if let Some(tx) = tx {
            tx.commit()?;
        }
        for j in 0..SERVICE_RECORDS_PER_CUSTOMER {
            let opened = now - ((n + TRANSACTIONS_PER_CUSTOMER + j) as i64 % 96) * HOUR;
            let tx = plain.unchecked_transaction()?;
            tx.prepare_cached(
                "INSERT INTO service_records (customer_id, kind, channel, subject, description, priority, owner,
                 status, opened_at, due_at, pending)
                 VALUES (?1, 'complaint', 'phone', '物流投诉', '快递三次没送到，客户要求退运费', 'normal', 'bench',
                 'open', ?2, ?3, 1)",
            )?
            .execute(rusqlite::params![plain_id, opened, opened + 48 * HOUR])?;
            tx.commit()?;
        }
        let slot = &mut timings[usize::from(batched)];
        slot.0 += custodian_time;
        slot.1 += t.elapsed();
        slot.2 += per;
        n += per;
    }
    report.metric("records", n as f64, "rows");
    for (prefix, (custodian_time, plain_time, count)) in
        ["records_insert", "records_insert_batched"].iter().zip(timings)
    {
        let custodian_rate = count as f64 / custodian_time.as_secs_f64();
        let plain_rate = count as f64 / plain_time.as_secs_f64();
        report.metric(&format!("{prefix}_rate_custodian"), custodian_rate, "records/s");
        report.metric(&format!("{prefix}_rate_plain"), plain_rate, "records/s");
        report.metric(&format!("{prefix}_ratio_vs_plain"), custodian_rate / plain_rate, "ratio");
    }

    // A customer's timeline: the newest 20 of its 12 records, with histories.
    let mut rng = fastrand::Rng::with_seed(11);
    let picks: Vec<usize> = (0..TIMELINE_READS).map(|_| rng.usize(..customers.len())).collect();
    let mut custodian_samples = Vec::with_capacity(picks.len());
    for k in &picks {
        let t = Instant::now();
        let page = session.timeline(CustomerId(customers[*k]), &TimelineQuery::new(20))?;
        custodian_samples.push(t.elapsed());
        assert_eq!(page.records.len(), per);
    }
    let mut stmt = plain.prepare_cached(
        "SELECT 't', id, time, status, reference, items, total, payment_method, card FROM transactions WHERE customer_id = ?1
         UNION ALL
         SELECT 's', id, opened_at, status, subject, description, kind, priority, owner FROM service_records WHERE customer_id = ?1
         ORDER BY 3 DESC, 2 DESC LIMIT 20",
    )?;
    let mut plain_samples = Vec::with_capacity(picks.len());
    for k in &picks {
        let t = Instant::now();
        let rows: Vec<PlainTimelineRow> = stmt
            .query_map([*k as i64 + 1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        plain_samples.push(t.elapsed());
        assert_eq!(rows.len(), per);
    }
    let (custodian_med, plain_med) = (micros(median(&mut custodian_samples)), micros(median(&mut plain_samples)));
    report.metric("timeline_custodian_median", custodian_med, "us");
    report.metric("timeline_plain_median", plain_med, "us");
    report.metric("timeline_ratio_vs_plain", plain_med / custodian_med, "ratio");

    // The overdue query over everyone: the 100 most overdue, decrypted.
    let mut custodian_samples = Vec::with_capacity(OVERDUE_QUERIES);
    let mut found = 0;
    for _ in 0..OVERDUE_QUERIES {
        let t = Instant::now();
        found = session.service_due(&DueQuery::overdue(100))?.len();
        custodian_samples.push(t.elapsed());
    }
    let mut stmt = plain.prepare_cached(
        "SELECT id, customer_id, subject, description, owner, status, due_at FROM service_records
         WHERE pending = 1 AND due_at < ?1 ORDER BY due_at, id LIMIT 100",
    )?;
    let mut plain_samples = Vec::with_capacity(OVERDUE_QUERIES);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    for _ in 0..OVERDUE_QUERIES {
        let t = Instant::now();
        let rows: Vec<PlainServiceRow> = stmt
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
            .collect::<rusqlite::Result<_>>()?;
        plain_samples.push(t.elapsed());
        assert_eq!(rows.len(), found);
    }
    let overdue_total: i64 =
        plain
            .query_row("SELECT count(*) FROM service_records WHERE pending = 1 AND due_at < ?1", [now], |r| r.get(0))?;
    let (custodian_med, plain_med) = (micros(median(&mut custodian_samples)), micros(median(&mut plain_samples)));
    report.metric("overdue_records_total", overdue_total as f64, "records");
    report.metric("overdue_page", found as f64, "records");
    report.metric("overdue_custodian_median", custodian_med, "us");
    report.metric("overdue_plain_median", plain_med, "us");
    report.metric("overdue_ratio_vs_plain", plain_med / custodian_med, "ratio");
    Ok(())
}
