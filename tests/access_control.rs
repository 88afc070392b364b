//! Access governance through the store: stored principals and grants,
//! defined roles, revocation and transfers in open sessions, grant expiry,
//! access review, login with lockout, and masked output that carries no L1
//! plaintext.

mod common;

use std::sync::Arc;

use common::*;
use custodian::access::{Effect, rules};
use custodian::audit::{AuditQuery, Outcome};
use custodian::{
    Action, AuthContext, CreateOptions, CustomerView, Error, Field, Level, ListQuery, LoginPolicy, ManualClock,
    NewPrincipal, Purpose, Role, RoleDefinition, RoleRule, SearchQuery, Store,
};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_800_000_000_000;

/// An in-memory store on a manual clock, provisioned, with a fast login policy.
fn clocked() -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::in_memory(key(), CreateOptions::new())
        .unwrap()
        .with_clock(clock.clone())
        .unwrap()
        .with_login_policy(
            LoginPolicy::new().max_failures(3).lockout_secs(600).password_iterations(100_000).totp_window(1),
        )
        .unwrap();
    provision(&store);
    (store, clock)
}

fn manager(store: &Store) -> custodian::Session {
    store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(T0)).unwrap()
}

fn denied_rule<T: std::fmt::Debug>(result: custodian::Result<T>) -> &'static str {
    match result {
        Err(Error::Denied { rule, .. }) => rule,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn entries(store: &Store) -> Vec<custodian::AuditEntry> {
    auditor(store).audit_entries(&AuditQuery::new().limit(10_000)).unwrap()
}

#[test]
fn revocation_and_transfers_take_effect_on_the_next_call_of_an_open_session() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        let clerk = service(&store);
        clerk.get(id).unwrap();
        let technician = store.session("technician", Purpose::Maintenance).unwrap();
        technician.get(id).unwrap();

        let admin = manager(&store);
        admin.revoke_principal("clerk", "left the company").unwrap();
        assert_eq!(denied_rule(clerk.get(id)), rules::PRINCIPAL_REVOKED, "{name}");
        assert_eq!(denied_rule(clerk.list(&ListQuery::new())), rules::PRINCIPAL_REVOKED, "{name}");
        assert_eq!(denied_rule(store.session("clerk", Purpose::Service)), rules::PRINCIPAL_REVOKED, "{name}");

        // A transfer: the technician becomes an analyst; the open
        // maintenance session loses its access at once.
        admin.change_roles("technician", &[(Role::Analyst, None)]).unwrap();
        assert_eq!(denied_rule(technician.get(id)), rules::PURPOSE_NOT_PERMITTED, "{name}");
        let analytics = store.session("technician", Purpose::Analytics).unwrap();
        let view = analytics.get(id).unwrap();
        assert_eq!(view.get(&Field::Name), None, "{name}: an analyst sees no personal field");
        assert!(view.get(&Field::Category).is_some(), "{name}");

        // Revoked ids are never reused, and a principal cannot revoke itself.
        let again = admin.register_principal(&NewPrincipal::staff("clerk", "new clerk"));
        assert!(matches!(again, Err(Error::Invalid { rule: "principal_exists", .. })), "{name}");
        assert!(matches!(admin.revoke_principal("admin", "oops"), Err(Error::Invalid { rule: "self_revocation", .. })));

        let log = entries(&store);
        let revoked = log.iter().find(|e| e.action == "principal.revoke").unwrap();
        assert_eq!(revoked.target.as_deref(), Some("clerk"), "{name}");
        assert!(revoked.changed.contains(&"grant.customer_service".to_owned()), "{name}");
        let refused = log.iter().rev().find(|e| e.principal == "clerk" && e.action == "customer.get").unwrap();
        assert_eq!(refused.outcome, Outcome::Denied, "{name}");
        assert_eq!(refused.rule.as_deref(), Some(rules::PRINCIPAL_REVOKED), "{name}");
        assert!(store.verify_audit(None).unwrap().is_intact(), "{name}");
    }
}

