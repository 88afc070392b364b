//! Merging one customer into another: the duplicate found by
//! [`Session::duplicates`] becomes one customer.
//!
//! A merge is one audited call, one transaction. The survivor keeps its
//! values unless the caller chooses the merged-away customer's for a field
//! (by default an empty field of the survivor is filled, and tags are
//! joined). Attached records are re-sealed under the survivor's key,
//! consents move with their history (a withdrawal on either side stays a
//! withdrawal), holds and restrictions move, and the merged-away customer
//! is crypto-shredded with a destruction record (method `merge`) and an
//! erasure-ledger entry. A merge marker keeps where its id now leads, so an
//! audit query for it finds the survivor's history, and the survivor's
//! history includes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::StoreInner;
use super::codec::Values;
use super::directory::{load, load_all, save};
use super::lifecycle::{check_reference, key_of};
use super::session::{Call, Session, replace_versioned, row_at_version};
use crate::access::{Action, Decision, FieldPlan, rules};
use crate::audit::Trail;
use crate::consent::{Channel, ConsentRecord};
use crate::crypto::{DataKey, FieldCipher};
use crate::error::{Error, Result};
use crate::model::validate::{check_record, normalise, passes};
use crate::model::{CustomerId, CustomerView, Field, Storage};
use crate::retention::{Destruction, DestructionMethod, Marker};
use crate::storage::{CustomerRow, DirectoryKind, Transaction};

use super::session::{STATUS_ANONYMISED, STATUS_UNVERIFIED};

/// Whose value of a field survives a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeSide {
    /// The survivor's value, even when it is empty.
    Survivor,
    /// The merged-away customer's value, even when it is empty.
    Merged,
}

impl MergeSide {
    /// The side with this name (`survivor`, `merged`).
    pub fn parse(name: &str) -> Result<MergeSide> {
        match name {
            "survivor" => Ok(MergeSide::Survivor),
            "merged" => Ok(MergeSide::Merged),
            _ => Err(Error::invalid("take", "merge_side", "a field's surviving value is 'survivor' or 'merged'")),
        }
    }
}

/// How a merge chooses and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeOptions {
    /// Why (a ticket or request reference, 1-64 printable characters); the
    /// destruction record's reason is `merge:<reference>`.
    pub reference: String,
    /// The surviving value per field. A field not named keeps the
    /// survivor's value, or the merged-away customer's where the survivor
    /// has none; tags not named are joined (the survivor's first).
    pub take: BTreeMap<Field, MergeSide>,
    /// Whether a legal hold on either customer moves to the survivor
    /// instead of refusing the merge.
    pub carry_holds: bool,
}

impl MergeOptions {
    /// Options for a merge under `reference`: the default choices, holds refused.
    pub fn new(reference: &str) -> Self {
        MergeOptions { reference: reference.to_owned(), ..Default::default() }
    }

    /// Chooses `side`'s value of `field`.
    pub fn take(mut self, field: Field, side: MergeSide) -> Self {
        self.take.insert(field, side);
        self
    }

    /// Lets a legal hold move to the survivor.
    pub fn carrying_holds(mut self) -> Self {
        self.carry_holds = true;
        self
    }
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// The survivor after the merge, as the session sees it.
    pub survivor: CustomerView,
    /// The merged-away customer (now destroyed).
    pub merged: CustomerId,
    /// The survivor's fields whose value changed (names only).
    pub fields_changed: Vec<String>,
    /// The attached records moved to the survivor.
    pub records_moved: Vec<u64>,
    /// How many consent records moved.
    pub consents_moved: usize,
    /// Purpose and channel where one side's withdrawal overrode the other's
    /// later grant (a withdrawal was recorded on the survivor).
    pub withdrawals_kept: Vec<(String, Channel)>,
    /// Whether a legal hold moved to (or stayed on) the survivor.
    pub hold_carried: bool,
    /// Whether a restriction of processing moved to the survivor.
    pub restriction_carried: bool,
}

/// Where a merged-away customer's id leads, as the access directory keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MergeMarker {
    /// The merged-away customer.
    pub(crate) merged: CustomerId,
    /// The customer it was merged into.
    pub(crate) into: CustomerId,
    /// When (Unix ms).
    pub(crate) at: i64,
    /// Who merged it.
    pub(crate) by: String,
}

