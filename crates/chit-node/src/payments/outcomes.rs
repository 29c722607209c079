//! What became of a payment: the node records each transition of an offer or request as a
//! `payment_update` message to both sides, with the payment's new state, the reason when
//! something did not happen, and a node-signed receipt saying the outcome and the ledger
//! transfers behind it. Also the workers that close payments whose time is up and repair a
//! state a crash left behind, from the ledger's word.

use chit_ledger::{NewTransfer, TransferAction, TransferError};
use chit_proto::api::{Envelope, PaymentPart, SignedCommand};
use chit_proto::{
    Handle, MessageId, Outcome, PaymentState, Receipt, ReceiptFacts, SealedBody, Settlement,
};

use crate::error::NodeError;
use crate::node::Node;
use crate::payments::{ledger_error, CODE_OFFER_CANCEL, CODE_OFFER_DECLINE, CODE_OFFER_EXPIRE};
use crate::store::{self, NewMessage};

/// One step of a payment: the state it moves to, the states it may move from, and what the
/// receipt says (none for a step that settles nothing, like scheduling).
pub(crate) struct Transition {
    pub(crate) state: PaymentState,
    pub(crate) from: Vec<PaymentState>,
    pub(crate) receipt: Option<Outcome>,
    /// Why something did not happen, told to both sides.
    pub(crate) reason: Option<String>,
    /// The ledger transfers that carried it out, as the receipt names them.
    pub(crate) transfers: Vec<String>,
}

impl Transition {
    /// A final step with a receipt: `outcome` names the state too.
    pub(crate) fn settled(
        outcome: Outcome,
        from: Vec<PaymentState>,
        transfers: Vec<String>,
    ) -> Self {
        Self {
            state: state_after(outcome),
            from,
            receipt: Some(outcome),
            reason: None,
            transfers,
        }
    }
}

impl Node {
    /// Records a transition caused by a signed command: the update carries that command.
    pub(crate) fn record_signed(
        &self,
        payment: &store::Payment,
        transition: &Transition,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        let command = &signed.command;
        self.record_outcome(
            payment,
            transition,
            &command.id.into(),
            &command.actor,
            Some(signed),
        )
    }

    /// The update, among `updates`, that answered this very `command`: what the command sent
    /// again is answered (the state may have moved on since, the first answer stands).
    pub(crate) fn first_answer(
        &self,
        updates: &[MessageId],
        command: &chit_proto::Command,
    ) -> Result<Option<Envelope>, NodeError> {
        for update in updates {
            if let Some(first) = self.db.read(|c| store::message(c, update))? {
                if first.command.as_ref() == Some(command) {
                    return Ok(Some(first));
                }
            }
        }
        Ok(None)
    }

    /// Writes the payment's new state and posts the update (with its receipt) to both sides.
    /// The update's id makes it idempotent.
    pub(crate) fn record_outcome(
        &self,
        payment: &store::Payment,
        transition: &Transition,
        update_id: &MessageId,
        actor: &Handle,
        signed: Option<&SignedCommand>,
    ) -> Result<Envelope, NodeError> {
        let job = self.outcome_job(payment, transition, update_id, actor, signed);
        let posted = self.write_posting(signed.map(|s| &s.command), job)?;
        Ok(self.finish_outcome(posted, transition))
    }

    /// The write of a transition: the payment's new state and the update message (with a
    /// node-signed receipt when one is due), in one transaction.
    pub(crate) fn outcome_job(
        &self,
        payment: &store::Payment,
        transition: &Transition,
        update_id: &MessageId,
        actor: &Handle,
        signed: Option<&SignedCommand>,
    ) -> crate::posting::PostingJob<impl crate::posting::PostingWrite> {
        let now = self.now_ms();
        let part = PaymentPart {
            state: transition.state,
            reason: transition.reason.clone(),
            ..payment.part.clone()
        };
        let receipt = transition.receipt.map(|outcome| {
            Receipt::issue(
                ReceiptFacts {
                    id: *update_id,
                    payer: payment.part.payer.clone(),
                    payee: payment.part.payee.clone(),
                    amount: payment.part.amount.clone(),
                    time_ms: now,
                    message_id: payment.part.payment,
                    body_digest: payment.body_digest.clone(),
                    settlement: Settlement {
                        kind: payment.part.kind.to_string(),
                        outcome,
                        reason: transition.reason.clone(),
                        transfers: transition.transfers.clone(),
                    },
                },
                &self.key,
            )
        });
        let conversation = crate::messaging::Conversation::of_payment(
            &payment.conversation,
            &payment.part.payer,
            &payment.part.payee,
        );
        let empty = SealedBody::default();
        let (state, from_states) = (transition.state, transition.from.clone());
        let payment_id = payment.part.payment;
        let (update_id, sender, signed_owned) = (*update_id, actor.clone(), signed.cloned());
        crate::posting::PostingJob {
            locks: store::posting_locks(&conversation.members, &update_id),
            run: move |c: &mut dyn crate::db::Conn| {
                for from in &from_states {
                    if store::set_payment_state(c, &payment_id, *from, state)? {
                        break;
                    }
                }
                store::post_message(
                    c,
                    &NewMessage {
                        id: &update_id,
                        conversation: &conversation.id,
                        conversation_kind: conversation.kind,
                        members: &conversation.members,
                        sender: &sender,
                        kind: "payment_update",
                        time_ms: now,
                        body: &empty,
                        command: signed_owned.as_ref().map(|s| &s.command),
                        signature: signed_owned.as_ref().map(|s| &s.signature),
                        signer: signed_owned.as_ref().and_then(|s| s.signer.as_ref()),
                        payment: Some(&part),
                        receipt: receipt.as_ref(),
                    },
                )
            },
        }
    }

