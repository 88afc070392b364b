//! Listing (sorted, paged, filtered) and keyword search.
//!
//! Both stream the store once in id order, decrypting only the one field
//! needed for sorting (or the searchable fields), and keep at most
//! `offset + limit` candidates in memory, so 100,000 customers never sit in
//! memory at once. The page itself is then read and rendered under the plan.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use zeroize::Zeroizing;

use std::sync::Arc;

use super::StoreInner;
use super::session::{Call, Session, read_view};
use super::sort_cache::{KeyArena, Keyed, SortOrder};
use crate::access::{Action, Decision, rules};
use crate::audit::hex;
use crate::crypto::FieldCipher;
use crate::error::{Error, Result};
use crate::model::validate::normalise;
use crate::model::{CustomerId, Field, Level, Page, Storage};
use crate::search::grams;
use crate::storage::{CustomerHeader, Scan, ScannedCustomer};

/// Largest page a listing or search returns.
pub const MAX_PAGE: u32 = 1000;

/// Which customers a listing includes (classification attributes only).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Filter {
    /// Only this kind (`individual` / `organisation`).
    pub kind: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this value tier.
    pub tier: Option<String>,
    /// Only this source channel.
    pub source: Option<String>,
}

/// A sorted, paged listing request: `ListQuery::new().sort(Field::Name).limit(100)`.
///
/// Like every options struct of the crate (`Filter`, `SearchQuery`,
/// `CreateOptions`, `AuditQuery`, `LoginPolicy`, `SqliteOptions`,
/// `CheckpointPolicy`, `ImportOptions`, `RestoreOptions`) it is
/// `#[non_exhaustive]`: build it with its constructor and setters, so a
/// field added later breaks no caller. A struct literal does not compile:
///
/// ```compile_fail
/// let query = custodian::ListQuery {
///     sort: custodian::Field::Name,
///     descending: false,
///     offset: 0,
///     limit: 10,
///     filter: custodian::Filter::default(),
/// };
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListQuery {
    /// The sort field; text sorts in pinyin order, empty values last, ties by id.
    pub sort: Field,
    /// Descending instead of ascending (empty values stay last).
    pub descending: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Page size, 1..=1000.
    pub limit: u32,
    /// Which customers to include.
    pub filter: Filter,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { sort: Field::Name, descending: false, offset: 0, limit: 50, filter: Filter::default() }
    }
}

/// A keyword search request: `SearchQuery::new("发票").limit(20)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Text to find (case-insensitive substring), 1-64 characters.
    pub keyword: String,
    /// Matches to skip.
    pub offset: u64,
    /// Page size, 1..=1000.
    pub limit: u32,
}

impl SearchQuery {
    /// The first page (50 matches) for `keyword`.
    pub fn new(keyword: impl Into<String>) -> Self {
        SearchQuery { keyword: keyword.into(), offset: 0, limit: 50 }
    }

    /// Skips `offset` matches.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most `limit` matches (1..=1000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

impl Filter {
    /// Every customer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only customers of this kind (`individual` / `organisation`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Only customers of this category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Only customers of this value tier.
    pub fn tier(mut self, tier: impl Into<String>) -> Self {
        self.tier = Some(tier.into());
        self
    }

    /// Only customers from this source channel.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl ListQuery {
    /// The first 50 customers by name, ascending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sorts by `field`.
    pub fn sort(mut self, field: Field) -> Self {
        self.sort = field;
        self
    }

    /// Descending instead of ascending (empty values stay last).
    pub fn descending(mut self, descending: bool) -> Self {
        self.descending = descending;
        self
    }

