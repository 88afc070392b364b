//! The order of all customers by one field, kept between listings, kept up
//! to date under writes, and kept sealed across opens.
//!
//! Sorting a million customers by a sealed field means decrypting that
//! field of every customer: seconds. So the first unfiltered listing by a
//! field keeps the resulting order (ids only, never values), marked with
//! the point in the customers' history it is true for ([`ChangeMark`]).
//! A later listing asks the store's change journal which customers changed
//! since (in this process or another) and moves just those: each is taken
//! out and put back by a binary search that decrypts about twenty
//! neighbours' values. Only when the journal cannot say (too many changes,
//! or a history replaced by a restore) is the order rebuilt.
//!
//! The order is also written, sealed under a key derived from the root
//! secret, beside the store's files ([`SealedOrders`]), so the first listing
//! after an open applies the changes since instead of decrypting everyone.
//! The file reveals only how many customers there are; a stale, foreign or
//! damaged file is ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::crypto::{Secret, aead_key, open, seal_into};
use crate::error::Result;
use crate::model::CustomerId;
use crate::storage::{ChangeMark, CustomerChanges};

/// A customer's sort key for one field.
pub(crate) enum Keyed {
    /// Its key: customers sort by it, then by id.
    Value(Vec<u8>),
    /// It has no value: listed after those that have one, by id.
    Missing,
    /// Not listed: its data key is gone (crypto-shredded), or it is.
    Unlisted,
}

/// Customers in ascending order of one field: those with a value first (ties
/// by id), then those without (by id).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SortOrder {
    /// The point in the customers' history this order is true for.
    pub(crate) mark: ChangeMark,
    order: Vec<CustomerId>,
    /// `tied[i]`: customer `i` has the same value as customer `i - 1`.
    tied: Vec<bool>,
    /// How many customers have a value (they come first).
    present: usize,
}