/// The customers whose audit history is `id`'s: the customer it was
/// (eventually) merged into, and every customer merged into that one, in
/// id order. Just `[id]` when no merge concerns it.
pub(crate) fn merge_family(tx: &mut dyn Transaction, id: CustomerId) -> Result<Vec<CustomerId>> {
    let markers: Vec<MergeMarker> = load_all(tx, DirectoryKind::Merge)?;
    if markers.is_empty() {
        return Ok(vec![id]);
    }
    let into: HashMap<CustomerId, CustomerId> = markers.iter().map(|m| (m.merged, m.into)).collect();
    let last = |mut c: CustomerId| {
        // A chain of merges is as long as the markers at most; a cycle
        // (which no merge can make: the merged-away id is gone) ends there.
        for _ in 0..=into.len() {
            match into.get(&c) {
                Some(next) => c = *next,
                None => break,
            }
        }
        c
    };
    let head = last(id);
    let mut family: BTreeSet<CustomerId> = into.keys().copied().filter(|m| last(*m) == head).collect();
    family.insert(head);
    family.insert(id);
    Ok(family.into_iter().collect())
}

impl Session {
    /// Merges customer `merged` into customer `survivor`, both at the
    /// versions the caller last read (else [`Error::VersionConflict`]).
    ///
    /// The survivor keeps its values except where `options.take` chooses
    /// the merged-away customer's; an empty survivor field is filled, tags
    /// are joined. Every attached record moves (re-sealed under the
    /// survivor's key), every consent record moves, and for each purpose and
    /// channel a withdrawal on either side stays a withdrawal. A legal hold
    /// on either refuses the merge ([`Error::LegalHold`]) unless
    /// `options.carry_holds`; a restriction of processing moves to the
    /// survivor. The merged-away customer is then crypto-shredded: the audit
    /// entry (`customer.merge`, naming both) is its destruction record
    /// (method `merge`), and audit queries for its id lead to the survivor.
    ///
    /// Needs both `update` and `erase`, and write access to every field
    /// whose value changes. All of it, or nothing.
    pub fn merge(
        &self,
        survivor: CustomerId,
        survivor_version: u64,
        merged: CustomerId,
        merged_version: u64,
        options: &MergeOptions,
    ) -> Result<MergeReport> {
        check_reference("reference", &options.reference)?;
        let destruction =
            Destruction { method: DestructionMethod::Merge, reason: format!("merge:{}", options.reference) };
        let call = Call::about(Action::Update, "customer.merge", survivor)
            .targeting(&format!("merged:{merged}"))
            .writing_keys()
            .erasing_only(merged, destruction);
        self.run(call, |store, tx, plan, trail| {
            trail.touched(merged);
            if survivor == merged {
                return Err(Error::invalid(
                    "merged",
                    "merge_self",
                    format!("customer {merged} cannot merge into itself"),
                ));
            }
            // The merge destroys a customer: it needs the erase action too.
            self.authorise(tx, Action::Erase, false)?;
            self.check_restriction(tx, merged)?;
            let mut row = row_at_version(tx, survivor, survivor_version)?;
            let gone = row_at_version(tx, merged, merged_version)?;
            for r in [&row, &gone] {
                if r.header.status == STATUS_ANONYMISED {
                    return Err(Error::invalid(
                        "customer",
                        "merge_anonymised",
                        format!("customer {} is anonymised; it has nothing left to merge", r.header.id),
                    ));
                }
            }
            let hold_carried = self.check_holds(tx, survivor, merged, options.carry_holds)?;
            let key = store.data_key(survivor, tx.get_data_key(survivor)?.as_ref())?;
            let gone_key = store.data_key(merged, tx.get_data_key(merged)?.as_ref())?;
            let mut values = store.unseal_all(&row, &key)?;
            let theirs = store.unseal_all(&gone, &gone_key)?;
            let changed = self.choose_values(store, plan, &mut values, &theirs, options)?;
            check_record(|f| values.get(f).map(|v| v.as_str().to_owned()))?;

            let records_moved = move_records(store, tx, trail, &gone_key, merged, &key, survivor)?;
            let (consents_moved, withdrawals_kept) = self.move_consents(store, tx, trail, merged, survivor)?;
            let restriction_carried = carry_markers(tx, merged, survivor)?;
            // Its external code, blind indexes and key go with it, so the
            // survivor may take the code in the same transaction.
            store.destroy(tx, merged, DestructionMethod::Merge)?;
            let marker = MergeMarker {
                merged,
                into: survivor,
                at: store.clock.now_millis(),
                by: self.principal_id().to_owned(),
            };
            save(tx, DirectoryKind::Merge, &key_of(merged), &marker)?;

            self.store_survivor(store, tx, &mut row, &key, &values, &changed, survivor_version)?;
            trail.wrote(changed.iter(), true);
            let view = store.render_with(&row.header, &row.sealed, Some(&key), plan)?;
            trail.saw(&view, plan);
            Ok(MergeReport {
                survivor: view,
                merged,
                fields_changed: changed.iter().map(|f| f.name().into_owned()).collect(),
                records_moved,
                consents_moved,
                withdrawals_kept,
                hold_carried,
                restriction_carried,
            })
        })
    }

