//! Attached records through C: transactions and after-sales service
//! records. Inputs are builder handles (`cust_transaction_input`,
//! `cust_service_input`); records come back as `cust_record` handles with
//! typed accessors, pages of them as `cust_record_list`.
//!
//! Enumerated values (statuses, payment methods, service kinds, channels,
//! priorities) and record fields are passed by their stable names, the
//! same names the Rust API, the JSON forms and the audit log use
//! (`"bank_card"`, `"in_progress"`, `"transaction.total"`). An unknown name
//! is `CUST_STATUS_INVALID` (an unknown field name `CUST_STATUS_UNKNOWN_FIELD`),
//! with the accepted names in the message. Record ids are `uint64_t`;
//! customer ids `int64_t`, as everywhere in the C API.

use std::ffi::c_char;

use zeroize::Zeroize;

use super::boundary::{
    Outcome, c_string, free_handle, into_handle, object, object_mut, optional_text, out_ptr, text, write,
};
use super::customer::cust_shown;
use super::directory::json_out;
use super::session::{cust_session, with_session};
use super::status::{Failure, copy_out, cust_status};
use crate::model::{CustomerId, Field, RecordKind};
use crate::records::service::{Priority, ServiceChannel, ServiceInput, ServiceKind, ServiceStatus};
use crate::records::transaction::{
    AdjustmentInput, ItemInput, PaymentInput, PaymentMethod, TransactionInput, TransactionStatus,
};
use crate::records::{DueQuery, RecordId, RecordPatch, RecordView, TimelineQuery};

/// A transaction being entered: reference, currency, total and payment
/// method, then items, adjustments, status, time and payment details.
/// Free it with `cust_transaction_input_free`, which zeroes its values.
pub struct cust_transaction_input {
    input: TransactionInput,
}

impl Drop for cust_transaction_input {
    fn drop(&mut self) {
        // The payment details are `Zeroizing`; the descriptive texts are wiped here.
        self.input.reference.zeroize();
        for item in &mut self.input.items {
            item.item.zeroize();
        }
        for adjustment in &mut self.input.adjustments {
            adjustment.label.zeroize();
        }
    }
}

/// A service record being entered: kind, channel, subject and
/// description, then priority, owner and times. Free it with
/// `cust_service_input_free`, which zeroes its texts.
pub struct cust_service_input {
    input: ServiceInput,
}

impl Drop for cust_service_input {
    fn drop(&mut self) {
        self.input.subject.zeroize();
        self.input.description.zeroize();
    }
}

/// One transaction or service record as a session saw it.
pub struct cust_record {
    view: RecordView,
}

/// A page of records (a timeline page or a deadline query), with the id to
/// continue from.
pub struct cust_record_list {
    items: Vec<cust_record>,
    next: u64,
}

fn hand_out(out: *mut *mut cust_record, view: RecordView) {
    // SAFETY: every caller checked `out`.
    unsafe { write(out, into_handle(cust_record { view })) };
}

fn hand_out_list(out: *mut *mut cust_record_list, views: Vec<RecordView>, next: Option<RecordId>) {
    let items = views.into_iter().map(|view| cust_record { view }).collect();
    // SAFETY: every caller checked `out`.
    unsafe { write(out, into_handle(cust_record_list { items, next: next.map_or(0, |n| n.0) })) };
}

/// A field name that must be one of a record's.
fn record_field(name: &str) -> Outcome<Field> {
    let field = Field::parse(name)?;
    if field.record_kind() == RecordKind::Customer {
        return Err(Failure::new(
            cust_status::UnknownField,
            format!("'{name}' is a customer field, not a field of a transaction or service record"),
        ));
    }
    Ok(field)
}

/// Runs a builder body on a transaction input handle.
fn with_transaction_input(
    input: *mut cust_transaction_input,
    body: impl FnOnce(&mut TransactionInput) -> Outcome,
) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a valid, unshared handle or NULL.
        let input = unsafe { object_mut(input, "input") }?;
        body(&mut input.input)
    })
}

