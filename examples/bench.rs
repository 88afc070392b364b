//! Measures custodian against plain rusqlite doing the same work, in one run.
//!
//! ```text
//! cargo run --release --example bench -- [--n N] [--reads R] [--json] [--only PHASES]
//! ```
//!
//! `--only insert,reads,languages,records,duplicates,statistics,csv,sort,search,verify,backup,erase` runs just those phases after the
//! insert (for profiling one phase); the default is all of them.
//!
//! Builds a fresh store of N generated customers (default 100,000), the same
//! customers in a store without the keyword index and, side by side, a plain
//! SQLite table of the same rows in plaintext (indexes on mobile and e-mail,
//! one transaction), then measures bulk insert, audited
//! point reads by id and by mobile against plain indexed SELECTs, the first
//! pinyin-sorted page (cold and warm), keyword search (beside FTS5), attached records
//! (inserts, a customer's timeline, the overdue query), audit verification
//! and peak memory. Durability is the default (`synchronous=NORMAL`, WAL) on
//! both sides. With `--json` every figure is one line
//! `{"metric": "...", "value": ..., "unit": "..."}`.

#[path = "support/bench_csv.rs"]
mod bench_csv;
#[path = "support/bench_records.rs"]
mod bench_records;
#[path = "support/bench_report.rs"]
mod bench_report;
#[path = "support/generate.rs"]
mod generate;

use std::time::{Duration, Instant};

use bench_report::{Report, median, micros, timed};

use custodian::{
    CreateOptions, CustomerId, CustomerPatch, Field, KeySource, ListQuery, NewPrincipal, Purpose, SearchQuery, Session,
    Store,
};

/// Customers per `create_many` call (one transaction and one audit entry each).
const BATCH: usize = 10_000;
const SEED: u64 = 7;

struct Args {
    n: usize,
    reads: usize,
    json: bool,
    only: Option<Vec<String>>,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.as_ref().is_none_or(|p| p.iter().any(|x| x == phase))
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { n: 100_000, reads: 20_000, json: false, only: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--n" => args.n = number("--n")?,
            "--reads" => args.reads = number("--reads")?,
            "--json" => args.json = true,
            "--only" => {
                let phases = it.next().ok_or("--only needs a list of phases")?;
                args.only = Some(phases.split(',').map(str::to_owned).collect());
            }
            other => return Err(format!("unknown argument '{other}' (use --n N, --reads R, --json)")),
        }
    }
    Ok(args)
}

/// Prints one figure, as a JSON line or a table row.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

