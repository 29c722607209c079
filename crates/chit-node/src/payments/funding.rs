//! Money entering and leaving through rails: a top-up moves money from the rail (the `bank`
//! system account) to the user, a cash-out back; both only to and from an external account the
//! rail verified before it was stored. The transfer's id is the signed command's, so a retry
//! is applied once.

use std::sync::Arc;

use chit_ledger::{NewTransfer, TransferAction};
use chit_proto::api::{Balances, SignedCommand};
use chit_proto::{Action, Handle};

use crate::error::NodeError;
use crate::node::Node;
use crate::payments::{
    bank_account, user_account, CODE_CASH_OUT, CODE_TOP_UP, SANDBOX_TOP_UP_MAX_MINOR,
};
use crate::store;

impl Node {
    /// Moves money in from a rail (only the labelled `sandbox` rail exists so far) or out to it.
    pub async fn top_up_or_cash_out(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<Balances, NodeError> {
        self.run_blocking(move |node| node.top_up_or_cash_out_blocking(&actor, &signed))
            .await
    }

    /// The blocking body of [`Node::top_up_or_cash_out`].
    pub(crate) fn top_up_or_cash_out_blocking(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<Balances, NodeError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let (rail, amount, inward) = match &command.action {
            Action::TopUp { rail, amount } => (rail, amount, true),
            Action::CashOut { rail, amount } => (rail, amount, false),
            _ => {
                return Err(NodeError::bad_request(
                    "unsupported_action",
                    "not a top-up or cash-out",
                ))
            }
        };
        if rail != "sandbox" {
            return Err(NodeError::bad_request(
                "unknown_rail",
                "the only rail is `sandbox` (play money)",
            ));
        }
        // Money comes from, and goes to, a linked account the rail verified.
        if self
            .db
            .read(|c| store::linked_account(c, actor, rail))?
            .is_none()
        {
            return Err(NodeError::conflict(
                "no_linked_account",
                "link an account on this rail first (chit link sandbox <IBAN>)",
            ));
        }
        let amount = self.parse_wire_amount(amount)?;
        if inward && amount.minor() > SANDBOX_TOP_UP_MAX_MINOR {
            return Err(NodeError::bad_request(
                "limit_exceeded",
                "a sandbox top-up is at most 10000.00",
            ));
        }
        let (user, bank) = (
            user_account(actor, &amount.currency()),
            bank_account(&amount.currency()),
        );
        let (debit, credit, code) = if inward {
            (bank, user, CODE_TOP_UP)
        } else {
            (user, bank, CODE_CASH_OUT)
        };
        let t = NewTransfer {
            id: command.id.transfer(),
            action: TransferAction::Immediate {
                debit_account_id: debit,
                credit_account_id: credit,
                amount: amount.minor(),
                currency: amount.currency().code(),
            },
            code,
            reference: 0,
            linked: false,
        };
        self.one_transfer(t)?
            .map_err(|e| self.refused_transfer(e, actor, &amount))?;
        self.balances_blocking(actor)
    }

    /// Links an external account: the rail verifies it first, and only then is it stored.
    pub async fn link(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<chit_proto::api::LinkedAccount, NodeError> {
        self.run_blocking(move |node| node.link_blocking(&actor, &signed))
            .await
    }

    /// The blocking body of [`Node::link`].
    pub(crate) fn link_blocking(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<chit_proto::api::LinkedAccount, NodeError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let Action::Link { rail, reference } = &command.action else {
            return Err(NodeError::bad_request("unsupported_action", "not a link"));
        };
        let verified =
            crate::payments::rails::verify_account(rail, reference).map_err(|e| match e {
                crate::payments::rails::RailError::UnknownRail(_) => {
                    NodeError::bad_request("unknown_rail", &e.to_string())
                }
                crate::payments::rails::RailError::BadIban(_) => {
                    NodeError::bad_request("account_not_verified", &e.to_string())
                }
            })?;
        // The account already linked is kept as it was: a retry (or a second device) linking
        // the same account gets the same answer.
        let linked = self
            .db
            .read(|c| store::linked_account_since(c, actor, rail))?;
        let verified_at_ms = match linked {
            Some((reference, at)) if reference == verified => at,
            _ => {
                let now = self.now_ms();
                self.write(|c| store::link_account(c, actor, rail, &verified, now))?;
                now
            }
        };
        Ok(chit_proto::api::LinkedAccount {
            rail: rail.clone(),
            reference: crate::payments::rails::mask(&verified),
            verified_at_ms,
        })
    }

    /// Whether `handle` has a verified account linked on `rail`.
    pub async fn has_linked_account(
        self: &Arc<Self>,
        handle: Handle,
        rail: String,
    ) -> Result<bool, NodeError> {
        self.run_blocking(move |node| node.has_linked_account_blocking(&handle, &rail))
            .await
    }

    /// The blocking body of [`Node::has_linked_account`].
    pub(crate) fn has_linked_account_blocking(
        &self,
        handle: &Handle,
        rail: &str,
    ) -> Result<bool, NodeError> {
        Ok(self
            .db
            .read(|c| store::linked_account(c, handle, rail))?
            .is_some())
    }
}
