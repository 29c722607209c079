//! The PostgreSQL storage engine: all ledger state in one database that several node processes
//! may write at once.
//!
//! Concurrency: each write transaction (READ COMMITTED) locks the accounts it touches with
//! `SELECT … ORDER BY id FOR UPDATE` (one global order: no deadlock cycles), then the clock row
//! last. Serialization failures, deadlocks and concurrent inserts of the same id are reported as
//! [`StoreError::Conflict`] and the shared flow retries the whole batch. Writes are bulk
//! `UNNEST` statements, a handful of round trips per batch whatever its size.

use std::sync::Arc;

use chit_core::{AccountId, Timestamp, TransferId};
use chit_ledger::apply::Changes;
use chit_ledger::row::{
    self, to_i64, RowSource, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS,
};
use chit_ledger::{
    Account, Clock, HistoryQuery, Ledger, LedgerConfig, PendingStatus, Reader, Storage, StoreError,
    Transfer, Writer,
};
use chit_sql::postgres::error as err;
use chit_sql::Pool;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Row};

/// Schema migrations, applied in order under an advisory lock.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_ledger.sql")];
/// Read connections kept open between uses.
const READERS_IDLE_MAX: usize = 8;
/// Advisory lock key serialising migrations between processes starting together ("chitmigr").
const MIGRATION_LOCK_KEY: i64 = 0x6368_6974_6d69_6772;

/// Connects to `url`, migrates the schema, and returns the writer and reader.
pub fn open(url: &str) -> Result<Storage, StoreError> {
    let mut client = connect(url)?;
    migrate(&mut client)?;
    let url_for_readers = url.to_owned();
    let reader = PgReader {
        pool: Pool::new(
            READERS_IDLE_MAX,
            Box::new(move || connect(&url_for_readers)),
        ),
    };
    let writer = PgWriter {
        url: url.to_owned(),
        client: Some(client),
    };
    Ok(Storage {
        writer: Box::new(writer),
        reader: Arc::new(reader),
    })
}

/// Connects and starts a ledger on the database at `url`.
pub fn start(url: &str, clock: Arc<dyn Clock>, config: LedgerConfig) -> Result<Ledger, StoreError> {
    Ok(Ledger::start(open(url)?, clock, config))
}

fn connect(url: &str) -> Result<Client, StoreError> {
    let mut client = Client::connect(url, NoTls).map_err(err)?;
    // Durability is not negotiable: never let a session setting turn it off.
    client
        .batch_execute("SET synchronous_commit = on")
        .map_err(err)?;
    Ok(client)
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .map_err(err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ledger_migrations (version integer PRIMARY KEY)")
        .map_err(err)?;
    let done: i64 = tx
        .query_one("SELECT count(*) FROM ledger_migrations", &[])
        .map_err(err)?
        .get(0);
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {done} is newer than this program ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(sql).map_err(err)?;
        let version = i32::try_from(i + 1).expect("few migrations");
        tx.execute(
            "INSERT INTO ledger_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// A PostgreSQL row as the shared decoder reads it.
struct PgRow<'a>(&'a Row);

impl RowSource for PgRow<'_> {
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.try_get(i).map_err(err)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let ty = self.0.columns()[i].type_();
        let v = match *ty {
            Type::INT2 => self
                .0
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map(i64::from)),
            Type::INT4 => self
                .0
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(i64::from)),
            Type::BOOL => self
                .0
                .try_get::<_, Option<bool>>(i)
                .map(|v| v.map(i64::from)),
            _ => self.0.try_get::<_, Option<i64>>(i),
        };
        v.map_err(err)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.try_get(i).map_err(err)
    }
}

fn decode_all<T>(
    rows: Vec<Row>,
    decode: fn(&dyn RowSource) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| decode(&PgRow(r))).collect()
}

fn bytes_of<I: Copy>(ids: &[I], f: fn(I) -> [u8; 16]) -> Vec<Vec<u8>> {
    ids.iter().map(|i| f(*i).to_vec()).collect()
}

