//! The decision function on its own: a table written out cell by cell, and
//! properties over generated roles and requests.

use custodian::access::{Request, RoleDefinition, RoleRule, rules};
use custodian::{Action, AuthContext, Catalogue, Decision, Field, Level, Policy, Purpose, Role};
use proptest::prelude::*;

/// One field per kind of cell: L1 (ID number), an L2 contact field
/// (mobile), an L2 non-contact field (notes), an L3 classification (category).
const FIELDS: [Field; 4] = [Field::IdNumber, Field::Mobile, Field::Notes, Field::Category];

const A: Decision = Decision::Allow;
const fn m(rule: &'static str) -> Decision {
    Decision::Mask(rule)
}
const fn d(rule: &'static str) -> Decision {
    Decision::Deny(rule)
}

const L1_MFA: Decision = m(rules::L1_REQUIRES_MFA);
const PURPOSE: Decision = d(rules::PURPOSE_NOT_PERMITTED);
const CONSENT: Decision = d(rules::MARKETING_CONSENT_REQUIRED);
const AUDITOR: Decision = d(rules::AUDITOR_NO_CUSTOMER_DATA);
const ANALYST: Decision = d(rules::ANALYST_CLASSIFICATION_ONLY);
const CONTACT_ONLY: Decision = d(rules::MARKETING_CONTACT_ONLY);
const SERVICE_L1: Decision = m(rules::SERVICE_L1_MASK);

fn decide(
    roles: &[Role],
    definitions: &[RoleDefinition],
    purpose: &Purpose,
    consent: bool,
    mfa: bool,
) -> [Decision; 4] {
    let auth = if mfa { AuthContext::with_mfa(0) } else { AuthContext::single_factor() };
    let request =
        Request { principal: "p", roles, definitions, purpose, auth: &auth, action: Action::Read, now: 1_000 };
    let catalogue = Catalogue::default();
    FIELDS.map(|f| Policy.decide(&request, &catalogue, &f, consent))
}

