//! The PostgreSQL test databases (feature `postgres`): their URLs come from
//! `CUSTODIAN_TEST_DATABASE_URL` and `CUSTODIAN_TEST_KEY_STORE_URL`
//! (`.ci/postgres.sh` starts a throwaway server and prints them). Every test
//! store gets a schema of its own in both databases, dropped with it, so
//! tests in parallel threads and processes never see each other's rows.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use custodian::{PostgresBackend, PostgresOptions};

/// The two test databases' URLs, or `None` (after saying so) when they are
/// not configured. Under CI nothing may be skipped: then it panics.
pub fn urls() -> Option<(String, String)> {
    let data = std::env::var("CUSTODIAN_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty());
    let keys = std::env::var("CUSTODIAN_TEST_KEY_STORE_URL").ok().filter(|v| !v.is_empty());
    if let (Some(data), Some(keys)) = (data, keys) {
        return Some((data, keys));
    }
    let message = "the postgres feature is on but CUSTODIAN_TEST_DATABASE_URL and CUSTODIAN_TEST_KEY_STORE_URL are \
                   not both set: nothing is tested on PostgreSQL (start a server with .ci/postgres.sh)";
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{message}");
    eprintln!("skipped: {message}");
    None
}

/// A schema in both test databases, dropped with this value.
pub struct Schema {
    /// The schema's name.
    pub name: String,
    /// The customer database's URL.
    pub data: String,
    /// The key store's URL.
    pub keys: String,
    /// Whether dropping this value drops the schema (a worker process
    /// borrowing its parent's schema leaves it).
    owned: bool,
}

impl Schema {
    /// A schema name no other test (thread or process) uses, starting with
    /// `prefix`; `None` if no test databases are configured.
    pub fn fresh(prefix: &str) -> Option<Schema> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (data, keys) = urls()?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Some(Schema { name, data, keys, owned: true })
    }

    /// Another process's schema, by name: used, not dropped.
    pub fn borrowed(name: &str) -> Schema {
        let (data, keys) = urls().expect("the parent had the test databases");
        Schema { name: name.to_owned(), data, keys, owned: false }
    }

    /// A backend on this schema (created by its `prepare(true)`).
    pub fn backend(&self) -> PostgresBackend {
        self.backend_with(PostgresOptions::new(&self.data, &self.keys))
    }

    /// A backend on this schema with other options.
    pub fn backend_with(&self, options: PostgresOptions) -> PostgresBackend {
        PostgresBackend::new(options.schema(&self.name)).unwrap()
    }

    /// The names of the tables this schema has in the database at `url`.
    pub fn tables(&self, url: &str) -> Vec<String> {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                &[&self.name],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for url in [&self.data, &self.keys] {
            // Best effort: a schema left behind only costs space.
            if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
            }
        }
    }
}
