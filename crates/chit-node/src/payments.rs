//! Payments as messages, on the ledger.
//!
//! An offer is a pending ledger transfer from payer to payee whose id *is* the offer's message
//! id (the wallet's signed command id). Accepting posts it, declining or cancelling voids it,
//! expiry voids it under an id derived from the offer's, so every step is idempotent through
//! the ledger however often and from however many nodes it is retried. Each outcome becomes a
//! `payment_update` message in the conversation with a node-signed receipt.

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
use crate::node::{now_ms, Node};
use crate::store::{self, NewMessage};

/// Ledger reason codes (the transfer's `code`).
pub const CODE_OFFER: u16 = 10;
pub const CODE_OFFER_SETTLE: u16 = 11;
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

    /// Sends a push payment: holds the money and posts the offer into the conversation.
    pub fn offer(&self, actor: &Handle, request: &PostRequest) -> Result<Envelope, ApiError> {
        let command = &request.command;
        self.verify_command(actor, command, &request.signature)?;
        let Action::Offer {
            to,
            amount,
            expires_at_ms,
            body_digest,
        } = &command.action
        else {
            return Err(ApiError::bad_request(
                "unsupported_action",
                "this endpoint takes offers",
            ));
        };
        if to == actor {
            return Err(ApiError::bad_request(
                "self_payment",
                "you cannot pay yourself",
            ));
        }
        self.require_user(to)?;
        let amount = self.parse_amount(amount)?;
        let now = now_ms();
        if *expires_at_ms <= now || *expires_at_ms > now + OFFER_TTL_MAX_MS {
            return Err(ApiError::bad_request(
                "bad_expiry",
                "an offer expires between now and 30 days from now",
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
        let id = transfer_id(&command.id)?;
        let hold = NewTransfer {
            id,
            action: TransferAction::Pending {
                debit_account_id: user_account(actor, &amount.currency()),
                credit_account_id: user_account(to, &amount.currency()),
                amount: amount.minor(),
                currency: amount.currency().code(),
                expires_at: Some(Timestamp::from_nanos(
                    expires_at_ms.saturating_mul(1_000_000),
                )),
            },
            code: CODE_OFFER,
            reference: id.as_u128(),
            linked: false,
        };
        self.one_transfer(hold)?.map_err(transfer_error)?;
        let part = PaymentPart {
            payment: command.id.clone(),
            kind: "offer".into(),
            payer: actor.clone(),
            payee: to.clone(),
            amount: amount.to_string(),
            state: "pending".into(),
            expires_at_ms: *expires_at_ms,
        };
        let conversation = direct_conversation(actor, to);
        let posted = self.write_posting(Some(command), |c| {
            if store::payment(c, &command.id)?.is_none() {
                store::insert_payment(c, &part, &conversation, body_digest, now)?;
            }
            store::post_message(
                c,
                &NewMessage {
                    id: &command.id,
                    conversation: &conversation,
                    members: &members,
                    sender: actor,
                    kind: "offer",
                    time_ms: now,
                    body: &request.body,
                    command: Some(command),
                    signature: Some(&request.signature),
                    payment: Some(&part),
                    receipt: None,
                },
            )
        })?;
        self.deliver(&posted);
        Ok(posted.envelope)
    }

    /// Accept, decline or cancel an offer; top up or cash out. Signed by the actor.
    pub fn act(&self, actor: &Handle, signed: &SignedCommand) -> Result<Envelope, ApiError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature)?;
        let (message, outcome) = match &command.action {
            Action::Accept { message } => (message, Outcome::Accepted),
            Action::Decline { message } => (message, Outcome::Declined),
            Action::Cancel { message } => (message, Outcome::Cancelled),
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
        let allowed = match outcome {
            Outcome::Accepted | Outcome::Declined => &payment.part.payee == actor,
            Outcome::Cancelled => &payment.part.payer == actor,
            Outcome::Expired => false,
        };
        if !allowed {
            return Err(ApiError::forbidden("this payment is not yours to decide"));
        }
        let amount = self.parse_amount(&payment.part.amount)?;
        let id = transfer_id(&command.id)?;
        let pending_id = transfer_id(&payment.part.payment)?;
        let action = match outcome {
            Outcome::Accepted => TransferAction::PostPending {
                pending_id,
                amount: amount.minor(),
            },
            _ => TransferAction::VoidPending { pending_id },
        };
        let t = NewTransfer {
            id,
            action,
            code: CODE_OFFER_SETTLE,
            reference: pending_id.as_u128(),
            linked: false,
        };
        self.one_transfer(t)?.map_err(transfer_error)?;
        self.record_outcome(
            &payment,
            outcome,
            &command.id,
            actor,
            Some((command, signed)),
        )
    }

    /// Voids offers whose time is up and tells both sides. Safe on every node at once: the void
    /// has one id per offer, so the ledger applies it once; the update message is idempotent too.
    pub fn expire_due(&self, limit: usize) -> Result<usize, ApiError> {
        let due = self.db.read(|c| store::due_payments(c, now_ms(), limit))?;
        let mut expired = 0;
        for id in due {
            let Some(payment) = self.db.read(|c| store::payment(c, &id))? else {
                continue;
            };
            let void_id = derived_id(&id, "expire");
            let t = NewTransfer {
                id: void_id,
                action: TransferAction::VoidPending {
                    pending_id: transfer_id(&id)?,
                },
                code: CODE_OFFER_SETTLE,
                reference: transfer_id(&id)?.as_u128(),
                linked: false,
            };
            match self.one_transfer(t)? {
                Ok(_) | Err(TransferError::PendingTransferExpired) => {
                    let actor = payment.part.payer.clone();
                    self.record_outcome(
                        &payment,
                        Outcome::Expired,
                        &void_id.to_string(),
                        &actor,
                        None,
                    )?;
                    expired += 1;
                }
                // Settled or closed by someone else a moment ago: their flow records it.
                Err(
                    TransferError::PendingTransferAlreadyPosted
                    | TransferError::PendingTransferAlreadyVoided,
                ) => {}
                Err(e) => tracing::warn!(payment = %id, error = %e, "expiry void rejected"),
            }
        }
        Ok(expired)
    }

    /// Writes the payment's new state and posts the update, with a receipt, to both sides.
    fn record_outcome(
        &self,
        payment: &store::Payment,
        outcome: Outcome,
        update_id: &str,
        actor: &Handle,
        signed: Option<(&chit_proto::Command, &SignedCommand)>,
    ) -> Result<Envelope, ApiError> {
        let now = now_ms();
        let part = PaymentPart {
            state: outcome.state().into(),
            ..payment.part.clone()
        };
        let receipt = Receipt::issue(
            update_id.to_owned(),
            payment.part.payer.clone(),
            payment.part.payee.clone(),
            payment.part.amount.clone(),
            now,
            payment.part.payment.clone(),
            payment.body_digest.clone(),
            &self.key,
        );
        let members = crate::node::sorted_members(&payment.part.payer, &payment.part.payee);
        let empty = SealedBody::default();
        let posted = self.write_posting(signed.map(|(c, _)| c), |c| {
            store::set_payment_state(c, &payment.part.payment, "pending", outcome.state())?;
            store::post_message(
                c,
                &NewMessage {
                    id: update_id,
                    conversation: &payment.conversation,
                    members: &members,
                    sender: actor,
                    kind: "payment_update",
                    time_ms: now,
                    body: &empty,
                    command: signed.map(|(c, _)| c),
                    signature: signed.map(|(_, s)| &s.signature),
                    payment: Some(&part),
                    receipt: Some(&receipt),
                },
            )
        })?;
        self.deliver(&posted);
        Ok(posted.envelope)
    }

    /// Moves money in from a rail (only the labelled `sandbox` rail exists so far) or out to it.
    pub fn top_up_or_cash_out(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<Balances, ApiError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature)?;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Declined,
    Cancelled,
    Expired,
}

impl Outcome {
    fn state(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}