    /// Skips `offset` rows.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most `limit` rows (1..=1000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Includes only the customers `filter` admits.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
}

/// Normalises a search keyword as values are ([`crate::search`]: NFKC,
/// lower case), trimmed; 1-64 characters.
pub(crate) fn normalise_keyword(raw: &str) -> Result<String> {
    if raw.chars().any(char::is_control) {
        return Err(Error::invalid(
            "keyword",
            "control_character",
            "a search keyword cannot contain control characters",
        ));
    }
    let keyword = grams::normalise(raw.trim()).trim().to_owned();
    let chars = keyword.chars().count();
    if chars == 0 || chars > 64 {
        return Err(Error::invalid("keyword", "keyword_length", "a search keyword has 1 to 64 characters"));
    }
    Ok(keyword)
}

/// Customers handed from the storage scan to the matching worker at a time.
const SEARCH_CHUNK: usize = 2048;

/// Every customer `matches` accepts, in id order, among every customer
/// (`among` is `None`) or the ascending ids `among`. This thread reads
/// customers from storage in chunks while workers on the other cores decrypt
/// and match earlier chunks (decryption is most of a search's work).
fn match_while_scanning(
    tx: &mut dyn crate::storage::Transaction,
    among: Option<&[CustomerId]>,
    fields: &[&str],
    matches: &(dyn Fn(&ScannedCustomer) -> Result<bool> + Sync),
) -> Result<Vec<CustomerId>> {
    // One core scans; the others match (measured: more workers than spare
    // cores only adds contention).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).saturating_sub(1).clamp(1, 4);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Vec<ScannedCustomer>)>(workers * 2);
    let receive = std::sync::Mutex::new(receive);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let receive = &receive;
                scope.spawn(move || {
                    let mut done: Vec<(usize, Result<Vec<CustomerId>>)> = Vec::new();
                    loop {
                        let next = receive.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((index, chunk)) = next else { break };
                        // After an error the worker keeps draining, so the scan never blocks.
                        let failed = done.iter().any(|(_, r)| r.is_err());
                        let ids = if failed {
                            Ok(Vec::new())
                        } else {
                            chunk
                                .iter()
                                .filter_map(|c| matches(c).map(|hit| hit.then_some(c.header.id)).transpose())
                                .collect()
                        };
                        done.push((index, ids));
                    }
                    done
                })
            })
            .collect();
        let mut chunk: Vec<ScannedCustomer> = Vec::with_capacity(SEARCH_CHUNK);
        let mut index = 0;
        let mut visit = |c| {
            chunk.push(c);
            if chunk.len() == SEARCH_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(SEARCH_CHUNK));
                send.send((index, full)).map_err(|_| Error::storage("search workers stopped"))?;
                index += 1;
            }
            Ok(Scan::Continue)
        };
        let scanned = match among {
            None => tx.scan_customers(fields, &mut visit),
            Some(ids) => tx.scan_customers_by_id(ids, fields, &mut visit),
        };
        if !chunk.is_empty() {
            let _ = send.send((index, chunk));
        }
        drop(send);
        let mut results: Vec<(usize, Result<Vec<CustomerId>>)> = Vec::new();
        for handle in handles {
            results.extend(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        scanned?;
        results.sort_by_key(|(i, _)| *i);
        let mut matched = Vec::new();
        for (_, ids) in results {
            matched.extend(ids?);
        }
        Ok(matched)
    })
}

/// A candidate row in a sort: empty values last, then value, then id.
#[derive(PartialEq, Eq)]
struct Ranked {
    missing: bool,
    key: Vec<u8>,
    descending: bool,
    id: CustomerId,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.missing
            .cmp(&other.missing)
            .then_with(|| if self.descending { other.key.cmp(&self.key) } else { self.key.cmp(&other.key) })
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Integers as bytes whose order is numeric order.
fn int_key(n: i64) -> Vec<u8> {
    ((n as u64) ^ (1 << 63)).to_be_bytes().to_vec()
}

fn check_page(limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::out_of_range("limit", "page_size", format!("a page holds 1 to {MAX_PAGE} rows")));
    }
    Ok(())
}

