//! Text ordering: Chinese in pinyin order, through ICU4X's `zh` collation.
//!
//! The default `zh` tailoring in CLDR is pinyin. Digits sort before Latin
//! letters, Latin before Han characters.

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
        let mut key = Vec::with_capacity(s.len() * 3 + 8);
        let _ = self.collator.write_sort_key_to(s, &mut key);
        // Same tie-break as `compare`: a separator below every key byte, then the code points.
        key.push(0);
        key.extend_from_slice(s.as_bytes());
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
