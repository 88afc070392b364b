//! The access directory: principals with their grants, and defined roles.
//!
//! Every session call resolves its principal here, inside the call's own
//! transaction, so a revocation, an expired grant or a change of roles
//! takes effect on the next call of every open session. Management calls
//! (register, grant, revoke, define roles, review) are session calls with
//! the `manage` action (the review: `audit`), audited like any other.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::session::{Call, Session};
use crate::access::{
    AccessReview, Action, FieldPlan, Grant, NewPrincipal, Principal, PrincipalStatus, Request, Role, RoleDefinition,
    check_principal_id, check_text, rules,
};
use crate::error::{Error, Result};
use crate::model::CustomerId;
use crate::storage::{DirectoryKind, Transaction};

use super::StoreInner;

/// A grant's last use is written at most this often (ms), so reads do not
/// rewrite the principal on every call.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

pub(crate) fn load<T: DeserializeOwned>(tx: &mut dyn Transaction, kind: DirectoryKind, key: &str) -> Result<Option<T>> {
    tx.directory_get(kind, key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt_caused(format!("the {} record '{key}' is unreadable", kind.name()), e))
        })
        .transpose()
}

pub(crate) fn save<T: Serialize>(tx: &mut dyn Transaction, kind: DirectoryKind, key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::storage_caused(format!("{} encoding", kind.name()), e))?;
    tx.directory_put(kind, key, &bytes)
}

/// Every record of `kind`.
pub(crate) fn load_all<T: DeserializeOwned>(tx: &mut dyn Transaction, kind: DirectoryKind) -> Result<Vec<T>> {
    tx.directory_list(kind)?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt_caused(format!("the {} record '{key}' is unreadable", kind.name()), e))
        })
        .collect()
}

/// The principal `id`, which must exist and be active.
pub(crate) fn active_principal(tx: &mut dyn Transaction, id: &str) -> Result<Principal> {
    let principal: Principal = load(tx, DirectoryKind::Principal, id)?.ok_or_else(|| Error::Denied {
        rule: rules::PRINCIPAL_UNKNOWN,
        reason: format!("principal '{id}' is not registered in this store"),
    })?;
    if let PrincipalStatus::Revoked { at, by, .. } = &principal.status {
        return Err(Error::Denied {
            rule: rules::PRINCIPAL_REVOKED,
            reason: format!("principal '{id}' was revoked by '{by}' at {at} (Unix ms)"),
        });
    }
    Ok(principal)
}

/// Registers `new` as an active principal with `grants`, made by `by` at
/// `now`. Ids are checked, and never reused (not even a revoked one's).
pub(crate) fn register(
    tx: &mut dyn Transaction,
    new: &NewPrincipal,
    now: i64,
    by: &str,
    grants: Vec<Grant>,
) -> Result<Principal> {
    check_principal_id(&new.id)?;
    check_text("display_name", &new.display_name, 64)?;
    if load::<Principal>(tx, DirectoryKind::Principal, &new.id)?.is_some() {
        return Err(Error::invalid(
            "principal",
            "principal_exists",
            format!("principal '{}' is already registered (revoked ids are never reused)", new.id),
        ));
    }
    let principal = Principal {
        id: new.id.clone(),
        display_name: new.display_name.clone(),
        kind: new.kind,
        status: PrincipalStatus::Active,
        created_at: now,
        created_by: by.to_owned(),
        grants,
    };
    save(tx, DirectoryKind::Principal, &principal.id, &principal)?;
    Ok(principal)
}

/// The definitions of the defined roles among `roles`.
fn definitions_for(tx: &mut dyn Transaction, roles: &[Role]) -> Result<Vec<RoleDefinition>> {
    let mut out = Vec::new();
    for role in roles {
        if let Role::Custom(name) = role {
            if let Some(definition) = load(tx, DirectoryKind::Role, name)? {
                out.push(definition);
            }
        }
    }
    Ok(out)
}

