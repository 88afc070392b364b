//! Measures custodian on the PostgreSQL backend against the plain `postgres`
//! client doing the same work on the same server, in one run.
//!
//! ```text
//! eval "$(bash .ci/postgres.sh)"   # or point the variables at a server of your own
//! cargo run --release --features postgres --example bench_postgres -- [--n N] [--reads R] [--json]
//! ```
//!
//! Reads the two databases' URLs from `CUSTODIAN_BENCH_DATABASE_URL` and
//! `CUSTODIAN_BENCH_KEY_STORE_URL` (falling back to the tests'
//! `CUSTODIAN_TEST_DATABASE_URL` and `CUSTODIAN_TEST_KEY_STORE_URL`). The
//! store lives in a schema of its own in both databases and the plain table
//! in another schema of the data database; both are dropped at the end.
//!
//! Phases, each custodian beside plain:
//! - bulk insert of N generated customers (default 20,000): custodian in
//!   `create_many` batches of 1,000 (one transaction and one audit entry
//!   each); plain, the same rows in plaintext, one prepared `INSERT` per row
//!   in one transaction, indexes on mobile and e-mail;
//! - R audited reads by mobile (default 2,000) against an indexed `SELECT`,
//!   one connection;
//! - read throughput by id at 1 and at 4 connections (threads), R reads per
//!   thread: custodian's audited `get` (each a write transaction appending
//!   an audit entry) against plain `SELECT`s.

#[path = "support/bench_report.rs"]
mod bench_report;
#[path = "support/generate.rs"]
mod generate;

use std::time::{Duration, Instant};

use bench_report::{Report, timed};
use custodian::{
    AuthContext, CreateOptions, CustomerId, KeySource, NewPrincipal, PostgresBackend, PostgresOptions, Purpose, Store,
};

/// Customers per `create_many` call.
const BATCH: usize = 1_000;
const SEED: u64 = 7;
const ADMIN: &str = "bench";

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    n: usize,
    reads: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { n: 20_000, reads: 2_000, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next().and_then(|v| v.replace('_', "").parse().ok()).ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--n" => args.n = number("--n")?,
            "--reads" => args.reads = number("--reads")?,
            "--json" => args.json = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.n == 0 || args.reads == 0 {
        return Err("--n and --reads must be at least 1".into());
    }
    Ok(args)
}

/// A URL from the bench's variable or the tests' one.
fn url(bench: &str, test: &str) -> Result<String, String> {
    std::env::var(bench)
        .or_else(|_| std::env::var(test))
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(format!("set {bench} (or {test}); `eval \"$(bash .ci/postgres.sh)\"` starts a throwaway server"))
}

const PLAIN_SCHEMA: &str = "
    CREATE TABLE customers (
        id BIGINT PRIMARY KEY, kind TEXT NOT NULL, external_code TEXT, name TEXT, organisation TEXT,
        category TEXT, title TEXT, mobile TEXT, email TEXT, notes TEXT, address TEXT, gender TEXT,
        birth_date TEXT, id_number TEXT, source TEXT, tier TEXT, tags TEXT,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, version BIGINT NOT NULL
    );
    CREATE INDEX customers_by_mobile ON customers (mobile);
    CREATE INDEX customers_by_email ON customers (email);";

const PLAIN_INSERT: &str = "INSERT INTO customers VALUES \
     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, 1)";

/// Schemas made for this run, dropped when it ends (also on an error).
struct Scratch {
    data_url: String,
    key_store_url: String,
    store_schema: String,
    plain_schema: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drops = [
            (&self.data_url, vec![&self.store_schema, &self.plain_schema]),
            (&self.key_store_url, vec![&self.store_schema]),
        ];
        for (url, schemas) in drops {
            if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
                for schema in schemas {
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
                }
            }
        }
    }
}

