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
        let query = ListQuery::new().sort(Field::Organisation).limit(100);
        let asc: Vec<String> =
            s.list(&query).unwrap().items.iter().map(|v| v.text(&Field::Organisation).to_owned()).collect();
        assert_eq!(asc, GOLDEN, "{name}");
        let desc: Vec<String> = s
            .list(&query.descending(true))
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

/// Person names in the order a Chinese reader expects: by the reading of
/// the surname (仇 qiú, 单 shàn, 解 xiè, 曾 zēng), compound surnames as one
/// (欧阳). Fails if this order ever changes.
const GOLDEN_PEOPLE: &[&str] =
    &["阿明", "白浩", "陈七", "李四", "欧阳娜娜", "仇小明", "单田芳", "王五", "解晓东", "曾小贤", "张三", "赵六"];

#[test]
fn person_names_sort_by_the_reading_of_their_surname() {
    let c = PinyinCollation::new();
    let mut names: Vec<&str> = GOLDEN_PEOPLE.iter().rev().copied().collect();
    names.sort_by_key(|n| c.person_name_sort_key(n));
    assert_eq!(names, GOLDEN_PEOPLE);
    // Plain ICU order reads 曾 as céng and puts 曾小贤 among the C's.
    let mut plain: Vec<&str> = GOLDEN_PEOPLE.to_vec();
    plain.sort_by_key(|n| c.sort_key(n));
    assert!(plain.iter().position(|n| *n == "曾小贤") < plain.iter().position(|n| *n == "陈七"), "{plain:?}");
}

#[test]
fn every_surname_of_the_table_sorts_where_its_reading_belongs() {
    // (surname, a name sorting just before its reading, one just after); the
    // neighbours' surnames have a single reading.
    let between: &[(&str, &str, &str)] = &[
        ("尉迟", "杨", "张"),
        ("万俟", "马", "倪"),
        ("长孙", "张", "赵"),
        ("单于", "蔡", "陈"),
        ("令狐", "李", "刘"),
        ("澹台", "孙", "王"),
        ("欧阳", "倪", "潘"),
        ("诸葛", "赵", "邹"),
        ("司马", "沈", "孙"),
        ("上官", "沙", "沈"),
        ("曾", "杨", "张"),
        ("单", "沙", "沈"),
        ("仇", "秦", "孙"),
        ("解", "吴", "杨"),
        ("区", "倪", "潘"),
        ("朴", "潘", "钱"),
        ("查", "杨", "张"),
        ("盖", "高", "龚"),
        ("缪", "马", "倪"),
        ("覃", "钱", "孙"),
        ("乐", "杨", "张"),
        ("种", "陈", "崔"),
        ("召", "沙", "沈"),
        ("任", "钱", "孙"),
        ("华", "胡", "黄"),
    ];
    let table: Vec<&str> = custodian::collate::SURNAMES.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(between.iter().map(|(s, _, _)| *s).collect::<Vec<_>>(), table, "every surname is checked");
    let c = PinyinCollation::new();
    for (surname, before, after) in between {
        let name = format!("{surname}某");
        let (name_key, before_key, after_key) = (
            c.person_name_sort_key(&name),
            c.person_name_sort_key(&format!("{before}某")),
            c.person_name_sort_key(&format!("{after}某")),
        );
        assert!(before_key < name_key && name_key < after_key, "{name} should sort between {before}某 and {after}某");
    }
}

#[test]
fn the_store_lists_people_by_surname_and_organisations_by_icu() {
    for (name, store, _guard) in stores() {
        let s = admin(&store);
        for person in GOLDEN_PEOPLE.iter().rev() {
            s.create(CustomerInput::individual().set(Field::Name, *person)).unwrap();
        }
        let query = ListQuery::new().sort(Field::Name).limit(100);
        let listed = |q: &ListQuery| -> Vec<String> {
            s.list(q).unwrap().items.iter().map(|v| v.text(&Field::Name).to_owned()).collect()
        };
        assert_eq!(listed(&query), GOLDEN_PEOPLE, "{name}");
        let mut reversed: Vec<&str> = GOLDEN_PEOPLE.to_vec();
        reversed.reverse();
        assert_eq!(listed(&query.clone().descending(true)), reversed, "{name}");
        // The second page comes from the cached order: the same order.
        assert_eq!(listed(&query.offset(6).limit(6)), GOLDEN_PEOPLE[6..], "{name}");
        // An organisation called 曾氏 keeps ICU's order (céng): before 陈.
        for org in ["陈记", "曾氏"] {
            s.create(CustomerInput::organisation().set(Field::Organisation, org)).unwrap();
        }
        let orgs: Vec<String> = s
            .list(&ListQuery::new().sort(Field::Organisation).limit(100))
            .unwrap()
            .items
            .iter()
            .filter(|v| v.get(&Field::Organisation).is_some())
            .map(|v| v.text(&Field::Organisation).to_owned())
            .collect();
        assert_eq!(orgs, ["曾氏", "陈记"], "{name}");
    }
}
