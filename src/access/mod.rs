//! Who may do what: principals, roles, purposes, and the decision function.
//!
//! A decision is made once per request for every field (a [`FieldPlan`]),
//! not per field per row. Default deny: whatever no rule allows is denied,
//! and every `Mask` or `Deny` carries a stable rule id.

pub mod credentials;
mod mask;
mod policy;
mod principal;
mod review;
mod role;

pub use mask::mask;
pub use policy::{Policy, Request};
pub(crate) use principal::check_text;
pub use principal::{Grant, NewPrincipal, Principal, PrincipalKind, PrincipalStatus, check_principal_id};
pub use review::{AccessReview, GrantReview, PrincipalReview};
pub use role::{BUILTIN_ROLES, Effect, Role, RoleDefinition, RoleRule, WithoutMfa};

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Field;

/// Why a session is using customer data. Every session declares one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Serving the customer under an existing contract.
    Service,
    /// Marketing communication.
    Marketing,
    /// Statistics and analysis.
    Analytics,
    /// System maintenance.
    Maintenance,
    /// Compliance work: audits, data-subject requests.
    Compliance,
    /// An organisation-defined purpose (`[a-z][a-z0-9_]{0,31}`).
    Custom(String),
}

impl Purpose {
    /// Stable name of the purpose.
    pub fn name(&self) -> &str {
        match self {
            Purpose::Service => "service",
            Purpose::Marketing => "marketing",
            Purpose::Analytics => "analytics",
            Purpose::Maintenance => "maintenance",
            Purpose::Compliance => "compliance",
            Purpose::Custom(name) => name,
        }
    }

    /// Parses a purpose name; unknown names become validated custom purposes.
    pub fn parse(name: &str) -> Result<Purpose> {
        Ok(match name {
            "service" => Purpose::Service,
            "marketing" => Purpose::Marketing,
            "analytics" => Purpose::Analytics,
            "maintenance" => Purpose::Maintenance,
            "compliance" => Purpose::Compliance,
            other if crate::model::is_custom_key_syntax(other) => Purpose::Custom(other.to_owned()),
            _ => {
                return Err(Error::invalid(
                    "purpose",
                    "purpose_syntax",
                    "a custom purpose is 1-32 characters of a-z, 0-9 and _, starting with a letter",
                ));
            }
        })
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read records (get, lookup, list, search, consents).
    Read,
    /// Create a record.
    Create,
    /// Change a record (and record consent).
    Update,
    /// Delete a record.
    Delete,
    /// Export everything held about a customer (data-subject access).
    Export,
    /// Erase a customer irrecoverably (data-subject erasure).
    Erase,
    /// Manage principals, grants, roles and credentials.
    Manage,
    /// Read the audit log and review grants.
    Audit,
}

/// Every action, in a fixed order.
pub const ALL_ACTIONS: [Action; 8] = [
    Action::Read,
    Action::Create,
    Action::Update,
    Action::Delete,
    Action::Export,
    Action::Erase,
    Action::Manage,
    Action::Audit,
];

impl Action {
    /// Stable name of the action.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Erase => "erase",
            Action::Manage => "manage",
            Action::Audit => "audit",
        }
    }

    /// Parses an action name.
    pub fn parse(name: &str) -> Result<Action> {
        ALL_ACTIONS.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            Error::invalid(
                "action",
                "unknown_action",
                "must be one of: read, create, update, delete, export, erase, manage, audit",
            )
        })
    }

    /// Whether the action touches customer data (and so needs field rules).
    pub fn is_data_action(self) -> bool {
        !matches!(self, Action::Manage | Action::Audit)
    }
}

/// The outcome for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Plaintext.
    Allow,
    /// A masked rendering only, by this rule.
    Mask(&'static str),
    /// Nothing, by this rule.
    Deny(&'static str),
}

/// The per-field decisions for one request, made once.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub(crate) decisions: BTreeMap<Field, Decision>,
    /// For custom attributes an open catalogue does not declare (level L2).
    pub(crate) undeclared_custom: Decision,
    /// The roles that permitted the request (their grants count as used).
    pub(crate) used_roles: Vec<Role>,
}

impl FieldPlan {
    /// A plan that shows and writes nothing: what calls the host makes on
    /// its own authority run under (they read no customer value).
    pub(crate) fn nothing() -> FieldPlan {
        FieldPlan {
            decisions: BTreeMap::new(),
            undeclared_custom: Decision::Deny(rules::DEFAULT_DENY),
            used_roles: Vec::new(),
        }
    }

    /// The decision for `field` (denied by default if the plan does not name it).
    pub fn decision(&self, field: &Field) -> Decision {
        match (self.decisions.get(field), field) {
            (Some(decision), _) => *decision,
            (None, Field::Custom(_)) => self.undeclared_custom,
            (None, _) => Decision::Deny(rules::DEFAULT_DENY),
        }
    }

    /// Whether the session may see `field` at all (plain or masked).
    pub fn visible(&self, field: &Field) -> bool {
        !matches!(self.decision(field), Decision::Deny(_))
    }
}

