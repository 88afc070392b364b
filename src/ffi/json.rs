//! JSON pieces that several C entry points read: one object into a struct,
//! and the classification filter that shares, statistics and purchase
//! totals accept.

use serde::Deserialize;

use super::boundary::Outcome;
use super::status::{Failure, cust_status};
use crate::Filter;
use crate::sharing::ShareFilter;

/// A parse failure of the `what` JSON, as an invalid-input failure naming it.
pub(super) fn json_error(what: &'static str) -> impl Fn(serde_json::Error) -> Failure {
    move |e| Failure::new(cust_status::Invalid, format!("invalid {what} JSON: {e}"))
}

/// Reads `json` as one JSON object into `T` (a struct would also be read
/// from an array, which is refused here).
pub(super) fn object_of<T: serde::de::DeserializeOwned>(json: &str, what: &'static str) -> Outcome<T> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(json_error(what))?;
    serde_json::from_value(serde_json::Value::Object(object)).map_err(json_error(what))
}

/// The classification attributes a `filter` may name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilterJson {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

impl FilterJson {
    /// As a listing or statistics filter.
    pub(super) fn into_filter(self) -> Filter {
        let mut filter = Filter::new();
        if let Some(v) = self.kind {
            filter = filter.kind(v);
        }
        if let Some(v) = self.category {
            filter = filter.category(v);
        }
        if let Some(v) = self.tier {
            filter = filter.tier(v);
        }
        if let Some(v) = self.source {
            filter = filter.source(v);
        }
        filter
    }

    /// As the filter of a share.
    pub(super) fn into_share_filter(self) -> ShareFilter {
        ShareFilter { kind: self.kind, category: self.category, tier: self.tier, source: self.source }
    }
}
