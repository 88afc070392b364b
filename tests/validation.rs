//! Validation and normalisation, pinned down field by field: the exact error
//! (field + rule id) for every kind of bad input, and the normal form of every
//! kind of good input.
//!
//! Most tables run twice: through `custodian::model::normalise` directly and
//! through `Session::create` on an in-memory store whose clock reads the same
//! day, so the two roads cannot drift apart. Every rejection is also checked
//! not to echo the rejected value in the error message.

use std::sync::Arc;

use custodian::model::{id_check_character, normalise};
use custodian::{
    Catalogue, CreateOptions, CustomAttribute, CustomerId, CustomerInput, CustomerPatch, CustomerView, Error, Field,
    KeySource, Level, ManualClock, Purpose, Session, Store,
};

/// The day every test runs on, in days since 1970-01-01: 2024-10-04.
const TODAY: i64 = 20_000;
const TODAY_ISO: &str = "2024-10-04";
const TOMORROW_ISO: &str = "2024-10-05";
const MILLIS_PER_DAY: i64 = 86_400_000;
/// The classic SQL injection probe.
const SQL: &str = "' OR 1=1 --";

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A store on a fixed day, with an administrator session.
struct Vault {
    store: Store,
    session: Session,
}

fn vault_with(catalogue: Catalogue) -> Vault {
    let key = KeySource::key_bytes(&[7u8; 32]).expect("master key");
    let store = Store::in_memory(key, CreateOptions::new().catalogue(catalogue))
        .expect("in-memory store")
        .with_clock(Arc::new(ManualClock::new(TODAY * MILLIS_PER_DAY + 12 * 3_600_000)))
        .expect("clock");
    store.bootstrap_administrator(&custodian::NewPrincipal::staff("admin", "admin")).expect("bootstrap");
    let session =
        store.authenticated_session("admin", Purpose::Service, custodian::AuthContext::with_mfa(0)).expect("session");
    Vault { store, session }
}

fn vault() -> Vault {
    vault_with(Catalogue::default())
}

impl Vault {
    fn customers(&self) -> u64 {
        self.store.counts().expect("counts").customers
    }

    /// A valid individual (that also has an organisation, so it stays valid
    /// when a row switches its kind) with `field` set to `input`.
    fn create_with(&self, field: &Field, input: &str) -> custodian::Result<CustomerView> {
        self.session.create(base_input().set(field.clone(), input))
    }
}

fn base_input() -> CustomerInput {
    CustomerInput::individual().set(Field::Name, "测试").set(Field::Organisation, "测试公司")
}

/// A valid ID number: the 17 digits plus their GB 11643 check character.
fn id_number(first17: &str) -> String {
    assert_eq!(first17.len(), 17, "need 17 digits");
    format!("{first17}{}", id_check_character(first17.as_bytes()) as char)
}

/// A Beijing (110105) ID number with a correct check character for `yyyymmdd`.
fn id_born(yyyymmdd: &str) -> String {
    id_number(&format!("110105{yyyymmdd}002"))
}

/// `id` with its check character replaced by a wrong one.
fn with_wrong_check(id: &str) -> String {
    let wrong = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{wrong}", &id[..17])
}

