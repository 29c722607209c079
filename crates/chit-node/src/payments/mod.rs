//! Payments as messages, on the ledger.
//!
//! An offer is a pending ledger transfer from payer to payee whose id *is* the offer's message
//! id (the wallet's signed command id). Accepting posts it, declining or cancelling voids it,
//! expiry voids it under an id derived from the offer's, so every step is idempotent through
//! the ledger however often and from however many nodes it is retried. Each outcome becomes a
//! `payment_update` message in the conversation with a node-signed receipt (see
//! [`crate::payments::outcomes`]); requests have their own room ([`crate::payments::requests`]), as do refunds and
//! money moving through rails ([`crate::payments::refunds`], [`crate::payments::funding`]).

pub mod funding;
pub mod outcomes;
pub mod rails;
pub mod refunds;
pub mod requests;
pub mod statement;

use std::sync::Arc;

use chit_core::{AccountId, Amount, Currency, Timestamp, TransferId};
use chit_ledger::{
    AccountKind, Applied, LedgerError, NewAccount, NewTransfer, TransferAction, TransferError,
};
use chit_proto::api::{
    digest_text, direct_conversation, Balance, Balances, Delivery, Envelope, PaymentPart,
    PostRequest, SignedCommand,
};
use chit_proto::{Action, Handle, Outcome};
use sha2::{Digest, Sha256};

use crate::auth::SignatureChecked;
use crate::error::ApiError;
use crate::exec::blocking;
use crate::node::Node;
use crate::payments::outcomes::Transition;
use crate::store;

/// Ledger reason codes (the transfer's `code`).
pub const CODE_OFFER: u16 = 10;
/// How an offer's hold was resolved. Distinct codes let the node rebuild a payment's outcome
/// from the ledger alone (see `reconcile`).
pub const CODE_OFFER_ACCEPT: u16 = 11;
pub const CODE_OFFER_DECLINE: u16 = 13;
pub const CODE_OFFER_CANCEL: u16 = 14;
pub const CODE_OFFER_EXPIRE: u16 = 15;
pub const CODE_REQUEST_PAY: u16 = 12;
/// A settled payment given back by its payee.
pub const CODE_REFUND: u16 = 16;
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
pub(crate) fn derived_id(payment: &str, step: &str) -> TransferId {
    TransferId::new(derive_u128(&[
        b"chit/v1/step",
        payment.as_bytes(),
        step.as_bytes(),
    ]))
    .expect("derived ids avoid the reserved values")
}

pub(crate) fn transfer_id(id: &str) -> Result<TransferId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("bad_id", "ids are 32 hexadecimal digits, not all zero"))
}

