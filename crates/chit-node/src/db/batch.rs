//! Group commit: the batch writers and how a batch is run, redone and answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use chit_ledger::StoreError;

use super::*;

/// How an engine's batch writers run their transactions.
#[derive(Clone, Copy)]
pub(super) struct Dialect {
    /// Opens a write transaction.
    pub(super) begin: &'static str,
    /// Restarts the write-ahead log, for an engine with one of its own to run.
    pub(super) restart_wal: Option<&'static str>,
    /// Most locks one batch takes ([`PG_BATCH_LOCKS_MAX`]), where locks take room.
    pub(super) locks_max: usize,
}

/// Group commit for node writes: a writer thread with its own connection gathers whatever jobs
/// are queued for it, runs them in one transaction (a failing job undoes only itself), commits
/// durably once, and only then answers every submitter. SQLite has one such writer; PostgreSQL
/// several ([`PG_WRITERS`]), each job going to the writer its first lock names, so the jobs of
/// one conversation queue at one writer in the order they came.
pub struct Batcher {
    queues: Vec<mpsc::SyncSender<Job>>,
    /// Batches run a second time with each job in a savepoint, because a job failed.
    pub(super) redone: Arc<AtomicU64>,
}

impl Batcher {
    /// Starts `writers` writer threads for an engine's `dialect`. `connection` makes each its
    /// way to a connection: a function that lends it (or says why there is none: every job of
    /// that batch fails with it).
    pub(super) fn start<W>(
        writers: usize,
        dialect: Dialect,
        mut connection: impl FnMut() -> W,
    ) -> Arc<Self>
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
    pub(super) fn queue(&self, locks: &[WriteLock]) -> &mpsc::SyncSender<Job> {
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

pub(super) fn panicked() -> StoreError {
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
