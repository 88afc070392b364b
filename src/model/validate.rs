//! Validation and normalisation of field values.
//!
//! Every value is normalised before it is stored or indexed (trimmed,
//! e-mail case-folded, phone punctuation and `+86` stripped, ID check letter
//! upper-cased), so a lookup finds a record however the value was typed.
//! Every rejection names the field and a stable rule id; messages describe
//! the rule, never echo the rejected value.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::date::{days_from_civil, days_in_month};
use super::division::{DivisionProblem, check_division};
use super::field::{Catalogue, Field};
use super::organisation::{normalise_contacts, normalise_credit_code, normalise_landline};
use crate::error::{Error, Result};

/// Maximum length in characters of a built-in field's normalised value.
pub fn max_chars(field: &Field, catalogue: &Catalogue) -> usize {
    match field {
        Field::ExternalCode => 32,
        Field::Name => 64,
        Field::Organisation => 128,
        Field::Category | Field::Source => 32,
        Field::Title => 64,
        Field::Mobile => 16,
        Field::Email => 254,
        Field::Notes => 4000,
        Field::Address | Field::RegisteredAddress => 256,
        Field::CreditCode => 18,
        Field::Landline => 24,
        // Ten contacts of a name, a title, a mobile, an e-mail and a landline, as JSON.
        Field::Contacts => 8_000,
        Field::Gender => 7,
        Field::BirthDate => 10,
        Field::IdNumber => 18,
        Field::Tier => 1,
        Field::Tags => 512,
        Field::Kind => 12,
        Field::Status | Field::CreatedAt | Field::UpdatedAt | Field::Version => 20,
        Field::Custom(key) => catalogue.custom_max_chars(key),
        Field::OrderReference | Field::ServiceOwner => 64,
        Field::OrderItems => 16_384,
        Field::OrderTotal | Field::PaymentDetails => 48,
        Field::PaymentMethod
        | Field::OrderStatus
        | Field::ServiceKind
        | Field::ServiceChannel
        | Field::ServicePriority
        | Field::ServiceStatus => 16,
        Field::OrderTime | Field::ServiceOpenedAt | Field::ServiceDueAt => 20,
        Field::ServiceSubject => 200,
        Field::ServiceDescription | Field::ServiceResolution => 4000,
    }
}

/// Longest raw input accepted before normalisation, in bytes. Anything longer
/// is refused before any work is done on it (a 1 MB "name" costs nothing).
pub(crate) const MAX_RAW_BYTES: usize = 64 * 1024;

