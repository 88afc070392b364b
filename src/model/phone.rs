//! Whether a phone number exists: libphonenumber's allocation data (through
//! the `phonenumber` crate, which embeds the metadata of one libphonenumber
//! release), asked after our own parsing has put the number in normal form.
//!
//! The crate's own `is_valid` and `number_type` accept a number when a
//! pattern matches only its beginning (`find` with `start == 0`), so
//! `0797-97830504` passed as a Ganzhou landline although no such number
//! exists. libphonenumber matches the whole national number; so do we here,
//! with the crate's patterns anchored at both ends, following
//! libphonenumber's order of types and choice of region
//! (`tests/differential.rs` compares the result with Python's phonenumbers).
//!
//! Asking the metadata costs microseconds a number (its patterns are regular
//! expressions). A mainland mobile's allocation is decided by its first five
//! digits (the metadata's pattern for CN mobiles leaves the rest free), so
//! the answer is remembered per seven-digit block (号段 and HLR code) and a
//! bulk import pays for it once per block.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use phonenumber::Type;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::Regex;

/// Allocation of mainland mobile blocks, by their first seven digits.
static MOBILE_BLOCKS: LazyLock<RwLock<HashMap<u32, bool>>> = LazyLock::new(Default::default);

/// The metadata's patterns, anchored at both ends, by pattern text.
static ANCHORED: LazyLock<RwLock<HashMap<String, Arc<Regex>>>> = LazyLock::new(Default::default);

/// Whether an 11-digit mainland mobile number (`1` + 10 digits) is in an
/// allocated mobile block.
pub(crate) fn mainland_mobile_allocated(national: &str) -> bool {
    let Ok(block) = national[..7.min(national.len())].parse::<u32>() else { return false };
    if let Some(known) = MOBILE_BLOCKS.read().unwrap_or_else(|p| p.into_inner()).get(&block) {
        return *known;
    }
    let allocated = is_of_type(&format!("+86{national}"), &[Type::Mobile, Type::FixedLineOrMobile]);
    MOBILE_BLOCKS.write().unwrap_or_else(|p| p.into_inner()).insert(block, allocated);
    allocated
}

/// An international number (`+` and digits, not a mainland one) in its
/// E.164 form, when it is a valid number of its country, of any type. A
/// national prefix written after the country code (`+44 020...`,
/// `+91 09...`) is dropped, as libphonenumber does.
pub(crate) fn international_e164(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    number_type_of(e164)?;
    let national = number.national();
    Some(format!("+{}{}{}", number.code().value(), "0".repeat(national.zeros() as usize), national.value()))
}

/// Whether a mainland landline (area code with its leading 0, then the
/// subscriber number, digits only) exists: a fixed line, or a 400/800
/// service number.
pub(crate) fn mainland_landline_valid(digits: &str) -> bool {
    let national = digits.strip_prefix('0').unwrap_or(digits);
    is_of_type(
        &format!("+86{national}"),
        &[Type::FixedLine, Type::FixedLineOrMobile, Type::TollFree, Type::SharedCost, Type::Uan],
    )
}

/// Whether `e164` is a valid number of one of `types`.
fn is_of_type(e164: &str, types: &[Type]) -> bool {
    number_type_of(e164).is_some_and(|t| types.contains(&t))
}

/// The type of a valid number given in E.164 form; `None` when it is not one.
fn number_type_of(e164: &str) -> Option<Type> {
    let number = phonenumber::parse(None, e164).ok()?;
    let national = number.national();
    let national = format!("{}{}", "0".repeat(national.zeros() as usize), national.value());
    let regions = DATABASE.by_code(&number.code().value())?;
    // libphonenumber's region for a shared country code: the first whose
    // leading digits match, else the first the number is valid in.
    let region = regions
        .iter()
        .find(|meta| match meta.leading_digits() {
            Some(leading) => leading.find(&national).is_some_and(|m| m.start() == 0),
            None => type_in(meta, &national) != Type::Unknown,
        })
        .or_else(|| regions.iter().find(|meta| type_in(meta, &national) != Type::Unknown))?;
    Some(type_in(region, &national)).filter(|t| *t != Type::Unknown)
}

