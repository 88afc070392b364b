//! The access-directory part of the storage seam: principals, roles,
//! credentials, holds, restrictions, retention policies, merges, recipients
//! and shares, kept as opaque values by kind and key (the store encodes
//! them).

use crate::error::Result;

/// The kinds of record in the access directory (principals and their
/// grants, defined roles, login credentials). The store encodes them; a
/// backend keeps them as opaque values by kind and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectoryKind {
    /// A principal with its grants, keyed by principal id.
    Principal,
    /// A defined role, keyed by role name.
    Role,
    /// A principal's login credentials (password hash, sealed TOTP secret,
    /// failure count), keyed by principal id.
    Credential,
    /// A legal hold on a customer, keyed by customer id.
    Hold,
    /// A restriction of processing on a customer, keyed by customer id.
    Restriction,
    /// A retention policy, keyed by policy id.
    RetentionPolicy,
    /// A customer merged into another, keyed by the merged-away id: where
    /// its audit history now leads.
    Merge,
    /// A recipient of shared data, keyed by recipient id.
    Recipient,
    /// A share grant, keyed by share id.
    Share,
}

impl DirectoryKind {
    /// Stable name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryKind::Principal => "principal",
            DirectoryKind::Role => "role",
            DirectoryKind::Credential => "credential",
            DirectoryKind::Hold => "hold",
            DirectoryKind::Restriction => "restriction",
            DirectoryKind::RetentionPolicy => "retention_policy",
            DirectoryKind::Merge => "merge",
            DirectoryKind::Recipient => "recipient",
            DirectoryKind::Share => "share",
        }
    }
}

/// The access directory. Part of a [`Transaction`](super::Transaction).
pub trait AccessDirectory {
    /// Reads an access-directory record.
    fn directory_get(&mut self, kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes (inserts or replaces) an access-directory record and moves the
    /// directory generation on.
    fn directory_put(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;

    /// Writes a record without moving the generation on: for bookkeeping
    /// that changes no decision (a grant's last use).
    fn directory_touch(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;

    /// A number that changes whenever any directory record is put or
    /// deleted (by any connection or process), so sessions can cache what
    /// they resolved from the directory and still see every change at once.
    fn directory_generation(&mut self) -> Result<u64>;

    /// Deletes an access-directory record (moving the generation on);
    /// returns whether it existed.
    fn directory_delete(&mut self, kind: DirectoryKind, key: &str) -> Result<bool>;

    /// Every record of `kind`, by key.
    fn directory_list(&mut self, kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>>;
}