/// What a session resolved from the access directory at one directory
/// generation: its principal (with grants), the definitions of its defined
/// roles, and the customers under a restriction of processing. Reused until
/// any directory record changes, so a call costs one counter read instead of
/// several lookups, and still sees every revocation at once.
pub(crate) struct Resolved {
    generation: u64,
    principal: Principal,
    definitions: Vec<RoleDefinition>,
    pub(crate) restricted: Arc<HashSet<CustomerId>>,
}

impl Session {
    /// The directory state this session acts under, reloaded whenever the
    /// directory generation has moved (in any connection or process).
    pub(crate) fn resolved(&self, tx: &mut dyn Transaction) -> Result<Arc<Resolved>> {
        let generation = tx.directory_generation()?;
        if let Some(cached) = self.cached_resolution().filter(|r| r.generation == generation) {
            return Ok(cached);
        }
        let principal = active_principal(tx, self.principal_id())?;
        let held: Vec<Role> = principal.grants.iter().map(|g| g.role.clone()).collect();
        let definitions = definitions_for(tx, &held)?;
        let restricted = tx
            .directory_list(DirectoryKind::Restriction)?
            .into_iter()
            .filter_map(|(key, _)| key.parse().ok().map(CustomerId))
            .collect();
        let resolved = Arc::new(Resolved { generation, principal, definitions, restricted: Arc::new(restricted) });
        self.cache_resolution(resolved.clone());
        Ok(resolved)
    }

    /// Decides `action` for this session inside `tx`: the principal must be
    /// registered and active and hold at least one current grant. With
    /// `record_use`, records the use of the grants that permitted it (at
    /// most once a minute; a writable transaction).
    pub(crate) fn authorise(&self, tx: &mut dyn Transaction, action: Action, record_use: bool) -> Result<FieldPlan> {
        let store = self.store();
        let now = store.clock.now_millis();
        let resolved = self.resolved(tx)?;
        let principal_id = self.principal_id();
        let roles = resolved.principal.current_roles(now);
        if roles.is_empty() {
            return Err(Error::Denied {
                rule: rules::NO_CURRENT_GRANT,
                reason: format!("principal '{principal_id}' holds no current grant (none, or all expired)"),
            });
        }
        let request = Request {
            principal: principal_id,
            roles: &roles,
            definitions: &resolved.definitions,
            purpose: self.purpose(),
            auth: self.auth(),
            action,
            now,
        };
        let plan = store.policy.plan(&request, &store.catalogue)?;
        // Record which grants this call relied on, for access reviews.
        let stale = |g: &Grant| {
            g.is_current(now)
                && plan.used_roles.contains(&g.role)
                && g.last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        };
        if record_use && resolved.principal.grants.iter().any(stale) {
            let mut principal = resolved.principal.clone();
            for grant in principal.grants.iter_mut().filter(|g| stale(g)) {
                grant.last_used = Some(now);
            }
            let bytes = serde_json::to_vec(&principal).map_err(|e| Error::storage_caused("principal encoding", e))?;
            // Bookkeeping only: the generation stays, so caches stay valid.
            tx.directory_touch(DirectoryKind::Principal, principal_id, &bytes)?;
            self.cache_resolution(Arc::new(Resolved {
                generation: resolved.generation,
                principal,
                definitions: resolved.definitions.clone(),
                restricted: resolved.restricted.clone(),
            }));
        }
        Ok(plan)
    }
}

impl Session {
    /// Registers a new principal (with no grant yet). Needs `manage`.
    pub fn register_principal(&self, new: &NewPrincipal) -> Result<Principal> {
        self.run(Call::new(Action::Manage, "principal.register").targeting(&new.id), |store, tx, _, _| {
            register(tx, new, store.clock.now_millis(), self.principal_id(), Vec::new())
        })
    }