fn sort_key(store: &StoreInner, sort: &Field, sort_name: &str, c: &ScannedCustomer) -> Result<Keyed> {
    let h = &c.header;
    let text = |s: &Option<String>| s.as_ref().map_or(Keyed::Missing, |s| Keyed::Value(store.collation.sort_key(s)));
    Ok(match sort {
        Field::CreatedAt => Keyed::Value(int_key(h.created_at)),
        Field::UpdatedAt => Keyed::Value(int_key(h.updated_at)),
        Field::Version => Keyed::Value(int_key(h.version as i64)),
        Field::Kind => Keyed::Value(store.collation.sort_key(&h.kind)),
        Field::Status => Keyed::Value(store.collation.sort_key(&h.status)),
        Field::ExternalCode => text(&h.external_code),
        Field::Category => text(&h.category),
        Field::Source => text(&h.source),
        Field::Tier => text(&h.tier),
        _ => match (c.sealed.get(sort_name), &c.key) {
            (None, _) => Keyed::Missing,
            (Some(_), None) => Keyed::Unlisted,
            (Some(sealed), Some(_)) => {
                let key = store.data_key(h.id, c.key.as_ref())?;
                let value = FieldCipher::new(h.id, &key).open(sort, sealed)?;
                // A person's name sorts by its surname's reading.
                Keyed::Value(match sort {
                    Field::Name => store.collation.person_name_sort_key(&value),
                    _ => store.collation.sort_key(&value),
                })
            }
        },
    })
}

/// The order of every customer by `sort`: the kept one if it is current,
/// else the kept one with the customers changed since moved, else a full
/// sort (which is then kept).
fn sort_order(
    store: &StoreInner,
    tx: &mut dyn crate::storage::Transaction,
    sort: &Field,
    sort_name: &str,
    sealed_fields: &[&str],
) -> Result<Arc<SortOrder>> {
    let now = tx.customers_change_mark()?;
    if let Some(kept) = store.sort_cache.get(sort_name) {
        if kept.mark == now {
            return Ok(kept);
        }
        if let Some(changes) = tx.customers_changed_since(kept.mark)?.filter(|c| kept.worth_updating(c)) {
            let mut key_of = |id: CustomerId| -> Result<Keyed> {
                let mut keyed = Keyed::Unlisted;
                tx.scan_customers_by_id(&[id], sealed_fields, &mut |c| {
                    keyed = sort_key(store, sort, sort_name, &c)?;
                    Ok(Scan::Stop)
                })?;
                Ok(keyed)
            };
            if let Some(updated) = kept.updated(&changes, &mut key_of)? {
                let updated = Arc::new(updated);
                store.sort_cache.put(sort_name, updated.clone(), false);
                return Ok(updated);
            }
        }
    }
    let (mut keyed, mut missing) = (KeyArena::default(), Vec::new());
    tx.scan_customers(sealed_fields, &mut |c| {
        match sort_key(store, sort, sort_name, &c)? {
            Keyed::Value(key) => keyed.push(&key, c.header.id),
            Keyed::Missing => missing.push(c.header.id),
            Keyed::Unlisted => {}
        }
        Ok(Scan::Continue)
    })?;
    let order = Arc::new(SortOrder::new(now, keyed, missing));
    store.sort_cache.put(sort_name, order.clone(), true);
    Ok(order)
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.kind.is_none() && self.category.is_none() && self.tier.is_none() && self.source.is_none()
    }

    pub(super) fn matches(&self, h: &CustomerHeader) -> bool {
        let eq = |want: &Option<String>, have: Option<&String>| want.as_ref().is_none_or(|w| have == Some(w));
        eq(&self.kind, Some(&h.kind))
            && eq(&self.category, h.category.as_ref())
            && eq(&self.tier, h.tier.as_ref())
            && eq(&self.source, h.source.as_ref())
    }

    /// Normalises the filter values like stored values, so `a` finds tier `A`.
    pub(super) fn normalised(&self, session: &Session, today_days: i64) -> Result<Filter> {
        let catalogue = &session.store().catalogue;
        let norm = |field: Field, v: &Option<String>| -> Result<Option<String>> {
            match v {
                Some(v) => normalise(&field, v, catalogue, today_days),
                None => Ok(None),
            }
        };
        Ok(Filter {
            kind: norm(Field::Kind, &self.kind)?,
            category: norm(Field::Category, &self.category)?,
            tier: norm(Field::Tier, &self.tier)?,
            source: norm(Field::Source, &self.source)?,
        })
    }
}

