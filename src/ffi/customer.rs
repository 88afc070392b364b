//! Customers through C: typed field codes, an input builder for creates and
//! updates, customer views with typed accessors (no JSON library needed),
//! and lists.

use std::ffi::c_char;

use zeroize::Zeroize;

use super::boundary::{
    Outcome, c_string, free_handle, into_handle, object, object_mut, optional_text, out_ptr, text, write,
};
use super::session::{cust_session, with_session};
use super::status::{Failure, copy_out, cust_status};
use crate::model::{CustomerId, CustomerInput, CustomerPatch, CustomerView, Field};
use crate::{ListQuery, SearchQuery};

/// A customer field, by code. The first eight are the prototype's
/// `khzl` arrays (编号 姓名 单位 类别 职务 手机 邮箱 备注). Codes are stable:
/// new fields are appended, existing codes never change.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_field {
    /// 编号: external customer code.
    ExternalCode = 0,
    /// 姓名: name.
    Name = 1,
    /// 单位: organisation.
    Organisation = 2,
    /// 类别: category.
    Category = 3,
    /// 职务: job title.
    Title = 4,
    /// 手机: mobile number.
    Mobile = 5,
    /// 邮箱: e-mail.
    Email = 6,
    /// 备注: notes.
    Notes = 7,
    /// Address.
    Address = 8,
    /// Gender.
    Gender = 9,
    /// Birth date (`YYYY-MM-DD`), L1.
    BirthDate = 10,
    /// National ID number, L1.
    IdNumber = 11,
    /// Source channel.
    Source = 12,
    /// Value tier (A/B/C).
    Tier = 13,
    /// Tags, comma-separated.
    Tags = 14,
    /// `individual` or `organisation` (read-only after creation).
    Kind = 15,
    /// Record status: `active` or `unverified` (read-only).
    Status = 16,
    /// Creation time, Unix ms (read-only).
    CreatedAt = 17,
    /// Last change, Unix ms (read-only).
    UpdatedAt = 18,
    /// Version (read-only).
    Version = 19,
    /// 统一社会信用代码: an organisation's unified social credit code (GB
    /// 32100-2015, 18 characters; spaces dropped, letters upper-cased; the
    /// check character verified). Blind-indexed: `cust_customer_find` looks it up.
    CreditCode = 20,
    /// 注册地址: an organisation's registered address (beside `CUST_FIELD_ADDRESS`).
    RegisteredAddress = 21,
    /// 座机: a landline with area code and optional extension, normalised to
    /// `010-12345678-801` (`400-810-8888` for a service number).
    Landline = 22,
    /// 联系人: an organisation's contact persons, a JSON array of 1 to 10
    /// `{"name", "title", "mobile", "email", "landline"}` objects, each part
    /// validated like the customer's own field (a refusal names e.g.
    /// `contacts[1].mobile`, counting from 1); read back as compact JSON.
    Contacts = 23,
}

/// Every C field code and the field it stands for.
const FIELDS: [(cust_field, Field); 24] = [
    (cust_field::ExternalCode, Field::ExternalCode),
    (cust_field::Name, Field::Name),
    (cust_field::Organisation, Field::Organisation),
    (cust_field::Category, Field::Category),
    (cust_field::Title, Field::Title),
    (cust_field::Mobile, Field::Mobile),
    (cust_field::Email, Field::Email),
    (cust_field::Notes, Field::Notes),
    (cust_field::Address, Field::Address),
    (cust_field::Gender, Field::Gender),
    (cust_field::BirthDate, Field::BirthDate),
    (cust_field::IdNumber, Field::IdNumber),
    (cust_field::Source, Field::Source),
    (cust_field::Tier, Field::Tier),
    (cust_field::Tags, Field::Tags),
    (cust_field::Kind, Field::Kind),
    (cust_field::Status, Field::Status),
    (cust_field::CreatedAt, Field::CreatedAt),
    (cust_field::UpdatedAt, Field::UpdatedAt),
    (cust_field::Version, Field::Version),
    (cust_field::CreditCode, Field::CreditCode),
    (cust_field::RegisteredAddress, Field::RegisteredAddress),
    (cust_field::Landline, Field::Landline),
    (cust_field::Contacts, Field::Contacts),
];

/// The field for a code passed from C (any number: unknown ones are refused).
fn field_of(code: u32) -> Outcome<Field> {
    FIELDS
        .iter()
        .find(|(c, _)| *c as u32 == code)
        .map(|(_, f)| f.clone())
        .ok_or_else(|| Failure::new(cust_status::InvalidArgument, format!("unknown field code {code}")))
}

