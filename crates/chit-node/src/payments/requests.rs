//! Requests (invoices): nothing is held; the payer chooses Pay now, Pay later or Reject, the
//! payee may cancel, and expiry closes it. One state machine, held by the node:
//!
//! ```text
//! pending ──pay at T──▶ scheduled ──pay at T'──▶ scheduled        (every step a message)
//!    │ ▲                  │   │
//!    │ └─scheduled run────┘   └─T comes──▶ paying ──▶ paid ──refund──▶ refunded
//!    │   failed (reason)                     ▲
//!    └──pay now──────────────────────────────┘  a failed pay now goes back where it was
//! pending | scheduled ──reject / cancel / expiry──▶ rejected | cancelled | expired
//! ```
//!
//! `paying` is the claim that lets only one press of Pay move money: the money moves under an
//! id derived from the request, so even two nodes cannot pay it twice.

use std::sync::Arc;

use chit_ledger::{NewTransfer, TransferAction, TransferError};
use chit_proto::api::{Envelope, PaymentPart, PostRequest, SignedCommand};
use chit_proto::{Handle, MessageId, Outcome, PaymentId, PaymentState};

use crate::error::NodeError;
use crate::node::Node;
use crate::payments::outcomes::Transition;
use crate::payments::{ledger_error, user_account, CODE_REQUEST_PAY};
use crate::store;

/// How far in the past a Pay later time may be and still mean "now" (clocks differ).
const PAY_AT_PAST_SKEW_MS: u64 = 60_000;

impl Node {
    /// Sends an invoice: nothing is held; the payer chooses Pay now, Pay later or Reject.
    pub async fn request(
        self: &Arc<Self>,
        actor: Handle,
        request: PostRequest,
    ) -> Result<Envelope, NodeError> {
        self.run_blocking(move |node| node.request_blocking(&actor, &request))
            .await
    }

    /// The blocking body of [`Node::request`].
    pub(crate) fn request_blocking(
        &self,
        actor: &Handle,
        request: &PostRequest,
    ) -> Result<Envelope, NodeError> {
        let checked = self.verify_post_request(actor, request)?;
        let draft = self.draft(actor, request, checked)?;
        if draft.part.kind != "request" {
            return Err(NodeError::bad_request(
                "unsupported_action",
                "this endpoint takes requests",
            ));
        }
        self.post_payment(actor, request, &draft)
    }

    /// Pay (now or at a time), reject or cancel a request, after its checks.
    pub(crate) fn decide_request(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        use chit_proto::Action;
        let now = self.now_ms();
        match &signed.command.action {
            Action::Pay {
                at_ms: Some(at), ..
            } if *at > now => self.schedule(payment, *at, signed),
            Action::Pay {
                at_ms: Some(at), ..
            } if now - *at > PAY_AT_PAST_SKEW_MS => Err(NodeError::bad_request(
                "time_in_the_past",
                "the time to pay at has passed; to pay now, send the payment without a time",
            )),
            Action::Pay { .. } => self.pay_request(
                payment,
                signed,
                &[PaymentState::Pending, PaymentState::Scheduled],
            ),
            Action::Reject { .. } => self.close_request(payment, Outcome::Rejected, signed),
            _ => self.close_request(payment, Outcome::Cancelled, signed),
        }
    }

    /// Pays a request now: claim it (one of `from` → `paying`), move the money under an id
    /// derived from the request (so it can only ever be paid once), then mark it paid with a
    /// receipt. If the money cannot move, the request goes back to the state it was claimed
    /// from (a schedule stays scheduled) and the payer hears why.
    fn pay_request(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
        from: &[PaymentState],
    ) -> Result<Envelope, NodeError> {
        let id = &payment.part.payment;
        let command_json = serde_json::to_string(signed).expect("serialisable");
        let now = self.now_ms();
        let claimed = self.write(|c| {
            for state in from {
                if store::start_paying(c, id, *state, &command_json, now)? {
                    return Ok(Some(*state));
                }
            }
            Ok(None)
        })?;
        let Some(claimed_from) = claimed else {
            return self.answered_or_closed(payment, signed);
        };
        match self.move_request_money(payment)? {
            Ok(()) => {
                let pay = id.step("pay").to_string();
                let transition =
                    Transition::settled(Outcome::Paid, vec![PaymentState::Paying], vec![pay]);
                let update = id.step_message("paid");
                self.record_outcome(
                    payment,
                    &transition,
                    &update,
                    &signed.command.actor,
                    Some(signed),
                )
            }
            Err(e) => {
                self.write(|c| {
                    store::set_payment_state(c, id, PaymentState::Paying, claimed_from)
                })?;
                let amount = self.payment_amount(payment)?;
                Err(self.refused_transfer(e, &payment.part.payer, &amount))
            }
        }
    }

