//! The values organisation customers carry as Chinese records keep them:
//! the unified social credit code (统一社会信用代码, GB 32100-2015), landline
//! numbers with area code and extension, and contact persons.
//!
//! Like every validator, these name the field and a stable rule on refusal
//! and never echo the refused value.

use serde::{Deserialize, Serialize};

use super::field::Field;
use crate::error::{Error, Result};

/// The 31 characters of a credit code, in the order of their values (GB
/// 32100-2015 table 1: no I, O, S, V or Z).
const CREDIT_CODE_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters: 3^i mod 31.
const CREDIT_CODE_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
/// Registration authorities (the first character) the standard assigns:
/// 1-9 (organisation establishment, foreign affairs, justice, culture,
/// civil affairs, tourism, religion, trade unions, market regulation), A
/// (the military), N (agriculture) and Y (others).
const CREDIT_CODE_AUTHORITIES: &[u8] = b"123456789ANY";

/// The check character (the 18th) of a credit code's first 17 characters,
/// which must be of the code's alphabet.
pub fn credit_code_check_character(first17: &[u8]) -> u8 {
    let value = |c: u8| CREDIT_CODE_CHARS.iter().position(|&x| x == c).unwrap_or(0) as u32;
    let sum: u32 = first17.iter().zip(CREDIT_CODE_WEIGHTS).map(|(c, w)| value(*c) * w).sum();
    CREDIT_CODE_CHARS[((31 - sum % 31) % 31) as usize]
}

/// A unified social credit code: 18 characters (spaces and `-` dropped,
/// letters upper-cased), a known registration authority and organisation type, a six-digit
/// division code at positions 3-8, and the GB 32100 check character.
pub(crate) fn normalise_credit_code(value: &str) -> Result<String> {
    let name = Field::CreditCode.name();
    let code: String =
        value.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{3000}')).map(|c| c.to_ascii_uppercase()).collect();
    if code.chars().count() != 18 {
        return Err(Error::invalid(name, "credit_code_length", "a unified social credit code has 18 characters"));
    }
    let b = code.as_bytes();
    if !b.iter().all(|c| CREDIT_CODE_CHARS.contains(c)) {
        return Err(Error::invalid(
            name,
            "credit_code_format",
            "a unified social credit code uses digits and the letters A-Y except I, O, S, V and Z",
        ));
    }
    // GB 32100 table 1: every authority's organisation types are 1-9.
    if !CREDIT_CODE_AUTHORITIES.contains(&b[0])
        || !(b'1'..=b'9').contains(&b[1])
        || !b[2..8].iter().all(u8::is_ascii_digit)
    {
        return Err(Error::invalid(
            name,
            "credit_code_format",
            "a unified social credit code starts with a registration authority (1-9, A, N or Y) and an organisation type (1-9), then a six-digit division code at positions 3-8",
        ));
    }
    if credit_code_check_character(&b[..17]) != b[17] {
        return Err(Error::invalid(
            name,
            "credit_code_check",
            "the last character is not the GB 32100 check character of the first 17",
        ));
    }
    Ok(code)
}

/// Most digits of an extension.
const MAX_EXTENSION_DIGITS: usize = 6;

/// A mainland landline: area code (010, 02x, or four digits from 03-09),
/// a 7- or 8-digit subscriber number not starting with 0 or 1, and an
/// optional extension of 1-6 digits; or a 400/800 service number.
/// Written with spaces, `-`, brackets, `+86`/`0086`, and the extension after
/// `-`, `转`, `分机`, `ext`, `x` or `#`. Normal form `010-12345678-801`
/// (`400-810-8888` for service numbers).
pub(crate) fn normalise_landline(value: &str) -> Result<String> {
    let name = Field::Landline.name();
    let lower = value.to_lowercase();
    let (main, extension) = split_extension(&lower);
    let mut groups: Vec<String> =
        main.split(['-', ' ', '\u{3000}', '(', ')', '（', '）']).filter(|g| !g.is_empty()).map(str::to_owned).collect();
    if groups.is_empty() {
        return Err(Error::invalid(name, "landline_format", "a landline number needs digits"));
    }
    // The country code, written +86, 0086 or 86 ahead of the area code.
    let first = groups[0].clone();
    if let Some(rest) = first.strip_prefix("+86").or_else(|| first.strip_prefix("0086")) {
        groups[0] = format!("0{rest}");
        if rest.is_empty() {
            groups.remove(0);
            if let Some(g) = groups.first_mut() {
                g.insert(0, '0');
            }
        }
    }
    if groups.iter().any(|g| !g.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Error::invalid(
            name,
            "landline_format",
            "only digits, spaces, '-', brackets, a leading +86 and an extension after 转, ext, x or # are allowed",
        ));
    }
    let check_extension = |e: String| {
        if e.is_empty() || e.len() > MAX_EXTENSION_DIGITS || !e.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(name.clone(), "landline_extension", "an extension has 1-6 digits"));
        }
        Ok(e)
    };
    let with_extension = |number: String, extension: Option<String>| match extension {
        Some(e) => format!("{number}-{e}"),
        None => number,
    };
    if let Some(e) = extension {
        let e = check_extension(e)?;
        return Ok(with_extension(landline_number(&groups.concat())?, Some(e)));
    }
    match landline_number(&groups.concat()) {
        Ok(number) => Ok(number),
        // `010-12345678-801`: with three or more groups, the last may be the extension.
        Err(first) if groups.len() >= 3 => {
            let e = groups.pop().expect("three groups");
            match landline_number(&groups.concat()) {
                Ok(number) => Ok(with_extension(number, Some(check_extension(e)?))),
                Err(_) => Err(first),
            }
        }
        Err(e) => Err(e),
    }
}

