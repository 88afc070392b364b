//! Statistics that single out no one (issue 17, items 6-8): counts by
//! classification and region, suppression below k with secondary
//! suppression, restricted customers left out, no value beyond
//! classification in any result, and who may ask.

mod common;

use common::*;
use custodian::{
    AuditQuery, CustomerInput, Error, Field, Filter, Purpose, Session, StatisticsCell as C, StatisticsDimension as D,
    StatisticsQuery, StatisticsTable, Store,
};

/// 类别 × 等级 counts of the fixed data set (rows 零售, 批发, 政府; columns A, B, C).
const DATA: [(&str, [usize; 3]); 3] = [("零售", [12, 7, 3]), ("批发", [6, 2, 9]), ("政府", [5, 5, 0])];

const ADDRESSES: [&str; 4] = ["浙江省杭州市西湖区文三路", "浙江宁波海曙区", "北京市朝阳区建国路", "广东省深圳市南山区"];

fn populate(store: &Store) -> Vec<custodian::CustomerId> {
    let mut inputs = Vec::new();
    let mut n = 0;
    for (category, per_tier) in DATA {
        for (tier, count) in ["A", "B", "C"].iter().zip(per_tier) {
            for _ in 0..count {
                inputs.push(
                    CustomerInput::individual()
                        .set(Field::Name, name_of(n))
                        .set(Field::Category, category)
                        .set(Field::Tier, *tier)
                        .set(Field::IdNumber, id_number("110105", "19851224", n))
                        .set(Field::Address, ADDRESSES[n as usize % ADDRESSES.len()]),
                );
                n += 1;
            }
        }
    }
    admin(store).create_many(inputs).expect("create")
}

/// A distinct name per customer (names take no digits): 统计甲甲, 统计甲乙, ...
fn name_of(n: u32) -> String {
    const STEMS: [char; 10] = ['甲', '乙', '丙', '丁', '戊', '己', '庚', '辛', '壬', '癸'];
    format!("统计{}{}", STEMS[(n / 10) as usize], STEMS[(n % 10) as usize])
}

/// The provisioned analyst, for the analytics purpose.
fn analyst(store: &Store) -> Session {
    store.session("analyst", Purpose::Analytics).expect("analyst session")
}

fn counts(cells: &[C]) -> Vec<Option<u64>> {
    cells.iter().map(|c| c.count()).collect()
}

#[test]
fn a_cross_tab_suppresses_small_cells_and_what_would_reveal_them() {
    for (name, store, _dir) in stores() {
        populate(&store);
        let table = analyst(&store).statistics(&StatisticsQuery::new(D::Category).by(D::Tier)).unwrap();
        assert_eq!(table.row_labels, ["批发", "政府", "零售"], "{name}: sorted labels");
        assert_eq!(table.column_labels, ["A", "B", "C"]);
        // The golden table at k = 5. 2 (批发, B) and 3 (零售, C) are below k (primary).
        // Then, line by line until no line holds a single suppression: row 批发 hides
        // its smallest other cell, 6; row 零售 hides 7; column A hides 5 (政府, A);
        // column C hides 9; row 政府 then hides its other 5. Zero is shown.
        let expected: Vec<Vec<Option<u64>>> =
            vec![vec![None, None, None], vec![None, None, Some(0)], vec![Some(12), None, None]];
        let cells: Vec<Vec<Option<u64>>> = table.cells.iter().map(|r| counts(r)).collect();
        assert_eq!(cells, expected, "{name}: {table:?}");
        assert_eq!(counts(&table.row_totals), [Some(17), Some(10), Some(22)]);
        assert_eq!(counts(&table.column_totals), [Some(23), Some(14), Some(12)]);
        assert_eq!(table.total, C::Count(49));
        assert_eq!((table.suppressed_primary, table.suppressed_secondary), (2, 5));
        assert!(no_line_has_a_single_suppression(&table), "{name}: {table:?}");

        // The same at k = 2 suppresses nothing; k below 2 is refused.
        let open = analyst(&store).statistics(&StatisticsQuery::new(D::Category).by(D::Tier).threshold(2)).unwrap();
        assert!(open.cells.iter().flatten().all(|c| c.count().is_some()));
        let e = analyst(&store).statistics(&StatisticsQuery::new(D::Tier).threshold(1)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { rule: "statistics_threshold", .. }), "{e:?}");
        let e = analyst(&store).statistics(&StatisticsQuery::new(D::Tier).by(D::Tier)).unwrap_err();
        assert!(matches!(e, Error::Invalid { rule: "statistics_same_dimension", .. }), "{e:?}");
    }
}

