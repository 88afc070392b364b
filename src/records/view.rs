//! An attached record as one session may see it, and the queries over
//! attached records.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroize;

use super::money::{Currency, Money};
use crate::model::{CustomerId, Field, Level, RecordKind, Shown, Withheld};
use crate::storage::StatusChange;

/// The id of an attached record (a transaction or a service record); never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u64);

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A transaction or service record as one session may see it: the fields
/// it may read (plain or masked) and those withheld, with the rule.
///
/// `Debug` output never shows plain values; they are zeroed on drop.
#[derive(Clone)]
pub struct RecordView {
    /// The record's id.
    pub id: RecordId,
    /// The customer it belongs to.
    pub customer: CustomerId,
    /// Transaction or service record.
    pub kind: RecordKind,
    /// Its version; pass it to calls that change it.
    pub version: u64,
    /// For a service record the session may see the deadline of: whether it
    /// is past due and unresolved at the time of the read.
    pub overdue: bool,
    pub(crate) values: BTreeMap<Field, Shown>,
    pub(crate) levels: BTreeMap<Field, Level>,
    pub(crate) withheld: Vec<Withheld>,
    pub(crate) history: Vec<StatusChange>,
}

impl RecordView {
    /// The value of `field` as this session may see it; `None` if empty or withheld.
    pub fn get(&self, field: &Field) -> Option<&Shown> {
        self.values.get(field)
    }

    /// The display text of `field` (plain or masked), or `""`.
    pub fn text(&self, field: &Field) -> &str {
        self.values.get(field).map_or("", Shown::text)
    }

    /// Every visible field with its value.
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

    /// The record's status changes, oldest first: filled by calls that
    /// return one record (`record`, the calls that change one) and by the
    /// export; empty in lists (timeline, deadlines) and when the session may
    /// not see the record's status.
    pub fn history(&self) -> &[StatusChange] {
        &self.history
    }

    /// A transaction's total as exact money, if the session sees it in plaintext.
    pub fn total(&self) -> Option<Money> {
        let Some(Shown::Plain(text)) = self.values.get(&Field::OrderTotal) else { return None };
        let (amount, code) = text.rsplit_once(' ')?;
        let currency = Currency::from_code(code).ok()?;
        Money::parse(amount, currency, "transaction.total").ok()
    }
}

impl fmt::Debug for RecordView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordView")
            .field("id", &self.id)
            .field("customer", &self.customer)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("values", &self.values)
            .field("withheld", &self.withheld)
            .finish()
    }
}

/// Changes to the descriptive values of a record: set (`Some`) or clear
/// (`None`). Patchable: `transaction.reference`, `transaction.payment_details`
/// (`card:<number>`, `account:<number>` or a bare card number), and
/// `service.subject`, `service.description`, `service.resolution`,
/// `service.channel`, `service.priority`, `service.due_at`. Values are zeroed on drop.
#[derive(Default, Clone)]
pub struct RecordPatch {
    pub(crate) changes: BTreeMap<Field, Option<String>>,
}

impl RecordPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value`.
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

    /// The fields it changes.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.changes.keys()
    }
}

impl fmt::Debug for RecordPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordPatch").field("fields", &self.changes.keys().collect::<Vec<_>>()).finish()
    }
}

impl Drop for RecordPatch {
    fn drop(&mut self) {
        self.changes.values_mut().flatten().for_each(Zeroize::zeroize);
    }
}

/// A page of a customer's timeline: `TimelineQuery::new(20)`, then
/// `.before(page.next.unwrap())` for the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineQuery {
    /// At most this many records (1-1000).
    pub limit: u32,
    /// Only records older than this one (the last of the previous page).
    pub before: Option<RecordId>,
}

impl TimelineQuery {
    /// The newest `limit` records.
    pub fn new(limit: u32) -> Self {
        TimelineQuery { limit, before: None }
    }

    /// Only records older than `record`.
    pub fn before(mut self, record: RecordId) -> Self {
        self.before = Some(record);
        self
    }
}

/// One page of a customer's timeline, newest first.
#[derive(Debug)]
pub struct TimelinePage {
    /// The records, newest first (transactions by their time, service
    /// records by their opening).
    pub records: Vec<RecordView>,
    /// Pass to [`TimelineQuery::before`] for the next page; `None` on the last.
    pub next: Option<RecordId>,
}

/// Which deadlines a [`DueQuery`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueWindow {
    /// Past due and not resolved.
    Overdue,
    /// Not resolved and due within the next `hours` hours (not yet overdue).
    Within {
        /// How many hours ahead (1-8760).
        hours: u32,
    },
}

/// A query over the deadlines of pending service records, most urgent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQuery {
    /// Overdue, or due soon.
    pub window: DueWindow,
    /// Only records of this owner; `None`: everyone's.
    pub owner: Option<String>,
    /// At most this many (1-1000).
    pub limit: u32,
    /// Resume after this record (the last of the previous page).
    pub after: Option<RecordId>,
}

impl DueQuery {
    /// Overdue records of everyone, at most `limit`.
    pub fn overdue(limit: u32) -> Self {
        DueQuery { window: DueWindow::Overdue, owner: None, limit, after: None }
    }

    /// Records due within the next `hours` hours, at most `limit`.
    pub fn due_within(hours: u32, limit: u32) -> Self {
        DueQuery { window: DueWindow::Within { hours }, owner: None, limit, after: None }
    }

    /// Only records of principal `owner`.
    pub fn owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Resumes after `record`.
    pub fn after(mut self, record: RecordId) -> Self {
        self.after = Some(record);
        self
    }
}
