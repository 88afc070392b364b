//! Deterministic generator of realistic (but entirely fictitious) Chinese
//! customers, shared by the examples.
//!
//! Include it from an example with
//!
//! ```ignore
//! #[path = "support/generate.rs"]
//! mod generate;
//! ```
//!
//! and drive it with a seeded [`fastrand::Rng`]: the same seed always yields
//! the same customers, in the same order, so a demo store or a benchmark can
//! be rebuilt identically. Every generated value passes the crate's strict
//! validation (names are letters only, organisations and titles letters,
//! digits and common punctuation, national ID numbers carry a valid GB 11643
//! check character and agree with the birth date, mobile numbers are unique
//! mainland numbers).
//!
//! Roughly: 90% individuals and 10% organisations (with a contact person),
//! half of the individuals with a national ID number and birth date, about
//! one in seven with a note mentioning 发票 (invoice), so a keyword search
//! has something to find.

// Each example uses a different subset of this module.
#![allow(dead_code)]

use custodian::model::id_check_character;
use custodian::{CustomerInput, Field};

/// Common surnames with their pinyin; the first 20 are the most frequent and
/// are drawn more often.
const SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("袁", "yuan"),
    ("潘", "pan"),
    ("蒋", "jiang"),
    ("蔡", "cai"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("苏", "su"),
    ("魏", "wei"),
    ("吕", "lv"),
    ("丁", "ding"),
    ("任", "ren"),
    ("沈", "shen"),
    ("姚", "yao"),
    ("卢", "lu"),
    ("姜", "jiang"),
    ("崔", "cui"),
    ("钟", "zhong"),
    ("谭", "tan"),
    ("陆", "lu"),
    ("范", "fan"),
    ("金", "jin"),
    ("石", "shi"),
    ("廖", "liao"),
    ("贾", "jia"),
    ("夏", "xia"),
    ("方", "fang"),
    ("白", "bai"),
    ("邹", "zou"),
    ("孟", "meng"),
    ("熊", "xiong"),
    ("秦", "qin"),
    ("邱", "qiu"),
    ("薛", "xue"),
    ("段", "duan"),
    ("雷", "lei"),
    ("侯", "hou"),
    ("龙", "long"),
    ("顾", "gu"),
    ("毛", "mao"),
    ("钱", "qian"),
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("诸葛", "zhuge"),
    ("上官", "shangguan"),
];

/// Given-name characters usual for men, with pinyin.
const GIVEN_MALE: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("斌", "bin"),
    ("浩", "hao"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("刚", "gang"),
    ("辉", "hui"),
    ("建", "jian"),
    ("国", "guo"),
    ("志", "zhi"),
    ("俊", "jun"),
    ("峰", "feng"),
    ("晨", "chen"),
    ("海", "hai"),
    ("文", "wen"),
];

/// Given-name characters usual for women, with pinyin.
const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("艳", "yan"),
    ("娟", "juan"),
    ("霞", "xia"),
    ("秀", "xiu"),
    ("玲", "ling"),
    ("兰", "lan"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("颖", "ying"),
    ("慧", "hui"),
    ("欣", "xin"),
    ("倩", "qian"),
    ("佳", "jia"),
    ("悦", "yue"),
    ("梅", "mei"),
    ("红", "hong"),
    ("萍", "ping"),
    ("文", "wen"),
];

/// A city district, for addresses, organisation names and ID numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct District {
    /// The city with 市, e.g. `北京市`.
    pub city: &'static str,
    /// The district, e.g. `朝阳区`.
    pub district: &'static str,
    /// Its administrative division code: the first six digits of an ID number issued there.
    pub code: &'static str,
    /// The city's short name, e.g. `北京`.
    pub short: &'static str,
}

/// The districts customers live and work in.
pub const DISTRICTS: &[District] = &[
    District { city: "北京市", district: "朝阳区", code: "110105", short: "北京" },
    District { city: "北京市", district: "海淀区", code: "110108", short: "北京" },
    District { city: "上海市", district: "黄浦区", code: "310101", short: "上海" },
    District { city: "上海市", district: "浦东新区", code: "310115", short: "上海" },
    District { city: "深圳市", district: "南山区", code: "440305", short: "深圳" },
    District { city: "深圳市", district: "福田区", code: "440304", short: "深圳" },
    District { city: "广州市", district: "天河区", code: "440106", short: "广州" },
    District { city: "杭州市", district: "西湖区", code: "330106", short: "杭州" },
    District { city: "成都市", district: "武侯区", code: "510107", short: "成都" },
    District { city: "南京市", district: "玄武区", code: "320102", short: "南京" },
    District { city: "武汉市", district: "江汉区", code: "420103", short: "武汉" },
    District { city: "西安市", district: "雁塔区", code: "610113", short: "西安" },
];