    /// Grants `role` to principal `id` until `expires_at` (Unix ms; `None`:
    /// no expiry). Granting a role it already holds replaces that grant's
    /// expiry. A defined role must exist. Needs `manage`.
    pub fn grant_role(&self, id: &str, role: Role, expires_at: Option<i64>) -> Result<Principal> {
        self.change_principal(Call::new(Action::Manage, "principal.grant").targeting(id), id, |store, tx, p, trail| {
            if let Role::Custom(name) = &role {
                if load::<RoleDefinition>(tx, DirectoryKind::Role, name)?.is_none() {
                    return Err(Error::invalid("role", "role_undefined", format!("role '{name}' is not defined")));
                }
            }
            let now = store.clock.now_millis();
            if expires_at.is_some_and(|end| end <= now) {
                return Err(Error::invalid("expires_at", "expiry_in_past", "a grant's expiry must lie in the future"));
            }
            trail.changed.push(format!("grant.{role}"));
            let grant = Grant {
                role: role.clone(),
                granted_at: now,
                granted_by: self.principal_id().to_owned(),
                expires_at,
                last_used: None,
            };
            match p.grants.iter_mut().find(|g| g.role == role) {
                Some(existing) => *existing = Grant { last_used: existing.last_used, ..grant },
                None => p.grants.push(grant),
            }
            Ok(())
        })
    }

    /// Removes `role` from principal `id`; open sessions lose it on their
    /// next call. Needs `manage`.
    pub fn revoke_role(&self, id: &str, role: &Role) -> Result<Principal> {
        self.change_principal(Call::new(Action::Manage, "principal.revoke_role").targeting(id), id, |_, _, p, trail| {
            let before = p.grants.len();
            p.grants.retain(|g| g.role != *role);
            if p.grants.len() == before {
                return Err(Error::invalid(
                    "role",
                    "not_granted",
                    format!("principal '{id}' does not hold role '{role}'"),
                ));
            }
            trail.changed.push(format!("grant.{role}"));
            Ok(())
        })
    }

    /// Replaces every grant of principal `id` with `roles` (a transfer to
    /// another job), each with its expiry; open sessions act under the new
    /// roles from their next call. Needs `manage`.
    pub fn change_roles(&self, id: &str, roles: &[(Role, Option<i64>)]) -> Result<Principal> {
        self.change_principal(
            Call::new(Action::Manage, "principal.change_roles").targeting(id),
            id,
            |store, tx, p, trail| {
                let now = store.clock.now_millis();
                let mut grants = Vec::new();
                for (role, expires_at) in roles {
                    if let Role::Custom(name) = role {
                        if load::<RoleDefinition>(tx, DirectoryKind::Role, name)?.is_none() {
                            return Err(Error::invalid(
                                "role",
                                "role_undefined",
                                format!("role '{name}' is not defined"),
                            ));
                        }
                    }
                    if expires_at.is_some_and(|end| end <= now) {
                        return Err(Error::invalid(
                            "expires_at",
                            "expiry_in_past",
                            "a grant's expiry must lie in the future",
                        ));
                    }
                    if grants.iter().any(|g: &Grant| g.role == *role) {
                        return Err(Error::invalid(
                            "roles",
                            "duplicate_role",
                            format!("role '{role}' is listed twice"),
                        ));
                    }
                    grants.push(Grant {
                        role: role.clone(),
                        granted_at: now,
                        granted_by: self.principal_id().to_owned(),
                        expires_at: *expires_at,
                        last_used: None,
                    });
                }
                for role in p.grants.iter().map(|g| &g.role).chain(grants.iter().map(|g| &g.role)) {
                    let name = format!("grant.{role}");
                    if !trail.changed.contains(&name) {
                        trail.changed.push(name);
                    }
                }
                p.grants = grants;
                Ok(())
            },
        )
    }

    /// Revokes principal `id` (departure): its grants end, its open sessions
    /// are refused from their next call, and its id is never reused. Needs
    /// `manage`; a principal cannot revoke itself.
    pub fn revoke_principal(&self, id: &str, reason: &str) -> Result<Principal> {
        self.change_principal(Call::new(Action::Manage, "principal.revoke").targeting(id), id, |store, _, p, trail| {
            check_text("reason", reason, 200)?;
            if id == self.principal_id() {
                return Err(Error::invalid("principal", "self_revocation", "a principal cannot revoke itself"));
            }
            p.status = PrincipalStatus::Revoked {
                at: store.clock.now_millis(),
                by: self.principal_id().to_owned(),
                reason: reason.to_owned(),
            };
            trail.changed.extend(p.grants.iter().map(|g| format!("grant.{}", g.role)));
            p.grants.clear();
            Ok(())
        })
    }

