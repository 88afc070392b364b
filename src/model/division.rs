//! GB/T 2260 administrative division codes, the first six digits of a
//! resident identity number.
//!
//! The table (`data/gb2260/divisions.tsv`) holds every county-level code a
//! published list has included since 1980, with the first and last year; its
//! sources, dates and the reasoning behind the rules below are in
//! `data/gb2260/SOURCES.md`.

use std::sync::LazyLock;

/// The year of the newest list in the table.
pub(crate) const NEWEST_LIST_YEAR: i32 = 2023;

const TABLE: &str = include_str!("../../data/gb2260/divisions.tsv");

/// One code's span: the first and last year a list includes it (`None`:
/// still in the newest list).
#[derive(Debug, Clone, Copy)]
struct Span {
    code: u32,
    last: Option<i32>,
}

/// Sorted by code, parsed once (about 7,000 lines, well under a millisecond).
static SPANS: LazyLock<Vec<Span>> = LazyLock::new(|| {
    TABLE
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let mut cols = line.split('\t');
            let code = cols.next().and_then(|c| c.parse().ok()).expect("divisions.tsv: code");
            let _first = cols.next().expect("divisions.tsv: first year");
            let last = match cols.next().expect("divisions.tsv: last year") {
                "-" => None,
                year => Some(year.parse().expect("divisions.tsv: last year")),
            };
            Span { code, last }
        })
        .collect()
});

/// Why a division code cannot be the one in an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DivisionProblem {
    /// No published list includes the code.
    Unknown,
    /// The code was abolished before the person was born.
    AbolishedBeforeBirth {
        /// The last year a list includes the code.
        last_listed: i32,
    },
}

fn span(code: u32) -> Option<Span> {
    SPANS.binary_search_by_key(&code, |s| s.code).ok().map(|i| SPANS[i])
}

/// Checks the six-digit `code` (ASCII digits) of someone born in `birth_year`.
pub(crate) fn check_division(code: &str, birth_year: i32) -> Result<(), DivisionProblem> {
    let Ok(number) = code.parse::<u32>() else {
        return Err(DivisionProblem::Unknown);
    };
    match span(number) {
        // Lists are dated December: a code dropped during the next year was
        // still being assigned early in it.
        Some(Span { last: Some(last), .. }) if birth_year > last + 1 => {
            Err(DivisionProblem::AbolishedBeforeBirth { last_listed: last })
        }
        Some(_) => Ok(()),
        // A district created after the newest list: accepted for people born
        // since, when its prefecture is still current.
        None if birth_year > NEWEST_LIST_YEAR
            && span(number / 100 * 100).is_some_and(|prefecture| prefecture.last.is_none()) =>
        {
            Ok(())
        }
        None => Err(DivisionProblem::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_covers_every_province() {
        assert!(SPANS.len() > 6_000);
        assert!(SPANS.windows(2).all(|w| w[0].code < w[1].code));
        for province in [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50] {
            assert!(span(province * 10_000).is_some(), "province {province}");
        }
    }

    #[test]
    fn current_historical_and_invented_codes() {
        assert_eq!(check_division("110101", 1990), Ok(()));
        // 崇文区 was merged into 东城区 in 2010.
        assert_eq!(check_division("110103", 1975), Ok(()));
        assert_eq!(check_division("110103", 2010), Ok(()));
        assert_eq!(check_division("110103", 2011), Err(DivisionProblem::AbolishedBeforeBirth { last_listed: 2009 }));
        assert_eq!(check_division("999999", 1990), Err(DivisionProblem::Unknown));
        assert_eq!(check_division("000000", 1990), Err(DivisionProblem::Unknown));
        // An unlisted district of a current prefecture, born after the newest list.
        assert_eq!(check_division("110199", 2024), Ok(()));
        assert_eq!(check_division("110199", 2000), Err(DivisionProblem::Unknown));
    }
}