#[test]
fn grants_expire_and_the_review_reports_use_and_staleness() {
    let (store, clock) = clocked();
    let id = admin(&store).create(sample(1)).unwrap().id;
    let admin = manager(&store);
    admin.register_principal(&NewPrincipal::staff("temp", "contractor")).unwrap();
    admin.grant_role("temp", Role::CustomerService, Some(T0 + DAY)).unwrap();
    assert!(matches!(
        admin.grant_role("temp", Role::Marketing, Some(T0 - 1)),
        Err(Error::Invalid { rule: "expiry_in_past", .. })
    ));
    let temp = store.session("temp", Purpose::Service).unwrap();
    temp.get(id).unwrap();
    clock.advance(DAY);
    assert_eq!(denied_rule(temp.get(id)), rules::NO_CURRENT_GRANT);

    clock.advance(40 * DAY);
    service(&store).get(id).unwrap();
    let review = auditor(&store).access_review(30).unwrap();
    let row = |id: &str| review.principals.iter().find(|p| p.id == id).unwrap();
    let temp_grant = &row("temp").grants[0];
    assert!(temp_grant.expired && temp_grant.last_used == Some(T0), "{temp_grant:?}");
    let clerk_grant = &row("clerk").grants[0];
    assert_eq!(clerk_grant.last_used, Some(T0 + 41 * DAY));
    assert!(!clerk_grant.stale && !clerk_grant.expired);
    let marketer_grant = &row("marketer").grants[0];
    assert_eq!(marketer_grant.last_used, None);
    assert!(marketer_grant.stale && marketer_grant.idle_days == 41, "{marketer_grant:?}");
    assert!(row("nobody").grants.is_empty());
    let flagged: Vec<(&str, &str)> = review.needing_attention().map(|(p, g)| (p.id.as_str(), g.role.name())).collect();
    assert!(flagged.contains(&("temp", "customer_service")) && flagged.contains(&("marketer", "marketing")));
    assert!(!flagged.iter().any(|(p, _)| *p == "clerk"));
    // The review is audited, and only auditors and administrators may run it.
    assert_eq!(denied_rule(service(&store).access_review(30)), rules::AUDIT_REQUIRES_AUDITOR);
    assert!(entries(&store).iter().any(|e| e.action == "access.review" && e.outcome == Outcome::Allowed));
}

#[test]
fn only_administrators_manage_and_bootstrap_closes() {
    let store = memory_store();
    let clerk = service(&store);
    assert_eq!(
        denied_rule(clerk.register_principal(&NewPrincipal::staff("x", "x"))),
        rules::MANAGE_REQUIRES_ADMINISTRATOR
    );
    let auditor = auditor(&store);
    assert_eq!(
        denied_rule(auditor.grant_role("nobody", Role::Administrator, None)),
        rules::MANAGE_REQUIRES_ADMINISTRATOR
    );
    assert!(auditor.principal_record("clerk").is_ok(), "auditors may read grants");
    assert_eq!(
        denied_rule(store.bootstrap_administrator(&NewPrincipal::staff("intruder", "x"))),
        rules::BOOTSTRAP_CLOSED
    );
    assert_eq!(denied_rule(store.session("ghost", Purpose::Service)), rules::PRINCIPAL_UNKNOWN);
    assert!(matches!(store.session(" padded", Purpose::Service), Err(Error::Invalid { rule: "principal_id", .. })));
    let log = entries(&store);
    assert!(log.iter().any(|e| e.action == "principal.bootstrap" && e.outcome == Outcome::Denied));
    assert!(log.iter().any(|e| e.action == "session.open" && e.principal == "ghost" && e.outcome == Outcome::Denied));
}

