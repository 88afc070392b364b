//! Text normalisation and n-gram cutting, the same for stored values and queries.
//!
//! A value and a keyword are both normalised (NFKC, so full-width `ＡＢＣ１`
//! becomes `abc1` and compatibility ideographs their unified forms; then
//! lower-cased). The normalised text splits into *runs* at every character
//! that is not a letter or digit (spaces, punctuation, symbols). Inside a run:
//!
//! - every pair of adjacent characters is a bigram (so a two-character CJK
//!   query, or a two-letter one, has a token);
//! - every three adjacent ASCII letters or digits are a trigram (so Latin
//!   words and numbers have selective tokens; Latin bigrams alone would match
//!   most customers).
//!
//! Why this is exact: when a keyword occurs in a value, each run of the
//! keyword lies inside one run of the value (the characters that split runs
//! are the same on both sides), so every gram of the keyword is a gram of the
//! value. Customers holding all of a keyword's grams are therefore a superset
//! of the matches, and re-checking the decrypted value removes the rest.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;

/// Normalises text for search: NFKC, then lower case.
pub(crate) fn normalise(text: &str) -> String {
    let nfkc: Cow<'_, str> = ComposingNormalizerBorrowed::new_nfkc().normalize(text);
    nfkc.to_lowercase()
}

/// Whether `normalised_text` contains `normalised_keyword`, both from [`normalise`].
pub(crate) fn contains(normalised_text: &str, normalised_keyword: &str) -> bool {
    normalised_text.contains(normalised_keyword)
}

/// Characters that split runs: anything but a letter or digit.
fn splits(c: char) -> bool {
    !c.is_alphanumeric()
}

/// A character trigrams are cut from.
fn narrow(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Every gram of a normalised value, as byte ranges of `text` (possibly repeated).
pub(crate) fn value_grams(text: &str) -> Vec<&str> {
    let mut grams = Vec::new();
    for run in text.split(splits).filter(|r| !r.is_empty()) {
        let chars: Vec<(usize, char)> = run.char_indices().collect();
        let end = |i: usize| chars.get(i).map_or(run.len(), |(at, _)| *at);
        for i in 0..chars.len().saturating_sub(1) {
            grams.push(&run[chars[i].0..end(i + 2)]);
            if i + 2 < chars.len() && chars[i..i + 3].iter().all(|(_, c)| narrow(*c)) {
                grams.push(&run[chars[i].0..end(i + 3)]);
            }
        }
    }
    grams
}

/// The grams a keyword is looked up by: its trigrams, and the bigrams no
/// trigram of the same run covers (a trigram implies the two bigrams in it,
/// and a Latin bigram alone selects little). Empty when the keyword has no
/// run of two characters: such a keyword is answered by a scan.
pub(crate) fn query_grams(keyword: &str) -> Vec<&str> {
    let mut grams: Vec<&str> = Vec::new();
    for run in keyword.split(splits).filter(|r| !r.is_empty()) {
        let chars: Vec<(usize, char)> = run.char_indices().collect();
        let end = |i: usize| chars.get(i).map_or(run.len(), |(at, _)| *at);
        let trigram_at = |i: usize| i + 2 < chars.len() && chars[i..i + 3].iter().all(|(_, c)| narrow(*c));
        for i in 0..chars.len().saturating_sub(1) {
            if trigram_at(i) {
                grams.push(&run[chars[i].0..end(i + 3)]);
            }
            let covered = trigram_at(i) || (i > 0 && trigram_at(i - 1));
            if !covered {
                grams.push(&run[chars[i].0..end(i + 2)]);
            }
        }
    }
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Whether a normalised keyword is a single gram itself (no separator, two
/// characters, or three ASCII letters and digits): holding its token is
/// then containing it, up to grams that share the token.
pub(crate) fn is_one_gram(keyword: &str) -> bool {
    query_grams(keyword) == [keyword]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_width_and_case() {
        assert_eq!(normalise("ＡＢＣ１２３ Zhang"), "abc123 zhang");
        assert_eq!(normalise("北京　朝阳"), "北京 朝阳");
    }

    #[test]
    fn values_give_bigrams_and_ascii_trigrams() {
        assert_eq!(value_grams("发票抬头"), ["发票", "票抬", "抬头"]);
        assert_eq!(value_grams("vip-2"), ["vi", "vip", "ip"]);
        assert_eq!(value_grams("王a1"), ["王a", "a1"]);
        assert!(value_grams("a b c").is_empty());
    }

    #[test]
    fn queries_use_trigrams_and_the_bigrams_they_leave() {
        assert_eq!(query_grams("invoice"), ["ice", "inv", "nvo", "oic", "voi"]);
        assert_eq!(query_grams("发票"), ["发票"]);
        assert_eq!(query_grams("li 王芳"), ["li", "王芳"]);
        assert!(query_grams("a 王").is_empty());
    }

    #[test]
    fn one_gram_keywords_are_exactly_a_gram() {
        assert!(is_one_gram("发票") && is_one_gram("vip") && is_one_gram("li") && is_one_gram("王a"));
        assert!(!is_one_gram(",北京") && !is_one_gram("invoice") && !is_one_gram("王") && !is_one_gram("北京 朝"));
    }

    #[test]
    fn every_gram_of_a_contained_keyword_is_a_gram_of_the_value() {
        let value = normalise("浙江省杭州市 West Lake 路12号, Invoice-VIP");
        for start in 0..value.chars().count() {
            for len in 1..12 {
                let keyword: String = value.chars().skip(start).take(len).collect();
                let keyword = keyword.trim();
                if keyword.is_empty() {
                    continue;
                }
                let grams = value_grams(&value);
                for g in query_grams(keyword) {
                    assert!(grams.contains(&g), "{g:?} of {keyword:?} not in {value:?}");
                }
            }
        }
    }
}