    /// Delivers a recorded transition and counts it.
    pub(crate) fn finish_outcome(
        &self,
        posted: store::Posted,
        transition: &Transition,
    ) -> Envelope {
        self.deliver(&posted);
        if posted.created {
            match transition.receipt {
                Some(o) if o.payee_has_the_money() => {
                    crate::metrics::Metrics::inc(&self.metrics.settled)
                }
                Some(Outcome::Failed) | None => {}
                Some(_) => crate::metrics::Metrics::inc(&self.metrics.closed),
            }
        }
        posted.envelope
    }

    /// Closes payments whose time is up and tells both sides. Safe on every node at once: an
    /// offer's void has one id, so the ledger applies it once; update messages are idempotent.
    pub fn expire_due(&self, limit: usize) -> Result<usize, NodeError> {
        let due = self
            .db
            .read(|c| store::due_payments(c, self.now_ms(), limit))?;
        let mut expired = 0;
        for payment in due {
            let id = payment.part.payment;
            let void_id = id.step("expire");
            let mut transfers = Vec::new();
            if payment.part.kind == "offer" {
                transfers.push(id.to_string());
                let t = NewTransfer {
                    id: void_id,
                    action: TransferAction::VoidPending {
                        pending_id: id.transfer(),
                    },
                    code: CODE_OFFER_EXPIRE,
                    reference: id.transfer().as_u128(),
                    linked: false,
                };
                match self.one_transfer(t)? {
                    Ok(_) => transfers.push(void_id.to_string()),
                    // The ledger released the hold itself at its expiry: no transfer of ours.
                    Err(TransferError::PendingTransferExpired) => {}
                    // Resolved already. Normally its own flow recorded that; if a crash came
                    // between the ledger and the record, the ledger's word repairs it now.
                    Err(
                        TransferError::PendingTransferAlreadyPosted
                        | TransferError::PendingTransferAlreadyVoided,
                    ) => {
                        self.reconcile(&payment)?;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(payment = %id, error = %e, "expiry void rejected");
                        continue;
                    }
                }
            }
            let transition = Transition::settled(
                Outcome::Expired,
                vec![PaymentState::Pending, PaymentState::Scheduled],
                transfers,
            );
            let actor = payment.part.payer.clone();
            self.record_outcome(&payment, &transition, &void_id.into(), &actor, None)?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Rebuilds an offer's outcome from the ledger: which transfer resolved its hold, and by its
    /// code, how. Records it (idempotently) if the node's state still says pending.
    pub fn reconcile(&self, payment: &store::Payment) -> Result<(), NodeError> {
        let pending_id = payment.part.payment.transfer();
        let status = self
            .ledger
            .pending_status(pending_id)
            .map_err(ledger_error)?;
        let Some(by) = status.and_then(|s| s.resolved_by) else {
            return Ok(());
        };
        let Some(resolution) = self.ledger.transfer(by).map_err(ledger_error)? else {
            return Ok(());
        };
        let (outcome, actor) = match resolution.code {
            CODE_OFFER_DECLINE => (Outcome::Declined, &payment.part.payee),
            CODE_OFFER_CANCEL => (Outcome::Cancelled, &payment.part.payer),
            CODE_OFFER_EXPIRE => (Outcome::Expired, &payment.part.payer),
            _ => (Outcome::Accepted, &payment.part.payee),
        };
        let transfers = vec![pending_id.to_string(), by.to_string()];
        let transition = Transition::settled(outcome, vec![PaymentState::Pending], transfers);
        tracing::warn!(payment = %payment.part.payment, state = outcome.as_str(), "payment state repaired from the ledger");
        self.record_outcome(payment, &transition, &by.into(), actor, None)?;
        Ok(())
    }
}

/// The state a payment is in once `outcome` has happened to it (a failure leaves it open).
pub(crate) fn state_after(outcome: Outcome) -> PaymentState {
    match outcome {
        Outcome::Accepted => PaymentState::Accepted,
        Outcome::Paid => PaymentState::Paid,
        Outcome::Declined => PaymentState::Declined,
        Outcome::Cancelled => PaymentState::Cancelled,
        Outcome::Expired => PaymentState::Expired,
        Outcome::Rejected => PaymentState::Rejected,
        Outcome::Refunded => PaymentState::Refunded,
        Outcome::Failed => PaymentState::Pending,
    }
}