    /// Refuses the merge if either customer is under a legal hold and holds
    /// are not carried; returns whether one is carried.
    fn check_holds(
        &self,
        tx: &mut dyn Transaction,
        survivor: CustomerId,
        merged: CustomerId,
        carry: bool,
    ) -> Result<bool> {
        let mut held = false;
        for id in [merged, survivor] {
            if let Some(hold) = load::<Marker>(tx, DirectoryKind::Hold, &key_of(id))? {
                if !carry {
                    return Err(Error::LegalHold { customer: id, reason: hold.reason });
                }
                held = true;
            }
        }
        Ok(held)
    }

    /// Puts the surviving value of every field into `values` (the
    /// survivor's) and returns the fields whose value changed, refusing a
    /// change of a field the session may not write.
    fn choose_values(
        &self,
        store: &StoreInner,
        plan: &FieldPlan,
        values: &mut Values,
        theirs: &Values,
        options: &MergeOptions,
    ) -> Result<Vec<Field>> {
        for field in options.take.keys() {
            store.catalogue.check_field(field)?;
            if !field.is_writable() {
                return Err(Error::invalid(
                    field.name(),
                    "read_only",
                    format!("field '{field}' is kept by the store; a merge cannot choose it"),
                ));
            }
        }
        let fields: BTreeSet<Field> = values
            .keys()
            .chain(theirs.keys())
            .chain(options.take.keys())
            .filter(|f| f.is_writable())
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for field in fields {
            let ours = values.get(&field);
            let chosen: Option<Zeroizing<String>> = match (options.take.get(&field), &field) {
                (Some(MergeSide::Survivor), _) => continue,
                (Some(MergeSide::Merged), _) => theirs.get(&field).cloned(),
                (None, Field::Tags) => self.joined_tags(store, ours, theirs.get(&field))?,
                (None, _) if ours.is_some() => continue,
                (None, _) => theirs.get(&field).cloned(),
            };
            if chosen.as_ref().map(|v| v.as_str()) == ours.map(|v| v.as_str()) {
                continue;
            }
            if let Decision::Deny(_) = plan.decision(&field) {
                return Err(Error::Denied {
                    rule: rules::WRITE_NOT_PERMITTED,
                    reason: format!(
                        "principal '{}' may not write field '{field}', which the merge would change",
                        self.principal_id()
                    ),
                });
            }
            match chosen {
                Some(v) => values.insert(field.clone(), v),
                None => values.remove(&field),
            };
            changed.push(field);
        }
        Ok(changed)
    }

