//! Shared by the storage wrappers of the tests and benches: forwards every
//! method of the storage seam's parts that a wrapper does not intercept to
//! its inner transaction, calling the wrapper's `before()` hook first.
//!
//! Each macro expands inside the wrapper's `impl` of its part, where the
//! wrapper `W` has a field `inner: Box<dyn Transaction>` and a method
//! `fn before(&self) -> Result<()>`. The methods left out are the ones
//! wrappers intercept, which each wrapper writes itself:
//! `CustomerData::scan_customers`, `AuditStore::{audit_head, append_audit,
//! scan_audit}` and `Transaction::commit`.

/// Expands to the forwarding methods of one list (the shared body).
#[macro_export]
macro_rules! forward_methods {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            self.before()?;
            self.inner.$name($($arg),*)
        })*
    };
}

/// Forwards the `CustomerData` methods no wrapper intercepts.
#[macro_export]
macro_rules! forward_customer_data {
    () => {
        $crate::forward_methods! {
            meta_get(name: &str) -> Result<Option<Vec<u8>>>;
            meta_put(name: &str, value: &[u8]) -> Result<()>;
            reserve_customer_ids(count: u32) -> Result<CustomerId>;
            insert_customer(row: &CustomerRow) -> Result<()>;
            replace_customer(row: &CustomerRow, expected_version: u64) -> Result<bool>;
            delete_customer(id: CustomerId) -> Result<bool>;
            get_customer(id: CustomerId) -> Result<Option<CustomerRow>>;
            scan_customers_by_id(ids: &[CustomerId], fields: &[&str], visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>) -> Result<()>;
            search_postings(token: u64) -> Result<Vec<CustomerId>>;
            search_gram(token: u64) -> Result<Option<custodian::storage::GramEntry>>;
            put_search_tokens(id: CustomerId, tokens: &[(u64, u64)]) -> Result<()>;
            find_external_code(code: &str) -> Result<Option<CustomerId>>;
            find_blind(field: &str, digest: &[u8]) -> Result<Vec<CustomerId>>;
            blind_groups(field: &str) -> Result<Vec<Vec<CustomerId>>>;
            count_customers() -> Result<u64>;
            class_counts() -> Result<Vec<(custodian::storage::ClassKey, u64)>>;
            customers_change_mark() -> Result<custodian::storage::ChangeMark>;
            customers_changed_since(since: custodian::storage::ChangeMark) -> Result<Option<custodian::storage::CustomerChanges>>;
            next_record_id() -> Result<u64>;
            insert_record(row: &RecordRow) -> Result<()>;
            replace_record(row: &RecordRow, expected_version: u64) -> Result<bool>;
            get_record(id: u64) -> Result<Option<RecordRow>>;
            delete_record(id: u64) -> Result<bool>;
            records_of(customer: CustomerId, before: Option<(i64, u64)>, limit: u32) -> Result<Vec<RecordRow>>;
            records_due(filter: &DueFilter) -> Result<Vec<RecordRow>>;
            records_retained_since(kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>>;
            append_status_change(record: u64, change: &StatusChange) -> Result<()>;
            status_history(record: u64) -> Result<Vec<StatusChange>>;
            append_consent(record: &ConsentRecord) -> Result<()>;
            consents_of(customer: CustomerId) -> Result<Vec<ConsentRecord>>;
            consenting(purpose: &str, channel: Channel) -> Result<Vec<CustomerId>>;
        }
    };
}

/// Forwards the `KeyStore` methods no wrapper intercepts.
#[macro_export]
macro_rules! forward_key_store {
    () => {
        $crate::forward_methods! {
            key_meta_get(name: &str) -> Result<Option<Vec<u8>>>;
            key_meta_put(name: &str, value: &[u8]) -> Result<()>;
            put_data_key(customer: CustomerId, key: &WrappedKey) -> Result<()>;
            get_data_key(customer: CustomerId) -> Result<Option<WrappedKey>>;
            delete_data_key(customer: CustomerId) -> Result<bool>;
            data_keys() -> Result<Vec<(CustomerId, WrappedKey)>>;
            count_data_keys() -> Result<u64>;
            record_erasure(hash: &[u8], at: i64) -> Result<()>;
            erasure_ledger() -> Result<Vec<Vec<u8>>>;
        }
    };
}

/// Forwards the `AuditStore` methods no wrapper intercepts.
#[macro_export]
macro_rules! forward_audit_store {
    () => {
        $crate::forward_methods! {
            scan_audit_index(visit: &mut dyn FnMut(IndexLink<'_>) -> Result<()>) -> Result<u64>;
            put_checkpoint(checkpoint: &StoredCheckpoint) -> Result<()>;
            checkpoints() -> Result<Vec<StoredCheckpoint>>;
            last_checkpoint() -> Result<Option<StoredCheckpoint>>;
        }
    };
}

/// Forwards the `AccessDirectory` methods no wrapper intercepts.
#[macro_export]
macro_rules! forward_access_directory {
    () => {
        $crate::forward_methods! {
            directory_get(kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>>;
            directory_put(kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;
            directory_touch(kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()>;
            directory_generation() -> Result<u64>;
            directory_delete(kind: DirectoryKind, key: &str) -> Result<bool>;
            directory_list(kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>>;
        }
    };
}

/// Forwards the `Transaction` methods no wrapper intercepts.
#[macro_export]
macro_rules! forward_transaction {
    () => {
        $crate::forward_methods! {
            unmatched_keys() -> Result<Unmatched>;
        }
    };
}
