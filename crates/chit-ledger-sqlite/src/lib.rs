//! The embedded storage engine: one SQLite file, WAL journal, `synchronous=FULL` so a commit is
//! on disk before anyone is told about it. One writer connection (the ledger's writer thread)
//! and a small pool of read connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chit_core::{AccountId, Timestamp, TransferId};
use chit_ledger::apply::Changes;
use chit_ledger::pool::Pool;
use chit_ledger::row::{
    self, to_i64, RowSource, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS,
};
use chit_ledger::{
    Account, Clock, HistoryQuery, Ledger, LedgerConfig, Order, PendingStatus, Reader, StoreError,
    Transfer, Writer,
};
use rusqlite::{params, Connection, ErrorCode, Row};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_ledger.sql")];
/// Read connections kept open between uses.
const READERS_IDLE_MAX: usize = 8;

/// Opens (creating if needed) the ledger database at `path` and returns its writer and reader.
pub fn open(path: &Path) -> Result<(Box<dyn Writer>, Arc<dyn Reader>), StoreError> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    let path: PathBuf = path.to_owned();
    let reader = SqliteReader {
        pool: Pool::new(
            READERS_IDLE_MAX,
            Box::new(move || {
                let c = connect(&path)?;
                c.pragma_update(None, "query_only", true).map_err(err)?;
                Ok(c)
            }),
        ),
    };
    Ok((Box::new(SqliteWriter { conn }), Arc::new(reader)))
}

/// Opens the database and starts a ledger on it.
pub fn start(
    path: &Path,
    clock: Arc<dyn Clock>,
    config: LedgerConfig,
) -> Result<Ledger, StoreError> {
    let (writer, reader) = open(path)?;
    Ok(Ledger::start(writer, reader, clock, config))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot enable WAL, journal mode is {mode}"
        )));
    }
    // FULL: every commit is fsynced, so an acknowledged batch survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    conn.pragma_update(None, "cache_size", -65_536)
        .map_err(err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let done = tx
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(err)?;
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {done} is newer than this program ({})",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[done..] {
        tx.execute_batch(sql).map_err(err)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .map_err(err)?;
    tx.commit().map_err(err)
}

/// Maps SQLite errors: a busy database or a duplicate key from a concurrent writer is transient.
fn err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        let unique = f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) || unique {
            return StoreError::Conflict(e.to_string());
        }
    }
    StoreError::Backend(e.to_string())
}

/// A SQLite row as the shared decoder reads it.
struct SqliteRow<'a, 'b>(&'a Row<'b>);

impl RowSource for SqliteRow<'_, '_> {
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(i).map_err(err)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.get(i).map_err(err)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.get(i).map_err(err)
    }
}

type Decode<T> = fn(&dyn RowSource) -> Result<T, StoreError>;

/// Looks up rows by 16-byte key, one cached point query per key.
fn by_ids<T>(
    conn: &Connection,
    sql: &str,
    ids: impl Iterator<Item = [u8; 16]>,
    decode: Decode<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut found = Vec::new();
    for id in ids {
        let mut rows = stmt.query([&id[..]]).map_err(err)?;
        if let Some(row) = rows.next().map_err(err)? {
            found.push(decode(&SqliteRow(row))?);
        }
    }
    Ok(found)
}

fn accounts_by_id(conn: &Connection, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1");
    by_ids(conn, &sql, ids.iter().map(|i| i.to_bytes()), row::account)
}

fn transfers_by_id(conn: &Connection, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1");
    by_ids(conn, &sql, ids.iter().map(|i| i.to_bytes()), row::transfer)
}

fn pendings_by_id(conn: &Connection, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError> {
    let sql = format!("SELECT {PENDING_COLUMNS} FROM pending_transfers WHERE id = ?1");
    by_ids(conn, &sql, ids.iter().map(|i| i.to_bytes()), row::pending)
}

/// Runs a cached query and decodes every row.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: Decode<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(params).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        out.push(decode(&SqliteRow(row))?);
    }
    Ok(out)
}

/// The single writer connection.
struct SqliteWriter {
    conn: Connection,
}

