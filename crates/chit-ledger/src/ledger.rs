//! The ledger handle: group commit in front of one storage engine.
//!
//! Callers on any thread or task submit requests; a single writer thread gathers whatever is
//! queued (up to [`LedgerConfig::batch_events_max`] events) into one database transaction, commits
//! it durably, and only then answers each caller with its own results.

use std::sync::Arc;
use std::thread::JoinHandle;

use chit_core::{AccountId, TransferId};
use tokio::sync::{mpsc, oneshot};

use crate::apply::{Command, CommandResult};
use crate::audit::{self, AuditReport};
use crate::clock::Clock;
use crate::store::{self, HistoryQuery, Reader, Storage, StoreError, Writer, PAGE_LIMIT_MAX};
use crate::types::{
    Account, AccountResult, NewAccount, NewTransfer, PendingStatus, Transfer, TransferResult,
};

/// Limits of one ledger.
#[derive(Clone, Copy, Debug)]
pub struct LedgerConfig {
    /// Most events (accounts or transfers) in one committed batch, and in one request.
    pub batch_events_max: usize,
    /// Most requests waiting for the writer; senders wait (backpressure) beyond it.
    pub queue_requests_max: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            batch_events_max: 8192,
            queue_requests_max: 4096,
        }
    }
}

/// Why a ledger call failed as a whole. Per-event rejections are results, not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("request has {events} events, at most {max} are allowed")]
    RequestTooLarge { events: usize, max: usize },
    #[error("page limit {limit} is out of range 1..={max}")]
    PageLimit { limit: usize, max: usize },
    #[error("the ledger is shut down")]
    Closed,
    /// The batch's outcome is not known (e.g. the connection died during commit): retry with
    /// the same ids, which is safe because ids are idempotent.
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Job {
    Command(Command),
    /// Expire up to this many due pending transfers.
    ExpireDue(usize),
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Self::Command(c) => c.len(),
            Self::ExpireDue(n) => *n,
        }
    }
}

struct Request {
    job: Job,
    reply: oneshot::Sender<Result<CommandResult, LedgerError>>,
}

/// A running ledger. Dropping it (or [`Ledger::shutdown`]) lets the writer finish the queue and stop.
pub struct Ledger {
    queue: mpsc::Sender<Request>,
    reader: Arc<dyn Reader>,
    config: LedgerConfig,
    writer_thread: Option<JoinHandle<()>>,
}

impl Ledger {
    /// Starts the writer thread over an opened storage engine.
    pub fn start(storage: Storage, clock: Arc<dyn Clock>, config: LedgerConfig) -> Self {
        let Storage { writer, reader } = storage;
        assert!(config.batch_events_max > 0 && config.queue_requests_max > 0);
        let (queue, requests) = mpsc::channel(config.queue_requests_max);
        let writer_thread = std::thread::Builder::new()
            .name("chit-ledger-writer".into())
            .spawn(move || write_loop(writer, requests, clock, config.batch_events_max))
            .expect("spawn ledger writer thread");
        Self {
            queue,
            reader,
            config,
            writer_thread: Some(writer_thread),
        }
    }

    pub async fn create_accounts(
        &self,
        accounts: Vec<NewAccount>,
    ) -> Result<Vec<AccountResult>, LedgerError> {
        match self
            .submit(Job::Command(Command::CreateAccounts(accounts)))
            .await?
        {
            CommandResult::Accounts(r) => Ok(r),
            other => unreachable!("accounts answered with {other:?}"),
        }
    }

    pub async fn create_transfers(
        &self,
        transfers: Vec<NewTransfer>,
    ) -> Result<Vec<TransferResult>, LedgerError> {
        match self
            .submit(Job::Command(Command::CreateTransfers(transfers)))
            .await?
        {
            CommandResult::Transfers(r) => Ok(r),
            other => unreachable!("transfers answered with {other:?}"),
        }
    }

    /// Expires up to `limit` pending transfers whose time is up; returns how many it expired.
    /// Safe to call from many workers and many nodes at once: each expiry happens exactly once.
    pub async fn expire_due(&self, limit: usize) -> Result<usize, LedgerError> {
        match self.submit(Job::ExpireDue(limit)).await? {
            CommandResult::Expired(n) => Ok(n),
            other => unreachable!("expiry answered with {other:?}"),
        }
    }

    /// Blocking forms for callers outside an async runtime (benchmarks, crash-test children).
    pub fn create_accounts_blocking(
        &self,
        accounts: Vec<NewAccount>,
    ) -> Result<Vec<AccountResult>, LedgerError> {
        block_on(self.create_accounts(accounts))
    }

    pub fn create_transfers_blocking(
        &self,
        transfers: Vec<NewTransfer>,
    ) -> Result<Vec<TransferResult>, LedgerError> {
        block_on(self.create_transfers(transfers))
    }

