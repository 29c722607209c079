//! The node's SQL connection, SQLite or PostgreSQL behind one small interface.
//!
//! Queries are written once with `$1…$n` placeholders: PostgreSQL binds them by number, SQLite by
//! first appearance, so each statement must introduce `$1`, `$2`, … in order (checked when it is
//! prepared). DDL differs between the two and lives in per-engine migrations.

use std::any::Any;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use chit_ledger::pool::Pool;
use chit_ledger::StoreError;

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

/// A lock a batched write takes before it runs, named by what it writes that another writer
/// may write too: a user's mailbox and conversations, a message id. On PostgreSQL a batch
/// takes the locks of all its jobs at once, in ascending order, before any job runs, so two
/// writers (of one node, or of two nodes on one database) never wait for each other in a
/// cycle. Without them, a batch posting to alice then bob and another posting to bob then
/// alice lock the counter rows in opposite orders and deadlock; PostgreSQL breaks the tie only
/// after `deadlock_timeout` (1 s), and under load the retries meet again. SQLite has one
/// writer at a time and needs none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteLock(i64);

impl WriteLock {
    /// The lock on what is numbered for the user `handle` (lowercase, as handles are stored):
    /// their mailbox and the conversations they are in.
    pub fn user(handle: &str) -> Self {
        Self::named(b"user", handle)
    }

    /// The lock on a message id, and on the payment row an offer or a request shares it with.
    /// Ids are chosen by clients, so posts to two conversations may race for one; without
    /// this lock two batches inserting ids X then Y and Y then X would deadlock.
    pub fn message(id: &str) -> Self {
        Self::named(b"message", id)
    }

    /// A PostgreSQL advisory lock key, the same on every node: FNV-1a over the kind and the
    /// name. Nothing rests on the keys being hard to collide (two names whose keys collide
    /// only wait for each other), and a posting takes three on every engine, so the cheap
    /// hash: about 40 ns for a posting's three instead of 240 ns with SHA-256 (timed over a
    /// million postings).
    fn named(kind: &[u8], name: &str) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let bytes = kind.iter().chain(b"\0").chain(name.as_bytes());
        let hash = bytes.fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
        Self(i64::from_ne_bytes(hash.to_ne_bytes()))
    }
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

struct Job {
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

/// How an engine's batch writers run their transactions.
#[derive(Clone, Copy)]
struct Dialect {
    /// Opens a write transaction.
    begin: &'static str,
    /// Restarts the write-ahead log, for an engine with one of its own to run.
    restart_wal: Option<&'static str>,
    /// Most locks one batch takes ([`PG_BATCH_LOCKS_MAX`]), where locks take room.
    locks_max: usize,
}

/// Group commit for node writes: a writer thread with its own connection gathers whatever jobs
/// are queued for it, runs them in one transaction (a failing job undoes only itself), commits
/// durably once, and only then answers every submitter. SQLite has one such writer; PostgreSQL
/// several ([`PG_WRITERS`]), each job going to the writer its first lock names, so the jobs of
/// one conversation queue at one writer in the order they came.
pub struct Batcher {
    queues: Vec<mpsc::SyncSender<Job>>,
    /// Batches run a second time with each job in a savepoint, because a job failed.
    redone: Arc<AtomicU64>,
}

impl Batcher {
    /// Starts `writers` writer threads for an engine's `dialect`. `connection` makes each its
    /// way to a connection: a function that lends it (or says why there is none: every job of
    /// that batch fails with it).
    fn start<W>(writers: usize, dialect: Dialect, mut connection: impl FnMut() -> W) -> Arc<Self>
    where
        W: FnMut(&mut dyn FnMut(&mut dyn Conn)) -> Result<(), StoreError> + Send + 'static,
    {
        assert!(writers > 0, "a batcher needs a writer");
        let redone = Arc::new(AtomicU64::new(0));
        let queues = (0..writers)
            .map(|_| Self::spawn_writer(dialect, redone.clone(), connection()))
            .collect();
        Arc::new(Self { queues, redone })
    }