impl SortOrder {
    /// Builds the order from the sort keys of the customers with a value
    /// and the ids of those without.
    pub(crate) fn new(mark: ChangeMark, keyed: KeyArena, mut missing: Vec<CustomerId>) -> Self {
        let KeyArena { bytes, mut entries } = keyed;
        let key = |e: &(u32, u32, CustomerId)| &bytes[e.0 as usize..(e.0 + e.1) as usize];
        entries.sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.2.cmp(&b.2)));
        missing.sort_unstable();
        let tied = entries.iter().enumerate().map(|(i, e)| i > 0 && key(&entries[i - 1]) == key(e)).collect();
        let present = entries.len();
        let order = entries.into_iter().map(|(_, _, id)| id).chain(missing).collect();
        SortOrder { mark, order, tied, present }
    }

    /// Number of customers.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether `changes` are few enough to apply to this order rather than
    /// rebuild it: each costs about twenty decryptions, a rebuild one per
    /// customer.
    pub(crate) fn worth_updating(&self, changes: &CustomerChanges) -> bool {
        changes.ids.len() <= (self.order.len() / 64).max(64)
    }

    /// This order with `changes` applied: the changed customers taken out,
    /// then put back where their keys (`key_of`, read now) place them.
    /// `key_of` is asked for the changed customers and for the neighbours
    /// the binary searches land on. `None` if a neighbour no longer has the
    /// key the order assumed (the journal missed a change): rebuild then.
    pub(crate) fn updated(
        &self,
        changes: &CustomerChanges,
        key_of: &mut dyn FnMut(CustomerId) -> Result<Keyed>,
    ) -> Result<Option<SortOrder>> {
        let changed = |id: &CustomerId| changes.ids.binary_search(id).is_ok();
        // What stays. A kept customer is tied to the previous kept one when
        // every step between them was a tie.
        let (mut kept, mut kept_tied) = (Vec::with_capacity(self.present), Vec::with_capacity(self.present));
        let mut run = true;
        for (id, tied) in self.order[..self.present].iter().zip(&self.tied) {
            run &= *tied;
            if !changed(id) {
                kept.push(*id);
                kept_tied.push(run);
                run = true;
            }
        }
        let mut missing: Vec<CustomerId> =
            self.order[self.present..].iter().filter(|id| !changed(id)).copied().collect();
        // Where the changed ones go now.
        let mut placed: Vec<(Vec<u8>, CustomerId)> = Vec::new();
        for id in &changes.ids {
            match key_of(*id)? {
                Keyed::Value(key) => placed.push((key, *id)),
                Keyed::Missing => missing.push(*id),
                Keyed::Unlisted => {}
            }
        }
        missing.sort_unstable();
        placed.sort_unstable();
        let mut neighbours = Neighbours { kept: &kept, keys: HashMap::new(), key_of };
        let mut positions = Vec::with_capacity(placed.len());
        let mut low = 0;
        for (key, id) in &placed {
            // The first kept customer that sorts after (key, id).
            let mut high = kept.len();
            while low < high {
                let middle = (low + high) / 2;
                let Some(there) = neighbours.key(middle)? else { return Ok(None) };
                if (there, kept[middle]) < (key.as_slice(), *id) {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            positions.push(low);
        }
        // Merge, mending the ties around each run of placed customers.
        let mut order = Vec::with_capacity(kept.len() + placed.len() + missing.len());
        let mut tied = Vec::with_capacity(kept.len() + placed.len());
        let (mut next, mut i) = (0, 0);
        while i < placed.len() {
            let at = positions[i];
            order.extend_from_slice(&kept[next..at]);
            tied.extend_from_slice(&kept_tied[next..at]);
            next = at;
            let mut previous: Option<Vec<u8>> = match at {
                0 => None,
                _ => match neighbours.key(at - 1)? {
                    Some(key) => Some(key.to_vec()),
                    None => return Ok(None),
                },
            };
            while let Some((key, id)) = placed.get(i).filter(|_| positions[i] == at) {
                tied.push(previous.as_deref() == Some(key.as_slice()));
                order.push(*id);
                previous = Some(key.clone());
                i += 1;
            }
            // The kept customer after the run now follows its last one.
            if at < kept.len() {
                let Some(after) = neighbours.key(at)? else { return Ok(None) };
                tied.push(previous.as_deref() == Some(after));
                order.push(kept[at]);
                next = at + 1;
            }
        }
        order.extend_from_slice(&kept[next..]);
        tied.extend_from_slice(&kept_tied[next..]);
        let present = order.len();
        order.extend(missing);
        Ok(Some(SortOrder { mark: changes.now, order, tied, present }))
    }

    /// Every id in order, keeping only those `keep` accepts; returns one page
    /// of them and how many there are in all.
    pub(crate) fn page_where(
        &self,
        descending: bool,
        offset: usize,
        limit: usize,
        keep: impl Fn(CustomerId) -> bool,
    ) -> (Vec<CustomerId>, usize) {
        let all = self.page(descending, 0, self.order.len());
        let kept: Vec<CustomerId> = all.into_iter().filter(|id| keep(*id)).collect();
        let total = kept.len();
        (kept.into_iter().skip(offset).take(limit).collect(), total)
    }

    /// The ids of one page. Descending reverses the values but keeps ties by
    /// ascending id, and customers without a value last, as the unsorted path does.
    pub(crate) fn page(&self, descending: bool, offset: usize, limit: usize) -> Vec<CustomerId> {
        if !descending {
            return self.order.iter().skip(offset).take(limit).copied().collect();
        }
        let mut out = Vec::with_capacity(limit);
        let mut skipped = 0;
        let mut end = self.present;
        // Groups of equal values, last group first, each in ascending id order.
        while end > 0 && out.len() < limit {
            let mut start = end - 1;
            while start > 0 && self.tied[start] {
                start -= 1;
            }
            for id in &self.order[start..end] {
                if skipped < offset {
                    skipped += 1;
                } else if out.len() < limit {
                    out.push(*id);
                }
            }
            end = start;
        }
        let rest = offset.saturating_sub(skipped);
        out.extend(self.order[self.present..].iter().skip(rest).take(limit - out.len()));
        out
    }

    /// The order as bytes: mark, counts, ids, tie bits.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.order.len() * 8 + self.present / 8 + 1);
        out.extend_from_slice(FORMAT);
        for n in [self.mark.generation, self.mark.tag, self.present as u64, self.order.len() as u64] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for id in &self.order {
            out.extend_from_slice(&id.0.to_le_bytes());
        }
        let mut bits = vec![0u8; self.present.div_ceil(8)];
        for (i, _) in self.tied.iter().enumerate().filter(|(_, t)| **t) {
            bits[i / 8] |= 1 << (i % 8);
        }
        out.extend(bits);
        out
    }

    /// Reads [`SortOrder::to_bytes`]; `None` for anything malformed.
    fn from_bytes(bytes: &[u8]) -> Option<SortOrder> {
        let rest = bytes.strip_prefix(FORMAT)?;
        let number = |i: usize| Some(u64::from_le_bytes(rest.get(i * 8..i * 8 + 8)?.try_into().ok()?));
        let (generation, tag) = (number(0)?, number(1)?);
        let (present, len) = (usize::try_from(number(2)?).ok()?, usize::try_from(number(3)?).ok()?);
        let ids = rest.get(32..32 + len.checked_mul(8)?)?;
        let bits = &rest[32 + ids.len()..];
        if present > len || bits.len() != present.div_ceil(8) {
            return None;
        }
        let order =
            ids.chunks_exact(8).map(|b| CustomerId(i64::from_le_bytes(b.try_into().expect("8 bytes")))).collect();
        let tied = (0..present).map(|i| bits[i / 8] & (1 << (i % 8)) != 0).collect();
        Some(SortOrder { mark: ChangeMark { generation, tag }, order, tied, present })
    }
}