fn query(
    client: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let stmt = client.prepare(sql).map_err(err)?;
    client.query(&stmt, params).map_err(err)
}

fn accounts_by_id(
    client: &mut Client,
    ids: &[AccountId],
    lock: bool,
) -> Result<Vec<Account>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if lock { "ORDER BY id FOR UPDATE" } else { "" };
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1) {lock}");
    let rows = query(client, &sql, &[&bytes_of(ids, AccountId::to_bytes)])?;
    decode_all(rows, row::account)
}

fn transfers_by_id(client: &mut Client, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1)");
    let rows = query(client, &sql, &[&bytes_of(ids, TransferId::to_bytes)])?;
    decode_all(rows, row::transfer)
}

fn pendings_by_id(
    client: &mut Client,
    ids: &[TransferId],
) -> Result<Vec<PendingStatus>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {PENDING_COLUMNS} FROM pending_transfers WHERE id = ANY($1)");
    let rows = query(client, &sql, &[&bytes_of(ids, TransferId::to_bytes)])?;
    decode_all(rows, row::pending)
}

/// The writer connection; reconnects on the next batch if the connection broke.
struct PgWriter {
    url: String,
    client: Option<Client>,
}

impl PgWriter {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(connect(&self.url)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn write_accounts(
        &mut self,
        created: &[Account],
        updated: &[Account],
    ) -> Result<(), StoreError> {
        let c = self.client()?;
        if !created.is_empty() {
            let id: Vec<Vec<u8>> = created.iter().map(|a| a.id.to_bytes().to_vec()).collect();
            let currency: Vec<&str> = created.iter().map(|a| a.currency.as_str()).collect();
            let kind: Vec<i16> = created.iter().map(|a| a.kind.as_i16()).collect();
            let code: Vec<i32> = created.iter().map(|a| i32::from(a.code)).collect();
            let reference: Vec<Vec<u8>> = created
                .iter()
                .map(|a| a.reference.to_be_bytes().to_vec())
                .collect();
            let [dp, dpo, cp, cpo] = totals(created);
            let ts: Vec<i64> = created
                .iter()
                .map(|a| to_i64(a.timestamp.as_nanos()))
                .collect();
            let sql = format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) SELECT * FROM UNNEST($1::bytea[], \
                 $2::text[], $3::int2[], $4::int4[], $5::bytea[], $6::int8[], $7::int8[], \
                 $8::int8[], $9::int8[], $10::int8[])"
            );
            c.execute(
                &sql,
                &[
                    &id, &currency, &kind, &code, &reference, &dp, &dpo, &cp, &cpo, &ts,
                ],
            )
            .map_err(err)?;
        }
        if !updated.is_empty() {
            let id: Vec<Vec<u8>> = updated.iter().map(|a| a.id.to_bytes().to_vec()).collect();
            let [dp, dpo, cp, cpo] = totals(updated);
            let n = c
                .execute(
                    "UPDATE accounts a SET debits_pending = u.dp, debits_posted = u.dpo, \
                     credits_pending = u.cp, credits_posted = u.cpo \
                     FROM UNNEST($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) \
                     AS u(id, dp, dpo, cp, cpo) WHERE a.id = u.id",
                    &[&id, &dp, &dpo, &cp, &cpo],
                )
                .map_err(err)?;
            assert_eq!(
                n as usize,
                updated.len(),
                "every updated account must exist"
            );
        }
        Ok(())
    }

    fn write_transfers(&mut self, transfers: &[Transfer]) -> Result<(), StoreError> {
        if transfers.is_empty() {
            return Ok(());
        }
        let id: Vec<Vec<u8>> = transfers.iter().map(|t| t.id.to_bytes().to_vec()).collect();
        let debit: Vec<Vec<u8>> = transfers
            .iter()
            .map(|t| t.debit_account_id.to_bytes().to_vec())
            .collect();
        let credit: Vec<Vec<u8>> = transfers
            .iter()
            .map(|t| t.credit_account_id.to_bytes().to_vec())
            .collect();
        let amount: Vec<i64> = transfers.iter().map(|t| to_i64(t.amount)).collect();
        let currency: Vec<&str> = transfers.iter().map(|t| t.currency.as_str()).collect();
        let kind: Vec<i16> = transfers.iter().map(|t| t.kind.as_i16()).collect();
        let pending: Vec<Option<Vec<u8>>> = transfers
            .iter()
            .map(|t| t.pending_id.map(|p| p.to_bytes().to_vec()))
            .collect();
        let expires: Vec<Option<i64>> = transfers
            .iter()
            .map(|t| t.expires_at.map(|e| to_i64(e.as_nanos())))
            .collect();
        let code: Vec<i32> = transfers.iter().map(|t| i32::from(t.code)).collect();
        let reference: Vec<Vec<u8>> = transfers
            .iter()
            .map(|t| t.reference.to_be_bytes().to_vec())
            .collect();
        let linked: Vec<bool> = transfers.iter().map(|t| t.linked).collect();
        let ts: Vec<i64> = transfers
            .iter()
            .map(|t| to_i64(t.timestamp.as_nanos()))
            .collect();
        let sql = format!(
            "INSERT INTO transfers ({TRANSFER_COLUMNS}) SELECT * FROM UNNEST($1::bytea[], \
             $2::bytea[], $3::bytea[], $4::int8[], $5::text[], $6::int2[], $7::bytea[], \
             $8::int8[], $9::int4[], $10::bytea[], $11::bool[], $12::int8[])"
        );
        self.client()?
            .execute(
                &sql,
                &[
                    &id, &debit, &credit, &amount, &currency, &kind, &pending, &expires, &code,
                    &reference, &linked, &ts,
                ],
            )
            .map_err(err)?;
        Ok(())
    }

    fn write_pendings(&mut self, pendings: &[PendingStatus]) -> Result<(), StoreError> {
        if pendings.is_empty() {
            return Ok(());
        }
        let id: Vec<Vec<u8>> = pendings.iter().map(|p| p.id.to_bytes().to_vec()).collect();
        let state: Vec<i16> = pendings.iter().map(|p| p.state.as_i16()).collect();
        let expires: Vec<Option<i64>> = pendings
            .iter()
            .map(|p| p.expires_at.map(|e| to_i64(e.as_nanos())))
            .collect();
        let by: Vec<Option<Vec<u8>>> = pendings
            .iter()
            .map(|p| p.resolved_by.map(|r| r.to_bytes().to_vec()))
            .collect();
        let at: Vec<Option<i64>> = pendings
            .iter()
            .map(|p| p.resolved_at.map(|r| to_i64(r.as_nanos())))
            .collect();
        let sql = format!(
            "INSERT INTO pending_transfers ({PENDING_COLUMNS}) SELECT * FROM UNNEST($1::bytea[], \
             $2::int2[], $3::int8[], $4::bytea[], $5::int8[]) ON CONFLICT (id) DO UPDATE SET \
             state = excluded.state, resolved_by = excluded.resolved_by, \
             resolved_at = excluded.resolved_at"
        );
        self.client()?
            .execute(&sql, &[&id, &state, &expires, &by, &at])
            .map_err(err)?;
        Ok(())
    }
}