/// No row, column or margin line holds exactly one suppressed entry.
fn no_line_has_a_single_suppression(t: &StatisticsTable) -> bool {
    let hidden = |c: &C| usize::from(c.count().is_none());
    let rows = (0..t.cells.len()).all(|i| t.cells[i].iter().map(hidden).sum::<usize>() + hidden(&t.row_totals[i]) != 1);
    let columns = (0..t.column_labels.len())
        .all(|j| t.cells.iter().map(|r| hidden(&r[j])).sum::<usize>() + hidden(&t.column_totals[j]) != 1);
    let margins = t.row_totals.iter().map(hidden).sum::<usize>() + hidden(&t.total) != 1
        && t.column_totals.iter().map(hidden).sum::<usize>() + hidden(&t.total) != 1;
    rows && columns && margins
}

#[test]
fn regions_come_from_the_address_and_filters_apply() {
    for (name, store, _dir) in stores() {
        populate(&store);
        let a = analyst(&store);
        let by_province = a.statistics(&StatisticsQuery::new(D::Province).threshold(2)).unwrap();
        assert_eq!(by_province.row_labels, ["北京市", "广东省", "浙江省"], "{name}");
        // 49 customers over four addresses in turn: 13 杭州, 12 宁波, 12 北京, 12 深圳.
        assert_eq!(counts(&by_province.cells.iter().map(|r| r[0]).collect::<Vec<_>>()), [Some(12), Some(12), Some(25)]);
        let by_city = a.statistics(&StatisticsQuery::new(D::City).threshold(2)).unwrap();
        assert_eq!(by_city.row_labels, ["北京市", "广东省深圳市", "浙江省宁波市", "浙江省杭州市"], "{name}");
        // A filter on a classification attribute.
        let retail =
            a.statistics(&StatisticsQuery::new(D::Tier).filter(Filter::new().category("零售")).threshold(2)).unwrap();
        assert_eq!(retail.total, C::Count(22));
        // A changed address moves the customer (the region is kept at write time).
        let admin = admin(&store);
        let someone = admin.find(Field::IdNumber, &id_number("110105", "19851224", 0)).unwrap().remove(0);
        admin
            .update(someone.id, someone.version, custodian::CustomerPatch::new().set(Field::Address, "广东深圳福田区"))
            .unwrap();
        let after = a.statistics(&StatisticsQuery::new(D::Province).threshold(2)).unwrap();
        assert_eq!(counts(&after.cells.iter().map(|r| r[0]).collect::<Vec<_>>()), [Some(12), Some(13), Some(24)]);
    }
}

#[test]
fn restricted_customers_are_not_counted_and_no_value_or_customer_appears() {
    let store = memory_store();
    populate(&store);
    let admin = admin(&store);
    let someone = admin.find(Field::IdNumber, &id_number("110105", "19851224", 0)).unwrap().remove(0);
    admin.restrict(someone.id, "objection").unwrap();
    let a = analyst(&store);
    let table = a.statistics(&StatisticsQuery::new(D::Category).by(D::Tier).threshold(2)).unwrap();
    assert_eq!(table.total, C::Count(48));
    // Nothing but labels and counts: no name, ID number or address in the result.
    let shown = format!("{table:?}");
    for canary in ["统计", "110105", "文三路", "西湖区"] {
        assert!(!shown.contains(canary), "{canary} in {shown}");
    }
    // Audited with the dimensions and the threshold, naming no customer.
    let log = auditor(&store).audit_entries(&AuditQuery::new().limit(1000)).unwrap();
    let entry = log.iter().rev().find(|e| e.action == "customer.statistics").unwrap();
    assert!(entry.customers.is_empty());
    assert_eq!(entry.fields, ["category", "tier"]);
    let reason = entry.reason.clone().unwrap();
    assert!(reason.contains("rows=category") && reason.contains("columns=tier") && reason.contains("k=2"), "{reason}");
}