/// role × purpose × marketing consent × MFA → [L1 id_number, L2 mobile, L2 notes, L3 category],
/// for reading. Every cell is written out.
#[test]
fn the_decision_table() {
    use Purpose as P;
    use Role as R;
    #[rustfmt::skip]
    let table: Vec<(Role, Purpose, bool, bool, [Decision; 4])> = vec![
        // role             purpose      consent mfa    id_number   mobile   notes         category
        (R::Administrator,  P::Service,     false,  false, [L1_MFA,    A,       A,            A]),
        (R::Administrator,  P::Service,     false,  true,  [A,         A,       A,            A]),
        (R::Administrator,  P::Service,     true,   false, [L1_MFA,    A,       A,            A]),
        (R::Administrator,  P::Service,     true,   true,  [A,         A,       A,            A]),
        (R::Administrator,  P::Marketing,   false,  false, [CONSENT,   CONSENT, CONSENT,      CONSENT]),
        (R::Administrator,  P::Marketing,   false,  true,  [CONSENT,   CONSENT, CONSENT,      CONSENT]),
        (R::Administrator,  P::Marketing,   true,   false, [L1_MFA,    A,       A,            A]),
        (R::Administrator,  P::Marketing,   true,   true,  [A,         A,       A,            A]),
        (R::CustomerService, P::Service,     false,  false, [SERVICE_L1, A,      A,            A]),
        (R::CustomerService, P::Service,     false,  true,  [SERVICE_L1, A,      A,            A]),
        (R::CustomerService, P::Service,     true,   false, [SERVICE_L1, A,      A,            A]),
        (R::CustomerService, P::Service,     true,   true,  [SERVICE_L1, A,      A,            A]),
        (R::CustomerService, P::Marketing,   false,  false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::CustomerService, P::Marketing,   false,  true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::CustomerService, P::Marketing,   true,   false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::CustomerService, P::Marketing,   true,   true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Marketing,      P::Marketing,   false,  false, [CONSENT,   CONSENT, CONSENT,      CONSENT]),
        (R::Marketing,      P::Marketing,   false,  true,  [CONSENT,   CONSENT, CONSENT,      CONSENT]),
        (R::Marketing,      P::Marketing,   true,   false, [CONTACT_ONLY, A,    CONTACT_ONLY, A]),
        (R::Marketing,      P::Marketing,   true,   true,  [CONTACT_ONLY, A,    CONTACT_ONLY, A]),
        (R::Marketing,      P::Service,     false,  false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Marketing,      P::Service,     false,  true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Marketing,      P::Service,     true,   false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Marketing,      P::Service,     true,   true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Auditor,        P::Compliance,  false,  false, [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Compliance,  false,  true,  [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Compliance,  true,   false, [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Compliance,  true,   true,  [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Service,     false,  false, [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Service,     false,  true,  [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Service,     true,   false, [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Auditor,        P::Service,     true,   true,  [AUDITOR,   AUDITOR, AUDITOR,      AUDITOR]),
        (R::Technician,     P::Maintenance, false,  false, [L1_MFA,    A,       A,            A]),
        (R::Technician,     P::Maintenance, false,  true,  [A,         A,       A,            A]),
        (R::Technician,     P::Maintenance, true,   false, [L1_MFA,    A,       A,            A]),
        (R::Technician,     P::Maintenance, true,   true,  [A,         A,       A,            A]),
        (R::Technician,     P::Service,     false,  false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Technician,     P::Service,     false,  true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Technician,     P::Service,     true,   false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Technician,     P::Service,     true,   true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Analyst,        P::Analytics,   false,  false, [ANALYST,   ANALYST, ANALYST,      A]),
        (R::Analyst,        P::Analytics,   false,  true,  [ANALYST,   ANALYST, ANALYST,      A]),
        (R::Analyst,        P::Analytics,   true,   false, [ANALYST,   ANALYST, ANALYST,      A]),
        (R::Analyst,        P::Analytics,   true,   true,  [ANALYST,   ANALYST, ANALYST,      A]),
        (R::Analyst,        P::Marketing,   false,  false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Analyst,        P::Marketing,   false,  true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Analyst,        P::Marketing,   true,   false, [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
        (R::Analyst,        P::Marketing,   true,   true,  [PURPOSE,   PURPOSE, PURPOSE,      PURPOSE]),
    ];
    for (role, purpose, consent, mfa, expected) in table {
        let got = decide(std::slice::from_ref(&role), &[], &purpose, consent, mfa);
        assert_eq!(got, expected, "{role} for {purpose}, consent {consent}, mfa {mfa}");
    }
}

/// The fields of attached records, one per kind of cell: payment details
/// (L1), order items (L2, sealed), a transaction's status (L3 bookkeeping),
/// a service record's description (L2, sealed) and its due time (L3).
const RECORD_FIELDS: [Field; 5] =
    [Field::PaymentDetails, Field::OrderItems, Field::OrderStatus, Field::ServiceDescription, Field::ServiceDueAt];

/// role × purpose × MFA → the record fields above, for reading (marketing
/// with consent: records are never marketing's, consent or not).
#[test]
fn the_decision_table_for_record_fields() {
    use Purpose as P;
    use Role as R;
    const NO_PAYMENT: Decision = d(rules::SERVICE_NO_PAYMENT_DETAILS);
    const NO_RECORDS: Decision = d(rules::MARKETING_NO_RECORDS);
    #[rustfmt::skip]
    let table: Vec<(Role, Purpose, bool, [Decision; 5])> = vec![
        // role              purpose         mfa    payment     items    status   description due_at
        (R::Administrator,   P::Service,     false, [L1_MFA,     A,       A,       A,          A]),
        (R::Administrator,   P::Service,     true,  [A,          A,       A,       A,          A]),
        (R::CustomerService, P::Service,     false, [NO_PAYMENT, A,       A,       A,          A]),
        (R::CustomerService, P::Service,     true,  [NO_PAYMENT, A,       A,       A,          A]),
        (R::Technician,      P::Maintenance, false, [L1_MFA,     A,       A,       A,          A]),
        (R::Technician,      P::Maintenance, true,  [A,          A,       A,       A,          A]),
        (R::Marketing,       P::Marketing,   false, [NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_RECORDS]),
        (R::Marketing,       P::Marketing,   true,  [NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_RECORDS]),
        (R::Analyst,         P::Analytics,   false, [ANALYST,    ANALYST, A,       ANALYST,    A]),
        (R::Analyst,         P::Analytics,   true,  [ANALYST,    ANALYST, A,       ANALYST,    A]),
        (R::Auditor,         P::Compliance,  true,  [AUDITOR,    AUDITOR, AUDITOR, AUDITOR,    AUDITOR]),
        (R::CustomerService, P::Marketing,   true,  [PURPOSE,    PURPOSE, PURPOSE, PURPOSE,    PURPOSE]),
    ];
    let catalogue = Catalogue::default();
    for (role, purpose, mfa, expected) in table {
        let auth = if mfa { AuthContext::with_mfa(0) } else { AuthContext::single_factor() };
        let roles = [role.clone()];
        let request = Request {
            principal: "p",
            roles: &roles,
            definitions: &[],
            purpose: &purpose,
            auth: &auth,
            action: Action::Read,
            now: 1_000,
        };
        let got = RECORD_FIELDS.map(|f| Policy.decide(&request, &catalogue, &f, true));
        assert_eq!(got, expected, "{role} for {purpose}, mfa {mfa}");
    }
    // Payment details are L1 whatever the catalogue says.
    assert!(Catalogue::default().with_level(Field::PaymentDetails, Level::L2).is_err());
    assert!(Catalogue::default().with_level(Field::OrderStatus, Level::L1).is_err(), "bookkeeping stays L3");
    let raised = Catalogue::default().with_level(Field::ServiceDescription, Level::L1).unwrap();
    let roles = [Role::CustomerService];
    let auth = AuthContext::single_factor();
    let request = Request {
        principal: "p",
        roles: &roles,
        definitions: &[],
        purpose: &Purpose::Service,
        auth: &auth,
        action: Action::Read,
        now: 1_000,
    };
    assert_eq!(Policy.decide(&request, &raised, &Field::ServiceDescription, true), SERVICE_L1);
}

/// A defined role: its own rule ids on masks, L1 behind MFA (masked or
/// withheld as the role says), and rules whose context is missing deny.
#[test]
fn defined_roles_in_the_table() {
    let support = RoleDefinition::new(
        "support_lead",
        "second-line support",
        [
            RoleRule::new(
                "support.read",
                [Action::Read],
                [Purpose::Service],
                [Level::L2, Level::L3],
                custodian::access::Effect::Allow,
            ),
            RoleRule::new(
                "support.id_masked",
                [Action::Read],
                [Purpose::Service],
                [Level::L1],
                custodian::access::Effect::Mask,
            ),
            RoleRule::new("support.id_plain", [Action::Read], [Purpose::Service], [], custodian::access::Effect::Allow)
                .with_fields([Field::IdNumber])
                .requiring_mfa(),
        ],
    );
    let strict = RoleDefinition::new(
        "strict_reviewer",
        "sees L1 only with MFA, otherwise nothing",
        [RoleRule::new(
            "strict.all",
            [Action::Read],
            [Purpose::Compliance],
            [Level::L1, Level::L2, Level::L3],
            custodian::access::Effect::Allow,
        )],
    )
    .denying_l1_without_mfa();
    let fresh = fresh_login_role();
    let defs = [support.clone(), strict.clone(), fresh.clone()];
    let role = |name: &str| Role::Custom(name.into());
    let masked = m("support.id_masked");

    assert_eq!(decide(&[role("support_lead")], &defs, &Purpose::Service, false, false), [masked, A, A, A]);
    assert_eq!(decide(&[role("support_lead")], &defs, &Purpose::Service, false, true), [A, A, A, A]);
    assert_eq!(decide(&[role("support_lead")], &defs, &Purpose::Analytics, true, true), [PURPOSE; 4]);
    assert_eq!(
        decide(&[role("strict_reviewer")], &defs, &Purpose::Compliance, false, false),
        [d(rules::L1_REQUIRES_MFA), A, A, A]
    );
    assert_eq!(decide(&[role("strict_reviewer")], &defs, &Purpose::Compliance, false, true), [A, A, A, A]);
    // No `authenticated_at` in the context: the rule does not apply.
    assert_eq!(decide(&[role("fresh_login")], &defs, &Purpose::Service, false, false), [d(rules::CONTEXT_MISSING); 4]);
    // A role nobody defined grants nothing.
    assert_eq!(decide(&[role("ghost")], &defs, &Purpose::Service, false, true), [d(rules::ROLE_UNDEFINED); 4]);
    // Two roles: the most permissive outcome per field.
    assert_eq!(
        decide(&[Role::CustomerService, role("support_lead")], &defs, &Purpose::Service, false, true),
        [A, A, A, A]
    );
    // No role at all: default deny.
    assert_eq!(decide(&[], &defs, &Purpose::Service, false, true), [d(rules::DEFAULT_DENY); 4]);
}

/// A role whose one rule needs an authentication at most 300 s old.
fn fresh_login_role() -> RoleDefinition {
    let rule =
        RoleRule::new("fresh.read", [Action::Read], [Purpose::Service], [Level::L3], custodian::access::Effect::Allow);
    RoleDefinition::new("fresh_login", "needs a recent authentication", [rule.with_max_auth_age(300)])
}

#[test]
fn context_age_is_checked_against_the_request_time() {
    let fresh = fresh_login_role();
    let roles = [Role::Custom("fresh_login".into())];
    let catalogue = Catalogue::default();
    let at = |auth: AuthContext, now: i64| {
        let request = Request {
            principal: "p",
            roles: &roles,
            definitions: std::slice::from_ref(&fresh),
            purpose: &Purpose::Service,
            auth: &auth,
            action: Action::Read,
            now,
        };
        Policy.decide(&request, &catalogue, &Field::Category, false)
    };
    let logged_in = AuthContext { mfa: false, authenticated_at: Some(1_000_000) };
    assert_eq!(at(logged_in, 1_000_000 + 299_000), A);
    assert_eq!(at(logged_in, 1_000_000 + 301_000), d(rules::AUTH_TOO_OLD));
    assert_eq!(at(AuthContext::single_factor(), 1_000_000), d(rules::CONTEXT_MISSING));
}

// ---- Properties ----

fn purposes() -> Vec<Purpose> {
    vec![
        Purpose::Service,
        Purpose::Marketing,
        Purpose::Analytics,
        Purpose::Maintenance,
        Purpose::Compliance,
        Purpose::Custom("research".into()),
    ]
}

const ACTIONS: [Action; 6] =
    [Action::Read, Action::Create, Action::Update, Action::Delete, Action::Export, Action::Erase];
const LEVELS: [Level; 3] = [Level::L1, Level::L2, Level::L3];
const SOME_FIELDS: [Field; 6] =
    [Field::IdNumber, Field::BirthDate, Field::Name, Field::Mobile, Field::Notes, Field::Tier];

fn subset<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> impl Strategy<Value = Vec<T>> {
    let n = items.len();
    proptest::collection::vec(any::<bool>(), n)
        .prop_map(move |mask| items.iter().zip(mask).filter(|(_, keep)| *keep).map(|(i, _)| i.clone()).collect())
}

fn rule_strategy(index: usize) -> impl Strategy<Value = RoleRule> {
    (
        subset(ACTIONS.to_vec()),
        subset(purposes()),
        subset(LEVELS.to_vec()),
        subset(SOME_FIELDS.to_vec()),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u64..600),
    )
        .prop_map(move |(actions, purposes, levels, fields, allow, mfa, age)| {
            let effect = if allow { custodian::access::Effect::Allow } else { custodian::access::Effect::Mask };
            let mut rule = RoleRule::new(&format!("r{index}"), actions, purposes, levels, effect).with_fields(fields);
            rule.requires_mfa = mfa;
            rule.max_auth_age_secs = age;
            rule
        })
}

fn role_strategy(name: &'static str) -> impl Strategy<Value = RoleDefinition> {
    (proptest::collection::vec((0usize..1000).prop_flat_map(rule_strategy), 0..4), any::<bool>()).prop_map(
        move |(rules, deny_l1)| {
            let mut def = RoleDefinition::new(name, "generated", rules);
            for (i, rule) in def.rules.iter_mut().enumerate() {
                rule.id = format!("{name}.r{i}");
            }
            if deny_l1 { def.denying_l1_without_mfa() } else { def }
        },
    )
}

#[derive(Debug, Clone)]
struct Case {
    definitions: Vec<RoleDefinition>,
    builtins: Vec<Role>,
    action: Action,
    purpose: Purpose,
    mfa: bool,
    authenticated_at: Option<i64>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        role_strategy("gen_a"),
        role_strategy("gen_b"),
        subset(custodian::access::BUILTIN_ROLES.to_vec()),
        proptest::sample::select(ACTIONS.to_vec()),
        proptest::sample::select(purposes()),
        any::<bool>(),
        proptest::option::of(0i64..1_000_000),
    )
        .prop_map(|(a, b, builtins, action, purpose, mfa, authenticated_at)| Case {
            definitions: vec![a, b],
            builtins,
            action,
            purpose,
            mfa,
            authenticated_at,
        })
}

const NOW: i64 = 1_000_000;

fn plan_for(case: &Case, roles: &[Role]) -> Vec<Decision> {
    let auth = AuthContext { mfa: case.mfa, authenticated_at: case.authenticated_at };
    let request = Request {
        principal: "p",
        roles,
        definitions: &case.definitions,
        purpose: &case.purpose,
        auth: &auth,
        action: case.action,
        now: NOW,
    };
    let catalogue = Catalogue::default();
    let fields: Vec<Field> = catalogue.fields().collect();
    match Policy.plan(&request, &catalogue) {
        Ok(plan) => fields.iter().map(|f| plan.decision(f)).collect(),
        Err(_) => fields.iter().map(|_| Decision::Deny(rules::DEFAULT_DENY)).collect(),
    }
}

/// Whether some rule of a defined role covers (`field`, at `level`) for this
/// request with its context met, and with which effects.
fn rule_allows(def: &RoleDefinition, case: &Case, field: &Field, level: Level, plaintext: bool) -> bool {
    def.rules.iter().any(|r| {
        let context = (!r.requires_mfa || case.mfa)
            && r.max_auth_age_secs.is_none_or(|max| {
                case.authenticated_at.is_some_and(|at| NOW - at >= 0 && ((NOW - at) as u64) <= max * 1000)
            });
        let reaches = r.levels.contains(&level) || r.fields.contains(field);
        let effect_ok =
            !plaintext || (r.effect == custodian::access::Effect::Allow && (level != Level::L1 || case.mfa));
        r.actions.contains(&case.action) && r.purposes.contains(&case.purpose) && context && reaches && effect_ok
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Default deny: with only defined roles, a field is shown (plain or
    /// masked) only if some rule reaches it for this action, purpose and
    /// context; and in plaintext only if such a rule allows it (and, for L1,
    /// the session has MFA).
    #[test]
    fn nothing_is_allowed_unless_a_rule_allows_it(case in case_strategy()) {
        let roles: Vec<Role> = case.definitions.iter().map(|d| Role::Custom(d.name.clone())).collect();
        let catalogue = Catalogue::default();
        let decisions = plan_for(&case, &roles);
        for (field, decision) in catalogue.fields().zip(decisions) {
            let level = catalogue.level(&field);
            match decision {
                Decision::Deny(_) => {}
                Decision::Mask(_) => prop_assert!(
                    case.definitions.iter().any(|d| rule_allows(d, &case, &field, level, false)),
                    "{field} masked without a rule"
                ),
                Decision::Allow => prop_assert!(
                    case.definitions.iter().any(|d| rule_allows(d, &case, &field, level, true)),
                    "{field} allowed without an allowing rule"
                ),
            }
        }
    }

    /// Removing any one grant (built-in or defined) never turns a Deny into
    /// an Allow or a Mask, nor a Mask into an Allow.
    #[test]
    fn removing_a_grant_never_widens_access(case in case_strategy()) {
        let mut roles: Vec<Role> = case.definitions.iter().map(|d| Role::Custom(d.name.clone())).collect();
        roles.extend(case.builtins.iter().cloned());
        let rank = |d: &Decision| match d { Decision::Deny(_) => 0, Decision::Mask(_) => 1, Decision::Allow => 2 };
        let with = plan_for(&case, &roles);
        for removed in 0..roles.len() {
            let mut fewer = roles.clone();
            fewer.remove(removed);
            let without = plan_for(&case, &fewer);
            for (before, after) in with.iter().zip(&without) {
                prop_assert!(rank(after) <= rank(before), "removing {} widened {before:?} to {after:?}", roles[removed]);
            }
        }
    }
}