/// A short, printable rendering of a row's input for failure messages.
fn show(s: &str) -> String {
    let chars = s.chars().count();
    if chars > 48 {
        format!("{:?}… ({chars} chars)", s.chars().take(40).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// `(field, rule)` of an `Error::Invalid`.
fn invalid_parts(err: &Error) -> Option<(&str, &str)> {
    match err {
        Error::Invalid { field, rule, .. } => Some((field.as_str(), *rule)),
        _ => None,
    }
}

/// Whether the error's text repeats the rejected input (ignoring inputs under
/// 4 characters and inputs that are part of the rule id or field name).
fn echoes(err: &Error, field: &str, rule: &str, input: &str) -> bool {
    let text = err.to_string();
    [input, input.trim()].into_iter().any(|needle| {
        needle.chars().count() >= 4 && !rule.contains(needle) && !field.contains(needle) && text.contains(needle)
    })
}

/// Checks one rejection; returns a description of what is wrong, if anything.
fn rejection_problem(result: custodian::Result<String>, field: &Field, input: &str, rule: &str) -> Option<String> {
    let name = field.name();
    match result {
        Ok(v) => Some(format!("accepted as {}", show(&v))),
        Err(e) => match invalid_parts(&e) {
            Some((f, r)) if f == name && r == rule => {
                echoes(&e, &name, rule, input).then(|| format!("error message echoes the input: {e}"))
            }
            _ => Some(format!("wrong error: {e:?}")),
        },
    }
}

fn fail_if_any(what: &str, failures: Vec<String>) {
    assert!(failures.is_empty(), "{what}: {} failing row(s):\n  {}", failures.len(), failures.join("\n  "));
}

/// Every row `(field, input, normal form)` is accepted and normalised, both
/// by `normalise` and by `Session::create` (read back from the view).
fn assert_normal(v: &Vault, rows: &[(Field, &str, &str)]) {
    let mut failures = Vec::new();
    for (field, input, expected) in rows {
        let row = format!("{field} {} (expected {})", show(input), show(expected));
        match normalise(field, input, v.store.catalogue(), TODAY) {
            Ok(Some(got)) if got == *expected => {}
            other => failures.push(format!("normalise: {row}: got {:?}", other.map(|o| o.map(|s| show(&s))))),
        }
        match v.create_with(field, input) {
            Ok(view) if view.text(field) == *expected => {}
            Ok(view) => failures.push(format!("create: {row}: stored {}", show(view.text(field)))),
            Err(e) => failures.push(format!("create: {row}: {e:?}")),
        }
    }
    fail_if_any("normalisation", failures);
}

/// Every row `(field, input, rule)` is refused with `Error::Invalid` naming
/// `field` and `rule`, both by `normalise` and by `Session::create`, without
/// echoing the input and without creating anything.
fn assert_rejected(v: &Vault, rows: &[(Field, &str, &str)]) {
    let before = v.customers();
    let mut failures = normalise_rejections(v.store.catalogue(), rows);
    for (field, input, rule) in rows {
        let row = format!("{field} {} (expected rule {rule})", show(input));
        let created = v.create_with(field, input).map(|view| view.text(field).to_owned());
        if let Some(problem) = rejection_problem(created, field, input, rule) {
            failures.push(format!("create: {row}: {problem}"));
        }
    }
    fail_if_any("rejection", failures);
    assert_eq!(v.customers(), before, "a rejected create must not store anything");
}

/// The rows `normalise` does not reject as expected, described.
fn normalise_rejections(catalogue: &Catalogue, rows: &[(Field, &str, &str)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (field, input, rule) in rows {
        let direct = normalise(field, input, catalogue, TODAY).map(Option::unwrap_or_default);
        if let Some(problem) = rejection_problem(direct, field, input, rule) {
            failures.push(format!("normalise: {field} {} (expected rule {rule}): {problem}", show(input)));
        }
    }
    failures
}

/// Asserts `result` failed with `Error::Invalid { field, rule, .. }` and returns the error.
#[track_caller]
fn expect_invalid<T: std::fmt::Debug>(result: custodian::Result<T>, field: &str, rule: &str) -> Error {
    match result {
        Err(e) => {
            assert_eq!(invalid_parts(&e), Some((field, rule)), "expected {field}/{rule}, got {e:?}");
            e
        }
        Ok(v) => panic!("expected {field}/{rule}, got Ok({v:?})"),
    }
}

/// Every visible field of a view with its text, for before/after comparisons.
fn snapshot(view: &CustomerView) -> Vec<(Field, String)> {
    view.iter().map(|(f, s)| (f.clone(), s.text().to_owned())).collect()
}

fn reread(v: &Vault, id: CustomerId) -> CustomerView {
    v.session.get(id).expect("get")
}

// ---------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------

#[test]
fn email_good_forms_are_trimmed_and_lowercased() {
    let v = vault();
    let local64 = "a".repeat(64);
    let local64_addr = format!("{local64}@example.com");
    // 64 + 1 + 189 = 254 characters: the longest address accepted.
    let longest = format!("{}@{}.{}.{}.com", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(57));
    assert_eq!(longest.len(), 254);
    let rows = [
        (Field::Email, "  User.Name+tag@Example.COM ", "user.name+tag@example.com"),
        (Field::Email, "a@b.co", "a@b.co"),
        (Field::Email, "First.Last@Mail.Sub.Example.ORG", "first.last@mail.sub.example.org"),
        (Field::Email, "o'hara_99@example-mail.cn", "o'hara_99@example-mail.cn"),
        (Field::Email, "x!#$%&*/=?^`{|}~-@example.com", "x!#$%&*/=?^`{|}~-@example.com"),
        // An internationalised domain is kept in its IDNA form, however it was typed.
        (Field::Email, "user@例子.中国", "user@xn--fsqu00a.xn--fiqs8s"),
        (Field::Email, "User@Bücher.DE", "user@xn--bcher-kva.de"),
        (Field::Email, "user@xn--fsqu00a.xn--fiqs8s", "user@xn--fsqu00a.xn--fiqs8s"),
        (Field::Email, "user@xn--fiqs8s.XN--FIQS8S", "user@xn--fiqs8s.xn--fiqs8s"),
        (Field::Email, "\u{3000}user@example.com\u{a0}", "user@example.com"),
        (Field::Email, &local64_addr, &local64_addr),
        (Field::Email, &longest, &longest),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn email_bad_forms_are_rejected() {
    let v = vault();
    let local65 = format!("{}@example.com", "a".repeat(65));
    let too_long = format!("{}@{}.{}.{}.com", "a".repeat(64), "b".repeat(63), "c".repeat(63), "d".repeat(58));
    assert_eq!(too_long.len(), 255);
    let label64 = format!("user@{}.com", "b".repeat(64));
    let megabyte = format!("{}@example.com", "a".repeat(1 << 20));
    let rows = [
        (Field::Email, "user.example.com", "email_syntax"),
        (Field::Email, "user@mail@example.com", "email_syntax"),
        (Field::Email, "@example.com", "email_syntax"),
        (Field::Email, "user@", "email_syntax"),
        (Field::Email, ".user@example.com", "email_syntax"),
        (Field::Email, "user.@example.com", "email_syntax"),
        (Field::Email, "us..er@example.com", "email_syntax"),
        (Field::Email, "user name@example.com", "email_syntax"),
        (Field::Email, "\"quoted\"@example.com", "email_syntax"),
        (Field::Email, "user@-example.com", "email_syntax"),
        (Field::Email, "user@example-.com", "email_syntax"),
        (Field::Email, "user@exa_mple.com", "email_syntax"),
        (Field::Email, "user@example..com", "email_syntax"),
        (Field::Email, "user@.example.com", "email_syntax"),
        (Field::Email, "user@example.com.", "email_syntax"),
        (Field::Email, "user@[192.168.0.1]", "email_syntax"),
        (Field::Email, &label64, "email_syntax"),
        (Field::Email, "user@localhost", "email_syntax"),
        (Field::Email, "user@example.123", "email_syntax"),
        (Field::Email, "user@example.c0m", "email_syntax"),
        (Field::Email, "user@example.c", "email_syntax"),
        (Field::Email, "用户@example.com", "email_syntax"),
        (Field::Email, "usér@example.com", "email_syntax"),
        (Field::Email, "user@example.com\u{200b}", "email_syntax"),
        (Field::Email, SQL, "email_syntax"),
        (Field::Email, &local65, "email_syntax"),
        (Field::Email, &too_long, "too_long"),
        (Field::Email, &megabyte, "too_long"),
        (Field::Email, "user@example.com\n", "control_character"),
        (Field::Email, "user@example.com\t", "control_character"),
    ];
    assert_rejected(&v, &rows);
}

#[test]
fn email_lookup_is_case_and_space_insensitive() {
    let v = vault();
    let created = v.create_with(&Field::Email, "  User.Name+tag@Example.COM ").unwrap();
    for probe in ["user.name+tag@example.com", "USER.NAME+TAG@EXAMPLE.COM", " User.Name+tag@example.com\u{3000}"] {
        let found = v.session.find_by_email(probe).unwrap();
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [created.id], "probe {probe:?}");
    }
    expect_invalid(v.session.find_by_email("user@@example.com"), "email", "email_syntax");
    expect_invalid(v.session.find_by_email("   "), "email", "required");
}

// ---------------------------------------------------------------------------
// Mobile
// ---------------------------------------------------------------------------

const MAINLAND_FORMS: [&str; 11] = [
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "138.0013.8000",
    "(138)00138000",
    "138\u{3000}0013\u{3000}8000",
    "+86 13800138000",
    "+86 (138) 0013-8000",
    "0086 13800138000",
    "8613800138000",
    "  +8613800138000 ",
];

#[test]
fn mobile_mainland_forms_normalise_to_eleven_digits() {
    let v = vault();
    let mut rows: Vec<(Field, &str, &str)> =
        MAINLAND_FORMS.iter().map(|m| (Field::Mobile, *m, "13800138000")).collect();
    rows.extend([
        (Field::Mobile, "19912345678", "19912345678"),
        (Field::Mobile, "+86 150-1234-5678", "15012345678"),
        (Field::Mobile, "008617012345678", "17012345678"),
    ]);
    assert_normal(&v, &rows);
}

#[test]
fn mobile_lookup_finds_a_number_however_it_is_typed() {
    let v = vault();
    let created = v.create_with(&Field::Mobile, "138-0013-8000").unwrap();
    for probe in MAINLAND_FORMS {
        let found = v.session.find_by_mobile(probe).unwrap();
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [created.id], "probe {probe:?}");
    }
    assert!(v.session.find_by_mobile("13800138001").unwrap().is_empty());
}

#[test]
fn mobile_international_numbers_keep_e164_form() {
    let v = vault();
    let rows = [
        (Field::Mobile, "+44 7911 123456", "+447911123456"),
        (Field::Mobile, "0044 7911 123456", "+447911123456"),
        (Field::Mobile, "+1 (415) 555-2671", "+14155552671"),
        (Field::Mobile, "+852 9123 4567", "+85291234567"),
        (Field::Mobile, "+33 6 12 34 56 78", "+33612345678"),
        (Field::Mobile, "+81 90-1234-5678", "+819012345678"),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn mobile_bad_numbers_are_rejected() {
    let v = vault();
    let megabyte = "1".repeat(1 << 20);
    let rows = [
        (Field::Mobile, "1380013800", "mobile_format"),
        (Field::Mobile, "138001380001", "mobile_format"),
        (Field::Mobile, "12800138000", "mobile_format"),
        // Unallocated mainland blocks and numbers no country has (libphonenumber's data).
        (Field::Mobile, "14012345678", "mobile_unallocated"),
        (Field::Mobile, "14612345678", "mobile_unallocated"),
        (Field::Mobile, "16412345678", "mobile_unallocated"),
        (Field::Mobile, "+12345678", "e164_invalid"),
        (Field::Mobile, "+123456789012345", "e164_invalid"),
        (Field::Mobile, "10800138000", "mobile_format"),
        (Field::Mobile, "23800138000", "mobile_format"),
        (Field::Mobile, "1380013800a", "mobile_format"),
        (Field::Mobile, "one3800138000", "mobile_format"),
        (Field::Mobile, "138 0013 8000 ext 12", "mobile_format"),
        (Field::Mobile, "１３８００１３８０００", "mobile_format"),
        (Field::Mobile, "+86 1380013800", "mobile_format"),
        (Field::Mobile, "+86 12800138000", "mobile_format"),
        (Field::Mobile, "0086 1380013800", "mobile_format"),
        (Field::Mobile, "86 1380013800", "mobile_format"),
        (Field::Mobile, "+", "mobile_format"),
        (Field::Mobile, "++8613800138000", "mobile_format"),
        (Field::Mobile, "+86+13800138000", "mobile_format"),
        (Field::Mobile, SQL, "mobile_format"),
        (Field::Mobile, "13800138000;DROP TABLE customers", "mobile_format"),
        (Field::Mobile, "+0441234567", "e164_format"),
        (Field::Mobile, "+123456", "e164_format"),
        (Field::Mobile, "+1234567", "e164_invalid"),
        (Field::Mobile, "+44 7911", "e164_format"),
        (Field::Mobile, "+1234567890123456", "e164_format"),
        (Field::Mobile, "000441234567", "e164_format"),
        (Field::Mobile, &megabyte, "too_long"),
        (Field::Mobile, "138\t0013\t8000", "control_character"),
    ];
    assert_rejected(&v, &rows);
}

#[test]
fn mobile_lookup_validates_its_input() {
    let v = vault();
    let e = expect_invalid(v.session.find_by_mobile(SQL), "mobile", "mobile_format");
    assert!(!e.to_string().contains(SQL));
    expect_invalid(v.session.find_by_mobile("1380013800"), "mobile", "mobile_format");
    expect_invalid(v.session.find_by_mobile(""), "mobile", "required");
    expect_invalid(v.session.find_by_mobile(" \u{3000} "), "mobile", "required");
    // Only mobile, e-mail and ID number have a blind index.
    // A lookup on a field without an index is the caller's mistake, not the data's.
    for (field, value) in [(Field::Name, "张三"), (Field::Notes, "anything")] {
        let err = v.session.find(field.clone(), value).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { argument, rule: "not_indexed", .. } if *argument == field.name()),
            "{err:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// National ID number
// ---------------------------------------------------------------------------

#[test]
fn id_check_character_matches_gb_11643() {
    assert_eq!(id_check_character(b"11010519491231002"), b'X');
    assert_eq!(id_number("11010519491231002"), "11010519491231002X");
    // Every check character 0-9 and X is reachable, and each is deterministic.
    let mut seen: Vec<u8> =
        (0..200u32).map(|n| id_check_character(format!("1101051990010{n:04}").as_bytes())).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, b"0123456789X");
}

#[test]
fn id_number_good_forms() {
    let v = vault();
    let leap = id_born("20000229");
    let oldest = id_born("18800101");
    let today = id_born(&TODAY_ISO.replace('-', ""));
    let padded = format!("  {leap}\u{3000}");
    // Historical divisions: 崇文区 (110103, merged in 2010) for someone born
    // in 1975; 东城区 (110101) for everyone.
    let historical = id_number("11010319750307123");
    let current = id_number("11010120200307123");
    let rows = [
        (Field::IdNumber, historical.as_str(), historical.as_str()),
        (Field::IdNumber, &current, &current),
        (Field::IdNumber, "11010519491231002X", "11010519491231002X"),
        (Field::IdNumber, "11010519491231002x", "11010519491231002X"),
        (Field::IdNumber, &padded, &leap),
        (Field::IdNumber, &oldest, &oldest),
        (Field::IdNumber, &today, &today),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn id_number_bad_forms() {
    let v = vault();
    let valid = id_born("19900307");
    let month13 = id_born("19901307");
    let month00 = id_born("19900007");
    let feb30 = id_born("19900230");
    let feb29_not_leap = id_born("19000229");
    let day00 = id_born("19900300");
    let future = id_born("20990101");
    let tomorrow = id_born(&TOMORROW_ISO.replace('-', ""));
    let too_old = id_born("18791231");
    let wrong_check = with_wrong_check(&valid);
    let x_instead_of_digit = format!("{}X", &id_born("19900308")[..17]);
    let x_inside = format!("11010X{}", &valid[6..]);
    let letter_inside = format!("{}a{}", &valid[..10], &valid[11..]);
    let space_inside = format!("{} {}", &valid[..9], &valid[10..]);
    let nineteen = format!("{valid}1");
    let seventeen = valid[..17].to_owned();
    let han_first = format!("中{}", &valid[1..]);
    let fullwidth: String =
        valid.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap()).collect();
    // GB/T 2260: 999999 and 000000 are no division; 110199 was never listed;
    // 崇文区 (110103) was merged into 东城区 in 2010, so nobody born in 2012 has it.
    let no_division = id_number("99999919900307123");
    let zero_division = id_number("00000019900307123");
    let unlisted_county = id_number("11019919900307123");
    let abolished = id_number("11010320120307123");
    let rows = [
        (Field::IdNumber, "110105491231002", "id_length"),
        (Field::IdNumber, seventeen.as_str(), "id_length"),
        (Field::IdNumber, &nineteen, "id_length"),
        (Field::IdNumber, "1234", "id_length"),
        (Field::IdNumber, SQL, "id_length"),
        (Field::IdNumber, &x_inside, "id_format"),
        (Field::IdNumber, &letter_inside, "id_format"),
        (Field::IdNumber, &space_inside, "id_format"),
        (Field::IdNumber, "11010519491231002Y", "id_format"),
        (Field::IdNumber, "' OR 1=1 --1234567", "id_format"),
        (Field::IdNumber, &fullwidth, "id_format"),
        (Field::IdNumber, &han_first, "id_format"),
        (Field::IdNumber, &month13, "id_birth_date"),
        (Field::IdNumber, &month00, "id_birth_date"),
        (Field::IdNumber, &feb30, "id_birth_date"),
        (Field::IdNumber, &feb29_not_leap, "id_birth_date"),
        (Field::IdNumber, &day00, "id_birth_date"),
        (Field::IdNumber, &future, "id_birth_date"),
        (Field::IdNumber, &tomorrow, "id_birth_date"),
        (Field::IdNumber, &too_old, "id_birth_date"),
        (Field::IdNumber, &wrong_check, "id_check_digit"),
        (Field::IdNumber, &x_instead_of_digit, "id_check_digit"),
        (Field::IdNumber, "11010519491231002X\u{0}", "control_character"),
        (Field::IdNumber, &no_division, "id_division_unknown"),
        (Field::IdNumber, &zero_division, "id_division_unknown"),
        (Field::IdNumber, &unlisted_county, "id_division_unknown"),
        (Field::IdNumber, &abolished, "id_division_abolished"),
    ];
    assert_rejected(&v, &rows);
}

#[test]
fn id_number_lookup_normalises_the_check_letter() {
    let v = vault();
    let created = v.create_with(&Field::IdNumber, "11010519491231002x").unwrap();
    assert_eq!(created.text(&Field::IdNumber), "11010519491231002X");
    for probe in ["11010519491231002X", "11010519491231002x", " 11010519491231002X "] {
        let found = v.session.find_by_id_number(probe).unwrap();
        assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [created.id], "probe {probe:?}");
    }
    let wrong = with_wrong_check("11010519491231002X");
    let e = expect_invalid(v.session.find_by_id_number(&wrong), "id_number", "id_check_digit");
    assert!(!e.to_string().contains(&wrong));
}

// ---------------------------------------------------------------------------
// Birth date
// ---------------------------------------------------------------------------

#[test]
fn birth_date_formats_normalise_to_iso() {
    let v = vault();
    let rows = [
        (Field::BirthDate, "1990-03-07", "1990-03-07"),
        (Field::BirthDate, "1990/3/7", "1990-03-07"),
        (Field::BirthDate, "19900307", "1990-03-07"),
        (Field::BirthDate, "1990.03.07", "1990-03-07"),
        (Field::BirthDate, "1990-3-07", "1990-03-07"),
        (Field::BirthDate, "  1990/03/07 ", "1990-03-07"),
        (Field::BirthDate, "2000-02-29", "2000-02-29"),
        (Field::BirthDate, "1880-01-01", "1880-01-01"),
        (Field::BirthDate, TODAY_ISO, TODAY_ISO),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn birth_date_bad_values_are_rejected() {
    let v = vault();
    let rows = [
        (Field::BirthDate, "1990-02-30", "date_format"),
        (Field::BirthDate, "19900230", "date_format"),
        (Field::BirthDate, "1900-02-29", "date_format"),
        (Field::BirthDate, "1990-13-01", "date_format"),
        (Field::BirthDate, "1990-00-10", "date_format"),
        (Field::BirthDate, "1990-04-31", "date_format"),
        (Field::BirthDate, "1990-03-00", "date_format"),
        (Field::BirthDate, "1990-003-07", "date_format"),
        (Field::BirthDate, "abc", "date_format"),
        (Field::BirthDate, "90-03-07", "date_format"),
        (Field::BirthDate, "1990-03", "date_format"),
        (Field::BirthDate, "1990-03-07-01", "date_format"),
        (Field::BirthDate, "1990 03 07", "date_format"),
        (Field::BirthDate, "07/03/1990", "date_format"),
        (Field::BirthDate, "1990-03-07T00:00", "date_format"),
        (Field::BirthDate, "+990-03-07", "date_format"),
        (Field::BirthDate, "1990年3月7日", "date_format"),
        (Field::BirthDate, SQL, "date_format"),
        (Field::BirthDate, "2099-01-01", "date_range"),
        (Field::BirthDate, TOMORROW_ISO, "date_range"),
        (Field::BirthDate, "1870-05-05", "date_range"),
        (Field::BirthDate, "1879-12-31", "date_range"),
        (Field::BirthDate, "0000-01-01", "date_range"),
    ];
    assert_rejected(&v, &rows);
}

/// An 8-byte value that is not ASCII is sliced at byte offsets 4 and 6 by
/// the compact `YYYYMMDD` branch of the birth-date parser, which panics on a
/// char boundary instead of answering `date_format`.
#[test]
fn birth_date_non_ascii_compact_input_is_a_format_error_not_a_panic() {
    for input in ["1990年3", "199年03", "中中12"] {
        assert_eq!(input.len(), 8);
        let result = std::panic::catch_unwind(|| normalise(&Field::BirthDate, input, &Catalogue::default(), TODAY));
        let result = result.unwrap_or_else(|_| panic!("normalise panicked on birth date {input:?}"));
        assert!(
            matches!(&result, Err(Error::Invalid { field, rule: "date_format", .. }) if field == "birth_date"),
            "{input:?}: {result:?}"
        );
    }
    let v = vault();
    expect_invalid(v.session.create(base_input().set(Field::BirthDate, "1990年3")), "birth_date", "date_format");
}

#[test]
fn birth_date_must_agree_with_id_number() {
    let v = vault();
    let id = "11010519491231002X";
    // Agreeing values, in any accepted format, are fine.
    let ok = v
        .session
        .create(base_input().set(Field::IdNumber, id).set(Field::BirthDate, "1949/12/31"))
        .expect("matching birth date");
    assert_eq!(ok.text(&Field::BirthDate), "1949-12-31");
    // A disagreeing birth date is refused on the birth_date field.
    let e = expect_invalid(
        v.session.create(base_input().set(Field::IdNumber, id).set(Field::BirthDate, "1950-01-01")),
        "birth_date",
        "id_birth_date_mismatch",
    );
    assert!(!e.to_string().contains("1950-01-01") && !e.to_string().contains(id));
    // Through update: a birth date that contradicts the stored ID number ...
    expect_invalid(
        v.session.update(ok.id, ok.version, CustomerPatch::new().set(Field::BirthDate, "1949-12-30")),
        "birth_date",
        "id_birth_date_mismatch",
    );
    // ... and an ID number that contradicts the stored birth date.
    expect_invalid(
        v.session.update(ok.id, ok.version, CustomerPatch::new().set(Field::IdNumber, id_born("19491230"))),
        "birth_date",
        "id_birth_date_mismatch",
    );
    // Changing both together is fine.
    let both = v
        .session
        .update(
            ok.id,
            ok.version,
            CustomerPatch::new().set(Field::IdNumber, id_born("19491230")).set(Field::BirthDate, "19491230"),
        )
        .expect("both changed together");
    assert_eq!(both.text(&Field::BirthDate), "1949-12-30");
    assert_eq!(v.customers(), 1);
}

// ---------------------------------------------------------------------------
// Names and the other single-line text fields
// ---------------------------------------------------------------------------

#[test]
fn names_are_collapsed_and_keep_letters() {
    let v = vault();
    let longest = "张".repeat(64);
    let longest_latin = "a".repeat(64);
    let spaced = format!("  {}   ", "a".repeat(64));
    let rows = [
        (Field::Name, "  张   三 ", "张 三"),
        (Field::Name, "张\u{3000}三", "张 三"),
        (Field::Name, "张\u{a0}\u{a0}三", "张 三"),
        (Field::Name, "王五", "王五"),
        (Field::Name, "O'Brien", "O'Brien"),
        (Field::Name, "O’Brien", "O’Brien"),
        (Field::Name, "Jean-Luc  Picard", "Jean-Luc Picard"),
        (Field::Name, "J. R. R. Tolkien", "J. R. R. Tolkien"),
        (Field::Name, "阿卜杜拉·阿布都", "阿卜杜拉·阿布都"),
        (Field::Name, "Zoë Ådalsteinsdóttir", "Zoë Ådalsteinsdóttir"),
        (Field::Name, "Ивана Петрова", "Ивана Петрова"),
        (Field::Name, &longest, &longest),
        (Field::Name, &longest_latin, &longest_latin),
        (Field::Name, &spaced, &longest_latin),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn names_with_symbols_digits_or_controls_are_rejected() {
    let v = vault();
    let too_long = "a".repeat(65);
    let too_long_han = "张".repeat(65);
    let too_long_words = ["ab"; 22].join(" ");
    assert_eq!(too_long_words.chars().count(), 65);
    let megabyte = "张".repeat(350_000);
    let rows = [
        (Field::Name, "张三😀", "invalid_character"),
        (Field::Name, "😀", "invalid_character"),
        (Field::Name, SQL, "invalid_character"),
        (Field::Name, "Robert'); DROP TABLE customers;--", "invalid_character"),
        (Field::Name, "<script>alert(1)</script>", "invalid_character"),
        (Field::Name, "张三3", "invalid_character"),
        (Field::Name, "007", "invalid_character"),
        (Field::Name, "张三_李四", "invalid_character"),
        (Field::Name, "张三@example", "invalid_character"),
        (Field::Name, "张\u{200b}三", "invalid_character"),
        (Field::Name, &too_long, "too_long"),
        (Field::Name, &too_long_han, "too_long"),
        (Field::Name, &too_long_words, "too_long"),
        (Field::Name, &megabyte, "too_long"),
        (Field::Name, "张\u{7}三", "control_character"),
        (Field::Name, "张三\0", "control_character"),
        (Field::Name, "张三\n", "control_character"),
        (Field::Name, "张\n三", "control_character"),
        (Field::Name, "张\t三", "control_character"),
        (Field::Name, "张三\r", "control_character"),
        (Field::Name, "张\u{1b}[31m三", "control_character"),
        (Field::Name, "张\u{7f}三", "control_character"),
        (Field::Name, "张\u{85}三", "control_character"),
    ];
    assert_rejected(&v, &rows);
}

/// The name rule allows "letters" of any script (Cyrillic, Arabic, ...) but
/// tests `char::is_alphabetic`, which is false for most combining marks: the
/// Devanagari virama (U+094D), Thai tone marks (U+0E48-U+0E4B) and every
/// combining accent of a decomposed (NFD) Latin name. Such names have no
/// precomposed spelling (Hindi, Thai) or arrive decomposed from macOS and
/// some input methods, and are refused as `invalid_character`.
#[test]
fn names_with_combining_marks_are_letters() {
    let catalogue = Catalogue::default();
    for name in ["लक्ष्मी", "น้ำฝน", "Jose\u{301}", "Ma\u{308}rta Nguye\u{302}\u{303}n"] {
        let result = normalise(&Field::Name, name, &catalogue, TODAY);
        assert!(matches!(&result, Ok(Some(_))), "{name:?}: {result:?}");
    }
}

#[test]
fn organisation_title_category_and_source_rules() {
    let v = vault();
    let org128 = "公".repeat(128);
    let good = [
        (Field::Organisation, "  北京  某某科技有限公司（分公司） ", "北京 某某科技有限公司（分公司）"),
        (Field::Organisation, "AT&T Inc.", "AT&T Inc."),
        (Field::Organisation, "No. 3 Factory #2, Ltd/Co + Sons_x", "No. 3 Factory #2, Ltd/Co + Sons_x"),
        (Field::Organisation, &org128, &org128),
        (Field::Title, "  高级   经理 ", "高级 经理"),
        (Field::Title, "VP, R&D", "VP, R&D"),
        (Field::Category, "VIP客户", "VIP客户"),
        (Field::Category, " 重点 (A类) ", "重点 (A类)"),
        (Field::Source, "官网/微信", "官网/微信"),
    ];
    assert_normal(&v, &good);
    let org129 = "公".repeat(129);
    let title65 = "a".repeat(65);
    let cat33 = "类".repeat(33);
    let bad = [
        (Field::Organisation, "公司😀", "invalid_character"),
        (Field::Organisation, SQL, "invalid_character"),
        (Field::Organisation, "公司;DROP", "invalid_character"),
        (Field::Organisation, &org129, "too_long"),
        (Field::Organisation, "公司\n分部", "control_character"),
        (Field::Title, "经理<b>", "invalid_character"),
        (Field::Title, &title65, "too_long"),
        (Field::Category, "a=b", "invalid_character"),
        (Field::Category, &cat33, "too_long"),
        (Field::Source, "微信💬", "invalid_character"),
        (Field::Source, "\u{0}", "control_character"),
    ];
    assert_rejected(&v, &bad);
}

#[test]
fn address_is_multi_line_free_text_up_to_256_characters() {
    let v = vault();
    let longest = "路".repeat(256);
    let good = [
        (Field::Address, "  北京市朝阳区\n某某路 1 号\t3 单元  ", "北京市朝阳区\n某某路 1 号\t3 单元"),
        (Field::Address, "Flat 2, 10 Downing St.\r\nLondon 🇬🇧", "Flat 2, 10 Downing St.\r\nLondon 🇬🇧"),
        (Field::Address, SQL, SQL),
        (Field::Address, &longest, &longest),
    ];
    assert_normal(&v, &good);
    let too_long = "路".repeat(257);
    let bad =
        [(Field::Address, too_long.as_str(), "too_long"), (Field::Address, "某某路\u{0}1号", "control_character")];
    assert_rejected(&v, &bad);
}

// ---------------------------------------------------------------------------
// Control characters, in every field
// ---------------------------------------------------------------------------

#[test]
fn control_characters_are_refused_in_every_writable_field() {
    let catalogue = Catalogue::default().with_custom("loyalty", CustomAttribute::default()).unwrap();
    let v = vault_with(catalogue.clone());
    let fields: Vec<Field> = catalogue.fields().filter(Field::is_writable).collect();
    assert_eq!(fields.len(), 21, "20 writable built-ins and one custom attribute");
    let mut rows = Vec::new();
    for field in &fields {
        for input in ["ab\u{7}cd", "\u{0}", "abc\u{0}", "\u{1b}[2J", "x\u{7f}", "\u{8}\u{8}", "\u{9b}31m"] {
            rows.push((field.clone(), input, "control_character"));
        }
    }
    assert_rejected(&v, &rows);
}

#[test]
fn newline_and_tab_are_allowed_in_free_text_only() {
    let catalogue = Catalogue::default().with_custom("loyalty", CustomAttribute::default()).unwrap();
    let v = vault_with(catalogue.clone());
    let free_text = [Field::Notes, Field::Address, Field::RegisteredAddress, Field::Custom("loyalty".into())];
    // Contacts are JSON: line breaks between its tokens are layout (tests/organisation.rs).
    for field in catalogue.fields().filter(|f| f.is_writable() && *f != Field::Contacts) {
        for input in ["第一行\n第二行", "a\tb", "a\r\nb"] {
            let result = normalise(&field, input, &catalogue, TODAY);
            if free_text.contains(&field) {
                assert_eq!(result.unwrap().as_deref(), Some(input), "{field} {input:?}");
            } else {
                assert!(
                    matches!(&result, Err(Error::Invalid { rule: "control_character", .. })),
                    "{field} {input:?}: {result:?}"
                );
            }
        }
    }
    let view = v.session.create(base_input().set(Field::Notes, "第一行\n第二行\r\n\t第三行")).unwrap();
    assert_eq!(reread(&v, view.id).text(&Field::Notes), "第一行\n第二行\r\n\t第三行");
}

// ---------------------------------------------------------------------------
// Notes
// ---------------------------------------------------------------------------

#[test]
fn notes_length_limit() {
    let v = vault();
    let longest = "记".repeat(4000);
    assert_normal(&v, &[(Field::Notes, &longest, &longest)]);
    let over = "记".repeat(4001);
    let just_over_raw_limit = "a".repeat(64 * 1024 + 1);
    let megabyte = "x".repeat(1 << 20);
    let rows = [
        (Field::Notes, over.as_str(), "too_long"),
        (Field::Notes, &just_over_raw_limit, "too_long"),
        (Field::Notes, &megabyte, "too_long"),
    ];
    assert_rejected(&v, &rows);
}

#[test]
fn megabyte_notes_are_refused_and_the_store_keeps_working() {
    let v = vault();
    let megabyte = "备注".repeat(1 << 19);
    assert!(megabyte.len() > 1 << 20);
    let e = expect_invalid(v.session.create(base_input().set(Field::Notes, megabyte.as_str())), "notes", "too_long");
    assert!(e.to_string().len() < 200, "the error stays short: {e}");
    assert_eq!(v.customers(), 0);
    // And through update.
    let created = v.session.create(base_input().set(Field::Notes, "short")).unwrap();
    expect_invalid(
        v.session.update(created.id, created.version, CustomerPatch::new().set(Field::Notes, megabyte)),
        "notes",
        "too_long",
    );
    assert_eq!(reread(&v, created.id).text(&Field::Notes), "short");
    assert_eq!(v.store.counts().unwrap().customers, 1);
    assert_eq!(v.store.counts().unwrap().data_keys, 1);
}

#[test]
fn notes_keep_emoji_and_sql_verbatim() {
    let v = vault();
    let texts = [
        SQL,
        "Robert'); DROP TABLE customers;--",
        "客户很满意 😀👍🏽 ✔",
        "\"quoted\" \\ backslash % _ ; -- /* comment */",
        "<script>alert('x')</script>",
        "👨‍👩‍👧‍👦 family, 🇨🇳 flag",
    ];
    let mut ids = Vec::new();
    for text in texts {
        let created = v.session.create(base_input().set(Field::Notes, text)).expect(text);
        assert_eq!(created.text(&Field::Notes), text);
        ids.push((created.id, text));
    }
    for (id, text) in ids {
        assert_eq!(reread(&v, id).text(&Field::Notes), text);
    }
    let counts = v.store.counts().unwrap();
    assert_eq!((counts.customers, counts.data_keys), (texts.len() as u64, texts.len() as u64));
    // The store still works: a new customer, a lookup, an update.
    let next = v.create_with(&Field::Mobile, "13900139000").unwrap();
    assert_eq!(v.session.find_by_mobile("139 0013 9000").unwrap()[0].id, next.id);
    v.session.update(next.id, next.version, CustomerPatch::new().set(Field::Notes, SQL)).unwrap();
    assert_eq!(reread(&v, next.id).text(&Field::Notes), SQL);
    assert_eq!(v.customers(), texts.len() as u64 + 1);
}

// ---------------------------------------------------------------------------
// Required fields
// ---------------------------------------------------------------------------

#[test]
fn an_individual_needs_a_name() {
    let v = vault();
    expect_invalid(v.session.create(CustomerInput::individual()), "name", "required");
    expect_invalid(v.session.create(CustomerInput::individual().set(Field::Mobile, "13800138000")), "name", "required");
    for blank in ["", " ", "   ", "\u{3000}", " \u{a0} "] {
        expect_invalid(v.session.create(CustomerInput::individual().set(Field::Name, blank)), "name", "required");
    }
    // An organisation alone does not make an individual valid.
    expect_invalid(
        v.session.create(CustomerInput::individual().set(Field::Organisation, "某某公司")),
        "name",
        "required",
    );
    assert_eq!(v.customers(), 0);
    let ok = v.session.create(CustomerInput::individual().set(Field::Name, "张三")).unwrap();
    assert_eq!(ok.text(&Field::Kind), "individual");
}

#[test]
fn an_organisation_needs_an_organisation_name() {
    let v = vault();
    expect_invalid(v.session.create(CustomerInput::organisation()), "organisation", "required");
    expect_invalid(
        v.session.create(CustomerInput::organisation().set(Field::Name, "联系人")),
        "organisation",
        "required",
    );
    expect_invalid(
        v.session.create(CustomerInput::organisation().set(Field::Organisation, "  \u{3000} ")),
        "organisation",
        "required",
    );
    expect_invalid(
        v.session.create(CustomerInput::individual().set(Field::Kind, "单位").set(Field::Name, "联系人")),
        "organisation",
        "required",
    );
    assert_eq!(v.customers(), 0);
    // An organisation needs no contact name.
    let ok = v.session.create(CustomerInput::organisation().set(Field::Organisation, "某某科技有限公司")).unwrap();
    assert_eq!(ok.text(&Field::Kind), "organisation");
    assert_eq!(ok.text(&Field::Name), "");
}

#[test]
fn required_fields_are_enforced_on_update() {
    let v = vault();
    let person = v.session.create(CustomerInput::individual().set(Field::Name, "张三")).unwrap();
    let before = snapshot(&person);
    expect_invalid(
        v.session.update(person.id, person.version, CustomerPatch::new().clear(Field::Name)),
        "name",
        "required",
    );
    expect_invalid(
        v.session.update(person.id, person.version, CustomerPatch::new().set(Field::Name, "  ")),
        "name",
        "required",
    );
    expect_invalid(
        v.session.update(person.id, person.version, CustomerPatch::new().set(Field::Kind, "organisation")),
        "organisation",
        "required",
    );
    assert_eq!(snapshot(&reread(&v, person.id)), before);
    // Becoming an organisation together with an organisation name is fine.
    let org = v
        .session
        .update(
            person.id,
            person.version,
            CustomerPatch::new().set(Field::Kind, "企业").set(Field::Organisation, "某某公司").clear(Field::Name),
        )
        .unwrap();
    assert_eq!((org.text(&Field::Kind), org.text(&Field::Name)), ("organisation", ""));
}

// ---------------------------------------------------------------------------
// Choices
// ---------------------------------------------------------------------------

#[test]
fn choices_are_folded_to_their_canonical_value() {
    let v = vault();
    let rows = [
        (Field::Gender, "男", "male"),
        (Field::Gender, "女", "female"),
        (Field::Gender, "F", "female"),
        (Field::Gender, "m", "male"),
        (Field::Gender, " Male ", "male"),
        (Field::Gender, "FEMALE", "female"),
        (Field::Gender, "Other", "other"),
        (Field::Gender, "unknown", "unknown"),
        (Field::Tier, "a", "A"),
        (Field::Tier, " B ", "B"),
        (Field::Tier, "c", "C"),
        (Field::Tier, "A", "A"),
        (Field::Kind, "individual", "individual"),
        (Field::Kind, "个人", "individual"),
        (Field::Kind, "Organisation", "organisation"),
        (Field::Kind, "ORGANIZATION", "organisation"),
        (Field::Kind, "单位", "organisation"),
        (Field::Kind, "企业", "organisation"),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn choices_outside_the_list_are_rejected() {
    let v = vault();
    let rows = [
        (Field::Gender, "x", "choice"),
        (Field::Gender, "男性", "choice"),
        (Field::Gender, "femme", "choice"),
        (Field::Gender, "0", "choice"),
        (Field::Gender, "males", "choice"),
        (Field::Gender, SQL, "choice"),
        (Field::Tier, "D", "choice"),
        (Field::Tier, "AA", "choice"),
        (Field::Tier, "1", "choice"),
        (Field::Tier, "甲", "choice"),
        (Field::Tier, "Ａ", "choice"),
        (Field::Kind, "company", "choice"),
        (Field::Kind, "person", "choice"),
        (Field::Kind, "individuals", "choice"),
        (Field::Kind, "公司", "choice"),
        (Field::Kind, "\u{7}", "control_character"),
    ];
    assert_rejected(&v, &rows);
}

#[test]
fn choice_errors_list_the_allowed_values() {
    let e = normalise(&Field::Gender, "x", &Catalogue::default(), TODAY).unwrap_err();
    assert!(e.to_string().contains("male, female, other, unknown"), "{e}");
    let e = normalise(&Field::Tier, "D", &Catalogue::default(), TODAY).unwrap_err();
    assert!(e.to_string().contains("A, B, C"), "{e}");
    let e = normalise(&Field::Kind, "company", &Catalogue::default(), TODAY).unwrap_err();
    assert!(e.to_string().contains("individual, organisation"), "{e}");
}

// ---------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------

#[test]
fn tags_are_trimmed_deduplicated_and_joined() {
    let v = vault();
    let twenty: Vec<String> = (1..=20).map(|i| format!("t{i}")).collect();
    let twenty_joined = twenty.join(",");
    let twenty_spaced = twenty.join(" ，");
    let same_tag_21_times = ["vip"; 21].join(",");
    let tag32 = "签".repeat(32);
    let rows = [
        (Field::Tags, "vip, 北京 ,vip,，老客户", "vip,北京,老客户"),
        (Field::Tags, "a  b , c", "a b,c"),
        (Field::Tags, "，单个，", "单个"),
        (Field::Tags, "VIP,vip", "VIP,vip"),
        (Field::Tags, "😀, ' OR 1=1 --", "😀,' OR 1=1 --"),
        (Field::Tags, &twenty_spaced, &twenty_joined),
        (Field::Tags, &same_tag_21_times, "vip"),
        (Field::Tags, &tag32, &tag32),
    ];
    assert_normal(&v, &rows);
}

#[test]
fn tags_over_the_limits_are_rejected() {
    let v = vault();
    let twenty_one = (1..=21).map(|i| format!("t{i}")).collect::<Vec<_>>().join(",");
    let tag33 = format!("ok,{}", "签".repeat(33));
    // 20 tags of 32 characters: each tag is fine, but 20 * 32 + 19 > 512.
    let twenty_long = (10..30).map(|i| format!("{i}{}", "x".repeat(30))).collect::<Vec<_>>().join(",");
    let rows = [
        (Field::Tags, twenty_one.as_str(), "too_many_tags"),
        (Field::Tags, &tag33, "tag_too_long"),
        (Field::Tags, &twenty_long, "too_long"),
        (Field::Tags, "a\u{0},b", "control_character"),
    ];
    assert_rejected(&v, &rows);
}

/// A tag list with no tags in it (only separators) is normalised to
/// `Some("")`: the customer gets an empty tags value instead of having the
/// field cleared, unlike every other blank input.
#[test]
fn tags_made_of_separators_only_clear_the_field() {
    let v = vault();
    assert_eq!(normalise(&Field::Tags, ",，,", v.store.catalogue(), TODAY).unwrap(), None);
    let created = v.create_with(&Field::Tags, " , ，").unwrap();
    assert_eq!(created.get(&Field::Tags), None);
}

// ---------------------------------------------------------------------------
// External code
// ---------------------------------------------------------------------------

#[test]
fn external_code_syntax() {
    let v = vault();
    let code32 = "K".repeat(32);
    let good = [
        (Field::ExternalCode, "KH-001_a.b", "KH-001_a.b"),
        (Field::ExternalCode, "  KH-002 ", "KH-002"),
        (Field::ExternalCode, "007", "007"),
        (Field::ExternalCode, &code32, &code32),
    ];
    assert_normal(&v, &good);
    let code33 = "K".repeat(33);
    let bad = [
        (Field::ExternalCode, "KH 001", "invalid_character"),
        (Field::ExternalCode, "客户001", "invalid_character"),
        (Field::ExternalCode, "KH/001", "invalid_character"),
        (Field::ExternalCode, "KH-００１", "invalid_character"),
        (Field::ExternalCode, SQL, "invalid_character"),
        (Field::ExternalCode, &code33, "too_long"),
        (Field::ExternalCode, "KH\n001", "control_character"),
    ];
    assert_rejected(&v, &bad);
}

#[test]
fn external_code_must_be_unique() {
    let v = vault();
    let first = v.create_with(&Field::ExternalCode, "KH-001").unwrap();
    match v.create_with(&Field::ExternalCode, "  KH-001 ") {
        Err(Error::DuplicateExternalCode { code, existing }) => {
            assert_eq!((code.as_str(), existing), ("KH-001", first.id));
        }
        other => panic!("expected DuplicateExternalCode, got {other:?}"),
    }
    assert_eq!(v.customers(), 1);
    // Through update, against another customer's code.
    let second = v.create_with(&Field::ExternalCode, "KH-002").unwrap();
    match v.session.update(second.id, second.version, CustomerPatch::new().set(Field::ExternalCode, "KH-001")) {
        Err(Error::DuplicateExternalCode { code, existing }) => {
            assert_eq!((code.as_str(), existing), ("KH-001", first.id));
        }
        other => panic!("expected DuplicateExternalCode, got {other:?}"),
    }
    assert_eq!(reread(&v, second.id).text(&Field::ExternalCode), "KH-002");
    // Re-setting a customer's own code is not a conflict.
    let same = v
        .session
        .update(first.id, first.version, CustomerPatch::new().set(Field::ExternalCode, "KH-001").set(Field::Tier, "b"))
        .unwrap();
    assert_eq!((same.text(&Field::ExternalCode), same.text(&Field::Tier)), ("KH-001", "B"));
    // Lookup normalises, validates and reports a missing code.
    assert_eq!(v.session.get_by_external_code(" KH-002 ").unwrap().id, second.id);
    expect_invalid(v.session.get_by_external_code("客户"), "external_code", "invalid_character");
    expect_invalid(v.session.get_by_external_code("  "), "external_code", "required");
    assert!(matches!(v.session.get_by_external_code("KH-404"), Err(Error::ExternalCodeNotFound(c)) if c == "KH-404"));
}

// ---------------------------------------------------------------------------
// Read-only fields
// ---------------------------------------------------------------------------

#[test]
fn read_only_fields_cannot_be_set() {
    let v = vault();
    let read_only = [Field::Version, Field::Status, Field::CreatedAt, Field::UpdatedAt];
    let mut rows = Vec::new();
    for field in &read_only {
        for input in ["99", "", "deleted", "2024-01-01T00:00:00Z"] {
            rows.push((field.clone(), input, "read_only"));
        }
    }
    assert_rejected(&v, &rows);
    let created = v.session.create(base_input()).unwrap();
    let before = snapshot(&created);
    for field in &read_only {
        let name = field.name();
        expect_invalid(
            v.session.update(created.id, created.version, CustomerPatch::new().set(field.clone(), "7")),
            &name,
            "read_only",
        );
        expect_invalid(
            v.session.update(created.id, created.version, CustomerPatch::new().clear(field.clone())),
            &name,
            "read_only",
        );
    }
    assert_eq!(snapshot(&reread(&v, created.id)), before);
    assert_eq!(created.text(&Field::Version), "1");
    assert_eq!(created.text(&Field::Status), "active");
}

// ---------------------------------------------------------------------------
// Custom attributes and the catalogue
// ---------------------------------------------------------------------------

#[test]
fn the_default_catalogue_refuses_custom_attributes() {
    let v = vault();
    assert!(v.store.catalogue().is_closed());
    let rows = [
        (Field::Custom("loyalty".into()), "gold", "catalogue.closed"),
        (Field::Custom("loyalty".into()), "", "catalogue.closed"),
        (Field::Custom("x".into()), "1", "catalogue.closed"),
    ];
    fail_if_any("closed catalogue", normalise_rejections(v.store.catalogue(), &rows));
    // The store refuses them too and stores nothing. (Which error it reports
    // is pinned by the ignored test below: today it is `Denied`/`default.deny`.)
    let created = v.session.create(base_input().set(Field::Custom("loyalty".into()), "platinum member"));
    let e = created.expect_err("undeclared custom attribute accepted");
    assert!(!e.to_string().contains("platinum member"), "{e}");
    let existing = v.session.create(base_input()).unwrap();
    let patched = v.session.update(
        existing.id,
        existing.version,
        CustomerPatch::new().set(Field::Custom("loyalty".into()), "platinum member"),
    );
    assert!(!patched.expect_err("undeclared custom attribute accepted").to_string().contains("platinum member"));
    assert_eq!(reread(&v, existing.id).version, existing.version);
    assert_eq!(v.customers(), 1);
}

/// `Catalogue::check_field` has a rule for exactly this case, but
/// `Session::create`/`update` ask the access plan first; the plan only names
/// declared fields, so an administrator is told "access denied by rule
/// default.deny: principal 'admin' may not write field 'custom.loyalty'"
/// instead of the validation error `catalogue.closed`.
#[test]
fn the_store_reports_an_undeclared_custom_attribute_as_catalogue_closed() {
    let v = vault();
    let loyalty = Field::Custom("loyalty".into());
    expect_invalid(v.session.create(base_input().set(loyalty.clone(), "gold")), "custom.loyalty", "catalogue.closed");
    let existing = v.session.create(base_input()).unwrap();
    expect_invalid(
        v.session.update(existing.id, existing.version, CustomerPatch::new().set(loyalty, "gold")),
        "custom.loyalty",
        "catalogue.closed",
    );
}

#[test]
fn declared_custom_attributes_are_free_text_within_their_limit() {
    let catalogue = Catalogue::default()
        .with_custom("loyalty", CustomAttribute::default())
        .unwrap()
        .with_custom("short_code", CustomAttribute { level: Level::L3, max_chars: 8 })
        .unwrap();
    let v = vault_with(catalogue);
    let loyalty = Field::Custom("loyalty".into());
    let short = Field::Custom("short_code".into());
    let max256 = "金".repeat(256);
    let good = [
        (loyalty.clone(), "  gold 🥇\nsince 2020 ", "gold 🥇\nsince 2020"),
        (loyalty.clone(), SQL, SQL),
        (loyalty.clone(), &max256, &max256),
        (short.clone(), "12345678", "12345678"),
    ];
    assert_normal(&v, &good);
    let over256 = "金".repeat(257);
    let bad = [
        (loyalty.clone(), over256.as_str(), "too_long"),
        (short.clone(), "123456789", "too_long"),
        (short, "1\u{0}", "control_character"),
    ];
    assert_rejected(&v, &bad);
    let undeclared = [(Field::Custom("undeclared".into()), "x", "catalogue.closed")];
    fail_if_any("undeclared", normalise_rejections(v.store.catalogue(), &undeclared));
    let created = v.session.create(base_input().set(loyalty.clone(), "gold")).unwrap();
    assert_eq!(reread(&v, created.id).text(&loyalty), "gold");
    assert_eq!(created.level(&loyalty), Some(Level::L2));
}

/// An open catalogue is documented to accept undeclared custom attributes
/// (`normalise` does), but the policy plans only the catalogue's declared
/// fields, so even an administrator's write is denied by `default.deny`, and
/// views never show undeclared attributes.
#[test]
fn an_open_catalogue_accepts_undeclared_custom_attributes() {
    let catalogue = Catalogue::default().closed(false);
    let field = Field::Custom("nickname".into());
    assert_eq!(normalise(&field, " 小张 ", &catalogue, TODAY).unwrap().as_deref(), Some("小张"));
    let v = vault_with(catalogue);
    let created = v.session.create(base_input().set(field.clone(), "小张")).expect("open catalogue");
    assert_eq!(reread(&v, created.id).text(&field), "小张");
}

#[test]
fn catalogue_construction_rules() {
    let e = Catalogue::default().with_level(Field::Category, Level::L1).unwrap_err();
    assert_eq!(invalid_parts(&e), Some(("category", "catalogue.plain_field_level")), "{e:?}");
    for field in [Field::Category, Field::Source, Field::Tier, Field::Kind, Field::ExternalCode, Field::Version] {
        for level in [Level::L1, Level::L2] {
            let e = Catalogue::default().with_level(field.clone(), level).unwrap_err();
            assert_eq!(invalid_parts(&e), Some((field.name().as_ref(), "catalogue.plain_field_level")), "{e:?}");
        }
        assert!(Catalogue::default().with_level(field.clone(), Level::L3).is_ok());
    }
    // Sealed fields may move between levels.
    let c = Catalogue::default().with_level(Field::Notes, Level::L1).unwrap();
    assert_eq!(c.level(&Field::Notes), Level::L1);
    // Undeclared custom attributes cannot be given a level.
    assert!(matches!(
        Catalogue::default().with_level(Field::Custom("loyalty".into()), Level::L1),
        Err(Error::UnknownField(name)) if name == "custom.loyalty"
    ));
    // Custom keys and limits.
    for key in ["Bad-Key", "", "1abc", "_abc", "a b", "ключ", "k".repeat(33).as_str()] {
        let e = Catalogue::default().with_custom(key, CustomAttribute::default()).unwrap_err();
        assert_eq!(invalid_parts(&e).map(|p| p.1), Some("catalogue.custom_key"), "{key:?}: {e:?}");
    }
    assert!(Catalogue::default().with_custom(&"k".repeat(32), CustomAttribute::default()).is_ok());
    for max_chars in [0, 65_537] {
        let e =
            Catalogue::default().with_custom("loyalty", CustomAttribute { level: Level::L2, max_chars }).unwrap_err();
        assert_eq!(invalid_parts(&e), Some(("custom.loyalty", "catalogue.custom_max_chars")), "{e:?}");
    }
}

#[test]
fn field_names_parse_strictly() {
    for name in
        ["custom.Bad-Key", "nonsense", "custom.", "custom.1abc", "Name", "name ", "", "custom", "CUSTOM.loyalty"]
    {
        match Field::parse(name) {
            Err(Error::UnknownField(n)) => assert_eq!(n, name),
            other => panic!("{name:?}: expected UnknownField, got {other:?}"),
        }
    }
    assert_eq!(Field::parse("custom.loyalty").unwrap(), Field::Custom("loyalty".into()));
    assert_eq!(Field::parse("birth_date").unwrap(), Field::BirthDate);
    // Every built-in and custom name round-trips.
    for field in Catalogue::default().with_custom("loyalty", CustomAttribute::default()).unwrap().fields() {
        assert_eq!(Field::parse(&field.name()).unwrap(), field);
    }
}

// ---------------------------------------------------------------------------
// Updates
// ---------------------------------------------------------------------------

#[test]
fn an_empty_patch_is_rejected() {
    let v = vault();
    let created = v.session.create(base_input()).unwrap();
    let e = expect_invalid(v.session.update(created.id, created.version, CustomerPatch::new()), "patch", "empty_patch");
    assert_eq!(e.code(), 10);
    // Even for a customer that does not exist: the patch is checked first.
    expect_invalid(v.session.update(CustomerId(999), 1, CustomerPatch::new()), "patch", "empty_patch");
    assert_eq!(reread(&v, created.id).version, created.version);
}

#[test]
fn a_failed_update_changes_nothing() {
    let v = vault();
    let created = v
        .session
        .create(
            base_input()
                .set(Field::Mobile, "13800138000")
                .set(Field::Email, "old@example.com")
                .set(Field::Notes, "原始备注")
                .set(Field::Tier, "A"),
        )
        .unwrap();
    let before = snapshot(&reread(&v, created.id));
    let failing: Vec<(CustomerPatch, &str, &str)> = vec![
        (
            CustomerPatch::new().set(Field::Email, "new@example.com").set(Field::Mobile, "12345"),
            "mobile",
            "mobile_format",
        ),
        (CustomerPatch::new().set(Field::Notes, "新备注").set(Field::Email, "no-at-sign"), "email", "email_syntax"),
        (CustomerPatch::new().set(Field::Tier, "B").set(Field::Name, "张三😀"), "name", "invalid_character"),
        (CustomerPatch::new().set(Field::Tier, "Z"), "tier", "choice"),
        (CustomerPatch::new().set(Field::Notes, "x").set(Field::Version, "5"), "version", "read_only"),
        (CustomerPatch::new().set(Field::Notes, "x").clear(Field::Name), "name", "required"),
        (CustomerPatch::new().set(Field::BirthDate, "1990-02-30"), "birth_date", "date_format"),
        (CustomerPatch::new().set(Field::Notes, "x".repeat(4001)), "notes", "too_long"),
    ];
    for (patch, field, rule) in failing {
        let e = expect_invalid(v.session.update(created.id, created.version, patch), field, rule);
        for leaked in ["12345", "no-at-sign", "张三😀", "1990-02-30"] {
            assert!(!e.to_string().contains(leaked), "{e}");
        }
        let after = reread(&v, created.id);
        assert_eq!(after.version, created.version, "{field}/{rule} bumped the version");
        assert_eq!(snapshot(&after), before, "{field}/{rule} changed the record");
        assert_eq!(v.session.find_by_email("old@example.com").unwrap().len(), 1);
        assert!(v.session.find_by_email("new@example.com").unwrap().is_empty());
        assert_eq!(v.session.find_by_mobile("13800138000").unwrap().len(), 1);
    }
    // A stale version is refused too, and changes nothing.
    let updated = v.session.update(created.id, created.version, CustomerPatch::new().set(Field::Tier, "b")).unwrap();
    assert_eq!((updated.version, updated.text(&Field::Tier)), (created.version + 1, "B"));
    match v.session.update(created.id, created.version, CustomerPatch::new().set(Field::Tier, "c")) {
        Err(Error::VersionConflict { customer, expected, actual }) => {
            assert_eq!((customer, expected, actual), (created.id, created.version, created.version + 1));
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(reread(&v, created.id).text(&Field::Tier), "B");
    // A valid update normalises like create does.
    let normalised = v
        .session
        .update(
            created.id,
            updated.version,
            CustomerPatch::new()
                .set(Field::Mobile, "+86 139-0013-9000")
                .set(Field::Email, " New@Example.COM ")
                .set(Field::Name, " 李   四 ")
                .set(Field::Gender, "女"),
        )
        .unwrap();
    assert_eq!(normalised.text(&Field::Mobile), "13900139000");
    assert_eq!(normalised.text(&Field::Email), "new@example.com");
    assert_eq!(normalised.text(&Field::Name), "李 四");
    assert_eq!(normalised.text(&Field::Gender), "female");
    assert!(v.session.find_by_mobile("13800138000").unwrap().is_empty());
    assert_eq!(v.session.find_by_email("NEW@example.com").unwrap()[0].id, created.id);
}

#[test]
fn setting_a_field_to_blank_clears_it() {
    let v = vault();
    let created = v.session.create(base_input().set(Field::Email, "a@b.co").set(Field::Gender, "")).unwrap();
    assert_eq!(created.get(&Field::Gender), None);
    for field in [Field::Email, Field::Mobile, Field::IdNumber, Field::Gender, Field::Tags, Field::BirthDate] {
        assert_eq!(normalise(&field, " \u{3000} ", &Catalogue::default(), TODAY).unwrap(), None, "{field}");
    }
    let cleared = v.session.update(created.id, created.version, CustomerPatch::new().set(Field::Email, "  ")).unwrap();
    assert_eq!(cleared.get(&Field::Email), None);
    assert!(v.session.find_by_email("a@b.co").unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------

#[test]
fn errors_name_field_and_rule_but_not_the_value() {
    let v = vault();
    let secret_id = with_wrong_check("11010519491231002X");
    let cases: Vec<(Field, String)> = vec![
        (Field::Mobile, "13800138000 ext 9".into()),
        (Field::Email, "secret.person@@example.com".into()),
        (Field::IdNumber, secret_id),
        (Field::Name, "秘密的名字😀".into()),
        (Field::BirthDate, "1990-02-31".into()),
        (Field::Notes, format!("机密{}", "密".repeat(4000))),
        (Field::Tags, format!("secret-tag-{}", "s".repeat(40))),
    ];
    for (field, input) in cases {
        let e = v.create_with(&field, &input).unwrap_err();
        let text = e.to_string();
        let name = field.name();
        assert!(text.contains(&format!("'{name}'")), "{text}");
        let rule = invalid_parts(&e).expect("invalid").1;
        assert!(text.contains(&format!("(rule {rule})")), "{text}");
        assert!(!text.contains(&input), "{text}");
        assert!(!format!("{e:?}").contains(&input), "Debug must not echo either: {e:?}");
        assert_eq!(e.code(), 10);
    }
}
