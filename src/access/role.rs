//! Roles: the built-in ones and those an administrator defines.
//!
//! A defined role is a list of [`RoleRule`]s. Each rule names the actions it
//! covers, the purposes it serves, the levels and fields it reaches and its
//! effect (plaintext or masked), plus the authentication context it needs.
//! Whatever no rule reaches is denied.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Action, Purpose};
use crate::error::{Error, Result};
use crate::model::{Field, Level};

/// A role a principal can hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// Everything, on every level, for any purpose (L1 plaintext only with MFA).
    Administrator,
    /// Customer service: L2/L3 in plaintext, L1 masked; may create and
    /// update (writing L1 values it may not read back), not delete.
    CustomerService,
    /// Marketing: reads contact fields (name, mobile, e-mail) and
    /// classification attributes of consenting customers; writes nothing.
    Marketing,
    /// Auditor: reviews the audit log and grants; no access to customer data.
    Auditor,
    /// Technician: sees and corrects every field for maintenance (L1
    /// plaintext only with MFA); creates and deletes nothing.
    Technician,
    /// Analyst: for analytics, reads only the classification attributes
    /// statistics need; no personal field.
    Analyst,
    /// A role an administrator defined ([`RoleDefinition`]), by name.
    Custom(String),
}

/// The built-in roles, in a fixed order.
pub const BUILTIN_ROLES: [Role; 6] =
    [Role::Administrator, Role::CustomerService, Role::Marketing, Role::Auditor, Role::Technician, Role::Analyst];

impl Role {
    /// Stable name of the role (a defined role's own name).
    pub fn name(&self) -> &str {
        match self {
            Role::Administrator => "administrator",
            Role::CustomerService => "customer_service",
            Role::Marketing => "marketing",
            Role::Auditor => "auditor",
            Role::Technician => "technician",
            Role::Analyst => "analyst",
            Role::Custom(name) => name,
        }
    }

    /// Parses a role name: a built-in name, or the name of a defined role
    /// (`[a-z][a-z0-9_]{0,31}`).
    pub fn parse(name: &str) -> Result<Role> {
        if let Some(role) = BUILTIN_ROLES.iter().find(|r| r.name() == name) {
            return Ok(role.clone());
        }
        check_name("role", name)?;
        Ok(Role::Custom(name.to_owned()))
    }

    /// Whether this is one of the built-in roles.
    pub fn is_builtin(&self) -> bool {
        !matches!(self, Role::Custom(_))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Role::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a rule grants on the fields it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The value in plaintext (for L1 fields only in an MFA session).
    Allow,
    /// A masked rendering only (`138****5678`).
    Mask,
}

/// What a defined role's L1 fields become in a session without a second
/// factor, where its rules would show them in plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WithoutMfa {
    /// Masked (the built-in roles' behaviour).
    #[default]
    Mask,
    /// Withheld entirely.
    Deny,
}

/// One rule of a defined role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRule {
    /// Stable id, reported in errors and audit entries for what this rule
    /// masks (`[a-z0-9_.-]`, 1-64 characters, e.g. `support.read_contact`).
    pub id: String,
    /// The actions it covers (at least one).
    pub actions: Vec<Action>,
    /// The purposes it serves (at least one).
    #[serde(with = "purpose_names")]
    pub purposes: Vec<Purpose>,
    /// Every field at these levels is reached...
    pub levels: Vec<Level>,
    /// ...and these fields, whatever their level.
    #[serde(with = "field_names")]
    pub fields: Vec<Field>,
    /// Plaintext or masked.
    pub effect: Effect,
    /// The rule applies only in sessions authenticated with a second factor.
    #[serde(default)]
    pub requires_mfa: bool,
    /// The rule applies only if the session says when its principal
    /// authenticated, and that was at most this many seconds ago. A session
    /// that does not say is denied: a missing attribute never allows.
    #[serde(default)]
    pub max_auth_age_secs: Option<u64>,
}

impl RoleRule {
    /// A rule `id` with `effect` on `levels`, for `actions` and `purposes`.
    pub fn new(
        id: &str,
        actions: impl IntoIterator<Item = Action>,
        purposes: impl IntoIterator<Item = Purpose>,
        levels: impl IntoIterator<Item = Level>,
        effect: Effect,
    ) -> RoleRule {
        RoleRule {
            id: id.to_owned(),
            actions: actions.into_iter().collect(),
            purposes: purposes.into_iter().collect(),
            levels: levels.into_iter().collect(),
            fields: Vec::new(),
            effect,
            requires_mfa: false,
            max_auth_age_secs: None,
        }
    }

    /// Also reaches `fields`, whatever their level.
    pub fn with_fields(mut self, fields: impl IntoIterator<Item = Field>) -> RoleRule {
        self.fields.extend(fields);
        self
    }

