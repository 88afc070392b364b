//! The decision function: role × action × level/field × purpose × MFA →
//! Allow / Mask / Deny, with the rule that decided.
//!
//! Made once per request for every field of the catalogue (a
//! [`FieldPlan`]). Each role the principal holds is judged on its own; the
//! most permissive outcome per field wins. Default deny: a field no rule
//! reaches is denied, an action no role permits is refused, and a rule whose
//! context attribute is missing does not apply.

use std::collections::BTreeMap;

use super::role::{Effect, RoleDefinition, WithoutMfa, intern_rule_id};
use super::{Action, AuthContext, Decision, FieldPlan, Purpose, Role, rules};
use crate::error::{Error, Result};
use crate::model::{Catalogue, Field, Level, RecordKind, Storage};

/// Everything a decision depends on, apart from the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The acting principal's id (for messages).
    pub principal: &'a str,
    /// The roles it currently holds (unexpired grants of an active principal).
    pub roles: &'a [Role],
    /// The definitions of the store's defined roles.
    pub definitions: &'a [RoleDefinition],
    /// The session's purpose.
    pub purpose: &'a Purpose,
    /// How the principal authenticated.
    pub auth: &'a AuthContext,
    /// What the request does.
    pub action: Action,
    /// The time of the request (Unix ms), for context attributes.
    pub now: i64,
}

/// The policy: built-in roles plus the store's defined roles.
#[derive(Debug, Default, Clone)]
pub struct Policy;

/// What one role says about a request: refused (with why), or permitted
/// with a decision per field.
enum RoleVerdict<'a> {
    Refused(Error),
    Permitted(FieldDecider<'a>),
}

/// A permitting role's decision for each field (at its level).
type FieldDecider<'a> = Box<dyn Fn(&Field, Level) -> Decision + 'a>;

impl Policy {
    /// Decides `request` for every field of `catalogue`, or refuses it whole
    /// with [`Error::Denied`] naming the rule.
    pub fn plan(&self, request: &Request<'_>, catalogue: &Catalogue) -> Result<FieldPlan> {
        let mut refusal: Option<Error> = None;
        let mut used_roles = Vec::new();
        let mut best: BTreeMap<Field, Decision> =
            catalogue.all_fields().map(|f| (f, Decision::Deny(rules::DEFAULT_DENY))).collect();
        let mut undeclared_custom = Decision::Deny(rules::DEFAULT_DENY);
        let undeclared = Field::Custom(String::new());
        for role in request.roles {
            let decide = match judge(role, request) {
                RoleVerdict::Refused(e) => {
                    refusal.get_or_insert(e);
                    continue;
                }
                RoleVerdict::Permitted(decide) => decide,
            };
            used_roles.push(role.clone());
            for (field, slot) in best.iter_mut() {
                combine(slot, decide(field, catalogue.level(field)));
            }
            combine(&mut undeclared_custom, decide(&undeclared, Level::L2));
        }
        if used_roles.is_empty() {
            return Err(refusal.unwrap_or_else(|| Error::Denied {
                rule: rules::DEFAULT_DENY,
                reason: format!(
                    "principal '{}' holds no role that allows {}",
                    request.principal,
                    request.action.name()
                ),
            }));
        }
        Ok(FieldPlan { decisions: best, undeclared_custom, used_roles })
    }

    /// The decision for one field, with consent: a marketing request about a
    /// customer without current marketing consent on the session's channel
    /// is denied whatever the roles say. This is the table the policy tests
    /// spell out; sessions apply the same consent rule to whole customers.
    pub fn decide(
        &self,
        request: &Request<'_>,
        catalogue: &Catalogue,
        field: &Field,
        marketing_consent: bool,
    ) -> Decision {
        match self.plan(request, catalogue) {
            Err(Error::Denied { rule, .. }) => Decision::Deny(rule),
            Err(_) => Decision::Deny(rules::DEFAULT_DENY),
            Ok(_) if *request.purpose == Purpose::Marketing && !marketing_consent => {
                Decision::Deny(rules::MARKETING_CONSENT_REQUIRED)
            }
            Ok(plan) => plan.decision(field),
        }
    }
}