/// Runs a builder body on a service input handle.
fn with_service_input(input: *mut cust_service_input, body: impl FnOnce(&mut ServiceInput) -> Outcome) -> cust_status {
    super::plain(|| {
        // SAFETY: the caller promises a valid, unshared handle or NULL.
        let input = unsafe { object_mut(input, "input") }?;
        body(&mut input.input)
    })
}

/// Creates a transaction input: order `reference`, ISO 4217 `currency`
/// (`"CNY"`), `total_minor` in the currency's minor unit (fen), and
/// payment `method` by name (`cash`, `bank_card`, `bank_transfer`,
/// `wechat_pay`, `alipay`, `other`). Its status is `paid` and its time the
/// moment it is added unless set. The amounts and texts are checked when
/// it is added (`cust_transaction_add`), the method name here. Free it with
/// `cust_transaction_input_free`.
///
/// # Safety
/// The strings must be NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_new(
    reference: *const c_char,
    currency: *const c_char,
    total_minor: i64,
    method: *const c_char,
    out: *mut *mut cust_transaction_input,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (reference, currency, method) =
            unsafe { (text(reference, "reference")?, text(currency, "currency")?, text(method, "method")?) };
        let method = PaymentMethod::parse(method)?;
        let input = TransactionInput::new(reference, currency, total_minor, method);
        // SAFETY: checked.
        unsafe { write(out, into_handle(cust_transaction_input { input })) };
        Ok(())
    })
}

/// Adds an item: `quantity` × `unit_price_minor` (minor units) of `item`.
///
/// # Safety
/// `input` must be a valid handle; `item` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_add_item(
    input: *mut cust_transaction_input,
    item: *const c_char,
    quantity: i64,
    unit_price_minor: i64,
) -> cust_status {
    with_transaction_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let item = unsafe { text(item, "item") }?.to_owned();
        input.items.push(ItemInput { item, quantity, unit_price_minor });
        Ok(())
    })
}

/// Adds a discount (negative `amount_minor`) or fee (positive) named `label`.
///
/// # Safety
/// `input` must be a valid handle; `label` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_add_adjustment(
    input: *mut cust_transaction_input,
    label: *const c_char,
    amount_minor: i64,
) -> cust_status {
    with_transaction_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let label = unsafe { text(label, "label") }?.to_owned();
        input.adjustments.push(AdjustmentInput { label, amount_minor });
        Ok(())
    })
}

/// Sets the status by name (`pending`, `paid`, `partially_refunded`,
/// `refunded`, `cancelled`).
///
/// # Safety
/// `input` must be a valid handle; `status` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_set_status(
    input: *mut cust_transaction_input,
    status: *const c_char,
) -> cust_status {
    with_transaction_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        input.status = TransactionStatus::parse(unsafe { text(status, "status") }?)?;
        Ok(())
    })
}

/// Sets when the transaction took place (Unix ms; not in the future).
///
/// # Safety
/// `input` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_set_time(
    input: *mut cust_transaction_input,
    at_ms: i64,
) -> cust_status {
    with_transaction_input(input, |input| {
        input.time = Some(at_ms);
        Ok(())
    })
}

/// Pays by card `number` (digits, optionally grouped by spaces or dashes;
/// checked for length and Luhn when added, never shown in an error). Only
/// with method `bank_card`. Replaces earlier payment details.
///
/// # Safety
/// `input` must be a valid handle; `number` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_set_card(
    input: *mut cust_transaction_input,
    number: *const c_char,
) -> cust_status {
    with_transaction_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let number = unsafe { text(number, "number") }?;
        input.payment = Some(PaymentInput::Card(zeroize::Zeroizing::new(number.to_owned())));
        Ok(())
    })
}

/// Pays from bank `account` (only with method `bank_transfer`). Replaces
/// earlier payment details.
///
/// # Safety
/// `input` must be a valid handle; `account` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_set_bank_account(
    input: *mut cust_transaction_input,
    account: *const c_char,
) -> cust_status {
    with_transaction_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let account = unsafe { text(account, "account") }?;
        input.payment = Some(PaymentInput::BankAccount(zeroize::Zeroizing::new(account.to_owned())));
        Ok(())
    })
}

