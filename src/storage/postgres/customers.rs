//! Customer data on PostgreSQL: customer rows, the keyword index, the change
//! journal, class counts, consents, and the attached records (through
//! [`super::records`]). The same layout and semantics as the SQLite backend.

use std::collections::{BTreeMap, BTreeSet};

use postgres::Row;
use postgres::types::ToSql;

use super::{PAGE, PostgresTx, col, customer_col, random_tag, records};
use crate::consent::{Channel, ConsentRecord};
use crate::error::{Error, Result};
use crate::model::{CustomerId, RecordKind};
use crate::storage::{
    BLIND_INDEXED, ChangeMark, ClassKey, CustomerChanges, CustomerData, CustomerHeader, CustomerRow, DueFilter,
    GramEntry, RecordRow, Scan, ScannedCustomer, SealedFields, StatusChange, WrappedKey,
};

const HEADER_COLUMNS: &str = "c.id, c.kind, c.external_code, c.category, c.source, c.tier, c.status, c.created_at, c.updated_at, c.version, c.key_id, c.region";

/// How many columns [`HEADER_COLUMNS`] has: what follows them starts here.
const HEADER_LEN: usize = 12;

/// Fields with a blind index ([`BLIND_INDEXED`]), and the column that holds it.
const BLIND_COLUMNS: [(&str, &str); 4] = [
    ("mobile", "mobile_index"),
    ("email", "email_index"),
    ("id_number", "id_number_index"),
    ("credit_code", "credit_code_index"),
];

/// Keyword-index postings held back before they are written in one
/// statement: bounded so that an import or a rebuild keeps its memory.
const PENDING_POSTINGS: usize = 65_536;

/// A transaction that changes more customers than this leaves a journal
/// entry that lists none of them (caches behind it rebuild).
const JOURNAL_IDS: usize = 1024;

/// Change-journal entries kept (up to 63 more until the next pruning).
const JOURNAL_KEPT: i64 = 1024;

/// Ids fetched per statement by [`CustomerData::scan_customers_by_id`].
const SCAN_BATCH: usize = 512;

/// The statement of a scan: header columns, the sealed column (NULL when no
/// sealed field is wanted, so it is not read at all); `tail` picks and
/// orders the rows. The keys come from the other database.
fn scan_sql(fields: &[&str], tail: &str) -> String {
    format!(
        "SELECT {HEADER_COLUMNS}, {} FROM customers c {tail}",
        if fields.is_empty() { "NULL::bytea" } else { "c.sealed" }
    )
}

fn read_header(r: &Row) -> Result<CustomerHeader> {
    Ok(CustomerHeader {
        id: customer_col(r, 0)?,
        kind: col(r, 1)?,
        external_code: col(r, 2)?,
        category: col(r, 3)?,
        source: col(r, 4)?,
        tier: col(r, 5)?,
        status: col(r, 6)?,
        created_at: col(r, 7)?,
        updated_at: col(r, 8)?,
        version: col::<i64>(r, 9)? as u64,
        key_id: col::<i64>(r, 10)? as u64,
        region: col(r, 11)?,
    })
}

/// A scanned customer (without its key) from a row of [`scan_sql`].
fn scanned_of(r: &Row) -> Result<ScannedCustomer> {
    let header = read_header(r)?;
    let sealed = match col::<Option<Vec<u8>>>(r, HEADER_LEN)? {
        Some(packed) => SealedFields::from_packed(header.id, packed)?,
        None => SealedFields::default(),
    };
    Ok(ScannedCustomer { header, sealed, key: None })
}

/// The owned values of a customer row's parameters.
struct RowValues<'a> {
    row: &'a CustomerRow,
    version: i64,
    key_id: i64,
    sealed: Vec<u8>,
    blind: [Option<&'a [u8]>; 4],
}

