//! Whether a phone number exists: libphonenumber's allocation data (through
//! the `phonenumber` crate, which embeds the metadata of one libphonenumber
//! release), asked after our own parsing has put the number in normal form.
//!
//! Asking the metadata costs about 17 µs a number (its patterns are regular
//! expressions). A mainland mobile's allocation is decided by its first five
//! digits (the metadata's pattern for CN mobiles leaves the rest free), so
//! the answer is remembered per seven-digit block (号段 and HLR code) and a
//! bulk import pays for it once per block.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use phonenumber::Type;
use phonenumber::metadata::DATABASE;

/// Allocation of mainland mobile blocks, by their first seven digits.
static MOBILE_BLOCKS: LazyLock<RwLock<HashMap<u32, bool>>> = LazyLock::new(Default::default);

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

/// Whether an international number (`+` and digits, not a mainland one) is
/// a valid number of its country, of any type.
pub(crate) fn international_valid(e164: &str) -> bool {
    phonenumber::parse(None, e164).is_ok_and(|n| phonenumber::is_valid(&n))
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

/// Whether `e164` parses, is valid, and is of one of `types`.
fn is_of_type(e164: &str, types: &[Type]) -> bool {
    match phonenumber::parse(None, e164) {
        Ok(number) if phonenumber::is_valid(&number) => types.contains(&number.number_type(&DATABASE)),
        _ => false,
    }
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
        assert!(international_valid("+442079460000"));
        assert!(!international_valid("+441632960000"), "a drama number");
    }
}