    /// Principal `id` with its grants. Needs `manage` or `audit`.
    pub fn principal_record(&self, id: &str) -> Result<Principal> {
        self.run_either(Call::new(Action::Audit, "principal.read").targeting(id), |_, tx| {
            load(tx, DirectoryKind::Principal, id)?.ok_or_else(|| {
                Error::invalid("principal", "principal_unknown", format!("principal '{id}' is not registered"))
            })
        })
    }

    /// Defines (or redefines) a role. Sessions of principals holding it act
    /// under the new rules from their next call. Needs `manage`.
    pub fn define_role(&self, definition: &RoleDefinition) -> Result<()> {
        self.run(
            Call::new(Action::Manage, "role.define").targeting(&format!("role:{}", definition.name)),
            |_, tx, _, _| {
                definition.validate()?;
                save(tx, DirectoryKind::Role, &definition.name, definition)
            },
        )
    }

    /// Removes a defined role; refused while any principal holds it. Needs `manage`.
    pub fn remove_role(&self, name: &str) -> Result<()> {
        self.run(Call::new(Action::Manage, "role.remove").targeting(&format!("role:{name}")), |_, tx, _, _| {
            let holders: Vec<String> = load_all::<Principal>(tx, DirectoryKind::Principal)?
                .into_iter()
                .filter(|p| p.grants.iter().any(|g| g.role.name() == name && !g.role.is_builtin()))
                .map(|p| p.id)
                .collect();
            if !holders.is_empty() {
                return Err(Error::invalid(
                    "role",
                    "role_in_use",
                    format!("role '{name}' is still granted to: {}", holders.join(", ")),
                ));
            }
            if !tx.directory_delete(DirectoryKind::Role, name)? {
                return Err(Error::invalid("role", "role_undefined", format!("role '{name}' is not defined")));
            }
            Ok(())
        })
    }

    /// Every defined role. Needs `manage` or `audit`.
    pub fn role_definitions(&self) -> Result<Vec<RoleDefinition>> {
        self.run_either(Call::new(Action::Audit, "role.read"), |_, tx| load_all(tx, DirectoryKind::Role))
    }

    /// The access review: every principal, its roles and grants, when each
    /// grant was last used, and which are expired or unused for
    /// `stale_after_days`. Needs `audit` (auditors) or `manage`.
    pub fn access_review(&self, stale_after_days: u32) -> Result<AccessReview> {
        self.run_either(Call::new(Action::Audit, "access.review"), |store, tx| {
            let principals: Vec<Principal> = load_all(tx, DirectoryKind::Principal)?;
            Ok(AccessReview::build(&principals, store.clock.now_millis(), stale_after_days))
        })
    }

    /// Loads principal `id`, lets `change` edit it, and saves it, as one
    /// audited `manage` call. Returns the principal as saved.
    fn change_principal(
        &self,
        call: Call,
        id: &str,
        change: impl FnOnce(&StoreInner, &mut dyn Transaction, &mut Principal, &mut crate::audit::Trail) -> Result<()>,
    ) -> Result<Principal> {
        self.run(call, |store, tx, _, trail| {
            let mut principal: Principal = load(tx, DirectoryKind::Principal, id)?.ok_or_else(|| {
                Error::invalid("principal", "principal_unknown", format!("principal '{id}' is not registered"))
            })?;
            if !principal.is_active() {
                return Err(Error::invalid(
                    "principal",
                    "principal_revoked",
                    format!("principal '{id}' is revoked and cannot be changed"),
                ));
            }
            change(store, tx, &mut principal, trail)?;
            save(tx, DirectoryKind::Principal, id, &principal)?;
            Ok(principal)
        })
    }

    /// Runs a read-only directory call that either `audit` or `manage` permits.
    fn run_either<T>(&self, call: Call, op: impl FnOnce(&StoreInner, &mut dyn Transaction) -> Result<T>) -> Result<T> {
        let manage = self.can(Action::Manage)?;
        let call = if manage { call.decided_as(Action::Manage) } else { call };
        self.run(call, |store, tx, _, _| op(store, tx))
    }
}