/// Frees a transaction input (NULL is ignored), zeroing its values and
/// payment details.
///
/// # Safety
/// `input` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_input_free(input: *mut cust_transaction_input) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(input) }
}

/// Creates a service-record input: `kind` (`consultation`, `complaint`,
/// `feedback`, `repair`, `other`), `channel` (`phone`, `email`, `web`,
/// `wechat`, `in_person`, `letter`, `other`), a one-line `subject` and the
/// customer's `description` (NULL for none). Priority `normal`, unassigned,
/// opened when it is opened and due by the service-level policy unless
/// set. Free it with `cust_service_input_free`.
///
/// # Safety
/// The strings must be NUL-terminated (`description` may be NULL); `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_new(
    kind: *const c_char,
    channel: *const c_char,
    subject: *const c_char,
    description: *const c_char,
    out: *mut *mut cust_service_input,
) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (kind, channel, subject, description) = unsafe {
            (
                text(kind, "kind")?,
                text(channel, "channel")?,
                text(subject, "subject")?,
                optional_text(description, "description")?,
            )
        };
        let input = ServiceInput::new(
            ServiceKind::parse(kind)?,
            ServiceChannel::parse(channel)?,
            subject,
            description.unwrap_or(""),
        );
        // SAFETY: checked.
        unsafe { write(out, into_handle(cust_service_input { input })) };
        Ok(())
    })
}

/// Sets the priority by name (`low`, `normal`, `high`, `urgent`).
///
/// # Safety
/// `input` must be a valid handle; `priority` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_set_priority(
    input: *mut cust_service_input,
    priority: *const c_char,
) -> cust_status {
    with_service_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        input.priority = Priority::parse(unsafe { text(priority, "priority") }?)?;
        Ok(())
    })
}

/// Assigns the record to principal `owner` (registered and active, checked
/// when it is opened); NULL leaves it unassigned.
///
/// # Safety
/// `input` must be a valid handle; `owner` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_set_owner(
    input: *mut cust_service_input,
    owner: *const c_char,
) -> cust_status {
    with_service_input(input, |input| {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        input.owner = unsafe { optional_text(owner, "owner") }?.map(str::to_owned);
        Ok(())
    })
}

/// Sets when the record was opened (Unix ms; not in the future).
///
/// # Safety
/// `input` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_set_opened_at(input: *mut cust_service_input, at_ms: i64) -> cust_status {
    with_service_input(input, |input| {
        input.opened_at = Some(at_ms);
        Ok(())
    })
}

/// Sets when the record is due (Unix ms, after its opening), overriding
/// the service-level policy.
///
/// # Safety
/// `input` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_set_due_at(input: *mut cust_service_input, at_ms: i64) -> cust_status {
    with_service_input(input, |input| {
        input.due_at = Some(at_ms);
        Ok(())
    })
}

/// Frees a service-record input (NULL is ignored), zeroing its texts.
///
/// # Safety
/// `input` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_input_free(input: *mut cust_service_input) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(input) }
}

/// Records a transaction of customer `customer` from `input` (needs
/// `create`). The total must equal the items plus adjustments (rule
/// `total_mismatch`), a card number must pass its check digit; failures
/// are `CUST_STATUS_INVALID` naming field and rule, never the number.
/// `*out` receives the record as the session sees it.
///
/// # Safety
/// `session` and `input` must be valid handles; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_add(
    session: *const cust_session,
    customer: i64,
    input: *const cust_transaction_input,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let input = unsafe { object(input, "input") }?;
        hand_out(out, s.add_transaction(CustomerId(customer), &input.input)?);
        Ok(())
    })
}

