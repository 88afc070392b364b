//! Sharing with third parties (PIPL arts. 23 and 29): registered
//! recipients under an agreement, share grants of the minimum fields, the
//! customers' separate consent, and packages sealed to a recipient's key.
//!
//! The types here are plain data; the store checks and keeps them
//! (`Session::register_recipient`, `Session::create_share`) and the
//! recipient reads through a [`crate::ShareSession`]. Who is inside a share
//! is decided on every use, from the consents as they stand: a withdrawal,
//! an erasure or a restriction takes a customer out of every share at once.

pub mod package;

use serde::{Deserialize, Serialize};

use crate::consent::{Channel, ConsentRecord, THIRD_PARTIES};
use crate::model::{CustomerId, Field};
use crate::store::Filter;

/// Rule ids of sharing refusals.
pub mod rules {
    /// The share was revoked.
    pub const SHARE_REVOKED: &str = "share.revoked";
    /// The share's expiry has passed.
    pub const SHARE_EXPIRED: &str = "share.expired";
    /// The recipient was revoked.
    pub const RECIPIENT_REVOKED: &str = "share.recipient_revoked";
    /// The recipient's agreement is not in effect (not yet, or no longer).
    pub const AGREEMENT_NOT_IN_EFFECT: &str = "share.agreement_not_in_effect";
    /// A field the share does not grant.
    pub const FIELD_NOT_GRANTED: &str = "share.field_not_granted";
    /// An L1 field of a customer whose sharing consent does not name sensitive data.
    pub const SENSITIVE_CONSENT_REQUIRED: &str = "share.sensitive_consent_required";
    /// A recipient session only reads what the share grants.
    pub const READ_ONLY: &str = "share.read_only";
    /// Sharing is managed by sessions with the `manage` action.
    pub const MARKETING: &str = "share.marketing";
}

/// Most customers a share may list by id.
pub const MAX_LISTED_CUSTOMERS: usize = 100_000;

/// A recipient being registered: an external party that receives
/// customers' information under an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// Its id (`[a-z][a-z0-9_]{0,31}`, not a built-in purpose and not
    /// `third_parties`): what sharing consents name as their purpose.
    pub id: String,
    /// Its name, 1-64 printable characters.
    pub name: String,
    /// The agreement's reference (1-64 printable characters).
    pub agreement: String,
    /// The agreement's start (Unix ms).
    pub agreement_from: i64,
    /// The agreement's end (Unix ms, exclusive); no share outlives it.
    pub agreement_until: i64,
    /// The recipient's X25519 public key: packages are sealed to it.
    pub public_key: [u8; 32],
}

/// A registered recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The agreement's reference.
    pub agreement: String,
    /// The agreement's start (Unix ms).
    pub agreement_from: i64,
    /// The agreement's end (Unix ms, exclusive).
    pub agreement_until: i64,
    /// Its X25519 public key, hex.
    pub public_key: String,
    /// When it was registered (Unix ms), and by whom.
    pub registered_at: i64,
    /// The principal who registered it.
    pub registered_by: String,
    /// Its revocation, if revoked: every share to it ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// When and by whom a recipient or share was revoked, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When (Unix ms).
    pub at: i64,
    /// The principal who revoked it.
    pub by: String,
    /// Why (1-64 printable characters).
    pub reason: String,
}

/// Which customers a share covers (before consent decides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareCustomers {
    /// These customers (1 to [`MAX_LISTED_CUSTOMERS`]).
    Listed(Vec<CustomerId>),
    /// Every customer whose classification attributes match.
    Matching(ShareFilter),
}

/// The classification attributes a share's customers match (an empty
/// filter matches everyone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareFilter {
    /// Only this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only this tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Only this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl From<&Filter> for ShareFilter {
    fn from(f: &Filter) -> Self {
        ShareFilter {
            kind: f.kind.clone(),
            category: f.category.clone(),
            tier: f.tier.clone(),
            source: f.source.clone(),
        }
    }
}

impl ShareFilter {
    /// Whether a customer with these attributes matches.
    pub(crate) fn admits(&self, header: &crate::storage::CustomerHeader) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        same(&self.kind, Some(header.kind.as_str()))
            && same(&self.category, header.category.as_deref())
            && same(&self.tier, header.tier.as_deref())
            && same(&self.source, header.source.as_deref())
    }

    /// `kind=…, category=…` for audit reasons, or `everyone`.
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> =
            [("kind", &self.kind), ("category", &self.category), ("tier", &self.tier), ("source", &self.source)]
                .into_iter()
                .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name}={v}")))
                .collect();
        if parts.is_empty() { "everyone".into() } else { parts.join(", ") }
    }
}