/// Street names for addresses.
const ROADS: &[&str] = &[
    "建国路",
    "人民路",
    "解放路",
    "中山路",
    "长江路",
    "和平街",
    "文化路",
    "科技园路",
    "滨江大道",
    "学院路",
    "新华街",
    "光明路",
];

/// Customer categories (类别).
pub const CATEGORIES: &[&str] = &["零售", "批发", "制造", "金融", "互联网", "医疗", "教育", "政府"];

/// Brand-like words for company names.
const BRAND_WORDS: &[&str] = &[
    "星辰", "华信", "宏达", "恒通", "瑞丰", "金桥", "远航", "博雅", "天成", "新元", "嘉禾", "凯盛", "中联", "东方",
    "安泰", "鼎盛", "汇通", "明德",
];

/// Job titles (职务).
const TITLES: &[&str] = &[
    "经理",
    "工程师",
    "主任",
    "总监",
    "会计",
    "销售代表",
    "采购专员",
    "行政助理",
    "科长",
    "副总经理",
    "项目经理",
    "客户经理",
    "教师",
    "医生",
];

/// Source channels.
pub const SOURCES: &[&str] = &["web", "counter", "phone", "referral"];

/// Tags a customer may carry.
const TAGS: &[&str] = &["重点客户", "老客户", "新客户", "VIP", "潜在客户", "已回访", "价格敏感", "需上门"];

/// Notes that mention 发票 (invoice); a search for it finds these.
const INVOICE_NOTES: &[&str] = &[
    "要求每月开具增值税专用发票。",
    "发票抬头已变更为新单位名称，已登记。",
    "上季度发票已寄出，待客户确认。",
    "咨询电子发票的下载方式，已指导。",
];

/// Everyday notes without the search keyword.
const OTHER_NOTES: &[&str] = &[
    "偏好电话联系，工作日下午方便。",
    "对新产品很感兴趣，已发送资料。",
    "下次回访时间待定。",
    "投诉配送延迟，已道歉并补偿优惠券。",
    "希望参加下月的客户答谢会。",
    "长期合作客户，付款及时。",
    "要求上门演示，已安排工程师。",
    "暂无采购计划，半年后再联系。",
    "对价格比较敏感，关注促销活动。",
    "已签订年度服务合同。",
];

/// Chinese numerals 1-15, for school and hospital names.
const CHINESE_NUMERALS: &[&str] =
    &["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五"];

/// One generated customer as plain data, before it becomes a [`CustomerInput`].
///
/// Kept as plain strings so a benchmark or demo can remember, e.g., a mobile
/// number to look up later. All values are fictitious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Sequence number the external code was made from (1-based).
    pub number: usize,
    /// 编号, e.g. `KH000123`.
    pub external_code: String,
    /// Whether this is an organisation customer (the name is then its contact person).
    pub organisation_kind: bool,
    /// 姓名, e.g. `王芳`.
    pub name: String,
    /// 单位, e.g. `北京星辰网络科技有限公司`.
    pub organisation: String,
    /// 类别, one of [`CATEGORIES`].
    pub category: &'static str,
    /// 职务, e.g. `经理`.
    pub title: &'static str,
    /// Mainland mobile number, 11 digits, unique within one generator.
    pub mobile: String,
    /// E-mail address (absent for about one in ten).
    pub email: Option<String>,
    /// Postal address.
    pub address: String,
    /// `male` or `female`; `None` for organisations.
    pub gender: Option<&'static str>,
    /// Birth date `YYYY-MM-DD`; present exactly when [`Profile::id_number`] is.
    pub birth_date: Option<String>,
    /// 18-character national ID number with a valid check character.
    pub id_number: Option<String>,
    /// Source channel, one of [`SOURCES`].
    pub source: &'static str,
    /// Value tier `A`, `B` or `C`.
    pub tier: &'static str,
    /// Free-text notes (may be empty).
    pub notes: String,
    /// Comma-separated tags (may be empty).
    pub tags: String,
}

impl Profile {
    /// The profile as input for [`custodian::Session::create`]. Empty values are left unset.
    pub fn to_input(&self) -> CustomerInput {
        let mut input =
            if self.organisation_kind { CustomerInput::organisation() } else { CustomerInput::individual() };
        let mut put = |field: Field, value: &str| {
            if !value.is_empty() {
                input.insert(field, value);
            }
        };
        put(Field::ExternalCode, &self.external_code);
        put(Field::Name, &self.name);
        put(Field::Organisation, &self.organisation);
        put(Field::Category, self.category);
        put(Field::Title, self.title);
        put(Field::Mobile, &self.mobile);
        put(Field::Email, self.email.as_deref().unwrap_or(""));
        put(Field::Address, &self.address);
        put(Field::Gender, self.gender.unwrap_or(""));
        put(Field::BirthDate, self.birth_date.as_deref().unwrap_or(""));
        put(Field::IdNumber, self.id_number.as_deref().unwrap_or(""));
        put(Field::Source, self.source);
        put(Field::Tier, self.tier);
        put(Field::Notes, &self.notes);
        put(Field::Tags, &self.tags);
        input
    }
}

