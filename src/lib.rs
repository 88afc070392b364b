//! # custodian
//!
//! An embeddable store for customer information that keeps it the way
//! customer-information regulations demand: every field classified
//! ([`Level`]), personal fields encrypted at rest under per-customer keys,
//! and every access made through a [`Session`] that names a principal and a
//! purpose and is checked against the [`Policy`].
//!
//! ```
//! use custodian::{AuthContext, CreateOptions, CustomerInput, Field, KeySource, NewPrincipal, Purpose, Role, Store};
//!
//! # fn main() -> custodian::Result<()> {
//! let store = Store::in_memory(KeySource::key_bytes(&[7u8; 32])?, CreateOptions::default())?;
//! // The host registers its first administrator, who registers staff.
//! store.bootstrap_administrator(&NewPrincipal::staff("admin", "Administrator"))?;
//! let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(0))?;
//! admin.register_principal(&NewPrincipal::staff("clerk-01", "李娜"))?;
//! admin.grant_role("clerk-01", Role::CustomerService, None)?;
//!
//! let session = store.session("clerk-01", Purpose::Service)?;
//! let created = session.create(
//!     CustomerInput::individual()
//!         .set(Field::Name, "王五")
//!         .set(Field::Mobile, "+86 138-1234-5678")
//!         .set(Field::IdNumber, "11010519491231002X"),
//! )?;
//! let found = session.find_by_mobile("13812345678")?;
//! assert_eq!(found[0].id, created.id);
//! assert_eq!(found[0].text(&Field::Name), "王五");
//! // Customer service sees L1 data masked.
//! assert_eq!(found[0].text(&Field::IdNumber), "1101**********002X");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

/// The README's Rust samples, compiled (and run unless marked `no_run`) as
/// doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeSamples;

pub mod access;
pub mod audit;
pub mod clock;
pub mod collate;
pub mod consent;
pub mod crypto;
mod error;
pub mod ffi;
pub mod import;
pub mod model;
pub mod records;
pub mod retention;
pub mod search;
pub mod sharing;
pub mod storage;
mod store;

pub use access::{
    Action, AuthContext, Decision, NewPrincipal, Policy, Principal, Purpose, Role, RoleDefinition, RoleRule,
};
pub use audit::{AuditEntry, AuditQuery, AuditVerification, Checkpoint, ErasureReceipt, Outcome};
pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto::{KeySource, MasterKey};
pub use error::{BackupProblem, Error, Result};
pub use model::{
    Catalogue, CustomAttribute, CustomerId, CustomerInput, CustomerPatch, CustomerView, Field, Level, Page, RecordKind,
    Shown, Withheld,
};
pub use records::service::{Priority, ServiceChannel, ServiceInput, ServiceKind, ServiceLevelPolicy, ServiceStatus};
pub use records::transaction::{PaymentMethod, TransactionInput, TransactionStatus};
pub use records::{DueQuery, DueWindow, RecordId, RecordPatch, RecordView, TimelinePage, TimelineQuery};
pub use sharing::package::{OpenedPackage, PackageManifest, PackagedCustomer, RecipientSecret, VerifiedPackage};
pub use sharing::{
    CustomerShare, Disclosure, NewRecipient, NewShare, Recipient, Revocation, Share, ShareCustomers, ShareFilter,
};
pub use storage::StatusChange;
pub use storage::{Durability, MemoryBackend, SqliteBackend, SqliteOptions};
#[cfg(feature = "postgres")]
pub use storage::{PostgresBackend, PostgresOptions};
pub use store::{
    BACKUP_FORMAT, BackupKind, BackupManifest, BackupParent, BackupPart, BackupVerification, CategoryQuality,
    CheckpointPolicy, CheckpointSink, CreateOptions, CsvExportOptions, CsvExportSummary, CustomerExport,
    DuplicateCheck, DuplicatePair, DuplicateReason, DuplicateReport, Filter, ImportCounts, ImportOptions,
    ImportProblem, ImportReport, ImportRow, ImportedCustomer, ListQuery, LoginPolicy, MAX_PAGE, MAX_SHARE_FIELDS,
    Matched, MatchedRow, MergeOptions, MergeReport, MergeSide, OutsideRecord, PurchaseTotals, PurchaseTotalsQuery,
    QualityReport, RecordExport, RejectedRow, RestoreOptions, RestoreReport, SearchQuery, Session, SharePage,
    ShareSession, StatisticsCell, StatisticsDimension, StatisticsQuery, StatisticsTable, Store, StoreCounts,
    UnknownHistory,
};
