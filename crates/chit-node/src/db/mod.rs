//! The node's SQL connection, SQLite or PostgreSQL behind one small interface.
//!
//! Queries are written once with `$1…$n` placeholders: PostgreSQL binds them by number, SQLite by
//! first appearance, so each statement must introduce `$1`, `$2`, … in order (checked when it is
//! prepared). DDL differs between the two and lives in per-engine migrations.
use std::any::Any;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};

use chit_ledger::StoreError;
use chit_sql::Pool;

mod batch;
mod lock;
mod pg;
mod sqlite;

pub(crate) use batch::next_batch;
pub use batch::Batcher;
use batch::{panicked, Dialect};
pub use lock::WriteLock;
use pg::{pg_err, postgres_migrate, PgConn};
pub use pg::{PgClient, PG_BATCH_LOCKS_MAX, PG_POOL_MAX, PG_WRITERS};
use sqlite::SqliteConn;
use sqlite::{sqlite_connect, sqlite_err, sqlite_migrate};

/// A value passed to or read from SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match &self.0[i] {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match &self.0[i] {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match &self.0[i] {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match &self.0[i] {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match &self.0[i] {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }
}

/// A connection inside a transaction (or not): what store code runs statements on.
pub trait Conn {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// True when no other transaction can write while this one does (SQLite), so a value read
    /// in it cannot be taken by another writer before the commit.
    fn one_writer_at_a_time(&self) -> bool;

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Takes `locks` (sorted, without repeats) for the rest of the transaction, in that order.
    fn lock(&mut self, locks: &[WriteLock]) -> Result<(), StoreError>;
}

/// The node database: SQLite (one writer connection, a batch writer for the hot path, pooled
/// readers) or PostgreSQL (a batch writer for the hot path on a connection of its own, pooled
/// connections for the rest; every connection prepares each statement once).
#[derive(Clone)]
pub enum Db {
    Sqlite {
        writer: Arc<Mutex<rusqlite::Connection>>,
        readers: Arc<Pool<rusqlite::Connection>>,
        batch: Arc<Batcher>,
        /// Copies the WAL into the database file off the writers' path; stops when the last
        /// clone of the database is dropped.
        _checkpointer: Arc<std::sync::mpsc::Sender<()>>,
    },
    Postgres {
        pool: Arc<Pool<PgClient>>,
        batch: Arc<Batcher>,
    },
}

type JobResult = Result<Box<dyn Any + Send>, StoreError>;
/// A job may run twice (see [`run_batch`]), so it must be a pure function of the database.
type JobFn = Box<dyn Fn(&mut dyn Conn) -> JobResult + Send>;

pub(super) struct Job {
    run: JobFn,
    locks: Vec<WriteLock>,
    /// Hands the result to the submitter: a blocked thread or an awaiting task.
    reply: Box<dyn FnOnce(JobResult) + Send>,
}

/// Most jobs one batch transaction runs.
pub const BATCH_JOBS_MAX: usize = 256;
/// SQLite read connections (WAL readers never wait for the writer, only for a connection).
pub const SQLITE_READERS: usize = 8;
/// Most jobs waiting for the batch writer; submitters wait beyond it (backpressure).
pub const BATCH_QUEUE_MAX: usize = 4096;
/// Jobs after which the batch writer itself completes a checkpoint, so its next transaction
/// restarts the WAL from the beginning (under constant writes the checkpointer thread never
/// finds a quiet moment, and an ever-growing WAL costs fresh file blocks on every commit).
/// A job writes a message with its indexes and counters, several pages: at 16,384 jobs the WAL
/// reached 200 MB in `chit bench node`, at 2,048 under 90 MB, and throughput rose.
const WAL_RESTART_JOBS: u64 = 2_048;

