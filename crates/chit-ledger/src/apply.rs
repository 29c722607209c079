//! The ledger's rules, as one pure function over a batch.
//!
//! A storage engine loads what a batch touches ([`ids_to_load`], [`account_ids_to_lock`]), calls
//! [`apply`], and writes the returned [`Changes`] in the same transaction. Both engines share this
//! code, so they cannot disagree about what a transfer means. No I/O happens here.

use std::collections::{HashMap, HashSet};

use chit_core::{AccountId, Timestamp, TransferId, MINOR_MAX};

use crate::types::{
    Account, AccountResult, Applied, Field, NewAccount, NewTransfer, PendingState, PendingStatus,
    Transfer, TransferAction, TransferError, TransferKind, TransferResult,
};

/// One caller's request inside a group-committed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    CreateAccounts(Vec<NewAccount>),
    CreateTransfers(Vec<NewTransfer>),
    /// Expire these pending transfers if they are still pending and due.
    Expire(Vec<TransferId>),
}

impl Command {
    /// Number of events, for batch-size limits.
    pub fn len(&self) -> usize {
        match self {
            Self::CreateAccounts(v) => v.len(),
            Self::CreateTransfers(v) => v.len(),
            Self::Expire(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer to one [`Command`], one result per event in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandResult {
    Accounts(Vec<AccountResult>),
    Transfers(Vec<TransferResult>),
    /// How many of the listed pending transfers this batch expired.
    Expired(usize),
}

/// The rows a batch reads, loaded by the storage engine inside its write transaction.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub accounts: HashMap<AccountId, Account>,
    pub transfers: HashMap<TransferId, Transfer>,
    pub pendings: HashMap<TransferId, PendingStatus>,
}

/// What a batch writes. Accounts and pendings appear once, with their final values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub accounts_created: Vec<Account>,
    pub accounts_updated: Vec<Account>,
    pub transfers_created: Vec<Transfer>,
    pub pendings_created: Vec<PendingStatus>,
    pub pendings_updated: Vec<PendingStatus>,
    /// The last timestamp handed out; the engine stores it so the next batch goes on from it.
    pub clock: Timestamp,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.accounts_created.is_empty()
            && self.accounts_updated.is_empty()
            && self.transfers_created.is_empty()
            && self.pendings_created.is_empty()
            && self.pendings_updated.is_empty()
    }
}

/// Transfer ids a batch must look up first: its own ids (to recognise retries), the pending
/// transfers it posts or voids, and the ones it expires. Sorted, without duplicates.
pub fn ids_to_load(batch: &[Command]) -> Vec<TransferId> {
    let mut ids = referenced_pendings(batch);
    for command in batch {
        if let Command::CreateTransfers(transfers) = command {
            ids.extend(transfers.iter().map(|t| t.id));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Pending transfers a batch posts, voids or expires. Sorted, without duplicates.
fn referenced_pendings(batch: &[Command]) -> Vec<TransferId> {
    let mut ids = Vec::new();
    for command in batch {
        match command {
            Command::CreateTransfers(transfers) => {
                ids.extend(transfers.iter().filter_map(|t| match t.action {
                    TransferAction::PostPending { pending_id, .. }
                    | TransferAction::VoidPending { pending_id } => Some(pending_id),
                    _ => None,
                }))
            }
            Command::Expire(pending) => ids.extend_from_slice(pending),
            Command::CreateAccounts(_) => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Accounts a batch touches, given the transfers already loaded. Sorted, so that every writer
/// locks rows in the same order and concurrent writers cannot deadlock.
pub fn account_ids_to_lock(
    batch: &[Command],
    transfers: &HashMap<TransferId, Transfer>,
) -> Vec<AccountId> {
    let mut ids = Vec::new();
    let of_pending = |pending_id: &TransferId, ids: &mut Vec<AccountId>| {
        if let Some(p) = transfers.get(pending_id) {
            ids.push(p.debit_account_id);
            ids.push(p.credit_account_id);
        }
    };
    for command in batch {
        match command {
            Command::CreateAccounts(accounts) => ids.extend(accounts.iter().map(|a| a.id)),
            Command::CreateTransfers(new) => {
                for t in new {
                    match &t.action {
                        TransferAction::Immediate {
                            debit_account_id,
                            credit_account_id,
                            ..
                        }
                        | TransferAction::Pending {
                            debit_account_id,
                            credit_account_id,
                            ..
                        } => {
                            ids.push(*debit_account_id);
                            ids.push(*credit_account_id);
                        }
                        TransferAction::PostPending { pending_id, .. }
                        | TransferAction::VoidPending { pending_id } => {
                            of_pending(pending_id, &mut ids)
                        }
                    }
                }
            }
            Command::Expire(pending) => pending.iter().for_each(|p| of_pending(p, &mut ids)),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Pending-transfer ids whose status a batch needs, given the transfers already loaded.
pub fn pending_ids_to_load(transfers: &HashMap<TransferId, Transfer>) -> Vec<TransferId> {
    let mut ids: Vec<TransferId> = transfers
        .values()
        .filter(|t| t.kind == TransferKind::Pending)
        .map(|t| t.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Applies a batch in order. `now` is the wall clock; `clock_last` the last timestamp the ledger
/// handed out. Every created row gets a timestamp strictly greater than the one before it.
pub fn apply(
    batch: &[Command],
    loaded: Loaded,
    now: Timestamp,
    clock_last: Timestamp,
) -> (Vec<CommandResult>, Changes) {
    let mut state = State::new(loaded, now.max(next(clock_last)));
    state.expire_due(batch);
    let results = batch
        .iter()
        .map(|command| match command {
            Command::CreateAccounts(accounts) => {
                CommandResult::Accounts(accounts.iter().map(|a| state.create_account(a)).collect())
            }
            Command::CreateTransfers(transfers) => {
                CommandResult::Transfers(state.create_transfers(transfers))
            }
            // Each expiry is credited to the first command that listed it: two workers whose
            // requests share a batch must not both count the same one.
            Command::Expire(ids) => {
                CommandResult::Expired(ids.iter().filter(|id| state.expired.remove(id)).count())
            }
        })
        .collect();
    (results, state.into_changes(clock_last))
}

fn next(t: Timestamp) -> Timestamp {
    t.checked_add_nanos(1).expect("ledger clock overflow")
}

/// A change to undo when a linked chain fails.
enum Undo {
    Account(AccountId, Option<Account>),
    Pending(TransferId, Option<PendingStatus>),
    Transfer(TransferId),
}

struct State {
    original_accounts: HashMap<AccountId, Account>,
    original_pendings: HashMap<TransferId, PendingStatus>,
    accounts: HashMap<AccountId, Account>,
    transfers: HashMap<TransferId, Transfer>,
    pendings: HashMap<TransferId, PendingStatus>,
    created_accounts: Vec<AccountId>,
    created_transfers: Vec<TransferId>,
    expired: HashSet<TransferId>,
    /// The time decisions about expiry are made at: the batch's first timestamp.
    batch_time: Timestamp,
    /// The next timestamp to hand out.
    clock: Timestamp,
    undo: Vec<Undo>,
}

impl State {
    fn new(loaded: Loaded, first: Timestamp) -> Self {
        Self {
            original_accounts: loaded.accounts.clone(),
            original_pendings: loaded.pendings.clone(),
            accounts: loaded.accounts,
            transfers: loaded.transfers,
            pendings: loaded.pendings,
            created_accounts: Vec::new(),
            created_transfers: Vec::new(),
            expired: HashSet::new(),
            batch_time: first,
            clock: first,
            undo: Vec::new(),
        }
    }

    fn tick(&mut self) -> Timestamp {
        let t = self.clock;
        self.clock = next(t);
        t
    }

    /// Expires every pending transfer the batch references (to post, void or expire) that is due,
    /// before any event runs: a post after the deadline fails, and the money goes back exactly once.
    fn expire_due(&mut self, batch: &[Command]) {
        for id in referenced_pendings(batch) {
            let Some(status) = self.pendings.get(&id).copied() else {
                continue;
            };
            let due = status.expires_at.is_some_and(|e| e <= self.batch_time);
            if status.state != PendingState::Pending || !due {
                continue;
            }
            let pending = self.transfers[&id];
            self.release_pending(&pending);
            let at = self.tick();
            self.pendings.insert(
                id,
                PendingStatus {
                    state: PendingState::Expired,
                    resolved_at: Some(at),
                    ..status
                },
            );
            self.expired.insert(id);
        }
        self.undo.clear();
    }

    fn create_account(&mut self, new: &NewAccount) -> AccountResult {
        if let Some(existing) = self.accounts.get(&new.id) {
            let differs = [
                (existing.currency != new.currency, Field::Currency),
                (existing.kind != new.kind, Field::AccountKind),
                (existing.code != new.code, Field::Code),
                (existing.reference != new.reference, Field::Reference),
            ];
            if let Some((_, field)) = differs.iter().find(|(d, _)| *d) {
                return Err(crate::types::AccountError::ExistsWithDifferent(*field));
            }
            return Ok(Applied::Exists {
                timestamp: existing.timestamp,
            });
        }
        let timestamp = self.tick();
        let account = Account {
            id: new.id,
            currency: new.currency,
            kind: new.kind,
            code: new.code,
            reference: new.reference,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            timestamp,
        };
        self.accounts.insert(new.id, account);
        self.created_accounts.push(new.id);
        Ok(Applied::Created { timestamp })
    }

    /// Applies one request's transfers, honouring linked chains.
    fn create_transfers(&mut self, transfers: &[NewTransfer]) -> Vec<TransferResult> {
        let mut results = Vec::with_capacity(transfers.len());
        let mut chain_start = 0;
        while chain_start < transfers.len() {
            let chain_end = transfers[chain_start..]
                .iter()
                .position(|t| !t.linked)
                .map_or(transfers.len(), |p| chain_start + p + 1);
            let chain = &transfers[chain_start..chain_end];
            results.extend(self.apply_chain(chain, chain_end == transfers.len()));
            chain_start = chain_end;
        }
        results
    }

    /// Applies one chain (a single unlinked transfer is a chain of one) all or nothing.
    fn apply_chain(&mut self, chain: &[NewTransfer], ends_request: bool) -> Vec<TransferResult> {
        let open = ends_request && chain.last().is_some_and(|t| t.linked);
        self.undo.clear();
        let mut results = Vec::with_capacity(chain.len());
        let mut failed = None;
        for (i, t) in chain.iter().enumerate() {
            let result = if open && i + 1 == chain.len() {
                Err(TransferError::LinkedEventChainOpen)
            } else {
                self.create_transfer(t)
            };
            if result.is_err() {
                failed = Some((i, result));
                break;
            }
            results.push(result);
        }
        let Some((failed_at, failure)) = failed else {
            self.undo.clear();
            return results;
        };
        self.rollback();
        if chain.len() == 1 {
            return vec![failure];
        }
        (0..chain.len())
            .map(|i| {
                if i == failed_at {
                    failure
                } else {
                    Err(TransferError::LinkedEventFailed)
                }
            })
            .collect()
    }

    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Account(id, Some(a)) => {
                    self.accounts.insert(id, a);
                }
                Undo::Account(id, None) => {
                    self.accounts.remove(&id);
                }
                Undo::Pending(id, Some(p)) => {
                    self.pendings.insert(id, p);
                }
                Undo::Pending(id, None) => {
                    self.pendings.remove(&id);
                }
                Undo::Transfer(id) => {
                    self.transfers.remove(&id);
                    let last = self.created_transfers.pop();
                    debug_assert_eq!(last, Some(id));
                }
            }
        }
    }

    fn create_transfer(&mut self, t: &NewTransfer) -> TransferResult {
        if let Some(existing) = self.transfers.get(&t.id) {
            return compare_existing(existing, t);
        }
        match t.action {
            TransferAction::Immediate {
                debit_account_id,
                credit_account_id,
                amount,
                currency,
            } => {
                let (debit, credit) =
                    self.check_accounts(debit_account_id, credit_account_id, amount, currency)?;
                let debits_posted =
                    add(debit.debits_posted, amount, TransferError::OverflowsDebits)?;
                let credits_posted = add(
                    credit.credits_posted,
                    amount,
                    TransferError::OverflowsCredits,
                )?;
                check_funds(&debit, amount)?;
                let timestamp = self.tick();
                self.put_account(Account {
                    debits_posted,
                    ..debit
                });
                self.put_account(Account {
                    credits_posted,
                    ..credit
                });
                self.put_transfer(Transfer {
                    id: t.id,
                    debit_account_id,
                    credit_account_id,
                    amount,
                    currency,
                    kind: TransferKind::Immediate,
                    pending_id: None,
                    expires_at: None,
                    code: t.code,
                    reference: t.reference,
                    linked: t.linked,
                    timestamp,
                });
                Ok(Applied::Created { timestamp })
            }
            TransferAction::Pending {
                debit_account_id,
                credit_account_id,
                amount,
                currency,
                expires_at,
            } => {
                let (debit, credit) =
                    self.check_accounts(debit_account_id, credit_account_id, amount, currency)?;
                if expires_at.is_some_and(|e| e <= self.clock) {
                    return Err(TransferError::ExpiresAtMustBeInFuture);
                }
                let debits_pending =
                    add(debit.debits_pending, amount, TransferError::OverflowsDebits)?;
                add(
                    debits_pending,
                    debit.debits_posted,
                    TransferError::OverflowsDebits,
                )?;
                let credits_pending = add(
                    credit.credits_pending,
                    amount,
                    TransferError::OverflowsCredits,
                )?;
                add(
                    credits_pending,
                    credit.credits_posted,
                    TransferError::OverflowsCredits,
                )?;
                check_funds(&debit, amount)?;
                let timestamp = self.tick();
                self.put_account(Account {
                    debits_pending,
                    ..debit
                });
                self.put_account(Account {
                    credits_pending,
                    ..credit
                });
                self.put_transfer(Transfer {
                    id: t.id,
                    debit_account_id,
                    credit_account_id,
                    amount,
                    currency,
                    kind: TransferKind::Pending,
                    pending_id: None,
                    expires_at,
                    code: t.code,
                    reference: t.reference,
                    linked: t.linked,
                    timestamp,
                });
                self.put_pending(PendingStatus {
                    id: t.id,
                    state: PendingState::Pending,
                    expires_at,
                    resolved_by: None,
                    resolved_at: None,
                });
                Ok(Applied::Created { timestamp })
            }
            TransferAction::PostPending { pending_id, amount } => {
                if amount == 0 {
                    return Err(TransferError::AmountMustNotBeZero);
                }
                self.resolve(t, pending_id, Some(amount))
            }
            TransferAction::VoidPending { pending_id } => self.resolve(t, pending_id, None),
        }
    }

    /// Posts (`post_amount` given) or voids a pending transfer.
    fn resolve(
        &mut self,
        t: &NewTransfer,
        pending_id: TransferId,
        post_amount: Option<u64>,
    ) -> TransferResult {
        let pending = *self
            .transfers
            .get(&pending_id)
            .ok_or(TransferError::PendingTransferNotFound)?;
        if pending.kind != TransferKind::Pending {
            return Err(TransferError::PendingTransferNotPending);
        }
        let status = self.pendings[&pending_id];
        match status.state {
            PendingState::Pending => {}
            PendingState::Posted => return Err(TransferError::PendingTransferAlreadyPosted),
            PendingState::Voided => return Err(TransferError::PendingTransferAlreadyVoided),
            PendingState::Expired => return Err(TransferError::PendingTransferExpired),
        }
        let posted = post_amount.unwrap_or(0);
        if posted > pending.amount {
            return Err(TransferError::ExceedsPendingTransferAmount);
        }
        let debit = self.accounts[&pending.debit_account_id];
        let credit = self.accounts[&pending.credit_account_id];
        let debits_posted = add(debit.debits_posted, posted, TransferError::OverflowsDebits)?;
        let credits_posted = add(
            credit.credits_posted,
            posted,
            TransferError::OverflowsCredits,
        )?;
        let timestamp = self.tick();
        self.release_pending(&pending);
        let debit = self.accounts[&pending.debit_account_id];
        let credit = self.accounts[&pending.credit_account_id];
        self.put_account(Account {
            debits_posted,
            ..debit
        });
        self.put_account(Account {
            credits_posted,
            ..credit
        });
        let (kind, state, amount) = match post_amount {
            Some(a) => (TransferKind::PostPending, PendingState::Posted, a),
            None => (
                TransferKind::VoidPending,
                PendingState::Voided,
                pending.amount,
            ),
        };
        self.put_transfer(Transfer {
            id: t.id,
            debit_account_id: pending.debit_account_id,
            credit_account_id: pending.credit_account_id,
            amount,
            currency: pending.currency,
            kind,
            pending_id: Some(pending_id),
            expires_at: None,
            code: t.code,
            reference: t.reference,
            linked: t.linked,
            timestamp,
        });
        self.put_pending(PendingStatus {
            state,
            resolved_by: Some(t.id),
            resolved_at: Some(timestamp),
            ..status
        });
        Ok(Applied::Created { timestamp })
    }

    /// Removes a pending transfer's hold from both accounts.
    fn release_pending(&mut self, pending: &Transfer) {
        let debit = self.accounts[&pending.debit_account_id];
        let credit = self.accounts[&pending.credit_account_id];
        let debits_pending = debit.debits_pending.checked_sub(pending.amount);
        let credits_pending = credit.credits_pending.checked_sub(pending.amount);
        // A hold was added when the pending transfer was created, so it must still be there.
        let (Some(debits_pending), Some(credits_pending)) = (debits_pending, credits_pending)
        else {
            panic!("ledger invariant broken: pending {} not held", pending.id);
        };
        self.put_account(Account {
            debits_pending,
            ..debit
        });
        let credit = self.accounts[&pending.credit_account_id];
        self.put_account(Account {
            credits_pending,
            ..credit
        });
    }

    fn check_accounts(
        &self,
        debit_id: AccountId,
        credit_id: AccountId,
        amount: u64,
        currency: chit_core::CurrencyCode,
    ) -> Result<(Account, Account), TransferError> {
        if amount == 0 {
            return Err(TransferError::AmountMustNotBeZero);
        }
        if amount > MINOR_MAX {
            return Err(TransferError::AmountTooLarge);
        }
        if debit_id == credit_id {
            return Err(TransferError::AccountsMustBeDifferent);
        }
        let debit = *self
            .accounts
            .get(&debit_id)
            .ok_or(TransferError::DebitAccountNotFound)?;
        let credit = *self
            .accounts
            .get(&credit_id)
            .ok_or(TransferError::CreditAccountNotFound)?;
        if debit.currency != currency || credit.currency != currency {
            return Err(TransferError::CurrencyMismatch);
        }
        Ok((debit, credit))
    }

    fn put_account(&mut self, account: Account) {
        let old = self.accounts.insert(account.id, account);
        self.undo.push(Undo::Account(account.id, old));
    }

    fn put_pending(&mut self, status: PendingStatus) {
        let old = self.pendings.insert(status.id, status);
        self.undo.push(Undo::Pending(status.id, old));
    }

    fn put_transfer(&mut self, transfer: Transfer) {
        self.transfers.insert(transfer.id, transfer);
        self.created_transfers.push(transfer.id);
        self.undo.push(Undo::Transfer(transfer.id));
    }

    fn into_changes(self, clock_last: Timestamp) -> Changes {
        let created_accounts: HashSet<AccountId> = self.created_accounts.iter().copied().collect();
        let mut accounts_updated: Vec<Account> = self
            .accounts
            .values()
            .filter(|a| !created_accounts.contains(&a.id))
            .filter(|a| self.original_accounts.get(&a.id) != Some(*a))
            .copied()
            .collect();
        accounts_updated.sort_unstable_by_key(|a| a.id);
        let created_pendings: HashSet<TransferId> = self
            .created_transfers
            .iter()
            .filter(|id| self.transfers[id].kind == TransferKind::Pending)
            .copied()
            .collect();
        let mut pendings_updated: Vec<PendingStatus> = self
            .pendings
            .values()
            .filter(|p| !created_pendings.contains(&p.id))
            .filter(|p| self.original_pendings.get(&p.id) != Some(*p))
            .copied()
            .collect();
        pendings_updated.sort_unstable_by_key(|p| p.id);
        let changes = Changes {
            accounts_created: self
                .created_accounts
                .iter()
                .map(|id| self.accounts[id])
                .collect(),
            accounts_updated,
            transfers_created: self
                .created_transfers
                .iter()
                .map(|id| self.transfers[id])
                .collect(),
            pendings_created: self
                .created_transfers
                .iter()
                .filter(|id| created_pendings.contains(id))
                .map(|id| self.pendings[id])
                .collect(),
            pendings_updated,
            clock: if self.clock == self.batch_time {
                clock_last
            } else {
                Timestamp::from_nanos(self.clock.as_nanos() - 1)
            },
        };
        assert_balanced(&self.original_accounts, &changes);
        changes
    }
}

/// Asserts that a batch moves debits and credits by the same amounts in every currency, posted
/// and pending alike. If this fails, a bug in `apply` is caught before it reaches the database.
fn assert_balanced(original: &HashMap<AccountId, Account>, changes: &Changes) {
    let mut delta: HashMap<chit_core::CurrencyCode, [i128; 4]> = HashMap::new();
    for account in changes
        .accounts_created
        .iter()
        .chain(&changes.accounts_updated)
    {
        let before = original.get(&account.id);
        let field = |a: &Account| {
            [
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending,
            ]
            .map(i128::from)
        };
        let now = field(account);
        let then = before.map_or([0; 4], field);
        let d = delta.entry(account.currency).or_default();
        for i in 0..4 {
            d[i] += now[i] - then[i];
        }
    }
    for (currency, [dp, cp, dpe, cpe]) in delta {
        assert_eq!(dp, cp, "batch would unbalance posted totals in {currency}");
        assert_eq!(
            dpe, cpe,
            "batch would unbalance pending totals in {currency}"
        );
    }
}

fn add(a: u64, b: u64, err: TransferError) -> Result<u64, TransferError> {
    a.checked_add(b).filter(|s| *s <= MINOR_MAX).ok_or(err)
}

/// A user account must keep debits (posted and held) within its credits.
fn check_funds(debit: &Account, amount: u64) -> Result<(), TransferError> {
    if debit.kind == crate::types::AccountKind::System {
        return Ok(());
    }
    let spent = u128::from(debit.debits_posted) + u128::from(debit.debits_pending);
    if spent + u128::from(amount) > u128::from(debit.credits_posted) {
        return Err(TransferError::InsufficientFunds);
    }
    Ok(())
}

/// A retry of an existing transfer: `exists` if every field agrees, else the first that differs.
fn compare_existing(existing: &Transfer, t: &NewTransfer) -> TransferResult {
    let mut differs: Vec<(bool, Field)> = Vec::with_capacity(8);
    match t.action {
        TransferAction::Immediate {
            debit_account_id,
            credit_account_id,
            amount,
            currency,
        } => differs.extend([
            (existing.kind != TransferKind::Immediate, Field::Kind),
            (
                existing.debit_account_id != debit_account_id,
                Field::DebitAccountId,
            ),
            (
                existing.credit_account_id != credit_account_id,
                Field::CreditAccountId,
            ),
            (existing.amount != amount, Field::Amount),
            (existing.currency != currency, Field::Currency),
        ]),
        TransferAction::Pending {
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            expires_at,
        } => differs.extend([
            (existing.kind != TransferKind::Pending, Field::Kind),
            (
                existing.debit_account_id != debit_account_id,
                Field::DebitAccountId,
            ),
            (
                existing.credit_account_id != credit_account_id,
                Field::CreditAccountId,
            ),
            (existing.amount != amount, Field::Amount),
            (existing.currency != currency, Field::Currency),
            (existing.expires_at != expires_at, Field::ExpiresAt),
        ]),
        TransferAction::PostPending { pending_id, amount } => differs.extend([
            (existing.kind != TransferKind::PostPending, Field::Kind),
            (existing.pending_id != Some(pending_id), Field::PendingId),
            (existing.amount != amount, Field::Amount),
        ]),
        TransferAction::VoidPending { pending_id } => differs.extend([
            (existing.kind != TransferKind::VoidPending, Field::Kind),
            (existing.pending_id != Some(pending_id), Field::PendingId),
        ]),
    }
    differs.extend([
        (existing.code != t.code, Field::Code),
        (existing.reference != t.reference, Field::Reference),
        (existing.linked != t.linked, Field::Linked),
    ]);
    match differs.iter().find(|(d, _)| *d) {
        Some((_, field)) => Err(TransferError::ExistsWithDifferent(*field)),
        None => Ok(Applied::Exists {
            timestamp: existing.timestamp,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AccountKind;
    use chit_core::CurrencyCode;

    fn account(id: u128, kind: AccountKind) -> Account {
        Account {
            id: AccountId::new(id).unwrap(),
            currency: CurrencyCode::new("EUR").unwrap(),
            kind,
            code: 0,
            reference: 0,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            timestamp: Timestamp::from_nanos(1),
        }
    }

    /// Regression: two expiry requests grouped into one batch both counted the same expiry.
    #[test]
    fn an_expiry_listed_by_two_commands_in_one_batch_is_counted_once() {
        let (bank, user) = (
            account(1, AccountKind::System),
            account(2, AccountKind::User),
        );
        let id = TransferId::new(9).unwrap();
        let hold = Transfer {
            id,
            debit_account_id: bank.id,
            credit_account_id: user.id,
            amount: 5,
            currency: bank.currency,
            kind: TransferKind::Pending,
            pending_id: None,
            expires_at: Some(Timestamp::from_nanos(10)),
            code: 0,
            reference: 0,
            linked: false,
            timestamp: Timestamp::from_nanos(2),
        };
        let loaded = Loaded {
            accounts: [
                (
                    bank.id,
                    Account {
                        debits_pending: 5,
                        ..bank
                    },
                ),
                (
                    user.id,
                    Account {
                        credits_pending: 5,
                        ..user
                    },
                ),
            ]
            .into(),
            transfers: [(id, hold)].into(),
            pendings: [(
                id,
                PendingStatus {
                    id,
                    state: PendingState::Pending,
                    expires_at: hold.expires_at,
                    resolved_by: None,
                    resolved_at: None,
                },
            )]
            .into(),
        };
        let batch = [Command::Expire(vec![id]), Command::Expire(vec![id])];
        let (results, changes) = apply(
            &batch,
            loaded,
            Timestamp::from_nanos(20),
            Timestamp::from_nanos(2),
        );
        assert_eq!(
            results,
            [CommandResult::Expired(1), CommandResult::Expired(0)]
        );
        assert_eq!(changes.pendings_updated.len(), 1);
        assert_eq!(changes.pendings_updated[0].state, PendingState::Expired);
        assert!(changes
            .accounts_updated
            .iter()
            .all(|a| a.debits_pending == 0 && a.credits_pending == 0));
    }
}
