//! An in-memory backend for tests and ephemeral use.
//!
//! Transactions are serialised by one mutex. A write transaction works on a
//! copy of the state and swaps it in on commit, so dropping it is a rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::{
    AccessDirectory, AuditFilter, AuditHead, AuditRecord, AuditStore, Backend, ChangeMark, ClassKey, CustomerChanges,
    CustomerData, CustomerRow, DirectoryKind, DueFilter, GramEntry, IndexLink, KeyStore, RecordRow, Scan,
    ScannedCustomer, SealedFields, StatusChange, StoredCheckpoint, Transaction, TxMode, Unmatched, WrappedKey,
};
use crate::consent::{Channel, ConsentRecord};
use crate::error::{Error, Result};
use crate::model::{CustomerId, RecordKind};

#[derive(Clone, Default)]
struct State {
    prepared: bool,
    meta: BTreeMap<String, Vec<u8>>,
    key_meta: BTreeMap<String, Vec<u8>>,
    last_customer_id: i64,
    generation: u64,
    /// The customer each generation changed, for the last [`JOURNAL_KEPT`].
    changes: BTreeMap<u64, CustomerId>,
    customers: BTreeMap<CustomerId, CustomerRow>,
    external_codes: BTreeMap<String, CustomerId>,
    blind: BTreeSet<(String, Vec<u8>, CustomerId)>,
    search_tokens: BTreeMap<CustomerId, Vec<u64>>,
    search_postings: BTreeSet<(u64, CustomerId)>,
    /// Per token: the first fingerprint, whether another came, how many hold it.
    search_grams: BTreeMap<u64, (u64, bool, u64)>,
    data_keys: BTreeMap<CustomerId, WrappedKey>,
    audit: BTreeMap<u64, AuditRecord>,
    audit_head: Option<AuditHead>,
    checkpoints: BTreeMap<u64, StoredCheckpoint>,
    consents: Vec<ConsentRecord>,
    directory: BTreeMap<(DirectoryKind, String), Vec<u8>>,
    erasure_ledger: BTreeMap<Vec<u8>, i64>,
    directory_generation: u64,
    last_record_id: u64,
    records: BTreeMap<u64, RecordRow>,
    history: BTreeMap<u64, Vec<StatusChange>>,
}

/// Keeps everything in memory; nothing survives the value.
#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while a transaction was open never committed its copy, so
        // the state behind a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn begin(&self, mode: TxMode) -> Result<Box<dyn Transaction + '_>> {
        let guard = self.lock();
        let working = (mode != TxMode::Read).then(|| guard.clone());
        Ok(Box::new(MemoryTx { guard, working, mode }))
    }

    fn prepare(&self, create: bool) -> Result<bool> {
        let mut state = self.lock();
        let existed = state.prepared;
        if create {
            state.prepared = true;
        }
        Ok(existed)
    }

    fn describe(&self) -> String {
        "in-memory store".into()
    }
}

struct MemoryTx<'a> {
    guard: MutexGuard<'a, State>,
    working: Option<State>,
    mode: TxMode,
}

impl MemoryTx<'_> {
    fn state(&self) -> &State {
        self.working.as_ref().unwrap_or(&self.guard)
    }

    /// The state, for a write to the key store (only in `TxMode::Write`).
    fn keys_mut(&mut self) -> Result<&mut State> {
        if self.mode != TxMode::Write {
            return Err(Error::storage("key store write attempted in a transaction that does not lock it"));
        }
        self.state_mut()
    }

    /// Inserts a row with its external code and blind-index entries (not its tokens).
    fn insert_row(&mut self, row: &CustomerRow) -> Result<()> {
        if let Some(unknown) = row.blind.keys().find(|f| !super::BLIND_INDEXED.contains(&f.as_str())) {
            return Err(Error::storage(format!("no blind index for field '{unknown}'")));
        }
        let id = row.header.id;
        let state = self.state_mut()?;
        changing(state, id);
        if state.customers.contains_key(&id) {
            return Err(Error::storage(format!("UNIQUE constraint failed: customers.id ({id})")));
        }
        if let Some(code) = &row.header.external_code {
            if state.external_codes.contains_key(code) {
                return Err(Error::storage("UNIQUE constraint failed: customers.external_code"));
            }
            state.external_codes.insert(code.clone(), id);
        }
        for (field, digest) in &row.blind {
            state.blind.insert((field.clone(), digest.clone(), id));
        }
        let mut stored = row.clone();
        stored.search = Default::default();
        state.customers.insert(id, stored);
        Ok(())
    }

    fn state_mut(&mut self) -> Result<&mut State> {
        self.working.as_mut().ok_or_else(|| Error::storage("write attempted in a read transaction"))
    }
}