    pub fn expire_due_blocking(&self, limit: usize) -> Result<usize, LedgerError> {
        block_on(self.expire_due(limit))
    }

    async fn submit(&self, job: Job) -> Result<CommandResult, LedgerError> {
        let events = job.len();
        if events > self.config.batch_events_max {
            return Err(LedgerError::RequestTooLarge {
                events,
                max: self.config.batch_events_max,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { job, reply })
            .await
            .map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    pub fn account(&self, id: AccountId) -> Result<Option<Account>, LedgerError> {
        Ok(self.reader.accounts(&[id])?.pop())
    }

    pub fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, LedgerError> {
        self.check_limit(ids.len())?;
        Ok(self.reader.accounts(ids)?)
    }

    pub fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, LedgerError> {
        Ok(self.reader.transfers(&[id])?.pop())
    }

    /// Where a pending transfer stands (pending, posted, voided, expired).
    pub fn pending_status(&self, id: TransferId) -> Result<Option<PendingStatus>, LedgerError> {
        Ok(self.reader.pendings(&[id])?.pop())
    }

    /// One page of an account's transfers.
    pub fn history(
        &self,
        account: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<Transfer>, LedgerError> {
        self.check_limit(query.limit)?;
        Ok(self.reader.history(account, query)?)
    }

    /// Every transfer in commit order, a page at a time: for exports and for checking a whole
    /// database (the crash tests).
    pub fn transfers_after(
        &self,
        cursor: Option<chit_core::Timestamp>,
        limit: usize,
    ) -> Result<Vec<Transfer>, LedgerError> {
        self.check_limit(limit)?;
        Ok(self.reader.scan_transfers(cursor, limit)?)
    }

    /// Checks every ledger invariant against what is stored.
    pub fn audit(&self) -> Result<AuditReport, LedgerError> {
        Ok(audit::audit(self.reader.as_ref())?)
    }

    fn check_limit(&self, limit: usize) -> Result<(), LedgerError> {
        if limit == 0 || limit > PAGE_LIMIT_MAX {
            return Err(LedgerError::PageLimit {
                limit,
                max: PAGE_LIMIT_MAX,
            });
        }
        Ok(())
    }

    /// Stops taking requests, lets the writer finish what is queued, and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.queue, closed));
        if let Some(thread) = self.writer_thread.take() {
            // A panicking writer (a broken invariant) must not be silently ignored.
            if let Err(panic) = thread.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a ledger future on this thread. They only wait on channels, which need no runtime, so a
/// tiny executor that parks until woken is enough.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The writer thread: gathers queued requests into batches and commits each batch once.
fn write_loop(
    mut writer: Box<dyn Writer>,
    mut requests: mpsc::Receiver<Request>,
    clock: Arc<dyn Clock>,
    batch_events_max: usize,
) {
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(r) => r,
            None => match requests.blocking_recv() {
                Some(r) => r,
                None => return,
            },
        };
        let mut events = first.job.len();
        let mut batch = vec![first];
        while events < batch_events_max {
            let Ok(next) = requests.try_recv() else { break };
            if events + next.job.len() > batch_events_max {
                carried = Some(next);
                break;
            }
            events += next.job.len();
            batch.push(next);
        }
        commit_and_answer(writer.as_mut(), batch, clock.as_ref());
        let idle = carried.is_none() && requests.is_empty();
        if let Err(e) = writer.maintain(idle) {
            // Housekeeping is retried after the next batch; the ledger's answers do not depend on it.
            tracing::warn!(error = %e, "ledger storage maintenance failed");
        }
    }
}

fn commit_and_answer(writer: &mut dyn Writer, batch: Vec<Request>, clock: &dyn Clock) {
    let mut commands = Vec::with_capacity(batch.len());
    for request in &batch {
        let command = match &request.job {
            Job::Command(c) => Ok(c.clone()),
            Job::ExpireDue(limit) => writer
                .due_pendings(clock.now(), *limit)
                .map(Command::Expire),
        };
        commands.push(command);
    }
    // A failed look-up of due transfers fails only that request.
    let (ok, failed): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .zip(commands)
        .partition(|(_, c)| c.is_ok());
    for (request, command) in failed {
        let err = command.expect_err("partitioned on error");
        let _ = request.reply.send(Err(err.into()));
    }
    let (requests, commands): (Vec<Request>, Vec<Command>) = ok
        .into_iter()
        .map(|(r, c)| (r, c.expect("partitioned on ok")))
        .unzip();
    if commands.is_empty() {
        return;
    }
    match store::commit_batch(writer, &commands, || clock.now()) {
        Ok(results) => {
            for (request, result) in requests.into_iter().zip(results) {
                // A caller that gave up waiting is fine: its result is durable all the same.
                let _ = request.reply.send(Ok(result));
            }
        }
        Err(e) => {
            for request in requests {
                let _ = request.reply.send(Err(LedgerError::Store(e.clone())));
            }
        }
    }
}