const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_node.sql"),
    include_str!("../../migrations/sqlite/0002_payments.sql"),
    include_str!("../../migrations/sqlite/0003_requests.sql"),
    include_str!("../../migrations/sqlite/0004_rails.sql"),
    include_str!("../../migrations/sqlite/0005_api_keys.sql"),
    include_str!("../../migrations/sqlite/0006_numbers_from_indexes.sql"),
    include_str!("../../migrations/sqlite/0007_read_markers.sql"),
    include_str!("../../migrations/sqlite/0008_sessions.sql"),
    include_str!("../../migrations/sqlite/0009_canonical_ids.sql"),
    include_str!("../../migrations/sqlite/0010_amount_minor.sql"),
    include_str!("../../migrations/sqlite/0011_offline.sql"),
];
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_node.sql"),
    include_str!("../../migrations/postgres/0002_payments.sql"),
    include_str!("../../migrations/postgres/0003_requests.sql"),
    include_str!("../../migrations/postgres/0004_rails.sql"),
    include_str!("../../migrations/postgres/0005_api_keys.sql"),
    include_str!("../../migrations/postgres/0006_read_markers.sql"),
    include_str!("../../migrations/postgres/0007_sessions.sql"),
    include_str!("../../migrations/postgres/0008_canonical_ids.sql"),
    include_str!("../../migrations/postgres/0009_amount_minor.sql"),
    include_str!("../../migrations/postgres/0010_offline.sql"),
];