impl Session {
    /// Lists customers sorted by any field, a page at a time. Sorting by a
    /// field needs plaintext access to it (sorting by a masked field would
    /// reveal its order).
    pub fn list(&self, query: &ListQuery) -> Result<Page> {
        self.run(Call::new(Action::Read, "customer.list"), |store, tx, plan, trail| {
            check_page(query.limit)?;
            let today = store.clock.now_millis().div_euclid(86_400_000);
            let filter = query.filter.normalised(self, today)?;
            let sort = query.sort.clone();
            store.catalogue.check_field(&sort)?;
            if plan.decision(&sort) != Decision::Allow {
                return Err(Error::Denied {
                    rule: rules::NEEDS_PLAIN_ACCESS,
                    reason: format!(
                        "sorting by '{sort}' needs plaintext access to it, which principal '{}' lacks",
                        self.principal_id()
                    ),
                });
            }
            let sort_name = sort.name().into_owned();
            let sealed_fields: Vec<&str> =
                if sort.storage() == Storage::Sealed { vec![sort_name.as_str()] } else { vec![] };
            let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
            let limit = query.limit as usize;
            // A marketing session lists only customers who consent on its channel.
            let scope = self.consent_scope(tx)?;
            let in_scope = |id: CustomerId| scope.admits(id);
            let (ids, total) = if filter.is_empty() {
                // Every customer: the kept order, brought up to date.
                let order = sort_order(store, tx, &sort, &sort_name, &sealed_fields)?;
                if scope.admits_everyone() {
                    (order.page(query.descending, offset, limit), order.len() as u64)
                } else {
                    let (ids, total) = order.page_where(query.descending, offset, limit, in_scope);
                    (ids, total as u64)
                }
            } else {
                // A filtered listing keeps only the best offset + limit candidates.
                let keep = offset.saturating_add(limit);
                let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
                let mut total = 0u64;
                tx.scan_customers(&sealed_fields, &mut |c| {
                    if !filter.matches(&c.header) || !in_scope(c.header.id) {
                        return Ok(Scan::Continue);
                    }
                    let (missing, key) = match sort_key(store, &sort, &sort_name, &c)? {
                        Keyed::Value(key) => (false, key),
                        Keyed::Missing => (true, Vec::new()),
                        Keyed::Unlisted => return Ok(Scan::Continue),
                    };
                    total += 1;
                    heap.push(Ranked { missing, key, descending: query.descending, id: c.header.id });
                    if heap.len() > keep {
                        heap.pop();
                    }
                    Ok(Scan::Continue)
                })?;
                (heap.into_sorted_vec().into_iter().skip(offset).map(|r| r.id).collect(), total)
            };
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                let view = read_view(store, tx, plan, id)?;
                trail.saw(&view, plan);
                items.push(view);
            }
            Ok(Page { items, total })
        })
    }

    /// Finds customers whose searchable text contains `keyword`, in id
    /// order. The text and the keyword are compared normalised (NFKC, so
    /// full-width letters and digits match their ASCII forms; lower case).
    /// Only the catalogue's search fields ([`crate::Catalogue::with_search_fields`];
    /// by default name, organisation, title, address, notes, tags) that the
    /// session sees in plaintext are searched, never L1 fields.
    ///
    /// With the encrypted index (the default) the candidates come from the
    /// index and each is decrypted and re-checked, so the answer is exactly
    /// that of a scan; a keyword with no run of two letters or digits (`王`,
    /// `a b`) and a store whose index is being rebuilt are answered by
    /// decrypting and scanning every customer.
    pub fn search(&self, query: &SearchQuery) -> Result<Page> {
        self.run(Call::new(Action::Read, "customer.search"), |store, tx, plan, trail| {
            check_page(query.limit)?;
            let keyword = Zeroizing::new(normalise_keyword(&query.keyword)?);
            trail.lookup = Some(("keyword".into(), hex(&store.audit.value_hash("keyword", &keyword))));
            let searchable: Vec<Field> = store
                .search
                .fields()
                .filter(|f| plan.decision(f) == Decision::Allow && store.catalogue.level(f) != Level::L1)
                .cloned()
                .collect();
            let scope = self.consent_scope(tx)?;
            // The index narrows the customers to decrypt; without it, all are.
            let candidates = if searchable.is_empty() {
                Some(BTreeMap::new())
            } else if store.search_index_current(tx)? {
                store.search_candidates(tx, &searchable, &keyword, &|id| scope.admits(id))?
            } else {
                None
            };
            let matched = match candidates {
                Some(found) if found.is_empty() => Vec::new(),
                found => decrypt_and_match(store, tx, found.as_ref(), &searchable, &keyword, &scope)?,
            };
            let total = matched.len() as u64;
            let (skip, keep) = (usize::try_from(query.offset).unwrap_or(usize::MAX), query.limit as usize);
            let mut items = Vec::with_capacity(keep.min(matched.len()));
            for id in matched.into_iter().skip(skip).take(keep) {
                let view = read_view(store, tx, plan, id)?;
                trail.saw(&view, plan);
                items.push(view);
            }
            Ok(Page { items, total })
        })
    }
}

