//! The audit log on PostgreSQL: entries with their customers as an array
//! (GIN-indexed), ordinary indexes for principal, value and time, the head
//! row every writer locks, and the checkpoints. Queries filter the entries
//! through these indexes, so there is no derived index to bring up to date
//! or verify.

use postgres::types::ToSql;

use super::{PAGE, PostgresTx, col};
use crate::error::{Error, Result};
use crate::model::CustomerId;
use crate::storage::{
    AuditFilter, AuditHead, AuditRecord, AuditRecordView, AuditStore, IndexLink, Scan, StoredCheckpoint, TxMode,
};

const ENTRY_COLUMNS: &str = "seq, time, principal, action, outcome, value_hash, body, mac, customers";

fn customers_of(row: &postgres::Row) -> Result<Vec<CustomerId>> {
    Ok(col::<Vec<i64>>(row, 8)?.into_iter().map(CustomerId).collect())
}

fn audit_record(row: &postgres::Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: col::<i64>(row, 0)? as u64,
        time: col(row, 1)?,
        principal: col(row, 2)?,
        action: col(row, 3)?,
        outcome: col(row, 4)?,
        value_hash: col(row, 5)?,
        body: col(row, 6)?,
        mac: col(row, 7)?,
        customers: customers_of(row)?,
    })
}

fn checkpoint_row(row: &postgres::Row) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: col::<i64>(row, 0)? as u64,
        head_mac: col(row, 1)?,
        time: col(row, 2)?,
        signature: col(row, 3)?,
    })
}

