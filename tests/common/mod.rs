//! Helpers shared by the integration tests.
#![allow(dead_code)]

use custodian::{
    AuthContext, CreateOptions, CustomerInput, Field, KeySource, Principal, Purpose, Role, Session, Store,
};

/// A fixed 32-byte test master key.
pub const KEY: [u8; 32] = [7u8; 32];

/// The test key as a key source.
pub fn key() -> KeySource {
    KeySource::key_bytes(&KEY).expect("32 bytes")
}

/// A principal holding one role.
pub fn principal(id: &str, role: Role) -> Principal {
    Principal::new(id, [role]).expect("valid principal")
}

/// An administrator session for the service purpose, authenticated with a
/// second factor (so it sees L1 values in plaintext).
pub fn admin(store: &Store) -> Session {
    store
        .authenticated_session(&principal("admin", Role::Administrator), Purpose::Service, AuthContext::with_mfa(0))
        .expect("session")
}

/// A customer-service session.
pub fn service(store: &Store) -> Session {
    store.session(&principal("clerk", Role::CustomerService), Purpose::Service).expect("session")
}

/// A marketing session for contact by SMS (it sees only customers who
/// consent to that; see [`consent_to_sms`]).
pub fn marketing(store: &Store) -> Session {
    store
        .marketing_session(
            &principal("marketer", Role::Marketing),
            custodian::consent::Channel::Sms,
            AuthContext::single_factor(),
        )
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

/// A fresh in-memory store.
pub fn memory_store() -> Store {
    Store::in_memory(key(), CreateOptions::default()).expect("in-memory store")
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

/// A store on each backend: in memory, and SQLite in a temporary directory
/// (kept alive by the returned guard).
pub fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::create_at(dir.path().join("store"), key(), CreateOptions::default()).expect("sqlite store");
    vec![("memory", memory_store(), None), ("sqlite", sqlite, Some(dir))]
}