/// Stable rule ids of the built-in policy. They appear in errors and audit
/// entries; rules of defined roles carry their own ids.
pub mod rules {
    /// Nothing allowed this.
    pub const DEFAULT_DENY: &str = "default.deny";
    /// Administrators may do everything.
    pub const ADMIN_ALL: &str = "builtin.administrator.all";
    /// Customer service sees L1 masked.
    pub const SERVICE_L1_MASK: &str = "builtin.customer_service.l1_masked";
    /// Customer service may not delete.
    pub const SERVICE_NO_DELETE: &str = "builtin.customer_service.no_delete";
    /// Marketing sees contact and classification fields only.
    pub const MARKETING_CONTACT_ONLY: &str = "builtin.marketing.contact_fields_only";
    /// Marketing sees L1 contact fields masked.
    pub const MARKETING_L1_MASK: &str = "builtin.marketing.l1_masked";
    /// Marketing writes nothing.
    pub const MARKETING_READ_ONLY: &str = "builtin.marketing.read_only";
    /// Auditors have no access to customer data.
    pub const AUDITOR_NO_CUSTOMER_DATA: &str = "builtin.auditor.no_customer_data";
    /// The role may not act for the session's purpose.
    pub const PURPOSE_NOT_PERMITTED: &str = "builtin.purpose_not_permitted";
    /// Sorting or searching needs plaintext access to the field.
    pub const NEEDS_PLAIN_ACCESS: &str = "builtin.needs_plain_access";
    /// Writing a field the role may not see.
    pub const WRITE_NOT_PERMITTED: &str = "builtin.write_not_permitted";
    /// A marketing session sees only customers who currently consent to
    /// marketing on its channel.
    pub const MARKETING_CONSENT_REQUIRED: &str = "consent.marketing_required";
    /// L1 plaintext needs a session authenticated with a second factor.
    pub const L1_REQUIRES_MFA: &str = "builtin.l1_requires_mfa";
    /// Only auditors and administrators read the audit log.
    pub const AUDIT_REQUIRES_AUDITOR: &str = "builtin.audit_requires_auditor";
    /// The role does not allow this action at all.
    pub const ACTION_NOT_GRANTED: &str = "builtin.action_not_granted";
    /// Only administrators (or roles defined with `manage`) change principals, grants and roles.
    pub const MANAGE_REQUIRES_ADMINISTRATOR: &str = "builtin.manage_requires_administrator";
    /// Analysts see classification attributes only, never personal fields.
    pub const ANALYST_CLASSIFICATION_ONLY: &str = "builtin.analyst.classification_only";
    /// The principal holds a role that is not defined (any more).
    pub const ROLE_UNDEFINED: &str = "role.undefined";
    /// The principal is not registered in the store.
    pub const PRINCIPAL_UNKNOWN: &str = "principal.unknown";
    /// The principal was revoked (departure).
    pub const PRINCIPAL_REVOKED: &str = "principal.revoked";
    /// Every grant of the principal has expired or been removed.
    pub const NO_CURRENT_GRANT: &str = "principal.no_current_grant";
    /// A rule needs a second factor the session does not have.
    pub const CONTEXT_MFA_REQUIRED: &str = "context.mfa_required";
    /// A rule needs a context attribute the session does not carry.
    pub const CONTEXT_MISSING: &str = "context.missing_attribute";
    /// A rule needs a more recent authentication.
    pub const AUTH_TOO_OLD: &str = "context.authentication_too_old";
    /// A login attempt failed (wrong id, password or one-time code).
    pub const LOGIN_FAILED: &str = "login.failed";
    /// The principal is locked after repeated failed logins.
    pub const LOGIN_LOCKED: &str = "login.locked";
    /// The customer restricted processing: only compliance may use it.
    pub const SUBJECT_RESTRICTED: &str = "subject.restricted";
    /// Bootstrapping is only possible while no active administrator exists.
    pub const BOOTSTRAP_CLOSED: &str = "principal.bootstrap_closed";
    /// Customer service sees transactions but never their payment details.
    pub const SERVICE_NO_PAYMENT_DETAILS: &str = "builtin.customer_service.no_payment_details";
    /// Marketing sees no transactions or service records.
    pub const MARKETING_NO_RECORDS: &str = "builtin.marketing.no_attached_records";
    /// With four-eyes verification, the principal who entered or last
    /// changed a customer may not verify it.
    pub const FOUR_EYES: &str = "verify.four_eyes";
    /// Keyword search never covers L1 fields.
    pub const SEARCH_EXCLUDES_L1: &str = "builtin.search_excludes_l1";
}

/// How a session's principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthContext {
    /// Whether a second factor was verified. Without it, L1 values are at
    /// most masked, for every role.
    pub mfa: bool,
    /// When the principal authenticated (Unix ms), if the host says.
    pub authenticated_at: Option<i64>,
}

impl AuthContext {
    /// One factor only (or the host does not say): L1 values are masked.
    pub fn single_factor() -> Self {
        AuthContext { mfa: false, authenticated_at: None }
    }

    /// Authenticated with a second factor at `at` (Unix ms).
    pub fn with_mfa(at: i64) -> Self {
        AuthContext { mfa: true, authenticated_at: Some(at) }
    }
}
