//! Records attached to a customer (issue 15, in progress): the domain rules
//! of transactions and after-sales service records, before they are stored.
//!
//! - [`money`]: exact amounts in a currency's minor unit (ISO 4217 codes and
//!   exponents), order lines and totals, with overflow an error.
//! - [`payment`]: card numbers (length and Luhn) and bank accounts, masked
//!   for display and never shown in an error or `Debug`.
//! - [`service`]: service-record kinds, priorities and statuses, the
//!   transitions allowed between statuses, and the service-level policy that
//!   gives each record its due time.
//!
//! Storing these records under the customer's data key, with their policy,
//! audit and lifecycle rules and the C, C++ and Python surface, is the rest
//! of issue 15.

pub mod money;
pub mod payment;
pub mod service;