/// The layout of a saved order (version 1).
const FORMAT: &[u8] = b"custodian sort order 1\n";

/// The kept customers' keys, read when a binary search lands on them.
struct Neighbours<'a, 'k> {
    kept: &'a [CustomerId],
    keys: HashMap<usize, Vec<u8>>,
    key_of: &'k mut dyn FnMut(CustomerId) -> Result<Keyed>,
}

impl Neighbours<'_, '_> {
    /// The key of kept customer `i`; `None` if it has none now.
    fn key(&mut self, i: usize) -> Result<Option<&[u8]>> {
        if !self.keys.contains_key(&i) {
            match (self.key_of)(self.kept[i])? {
                Keyed::Value(key) => self.keys.insert(i, key),
                Keyed::Missing | Keyed::Unlisted => return Ok(None),
            };
        }
        Ok(self.keys.get(&i).map(Vec::as_slice))
    }
}

/// Sort keys packed into one buffer while an order is built: a million keys
/// as separate vectors would cost as much again in allocation headers.
#[derive(Default)]
pub(crate) struct KeyArena {
    bytes: Vec<u8>,
    /// (offset, length, customer) per key.
    entries: Vec<(u32, u32, CustomerId)>,
}

impl KeyArena {
    /// Adds a customer's sort key.
    pub(crate) fn push(&mut self, key: &[u8], id: CustomerId) {
        let offset = u32::try_from(self.bytes.len()).expect("sort keys of one field stay under 4 GiB");
        self.bytes.extend_from_slice(key);
        self.entries.push((offset, key.len() as u32, id));
    }
}

/// Orders by sort field name, and where they are saved.
pub(crate) struct SortCache {
    orders: Mutex<HashMap<String, Arc<SortOrder>>>,
    saved: Option<SealedOrders>,
    /// The mark of each field's order as last saved or loaded.
    saved_marks: Mutex<HashMap<String, ChangeMark>>,
}

impl SortCache {
    /// A cache that saves its orders sealed in `dir` (none: kept in memory only).
    pub(crate) fn new(dir: Option<PathBuf>, root: &Secret) -> Result<SortCache> {
        let saved = match dir {
            Some(dir) => Some(SealedOrders { dir, key: root.derive(b"custodian/v1/sort-orders")? }),
            None => None,
        };
        Ok(SortCache { orders: Mutex::default(), saved, saved_marks: Mutex::default() })
    }

    /// The order kept for `field` (from this process, else from its saved
    /// file), whatever point in history it is true for.
    pub(crate) fn get(&self, field: &str) -> Option<Arc<SortOrder>> {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(order) = orders.get(field) {
            return Some(order.clone());
        }
        let loaded = Arc::new(self.saved.as_ref()?.load(field)?);
        orders.insert(field.to_owned(), loaded.clone());
        self.saved_marks.lock().unwrap_or_else(|p| p.into_inner()).insert(field.to_owned(), loaded.mark);
        Some(loaded)
    }