impl<'a> RowValues<'a> {
    /// Checks the row's blind indexes and packs its fields.
    fn of(row: &'a CustomerRow) -> Result<RowValues<'a>> {
        if let Some(unknown) = row.blind.keys().find(|f| !BLIND_INDEXED.contains(&f.as_str())) {
            return Err(Error::storage(format!("no blind index for field '{unknown}'")));
        }
        Ok(RowValues {
            row,
            version: row.header.version as i64,
            key_id: row.header.key_id as i64,
            sealed: SealedFields::pack(&row.sealed).packed().to_vec(),
            blind: BLIND_COLUMNS.map(|(field, _)| row.blind.get(field).map(Vec::as_slice)),
        })
    }

    /// `$1..$17`: the header, the sealed fields, the blind indexes, the region.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let h = &self.row.header;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &h.id.0,
            &h.kind,
            &h.external_code,
            &h.category,
            &h.source,
            &h.tier,
            &h.status,
            &h.created_at,
            &h.updated_at,
            &self.version,
            &self.key_id,
            &self.sealed,
        ];
        params.extend(self.blind.iter().map(|b| b as &(dyn ToSql + Sync)));
        params.push(&h.region);
        params
    }
}

fn blind_column_list() -> String {
    BLIND_COLUMNS.iter().map(|(_, column)| *column).collect::<Vec<_>>().join(", ")
}

static INSERT_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    // DO NOTHING: a taken id or external code is refused without aborting
    // the transaction, as the other backends refuse it.
    format!(
        "INSERT INTO customers (id, kind, external_code, category, source, tier, status, created_at, updated_at,
         version, key_id, sealed, {}, region)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING",
        blind_column_list()
    )
});

static UPDATE_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let blind: Vec<String> =
        BLIND_COLUMNS.iter().enumerate().map(|(i, (_, column))| format!("{column} = ${}", 13 + i)).collect();
    format!(
        "UPDATE customers SET kind = $2, external_code = $3, category = $4, source = $5, tier = $6, status = $7,
         created_at = $8, updated_at = $9, version = $10, key_id = $11, sealed = $12, {}, region = $17
         WHERE id = $1 AND version = $18",
        blind.join(", ")
    )
});

static GET_CUSTOMER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let blind: Vec<String> = BLIND_COLUMNS.iter().map(|(_, column)| format!("c.{column}")).collect();
    format!("SELECT {HEADER_COLUMNS}, c.sealed, {} FROM customers c WHERE c.id = $1", blind.join(", "))
});

/// Reads the next data key of a stream in customer order.
fn next_key(rows: &mut super::Stream<'_>) -> Result<Option<(CustomerId, WrappedKey)>> {
    let Some(r) = rows.next()? else { return Ok(None) };
    Ok(Some((customer_col(&r, 0)?, WrappedKey { key_id: col::<i64>(&r, 1)? as u64, wrapped: col(&r, 2)? })))
}