impl CustomerData for MemoryTx<'_> {
    fn meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.state().meta.get(name).cloned())
    }

    fn meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.state_mut()?.meta.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn reserve_customer_ids(&mut self, count: u32) -> Result<CustomerId> {
        let state = self.state_mut()?;
        let first = state.last_customer_id + 1;
        state.last_customer_id += i64::from(count.max(1));
        Ok(CustomerId(first))
    }

    fn insert_customer(&mut self, row: &CustomerRow) -> Result<()> {
        self.insert_row(row)?;
        set_tokens(self.state_mut()?, row.header.id, row.search.applied_to(&[]), &|t| row.search.fingerprint(t))
    }

    fn replace_customer(&mut self, row: &CustomerRow, expected_version: u64) -> Result<bool> {
        let id = row.header.id;
        match self.state().customers.get(&id) {
            Some(old) if old.header.version == expected_version => {}
            _ => return Ok(false),
        }
        let state = self.state_mut()?;
        if let Some(code) = &row.header.external_code {
            if state.external_codes.get(code).is_some_and(|holder| *holder != id) {
                return Err(Error::storage("UNIQUE constraint failed: customers.external_code"));
            }
        }
        remove_row(state, id);
        self.insert_row(row)?;
        if !row.search.is_empty() {
            let state = self.state_mut()?;
            let stored = state.search_tokens.get(&id).cloned().unwrap_or_default();
            set_tokens(state, id, row.search.applied_to(&stored), &|t| row.search.fingerprint(t))?;
        }
        Ok(true)
    }

    fn delete_customer(&mut self, id: CustomerId) -> Result<bool> {
        let state = self.state_mut()?;
        changing(state, id);
        let attached: Vec<u64> = state.records.values().filter(|r| r.customer == id).map(|r| r.id).collect();
        for record in attached {
            state.records.remove(&record);
            state.history.remove(&record);
        }
        state.consents.retain(|c| c.customer != id);
        set_tokens(state, id, Vec::new(), &|_| None)?;
        Ok(remove_row(state, id))
    }

    fn get_customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>> {
        Ok(self.state().customers.get(&id).cloned())
    }

    fn search_postings(&mut self, token: u64) -> Result<Vec<CustomerId>> {
        let from = (token, CustomerId(i64::MIN));
        Ok(self.state().search_postings.range(from..).take_while(|(t, _)| *t == token).map(|(_, id)| *id).collect())
    }

    fn search_gram(&mut self, token: u64) -> Result<Option<GramEntry>> {
        Ok(self
            .state()
            .search_grams
            .get(&token)
            .map(|(fingerprint, mixed, _)| GramEntry { fingerprint: *fingerprint, mixed: *mixed }))
    }

    fn put_search_tokens(&mut self, id: CustomerId, tokens: &[(u64, u64)]) -> Result<()> {
        let fingerprints: BTreeMap<u64, u64> = tokens.iter().copied().collect();
        set_tokens(self.state_mut()?, id, tokens.iter().map(|(t, _)| *t).collect(), &|t| fingerprints.get(&t).copied())
    }

    fn find_external_code(&mut self, code: &str) -> Result<Option<CustomerId>> {
        Ok(self.state().external_codes.get(code).copied())
    }

    fn find_blind(&mut self, field: &str, digest: &[u8]) -> Result<Vec<CustomerId>> {
        let lower = (field.to_owned(), digest.to_vec(), CustomerId(i64::MIN));
        Ok(self
            .state()
            .blind
            .range(lower..)
            .take_while(|(f, d, _)| f == field && d == digest)
            .map(|(_, _, id)| *id)
            .collect())
    }

    fn blind_groups(&mut self, field: &str) -> Result<Vec<Vec<CustomerId>>> {
        let mut groups: Vec<Vec<CustomerId>> = Vec::new();
        let mut last: Option<&[u8]> = None;
        for (f, digest, id) in self.state().blind.iter().filter(|(f, _, _)| f == field) {
            let _ = f;
            match (last, groups.last_mut()) {
                (Some(previous), Some(group)) if previous == digest.as_slice() => group.push(*id),
                _ => groups.push(vec![*id]),
            }
            last = Some(digest);
        }
        groups.retain(|g| g.len() > 1);
        Ok(groups)
    }

    fn customers_change_mark(&mut self) -> Result<ChangeMark> {
        // One history only (nothing is restored into memory), so no tag.
        Ok(ChangeMark { generation: self.state().generation, tag: 0 })
    }

    fn customers_changed_since(&mut self, since: ChangeMark) -> Result<Option<CustomerChanges>> {
        let state = self.state();
        let now = ChangeMark { generation: state.generation, tag: 0 };
        let oldest = state.changes.keys().next().copied().unwrap_or(state.generation + 1);
        if since.tag != 0 || since.generation > now.generation || since.generation + 1 < oldest {
            return Ok(None);
        }
        let mut ids: Vec<CustomerId> = state.changes.range(since.generation + 1..).map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(Some(CustomerChanges { now, ids }))
    }

    fn count_customers(&mut self) -> Result<u64> {
        Ok(self.state().customers.len() as u64)
    }

    fn class_counts(&mut self) -> Result<Vec<(ClassKey, u64)>> {
        let mut counts: BTreeMap<ClassKey, u64> = BTreeMap::new();
        for row in self.state().customers.values() {
            *counts.entry(ClassKey::of(&row.header)).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    fn scan_customers(
        &mut self,
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        let state = self.state();
        for (id, row) in &state.customers {
            if visit(scanned_of(state, *id, row, fields))? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn scan_customers_by_id(
        &mut self,
        ids: &[CustomerId],
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        let state = self.state();
        for id in ids {
            let Some(row) = state.customers.get(id) else { continue };
            if visit(scanned_of(state, *id, row, fields))? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn next_record_id(&mut self) -> Result<u64> {
        let state = self.state_mut()?;
        state.last_record_id += 1;
        Ok(state.last_record_id)
    }

    fn insert_record(&mut self, row: &RecordRow) -> Result<()> {
        let state = self.state_mut()?;
        if state.records.contains_key(&row.id) {
            return Err(Error::storage("UNIQUE constraint failed: records.id"));
        }
        state.records.insert(row.id, row.clone());
        Ok(())
    }

    fn replace_record(&mut self, row: &RecordRow, expected_version: u64) -> Result<bool> {
        let state = self.state_mut()?;
        match state.records.get_mut(&row.id) {
            Some(old) if old.version == expected_version => {
                *old = row.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn get_record(&mut self, id: u64) -> Result<Option<RecordRow>> {
        Ok(self.state().records.get(&id).cloned())
    }

    fn delete_record(&mut self, id: u64) -> Result<bool> {
        let state = self.state_mut()?;
        state.history.remove(&id);
        Ok(state.records.remove(&id).is_some())
    }

    fn records_of(&mut self, customer: CustomerId, before: Option<(i64, u64)>, limit: u32) -> Result<Vec<RecordRow>> {
        let mut rows: Vec<&RecordRow> = self
            .state()
            .records
            .values()
            .filter(|r| r.customer == customer && before.is_none_or(|b| (r.time, r.id) < b))
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse((r.time, r.id)));
        Ok(rows.into_iter().take(limit as usize).cloned().collect())
    }

    fn records_due(&mut self, filter: &DueFilter) -> Result<Vec<RecordRow>> {
        let mut rows: Vec<&RecordRow> = self
            .state()
            .records
            .values()
            .filter(|r| r.pending && r.kind == RecordKind::Service)
            .filter(|r| {
                let due = r.due_at.unwrap_or(i64::MAX);
                filter.from.is_none_or(|f| due >= f)
                    && due <= filter.to
                    && filter.owner.as_ref().is_none_or(|o| r.owner.as_ref() == Some(o))
                    && filter.after.is_none_or(|a| (due, r.id) > a)
            })
            .collect();
        rows.sort_by_key(|r| (r.due_at, r.id));
        Ok(rows.into_iter().take(filter.limit as usize).cloned().collect())
    }

    fn records_retained_since(&mut self, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>> {
        Ok(self
            .state()
            .records
            .values()
            .filter(|r| r.kind == kind && r.retention_start.is_some_and(|t| t <= cutoff))
            .map(|r| (r.id, r.customer))
            .collect())
    }

    fn append_status_change(&mut self, record: u64, change: &StatusChange) -> Result<()> {
        self.state_mut()?.history.entry(record).or_default().push(change.clone());
        Ok(())
    }

    fn status_history(&mut self, record: u64) -> Result<Vec<StatusChange>> {
        Ok(self.state().history.get(&record).cloned().unwrap_or_default())
    }

    fn append_consent(&mut self, record: &ConsentRecord) -> Result<()> {
        self.state_mut()?.consents.push(record.clone());
        Ok(())
    }

    fn consents_of(&mut self, customer: CustomerId) -> Result<Vec<ConsentRecord>> {
        Ok(self.state().consents.iter().filter(|c| c.customer == customer).cloned().collect())
    }

    fn consenting(&mut self, purpose: &str, channel: Channel) -> Result<Vec<CustomerId>> {
        let mut latest: BTreeMap<CustomerId, bool> = BTreeMap::new();
        for c in self.state().consents.iter().filter(|c| c.purpose == purpose && c.channel == channel) {
            latest.insert(c.customer, c.granted);
        }
        Ok(latest.into_iter().filter(|(_, granted)| *granted).map(|(id, _)| id).collect())
    }
}

impl KeyStore for MemoryTx<'_> {
    fn key_meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.state().key_meta.get(name).cloned())
    }

    fn key_meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.keys_mut()?.key_meta.insert(name.to_owned(), value.to_vec());
        Ok(())
    }

    fn put_data_key(&mut self, customer: CustomerId, key: &WrappedKey) -> Result<()> {
        self.keys_mut()?.data_keys.insert(customer, key.clone());
        Ok(())
    }

    fn get_data_key(&mut self, customer: CustomerId) -> Result<Option<WrappedKey>> {
        Ok(self.state().data_keys.get(&customer).cloned())
    }

    fn delete_data_key(&mut self, customer: CustomerId) -> Result<bool> {
        Ok(self.keys_mut()?.data_keys.remove(&customer).is_some())
    }

    fn data_keys(&mut self) -> Result<Vec<(CustomerId, WrappedKey)>> {
        Ok(self.state().data_keys.iter().map(|(id, key)| (*id, key.clone())).collect())
    }

    fn count_data_keys(&mut self) -> Result<u64> {
        Ok(self.state().data_keys.len() as u64)
    }

    fn record_erasure(&mut self, hash: &[u8], at: i64) -> Result<()> {
        self.keys_mut()?.erasure_ledger.entry(hash.to_vec()).or_insert(at);
        Ok(())
    }

    fn erasure_ledger(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self.state().erasure_ledger.keys().cloned().collect())
    }
}

impl AuditStore for MemoryTx<'_> {
    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        Ok(self.state().audit_head.clone())
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<()> {
        let state = self.state_mut()?;
        if state.audit.contains_key(&record.seq) {
            return Err(Error::storage(format!("UNIQUE constraint failed: audit_entries.seq ({})", record.seq)));
        }
        state.audit.insert(record.seq, record.clone());
        state.audit_head = Some(AuditHead { seq: record.seq, mac: record.mac.clone(), time: record.time });
        Ok(())
    }

    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()> {
        for record in self.state().audit.range(filter.after_seq.saturating_add(1)..).map(|(_, r)| r) {
            let wanted = filter.customer.is_none_or(|c| record.customers.contains(&c))
                && filter.principal.as_ref().is_none_or(|p| *p == record.principal)
                && filter.from_time.is_none_or(|t| record.time >= t)
                && filter.to_time.is_none_or(|t| record.time < t)
                && filter.outcome.as_ref().is_none_or(|o| *o == record.outcome)
                && filter.value_hash.as_ref().is_none_or(|h| record.value_hash.as_ref() == Some(h));
            if wanted && visit(record.clone())? == Scan::Stop {
                break;
            }
        }
        Ok(())
    }

    fn scan_audit_index(&mut self, _: &mut dyn FnMut(IndexLink<'_>) -> Result<()>) -> Result<u64> {
        // Queries filter the entries themselves: there is no derived index to check.
        Ok(0)
    }

    fn put_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<()> {
        self.state_mut()?.checkpoints.insert(checkpoint.size, checkpoint.clone());
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>> {
        Ok(self.state().checkpoints.values().cloned().collect())
    }

    fn last_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>> {
        Ok(self.state().checkpoints.values().next_back().cloned())
    }
}

impl AccessDirectory for MemoryTx<'_> {
    fn directory_get(&mut self, kind: DirectoryKind, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.state().directory.get(&(kind, key.to_owned())).cloned())
    }

    fn directory_put(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        let state = self.state_mut()?;
        state.directory.insert((kind, key.to_owned()), value.to_vec());
        state.directory_generation += 1;
        Ok(())
    }

    fn directory_touch(&mut self, kind: DirectoryKind, key: &str, value: &[u8]) -> Result<()> {
        self.state_mut()?.directory.insert((kind, key.to_owned()), value.to_vec());
        Ok(())
    }

    fn directory_generation(&mut self) -> Result<u64> {
        Ok(self.state().directory_generation)
    }

    fn directory_delete(&mut self, kind: DirectoryKind, key: &str) -> Result<bool> {
        let state = self.state_mut()?;
        let removed = state.directory.remove(&(kind, key.to_owned())).is_some();
        if removed {
            state.directory_generation += 1;
        }
        Ok(removed)
    }

    fn directory_list(&mut self, kind: DirectoryKind) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .state()
            .directory
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }
}

impl Transaction for MemoryTx<'_> {
    fn unmatched_keys(&mut self) -> Result<Unmatched> {
        let state = self.state();
        Ok(Unmatched {
            orphan_keys: state.data_keys.keys().filter(|id| !state.customers.contains_key(id)).copied().collect(),
            keyless_customers: state
                .customers
                .iter()
                .filter(|(id, row)| !row.sealed.is_empty() && !state.data_keys.contains_key(id))
                .map(|(id, _)| *id)
                .collect(),
        })
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        if let Some(working) = self.working.take() {
            *self.guard = working;
        }
        Ok(())
    }
}

