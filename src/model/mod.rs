//! The customer model: fields and their sensitivity, validation and
//! normalisation, and the records that go in and out of a session.

mod customer;
pub(crate) mod date;
mod division;
mod field;
mod organisation;
mod phone;
pub(crate) mod region;
pub(crate) mod validate;

pub use customer::{CustomerId, CustomerInput, CustomerPatch, CustomerView, Page, Shown, Withheld};
pub use date::format_utc_millis;
pub use field::{
    BUILTIN_FIELDS, CUSTOM_PREFIX, Catalogue, CustomAttribute, Field, Level, RECORD_FIELDS, RecordKind, Storage,
};
pub use organisation::{Contact, MAX_CONTACTS, credit_code_check_character};
pub use validate::{MAX_TAG_CHARS, MAX_TAGS, id_check_character, max_chars, normalise};

/// Stored contacts, parsed (for masking).
pub(crate) fn organisation_contacts(value: &str) -> Option<Vec<Contact>> {
    organisation::parse_contacts(value)
}

/// Whether `s` has the syntax of a custom key or purpose name.
pub(crate) fn is_custom_key_syntax(s: &str) -> bool {
    field::is_custom_key(s)
}