    /// Keeps an order, replacing an older one for the field. A rebuilt
    /// order is saved at once; an updated one when it has moved
    /// [`SAVE_EVERY`] generations past the saved one, and when the store closes.
    pub(crate) fn put(&self, field: &str, order: Arc<SortOrder>, rebuilt: bool) {
        self.orders.lock().unwrap_or_else(|p| p.into_inner()).insert(field.to_owned(), order.clone());
        let Some(saved) = &self.saved else { return };
        let mut marks = self.saved_marks.lock().unwrap_or_else(|p| p.into_inner());
        let due = marks.get(field).is_none_or(|m| order.mark.generation >= m.generation + SAVE_EVERY);
        if rebuilt || due {
            saved.save(field, &order);
            marks.insert(field.to_owned(), order.mark);
        }
    }
}

impl Drop for SortCache {
    fn drop(&mut self) {
        let Some(saved) = &self.saved else { return };
        let orders = self.orders.get_mut().unwrap_or_else(|p| p.into_inner());
        let marks = self.saved_marks.get_mut().unwrap_or_else(|p| p.into_inner());
        for (field, order) in orders.iter() {
            if marks.get(field) != Some(&order.mark) {
                saved.save(field, order);
            }
        }
    }
}

/// Generations an updated order may run ahead of its saved copy.
const SAVE_EVERY: u64 = 64;

/// Orders saved beside the store's files, one file per field, sealed
/// (AES-256-GCM) under a key derived from the root secret, with the field
/// name as associated data. Saving is best effort: a cache that cannot be
/// written costs a rebuild after the next open, nothing else.
struct SealedOrders {
    dir: PathBuf,
    key: Secret,
}