/// A plain client whose tables are in `schema`.
fn plain_client(url: &str, schema: &str) -> BenchResult<postgres::Client> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(&format!("SET search_path TO \"{schema}\""))?;
    Ok(client)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_postgres: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("bench_postgres failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> BenchResult {
    let report = Report { json: args.json };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let tag = format!("{}_{nanos}", std::process::id());
    let scratch = Scratch {
        data_url: url("CUSTODIAN_BENCH_DATABASE_URL", "CUSTODIAN_TEST_DATABASE_URL")?,
        key_store_url: url("CUSTODIAN_BENCH_KEY_STORE_URL", "CUSTODIAN_TEST_KEY_STORE_URL")?,
        store_schema: format!("bench_store_{tag}"),
        plain_schema: format!("bench_plain_{tag}"),
    };
    let options = PostgresOptions::new(&scratch.data_url, &scratch.key_store_url).schema(&scratch.store_schema);
    let store =
        Store::create(PostgresBackend::new(options)?, KeySource::key_bytes(&[42u8; 32])?, CreateOptions::new())?;
    store.bootstrap_administrator(&NewPrincipal::system(ADMIN, "benchmark"))?;
    let mfa = AuthContext::with_mfa(0);
    let session = store.authenticated_session(ADMIN, Purpose::Service, mfa)?;
    let mut plain = postgres::Client::connect(&scratch.data_url, postgres::NoTls)?;
    plain.batch_execute(&format!(
        "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"; {PLAIN_SCHEMA}",
        scratch.plain_schema
    ))?;

    report.section(&format!(
        "Bulk insert of {} customers on PostgreSQL (custodian: batches of {BATCH}; plain: one transaction)",
        args.n
    ));
    report.metric("pg_customers", args.n as f64, "rows");
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut generator = generate::Generator::new(&mut rng);
    let profiles: Vec<generate::Profile> = (0..args.n).map(|_| generator.profile()).collect();
    let t = Instant::now();
    let mut ids: Vec<i64> = Vec::with_capacity(args.n);
    for batch in profiles.chunks(BATCH) {
        ids.extend(session.create_many(batch.iter().map(generate::Profile::to_input))?.iter().map(|id| id.0));
    }
    let custodian_time = t.elapsed();
    let t = Instant::now();
    {
        let mut tx = plain.transaction()?;
        let insert = tx.prepare(PLAIN_INSERT)?;
        for (i, p) in profiles.iter().enumerate() {
            let kind = if p.organisation_kind { "organisation" } else { "individual" };
            tx.execute(
                &insert,
                &[
                    &(i as i64 + 1),
                    &kind,
                    &p.external_code,
                    &p.name,
                    &p.organisation,
                    &p.category,
                    &p.title,
                    &p.mobile,
                    &p.email,
                    &p.notes,
                    &p.address,
                    &p.gender,
                    &p.birth_date,
                    &p.id_number,
                    &p.source,
                    &p.tier,
                    &p.tags,
                    &1_700_000_000_000i64,
                ],
            )?;
        }
        tx.commit()?;
    }
    let plain_time = t.elapsed();
    let (custodian_rate, plain_rate) =
        (args.n as f64 / custodian_time.as_secs_f64(), args.n as f64 / plain_time.as_secs_f64());
    report.metric("pg_insert_rate_custodian", custodian_rate, "customers/s");
    report.metric("pg_insert_rate_plain", plain_rate, "customers/s");
    report.metric("pg_insert_ratio_vs_plain", custodian_rate / plain_rate, "ratio");

    report.section(&format!("Audited reads by mobile on one connection, {} each", args.reads));
    let mut rng = fastrand::Rng::with_seed(SEED + 1);
    let picks: Vec<usize> = (0..args.reads).map(|_| rng.usize(0..args.n)).collect();
    let mobiles: Vec<&str> = picks.iter().map(|k| profiles[*k].mobile.as_str()).collect();
    let (rate, median) = timed(&mobiles, |m| {
        assert_eq!(session.find_by_mobile(m).expect("read by mobile").len(), 1);
    });
    let by_mobile = plain.prepare("SELECT * FROM customers WHERE mobile = $1")?;
    let (plain_rate, plain_median) = timed(&mobiles, |m| {
        let row = plain.query_one(&by_mobile, &[m]).expect("plain read by mobile");
        std::hint::black_box(row.get::<_, String>(3));
    });
    report.metric("pg_read_by_mobile_custodian", rate, "reads/s");
    report.metric("pg_read_by_mobile_custodian_median", median, "us");
    report.metric("pg_read_by_mobile_plain", plain_rate, "reads/s");
    report.metric("pg_read_by_mobile_plain_median", plain_median, "us");
    report.metric("pg_read_by_mobile_ratio_vs_plain", rate / plain_rate, "ratio");
    drop(session);

    report.section(&format!("Read throughput by id at 1 and 4 connections, {} reads per thread", args.reads));
    let pick_ids = |thread: u64| -> Vec<(i64, i64)> {
        let mut rng = fastrand::Rng::with_seed(SEED + 10 + thread);
        (0..args.reads)
            .map(|_| {
                let k = rng.usize(0..args.n);
                (ids[k], k as i64 + 1)
            })
            .collect()
    };
    let mut rates = Vec::new();
    for threads in [1u64, 4] {
        let custodian_time = across_threads(threads, |t| {
            let session = store.authenticated_session(ADMIN, Purpose::Service, mfa).expect("session");
            for (id, _) in pick_ids(t) {
                session.get(CustomerId(id)).expect("read by id");
            }
        });
        let plain_time = across_threads(threads, |t| {
            let mut client = plain_client(&scratch.data_url, &scratch.plain_schema).expect("plain connection");
            let by_id = client.prepare("SELECT * FROM customers WHERE id = $1").expect("prepare");
            for (_, row) in pick_ids(t) {
                std::hint::black_box(client.query_one(&by_id, &[&row]).expect("plain read by id").get::<_, String>(3));
            }
        });
        let total = (threads as usize * args.reads) as f64;
        rates.push((total / custodian_time.as_secs_f64(), total / plain_time.as_secs_f64()));
    }
    let ((one, plain_one), (four, plain_four)) = (rates[0], rates[1]);
    report.metric("pg_reads_custodian_1_connection", one, "reads/s");
    report.metric("pg_reads_custodian_4_connections", four, "reads/s");
    report.metric("pg_reads_custodian_scaling_4_vs_1", four / one, "ratio");
    report.metric("pg_reads_plain_1_connection", plain_one, "reads/s");
    report.metric("pg_reads_plain_4_connections", plain_four, "reads/s");
    report.metric("pg_reads_plain_scaling_4_vs_1", plain_four / plain_one, "ratio");
    report.metric("pg_reads_ratio_vs_plain_1_connection", one / plain_one, "ratio");
    report.metric("pg_reads_ratio_vs_plain_4_connections", four / plain_four, "ratio");
    drop(store);
    drop(scratch);
    Ok(())
}

/// Runs `work(thread)` on `threads` threads at once; returns the wall time.
fn across_threads(threads: u64, work: impl Fn(u64) + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let work = &work;
            scope.spawn(move || work(t));
        }
    });
    started.elapsed()
}