const PLAIN_SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE customers (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, external_code TEXT, name TEXT, organisation TEXT,
        category TEXT, title TEXT, mobile TEXT, email TEXT, notes TEXT, address TEXT, gender TEXT,
        birth_date TEXT, id_number TEXT, source TEXT, tier TEXT, tags TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX customers_by_mobile ON customers (mobile);
    CREATE INDEX customers_by_email ON customers (email);";

fn plain_insert(tx: &rusqlite::Transaction<'_>, id: usize, p: &generate::Profile) -> rusqlite::Result<()> {
    let kind = if p.organisation_kind { "organisation" } else { "individual" };
    tx.prepare_cached(
        "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18, 1)",
    )?
    .execute(rusqlite::params![
        id as i64,
        kind,
        p.external_code,
        p.name,
        p.organisation,
        p.category,
        p.title,
        p.mobile,
        p.email,
        p.notes,
        p.address,
        p.gender,
        p.birth_date,
        p.id_number,
        p.source,
        p.tier,
        p.tags,
        1_700_000_000_000i64
    ])?;
    Ok(())
}

fn main() {
    // The csv phase measures a streamed import's memory in a process of its own.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(bench_csv::CHILD_FLAG) {
        if let Err(e) = bench_csv::child(&argv[2..]) {
            eprintln!("bench (csv child) failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let report = Report { json: args.json };
    let dir = tempfile::tempdir()?;
    let key = || KeySource::key_bytes(&[42u8; 32]);
    let admin = "bench";
    let path = dir.path().join("custodian");
    let store = Store::create_at(&path, key()?, CreateOptions::new())?;
    store.bootstrap_administrator(&NewPrincipal::system(admin, "benchmark"))?;
    let mfa = custodian::AuthContext::with_mfa(0);
    let session = store.authenticated_session(admin, Purpose::Service, mfa)?;

    // The same customers into a store without the keyword index, for the
    // cost of the index on writes.
    let unindexed_catalogue = custodian::Catalogue::default().with_search_index(false);
    let unindexed =
        Store::create_at(dir.path().join("unindexed"), key()?, CreateOptions::new().catalogue(unindexed_catalogue))?;
    unindexed.bootstrap_administrator(&NewPrincipal::system(admin, "benchmark"))?;
    let unindexed_session = unindexed.authenticated_session(admin, Purpose::Service, mfa)?;

    let mut plain = rusqlite::Connection::open(dir.path().join("plain.db"))?;
    plain.execute_batch(PLAIN_SCHEMA)?;

    report.section(&format!(
        "Bulk insert of {} customers (custodian: batches of {BATCH}; plain: one transaction)",
        args.n
    ));
    report.text("durability", "synchronous=NORMAL, WAL (both)");
    report.metric("customers", args.n as f64, "rows");
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut generator = generate::Generator::new(&mut rng);
    let sample_every = (args.n / args.reads.max(1)).max(1);
    let mut mobiles: Vec<String> = Vec::new();
    let mut ids: Vec<i64> = Vec::new();
    let (mut custodian_time, mut plain_time, mut unindexed_time) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let plain_tx = plain.transaction()?;
    let mut done = 0;
    while done < args.n {
        let size = BATCH.min(args.n - done);
        let profiles: Vec<generate::Profile> = (0..size).map(|_| generator.profile()).collect();
        for (i, p) in profiles.iter().enumerate() {
            if (done + i) % sample_every == 0 {
                mobiles.push(p.mobile.clone());
            }
        }
        let t = Instant::now();
        let created = session.create_many(profiles.iter().map(generate::Profile::to_input))?;
        custodian_time += t.elapsed();
        ids.extend(created.iter().map(|id| id.0));
        let t = Instant::now();
        unindexed_session.create_many(profiles.iter().map(generate::Profile::to_input))?;
        unindexed_time += t.elapsed();
        let t = Instant::now();
        for (i, p) in profiles.iter().enumerate() {
            plain_insert(&plain_tx, done + i + 1, p)?;
        }
        plain_time += t.elapsed();
        done += size;
    }
    let t = Instant::now();
    plain_tx.commit()?;
    plain_time += t.elapsed();
    let custodian_rate = args.n as f64 / custodian_time.as_secs_f64();
    let plain_rate = args.n as f64 / plain_time.as_secs_f64();
    report.metric("insert_rate_custodian", custodian_rate, "customers/s");
    report.metric("insert_rate_plain", plain_rate, "customers/s");
    report.metric("insert_ratio_vs_plain", custodian_rate / plain_rate, "ratio");
    let unindexed_rate = args.n as f64 / unindexed_time.as_secs_f64();
    report.metric("insert_rate_custodian_index_off", unindexed_rate, "customers/s");
    report.metric("insert_ratio_index_off_vs_plain", unindexed_rate / plain_rate, "ratio");
    drop(unindexed_session);
    drop(unindexed);

    if args.runs("reads") {
        reads(&report, args, &session, &plain, &ids, &mobiles)?;
    }
    if args.runs("languages") {
        languages(&report, args, &session, &path, &ids)?;
    }
    if args.runs("records") {
        bench_records::run(&report, &session, &plain, &ids)?;
    }
    if args.runs("duplicates") {
        duplicate_report(&report, &session)?;
    }
    if args.runs("statistics") {
        statistics(&report, &session, &plain)?;
    }
    if args.runs("csv") {
        bench_csv::run(&report, &session, &plain, dir.path(), args.n)?;
    }
    drop(session);
    drop(store);
    let store = Store::open_at(&path, key()?)?;
    let session = store.authenticated_session(admin, Purpose::Service, mfa)?;
    if args.runs("search") {
        keyword_search(&report, &store, &session, &plain)?;
    }
    if args.runs("verify") {
        verify(&report, &store)?;
    }
    // After the search, whose match counts are compared with plain's: the
    // sort phase writes.
    if args.runs("sort") {
        sorted_page(&report, args, &session, &ids)?;
    }
    drop(session);
    drop(store);
    if args.runs("sort") {
        // A write while this process has the store closed: the reopened
        // store brings its saved order up to date.
        let other = Store::open_at(&path, key()?)?;
        let writer = other.authenticated_session(admin, Purpose::Service, mfa)?;
        let id = CustomerId(ids[ids.len() / 2]);
        let version = writer.get(id)?.version;
        writer.update(id, version, CustomerPatch::new().set(Field::Name, "欧阳娜娜"))?;
    }
    let store = Store::open_at(&path, key()?)?;
    let session = store.authenticated_session(admin, Purpose::Service, mfa)?;
    if args.runs("sort") {
        report.section("First page sorted by name after the store is opened again (one write since)");
        sorted_page_cold(&report, &session, &ids)?;
    }
    let store = if args.runs("backup") {
        drop(session);
        backup_and_restore(&report, store, &path, dir.path(), &plain, &ids)?
    } else {
        drop(session);
        store
    };
    // Last: it destroys customers.
    if args.runs("erase") {
        erase(&report, &store, &plain, &ids)?;
    }
    report.section("Memory");
    if let Some(peak) = peak_rss_mib() {
        report.metric("peak_rss", peak, "MiB");
    }
    Ok(())
}

fn reads(
    report: &Report,
    args: &Args,
    session: &Session,
    plain: &rusqlite::Connection,
    created: &[i64],
    mobiles: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    report.section(&format!("Point reads, single thread, {} each (custodian: audited session calls)", args.reads));
    let mut rng = fastrand::Rng::with_seed(SEED + 1);
    // The same positions in both tables: plain row k holds custodian's k-th customer.
    let picks: Vec<usize> = (0..args.reads).map(|_| rng.usize(0..created.len())).collect();
    let ids: Vec<i64> = picks.iter().map(|k| created[*k]).collect();
    let plain_ids: Vec<i64> = picks.iter().map(|k| *k as i64 + 1).collect();
    let (rate, med) = timed(&ids, |id| {
        session.get(CustomerId(*id)).expect("read by id");
    });
    let mut plain_by_id = plain.prepare_cached("SELECT * FROM customers WHERE id = ?1")?;
    let (plain_rate, plain_med) = timed(&plain_ids, |id| {
        let row: (i64, String) = plain_by_id.query_row([id], |r| Ok((r.get(0)?, r.get(3)?))).expect("plain read by id");
        std::hint::black_box(row);
    });
    report.metric("read_by_id_custodian", rate, "reads/s");
    report.metric("read_by_id_custodian_median", med, "us");
    report.metric("read_by_id_plain", plain_rate, "reads/s");
    report.metric("read_by_id_plain_median", plain_med, "us");
    report.metric("read_by_id_ratio_vs_plain", rate / plain_rate, "ratio");

    let (rate, med) = timed(mobiles, |m| {
        assert_eq!(session.find_by_mobile(m).expect("read by mobile").len(), 1);
    });
    let mut plain_by_mobile = plain.prepare_cached("SELECT * FROM customers WHERE mobile = ?1")?;
    let (plain_rate, plain_med) = timed(mobiles, |m| {
        let row: (i64, String) =
            plain_by_mobile.query_row([m], |r| Ok((r.get(0)?, r.get(3)?))).expect("plain read by mobile");
        std::hint::black_box(row);
    });
    report.metric("read_by_mobile_custodian", rate, "reads/s");
    report.metric("read_by_mobile_custodian_median", med, "us");
    report.metric("read_by_mobile_plain", plain_rate, "reads/s");
    report.metric("read_by_mobile_plain_median", plain_med, "us");
    report.metric("read_by_mobile_ratio_vs_plain", rate / plain_rate, "ratio");
    Ok(())
}

fn sorted_page(report: &Report, args: &Args, session: &Session, ids: &[i64]) -> Result<(), Box<dyn std::error::Error>> {
    report.section("First page (50) sorted by name in pinyin order");
    let query = ListQuery::new().sort(Field::Name).limit(50);
    let t = Instant::now();
    let page = session.list(&query)?;
    report.metric("sorted_page_first_build", t.elapsed().as_secs_f64() * 1e3, "ms");
    assert_eq!(page.items.len(), 50.min(args.n));
    let mut warm: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            session.list(&query).expect("list");
            t.elapsed()
        })
        .collect();
    report.metric("sorted_page_warm_median", median(&mut warm).as_secs_f64() * 1e3, "ms");
    // Each listing after one write: an update (a customer renamed) or a
    // create, taking turns. Only the listing is timed.
    let mut rng = fastrand::Rng::with_seed(SEED + 3);
    let mut generator = generate::Generator::new(&mut rng);
    let mut after_write = Vec::new();
    for i in 0..20 {
        let profile = generator.profile();
        if i % 2 == 0 {
            let id = CustomerId(ids[(i * 7919) % ids.len()]);
            let version = session.get(id)?.version;
            session.update(id, version, CustomerPatch::new().set(Field::Name, profile.name.as_str()))?;
        } else {
            session.create(profile.to_input().set(Field::ExternalCode, format!("SORT-{i}")))?;
        }
        let t = Instant::now();
        session.list(&query)?;
        after_write.push(t.elapsed());
    }
    report.metric("sorted_page_after_write_median", median(&mut after_write).as_secs_f64() * 1e3, "ms");
    Ok(())
}

/// The first page after the store is opened again: from the order the last
/// process saved (sealed), with a write made in between by another handle.
fn sorted_page_cold(report: &Report, session: &Session, ids: &[i64]) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let page = session.list(&ListQuery::new().sort(Field::Name).limit(50))?;
    report.metric("sorted_page_cold", t.elapsed().as_secs_f64() * 1e3, "ms");
    assert_eq!(page.items.len(), 50.min(ids.len()));
    Ok(())
}

