//! Text ordering: Chinese in pinyin order, through ICU4X's `zh` collation.
//!
//! The default `zh` tailoring in CLDR is pinyin. Digits sort before Latin
//! letters, Latin before Han characters. Person names sort by the reading
//! of their surname ([`Collation::person_name_sort_key`]): 曾小贤 under zēng,
//! 单田芳 under shàn, compound surnames (欧阳, 尉迟, ...) as one; the rest of
//! the name, and every other text, in ICU's order.

mod surnames;

pub use surnames::SURNAMES;

use std::cmp::Ordering;

use icu_collator::options::CollatorOptions;
use icu_collator::{Collator, CollatorBorrowed};
use icu_locale::locale;

/// Orders text. Implementations must be total orders.
pub trait Collation: Send + Sync {
    /// Compares two strings.
    fn compare(&self, a: &str, b: &str) -> Ordering;
    /// A byte string whose `memcmp` order equals [`Collation::compare`]'s
    /// order, for sorting many values by one precomputed key each.
    fn sort_key(&self, s: &str) -> Vec<u8>;
    /// The sort key of a person's name: by default the text's own.
    fn person_name_sort_key(&self, name: &str) -> Vec<u8> {
        self.sort_key(name)
    }
}

/// Pinyin order for Chinese, via ICU4X with compiled CLDR data.
pub struct PinyinCollation {
    collator: CollatorBorrowed<'static>,
}

impl PinyinCollation {
    /// The `zh` (pinyin) collator.
    pub fn new() -> Self {
        let collator = Collator::try_new(locale!("zh").into(), CollatorOptions::default())
            .expect("the zh collation is part of ICU4X's compiled data");
        PinyinCollation { collator }
    }
}

impl Default for PinyinCollation {
    fn default() -> Self {
        Self::new()
    }
}

impl Collation for PinyinCollation {
    fn compare(&self, a: &str, b: &str) -> Ordering {
        // ICU treats some distinct strings as equal; fall back to code points
        // so the order is total and stable.
        self.collator.compare(a, b).then_with(|| a.cmp(b))
    }

    fn sort_key(&self, s: &str) -> Vec<u8> {
        self.key_of(s, s)
    }

    /// A surname from the table is read as the table says: its stand-in
    /// (characters with only that reading) takes its place in the key.
    fn person_name_sort_key(&self, name: &str) -> Vec<u8> {
        match surnames::surname_of(name) {
            Some((surname, stand_in)) => self.key_of(&format!("{stand_in}{}", &name[surname.len()..]), name),
            None => self.sort_key(name),
        }
    }
}

impl PinyinCollation {
    /// ICU's key for `collated`, then the code points of `original` as the
    /// tie-break (the same as `compare`'s), behind a separator below every
    /// key byte.
    fn key_of(&self, collated: &str, original: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(collated.len() * 3 + original.len() + 8);
        let _ = self.collator.write_sort_key_to(collated, &mut key);
        key.push(0);
        key.extend_from_slice(original.as_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_order_matches_compare() {
        let c = PinyinCollation::new();
        let words = ["张三", "阿", "赵", "白", "abc", "ABC", "10", "9", "陈", "Zoe", "", "长", "重庆"];
        for a in words {
            for b in words {
                assert_eq!(c.sort_key(a).cmp(&c.sort_key(b)), c.compare(a, b), "{a} vs {b}");
            }
        }
    }
}
