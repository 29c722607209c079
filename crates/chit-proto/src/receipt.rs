//! Receipts: the node's signed record of what became of a payment. People file them, so a
//! receipt must say what happened — paid, declined, expired, refunded, failed — not only who and
//! how much. It verifies offline with the node key.
//!
//! Two forms exist. The first (`chit/v1/receipt`) named the parties, the amount and the
//! message but not the outcome, so a declined offer's receipt read like a payment; nodes no
//! longer issue it, but receipts already filed still verify and say they are of the old form.
//! The second (`chit/v2/receipt`) also signs the payment's kind, the outcome, why (for a
//! failure) and the ledger transfers that carried it out.

use serde::{Deserialize, Serialize};

use crate::canon::Canon;
use crate::handle::Handle;
use crate::ids::{MessageId, PaymentId};
use crate::keys::{IdentityKey, IdentitySecret, KeyError, Signature};

/// What became of a payment. Each outcome says whether money moved to the payee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An offer the payee accepted: the held money is the payee's.
    Accepted,
    /// A request (invoice) the payer paid.
    Paid,
    /// An offer the payee declined: the held money went back to the payer.
    Declined,
    /// Withdrawn by whoever made it (the payer's offer, the payee's request); an offer's held
    /// money went back.
    Cancelled,
    /// Nobody decided in time; an offer's held money went back.
    Expired,
    /// A request the payer refused.
    Rejected,
    /// A settled payment the payee gave back in full.
    Refunded,
    /// The money could not be moved (see the reason); nothing was paid.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Refunded => "refunded",
            Self::Failed => "failed",
        }
    }

    /// Whether the payee ended up with the money.
    pub fn payee_has_the_money(self) -> bool {
        matches!(self, Self::Accepted | Self::Paid)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What only the second form signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// `offer` or `request`.
    pub kind: String,
    pub outcome: Outcome,
    /// Why, when the outcome is a failure (e.g. `insufficient funds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The ledger transfers behind it, in order: an offer's hold and the post or void that
    /// resolved it, a request's payment, a refund. Empty when no money moved.
    pub transfers: Vec<String>,
}

/// The node's signed record of a payment's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The receipt's id: the id of the update message that carries it.
    pub transfer_id: MessageId,
    pub payer: Handle,
    pub payee: Handle,
    pub amount: String,
    pub time_ms: u64,
    /// The offer or request the receipt is about.
    pub message_id: PaymentId,
    /// Base64url SHA-256 of the sealed body of the message the payment belongs to.
    pub body_digest: String,
    /// Absent in receipts of the first form, which did not say what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
    pub signature: Signature,
}

/// Everything a receipt states, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptFacts {
    pub id: MessageId,
    pub payer: Handle,
    pub payee: Handle,
    pub amount: String,
    pub time_ms: u64,
    pub message_id: PaymentId,
    pub body_digest: String,
    pub settlement: Settlement,
}

impl Receipt {
    fn bytes(&self) -> Vec<u8> {
        let tag = match self.settlement {
            None => "chit/v1/receipt",
            Some(_) => "chit/v2/receipt",
        };
        let mut c = Canon::new(tag);
        c.str(self.transfer_id.as_str())
            .str(self.payer.as_str())
            .str(self.payee.as_str())
            .str(&self.amount)
            .u64(self.time_ms)
            .str(self.message_id.as_str())
            .str(&self.body_digest);
        if let Some(s) = &self.settlement {
            c.str(&s.kind)
                .str(s.outcome.as_str())
                .opt_str(s.reason.as_deref())
                .u64(s.transfers.len() as u64);
            for t in &s.transfers {
                c.str(t);
            }
        }
        c.finish()
    }

    /// Signs a receipt (always of the second form) with the node key.
    pub fn issue(facts: ReceiptFacts, node: &IdentitySecret) -> Self {
        let mut receipt = Self {
            transfer_id: facts.id,
            payer: facts.payer,
            payee: facts.payee,
            amount: facts.amount,
            time_ms: facts.time_ms,
            message_id: facts.message_id,
            body_digest: facts.body_digest,
            settlement: Some(facts.settlement),
            signature: Signature([0; 64]),
        };
        receipt.signature = node.sign(&receipt.bytes());
        receipt
    }

    /// Verifies offline against the node key (either form).
    pub fn verify(&self, node_key: &IdentityKey) -> Result<(), KeyError> {
        node_key.verify(&self.bytes(), &self.signature)
    }

    /// The outcome, or `None` for a receipt of the first form (which does not say).
    pub fn outcome(&self) -> Option<Outcome> {
        self.settlement.as_ref().map(|s| s.outcome)
    }

