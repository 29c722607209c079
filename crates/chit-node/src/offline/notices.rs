//! What the people concerned are told when a device is caught: its owner and each receiver of
//! a payment in the evidence, in their conversation, as an `offline_notice` about that payment
//! (the reason says what the device did); a fraud with no payment in it goes to the owner's own
//! conversation. Each notice has an id derived from what it is about, so telling twice posts
//! once.

use chit_core::Amount;
use chit_proto::api::PaymentPart;
use chit_proto::{Handle, MessageId, PaymentId, PaymentKind, PaymentState, SealedBody};

use super::books::Caught;
use super::voucher_payment;
use crate::error::NodeError;
use crate::messaging::Conversation;
use crate::node::Node;
use crate::store::{self, NewMessage};

/// The message kind of a notice.
pub const NOTICE_KIND: &str = "offline_notice";

impl Node {
    /// Tells the owner and receivers of each caught device.
    pub(crate) fn tell_caught(&self, caught: &[Caught]) -> Result<(), NodeError> {
        let currency = self.offline_currency();
        for found in caught {
            let why = format!("the paying device was revoked: {}", found.why);
            let mut about: Vec<(Handle, u64, PaymentId)> = found
                .payments
                .iter()
                .map(|(receiver, amount, hash)| (receiver.clone(), *amount, voucher_payment(hash)))
                .collect();
            if about.is_empty() {
                let id = PaymentId::from(super::transfer(
                    b"chit/v1/offline/notice",
                    found.device.as_bytes(),
                ));
                about.push((found.owner.clone(), 0, id));
            }
            for (receiver, minor, payment) in about {
                let amount = Amount::from_minor(currency, minor)
                    .expect("bounded")
                    .to_string();
                self.notify(&found.owner, &receiver, payment, amount, &why)?;
            }
        }
        Ok(())
    }

    fn notify(
        &self,
        owner: &Handle,
        receiver: &Handle,
        payment: PaymentId,
        amount: String,
        why: &str,
    ) -> Result<(), NodeError> {
        let conversation = Conversation::direct(owner, receiver);
        let id: MessageId = payment.step_message("revoked");
        let mut locks = store::posting_locks(&conversation.members, &id);
        locks.sort();
        locks.dedup();
        let claimed = self
            .db
            .read(|c| store::message(c, &MessageId::from(payment)))?
            .is_some();
        let part = PaymentPart {
            payment,
            kind: PaymentKind::Offline,
            payer: owner.clone(),
            payee: receiver.clone(),
            amount,
            state: if claimed {
                PaymentState::Paid
            } else {
                PaymentState::Pending
            },
            expires_at_ms: 0,
            pay_at_ms: None,
            reason: Some(why.to_owned()),
        };
        let now = self.now_ms();
        let posted = self.write(|c| {
            c.lock(&locks)?;
            store::post_message(
                c,
                &NewMessage {
                    id: &id,
                    conversation: &conversation.id,
                    conversation_kind: conversation.kind,
                    members: &conversation.members,
                    sender: owner,
                    kind: NOTICE_KIND,
                    time_ms: now,
                    body: &SealedBody::default(),
                    command: None,
                    signature: None,
                    signer: None,
                    payment: Some(&part),
                    receipt: None,
                },
            )
        })?;
        self.deliver(&posted);
        Ok(())
    }
}
