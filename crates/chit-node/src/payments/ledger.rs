//! The node's calls into the ledger: opening accounts, one transfer at a time, amounts read
//! against the configured currencies, refusals told in the user's terms, balances.

use std::sync::Arc;

use chit_core::Amount;
use chit_ledger::{AccountKind, Applied, LedgerError, NewAccount, NewTransfer, TransferError};
use chit_proto::api::{Balance, Balances};
use chit_proto::Handle;

use super::ids::{bank_account, user_account};
use super::{ACCOUNT_BANK, ACCOUNT_USER};
use crate::error::NodeError;
use crate::node::Node;

impl Node {
    /// Opens the system accounts for every currency (idempotent; run at start-up).
    pub fn open_system_accounts(&self) -> Result<(), NodeError> {
        let accounts = self
            .currencies
            .iter()
            .map(|c| NewAccount {
                id: bank_account(&c),
                currency: c.code(),
                kind: AccountKind::System,
                code: ACCOUNT_BANK,
                reference: 0,
            })
            .collect();
        self.create_accounts(accounts)
    }

    /// Opens `handle`'s accounts in every currency (idempotent).
    pub(crate) fn open_user_accounts(&self, handle: &Handle) -> Result<(), NodeError> {
        let accounts = self
            .currencies
            .iter()
            .map(|c| NewAccount {
                id: user_account(handle, &c),
                currency: c.code(),
                kind: AccountKind::User,
                code: ACCOUNT_USER,
                reference: 0,
            })
            .collect();
        self.create_accounts(accounts)
    }

    pub(crate) fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<(), NodeError> {
        let results = self
            .ledger
            .create_accounts_blocking(accounts)
            .map_err(ledger_error)?;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::error!(error = %e, "account creation rejected");
            return Err(NodeError::conflict(
                "account_conflict",
                "ledger account exists with other fields",
            ));
        }
        Ok(())
    }

    pub(crate) fn one_transfer(
        &self,
        t: NewTransfer,
    ) -> Result<Result<Applied, TransferError>, NodeError> {
        let mut results = self
            .ledger
            .create_transfers_blocking(vec![t])
            .map_err(ledger_error)?;
        Ok(results.pop().expect("one result per transfer"))
    }

    /// [`Node::one_transfer`] awaited: the ledger's group commit without holding a thread.
    pub(crate) async fn one_transfer_async(
        &self,
        t: NewTransfer,
    ) -> Result<Result<Applied, TransferError>, NodeError> {
        let mut results = self
            .ledger
            .create_transfers(vec![t])
            .await
            .map_err(ledger_error)?;
        Ok(results.pop().expect("one result per transfer"))
    }

    /// An amount from a command: only its one written form ([`Amount::parse_canonical`]).
    pub(crate) fn parse_wire_amount(&self, text: &str) -> Result<Amount, NodeError> {
        Amount::parse_canonical(text, &self.currencies)
            .map_err(|e| NodeError::bad_request("bad_amount", &e.to_string()))
    }

    /// An amount text an older node stored: what the wallet signed, in any form, which only the
    /// node's currencies can read.
    fn parse_stored_amount(&self, text: &str) -> Result<Amount, NodeError> {
        Amount::parse_positive(text, &self.currencies)
            .map_err(|e| NodeError::bad_request("bad_amount", &e.to_string()))
    }

    /// A payment's amount: from its columns, else (a row an older node wrote and the node could
    /// not fill in when it opened) from its text.
    pub(crate) fn payment_amount(
        &self,
        payment: &crate::store::Payment,
    ) -> Result<Amount, NodeError> {
        match payment.amount {
            Some(amount) => Ok(amount),
            None => self.parse_stored_amount(&payment.part.amount),
        }
    }

    /// Fills in the amount columns of payments an older node wrote, reading their text with the
    /// node's currencies (run when the node opens; a row no configured currency can read is
    /// left as it is and said so in the log).
    pub(crate) fn fill_missing_amounts(&self) -> Result<(), NodeError> {
        const PAGE: usize = 1_000;
        let mut after = String::new();
        loop {
            let page = self
                .db
                .read(|c| crate::store::amounts_missing(c, &after, PAGE))?;
            let mut read = Vec::with_capacity(page.len());
            for (id, text) in &page {
                match self.parse_stored_amount(text) {
                    Ok(amount) => read.push((id, amount)),
                    Err(_) => tracing::warn!(payment = %id, amount = %text,
                        "a stored amount no configured currency reads; left as text"),
                }
            }
            // One transaction (one commit) per page, not per row.
            self.write(|c| {
                read.iter()
                    .try_for_each(|(id, amount)| crate::store::set_amount(c, id, amount))
            })?;
            match page.last() {
                Some((id, _)) if page.len() == PAGE => after = id.to_string(),
                _ => return Ok(()),
            }
        }
    }

    /// What `payer` hears when the ledger refused to move `amount` from their account: for
    /// insufficient funds, how much is available.
    pub(crate) fn refused_transfer(
        &self,
        e: TransferError,
        payer: &Handle,
        amount: &Amount,
    ) -> NodeError {
        if e != TransferError::InsufficientFunds {
            return transfer_error(e);
        }
        let currency = amount.currency();
        let available = self
            .ledger
            .account(user_account(payer, &currency))
            .ok()
            .flatten()
            .and_then(|account| u64::try_from(account.available()).ok())
            .and_then(|minor| Amount::from_minor(currency, minor).ok())
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        NodeError::refused(
            "insufficient_funds",
            &format!("insufficient funds: {available} available, {amount} needed"),
        )
    }

    pub async fn balances(self: &Arc<Self>, handle: Handle) -> Result<Balances, NodeError> {
        self.run_blocking(move |node| node.balances_blocking(&handle))
            .await
    }

    /// The blocking body of [`Node::balances`].
    pub(crate) fn balances_blocking(&self, handle: &Handle) -> Result<Balances, NodeError> {
        let mut balances = Vec::new();
        for currency in self.currencies.iter() {
            let account = self
                .ledger
                .account(user_account(handle, &currency))
                .map_err(ledger_error)?;
            let (balance, available) = account.map_or((0, 0), |a| (a.balance(), a.available()));
            let show = |minor: i128| {
                let minor = u64::try_from(minor).expect("user accounts never go below zero");
                Amount::from_minor(currency, minor)
                    .expect("balances fit")
                    .to_string()
            };
            balances.push(Balance {
                currency: currency.code().to_string(),
                balance: show(balance),
                available: show(available),
            });
        }
        Ok(Balances { balances })
    }
}

pub(crate) fn ledger_error(e: LedgerError) -> NodeError {
    match e {
        LedgerError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "ledger call failed");
            NodeError::unavailable("the ledger is unavailable")
        }
    }
}

/// Maps a rejected transfer to what the person asking should hear (insufficient funds are
/// told with the amounts: see [`Node::refused_transfer`]).
pub(crate) fn transfer_error(e: TransferError) -> NodeError {
    match e {
        TransferError::InsufficientFunds => {
            NodeError::refused("insufficient_funds", "insufficient funds")
        }
        TransferError::PendingTransferAlreadyPosted => {
            NodeError::conflict("already_settled", "this payment is already settled")
        }
        TransferError::PendingTransferAlreadyVoided => NodeError::conflict(
            "already_closed",
            "this payment was already declined or cancelled",
        ),
        TransferError::PendingTransferExpired => NodeError::expired("this payment has expired"),
        TransferError::ExistsWithDifferent(_) => {
            NodeError::conflict("id_conflict", "this id was used for a different command")
        }
        other => NodeError::refused(&other.code(), &other.to_string()),
    }
}
