//! Claims: vouchers paid to the caller, checked in one batched PayVerify, then credited in one
//! transaction — each voucher once (a second claim of it is answered as the first, a claim of
//! one already collected is a double spend) — with its chain checked, its money taken from
//! what the paying device holds (the loss policy settles the rest), and a payment message with
//! a node-signed receipt in the conversation of payer and payee. The ledger transfers follow
//! in one batch ([`super::booking`]).

use std::sync::Arc;

use chit_core::Amount;
use chit_offline::api::{ClaimAnswer, ClaimOutcome, ClaimRequest, ClaimResult, CLAIM_VOUCHERS_MAX};
use chit_offline::entry::Voucher;
use chit_offline::pay_verify::{pay_verify_batch, VerifyError};
use chit_proto::api::PaymentPart;
use chit_proto::{
    b64, Handle, MessageId, Outcome, PaymentKind, PaymentState, Receipt, ReceiptFacts, SealedBody,
    Settlement,
};

use super::books::Books;
use super::redeem::{redeem, Redeemer};
use super::{loss_transfer, redeem_transfer, voucher_payment};
use crate::db::Conn;
use crate::error::NodeError;
use crate::messaging::Conversation;
use crate::node::Node;
use crate::store::{self, NewMessage, RedemptionRow};

impl Node {
    /// Credits vouchers paid to `actor` (at most [`CLAIM_VOUCHERS_MAX`] at once).
    pub async fn offline_claim(
        self: &Arc<Self>,
        actor: Handle,
        req: ClaimRequest,
    ) -> Result<ClaimAnswer, NodeError> {
        if req.vouchers.is_empty() || req.vouchers.len() > CLAIM_VOUCHERS_MAX {
            return Err(NodeError::bad_request(
                "bad_batch",
                &format!("claim 1 to {CLAIM_VOUCHERS_MAX} vouchers at once"),
            ));
        }
        self.run_blocking(move |node| node.offline_claim_blocking(&actor, &req.vouchers))
            .await
    }

    fn offline_claim_blocking(
        &self,
        actor: &Handle,
        vouchers: &[Voucher],
    ) -> Result<ClaimAnswer, NodeError> {
        let verdicts = pay_verify_batch(vouchers, &self.key.public(), actor);
        let devices: Vec<_> = vouchers.iter().map(|v| v.certificate.device_key).collect();
        let mut locks = Books::locks(&devices);
        let mut posting: Vec<_> = vouchers
            .iter()
            .flat_map(|v| {
                let members = [v.certificate.owner.clone(), actor.clone()];
                let id = MessageId::from(voucher_payment(&v.entry.hash()));
                store::posting_locks(&members, &id)
            })
            .collect();
        posting.sort();
        posting.dedup();
        let now = self.now_ms();
        let (results, rows, posted, caught) = self.write(|c| {
            c.lock(&locks)?;
            c.lock(&posting)?;
            let mut books = Books::load(c, &devices)?;
            let mut results = Vec::with_capacity(vouchers.len());
            let mut rows = Vec::new();
            let mut posted = Vec::new();
            for (v, verdict) in vouchers.iter().zip(&verdicts) {
                let (result, new) = self.claim_one(c, &mut books, actor, v, verdict, now)?;
                if let Some((row, p)) = new {
                    rows.push(row);
                    posted.push(p);
                }
                results.push(result);
            }
            let caught = books.save(c, now)?;
            Ok((results, rows, posted, caught))
        })?;
        locks.clear();
        self.book_redemptions(&rows)?;
        for p in &posted {
            self.deliver(p);
        }
        self.tell_caught(&caught)?;
        Ok(ClaimAnswer { results })
    }

    /// One voucher of a claim: its result, and the redemption and message it made if new.
    fn claim_one(
        &self,
        c: &mut dyn Conn,
        books: &mut Books,
        actor: &Handle,
        v: &Voucher,
        verdict: &Result<u64, VerifyError>,
        now: u64,
    ) -> Result<(ClaimResult, Option<(RedemptionRow, store::Posted)>), chit_ledger::StoreError>
    {
        let hash = v.entry.hash();
        let refused = |code: &str, message: String| ClaimResult {
            voucher: b64::encode(&hash),
            outcome: ClaimOutcome::Refused,
            paid: 0,
            payment: None,
            code: Some(code.to_owned()),
            message: Some(message),
        };
        let amount = match verdict {
            Ok(amount) => *amount,
            Err(e) => return Ok((refused(verify_code(e), e.to_string()), None)),
        };
        if books.get(&v.certificate.device_key).is_none() {
            return Ok((
                refused(
                    "unknown_device",
                    "the paying device is not registered here".into(),
                ),
                None,
            ));
        }
        if let Some(first) = store::redemption(c, &hash)? {
            return Ok((earlier(&first, actor, hash), None));
        }
        let policy = self.offline_config().loss_policy;
        let mut row = redeem(
            books,
            v,
            amount,
            Redeemer::Claim { claimant: actor },
            policy,
        );
        row.payment = Some(voucher_payment(&hash));
        store::insert_redemption(c, &row, now)?;
        let posted = self.post_claim(c, &row, now)?;
        let mut result = claimed(&row, hash);
        let caught = books
            .get(&v.certificate.device_key)
            .is_some_and(|b| b.is_caught());
        if caught && result.code.is_none() {
            result.code = Some("device_revoked".into());
            result.message =
                Some("paid in full; the paying device is revoked (it spent money twice)".into());
        }
        Ok((result, Some((row, posted))))
    }