/// One role's verdict on a request.
fn judge<'a>(role: &'a Role, request: &Request<'a>) -> RoleVerdict<'a> {
    let mfa = request.auth.mfa;
    match role {
        Role::Custom(name) => match request.definitions.iter().find(|d| d.name == *name) {
            Some(definition) => judge_defined(definition, request),
            None => RoleVerdict::Refused(Error::Denied {
                rule: rules::ROLE_UNDEFINED,
                reason: format!("role '{name}' held by principal '{}' is not defined", request.principal),
            }),
        },
        builtin => match builtin_permits(builtin, request.purpose, request.action) {
            Err(e) => RoleVerdict::Refused(e),
            Ok(()) => {
                let builtin = builtin.clone();
                RoleVerdict::Permitted(Box::new(move |field, level| {
                    let decision = builtin_field_decision(&builtin, field, level);
                    // L1 plaintext needs a second factor, whatever the role.
                    if decision == Decision::Allow && level == Level::L1 && !mfa {
                        Decision::Mask(rules::L1_REQUIRES_MFA)
                    } else {
                        decision
                    }
                }))
            }
        },
    }
}

/// A defined role's verdict: the rules that cover the action and purpose and
/// whose context requirements the session meets.
fn judge_defined<'a>(definition: &'a RoleDefinition, request: &Request<'a>) -> RoleVerdict<'a> {
    let for_action: Vec<_> = definition.rules.iter().filter(|r| r.actions.contains(&request.action)).collect();
    let for_purpose: Vec<_> = for_action.iter().filter(|r| r.purposes.contains(request.purpose)).copied().collect();
    let deny = |rule, reason: String| RoleVerdict::Refused(Error::Denied { rule, reason });
    let role = &definition.name;
    if for_action.is_empty() {
        return deny(rules::ACTION_NOT_GRANTED, format!("role '{role}' does not allow {}", request.action.name()));
    }
    if for_purpose.is_empty() {
        return deny(
            rules::PURPOSE_NOT_PERMITTED,
            format!("role '{role}' does not allow {} for purpose '{}'", request.action.name(), request.purpose),
        );
    }
    let mut context_refusal = None;
    let applicable: Vec<_> = for_purpose
        .into_iter()
        .filter(|rule| match context_problem(rule.requires_mfa, rule.max_auth_age_secs, request) {
            None => true,
            Some(problem) => {
                context_refusal.get_or_insert((rule.id.clone(), problem));
                false
            }
        })
        .collect();
    if applicable.is_empty() {
        let (id, (rule, why)) = context_refusal.expect("some rule was set aside for its context");
        return deny(rule, format!("rule '{id}' of role '{role}' does not apply: {why}"));
    }
    let mfa = request.auth.mfa;
    RoleVerdict::Permitted(Box::new(move |field, level| {
        let mut best = Decision::Deny(rules::DEFAULT_DENY);
        for rule in applicable.iter().filter(|r| r.reaches(field, level)) {
            let decision = match rule.effect {
                Effect::Allow if level == Level::L1 && !mfa => match definition.without_mfa {
                    WithoutMfa::Mask => Decision::Mask(rules::L1_REQUIRES_MFA),
                    WithoutMfa::Deny => Decision::Deny(rules::L1_REQUIRES_MFA),
                },
                Effect::Allow => Decision::Allow,
                Effect::Mask => Decision::Mask(intern_rule_id(&rule.id)),
            };
            combine(&mut best, decision);
        }
        best
    }))
}

/// Why a rule's context requirements are not met, if they are not. A
/// missing attribute denies: it never counts as satisfied.
fn context_problem(
    requires_mfa: bool,
    max_auth_age_secs: Option<u64>,
    request: &Request<'_>,
) -> Option<(&'static str, String)> {
    if requires_mfa && !request.auth.mfa {
        return Some((rules::CONTEXT_MFA_REQUIRED, "it requires a session authenticated with a second factor".into()));
    }
    if let Some(max) = max_auth_age_secs {
        let Some(at) = request.auth.authenticated_at else {
            return Some((
                rules::CONTEXT_MISSING,
                "it requires the session to say when its principal authenticated, and this one does not".into(),
            ));
        };
        let age_ms = request.now.saturating_sub(at);
        if age_ms < 0 || age_ms as u64 > max.saturating_mul(1000) {
            return Some((
                rules::AUTH_TOO_OLD,
                format!("it requires authentication within the last {max} s, and this session's is older"),
            ));
        }
    }
    None
}