/// Change-journal entries the memory backend keeps.
const JOURNAL_KEPT: u64 = 1024;

/// Moves the generation on for a change to customer `id`, and journals it.
fn changing(state: &mut State, id: CustomerId) {
    state.generation += 1;
    state.changes.insert(state.generation, id);
    if state.generation > JOURNAL_KEPT {
        state.changes.remove(&(state.generation - JOURNAL_KEPT));
    }
}

/// Customer `id` as a scan hands it out: its header, the sealed `fields` it has, its key.
fn scanned_of(state: &State, id: CustomerId, row: &CustomerRow, fields: &[&str]) -> ScannedCustomer {
    let wanted: BTreeMap<String, Vec<u8>> =
        fields.iter().filter_map(|f| row.sealed.get(*f).map(|v| ((*f).to_owned(), v.clone()))).collect();
    ScannedCustomer {
        header: row.header.clone(),
        sealed: SealedFields::pack(&wanted),
        key: state.data_keys.get(&id).cloned(),
    }
}

/// Makes customer `id`'s keyword-index tokens `wanted` (sorted), keeping
/// the register of grams; `fingerprint` gives each added token's.
fn set_tokens(
    state: &mut State,
    id: CustomerId,
    wanted: Vec<u64>,
    fingerprint: &dyn Fn(u64) -> Option<u64>,
) -> Result<()> {
    let stored: BTreeSet<u64> = state.search_tokens.remove(&id).unwrap_or_default().into_iter().collect();
    let new: BTreeSet<u64> = wanted.iter().copied().collect();
    for token in stored.difference(&new) {
        state.search_postings.remove(&(*token, id));
        if let Some(entry) = state.search_grams.get_mut(token) {
            entry.2 -= 1;
            if entry.2 == 0 {
                state.search_grams.remove(token);
            }
        }
    }
    for token in new.difference(&stored) {
        let fp =
            fingerprint(*token).ok_or_else(|| Error::storage("a keyword-index token came without its fingerprint"))?;
        state.search_postings.insert((*token, id));
        let entry = state.search_grams.entry(*token).or_insert((fp, false, 0));
        entry.1 |= entry.0 != fp;
        entry.2 += 1;
    }
    if !wanted.is_empty() {
        state.search_tokens.insert(id, wanted);
    }
    Ok(())
}

/// Removes a customer's row with its external code and blind-index entries;
/// its consents stay (a replace keeps them, a delete removes them itself).
fn remove_row(state: &mut State, id: CustomerId) -> bool {
    let Some(row) = state.customers.remove(&id) else { return false };
    if let Some(code) = &row.header.external_code {
        state.external_codes.remove(code);
    }
    for (field, digest) in row.blind {
        state.blind.remove(&(field, digest, id));
    }
    true
}