/// The kind of a new customer.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_kind {
    /// A person.
    Individual = 0,
    /// An organisation (needs an organisation name).
    Organisation = 1,
}

/// How a field of a customer view is shown to the session.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum cust_shown {
    /// The customer has no value for the field.
    Absent = 0,
    /// The value itself.
    Plain = 1,
    /// A masked rendering (`138****5678`): the value exists, the session may not see it.
    Masked = 2,
    /// The session may not see the field at all.
    Withheld = 3,
}

/// Values for a create (all set fields) or an update (set and cleared fields).
pub struct cust_input {
    kind: cust_kind,
    values: Vec<(Field, Option<String>)>,
}

/// The patch an input describes: its set fields set, its cleared fields cleared.
pub(crate) fn patch_of(input: &cust_input) -> CustomerPatch {
    let mut changes = CustomerPatch::new();
    for (field, value) in &input.values {
        changes = match value {
            Some(v) => changes.set(field.clone(), v.clone()),
            None => changes.clear(field.clone()),
        };
    }
    changes
}

impl Drop for cust_input {
    fn drop(&mut self) {
        for (_, value) in &mut self.values {
            if let Some(v) = value {
                v.zeroize();
            }
        }
    }
}

/// One customer as a session saw it.
pub struct cust_customer {
    view: CustomerView,
}

/// A page of customers, with the listing's total.
pub struct cust_list {
    items: Vec<cust_customer>,
    total: u64,
}

/// Creates an empty input for a customer of `kind` (`CUST_KIND_INDIVIDUAL`
/// or `CUST_KIND_ORGANISATION`); free it with `cust_input_free`.
///
/// # Safety
/// `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_input_new(kind: u32, out: *mut *mut cust_input) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        let kind = match kind {
            0 => cust_kind::Individual,
            1 => cust_kind::Organisation,
            other => return Err(Failure::new(cust_status::InvalidArgument, format!("unknown kind code {other}"))),
        };
        // SAFETY: checked.
        unsafe { write(out, into_handle(cust_input { kind, values: Vec::new() })) };
        Ok(())
    })
}

/// Sets `field` to `value` in `input`; a NULL `value` clears the field (in
/// an update). Setting a field twice keeps the last value. Values are
/// validated when the input is used, not here.
///
/// # Safety
/// `input` must be a valid handle; `value` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_input_set(input: *mut cust_input, field: u32, value: *const c_char) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL, and a string or NULL.
        let input = unsafe { object_mut(input, "input") }?;
        let field = field_of(field)?;
        let value = unsafe { super::boundary::optional_text(value, "value") }?.map(str::to_owned);
        input.values.retain(|(f, _)| *f != field);
        input.values.push((field, value));
        Ok(())
    })
}

/// Frees an input (NULL is ignored), zeroing its values.
///
/// # Safety
/// `input` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_input_free(input: *mut cust_input) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(input) }
}

/// Hands a view to C through a checked `out`.
pub(crate) fn hand_out(out: *mut *mut cust_customer, view: CustomerView) {
    // SAFETY: every caller checked `out`.
    unsafe { write(out, into_handle(cust_customer { view })) };
}

/// Hands a page of views to C through a checked `out`.
pub(crate) fn hand_out_list(out: *mut *mut cust_list, items: Vec<CustomerView>, total: u64) {
    let items = items.into_iter().map(|view| cust_customer { view }).collect();
    // SAFETY: every caller checked `out`.
    unsafe { write(out, into_handle(cust_list { items, total })) };
}

/// The values of a `cust_input` as the Rust API takes them.
fn customer_input(input: &cust_input) -> CustomerInput {
    let mut customer = match input.kind {
        cust_kind::Individual => CustomerInput::individual(),
        cust_kind::Organisation => CustomerInput::organisation(),
    };
    for (field, value) in &input.values {
        if let Some(value) = value {
            customer.insert(field.clone(), value.clone());
        }
    }
    customer
}

/// Creates a customer from `input`; `*out` receives it as the session sees it.
///
/// # Safety
/// `session` and `input` must be valid handles; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_create(
    session: *const cust_session,
    input: *const cust_input,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let input = unsafe { object(input, "input") }?;
        let customer = customer_input(input);
        hand_out(out, s.create(customer)?);
        Ok(())
    })
}