impl Writer for SqliteWriter {
    fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock now, so every read below sees the latest state.
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)
    }

    fn load_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        transfers_by_id(&self.conn, ids)
    }

    fn lock_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        accounts_by_id(&self.conn, ids)
    }

    fn load_pendings(&mut self, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError> {
        pendings_by_id(&self.conn, ids)
    }

    fn lock_clock(&mut self) -> Result<Timestamp, StoreError> {
        let last: i64 = self
            .conn
            .query_row(
                "SELECT last FROM ledger_clock WHERE singleton = 1",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        u64::try_from(last)
            .map(Timestamp::from_nanos)
            .map_err(|_| StoreError::Corrupt("negative clock".into()))
    }

    fn write(&mut self, changes: &Changes) -> Result<(), StoreError> {
        let c = &self.conn;
        let mut insert_account = c
            .prepare_cached(&format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
            ))
            .map_err(err)?;
        for a in &changes.accounts_created {
            insert_account
                .execute(params![
                    &a.id.to_bytes()[..],
                    a.currency.as_str(),
                    a.kind.as_i16(),
                    a.code,
                    &a.reference.to_be_bytes()[..],
                    to_i64(a.debits_pending),
                    to_i64(a.debits_posted),
                    to_i64(a.credits_pending),
                    to_i64(a.credits_posted),
                    to_i64(a.timestamp.as_nanos()),
                ])
                .map_err(err)?;
        }
        let mut update_account = c
            .prepare_cached(
                "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3, \
                 credits_pending = ?4, credits_posted = ?5 WHERE id = ?1",
            )
            .map_err(err)?;
        for a in &changes.accounts_updated {
            let n = update_account
                .execute(params![
                    &a.id.to_bytes()[..],
                    to_i64(a.debits_pending),
                    to_i64(a.debits_posted),
                    to_i64(a.credits_pending),
                    to_i64(a.credits_posted),
                ])
                .map_err(err)?;
            assert_eq!(n, 1, "updated account {} must exist", a.id);
        }
        let mut insert_transfer = c
            .prepare_cached(&format!(
                "INSERT INTO transfers ({TRANSFER_COLUMNS}) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
            ))
            .map_err(err)?;
        for t in &changes.transfers_created {
            insert_transfer
                .execute(params![
                    &t.id.to_bytes()[..],
                    &t.debit_account_id.to_bytes()[..],
                    &t.credit_account_id.to_bytes()[..],
                    to_i64(t.amount),
                    t.currency.as_str(),
                    t.kind.as_i16(),
                    t.pending_id.map(|p| p.to_bytes().to_vec()),
                    t.expires_at.map(|e| to_i64(e.as_nanos())),
                    t.code,
                    &t.reference.to_be_bytes()[..],
                    t.linked,
                    to_i64(t.timestamp.as_nanos()),
                ])
                .map_err(err)?;
        }
        let mut upsert_pending = c
            .prepare_cached(&format!(
                "INSERT INTO pending_transfers ({PENDING_COLUMNS}) VALUES (?1,?2,?3,?4,?5) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
                 resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at"
            ))
            .map_err(err)?;
        for p in changes
            .pendings_created
            .iter()
            .chain(&changes.pendings_updated)
        {
            upsert_pending
                .execute(params![
                    &p.id.to_bytes()[..],
                    p.state.as_i16(),
                    p.expires_at.map(|e| to_i64(e.as_nanos())),
                    p.resolved_by.map(|r| r.to_bytes().to_vec()),
                    p.resolved_at.map(|r| to_i64(r.as_nanos())),
                ])
                .map_err(err)?;
        }
        c.execute(
            "UPDATE ledger_clock SET last = ?1 WHERE singleton = 1",
            [to_i64(changes.clock.as_nanos())],
        )
        .map_err(err)?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(err)
    }

    fn due_pendings(
        &mut self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<TransferId>, StoreError> {
        query_all(
            &self.conn,
            "SELECT id FROM pending_transfers WHERE state = 0 AND expires_at <= ?1 \
             ORDER BY expires_at LIMIT ?2",
            params![to_i64(now.as_nanos()), limit as i64],
            row::first_transfer_id,
        )
    }
}

/// Read connections; WAL lets them read while the writer writes.
struct SqliteReader {
    pool: Pool<Connection>,
}

impl Reader for SqliteReader {
    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        self.pool.with(|c| accounts_by_id(c, ids))
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
        query: HistoryQuery,
    ) -> Result<Vec<Transfer>, StoreError> {
        // Two index range scans (debit side, credit side) merged: no full scan on OR.
        let (cmp, dir, cursor) = match query.order {
            Order::OldestFirst => (
                ">",
                "ASC",
                query.cursor.map_or(-1, |c| to_i64(c.as_nanos())),
            ),
            Order::NewestFirst => (
                "<",
                "DESC",
                query.cursor.map_or(i64::MAX, |c| to_i64(c.as_nanos())),
            ),
        };
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               SELECT * FROM (SELECT * FROM transfers WHERE debit_account_id = ?1 \
                 AND timestamp {cmp} ?2 ORDER BY timestamp {dir} LIMIT ?3) \
               UNION ALL \
               SELECT * FROM (SELECT * FROM transfers WHERE credit_account_id = ?1 \
                 AND timestamp {cmp} ?2 ORDER BY timestamp {dir} LIMIT ?3)) \
             ORDER BY timestamp {dir} LIMIT ?3"
        );
        let account = account.to_bytes();
        self.pool.with(|c| {
            query_all(
                c,
                &sql,
                params![&account[..], cursor, query.limit as i64],
                row::transfer,
            )
        })
    }

    fn scan_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StoreError> {
        let after = after.map_or(vec![], |a| a.to_bytes().to_vec());
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2");
        self.pool
            .with(|c| query_all(c, &sql, params![after, limit as i64], row::account))
    }

    fn scan_transfers(
        &self,
        after: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Transfer>, StoreError> {
        let after = after.map_or(-1, |t| to_i64(t.as_nanos()));
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp > ?1 ORDER BY timestamp LIMIT ?2"
        );
        self.pool
            .with(|c| query_all(c, &sql, params![after, limit as i64], row::transfer))
    }

    fn scan_pendings(
        &self,
        after: Option<TransferId>,
        limit: usize,
    ) -> Result<Vec<PendingStatus>, StoreError> {
        let after = after.map_or(vec![], |a| a.to_bytes().to_vec());
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM pending_transfers WHERE id > ?1 ORDER BY id LIMIT ?2"
        );
        self.pool
            .with(|c| query_all(c, &sql, params![after, limit as i64], row::pending))
    }
}

/// Where a test or tool can find a database file's path (for crash tests reopening it).
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join("chit.db")
}