/// libphonenumber's `getNumberTypeHelper`, with whole-number matches.
fn type_in(meta: &Metadata, national: &str) -> Type {
    let d = meta.descriptors();
    if !matches_whole(Some(d.general()), national) {
        return Type::Unknown;
    }
    let special = [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ];
    if let Some((_, kind)) = special.iter().find(|(desc, _)| matches_whole(*desc, national)) {
        return *kind;
    }
    let same_pattern = match (d.fixed_line(), d.mobile()) {
        (Some(f), Some(m)) => f.national_number().as_str() == m.national_number().as_str(),
        _ => false,
    };
    let mobile = matches_whole(d.mobile(), national);
    if matches_whole(d.fixed_line(), national) {
        return if same_pattern || mobile { Type::FixedLineOrMobile } else { Type::FixedLine };
    }
    if !same_pattern && mobile { Type::Mobile } else { Type::Unknown }
}

/// Whether `desc` admits the whole of `national` (length and pattern).
fn matches_whole(desc: Option<&Descriptor>, national: &str) -> bool {
    let Some(desc) = desc else { return false };
    let lengths = desc.possible_length();
    if !lengths.is_empty() && !lengths.contains(&(national.len() as u16)) {
        return false;
    }
    anchored(desc.national_number().as_str()).is_some_and(|re| re.is_match(national))
}

fn anchored(pattern: &str) -> Option<Arc<Regex>> {
    if let Some(re) = ANCHORED.read().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Some(re.clone());
    }
    // The patterns compiled once already in the crate; a failure here would
    // be a pattern the crate itself could not use, and matches nothing.
    // The metadata lays its patterns out over lines: whitespace is insignificant (`x`).
    let re = Arc::new(Regex::new(&format!("^(?x:{pattern})$")).ok()?);
    ANCHORED.write().unwrap_or_else(|p| p.into_inner()).insert(pattern.to_owned(), re.clone());
    Some(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_cache_gives_the_metadatas_answer() {
        // Every second digit and a spread of blocks: the cached answer for
        // a block is the metadata's answer for every number in it.
        for second in b'0'..=b'9' {
            for block in [0u32, 1, 5, 40, 45, 47, 99, 500, 4000, 9999] {
                let prefix = format!("1{}{:05}", second as char, block % 100_000);
                for tail in ["0000", "5678", "9999"] {
                    let number = format!("{prefix}{tail}");
                    let direct = is_of_type(&format!("+86{number}"), &[Type::Mobile, Type::FixedLineOrMobile]);
                    assert_eq!(mainland_mobile_allocated(&number), direct, "{number}");
                }
            }
        }
        assert!(mainland_mobile_allocated("13812345678"));
        for unallocated in ["14012345678", "14212345678", "14612345678", "16412345678"] {
            assert!(!mainland_mobile_allocated(unallocated), "{unallocated}");
        }
    }

    #[test]
    fn landlines_and_international_numbers() {
        assert!(mainland_landline_valid("01012345678"));
        assert!(mainland_landline_valid("057187654321"));
        assert!(!mainland_landline_valid("05718765432"), "Hangzhou numbers have eight digits");
        assert!(mainland_landline_valid("4008108888"));
        assert_eq!(international_e164("+442079460000").as_deref(), Some("+442079460000"));
        assert_eq!(international_e164("+4402079460000").as_deref(), Some("+442079460000"));
        assert_eq!(international_e164("+441632960000"), None, "a drama number");
        // The crate's own check accepts these: a pattern matches their start.
        assert!(!mainland_landline_valid("079797830504"));
        assert!(!mainland_landline_valid("022-1239983".replace('-', "").as_str()));
    }
}