fn totals(accounts: &[Account]) -> [Vec<i64>; 4] {
    let col = |f: fn(&Account) -> u64| accounts.iter().map(|a| to_i64(f(a))).collect();
    [
        col(|a| a.debits_pending),
        col(|a| a.debits_posted),
        col(|a| a.credits_pending),
        col(|a| a.credits_posted),
    ]
}

impl Writer for PgWriter {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.client()?.batch_execute("BEGIN").map_err(err)
    }

    fn load_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        transfers_by_id(self.client()?, ids)
    }

    fn lock_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        accounts_by_id(self.client()?, ids, true)
    }

    fn load_pendings(&mut self, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError> {
        pendings_by_id(self.client()?, ids)
    }

    fn lock_clock(&mut self) -> Result<Timestamp, StoreError> {
        let row = self
            .client()?
            .query_one(
                "SELECT last FROM ledger_clock WHERE singleton = 1 FOR UPDATE",
                &[],
            )
            .map_err(err)?;
        let last: i64 = row.get(0);
        u64::try_from(last)
            .map(Timestamp::from_nanos)
            .map_err(|_| StoreError::Corrupt("negative clock".into()))
    }

    fn write(&mut self, changes: &Changes) -> Result<(), StoreError> {
        self.write_accounts(&changes.accounts_created, &changes.accounts_updated)?;
        self.write_transfers(&changes.transfers_created)?;
        let pendings: Vec<PendingStatus> = changes
            .pendings_created
            .iter()
            .chain(&changes.pendings_updated)
            .copied()
            .collect();
        self.write_pendings(&pendings)?;
        self.client()?
            .execute(
                "UPDATE ledger_clock SET last = $1 WHERE singleton = 1",
                &[&to_i64(changes.clock.as_nanos())],
            )
            .map_err(err)?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.client()?.batch_execute("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        match self.client.as_mut() {
            Some(c) if !c.is_closed() => c.batch_execute("ROLLBACK").map_err(err),
            _ => Ok(()),
        }
    }

    fn due_pendings(
        &mut self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<TransferId>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query(
            self.client()?,
            "SELECT id FROM pending_transfers WHERE state = 0 AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
            &[&to_i64(now.as_nanos()), &limit],
        )?;
        decode_all(rows, row::first_transfer_id)
    }
}