#[test]
fn defined_roles_mask_with_their_own_rules_and_need_their_context() {
    let (store, clock) = clocked();
    let id = admin(&store).create(sample(1)).unwrap().id;
    let admin = manager(&store);
    let lead = RoleDefinition::new(
        "support_lead",
        "second-line support: contact data, ID masked, ID plain with MFA",
        [
            RoleRule::new(
                "support.read",
                [Action::Read, Action::Update],
                [Purpose::Service],
                [Level::L2, Level::L3],
                Effect::Allow,
            ),
            RoleRule::new("support.l1_masked", [Action::Read], [Purpose::Service], [Level::L1], Effect::Mask),
        ],
    );
    assert!(matches!(
        admin.grant_role("nobody", Role::Custom("support_lead".into()), None),
        Err(Error::Invalid { rule: "role_undefined", .. })
    ));
    admin.define_role(&lead).unwrap();
    admin.grant_role("nobody", Role::Custom("support_lead".into()), None).unwrap();
    let view = store.session("nobody", Purpose::Service).unwrap().get(id).unwrap();
    assert!(view.get(&Field::IdNumber).unwrap().is_masked());
    assert_eq!(view.text(&Field::Name), "王五");
    let entry =
        entries(&store).into_iter().rev().find(|e| e.principal == "nobody" && e.action == "customer.get").unwrap();
    assert_eq!(entry.outcome, Outcome::Masked);
    assert_eq!(entry.rule.as_deref(), Some("support.l1_masked"));
    let reason = entry.reason.unwrap();
    assert!(reason.contains("masked by support.l1_masked") && reason.contains("id_number"), "{reason}");

    // Redefined to need a recent login: a session that does not say when
    // its principal authenticated is denied (a missing attribute denies).
    let mut recent = lead.clone();
    for rule in &mut recent.rules {
        rule.max_auth_age_secs = Some(600);
    }
    admin.define_role(&recent).unwrap();
    let open = store.session("nobody", Purpose::Service).unwrap();
    assert_eq!(denied_rule(open.get(id)), rules::CONTEXT_MISSING);
    let fresh = store
        .authenticated_session("nobody", Purpose::Service, AuthContext { mfa: false, authenticated_at: Some(T0) })
        .unwrap();
    fresh.get(id).unwrap();
    clock.advance(601_000);
    assert_eq!(denied_rule(fresh.get(id)), rules::AUTH_TOO_OLD);

    assert!(matches!(admin.remove_role("support_lead"), Err(Error::Invalid { rule: "role_in_use", .. })));
    admin.revoke_role("nobody", &Role::Custom("support_lead".into())).unwrap();
    admin.remove_role("support_lead").unwrap();
    assert!(admin.role_definitions().unwrap().is_empty());
    // Invalid definitions are refused with the rule they break.
    let bad = RoleDefinition::new(
        "administrator",
        "x",
        [RoleRule::new("a", [Action::Read], [Purpose::Service], [Level::L3], Effect::Allow)],
    );
    assert!(matches!(admin.define_role(&bad), Err(Error::Invalid { rule: "builtin_role", .. })));
    let empty = RoleDefinition::new("empty_role", "x", []);
    assert!(matches!(admin.define_role(&empty), Err(Error::Invalid { rule: "no_rules", .. })));
    let no_scope = RoleDefinition::new(
        "no_scope",
        "x",
        [RoleRule::new("a", [Action::Read], [Purpose::Service], [], Effect::Allow)],
    );
    assert!(matches!(admin.define_role(&no_scope), Err(Error::Invalid { rule: "empty_rule", .. })));
}

#[test]
fn login_with_password_and_totp_locks_after_repeated_failures() {
    let (store, clock) = clocked();
    let id = admin(&store).create(sample(1)).unwrap().id;
    let admin = manager(&store);
    admin.set_password("technician", "a long enough password").unwrap();
    assert!(matches!(admin.set_password("technician", "short"), Err(Error::Invalid { rule: "password_length", .. })));

    // Password only (no second factor enrolled): a single-factor session.
    let single = store.login("technician", "a long enough password", None, Purpose::Maintenance).unwrap();
    assert!(!single.auth().mfa);
    assert!(single.get(id).unwrap().get(&Field::IdNumber).unwrap().is_masked());

    let totp = admin.enrol_totp("technician").unwrap();
    let code =
        |clock: &ManualClock| format!("{:06}", totp.code_at((custodian::Clock::now_millis(clock) / 1000) as u64));
    assert_eq!(
        denied_rule(store.login("technician", "a long enough password", None, Purpose::Maintenance)),
        rules::LOGIN_FAILED,
        "the code is required once enrolled"
    );
    clock.advance(30_000);
    let session =
        store.login("technician", "a long enough password", Some(&code(&clock)), Purpose::Maintenance).unwrap();
    assert!(session.auth().mfa, "both factors: an MFA session");
    let view = session.get(id).unwrap();
    assert!(!view.get(&Field::IdNumber).unwrap().is_masked(), "L1 in plaintext with MFA for the technician");
    assert_eq!(
        denied_rule(store.login("technician", "a long enough password", Some(&code(&clock)), Purpose::Maintenance)),
        rules::LOGIN_FAILED,
        "a code is accepted once"
    );

    // Failures: two more make three in a row, and the principal is locked.
    clock.advance(30_000);
    for wrong in ["wrong password 1", "wrong password 2"] {
        assert_eq!(
            denied_rule(store.login("technician", wrong, Some(&code(&clock)), Purpose::Maintenance)),
            rules::LOGIN_FAILED
        );
    }
    assert_eq!(
        denied_rule(store.login("technician", "a long enough password", Some(&code(&clock)), Purpose::Maintenance)),
        rules::LOGIN_LOCKED,
        "locked even with the right credentials"
    );
    admin.unlock_principal("technician").unwrap();
    store.login("technician", "a long enough password", Some(&code(&clock)), Purpose::Maintenance).unwrap();
    assert_eq!(denied_rule(store.login("ghost", "whatever it is", None, Purpose::Service)), rules::LOGIN_FAILED);

    // Every attempt is audited with its reason; no password appears.
    let logins: Vec<custodian::AuditEntry> =
        entries(&store).into_iter().filter(|e| e.action == "principal.login").collect();
    let outcomes: Vec<(Outcome, bool)> = logins.iter().map(|e| (e.outcome, e.mfa)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Outcome::Allowed, false),
            (Outcome::Denied, false),
            (Outcome::Allowed, true),
            (Outcome::Denied, false),
            (Outcome::Denied, false),
            (Outcome::Denied, false),
            (Outcome::Denied, false),
            (Outcome::Allowed, true),
            (Outcome::Denied, false),
        ]
    );
    let reasons: Vec<&str> = logins.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert!(reasons[0].contains("required"), "{reasons:?}");
    assert!(reasons[1].contains("already used"), "{reasons:?}");
    assert!(reasons[2].contains("wrong password"), "{reasons:?}");
    assert!(reasons[3].contains("3 consecutive failures: locked until"), "{reasons:?}");
    assert!(reasons[4].contains("login.locked"), "{reasons:?}");
    assert!(reasons[5].contains("unknown or revoked"), "{reasons:?}");
    assert!(!format!("{logins:?}").contains("password 1") && !format!("{logins:?}").contains("long enough"));
}

