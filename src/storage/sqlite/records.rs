//! The SQLite side of attached records: one `records` table (bookkeeping
//! columns in plaintext, sealed values packed in one blob as the customers
//! table keeps them) and a `record_history` table of status changes.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::Db;
use crate::error::{Error, Result};
use crate::model::{CustomerId, RecordKind};
use crate::storage::{DueFilter, RecordRow, SealedFields, StatusChange};

const COLUMNS: &str = "id, customer_id, kind, time, status, category, channel, priority, owner, due_at, pending,
     retention_start, created_at, updated_at, version, key_id, sealed";

fn kind_name(kind: RecordKind) -> &'static str {
    kind.name()
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<(RecordRow, Vec<u8>)> {
    let kind: String = r.get(2)?;
    let kind = match kind.as_str() {
        "transaction" => RecordKind::Transaction,
        "service" => RecordKind::Service,
        _ => RecordKind::Customer, // refused by `adopt`
    };
    Ok((
        RecordRow {
            id: r.get::<_, i64>(0)? as u64,
            customer: CustomerId(r.get(1)?),
            kind,
            time: r.get(3)?,
            status: r.get(4)?,
            category: r.get(5)?,
            channel: r.get(6)?,
            priority: r.get(7)?,
            owner: r.get(8)?,
            due_at: r.get(9)?,
            pending: r.get::<_, i64>(10)? != 0,
            retention_start: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
            version: r.get::<_, i64>(14)? as u64,
            key_id: r.get::<_, i64>(15)? as u64,
            sealed: Default::default(),
        },
        r.get(16)?,
    ))
}

/// Checks a row read back and unpacks its sealed values.
fn adopt((mut row, packed): (RecordRow, Vec<u8>)) -> Result<RecordRow> {
    if row.kind == RecordKind::Customer {
        return Err(Error::corrupt(format!("record {} has an unknown kind", row.id)));
    }
    row.sealed = SealedFields::from_packed(row.customer, packed)
        .map_err(|_| Error::corrupt(format!("the sealed values of record {} are malformed", row.id)))?
        .to_map();
    Ok(row)
}

/// The first `limit` rows. The limit is applied here, not bound into the
/// SQL: SQLite marks a statement whose plan read a bound parameter's value
/// (a bound `LIMIT`, or a bare `column = ?` whose index also serves the
/// `ORDER BY`) for re-preparation whenever its bindings are cleared, which
/// rusqlite's statement cache does after every use; re-parsing then costs
/// more than the query. So limits are counted here, and such comparisons
/// bind `+?` (the same value, as an expression the planner does not read).
/// The queries are ordered by an index, so stepping stops after `limit`
/// rows without sorting more.
fn collect(rows: impl Iterator<Item = rusqlite::Result<(RecordRow, Vec<u8>)>>, limit: u32) -> Result<Vec<RecordRow>> {
    rows.take(limit as usize).map(|r| adopt(r.db()?)).collect()
}

pub(super) fn next_id(conn: &Connection) -> Result<u64> {
    let id: i64 = conn
        .prepare_cached("UPDATE data.counters SET value = value + 1 WHERE name = 'record_id' RETURNING value")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    Ok(id as u64)
}

/// A row's columns in [`COLUMNS`] order, as bound parameters `?1..?17`.
fn column_values(row: &RecordRow) -> Vec<Value> {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    vec![
        Value::Integer(row.id as i64),
        Value::Integer(row.customer.0),
        Value::Text(kind_name(row.kind).to_owned()),
        Value::Integer(row.time),
        Value::Text(row.status.clone()),
        text(&row.category),
        text(&row.channel),
        text(&row.priority),
        text(&row.owner),
        row.due_at.map_or(Value::Null, Value::Integer),
        Value::Integer(i64::from(row.pending)),
        row.retention_start.map_or(Value::Null, Value::Integer),
        Value::Integer(row.created_at),
        Value::Integer(row.updated_at),
        Value::Integer(row.version as i64),
        Value::Integer(row.key_id as i64),
        Value::Blob(SealedFields::pack(&row.sealed).packed().to_vec()),
    ]
}

pub(super) fn insert(conn: &Connection, row: &RecordRow) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO data.records ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    ))
    .db()?
    .execute(params_from_iter(column_values(row)))
    .db()?;
    Ok(())
}