    fn move_request_money(
        &self,
        payment: &store::Payment,
    ) -> Result<Result<(), TransferError>, NodeError> {
        let amount = self.payment_amount(payment)?;
        let reference = payment.part.payment.transfer();
        let t = NewTransfer {
            id: payment.part.payment.step("pay"),
            action: TransferAction::Immediate {
                debit_account_id: user_account(&payment.part.payer, &amount.currency()),
                credit_account_id: user_account(&payment.part.payee, &amount.currency()),
                amount: amount.minor(),
                currency: amount.currency().code(),
            },
            code: CODE_REQUEST_PAY,
            reference: reference.as_u128(),
            linked: false,
        };
        Ok(self.one_transfer(t)?.map(|_| ()))
    }

    /// A decision on a request that is no longer open: if it is this very signed command
    /// retried, the answer it had the first time (its update, or the payment it made);
    /// otherwise the error saying what the request is now.
    fn answered_or_closed(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        // The claim is read before the answers: the state leaves `paying` in the transaction
        // that writes the answer, so a claim no longer there means the answer is (read the
        // other way round, a pay finishing in between was told `already_paid`).
        let id = &payment.part.payment;
        let claimant = self.db.read(|c| store::paying_command(c, id))?;
        let claimant = claimant.and_then(|json| serde_json::from_str::<SignedCommand>(&json).ok());
        if claimant.as_ref() == Some(signed) {
            return self.resume_paying(payment, signed);
        }
        let updates = [MessageId::from(signed.command.id), id.step_message("paid")];
        if let Some(first) = self.first_answer(&updates, &signed.command)? {
            return Ok(first);
        }
        Err(self.closed_error(id)?)
    }

    /// The pay that claimed this request, sent again: its answer was lost (a crash, a cut
    /// connection) before the payment was recorded. Finishing it is safe however often it
    /// happens, and alongside the first attempt if that still runs: the money moves under the
    /// id derived from the request (at most once) and the update's id is derived too. Once the
    /// money has moved the request is paid whatever state it was left in, so the record is
    /// made from any open state. A refusal leaves the claim to the first attempt or to
    /// [`Node::recover_paying`].
    fn resume_paying(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        let id = &payment.part.payment;
        match self.move_request_money(payment)? {
            Ok(()) => {
                let pay = id.step("pay").to_string();
                let open = vec![
                    PaymentState::Paying,
                    PaymentState::Pending,
                    PaymentState::Scheduled,
                ];
                let transition = Transition::settled(Outcome::Paid, open, vec![pay]);
                let update = id.step_message("paid");
                let actor = &signed.command.actor;
                self.record_outcome(payment, &transition, &update, actor, Some(signed))
            }
            Err(e) => {
                let amount = self.payment_amount(payment)?;
                Err(self.refused_transfer(e, &payment.part.payer, &amount))
            }
        }
    }

    /// The error for acting on a request that is no longer open. One being paid right now
    /// is `in_progress` (ask again: the pay may still fail and leave it open), never "paid"
    /// before it is.
    fn closed_error(&self, id: &PaymentId) -> Result<NodeError, NodeError> {
        let state = self
            .db
            .read(|c| store::payment(c, id))?
            .map(|p| p.part.state);
        Ok(match state {
            Some(PaymentState::Paid) => {
                NodeError::conflict("already_paid", "this request is already paid")
            }
            Some(PaymentState::Paying) => NodeError::conflict(
                "in_progress",
                "this request is being paid right now; ask again in a moment",
            ),
            Some(PaymentState::Expired) => NodeError::expired("this request has expired"),
            _ => NodeError::conflict(
                "already_closed",
                &format!(
                    "this request was {}",
                    state.map_or("", PaymentState::as_str)
                ),
            ),
        })
    }

    /// Pay later: the request is scheduled (or rescheduled) for `at_ms`, keeping the payer's
    /// signed command that authorises it; both sides are told when.
    fn schedule(
        &self,
        payment: &store::Payment,
        at_ms: u64,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        if at_ms >= payment.part.expires_at_ms {
            return Err(NodeError::bad_request(
                "after_expiry",
                "schedule the payment before the request expires",
            ));
        }
        let json = serde_json::to_string(signed).expect("serialisable");
        if !self.write(|c| store::schedule_payment(c, &payment.part.payment, at_ms, &json))? {
            return self.answered_or_closed(payment, signed);
        }
        let scheduled = store::Payment {
            part: PaymentPart {
                pay_at_ms: Some(at_ms),
                ..payment.part.clone()
            },
            ..payment.clone()
        };
        let transition = Transition {
            state: PaymentState::Scheduled,
            from: vec![PaymentState::Scheduled],
            receipt: None,
            reason: None,
            transfers: Vec::new(),
        };
        self.record_signed(&scheduled, &transition, signed)
    }

