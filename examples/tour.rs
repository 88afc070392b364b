//! A guided tour of custodian on a demo store of ~1000 fictitious Chinese
//! customers in `./custodian-demo/`.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! The first run creates the store (SQLite, `customers.db` + `keys.db`) and
//! fills it from the deterministic generator in `support/generate.rs`; later
//! runs reopen and reuse it. Delete `./custodian-demo` to start over. The
//! master key comes from the passphrase in `CUSTODIAN_DEMO_PASSPHRASE`, or a
//! fixed demo passphrase.
//!
//! On a PostgreSQL server: build with `--features postgres` and set
//! `CUSTODIAN_DATABASE_URL` and `CUSTODIAN_KEY_STORE_URL` to two databases;
//! the store then lives in their schema `custodian_tour` (drop it to start
//! over), `./custodian-demo` keeps only the audit checkpoint, and the backup
//! and restore steps are skipped (not built for PostgreSQL yet).
//!
//! Sections: pinyin-sorted listing, lookup by mobile, the masked
//! customer-service view, the marketing view with consent given and
//! withdrawn, denied requests, a lost update refused by its stale version,
//! keyword search, validation errors, a customer's orders and a complaint
//! with its deadline (customer service sees the order, not the card), a GBK
//! spreadsheet imported with its bad rows reported and a masked CSV
//! exported for customer service, the audit log, access governance
//! (a technician with and without MFA, login lockout, a defined role,
//! revocation in an open session, the access review), and the data
//! lifecycle (an export, an erasure under and after a legal hold with its
//! destruction record, a sealed full backup and an increment over it,
//! verified as a chain, and the full backup restored into a copy of the live
//! store that keeps the erasure, a consent withdrawal and a revocation made
//! after the backup, a retention sweep on a simulated clock), and data
//! quality (a duplicate flagged at entry and in the store-wide report, then
//! merged into its survivor with its order and consent), and an
//! organisation customer (its unified social credit code, registered
//! address, landline and contact person; found by its code, a wrong check
//! character refused). On a reopened
//! store the audit chain is verified first (against
//! the checkpoint the previous run kept in `audit-checkpoint.txt`); a broken
//! chain is reported with its first bad entry and the tour exits non-zero.

#[path = "support/generate.rs"]
mod generate;

use std::path::Path;
use std::time::Instant;

use std::sync::Arc;

use custodian::access::Effect;
use custodian::audit::{AuditQuery, Outcome};
use custodian::consent::{Channel, ConsentChange};
use custodian::retention::{DestructionMethod, RetentionPolicy, RetentionRule};
use custodian::{
    Action, AuthContext, Checkpoint, CreateOptions, CustomerId, CustomerInput, CustomerPatch, CustomerView, DueQuery,
    DuplicateCheck, Error, Field, Filter, KeySource, Level, ListQuery, MergeOptions, MergeSide, NewPrincipal,
    PaymentMethod, Purpose, Role, RoleDefinition, RoleRule, SearchQuery, ServiceChannel, ServiceInput, ServiceKind,
    ServiceStatus, Session, Shown, Store, TimelineQuery, TransactionInput,
};

/// Where the demo store lives, relative to the current directory.
const DEMO_DIR: &str = "custodian-demo";
/// Environment variable that overrides the demo passphrase.
const PASSPHRASE_VAR: &str = "CUSTODIAN_DEMO_PASSPHRASE";
/// The fixed demo passphrase. For demonstration only.
const DEMO_PASSPHRASE: &str = "correct horse battery staple";
/// PBKDF2 iterations for the demo store: low enough to open quickly.
const KDF_ITERATIONS: u32 = 100_000;
/// How many customers the demo store is filled with.
const DEMO_CUSTOMERS: usize = 1000;
/// File in the demo directory where the latest audit checkpoint is kept. A
/// real deployment keeps it somewhere the database's owner cannot rewrite.
const CHECKPOINT_FILE: &str = "audit-checkpoint.txt";
/// Audit entries between two checkpoints in the demo.
const CHECKPOINT_EVERY: u64 = 100;
/// Seed of the generator: the same seed always yields the same customers.
const SEED: u64 = 20_240_601;
/// With these two set (connection strings of two databases), the tour runs
/// on PostgreSQL (build it with `--features postgres`).
const DATABASE_URL_VAR: &str = "CUSTODIAN_DATABASE_URL";
const KEY_STORE_URL_VAR: &str = "CUSTODIAN_KEY_STORE_URL";
/// The schema the tour's store lives in on PostgreSQL.
#[cfg(feature = "postgres")]
const TOUR_SCHEMA: &str = "custodian_tour";

/// Why the tour stopped: a message for the console.
struct Failure(String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let hint = match &e {
            Error::WrongKey => format!(
                "\n  hint: ./{DEMO_DIR} was created with another passphrase; set {PASSPHRASE_VAR} to it, or delete the directory"
            ),
            Error::NotAStore(_) | Error::Corrupt { .. } | Error::ExternalCodeNotFound(_) => {
                format!("\n  hint: ./{DEMO_DIR} looks incomplete; delete it and run the tour again to recreate it")
            }
            _ => String::new(),
        };
        Failure(format!("{e} (custodian error code {}){hint}", e.code()))
    }
}

/// What the tour's steps return.
type TourResult<T = ()> = Result<T, Failure>;

fn main() {
    let started = Instant::now();
    if let Err(Failure(message)) = run() {
        eprintln!("\nThe tour failed: {message}");
        std::process::exit(1);
    }
    println!("\nTour finished in {:.2?}.", started.elapsed());
}

fn run() -> TourResult {
    println!("custodian tour: a customer-information vault on ./{DEMO_DIR}");
    let passphrase = match std::env::var(PASSPHRASE_VAR) {
        Ok(p) if !p.is_empty() => {
            println!("Master key: passphrase from {PASSPHRASE_VAR} (PBKDF2-HMAC-SHA256, {KDF_ITERATIONS} iterations).");
            p
        }
        _ => {
            println!(
                "WARNING: using the built-in demo passphrase \"{DEMO_PASSPHRASE}\"; it is for demonstration only, never for real data."
            );
            DEMO_PASSPHRASE.to_owned()
        }
    };

    heading("The store");
    let server = server_urls()?;
    // The demo directory holds the kept checkpoint (and, on files, the store).
    std::fs::create_dir_all(DEMO_DIR).map_err(|e| Failure(format!("cannot create ./{DEMO_DIR}: {e}")))?;
    let store = match &server {
        None => open_or_create(&passphrase)?,
        Some((data, keys)) => open_or_create_on_server(&passphrase, data, keys)?,
    };

    staff(&store)?;
    let admin = "admin";
    let clerk = store.session("clerk-07", Purpose::Service)?;
    let marketer = store.marketing_session("marketing-02", Channel::Sms, AuthContext::single_factor())?;

    listing(&clerk)?;
    lookup_by_mobile(&clerk)?;
    let id_holder = masked_service_view(&clerk)?;
    marketing_view(&clerk, &marketer, &id_holder)?;
    denials(&store, &clerk, &id_holder)?;
    stale_version(&store, admin)?;
    keyword_search(&clerk, &marketer)?;
    validation_errors(&store, &clerk)?;
    audit_log(&store, &clerk, &id_holder)?;
    access_governance(&store, &id_holder)?;
    data_lifecycle(&store, server.is_none())?;
    orders_and_service(&store, &clerk)?;
    csv_in_and_out(&store, &clerk)?;
    duplicates_and_merge(&store, &clerk)?;
    organisations(&clerk)?;
    statistics(&store)?;
    sharing(&store, &clerk)?;
    Ok(())
}

/// The demo's staff and their roles.
const STAFF: [(&str, &str, Role); 6] = [
    ("clerk-07", "客服 李娜", Role::CustomerService),
    ("clerk-a", "客服 王强", Role::CustomerService),
    ("clerk-b", "客服 赵敏", Role::CustomerService),
    ("marketing-02", "市场部 陈晨", Role::Marketing),
    ("auditor-01", "审计 周洁", Role::Auditor),
    ("tech-03", "运维 孙浩", Role::Technician),
];

/// Registers the demo's administrator and staff, if they are not yet.
fn staff(store: &Store) -> TourResult {
    match store.bootstrap_administrator(&NewPrincipal::staff("admin", "系统管理员")) {
        Ok(_) => println!("Bootstrapped the first administrator, 'admin'."),
        Err(Error::Denied { .. }) => return Ok(()), // already provisioned
        Err(e) => return Err(e.into()),
    }
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(now_ms()))?;
    for (id, name, role) in STAFF {
        admin.register_principal(&NewPrincipal::staff(id, name))?;
        admin.grant_role(id, role, None)?;
    }
    println!("Registered {} staff principals with their roles.", STAFF.len());
    Ok(())
}