    /// The queue of the writer for a job that takes `locks`.
    fn queue(&self, locks: &[WriteLock]) -> &mpsc::SyncSender<Job> {
        let key = locks.first().map_or(0, |l| l.0.unsigned_abs());
        let writers = self.queues.len() as u64;
        &self.queues[usize::try_from(key % writers).expect("fewer writers than usize::MAX")]
    }

    fn spawn_writer(
        dialect: Dialect,
        redone: Arc<AtomicU64>,
        mut with_conn: impl FnMut(&mut dyn FnMut(&mut dyn Conn)) -> Result<(), StoreError>
            + Send
            + 'static,
    ) -> mpsc::SyncSender<Job> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(BATCH_QUEUE_MAX);
        std::thread::Builder::new()
            .name("chit-node-writer".into())
            .spawn(move || {
                let mut since_checkpoint = 0u64;
                let mut carried = None;
                let within = (dialect.locks_max, |j: &Job| j.locks.len());
                while let Some(batch) =
                    next_batch_weighed(&jobs, BATCH_JOBS_MAX, within, &mut carried)
                {
                    let mut locks: Vec<WriteLock> =
                        batch.iter().flat_map(|j| j.locks.iter().copied()).collect();
                    locks.sort_unstable();
                    locks.dedup();
                    let (runs, replies): (Vec<JobFn>, Vec<_>) =
                        batch.into_iter().map(|j| (j.run, j.reply)).unzip();
                    let jobs = runs.len();
                    let mut runs = Some(runs);
                    let mut results = Vec::new();
                    since_checkpoint += jobs as u64;
                    let lent = with_conn(&mut |c| {
                        let runs = runs.take().expect("runs once");
                        results = run_batch(c, dialect.begin, &locks, runs, &redone);
                        // Cheap: the checkpointer has copied most frames already. A failure
                        // only postpones the restart; the commit stands.
                        if let Some(restart) = dialect.restart_wal {
                            if since_checkpoint >= WAL_RESTART_JOBS && c.query(restart, &[]).is_ok()
                            {
                                since_checkpoint = 0;
                            }
                        }
                    });
                    if let Err(e) = lent {
                        results = fail_all(jobs, &e);
                    }
                    for (reply, result) in replies.into_iter().zip(results) {
                        reply(result);
                    }
                }
            })
            .expect("spawn node writer");
        queue
    }
}

/// Waits for the first item on `queue`, then takes whatever else is already waiting, up to
/// `max` in all: a batch grows only as large as the load makes it. `None` once every sender
/// is gone.
pub(crate) fn next_batch<T>(queue: &mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    next_batch_weighed(queue, max, (usize::MAX, |_| 0), &mut None)
}

/// [`next_batch`], keeping the batch's summed `weight` within `weight_max` too: the item that
/// would pass it is left in `carried` and starts the next batch (an item heavier than that on
/// its own still goes, alone).
fn next_batch_weighed<T>(
    queue: &mpsc::Receiver<T>,
    max: usize,
    (weight_max, weight): (usize, impl Fn(&T) -> usize),
    carried: &mut Option<T>,
) -> Option<Vec<T>> {
    let first = match carried.take() {
        Some(item) => item,
        None => queue.recv().ok()?,
    };
    let mut total = weight(&first);
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) if total.saturating_add(weight(&item)) > weight_max => {
                *carried = Some(item);
                break;
            }
            Ok(item) => {
                total = total.saturating_add(weight(&item));
                batch.push(item);
            }
            Err(_) => break,
        }
    }
    Some(batch)
}

/// One batch transaction, optimistically: every job runs straight in the transaction and the
/// batch commits once. Should any job fail, the whole transaction is rolled back and the batch
/// runs again with each job in its own savepoint, so a failing job undoes only itself (the
/// savepoints cost a statement journal of every page a job touches, too dear for the usual
/// batch where nothing fails). If anything but a job itself fails (a savepoint, the commit), no
/// job is reported as done: the whole batch is answered with that error.
fn run_batch(
    c: &mut dyn Conn,
    begin: &str,
    locks: &[WriteLock],
    runs: Vec<JobFn>,
    redone: &AtomicU64,
) -> Vec<JobResult> {
    if let Err(e) = begin_locked(c, begin, locks) {
        return fail_all(runs.len(), &e);
    }
    let mut results = Vec::with_capacity(runs.len());
    for run in &runs {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut *c))) {
            Ok(Ok(value)) => results.push(Ok(value)),
            _ => break,
        }
    }
    if results.len() == runs.len() {
        return match c.execute("COMMIT", &[]) {
            Ok(_) => results,
            Err(e) => {
                let _ = c.execute("ROLLBACK", &[]);
                fail_all(runs.len(), &e)
            }
        };
    }
    if let Err(e) = c.execute("ROLLBACK", &[]) {
        return fail_all(runs.len(), &e);
    }
    redone.fetch_add(1, Ordering::Relaxed);
    run_batch_isolated(c, begin, locks, runs)
}

