//! Payments as messages, on the ledger.
//!
//! An offer is a pending ledger transfer from payer to payee whose id *is* the offer's message
//! id (the wallet's signed command id). Accepting posts it, declining or cancelling voids it,
//! expiry voids it under an id derived from the offer's, so every step is idempotent through
//! the ledger however often and from however many nodes it is retried. Each outcome becomes a
//! `payment_update` message in the conversation with a node-signed receipt.

use std::sync::Arc;

use chit_core::{AccountId, Amount, Currency, Timestamp, TransferId};
use chit_ledger::{
    AccountKind, Applied, LedgerError, NewAccount, NewTransfer, TransferAction, TransferError,
};
use chit_proto::api::{
    digest_text, direct_conversation, Balance, Balances, Delivery, Envelope, PaymentPart,
    PostRequest, SignedCommand,
};
use chit_proto::{Action, Handle, Receipt, SealedBody};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::node::{blocking, Node, SignatureChecked};
use crate::store::{self, NewMessage};

/// Ledger reason codes (the transfer's `code`).
pub const CODE_OFFER: u16 = 10;
/// How an offer's hold was resolved. Distinct codes let the node rebuild a payment's outcome
/// from the ledger alone (see `reconcile`).
pub const CODE_OFFER_ACCEPT: u16 = 11;
pub const CODE_OFFER_DECLINE: u16 = 13;
pub const CODE_OFFER_CANCEL: u16 = 14;
pub const CODE_OFFER_EXPIRE: u16 = 15;
pub const CODE_REQUEST_PAY: u16 = 12;
pub const CODE_TOP_UP: u16 = 20;
pub const CODE_CASH_OUT: u16 = 21;
/// Ledger account codes.
pub const ACCOUNT_USER: u16 = 1;
pub const ACCOUNT_BANK: u16 = 100;
/// Longest an offer may stay open.
pub const OFFER_TTL_MAX_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Largest single sandbox top-up, in minor units: play money, but still a limit.
pub const SANDBOX_TOP_UP_MAX_MINOR: u64 = 1_000_000;

fn derive_u128(parts: &[&[u8]]) -> u128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    u128::from_be_bytes(digest[..16].try_into().expect("16 bytes")).clamp(1, u128::MAX - 1)
}

/// The ledger account holding `handle`'s money in `currency`.
pub fn user_account(handle: &Handle, currency: &Currency) -> AccountId {
    let raw = derive_u128(&[
        b"chit/v1/account/user",
        handle.as_str().as_bytes(),
        currency.code().as_str().as_bytes(),
    ]);
    AccountId::new(raw).expect("derived ids avoid the reserved values")
}

/// The `bank` system account: money that entered or left through a rail.
pub fn bank_account(currency: &Currency) -> AccountId {
    let raw = derive_u128(&[b"chit/v1/account/bank", currency.code().as_str().as_bytes()]);
    AccountId::new(raw).expect("derived ids avoid the reserved values")
}

/// The id of the node's own step on a payment (e.g. its expiry): the same on every node.
fn derived_id(payment: &str, step: &str) -> TransferId {
    TransferId::new(derive_u128(&[
        b"chit/v1/step",
        payment.as_bytes(),
        step.as_bytes(),
    ]))
    .expect("derived ids avoid the reserved values")
}

fn transfer_id(id: &str) -> Result<TransferId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("bad_id", "ids are 32 hexadecimal digits, not all zero"))
}

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "ledger call failed");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the ledger is unavailable",
            )
        }
    }
}

/// Maps a rejected transfer to what the person asking should hear.
fn transfer_error(e: TransferError) -> ApiError {
    use axum::http::StatusCode;
    match e {
        TransferError::InsufficientFunds => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds",
            "insufficient funds",
        ),
        TransferError::PendingTransferAlreadyPosted => {
            ApiError::conflict("already_settled", "this payment is already settled")
        }
        TransferError::PendingTransferAlreadyVoided => ApiError::conflict(
            "already_closed",
            "this payment was already declined or cancelled",
        ),
        TransferError::PendingTransferExpired => {
            ApiError::new(StatusCode::GONE, "expired", "this payment has expired")
        }
        TransferError::ExistsWithDifferent(_) => {
            ApiError::conflict("id_conflict", "this id was used for a different command")
        }
        other => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            &other.code(),
            &other.to_string(),
        ),
    }
}

