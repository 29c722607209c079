//! A user's statement: every ledger transfer on their account, told as they would read it —
//! a top-up, a payment to or from someone, a refund, a hold and its release. Read straight from
//! the ledger's per-account history (the ledger, not the messages, says where money went) and
//! joined with the payments it belongs to for the other side's handle.

use std::sync::Arc;

use chit_core::{Amount, CurrencyCode, Timestamp, TransferId};
use chit_ledger::{HistoryQuery, Order, Transfer, TransferKind};
use chit_proto::api::{Statement, StatementEntry};
use chit_proto::{Handle, PaymentId};

use crate::error::NodeError;
use crate::node::Node;
use crate::payments::{
    ledger_error, user_account, CODE_CASH_OUT, CODE_OFFER, CODE_REFUND, CODE_TOP_UP,
};
use crate::store;

/// Most entries one statement page returns.
pub const STATEMENT_PAGE_MAX: usize = 500;

impl Node {
    /// Up to `limit` entries of `handle`'s statement in `currency` (the default one if `None`)
    /// after `after` (a cursor from an earlier page), oldest first.
    pub async fn statement(
        self: &Arc<Self>,
        handle: Handle,
        currency: Option<String>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Statement, NodeError> {
        self.run_blocking(move |node| {
            node.statement_blocking(&handle, currency.as_deref(), after, limit)
        })
        .await
    }

    /// The blocking body of [`Node::statement`].
    pub(crate) fn statement_blocking(
        &self,
        handle: &Handle,
        currency: Option<&str>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Statement, NodeError> {
        if limit == 0 || limit > STATEMENT_PAGE_MAX {
            return Err(NodeError::bad_request(
                "bad_limit",
                &format!("limit must be 1 to {STATEMENT_PAGE_MAX}"),
            ));
        }
        let currency = match currency {
            None => self.currencies.default_currency(),
            Some(code) => CurrencyCode::new(code)
                .ok()
                .and_then(|c| self.currencies.find(c))
                .ok_or_else(|| {
                    NodeError::bad_request("bad_currency", "this node does not serve that currency")
                })?,
        };
        let account = user_account(handle, &currency);
        let query = HistoryQuery {
            cursor: after.map(Timestamp::from_nanos),
            limit,
            order: Order::OldestFirst,
        };
        let transfers = self.ledger.history(account, query).map_err(ledger_error)?;
        let mut entries = Vec::with_capacity(transfers.len());
        for t in &transfers {
            let payment = payment_of(t);
            let counterparty = match &payment {
                Some(id) => self.db.read(|c| store::payment(c, id))?.map(|p| {
                    if &p.part.payer == handle {
                        p.part.payee
                    } else {
                        p.part.payer
                    }
                }),
                None => None,
            };
            let amount = Amount::from_minor(currency, t.amount)
                .map_err(|_| NodeError::internal())?
                .to_string();
            let (kind, moves_balance) = kind_of(t);
            let rail = matches!(t.code, CODE_TOP_UP | CODE_CASH_OUT).then(|| "sandbox".to_owned());
            entries.push(StatementEntry {
                cursor: t.timestamp.as_nanos(),
                transfer: t.id.to_string(),
                time_ms: t.timestamp.as_nanos() / 1_000_000,
                kind: kind.into(),
                direction: if t.debit_account_id == account {
                    "out"
                } else {
                    "in"
                }
                .into(),
                amount,
                moves_balance,
                payment,
                counterparty,
                rail,
            });
        }
        Ok(Statement {
            currency: currency.code().to_string(),
            entries,
        })
    }
}

/// How an account holder names a transfer, and whether it changed their balance.
fn kind_of(t: &Transfer) -> (&'static str, bool) {
    match (t.kind, t.code) {
        (TransferKind::Pending, _) => ("hold", false),
        (TransferKind::VoidPending, _) => ("release", false),
        (_, CODE_TOP_UP) => ("top_up", true),
        (_, CODE_CASH_OUT) => ("cash_out", true),
        (_, CODE_REFUND) => ("refund", true),
        _ => ("payment", true),
    }
}

/// The offer or request a transfer belongs to: its reference, for the node's payment codes.
fn payment_of(t: &Transfer) -> Option<PaymentId> {
    // Offer, accept, pay, decline, cancel, expire and refund are numbered together.
    (CODE_OFFER..=CODE_REFUND)
        .contains(&t.code)
        .then(|| TransferId::new(t.reference).ok())
        .flatten()
        .map(PaymentId::from)
}