/// The digits of a landline (no extension) in normal form: `010-12345678`,
/// `0571-8765432`, or a service number `400-810-8888`.
fn landline_number(digits: &str) -> Result<String> {
    let name = Field::Landline.name();
    // Service numbers: no area code.
    if (digits.starts_with("400") || digits.starts_with("800")) && digits.len() == 10 {
        if !super::phone::mainland_landline_valid(digits) {
            return Err(Error::invalid(name, "landline_unallocated", "no such 400/800 service number block"));
        }
        return Ok(format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]));
    }
    let b = digits.as_bytes();
    if b.first() != Some(&b'0') || b.len() < 3 || b[1] == b'0' {
        return Err(Error::invalid(
            name,
            "landline_area_code",
            "a landline number starts with its area code (010, 02x or a four-digit code from 03 to 09)",
        ));
    }
    let area_len = if matches!(b[1], b'1' | b'2') { 3 } else { 4 };
    let (area, subscriber) = digits.split_at(area_len.min(digits.len()));
    if !(5..=8).contains(&subscriber.len()) || subscriber.starts_with('0') {
        return Err(Error::invalid(
            name,
            "landline_number",
            "after the area code comes a number of 5 to 8 digits that does not start with 0",
        ));
    }
    if !super::phone::mainland_landline_valid(digits) {
        return Err(Error::invalid(
            name,
            "landline_unallocated",
            "no landline of this length exists under this area code (libphonenumber's allocation data)",
        ));
    }
    Ok(format!("{area}-{subscriber}"))
}

/// Splits an extension written after `转`, `分机`, `ext`, `x` or `#`.
fn split_extension(value: &str) -> (&str, Option<String>) {
    for marker in ["分机号", "分机", "转", "ext.", "ext", "x", "#"] {
        if let Some((main, ext)) = value.split_once(marker) {
            let ext: String = ext.chars().filter(|c| !matches!(c, ' ' | '-' | ':' | '：' | '.')).collect();
            return (main.trim_end(), Some(ext));
        }
    }
    (value, None)
}

/// Most contact persons one customer holds.
pub const MAX_CONTACTS: usize = 10;

/// One contact person of an organisation customer (part of the sealed
/// `contacts` field, a JSON array of these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// 姓名 (required).
    pub name: String,
    /// 职务.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// 手机.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// 邮箱.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// 座机.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landline: Option<String>,
}