/// Moves transaction `id` (at `expected_version`) to `status` by name:
/// `pending` → `paid` | `cancelled`, `paid` → `partially_refunded` |
/// `refunded`, `partially_refunded` → `refunded` (anything else:
/// `CUST_STATUS_INVALID`, rule `transition_invalid`).
///
/// # Safety
/// `session` must be a valid handle; `status` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_set_status(
    session: *const cust_session,
    id: u64,
    expected_version: u64,
    status: *const c_char,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let status = TransactionStatus::parse(unsafe { text(status, "status") }?)?;
        hand_out(out, s.set_transaction_status(RecordId(id), expected_version, status)?);
        Ok(())
    })
}

/// Opens a service record for customer `customer` from `input` (needs
/// `create`); its due time comes from the service-level policy unless the
/// input sets one.
///
/// # Safety
/// `session` and `input` must be valid handles; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_open(
    session: *const cust_session,
    customer: i64,
    input: *const cust_service_input,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let input = unsafe { object(input, "input") }?;
        hand_out(out, s.open_service_record(CustomerId(customer), &input.input)?);
        Ok(())
    })
}

/// Assigns service record `id` (at `expected_version`) to principal
/// `owner` (registered and active).
///
/// # Safety
/// `session` must be a valid handle; `owner` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_assign(
    session: *const cust_session,
    id: u64,
    expected_version: u64,
    owner: *const c_char,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let owner = unsafe { text(owner, "owner") }?;
        hand_out(out, s.assign_service_record(RecordId(id), expected_version, owner)?);
        Ok(())
    })
}

/// Moves service record `id` (at `expected_version`) to status `to` by
/// name (`open`, `in_progress`, `resolved`, `closed`, `reopened`), with a
/// `resolution` text or NULL (resolving or closing needs one, given now or
/// before). Refusals are `CUST_STATUS_INVALID` with rule
/// `transition_invalid`, `resolution_required` or `reopen_expired`.
///
/// # Safety
/// `session` must be a valid handle; `to` NUL-terminated, `resolution` NULL
/// or NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_transition(
    session: *const cust_session,
    id: u64,
    expected_version: u64,
    to: *const c_char,
    resolution: *const c_char,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (to, resolution) = unsafe { (text(to, "to")?, optional_text(resolution, "resolution")?) };
        let to = ServiceStatus::parse(to)?;
        hand_out(out, s.transition_service_record(RecordId(id), expected_version, to, resolution)?);
        Ok(())
    })
}

/// A record patch from a JSON object of field name → string (set) or null
/// (clear). The parsed strings are zeroed once the patch holds them.
fn patch_of_json(json: &str) -> Outcome<RecordPatch> {
    let invalid = |why: String| Failure::new(cust_status::Invalid, format!("invalid record patch JSON: {why}"));
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    let result = (|| {
        let object = value.as_object().ok_or_else(|| invalid("not a JSON object".to_owned()))?;
        let mut patch = RecordPatch::new();
        for (name, v) in object {
            let field = record_field(name)?;
            patch = match v {
                serde_json::Value::String(text) => patch.set(field, text.as_str()),
                serde_json::Value::Null => patch.clear(field),
                _ => return Err(invalid(format!("the value of '{name}' is neither a string nor null"))),
            };
        }
        Ok(patch)
    })();
    if let Some(object) = value.as_object_mut() {
        for v in object.values_mut() {
            if let serde_json::Value::String(text) = v {
                text.zeroize();
            }
        }
    }
    result
}

/// Changes descriptive values of record `id` (at `expected_version`) from
/// `patch_json`, an object of field name → string or null:
/// `{"service.priority": "high", "service.description": null}`. Patchable:
/// `transaction.reference`, `transaction.payment_details` (`card:<number>`,
/// `account:<number>` or a bare card number), `service.subject`,
/// `service.description`, `service.resolution`, `service.channel`,
/// `service.priority`, `service.due_at` (Unix ms as text).
///
/// # Safety
/// `session` must be a valid handle; `patch_json` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_update_json(
    session: *const cust_session,
    id: u64,
    expected_version: u64,
    patch_json: *const c_char,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let patch = patch_of_json(unsafe { text(patch_json, "patch_json") }?)?;
        hand_out(out, s.update_record(RecordId(id), expected_version, &patch)?);
        Ok(())
    })
}

