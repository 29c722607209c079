//! The storage interface each engine implements, and the one transaction flow they all share.
//!
//! An engine supplies row access ([`Writer`], [`Reader`]); [`commit_batch`] decides what to read,
//! in which order to lock, and when to retry, so every engine behaves the same.

use std::collections::HashMap;

use chit_core::{AccountId, Timestamp, TransferId};

use crate::apply::{self, Changes, Command, CommandResult, Loaded};
pub use crate::error::StoreError;
use crate::types::{Account, PendingStatus, Transfer};

/// Most times one batch is retried after transient conflicts before the callers get an error.
pub const CONFLICT_RETRIES_MAX: u32 = 64;

/// Write access, used by the single writer thread of one ledger. Methods between `begin` and
/// `commit`/`rollback` run inside one database transaction.
pub trait Writer: Send {
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Transfers with these ids (immutable rows: no lock needed).
    fn load_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError>;
    /// Locks these accounts for the rest of the transaction, in the (sorted) order given, and
    /// returns those that exist.
    fn lock_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError>;
    fn load_pendings(&mut self, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError>;
    /// Locks the ledger clock and returns the last timestamp handed out. Locked last, so that
    /// concurrent writers on other accounts are held up as briefly as possible.
    fn lock_clock(&mut self) -> Result<Timestamp, StoreError>;
    fn write(&mut self, changes: &Changes) -> Result<(), StoreError>;
    /// Commits durably: when this returns `Ok` the batch survives a crash or power loss.
    fn commit(&mut self) -> Result<(), StoreError>;
    fn rollback(&mut self) -> Result<(), StoreError>;
    /// Up to `limit` pending transfers still pending whose expiry is at or before `now`.
    fn due_pendings(&mut self, now: Timestamp, limit: usize)
        -> Result<Vec<TransferId>, StoreError>;
    /// Housekeeping between batches, in its own transaction (e.g. bulk index upkeep). `idle` says
    /// no request is waiting, so slower work will not delay anyone. Failures are retried later.
    fn maintain(&mut self, idle: bool) -> Result<(), StoreError> {
        let _ = idle;
        Ok(())
    }
}

/// An opened storage engine: its single writer and its shareable reader.
pub struct Storage {
    pub writer: Box<dyn Writer>,
    pub reader: std::sync::Arc<dyn Reader>,
}

/// Which way a history page runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One page of an account's history: transfers strictly after (or before, newest first) a cursor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HistoryQuery {
    pub cursor: Option<Timestamp>,
    pub limit: usize,
    pub order: Order,
}

impl HistoryQuery {
    /// The SQL pieces both engines use: comparison against the cursor, sort direction, and the
    /// cursor as a database integer (open-ended when absent).
    pub fn sql_bounds(&self) -> (&'static str, &'static str, i64) {
        let cursor = self
            .cursor
            .map(|c| i64::try_from(c.as_nanos()).expect("ledger values are bounded by i64::MAX"));
        match self.order {
            Order::OldestFirst => (">", "ASC", cursor.unwrap_or(-1)),
            Order::NewestFirst => ("<", "DESC", cursor.unwrap_or(i64::MAX)),
        }
    }
}

/// Most rows one read returns.
pub const PAGE_LIMIT_MAX: usize = 10_000;

/// Read access, safe to share between threads.
pub trait Reader: Send + Sync {
    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError>;
    fn transfers(&self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError>;
    fn pendings(&self, ids: &[TransferId]) -> Result<Vec<PendingStatus>, StoreError>;
    /// Transfers debiting or crediting `account`, ordered by timestamp.
    fn history(&self, account: AccountId, query: HistoryQuery)
        -> Result<Vec<Transfer>, StoreError>;
    /// All accounts in id order, a page at a time (for the audit).
    fn scan_accounts(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StoreError>;
    /// All transfers in timestamp order, a page at a time (for the audit).
    fn scan_transfers(
        &self,
        after: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Transfer>, StoreError>;
    /// All pending statuses in id order, a page at a time (for the audit).
    fn scan_pendings(
        &self,
        after: Option<TransferId>,
        limit: usize,
    ) -> Result<Vec<PendingStatus>, StoreError>;
}

/// Runs one batch as one durable transaction, retrying transient conflicts.
pub fn commit_batch(
    writer: &mut dyn Writer,
    batch: &[Command],
    now: impl Fn() -> Timestamp,
) -> Result<Vec<CommandResult>, StoreError> {
    let mut attempt = 0;
    loop {
        match try_commit(writer, batch, now()) {
            Ok(results) => return Ok(results),
            Err(StoreError::Conflict(why)) if attempt < CONFLICT_RETRIES_MAX => {
                attempt += 1;
                tracing::debug!(attempt, %why, "ledger batch conflicted, retrying");
                // Back off a little so two writers stop colliding; bounded at 64 ms.
                let backoff_us = 500u64 << attempt.min(7);
                std::thread::sleep(std::time::Duration::from_micros(backoff_us));
            }
            Err(e) => return Err(e),
        }
    }
}

fn try_commit(
    writer: &mut dyn Writer,
    batch: &[Command],
    now: Timestamp,
) -> Result<Vec<CommandResult>, StoreError> {
    writer.begin()?;
    match load_apply_write(writer, batch, now) {
        Ok(results) => {
            writer.commit()?;
            Ok(results)
        }
        Err(e) => {
            // The transaction is abandoned either way; a failed rollback must not hide `e`.
            let _ = writer.rollback();
            Err(e)
        }
    }
}

fn load_apply_write(
    writer: &mut dyn Writer,
    batch: &[Command],
    now: Timestamp,
) -> Result<Vec<CommandResult>, StoreError> {
    let transfer_ids = apply::ids_to_load(batch);
    let transfers: HashMap<TransferId, Transfer> = writer
        .load_transfers(&transfer_ids)?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let account_ids = apply::account_ids_to_lock(batch, &transfers);
    let accounts: HashMap<AccountId, Account> = writer
        .lock_accounts(&account_ids)?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    // Statuses are read after the accounts are locked: every post, void or expiry of a pending
    // transfer locks both of its accounts, so what is read now cannot change before commit.
    let pendings: HashMap<TransferId, PendingStatus> = writer
        .load_pendings(&apply::pending_ids_to_load(&transfers))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let clock_last = writer.lock_clock()?;
    let loaded = Loaded {
        accounts,
        transfers,
        pendings,
    };
    let (results, changes) = apply::apply(batch, loaded, now, clock_last);
    if !changes.is_empty() {
        writer.write(&changes)?;
    }
    Ok(results)
}