impl AuditStore for PostgresTx<'_> {
    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        // A writer locks the head row: no other transaction extends the same
        // head (the writer's turn already orders them; this keeps the rule
        // where the turn is not taken, e.g. a foreign tool writing the log).
        let sql = if self.mode == TxMode::Read {
            "SELECT seq, mac, time FROM audit_head WHERE id = 1"
        } else {
            "SELECT seq, mac, time FROM audit_head WHERE id = 1 FOR UPDATE"
        };
        let Some(row) = self.data().query_opt(sql, &[])? else {
            return Err(Error::corrupt("the audit head row is missing"));
        };
        let seq = col::<i64>(&row, 0)?;
        if seq == 0 {
            // Sequence 0: no entry yet.
            return Ok(None);
        }
        Ok(Some(AuditHead { seq: seq as u64, mac: col(&row, 1)?, time: col(&row, 2)? }))
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<()> {
        let seq = record.seq as i64;
        let customers: Vec<i64> = record.customers.iter().map(|c| c.0).collect();
        let session = self.data_writable()?;
        // DO NOTHING: a taken number is refused without aborting the
        // transaction, as the other backends refuse it.
        let inserted = session.execute(
            "INSERT INTO audit_entries (seq, time, principal, action, outcome, value_hash, customers, body, mac)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING",
            &[
                &seq,
                &record.time,
                &record.principal,
                &record.action,
                &record.outcome,
                &record.value_hash,
                &customers,
                &record.body,
                &record.mac,
            ],
        )?;
        if inserted == 0 {
            return Err(Error::storage(format!("audit entry {} already exists", record.seq)));
        }
        session.execute(
            "UPDATE audit_head SET seq = $1, mac = $2, time = $3 WHERE id = 1",
            &[&seq, &record.mac, &record.time],
        )?;
        Ok(())
    }

    fn scan_audit(&mut self, filter: &AuditFilter, visit: &mut dyn FnMut(AuditRecord) -> Result<Scan>) -> Result<()> {
        let after = filter.after_seq.min(i64::MAX as u64) as i64;
        let customer = filter.customer.map(|c| c.0);
        // Each condition with its parameter; `?` stands for its number.
        let mut wanted: Vec<(&str, &(dyn ToSql + Sync))> = vec![("seq > ?", &after)];
        if let Some(customer) = &customer {
            wanted.push(("customers @> ARRAY[?::bigint]", customer));
        }
        if let Some(principal) = &filter.principal {
            wanted.push(("principal = ?", principal));
        }
        if let Some(from) = &filter.from_time {
            wanted.push(("time >= ?", from));
        }
        if let Some(to) = &filter.to_time {
            wanted.push(("time < ?", to));
        }
        if let Some(outcome) = &filter.outcome {
            wanted.push(("outcome = ?", outcome));
        }
        if let Some(hash) = &filter.value_hash {
            wanted.push(("value_hash = ?", hash));
        }
        let conditions: Vec<String> =
            wanted.iter().enumerate().map(|(i, (c, _))| c.replace('?', &format!("${}", i + 1))).collect();
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {} ORDER BY seq LIMIT {PAGE}",
            conditions.join(" AND ")
        );
        // In pages from the last seq seen (the first condition): a visitor
        // that stops early ends the transfer, and no statement runs as long
        // as the whole scan.
        let mut after = after;
        loop {
            let mut params: Vec<&(dyn ToSql + Sync)> = wanted.iter().map(|(_, p)| *p).collect();
            params[0] = &after;
            let rows = self.data().query(&sql, &params)?;
            for row in &rows {
                if visit(audit_record(row)?)? == Scan::Stop {
                    return Ok(());
                }
            }
            match rows.last() {
                Some(last) if rows.len() == PAGE => after = col(last, 0)?,
                _ => return Ok(()),
            }
        }
    }

    fn scan_audit_views(&mut self, visit: &mut dyn FnMut(&AuditRecordView<'_>) -> Result<Scan>) -> Result<()> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT {PAGE}");
        let mut after = 0i64;
        loop {
            let rows = self.data().query(&sql, &[&after])?;
            // Every column but the customers is lent from the row.
            for row in &rows {
                let customers = customers_of(row)?;
                let view = AuditRecordView {
                    seq: col::<i64>(row, 0)? as u64,
                    time: col(row, 1)?,
                    principal: col(row, 2)?,
                    action: col(row, 3)?,
                    outcome: col(row, 4)?,
                    value_hash: col(row, 5)?,
                    body: col(row, 6)?,
                    mac: col(row, 7)?,
                    customers: &customers,
                };
                if visit(&view)? == Scan::Stop {
                    return Ok(());
                }
            }
            match rows.last() {
                Some(last) if rows.len() == PAGE => after = col(last, 0)?,
                _ => return Ok(()),
            }
        }
    }

    fn scan_audit_index(&mut self, _: &mut dyn FnMut(IndexLink<'_>) -> Result<()>) -> Result<u64> {
        // Queries read the entries through the database's own indexes: no
        // derived index to check.
        Ok(0)
    }

    fn put_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<()> {
        self.data_writable()?.execute(
            "INSERT INTO audit_checkpoints (size, head_mac, time, signature) VALUES ($1, $2, $3, $4)
             ON CONFLICT (size) DO UPDATE SET head_mac = excluded.head_mac, time = excluded.time,
             signature = excluded.signature",
            &[&(checkpoint.size as i64), &checkpoint.head_mac, &checkpoint.time, &checkpoint.signature],
        )?;
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>> {
        let rows =
            self.data().query("SELECT size, head_mac, time, signature FROM audit_checkpoints ORDER BY size", &[])?;
        rows.iter().map(checkpoint_row).collect()
    }

    fn first_audit_time(&mut self) -> Result<Option<i64>> {
        // One row: a scan would stream the whole log to read its first entry.
        let row = self.data().query_opt("SELECT time FROM audit_entries ORDER BY seq LIMIT 1", &[])?;
        row.as_ref().map(|r| col(r, 0)).transpose()
    }

    fn last_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>> {
        let row = self.data().query_opt(
            "SELECT size, head_mac, time, signature FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            &[],
        )?;
        row.as_ref().map(checkpoint_row).transpose()
    }
}
