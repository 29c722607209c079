//! Refunds: the payee of a settled payment (an accepted offer, a paid request) gives it back in
//! full. The money moves under an id derived from the payment and the update's id is derived
//! too, so a payment is refunded at most once, from however many devices or nodes; the same
//! signed refund retried answers what it answered first.

use chit_ledger::{NewTransfer, TransferAction};
use chit_proto::api::{Envelope, SignedCommand};
use chit_proto::{MessageId, Outcome, PaymentState};

use crate::error::NodeError;
use crate::node::Node;
use crate::payments::outcomes::Transition;
use crate::payments::{user_account, CODE_REFUND};
use crate::store;

impl Node {
    /// Refunds a checked payment (the actor is its payee).
    pub(crate) fn refund(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        let id = &payment.part.payment;
        let update = id.step_message("refunded");
        match payment.part.state.as_str() {
            "accepted" | "paid" => {}
            "refunded" => return self.refund_retry(&update, signed),
            state => {
                return Err(NodeError::conflict(
                    "not_settled",
                    &format!("only a settled payment can be refunded; this one is {state}"),
                ))
            }
        }
        let amount = self.payment_amount(payment)?;
        let refund = id.step("refund");
        let t = NewTransfer {
            id: refund,
            action: TransferAction::Immediate {
                debit_account_id: user_account(&payment.part.payee, &amount.currency()),
                credit_account_id: user_account(&payment.part.payer, &amount.currency()),
                amount: amount.minor(),
                currency: amount.currency().code(),
            },
            code: CODE_REFUND,
            reference: id.transfer().as_u128(),
            linked: false,
        };
        self.one_transfer(t)?
            .map_err(|e| self.refused_transfer(e, &payment.part.payee, &amount))?;
        let transition = Transition::settled(
            Outcome::Refunded,
            vec![PaymentState::Accepted, PaymentState::Paid],
            vec![refund.to_string()],
        );
        let command = &signed.command;
        match self.record_outcome(payment, &transition, &update, &command.actor, Some(signed)) {
            // Another device's refund got there first with its own command.
            Err(e) if e.code() == "id_conflict" => Err(already_refunded()),
            other => other,
        }
    }

    /// A refund of a payment already refunded: the same command gets its first answer, any
    /// other is told it was refunded.
    fn refund_retry(
        &self,
        update: &MessageId,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        self.first_answer(&[*update], &signed.command)?
            .ok_or_else(already_refunded)
    }
}

fn already_refunded() -> NodeError {
    NodeError::conflict("already_refunded", "this payment was already refunded")
}
