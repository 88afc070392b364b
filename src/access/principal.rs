//! Principals (staff and systems) as the store keeps them, with their grants.
//!
//! A session names a principal by id; every call looks the principal up
//! again, so a revocation or a change of roles takes effect on the next
//! call of every open session.

use serde::{Deserialize, Serialize};

use super::Role;
use crate::error::{Error, Result};

/// Whether a principal is a person or a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A member of staff.
    Staff,
    /// A system or service account.
    System,
}

/// Whether a principal may act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PrincipalStatus {
    /// May open sessions and act within its grants.
    Active,
    /// Revoked (departure): every session of it is refused from the next call on.
    Revoked {
        /// When (Unix ms).
        at: i64,
        /// The principal who revoked it.
        by: String,
        /// Why.
        reason: String,
    },
}

/// One role granted to a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// When it was granted (Unix ms).
    pub granted_at: i64,
    /// Who granted it.
    pub granted_by: String,
    /// When it stops applying (Unix ms), if it expires.
    pub expires_at: Option<i64>,
    /// When a call last relied on it (Unix ms, recorded at most once a minute).
    pub last_used: Option<i64>,
}

impl Grant {
    /// Whether the grant applies at `now` (Unix ms).
    pub fn is_current(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

/// A principal as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The id sessions name (1-64 printable characters).
    pub id: String,
    /// A display name for reviews (at most 64 printable characters).
    pub display_name: String,
    /// Person or system.
    pub kind: PrincipalKind,
    /// Active or revoked.
    pub status: PrincipalStatus,
    /// When it was registered (Unix ms).
    pub created_at: i64,
    /// Who registered it.
    pub created_by: String,
    /// Its grants, one per role.
    pub grants: Vec<Grant>,
}

impl Principal {
    /// Whether the principal may act.
    pub fn is_active(&self) -> bool {
        self.status == PrincipalStatus::Active
    }

    /// The roles it holds at `now`: an active principal's unexpired grants.
    pub fn current_roles(&self, now: i64) -> Vec<Role> {
        if !self.is_active() {
            return Vec::new();
        }
        self.grants.iter().filter(|g| g.is_current(now)).map(|g| g.role.clone()).collect()
    }
}

/// What is needed to register a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrincipal {
    /// The id sessions will name.
    pub id: String,
    /// A display name for reviews.
    pub display_name: String,
    /// Person or system.
    pub kind: PrincipalKind,
}

impl NewPrincipal {
    /// A member of staff.
    pub fn staff(id: &str, display_name: &str) -> NewPrincipal {
        NewPrincipal { id: id.to_owned(), display_name: display_name.to_owned(), kind: PrincipalKind::Staff }
    }

    /// A system account.
    pub fn system(id: &str, display_name: &str) -> NewPrincipal {
        NewPrincipal { id: id.to_owned(), display_name: display_name.to_owned(), kind: PrincipalKind::System }
    }
}

/// Checks a principal id: 1-64 characters, no control characters, no
/// surrounding whitespace.
pub fn check_principal_id(id: &str) -> Result<()> {
    if id.is_empty() || id.trim() != id || id.chars().count() > 64 || id.chars().any(char::is_control) {
        return Err(Error::invalid(
            "principal",
            "principal_id",
            "a principal id is 1-64 printable characters without surrounding spaces",
        ));
    }
    Ok(())
}

/// Checks a display name or a revocation reason: at most `max` printable characters.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "text", format!("at most {max} printable characters")));
    }
    Ok(())
}