/// `cust_customer_create` with a duplicate check (`check`: `"allow"`,
/// `"warn"` or `"refuse"`): customers with the same ID number, credit code,
/// mobile or e-mail are found through the blind indexes. `"refuse"` fails with
/// `CUST_STATUS_INVALID` (rule `possible_duplicate`, naming the other
/// customer and the field) and creates nothing. `*duplicates` (may be NULL)
/// receives the pairs as JSON (`[{"first": 1, "second": 7, "score": 80,
/// "reasons": ["same_mobile"]}]`; free it with `cust_string_free`).
///
/// # Safety
/// `session` and `input` must be valid handles; `check` NUL-terminated;
/// `out` writable; `duplicates` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_create_checked(
    session: *const cust_session,
    input: *const cust_input,
    check: *const c_char,
    duplicates: *mut *mut c_char,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let input = unsafe { object(input, "input") }?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let check = crate::DuplicateCheck::parse(unsafe { super::boundary::text(check, "check") }?)?;
        let customer = customer_input(input);
        let (view, pairs) = s.create_checked(customer, check)?;
        let json = serde_json::to_string(&pairs).map_err(|e| crate::Error::storage_caused("encoding the pairs", e))?;
        if !duplicates.is_null() {
            let text = super::boundary::c_string(json)?;
            // SAFETY: checked non-NULL; writable as the caller promises.
            unsafe { write(duplicates, text) };
        }
        hand_out(out, view);
        Ok(())
    })
}

/// Finds possible duplicate customers across the store, at most `limit`
/// pairs (1 to 100,000), as JSON: `{"pairs": [{"first": 1, "second": 2,
/// "score": 85, "reasons": ["same_mobile", "same_name_and_organisation"]}],
/// "truncated": false}`, highest score first. Only signals the session may
/// read are used, and only customers it may see appear; never a value.
/// Free `*out` with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_duplicates_json(
    session: *const cust_session,
    limit: u32,
    out: *mut *mut c_char,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let report = s.duplicates(limit)?;
        let json =
            serde_json::to_string(&report).map_err(|e| crate::Error::storage_caused("encoding the report", e))?;
        let text = super::boundary::c_string(json)?;
        // SAFETY: checked.
        unsafe { write(out, text) };
        Ok(())
    })
}

/// The data-quality report as JSON: `{"by_category": {"零售": {"customers":
/// 10, "unverified": 2, "possible_duplicates": 3, "missing_contact": 1}},
/// "total": {...}}`, over the customers this session may see; counts only,
/// never a value. Free `*out` with `cust_string_free`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_data_quality_json(session: *const cust_session, out: *mut *mut c_char) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let report = s.data_quality()?;
        let json =
            serde_json::to_string(&report).map_err(|e| crate::Error::storage_caused("encoding the report", e))?;
        let text = super::boundary::c_string(json)?;
        // SAFETY: checked.
        unsafe { write(out, text) };
        Ok(())
    })
}

/// Creates a customer from JSON: `{"kind": "individual"|"organisation",
/// "fields": {"name": "王五", "mobile": "13812345678", "custom.loyalty_no": "..."}}`
/// (field names as in the Rust API; `kind` defaults to individual).
///
/// # Safety
/// `session` must be a valid handle; `json` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_create_json(
    session: *const cust_session,
    json: *const c_char,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let json = unsafe { text(json, "json") }?;
        let invalid = |why: String| Failure::new(cust_status::Invalid, format!("invalid customer JSON: {why}"));
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        let mut input = match value.get("kind").and_then(|k| k.as_str()).unwrap_or("individual") {
            "individual" => CustomerInput::individual(),
            "organisation" => CustomerInput::organisation(),
            other => return Err(invalid(format!("unknown kind '{other}'"))),
        };
        let fields =
            value.get("fields").and_then(|f| f.as_object()).ok_or_else(|| invalid("no \"fields\" object".into()))?;
        for (name, v) in fields {
            let text = v.as_str().ok_or_else(|| invalid(format!("field '{name}' is not a string")))?;
            input.insert(Field::parse(name)?, text.to_owned());
        }
        hand_out(out, s.create(input)?);
        Ok(())
    })
}

/// Reads customer `id`.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_get(
    session: *const cust_session,
    id: i64,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        hand_out(out, s.get(CustomerId(id))?);
        Ok(())
    })
}

/// Reads the customer with external code (编号) `code`.
///
/// # Safety
/// `session` must be a valid handle; `code` a NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_get_by_code(
    session: *const cust_session,
    code: *const c_char,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let code = unsafe { text(code, "code") }?;
        hand_out(out, s.get_by_external_code(code)?);
        Ok(())
    })
}

/// Applies the fields set (or cleared) in `patch` to customer `id` if its
/// version is still `expected_version`; otherwise
/// `CUST_STATUS_VERSION_CONFLICT` and nothing changes. `*out` receives the
/// new state.
///
/// # Safety
/// `session` and `patch` must be valid handles; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_update(
    session: *const cust_session,
    id: i64,
    expected_version: u64,
    patch: *const cust_input,
    out: *mut *mut cust_customer,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let input = unsafe { object(patch, "patch") }?;
        hand_out(out, s.update(CustomerId(id), expected_version, patch_of(input))?);
        Ok(())
    })
}

