//! The access review: every principal, its roles and grants, when each
//! grant was last relied on, and the grants that need attention (unused for
//! N days, or past their expiry).

use serde::Serialize;

use super::{Principal, PrincipalKind, Role};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// One grant as the review sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantReview {
    /// The role granted.
    pub role: Role,
    /// When it was granted (Unix ms) and by whom.
    pub granted_at: i64,
    /// Who granted it.
    pub granted_by: String,
    /// When it expires (Unix ms), if it does.
    pub expires_at: Option<i64>,
    /// When a call last relied on it (Unix ms), if ever.
    pub last_used: Option<i64>,
    /// Whole days since it was last used (or, if never, since it was granted).
    pub idle_days: i64,
    /// Its expiry has passed: it no longer applies and should be removed.
    pub expired: bool,
    /// Unused for at least the review's threshold: a candidate for removal.
    pub stale: bool,
}

/// One principal as the review sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalReview {
    /// The principal's id.
    pub id: String,
    /// Its display name.
    pub display_name: String,
    /// Person or system.
    pub kind: PrincipalKind,
    /// Whether it may act (not revoked).
    pub active: bool,
    /// Its grants.
    pub grants: Vec<GrantReview>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessReview {
    /// When it was made (Unix ms).
    pub generated_at: i64,
    /// The threshold: grants unused for this many days are flagged stale.
    pub stale_after_days: u32,
    /// Every principal, by id.
    pub principals: Vec<PrincipalReview>,
}

impl AccessReview {
    /// Builds the report over `principals` at `now`.
    pub fn build(principals: &[Principal], now: i64, stale_after_days: u32) -> AccessReview {
        let mut rows: Vec<PrincipalReview> = principals
            .iter()
            .map(|p| PrincipalReview {
                id: p.id.clone(),
                display_name: p.display_name.clone(),
                kind: p.kind,
                active: p.is_active(),
                grants: p
                    .grants
                    .iter()
                    .map(|g| {
                        let idle_days = (now - g.last_used.unwrap_or(g.granted_at)).max(0) / MILLIS_PER_DAY;
                        GrantReview {
                            role: g.role.clone(),
                            granted_at: g.granted_at,
                            granted_by: g.granted_by.clone(),
                            expires_at: g.expires_at,
                            last_used: g.last_used,
                            idle_days,
                            expired: !g.is_current(now),
                            stale: idle_days >= i64::from(stale_after_days),
                        }
                    })
                    .collect(),
            })
            .collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        AccessReview { generated_at: now, stale_after_days, principals: rows }
    }

    /// The grants that need attention: `(principal, grant)` for every grant
    /// that is expired or stale, of active principals.
    pub fn needing_attention(&self) -> impl Iterator<Item = (&PrincipalReview, &GrantReview)> {
        self.principals
            .iter()
            .filter(|p| p.active)
            .flat_map(|p| p.grants.iter().filter(|g| g.expired || g.stale).map(move |g| (p, g)))
    }
}