/// The store-wide duplicate report (blind-index groups, and every
/// customer's name and organisation decrypted and normalised), median of 5.
fn duplicate_report(report: &Report, session: &Session) -> Result<(), Box<dyn std::error::Error>> {
    report.section("Store-wide duplicate report (at most 1,000 pairs), median of 5");
    let mut samples = Vec::new();
    let mut pairs = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let found = session.duplicates(1000)?;
        samples.push(t.elapsed());
        pairs = found.pairs.len();
    }
    report.metric("duplicate_report_pairs", pairs as f64, "pairs");
    report.metric("duplicate_report_median", median(&mut samples).as_secs_f64() * 1e3, "ms");
    Ok(())
}

/// Counts by category × tier and by city, the first call (cold) and the
/// median of 20, beside plain rusqlite counting category × tier with a
/// covering index of its own.
fn statistics(
    report: &Report,
    session: &Session,
    plain: &rusqlite::Connection,
) -> Result<(), Box<dyn std::error::Error>> {
    use custodian::{StatisticsDimension as D, StatisticsQuery};
    report.section("Statistics (suppressed counts, no decryption), median of 20");
    // The first call after a change counts the index (cold); the rest fold
    // the cached combinations until a customer changes.
    let time = |query: &StatisticsQuery| -> Result<(Duration, Duration, usize), custodian::Error> {
        let mut samples = Vec::new();
        let mut cells = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let table = session.statistics(query)?;
            samples.push(t.elapsed());
            cells = table.cells.iter().map(Vec::len).sum();
        }
        let cold = samples[0];
        Ok((cold, median(&mut samples), cells))
    };
    let (category_tier_cold, category_tier, cells) = time(&StatisticsQuery::new(D::Category).by(D::Tier))?;
    // A write between the two makes the city table count afresh too.
    let first = session.get(custodian::CustomerId(1))?;
    session.update(first.id, first.version, custodian::CustomerPatch::new().set(custodian::Field::Tier, "B"))?;
    let (city_cold, city, cities) = time(&StatisticsQuery::new(D::City))?;
    plain.execute_batch("CREATE INDEX IF NOT EXISTS customers_classes ON customers (kind, category, source, tier)")?;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let rows: Vec<(Option<String>, Option<String>, i64)> = plain
            .prepare_cached("SELECT category, tier, count(*) FROM customers GROUP BY category, tier")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        std::hint::black_box(rows);
        samples.push(t.elapsed());
    }
    let plain_median = median(&mut samples);
    report.metric("statistics_category_tier_cells", cells as f64, "cells");
    report.metric("statistics_category_tier_cold", category_tier_cold.as_secs_f64() * 1e3, "ms");
    report.metric("statistics_category_tier_median", category_tier.as_secs_f64() * 1e3, "ms");
    report.metric("statistics_category_tier_plain_median", plain_median.as_secs_f64() * 1e3, "ms");
    report.metric(
        "statistics_category_tier_ratio_vs_plain",
        plain_median.as_secs_f64() / category_tier.as_secs_f64(),
        "ratio",
    );
    report.metric("statistics_city_rows", cities as f64, "rows");
    report.metric("statistics_city_cold", city_cold.as_secs_f64() * 1e3, "ms");
    report.metric("statistics_city_median", city.as_secs_f64() * 1e3, "ms");
    Ok(())
}