/// Rectifies record `id` at the customer's request `request` (a request
/// reference): applied like `cust_record_update_json`, audited naming the
/// request and the fields changed, never their values.
///
/// # Safety
/// `session` must be a valid handle; the strings NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_rectify_json(
    session: *const cust_session,
    id: u64,
    expected_version: u64,
    patch_json: *const c_char,
    request: *const c_char,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let (json, request) = unsafe { (text(patch_json, "patch_json")?, text(request, "request")?) };
        let patch = patch_of_json(json)?;
        hand_out(out, s.rectify_record(RecordId(id), expected_version, &patch, request)?);
        Ok(())
    })
}

/// Deletes record `id` with its history (needs `delete`);
/// `CUST_STATUS_RECORD_NOT_FOUND` if there is none.
///
/// # Safety
/// `session` must be a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_delete(session: *const cust_session, id: u64) -> cust_status {
    with_session(session, |s| Ok(s.delete_record(RecordId(id))?))
}

/// Reads record `id`; `CUST_STATUS_RECORD_NOT_FOUND` if there is none.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_get(
    session: *const cust_session,
    id: u64,
    out: *mut *mut cust_record,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        hand_out(out, s.record(RecordId(id))?);
        Ok(())
    })
}

/// A page of customer `customer`'s timeline, newest first: at most `limit`
/// (1-1000) of its transactions and service records older than record
/// `before` (0 for the newest). `cust_record_list_next` gives the `before`
/// of the next page (0 on the last). Record kinds the session sees nothing
/// of are left out.
///
/// # Safety
/// `session` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_customer_timeline(
    session: *const cust_session,
    customer: i64,
    limit: u32,
    before: u64,
    out: *mut *mut cust_record_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        let mut query = TimelineQuery::new(limit);
        if before != 0 {
            query = query.before(RecordId(before));
        }
        let page = s.timeline(CustomerId(customer), &query)?;
        hand_out_list(out, page.records, page.next);
        Ok(())
    })
}

/// Pending service records by deadline, most urgent first: with
/// `within_hours` 0 the overdue ones, otherwise those due within the next
/// `within_hours` (1-8760) hours; only `owner`'s (NULL for everyone's); at
/// most `limit` (1-1000), after record `after` (0 from the start; pass the
/// id of the last record of the previous page). `cust_record_list_next` is
/// that id when the page is full, else 0.
///
/// # Safety
/// `session` must be a valid handle; `owner` NULL or NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_service_due(
    session: *const cust_session,
    within_hours: u32,
    owner: *const c_char,
    limit: u32,
    after: u64,
    out: *mut *mut cust_record_list,
) -> cust_status {
    with_session(session, |s| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let owner = unsafe { optional_text(owner, "owner") }?;
        let mut query =
            if within_hours == 0 { DueQuery::overdue(limit) } else { DueQuery::due_within(within_hours, limit) };
        if let Some(owner) = owner {
            query = query.owner(owner);
        }
        if after != 0 {
            query = query.after(RecordId(after));
        }
        let views = s.service_due(&query)?;
        let next = if views.len() == limit as usize { views.last().map(|v| v.id) } else { None };
        hand_out_list(out, views, next);
        Ok(())
    })
}

/// The record's id (0 for NULL).
///
/// # Safety
/// `record` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_id(record: *const cust_record) -> u64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { record.as_ref() }.map_or(0, |r| r.view.id.0)
}

/// The id of the customer the record belongs to (0 for NULL).
///
/// # Safety
/// `record` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_customer(record: *const cust_record) -> i64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { record.as_ref() }.map_or(0, |r| r.view.customer.0)
}