/// An endless, deterministic stream of [`Profile`]s numbered from a start
/// value; mobile numbers never repeat (see [`mobile`]).
pub struct Generator<'a> {
    /// The source of randomness.
    rng: &'a mut fastrand::Rng,
    /// Number of the next profile.
    next_number: usize,
}

impl<'a> Generator<'a> {
    /// A generator whose first profile is number 1 (`KH000001`).
    pub fn new(rng: &'a mut fastrand::Rng) -> Self {
        Self::starting_at(rng, 1)
    }

    /// A generator whose first profile is number `first`.
    pub fn starting_at(rng: &'a mut fastrand::Rng, first: usize) -> Self {
        Generator { rng, next_number: first }
    }

    /// The next profile.
    pub fn profile(&mut self) -> Profile {
        let number = self.next_number;
        self.next_number += 1;
        let rng = &mut *self.rng;

        let organisation_kind = rng.u32(0..10) == 0;
        let male = rng.bool();
        let (name, pinyin) = person_name(rng, male);
        let category = pick(rng, CATEGORIES);
        let home = pick(rng, DISTRICTS);
        let workplace = pick(rng, DISTRICTS);
        let organisation = organisation_name(rng, category, &workplace);
        let mobile = mobile(number);
        let email = (rng.u32(0..10) != 0).then(|| email(rng, &pinyin));
        let address = format!(
            "{}{}{}{}号{}栋{}室",
            home.city,
            home.district,
            pick(rng, ROADS),
            rng.u32(1..300),
            rng.u32(1..20),
            rng.u32(1..30) * 100 + rng.u32(1..9),
        );
        let (gender, birth_date, id_number) = if organisation_kind {
            (None, None, None)
        } else if rng.bool() {
            let (y, m, d) = birth_date(rng);
            let id = id_number(rng, home.code, (y, m, d), male);
            (Some(gender_name(male)), Some(format!("{y:04}-{m:02}-{d:02}")), Some(id))
        } else {
            (Some(gender_name(male)), None, None)
        };
        let tier = match rng.u32(0..10) {
            0..=1 => "A",
            2..=5 => "B",
            _ => "C",
        };
        Profile {
            number,
            external_code: external_code(number),
            organisation_kind,
            name,
            organisation,
            category,
            title: pick(rng, TITLES),
            mobile,
            email,
            address,
            gender,
            birth_date,
            id_number,
            source: pick(rng, SOURCES),
            tier,
            notes: notes(rng),
            tags: tags(rng),
        }
    }
}

impl Iterator for Generator<'_> {
    type Item = Profile;

    fn next(&mut self) -> Option<Profile> {
        Some(self.profile())
    }
}

/// The first `n` profiles of a fresh [`Generator`] (numbers 1..=n).
pub fn profiles(rng: &mut fastrand::Rng, n: usize) -> impl Iterator<Item = Profile> {
    Generator::new(rng).take(n)
}

/// The first `n` generated customers, ready for [`custodian::Session::create`].
pub fn customers(rng: &mut fastrand::Rng, n: usize) -> impl Iterator<Item = CustomerInput> {
    profiles(rng, n).map(|p| p.to_input())
}

/// The external code (编号) of customer number `number`, e.g. `KH000123`.
pub fn external_code(number: usize) -> String {
    format!("KH{number:06}")
}

/// A uniformly chosen element of a non-empty slice.
pub fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// A person's name and an ASCII pinyin rendering of it (`("王芳", "wang.fang")`).
pub fn person_name(rng: &mut fastrand::Rng, male: bool) -> (String, String) {
    // The 20 commonest surnames cover well over half of the population.
    let (surname, surname_py) = if rng.u32(0..10) < 6 { pick(rng, &SURNAMES[..20]) } else { pick(rng, SURNAMES) };
    let given = if male { GIVEN_MALE } else { GIVEN_FEMALE };
    let mut name = surname.to_owned();
    let mut given_py = String::new();
    for _ in 0..rng.usize(1..=2) {
        let (c, py) = pick(rng, given);
        name.push_str(c);
        given_py.push_str(py);
    }
    (name, format!("{surname_py}.{given_py}"))
}