/// Now, Unix ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Opens `./custodian-demo`, or creates and fills it if it does not exist.
fn open_or_create(passphrase: &str) -> TourResult<Store> {
    let dir = Path::new(DEMO_DIR);
    if dir.join(custodian::storage::DATA_FILE).exists() {
        let t = Instant::now();
        let store = Store::open_at(dir, KeySource::passphrase(passphrase)?)?;
        let opened = t.elapsed();
        verify_before_anything_else(&store)?;
        let store = keep_checkpoints(store)?;
        let counts = store.counts()?;
        println!(
            "Reopened the existing store in ./{DEMO_DIR} in {opened:.0?} (key derivation included): {} customers, {} data keys.",
            counts.customers, counts.data_keys
        );
        if counts.customers < DEMO_CUSTOMERS as u64 {
            println!("Note: fewer than the {DEMO_CUSTOMERS} generated customers; delete ./{DEMO_DIR} to regenerate.");
        } else {
            println!("Not regenerating; delete ./{DEMO_DIR} to start over.");
        }
        return Ok(store);
    }

    let t = Instant::now();
    let options = CreateOptions::new().kdf_iterations(KDF_ITERATIONS);
    let store = keep_checkpoints(Store::create_at(dir, KeySource::passphrase(passphrase)?, options)?)?;
    println!("Created a new store in ./{DEMO_DIR} (customers.db + keys.db) in {:.0?}.", t.elapsed());
    fill(store)
}

/// The PostgreSQL databases named by the environment, if both are.
fn server_urls() -> TourResult<Option<(String, String)>> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var(DATABASE_URL_VAR), var(KEY_STORE_URL_VAR)) {
        (None, None) => Ok(None),
        (Some(data), Some(keys)) => Ok(Some((data, keys))),
        _ => Err(Failure(format!("set both {DATABASE_URL_VAR} and {KEY_STORE_URL_VAR}, or neither"))),
    }
}

