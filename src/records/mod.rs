//! Records attached to a customer: its transactions and its after-sales
//! service records, kept under the same session, policy, encryption, audit
//! and lifecycle rules as the customer itself.
//!
//! - [`money`]: exact amounts in a currency's minor unit (ISO 4217 codes and
//!   exponents), order lines and totals, with overflow an error.
//! - [`payment`]: card numbers (length and Luhn) and bank accounts, masked
//!   for display and never shown in an error or `Debug`.
//! - [`transaction`]: a transaction as entered, its statuses and payment
//!   methods, and the checks it must pass.
//! - [`service`]: service-record kinds, priorities, channels and statuses,
//!   the transitions allowed between statuses, and the service-level policy
//!   that gives each record its due time.
//! - [`view`]: a record as one session may see it, and the queries over
//!   records (a customer's timeline, deadlines).
//!
//! The session calls that store and read them are in `store::records`.

/// An enum of stable names, parsed with a rule id that names the field.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, $rule:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Its stable name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value with this name.
            pub fn parse(text: &str) -> $crate::error::Result<$name> {
                $name::ALL.iter().copied().find(|v| v.name() == text).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                    $crate::error::Error::invalid($what, $rule, format!("must be one of: {}", names.join(", ")))
                })
            }
        }
    };
}

/// Longest raw text accepted in a record before any check, in bytes.
pub(crate) const MAX_TEXT_BYTES: usize = 64 * 1024;

pub mod money;
pub mod payment;
pub mod service;
pub mod transaction;
pub mod view;

pub use view::{DueQuery, DueWindow, RecordId, RecordPatch, RecordView, TimelinePage, TimelineQuery};
