//! The encrypted keyword index: keyed, truncated n-gram tokens.
//!
//! Keyword search must not decrypt every customer, and the database must not
//! hold the text it searches. Each searchable field's value is normalised and
//! cut into grams (module `grams`); each gram becomes a *token*: HMAC-SHA256 under
//! a key of that field (derived from the store's root secret, so tokens of
//! one field say nothing about another's), truncated to
//! [`SearchSettings::token_bits`] bits, with the field's code in the top 16
//! bits of a `u64`. The storage keeps, per customer, the set of its tokens
//! (de-duplicated) and, per token, the customers holding it.
//!
//! A query is cut the same way; the candidates are the customers holding all
//! of its tokens in a field the session may read in plaintext, and every
//! candidate is decrypted and re-checked, so the answer is exactly that of a
//! full scan (truncation adds candidates, never loses a match).
//!
//! One exception spares the decryption where it costs most, a keyword that
//! is itself one gram (`发票`, `vip`), which common words are: a register
//! keeps, per token, the 64-bit fingerprint of the first gram that gave it
//! (the HMAC's next bits) and whether a gram of another fingerprint has given
//! it since. When no other has, every holder of the token holds the gram,
//! which is containing the keyword, and the holders are the answer. The
//! register shows, beyond the postings, one bit per token: whether it is
//! shared (a fingerprint stands for the token's only gram, which the token
//! already identifies).
//!
//! What the database file reveals through the index, and what it does not,
//! is written down in the README ("Keyword search and what its index reveals").

pub(crate) mod grams;

use std::collections::{BTreeMap, BTreeSet};

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::model::{Catalogue, Field, Level, Storage};

/// The tokenisation's version: raise it whenever [`grams`] or the token
/// derivation changes, and every store rebuilds its index on open.
pub(crate) const INDEX_VERSION: u32 = 1;

/// Fewest and most bits a token keeps (the field code takes the top 16).
pub const TOKEN_BITS: std::ops::RangeInclusive<u8> = 16..=48;

/// Fields keyword search covers unless the catalogue says otherwise.
pub const DEFAULT_SEARCH_FIELDS: [Field; 6] =
    [Field::Name, Field::Organisation, Field::Title, Field::Address, Field::Notes, Field::Tags];

/// How keyword search works in a store, kept in its catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    /// The fields keyword search covers, by name (sealed text fields of
    /// level L2 or L3, never L1).
    pub(crate) fields: BTreeSet<String>,
    /// Whether the encrypted index is kept (`false`: every search scans).
    pub(crate) index: bool,
    /// Bits of each token's HMAC kept: fewer bits put more distinct grams
    /// into one token (less revealed, more candidates re-checked).
    pub(crate) token_bits: u8,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            fields: DEFAULT_SEARCH_FIELDS.iter().map(|f| f.name().into_owned()).collect(),
            index: true,
            token_bits: 20,
        }
    }
}

impl SearchSettings {
    /// The fields search covers, in catalogue order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.fields.iter().filter_map(|name| Field::parse(name).ok())
    }

    /// Whether the encrypted index is kept.
    pub fn index(&self) -> bool {
        self.index
    }

    /// Bits of each token's HMAC kept.
    pub fn token_bits(&self) -> u8 {
        self.token_bits
    }
}

/// Why a field cannot be searched, if it cannot.
pub(crate) fn check_searchable(field: &Field, level: Level) -> Result<()> {
    let refuse = |why: &str| Err(Error::invalid(field.name(), "catalogue.search_field", why.to_owned()));
    if field.storage() != Storage::Sealed {
        return refuse("only sealed text fields are searched; classification attributes are filters");
    }
    if level == Level::L1 {
        return refuse("L1 fields are never searched or indexed");
    }
    if matches!(field, Field::Gender | Field::BirthDate | Field::IdNumber | Field::CreditCode)
        || field.record_kind() != crate::model::RecordKind::Customer
    {
        return refuse("this field has a fixed form; use its filter or exact lookup");
    }
    Ok(())
}

/// The 16-bit code a field's tokens carry in their top bits.
fn field_code(catalogue: &Catalogue, field: &Field) -> Option<u16> {
    Some(match field {
        Field::Name => 1,
        Field::Organisation => 2,
        Field::Title => 3,
        Field::Mobile => 4,
        Field::Email => 5,
        Field::Notes => 6,
        Field::Address => 7,
        Field::Tags => 8,
        Field::RegisteredAddress => 9,
        Field::Landline => 10,
        Field::Contacts => 11,
        Field::Custom(key) => 0x100 + u16::try_from(catalogue.custom_keys().position(|k| k == key)?).ok()?,
        _ => return None,
    })
}

