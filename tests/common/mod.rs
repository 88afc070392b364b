//! Helpers shared by the integration tests.
#![allow(dead_code)]

use custodian::{
    AuthContext, CreateOptions, CustomerInput, Field, KeySource, NewPrincipal, Purpose, Role, Session, Store,
};

#[cfg(feature = "postgres")]
pub mod postgres;

/// A fixed 32-byte test master key.
pub const KEY: [u8; 32] = [7u8; 32];

/// The test key as a key source.
pub fn key() -> KeySource {
    KeySource::key_bytes(&KEY).expect("32 bytes")
}

/// The principals every test store is provisioned with, and their roles
/// (`nobody` holds none).
pub const STANDARD_PRINCIPALS: [(&str, Option<Role>); 6] = [
    ("clerk", Some(Role::CustomerService)),
    ("marketer", Some(Role::Marketing)),
    ("auditor", Some(Role::Auditor)),
    ("technician", Some(Role::Technician)),
    ("analyst", Some(Role::Analyst)),
    ("nobody", None),
];

/// Audit entries that [`provision`] writes: the bootstrap, the
/// administrator's session, and a registration and a grant per principal.
pub const SETUP_ENTRIES: u64 = 2 + 2 * 5 + 1;

/// Registers the administrator `admin` and the [`STANDARD_PRINCIPALS`].
pub fn provision(store: &Store) {
    store.bootstrap_administrator(&NewPrincipal::staff("admin", "Test administrator")).expect("bootstrap");
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(0)).expect("session");
    for (id, role) in STANDARD_PRINCIPALS {
        admin.register_principal(&NewPrincipal::staff(id, id)).expect("register");
        if let Some(role) = role {
            admin.grant_role(id, role, None).expect("grant");
        }
    }
}

/// Registers principal `id` holding `role` (on top of the standard ones),
/// and returns its id.
pub fn principal<'a>(store: &Store, id: &'a str, role: Role) -> &'a str {
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(0)).expect("session");
    admin.register_principal(&NewPrincipal::staff(id, id)).expect("register");
    admin.grant_role(id, role, None).expect("grant");
    id
}

/// An administrator session for the service purpose, authenticated with a
/// second factor (so it sees L1 values in plaintext).
pub fn admin(store: &Store) -> Session {
    store.authenticated_session("admin", Purpose::Service, AuthContext::with_mfa(0)).expect("session")
}

/// A customer-service session.
pub fn service(store: &Store) -> Session {
    store.session("clerk", Purpose::Service).expect("session")
}

/// An auditor session (compliance purpose).
pub fn auditor(store: &Store) -> Session {
    store.session("auditor", Purpose::Compliance).expect("session")
}

/// A marketing session for contact by SMS (it sees only customers who
/// consent to that; see [`consent_to_sms`]).
pub fn marketing(store: &Store) -> Session {
    store
        .marketing_session("marketer", custodian::consent::Channel::Sms, AuthContext::single_factor())
        .expect("session")
}

/// Records customer `id`'s consent to marketing by SMS (through customer service).
pub fn consent_to_sms(store: &Store, id: custodian::CustomerId) {
    let change = custodian::consent::ConsentChange {
        purpose: Purpose::Marketing,
        channel: custodian::consent::Channel::Sms,
        granted: true,
        source: "counter".into(),
        policy_version: "v1".into(),
    };
    service(store).record_consent(id, &change).expect("consent");
}

/// A fresh in-memory store, provisioned with the standard principals.
pub fn memory_store() -> Store {
    let store = Store::in_memory(key(), CreateOptions::new()).expect("in-memory store");
    provision(&store);
    store
}

/// A valid GB 11643 ID number for a region, birth date (YYYYMMDD) and sequence.
pub fn id_number(region: &str, birth: &str, seq: u32) -> String {
    let first17 = format!("{region}{birth}{seq:03}");
    let check = custodian::model::id_check_character(first17.as_bytes()) as char;
    format!("{first17}{check}")
}

/// A complete individual customer; `i` makes mobile, e-mail and code unique.
pub fn sample(i: u32) -> CustomerInput {
    CustomerInput::individual()
        .set(Field::ExternalCode, format!("KH{i:05}"))
        .set(Field::Name, "王五")
        .set(Field::Organisation, "星辰科技有限公司")
        .set(Field::Category, "零售")
        .set(Field::Title, "经理")
        .set(Field::Mobile, format!("139{i:08}"))
        .set(Field::Email, format!("user{i}@example.com"))
        .set(Field::Notes, format!("第{i}位客户，需要发票"))
        .set(Field::Address, "上海市黄浦区南京东路1号")
        .set(Field::Gender, "男")
        .set(Field::BirthDate, "1990-03-07")
        .set(Field::IdNumber, id_number("310101", "19900307", i % 1000))
        .set(Field::Source, "web")
        .set(Field::Tier, "A")
        .set(Field::Tags, "vip,老客户")
}

/// What keeps a test store's files or schema alive while the caller holds it.
pub type StoreGuard = Option<Box<dyn std::any::Any>>;

/// A store on each backend, provisioned with the standard principals: in
/// memory, SQLite in a temporary directory, and (feature `postgres`, with
/// the test databases configured) PostgreSQL in a schema of its own; the
/// guard keeps the directory or schema until it is dropped.
pub fn stores() -> Vec<(&'static str, Store, StoreGuard)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::create_at(dir.path().join("store"), key(), CreateOptions::new()).expect("sqlite store");
    provision(&sqlite);
    #[allow(unused_mut)]
    let mut out: Vec<(&'static str, Store, StoreGuard)> =
        vec![("memory", memory_store(), None), ("sqlite", sqlite, Some(Box::new(dir)))];
    #[cfg(feature = "postgres")]
    if let Some(schema) = postgres::Schema::fresh("suite") {
        let store = Store::create(schema.backend(), key(), CreateOptions::new()).expect("postgres store");
        provision(&store);
        out.push(("postgres", store, Some(Box::new(schema))));
    }
    out
}

/// Whether `needle` occurs in `haystack` (the canary tests grep files with it).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Records that customer `id` withdrew consent to SMS marketing.
pub fn withdraw_sms(store: &Store, id: custodian::CustomerId) {
    let change = custodian::consent::ConsentChange {
        purpose: Purpose::Marketing,
        channel: custodian::consent::Channel::Sms,
        granted: false,
        source: "call".into(),
        policy_version: "v1".into(),
    };
    service(store).record_consent(id, &change).unwrap();
}

/// A provisioned SQLite store in `path` that checkpoints every 5 entries
/// into the returned list (the host's outside record).
pub fn checkpointed_store(
    path: &std::path::Path,
) -> (Store, std::sync::Arc<std::sync::Mutex<Vec<custodian::Checkpoint>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let store = Store::create_at(path, key(), CreateOptions::new())
        .unwrap()
        .with_checkpoints(
            5,
            Some(std::sync::Arc::new(move |cp: &custodian::Checkpoint| sink.lock().unwrap().push(cp.clone()))),
        )
        .unwrap();
    provision(&store);
    (store, seen)
}
