//! Deciding on a payment: accept, decline or cancel an offer (pay and reject go to
//! [`super::requests`]), each one ledger transfer on the offer's hold; and what is waiting for
//! a decision.

use std::sync::Arc;

use chit_ledger::{NewTransfer, TransferAction};
use chit_proto::api::{Envelope, SignedCommand};
use chit_proto::{Action, Handle, MessageId, Outcome, PaymentId, PaymentState};

use super::ledger::transfer_error;
use super::{CODE_OFFER_ACCEPT, CODE_OFFER_CANCEL, CODE_OFFER_DECLINE};
use crate::auth::SignatureChecked;
use crate::error::NodeError;
use crate::exec::blocking;
use crate::node::Node;
use crate::payments::outcomes::Transition;
use crate::store;

impl Node {
    /// A payment (offer or request) as the node holds it now.
    pub async fn payment(
        self: &Arc<Self>,
        id: PaymentId,
    ) -> Result<Option<store::Payment>, NodeError> {
        self.run_blocking(move |node| node.payment_blocking(&id))
            .await
    }

    /// The blocking body of [`Node::payment`].
    pub(crate) fn payment_blocking(
        &self,
        id: &PaymentId,
    ) -> Result<Option<store::Payment>, NodeError> {
        Ok(self.db.read(|c| store::payment(c, id))?)
    }

    /// Offers and requests waiting for `handle` to decide, oldest first (at most `limit`).
    pub async fn awaiting_decision(
        self: &Arc<Self>,
        handle: Handle,
        limit: usize,
    ) -> Result<Vec<store::Payment>, NodeError> {
        self.run_blocking(move |node| node.awaiting_decision_blocking(&handle, limit))
            .await
    }

    /// The blocking body of [`Node::awaiting_decision`].
    pub(crate) fn awaiting_decision_blocking(
        &self,
        handle: &Handle,
        limit: usize,
    ) -> Result<Vec<store::Payment>, NodeError> {
        Ok(self
            .db
            .read(|c| store::awaiting_decision(c, handle, limit))?)
    }

    /// A decision on a payment, signed by the actor: accept, decline or cancel an offer; pay
    /// (now or later), reject or cancel a request; refund either once settled. The signature
    /// is checked in a batch, the other checks (which read the payment) on the check lane;
    /// accepting, declining or cancelling an offer, the hot path, then awaits the ledger and the
    /// posting without holding a thread. Other decisions finish on the blocking pool.
    pub async fn act(
        self: Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<Envelope, NodeError> {
        let command = &signed.command;
        let checked = self
            .verify_command_async(&actor, command, &signed.signature, signed.signer.as_ref())
            .await?;
        let signed = Arc::new(signed);
        let s = signed.clone();
        let payment = self
            .check(move |node| node.check_decision(&actor, &s, checked))
            .await?;
        let on_offer = matches!(
            signed.command.action,
            Action::Accept { .. } | Action::Decline { .. } | Action::Cancel { .. }
        ) && payment.part.kind == "offer";
        if !on_offer {
            let node = self.clone();
            return blocking(move || match signed.command.action {
                Action::Refund { .. } => node.refund(&payment, &signed),
                _ => node.decide_request(&payment, &signed),
            })
            .await;
        }
        let (transfer, transition) =
            self.offer_settlement(&payment, &signed.command.action, &signed)?;
        self.one_transfer_async(transfer)
            .await?
            .map_err(transfer_error)?;
        let command = &signed.command;
        let job = self.outcome_job(
            &payment,
            &transition,
            &MessageId::from(command.id),
            &command.actor,
            Some(&signed),
        );
        let posted = self.write_posting_async(Some(command.clone()), job).await?;
        Ok(self.finish_outcome(posted, &transition))
    }

    /// Who may decide what, checked against the stored payment; returns that payment.
    pub(crate) fn check_decision(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
        _: SignatureChecked,
    ) -> Result<store::Payment, NodeError> {
        let command = &signed.command;
        let message = match &command.action {
            Action::Accept { message }
            | Action::Decline { message }
            | Action::Cancel { message }
            | Action::Pay { message, .. }
            | Action::Reject { message }
            | Action::Refund { message } => message,
            _ => {
                return Err(NodeError::bad_request(
                    "unsupported_action",
                    "not a payment decision",
                ))
            }
        };
        crate::auth::check_id_form(message.is_canonical())?;
        // Someone else's payment gets the same answer as none at all: ids are not probed.
        let payment = self
            .db
            .read(|c| store::payment(c, message))?
            .filter(|p| &p.part.payer == actor || &p.part.payee == actor)
            .ok_or_else(|| NodeError::not_found("unknown_payment", "no such payment"))?;
        let p = &payment.part;
        let is_offer = p.kind == "offer";
        let allowed = match &command.action {
            Action::Accept { .. } | Action::Decline { .. } if is_offer => &p.payee == actor,
            Action::Cancel { .. } if is_offer => &p.payer == actor,
            Action::Pay { .. } | Action::Reject { .. } if !is_offer => &p.payer == actor,
            Action::Cancel { .. } | Action::Refund { .. } => &p.payee == actor,
            action => return Err(wrong_kind(action, is_offer)),
        };
        if !allowed {
            return Err(NodeError::forbidden("this payment is not yours to decide"));
        }
        Ok(payment)
    }

    /// The ledger transfer that accepts (posts), declines or cancels (voids) an offer's hold,
    /// its id the decision's, and the transition to record once it is applied.
    pub(crate) fn offer_settlement(
        &self,
        payment: &store::Payment,
        action: &Action,
        signed: &SignedCommand,
    ) -> Result<(NewTransfer, Transition), NodeError> {
        let amount = self.payment_amount(payment)?;
        let pending_id = payment.part.payment.transfer();
        let void = TransferAction::VoidPending { pending_id };
        let (transfer, outcome, code) = match action {
            Action::Accept { .. } => (
                TransferAction::PostPending {
                    pending_id,
                    amount: amount.minor(),
                },
                Outcome::Accepted,
                CODE_OFFER_ACCEPT,
            ),
            Action::Decline { .. } => (void, Outcome::Declined, CODE_OFFER_DECLINE),
            _ => (void, Outcome::Cancelled, CODE_OFFER_CANCEL),
        };
        let id = signed.command.id.transfer();
        let t = NewTransfer {
            id,
            action: transfer,
            code,
            reference: pending_id.as_u128(),
            linked: false,
        };
        let transfers = vec![pending_id.to_string(), id.to_string()];
        Ok((
            t,
            Transition::settled(outcome, vec![PaymentState::Pending], transfers),
        ))
    }
}

/// The answer to a decision that does not apply to this kind of payment, naming the one that
/// does.
pub(crate) fn wrong_kind(action: &Action, is_offer: bool) -> NodeError {
    let hint = match (action, is_offer) {
        (Action::Reject { .. }, true) => "to turn down an offer, decline it (chit decline <id>)",
        (Action::Pay { .. }, true) => "an offer needs no paying: accept it (chit accept <id>)",
        (Action::Decline { .. }, false) => "to turn down a request, reject it (chit reject <id>)",
        (Action::Accept { .. }, false) => "to pay a request, pay it (chit pay <id>)",
        _ => "that does not apply to this payment",
    };
    let kind = if is_offer { "an offer" } else { "a request" };
    NodeError::bad_request("wrong_kind", &format!("this is {kind}: {hint}"))
}