impl Db {
    /// Opens (and migrates) the SQLite database file at `path`.
    pub fn sqlite(path: &Path) -> Result<Self, StoreError> {
        let writer = sqlite_connect(path)?;
        sqlite_migrate(&writer)?;
        let batch_conn = sqlite_connect(path)?;
        // The checkpointer thread copies the WAL back; no writer stalls a commit on it.
        for conn in [&writer, &batch_conn] {
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(sqlite_err)?;
        }
        let checkpointer = chit_sql::sqlite::start_checkpointer(sqlite_connect(path)?);
        let mut batch_conn = Some(batch_conn);
        let sqlite = Dialect {
            begin: "BEGIN IMMEDIATE",
            restart_wal: Some("PRAGMA wal_checkpoint(PASSIVE)"),
            // `BEGIN IMMEDIATE` is the one lock; none is taken per job.
            locks_max: usize::MAX,
        };
        let batch = Batcher::start(1, sqlite, || {
            let conn = batch_conn.take().expect("SQLite has one batch writer");
            move |f: &mut dyn FnMut(&mut dyn Conn)| {
                f(&mut SqliteConn(&conn));
                Ok(())
            }
        });
        let path = path.to_owned();
        Ok(Self::Sqlite {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Pool::new(
                SQLITE_READERS,
                Box::new(move || sqlite_connect(&path)),
            )),
            batch,
            _checkpointer: Arc::new(checkpointer),
        })
    }

    /// Connects to (and migrates) the PostgreSQL database at `url`.
    pub fn postgres(url: &str) -> Result<Self, StoreError> {
        let mut client = PgClient::connect(url)?;
        postgres_migrate(&mut client.client)?;
        // Each batch writer keeps its connection (the first one, the migrating connection) and
        // reconnects when the server dropped it (a restart); a batch that finds no server fails
        // with the reason.
        let mut first = Some(client);
        let postgres = Dialect {
            begin: "BEGIN",
            restart_wal: None,
            locks_max: PG_BATCH_LOCKS_MAX,
        };
        let batch = Batcher::start(PG_WRITERS, postgres, || {
            let writer_url = url.to_owned();
            let mut writer = first.take();
            move |f: &mut dyn FnMut(&mut dyn Conn)| {
                if writer.as_ref().is_none_or(|w| w.client.is_closed()) {
                    writer = None;
                    writer = Some(PgClient::connect(&writer_url)?);
                }
                f(&mut writer.as_mut().expect("connected above").conn());
                Ok(())
            }
        });
        let url = url.to_owned();
        Ok(Self::Postgres {
            pool: Arc::new(Pool::new(
                PG_POOL_MAX,
                Box::new(move || PgClient::connect(&url)),
            )),
            batch,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite { .. })
    }

    /// Runs `f` in one write transaction, committed durably before it returns; rolled back if
    /// `f` fails.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite { writer, .. } => {
                let conn = writer.lock().expect("sqlite writer lock");
                conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
                let mut c = SqliteConn(&conn);
                match f(&mut c) {
                    Ok(v) => {
                        conn.execute_batch("COMMIT").map_err(sqlite_err)?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(e)
                    }
                }
            }
            Self::Postgres { pool, .. } => pool.with(|pg| {
                let mut tx = pg.client.transaction().map_err(pg_err)?;
                let v = f(&mut PgConn {
                    client: &mut tx,
                    statements: &mut pg.statements,
                })?;
                tx.commit().map_err(pg_err)?;
                Ok(v)
            }),
        }
    }

    /// Runs `f` on a read connection (one consistent snapshot per statement).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite { readers, .. } => readers.with(|conn| f(&mut SqliteConn(conn))),
            Self::Postgres { pool, .. } => pool.with(|pg| f(&mut pg.conn())),
        }
    }

    /// Runs `f` as one write transaction for the hot path (posting messages and payment
    /// updates): as one job of a group-committed batch, undone alone if it fails. Durable
    /// before it returns. `f` may run more than once (a batch that must be redone), so it must
    /// be a pure function of the database. `f` must write nothing another writer may write
    /// unless one of `locks` covers it (a posting's are [`crate::store::posting_locks`]).
    pub fn write_batched<T: Send + 'static>(
        &self,
        locks: Vec<WriteLock>,
        f: impl Fn(&mut dyn Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let batch = self.batcher();
        let (reply, answer) = mpsc::channel();
        let job = Job {
            run: job_fn(f),
            locks,
            reply: Box::new(move |result| {
                let _ = reply.send(result);
            }),
        };
        batch
            .queue(&job.locks)
            .send(job)
            .map_err(|_| writer_stopped())?;
        downcast(answer.recv().map_err(|_| writer_stopped())?)
    }

    /// [`Db::write_batched`] for async callers: the task awaits the batch writer without
    /// holding a thread (no blocking-pool hop on the hot path).
    pub async fn write_batched_async<T: Send + 'static>(
        &self,
        locks: Vec<WriteLock>,
        f: impl Fn(&mut dyn Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let batch = self.batcher().clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            run: job_fn(f),
            locks,
            reply: Box::new(move |result| {
                let _ = reply.send(result);
            }),
        };
        match batch.queue(&job.locks).try_send(job) {
            Ok(()) => {}
            // The queue is full: wait for room on a blocking thread (backpressure).
            Err(mpsc::TrySendError::Full(job)) => {
                tokio::task::spawn_blocking(move || batch.queue(&job.locks).send(job))
                    .await
                    .map_err(|_| panicked())?
                    .map_err(|_| writer_stopped())?
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(writer_stopped()),
        }
        downcast(answer.await.map_err(|_| writer_stopped())?)
    }

    /// How many batches had to be redone job by job because a job failed (its own error, or a
    /// conflict with another writer), since the database was opened.
    pub fn batches_redone(&self) -> u64 {
        self.batcher().redone.load(Ordering::Relaxed)
    }

    fn batcher(&self) -> &Arc<Batcher> {
        match self {
            Self::Sqlite { batch, .. } | Self::Postgres { batch, .. } => batch,
        }
    }
}

fn job_fn<T: Send + 'static>(
    f: impl Fn(&mut dyn Conn) -> Result<T, StoreError> + Send + 'static,
) -> JobFn {
    Box::new(move |c| f(c).map(|v| Box::new(v) as Box<dyn Any + Send>))
}

fn downcast<T: 'static>(result: JobResult) -> Result<T, StoreError> {
    Ok(*result?
        .downcast::<T>()
        .expect("a job answers with its own type"))
}

fn writer_stopped() -> StoreError {
    StoreError::Backend("the node writer has stopped".into())
}
