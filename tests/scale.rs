//! 100,000 customers on SQLite: listing, lookup and search work without
//! loading the store into memory.

mod common;

use common::*;
use custodian::{CreateOptions, CustomerInput, Field, ListQuery, SearchQuery, Store};

const N: u32 = 100_000;
const SURNAMES: [&str; 12] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "阿", "白"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"];

fn customer(i: u32) -> CustomerInput {
    let name =
        format!("{}{}{}", SURNAMES[(i % 12) as usize], GIVEN[(i / 12 % 10) as usize], GIVEN[(i / 120 % 10) as usize]);
    let notes =
        if i % 1000 == 0 { format!("第{i}号：需要开具发票") } else { format!("第{i}号：常规回访") };
    CustomerInput::individual()
        .set(Field::ExternalCode, format!("KH{i:06}"))
        .set(Field::Name, name)
        .set(Field::Mobile, format!("138{i:08}"))
        .set(Field::Email, format!("c{i}@example.com"))
        .set(Field::Notes, notes)
        .set(Field::Tier, ["A", "B", "C"][(i % 3) as usize])
}

/// Resident memory now and its peak since the last reset, in KiB (Linux).
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[test]
fn a_hundred_thousand_customers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create_at(dir.path().join("s"), key(), CreateOptions::new()).unwrap();
    provision(&store);
    let s = admin(&store);
    for start in (0..N).step_by(10_000) {
        s.create_many((start..start + 10_000).map(customer)).unwrap();
    }
    assert_eq!(store.counts().unwrap().customers, u64::from(N));

    // Reset the peak-memory mark so only the reads below are measured.
    let measured = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = memory_kib();

    let first = s.list(&ListQuery::new().sort(Field::Name).limit(50)).unwrap();
    assert_eq!(first.total, u64::from(N));
    assert!(first.items.iter().all(|v| v.text(&Field::Name).starts_with('阿')), "pinyin order puts 阿 first");
    let last = s.list(&ListQuery::new().sort(Field::Name).offset(u64::from(N) - 50).limit(50)).unwrap();
    assert_eq!(last.items.len(), 50);
    assert!(last.items.iter().all(|v| v.text(&Field::Name).starts_with('周')), "周 (zhōu) sorts last");
    let by_code = s.list(&ListQuery::new().sort(Field::ExternalCode).descending(true).limit(3)).unwrap();
    assert_eq!(by_code.items[0].text(&Field::ExternalCode), "KH099999");
    assert_eq!(s.find_by_mobile("138 0009 9999").unwrap()[0].text(&Field::ExternalCode), "KH099999");
    let hits = s.search(&SearchQuery::new("发票").limit(10)).unwrap();
    assert_eq!(hits.total, u64::from(N / 1000));

    if let (true, Some((rss, _)), Some((_, peak))) = (measured, before, memory_kib()) {
        let grew_mib = peak.saturating_sub(rss) / 1024;
        // Holding 100,000 decrypted customers would take well over 100 MiB;
        // streaming keeps the reads to the sort keys of one page window.
        assert!(grew_mib < 64, "reading grew resident memory by {grew_mib} MiB");
        eprintln!("peak growth while listing and searching 100,000 customers: {grew_mib} MiB");
    }
}
