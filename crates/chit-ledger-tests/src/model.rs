//! A tiny in-memory ledger written independently of `chit_ledger::apply`, as plainly as possible:
//! the property tests run the same operations against it and the real ledger and demand the same
//! answers. Linked chains are handled by cloning the whole model, not by an undo log.

use std::collections::HashMap;

use chit_core::{AccountId, CurrencyCode, Timestamp, TransferId, MINOR_MAX};
use chit_ledger::{
    AccountKind, Field, NewAccount, NewTransfer, PendingState, TransferAction, TransferError,
};

/// An outcome with timestamps stripped (the model does not assign them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Exists,
    Error(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelAccount {
    pub currency: CurrencyCode,
    pub kind: AccountKind,
    pub code: u16,
    pub reference: u128,
    /// debits_pending, debits_posted, credits_pending, credits_posted
    pub totals: [u64; 4],
}

#[derive(Clone, Debug)]
struct ModelTransfer {
    request: NewTransfer,
    debit: AccountId,
    credit: AccountId,
    amount: u64,
    state: Option<PendingState>,
    expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub accounts: HashMap<AccountId, ModelAccount>,
    transfers: HashMap<TransferId, ModelTransfer>,
}

const DP: usize = 0;
const DPO: usize = 1;
const CP: usize = 2;
const CPO: usize = 3;

impl Model {
    pub fn create_account(&mut self, a: &NewAccount) -> Outcome {
        if let Some(e) = self.accounts.get(&a.id) {
            let field = if e.currency != a.currency {
                Some(Field::Currency)
            } else if e.kind != a.kind {
                Some(Field::AccountKind)
            } else if e.code != a.code {
                Some(Field::Code)
            } else if e.reference != a.reference {
                Some(Field::Reference)
            } else {
                None
            };
            return match field {
                Some(f) => Outcome::Error(format!("exists_with_different_{}", f.as_str())),
                None => Outcome::Exists,
            };
        }
        self.accounts.insert(
            a.id,
            ModelAccount {
                currency: a.currency,
                kind: a.kind,
                code: a.code,
                reference: a.reference,
                totals: [0; 4],
            },
        );
        Outcome::Created
    }

    /// Expires every pending transfer that is due at `now`.
    pub fn expire_due(&mut self, now: Timestamp) -> usize {
        let due: Vec<TransferId> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.state == Some(PendingState::Pending))
            .filter(|(_, t)| t.expires_at.is_some_and(|e| e <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.release(*id, PendingState::Expired, 0);
        }
        due.len()
    }

    /// Applies one request at time `now`, chain by chain.
    pub fn create_transfers(&mut self, request: &[NewTransfer], now: Timestamp) -> Vec<Outcome> {
        // Pending transfers this request references expire first if they are due.
        for t in request {
            if let TransferAction::PostPending { pending_id, .. }
            | TransferAction::VoidPending { pending_id } = t.action
            {
                let due = self.transfers.get(&pending_id).is_some_and(|p| {
                    p.state == Some(PendingState::Pending) && p.expires_at.is_some_and(|e| e <= now)
                });
                if due {
                    self.release(pending_id, PendingState::Expired, 0);
                }
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < request.len() {
            let mut end = i;
            while end < request.len() && request[end].linked {
                end += 1;
            }
            let chain_open = end == request.len();
            let end = end.min(request.len() - 1);
            let chain = &request[i..=end];
            let saved = self.clone();
            let mut results = Vec::new();
            let mut failed = None;
            for (k, t) in chain.iter().enumerate() {
                let r = if chain_open && k == chain.len() - 1 {
                    Err(TransferError::LinkedEventChainOpen)
                } else {
                    self.transfer(t, now)
                };
                match r {
                    Ok(o) => results.push(o),
                    Err(e) => {
                        failed = Some((k, e));
                        break;
                    }
                }
            }
            match failed {
                None => out.extend(results),
                Some((k, e)) => {
                    *self = saved;
                    for j in 0..chain.len() {
                        let err = if j == k {
                            e
                        } else {
                            TransferError::LinkedEventFailed
                        };
                        out.push(Outcome::Error(err.code()));
                    }
                }
            }
            i = end + 1;
        }
        out
    }

    fn transfer(&mut self, t: &NewTransfer, now: Timestamp) -> Result<Outcome, TransferError> {
        if let Some(e) = self.transfers.get(&t.id) {
            return same(&e.request, t, e.amount);
        }
        match t.action {
            TransferAction::Immediate {
                debit_account_id: d,
                credit_account_id: c,
                amount,
                currency,
            } => {
                self.check(d, c, amount, currency)?;
                self.bump(d, DPO, amount, TransferError::OverflowsDebits)?;
                self.bump(c, CPO, amount, TransferError::OverflowsCredits)?;
                self.funds(d, amount)?;
                self.apply_add(d, DPO, amount);
                self.apply_add(c, CPO, amount);
                self.record(t, d, c, amount, None, None);
            }
            TransferAction::Pending {
                debit_account_id: d,
                credit_account_id: c,
                amount,
                currency,
                expires_at,
            } => {
                self.check(d, c, amount, currency)?;
                if expires_at.is_some_and(|e| e <= now) {
                    return Err(TransferError::ExpiresAtMustBeInFuture);
                }
                self.bump(d, DP, amount, TransferError::OverflowsDebits)?;
                self.bump(c, CP, amount, TransferError::OverflowsCredits)?;
                self.funds(d, amount)?;
                self.apply_add(d, DP, amount);
                self.apply_add(c, CP, amount);
                self.record(t, d, c, amount, Some(PendingState::Pending), expires_at);
            }
            TransferAction::PostPending { pending_id, amount } => {
                if amount == 0 {
                    return Err(TransferError::AmountMustNotBeZero);
                }
                let p = self.open_pending(pending_id)?;
                if amount > p.amount {
                    return Err(TransferError::ExceedsPendingTransferAmount);
                }
                self.release(pending_id, PendingState::Posted, amount);
                self.record(t, p.debit, p.credit, amount, None, None);
            }
            TransferAction::VoidPending { pending_id } => {
                let p = self.open_pending(pending_id)?;
                self.release(pending_id, PendingState::Voided, 0);
                self.record(t, p.debit, p.credit, p.amount, None, None);
            }
        }
        Ok(Outcome::Created)
    }

    fn open_pending(&self, id: TransferId) -> Result<ModelTransfer, TransferError> {
        let p = self
            .transfers
            .get(&id)
            .ok_or(TransferError::PendingTransferNotFound)?;
        match p.state {
            None => Err(TransferError::PendingTransferNotPending),
            Some(PendingState::Posted) => Err(TransferError::PendingTransferAlreadyPosted),
            Some(PendingState::Voided) => Err(TransferError::PendingTransferAlreadyVoided),
            Some(PendingState::Expired) => Err(TransferError::PendingTransferExpired),
            Some(PendingState::Pending) => Ok(p.clone()),
        }
    }

    /// Removes a hold; posts `posted` of it when the new state is `Posted`.
    fn release(&mut self, id: TransferId, state: PendingState, posted: u64) {
        let p = self.transfers.get_mut(&id).expect("pending exists");
        p.state = Some(state);
        let (d, c, held) = (p.debit, p.credit, p.amount);
        let da = &mut self.accounts.get_mut(&d).expect("debit exists").totals;
        da[DP] -= held;
        da[DPO] += posted;
        let ca = &mut self.accounts.get_mut(&c).expect("credit exists").totals;
        ca[CP] -= held;
        ca[CPO] += posted;
    }

    fn check(
        &self,
        d: AccountId,
        c: AccountId,
        amount: u64,
        currency: CurrencyCode,
    ) -> Result<(), TransferError> {
        if amount == 0 {
            return Err(TransferError::AmountMustNotBeZero);
        }
        if amount > MINOR_MAX {
            return Err(TransferError::AmountTooLarge);
        }
        if d == c {
            return Err(TransferError::AccountsMustBeDifferent);
        }
        let da = self
            .accounts
            .get(&d)
            .ok_or(TransferError::DebitAccountNotFound)?;
        let ca = self
            .accounts
            .get(&c)
            .ok_or(TransferError::CreditAccountNotFound)?;
        if da.currency != currency || ca.currency != currency {
            return Err(TransferError::CurrencyMismatch);
        }
        Ok(())
    }

    /// Fails if adding `amount` to a total (or to pending + posted) would pass the maximum.
    fn bump(
        &self,
        id: AccountId,
        i: usize,
        amount: u64,
        e: TransferError,
    ) -> Result<(), TransferError> {
        let t = self.accounts[&id].totals;
        let pair = if i == DP || i == DPO {
            t[DP] + t[DPO]
        } else {
            t[CP] + t[CPO]
        };
        let single = t[i];
        let limit = u128::from(MINOR_MAX);
        let pending_kind = i == DP || i == CP;
        if u128::from(single) + u128::from(amount) > limit
            || (pending_kind && u128::from(pair) + u128::from(amount) > limit)
        {
            return Err(e);
        }
        Ok(())
    }

    fn funds(&self, d: AccountId, amount: u64) -> Result<(), TransferError> {
        let a = &self.accounts[&d];
        let spent = u128::from(a.totals[DP]) + u128::from(a.totals[DPO]) + u128::from(amount);
        if a.kind == AccountKind::User && spent > u128::from(a.totals[CPO]) {
            return Err(TransferError::InsufficientFunds);
        }
        Ok(())
    }

    fn apply_add(&mut self, id: AccountId, i: usize, amount: u64) {
        self.accounts.get_mut(&id).expect("exists").totals[i] += amount;
    }

    fn record(
        &mut self,
        t: &NewTransfer,
        debit: AccountId,
        credit: AccountId,
        amount: u64,
        state: Option<PendingState>,
        expires_at: Option<Timestamp>,
    ) {
        self.transfers.insert(
            t.id,
            ModelTransfer {
                request: *t,
                debit,
                credit,
                amount,
                state,
                expires_at,
            },
        );
    }

    /// What a user account may still spend (`None` for unknown or system accounts).
    pub fn available(&self, id: AccountId) -> Option<u64> {
        let a = self
            .accounts
            .get(&id)
            .filter(|a| a.kind == AccountKind::User)?;
        Some(a.totals[CPO] - a.totals[DPO] - a.totals[DP])
    }

    /// The amount a pending transfer holds.
    pub fn pending_amount(&self, id: TransferId) -> Option<u64> {
        self.transfers
            .get(&id)
            .filter(|t| t.state.is_some())
            .map(|t| t.amount)
    }

    /// Where a pending transfer stands, if it is one.
    pub fn pending_state(&self, id: TransferId) -> Option<PendingState> {
        self.transfers.get(&id).and_then(|t| t.state)
    }
}

/// Compares a retry with the original request; `stored_amount` is what a void released.
fn same(
    original: &NewTransfer,
    retry: &NewTransfer,
    stored_amount: u64,
) -> Result<Outcome, TransferError> {
    use TransferAction::*;
    let differ = |f| Err(TransferError::ExistsWithDifferent(f));
    let kind = |a: &TransferAction| std::mem::discriminant(a);
    if kind(&original.action) != kind(&retry.action) {
        return differ(Field::Kind);
    }
    match (original.action, retry.action) {
        (
            Immediate {
                debit_account_id: d1,
                credit_account_id: c1,
                amount: a1,
                currency: k1,
            },
            Immediate {
                debit_account_id: d2,
                credit_account_id: c2,
                amount: a2,
                currency: k2,
            },
        ) => {
            if d1 != d2 {
                return differ(Field::DebitAccountId);
            }
            if c1 != c2 {
                return differ(Field::CreditAccountId);
            }
            if a1 != a2 {
                return differ(Field::Amount);
            }
            if k1 != k2 {
                return differ(Field::Currency);
            }
        }
        (
            Pending {
                debit_account_id: d1,
                credit_account_id: c1,
                amount: a1,
                currency: k1,
                expires_at: e1,
            },
            Pending {
                debit_account_id: d2,
                credit_account_id: c2,
                amount: a2,
                currency: k2,
                expires_at: e2,
            },
        ) => {
            if d1 != d2 {
                return differ(Field::DebitAccountId);
            }
            if c1 != c2 {
                return differ(Field::CreditAccountId);
            }
            if a1 != a2 {
                return differ(Field::Amount);
            }
            if k1 != k2 {
                return differ(Field::Currency);
            }
            if e1 != e2 {
                return differ(Field::ExpiresAt);
            }
        }
        (
            PostPending { pending_id: p1, .. },
            PostPending {
                pending_id: p2,
                amount: a2,
            },
        ) => {
            if p1 != p2 {
                return differ(Field::PendingId);
            }
            if stored_amount != a2 {
                return differ(Field::Amount);
            }
        }
        (VoidPending { pending_id: p1 }, VoidPending { pending_id: p2 }) => {
            if p1 != p2 {
                return differ(Field::PendingId);
            }
        }
        _ => unreachable!("kinds compared above"),
    }
    if original.code != retry.code {
        return differ(Field::Code);
    }
    if original.reference != retry.reference {
        return differ(Field::Reference);
    }
    if original.linked != retry.linked {
        return differ(Field::Linked);
    }
    Ok(Outcome::Exists)
}