/// Maximum number of tags on one customer.
pub const MAX_TAGS: usize = 20;
/// Maximum length of one tag in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// Validates and normalises one value. Returns `None` when the value is empty
/// after trimming (setting a field to an empty value clears it).
pub fn normalise(field: &Field, raw: &str, catalogue: &Catalogue, today_days: i64) -> Result<Option<String>> {
    catalogue.check_field(field)?;
    if !field.is_writable() {
        return Err(Error::invalid(field.name(), "read_only", "this field is maintained by the store"));
    }
    let limit = max_chars(field, catalogue);
    if raw.len() > MAX_RAW_BYTES {
        return Err(too_long(field, limit));
    }
    // Contacts are JSON, which may be laid out on several lines.
    let multi_line =
        matches!(field, Field::Notes | Field::Address | Field::RegisteredAddress | Field::Contacts | Field::Custom(_));
    if let Some(c) = raw.chars().find(|&c| c.is_control() && !(multi_line && (c == '\n' || c == '\t' || c == '\r'))) {
        return Err(Error::invalid(
            field.name(),
            "control_character",
            format!("contains control character U+{:04X}", c as u32),
        ));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value = match field {
        Field::Mobile => normalise_mobile(trimmed)?,
        Field::Email => normalise_email(trimmed)?,
        Field::IdNumber => normalise_id_number(trimmed, today_days)?,
        Field::BirthDate => normalise_birth_date(trimmed, today_days)?,
        Field::Gender => normalise_choice(field, trimmed, GENDERS)?,
        Field::Kind => normalise_choice(field, trimmed, KINDS)?,
        Field::Tier => normalise_choice(field, trimmed, TIERS)?,
        Field::Tags => match normalise_tags(trimmed)? {
            tags if tags.is_empty() => return Ok(None),
            tags => tags,
        },
        Field::ExternalCode => {
            check_chars(
                field,
                trimmed,
                |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
                "letters, digits, '-', '_' and '.'",
            )?;
            trimmed.to_owned()
        }
        Field::Name => {
            let v = collapse_spaces(trimmed);
            check_chars(
                field,
                &v,
                |c| is_letter(c) || c == ' ' || NAME_PUNCTUATION.contains(c),
                "letters, spaces and ·.'-",
            )?;
            v
        }
        Field::Organisation | Field::Title | Field::Category | Field::Source => {
            let v = collapse_spaces(trimmed);
            check_chars(
                field,
                &v,
                |c| is_letter(c) || c.is_numeric() || c == ' ' || ORG_PUNCTUATION.contains(c),
                "letters, digits, spaces and common punctuation",
            )?;
            v
        }
        // Free text: anything printable, including emoji and SQL metacharacters.
        Field::Notes | Field::Address | Field::RegisteredAddress | Field::Custom(_) => trimmed.to_owned(),
        Field::CreditCode => normalise_credit_code(trimmed)?,
        Field::Landline => normalise_landline(trimmed)?,
        Field::Contacts => normalise_contacts(trimmed, |f, raw| normalise(f, raw, catalogue, today_days))?,
        Field::Status | Field::CreatedAt | Field::UpdatedAt | Field::Version => {
            unreachable!("read-only fields are refused above")
        }
        _ => unreachable!("fields of attached records are refused by the catalogue check above"),
    };
    if value.chars().count() > limit {
        return Err(too_long(field, limit));
    }
    Ok(Some(value))
}

/// Normalises a search or lookup value for `field` the same way a stored value is.
pub(crate) fn normalise_lookup(field: &Field, raw: &str, catalogue: &Catalogue, today_days: i64) -> Result<String> {
    normalise(field, raw, catalogue, today_days)?
        .ok_or_else(|| Error::invalid(field.name(), "required", "a lookup value is required"))
}

const NAME_PUNCTUATION: &str = "·•.'’-";
const ORG_PUNCTUATION: &str = "·•.'’-()（）&,，、/_+#";
const GENDERS: &[(&str, &str)] = &[
    ("male", "male"),
    ("m", "male"),
    ("男", "male"),
    ("female", "female"),
    ("f", "female"),
    ("女", "female"),
    ("other", "other"),
    ("unknown", "unknown"),
];
const KINDS: &[(&str, &str)] = &[
    ("individual", "individual"),
    ("个人", "individual"),
    ("organisation", "organisation"),
    ("organization", "organisation"),
    ("单位", "organisation"),
    ("企业", "organisation"),
];
const TIERS: &[(&str, &str)] = &[("a", "A"), ("b", "B"), ("c", "C")];

fn too_long(field: &Field, limit: usize) -> Error {
    Error::invalid(field.name(), "too_long", format!("longer than the maximum of {limit} characters"))
}

/// Letters, including the combining marks many scripts write names with
/// (Devanagari viramas, Thai tone marks, decomposed accents).
fn is_letter(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
    c.is_alphabetic() || GeneralCategoryGroup::Mark.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_chars(field: &Field, value: &str, allowed: impl Fn(char) -> bool, what: &str) -> Result<()> {
    match value.chars().find(|&c| !allowed(c)) {
        None => Ok(()),
        Some(c) => Err(Error::invalid(
            field.name(),
            "invalid_character",
            format!("character U+{:04X} is not allowed; use {what}", c as u32),
        )),
    }
}

fn normalise_choice(field: &Field, value: &str, choices: &[(&str, &str)]) -> Result<String> {
    let folded = value.to_lowercase();
    choices.iter().find(|(k, _)| *k == folded).map(|(_, v)| (*v).to_owned()).ok_or_else(|| {
        let mut allowed: Vec<&str> = choices.iter().map(|(_, v)| *v).collect();
        allowed.dedup();
        Error::invalid(field.name(), "choice", format!("must be one of: {}", allowed.join(", ")))
    })
}

/// Mainland mobile (`1[3-9]` + 9 digits, optionally `+86`/`0086`/`86`) or E.164.
/// Normal form: 11 digits for mainland numbers, `+` and digits otherwise.
fn normalise_mobile(value: &str) -> Result<String> {
    let field = Field::Mobile;
    let mut compact: String =
        value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{3000}')).collect();
    if let Some(rest) = compact.strip_prefix("00") {
        compact = format!("+{rest}");
    }
    let (international, digits) = match compact.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, compact.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            field.name(),
            "mobile_format",
            "only digits, an optional leading '+', spaces, '-', '(', ')' and '.' are allowed",
        ));
    }
    let mainland = match digits.strip_prefix("86") {
        Some(national) if international || digits.len() == 13 => Some(national),
        _ if !international => Some(digits),
        _ => None,
    };
    if let Some(national) = mainland {
        let b = national.as_bytes();
        if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
            if !super::phone::mainland_mobile_allocated(national) {
                return Err(Error::invalid(
                    field.name(),
                    "mobile_unallocated",
                    "no mainland mobile number block starts with these digits (libphonenumber's allocation data)",
                ));
            }
            return Ok(national.to_owned());
        }
        return Err(Error::invalid(
            field.name(),
            "mobile_format",
            "a mainland mobile number has 11 digits starting with 13-19 (an international number needs a leading '+')",
        ));
    }
    // Seven digits in all is the shortest (Niue, Saint Helena, Tokelau: a
    // three-digit country code and four digits).
    if (7..=15).contains(&digits.len()) && !digits.starts_with('0') {
        return super::phone::international_e164(&format!("+{digits}")).ok_or_else(|| {
            Error::invalid(
                field.name(),
                "e164_invalid",
                "no such number exists in the country its code names (libphonenumber's data)",
            )
        });
    }
    Err(Error::invalid(
        field.name(),
        "e164_format",
        "an international number is '+', a country code not starting with 0, and 7-15 digits in all",
    ))
}