/// Replaces every column but the id, customer, kind and creation time
/// (which never change; their parameters go unused) if the stored version
/// is `expected_version` (`?18`).
pub(super) fn replace(conn: &Connection, row: &RecordRow, expected_version: u64) -> Result<bool> {
    let mut values = column_values(row);
    values.push(Value::Integer(expected_version as i64));
    let n = conn
        .prepare_cached(
            "UPDATE data.records SET time = ?4, status = ?5, category = ?6, channel = ?7, priority = ?8, owner = ?9,
             due_at = ?10, pending = ?11, retention_start = ?12, updated_at = ?14, version = ?15, key_id = ?16,
             sealed = ?17 WHERE id = ?1 AND version = ?18",
        )
        .db()?
        .execute(params_from_iter(values))
        .db()?;
    Ok(n > 0)
}

pub(super) fn get(conn: &Connection, id: u64) -> Result<Option<RecordRow>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM data.records WHERE id = ?1"))
        .db()?
        .query_row([id as i64], read_row)
        .optional()
        .db()?;
    row.map(adopt).transpose()
}

pub(super) fn delete(conn: &Connection, id: u64) -> Result<bool> {
    conn.prepare_cached("DELETE FROM data.record_history WHERE record_id = ?1").db()?.execute([id as i64]).db()?;
    let n = conn.prepare_cached("DELETE FROM data.records WHERE id = ?1").db()?.execute([id as i64]).db()?;
    Ok(n > 0)
}

/// Deletes every record of `customer` with its history.
pub(super) fn delete_of(conn: &Connection, customer: CustomerId) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM data.record_history WHERE record_id IN (SELECT id FROM data.records WHERE customer_id = ?1)",
    )
    .db()?
    .execute([customer.0])
    .db()?;
    conn.prepare_cached("DELETE FROM data.records WHERE customer_id = ?1").db()?.execute([customer.0]).db()?;
    Ok(())
}

pub(super) fn of_customer(
    conn: &Connection,
    customer: CustomerId,
    before: Option<(i64, u64)>,
    limit: u32,
) -> Result<Vec<RecordRow>> {
    let (time, id) = before.map_or((i64::MAX, u64::MAX), |b| b);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM data.records WHERE customer_id = +?1 AND (time, id) < (+?2, +?3)
             ORDER BY time DESC, id DESC"
        ))
        .db()?;
    let rows = stmt.query_map(params![customer.0, time, id.min(i64::MAX as u64) as i64], read_row).db()?;
    collect(rows, limit)
}

pub(super) fn due(conn: &Connection, filter: &DueFilter) -> Result<Vec<RecordRow>> {
    let (after_due, after_id) = filter.after.map_or((i64::MIN, 0), |(d, id)| (d, id as i64));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM data.records
             WHERE pending = 1 AND due_at >= +?1 AND due_at <= +?2 AND (?3 IS NULL OR owner = +?3)
               AND (due_at, id) > (+?4, +?5)
             ORDER BY due_at, id"
        ))
        .db()?;
    let rows = stmt
        .query_map(params![filter.from.unwrap_or(i64::MIN), filter.to, filter.owner, after_due, after_id], read_row)
        .db()?;
    collect(rows, filter.limit)
}

pub(super) fn retained_since(conn: &Connection, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, customer_id FROM data.records WHERE kind = +?1 AND retention_start <= +?2 ORDER BY id",
        )
        .db()?;
    let rows = stmt
        .query_map(params![kind_name(kind), cutoff], |r| Ok((r.get::<_, i64>(0)? as u64, CustomerId(r.get(1)?))))
        .db()?;
    rows.map(|r| r.db()).collect()
}

pub(super) fn append_change(conn: &Connection, record: u64, change: &StatusChange) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO data.record_history (record_id, seq, at, by, from_status, to_status)
         VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM data.record_history WHERE record_id = +?1), ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![record as i64, change.at, change.by, change.from, change.to])
    .db()?;
    Ok(())
}

pub(super) fn history(conn: &Connection, record: u64) -> Result<Vec<StatusChange>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, by, from_status, to_status FROM data.record_history WHERE record_id = +?1 ORDER BY seq",
        )
        .db()?;
    let rows = stmt
        .query_map([record as i64], |r| {
            Ok(StatusChange { at: r.get(0)?, by: r.get(1)?, from: r.get(2)?, to: r.get(3)? })
        })
        .db()?;
    rows.map(|r| r.db()).collect()
}