impl PostgresTx<'_> {
    fn stored_class(&mut self, id: CustomerId) -> Result<Option<ClassKey>> {
        let row = self
            .data()
            .query_opt("SELECT kind, category, source, tier, status, region FROM customers WHERE id = $1", &[&id.0])?;
        row.map(|r| {
            Ok(ClassKey {
                kind: col(&r, 0)?,
                category: col(&r, 1)?,
                source: col(&r, 2)?,
                tier: col(&r, 3)?,
                status: col(&r, 4)?,
                region: col(&r, 5)?,
            })
        })
        .transpose()
    }

    /// Adds `delta` to the count of customers classified as `key` ('' for
    /// no value: NULLs would never meet in the unique key).
    fn count_class(&mut self, key: &ClassKey, delta: i64) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        self.data_writable()?.execute(
            "INSERT INTO class_counts (kind, category, source, tier, status, region, n)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (kind, category, source, tier, status, region)
             DO UPDATE SET n = class_counts.n + excluded.n",
            &[
                &key.kind,
                &text(&key.category),
                &text(&key.source),
                &text(&key.tier),
                &key.status,
                &text(&key.region),
                &delta,
            ],
        )?;
        Ok(())
    }

    fn stored_tokens(&mut self, id: CustomerId) -> Result<Vec<u64>> {
        let row = self.data().query_opt("SELECT tokens FROM search_tokens WHERE customer_id = $1", &[&id.0])?;
        let blob: Vec<u8> = row.map(|r| col(&r, 0)).transpose()?.unwrap_or_default();
        if blob.len() % 8 != 0 {
            return Err(Error::corrupt(format!("customer {id}'s keyword-index tokens are malformed")));
        }
        Ok(blob.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    /// Makes customer `id`'s tokens `wanted` (sorted), given the `stored`
    /// ones; `fingerprint` gives the gram fingerprint of each added token.
    /// Only the postings that differ are written; additions wait in the
    /// pending lists, removals happen at once.
    fn write_tokens(
        &mut self,
        id: CustomerId,
        stored: &[u64],
        wanted: &[u64],
        fingerprint: &dyn Fn(u64) -> Option<u64>,
    ) -> Result<()> {
        if stored == wanted {
            return Ok(());
        }
        self.data_writable()?;
        let (old, new): (BTreeSet<u64>, BTreeSet<u64>) =
            (stored.iter().copied().collect(), wanted.iter().copied().collect());
        let removed: Vec<i64> = old.difference(&new).map(|t| *t as i64).collect();
        if !removed.is_empty() {
            self.flush_postings()?;
            let session = self.data();
            session.execute(
                "DELETE FROM search_postings WHERE customer_id = $1 AND token = ANY($2)",
                &[&id.0, &removed],
            )?;
            session.execute("UPDATE search_grams SET holders = holders - 1 WHERE token = ANY($1)", &[&removed])?;
            session.execute("DELETE FROM search_grams WHERE token = ANY($1) AND holders <= 0", &[&removed])?;
        }
        for token in new.difference(&old) {
            let fp = fingerprint(*token)
                .ok_or_else(|| Error::storage("a keyword-index token came without its fingerprint"))?
                as i64;
            self.pending_postings.push((*token as i64, id.0));
            let entry = self.pending_grams.entry(*token as i64).or_insert((fp, false, 0));
            entry.1 |= entry.0 != fp;
            entry.2 += 1;
        }
        if self.pending_postings.len() >= PENDING_POSTINGS {
            self.flush_postings()?;
        }
        let session = self.data();
        if wanted.is_empty() {
            session.execute("DELETE FROM search_tokens WHERE customer_id = $1", &[&id.0])?;
        } else {
            let blob: Vec<u8> = wanted.iter().flat_map(|t| t.to_be_bytes()).collect();
            session.execute(
                "INSERT INTO search_tokens (customer_id, tokens) VALUES ($1, $2)
                 ON CONFLICT (customer_id) DO UPDATE SET tokens = excluded.tokens",
                &[&id.0, &blob],
            )?;
        }
        Ok(())
    }

    /// Writes the pending postings and their register changes, each in one
    /// statement.
    pub(super) fn flush_postings(&mut self) -> Result<()> {
        if self.pending_postings.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending_postings);
        let grams = std::mem::take(&mut self.pending_grams);
        pending.sort_unstable();
        let (tokens, ids): (Vec<i64>, Vec<i64>) = pending.into_iter().unzip();
        let session = self.data_writable()?;
        session.execute(
            "INSERT INTO search_postings (token, customer_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
            &[&tokens, &ids],
        )?;
        let mut columns: (Vec<i64>, Vec<i64>, Vec<bool>, Vec<i64>) = Default::default();
        for (token, (fingerprint, mixed, holders)) in grams {
            columns.0.push(token);
            columns.1.push(fingerprint);
            columns.2.push(mixed);
            columns.3.push(holders);
        }
        session.execute(
            "INSERT INTO search_grams (token, fingerprint, mixed, holders)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bigint[])
             ON CONFLICT (token) DO UPDATE SET holders = search_grams.holders + excluded.holders,
                 mixed = search_grams.mixed OR excluded.mixed OR search_grams.fingerprint <> excluded.fingerprint",
            &[&columns.0, &columns.1, &columns.2, &columns.3],
        )?;
        Ok(())
    }

    /// Marks customer `id` as changed: moves the generation on (once per
    /// transaction) and notes the id for the change journal.
    fn changing(&mut self, id: CustomerId) -> Result<()> {
        if self.bumped.is_none() {
            let row = self
                .data_writable()?
                .query_one("UPDATE counters SET value = value + 1 WHERE name = 'generation' RETURNING value", &[])?;
            self.bumped = Some(col(&row, 0)?);
        }
        // Past the journal's limit the entry lists none, so stop collecting.
        if self.changed.len() <= JOURNAL_IDS {
            self.changed.push(id.0);
        }
        Ok(())
    }

    /// Writes this transaction's entry in the change journal (its
    /// generation, a random tag, the ids it changed, or NULL for more than
    /// [`JOURNAL_IDS`]) and, every 64th generation, drops entries older than
    /// [`JOURNAL_KEPT`] generations.
    pub(super) fn write_change_journal(&mut self) -> Result<()> {
        let Some(generation) = self.bumped else { return Ok(()) };
        let mut ids = std::mem::take(&mut self.changed);
        ids.sort_unstable();
        ids.dedup();
        let listed: Option<Vec<u8>> =
            (ids.len() <= JOURNAL_IDS).then(|| ids.iter().flat_map(|id| id.to_be_bytes()).collect());
        let tag = random_tag()?;
        let session = self.data_writable()?;
        session.execute(
            "INSERT INTO customer_changes (generation, tag, ids) VALUES ($1, $2, $3)",
            &[&generation, &tag, &listed],
        )?;
        if generation % 64 == 0 {
            session.execute("DELETE FROM customer_changes WHERE generation <= $1", &[&(generation - JOURNAL_KEPT)])?;
        }
        Ok(())
    }
}

