//! The bench's `csv` phase: a CSV file of N generated customers (the
//! columns a Chinese CRM exports, in GBK as Excel and WPS write them)
//! imported through a session from a file, streamed, against plain
//! rusqlite parsing the same file with the same `csv` crate and inserting
//! the rows in plaintext in one transaction.

use std::io::Write;
use std::time::Instant;

use custodian::import::{CsvEncoding, CsvReadOptions};
use custodian::{ImportOptions, Session};

use super::generate::Generator;
use super::{Report, peak_rss_mib};

/// The argument that makes the bench the child process of this phase.
pub const CHILD_FLAG: &str = "--csv-import-child";

const HEADER: &str = "编号,类型,姓名,单位,类别,职务,手机,邮箱,地址,性别,出生日期,身份证号,来源,等级,标签,备注";

/// Runs the phase: `n` rows written to `dir/customers.csv`, then both imports.
pub fn run(
    report: &Report,
    session: &Session,
    plain: &rusqlite::Connection,
    dir: &std::path::Path,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    report.section(&format!("CSV import of {n} rows (GBK, 16 columns, from a file, streamed)"));
    let path = dir.join("customers.csv");
    let mut rng = fastrand::Rng::with_seed(99);
    let mut generator = Generator::new(&mut rng);
    let mut writer =
        csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::with_capacity(n * 220));
    writer.write_record(HEADER.split(','))?;
    for i in 0..n {
        let p = generator.profile();
        let kind = if p.organisation_kind { "单位" } else { "个人" };
        writer.write_record([
            format!("CSV{i:07}").as_str(),
            kind,
            &p.name,
            &p.organisation,
            p.category,
            p.title,
            &p.mobile,
            p.email.as_deref().unwrap_or(""),
            &p.address,
            p.gender.unwrap_or(""),
            p.birth_date.as_deref().unwrap_or(""),
            p.id_number.as_deref().unwrap_or(""),
            p.source,
            p.tier,
            &p.tags,
            &p.notes,
        ])?;
    }
    let text = String::from_utf8(writer.into_inner().map_err(|e| e.into_error())?)?;
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::File::create(&path)?.write_all(&gbk)?;
    report.metric("csv_rows", n as f64, "rows");
    report.metric("csv_file_bytes", gbk.len() as f64, "bytes");
    drop(text);

    let t = Instant::now();
    let imported = session.import_csv(
        std::fs::File::open(&path)?,
        &CsvReadOptions::new().encoding(CsvEncoding::Auto),
        &ImportOptions::new(),
        None,
    )?;
    let custodian_secs = t.elapsed().as_secs_f64();
    assert_eq!(imported.customers.len(), n);

    // The same file into a fresh store in a process of its own: its peak
    // memory is the streamed import's (this process holds the file's text).
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg(CHILD_FLAG)
        .arg(dir.join("child-store"))
        .arg(&path)
        .output()?;
    if !child.status.success() {
        return Err(format!("the csv child failed: {}", String::from_utf8_lossy(&child.stderr)).into());
    }
    let figures = String::from_utf8(child.stdout)?;
    for line in figures.lines() {
        if let Some((metric, value)) = line.split_once(' ') {
            report.metric(metric, value.parse()?, if metric.ends_with("rss") { "MiB" } else { "rows/s" });
        }
    }

    plain.execute_batch(
        "CREATE TABLE csv_customers (code TEXT, kind TEXT, name TEXT, organisation TEXT, category TEXT, title TEXT,
         mobile TEXT, email TEXT, address TEXT, gender TEXT, birth_date TEXT, id_number TEXT, source TEXT, tier TEXT,
         tags TEXT, notes TEXT);
         CREATE INDEX csv_by_mobile ON csv_customers (mobile);",
    )?;
    let t = Instant::now();
    let file = std::fs::read(&path)?;
    let (decoded, _, malformed) = encoding_rs::GB18030.decode(&file);
    assert!(!malformed);
    let mut reader = csv::Reader::from_reader(decoded.as_bytes());
    let tx = plain.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO csv_customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        for record in reader.records() {
            let record = record?;
            insert.execute(rusqlite::params_from_iter(record.iter()))?;
        }
    }
    tx.commit()?;
    let plain_secs = t.elapsed().as_secs_f64();
    report.metric("csv_import_rate_custodian", n as f64 / custodian_secs, "rows/s");
    report.metric("csv_import_rate_plain", n as f64 / plain_secs, "rows/s");
    report.metric("csv_import_ratio_vs_plain", plain_secs / custodian_secs, "ratio");
    Ok(())
}

/// The child process: imports the file `args[1]` into a new store at
/// `args[0]` and prints `csv_import_child_rate <rows/s>` and
/// `csv_import_child_peak_rss <MiB>`.
pub fn child(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [store_dir, path] = args else { return Err("usage: --csv-import-child STORE FILE".into()) };
    let key = custodian::KeySource::key_bytes(&[42u8; 32])?;
    let store = custodian::Store::create_at(store_dir, key, custodian::CreateOptions::new())?;
    store.bootstrap_administrator(&custodian::NewPrincipal::system("bench", "benchmark"))?;
    let session = store.session("bench", custodian::Purpose::Service)?;
    let t = Instant::now();
    let options = ImportOptions::new().problems_only(true);
    let report = session.import_csv(std::fs::File::open(path)?, &CsvReadOptions::new(), &options, None)?;
    let secs = t.elapsed().as_secs_f64();
    println!("csv_import_child_rate {}", report.counts.created as f64 / secs);
    println!("csv_import_child_peak_rss {}", peak_rss_mib().unwrap_or(0.0));
    Ok(())
}
