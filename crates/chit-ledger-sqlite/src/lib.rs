//! The embedded storage engine: one SQLite file, WAL journal, `synchronous=FULL` so a commit is
//! on disk before anyone is told about it. One writer connection (the ledger's writer thread),
//! a small pool of read connections, and a checkpointer thread.
//!
//! Two choices keep commits cheap (measured: `chit bench ledger`): transfers append by timestamp
//! and the per-account history index is filled in bulk between batches rather than on every
//! commit (an index keyed by account dirties one page per touched account per commit); and WAL
//! checkpoints run on their own connection instead of inside the writer's commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chit_core::{AccountId, Timestamp, TransferId};
use chit_ledger::apply::Changes;
use chit_ledger::row::{
    self, to_i64, RowSource, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS,
};
use chit_ledger::{
    Account, Clock, HistoryQuery, Ledger, LedgerConfig, PendingStatus, Reader, Storage, StoreError,
    Transfer, Writer,
};
use chit_sql::sqlite::{error as err, start_checkpointer};
use chit_sql::Pool;
use rusqlite::{params, Connection, Row};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_ledger.sql")];
/// Read connections kept open between uses.
const READERS_IDLE_MAX: usize = 8;
/// Unindexed transfers after which history is indexed even under load; bounds the tail scan.
const HISTORY_TAIL_MAX: u64 = 65_536;
/// Unindexed transfers worth indexing as soon as the writer is idle.
const HISTORY_TAIL_IDLE_MIN: u64 = 1_024;
/// An idle writer indexes any tail at least this old.
const HISTORY_LAG_MAX: Duration = Duration::from_secs(1);
/// Transfers after which the writer itself finishes a checkpoint, so that its next transaction
/// restarts the WAL at the beginning. Under constant writes the background checkpointer never
/// sees the log fully copied at a quiet moment, and a WAL that only grows costs fresh file blocks
/// (zeroed by the kernel) on every commit.
const WAL_RESTART_TRANSFERS: u64 = 16_384;