/// The `contacts` field: a JSON array of [`Contact`] (1 to
/// [`MAX_CONTACTS`]), every part validated as the customer's own field of
/// the same kind and normalised; written back as compact JSON. A refusal
/// names the contact and its part, e.g. `contacts[2].mobile`.
pub(crate) fn normalise_contacts(
    value: &str,
    normalise_part: impl Fn(&Field, &str) -> Result<Option<String>>,
) -> Result<String> {
    let name = Field::Contacts.name();
    let contacts: Vec<Contact> = serde_json::from_str(value).map_err(|e| {
        // The position, never the content.
        let position = format!("line {} column {}", e.line(), e.column());
        Error::invalid(
            name.clone(),
            "contacts_json",
            format!(
                "contacts are a JSON array of {{\"name\", \"title\", \"mobile\", \"email\", \"landline\"}} objects (unreadable at {position})"
            ),
        )
    })?;
    if contacts.is_empty() || contacts.len() > MAX_CONTACTS {
        return Err(Error::invalid(name, "contacts_count", format!("between 1 and {MAX_CONTACTS} contact persons")));
    }
    let mut out = Vec::with_capacity(contacts.len());
    for (i, contact) in contacts.iter().enumerate() {
        let part = |field: Field, raw: Option<&String>| -> Result<Option<String>> {
            let Some(raw) = raw else { return Ok(None) };
            normalise_part(&field, raw).map_err(|e| match e {
                Error::Invalid { field, rule, message } => {
                    Error::Invalid { field: format!("contacts[{}].{field}", i + 1), rule, message }
                }
                other => other,
            })
        };
        let Some(contact_name) = part(Field::Name, Some(&contact.name))? else {
            return Err(Error::invalid(
                format!("contacts[{}].name", i + 1),
                "contact_name_required",
                "every contact person has a name",
            ));
        };
        out.push(Contact {
            name: contact_name,
            title: part(Field::Title, contact.title.as_ref())?,
            mobile: part(Field::Mobile, contact.mobile.as_ref())?,
            email: part(Field::Email, contact.email.as_ref())?,
            landline: part(Field::Landline, contact.landline.as_ref())?,
        });
    }
    serde_json::to_string(&out).map_err(|e| Error::storage_caused("encoding contacts", e))
}

/// The stored contacts, parsed (for masking). `None` if they are not the
/// JSON this module writes.
pub(crate) fn parse_contacts(value: &str) -> Option<Vec<Contact>> {
    serde_json::from_str(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_codes_follow_gb_32100() {
        // A code built from a first 17 and its check character.
        let first17 = "91350100M000100Y4";
        let check = credit_code_check_character(first17.as_bytes()) as char;
        let code = format!("{first17}{check}");
        assert_eq!(normalise_credit_code(&code).unwrap(), code);
        assert_eq!(normalise_credit_code(&code.to_lowercase()).unwrap(), code, "lower case is upper-cased");
        assert_eq!(normalise_credit_code(&format!("{} {}", &code[..9], &code[9..])).unwrap(), code);
        let rule = |v: &str| match normalise_credit_code(v) {
            Err(Error::Invalid { rule, .. }) => rule,
            other => panic!("{other:?}"),
        };
        let wrong = CREDIT_CODE_CHARS.iter().find(|&&c| c as char != check).unwrap();
        assert_eq!(rule(&format!("{first17}{}", *wrong as char)), "credit_code_check");
        assert_eq!(rule(&code[..17]), "credit_code_length");
        assert_eq!(rule(&format!("{code}1")), "credit_code_length");
        assert_eq!(rule(&code.replace('M', "I")), "credit_code_format");
        assert_eq!(rule(&format!("0{}", &code[1..])), "credit_code_format");
        assert_eq!(rule("91350100M000100Y4中"), "credit_code_format");
    }

    #[test]
    fn landlines_take_every_common_spelling() {
        for (input, normal) in [
            ("010-12345678", "010-12345678"),
            ("(010) 1234 5678", "010-12345678"),
            ("（0571）87654321", "0571-87654321"),
            ("01012345678", "010-12345678"),
            ("010-1234-5678", "010-12345678"),
            ("+86 10 12345678", "010-12345678"),
            ("+86-571-87654321", "0571-87654321"),
            ("010-12345678-801", "010-12345678-801"),
            ("010-12345678 转 801", "010-12345678-801"),
            ("0755 8888 6666 ext. 12", "0755-88886666-12"),
            ("021-66668888#9", "021-66668888-9"),
            ("400-810-8888", "400-810-8888"),
            ("4008108888", "400-810-8888"),
        ] {
            assert_eq!(normalise_landline(input).map_err(|e| format!("{input}: {e}")).unwrap(), normal, "{input}");
        }
        for (input, expected) in [
            ("12345678", "landline_area_code"),
            ("010-0123456", "landline_number"),
            ("010-1234", "landline_number"),
            ("0571-8765432", "landline_unallocated"),
            ("001-12345678", "landline_area_code"),
            ("010-12345678-1234567", "landline_extension"),
            ("010-1234abcd", "landline_format"),
            ("010-1234-5678-9-1", "landline_number"),
            ("010-12345678 转", "landline_extension"),
        ] {
            match normalise_landline(input) {
                Err(Error::Invalid { rule, .. }) => assert_eq!(rule, expected, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