pub(crate) fn ledger_error(e: LedgerError) -> ApiError {
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

/// Maps a rejected transfer to what the person asking should hear (insufficient funds are
/// told with the amounts: see [`Node::refused_transfer`]).
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
    /// The auto-accept setting of the user behind `handle`, or `unknown_handle`. (Reads only
    /// the setting: a whole user row means checking two keys and parsing a certificate.)
    pub(crate) fn require_auto_accept(&self, handle: &Handle) -> Result<String, ApiError> {
        self.db
            .read(|c| store::auto_accept(c, handle))?
            .ok_or_else(|| ApiError::not_found("unknown_handle", &format!("no user {handle}")))
    }

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

    pub(crate) fn one_transfer(
        &self,
        t: NewTransfer,
    ) -> Result<Result<Applied, TransferError>, ApiError> {
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

    /// An amount from a command: only its one written form ([`Amount::parse_canonical`]).
    pub(crate) fn parse_wire_amount(&self, text: &str) -> Result<Amount, ApiError> {
        Amount::parse_canonical(text, &self.currencies)
            .map_err(|e| ApiError::bad_request("bad_amount", &e.to_string()))
    }

    /// An amount the node stored (earlier nodes stored what the wallet signed, in any form).
    pub(crate) fn parse_amount(&self, text: &str) -> Result<Amount, ApiError> {
        Amount::parse_positive(text, &self.currencies)
            .map_err(|e| ApiError::bad_request("bad_amount", &e.to_string()))
    }

    /// What `payer` hears when the ledger refused to move `amount` from their account: for
    /// insufficient funds, how much is available.
    pub(crate) fn refused_transfer(
        &self,
        e: TransferError,
        payer: &Handle,
        amount: &str,
    ) -> ApiError {
        if e != TransferError::InsufficientFunds {
            return transfer_error(e);
        }
        let available = self
            .parse_amount(amount)
            .ok()
            .and_then(|a| {
                let account = self
                    .ledger
                    .account(user_account(payer, &a.currency()))
                    .ok()??;
                let minor = u64::try_from(account.available()).ok()?;
                Amount::from_minor(a.currency(), minor).ok()
            })
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds",
            &format!("insufficient funds: {available} available, {amount} needed"),
        )
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
    pub(crate) fn draft(
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
        let amount = self.parse_wire_amount(amount)?;
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
        let members = crate::messaging::sorted_members(actor, to);
        crate::messaging::check_recipients(&request.body, &members)?;
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

    /// Sends a push payment: holds the money and posts the offer into the conversation. The
    /// signature is checked in a batch, the other checks (which read the recipient) run on the
    /// check lane; the hold and the posting are awaited without holding a thread, so a thousand
    /// offers in flight wait on two group commits, not on a thousand threads.
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
        let hold = self
            .one_transfer_async(self.hold(&request, &draft)?)
            .await?;
        if let Err(e) = hold {
            let (node, payer, amount) = (self.clone(), actor.clone(), draft.part.amount.clone());
            return Err(blocking(move || Ok(node.refused_transfer(e, &payer, &amount))).await?);
        }
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

    /// A payment (offer or request) as the node holds it now.
    pub fn payment(&self, id: &str) -> Result<Option<store::Payment>, ApiError> {
        Ok(self.db.read(|c| store::payment(c, id))?)
    }

    /// Offers and requests waiting for `handle` to decide, oldest first (at most `limit`).
    pub fn awaiting_decision(
        &self,
        handle: &Handle,
        limit: usize,
    ) -> Result<Vec<store::Payment>, ApiError> {
        Ok(self
            .db
            .read(|c| store::awaiting_decision(c, handle, limit))?)
    }

    /// Whom the user accepts offers from without being asked.
    pub fn auto_accept_mode(&self, handle: &Handle) -> Result<String, ApiError> {
        self.require_auto_accept(handle)
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
                let transfers = vec![pending_id.to_string(), update.to_string()];
                let transition = Transition::settled(Outcome::Accepted, vec!["pending"], transfers);
                self.record_outcome(&payment, &transition, &update.to_string(), payee, None)?;
            }
            // Someone (the payer cancelling, say) got there first: nothing to do.
            Err(e) => tracing::info!(payment = %id, error = %e, "auto-accept not applied"),
        }
        Ok(())
    }

    pub(crate) fn post_payment(
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
    /// (now or later), reject or cancel a request; refund either once settled. The signature
    /// is checked in a batch, the other checks (which read the payment) on the check lane;
    /// accepting, declining or cancelling an offer, the hot path, then awaits the ledger and the
    /// posting without holding a thread. Other decisions finish on the blocking pool.
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
            &command.id,
            &command.actor,
            Some(&signed),
        );
        let posted = self.write_posting_async(Some(command.clone()), job).await?;
        Ok(self.finish_outcome(posted, &transition))
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
            | Action::Reject { message }
            | Action::Refund { message } => message,
            _ => {
                return Err(ApiError::bad_request(
                    "unsupported_action",
                    "not a payment decision",
                ))
            }
        };
        crate::auth::check_command_id(message)?;
        // Someone else's payment gets the same answer as none at all: ids are not probed.
        let payment = self
            .db
            .read(|c| store::payment(c, message))?
            .filter(|p| &p.part.payer == actor || &p.part.payee == actor)
            .ok_or_else(|| ApiError::not_found("unknown_payment", "no such payment"))?;
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
            return Err(ApiError::forbidden("this payment is not yours to decide"));
        }
        Ok(payment)
    }

    /// The ledger transfer that accepts (posts), declines or cancels (voids) an offer's hold,
    /// its id the decision's, and the transition to record once it is applied.
    fn offer_settlement(
        &self,
        payment: &store::Payment,
        action: &Action,
        signed: &SignedCommand,
    ) -> Result<(NewTransfer, Transition), ApiError> {
        let amount = self.parse_amount(&payment.part.amount)?;
        let pending_id = transfer_id(&payment.part.payment)?;
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
        let id = transfer_id(&signed.command.id)?;
        let t = NewTransfer {
            id,
            action: transfer,
            code,
            reference: pending_id.as_u128(),
            linked: false,
        };
        let transfers = vec![pending_id.to_string(), id.to_string()];
        Ok((t, Transition::settled(outcome, vec!["pending"], transfers)))
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

/// The answer to a decision that does not apply to this kind of payment, naming the one that
/// does.
fn wrong_kind(action: &Action, is_offer: bool) -> ApiError {
    let hint = match (action, is_offer) {
        (Action::Reject { .. }, true) => "to turn down an offer, decline it (chit decline <id>)",
        (Action::Pay { .. }, true) => "an offer needs no paying: accept it (chit accept <id>)",
        (Action::Decline { .. }, false) => "to turn down a request, reject it (chit reject <id>)",
        (Action::Accept { .. }, false) => "to pay a request, pay it (chit pay <id>)",
        _ => "that does not apply to this payment",
    };
    let kind = if is_offer { "an offer" } else { "a request" };
    ApiError::bad_request("wrong_kind", &format!("this is {kind}: {hint}"))
}

/// A checked offer or request, before anything is written.
pub(crate) struct Draft {
    pub(crate) part: PaymentPart,
    /// Whom the recipient accepts offers from automatically (read once, with the recipient).
    recipient_auto_accept: String,
    amount: Amount,
    members: Vec<Handle>,
    conversation: String,
    body_digest: String,
}