/// Deletes customer `id` with its data key.
///
/// # Safety
/// `session` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_delete(session: *const cust_session, id: i64) -> cust_status {
    with_session(session, |s| Ok(s.delete(CustomerId(id))?))
}

/// Exact lookup by `field` (`CUST_FIELD_MOBILE`, `_EMAIL`, `_ID_NUMBER` or
/// `_CREDIT_CODE`), in any accepted format (a credit code in any case, with
/// spaces). Another field is `CUST_STATUS_INVALID_ARGUMENT` (rule `not_indexed`).
///
/// # Safety
/// `session` must be a valid handle; `value` a NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_find(
    session: *const cust_session,
    field: u32,
    value: *const c_char,
    out: *mut *mut cust_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let field = field_of(field)?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let value = unsafe { text(value, "value") }?;
        let found = s.find(field, value)?;
        let total = found.len() as u64;
        hand_out_list(out, found, total);
        Ok(())
    })
}

/// Lists customers sorted by `sort` (text in pinyin order, empty values
/// last, ties by id), ascending or `descending`, skipping `offset` and
/// returning at most `limit` (1..=1000).
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_list(
    session: *const cust_session,
    sort: u32,
    descending: bool,
    offset: u64,
    limit: u32,
    out: *mut *mut cust_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let query = ListQuery::new().sort(field_of(sort)?).descending(descending).offset(offset).limit(limit);
        let page = s.list(&query)?;
        hand_out_list(out, page.items, page.total);
        Ok(())
    })
}

/// `cust_customer_list` of only the customers whose classification
/// attributes match: `kind` (`individual` / `organisation`), `category`,
/// `tier` and `source`, each NULL for any.
///
/// # Safety
/// `session` must be a valid handle; the filters NULL or NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cust_customer_list_filtered(
    session: *const cust_session,
    sort: u32,
    descending: bool,
    offset: u64,
    limit: u32,
    kind: *const c_char,
    category: *const c_char,
    tier: *const c_char,
    source: *const c_char,
    out: *mut *mut cust_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let mut filter = crate::Filter::new();
        // SAFETY: the caller promises NULL or NUL-terminated strings.
        let texts = unsafe {
            [
                optional_text(kind, "kind")?,
                optional_text(category, "category")?,
                optional_text(tier, "tier")?,
                optional_text(source, "source")?,
            ]
        };
        if let Some(v) = texts[0] {
            filter = filter.kind(v);
        }
        if let Some(v) = texts[1] {
            filter = filter.category(v);
        }
        if let Some(v) = texts[2] {
            filter = filter.tier(v);
        }
        if let Some(v) = texts[3] {
            filter = filter.source(v);
        }
        let query =
            ListQuery::new().sort(field_of(sort)?).descending(descending).offset(offset).limit(limit).filter(filter);
        let page = s.list(&query)?;
        hand_out_list(out, page.items, page.total);
        Ok(())
    })
}

/// Keyword search, paged like `cust_customer_list`: the keyword and the text
/// are compared after NFKC and lower-casing, over the store's search fields
/// (`cust_store_search_settings`; by default name, organisation, title,
/// address, notes, tags) that the session may read in plaintext, never L1.
/// Answered through the encrypted keyword index, with the same customers a
/// full scan would find.
///
/// # Safety
/// `session` must be a valid handle; `keyword` a NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_search(
    session: *const cust_session,
    keyword: *const c_char,
    offset: u64,
    limit: u32,
    out: *mut *mut cust_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let keyword = unsafe { text(keyword, "keyword") }?;
        let page = s.search(&SearchQuery::new(keyword.to_owned()).offset(offset).limit(limit))?;
        hand_out_list(out, page.items, page.total);
        Ok(())
    })
}

/// The customer's id (0 for NULL).
///
/// # Safety
/// `customer` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_id(customer: *const cust_customer) -> i64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { customer.as_ref() }.map_or(0, |c| c.view.id.0)
}

/// The customer's version, for `cust_customer_update` (0 for NULL).
///
/// # Safety
/// `customer` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_version(customer: *const cust_customer) -> u64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { customer.as_ref() }.map_or(0, |c| c.view.version)
}

