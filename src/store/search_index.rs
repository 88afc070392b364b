//! Keeping the encrypted keyword index true, and answering a keyword from it.
//!
//! Writes keep the tokens in their own transaction (`seal_field` records a
//! field's tokens in the row, and the storage applies them with the row). The
//! store records which tokenisation built the index (its signature); when the
//! code or catalogue gives another, the store rebuilds the index on open, and
//! until then every search scans.

use std::collections::BTreeMap;

use super::engine::{self, Call, Caller};
use super::{Store, StoreInner};
use crate::access::{Action, Purpose};
use crate::crypto::FieldCipher;
use crate::error::Result;
use crate::model::{CustomerId, Field};
use crate::search::TokenChanges;
use crate::storage::Transaction;

/// Data metadata: the signature of the tokenisation that built the index.
pub(super) const META_SEARCH_INDEX: &str = "search_index";

impl StoreInner {
    /// Whether the stored index was built as this store would build it now.
    pub(super) fn search_index_current(&self, tx: &mut dyn Transaction) -> Result<bool> {
        let Some(signature) = self.search.signature() else { return Ok(false) };
        Ok(tx.meta_get(META_SEARCH_INDEX)?.as_deref() == Some(signature))
    }

    /// Re-derives every customer's tokens inside `tx` and records the
    /// signature; returns how many customers hold tokens.
    pub(super) fn rebuild_search_index_in(&self, tx: &mut dyn Transaction) -> Result<u64> {
        let mut ids = Vec::new();
        tx.scan_customers(&[], &mut |c| {
            ids.push(c.header.id);
            Ok(crate::storage::Scan::Continue)
        })?;
        let mut indexed = 0;
        for id in ids {
            let tokens = self.tokens_of(tx, id)?;
            indexed += u64::from(!tokens.is_empty());
            tx.put_search_tokens(id, &tokens)?;
        }
        match self.search.signature() {
            Some(signature) => tx.meta_put(META_SEARCH_INDEX, signature)?,
            None => tx.meta_put(META_SEARCH_INDEX, b"")?,
        }
        Ok(indexed)
    }

    /// Customer `id`'s tokens from its decrypted searchable fields (none
    /// without a data key, or with the index off).
    pub(super) fn tokens_of(&self, tx: &mut dyn Transaction, id: CustomerId) -> Result<Vec<(u64, u64)>> {
        let (Some(row), Some(wrapped)) = (tx.get_customer(id)?, tx.get_data_key(id)?) else {
            return Ok(Vec::new());
        };
        let key = self.data_key(id, Some(&wrapped))?;
        let cipher = FieldCipher::new(id, &key);
        let mut changes = TokenChanges::default();
        for field in self.search.fields() {
            if let Some(sealed) = row.sealed.get(field.name().as_ref()) {
                let value = cipher.open(field, sealed)?;
                self.search.set_field(&mut changes, field, Some(&value));
            }
        }
        Ok(changes.tokens().collect())
    }

    /// The customers that may have `keyword` (normalised) in one of
    /// `fields`: those holding every token of the keyword in a field, with
    /// the fields (a bit each, in the order of `fields`), `admits` applied.
    /// A superset of the matches (truncated tokens collide), which the
    /// caller decrypts and re-checks, except where the bit is also set in
    /// the second mask: the keyword is one gram, and the register says no
    /// other gram gave its token, so holding the token is containing the
    /// keyword. `None` when the keyword has no token (no run of two
    /// characters): the caller scans.
    pub(super) fn search_candidates(
        &self,
        tx: &mut dyn Transaction,
        fields: &[Field],
        keyword: &str,
        admits: &dyn Fn(CustomerId) -> bool,
    ) -> Result<Option<BTreeMap<CustomerId, (u64, u64)>>> {
        // Per candidate, a bit per field of `fields` whose tokens it holds,
        // and a bit per field where holding them proves the match.
        let mut candidates: BTreeMap<CustomerId, (u64, u64)> = BTreeMap::new();
        let one_gram = crate::search::grams::is_one_gram(keyword);
        for (bit, field) in fields.iter().enumerate().take(64) {
            let tokens = self.search.query_tokens(field, keyword);
            if tokens.is_empty() {
                return Ok(None);
            }
            let proves = match tokens.as_slice() {
                [(token, fingerprint)] if one_gram => {
                    tx.search_gram(*token)?.is_some_and(|g| !g.mixed && g.fingerprint == *fingerprint)
                }
                _ => false,
            };
            let mut holders: Option<Vec<CustomerId>> = None;
            for (token, _) in tokens {
                let postings = tx.search_postings(token)?;
                let narrowed = match holders {
                    None => postings,
                    Some(before) => intersect(&before, &postings),
                };
                let none_left = narrowed.is_empty();
                holders = Some(narrowed);
                if none_left {
                    break;
                }
            }
            for id in holders.unwrap_or_default().into_iter().filter(|id| admits(*id)) {
                let entry = candidates.entry(id).or_default();
                entry.0 |= 1 << bit;
                if proves {
                    entry.1 |= 1 << bit;
                }
            }
        }
        Ok(Some(candidates))
    }
}

/// The ids in both sorted lists.
fn intersect(a: &[CustomerId], b: &[CustomerId]) -> Vec<CustomerId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

impl Store {
    /// Re-derives the encrypted keyword index from every customer's
    /// decrypted searchable fields, in one transaction, and records the
    /// tokenisation that built it. A store does this by itself on open when
    /// its index was built by another tokenisation (an upgrade, or a store
    /// from before the index); call it after repairing a store by hand.
    /// Returns how many customers hold tokens. Audited
    /// (`store.rebuild_search_index`).
    pub fn rebuild_search_index(&self) -> Result<u64> {
        let call = Call::new(Action::Manage, "store.rebuild_search_index");
        engine::run(&self.inner, Caller::store(Purpose::Maintenance), call, |inner, tx, _, trail| {
            let indexed = inner.rebuild_search_index_in(tx)?;
            trail.reason = Some(format!("keyword index rebuilt: {indexed} customers hold tokens"));
            Ok(indexed)
        })
    }

    /// Rebuilds the index if it is not the one this store would build.
    pub(super) fn refresh_search_index(&self) -> Result<()> {
        if self.inner.search.signature().is_none() {
            return Ok(());
        }
        let mut tx = self.inner.backend.begin(crate::storage::TxMode::Read)?;
        let current = self.inner.search_index_current(&mut *tx)?;
        drop(tx);
        if !current {
            self.rebuild_search_index()?;
        }
        Ok(())
    }
}