/// Pooled read connections.
struct PgReader {
    pool: Pool<Client>,
}

impl Reader for PgReader {
    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        self.pool.with(|c| accounts_by_id(c, ids, false))
    }

    fn transfers(&self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        self.pool.with(|c| transfers_by_id(c, ids))
    }

    fn pendings(&self, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError> {
        self.pool.with(|c| pendings_by_id(c, ids))
    }

    fn history(
        &self,
        account: AccountId,
        query_: HistoryQuery,
    ) -> Result<Vec<Transfer>, StoreError> {
        let (cmp, dir, cursor) = query_.sql_bounds();
        // Two index range scans (debit side, credit side) merged: no full scan on OR.
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               (SELECT * FROM transfers WHERE debit_account_id = $1 AND timestamp {cmp} $2 \
                ORDER BY timestamp {dir} LIMIT $3) \
               UNION ALL \
               (SELECT * FROM transfers WHERE credit_account_id = $1 AND timestamp {cmp} $2 \
                ORDER BY timestamp {dir} LIMIT $3)) t \
             ORDER BY timestamp {dir} LIMIT $3"
        );
        let limit = i64::try_from(query_.limit).unwrap_or(i64::MAX);
        let account = account.to_bytes().to_vec();
        self.pool.with(|c| {
            let rows = query(c, &sql, &[&account, &cursor, &limit])?;
            decode_all(rows, row::transfer)
        })
    }

    fn scan_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StoreError> {
        let after = after.map_or(vec![], |a| a.to_bytes().to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2");
        self.pool
            .with(|c| decode_all(query(c, &sql, &[&after, &limit])?, row::account))
    }

    fn scan_transfers(
        &self,
        after: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Transfer>, StoreError> {
        let after = after.map_or(-1, |t| to_i64(t.as_nanos()));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp > $1 \
             ORDER BY timestamp LIMIT $2"
        );
        self.pool
            .with(|c| decode_all(query(c, &sql, &[&after, &limit])?, row::transfer))
    }

    fn scan_pendings(
        &self,
        after: Option<TransferId>,
        limit: usize,
    ) -> Result<Vec<PendingStatus>, StoreError> {
        let after = after.map_or(vec![], |a| a.to_bytes().to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM pending_transfers WHERE id > $1 ORDER BY id LIMIT $2"
        );
        self.pool
            .with(|c| decode_all(query(c, &sql, &[&after, &limit])?, row::pending))
    }
}

/// `url` with its database name replaced by `name` (query parameters kept): how tests and the
/// benchmark point at the scratch databases they create.
pub fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_with_database_replaces_only_the_name() {
        use super::url_with_database as u;
        assert_eq!(
            u("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            u("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(u("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
