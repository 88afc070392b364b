//! Data from outside: the prototype's saved `khzl` file.
//!
//! Parsing is all or nothing; the rows go into a store through
//! [`crate::Session::import`] (or [`crate::Session::import_khzl`]), which
//! keeps rows that fail validation as `unverified` and reports them.

pub mod khzl;

pub use khzl::LegacyRecord;