/// E-mail syntax (the dot-atom form of RFC 5322 with an ASCII DNS domain); case-folded.
fn normalise_email(value: &str) -> Result<String> {
    let bad = |message: &str| Error::invalid(Field::Email.name(), "email_syntax", message);
    let value = match value.rsplit_once('@') {
        // An internationalised domain (例子.中国) is kept in its IDNA form
        // (xn--fsqu00a.xn--fiqs8s), so both spellings find the customer.
        Some((local, domain)) if !domain.is_ascii() => {
            // IDNA maps invisible characters (a zero-width space) to nothing;
            // an address that carries one was not typed, it was crafted.
            if domain.chars().any(is_invisible) {
                return Err(bad("the domain contains an invisible or formatting character"));
            }
            let ascii = idna::domain_to_ascii(domain).map_err(|_| {
                Error::invalid(
                    Field::Email.name(),
                    "email_idna",
                    "the domain is not a valid internationalised domain name",
                )
            })?;
            format!("{local}@{ascii}")
        }
        _ => value.to_owned(),
    };
    if !value.is_ascii() {
        return Err(bad("the part before '@' must be ASCII (internationalised local parts are not accepted)"));
    }
    let value = value.to_ascii_lowercase();
    if value.len() > 254 {
        return Err(too_long(&Field::Email, 254));
    }
    let (local, domain) = match value.split_once('@') {
        Some((l, d)) if !d.contains('@') => (l, d),
        _ => return Err(bad("must contain exactly one '@'")),
    };
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the part before '@' must be 1-64 characters"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("the part before '@' cannot start or end with '.' or contain '..'"));
    }
    if !local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)) {
        return Err(bad("the part before '@' contains a character that needs quoting"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || domain.len() > 253 {
        return Err(bad("the domain must have at least two labels, e.g. example.com"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(bad("each domain label is 1-63 letters, digits or '-', not starting or ending with '-'"));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.len() < 2 || !(tld.chars().all(|c| c.is_ascii_alphabetic()) || tld.starts_with("xn--")) {
        return Err(bad("the top-level domain must be at least two letters"));
    }
    Ok(value)
}

/// Whether `c` is a format or other invisible character (general category
/// Cf, Zl, Zp or a separator other than the space).
fn is_invisible(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::GeneralCategory;
    matches!(
        CodePointMapData::<GeneralCategory>::new().get(c),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
            | GeneralCategory::Control
    )
}

/// GB 11643-1999 weights and check characters.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// Computes the GB 11643 check character for the first 17 digits.
pub fn id_check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    ID_CHECK[(sum % 11) as usize]
}

fn normalise_id_number(value: &str, today_days: i64) -> Result<String> {
    let field = Field::IdNumber;
    let value = value.to_ascii_uppercase();
    let b = value.as_bytes();
    if value.chars().count() != 18 {
        return Err(Error::invalid(field.name(), "id_length", "a resident identity number has exactly 18 characters"));
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(Error::invalid(field.name(), "id_format", "17 digits followed by a digit or X"));
    }
    let date = &value[6..14];
    if parse_date_parts(&date[..4], &date[4..6], &date[6..8])
        .is_none_or(|(y, m, d)| !plausible_birth(y, m, d, today_days))
    {
        return Err(Error::invalid(field.name(), "id_birth_date", "digits 7-14 are not a plausible birth date"));
    }
    if id_check_character(&b[..17]) != b[17] {
        return Err(Error::invalid(field.name(), "id_check_digit", "the check character does not match (GB 11643)"));
    }
    let birth_year: i32 = value[6..10].parse().expect("checked digits");
    match check_division(&value[..6], birth_year) {
        Ok(()) => {}
        Err(DivisionProblem::Unknown) => {
            return Err(Error::invalid(
                field.name(),
                "id_division_unknown",
                "digits 1-6 are no GB/T 2260 administrative division code",
            ));
        }
        // The year is left out of the message: it narrows down the code.
        Err(DivisionProblem::AbolishedBeforeBirth { .. }) => {
            return Err(Error::invalid(
                field.name(),
                "id_division_abolished",
                "the division code in digits 1-6 was abolished before the birth date in digits 7-14",
            ));
        }
    }
    Ok(value)
}

/// The birth date (`YYYY-MM-DD`) encoded in a valid, normalised ID number.
pub(crate) fn birth_date_of_id(id: &str) -> String {
    format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14])
}

fn parse_date_parts(y: &str, m: &str, d: &str) -> Option<(i32, u32, u32)> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if y.len() != 4 || !all_digits(y) || !all_digits(m) || !all_digits(d) || m.len() > 2 || d.len() > 2 {
        return None;
    }
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    (d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

fn plausible_birth(y: i32, m: u32, d: u32, today_days: i64) -> bool {
    y >= 1880 && days_from_civil(y, m, d) <= today_days
}

/// Accepts `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` and `YYYYMMDD`; normal form `YYYY-MM-DD`.
fn normalise_birth_date(value: &str, today_days: i64) -> Result<String> {
    let field = Field::BirthDate;
    let parts: Vec<&str> = value.split(['-', '/', '.']).collect();
    let parsed = match parts.as_slice() {
        [y, m, d] => parse_date_parts(y, m, d),
        [compact] if compact.len() == 8 && compact.is_ascii() => {
            parse_date_parts(&compact[..4], &compact[4..6], &compact[6..])
        }
        _ => None,
    };
    let (y, m, d) = parsed
        .ok_or_else(|| Error::invalid(field.name(), "date_format", "expected a real calendar date as YYYY-MM-DD"))?;
    if !plausible_birth(y, m, d, today_days) {
        return Err(Error::invalid(field.name(), "date_range", "must be between 1880-01-01 and today"));
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// Tags separated by `,` or `，`; trimmed, de-duplicated in order, joined with `,`.
fn normalise_tags(value: &str) -> Result<String> {
    let field = Field::Tags;
    let mut tags: Vec<String> = Vec::new();
    for tag in value.split([',', '，']).map(collapse_spaces).filter(|t| !t.is_empty()) {
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::invalid(
                field.name(),
                "tag_too_long",
                format!("each tag is at most {MAX_TAG_CHARS} characters"),
            ));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(field.name(), "too_many_tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(tags.join(","))
}

/// Record-level rules: required fields for the customer's kind, and agreement
/// between the birth date and the birth date encoded in the ID number.
pub(crate) fn check_record(get: impl Fn(&Field) -> Option<String>) -> Result<()> {
    let kind = get(&Field::Kind).unwrap_or_else(|| "individual".to_owned());
    let required = if kind == "organisation" { Field::Organisation } else { Field::Name };
    if get(&required).is_none() {
        return Err(Error::invalid(required.name(), "required", format!("required for a customer of kind {kind}")));
    }
    if let (Some(id), Some(birth)) = (get(&Field::IdNumber), get(&Field::BirthDate)) {
        if birth_date_of_id(&id) != birth {
            return Err(Error::invalid(
                Field::BirthDate.name(),
                "id_birth_date_mismatch",
                "does not match the birth date encoded in the ID number",
            ));
        }
    }
    Ok(())
}

/// Checks every writable stored value of one customer as validation would
/// on entry, and the record as a whole: what verification (审核) asks.
pub(crate) fn check_stored(
    values: &BTreeMap<Field, Zeroizing<String>>,
    catalogue: &Catalogue,
    today_days: i64,
) -> Result<()> {
    for (field, value) in values.iter().filter(|(f, _)| f.is_writable()) {
        normalise(field, value, catalogue, today_days)?;
    }
    check_record(|f| values.get(f).map(|v| v.as_str().to_owned()))
}

/// Whether every stored value now passes validation (an `unverified`
/// customer whose correction made it valid becomes `active`).
pub(crate) fn passes(values: &BTreeMap<Field, Zeroizing<String>>, catalogue: &Catalogue, today_days: i64) -> bool {
    check_stored(values, catalogue, today_days).is_ok()
}