impl SealedOrders {
    fn path(&self, field: &str) -> PathBuf {
        let hex: String = field.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("sort-order-{hex}.sealed"))
    }

    fn aad(field: &str) -> Vec<u8> {
        [b"custodian/v1/sort-order/".as_slice(), field.as_bytes()].concat()
    }

    fn load(&self, field: &str) -> Option<SortOrder> {
        let sealed = std::fs::read(self.path(field)).ok()?;
        let plain = open(&aead_key(self.key.bytes()), &Self::aad(field), &sealed)?;
        SortOrder::from_bytes(&plain)
    }

    fn save(&self, field: &str, order: &SortOrder) {
        let mut sealed = Vec::new();
        if seal_into(&aead_key(self.key.bytes()), &Self::aad(field), &order.to_bytes(), &mut sealed).is_err() {
            return;
        }
        let path = self.path(field);
        let staged = path.with_extension("sealed-new");
        if std::fs::write(&staged, &sealed).and_then(|()| std::fs::rename(&staged, &path)).is_err() {
            let _ = std::fs::remove_file(&staged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn ids(v: &[i64]) -> Vec<CustomerId> {
        v.iter().map(|i| CustomerId(*i)).collect()
    }

    const MARK: ChangeMark = ChangeMark { generation: 7, tag: 1 };

    #[test]
    fn pages_in_both_directions_keep_ties_by_id_and_missing_last() {
        let mut keyed = KeyArena::default();
        keyed.push(b"b", CustomerId(3));
        keyed.push(b"a", CustomerId(5));
        keyed.push(b"b", CustomerId(1));
        let order = SortOrder::new(MARK, keyed, ids(&[9, 4]));
        assert_eq!(order.page(false, 0, 10), ids(&[5, 1, 3, 4, 9]));
        assert_eq!(order.page(true, 0, 10), ids(&[1, 3, 5, 4, 9]));
        assert_eq!(order.page(true, 1, 2), ids(&[3, 5]));
        assert_eq!(order.page(true, 3, 10), ids(&[4, 9]));
        assert_eq!(order.page(true, 4, 10), ids(&[9]));
        assert_eq!(order.page(false, 5, 10), ids(&[]));
        assert_eq!(order.len(), 5);
    }

    /// Customer id → its key (`None`: no value); absent from the map: unlisted.
    type Keys = BTreeMap<i64, Option<Vec<u8>>>;

    fn built(mark: ChangeMark, keys: &Keys) -> SortOrder {
        let mut arena = KeyArena::default();
        let mut missing = Vec::new();
        for (id, key) in keys {
            match key {
                Some(key) => arena.push(key, CustomerId(*id)),
                None => missing.push(CustomerId(*id)),
            }
        }
        SortOrder::new(mark, arena, missing)
    }

    fn keys_strategy() -> impl Strategy<Value = Keys> {
        // Few distinct short keys, so ties are common.
        let key = prop::option::weighted(0.85, prop::collection::vec(0u8..4, 0..3));
        prop::collection::btree_map(0i64..60, key, 0..40)
    }

    proptest! {
        #[test]
        fn an_updated_order_equals_one_rebuilt_from_scratch(
            before in keys_strategy(),
            changes in prop::collection::btree_map(0i64..60, prop::option::of(prop::option::weighted(0.85, prop::collection::vec(0u8..4, 0..3))), 0..12),
        ) {
            let order = built(MARK, &before);
            let mut after = before.clone();
            for (id, change) in &changes {
                match change {
                    // Gone, or shredded.
                    None => { after.remove(id); }
                    Some(key) => { after.insert(*id, key.clone()); }
                }
            }
            let now = ChangeMark { generation: 9, tag: 2 };
            let changed = CustomerChanges { now, ids: changes.keys().map(|i| CustomerId(*i)).collect() };
            let mut asked = 0;
            let updated = order.updated(&changed, &mut |id| {
                asked += 1;
                Ok(match after.get(&id.0) {
                    Some(Some(key)) => Keyed::Value(key.clone()),
                    Some(None) => Keyed::Missing,
                    None => Keyed::Unlisted,
                })
            }).unwrap().expect("every neighbour keeps its key");
            prop_assert_eq!(&updated, &built(now, &after));
            for descending in [false, true] {
                prop_assert_eq!(updated.page(descending, 0, 100), built(now, &after).page(descending, 0, 100));
            }
            prop_assert!(asked <= changes.len() * 9 + 1, "{} keys read for {} changes", asked, changes.len());
        }
    }

    #[test]
    fn a_neighbour_whose_key_changed_unseen_asks_for_a_rebuild() {
        let before: Keys = (1..=20).map(|i| (i, Some(vec![i as u8]))).collect();
        let order = built(MARK, &before);
        let changed = CustomerChanges { now: MARK, ids: ids(&[5]) };
        // Customer 5 keeps its key, but every neighbour reads as missing now.
        let updated = order
            .updated(&changed, &mut |id| Ok(if id.0 == 5 { Keyed::Value(vec![5]) } else { Keyed::Missing }))
            .unwrap();
        assert!(updated.is_none());
    }

    #[test]
    fn an_order_survives_its_bytes_and_malformed_bytes_are_refused() {
        let keys: Keys = [(1, Some(vec![2])), (2, Some(vec![2])), (3, None), (4, Some(vec![1]))].into();
        let order = built(MARK, &keys);
        let bytes = order.to_bytes();
        assert_eq!(SortOrder::from_bytes(&bytes), Some(built(MARK, &keys)));
        for cut in 0..bytes.len() {
            assert_eq!(SortOrder::from_bytes(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(SortOrder::from_bytes(&longer), None);
    }

    #[test]
    fn a_saved_order_opens_only_with_its_key_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let root = Secret::random().unwrap();
        let cache = SortCache::new(Some(dir.path().to_path_buf()), &root).unwrap();
        let order = Arc::new(built(MARK, &[(1, Some(vec![1])), (2, None)].into()));
        cache.put("name", order.clone(), true);
        let again = SortCache::new(Some(dir.path().to_path_buf()), &root).unwrap();
        assert_eq!(again.get("name").as_deref(), Some(&*order));
        assert!(again.get("title").is_none());
        let other = SortCache::new(Some(dir.path().to_path_buf()), &Secret::random().unwrap()).unwrap();
        assert!(other.get("name").is_none(), "another root secret opens nothing");
        // Moved to another field's name: refused by the associated data.
        let saved =
            SealedOrders { dir: dir.path().to_path_buf(), key: root.derive(b"custodian/v1/sort-orders").unwrap() };
        std::fs::rename(saved.path("name"), saved.path("title")).unwrap();
        assert!(saved.load("title").is_none());
    }
}