/// The tokens of one customer that a write sets, field by field. A row
/// read back from storage carries none ([`TokenChanges::is_empty`]): its
/// stored tokens stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenChanges {
    /// Field codes whose stored tokens are replaced by `tokens` with that code.
    fields: BTreeSet<u16>,
    /// The new tokens of those fields, each with its gram's fingerprint.
    tokens: BTreeMap<u64, u64>,
}

impl TokenChanges {
    /// No change: the stored tokens stay.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `stored` with this change applied (sorted, de-duplicated).
    pub fn applied_to(&self, stored: &[u64]) -> Vec<u64> {
        let kept = |t: &u64| !self.fields.contains(&((t >> 48) as u16));
        let mut out: BTreeSet<u64> = stored.iter().copied().filter(kept).collect();
        out.extend(self.tokens.keys().copied());
        out.into_iter().collect()
    }

    /// The fingerprint of the gram behind a token this change adds.
    pub fn fingerprint(&self, token: u64) -> Option<u64> {
        self.tokens.get(&token).copied()
    }

    /// Every token this change sets, with its fingerprint.
    pub fn tokens(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.tokens.iter().map(|(t, f)| (*t, *f))
    }
}

/// Turns values into tokens with the store's per-field keys.
pub(crate) struct SearchIndexer {
    settings: SearchSettings,
    /// Per searchable field: its code and its HMAC key.
    keys: BTreeMap<Field, (u16, hmac::Key)>,
    /// See [`SearchIndexer::signature`]; fixed with the catalogue.
    signature: Option<Vec<u8>>,
}

impl SearchIndexer {
    pub(crate) fn new(root: &Secret, catalogue: &Catalogue) -> Result<Self> {
        let settings = catalogue.search().clone();
        let mut keys = BTreeMap::new();
        for field in settings.fields() {
            let Some(code) = field_code(catalogue, &field) else { continue };
            let secret = root.derive(format!("custodian/v1/search-index/{}", field.name()).as_bytes())?;
            keys.insert(field, (code, hmac::Key::new(hmac::HMAC_SHA256, secret.bytes())));
        }
        let fields: Vec<(String, u16)> = keys.iter().map(|(f, (code, _))| (f.name().into_owned(), *code)).collect();
        let signature = settings.index.then(|| {
            serde_json::to_vec(&serde_json::json!({
                "version": INDEX_VERSION, "bits": settings.token_bits, "fields": fields,
            }))
            .expect("the index signature serialises")
        });
        Ok(SearchIndexer { settings, keys, signature })
    }

    /// What the stored index must have been built with to be used: a change
    /// of version, bits, fields or their codes makes the store rebuild it.
    /// `None` with the index off.
    pub(crate) fn signature(&self) -> Option<&[u8]> {
        self.signature.as_deref()
    }

    /// The fields search covers.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &Field> {
        self.keys.keys()
    }

    /// A gram's token (the field code, then the HMAC's first bits) and its
    /// fingerprint (the HMAC's next 64 bits), which tells the grams that
    /// share a token apart.
    fn token(&self, code: u16, key: &hmac::Key, gram: &str) -> (u64, u64) {
        let tag = hmac::sign(key, gram.as_bytes());
        let word = |i: usize| u64::from_be_bytes(tag.as_ref()[i..i + 8].try_into().expect("8 bytes"));
        let kept = word(0) >> (64 - u32::from(self.settings.token_bits));
        ((u64::from(code) << 48) | kept, word(8))
    }

    /// Records in `changes` the tokens of `field` set to `value` (`None`:
    /// cleared). Nothing for a field search does not cover, or with the index off.
    pub(crate) fn set_field(&self, changes: &mut TokenChanges, field: &Field, value: Option<&str>) {
        if !self.settings.index {
            return;
        }
        let Some((code, key)) = self.keys.get(field) else { return };
        changes.fields.insert(*code);
        changes.tokens.retain(|t, _| (t >> 48) as u16 != *code);
        if let Some(value) = value {
            let text = zeroize::Zeroizing::new(grams::normalise(value));
            for gram in grams::value_grams(&text) {
                let (token, fingerprint) = self.token(*code, key, gram);
                changes.tokens.insert(token, fingerprint);
            }
        }
    }

    /// The tokens a normalised keyword is looked up by in `field`, each
    /// with its gram's fingerprint; empty if the keyword has none (it is
    /// then answered by a scan).
    pub(crate) fn query_tokens(&self, field: &Field, normalised_keyword: &str) -> Vec<(u64, u64)> {
        let Some((code, key)) = self.keys.get(field) else { return Vec::new() };
        let mut tokens: Vec<(u64, u64)> =
            grams::query_grams(normalised_keyword).into_iter().map(|g| self.token(*code, key, g)).collect();
        tokens.sort_unstable();
        tokens.dedup();
        tokens
    }
}