/// Opens the batch's transaction and takes every lock its jobs named, before any job runs.
fn begin_locked(c: &mut dyn Conn, begin: &str, locks: &[WriteLock]) -> Result<(), StoreError> {
    c.execute(begin, &[])?;
    if let Err(e) = c.lock(locks) {
        let _ = c.execute("ROLLBACK", &[]);
        return Err(e);
    }
    Ok(())
}

/// The same error for every one of `n` jobs.
fn fail_all(n: usize, e: &StoreError) -> Vec<JobResult> {
    (0..n).map(|_| Err(e.clone())).collect()
}

fn panicked() -> StoreError {
    StoreError::Backend("a write job panicked".into())
}

/// The careful way: each job in its own savepoint.
fn run_batch_isolated(
    c: &mut dyn Conn,
    begin: &str,
    locks: &[WriteLock],
    runs: Vec<JobFn>,
) -> Vec<JobResult> {
    if let Err(e) = begin_locked(c, begin, locks) {
        return fail_all(runs.len(), &e);
    }
    let mut results = Vec::with_capacity(runs.len());
    let mut broken: Option<StoreError> = None;
    for run in runs {
        if broken.is_some() {
            results.push(Err(StoreError::Backend("batch aborted".into())));
            continue;
        }
        if let Err(e) = c.execute("SAVEPOINT job", &[]) {
            broken = Some(e);
            results.push(Err(StoreError::Backend("batch aborted".into())));
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut *c)))
            .unwrap_or_else(|_| Err(panicked()));
        let undo = outcome.is_err();
        results.push(outcome);
        let closed = if undo {
            c.execute("ROLLBACK TO SAVEPOINT job", &[])
                .and_then(|_| c.execute("RELEASE SAVEPOINT job", &[]))
        } else {
            c.execute("RELEASE SAVEPOINT job", &[])
        };
        if let Err(e) = closed {
            broken = Some(e);
        }
    }
    let failure = match broken {
        Some(e) => Some(e),
        None => c.execute("COMMIT", &[]).err(),
    };
    match failure {
        None => results,
        Some(e) => {
            let _ = c.execute("ROLLBACK", &[]);
            fail_all(results.len(), &e)
        }
    }
}

const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_node.sql"),
    include_str!("../migrations/sqlite/0002_payments.sql"),
    include_str!("../migrations/sqlite/0003_requests.sql"),
    include_str!("../migrations/sqlite/0004_rails.sql"),
    include_str!("../migrations/sqlite/0005_api_keys.sql"),
    include_str!("../migrations/sqlite/0006_numbers_from_indexes.sql"),
    include_str!("../migrations/sqlite/0007_read_markers.sql"),
    include_str!("../migrations/sqlite/0008_sessions.sql"),
    include_str!("../migrations/sqlite/0009_canonical_ids.sql"),
];
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_node.sql"),
    include_str!("../migrations/postgres/0002_payments.sql"),
    include_str!("../migrations/postgres/0003_requests.sql"),
    include_str!("../migrations/postgres/0004_rails.sql"),
    include_str!("../migrations/postgres/0005_api_keys.sql"),
    include_str!("../migrations/postgres/0006_read_markers.sql"),
    include_str!("../migrations/postgres/0007_sessions.sql"),
    include_str!("../migrations/postgres/0008_canonical_ids.sql"),
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
        let checkpointer = chit_ledger_sqlite::start_checkpointer(sqlite_connect(path)?);
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

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return StoreError::Conflict(e.to_string());
        }
    }
    StoreError::Backend(e.to_string())
}