/// The customers (the `candidates` with the fields to check and the fields
/// that match without a check, a bit each in the order of `fields`; or all,
/// every field checked) whose `fields` contain `keyword` (normalised).
fn decrypt_and_match(
    store: &StoreInner,
    tx: &mut dyn crate::storage::Transaction,
    candidates: Option<&BTreeMap<CustomerId, (u64, u64)>>,
    fields: &[Field],
    keyword: &str,
    scope: &super::session::Scope,
) -> Result<Vec<CustomerId>> {
    let names: Vec<String> = fields.iter().map(|f| f.name().into_owned()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // Whether one customer matches; a shredded customer (no key), or one
    // the session may not see, never does.
    let matches = |c: &ScannedCustomer| -> Result<bool> {
        if !scope.admits(c.header.id) || c.sealed.is_empty() || c.key.is_none() {
            return Ok(false);
        }
        let wanted = candidates.map_or(u64::MAX, |found| found.get(&c.header.id).map_or(0, |(held, _)| *held));
        let key = store.data_key(c.header.id, c.key.as_ref())?;
        let cipher = FieldCipher::new(c.header.id, &key);
        for (name, sealed) in c.sealed.iter() {
            let Some(bit) = refs.iter().position(|r| *r == name) else { continue };
            if wanted & (1 << bit.min(63)) == 0 {
                continue;
            }
            let value = cipher.open(&fields[bit], sealed)?;
            if grams::contains(&Zeroizing::new(grams::normalise(&value)), keyword) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let Some(found) = candidates else { return match_while_scanning(tx, None, &refs, &matches) };
    // Holding a token no other gram gave proves the match: only the rest is decrypted.
    let (mut proven, mut unproven) = (Vec::new(), Vec::new());
    for (id, (_, proof)) in found {
        if *proof != 0 { proven.push(*id) } else { unproven.push(*id) }
    }
    if !unproven.is_empty() {
        proven.extend(match_while_scanning(tx, Some(&unproven), &refs, &matches)?);
        proven.sort_unstable();
    }
    Ok(proven)
}