    /// Applies only in sessions authenticated with a second factor.
    pub fn requiring_mfa(mut self) -> RoleRule {
        self.requires_mfa = true;
        self
    }

    /// Applies only if the principal authenticated at most `secs` seconds ago.
    pub fn with_max_auth_age(mut self, secs: u64) -> RoleRule {
        self.max_auth_age_secs = Some(secs);
        self
    }

    /// Whether the rule reaches `field` (at `level`).
    pub(crate) fn reaches(&self, field: &Field, level: Level) -> bool {
        self.levels.contains(&level) || self.fields.contains(field)
    }
}

/// A role an administrator defines: a name and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// The role's name (`[a-z][a-z0-9_]{0,31}`, not a built-in name).
    pub name: String,
    /// What the role is for, for access reviews (at most 200 characters).
    pub description: String,
    /// The rules; at least one.
    pub rules: Vec<RoleRule>,
    /// What L1 fields the rules show in plaintext become without MFA.
    #[serde(default)]
    pub without_mfa: WithoutMfa,
}

impl RoleDefinition {
    /// A role `name` described by `description`, with `rules`.
    pub fn new(name: &str, description: &str, rules: impl IntoIterator<Item = RoleRule>) -> RoleDefinition {
        RoleDefinition {
            name: name.to_owned(),
            description: description.to_owned(),
            rules: rules.into_iter().collect(),
            without_mfa: WithoutMfa::Mask,
        }
    }

    /// Withholds (rather than masks) L1 fields in sessions without MFA.
    pub fn denying_l1_without_mfa(mut self) -> RoleDefinition {
        self.without_mfa = WithoutMfa::Deny;
        self
    }

    /// Checks names, ids and that every rule says what it covers.
    pub fn validate(&self) -> Result<()> {
        check_name("role", &self.name)?;
        if BUILTIN_ROLES.iter().any(|r| r.name() == self.name) {
            return Err(Error::invalid(
                "role",
                "builtin_role",
                format!("'{}' is a built-in role and cannot be redefined", self.name),
            ));
        }
        if self.description.chars().count() > 200 || self.description.chars().any(char::is_control) {
            return Err(Error::invalid("description", "description", "at most 200 printable characters"));
        }
        if self.rules.is_empty() {
            return Err(Error::invalid("rules", "no_rules", format!("role '{}' has no rule", self.name)));
        }
        let mut seen = HashSet::new();
        for rule in &self.rules {
            check_rule_id(&rule.id)?;
            if !seen.insert(rule.id.as_str()) {
                return Err(Error::invalid(
                    "rule",
                    "duplicate_rule_id",
                    format!("rule id '{}' appears twice", rule.id),
                ));
            }
            let empty =
                |what: &str| Error::invalid("rule", "empty_rule", format!("rule '{}' names no {what}", rule.id));
            if rule.actions.is_empty() {
                return Err(empty("action"));
            }
            if rule.purposes.is_empty() {
                return Err(empty("purpose"));
            }
            let data_action = rule.actions.iter().any(|a| a.is_data_action());
            if data_action && rule.levels.is_empty() && rule.fields.is_empty() {
                return Err(empty("level or field"));
            }
        }
        Ok(())
    }
}

/// Checks a role name: `[a-z][a-z0-9_]{0,31}`.
fn check_name(what: &str, name: &str) -> Result<()> {
    if crate::model::is_custom_key_syntax(name) {
        Ok(())
    } else {
        Err(Error::invalid(what, "name_syntax", "a name is 1-32 characters of a-z, 0-9 and _, starting with a letter"))
    }
}

/// Checks a rule id: 1-64 characters of `a-z 0-9 _ . -`.
fn check_rule_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("rule", "rule_id_syntax", "a rule id is 1-64 characters of a-z, 0-9, '_', '.' and '-'"))
    }
}

/// Turns a defined rule's id into the `&'static str` that decisions, errors
/// and audit entries carry. Each distinct id is kept once for the life of
/// the process (ids are short and few: administrators define them), so
/// redefining a role never grows memory.
pub(crate) fn intern_rule_id(id: &str) -> &'static str {
    static IDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut ids = IDS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = ids.get(id) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.to_owned().into_boxed_str());
    ids.insert(leaked);
    leaked
}

/// Serialises purposes by name.
mod purpose_names {
    use super::*;

    pub(super) fn serialize<S: Serializer>(purposes: &[Purpose], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(purposes.iter().map(Purpose::name))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Purpose>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| Purpose::parse(name).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serialises fields by name.
mod field_names {
    use super::*;

    pub(super) fn serialize<S: Serializer>(fields: &[Field], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(fields.iter().map(Field::name))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Field>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|name| Field::parse(name).map_err(serde::de::Error::custom)).collect()
    }
}