/// Copies `field`'s text as the session sees it into `buf` with `snprintf`
/// semantics (see `cust_last_error`): the value, its masked rendering, or
/// `""` when the customer has no value or the session may not see the
/// field. `*shown` (if not NULL) receives which of these it is (a
/// `cust_shown`), even when the buffer is too small.
///
/// # Safety
/// `customer` must be a valid handle; `buf` NULL or `len` writable bytes;
/// `needed` and `shown` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_field(
    customer: *const cust_customer,
    field: u32,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    shown: *mut u32,
) -> cust_status {
    let mut status = cust_status::Ok;
    let guarded = super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL.
        let customer = unsafe { object(customer, "customer") }?;
        let field = field_of(field)?;
        let (state, value) = match customer.view.get(&field) {
            Some(s) if s.is_masked() => (cust_shown::Masked, s.text()),
            Some(s) => (cust_shown::Plain, s.text()),
            None if customer.view.withheld().iter().any(|w| w.field == field) => (cust_shown::Withheld, ""),
            None => (cust_shown::Absent, ""),
        };
        if !shown.is_null() {
            // SAFETY: non-NULL and writable, as the caller promises.
            unsafe { write(shown, state as u32) };
        }
        // SAFETY: forwarded caller guarantees.
        status = unsafe { copy_out(value, buf, len, needed) };
        if status != cust_status::Ok {
            return Err(Failure::new(status, format!("the buffer holds {len} bytes; field '{field}' needs more")));
        }
        Ok(())
    });
    if guarded == cust_status::Ok { status } else { guarded }
}

/// The customer as JSON (`{"id":..,"version":..,"fields":{..},"masked":[..],"withheld":[..]}`)
/// in `*out`; free it with `cust_string_free`.
///
/// # Safety
/// `customer` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_to_json(customer: *const cust_customer, out: *mut *mut c_char) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let customer = unsafe { object(customer, "customer") }?;
        let json = c_string(view_json(&customer.view).to_string())?;
        // SAFETY: checked.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The JSON form of a view.
pub(crate) fn view_json(view: &CustomerView) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> =
        view.iter().map(|(f, s)| (f.name().into_owned(), serde_json::Value::String(s.text().to_owned()))).collect();
    let masked: Vec<String> = view.iter().filter(|(_, s)| s.is_masked()).map(|(f, _)| f.name().into_owned()).collect();
    let withheld: Vec<String> = view.withheld().iter().map(|w| w.field.name().into_owned()).collect();
    serde_json::json!({ "id": view.id.0, "version": view.version, "fields": fields, "masked": masked, "withheld": withheld })
}

/// Frees a customer (NULL is ignored).
///
/// # Safety
/// `customer` must be NULL or a handle not freed before (and not one
/// borrowed from a list).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_free(customer: *mut cust_customer) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(customer) }
}

/// Customers on this page (0 for NULL).
///
/// # Safety
/// `list` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_list_len(list: *const cust_list) -> usize {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// Customers the whole listing holds (0 for NULL).
///
/// # Safety
/// `list` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_list_total(list: *const cust_list) -> u64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { list.as_ref() }.map_or(0, |l| l.total)
}

/// Borrows the customer at `index` of the page. The pointer stays valid
/// until the list is freed; do not free it on its own.
///
/// # Safety
/// `list` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_list_get(
    list: *const cust_list,
    index: usize,
    out: *mut *const cust_customer,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let list = unsafe { object(list, "list") }?;
        let item = list.items.get(index).ok_or_else(|| {
            Failure::new(
                cust_status::InvalidArgument,
                format!("index {index} is past the page of {}", list.items.len()),
            )
        })?;
        // SAFETY: checked.
        unsafe { write(out, item as *const cust_customer) };
        Ok(())
    })
}

/// Frees a list and every customer on it (NULL is ignored).
///
/// # Safety
/// `list` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_list_free(list: *mut cust_list) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(list) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BUILTIN_FIELDS;

    #[test]
    fn every_customer_field_has_one_code_and_the_codes_are_dense() {
        for field in BUILTIN_FIELDS {
            let codes: Vec<u32> = FIELDS.iter().filter(|(_, f)| *f == field).map(|(c, _)| *c as u32).collect();
            assert_eq!(codes.len(), 1, "'{field}' has C field codes {codes:?}");
        }
        // Appended, never renumbered: codes 0..FIELDS.len() in order.
        for (i, (code, _)) in FIELDS.iter().enumerate() {
            assert_eq!(*code as u32, i as u32);
        }
        assert_eq!(FIELDS.len(), BUILTIN_FIELDS.len());
        assert_eq!(field_of(cust_field::CreditCode as u32).ok(), Some(Field::CreditCode));
        assert_eq!(field_of(cust_field::Contacts as u32).ok(), Some(Field::Contacts));
        assert!(field_of(24).is_err());
    }
}