/// The record's kind as static text: `"transaction"` or `"service"`
/// (`""` for NULL). Never freed.
///
/// # Safety
/// `record` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_kind(record: *const cust_record) -> *const c_char {
    // SAFETY: the caller promises a valid handle or NULL.
    let text: &'static [u8] = match unsafe { record.as_ref() }.map(|r| r.view.kind) {
        Some(RecordKind::Transaction) => b"transaction\0",
        Some(RecordKind::Service) => b"service\0",
        Some(RecordKind::Customer) => b"customer\0",
        None => b"\0",
    };
    text.as_ptr().cast()
}

/// The record's version, for the calls that change it (0 for NULL).
///
/// # Safety
/// `record` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_version(record: *const cust_record) -> u64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { record.as_ref() }.map_or(0, |r| r.view.version)
}

/// Whether the record is a service record past due and unresolved at the
/// time it was read (false when the session may not see its deadline, for
/// a transaction, and for NULL).
///
/// # Safety
/// `record` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_overdue(record: *const cust_record) -> bool {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { record.as_ref() }.is_some_and(|r| r.view.overdue)
}

/// Copies field `field` (by name, e.g. `"transaction.total"`,
/// `"service.status"`) as the session sees it into `buf` with `snprintf`
/// semantics, like `cust_customer_field`: the value, its masked rendering
/// (a card as `**** **** **** 1111`), or `""` when the record has no value
/// or the session may not see the field. `*shown` (if not NULL) receives
/// which (a `cust_shown`), even when the buffer is too small. A name that
/// is no record field is `CUST_STATUS_UNKNOWN_FIELD`. Payment details in
/// plaintext are in their stored form, `card:<digits>` or `account:<number>`.
///
/// # Safety
/// `record` must be a valid handle; `field` NUL-terminated; `buf` NULL or
/// `len` writable bytes; `needed` and `shown` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_field(
    record: *const cust_record,
    field: *const c_char,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    shown: *mut u32,
) -> cust_status {
    let mut status = cust_status::Ok;
    let guarded = super::plain(|| {
        // SAFETY: the caller promises a valid handle or NULL and a string or NULL.
        let (record, name) = unsafe { (object(record, "record")?, text(field, "field")?) };
        let field = record_field(name)?;
        let view = &record.view;
        let (state, value) = match view.get(&field) {
            Some(s) if s.is_masked() => (cust_shown::Masked, s.text()),
            Some(s) => (cust_shown::Plain, s.text()),
            None if view.withheld().iter().any(|w| w.field == field) => (cust_shown::Withheld, ""),
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

/// The status history as JSON: `[{"at": ms, "by": "principal", "from":
/// "open"|null, "to": "in_progress"}, ...]`, oldest first.
fn history_json(view: &RecordView) -> serde_json::Value {
    view.history().iter().map(|c| serde_json::json!({ "at": c.at, "by": c.by, "from": c.from, "to": c.to })).collect()
}

/// The record as JSON: `{"id":..,"customer":..,"kind":"transaction"|"service",
/// "version":..,"overdue":..,"fields":{"transaction.total":"290.00 CNY",..},
/// "masked":[..],"withheld":[..],"history":[..]}` (history as
/// `cust_record_history_json`) in `*out`; free it with `cust_string_free`.
///
/// # Safety
/// `record` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_to_json(record: *const cust_record, out: *mut *mut c_char) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let view = &unsafe { object(record, "record") }?.view;
        let fields: serde_json::Map<String, serde_json::Value> =
            view.iter().map(|(f, s)| (f.name().into_owned(), serde_json::Value::String(s.text().to_owned()))).collect();
        let masked: Vec<String> =
            view.iter().filter(|(_, s)| s.is_masked()).map(|(f, _)| f.name().into_owned()).collect();
        let withheld: Vec<String> = view.withheld().iter().map(|w| w.field.name().into_owned()).collect();
        let mut json = serde_json::json!({
            "id": view.id.0,
            "customer": view.customer.0,
            "kind": view.kind.name(),
            "version": view.version,
            "overdue": view.overdue,
            "fields": fields,
            "masked": masked,
            "withheld": withheld,
            "history": history_json(view),
        })
        .to_string();
        let text = c_string(json.clone());
        json.zeroize();
        // SAFETY: checked.
        unsafe { write(out, text?) };
        Ok(())
    })
}

/// The record's status changes as JSON, oldest first: `[{"at": ms, "by":
/// "principal", "from": "open"|null, "to": "in_progress"}, ...]` (empty
/// when the session may not see its status) in `*out`; free it with
/// `cust_string_free`.
///
/// # Safety
/// `record` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_history_json(record: *const cust_record, out: *mut *mut c_char) -> cust_status {
    super::plain(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: the caller promises a valid handle or NULL.
        let record = unsafe { object(record, "record") }?;
        json_out(out, &history_json(&record.view))
    })
}