    fn close_request(
        &self,
        payment: &store::Payment,
        outcome: Outcome,
        signed: &SignedCommand,
    ) -> Result<Envelope, NodeError> {
        let id = &payment.part.payment;
        let state = super::outcomes::state_after(outcome);
        let closed = self.write(|c| {
            Ok(
                store::set_payment_state(c, id, PaymentState::Pending, state)?
                    || store::set_payment_state(c, id, PaymentState::Scheduled, state)?,
            )
        })?;
        if !closed {
            return self.answered_or_closed(payment, signed);
        }
        let transition = Transition::settled(outcome, vec![state], Vec::new());
        self.record_signed(payment, &transition, signed)
    }

    /// Makes the payments scheduled for now, with the payer's stored signed command. One that
    /// cannot be made is open again (pending, its schedule used up) and both sides get an
    /// update saying why, with a receipt of the failure.
    pub fn run_scheduled(&self, limit: usize) -> Result<usize, NodeError> {
        let due = self
            .db
            .read(|c| store::due_scheduled(c, self.now_ms(), limit))?;
        let mut paid = 0;
        for (id, json) in due {
            let Some(payment) = self.db.read(|c| store::payment(c, &id))? else {
                continue;
            };
            let Ok(signed) = serde_json::from_str::<SignedCommand>(&json) else {
                tracing::error!(payment = %id, "stored pay command is unreadable");
                continue;
            };
            let at = payment.part.pay_at_ms.unwrap_or(0);
            match self.pay_request(&payment, &signed, &[PaymentState::Scheduled]) {
                Ok(_) => paid += 1,
                // Both sides hear it, so it does not say what the payer has (the payer can see).
                Err(e) if e.code() == "insufficient_funds" => {
                    self.scheduled_payment_failed(&payment, at, "insufficient funds")?;
                }
                Err(e) => {
                    tracing::info!(payment = %id, code = %e.code(), "scheduled payment not made")
                }
            }
        }
        Ok(paid)
    }

    /// A scheduled payment could not be made: the request is open again, and both sides hear
    /// why. The update's id names the schedule, so it is told once however often this runs.
    fn scheduled_payment_failed(
        &self,
        payment: &store::Payment,
        at_ms: u64,
        why: &str,
    ) -> Result<(), NodeError> {
        let id = &payment.part.payment;
        if !self.write(|c| store::unschedule_payment(c, id, at_ms))? {
            return Ok(()); // paid, rescheduled or closed meanwhile
        }
        let transition = Transition {
            state: PaymentState::Pending,
            from: vec![PaymentState::Pending],
            receipt: Some(Outcome::Failed),
            reason: Some(format!(
                "the payment scheduled for {} could not be made: {why}",
                chit_core::time::show_utc(at_ms)
            )),
            transfers: Vec::new(),
        };
        let update = id.step_message(&format!("failed/{at_ms}"));
        let failed = store::Payment {
            part: PaymentPart {
                pay_at_ms: None,
                ..payment.part.clone()
            },
            ..payment.clone()
        };
        let actor = payment.part.payer.clone();
        self.record_outcome(&failed, &transition, &update, &actor, None)?;
        Ok(())
    }

    /// Finishes or undoes payments interrupted mid-way (state `paying` for over `age_ms`): if
    /// the money moved, the request is marked paid; if not, it goes back to where it was
    /// (scheduled if it had a schedule, else pending).
    pub fn recover_paying(&self, age_ms: u64, limit: usize) -> Result<usize, NodeError> {
        let stale = self
            .db
            .read(|c| store::stale_paying(c, self.now_ms().saturating_sub(age_ms), limit))?;
        for id in &stale {
            let Some(payment) = self.db.read(|c| store::payment(c, id))? else {
                continue;
            };
            let pay = id.step("pay");
            let moved = self.ledger.transfer(pay).map_err(ledger_error)?.is_some();
            if moved {
                let transition = Transition::settled(
                    Outcome::Paid,
                    vec![PaymentState::Paying],
                    vec![pay.to_string()],
                );
                let actor = payment.part.payer.clone();
                let update = id.step_message("paid");
                self.record_outcome(&payment, &transition, &update, &actor, None)?;
            } else {
                let back = if payment.part.pay_at_ms.is_some() {
                    PaymentState::Scheduled
                } else {
                    PaymentState::Pending
                };
                self.write(|c| store::set_payment_state(c, id, PaymentState::Paying, back))?;
            }
        }
        Ok(stale.len())
    }
}