impl Node {
    /// Opens the system accounts for every currency (idempotent; run at start-up).
    pub fn open_system_accounts(&self) -> Result<(), ApiError> {
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
    pub(crate) fn open_user_accounts(&self, handle: &Handle) -> Result<(), ApiError> {
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

    fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<(), ApiError> {
        let results = self
            .ledger
            .create_accounts_blocking(accounts)
            .map_err(ledger_error)?;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::error!(error = %e, "account creation rejected");
            return Err(ApiError::conflict(
                "account_conflict",
                "ledger account exists with other fields",
            ));
        }
        Ok(())
    }

    fn one_transfer(&self, t: NewTransfer) -> Result<Result<Applied, TransferError>, ApiError> {
        let mut results = self
            .ledger
            .create_transfers_blocking(vec![t])
            .map_err(ledger_error)?;
        Ok(results.pop().expect("one result per transfer"))
    }

    /// [`Node::one_transfer`] awaited: the ledger's group commit without holding a thread.
    async fn one_transfer_async(
        &self,
        t: NewTransfer,
    ) -> Result<Result<Applied, TransferError>, ApiError> {
        let mut results = self
            .ledger
            .create_transfers(vec![t])
            .await
            .map_err(ledger_error)?;
        Ok(results.pop().expect("one result per transfer"))
    }

    fn parse_amount(&self, text: &str) -> Result<Amount, ApiError> {
        Amount::parse_positive(text, &self.currencies)
            .map_err(|e| ApiError::bad_request("bad_amount", &e.to_string()))
    }

    pub fn balances(&self, handle: &Handle) -> Result<Balances, ApiError> {
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

    /// Checks a signed offer or request and returns what it asks for.
    fn draft(
        &self,
        actor: &Handle,
        request: &PostRequest,
        _: SignatureChecked,
    ) -> Result<Draft, ApiError> {
        let command = &request.command;
        let (kind, to, amount, expires_at_ms, body_digest) = match &command.action {
            Action::Offer {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => ("offer", to, amount, *expires_at_ms, body_digest),
            Action::Request {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => ("request", to, amount, *expires_at_ms, body_digest),
            _ => {
                return Err(ApiError::bad_request(
                    "unsupported_action",
                    "this endpoint takes offers and requests",
                ))
            }
        };
        if to == actor {
            return Err(ApiError::bad_request(
                "self_payment",
                "you cannot pay yourself",
            ));
        }
        let recipient_auto_accept = self.require_auto_accept(to)?;
        let amount = self.parse_amount(amount)?;
        let now = self.now_ms();
        if expires_at_ms <= now || expires_at_ms > now + OFFER_TTL_MAX_MS {
            return Err(ApiError::bad_request(
                "bad_expiry",
                "a payment expires between now and 30 days from now",
            ));
        }
        if body_digest != &digest_text(&request.body) {
            return Err(ApiError::bad_request(
                "body_mismatch",
                "the body is not the one the command signed",
            ));
        }
        let members = crate::node::sorted_members(actor, to);
        crate::node::check_recipients(&request.body, &members)?;
        let (payer, payee) = if kind == "offer" {
            (actor.clone(), to.clone())
        } else {
            (to.clone(), actor.clone())
        };
        Ok(Draft {
            recipient_auto_accept,
            part: PaymentPart {
                payment: command.id.clone(),
                kind: kind.into(),
                payer,
                payee,
                amount: amount.to_string(),
                state: "pending".into(),
                expires_at_ms,
                pay_at_ms: None,
                reason: None,
            },
            amount,
            members,
            conversation: direct_conversation(actor, to),
            body_digest: body_digest.clone(),
        })
    }

    /// Sends a push payment: holds the money and posts the offer into the conversation.
    pub fn offer(&self, actor: &Handle, request: &PostRequest) -> Result<Envelope, ApiError> {
        let checked = self.verify_post_request(actor, request)?;
        let draft = self.offer_draft(actor, request, checked)?;
        self.one_transfer(self.hold(request, &draft)?)?
            .map_err(transfer_error)?;
        let offer = self.post_payment(actor, request, &draft)?;
        self.auto_accept(&draft)?;
        Ok(offer)
    }

    /// [`Node::offer`] for async callers: the signature is checked in a batch, the other
    /// checks (which read the recipient) run on the check lane; the hold and the posting are
    /// awaited without holding a thread, so a thousand offers in flight wait on two group
    /// commits, not on a thousand threads.
    pub async fn offer_async(
        self: Arc<Self>,
        actor: Handle,
        request: PostRequest,
    ) -> Result<Envelope, ApiError> {
        let command = &request.command;
        let checked = self
            .verify_command_async(&actor, command, &request.signature, request.signer.as_ref())
            .await?;
        let request = Arc::new(request);
        let (checking, r) = (actor.clone(), request.clone());
        let draft = self
            .check(move |node| node.offer_draft(&checking, &r, checked))
            .await?;
        self.one_transfer_async(self.hold(&request, &draft)?)
            .await?
            .map_err(transfer_error)?;
        let job = self.posting_job(
            &actor,
            (*request).clone(),
            draft.conversation.clone(),
            draft.members.clone(),
            Some((draft.part.clone(), draft.body_digest.clone())),
        );
        let posted = self
            .write_posting_async(Some(request.command.clone()), job)
            .await?;
        self.deliver(&posted);
        self.count_posted(&posted, &draft.part.kind);
        if draft.recipient_auto_accept != "off" {
            let node = self.clone();
            blocking(move || node.auto_accept(&draft)).await?;
        }
        Ok(posted.envelope)
    }

    fn offer_draft(
        &self,
        actor: &Handle,
        request: &PostRequest,
        checked: SignatureChecked,
    ) -> Result<Draft, ApiError> {
        let draft = self.draft(actor, request, checked)?;
        if draft.part.kind != "offer" {
            return Err(ApiError::bad_request(
                "unsupported_action",
                "this endpoint takes offers",
            ));
        }
        Ok(draft)
    }

    /// The pending transfer that holds an offer's money, its id the offer's.
    fn hold(&self, request: &PostRequest, draft: &Draft) -> Result<NewTransfer, ApiError> {
        let id = transfer_id(&request.command.id)?;
        Ok(NewTransfer {
            id,
            action: TransferAction::Pending {
                debit_account_id: user_account(&draft.part.payer, &draft.amount.currency()),
                credit_account_id: user_account(&draft.part.payee, &draft.amount.currency()),
                amount: draft.amount.minor(),
                currency: draft.amount.currency().code(),
                expires_at: Some(Timestamp::from_nanos(
                    draft.part.expires_at_ms.saturating_mul(1_000_000),
                )),
            },
            code: CODE_OFFER,
            reference: id.as_u128(),
            linked: false,
        })
    }

    /// Sets who the user accepts offers from without being asked.
    pub fn set_auto_accept(&self, handle: &Handle, mode: &str) -> Result<(), ApiError> {
        if !["off", "contacts", "everyone"].contains(&mode) {
            return Err(ApiError::bad_request(
                "bad_setting",
                "auto_accept is off, contacts or everyone",
            ));
        }
        self.write(|c| store::set_auto_accept(c, handle, mode))?;
        Ok(())
    }

    /// Accepts a new offer on the recipient's behalf when their setting says so. The post has an
    /// id derived from the offer, so retries and other nodes cannot accept it twice.
    fn auto_accept(&self, draft: &Draft) -> Result<(), ApiError> {
        let payee = &draft.part.payee;
        let allowed = match draft.recipient_auto_accept.as_str() {
            "everyone" => true,
            "contacts" => self
                .db
                .read(|c| store::has_written(c, &draft.conversation, payee))?,
            _ => false,
        };
        if !allowed {
            return Ok(());
        }
        let id = &draft.part.payment;
        // What was just stored; no need to read it back.
        let payment = store::Payment {
            part: draft.part.clone(),
            conversation: draft.conversation.clone(),
            body_digest: draft.body_digest.clone(),
        };
        let pending_id = transfer_id(id)?;
        let update = derived_id(id, "auto-accept");
        let t = NewTransfer {
            id: update,
            action: TransferAction::PostPending {
                pending_id,
                amount: draft.amount.minor(),
            },
            code: CODE_OFFER_ACCEPT,
            reference: pending_id.as_u128(),
            linked: false,
        };
        match self.one_transfer(t)? {
            Ok(_) => {
                let outcome = Outcome {
                    state: "accepted",
                    from: vec!["pending"],
                    receipt: true,
                    reason: None,
                };
                self.record_outcome(&payment, &outcome, &update.to_string(), payee, None)?;
            }
            // Someone (the payer cancelling, say) got there first: nothing to do.
            Err(e) => tracing::info!(payment = %id, error = %e, "auto-accept not applied"),
        }
        Ok(())
    }

    /// Sends an invoice: nothing is held; the payer chooses Pay now, Pay later or Reject.
    pub fn request(&self, actor: &Handle, request: &PostRequest) -> Result<Envelope, ApiError> {
        let checked = self.verify_post_request(actor, request)?;
        let draft = self.draft(actor, request, checked)?;
        if draft.part.kind != "request" {
            return Err(ApiError::bad_request(
                "unsupported_action",
                "this endpoint takes requests",
            ));
        }
        transfer_id(&request.command.id)?;
        self.post_payment(actor, request, &draft)
    }

    fn post_payment(
        &self,
        actor: &Handle,
        request: &PostRequest,
        draft: &Draft,
    ) -> Result<Envelope, ApiError> {
        let posted = self.post_signed(
            actor,
            request,
            draft.conversation.clone(),
            draft.members.clone(),
            Some((draft.part.clone(), draft.body_digest.clone())),
        )?;
        self.count_posted(&posted, &draft.part.kind);
        Ok(posted.envelope)
    }

    fn count_posted(&self, posted: &store::Posted, kind: &str) {
        if posted.created {
            let counter = if kind == "offer" {
                &self.metrics.offers
            } else {
                &self.metrics.requests
            };
            crate::metrics::Metrics::inc(counter);
        }
    }

    /// A decision on a payment, signed by the actor: accept, decline or cancel an offer; pay
    /// (now or later), reject or cancel a request.
    pub fn act(&self, actor: &Handle, signed: &SignedCommand) -> Result<Envelope, ApiError> {
        let command = &signed.command;
        let checked =
            self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let payment = self.check_decision(actor, signed, checked)?;
        self.decide(&payment, signed)
    }

    /// [`Node::act`] for async callers: the signature checked in a batch, the other checks
    /// (which read the payment) on the check lane; accepting, declining or cancelling an offer,
    /// the hot path, then awaits the ledger and the posting without holding a thread. Other
    /// decisions finish on the blocking pool.
    pub async fn act_async(
        self: Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<Envelope, ApiError> {
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
            return blocking(move || node.decide(&payment, &signed)).await;
        }
        let (transfer, outcome) =
            self.offer_settlement(&payment, &signed.command.action, &signed)?;
        self.one_transfer_async(transfer)
            .await?
            .map_err(transfer_error)?;
        let command = &signed.command;
        let job = self.outcome_job(
            &payment,
            &outcome,
            &command.id,
            &command.actor,
            Some(&signed),
        );
        let posted = self.write_posting_async(Some(command.clone()), job).await?;
        Ok(self.finish_outcome(posted, &outcome))
    }

    /// Who may decide what, checked against the stored payment; returns that payment.
    fn check_decision(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
        _: SignatureChecked,
    ) -> Result<store::Payment, ApiError> {
        let command = &signed.command;
        let message = match &command.action {
            Action::Accept { message }
            | Action::Decline { message }
            | Action::Cancel { message }
            | Action::Pay { message, .. }
            | Action::Reject { message } => message,
            _ => {
                return Err(ApiError::bad_request(
                    "unsupported_action",
                    "not a payment decision",
                ))
            }
        };
        let payment = self
            .db
            .read(|c| store::payment(c, message))?
            .ok_or_else(|| ApiError::not_found("unknown_payment", "no such payment"))?;
        let p = &payment.part;
        let is_offer = p.kind == "offer";
        let allowed = match &command.action {
            Action::Accept { .. } | Action::Decline { .. } if is_offer => &p.payee == actor,
            Action::Cancel { .. } if is_offer => &p.payer == actor,
            Action::Pay { .. } | Action::Reject { .. } if !is_offer => &p.payer == actor,
            Action::Cancel { .. } => &p.payee == actor,
            _ => {
                return Err(ApiError::bad_request(
                    "wrong_kind",
                    &format!("that does not apply to a {}", p.kind),
                ))
            }
        };
        if !allowed {
            return Err(ApiError::forbidden("this payment is not yours to decide"));
        }
        Ok(payment)
    }

    /// Carries out a checked decision.
    fn decide(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
    ) -> Result<Envelope, ApiError> {
        let is_offer = payment.part.kind == "offer";
        match (&signed.command.action, is_offer) {
            (
                Action::Pay {
                    at_ms: Some(at), ..
                },
                _,
            ) if *at > self.now_ms() => self.schedule(payment, *at, signed),
            (Action::Pay { .. }, _) => self.pay_request(payment, signed, "pending"),
            (Action::Reject { .. }, _) => self.close_request(payment, "rejected", signed),
            (Action::Cancel { .. }, false) => self.close_request(payment, "cancelled", signed),
            (action, _) => self.settle_offer(payment, action, signed),
        }
    }

    fn settle_offer(
        &self,
        payment: &store::Payment,
        action: &Action,
        signed: &SignedCommand,
    ) -> Result<Envelope, ApiError> {
        let (transfer, outcome) = self.offer_settlement(payment, action, signed)?;
        self.one_transfer(transfer)?.map_err(transfer_error)?;
        self.record_signed(payment, &outcome, signed)
    }

    /// The ledger transfer that accepts (posts), declines or cancels (voids) an offer's hold,
    /// its id the decision's, and the outcome to record once it is applied.
    fn offer_settlement(
        &self,
        payment: &store::Payment,
        action: &Action,
        signed: &SignedCommand,
    ) -> Result<(NewTransfer, Outcome), ApiError> {
        let amount = self.parse_amount(&payment.part.amount)?;
        let pending_id = transfer_id(&payment.part.payment)?;
        let void = TransferAction::VoidPending { pending_id };
        let (transfer, state, code) = match action {
            Action::Accept { .. } => (
                TransferAction::PostPending {
                    pending_id,
                    amount: amount.minor(),
                },
                "accepted",
                CODE_OFFER_ACCEPT,
            ),
            Action::Decline { .. } => (void, "declined", CODE_OFFER_DECLINE),
            _ => (void, "cancelled", CODE_OFFER_CANCEL),
        };
        let t = NewTransfer {
            id: transfer_id(&signed.command.id)?,
            action: transfer,
            code,
            reference: pending_id.as_u128(),
            linked: false,
        };
        let outcome = Outcome {
            state,
            from: vec!["pending"],
            receipt: true,
            reason: None,
        };
        Ok((t, outcome))
    }

    /// Pays a request now: claim it (`from` → `paying`), move the money under an id derived
    /// from the request (so it can only ever be paid once), then mark it paid with a receipt.
    fn pay_request(
        &self,
        payment: &store::Payment,
        signed: &SignedCommand,
        from: &str,
    ) -> Result<Envelope, ApiError> {
        let id = &payment.part.payment;
        let command_json = serde_json::to_string(signed).expect("serialisable");
        let now = self.now_ms();
        let claimed = self.write(|c| {
            Ok(store::start_paying(c, id, from, &command_json, now)?
                || (from == "pending"
                    && store::start_paying(c, id, "scheduled", &command_json, now)?))
        })?;
        if !claimed {
            return Err(self.closed_error(id)?);
        }
        match self.move_request_money(payment)? {
            Ok(()) => {
                let outcome = Outcome {
                    state: "paid",
                    from: vec!["paying"],
                    receipt: true,
                    reason: None,
                };
                let update = derived_id(id, "paid").to_string();
                self.record_outcome(
                    payment,
                    &outcome,
                    &update,
                    &signed.command.actor,
                    Some(signed),
                )
            }
            Err(e) => {
                self.write(|c| store::set_payment_state(c, id, "paying", "pending"))?;
                Err(transfer_error(e))
            }
        }
    }

    fn move_request_money(
        &self,
        payment: &store::Payment,
    ) -> Result<Result<(), TransferError>, ApiError> {
        let amount = self.parse_amount(&payment.part.amount)?;
        let reference = transfer_id(&payment.part.payment)?;
        let t = NewTransfer {
            id: derived_id(&payment.part.payment, "pay"),
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

    /// The error for acting on a request that is no longer open.
    fn closed_error(&self, id: &str) -> Result<ApiError, ApiError> {
        let state = self
            .db
            .read(|c| store::payment(c, id))?
            .map(|p| p.part.state)
            .unwrap_or_default();
        Ok(match state.as_str() {
            "paid" | "paying" => ApiError::conflict("already_paid", "this request is already paid"),
            "expired" => ApiError::new(
                axum::http::StatusCode::GONE,
                "expired",
                "this request has expired",
            ),
            _ => ApiError::conflict("already_closed", &format!("this request was {state}")),
        })
    }

    fn schedule(
        &self,
        payment: &store::Payment,
        at_ms: u64,
        signed: &SignedCommand,
    ) -> Result<Envelope, ApiError> {
        if at_ms >= payment.part.expires_at_ms {
            return Err(ApiError::bad_request(
                "after_expiry",
                "schedule the payment before the request expires",
            ));
        }
        let json = serde_json::to_string(signed).expect("serialisable");
        if !self.write(|c| store::schedule_payment(c, &payment.part.payment, at_ms, &json))? {
            return Err(self.closed_error(&payment.part.payment)?);
        }
        let scheduled = store::Payment {
            part: PaymentPart {
                pay_at_ms: Some(at_ms),
                ..payment.part.clone()
            },
            ..payment.clone()
        };
        let outcome = Outcome {
            state: "scheduled",
            from: vec!["scheduled"],
            receipt: false,
            reason: None,
        };
        self.record_signed(&scheduled, &outcome, signed)
    }

    fn close_request(
        &self,
        payment: &store::Payment,
        state: &'static str,
        signed: &SignedCommand,
    ) -> Result<Envelope, ApiError> {
        let id = &payment.part.payment;
        let closed = self.write(|c| {
            Ok(store::set_payment_state(c, id, "pending", state)?
                || store::set_payment_state(c, id, "scheduled", state)?)
        })?;
        if !closed {
            return Err(self.closed_error(id)?);
        }
        let outcome = Outcome {
            state,
            from: vec![state],
            receipt: false,
            reason: None,
        };
        self.record_signed(payment, &outcome, signed)
    }

    /// Makes the payments scheduled for now, with the payer's stored signed command; tells both
    /// sides when one cannot be made.
    pub fn run_scheduled(&self, limit: usize) -> Result<usize, ApiError> {
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
            match self.pay_request(&payment, &signed, "scheduled") {
                Ok(_) => paid += 1,
                Err(e) if e.code == "insufficient_funds" => {
                    let outcome = Outcome {
                        state: "payment_failed",
                        from: vec![],
                        receipt: false,
                        reason: Some("insufficient funds"),
                    };
                    let update = derived_id(
                        &id,
                        &format!("failed/{}", payment.part.pay_at_ms.unwrap_or(0)),
                    )
                    .to_string();
                    let actor = payment.part.payer.clone();
                    self.record_outcome(&payment, &outcome, &update, &actor, None)?;
                }
                Err(e) => {
                    tracing::info!(payment = %id, code = %e.code, "scheduled payment not made")
                }
            }
        }
        Ok(paid)
    }

    /// Finishes or undoes payments interrupted mid-way (state `paying` for over `age_ms`): if
    /// the money moved, the request is marked paid; if not, it is open again.
    pub fn recover_paying(&self, age_ms: u64, limit: usize) -> Result<usize, ApiError> {
        let stale = self
            .db
            .read(|c| store::stale_paying(c, self.now_ms().saturating_sub(age_ms), limit))?;
        for id in &stale {
            let Some(payment) = self.db.read(|c| store::payment(c, id))? else {
                continue;
            };
            let moved = self
                .ledger
                .transfer(derived_id(id, "pay"))
                .map_err(ledger_error)?
                .is_some();
            if moved {
                let outcome = Outcome {
                    state: "paid",
                    from: vec!["paying"],
                    receipt: true,
                    reason: None,
                };
                let actor = payment.part.payer.clone();
                self.record_outcome(
                    &payment,
                    &outcome,
                    &derived_id(id, "paid").to_string(),
                    &actor,
                    None,
                )?;
            } else {
                self.write(|c| store::set_payment_state(c, id, "paying", "pending"))?;
            }
        }
        Ok(stale.len())
    }

    /// Closes payments whose time is up and tells both sides. Safe on every node at once: an
    /// offer's void has one id, so the ledger applies it once; update messages are idempotent.
    pub fn expire_due(&self, limit: usize) -> Result<usize, ApiError> {
        let due = self
            .db
            .read(|c| store::due_payments(c, self.now_ms(), limit))?;
        let mut expired = 0;
        for payment in due {
            let id = payment.part.payment.clone();
            let void_id = derived_id(&id, "expire");
            let outcome = Outcome {
                state: "expired",
                from: vec!["pending", "scheduled"],
                receipt: payment.part.kind == "offer",
                reason: None,
            };
            if payment.part.kind == "offer" {
                let t = NewTransfer {
                    id: void_id,
                    action: TransferAction::VoidPending {
                        pending_id: transfer_id(&id)?,
                    },
                    code: CODE_OFFER_EXPIRE,
                    reference: transfer_id(&id)?.as_u128(),
                    linked: false,
                };
                match self.one_transfer(t)? {
                    Ok(_) | Err(TransferError::PendingTransferExpired) => {}
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
            let actor = payment.part.payer.clone();
            self.record_outcome(&payment, &outcome, &void_id.to_string(), &actor, None)?;
            expired += 1;
        }
        Ok(expired)
    }

    /// Rebuilds an offer's outcome from the ledger: which transfer resolved its hold, and by its
    /// code, how. Records it (idempotently) if the node's state still says pending.
    pub fn reconcile(&self, payment: &store::Payment) -> Result<(), ApiError> {
        let pending_id = transfer_id(&payment.part.payment)?;
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
        let (state, actor) = match resolution.code {
            CODE_OFFER_DECLINE => ("declined", &payment.part.payee),
            CODE_OFFER_CANCEL => ("cancelled", &payment.part.payer),
            CODE_OFFER_EXPIRE => ("expired", &payment.part.payer),
            _ => ("accepted", &payment.part.payee),
        };
        let outcome = Outcome {
            state,
            from: vec!["pending"],
            receipt: true,
            reason: None,
        };
        tracing::warn!(payment = %payment.part.payment, state, "payment state repaired from the ledger");
        self.record_outcome(payment, &outcome, &by.to_string(), actor, None)?;
        Ok(())
    }

    /// Records an outcome caused by a signed command: the update carries that command.
    fn record_signed(
        &self,
        payment: &store::Payment,
        outcome: &Outcome,
        signed: &SignedCommand,
    ) -> Result<Envelope, ApiError> {
        let command = &signed.command;
        self.record_outcome(payment, outcome, &command.id, &command.actor, Some(signed))
    }

    /// Writes the payment's new state and posts the update (with a receipt when money moved)
    /// to both sides. The update's id makes it idempotent.
    fn record_outcome(
        &self,
        payment: &store::Payment,
        outcome: &Outcome,
        update_id: &str,
        actor: &Handle,
        signed: Option<&SignedCommand>,
    ) -> Result<Envelope, ApiError> {
        let job = self.outcome_job(payment, outcome, update_id, actor, signed);
        let posted = self.write_posting(signed.map(|s| &s.command), job)?;
        Ok(self.finish_outcome(posted, outcome))
    }

    /// The write of an outcome: the payment's new state and the update message (with a
    /// node-signed receipt when money moved), in one transaction.
    fn outcome_job(
        &self,
        payment: &store::Payment,
        outcome: &Outcome,
        update_id: &str,
        actor: &Handle,
        signed: Option<&SignedCommand>,
    ) -> crate::node::PostingJob<impl crate::node::PostingWrite> {
        let now = self.now_ms();
        let part = PaymentPart {
            state: outcome.state.into(),
            reason: outcome.reason.map(str::to_owned),
            ..payment.part.clone()
        };
        let receipt = outcome.receipt.then(|| {
            Receipt::issue(
                update_id.to_owned(),
                payment.part.payer.clone(),
                payment.part.payee.clone(),
                payment.part.amount.clone(),
                now,
                payment.part.payment.clone(),
                payment.body_digest.clone(),
                &self.key,
            )
        });
        let members = crate::node::sorted_members(&payment.part.payer, &payment.part.payee);
        let empty = SealedBody::default();
        let (state, from_states) = (outcome.state, outcome.from.clone());
        let (payment_id, conversation) =
            (payment.part.payment.clone(), payment.conversation.clone());
        let (update_id, sender, signed_owned) =
            (update_id.to_owned(), actor.clone(), signed.cloned());
        crate::node::PostingJob {
            locks: store::posting_locks(&members, &update_id),
            run: move |c: &mut dyn crate::db::Conn| {
                for from in &from_states {
                    if *from != state && store::set_payment_state(c, &payment_id, from, state)? {
                        break;
                    }
                }
                store::post_message(
                    c,
                    &NewMessage {
                        id: &update_id,
                        conversation: &conversation,
                        members: &members,
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

    /// Delivers a recorded outcome and counts it.
    fn finish_outcome(&self, posted: store::Posted, outcome: &Outcome) -> Envelope {
        self.deliver(&posted);
        if posted.created {
            let settled = ["accepted", "paid"].contains(&outcome.state);
            let closed = ["declined", "cancelled", "expired", "rejected"].contains(&outcome.state);
            if settled {
                crate::metrics::Metrics::inc(&self.metrics.settled);
            } else if closed {
                crate::metrics::Metrics::inc(&self.metrics.closed);
            }
        }
        posted.envelope
    }

    /// Moves money in from a rail (only the labelled `sandbox` rail exists so far) or out to it.
    pub fn top_up_or_cash_out(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<Balances, ApiError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let (rail, amount, inward) = match &command.action {
            Action::TopUp { rail, amount } => (rail, amount, true),
            Action::CashOut { rail, amount } => (rail, amount, false),
            _ => {
                return Err(ApiError::bad_request(
                    "unsupported_action",
                    "not a top-up or cash-out",
                ))
            }
        };
        if rail != "sandbox" {
            return Err(ApiError::bad_request(
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
            return Err(ApiError::conflict(
                "no_linked_account",
                "link an account on this rail first (chit link sandbox <IBAN>)",
            ));
        }
        let amount = self.parse_amount(amount)?;
        if inward && amount.minor() > SANDBOX_TOP_UP_MAX_MINOR {
            return Err(ApiError::bad_request(
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
            id: transfer_id(&command.id)?,
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
        self.one_transfer(t)?.map_err(transfer_error)?;
        self.balances(actor)
    }

    /// Links an external account: the rail verifies it first, and only then is it stored.
    pub fn link(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<chit_proto::api::LinkedAccount, ApiError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let Action::Link { rail, reference } = &command.action else {
            return Err(ApiError::bad_request("unsupported_action", "not a link"));
        };
        let verified = crate::rails::verify_account(rail, reference).map_err(|e| match e {
            crate::rails::RailError::UnknownRail(_) => {
                ApiError::bad_request("unknown_rail", &e.to_string())
            }
            crate::rails::RailError::BadIban(_) => {
                ApiError::bad_request("account_not_verified", &e.to_string())
            }
        })?;
        let now = self.now_ms();
        self.write(|c| store::link_account(c, actor, rail, &verified, now))?;
        Ok(chit_proto::api::LinkedAccount {
            rail: rail.clone(),
            reference: crate::rails::mask(&verified),
            verified_at_ms: now,
        })
    }

    /// Whether `handle` has a verified account linked on `rail`.
    pub fn has_linked_account(&self, handle: &Handle, rail: &str) -> Result<bool, ApiError> {
        Ok(self
            .db
            .read(|c| store::linked_account(c, handle, rail))?
            .is_some())
    }

    pub(crate) fn deliver(&self, posted: &store::Posted) {
        for (member, cursor) in &posted.deliveries {
            self.hub.publish(
                member,
                Delivery {
                    cursor: *cursor,
                    message: posted.envelope.clone(),
                },
            );
        }
    }
}

/// What an update records: the new state, which states it may come from, whether money moved
/// (so a receipt is due), and why, when something did not happen.
struct Outcome {
    state: &'static str,
    from: Vec<&'static str>,
    receipt: bool,
    reason: Option<&'static str>,
}

/// A checked offer or request, before anything is written.
struct Draft {
    part: PaymentPart,
    /// Whom the recipient accepts offers from automatically (read once, with the recipient).
    recipient_auto_accept: String,
    amount: Amount,
    members: Vec<Handle>,
    conversation: String,
    body_digest: String,
}
