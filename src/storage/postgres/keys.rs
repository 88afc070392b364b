//! The key store on PostgreSQL: its own database, reached through the
//! transaction's second connection.

use super::{PostgresTx, col, customer_col};
use crate::error::Result;
use crate::model::CustomerId;
use crate::storage::{KeyStore, WrappedKey};

impl KeyStore for PostgresTx<'_> {
    fn key_meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = self.keys()?.query_opt("SELECT value FROM meta WHERE name = $1", &[&name])?;
        row.map(|r| col(&r, 0)).transpose()
    }

    fn key_meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.keys_writable()?.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )?;
        Ok(())
    }

    fn put_data_key(&mut self, customer: CustomerId, key: &WrappedKey) -> Result<()> {
        self.keys_writable()?.execute(
            "INSERT INTO data_keys (customer_id, key_id, wrapped) VALUES ($1, $2, $3)
             ON CONFLICT (customer_id) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped",
            &[&customer.0, &(key.key_id as i64), &key.wrapped],
        )?;
        Ok(())
    }

    fn get_data_key(&mut self, customer: CustomerId) -> Result<Option<WrappedKey>> {
        let row =
            self.keys()?.query_opt("SELECT key_id, wrapped FROM data_keys WHERE customer_id = $1", &[&customer.0])?;
        row.map(|r| Ok(WrappedKey { key_id: col::<i64>(&r, 0)? as u64, wrapped: col(&r, 1)? })).transpose()
    }

    fn delete_data_key(&mut self, customer: CustomerId) -> Result<bool> {
        let n = self.keys_writable()?.execute("DELETE FROM data_keys WHERE customer_id = $1", &[&customer.0])?;
        Ok(n > 0)
    }

    fn data_keys(&mut self) -> Result<Vec<(CustomerId, WrappedKey)>> {
        let rows =
            self.keys()?.query("SELECT customer_id, key_id, wrapped FROM data_keys ORDER BY customer_id", &[])?;
        rows.iter()
            .map(|r| Ok((customer_col(r, 0)?, WrappedKey { key_id: col::<i64>(r, 1)? as u64, wrapped: col(r, 2)? })))
            .collect()
    }

    fn count_data_keys(&mut self) -> Result<u64> {
        let row = self.keys()?.query_one("SELECT count(*) FROM data_keys", &[])?;
        Ok(col::<i64>(&row, 0)? as u64)
    }

    fn record_erasure(&mut self, hash: &[u8], at: i64) -> Result<()> {
        self.keys_writable()?.execute(
            "INSERT INTO erasure_ledger (hash, at) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &at],
        )?;
        Ok(())
    }

    fn erasure_ledger(&mut self) -> Result<Vec<Vec<u8>>> {
        // BYTEA compares bytewise, as the other backends order the hashes.
        let rows = self.keys()?.query("SELECT hash FROM erasure_ledger ORDER BY hash", &[])?;
        rows.iter().map(|r| col(r, 0)).collect()
    }
}