/// Keeps the most permissive of two decisions; among denials, a specific
/// rule rather than the default.
pub(super) fn combine(slot: &mut Decision, decision: Decision) {
    if rank(decision) > rank(*slot) || *slot == Decision::Deny(rules::DEFAULT_DENY) && rank(decision) == 0 {
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

/// Whether built-in `role` may perform `action` at all for `purpose`.
fn builtin_permits(role: &Role, purpose: &Purpose, action: Action) -> Result<()> {
    let deny = |rule, reason: String| Err(Error::Denied { rule, reason });
    let only_for = |wanted: Purpose| -> Result<()> {
        if *purpose == wanted {
            Ok(())
        } else {
            deny(
                rules::PURPOSE_NOT_PERMITTED,
                format!("the {role} role may act only for purpose '{wanted}', not '{purpose}'"),
            )
        }
    };
    let not_granted = || deny(rules::ACTION_NOT_GRANTED, format!("the {role} role may not {}", action.name()));
    if action == Action::Audit && !matches!(role, Role::Administrator | Role::Auditor) {
        return deny(
            rules::AUDIT_REQUIRES_AUDITOR,
            format!("the {role} role may not read the audit log or review grants"),
        );
    }
    if action == Action::Manage && *role != Role::Administrator {
        return deny(
            rules::MANAGE_REQUIRES_ADMINISTRATOR,
            format!("the {role} role may not manage principals, grants or roles"),
        );
    }
    match role {
        Role::Administrator => Ok(()),
        Role::Auditor => match action {
            Action::Audit => Ok(()),
            _ => deny(rules::AUDITOR_NO_CUSTOMER_DATA, "the auditor role has no access to customer data".into()),
        },
        Role::CustomerService => {
            only_for(Purpose::Service)?;
            match action {
                Action::Read | Action::Create | Action::Update => Ok(()),
                Action::Delete => deny(rules::SERVICE_NO_DELETE, "customer service may not delete customers".into()),
                _ => not_granted(),
            }
        }
        Role::Marketing => {
            only_for(Purpose::Marketing)?;
            match action {
                Action::Read => Ok(()),
                _ => deny(rules::MARKETING_READ_ONLY, format!("marketing may not {} customers", action.name())),
            }
        }
        Role::Technician => {
            only_for(Purpose::Maintenance)?;
            match action {
                Action::Read | Action::Update => Ok(()),
                _ => not_granted(),
            }
        }
        Role::Analyst => {
            only_for(Purpose::Analytics)?;
            match action {
                Action::Read => Ok(()),
                _ => not_granted(),
            }
        }
        Role::Custom(_) => unreachable!("defined roles are judged by their rules"),
    }
}

/// What built-in `role` sees of a field at `level` (before the MFA rule).
fn builtin_field_decision(role: &Role, field: &Field, level: Level) -> Decision {
    let classification = field.storage() == Storage::Plain;
    match role {
        Role::Administrator | Role::Technician => Decision::Allow,
        Role::Auditor => Decision::Deny(rules::AUDITOR_NO_CUSTOMER_DATA),
        // Customer service sees orders, never how they were paid.
        Role::CustomerService if *field == Field::PaymentDetails => Decision::Deny(rules::SERVICE_NO_PAYMENT_DETAILS),
        Role::CustomerService => match level {
            Level::L1 => Decision::Mask(rules::SERVICE_L1_MASK),
            Level::L2 | Level::L3 => Decision::Allow,
        },
        Role::Marketing if field.record_kind() != RecordKind::Customer => Decision::Deny(rules::MARKETING_NO_RECORDS),
        Role::Marketing => {
            let contact = matches!(field, Field::Name | Field::Mobile | Field::Email);
            match (contact || classification, level) {
                (false, _) => Decision::Deny(rules::MARKETING_CONTACT_ONLY),
                (true, Level::L1) => Decision::Mask(rules::MARKETING_L1_MASK),
                (true, _) => Decision::Allow,
            }
        }
        Role::Analyst if classification => Decision::Allow,
        Role::Analyst => Decision::Deny(rules::ANALYST_CLASSIFICATION_ONLY),
        Role::Custom(_) => Decision::Deny(rules::DEFAULT_DENY),
    }
}