fn pg_err(e: postgres::Error) -> StoreError {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == postgres::error::SqlState::UNIQUE_VIOLATION => StoreError::Conflict(text),
        // Another writer (another node, or this node's batch writer against a pooled
        // connection) got there first; the caller's retry runs it again.
        Some(c)
            if *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict(text)
        }
        _ => StoreError::Backend(text),
    }
}

fn sqlite_connect(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(sqlite_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "journal_mode", "wal")
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite_err)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(sqlite_err)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn sqlite_migrate(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?;
    let result = (|| {
        // The node's schema version lives in a table (the ledger owns `PRAGMA user_version`).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS node_migrations (version INTEGER PRIMARY KEY)",
        )
        .map_err(sqlite_err)?;
        let done: i64 = conn
            .query_row("SELECT count(*) FROM node_migrations", [], |r| r.get(0))
            .map_err(sqlite_err)?;
        for (i, sql) in SQLITE_MIGRATIONS.iter().enumerate().skip(done as usize) {
            conn.execute_batch(sql).map_err(sqlite_err)?;
            conn.execute(
                "INSERT INTO node_migrations (version) VALUES (?1)",
                [i as i64 + 1],
            )
            .map_err(sqlite_err)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(sqlite_err),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn postgres_migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(pg_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&0x6368_6974_6e6f_6465_i64],
    )
    .map_err(pg_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS node_migrations (version integer PRIMARY KEY)")
        .map_err(pg_err)?;
    let done: i64 = tx
        .query_one("SELECT count(*) FROM node_migrations", &[])
        .map_err(pg_err)?
        .get(0);
    for (i, sql) in POSTGRES_MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(sql).map_err(pg_err)?;
        tx.execute(
            "INSERT INTO node_migrations (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .map_err(pg_err)?;
    }
    tx.commit().map_err(pg_err)
}

struct SqliteConn<'a>(&'a rusqlite::Connection);

impl SqliteConn<'_> {
    fn prepare(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let stmt = self.0.prepare_cached(sql).map_err(sqlite_err)?;
        // `$n` must first appear in order for positional binding to mean the same as in
        // PostgreSQL. A property of the SQL text, so checked in debug builds (every test) only.
        if cfg!(debug_assertions) {
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "placeholders out of order in: {sql}"
                );
            }
        }
        assert_eq!(
            stmt.parameter_count(),
            params.len(),
            "parameter count for: {sql}"
        );
        Ok(stmt)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Text(t) => ValueRef::Text(t.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Conn for SqliteConn<'_> {
    fn one_writer_at_a_time(&self) -> bool {
        true
    }

    /// Nothing to take: a SQLite write transaction (`BEGIN IMMEDIATE`) already excludes every
    /// other writer.
    fn lock(&mut self, _: &[WriteLock]) -> Result<(), StoreError> {
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(sqlite_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(sqlite_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(sqlite_err)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                    rusqlite::types::ValueRef::Text(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    rusqlite::types::ValueRef::Real(_) => {
                        return Err(StoreError::Corrupt("unexpected real column".into()))
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}

/// PostgreSQL connections the pool keeps open.
pub const PG_POOL_MAX: usize = 16;
/// PostgreSQL batch writers. One writer waits on a round trip to the server for every job,
/// leaving both cores half idle; with two, messages/s over `/v1/calls` rose from 6,030–6,467
/// to 11,826–12,271 and settled payments/s from 1,690–2,061 to 2,508–2,621 (`chit bench node
/// --engine postgres --payments 3000 --messages 30000`, 2 cores), and four measured the same
/// as two.
pub const PG_WRITERS: usize = 2;
/// Most advisory locks one PostgreSQL batch takes (a posting takes three: two members and its
/// id), so about 85 postings a batch. Advisory locks live in the server's shared lock table,
/// which holds `max_locks_per_transaction` × `max_connections` entries (64 × 100 by default)
/// for every session together; a batch that found it full would fail. At this bound a node's
/// writers hold at most 512, so ten nodes (5,120 of 6,400) fit the default table. (Measured:
/// no change in messages/s against unbounded batches, 11,346 / 11,919 and 11,239 / 10,377.)
pub const PG_BATCH_LOCKS_MAX: usize = 256;
/// Most statements a PostgreSQL connection keeps prepared; the node has fewer kinds of
/// statement than this, so the cache is only ever cleared if that changes.
const PG_STATEMENTS_MAX: usize = 256;

/// A PostgreSQL connection and the statements prepared on it: each is parsed and planned once
/// per connection, so running it is one round trip instead of two (prepare, then execute).
/// Prepared statements outlive the transaction that prepared them, even a rolled-back one.
pub struct PgClient {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgClient {
    fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            client: postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?,
            statements: HashMap::new(),
        })
    }

    fn conn(&mut self) -> PgConn<'_, postgres::Client> {
        PgConn {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }
}

struct PgConn<'a, C: postgres::GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

impl<C: postgres::GenericClient> PgConn<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(pg_err)?;
        if self.statements.len() >= PG_STATEMENTS_MAX {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// SQL NULL for a parameter of any type (a typed `None` only fits columns of its own type).
#[derive(Debug)]
struct AnyNull;

impl postgres::types::ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &postgres::types::Type,
        _: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn to_pg(v: &Value) -> Box<dyn postgres::types::ToSql + Sync + '_> {
    match v {
        Value::Null => Box::new(AnyNull),
        Value::Int(i) => Box::new(*i),
        Value::Text(t) => Box::new(t.as_str()),
        Value::Blob(b) => Box::new(b.as_slice()),
    }
}

impl<C: postgres::GenericClient> Conn for PgConn<'_, C> {
    fn one_writer_at_a_time(&self) -> bool {
        false
    }

    /// Transaction-scoped advisory locks, taken in the order given (`unnest` reads an array out
    /// in order): one round trip for them all.
    fn lock(&mut self, locks: &[WriteLock]) -> Result<(), StoreError> {
        if locks.is_empty() {
            return Ok(());
        }
        debug_assert!(
            locks.windows(2).all(|w| w[0] < w[1]),
            "locks sorted, no repeats"
        );
        let keys: Vec<i64> = locks.iter().map(|l| l.0).collect();
        let statement =
            self.statement("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")?;
        self.client.execute(&statement, &[&keys]).map_err(pg_err)?;
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let statement = self.statement(sql)?;
        self.client.execute(&statement, &refs).map_err(pg_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let boxed: Vec<_> = params.iter().map(to_pg).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let statement = self.statement(sql)?;
        let rows = self.client.query(&statement, &refs).map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let mut values = Vec::with_capacity(r.len());
                for (i, col) in r.columns().iter().enumerate() {
                    use postgres::types::Type;
                    let v = match *col.type_() {
                        Type::INT8 => r
                            .try_get::<_, Option<i64>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Int)),
                        Type::INT4 => r
                            .try_get::<_, Option<i32>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::INT2 => r
                            .try_get::<_, Option<i16>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::BOOL => r
                            .try_get::<_, Option<bool>>(i)
                            .map(|v| v.map_or(Value::Null, |v| Value::Int(v.into()))),
                        Type::BYTEA => r
                            .try_get::<_, Option<Vec<u8>>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Blob)),
                        _ => r
                            .try_get::<_, Option<String>>(i)
                            .map(|v| v.map_or(Value::Null, Value::Text)),
                    };
                    values.push(v.map_err(pg_err)?);
                }
                Ok(Row(values))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch stays within its weight: the item that would pass it starts the next batch, in
    /// its turn, and one heavier than the bound on its own still goes, alone.
    #[test]
    fn a_batch_keeps_within_its_weight_and_carries_the_rest_over() {
        let (queue, items) = mpsc::channel();
        for weight in [3, 3, 3, 9, 1, 1] {
            queue.send(weight).unwrap();
        }
        drop(queue);
        let within = (7, |w: &usize| *w);
        let mut carried = None;
        let mut batches = Vec::new();
        while let Some(batch) = next_batch_weighed(&items, 256, within, &mut carried) {
            batches.push(batch);
        }
        assert_eq!(batches, [vec![3, 3], vec![3], vec![9], vec![1, 1]]);
        assert_eq!(next_batch_weighed(&items, 256, within, &mut carried), None);
    }
}