/// The mainland mobile number of profile `number`: a real 3-digit prefix
/// (13x-19x) and 8 scrambled digits. Distinct numbers give distinct mobiles
/// (the scramble is a bijection), so uniqueness costs no memory even for
/// millions of profiles.
pub fn mobile(number: usize) -> String {
    const PREFIXES: &[&str] = &[
        "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156", "157",
        "158", "159", "166", "173", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198",
        "199",
    ];
    let slot = (number / PREFIXES.len()) as u64;
    // 48,271 is coprime to 10^8, so this permutes 0..10^8.
    let digits = (slot * 48_271 + 12_345) % 100_000_000;
    format!("{}{digits:08}", PREFIXES[number % PREFIXES.len()])
}

/// An e-mail address made from a pinyin name, e.g. `wang.fang88@example.cn`.
pub fn email(rng: &mut fastrand::Rng, pinyin: &str) -> String {
    let domain = pick(rng, &["example.com", "example.cn", "mail.example.com"]);
    let local = match rng.u32(0..3) {
        0 => pinyin.to_owned(),
        1 => pinyin.replace('.', "_"),
        _ => pinyin.replace('.', ""),
    };
    format!("{local}{}@{domain}", rng.u32(1..1000))
}

/// An organisation name that suits `category`, located in `district`'s city.
pub fn organisation_name(rng: &mut fastrand::Rng, category: &str, district: &District) -> String {
    let city = district.short;
    let brand = pick(rng, BRAND_WORDS);
    let company = |rng: &mut fastrand::Rng, industries: &[&str]| {
        let suffix = if rng.u32(0..5) == 0 { "股份有限公司" } else { "有限公司" };
        format!("{city}{brand}{}{suffix}", pick(rng, industries))
    };
    match category {
        "零售" => company(rng, &["商贸", "百货", "超市连锁", "电器"]),
        "批发" => company(rng, &["贸易", "供应链管理", "农产品批发", "建材"]),
        "制造" => company(rng, &["电子", "机械", "精密制造", "新材料", "食品"]),
        "金融" => company(rng, &["投资管理", "融资租赁", "保险代理", "资产管理"]),
        "互联网" => company(rng, &["网络科技", "信息技术", "软件", "数据服务"]),
        "医疗" if rng.bool() => format!("{}第{}人民医院", district.city, pick(rng, CHINESE_NUMERALS)),
        "医疗" => company(rng, &["医疗器械", "生物科技", "医药"]),
        "教育" if rng.bool() => format!("{}第{}中学", district.city, pick(rng, CHINESE_NUMERALS)),
        "教育" => format!("{city}{brand}职业技术学院"),
        _ => {
            let office = pick(rng, &["市场监督管理局", "税务局", "教育局", "政务服务中心", "人力资源和社会保障局"]);
            format!("{}{}{office}", district.city, district.district)
        }
    }
}

/// A birth date between 1950 and 2004 (always a real calendar date).
pub fn birth_date(rng: &mut fastrand::Rng) -> (u32, u32, u32) {
    let year = rng.u32(1950..=2004);
    let month = rng.u32(1..=12);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (year, month, rng.u32(1..=days))
}

/// A GB 11643 national ID number: 6-digit region code, birth date
/// `YYYYMMDD`, 3-digit sequence (odd last digit for men, even for women) and
/// the check character computed by [`custodian::model::id_check_character`].
pub fn id_number(rng: &mut fastrand::Rng, region: &str, (y, m, d): (u32, u32, u32), male: bool) -> String {
    let sequence = rng.u32(0..500) * 2 + u32::from(male);
    let first17 = format!("{region}{y:04}{m:02}{d:02}{sequence:03}");
    debug_assert_eq!(first17.len(), 17);
    let check = id_check_character(first17.as_bytes());
    format!("{first17}{}", char::from(check))
}

/// The store's gender value.
pub fn gender_name(male: bool) -> &'static str {
    if male { "male" } else { "female" }
}

/// Zero to two short notes; about one customer in seven mentions 发票.
pub fn notes(rng: &mut fastrand::Rng) -> String {
    let mut out = String::new();
    if rng.u32(0..7) == 0 {
        out.push_str(pick(rng, INVOICE_NOTES));
    }
    for _ in 0..rng.usize(0..=1 + usize::from(out.is_empty())) {
        out.push_str(pick(rng, OTHER_NOTES));
    }
    out
}

/// Zero to three distinct tags, comma-separated.
pub fn tags(rng: &mut fastrand::Rng) -> String {
    let mut chosen: Vec<&str> = Vec::new();
    for _ in 0..rng.usize(0..=3) {
        let tag = pick(rng, TAGS);
        if !chosen.contains(&tag) {
            chosen.push(tag);
        }
    }
    chosen.join(",")
}