#[test]
fn marketing_is_refused_and_the_analyst_reads_no_customer() {
    let store = memory_store();
    populate(&store);
    let e = marketing(&store).statistics(&StatisticsQuery::new(D::Tier)).unwrap_err();
    assert!(matches!(e, Error::Denied { rule: "statistics.marketing", .. }), "{e:?}");
    // Service staff may count too; the analyst sees no personal field of anyone.
    service(&store).statistics(&StatisticsQuery::new(D::Tier)).unwrap();
    let a = analyst(&store);
    let page = a.list(&custodian::ListQuery::new().sort(Field::Category)).unwrap();
    assert_eq!(page.total, 49);
    assert!(page.items.iter().all(|c| !matches!(c.get(&Field::Name), Some(custodian::Shown::Plain(_)))));
}

#[test]
fn a_store_from_before_version_8_gets_its_counts_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = Store::create_at(&path, key(), custodian::CreateOptions::new()).unwrap();
        provision(&store);
        populate(&store);
    }
    // Turn the data file back into a version-7 one: no region column, no counts.
    {
        let conn = rusqlite::Connection::open(path.join(custodian::storage::DATA_FILE)).unwrap();
        conn.execute_batch(
            "DROP TABLE class_counts;
             ALTER TABLE customers DROP COLUMN region;
             DROP TABLE search_tokens; DROP TABLE search_postings; DROP TABLE search_grams;
             DROP TABLE customer_changes;
             UPDATE schema_version SET version = 7;",
        )
        .unwrap();
    }
    let store = Store::open_at(&path, key()).unwrap();
    let a = analyst(&store);
    let table = a.statistics(&StatisticsQuery::new(D::Category).by(D::Tier).threshold(2)).unwrap();
    assert_eq!(table.total, C::Count(49), "every customer counted after the upgrade");
    assert_eq!(counts(&table.row_totals), [Some(17), Some(10), Some(22)]);
    // Regions come with the next write of each customer; until then, none.
    let by_city = a.statistics(&StatisticsQuery::new(D::City).threshold(2)).unwrap();
    assert_eq!(by_city.row_labels, ["(none)"]);
}

#[test]
fn age_bands_are_counted_from_birth_dates_decrypted_inside_the_store() {
    // 2024-10-04, so that the ages do not move with the years.
    let clock = std::sync::Arc::new(custodian::ManualClock::new(20_000 * 86_400_000 + 43_200_000));
    let store = Store::in_memory(key(), custodian::CreateOptions::new()).unwrap().with_clock(clock).unwrap();
    provision(&store);
    // 6 born 1990-10-05 (33: the birthday is tomorrow), 7 born 1990-10-04 (34), 5 born 2010-01-01 (14), 3 without.
    let mut inputs = Vec::new();
    for (birth, n) in [(Some("1990-10-05"), 6), (Some("1990-10-04"), 7), (Some("2010-01-01"), 5), (None, 3)] {
        for _ in 0..n {
            let input =
                CustomerInput::individual().set(Field::Name, name_of(inputs.len() as u32)).set(Field::Tier, "A");
            inputs.push(match birth {
                Some(b) => input.set(Field::BirthDate, b),
                None => input,
            });
        }
    }
    admin(&store).create_many(inputs).unwrap();
    let a = analyst(&store);
    let table = a.statistics(&StatisticsQuery::new(D::AgeBand).by(D::Tier).threshold(2)).unwrap();
    assert_eq!(table.row_labels, ["(none)", "0-17", "30-39"]);
    assert_eq!(table.cells.iter().map(|r| r[0].count()).collect::<Vec<_>>(), [Some(3), Some(5), Some(13)]);
    // The same at k = 5: the 3 without a birth date go, and the smallest other row with them.
    let strict = a.statistics(&StatisticsQuery::new(D::AgeBand)).unwrap();
    assert_eq!(strict.cells.iter().map(|r| r[0].count()).collect::<Vec<_>>(), [None, None, Some(13)]);
    // Restricted customers are left out here too, and the audit entry names birth_date as used.
    let someone = admin(&store).list(&custodian::ListQuery::new().sort(Field::Tier)).unwrap().items[0].id;
    admin(&store).restrict(someone, "objection").unwrap();
    let after = a.statistics(&StatisticsQuery::new(D::AgeBand).threshold(2)).unwrap();
    assert_eq!(after.total, C::Count(20));
    let log = auditor(&store).audit_entries(&AuditQuery::new().limit(1000)).unwrap();
    let entry = log.iter().rev().find(|e| e.action == "customer.statistics").unwrap();
    assert_eq!(entry.fields, ["age_band", "birth_date"]);
    assert!(entry.customers.is_empty());
    assert!(!format!("{after:?}").contains("1990"), "no birth date in the result");
}

