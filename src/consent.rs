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
}

impl Channel {
    /// Stable name of the channel.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Post => "post",
        }
    }

    /// Parses a channel name.
    pub fn parse(name: &str) -> Result<Channel> {
        [Channel::Sms, Channel::Email, Channel::Phone, Channel::Post]
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| Error::invalid("channel", "choice", "must be one of: sms, email, phone, post"))
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
