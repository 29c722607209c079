//! Offers (and the checks offers and requests share): a signed command drafted into a payment,
//! its money held by a pending ledger transfer whose id is the offer's, then posted as a
//! message in the conversation.

use std::sync::Arc;

use chit_core::{Amount, Timestamp};
use chit_ledger::{NewTransfer, TransferAction};
use chit_proto::api::{digest_text, Envelope, PaymentPart, PostRequest};
use chit_proto::{Action, Handle, PaymentKind, PaymentState};

use super::ids::user_account;
use super::{CODE_OFFER, OFFER_TTL_MAX_MS};
use crate::auth::SignatureChecked;
use crate::error::NodeError;
use crate::exec::blocking;
use crate::messaging::Conversation;
use crate::node::Node;
use crate::store;

impl Node {
    /// Checks a signed offer or request and returns what it asks for.
    pub(crate) fn draft(
        &self,
        actor: &Handle,
        request: &PostRequest,
        _: SignatureChecked,
    ) -> Result<Draft, NodeError> {
        let command = &request.command;
        let (kind, to, amount, expires_at_ms, body_digest) = match &command.action {
            Action::Offer {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => (PaymentKind::Offer, to, amount, *expires_at_ms, body_digest),
            Action::Request {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => (
                PaymentKind::Request,
                to,
                amount,
                *expires_at_ms,
                body_digest,
            ),
            _ => {
                return Err(NodeError::bad_request(
                    "unsupported_action",
                    "this endpoint takes offers and requests",
                ))
            }
        };
        if to == actor {
            return Err(NodeError::bad_request(
                "self_payment",
                "you cannot pay yourself",
            ));
        }
        let recipient_auto_accept = self.require_auto_accept(to)?;
        let amount = self.parse_wire_amount(amount)?;
        let now = self.now_ms();
        if expires_at_ms <= now || expires_at_ms > now + OFFER_TTL_MAX_MS {
            return Err(NodeError::bad_request(
                "bad_expiry",
                "a payment expires between now and 30 days from now",
            ));
        }
        if body_digest != &digest_text(&request.body) {
            return Err(NodeError::bad_request(
                "body_mismatch",
                "the body is not the one the command signed",
            ));
        }
        let conversation = Conversation::direct(actor, to);
        crate::messaging::check_recipients(&request.body, &conversation.members)?;
        let (payer, payee) = if kind == PaymentKind::Offer {
            (actor.clone(), to.clone())
        } else {
            (to.clone(), actor.clone())
        };
        Ok(Draft {
            recipient_auto_accept,
            part: PaymentPart {
                payment: command.id.into(),
                kind,
                payer,
                payee,
                amount: amount.to_string(),
                state: PaymentState::Pending,
                expires_at_ms,
                pay_at_ms: None,
                reason: None,
            },
            amount,
            conversation,
            body_digest: body_digest.clone(),
        })
    }

    /// Sends a push payment: holds the money and posts the offer into the conversation. The
    /// signature is checked in a batch, the other checks (which read the recipient) run on the
    /// check lane; the hold and the posting are awaited without holding a thread, so a thousand
    /// offers in flight wait on two group commits, not on a thousand threads.
    pub async fn offer(
        self: Arc<Self>,
        actor: Handle,
        request: PostRequest,
    ) -> Result<Envelope, NodeError> {
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
            let (node, payer, amount) = (self.clone(), actor.clone(), draft.amount);
            return Err(blocking(move || Ok(node.refused_transfer(e, &payer, &amount))).await?);
        }
        let job = self.posting_job(
            &actor,
            (*request).clone(),
            draft.conversation.clone(),
            Some(draft.payment()),
        );
        let posted = self
            .write_posting_async(Some(request.command.clone()), job)
            .await?;
        self.deliver(&posted);
        self.count_posted(&posted, draft.part.kind);
        if draft.recipient_auto_accept != "off" {
            let node = self.clone();
            blocking(move || node.auto_accept(&draft)).await?;
        }
        Ok(posted.envelope)
    }

    pub(crate) fn offer_draft(
        &self,
        actor: &Handle,
        request: &PostRequest,
        checked: SignatureChecked,
    ) -> Result<Draft, NodeError> {
        let draft = self.draft(actor, request, checked)?;
        if draft.part.kind != "offer" {
            return Err(NodeError::bad_request(
                "unsupported_action",
                "this endpoint takes offers",
            ));
        }
        Ok(draft)
    }

    /// The pending transfer that holds an offer's money, its id the offer's.
    pub(crate) fn hold(
        &self,
        request: &PostRequest,
        draft: &Draft,
    ) -> Result<NewTransfer, NodeError> {
        let id = request.command.id.transfer();
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

    pub(crate) fn post_payment(
        &self,
        actor: &Handle,
        request: &PostRequest,
        draft: &Draft,
    ) -> Result<Envelope, NodeError> {
        let posted = self.post_signed(
            actor,
            request,
            draft.conversation.clone(),
            Some(draft.payment()),
        )?;
        self.count_posted(&posted, draft.part.kind);
        Ok(posted.envelope)
    }

    pub(crate) fn count_posted(&self, posted: &store::Posted, kind: PaymentKind) {
        if posted.created {
            let counter = if kind == PaymentKind::Offer {
                &self.metrics.offers
            } else {
                &self.metrics.requests
            };
            crate::metrics::Metrics::inc(counter);
        }
    }
}

/// A checked offer or request, before anything is written.
pub(crate) struct Draft {
    pub(crate) part: PaymentPart,
    /// Whom the recipient accepts offers from automatically (read once, with the recipient).
    pub(crate) recipient_auto_accept: chit_proto::AutoAccept,
    pub(crate) amount: Amount,
    pub(crate) conversation: Conversation,
    pub(crate) body_digest: String,
}

impl Draft {
    /// The payment row this draft becomes.
    pub(crate) fn payment(&self) -> store::Payment {
        store::Payment {
            part: self.part.clone(),
            amount: Some(self.amount),
            conversation: self.conversation.id.clone(),
            body_digest: self.body_digest.clone(),
        }
    }
}
