//! Consent: per customer, purpose and channel, granted or withdrawn, with
//! when, how (source) and under which privacy-policy version. The latest
//! record for a (customer, purpose, channel) is the current state; earlier
//! ones stay as history.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::access::Purpose;
use crate::error::{Error, Result};
use crate::model::CustomerId;

/// How a customer may be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Text messages.
    Sms,
    /// E-mail.
    Email,
    /// Telephone calls.
    Phone,
    /// Letters.
    Post,
    /// Not a contact channel: the customer's separate consent to their
    /// information being provided to another handler (PIPL art. 23). The
    /// consent's purpose names the recipient's id, or [`THIRD_PARTIES`]
    /// for every recipient.
    #[serde(rename = "third_party")]
    ThirdParty,
    /// Not a contact channel: the separate consent that also covers
    /// sensitive (L1) fields being provided to another handler (PIPL art.
    /// 29), for the recipient (or [`THIRD_PARTIES`]) its purpose names.
    #[serde(rename = "third_party_sensitive")]
    ThirdPartySensitive,
}

/// The purpose of a sharing consent ([`Channel::ThirdParty`],
/// [`Channel::ThirdPartySensitive`]) that covers every recipient rather
/// than one.
pub const THIRD_PARTIES: &str = "third_parties";

impl Channel {
    /// Stable name of the channel.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Post => "post",
            Channel::ThirdParty => "third_party",
            Channel::ThirdPartySensitive => "third_party_sensitive",
        }
    }

    /// Whether customers are contacted on this channel (a marketing
    /// session's channel), rather than it recording consent to sharing.
    pub fn is_contact(self) -> bool {
        !matches!(self, Channel::ThirdParty | Channel::ThirdPartySensitive)
    }

    /// A consent to provide the customer's information to `recipient` (a
    /// registered recipient's id, or [`THIRD_PARTIES`] for every
    /// recipient), given or withdrawn; `sensitive` makes it the consent
    /// that also covers L1 fields.
    pub fn sharing(sensitive: bool) -> Channel {
        if sensitive { Channel::ThirdPartySensitive } else { Channel::ThirdParty }
    }

    /// Parses a channel name.
    pub fn parse(name: &str) -> Result<Channel> {
        [Channel::Sms, Channel::Email, Channel::Phone, Channel::Post, Channel::ThirdParty, Channel::ThirdPartySensitive]
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "channel",
                    "choice",
                    "must be one of: sms, email, phone, post, third_party, third_party_sensitive",
                )
            })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A consent being given or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentChange {
    /// The purpose consented to (e.g. marketing).
    pub purpose: Purpose,
    /// The channel.
    pub channel: Channel,
    /// Granted (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// Where it was given or withdrawn: `web_form`, `counter`, `call`, ...
    pub source: String,
    /// The privacy-policy version the customer was shown.
    pub policy_version: String,
}

/// One consent record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The customer.
    pub customer: CustomerId,
    /// The purpose's name.
    pub purpose: String,
    /// The channel.
    pub channel: Channel,
    /// Granted or withdrawn.
    pub granted: bool,
    /// When (Unix ms).
    pub at: i64,
    /// Where: `web_form`, `counter`, `call`, ...
    pub source: String,
    /// The privacy-policy version shown.
    pub policy_version: String,
    /// The principal who recorded it.
    pub recorded_by: String,
}

/// Checks the free-text parts of a change: 1-32 characters of letters,
/// digits and `._-`.
pub(crate) fn check_change(change: &ConsentChange) -> Result<()> {
    for (field, value) in [("source", &change.source), ("policy_version", &change.policy_version)] {
        let ok = !value.is_empty()
            && value.len() <= 32
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(Error::invalid(field, "consent_text", "1-32 characters of letters, digits, '.', '_' and '-'"));
        }
    }
    Ok(())
}
