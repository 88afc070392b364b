//! Golden pinyin order: fails if the order of this fixed list ever changes
//! (an ICU data update, a collation change, a tie-break change).

mod common;

use common::*;
use custodian::collate::{Collation, PinyinCollation};
use custodian::{CustomerInput, Field, ListQuery};

/// The expected order. Han sorts by pinyin (阿 ā, 安 ān, 白 bái, 陈 chén,
/// 重 chóng, 李 lǐ, 欧 ōu, 张 zhāng, 长 zhǎng, 赵 zhào). Collation is per
/// character, so a polyphone takes CLDR's one reading: 长城 sorts as zhǎng,
/// not cháng, and 重庆 as chóng. CLDR's zh order puts Han before Latin
/// letters and digits before both; digits compare as text ("10" < "9").
const GOLDEN: &[&str] = &[
    "007特工",
    "10号店",
    "9号店",
    "阿",
    "阿里巴巴",
    "安",
    "白",
    "白云",
    "陈",
    "重庆",
    "李",
    "欧阳",
    "张",
    "张三",
    "长城",
    "赵",
    "abc",
    "ABC",
    "Zoe",
];

fn shuffled() -> Vec<&'static str> {
    let mut v = GOLDEN.to_vec();
    // A fixed permutation, so the test is deterministic.
    v.reverse();
    v.swap(0, 7);
    v.swap(3, 11);
    v
}

#[test]
fn golden_pinyin_order() {
    let c = PinyinCollation::new();
    let mut names = shuffled();
    names.sort_by(|a, b| c.compare(a, b));
    assert_eq!(names, GOLDEN);
    let mut by_key = shuffled();
    by_key.sort_by_key(|s| c.sort_key(s));
    assert_eq!(by_key, GOLDEN, "sort keys agree with compare");
}

#[test]
fn golden_order_through_the_store_both_directions() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        for org in shuffled() {
            s.create(CustomerInput::organisation().set(Field::Organisation, org)).unwrap();
        }
        let query = ListQuery { sort: Field::Organisation, limit: 100, ..Default::default() };
        let asc: Vec<String> =
            s.list(&query).unwrap().items.iter().map(|v| v.text(&Field::Organisation).to_owned()).collect();
        assert_eq!(asc, GOLDEN, "{name}");
        let desc: Vec<String> = s
            .list(&ListQuery { descending: true, ..query })
            .unwrap()
            .items
            .iter()
            .map(|v| v.text(&Field::Organisation).to_owned())
            .collect();
        let mut expected: Vec<&str> = GOLDEN.to_vec();
        expected.reverse();
        assert_eq!(desc, expected, "{name}");
    }
}