/// Opens (creating if needed) the ledger database at `path` and returns its writer and reader.
pub fn open(path: &Path) -> Result<Storage, StoreError> {
    let conn = connect_and_migrate(path)?;
    // The checkpointer does this work; the writer must never stall a commit on it.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(err)?;
    let unindexed: i64 = conn
        .query_row(
            "SELECT count(*) FROM transfers WHERE timestamp > \
             (SELECT indexed_upto FROM history_progress)",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    let checkpointer = start_checkpointer(connect(path)?);
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
    let writer = SqliteWriter {
        conn,
        unindexed: u64::try_from(unindexed).unwrap_or(0),
        written: 0,
        last_indexed: Instant::now(),
        since_checkpoint: 0,
        _checkpointer: checkpointer,
    };
    Ok(Storage {
        writer: Box::new(writer),
        reader: Arc::new(reader),
    })
}

/// Opens the database and starts a ledger on it.
pub fn start(
    path: &Path,
    clock: Arc<dyn Clock>,
    config: LedgerConfig,
) -> Result<Ledger, StoreError> {
    Ok(Ledger::start(open(path)?, clock, config))
}

/// Several processes opening a new database at once can see "database is locked" while one of
/// them switches it to WAL (SQLite does not wait on the busy handler there): retry briefly.
fn connect_and_migrate(path: &Path) -> Result<Connection, StoreError> {
    let mut attempt = 0;
    loop {
        let result = connect(path).and_then(|mut c| migrate(&mut c).map(|()| c));
        match result {
            Err(StoreError::Conflict(_)) if attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
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
    // Statement journals (the undo of one statement inside a transaction) live in memory: they
    // are never needed after a crash, and writing them to a temporary file showed in profiles.
    conn.pragma_update(None, "temp_store", "MEMORY")
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
    /// Committed transfers not yet in `account_history` (this process's count; a heuristic).
    unindexed: u64,
    /// Transfers written by the open transaction, counted once it commits.
    written: u64,
    last_indexed: Instant,
    /// Transfers committed since the writer last completed a checkpoint.
    since_checkpoint: u64,
    /// Dropping it stops the checkpointer.
    _checkpointer: mpsc::Sender<()>,
}

impl SqliteWriter {
    /// Moves every unindexed transfer into a new `account_history` run, in one transaction.
    fn index_history(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        match write_history_run(&self.conn) {
            Ok(()) => self.conn.execute_batch("COMMIT").map_err(err)?,
            Err(e) => {
                let _ = self.rollback();
                return Err(e);
            }
        }
        self.unindexed = 0;
        self.last_indexed = Instant::now();
        Ok(())
    }
}

fn write_history_run(conn: &Connection) -> Result<(), StoreError> {
    let (upto, first, last, run): (i64, Option<i64>, Option<i64>, i64) = conn
        .query_row(
            "SELECT p.indexed_upto, \
               (SELECT min(timestamp) FROM transfers WHERE timestamp > p.indexed_upto), \
               (SELECT max(timestamp) FROM transfers), \
               (SELECT coalesce(max(run), 0) + 1 FROM history_runs) \
             FROM history_progress p",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(err)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(()); // nothing new
    };
    conn.execute(
        "INSERT INTO account_history (run, account_id, timestamp) \
           SELECT ?1, account_id, timestamp FROM ( \
             SELECT debit_account_id AS account_id, timestamp FROM transfers WHERE timestamp > ?2 \
             UNION ALL \
             SELECT credit_account_id, timestamp FROM transfers WHERE timestamp > ?2) \
           ORDER BY account_id, timestamp",
        params![run, upto],
    )
    .map_err(err)?;
    conn.execute(
        "INSERT INTO history_runs (run, first_timestamp, last_timestamp) VALUES (?1, ?2, ?3)",
        params![run, first, last],
    )
    .map_err(err)?;
    conn.execute("UPDATE history_progress SET indexed_upto = ?1", [last])
        .map_err(err)?;
    Ok(())
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
        self.written += changes.transfers_created.len() as u64;
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
        self.conn.execute_batch("COMMIT").map_err(err)?;
        let written = std::mem::take(&mut self.written);
        self.unindexed += written;
        self.since_checkpoint += written;
        if self.since_checkpoint >= WAL_RESTART_TRANSFERS {
            // Cheap: the checkpointer thread has copied most frames already. Failure only
            // postpones the restart; the commit above stands.
            if self
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .is_ok()
            {
                self.since_checkpoint = 0;
            }
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        self.written = 0;
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(err)
    }

    fn maintain(&mut self, idle: bool) -> Result<(), StoreError> {
        let due = self.unindexed >= HISTORY_TAIL_MAX
            || (idle && self.unindexed >= HISTORY_TAIL_IDLE_MIN)
            || (idle && self.unindexed > 0 && self.last_indexed.elapsed() >= HISTORY_LAG_MAX);
        if due {
            self.index_history()?;
        }
        Ok(())
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

/// One page of history: the unindexed tail and each indexed run, read in one snapshot, in the
/// order the page runs (tail first when newest first; runs first when oldest first).
fn history(
    conn: &Connection,
    account: AccountId,
    query: HistoryQuery,
) -> Result<Vec<Transfer>, StoreError> {
    let (cmp, dir, cursor) = query.sql_bounds();
    let account = account.to_bytes();
    let limit = query.limit;
    conn.execute_batch("BEGIN").map_err(err)?;
    let result = (|| {
        let tail_sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers \
             WHERE timestamp > (SELECT indexed_upto FROM history_progress) \
               AND timestamp {cmp} ?2 AND (debit_account_id = ?1 OR credit_account_id = ?1) \
             ORDER BY timestamp {dir} LIMIT ?3"
        );
        let tail = || {
            query_all(
                conn,
                &tail_sql,
                params![&account[..], cursor, limit as i64],
                row::transfer,
            )
        };
        let mut found = Vec::new();
        let newest_first = dir == "DESC";
        if newest_first {
            found = tail()?;
        }
        let runs_sql = if newest_first {
            "SELECT run FROM history_runs WHERE first_timestamp < ?1 ORDER BY run DESC"
        } else {
            "SELECT run FROM history_runs WHERE last_timestamp > ?1 ORDER BY run ASC"
        };
        let runs: Vec<i64> = {
            let mut stmt = conn.prepare_cached(runs_sql).map_err(err)?;
            let rows = stmt.query_map([cursor], |r| r.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let run_sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp IN ( \
               SELECT timestamp FROM account_history WHERE run = ?1 AND account_id = ?2 \
                 AND timestamp {cmp} ?3 ORDER BY timestamp {dir} LIMIT ?4) \
             ORDER BY timestamp {dir}"
        );
        for run in runs {
            if found.len() >= limit {
                break;
            }
            let left = (limit - found.len()) as i64;
            found.extend(query_all(
                conn,
                &run_sql,
                params![run, &account[..], cursor, left],
                row::transfer,
            )?);
        }
        if !newest_first && found.len() < limit {
            found.extend(tail()?);
        }
        found.truncate(limit);
        Ok(found)
    })();
    let _ = conn.execute_batch("COMMIT");
    result
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
        self.pool.with(|c| history(c, account, query))
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
