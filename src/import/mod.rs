//! Data from outside: the prototype's saved `khzl` file, and CSV files as
//! spreadsheets write them.
//!
//! Parsing is all or nothing; the rows go into a store through
//! [`crate::Session::import`] (or [`crate::Session::import_khzl`]), which
//! keeps rows that fail validation as `unverified` and reports them.

pub mod csv;
pub mod khzl;

pub use csv::{CsvEncoding, CsvProgress, CsvReadOptions, CsvRows};
pub use khzl::LegacyRecord;