#[test]
fn consent_states_are_counted_per_purpose_and_channel_without_reading_sealed_data() {
    use custodian::consent::Channel;
    for (name, store, _dir) in stores() {
        let ids = populate(&store);
        // The first 12 (零售, A) consent to SMS marketing; one of them withdraws
        // again, and another restricts processing (not counted at all).
        for id in &ids[..12] {
            consent_to_sms(&store, *id);
        }
        withdraw_sms(&store, ids[0]);
        admin(&store).restrict(ids[1], "objection").unwrap();
        let query =
            StatisticsQuery::new(D::Consent).by(D::Category).threshold(2).consent(Purpose::Marketing, Channel::Sms);
        let table = analyst(&store).statistics(&query).unwrap();
        assert_eq!(table.row_labels, ["granted", "not granted"], "{name}");
        assert_eq!(table.column_labels, ["批发", "政府", "零售"]);
        let cells: Vec<Vec<Option<u64>>> = table.cells.iter().map(|r| counts(r)).collect();
        assert_eq!(cells, [vec![Some(0), Some(0), Some(10)], vec![Some(17), Some(10), Some(11)]], "{name}: {table:?}");
        assert_eq!(table.total, C::Count(48));
        // At the default k nothing changes here; consent to another channel is nobody's.
        let email = StatisticsQuery::new(D::Consent).consent(Purpose::Marketing, Channel::Email);
        let by_email = analyst(&store).statistics(&email).unwrap();
        assert_eq!(by_email.row_labels, ["not granted"]);
        // The purpose and channel are required, and consent is not crossed with age.
        let e = analyst(&store).statistics(&StatisticsQuery::new(D::Consent)).unwrap_err();
        assert!(matches!(e, Error::Invalid { rule: "statistics_consent_purpose", .. }), "{e:?}");
        let e = analyst(&store)
            .statistics(&StatisticsQuery::new(D::Consent).by(D::AgeBand).consent(Purpose::Marketing, Channel::Sms))
            .unwrap_err();
        assert!(matches!(e, Error::Invalid { rule: "statistics_dimension_pair", .. }), "{e:?}");
        // The audit entry names the consent counted.
        let entries = auditor(&store).audit_entries(&AuditQuery::new().principal("analyst")).unwrap();
        let last = entries
            .iter()
            .rev()
            .find(|e| e.action == "customer.statistics" && e.outcome == custodian::Outcome::Allowed)
            .unwrap();
        assert!(last.fields.contains(&"consent.marketing.email".to_owned()), "{last:?}");
    }
}