impl CustomerData for PostgresTx<'_> {
    fn meta_get(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = self.data().query_opt("SELECT value FROM meta WHERE name = $1", &[&name])?;
        row.map(|r| col(&r, 0)).transpose()
    }

    fn meta_put(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.data_writable()?.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )?;
        Ok(())
    }

    fn reserve_customer_ids(&mut self, count: u32) -> Result<CustomerId> {
        let count = i64::from(count.max(1));
        // The UPDATE locks the counter row until the transaction ends.
        let row = self.data_writable()?.query_one(
            "UPDATE counters SET value = value + $1 WHERE name = 'customer_id' RETURNING value",
            &[&count],
        )?;
        Ok(CustomerId(col::<i64>(&row, 0)? - count + 1))
    }

    fn insert_customer(&mut self, row: &CustomerRow) -> Result<()> {
        let values = RowValues::of(row)?;
        self.changing(row.header.id)?;
        let inserted = self.data_writable()?.execute(&INSERT_CUSTOMER, &values.params())?;
        if inserted == 0 {
            return Err(Error::storage(format!(
                "customer {} was not inserted: its id or its external code is taken",
                row.header.id
            )));
        }
        self.write_tokens(row.header.id, &[], &row.search.applied_to(&[]), &|t| row.search.fingerprint(t))?;
        self.count_class(&ClassKey::of(&row.header), 1)
    }

    fn replace_customer(&mut self, row: &CustomerRow, expected_version: u64) -> Result<bool> {
        let values = RowValues::of(row)?;
        self.changing(row.header.id)?;
        let before = self.stored_class(row.header.id)?;
        let expected = expected_version as i64;
        let mut params = values.params();
        params.push(&expected);
        let changed = self.data_writable()?.execute(&UPDATE_CUSTOMER, &params)? > 0;
        if changed && !row.search.is_empty() {
            let stored = self.stored_tokens(row.header.id)?;
            self.write_tokens(row.header.id, &stored, &row.search.applied_to(&stored), &|t| row.search.fingerprint(t))?;
        }
        let after = ClassKey::of(&row.header);
        if let Some(before) = before.filter(|before| changed && *before != after) {
            self.count_class(&before, -1)?;
            self.count_class(&after, 1)?;
        }
        Ok(changed)
    }

    fn delete_customer(&mut self, id: CustomerId) -> Result<bool> {
        self.changing(id)?;
        records::delete_of(self.data_writable()?, id)?;
        self.data_writable()?.execute("DELETE FROM consent_events WHERE customer_id = $1", &[&id.0])?;
        let Some(before) = self.stored_class(id)? else { return Ok(false) };
        let stored = self.stored_tokens(id)?;
        self.write_tokens(id, &stored, &[], &|_| None)?;
        self.data_writable()?.execute("DELETE FROM customers WHERE id = $1", &[&id.0])?;
        self.count_class(&before, -1)?;
        Ok(true)
    }

    fn get_customer(&mut self, id: CustomerId) -> Result<Option<CustomerRow>> {
        let Some(r) = self.data().query_opt(&GET_CUSTOMER, &[&id.0])? else { return Ok(None) };
        let header = read_header(&r)?;
        let sealed = SealedFields::from_packed(id, col(&r, HEADER_LEN)?)?.to_map();
        let mut blind = BTreeMap::new();
        for (i, (field, _)) in BLIND_COLUMNS.iter().enumerate() {
            if let Some(digest) = col::<Option<Vec<u8>>>(&r, HEADER_LEN + 1 + i)? {
                blind.insert((*field).to_owned(), digest);
            }
        }
        Ok(Some(CustomerRow { header, sealed, blind, search: Default::default() }))
    }

    fn scan_customers_by_id(
        &mut self,
        ids: &[CustomerId],
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        let sql = scan_sql(fields, "WHERE c.id = ANY($1)");
        for chunk in ids.chunks(SCAN_BATCH) {
            let wanted: Vec<i64> = chunk.iter().map(|id| id.0).collect();
            let (data, keys) = self.both()?;
            let mut found: BTreeMap<CustomerId, ScannedCustomer> = BTreeMap::new();
            for r in data.query(&sql, &[&wanted])? {
                let scanned = scanned_of(&r)?;
                found.insert(scanned.header.id, scanned);
            }
            let mut key_rows = keys
                .stream("SELECT customer_id, key_id, wrapped FROM data_keys WHERE customer_id = ANY($1)", &[&wanted])?;
            while let Some((id, key)) = next_key(&mut key_rows)? {
                if let Some(scanned) = found.get_mut(&id) {
                    scanned.key = Some(key);
                }
            }
            drop(key_rows);
            // In the order asked for (a repeated id is visited once).
            for id in chunk {
                let Some(scanned) = found.remove(id) else { continue };
                if visit(scanned)? == Scan::Stop {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn search_postings(&mut self, token: u64) -> Result<Vec<CustomerId>> {
        self.flush_postings()?;
        let rows = self.data().query(
            "SELECT customer_id FROM search_postings WHERE token = $1 ORDER BY customer_id",
            &[&(token as i64)],
        )?;
        rows.iter().map(|r| customer_col(r, 0)).collect()
    }

    fn search_gram(&mut self, token: u64) -> Result<Option<GramEntry>> {
        self.flush_postings()?;
        let row = self
            .data()
            .query_opt("SELECT fingerprint, mixed FROM search_grams WHERE token = $1", &[&(token as i64)])?;
        row.map(|r| Ok(GramEntry { fingerprint: col::<i64>(&r, 0)? as u64, mixed: col(&r, 1)? })).transpose()
    }

    fn put_search_tokens(&mut self, id: CustomerId, tokens: &[(u64, u64)]) -> Result<()> {
        let stored = self.stored_tokens(id)?;
        let wanted: Vec<u64> = tokens.iter().map(|(t, _)| *t).collect();
        let fingerprints: BTreeMap<u64, u64> = tokens.iter().copied().collect();
        self.write_tokens(id, &stored, &wanted, &|t| fingerprints.get(&t).copied())
    }

    fn find_external_code(&mut self, code: &str) -> Result<Option<CustomerId>> {
        let row = self.data().query_opt("SELECT id FROM customers WHERE external_code = $1", &[&code])?;
        row.map(|r| customer_col(&r, 0)).transpose()
    }

    fn find_blind(&mut self, field: &str, digest: &[u8]) -> Result<Vec<CustomerId>> {
        // The column name comes from a fixed list, never from the caller.
        let Some((_, column)) = BLIND_COLUMNS.iter().find(|(name, _)| *name == field) else {
            return Ok(Vec::new());
        };
        let rows =
            self.data().query(&format!("SELECT id FROM customers WHERE {column} = $1 ORDER BY id"), &[&digest])?;
        rows.iter().map(|r| customer_col(r, 0)).collect()
    }

    fn blind_groups(&mut self, field: &str) -> Result<Vec<Vec<CustomerId>>> {
        // The column name comes from a fixed list, never from the caller.
        let Some((_, column)) = BLIND_COLUMNS.iter().find(|(name, _)| *name == field) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {column}, id FROM customers WHERE {column} IN
               (SELECT {column} FROM customers WHERE {column} IS NOT NULL GROUP BY {column} HAVING count(*) > 1)
             ORDER BY {column}, id"
        );
        let mut rows = self.data().stream(&sql, &[])?;
        let mut groups: Vec<Vec<CustomerId>> = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        while let Some(r) = rows.next()? {
            let digest: Vec<u8> = col(&r, 0)?;
            let id = customer_col(&r, 1)?;
            match groups.last_mut() {
                Some(group) if last.as_deref() == Some(digest.as_slice()) => group.push(id),
                _ => groups.push(vec![id]),
            }
            last = Some(digest);
        }
        Ok(groups)
    }

    fn count_customers(&mut self) -> Result<u64> {
        let row = self.data().query_one("SELECT count(*) FROM customers", &[])?;
        Ok(col::<i64>(&row, 0)? as u64)
    }

    fn class_counts(&mut self) -> Result<Vec<(ClassKey, u64)>> {
        let rows = self.data().query(
            "SELECT kind, category, source, tier, status, region, n FROM class_counts WHERE n > 0
             ORDER BY kind, category, source, tier, status, region",
            &[],
        )?;
        let none_if_empty = |s: String| (!s.is_empty()).then_some(s);
        rows.iter()
            .map(|r| {
                let key = ClassKey {
                    kind: col(r, 0)?,
                    category: none_if_empty(col(r, 1)?),
                    source: none_if_empty(col(r, 2)?),
                    tier: none_if_empty(col(r, 3)?),
                    status: col(r, 4)?,
                    region: none_if_empty(col(r, 5)?),
                };
                Ok((key, col::<i64>(r, 6)? as u64))
            })
            .collect()
    }

    fn customers_change_mark(&mut self) -> Result<ChangeMark> {
        let row = self.data().query_one(
            "SELECT c.value, j.tag FROM counters c
             LEFT JOIN customer_changes j ON j.generation = c.value WHERE c.name = 'generation'",
            &[],
        )?;
        // Inside a write transaction that changed customers the entry is not
        // written yet: tag 0 matches no journal entry, so nothing trusts it.
        Ok(ChangeMark {
            generation: col::<i64>(&row, 0)? as u64,
            tag: col::<Option<i64>>(&row, 1)?.unwrap_or(0) as u64,
        })
    }

    fn customers_changed_since(&mut self, since: ChangeMark) -> Result<Option<CustomerChanges>> {
        let now = self.customers_change_mark()?;
        if now == since {
            return Ok(Some(CustomerChanges { now, ids: Vec::new() }));
        }
        let Ok(from) = i64::try_from(since.generation) else { return Ok(None) };
        let tag = self.data().query_opt("SELECT tag FROM customer_changes WHERE generation = $1", &[&from])?;
        let tag: Option<i64> = tag.map(|r| col(&r, 0)).transpose()?;
        if tag.map(|t| t as u64) != Some(since.tag) {
            return Ok(None);
        }
        let mut rows = self.data().stream(
            "SELECT generation, ids FROM customer_changes WHERE generation > $1 ORDER BY generation",
            &[&from],
        )?;
        let (mut expected, mut ids) = (from + 1, Vec::new());
        while let Some(row) = rows.next()? {
            let generation: i64 = col(&row, 0)?;
            let Some(listed) = col::<Option<Vec<u8>>>(&row, 1)? else { return Ok(None) };
            if generation != expected || listed.len() % 8 != 0 {
                return Ok(None);
            }
            ids.extend(listed.chunks_exact(8).map(|b| CustomerId(i64::from_be_bytes(b.try_into().expect("8 bytes")))));
            expected += 1;
        }
        if expected - 1 != now.generation as i64 {
            return Ok(None);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Some(CustomerChanges { now, ids }))
    }

    fn scan_customers(
        &mut self,
        fields: &[&str],
        visit: &mut dyn FnMut(ScannedCustomer) -> Result<Scan>,
    ) -> Result<()> {
        // Customers and keys live in two databases: read in pages of
        // customers in id order, each page's keys fetched by its id range and
        // merged here. A visitor that stops early ends the transfer, and no
        // statement runs as long as the whole scan.
        let sql = scan_sql(fields, &format!("WHERE c.id > $1 ORDER BY c.id LIMIT {PAGE}"));
        let mut after = i64::MIN;
        loop {
            let (data, keys) = self.both()?;
            let rows = data.query(&sql, &[&after])?;
            let Some(last) = rows.last() else { return Ok(()) };
            let last_id = customer_col(last, 0)?.0;
            let key_rows = keys.query(
                "SELECT customer_id, key_id, wrapped FROM data_keys
                 WHERE customer_id > $1 AND customer_id <= $2 ORDER BY customer_id",
                &[&after, &last_id],
            )?;
            let page_keys = key_rows
                .iter()
                .map(|k| {
                    Ok((customer_col(k, 0)?, WrappedKey { key_id: col::<i64>(k, 1)? as u64, wrapped: col(k, 2)? }))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut page_keys = page_keys.into_iter().peekable();
            for r in &rows {
                let mut scanned = scanned_of(r)?;
                let id = scanned.header.id;
                while page_keys.next_if(|(k, _)| *k < id).is_some() {}
                scanned.key = page_keys.next_if(|(k, _)| *k == id).map(|(_, key)| key);
                if visit(scanned)? == Scan::Stop {
                    return Ok(());
                }
            }
            if rows.len() < PAGE {
                return Ok(());
            }
            after = last_id;
        }
    }

    fn next_record_id(&mut self) -> Result<u64> {
        records::next_id(self.data_writable()?)
    }

    fn insert_record(&mut self, row: &RecordRow) -> Result<()> {
        records::insert(self.data_writable()?, row)
    }

    fn replace_record(&mut self, row: &RecordRow, expected_version: u64) -> Result<bool> {
        records::replace(self.data_writable()?, row, expected_version)
    }

    fn get_record(&mut self, id: u64) -> Result<Option<RecordRow>> {
        records::get(self.data(), id)
    }

    fn delete_record(&mut self, id: u64) -> Result<bool> {
        records::delete(self.data_writable()?, id)
    }

    fn records_of(&mut self, customer: CustomerId, before: Option<(i64, u64)>, limit: u32) -> Result<Vec<RecordRow>> {
        records::of_customer(self.data(), customer, before, limit)
    }

    fn records_due(&mut self, filter: &DueFilter) -> Result<Vec<RecordRow>> {
        records::due(self.data(), filter)
    }

    fn records_retained_since(&mut self, kind: RecordKind, cutoff: i64) -> Result<Vec<(u64, CustomerId)>> {
        records::retained_since(self.data(), kind, cutoff)
    }

    fn append_status_change(&mut self, record: u64, change: &StatusChange) -> Result<()> {
        records::append_change(self.data_writable()?, record, change)
    }

    fn status_history(&mut self, record: u64) -> Result<Vec<StatusChange>> {
        records::history(self.data(), record)
    }

    fn append_consent(&mut self, record: &ConsentRecord) -> Result<()> {
        // Numbered after the last record; writers take turns, so two never
        // read the same maximum.
        self.data_writable()?.execute(
            "INSERT INTO consent_events
                 (seq, customer_id, purpose, channel, granted, at, source, policy_version, recorded_by)
             VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM consent_events), $1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &record.customer.0,
                &record.purpose,
                &record.channel.name(),
                &record.granted,
                &record.at,
                &record.source,
                &record.policy_version,
                &record.recorded_by,
            ],
        )?;
        Ok(())
    }

    fn consents_of(&mut self, customer: CustomerId) -> Result<Vec<ConsentRecord>> {
        let rows = self.data().query(
            "SELECT customer_id, purpose, channel, granted, at, source, policy_version, recorded_by
             FROM consent_events WHERE customer_id = $1 ORDER BY seq",
            &[&customer.0],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ConsentRecord {
                    customer: customer_col(r, 0)?,
                    purpose: col(r, 1)?,
                    channel: Channel::parse(col(r, 2)?)
                        .map_err(|_| Error::corrupt("a consent record names an unknown channel"))?,
                    granted: col(r, 3)?,
                    at: col(r, 4)?,
                    source: col(r, 5)?,
                    policy_version: col(r, 6)?,
                    recorded_by: col(r, 7)?,
                })
            })
            .collect()
    }

    fn consenting(&mut self, purpose: &str, channel: Channel) -> Result<Vec<CustomerId>> {
        // The latest record per customer decides.
        let rows = self.data().query(
            "SELECT customer_id FROM consent_events e
             WHERE purpose = $1 AND channel = $2 AND granted
               AND seq = (SELECT max(seq) FROM consent_events l
                          WHERE l.customer_id = e.customer_id AND l.purpose = $1 AND l.channel = $2)
             ORDER BY customer_id",
            &[&purpose, &channel.name()],
        )?;
        rows.iter().map(|r| customer_col(r, 0)).collect()
    }
}
