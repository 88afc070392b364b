//! The order of all customers by one field, kept between listings.
//!
//! Sorting 100,000 customers by a sealed field means decrypting that field
//! of every customer; doing it for every page would cost a quarter of a
//! second each time. The first unfiltered listing by a field keeps the
//! resulting order (ids only, never values) tagged with the store's change
//! generation; later pages reuse it until any customer changes, in this
//! process or another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::CustomerId;

/// Customers in ascending order of one field: those with a value first (ties
/// by id), then those without (by id).
pub(crate) struct SortOrder {
    /// The store's customer generation this order was computed at.
    pub(crate) generation: u64,
    order: Vec<CustomerId>,
    /// `tied[i]`: customer `i` has the same value as customer `i - 1`.
    tied: Vec<bool>,
    /// How many customers have a value (they come first).
    present: usize,
}

impl SortOrder {
    /// Builds the order from the sort keys of the customers with a value
    /// and the ids of those without.
    pub(crate) fn new(generation: u64, keyed: KeyArena, mut missing: Vec<CustomerId>) -> Self {
        let KeyArena { bytes, mut entries } = keyed;
        let key = |e: &(u32, u32, CustomerId)| &bytes[e.0 as usize..(e.0 + e.1) as usize];
        entries.sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.2.cmp(&b.2)));
        missing.sort_unstable();
        let tied = entries.iter().enumerate().map(|(i, e)| i > 0 && key(&entries[i - 1]) == key(e)).collect();
        let present = entries.len();
        let order = entries.into_iter().map(|(_, _, id)| id).chain(missing).collect();
        SortOrder { generation, order, tied, present }
    }

    /// Number of customers.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
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

/// Orders by sort field name.
#[derive(Default)]
pub(crate) struct SortCache {
    orders: Mutex<HashMap<String, Arc<SortOrder>>>,
}

impl SortCache {
    /// The cached order for `field` if it is still current.
    pub(crate) fn get(&self, field: &str, generation: u64) -> Option<Arc<SortOrder>> {
        let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        orders.get(field).filter(|o| o.generation == generation).cloned()
    }

    /// Keeps an order, replacing any older one for the field.
    pub(crate) fn put(&self, field: &str, order: Arc<SortOrder>) {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        orders.insert(field.to_owned(), order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<CustomerId> {
        v.iter().map(|i| CustomerId(*i)).collect()
    }

    #[test]
    fn pages_in_both_directions_keep_ties_by_id_and_missing_last() {
        let mut keyed = KeyArena::default();
        keyed.push(b"b", CustomerId(3));
        keyed.push(b"a", CustomerId(5));
        keyed.push(b"b", CustomerId(1));
        let order = SortOrder::new(7, keyed, ids(&[9, 4]));
        assert_eq!(order.page(false, 0, 10), ids(&[5, 1, 3, 4, 9]));
        assert_eq!(order.page(true, 0, 10), ids(&[1, 3, 5, 4, 9]));
        assert_eq!(order.page(true, 1, 2), ids(&[3, 5]));
        assert_eq!(order.page(true, 3, 10), ids(&[4, 9]));
        assert_eq!(order.page(true, 4, 10), ids(&[9]));
        assert_eq!(order.page(false, 5, 10), ids(&[]));
        assert_eq!(order.len(), 5);
    }
}
