//! Reading the audit log through a session: only auditors and
//! administrators may, and every query is itself audited.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::listing::normalise_keyword;
use super::merge::merge_family;
use super::session::{Call, Session};
use crate::access::Action;
use crate::audit::{AuditEntry, AuditQuery, Outcome, TouchedCustomer, hex};
use crate::error::{Error, Result};
use crate::model::validate::normalise_lookup;
use crate::model::{CustomerId, Field};
use crate::storage::{AuditFilter, Scan, Transaction};

/// Most entries one audit query returns.
pub const MAX_AUDIT_PAGE: u32 = 10_000;

impl Session {
    /// The keyed hash the audit log keeps for a looked-up value, so an
    /// investigator can find "who looked up mobile 13800138000" without the
    /// log holding the number. `field` is `mobile`, `email`, `id_number`,
    /// `external_code` or `keyword`; the value is normalised first, as a
    /// lookup would. An oracle for guesses, so it is restricted and audited.
    pub fn audit_hash(&self, field: &str, value: &str) -> Result<String> {
        self.run(Call::new(Action::Audit, "audit.hash"), |store, _, _, _| {
            let today = store.clock.now_millis().div_euclid(86_400_000);
            let normalised = Zeroizing::new(if field == "keyword" {
                normalise_keyword(value)?
            } else {
                let parsed = Field::parse(field)?;
                if !(parsed.has_blind_index() || parsed == Field::ExternalCode) {
                    return Err(Error::out_of_range(field, "not_indexed", "only looked-up fields have audit hashes"));
                }
                normalise_lookup(&parsed, value, &store.catalogue, today)?
            });
            Ok(hex(&store.audit.value_hash(field, &normalised)))
        })
    }

    /// Audit entries matching `query`, in sequence order.
    pub fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let subject = query.customer;
        let call = match subject {
            Some(id) => Call::about(Action::Audit, "audit.query", id),
            None => Call::new(Action::Audit, "audit.query"),
        };
        let limit = match query.limit {
            0 => 1000,
            n if n > MAX_AUDIT_PAGE => {
                return Err(Error::out_of_range("limit", "page_size", format!("at most {MAX_AUDIT_PAGE} entries")));
            }
            n => n,
        } as usize;
        if let (Some(from), Some(to)) = (query.from_time, query.to_time) {
            if from >= to {
                return Err(Error::out_of_range("window", "time_window", "the window's start must be before its end"));
            }
        }
        let value_hash = match &query.lookup {
            Some((field, value)) => Some(self.audit_hash(&field.name(), value)?),
            None => None,
        };
        self.run(call, |_, tx, _, _| {
            let filter = AuditFilter {
                customer: query.customer,
                principal: query.principal.clone(),
                from_time: query.from_time,
                to_time: query.to_time,
                outcome: query.outcome.map(|o| o.name().to_owned()),
                value_hash: value_hash.as_deref().map(crate::audit::hex_decode).transpose()?,
                after_seq: query.after_seq,
            };
            collect_entries(tx, &filter, limit, |_| true)
        })
    }

    /// "Who saw my data": every call that returned or changed customer `id`'s
    /// data (allowed or masked), oldest first — the customer's own access
    /// report. Disclosures to recipients of a share (`share.get`,
    /// `share.list`, `share.package`, principal `recipient:<id>`) are among
    /// them; [`Session::customer_shares`] groups them by share.
    pub fn customer_access_report(&self, id: CustomerId) -> Result<Vec<AuditEntry>> {
        self.run(Call::about(Action::Audit, "audit.access_report", id), |_, tx, _, _| {
            let filter = AuditFilter { customer: Some(id), ..Default::default() };
            collect_entries(tx, &filter, usize::MAX, |e| {
                (matches!(e.outcome, Outcome::Allowed | Outcome::Masked) && e.action.starts_with("customer."))
                    || super::sharing::is_disclosure(e)
            })
        })
    }

    /// Incident query: the customers whose data was returned or changed in
    /// `[from, to)` (Unix ms), by `principal` or by anyone — the list of
    /// customers to notify. Ordered by customer id.
    pub fn incident_customers(&self, principal: Option<&str>, from: i64, to: i64) -> Result<Vec<TouchedCustomer>> {
        self.run(Call::new(Action::Audit, "audit.incident"), |_, tx, _, _| {
            if from >= to {
                return Err(Error::out_of_range("window", "time_window", "the window's start must be before its end"));
            }
            let filter = AuditFilter {
                principal: principal.map(str::to_owned),
                from_time: Some(from),
                to_time: Some(to),
                ..Default::default()
            };
            let mut touched: BTreeMap<CustomerId, TouchedCustomer> = BTreeMap::new();
            tx.scan_audit(&filter, &mut |record| {
                let entry = decode(&record.body)?;
                if matches!(entry.outcome, Outcome::Allowed | Outcome::Masked) && entry.action.starts_with("customer.")
                {
                    for customer in entry.customers {
                        let t = touched.entry(customer).or_insert_with(|| TouchedCustomer {
                            customer,
                            accesses: 0,
                            first: entry.time,
                            last: entry.time,
                            principals: Vec::new(),
                        });
                        t.accesses += 1;
                        t.last = entry.time;
                        if !t.principals.contains(&entry.principal) {
                            t.principals.push(entry.principal.clone());
                        }
                    }
                }
                Ok(Scan::Continue)
            })?;
            Ok(touched.into_values().collect())
        })
    }
}

fn decode(body: &[u8]) -> Result<AuditEntry> {
    serde_json::from_slice(body).map_err(|e| Error::corrupt_caused("an audit entry is unreadable", e))
}

/// The decoded entries `filter` selects (those `keep` accepts), at most
/// `limit`, in sequence order. A filter on a customer also selects the
/// entries about every customer of its merge family (the one it was merged
/// into, and those merged into that one): a merged-away id leads to the
/// survivor's history, and the survivor's history includes its own.
pub(super) fn collect_entries(
    tx: &mut dyn Transaction,
    filter: &AuditFilter,
    limit: usize,
    keep: impl Fn(&AuditEntry) -> bool,
) -> Result<Vec<AuditEntry>> {
    let Some(customer) = filter.customer else { return collect_one(tx, filter, limit, &keep) };
    let family = merge_family(tx, customer)?;
    if family.len() == 1 {
        return collect_one(tx, filter, limit, &keep);
    }
    // Each member's entries come in sequence order; a merge entry names two
    // members, so the union is sorted and de-duplicated by sequence number.
    let mut all: BTreeMap<u64, AuditEntry> = BTreeMap::new();
    for member in family {
        let member_filter = AuditFilter { customer: Some(member), ..filter.clone() };
        for entry in collect_one(tx, &member_filter, limit, &keep)? {
            all.insert(entry.seq, entry);
        }
    }
    Ok(all.into_values().take(limit).collect())
}

/// [`collect_entries`] for exactly the customer (if any) `filter` names.
fn collect_one(
    tx: &mut dyn Transaction,
    filter: &AuditFilter,
    limit: usize,
    keep: &impl Fn(&AuditEntry) -> bool,
) -> Result<Vec<AuditEntry>> {
    let mut out = Vec::new();
    tx.scan_audit(filter, &mut |record| {
        let entry = decode(&record.body)?;
        if keep(&entry) {
            out.push(entry);
        }
        Ok(if out.len() >= limit { Scan::Stop } else { Scan::Continue })
    })?;
    Ok(out)
}