    /// One sentence saying what the receipt records, as a person would read it.
    pub fn describe(&self) -> String {
        let (payer, payee, amount) = (&self.payer, &self.payee, &self.amount);
        let Some(s) = &self.settlement else {
            return format!(
                "{payer} → {payee} {amount} (a receipt of the old form: it does not say whether \
                 the payment was made; the payment's state does)"
            );
        };
        let offer = s.kind == "offer";
        match s.outcome {
            Outcome::Accepted => format!("{payer} paid {payee} {amount} ({payee} accepted the offer)"),
            Outcome::Paid => format!("{payer} paid {payee} {amount} (the request was paid)"),
            Outcome::Declined => format!(
                "{payee} declined {amount} from {payer}: nothing was paid, the held money went back to {payer}"
            ),
            Outcome::Cancelled if offer => format!(
                "{payer} cancelled the offer of {amount} to {payee}: nothing was paid, the held money went back to {payer}"
            ),
            Outcome::Cancelled => format!(
                "{payee} withdrew the request for {amount} from {payer}: nothing was paid"
            ),
            Outcome::Expired if offer => format!(
                "the offer of {amount} from {payer} to {payee} expired: nothing was paid, the held money went back to {payer}"
            ),
            Outcome::Expired => format!(
                "the request for {amount} from {payee} to {payer} expired unpaid: nothing was paid"
            ),
            Outcome::Rejected => format!(
                "{payer} rejected the request for {amount} from {payee}: nothing was paid"
            ),
            Outcome::Refunded => format!("{payee} refunded {amount} to {payer}"),
            Outcome::Failed => format!(
                "{payer}'s payment of {amount} to {payee} failed ({}): nothing was paid",
                s.reason.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATE: &str = "0190f5d2a1b2000000000000000000bb";
    const PAYMENT: &str = "0190f5d2a1b2000000000000000000aa";

    fn handle(s: &str) -> Handle {
        Handle::new(s).unwrap()
    }

    fn facts(outcome: Outcome) -> ReceiptFacts {
        ReceiptFacts {
            id: UPDATE.parse().unwrap(),
            payer: handle("alice"),
            payee: handle("bob"),
            amount: "EUR:5.00".into(),
            time_ms: 7,
            message_id: PAYMENT.parse().unwrap(),
            body_digest: "d".into(),
            settlement: Settlement {
                kind: "offer".into(),
                outcome,
                reason: None,
                transfers: vec!["hold".into(), "void".into()],
            },
        }
    }

    #[test]
    fn the_outcome_and_transfers_are_signed() {
        let node = IdentitySecret::generate();
        let receipt = Receipt::issue(facts(Outcome::Declined), &node);
        assert_eq!(receipt.verify(&node.public()), Ok(()));
        assert!(receipt
            .verify(&IdentitySecret::generate().public())
            .is_err());
        assert!(
            receipt.describe().contains("declined"),
            "{}",
            receipt.describe()
        );
        assert!(!receipt.describe().contains("paid @bob"));

        let mut paid = receipt.clone();
        paid.settlement.as_mut().unwrap().outcome = Outcome::Accepted;
        assert!(paid.verify(&node.public()).is_err(), "outcome is covered");
        let mut moved = receipt.clone();
        moved.settlement.as_mut().unwrap().transfers.pop();
        assert!(
            moved.verify(&node.public()).is_err(),
            "transfers are covered"
        );
        let mut reasoned = receipt.clone();
        reasoned.settlement.as_mut().unwrap().reason = Some(String::new());
        assert!(
            reasoned.verify(&node.public()).is_err(),
            "reason is covered"
        );
        // Dropping the settlement does not turn it into a valid old-form receipt.
        let stripped = Receipt {
            settlement: None,
            ..receipt.clone()
        };
        assert!(stripped.verify(&node.public()).is_err());

        let json = serde_json::to_string(&receipt).unwrap();
        assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), receipt);
    }

    /// A receipt of the first form, signed as nodes signed them before outcomes were added.
    #[test]
    fn receipts_of_the_old_form_still_verify_and_say_so() {
        let node = IdentitySecret::generate();
        let old = Canon::new("chit/v1/receipt")
            .str(UPDATE)
            .str("alice")
            .str("bob")
            .str("EUR:5.00")
            .u64(7)
            .str(PAYMENT)
            .str("d")
            .finish();
        let json = serde_json::json!({
            "transfer_id": UPDATE, "payer": "alice", "payee": "bob", "amount": "EUR:5.00",
            "time_ms": 7, "message_id": PAYMENT, "body_digest": "d",
            "signature": node.sign(&old),
        });
        let receipt: Receipt = serde_json::from_value(json).unwrap();
        assert_eq!(receipt.verify(&node.public()), Ok(()));
        assert_eq!(receipt.outcome(), None);
        assert!(
            receipt.describe().contains("old form"),
            "{}",
            receipt.describe()
        );
        let altered = Receipt {
            amount: "EUR:6.00".into(),
            ..receipt
        };
        assert!(altered.verify(&node.public()).is_err());
    }

    #[test]
    fn every_outcome_reads_as_what_happened() {
        let node = IdentitySecret::generate();
        for (outcome, words) in [
            (Outcome::Accepted, "@alice paid @bob"),
            (Outcome::Cancelled, "cancelled"),
            (Outcome::Expired, "expired"),
            (Outcome::Refunded, "@bob refunded EUR:5.00 to @alice"),
            (Outcome::Failed, "failed"),
        ] {
            let text = Receipt::issue(facts(outcome), &node).describe();
            assert!(text.contains(words), "{outcome}: {text}");
        }
    }
}