/// Every string a session hands back, from every read path.
fn returned_text(views: &[CustomerView]) -> String {
    let mut out = String::new();
    for v in views {
        for (_, shown) in v.iter() {
            out.push_str(shown.text());
            out.push('\n');
        }
        out.push_str(&format!("{v:?}\n"));
    }
    out
}

#[test]
fn masked_output_holds_no_l1_plaintext() {
    let (store, _clock) = clocked();
    let id_number = id_number("310101", "19900307", 123);
    let birth = "1990-03-07";
    let a = admin(&store);
    let mut ids = Vec::new();
    for i in 0..3 {
        let input = sample(i).set(Field::IdNumber, id_number.clone()).set(Field::BirthDate, birth);
        ids.push(a.create(input).unwrap().id);
    }
    consent_to_sms(&store, ids[0]);
    let lead = RoleDefinition::new(
        "support_lead",
        "masked L1",
        [
            RoleRule::new("support.read", [Action::Read], [Purpose::Service], [Level::L2, Level::L3], Effect::Allow),
            RoleRule::new("support.l1", [Action::Read], [Purpose::Service], [Level::L1], Effect::Allow),
        ],
    );
    manager(&store).define_role(&lead).unwrap();
    manager(&store).grant_role("nobody", Role::Custom("support_lead".into()), None).unwrap();

    let sessions = [
        ("customer service", service(&store)),
        ("administrator without MFA", store.session("admin", Purpose::Service).unwrap()),
        ("technician without MFA", store.session("technician", Purpose::Maintenance).unwrap()),
        ("defined role without MFA", store.session("nobody", Purpose::Service).unwrap()),
        ("marketing", marketing(&store)),
        ("analyst", store.session("analyst", Purpose::Analytics).unwrap()),
    ];
    // The middle of the ID number (birth date and sequence) and the birth date.
    let secrets = [id_number.clone(), id_number[4..14].to_owned(), "19900307".into(), birth.into(), "1990".into()];
    for (name, s) in &sessions {
        let mut views = Vec::new();
        let readable: Vec<_> = ids.iter().filter(|id| s.get(**id).is_ok()).collect();
        for id in readable {
            views.push(s.get(*id).unwrap());
        }
        if let Ok(found) = s.find_by_mobile("13900000000") {
            views.extend(found);
        }
        if let Ok(page) = s.list(&ListQuery::new().sort(Field::Category)) {
            views.extend(page.items);
        }
        if let Ok(page) = s.search(&SearchQuery::new("发票")) {
            views.extend(page.items);
        }
        assert!(!views.is_empty(), "{name} read nothing");
        let text = returned_text(&views);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{name}: L1 fragment '{secret}' in {text}");
        }
        for v in &views {
            if let Some(shown) = v.get(&Field::IdNumber) {
                assert!(shown.is_masked(), "{name}");
                let masked: Vec<char> = shown.text().chars().collect();
                assert!(masked[4..14].iter().all(|c| *c == '*'), "{name}: {}", shown.text());
            }
        }
    }
}