/// A share being granted: the minimum a recipient receives, for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    /// The recipient's id.
    pub recipient: String,
    /// Why the recipient receives the data (`delivery`, `insurance_quote`):
    /// a custom purpose, `service` or `analytics`.
    pub purpose: crate::access::Purpose,
    /// The fields granted, listed one by one (never "all"), 1 to 32 of them.
    pub fields: Vec<Field>,
    /// The customers covered; consent decides who of them is inside.
    pub customers: ShareCustomers,
    /// When the share ends (Unix ms); no later than the agreement's end.
    pub expires_at: i64,
    /// The agreement's reference: must be the recipient's.
    pub agreement: String,
}

/// A share grant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Its id (from 1).
    pub id: u64,
    /// The recipient's id.
    pub recipient: String,
    /// The purpose's name.
    pub purpose: String,
    /// The fields granted, by name.
    pub fields: Vec<String>,
    /// The customers covered.
    pub customers: ShareCustomers,
    /// When it ends (Unix ms).
    pub expires_at: i64,
    /// The agreement's reference.
    pub agreement: String,
    /// When it was granted (Unix ms).
    pub created_at: i64,
    /// The principal who granted it.
    pub created_by: String,
    /// Its revocation, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// What a customer's consents say about sharing with one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SharingConsent {
    /// The latest sharing consent naming the recipient or every third
    /// party is a grant.
    pub(crate) inside: bool,
    /// And the latest consent covering sensitive data is a grant too.
    pub(crate) sensitive: bool,
}

/// The customer's sharing consent for `recipient`, from their consent
/// records (oldest first): for each of the two channels the latest record
/// naming the recipient or [`THIRD_PARTIES`] decides, so a general
/// withdrawal after a grant to one recipient ends that grant too, and a
/// grant to one recipient after a general withdrawal admits that recipient.
pub(crate) fn sharing_consent(consents: &[ConsentRecord], recipient: &str) -> SharingConsent {
    let latest = |channel: Channel| {
        consents
            .iter()
            .rev()
            .find(|c| c.channel == channel && (c.purpose == recipient || c.purpose == THIRD_PARTIES))
            .is_some_and(|c| c.granted)
    };
    let inside = latest(Channel::ThirdParty);
    SharingConsent { inside, sensitive: inside && latest(Channel::ThirdPartySensitive) }
}

/// One disclosure of a customer's data to a recipient, from the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// When (Unix ms).
    pub at: i64,
    /// The audit entry's sequence number.
    pub seq: u64,
    /// The recipient's id.
    pub recipient: String,
    /// The share's id.
    pub share: u64,
    /// How: `share.get`, `share.list` or `share.package`.
    pub action: String,
    /// The fields disclosed (to this call's customers, by name).
    pub fields: Vec<String>,
}

/// One share a customer is or was in, for the customer's access report
/// and export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerShare {
    /// The share.
    pub share: Share,
    /// Whether the customer is inside it now.
    pub inside_now: bool,
    /// Every disclosure made to the recipient through it, oldest first.
    pub disclosures: Vec<Disclosure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(purpose: &str, channel: Channel, granted: bool) -> ConsentRecord {
        ConsentRecord {
            customer: CustomerId(1),
            purpose: purpose.into(),
            channel,
            granted,
            at: 0,
            source: "test".into(),
            policy_version: "v1".into(),
            recorded_by: "admin".into(),
        }
    }

    #[test]
    fn the_latest_consent_naming_the_recipient_or_every_third_party_decides() {
        use Channel::{ThirdParty as T, ThirdPartySensitive as S};
        /// Consent records (purpose, channel, granted), oldest first, and the verdict for `acme`.
        type Case = (&'static [(&'static str, Channel, bool)], SharingConsent);
        let cases: &[Case] = &[
            (&[], SharingConsent { inside: false, sensitive: false }),
            (&[("acme", T, true)], SharingConsent { inside: true, sensitive: false }),
            (&[("other", T, true)], SharingConsent { inside: false, sensitive: false }),
            (&[(THIRD_PARTIES, T, true), (THIRD_PARTIES, S, true)], SharingConsent { inside: true, sensitive: true }),
            // A general withdrawal after a grant to the recipient ends it.
            (&[("acme", T, true), (THIRD_PARTIES, T, false)], SharingConsent { inside: false, sensitive: false }),
            // A grant to the recipient after a general withdrawal admits it.
            (&[(THIRD_PARTIES, T, false), ("acme", T, true)], SharingConsent { inside: true, sensitive: false }),
            // Sensitive consent alone admits no one.
            (&[("acme", S, true)], SharingConsent { inside: false, sensitive: false }),
            (
                &[("acme", T, true), ("acme", S, true), ("acme", S, false)],
                SharingConsent { inside: true, sensitive: false },
            ),
            // Marketing consent is not sharing consent.
            (&[("acme", Channel::Sms, true)], SharingConsent { inside: false, sensitive: false }),
        ];
        for (records, expected) in cases {
            let records: Vec<_> = records.iter().map(|(p, c, g)| consent(p, *c, *g)).collect();
            assert_eq!(sharing_consent(&records, "acme"), *expected, "{records:?}");
        }
    }
}
