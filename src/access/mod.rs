//! Who may do what: principals, roles, purposes, and the decision function.
//!
//! A decision is made once per request for every field (a [`FieldPlan`]),
//! not per field per row. Default deny: whatever no rule allows is denied,
//! and every `Mask` or `Deny` carries a stable rule id.

pub mod credentials;
mod mask;

pub use mask::mask;

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::model::{Catalogue, Field, Level, Storage};

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// Everything, on every level, for any purpose.
    Administrator,
    /// Customer service: L2/L3 in plaintext, L1 masked; may create and
    /// update (writing L1 values it may not read back), not delete.
    CustomerService,
    /// Marketing: reads contact fields (name, mobile, e-mail) and
    /// classification attributes; writes nothing.
    Marketing,
    /// Auditor: reviews the audit log; no access to customer data.
    Auditor,
}

impl Role {
    /// Stable name of the role.
    pub fn name(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::CustomerService => "customer_service",
            Role::Marketing => "marketing",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Result<Role> {
        [Role::Administrator, Role::CustomerService, Role::Marketing, Role::Auditor]
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| Error::invalid("role", "unknown_role", format!("unknown role '{name}'")))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// A member of staff or a system that uses the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    id: String,
    roles: Vec<Role>,
}

impl Principal {
    /// A principal `id` (1-64 printable characters) holding `roles`.
    pub fn new(id: &str, roles: impl IntoIterator<Item = Role>) -> Result<Self> {
        let id = id.trim();
        if id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control) {
            return Err(Error::invalid("principal", "principal_id", "a principal id is 1-64 printable characters"));
        }
        let mut roles: Vec<Role> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        Ok(Principal { id: id.to_owned(), roles })
    }

    /// The principal's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The principal's roles.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read records (get, lookup, list, search).
    Read,
    /// Create a record.
    Create,
    /// Change a record.
    Update,
    /// Delete a record.
    Delete,
    /// Read the audit log (who did what to whom).
    Audit,
}

impl Action {
    /// Stable name of the action.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Audit => "audit",
        }
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
    decisions: BTreeMap<Field, Decision>,
    /// For custom attributes an open catalogue does not declare (level L2).
    undeclared_custom: Decision,
}

impl FieldPlan {
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

/// Stable rule ids. They appear in errors and (later) audit entries.
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
    /// Keyword search never covers L1 fields.
    pub const SEARCH_EXCLUDES_L1: &str = "builtin.search_excludes_l1";
}

/// The built-in policy: one rule set per role, combined across a principal's
/// roles by taking the most permissive outcome per field.
#[derive(Debug, Default, Clone)]
pub struct Policy;

impl Policy {
    /// Decides `action` for every field of `catalogue`, or denies the whole request.
    pub fn plan(
        &self,
        principal: &Principal,
        purpose: &Purpose,
        auth: &AuthContext,
        action: Action,
        catalogue: &Catalogue,
    ) -> Result<FieldPlan> {
        let mut denial: Option<Error> = None;
        let mut best: BTreeMap<Field, Decision> = BTreeMap::new();
        let mut undeclared_custom = Decision::Deny(rules::DEFAULT_DENY);
        let undeclared = Field::Custom(String::new());
        for role in principal.roles() {
            if let Err(e) = role_permits(*role, purpose, action) {
                denial.get_or_insert(e);
                continue;
            }
            for field in catalogue.fields() {
                let decision = role_field_decision(*role, &field, catalogue.level(&field));
                combine(best.entry(field).or_insert(Decision::Deny(rules::DEFAULT_DENY)), decision);
            }
            combine(&mut undeclared_custom, role_field_decision(*role, &undeclared, Level::L2));
        }
        if best.is_empty() {
            return Err(denial.unwrap_or_else(|| Error::Denied {
                rule: rules::DEFAULT_DENY,
                reason: format!("principal '{}' holds no role that allows {}", principal.id(), action.name()),
            }));
        }
        // L1 plaintext needs a second factor, whatever the role.
        if !auth.mfa {
            for (field, decision) in best.iter_mut() {
                if *decision == Decision::Allow && catalogue.level(field) == Level::L1 {
                    *decision = Decision::Mask(rules::L1_REQUIRES_MFA);
                }
            }
        }
        Ok(FieldPlan { decisions: best, undeclared_custom })
    }
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

/// Keeps the most permissive of two roles' decisions; among denials, the
/// role's own rule rather than the default.
fn combine(slot: &mut Decision, decision: Decision) {
    if rank(decision) > rank(*slot) || *slot == Decision::Deny(rules::DEFAULT_DENY) {
        *slot = decision;
    }
}

fn rank(d: Decision) -> u8 {
    match d {
        Decision::Deny(_) => 0,
        Decision::Mask(_) => 1,
        Decision::Allow => 2,
    }
}

/// Whether `role` may perform `action` at all for `purpose`.
fn role_permits(role: Role, purpose: &Purpose, action: Action) -> Result<()> {
    let deny = |rule, reason: String| Err(Error::Denied { rule, reason });
    if action == Action::Audit && !matches!(role, Role::Administrator | Role::Auditor) {
        return deny(rules::AUDIT_REQUIRES_AUDITOR, format!("the {role} role may not read the audit log"));
    }
    match role {
        Role::Administrator => Ok(()),
        Role::Auditor if action == Action::Audit => Ok(()),
        Role::Auditor => {
            deny(rules::AUDITOR_NO_CUSTOMER_DATA, "the auditor role has no access to customer data".into())
        }
        Role::CustomerService => {
            if !matches!(purpose, Purpose::Service) {
                return deny(
                    rules::PURPOSE_NOT_PERMITTED,
                    format!("customer service may act only for purpose 'service', not '{purpose}'"),
                );
            }
            if action == Action::Delete {
                return deny(rules::SERVICE_NO_DELETE, "customer service may not delete customers".into());
            }
            Ok(())
        }
        Role::Marketing => {
            if !matches!(purpose, Purpose::Marketing) {
                return deny(
                    rules::PURPOSE_NOT_PERMITTED,
                    format!("marketing may act only for purpose 'marketing', not '{purpose}'"),
                );
            }
            if action != Action::Read {
                return deny(rules::MARKETING_READ_ONLY, format!("marketing may not {} customers", action.name()));
            }
            Ok(())
        }
    }
}

/// What `role` sees of a field at `level`.
fn role_field_decision(role: Role, field: &Field, level: Level) -> Decision {
    match role {
        Role::Administrator => Decision::Allow,
        Role::Auditor => Decision::Deny(rules::AUDITOR_NO_CUSTOMER_DATA),
        Role::CustomerService => match level {
            Level::L1 => Decision::Mask(rules::SERVICE_L1_MASK),
            Level::L2 | Level::L3 => Decision::Allow,
        },
        Role::Marketing => {
            let contact = matches!(field, Field::Name | Field::Mobile | Field::Email);
            let classification = field.storage() == Storage::Plain;
            match (contact || classification, level) {
                (false, _) => Decision::Deny(rules::MARKETING_CONTACT_ONLY),
                (true, Level::L1) => Decision::Mask(rules::MARKETING_L1_MASK),
                (true, _) => Decision::Allow,
            }
        }
    }
}
