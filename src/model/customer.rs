//! Customer identifiers, input records, patches and the views a session returns.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroize;

use super::field::{Field, Level};

/// A customer's id: assigned by the store, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub i64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0.to_string())
    }
}

/// The values of a new customer, by field. Values are validated and
/// normalised by [`crate::Session::create`]; nothing is checked here.
///
/// Its `Debug` output names the fields but never prints their values, and the
/// values are zeroed when it is dropped.
#[derive(Default)]
pub struct CustomerInput {
    pub(crate) values: BTreeMap<Field, String>,
}

impl CustomerInput {
    /// An empty individual customer.
    pub fn individual() -> Self {
        Self::default()
    }

    /// An empty organisation customer.
    pub fn organisation() -> Self {
        Self::default().set(Field::Kind, "organisation")
    }

    /// Sets `field` to `value`.
    pub fn set(mut self, field: Field, value: impl Into<String>) -> Self {
        self.insert(field, value);
        self
    }

    /// Sets `field` to `value` in place.
    pub fn insert(&mut self, field: Field, value: impl Into<String>) {
        if let Some(mut old) = self.values.insert(field, value.into()) {
            old.zeroize();
        }
    }

    /// The fields that have been set.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.values.keys()
    }
}

impl fmt::Debug for CustomerInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerInput")
            .field("fields", &self.values.keys().map(Field::name).collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for CustomerInput {
    fn drop(&mut self) {
        self.values.values_mut().for_each(Zeroize::zeroize);
    }
}

/// A change to an existing customer: fields to set and fields to clear.
/// Applied with [`crate::Session::update`] against an expected version.
#[derive(Default)]
pub struct CustomerPatch {
    pub(crate) changes: BTreeMap<Field, Option<String>>,
}

impl CustomerPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value` (an empty value clears the field).
    pub fn set(mut self, field: Field, value: impl Into<String>) -> Self {
        self.changes.insert(field, Some(value.into()));
        self
    }

    /// Clears `field`.
    pub fn clear(mut self, field: Field) -> Self {
        self.changes.insert(field, None);
        self
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Debug for CustomerPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerPatch")
            .field("fields", &self.changes.keys().map(Field::name).collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for CustomerPatch {
    fn drop(&mut self) {
        self.changes.values_mut().flatten().for_each(Zeroize::zeroize);
    }
}

/// How a value is shown to a session.
#[derive(Clone, PartialEq, Eq)]
pub enum Shown {
    /// The value itself.
    Plain(String),
    /// A masked rendering (e.g. `138****5678`): the value exists, but the
    /// session may not see it.
    Masked(String),
}

impl Shown {
    /// The text to display, plain or masked.
    pub fn text(&self) -> &str {
        match self {
            Shown::Plain(s) | Shown::Masked(s) => s,
        }
    }

    /// Whether this is a masked rendering.
    pub fn is_masked(&self) -> bool {
        matches!(self, Shown::Masked(_))
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Plain(_) => f.write_str("Plain(<redacted>)"),
            Shown::Masked(m) => write!(f, "Masked({m:?})"),
        }
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        match self {
            Shown::Plain(s) | Shown::Masked(s) => s.zeroize(),
        }
    }
}

/// A field the session may not see at all, with the rule that withheld it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    /// The field.
    pub field: Field,
    /// The deciding rule id.
    pub rule: &'static str,
}

/// A customer as one session may see it: the fields it may read (plain or
/// masked), and the names of the fields withheld from it.
///
/// `Debug` output never shows plain values; they are zeroed on drop.
#[derive(Clone)]
pub struct CustomerView {
    /// The customer's id.
    pub id: CustomerId,
    /// The record's version; pass it to [`crate::Session::update`].
    pub version: u64,
    pub(crate) values: BTreeMap<Field, Shown>,
    pub(crate) levels: BTreeMap<Field, Level>,
    pub(crate) withheld: Vec<Withheld>,
}

impl CustomerView {
    /// The value of `field` as this session may see it; `None` if the field
    /// is empty or withheld.
    pub fn get(&self, field: &Field) -> Option<&Shown> {
        self.values.get(field)
    }

    /// The display text of `field` (plain or masked), or `""`.
    pub fn text(&self, field: &Field) -> &str {
        self.values.get(field).map_or("", Shown::text)
    }

    /// Every visible field with its value, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = (&Field, &Shown)> {
        self.values.iter()
    }

    /// Sensitivity level of a visible field.
    pub fn level(&self, field: &Field) -> Option<Level> {
        self.levels.get(field).copied()
    }

    /// Fields withheld from this session, with the deciding rule.
    pub fn withheld(&self) -> &[Withheld] {
        &self.withheld
    }
}

impl fmt::Debug for CustomerView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerView")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("values", &self.values)
            .field("withheld", &self.withheld)
            .finish()
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    /// The customers on this page, in order.
    pub items: Vec<CustomerView>,
    /// How many customers the listing holds in all.
    pub total: u64,
}
