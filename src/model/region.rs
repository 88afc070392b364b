//! A customer's region (province and prefecture) derived from the address
//! at write time, so that statistics count by region without decrypting
//! anyone's address.
//!
//! The names are the statistics bureau's 2023 list (`data/gb2260/regions.tsv`,
//! sources in `data/gb2260/SOURCES.md`). An address is matched at its start,
//! the way Chinese addresses are written (province, prefecture, county, ...):
//! `浙江省杭州市西湖区…`, `浙江杭州…`, `杭州市…`, `北京市朝阳区…`. The region
//! kept is the prefecture's six-digit code (`330100`), the province's
//! (`330000`) when only the province is recognised (or for the four
//! municipalities, which are their own prefecture), or none.

use std::collections::HashMap;
use std::sync::LazyLock;

const TABLE: &str = include_str!("../../data/gb2260/regions.tsv");

/// The four municipalities: province and prefecture at once.
const MUNICIPALITIES: [u32; 4] = [11, 12, 31, 50];

/// How the autonomous regions are written short.
const SHORT_PROVINCES: [(&str, &str); 5] = [
    ("内蒙古自治区", "内蒙古"),
    ("广西壮族自治区", "广西"),
    ("西藏自治区", "西藏"),
    ("宁夏回族自治区", "宁夏"),
    ("新疆维吾尔自治区", "新疆"),
];

struct Regions {
    names: HashMap<u32, &'static str>,
    /// (name, code), longest names first, for prefix matching.
    provinces: Vec<(String, u32)>,
    /// Prefectures by their full names (杭州市, 阿克苏地区, 延边朝鲜族自治州), longest first.
    prefectures_full: Vec<(&'static str, u32)>,
    /// Prefectures by the short names of cities, areas and leagues (杭州,
    /// 阿克苏, 兴安) where the short name is unique among prefectures.
    prefectures_short: Vec<(String, u32)>,
}

static REGIONS: LazyLock<Regions> = LazyLock::new(|| {
    let mut names = HashMap::new();
    let mut provinces = Vec::new();
    let mut prefectures_full = Vec::new();
    let mut shorts: HashMap<String, Vec<u32>> = HashMap::new();
    for line in TABLE.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (code, name) = line.split_once('\t').expect("regions.tsv: code and name");
        let code: u32 = code.parse().expect("regions.tsv: code");
        names.insert(code, name);
        if code % 10_000 == 0 {
            provinces.push((name.to_owned(), code));
            let short = SHORT_PROVINCES
                .iter()
                .find(|(full, _)| *full == name)
                .map(|(_, short)| (*short).to_owned())
                .unwrap_or_else(|| name.trim_end_matches(['省', '市']).to_owned());
            provinces.push((short, code));
        } else {
            prefectures_full.push((name, code));
            // 自治州 are written in full (their short forms collide, e.g. 海南).
            if let Some(short) = ["市", "地区", "盟"].iter().find_map(|suffix| name.strip_suffix(suffix))
                && short.chars().count() >= 2
            {
                shorts.entry(short.to_owned()).or_default().push(code);
            }
        }
    }
    let mut prefectures_short: Vec<(String, u32)> =
        shorts.into_iter().filter(|(_, codes)| codes.len() == 1).map(|(name, codes)| (name, codes[0])).collect();
    provinces.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    prefectures_full.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    prefectures_short.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    Regions { names, provinces, prefectures_full, prefectures_short }
});

/// The region of an address: a prefecture's or province's six-digit code.
pub(crate) fn region_of(address: &str) -> Option<String> {
    let regions = &*REGIONS;
    let text: String = address.chars().filter(|c| !c.is_whitespace()).collect();
    let province_full = regions.provinces.iter().find(|(name, code)| {
        text.starts_with(name.as_str()) && regions.names.get(code).is_some_and(|full| *full == name)
    });
    let found = match province_full {
        Some((name, code)) => Some((*code, &text[name.len()..])),
        None => match regions.prefectures_full.iter().find(|(name, _)| text.starts_with(name)) {
            Some((_, code)) => return Some(code.to_string()),
            None => regions
                .provinces
                .iter()
                .find(|(name, _)| text.starts_with(name.as_str()))
                .map(|(name, code)| (*code, &text[name.len()..])),
        },
    };
    let Some((province, rest)) = found else {
        return regions
            .prefectures_short
            .iter()
            .find(|(name, _)| text.starts_with(name.as_str()))
            .map(|(_, code)| code.to_string());
    };
    if MUNICIPALITIES.contains(&(province / 10_000)) {
        return Some(province.to_string());
    }
    let in_province = |code: &u32| code / 10_000 == province / 10_000;
    let prefecture = regions
        .prefectures_full
        .iter()
        .find(|(name, code)| in_province(code) && rest.starts_with(name))
        .map(|(_, code)| *code)
        .or_else(|| {
            regions
                .prefectures_short
                .iter()
                .find(|(name, code)| in_province(code) && rest.starts_with(name.as_str()))
                .map(|(_, code)| *code)
        });
    Some(prefecture.unwrap_or(province).to_string())
}

/// The official name of a region code (`330100` → `杭州市`), if known.
pub(crate) fn region_name(code: u32) -> Option<&'static str> {
    REGIONS.names.get(&code).copied()
}

/// The province of a stored region (`"330100"` → `"330000"`).
pub(crate) fn province_code(region: &str) -> Option<String> {
    region.parse::<u32>().ok().map(|code| province_of(code).to_string())
}

/// The province of a region code (`330100` → `330000`).
pub(crate) fn province_of(code: u32) -> u32 {
    code / 10_000 * 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_they_are_written() {
        let cases = [
            ("浙江省杭州市西湖区文三路 1 号", Some("330100")),
            ("浙江杭州西湖区", Some("330100")),
            ("杭州市西湖区", Some("330100")),
            ("杭州西湖区", Some("330100")),
            ("北京市朝阳区建国路", Some("110000")),
            ("北京朝阳区", Some("110000")),
            ("上海市浦东新区", Some("310000")),
            ("重庆市万州区", Some("500000")),
            ("吉林市船营区", Some("220200")),
            ("吉林省长春市", Some("220100")),
            ("吉林长春", Some("220100")),
            ("广西南宁市", Some("450100")),
            ("广西壮族自治区南宁市青秀区", Some("450100")),
            ("内蒙古兴安盟", Some("152200")),
            ("新疆阿克苏地区", Some("652900")),
            ("吉林省延边朝鲜族自治州延吉市", Some("222400")),
            ("海南省海口市", Some("460100")),
            ("河南省济源市", Some("410000")),
            ("浙江省某某县", Some("330000")),
            ("No. 1 Main Street", None),
            ("", None),
        ];
        for (address, expected) in cases {
            assert_eq!(region_of(address).as_deref(), expected, "{address}");
        }
    }

    #[test]
    fn names_and_provinces() {
        assert_eq!(region_name(330100), Some("杭州市"));
        assert_eq!(region_name(330000), Some("浙江省"));
        assert_eq!(province_of(330100), 330000);
    }
}