/// The keyword searches the bench times: a two-character CJK word (in one
/// note in seven), a Latin word (the `VIP` tag, about one customer in six),
/// and a seven-character CJK phrase (six bigrams, each far commoner than the
/// phrase: one note template in 28) whose candidates are the intersection of
/// six posting lists.
const SEARCHES: [(&str, &str); 3] =
    [("keyword_search", "发票"), ("keyword_search_latin", "vip"), ("keyword_search_phrase", "增值税专用发票")];

fn keyword_search(
    report: &Report,
    store: &Store,
    session: &Session,
    plain: &rusqlite::Connection,
) -> Result<(), Box<dyn std::error::Error>> {
    report.section("Keyword search: custodian's encrypted index (re-checked) beside plain SQLite FTS5 (trigram)");
    let t = Instant::now();
    plain.execute_batch(
        "CREATE VIRTUAL TABLE IF NOT EXISTS plain_fts USING fts5(name, organisation, title, address, notes, tags,
             content='', tokenize='trigram');
         DELETE FROM plain_fts;
         INSERT INTO plain_fts (rowid, name, organisation, title, address, notes, tags)
             SELECT id, name, organisation, title, address, notes, tags FROM customers;",
    )?;
    report.metric("keyword_search_fts5_build", t.elapsed().as_secs_f64() * 1e3, "ms");
    for (metric, keyword) in SEARCHES {
        let mut searches: Vec<Duration> = (0..7)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(search(session, keyword));
                t.elapsed()
            })
            .collect();
        report.text(&format!("{metric}_keyword"), keyword);
        report.metric(&format!("{metric}_matches"), search(session, keyword) as f64, "customers");
        report.metric(&format!("{metric}_median"), median(&mut searches).as_secs_f64() * 1e3, "ms");
        // FTS5's trigram index answers three characters or more; a shorter
        // keyword is a LIKE that scans the index's content.
        let mut plain_times = Vec::new();
        let mut plain_matches = 0;
        for _ in 0..7 {
            let t = Instant::now();
            plain_matches = plain_search(plain, keyword)?;
            plain_times.push(t.elapsed());
        }
        report.metric(&format!("{metric}_plain_matches"), plain_matches as f64, "customers");
        report.metric(&format!("{metric}_plain_median"), median(&mut plain_times).as_secs_f64() * 1e3, "ms");
    }
    // What a store pays on open when its index was built by another
    // tokenisation (an upgrade): every customer decrypted and re-tokenised.
    let before = search(session, SEARCHES[0].1);
    let t = Instant::now();
    let indexed = store.rebuild_search_index()?;
    report.metric("keyword_index_rebuild", t.elapsed().as_secs_f64() * 1e3, "ms");
    report.metric("keyword_index_rebuild_customers", indexed as f64, "customers");
    if search(session, SEARCHES[0].1) != before {
        return Err("the rebuilt keyword index answers differently".into());
    }
    Ok(())
}