    /// Both customers' tags, the survivor's first, without repeats (at most
    /// as many as one customer may hold, else `too_many_tags`).
    fn joined_tags(
        &self,
        store: &StoreInner,
        ours: Option<&Zeroizing<String>>,
        theirs: Option<&Zeroizing<String>>,
    ) -> Result<Option<Zeroizing<String>>> {
        let joined =
            Zeroizing::new([ours, theirs].into_iter().flatten().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
        Ok(normalise(&Field::Tags, &joined, &store.catalogue, self.today_days())?.map(Zeroizing::new))
    }

    /// Moves `merged`'s consent records to `survivor` in their order, then
    /// for each purpose and channel where either side's latest record was a
    /// withdrawal but the joined history ends in a grant, records a
    /// withdrawal on the survivor. Returns how many moved and where a
    /// withdrawal was kept.
    fn move_consents(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        trail: &mut Trail,
        merged: CustomerId,
        survivor: CustomerId,
    ) -> Result<(usize, Vec<(String, Channel)>)> {
        let ours = tx.consents_of(survivor)?;
        let theirs = tx.consents_of(merged)?;
        let latest = |records: &[ConsentRecord]| {
            let mut last: BTreeMap<(String, &'static str), ConsentRecord> = BTreeMap::new();
            for r in records {
                last.insert((r.purpose.clone(), r.channel.name()), r.clone());
            }
            last
        };
        let (ours_latest, theirs_latest) = (latest(&ours), latest(&theirs));
        for record in &theirs {
            tx.append_consent(&ConsentRecord { customer: survivor, ..record.clone() })?;
        }
        let joined = latest(&[ours, theirs.clone()].concat());
        let mut kept = Vec::new();
        for (key, last) in &joined {
            let withdrawn = [&ours_latest, &theirs_latest].iter().find_map(|side| side.get(key).filter(|r| !r.granted));
            if let (true, Some(withdrawal)) = (last.granted, withdrawn) {
                tx.append_consent(&ConsentRecord {
                    customer: survivor,
                    at: store.clock.now_millis(),
                    source: "merge".into(),
                    recorded_by: self.principal_id().to_owned(),
                    ..withdrawal.clone()
                })?;
                trail.changed.push(format!("consent.{}.{}", last.purpose, last.channel));
                kept.push((last.purpose.clone(), last.channel));
            }
        }
        if !theirs.is_empty() {
            trail.changed.push("consents".into());
        }
        Ok((theirs.len(), kept))
    }

    /// Writes the survivor's chosen values: header columns, the changed
    /// sealed fields and their blind indexes, and its status (`unverified`
    /// if a value taken from the merged-away customer fails validation).
    #[allow(clippy::too_many_arguments)]
    fn store_survivor(
        &self,
        store: &StoreInner,
        tx: &mut dyn Transaction,
        row: &mut CustomerRow,
        key: &DataKey,
        values: &Values,
        changed: &[Field],
        expected_version: u64,
    ) -> Result<()> {
        store.header_from(&mut row.header, values);
        if !passes(values, &store.catalogue, self.today_days()) {
            row.header.status = STATUS_UNVERIFIED.into();
        }
        let cipher = FieldCipher::new(row.header.id, key);
        for field in changed.iter().filter(|f| f.storage() == Storage::Sealed) {
            store.seal_field(row, &cipher, field, values.get(field).map(|v| v.as_str()))?;
        }
        replace_versioned(store, tx, row, expected_version)
    }
}

/// Moves every record attached to `from` onto `to`, re-sealing its values
/// under `to`'s key (they are bound to their customer), with its history.
fn move_records(
    store: &StoreInner,
    tx: &mut dyn Transaction,
    trail: &mut Trail,
    from_key: &DataKey,
    from: CustomerId,
    to_key: &DataKey,
    to: CustomerId,
) -> Result<Vec<u64>> {
    let (opener, sealer) = (FieldCipher::new(from, from_key), FieldCipher::new(to, to_key));
    let mut moved = Vec::new();
    for mut record in tx.records_of(from, None, u32::MAX)? {
        let history = tx.status_history(record.id)?;
        let mut sealed = BTreeMap::new();
        for (name, bytes) in &record.sealed {
            let field = Field::parse(name)
                .map_err(|_| Error::corrupt(format!("record {} has an unknown stored field '{name}'", record.id)))?;
            let value = opener.open_in_record(record.id, &field, bytes)?;
            sealed.insert(name.clone(), sealer.seal_in_record(record.id, &field, &value)?);
        }
        tx.delete_record(record.id)?;
        record.customer = to;
        record.key_id = to_key.id;
        record.sealed = sealed;
        record.version += 1;
        record.updated_at = store.clock.now_millis().max(record.updated_at);
        tx.insert_record(&record)?;
        for change in &history {
            tx.append_status_change(record.id, change)?;
        }
        trail.records.insert(record.id);
        moved.push(record.id);
    }
    Ok(moved)
}

/// Moves `from`'s legal hold and restriction of processing to `to` where
/// `to` has none of its own (a hold is here only when the merge carries
/// holds: otherwise it was refused), and returns whether a restriction moved.
fn carry_markers(tx: &mut dyn Transaction, from: CustomerId, to: CustomerId) -> Result<bool> {
    let mut restriction_carried = false;
    for kind in [DirectoryKind::Hold, DirectoryKind::Restriction] {
        let Some(marker) = load::<Marker>(tx, kind, &key_of(from))? else { continue };
        if load::<Marker>(tx, kind, &key_of(to))?.is_none() {
            save(tx, kind, &key_of(to), &Marker { customer: to, ..marker })?;
            restriction_carried |= kind == DirectoryKind::Restriction;
        }
        tx.directory_delete(kind, &key_of(from))?;
    }
    Ok(restriction_carried)
}