/// Frees a record (NULL is ignored).
///
/// # Safety
/// `record` must be NULL or a handle not freed before (and not one
/// borrowed from a list).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_free(record: *mut cust_record) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(record) }
}

/// Records on this page (0 for NULL).
///
/// # Safety
/// `list` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_list_len(list: *const cust_record_list) -> usize {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// The record id to continue from (`before` of `cust_customer_timeline`,
/// `after` of `cust_service_due`), or 0 when this is the last page (and
/// for NULL).
///
/// # Safety
/// `list` must be NULL or a valid handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_list_next(list: *const cust_record_list) -> u64 {
    // SAFETY: the caller promises a valid handle or NULL.
    unsafe { list.as_ref() }.map_or(0, |l| l.next)
}

/// Borrows the record at `index` of the page. The pointer stays valid
/// until the list is freed; do not free it on its own.
///
/// # Safety
/// `list` must be a valid handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_list_get(
    list: *const cust_record_list,
    index: usize,
    out: *mut *const cust_record,
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
        unsafe { write(out, item as *const cust_record) };
        Ok(())
    })
}

/// Frees a list and every record on it (NULL is ignored).
///
/// # Safety
/// `list` must be NULL or a handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_record_list_free(list: *mut cust_record_list) {
    // SAFETY: forwarded caller guarantee.
    unsafe { free_handle(list) }
}

/// Records `count` transactions of customer `customer` from `inputs` in one
/// call: all of them or none. A rejected input fails the batch with
/// `CUST_STATUS_IN_BATCH`, its position and rule in the last error. On
/// success `out_ids[0..count]` receive the new records' ids, in input order.
/// `count` is 1 to 1000 (`CUST_STATUS_INVALID_ARGUMENT` otherwise; with
/// `count == 0` the pointers may be NULL).
///
/// # Safety
/// `session` must be a valid handle; `inputs` must point to `count` valid
/// input handles; `out_ids` must be writable for `count` ids.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cust_transaction_add_many(
    session: *const cust_session,
    customer: i64,
    inputs: *const *const cust_transaction_input,
    count: usize,
    out_ids: *mut u64,
) -> cust_status {
    with_session(session, |s| {
        // `(NULL, 0)` is an empty batch, refused below by its size like any other.
        let (handles, out_ids) = if count == 0 {
            (&[][..], out_ids)
        } else {
            let out_ids = out_ptr(out_ids, "out_ids")?;
            // SAFETY: the caller promises `count` readable handle pointers.
            (unsafe { std::slice::from_raw_parts(out_ptr(inputs.cast_mut(), "inputs")?.cast_const(), count) }, out_ids)
        };
        let mut batch = Vec::with_capacity(count);
        for (i, handle) in handles.iter().enumerate() {
            // SAFETY: the caller promises each pointer is a valid handle or NULL.
            batch.push(&unsafe { object(*handle, &format!("inputs[{i}]")) }?.input);
        }
        let ids = s.add_transactions(CustomerId(customer), batch)?;
        for (i, id) in ids.iter().enumerate() {
            // SAFETY: the caller promises `count` writable ids; there are `count` of them.
            unsafe { out_ids.add(i).write(id.0) };
        }
        Ok(())
    })
}