/// Opens the tour's store in schema `custodian_tour` of the two PostgreSQL
/// databases, or creates and fills it there.
#[cfg(feature = "postgres")]
fn open_or_create_on_server(passphrase: &str, data: &str, keys: &str) -> TourResult<Store> {
    let backend = || custodian::PostgresBackend::new(custodian::PostgresOptions::new(data, keys).schema(TOUR_SCHEMA));
    let t = Instant::now();
    match Store::open(backend()?, KeySource::passphrase(passphrase)?) {
        Ok(store) => {
            println!("Reopened the store in schema {TOUR_SCHEMA} on PostgreSQL in {:.0?}.", t.elapsed());
            verify_before_anything_else(&store)?;
            let store = keep_checkpoints(store)?;
            let counts = store.counts()?;
            println!("{} customers, {} data keys; not regenerating.", counts.customers, counts.data_keys);
            Ok(store)
        }
        Err(Error::NotAStore(_)) => {
            let options = CreateOptions::new().kdf_iterations(KDF_ITERATIONS);
            let store = keep_checkpoints(Store::create(backend()?, KeySource::passphrase(passphrase)?, options)?)?;
            println!(
                "Created a new store in schema {TOUR_SCHEMA} on PostgreSQL (customer data and keys in two databases) in {:.0?}.",
                t.elapsed()
            );
            fill(store)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(feature = "postgres"))]
fn open_or_create_on_server(_: &str, _: &str, _: &str) -> TourResult<Store> {
    Err(Failure(format!(
        "{DATABASE_URL_VAR} is set, but this tour was built without the PostgreSQL backend: \
         cargo run --release --features postgres --example tour"
    )))
}

/// Registers the staff and generates the demo's customers into a new store.
fn fill(store: Store) -> TourResult<Store> {
    staff(&store)?;
    let admin = store.session("admin", Purpose::Service)?;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let t = Instant::now();
    admin.create_many(generate::customers(&mut rng, DEMO_CUSTOMERS))?;
    let took = t.elapsed();
    let counts = store.counts()?;
    println!(
        "Generated {DEMO_CUSTOMERS} customers (seed {SEED}) and created them as 'admin' in {took:.2?} ({:.0} per second).",
        DEMO_CUSTOMERS as f64 / took.as_secs_f64()
    );
    println!("store.counts(): {} customers, {} data keys (one per customer).", counts.customers, counts.data_keys);
    Ok(store)
}

/// Verifies the audit chain of a reopened store, against the checkpoint the
/// last run kept if there is one. A broken chain stops the tour.
fn verify_before_anything_else(store: &Store) -> TourResult {
    let path = Path::new(DEMO_DIR).join(CHECKPOINT_FILE);
    let trusted = match std::fs::read_to_string(&path) {
        Ok(text) => Some(Checkpoint::parse(&text)?),
        Err(_) => None,
    };
    let t = Instant::now();
    let report = store.verify_audit(trusted.as_ref())?;
    if let Some(problem) = &report.problem {
        return Err(Failure(format!("the audit log of ./{DEMO_DIR} does not verify: {problem}")));
    }
    let against = match &trusted {
        Some(cp) => format!(", consistent with the checkpoint of {} entries kept in {CHECKPOINT_FILE}", cp.size),
        None => String::new(),
    };
    println!(
        "Audit chain verified before anything else: {} entries and {} stored checkpoints intact in {:.0?}{against}.",
        report.entries,
        report.checkpoints,
        t.elapsed()
    );
    Ok(())
}

/// Checkpoints every CHECKPOINT_EVERY entries, the latest kept in a file beside the database.
fn keep_checkpoints(store: Store) -> TourResult<Store> {
    let path = Path::new(DEMO_DIR).join(CHECKPOINT_FILE);
    let sink = Arc::new(move |cp: &Checkpoint| {
        if let Err(e) = std::fs::write(&path, cp.to_text()) {
            eprintln!("warning: could not keep the audit checkpoint in {}: {e}", path.display());
        }
    });
    Ok(store.with_checkpoints(CHECKPOINT_EVERY, Some(sink))?)
}

/// i. The audit log: recent entries, "who saw this customer", denials, a
/// lookup found by its hashed value, and a checkpoint.
fn audit_log(store: &Store, clerk: &Session, customer: &CustomerView) -> TourResult {
    heading("i. The audit log");
    let auditor = store.session("auditor-01", Purpose::Compliance)?;
    let everything = auditor.audit_entries(&AuditQuery::new().limit(10_000))?;
    let latest_seq = everything.last().map_or(0, |e| e.seq);
    println!(
        "The log holds {latest_seq} entries; the latest 6 (values never appear, only ids, field names and rules):"
    );
    for e in everything.iter().rev().take(6).rev() {
        print_entry(e);
    }

    let report = auditor.customer_access_report(customer.id)?;
    println!("\nWho saw customer {} ({} calls returned or changed its data); the latest 5:", customer.id, report.len());
    for e in report.iter().rev().take(5).rev() {
        print_entry(e);
    }

    let denials = auditor.audit_entries(&AuditQuery::new().outcome(Outcome::Denied).limit(10_000))?;
    println!("\nDenials in the log: {}; the latest 3:", denials.len());
    for e in denials.iter().rev().take(3).rev() {
        print_entry(e);
    }

    let mobile = customer.text(&Field::Mobile).to_owned();
    clerk.find_by_mobile(&mobile)?;
    let lookups = auditor.audit_entries(&AuditQuery::new().lookup(Field::Mobile, mobile.clone()).limit(10_000))?;
    println!(
        "\nclerk-07 looked up mobile {mobile}. Who looked it up? The log keeps only a keyed hash ({}...); searching by it finds {} lookup(s).",
        &auditor.audit_hash("mobile", &mobile)?[..16],
        lookups.len()
    );

    let checkpoint = store.audit_checkpoint()?;
    let report = store.verify_audit(Some(&checkpoint))?;
    println!(
        "\nSigned checkpoint (Ed25519) kept in ./{DEMO_DIR}/{CHECKPOINT_FILE}:\n{}Verification against it: {}.",
        indent(&checkpoint.to_text()),
        match &report.problem {
            None => format!("intact, {} entries", report.entries),
            Some(p) => p.to_string(),
        }
    );
    Ok(())
}

fn print_entry(e: &custodian::AuditEntry) {
    let customers: Vec<String> = e.customers.iter().take(4).map(|c| c.to_string()).collect();
    let more = if e.customers.len() > 4 { format!(" +{}", e.customers.len() - 4) } else { String::new() };
    let rule = e.rule.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
    println!(
        "  #{:<5} {} {:<13} {:<22} {:<8}{rule} customers [{}{more}]",
        e.seq,
        custodian::model::format_utc_millis(e.time),
        e.principal,
        e.action,
        e.outcome.name(),
        customers.join(", ")
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// a. Sorted, paged listing in pinyin order, and a filtered count.
fn listing(clerk: &Session) -> TourResult {
    heading("a. Listing sorted by name (pinyin order)");
    let page = clerk.list(&ListQuery::new().sort(Field::Name).limit(10))?;
    println!("clerk-07 (customer service) lists {} customers; the first 10, ascending:", page.total);
    print_rows(&page.items);
    let page = clerk.list(&ListQuery::new().sort(Field::Name).descending(true).limit(5))?;
    println!("The first 5, descending:");
    print_rows(&page.items);
    let filter = Filter::new().tier("a").source("referral");
    let page = clerk.list(&ListQuery::new().sort(Field::Name).limit(1).filter(filter))?;
    println!("Filter tier=a (normalised to A) and source=referral: {} customers.", page.total);
    Ok(())
}

/// b. Exact lookup by mobile through the blind index, in another format.
fn lookup_by_mobile(clerk: &Session) -> TourResult {
    heading("b. Lookup by mobile number");
    let code = generate::external_code(42);
    let known = clerk.get_by_external_code(&code)?;
    let mobile = known.text(&Field::Mobile).to_owned();
    let typed = if mobile.len() == 11 {
        format!("+86 {}-{}-{}", &mobile[..3], &mobile[3..7], &mobile[7..])
    } else {
        mobile.clone()
    };
    let found = clerk.find_by_mobile(&typed)?;
    println!("{code} is stored with mobile {mobile}; find_by_mobile(\"{typed}\") finds {}:", found.len());
    print_rows(&found);
    if !found.iter().any(|v| v.id == known.id) {
        return Err(Failure(format!("the lookup did not find {code}")));
    }
    Ok(())
}

/// c. Customer service sees L2/L3 plain and L1 (ID number, birth date) masked.
/// Returns the customer shown (one with an ID number).
fn masked_service_view(clerk: &Session) -> TourResult<CustomerView> {
    heading("c. Customer service: L1 fields masked");
    let mut found = None;
    for number in 1..=DEMO_CUSTOMERS {
        let view = clerk.get_by_external_code(&generate::external_code(number))?;
        if view.get(&Field::IdNumber).is_some() {
            found = Some(view);
            break;
        }
    }
    let view = found.ok_or_else(|| Failure("no demo customer has an ID number".into()))?;
    println!("clerk-07 reads customer {} ({}), version {}:", view.id, view.text(&Field::ExternalCode), view.version);
    print_fields(&view);
    for field in [Field::Name, Field::Mobile] {
        if !matches!(view.get(&field), Some(Shown::Plain(_))) {
            return Err(Failure(format!("customer service should see '{field}' in plaintext")));
        }
    }
    for field in [Field::IdNumber, Field::BirthDate] {
        if !matches!(view.get(&field), Some(Shown::Masked(_))) {
            return Err(Failure(format!("customer service should see '{field}' masked")));
        }
    }
    Ok(view)
}

/// d. Marketing sees only consenting customers, and of them contact and
/// classification fields only; a withdrawal takes effect at once.
fn marketing_view(clerk: &Session, marketer: &Session, customer: &CustomerView) -> TourResult {
    heading("d. Marketing: consent first, then contact and classification fields only");
    let consent = |granted: bool| ConsentChange {
        purpose: Purpose::Marketing,
        channel: Channel::Sms,
        granted,
        source: "counter".into(),
        policy_version: "2026-01".into(),
    };
    clerk.record_consent(customer.id, &consent(false))?;
    expect_denied("marketing-02 (SMS) reads a customer without SMS marketing consent", marketer.get(customer.id))?;
    clerk.record_consent(customer.id, &consent(true))?;
    let visible = marketer.list(&ListQuery::new().limit(1))?.total;
    println!(
        "clerk-07 records the customer's SMS marketing consent (counter, policy 2026-01); marketing-02 now lists {visible} consenting customer(s)."
    );
    let view = marketer.get(customer.id)?;
    println!("marketing-02 (purpose marketing, SMS) reads the same customer {}:", view.id);
    print_fields(&view);
    let mut by_rule: Vec<(&str, Vec<String>)> = Vec::new();
    for w in view.withheld() {
        match by_rule.iter_mut().find(|(rule, _)| *rule == w.rule) {
            Some((_, fields)) => fields.push(w.field.name().into_owned()),
            None => by_rule.push((w.rule, vec![w.field.name().into_owned()])),
        }
    }
    for (rule, fields) in by_rule {
        println!("  withheld by {rule}: {}", fields.join(", "));
    }
    clerk.record_consent(customer.id, &consent(false))?;
    expect_denied("after the customer withdraws, marketing-02's very next read", marketer.get(customer.id))?;
    Ok(())
}

/// e. Requests the policy refuses.
fn denials(store: &Store, clerk: &Session, customer: &CustomerView) -> TourResult {
    heading("e. Denied requests");
    let auditor = store.session("auditor-01", Purpose::Compliance)?;
    expect_denied("auditor-01 get", auditor.get(customer.id))?;
    expect_denied("clerk-07 delete", clerk.delete(customer.id))?;
    let wrong_purpose = store.session("marketing-02", Purpose::Service)?;
    expect_denied("marketing-02 for purpose service: list", wrong_purpose.list(&ListQuery::new()))?;
    let still_there = clerk.get(customer.id)?;
    println!("Customer {} is still there (version {}).", still_there.id, still_there.version);
    Ok(())
}

/// f. Optimistic concurrency: an update based on a stale version is refused.
fn stale_version(store: &Store, admin: &str) -> TourResult {
    heading("f. A lost update refused");
    let clerk_a = store.session("clerk-a", Purpose::Service)?;
    let clerk_b = store.session("clerk-b", Purpose::Service)?;
    let code = generate::external_code(7);
    let seen_by_a = clerk_a.get_by_external_code(&code)?;
    let seen_by_b = clerk_b.get(seen_by_a.id)?;
    let v = seen_by_a.version;
    println!(
        "clerk-a and clerk-b both read {code} ({}) at version {v}: tier {}, title {}.",
        seen_by_a.text(&Field::Name),
        seen_by_a.text(&Field::Tier),
        seen_by_a.text(&Field::Title)
    );
    let new_tier = if seen_by_a.text(&Field::Tier) == "A" { "B" } else { "A" };
    let updated = clerk_a.update(seen_by_a.id, v, CustomerPatch::new().set(Field::Tier, new_tier))?;
    println!("clerk-a: update(version {v}, tier → {new_tier}) succeeded; now version {}.", updated.version);
    let stale = clerk_b.update(seen_by_b.id, seen_by_b.version, CustomerPatch::new().set(Field::Title, "总监"));
    match stale {
        Err(e @ Error::VersionConflict { .. }) => {
            println!("clerk-b: update(version {v}, title → 总监) refused:\n  {e}")
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err(Failure("an update with a stale version succeeded".into())),
    }
    let now = store.session(admin, Purpose::Service)?.get(seen_by_a.id)?;
    println!(
        "Read again: version {}, tier {}, title {} (clerk-b's change was not applied).",
        now.version,
        now.text(&Field::Tier),
        now.text(&Field::Title)
    );
    if now.version != updated.version || now.text(&Field::Title) != seen_by_a.text(&Field::Title) {
        return Err(Failure("the record changed after a refused update".into()));
    }
    Ok(())
}

/// g. Keyword search over the fields a session sees in plaintext.
fn keyword_search(clerk: &Session, marketer: &Session) -> TourResult {
    heading("g. Keyword search");
    let query = SearchQuery::new("发票").limit(5);
    let page = clerk.search(&query)?;
    println!("clerk-07 searches \"发票\" (invoice): {} customers match; the first {}:", page.total, page.items.len());
    for v in &page.items {
        println!(
            "  {}  {}  {}",
            pad(v.text(&Field::ExternalCode), 8),
            pad(v.text(&Field::Name), 8),
            v.text(&Field::Notes)
        );
    }
    let page = marketer.search(&query)?;
    println!("marketing-02 runs the same search: {} matches (notes are withheld from marketing).", page.total);
    Ok(())
}

/// h. Strict validation: every rejection names the field and the rule.
fn validation_errors(store: &Store, clerk: &Session) -> TourResult {
    heading("h. Validation errors");
    let before = store.counts()?.customers;
    let mut rng = fastrand::Rng::with_seed(SEED ^ 0xdead_beef);
    let valid_id = generate::id_number(&mut rng, "310101", (1990, 3, 7), true);
    let wrong_check = {
        let (first17, check) = valid_id.split_at(17);
        let other = if check == "0" { '1' } else { '0' };
        format!("{first17}{other}")
    };
    let attempts = [
        ("ID number with a wrong check digit", person("赵敏").set(Field::IdNumber, wrong_check)),
        ("malformed e-mail", person("张三").set(Field::Email, "zhang.san@@example")),
        (
            "birth date that contradicts the ID number",
            person("李四").set(Field::IdNumber, valid_id.clone()).set(Field::BirthDate, "1990-07-03"),
        ),
        ("digits in a name", person("王5")),
        ("an external code already in use", person("周七").set(Field::ExternalCode, generate::external_code(1))),
    ];
    for (what, input) in attempts {
        match clerk.create(input) {
            Err(Error::Invalid { field, rule, message }) => {
                println!("  {what}: field '{field}', rule {rule}: {message}")
            }
            Err(e @ Error::DuplicateExternalCode { .. }) => println!("  {what}: {e}"),
            Err(e) => return Err(e.into()),
            Ok(v) => return Err(Failure(format!("creating a customer with {what} succeeded (id {})", v.id))),
        }
    }
    let after = store.counts()?.customers;
    println!("Nothing was stored: the store still holds {after} customers.");
    if after != before {
        return Err(Failure("a refused create changed the store".into()));
    }
    Ok(())
}

/// l. Attached records: a customer with an order and a complaint, the
/// complaint's deadline from the service-level policy, the overdue query,
/// customer service seeing the order but not the card, the timeline.
fn orders_and_service(store: &Store, clerk: &Session) -> TourResult {
    heading("l. Orders and after-sales service records");
    let now = now_ms();
    let sales = store.authenticated_session("admin", Purpose::Service, AuthContext::with_mfa(now))?;
    let customer = sales.create(person("钱七").set(Field::Organisation, "云杉茶业有限公司"))?;
    let order = TransactionInput::new(&format!("SO-{now}"), "CNY", 29_000, PaymentMethod::BankCard)
        .item("龙井茶 250g", 2, 8_800)
        .item("青瓷茶具", 1, 12_000)
        .adjustment("会员折扣", -600)
        .card("6200 0000 0000 0005");
    let recorded = sales.add_transaction(customer.id, &order)?;
    println!(
        "Customer {} ({}) bought for {}: order {}.",
        customer.id,
        customer.text(&Field::Name),
        recorded.text(&Field::OrderTotal),
        recorded.id
    );
    let wrong = order.clone().adjustment("运费", 1_000);
    match sales.add_transaction(customer.id, &wrong) {
        Err(e) => println!("A total that is not the sum of its lines is refused: {e}"),
        Ok(_) => return Err(Failure("a wrong total was accepted".into())),
    }
    let seen = clerk.record(recorded.id)?;
    println!(
        "Customer service sees the order: {} items, total {}.",
        seen.text(&Field::OrderItems).matches("\"item\"").count(),
        seen.text(&Field::OrderTotal)
    );
    for withheld in seen.withheld() {
        println!("  but not {} (rule {}).", withheld.field, withheld.rule);
    }
    let auditor = store.session("auditor-01", Purpose::Compliance)?;
    let log = auditor.audit_entries(&AuditQuery::new().customer(customer.id).limit(20))?;
    if let Some(read) = log.iter().find(|e| e.action == "record.get") {
        println!(
            "Its audit entry names the record {:?} and the fields {}; never a value.",
            read.records,
            read.fields.join(", ")
        );
    }
    let single_factor = store.session("admin", Purpose::Service)?.record(recorded.id)?;
    println!(
        "An administrator without a second factor sees the card as {}.",
        single_factor.text(&Field::PaymentDetails)
    );

    // A complaint received three days ago by phone: due 48 hours after it was opened.
    let complaint = ServiceInput::new(
        ServiceKind::Complaint,
        ServiceChannel::Phone,
        "快递延误投诉",
        "订单三天未送达，客户要求退运费",
    )
    .owner("clerk-07")
    .opened_at(now - 72 * 3_600_000);
    let opened = clerk.open_service_record(customer.id, &complaint)?;
    let due: i64 = opened.text(&Field::ServiceDueAt).parse().unwrap_or(0);
    println!(
        "Complaint {} opened {}, due {} (complaints: 48 h at normal priority); overdue now: {}.",
        opened.id,
        custodian::model::format_utc_millis(now - 72 * 3_600_000),
        custodian::model::format_utc_millis(due),
        opened.overdue
    );
    let overdue = clerk.service_due(&DueQuery::overdue(5).owner("clerk-07"))?;
    println!(
        "Overdue records of clerk-07: {} (the most urgent is {}).",
        overdue.len(),
        overdue.first().map_or(String::new(), |r| r.text(&Field::ServiceSubject).to_owned())
    );
    let r = clerk.transition_service_record(opened.id, opened.version, ServiceStatus::InProgress, None)?;
    match clerk.transition_service_record(r.id, r.version, ServiceStatus::Closed, None) {
        Err(e) => println!("Closing it without a resolution is refused: {e}"),
        Ok(_) => return Err(Failure("a record closed without a resolution".into())),
    }
    let r = clerk.transition_service_record(r.id, r.version, ServiceStatus::Resolved, Some("已退运费并致歉"))?;
    let r = clerk.transition_service_record(r.id, r.version, ServiceStatus::Closed, None)?;
    let history: Vec<String> =
        r.history().iter().map(|c| format!("{}→{} by {}", c.from.as_deref().unwrap_or("-"), c.to, c.by)).collect();
    println!("Its history: {}.", history.join(", "));
    let page = clerk.timeline(customer.id, &TimelineQuery::new(10))?;
    println!("The customer's timeline, newest first:");
    for record in &page.records {
        let what = match record.kind {
            custodian::RecordKind::Transaction => {
                format!("order {} {}", record.text(&Field::OrderTotal), record.text(&Field::OrderStatus))
            }
            _ => format!(
                "{} \"{}\" {}",
                record.text(&Field::ServiceKind),
                record.text(&Field::ServiceSubject),
                record.text(&Field::ServiceStatus)
            ),
        };
        println!("  {:>6}  {what}", record.id);
    }
    Ok(())
}

/// m. A spreadsheet from WPS in GBK with two bad rows imported (kept
/// unverified, reported by row and rule), imported again (nothing doubled),
/// and a masked CSV exported for customer service.
fn csv_in_and_out(store: &Store, clerk: &Session) -> TourResult {
    heading("m. CSV in and out");
    let sheet = "编号,姓名,单位,手机,邮箱,身份证号,备注\r\n\
                 CSV-001,周杰,晨光文具有限公司,13811112222,zhou@example.com,110101199003078515,\"老客户，\r\n需开增值税发票\"\r\n\
                 CSV-002,吴敏,,1381111,wu@example,,电话号码少了几位\r\n\
                 CSV-003,郑爽,海风贸易,13933334444,,,=HYPERLINK(\"http://evil.example\")\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(sheet);
    println!("A WPS spreadsheet in GBK: {} bytes, 3 customers, one cell spanning two lines.", gbk.len());
    let admin = store.authenticated_session("admin", Purpose::Service, AuthContext::with_mfa(now_ms()))?;
    let mut last = None;
    let mut progress = |p: custodian::import::CsvProgress| last = Some(p);
    let report = admin.import_csv(
        &gbk[..],
        &custodian::import::CsvReadOptions::new(),
        &custodian::ImportOptions::new(),
        Some(&mut progress),
    )?;
    if let Some(p) = last {
        println!("Read {} rows, {} bytes (encoding detected: GBK).", p.rows, p.bytes);
    }
    for row in &report.customers {
        let problems: Vec<String> = row.problems.iter().map(|p| format!("{} {}", p.field, p.rule)).collect();
        println!(
            "  row {} → customer {} {}{}",
            row.row,
            row.customer,
            if row.verified { "verified" } else { "unverified" },
            if problems.is_empty() { String::new() } else { format!(" ({})", problems.join(", ")) }
        );
    }
    if report.customers.is_empty() {
        println!("  (imported on an earlier run: {} rows matched as already present)", report.already_present());
    }
    let again = admin.import_csv(
        &gbk[..],
        &custodian::import::CsvReadOptions::new(),
        &custodian::ImportOptions::new(),
        None,
    )?;
    println!(
        "Imported again: {} new, {} already present — nothing doubled.",
        again.customers.len(),
        again.already_present()
    );
    let mut out = Vec::new();
    let filter = Filter::default();
    let summary = clerk.export_csv(
        &mut out,
        &custodian::CsvExportOptions::new()
            .columns([Field::ExternalCode, Field::Name, Field::Mobile, Field::IdNumber, Field::Notes])
            .filter(filter)
            .chinese_headers(true),
    )?;
    let text = String::from_utf8_lossy(&out);
    println!("Customer service exports {} customers; the rows of this sheet:", summary.rows);
    for line in text.split("\r\n").filter(|l| l.starts_with("编号") || l.starts_with("CSV-0")) {
        println!("  {line}");
    }
    println!("(ID numbers masked as customer service sees them; the formula cell neutralised with an apostrophe.)");
    Ok(())
}

/// n. Data quality: a duplicate flagged when a clerk enters it and in the
/// store-wide report, then merged into the customer it duplicates (its
/// newer mobile, its order and its consent move; it is crypto-shredded).
fn duplicates_and_merge(store: &Store, clerk: &Session) -> TourResult {
    heading("n. Data quality: duplicates found and merged");
    let admin = store.authenticated_session("admin", Purpose::Service, AuthContext::with_mfa(now_ms()))?;
    // Contact details of their own on every run (the store is reused).
    let stamp = now_ms();
    let email = format!("sun.li.{stamp}@example.com");
    let survivor = admin.create(
        person("孙丽")
            .set(Field::Organisation, "锦程物流有限公司")
            .set(Field::Title, "采购经理")
            .set(Field::Mobile, format!("186{:08}", stamp % 100_000_000))
            .set(Field::Email, email.as_str()),
    )?;
    let sms = |granted: bool| ConsentChange {
        purpose: Purpose::Marketing,
        channel: Channel::Sms,
        granted,
        source: "counter".into(),
        policy_version: "2026-01".into(),
    };
    admin.record_consent(survivor.id, &sms(false))?;
    // A year later a clerk enters her again at another counter, with a new mobile.
    let (duplicate, pairs) = clerk.create_checked(
        person("孙 丽")
            .set(Field::Organisation, "锦程物流有限公司")
            .set(Field::Mobile, format!("187{:08}", stamp % 100_000_000))
            .set(Field::Email, email.as_str())
            .set(Field::Address, "上海市浦东新区世纪大道100号"),
        DuplicateCheck::Warn,
    )?;
    for pair in &pairs {
        let reasons: Vec<&str> = pair.reasons.iter().map(|r| r.name()).collect();
        println!(
            "clerk-07 enters customer {} with a duplicate check: it may be customer {} (score {}: {}).",
            duplicate.id,
            if pair.first == duplicate.id { pair.second } else { pair.first },
            pair.score,
            reasons.join(", ")
        );
    }
    let order = TransactionInput::new(&format!("SO-{stamp}-DQ"), "CNY", 4_500, PaymentMethod::Alipay).item(
        "茶叶礼盒",
        1,
        4_500,
    );
    let order = admin.add_transaction(duplicate.id, &order)?;
    admin.record_consent(duplicate.id, &sms(true))?;
    println!(
        "Meanwhile customer {} placed order {} and agreed to SMS marketing; customer {} had refused it.",
        duplicate.id, order.id, survivor.id
    );

    let report = admin.duplicates(1000)?;
    println!(
        "The store-wide duplicate report (contacts by their blind indexes, names once normalised): {} pair(s){}:",
        report.pairs.len(),
        if report.truncated { " (truncated)" } else { "" }
    );
    for pair in report.pairs.iter().take(3) {
        let reasons: Vec<&str> = pair.reasons.iter().map(|r| r.name()).collect();
        println!("  {:>5} ~ {:<5} score {:>3}  {}", pair.first, pair.second, pair.score, reasons.join(", "));
    }
    let quality = admin.data_quality()?;
    println!(
        "Data quality (counts only): {} customers, {} possible duplicates, {} unverified, {} without a mobile or e-mail.",
        quality.total.customers,
        quality.total.possible_duplicates,
        quality.total.unverified,
        quality.total.missing_contact
    );

    let reference = format!("DQ-{stamp}");
    let options = MergeOptions::new(&reference).take(Field::Mobile, MergeSide::Merged);
    expect_denied(
        "clerk-07 merging them (a merge destroys a customer: it needs erase)",
        clerk.merge(survivor.id, survivor.version, duplicate.id, duplicate.version, &options),
    )?;
    let merged = admin.merge(survivor.id, survivor.version, duplicate.id, duplicate.version, &options)?;
    let kept: Vec<String> = merged.withdrawals_kept.iter().map(|(p, c)| format!("{p}/{c}")).collect();
    println!(
        "admin merges customer {} into customer {} (request {reference}; the newer mobile taken from the duplicate):",
        duplicate.id, survivor.id
    );
    println!("  fields changed:  {}", merged.fields_changed.join(", "));
    println!("  records moved:   {:?}", merged.records_moved);
    println!(
        "  consents moved:  {}; withdrawals kept: {}",
        merged.consents_moved,
        if kept.is_empty() { "none".to_owned() } else { kept.join(", ") }
    );
    let now = &merged.survivor;
    println!(
        "  customer {} now: {} {}, mobile {}, e-mail {}, address {}",
        now.id,
        now.text(&Field::Name),
        now.text(&Field::Title),
        now.text(&Field::Mobile),
        now.text(&Field::Email),
        now.text(&Field::Address)
    );
    match admin.get(duplicate.id) {
        Err(Error::CustomerNotFound(_)) => println!("  customer {}: not found (crypto-shredded).", duplicate.id),
        other => return Err(Failure(format!("the merged-away customer is still there: {other:?}"))),
    }
    let auditor = store.session("auditor-01", Purpose::Compliance)?;
    let log = auditor.audit_entries(&AuditQuery::new().customer(duplicate.id).limit(1000))?;
    let about_survivor = log.iter().filter(|e| e.customers.contains(&survivor.id)).count();
    println!(
        "The audit log for customer {} leads to the survivor: {} entries, {} of them about customer {}:",
        duplicate.id,
        log.len(),
        about_survivor,
        survivor.id
    );
    for e in &log {
        let who: Vec<String> = e.customers.iter().map(|c| c.to_string()).collect();
        println!(
            "  #{:<6} {:<12} {:<20} {:<8} customers {}",
            e.seq,
            e.principal,
            e.action,
            e.outcome.name(),
            who.join(", ")
        );
    }
    let record = log
        .iter()
        .find(|e| e.action == "customer.merge" && e.destruction.is_some())
        .ok_or_else(|| Failure("no destruction record for the merge".into()))?;
    let d = record.destruction.as_ref().expect("found by it");
    println!(
        "Destruction record #{}: method {}, reason {}, customers {}, records {:?}.",
        record.seq,
        d.method.name(),
        d.reason,
        record.customers.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
        record.records
    );
    Ok(())
}

/// o. Organisation customers: the unified social credit code (GB 32100,
/// blind-indexed), the registered address, a landline in its normal form
/// and a contact person, created by customer service, found again by the
/// code however it is typed, and a code with a wrong check character
/// refused by its rule.
fn organisations(clerk: &Session) -> TourResult {
    heading("o. Organisation customers");
    // A code of its own on every run (the store is reused): registration
    // authority 9 (market regulation), class 1 (enterprise), division
    // 350100 (福州), an organisation code of MA and seven digits from the
    // clock, and the check character.
    let first17 = format!("91350100MA{:07}", now_ms() % 10_000_000);
    let code = format!("{first17}{}", custodian::model::credit_code_check_character(first17.as_bytes()) as char);
    let contacts =
        r#"[{"name": "林晓", "title": "财务主管", "mobile": "+86 139 0591 2345", "landline": "0591-87654321 转 8"}]"#;
    let made = clerk.create(
        CustomerInput::organisation()
            .set(Field::Organisation, "闽江茶业有限公司")
            .set(Field::CreditCode, code.to_lowercase())
            .set(Field::RegisteredAddress, "福建省福州市鼓楼区五四路1号")
            .set(Field::Address, "福建省福州市仓山区南江滨西大道8号")
            .set(Field::Landline, "(0591) 8765 4320 转 801")
            .set(Field::Contacts, contacts),
    )?;
    println!("clerk-07 creates organisation customer {} (credit code typed in lower case):", made.id);
    for field in [Field::Organisation, Field::CreditCode, Field::RegisteredAddress, Field::Landline, Field::Contacts] {
        println!("  {:<18} {}", field.name(), made.text(&field));
    }
    // Typed with spaces, in lower case: the blind index still finds it.
    let typed = format!("{} {} {}", &code[..2], &code[2..8], code[8..].to_lowercase());
    let found = clerk.find_by_credit_code(&typed)?;
    let ids: Vec<String> = found.iter().map(|v| v.id.to_string()).collect();
    println!("find_by_credit_code(\"{typed}\") finds customer(s) {}.", ids.join(", "));
    if found.iter().all(|v| v.id != made.id) {
        return Err(Failure("the organisation was not found by its credit code".into()));
    }
    let wrong = format!("{first17}{}", if code.ends_with('0') { '1' } else { '0' });
    let attempt =
        clerk.create(CustomerInput::organisation().set(Field::Organisation, "闽江茶业").set(Field::CreditCode, wrong));
    match attempt {
        Err(Error::Invalid { field, rule, message }) => {
            println!("A code with a wrong check character: field '{field}', rule {rule}: {message}")
        }
        Err(e) => return Err(e.into()),
        Ok(v) => return Err(Failure(format!("a credit code with a wrong check character was stored (id {})", v.id))),
    }
    Ok(())
}

/// p. Statistics that single out no one: an analyst counts customers by
/// category × tier and by city, reading no sealed value; small cells, and
/// the cells that would give them away, are suppressed.
fn statistics(store: &Store) -> TourResult {
    heading("p. Statistics that single out no one");
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(now_ms()))?;
    // Registered here rather than with the staff: stores made by older tours lack it.
    match admin.register_principal(&NewPrincipal::staff("analyst-05", "数据分析 吴迪")) {
        Ok(_) => {
            admin.grant_role("analyst-05", Role::Analyst, None)?;
        }
        Err(Error::Invalid { rule: "principal_exists", .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let analyst = store.session("analyst-05", Purpose::Analytics)?;
    // A stricter k than the default 5, so that this small demo store shows suppression.
    let query = custodian::StatisticsQuery::new(custodian::StatisticsDimension::Category)
        .by(custodian::StatisticsDimension::Tier)
        .threshold(25);
    let table = analyst.statistics(&query)?;
    let shown = |c: &custodian::StatisticsCell| c.count().map_or_else(|| "*".to_owned(), |n| n.to_string());
    println!("analyst-05 counts customers by category × tier (k = {}; * = suppressed):", table.threshold);
    println!(
        "  {}{}",
        pad("", 12),
        table.column_labels.iter().map(|c| format!("{c:>6}")).collect::<String>() + "  total"
    );
    for ((label, row), total) in table.row_labels.iter().zip(&table.cells).zip(&table.row_totals) {
        let cells: String = row.iter().map(|c| format!("{:>6}", shown(c))).collect();
        println!("  {}{cells}{:>7}", pad(label, 12), shown(total));
    }
    let totals: String = table.column_totals.iter().map(|c| format!("{:>6}", shown(c))).collect();
    println!("  {}{totals}{:>7}", pad("total", 12), shown(&table.total));
    println!(
        "{} cell(s) below k suppressed, {} more so that none can be recovered from the totals.",
        table.suppressed_primary, table.suppressed_secondary
    );
    let by_city = analyst.statistics(&custodian::StatisticsQuery::new(custodian::StatisticsDimension::City))?;
    println!("By city (from the address, derived when it was written; no address decrypted):");
    for (label, row) in by_city.row_labels.iter().zip(&by_city.cells) {
        println!("  {}{:>6}", pad(label, 24), shown(&row[0]));
    }
    Ok(())
}

/// The demo recipient's secret key. A real recipient generates its own
/// (`RecipientSecret::generate`) and gives the store only the public key;
/// the tour keeps a fixed one so that a reopened demo store can still be
/// opened by it.
const DEMO_RECIPIENT_SECRET: &[u8; 32] = b"demo recipient secret, not real!";

/// q. Sharing with a partner under separate consent: a share of three
/// fields, who is inside it, a withdrawal, a sealed package opened by the
/// recipient, and the customer's account of the disclosures.
fn sharing(store: &Store, clerk: &Session) -> TourResult {
    use custodian::consent::THIRD_PARTIES;
    use custodian::sharing::package;
    use custodian::{NewRecipient, NewShare, RecipientSecret, ShareCustomers};
    heading("q. Sharing with a partner under separate consent");
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(now_ms()))?;
    let secret = RecipientSecret::from_bytes(*DEMO_RECIPIENT_SECRET);
    const DAY: i64 = 86_400_000;
    let recipient = NewRecipient {
        id: "shunda".into(),
        name: "顺达物流有限公司".into(),
        agreement: "DPA-2026-017".into(),
        agreement_from: now_ms() - DAY,
        agreement_until: now_ms() + 3650 * DAY,
        public_key: secret.public_key(),
    };
    match admin.register_recipient(&recipient) {
        Ok(r) => println!("Registered recipient {} ({}) under agreement {}.", r.id, r.name, r.agreement),
        // A reopened demo store has it from an earlier tour.
        Err(Error::AlreadyExists(_)) => println!("Recipient shunda is registered (agreement DPA-2026-017)."),
        Err(e) => return Err(e.into()),
    }
    // Three individuals with an ID number (seen masked by the clerk), to show what sensitive consent changes.
    let listed = clerk.list(&ListQuery::new().filter(Filter::new().kind("individual")).limit(100))?.items;
    let three: Vec<CustomerId> =
        listed.iter().filter(|v| v.get(&Field::IdNumber).is_some()).map(|v| v.id).take(3).collect();
    if three.len() < 3 {
        return Err(Failure("the demo store has fewer than three individuals with an ID number".into()));
    }
    let consent = |customer: CustomerId, purpose: &str, channel: Channel, granted: bool| -> TourResult {
        let change = ConsentChange {
            purpose: Purpose::parse(purpose)?,
            channel,
            granted,
            source: "web_form".into(),
            policy_version: "v2".into(),
        };
        clerk.record_consent(customer, &change)?;
        Ok(())
    };
    consent(three[0], "shunda", Channel::ThirdParty, true)?;
    consent(three[1], THIRD_PARTIES, Channel::ThirdParty, true)?;
    consent(three[1], THIRD_PARTIES, Channel::ThirdPartySensitive, true)?;
    println!(
        "Customer {} consents to sharing with shunda; {} with every third party, sensitive data included; {} gave no consent.",
        three[0], three[1], three[2]
    );
    let share = admin.create_share(&NewShare {
        recipient: "shunda".into(),
        purpose: Purpose::parse("delivery")?,
        fields: vec![Field::Name, Field::Mobile, Field::IdNumber],
        customers: ShareCustomers::Listed(three.clone()),
        expires_at: now_ms() + 30 * DAY,
        agreement: "DPA-2026-017".into(),
    })?;
    println!(
        "Share {}: {} of the three, for {}, expiring in 30 days.",
        share.id,
        share.fields.join(", "),
        share.purpose
    );
    let partner = store.share_session(share.id)?;
    let page = partner.customers(None, 10)?;
    println!("What shunda sees through it ({} customers inside):", page.customers.len());
    for view in &page.customers {
        let withheld: Vec<String> = view
            .withheld()
            .iter()
            .filter(|w| w.rule == "share.sensitive_consent_required")
            .map(|w| w.field.name().into_owned())
            .collect();
        println!(
            "  {:>6}  {}  {}  {}{}",
            view.id,
            pad(view.text(&Field::Name), 8),
            view.text(&Field::Mobile),
            view.text(&Field::IdNumber),
            if withheld.is_empty() { String::new() } else { format!("(withheld: {})", withheld.join(", ")) }
        );
    }
    if let Err(e) = partner.get(three[2]) {
        println!("  customer {}: {e}", three[2]);
    }
    consent(three[0], "shunda", Channel::ThirdParty, false)?;
    let after = partner.customers(None, 10)?;
    println!("Customer {} withdraws: shunda now sees {} customer(s).", three[0], after.customers.len());

    let bytes = partner.package()?;
    let verified = package::verify(&bytes)?;
    println!(
        "Package: {} bytes sealed to shunda's X25519 key; manifest share {} fields [{}] count {} sha256 {}…",
        bytes.len(),
        verified.manifest.share,
        verified.manifest.fields.join(", "),
        verified.manifest.count,
        &verified.sha256[..16]
    );
    let opened = package::open(&bytes, &secret)?;
    for c in &opened.customers {
        println!(
            "  opened by shunda: customer {} with {}",
            c.id,
            c.fields.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    match package::open(&bytes, &RecipientSecret::generate()?) {
        Err(e) => println!("  with another key: {e}"),
        Ok(_) => return Err(Failure("a package opened with the wrong key".into())),
    }
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(now_ms()))?;
    for entry in compliance.customer_shares(three[1])?.iter().filter(|s| s.share.id == share.id) {
        println!("Customer {}'s account of share {} (inside now: {}):", three[1], entry.share.id, entry.inside_now);
        for d in &entry.disclosures {
            println!("  at {} ms: to {} by {}: {}", d.at, d.recipient, d.action, d.fields.join(", "));
        }
    }
    Ok(())
}

/// A minimal individual customer called `name`.
fn person(name: &str) -> CustomerInput {
    CustomerInput::individual().set(Field::Name, name)
}

/// Prints the outcome of a request that the policy must refuse.
fn expect_denied<T>(what: &str, result: custodian::Result<T>) -> TourResult {
    match result {
        Err(Error::Denied { rule, reason }) => {
            println!("  {what}: denied by rule {rule}\n    ({reason})");
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(_) => Err(Failure(format!("{what} was allowed, but the policy should deny it"))),
    }
}

/// j. Access governance: login with and without a second factor, lockout,
/// a defined role, revocation in an open session, and the access review.
fn access_governance(store: &Store, customer: &CustomerView) -> TourResult {
    heading("j. Access governance");
    let admin = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(now_ms()))?;

    // The legacy console has no login of its own: the store keeps a salted
    // PBKDF2 password hash and a sealed TOTP secret per principal.
    admin.set_password("tech-03", "运维-demo-password-2026")?;
    let totp = admin.enrol_totp("tech-03")?;
    println!("admin sets tech-03's password and enrols a TOTP authenticator (RFC 6238, 6 digits / 30 s).");
    let single = store.login("tech-03", "运维-demo-password-2026", None, Purpose::Maintenance);
    match single {
        Ok(_) => return Err(Failure("a password alone opened a session although TOTP is enrolled".into())),
        Err(Error::Denied { rule, .. }) => println!("  password only, TOTP enrolled: refused ({rule})"),
        Err(e) => return Err(e.into()),
    }
    let code = format!("{:06}", totp.code_at((now_ms() / 1000) as u64));
    let tech = store.login("tech-03", "运维-demo-password-2026", Some(&code), Purpose::Maintenance)?;
    let without_mfa = store.session("tech-03", Purpose::Maintenance)?.get(customer.id)?;
    let with_mfa = tech.get(customer.id)?;
    println!("tech-03 (technician, purpose maintenance) reads customer {}:", customer.id);
    println!("  single-factor session: id_number {}", without_mfa.text(&Field::IdNumber));
    println!("  password + TOTP login (MFA):     id_number {}", with_mfa.text(&Field::IdNumber));

    for attempt in 1..=5 {
        let _ = store.login("tech-03", &format!("guess-{attempt}-wrong"), Some("000000"), Purpose::Maintenance);
    }
    expect_denied(
        "after 5 wrong passwords, tech-03 with the right password and code",
        store.login("tech-03", "运维-demo-password-2026", Some(&code), Purpose::Maintenance),
    )?;
    admin.unlock_principal("tech-03")?;
    println!("  admin lifts the lock (principal.unlock, audited).");

    // A role the organisation defines: second-line support sees contact
    // data, and ID numbers masked by its own rule.
    admin.define_role(&RoleDefinition::new(
        "support_lead",
        "二线支持: 联系信息可见, 身份证号打码",
        [
            RoleRule::new(
                "support_lead.contact",
                [Action::Read],
                [Purpose::Service],
                [Level::L2, Level::L3],
                Effect::Allow,
            ),
            RoleRule::new("support_lead.id_masked", [Action::Read], [Purpose::Service], [Level::L1], Effect::Mask),
        ],
    ))?;
    let contractor = format!("contractor-{}", now_ms());
    admin.register_principal(&NewPrincipal::staff(&contractor, "外包 临时"))?;
    admin.grant_role(&contractor, Role::Custom("support_lead".into()), Some(now_ms() + 3_600_000))?;
    let session = store.session(&contractor, Purpose::Service)?;
    let view = session.get(customer.id)?;
    println!(
        "{contractor} holds the defined role support_lead (expires in 1 h): name {}, id_number {}",
        view.text(&Field::Name),
        view.text(&Field::IdNumber)
    );
    admin.revoke_principal(&contractor, "contract ended")?;
    expect_denied(
        &format!("{contractor}'s open session, on its next call after revocation"),
        session.get(customer.id),
    )?;

    // The access review an auditor runs regularly.
    let review = store.session("auditor-01", Purpose::Compliance)?.access_review(30)?;
    println!("Access review by auditor-01 (grants unused for 30 days are flagged):");
    for p in review.principals.iter().filter(|p| p.active) {
        for g in &p.grants {
            let last =
                g.last_used.map_or("never".to_owned(), |t| format!("{} s ago", (review.generated_at - t) / 1000));
            let expiry = g
                .expires_at
                .map_or(String::new(), |t| format!(", expires in {} min", (t - review.generated_at) / 60_000));
            let flag = if g.expired {
                "  [expired]"
            } else if g.stale {
                "  [stale]"
            } else {
                ""
            };
            println!("  {:<28} {:<18} last used {last}{expiry}{flag}", p.id, g.role.name());
        }
    }
    let revoked = review.principals.iter().filter(|p| !p.active).count();
    println!("  ({revoked} revoked principal(s) listed without grants)");
    Ok(())
}

/// k. The data lifecycle: a customer's export, its erasure, a backup that
/// does not bring it back, and a retention sweep with destruction records.
fn data_lifecycle(store: &Store, on_files: bool) -> TourResult {
    heading("k. Data lifecycle: export, erasure, backup and restore, retention");
    let compliance = store.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(now_ms()))?;
    // The customer who asks: the last one in external-code order (each run
    // erases another; the sections above use the first ones).
    let page = compliance.list(&ListQuery::new().sort(Field::ExternalCode).descending(true).limit(1))?;
    let Some(subject) = page.items.first() else {
        println!("(no customer left to demonstrate with)");
        return Ok(());
    };
    let id = subject.id;
    let export = compliance.export_customer(id)?;
    println!(
        "Export for customer {id} ({}): {} fields, {} consent records, {} audit entries about it ({} bytes of JSON). Its access history begins:",
        subject.text(&Field::ExternalCode),
        export.fields.len(),
        export.consents.len(),
        export.access_history.len(),
        serde_json::to_string(&export).map_or(0, |j| j.len())
    );
    for e in export.access_history.iter().take(4) {
        println!("  #{:<5} {:<14} {:<18} {}", e.seq, e.principal, e.action, e.outcome.name());
    }

    let dir = Path::new(DEMO_DIR);
    let stamp = now_ms();
    // Before the backup: a customer who consents to SMS marketing, and a temporary clerk.
    let consenting = compliance.list(&ListQuery::new().sort(Field::ExternalCode).limit(1))?;
    let consenting = consenting.items.first().map(|c| c.id).ok_or_else(|| Failure("no customer".into()))?;
    let sms = |granted: bool| ConsentChange {
        purpose: Purpose::Marketing,
        channel: Channel::Sms,
        granted,
        source: "call".into(),
        policy_version: "2026-01".into(),
    };
    compliance.record_consent(consenting, &sms(true))?;
    let temp = format!("temp-clerk-{stamp}");
    let manager = store.authenticated_session("admin", Purpose::Maintenance, AuthContext::with_mfa(now_ms()))?;
    manager.register_principal(&NewPrincipal::staff(&temp, "临时 客服"))?;
    manager.grant_role(&temp, Role::CustomerService, None)?;
    let before = dir.join(format!("backup-{stamp}-full.cbk"));
    let full = if on_files {
        let full = store.backup_to(&before)?;
        println!(
            "Full backup {} sealed into {}: {} bytes of store pages, needs master-key generation {}.",
            &full.backup_id[..12],
            before.display(),
            full.stored_bytes(),
            full.key_generation
        );
        Some(full)
    } else {
        println!("(Backups of a store on PostgreSQL are not built yet: no backup, increment or restore here.)");
        None
    };
    // After it: the consent is withdrawn and the clerk leaves (the erasure follows below).
    compliance.record_consent(consenting, &sms(false))?;
    manager.revoke_principal(&temp, "temporary contract ended")?;
    compliance.place_hold(id, "tour-case-1")?;
    match compliance.erase(id, "tour-dsr") {
        Err(Error::LegalHold { reason, .. }) => println!("Erasure refused while a legal hold ({reason}) is in place."),
        other => return Err(Failure(format!("erasure under a legal hold was not refused: {other:?}"))),
    }
    compliance.lift_hold(id)?;
    compliance.erase(id, "tour-dsr")?;
    let record = store
        .session("auditor-01", Purpose::Compliance)?
        .audit_entries(&AuditQuery::new().customer(id).outcome(Outcome::Allowed))?
        .into_iter()
        .rev()
        .find(|e| e.destruction.is_some())
        .ok_or_else(|| Failure("no destruction record".into()))?;
    let d = record.destruction.as_ref().expect("found by it");
    println!(
        "Erased customer {id}: destruction record #{} at {} (Unix ms) by {}, method {}, reason {}, scope: customers {}.",
        record.seq,
        record.time,
        record.principal,
        d.method.name(),
        d.reason,
        record.customers.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
    );

    if let Some(full) = full {
        backup_and_restore(store, &full, &before, id, consenting, &temp, stamp)?;
    }
    retention_on_a_simulated_clock()
}

/// The backup taken before the erasure, an increment over it, their
/// verification, and a restore into a copy of the live store: only customer
/// records come back; the erasure, the audit log and every other decision
/// stay as they are.
fn backup_and_restore(
    store: &Store,
    full: &custodian::BackupManifest,
    before: &Path,
    id: CustomerId,
    consenting: CustomerId,
    temp: &str,
    stamp: i64,
) -> TourResult {
    let dir = Path::new(DEMO_DIR);
    let after = dir.join(format!("backup-{stamp}-increment.cbk"));
    let increment = store.backup_increment(&after, before)?;
    println!(
        "Increment {} over {}: {} bytes of store pages ({} of {} pages changed since the full backup).",
        &increment.backup_id[..12],
        &full.backup_id[..12],
        increment.stored_bytes(),
        increment.parts.iter().map(|p| p.stored_pages).sum::<u64>(),
        increment.parts.iter().map(|p| p.pages).sum::<u64>()
    );
    let verified = Store::verify_backup(before, demo_key()?)?;
    println!(
        "Backup taken before the erasure verifies: {} customers, {} audit entries chained, {} decrypted in full.",
        verified.customers, verified.audit_entries, verified.sampled
    );
    let chain = Store::verify_backup_chain(&[before, &after], demo_key()?)?;
    println!("The full backup and its increment verify as a chain of {}: {} customers.", chain.links, chain.customers);
    // A copy of the live store, rebuilt from the chain.
    let check = dir.join(format!("restore-{stamp}"));
    Store::extract_backup(&[before, &after], demo_key()?, &check)?;
    let trusted = Store::open_at(&check, demo_key()?)?.audit_checkpoint()?;
    let report = Store::restore(before, &check, demo_key()?)?;
    let restored = Store::open_at(&check, demo_key()?)?;
    let back = restored.authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(now_ms()))?.get(id);
    let history = restored.verify_audit(Some(&trusted))?;
    println!(
        "Restored it into the live store's copy: {} customers restored, {} erased since kept out, {} created since removed; \
         customer {id} after the restore: {}; the audit log {} against the checkpoint taken before the restore.",
        report.restored,
        report.removed_by_ledger,
        report.removed.len(),
        match back {
            Err(Error::CustomerNotFound(_)) => "not found".to_owned(),
            Ok(_) => return Err(Failure("an erased customer came back from a backup".into())),
            Err(e) => format!("{e}"),
        },
        if history.is_intact() { "still verifies" } else { "does NOT verify" }
    );
    let still_revoked = matches!(restored.session(temp, Purpose::Service), Err(Error::Denied { .. }));
    let consents = restored
        .authenticated_session("admin", Purpose::Compliance, AuthContext::with_mfa(now_ms()))?
        .consents(consenting)?;
    let withdrawn = consents.last().is_some_and(|c| !c.granted);
    println!(
        "Decisions made after the backup still stand in the restored copy: {temp} is {}; customer {consenting}'s \
         SMS marketing consent is {}.",
        if still_revoked { "still revoked" } else { "ACTIVE AGAIN" },
        if withdrawn { "still withdrawn" } else { "GRANTED AGAIN" }
    );
    if !still_revoked || !withdrawn {
        return Err(Failure("a restore undid a decision made after the backup".into()));
    }
    drop(restored);
    for old in [before, &after] {
        let _ = std::fs::remove_file(old);
    }
    let _ = std::fs::remove_dir_all(check);
    Ok(())
}

/// Retention on a simulated clock, in a small store of its own.
fn retention_on_a_simulated_clock() -> TourResult {
    let clock = Arc::new(custodian::ManualClock::new(now_ms()));
    let demo = Store::in_memory(KeySource::key_bytes(&[3u8; 32])?, CreateOptions::new())?.with_clock(clock.clone())?;
    demo.bootstrap_administrator(&NewPrincipal::staff("dpo", "数据保护官"))?;
    let dpo = demo.authenticated_session("dpo", Purpose::Compliance, AuthContext::with_mfa(now_ms()))?;
    let ids = dpo.create_many((0..3).map(|i| person(["老客户甲", "老客户乙", "新客户丙"][i])))?;
    dpo.define_retention_policy(&RetentionPolicy {
        id: "inactive-3y".into(),
        rule: RetentionRule::InactiveFor { days: 3 * 365 },
        method: DestructionMethod::CryptoShred,
    })?;
    dpo.place_hold(ids[1], "litigation-2029-4")?;
    clock.advance(2 * 365 * 86_400_000);
    let v = dpo.get(ids[2])?;
    dpo.update(ids[2], v.version, CustomerPatch::new().set(Field::Title, "经理"))?;
    clock.advance(366 * 86_400_000);
    let report = dpo.sweep()?;
    println!(
        "Retention sweep three years and a day later (policy inactive-3y): destroyed {:?}, held back {:?} (legal hold), kept {} (changed a year ago).",
        report.destroyed.iter().map(|(id, _, _)| id.0).collect::<Vec<_>>(),
        report.held.iter().map(|(id, _)| id.0).collect::<Vec<_>>(),
        ids[2]
    );
    Ok(())
}

/// The demo store's key source again (for opening backups).
fn demo_key() -> TourResult<KeySource> {
    let passphrase =
        std::env::var(PASSPHRASE_VAR).ok().filter(|p| !p.is_empty()).unwrap_or_else(|| DEMO_PASSPHRASE.to_owned());
    Ok(KeySource::passphrase(passphrase)?)
}

/// Prints a section heading.
fn heading(title: &str) {
    println!("\n== {title} ==");
}

/// One line per customer: id, external code, name, organisation, mobile.
fn print_rows(views: &[CustomerView]) {
    for v in views {
        println!(
            "  {:>5}  {:<8}  {}  {}  {}",
            v.id.to_string(),
            v.text(&Field::ExternalCode),
            pad(v.text(&Field::Name), 8),
            pad(v.text(&Field::Organisation), 34),
            v.text(&Field::Mobile)
        );
    }
}

/// Every visible personal or classification field: name, level, plain or masked, value.
fn print_fields(view: &CustomerView) {
    for (field, shown) in view.iter() {
        if matches!(field, Field::Status | Field::CreatedAt | Field::UpdatedAt | Field::Version) {
            continue;
        }
        let level = view.level(field).map_or_else(String::new, |l| l.to_string());
        let how = if shown.is_masked() { "masked" } else { "plain " };
        println!("  {:<13} {level}  {how}  {}", field.name(), shown.text());
    }
}

/// Pads `s` with spaces to `columns` terminal columns (CJK characters take two).
fn pad(s: &str, columns: usize) -> String {
    let width: usize = s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum();
    format!("{s}{}", " ".repeat(columns.saturating_sub(width)))
}

/// Whether a character takes two terminal columns (CJK and full-width forms).
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6)
}
