//! Attached records on PostgreSQL: one `records` table (bookkeeping columns
//! in plaintext, sealed values packed in one blob as the customers table
//! keeps them) and a `record_history` table of status changes.

use postgres::Row;
use postgres::types::ToSql;

use super::{Session, col, customer_col};
use crate::error::{Error, Result};
use crate::model::{CustomerId, RecordKind};
use crate::storage::{DueFilter, RecordRow, SealedFields, StatusChange};

const COLUMNS: &str = "id, customer_id, kind, time, status, category, channel, priority, owner, due_at, pending,
     retention_start, created_at, updated_at, version, key_id, sealed";

fn read_row(r: &Row) -> Result<RecordRow> {
    let id = col::<i64>(r, 0)? as u64;
    let kind = match col::<&str>(r, 2)? {
        "transaction" => RecordKind::Transaction,
        "service" => RecordKind::Service,
        _ => return Err(Error::corrupt(format!("record {id} has an unknown kind"))),
    };
    let customer = customer_col(r, 1)?;
    let sealed = SealedFields::from_packed(customer, col(r, 16)?)
        .map_err(|_| Error::corrupt(format!("the sealed values of record {id} are malformed")))?
        .to_map();
    Ok(RecordRow {
        id,
        customer,
        kind,
        time: col(r, 3)?,
        status: col(r, 4)?,
        category: col(r, 5)?,
        channel: col(r, 6)?,
        priority: col(r, 7)?,
        owner: col(r, 8)?,
        due_at: col(r, 9)?,
        pending: col(r, 10)?,
        retention_start: col(r, 11)?,
        created_at: col(r, 12)?,
        updated_at: col(r, 13)?,
        version: col::<i64>(r, 14)? as u64,
        key_id: col::<i64>(r, 15)? as u64,
        sealed,
    })
}

/// A row's columns in [`COLUMNS`] order, as parameters `$1..$17`.
struct Values {
    id: i64,
    customer: i64,
    kind: &'static str,
    version: i64,
    key_id: i64,
    sealed: Vec<u8>,
}

impl Values {
    fn of(row: &RecordRow) -> Values {
        Values {
            id: row.id as i64,
            customer: row.customer.0,
            kind: row.kind.name(),
            version: row.version as i64,
            key_id: row.key_id as i64,
            sealed: SealedFields::pack(&row.sealed).packed().to_vec(),
        }
    }

    fn params<'a>(&'a self, row: &'a RecordRow) -> Vec<&'a (dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.customer,
            &self.kind,
            &row.time,
            &row.status,
            &row.category,
            &row.channel,
            &row.priority,
            &row.owner,
            &row.due_at,
            &row.pending,
            &row.retention_start,
            &row.created_at,
            &row.updated_at,
            &self.version,
            &self.key_id,
            &self.sealed,
        ]
    }
}

pub(super) fn next_id(session: &mut Session) -> Result<u64> {
    // The UPDATE locks the counter row until the transaction ends.
    let row =
        session.query_one("UPDATE counters SET value = value + 1 WHERE name = 'record_id' RETURNING value", &[])?;
    Ok(col::<i64>(&row, 0)? as u64)
}

pub(super) fn insert(session: &mut Session, row: &RecordRow) -> Result<()> {
    let values = Values::of(row);
    // DO NOTHING: a taken id is refused without aborting the transaction.
    let inserted = session.execute(
        &format!(
            "INSERT INTO records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
             $16, $17) ON CONFLICT (id) DO NOTHING"
        ),
        &values.params(row),
    )?;
    if inserted == 0 {
        return Err(Error::storage(format!("record {} already exists", row.id)));
    }
    Ok(())
}

/// Replaces every column but the id, customer, kind and creation time
/// (which never change) if the stored version is `expected_version`.
pub(super) fn replace(session: &mut Session, row: &RecordRow, expected_version: u64) -> Result<bool> {
    let values = Values::of(row);
    let expected = expected_version as i64;
    let all = values.params(row);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![all[0]];
    params.extend([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16].map(|i| all[i]));
    params.push(&expected);
    let n = session.execute(
        "UPDATE records SET time = $2, status = $3, category = $4, channel = $5, priority = $6, owner = $7,
         due_at = $8, pending = $9, retention_start = $10, updated_at = $11, version = $12, key_id = $13,
         sealed = $14 WHERE id = $1 AND version = $15",
        &params,
    )?;
    Ok(n > 0)
}