    /// The payment message of a claim, with its receipt, in the payer's and payee's
    /// conversation.
    fn post_claim(
        &self,
        c: &mut dyn Conn,
        row: &RedemptionRow,
        now: u64,
    ) -> Result<store::Posted, chit_ledger::StoreError> {
        let payment = row.payment.expect("a claim has its payment");
        let payer = row.voucher.certificate.owner.clone();
        let currency = self.offline_currency();
        let show = |minor| {
            Amount::from_minor(currency, minor)
                .expect("bounded")
                .to_string()
        };
        let reason = shortfall(row, &show);
        let outcome = if row.from_device + row.from_losses > 0 {
            Outcome::Paid
        } else {
            Outcome::Failed
        };
        let mut transfers = Vec::new();
        if row.from_device > 0 {
            transfers.push(redeem_transfer(&row.hash).to_string());
        }
        if row.from_losses > 0 {
            transfers.push(loss_transfer(&row.hash).to_string());
        }
        let id = MessageId::from(payment);
        let receipt = Receipt::issue(
            ReceiptFacts {
                id,
                payer: payer.clone(),
                payee: row.claimant.clone(),
                amount: show(row.amount),
                time_ms: now,
                message_id: payment,
                body_digest: b64::encode(&row.hash),
                settlement: Settlement {
                    kind: PaymentKind::Offline.to_string(),
                    outcome,
                    reason: reason.clone(),
                    transfers,
                },
            },
            &self.key,
        );
        let part = PaymentPart {
            payment,
            kind: PaymentKind::Offline,
            payer: payer.clone(),
            payee: row.claimant.clone(),
            amount: show(row.amount),
            state: if outcome == Outcome::Paid {
                PaymentState::Paid
            } else {
                PaymentState::Rejected
            },
            expires_at_ms: 0,
            pay_at_ms: None,
            reason,
        };
        let conversation = Conversation::direct(&payer, &row.claimant);
        store::post_message(
            c,
            &NewMessage {
                id: &id,
                conversation: &conversation.id,
                conversation_kind: conversation.kind,
                members: &conversation.members,
                sender: &payer,
                kind: PaymentKind::Offline.as_str(),
                time_ms: now,
                body: &SealedBody::default(),
                command: None,
                signature: None,
                signer: None,
                payment: Some(&part),
                receipt: Some(&receipt),
            },
        )
    }
}

/// What a receiver is told when a voucher was not paid in full.
fn shortfall(row: &RedemptionRow, show: &dyn Fn(u64) -> String) -> Option<String> {
    if row.from_losses > 0 {
        return Some(format!(
            "the paying device spent this money twice; the operator paid {} of it",
            show(row.from_losses)
        ));
    }
    (row.refused > 0).then(|| {
        format!(
            "the paying device spent this money twice: {} of {} could not be paid",
            show(row.refused),
            show(row.amount)
        )
    })
}

fn claimed(row: &RedemptionRow, hash: [u8; 32]) -> ClaimResult {
    let paid = row.from_device + row.from_losses;
    let (outcome, code) = match (paid, row.refused) {
        (0, _) => (ClaimOutcome::Refused, Some("double_spend")),
        (_, 0) if row.from_losses == 0 => (ClaimOutcome::Claimed, None),
        _ => (ClaimOutcome::Claimed, Some("double_spend")),
    };
    ClaimResult {
        voucher: b64::encode(&hash),
        outcome,
        paid,
        payment: row.payment,
        code: code.map(str::to_owned),
        message: code.map(|_| "the paying device spent this money twice; it is revoked".to_owned()),
    }
}

/// A voucher redeemed before: the same claim is answered again; anything else is a double
/// spend (collected onto a device, then claimed).
fn earlier(first: &RedemptionRow, actor: &Handle, hash: [u8; 32]) -> ClaimResult {
    if first.claimed && &first.claimant == actor {
        return ClaimResult {
            outcome: ClaimOutcome::AlreadyClaimed,
            ..claimed(first, hash)
        };
    }
    ClaimResult {
        voucher: b64::encode(&hash),
        outcome: ClaimOutcome::Refused,
        paid: 0,
        payment: None,
        code: Some("double_spend".into()),
        message: Some(if first.claimed {
            format!("the voucher was already claimed by {}", first.claimant)
        } else {
            "the voucher was already collected onto a device".to_owned()
        }),
    }
}

/// The stable code of a PayVerify failure.
fn verify_code(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::BadCertificate => "bad_certificate",
        VerifyError::BadSignature => "bad_signature",
        VerifyError::NotAPayment => "not_a_payment",
        VerifyError::NotForMe(_) => "not_yours",
        VerifyError::WrongRequest => "wrong_request",
        VerifyError::WrongAmount { .. } => "wrong_amount",
        VerifyError::AlreadyReceived => "replay",
        VerifyError::Revoked => "revoked",
        VerifyError::WrongCurrency => "wrong_currency",
        VerifyError::OverVoucherLimit => "over_voucher_limit",
    }
}