#[test]
fn purchase_totals_by_tier_sum_what_customers_paid_and_suppress_small_rows() {
    use custodian::{PaymentMethod, PurchaseTotalsQuery, TransactionInput, TransactionStatus};
    for (name, store, _dir) in stores() {
        let ids = populate(&store);
        // Tier A of 零售 is ids[0..12], B ids[12..19], C ids[19..22]; 批发 A ids[22..28] ...
        let a = admin(&store);
        let pay = |id, reference: &str, minor: i64, currency: &str| {
            let input = TransactionInput::new(reference, currency, minor, PaymentMethod::Cash).item("茶", 1, minor);
            a.add_transaction(id, &input).unwrap()
        };
        for (n, id) in ids[..6].iter().enumerate() {
            pay(*id, &format!("A-{n}"), 10_000, "CNY"); // 6 tier-A buyers, 100.00 each
        }
        pay(ids[0], "A-extra", 5_050, "CNY"); // a second order: 50.50 more, still 6 buyers
        pay(ids[1], "A-usd", 999, "USD"); // another currency: not summed
        for (n, id) in ids[12..17].iter().enumerate() {
            pay(*id, &format!("B-{n}"), 2_000, "CNY"); // 5 tier-B buyers
        }
        pay(ids[19], "C-0", 70_000, "CNY"); // 1 tier-C buyer: suppressed, and so is B with it
        // Pending (not yet paid), then cancelled: not a purchase.
        let pending = TransactionInput::new("C-1", "CNY", 80_000, PaymentMethod::Cash)
            .item("茶", 1, 80_000)
            .status(TransactionStatus::Pending);
        let pending = a.add_transaction(ids[20], &pending).unwrap();
        a.set_transaction_status(pending.id, pending.version, TransactionStatus::Cancelled).unwrap();

        let totals = analyst(&store).purchase_totals(&PurchaseTotalsQuery::new(D::Tier, "CNY")).unwrap();
        assert_eq!(totals.row_labels, ["A", "B", "C"], "{name}");
        assert_eq!(totals.buyers, [C::Count(6), C::Suppressed, C::Suppressed], "{name}: {totals:?}");
        assert_eq!(totals.amounts, [Some("650.50 CNY".to_owned()), None, None]);
        assert_eq!(totals.total_buyers, C::Count(12));
        assert_eq!(totals.total_amount.as_deref(), Some("1450.50 CNY"));
        // At k = 2 a single tier-C buyer is still hidden, and B with it; a second C buyer shows all.
        let k2 = PurchaseTotalsQuery::new(D::Tier, "CNY").threshold(2);
        assert_eq!(analyst(&store).purchase_totals(&k2).unwrap().amounts, totals.amounts);
        pay(ids[21], "C-2", 1_000, "CNY");
        let open = analyst(&store).purchase_totals(&k2).unwrap();
        let amounts: Vec<Option<&str>> = open.amounts.iter().map(|a| a.as_deref()).collect();
        assert_eq!(amounts, [Some("650.50 CNY"), Some("100.00 CNY"), Some("710.00 CNY")], "{name}");
        assert_eq!(open.buyers, [C::Count(6), C::Count(5), C::Count(2)]);
        let usd = analyst(&store).purchase_totals(&PurchaseTotalsQuery::new(D::Tier, "USD").threshold(2)).unwrap();
        assert_eq!(usd.buyers, [C::Suppressed]);
        // Refusals.
        let e = analyst(&store).purchase_totals(&PurchaseTotalsQuery::new(D::Tier, "XXY")).unwrap_err();
        assert!(matches!(e, Error::Invalid { rule: "currency_unknown", .. }), "{e:?}");
        let e = analyst(&store).purchase_totals(&PurchaseTotalsQuery::new(D::AgeBand, "CNY")).unwrap_err();
        assert!(matches!(e, Error::Invalid { rule: "statistics_dimension", .. }), "{e:?}");
        let e = marketing(&store).purchase_totals(&PurchaseTotalsQuery::new(D::Tier, "CNY")).unwrap_err();
        assert!(matches!(e, Error::Denied { rule: "statistics.marketing", .. }), "{e:?}");
        let entries = auditor(&store).audit_entries(&AuditQuery::new().principal("analyst")).unwrap();
        let last = entries
            .iter()
            .rev()
            .find(|e| e.action == "customer.purchase_totals" && e.outcome == custodian::Outcome::Allowed)
            .unwrap();
        assert!(last.customers.is_empty() && last.fields.contains(&"transaction.total".to_owned()));
    }
}