pub(super) fn get(session: &mut Session, id: u64) -> Result<Option<RecordRow>> {
    let row = session.query_opt(&format!("SELECT {COLUMNS} FROM records WHERE id = $1"), &[&(id as i64)])?;
    row.as_ref().map(read_row).transpose()
}

pub(super) fn delete(session: &mut Session, id: u64) -> Result<bool> {
    let id = id as i64;
    session.execute("DELETE FROM record_history WHERE record_id = $1", &[&id])?;
    Ok(session.execute("DELETE FROM records WHERE id = $1", &[&id])? > 0)
}

/// Deletes every record of `customer` with its history.
pub(super) fn delete_of(session: &mut Session, customer: CustomerId) -> Result<()> {
    session.execute(
        "DELETE FROM record_history WHERE record_id IN (SELECT id FROM records WHERE customer_id = $1)",
        &[&customer.0],
    )?;
    session.execute("DELETE FROM records WHERE customer_id = $1", &[&customer.0])?;
    Ok(())
}

pub(super) fn of_customer(
    session: &mut Session,
    customer: CustomerId,
    before: Option<(i64, u64)>,
    limit: u32,
) -> Result<Vec<RecordRow>> {
    let (time, id) = before.map_or((i64::MAX, i64::MAX), |(t, id)| (t, id.min(i64::MAX as u64) as i64));
    let rows = session.query(
        &format!(
            "SELECT {COLUMNS} FROM records WHERE customer_id = $1 AND (time, id) < ($2, $3)
             ORDER BY time DESC, id DESC LIMIT $4"
        ),
        &[&customer.0, &time, &id, &i64::from(limit)],
    )?;
    rows.iter().map(read_row).collect()
}

pub(super) fn due(session: &mut Session, filter: &DueFilter) -> Result<Vec<RecordRow>> {
    let (after_due, after_id) = filter.after.map_or((i64::MIN, 0), |(d, id)| (d, id.min(i64::MAX as u64) as i64));
    let rows = session.query(
        &format!(
            "SELECT {COLUMNS} FROM records
             WHERE pending AND due_at >= $1 AND due_at <= $2 AND ($3::text IS NULL OR owner = $3::text)
               AND (due_at, id) > ($4, $5)
             ORDER BY due_at, id LIMIT $6"
        ),
        &[&filter.from.unwrap_or(i64::MIN), &filter.to, &filter.owner, &after_due, &after_id, &i64::from(filter.limit)],
    )?;
    rows.iter().map(read_row).collect()
}

pub(super) fn retained_since(session: &mut Session, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>> {
    let rows = session.query(
        "SELECT id, customer_id FROM records WHERE kind = $1 AND retention_start <= $2 ORDER BY id",
        &[&kind.name(), &cutoff],
    )?;
    rows.iter().map(|r| Ok((col::<i64>(r, 0)? as u64, customer_col(r, 1)?))).collect()
}

pub(super) fn append_change(session: &mut Session, record: u64, change: &StatusChange) -> Result<()> {
    // The next number within the record's history; writers take turns, so
    // two never read the same maximum.
    session.execute(
        "INSERT INTO record_history (record_id, seq, at, changed_by, from_status, to_status)
         VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM record_history WHERE record_id = $1), $2, $3, $4, $5)",
        &[&(record as i64), &change.at, &change.by, &change.from, &change.to],
    )?;
    Ok(())
}

pub(super) fn history(session: &mut Session, record: u64) -> Result<Vec<StatusChange>> {
    let rows = session.query(
        "SELECT at, changed_by, from_status, to_status FROM record_history WHERE record_id = $1 ORDER BY seq",
        &[&(record as i64)],
    )?;
    rows.iter().map(|r| Ok(StatusChange { at: col(r, 0)?, by: col(r, 1)?, from: col(r, 2)?, to: col(r, 3)? })).collect()
}