/// Plain SQLite's answer: the matching ids (all of them, as a total needs), first 50 rows read.
fn plain_search(plain: &rusqlite::Connection, keyword: &str) -> rusqlite::Result<usize> {
    let ids: Vec<i64> = if keyword.chars().count() >= 3 {
        let mut stmt = plain.prepare_cached("SELECT rowid FROM plain_fts WHERE plain_fts MATCH ?1 ORDER BY rowid")?;
        stmt.query_map([format!("\"{keyword}\"")], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    } else {
        let mut stmt = plain.prepare_cached(
            "SELECT id FROM customers WHERE name LIKE ?1 OR organisation LIKE ?1 OR title LIKE ?1
             OR address LIKE ?1 OR notes LIKE ?1 OR tags LIKE ?1 ORDER BY id",
        )?;
        stmt.query_map([format!("%{keyword}%")], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let mut read = plain.prepare_cached("SELECT * FROM customers WHERE id = ?1")?;
    for id in ids.iter().take(50) {
        read.query_row([id], |r| r.get::<_, i64>(0))?;
    }
    Ok(ids.len())
}

fn verify(report: &Report, store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    report.section("Audit chain verification");
    let t = Instant::now();
    let verified = store.verify_audit(None)?;
    let took = t.elapsed();
    if let Some(problem) = verified.problem {
        return Err(format!("the benchmark's audit log does not verify: {problem}").into());
    }
    report.metric("audit_entries", verified.entries as f64, "entries");
    report.metric("audit_verify_rate", verified.entries as f64 / took.as_secs_f64(), "entries/s");
    Ok(())
}

// The C ABI, called as a C program calls it (the symbols the static and
// shared libraries export).
unsafe extern "C" {
    fn cust_store_open(dir: *const std::ffi::c_char, key: *const u8, len: usize, out: *mut *mut c_void) -> u32;
    fn cust_store_close(store: *mut c_void);
    fn cust_session_open(
        store: *const c_void,
        principal: *const std::ffi::c_char,
        purpose: *const std::ffi::c_char,
        mfa: bool,
        at: i64,
        out: *mut *mut c_void,
    ) -> u32;
    fn cust_session_close(session: *mut c_void);
    fn cust_customer_get(session: *const c_void, id: i64, out: *mut *mut c_void) -> u32;
    fn cust_customer_free(customer: *mut c_void);
}
use std::ffi::c_void;

/// The same audited read by id through Rust, the C ABI and the Python
/// binding, in one run, on the same customers (Python runs as a child
/// process on the same store, with the release `libcustodian.so`).
fn languages(
    report: &Report,
    args: &Args,
    session: &Session,
    path: &std::path::Path,
    created: &[i64],
) -> Result<(), Box<dyn std::error::Error>> {
    report.section(&format!("The same audited read by id from Rust, C and Python, {} each", args.reads));
    let mut rng = fastrand::Rng::with_seed(SEED + 3);
    let ids: Vec<i64> = (0..args.reads).map(|_| created[rng.usize(0..created.len())]).collect();
    let dir = std::ffi::CString::new(path.to_string_lossy().as_bytes())?;
    let (mut store, mut c_session) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: valid NUL-terminated strings and out-pointers; both handles are closed below.
    unsafe {
        assert_eq!(cust_store_open(dir.as_ptr(), [42u8; 32].as_ptr(), 32, &mut store), 0, "cust_store_open");
        assert_eq!(cust_session_open(store, c"bench".as_ptr(), c"service".as_ptr(), true, 0, &mut c_session), 0);
    }
    // Three rounds; in each, Rust and C alternate call by call (so both see
    // the same machine), then Python reads the same customers.
    let (mut rust, mut c, mut python) = (Vec::new(), Vec::new(), Vec::new());
    let mut python_failure = None;
    for round in ids.chunks(ids.len().div_ceil(3)) {
        for id in round {
            let t = Instant::now();
            std::hint::black_box(session.get(CustomerId(*id)).expect("read by id"));
            rust.push(t.elapsed());
            let t = Instant::now();
            let mut customer = std::ptr::null_mut();
            // SAFETY: a live session handle and a writable out-pointer; the customer is freed at once.
            unsafe {
                assert_eq!(cust_customer_get(c_session, *id, &mut customer), 0, "cust_customer_get");
                cust_customer_free(customer);
            }
            c.push(t.elapsed());
        }
        match python_reads(path, round) {
            Ok(samples) => python.extend(samples),
            Err(why) => python_failure = Some(why),
        }
    }
    // SAFETY: the handles opened above, closed once.
    unsafe {
        cust_session_close(c_session);
        cust_store_close(store);
    }
    let (rust_med, c_med) = (micros(median(&mut rust)), micros(median(&mut c)));
    report.metric("read_by_id_rust_median", rust_med, "us");
    report.metric("read_by_id_c_median", c_med, "us");
    report.metric("read_by_id_c_ratio_vs_rust", c_med / rust_med, "ratio");
    match python_failure {
        None => {
            let py_med = micros(median(&mut python));
            report.metric("read_by_id_python_median", py_med, "us");
            report.metric("read_by_id_python_ratio_vs_c", py_med / c_med, "ratio");
        }
        Some(why) => report.text("python", &format!("not measured: {why}")),
    }
    Ok(())
}

/// Runs `bindings/python/tools/bench_read.py` on the store; the time of each read.
fn python_reads(path: &std::path::Path, ids: &[i64]) -> Result<Vec<Duration>, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = root.join("target/release/libcustodian.so");
    if !library.exists() {
        return Err(format!("{} is missing: run `cargo build --release --lib` first", library.display()));
    }
    let ids_file = path.with_extension("ids");
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(&ids_file, text).map_err(|e| e.to_string())?;
    let output = std::process::Command::new(std::env::var("CUSTODIAN_PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(root.join("bindings/python/tools/bench_read.py"))
        .arg(path)
        .arg("2a".repeat(32))
        .arg("bench")
        .arg(&ids_file)
        .env("CUSTODIAN_LIBRARY", &library)
        .env("PYTHONPATH", root.join("bindings/python/src"))
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let samples = line["samples_ns"].as_array().ok_or_else(|| "no samples_ns".to_owned())?;
    Ok(samples.iter().filter_map(|s| s.as_u64()).map(Duration::from_nanos).collect())
}

/// A full online backup, its verification, an increment after 1% of the
/// customers changed, and a restore of the chain into the live store
/// (every customer record replaced, every decision kept), side by side
/// with plain rusqlite's online backup of its table. Returns the reopened
/// store.
fn backup_and_restore(
    report: &Report,
    store: Store,
    path: &std::path::Path,
    dir: &std::path::Path,
    plain: &rusqlite::Connection,
    ids: &[i64],
) -> Result<Store, Box<dyn std::error::Error>> {
    let key = || KeySource::key_bytes(&[42u8; 32]);
    report.section("Full backup, an increment after 1% changed, verification and restore into the live store");
    let (full, increment) = (dir.join("full.cbk"), dir.join("increment.cbk"));
    let t = Instant::now();
    store.backup_to(&full)?;
    let backup_ms = t.elapsed().as_secs_f64() * 1e3;
    let bytes = std::fs::metadata(&full)?.len();
    let t = Instant::now();
    plain.backup("main", dir.join("plain-backup.db"), None::<fn(rusqlite::backup::Progress)>)?;
    let plain_ms = t.elapsed().as_secs_f64() * 1e3;
    // 1% of customers read and changed, as a clerk would, then an increment.
    let session = store.authenticated_session("bench", Purpose::Service, custodian::AuthContext::with_mfa(0))?;
    for id in ids.iter().step_by(100) {
        let view = session.get(CustomerId(*id))?;
        session.update(
            view.id,
            view.version,
            CustomerPatch::new().set(Field::Notes, "changed after the full backup"),
        )?;
    }
    drop(session);
    let t = Instant::now();
    store.backup_increment(&increment, &full)?;
    let increment_ms = t.elapsed().as_secs_f64() * 1e3;
    let increment_bytes = std::fs::metadata(&increment)?.len();
    let t = Instant::now();
    let verified = Store::verify_backup(&full, key()?)?;
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(store);
    let t = Instant::now();
    let options = custodian::RestoreOptions::default().increments([&increment]);
    let restored = Store::restore_with(&full, path, key()?, &options)?;
    let restore_ms = t.elapsed().as_secs_f64() * 1e3;
    report.metric("backup_full_ms", backup_ms, "ms");
    report.metric("backup_full_bytes", bytes as f64, "bytes");
    report.metric("backup_plain_ms", plain_ms, "ms");
    report.metric("backup_increment_ms", increment_ms, "ms");
    report.metric("backup_increment_bytes", increment_bytes as f64, "bytes");
    report.metric("backup_increment_ratio", increment_bytes as f64 / bytes as f64, "ratio");
    report.metric("backup_verify_ms", verify_ms, "ms");
    report.metric("backup_customers", verified.customers as f64, "customers");
    report.metric("restore_live_ms", restore_ms, "ms");
    report.metric("restore_live_customers", restored.restored as f64, "customers");
    Ok(Store::open_at(path, key()?)?)
}

/// Customers erased one by one in the erase phase.
const ERASURES: usize = 200;

/// Erasure (crypto-shred, and the write-ahead logs emptied before it
/// returns, so nothing of the customer is left in any file), side by side
/// with plain rusqlite deleting a row, with and without emptying its WAL.
fn erase(
    report: &Report,
    store: &Store,
    plain: &rusqlite::Connection,
    created: &[i64],
) -> Result<(), Box<dyn std::error::Error>> {
    report.section(&format!("Erasure of {ERASURES} customers, one call each (WAL emptied before each returns)"));
    let session = store.authenticated_session("bench", Purpose::Compliance, custodian::AuthContext::with_mfa(0))?;
    let step = (created.len() / ERASURES).max(1);
    let picks: Vec<usize> = (0..created.len()).step_by(step).take(ERASURES).collect();
    let ids: Vec<i64> = picks.iter().map(|k| created[*k]).collect();
    let (_, med) = timed(&ids, |id| session.erase(CustomerId(*id), "bench").expect("erase"));
    let (half, rest) = picks.split_at(picks.len() / 2);
    let mut delete = plain.prepare_cached("DELETE FROM customers WHERE id = ?1")?;
    let (_, plain_med) = timed(half, |k| {
        delete.execute([*k as i64 + 1]).expect("plain delete");
    });
    let (_, plain_truncate_med) = timed(rest, |k| {
        delete.execute([*k as i64 + 1]).expect("plain delete");
        let busy: i64 = plain.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).expect("checkpoint");
        assert_eq!(busy, 0);
    });
    report.metric("erase_custodian_median", med, "us");
    report.metric("erase_plain_delete_median", plain_med, "us");
    report.metric("erase_plain_delete_truncate_median", plain_truncate_med, "us");
    report.metric("erase_ratio_vs_plain_truncate", plain_truncate_med / med, "ratio");
    Ok(())
}

fn search(session: &Session, keyword: &str) -> u64 {
    session.search(&SearchQuery::new(keyword)).expect("search").total
}
