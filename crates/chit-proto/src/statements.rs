//! Signed statements. Each has one canonical byte form (see [`crate::canon`]) under its own tag;
//! signatures cover those bytes, never JSON.
//!
//! - [`Registration`]: the user's identity key signs the handle and names the encryption key,
//!   binding the two (proof of possession).
//! - [`Certificate`]: the node's answer, binding handle, keys and time under the node key.
//! - [`login_bytes`]: what a wallet signs to answer a login challenge.
//! - [`Command`]: every money-moving or state-changing instruction, signed by its actor.
//!
//! Receipts have their own module, [`crate::receipt`].

use serde::{Deserialize, Serialize};

use crate::canon::Canon;
use crate::handle::Handle;
use crate::ids::{CommandId, PaymentId};
use crate::keys::{EncryptionKey, IdentityKey, IdentitySecret, KeyError, Signature};

/// A registration request, signed by the identity key it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub handle: Handle,
    pub identity_key: IdentityKey,
    pub encryption_key: EncryptionKey,
    /// Wallet clock, milliseconds since the epoch; the node rejects stale registrations.
    pub created_at_ms: u64,
}

impl Registration {
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("chit/v1/registration")
            .str(self.handle.as_str())
            .bytes(self.identity_key.as_bytes())
            .bytes(self.encryption_key.as_bytes())
            .u64(self.created_at_ms)
            .finish()
    }

    pub fn sign(&self, key: &IdentitySecret) -> Signature {
        key.sign(&self.signing_bytes())
    }

    /// Checks the signature was made by the identity key the registration names.
    pub fn verify(&self, signature: &Signature) -> Result<(), KeyError> {
        self.identity_key.verify(&self.signing_bytes(), signature)
    }
}

/// The node's certificate for a registered account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub handle: Handle,
    pub identity_key: IdentityKey,
    pub encryption_key: EncryptionKey,
    pub issued_at_ms: u64,
    /// The node key that signed it.
    pub node_key: IdentityKey,
    pub signature: Signature,
}

impl Certificate {
    fn bytes(
        handle: &Handle,
        identity_key: &IdentityKey,
        encryption_key: &EncryptionKey,
        issued_at_ms: u64,
        node_key: &IdentityKey,
    ) -> Vec<u8> {
        Canon::new("chit/v1/certificate")
            .str(handle.as_str())
            .bytes(identity_key.as_bytes())
            .bytes(encryption_key.as_bytes())
            .u64(issued_at_ms)
            .bytes(node_key.as_bytes())
            .finish()
    }

    /// Issues a certificate under the node's key.
    pub fn issue(registration: &Registration, issued_at_ms: u64, node: &IdentitySecret) -> Self {
        let node_key = node.public();
        let signature = node.sign(&Self::bytes(
            &registration.handle,
            &registration.identity_key,
            &registration.encryption_key,
            issued_at_ms,
            &node_key,
        ));
        Self {
            handle: registration.handle.clone(),
            identity_key: registration.identity_key,
            encryption_key: registration.encryption_key,
            issued_at_ms,
            node_key,
            signature,
        }
    }

    /// Verifies against the node key the wallet pinned (not the one the certificate names).
    pub fn verify(&self, pinned_node_key: &IdentityKey) -> Result<(), KeyError> {
        if &self.node_key != pinned_node_key {
            return Err(KeyError::BadSignature);
        }
        let bytes = Self::bytes(
            &self.handle,
            &self.identity_key,
            &self.encryption_key,
            self.issued_at_ms,
            &self.node_key,
        );
        pinned_node_key.verify(&bytes, &self.signature)
    }
}

/// What a wallet signs to log in: the handle and the node's one-time challenge.
pub fn login_bytes(handle: &Handle, challenge: &[u8]) -> Vec<u8> {
    Canon::new("chit/v1/login")
        .str(handle.as_str())
        .bytes(challenge)
        .finish()
}

/// What a command does. Amounts are in text form (`EUR:12.50`) exactly as signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Post a message (text, or the body of an offer or request) to `to`.
    Say { to: Handle, body_digest: String },
    /// Push payment: hold `amount` for `to` until accepted, declined, cancelled or expired.
    Offer {
        to: Handle,
        amount: String,
        expires_at_ms: u64,
        body_digest: String,
    },
    /// Invoice: ask `to` for `amount`.
    Request {
        to: Handle,
        amount: String,
        expires_at_ms: u64,
        body_digest: String,
    },
    /// Accept an offer (recipient).
    Accept { message: PaymentId },
    /// Decline an offer (recipient).
    Decline { message: PaymentId },
    /// Cancel one's own pending offer or request.
    Cancel { message: PaymentId },
    /// Pay a request, now or at `at_ms`.
    Pay {
        message: PaymentId,
        at_ms: Option<u64>,
    },
    /// Reject a request (payer).
    Reject { message: PaymentId },
    /// Give back a settled payment in full (payee: an accepted offer or a paid request).
    Refund { message: PaymentId },
    /// Move money in from a rail.
    TopUp { rail: String, amount: String },
    /// Move money out to a rail.
    CashOut { rail: String, amount: String },
    /// Link an external account on a rail (verified by the rail before it is stored).
    Link { rail: String, reference: String },
    /// Let an API key (`chit token create`) act for the actor: only the actions in `scope`,
    /// only until `expires_at_ms`. Signed by the identity key itself.
    Grant {
        key: IdentityKey,
        scope: Vec<String>,
        expires_at_ms: u64,
        label: String,
    },
    /// Withdraw an API key at once.
    Revoke { key: IdentityKey },
    /// Move `amount` from the online balance onto the actor's offline device `device`, as its
    /// movement number `device_i` + 1 (the number the wallet last saw: a device out of step
    /// with the node is synced first, not guessed at).
    OfflineDeposit {
        device: IdentityKey,
        amount: String,
        device_i: u64,
    },
    /// Retire one of the actor's offline devices: its certificate goes on the revocation list
    /// (a lost phone pays no one afterwards).
    RetireDevice { device: IdentityKey },
}

/// What an API key may be allowed to do: `send` money (offers, paying requests, topping up
/// to pay), `request` money, `decide` on payments (accept, decline, reject, cancel), `say` text.
pub const SCOPES: [&str; 4] = ["send", "request", "decide", "say"];

impl Action {
    /// The scope an API key needs for this action; `None` when only the identity key may sign
    /// it (cashing out, linking accounts, granting and revoking keys).
    pub fn scope(&self) -> Option<&'static str> {
        match self {
            Self::Say { .. } => Some("say"),
            Self::Offer { .. } | Self::Pay { .. } | Self::TopUp { .. } => Some("send"),
            Self::Request { .. } => Some("request"),
            Self::Accept { .. }
            | Self::Decline { .. }
            | Self::Cancel { .. }
            | Self::Reject { .. }
            | Self::Refund { .. } => Some("decide"),
            Self::CashOut { .. }
            | Self::Link { .. }
            | Self::Grant { .. }
            | Self::Revoke { .. }
            | Self::OfflineDeposit { .. }
            | Self::RetireDevice { .. } => None,
        }
    }
}

/// A signed instruction. `id` is chosen by the wallet: a retry carries the same id and does
/// nothing new; the signature makes the instruction the actor's own and non-repudiable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub id: CommandId,
    pub actor: Handle,
    pub action: Action,
}

impl Command {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new("chit/v1/command");
        c.str(self.id.as_str()).str(self.actor.as_str());
        match &self.action {
            Action::Say { to, body_digest } => c.str("say").str(to.as_str()).str(body_digest),
            Action::Offer {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => c
                .str("offer")
                .str(to.as_str())
                .str(amount)
                .u64(*expires_at_ms)
                .str(body_digest),
            Action::Request {
                to,
                amount,
                expires_at_ms,
                body_digest,
            } => c
                .str("request")
                .str(to.as_str())
                .str(amount)
                .u64(*expires_at_ms)
                .str(body_digest),
            Action::Accept { message } => c.str("accept").str(message.as_str()),
            Action::Decline { message } => c.str("decline").str(message.as_str()),
            Action::Cancel { message } => c.str("cancel").str(message.as_str()),
            Action::Pay { message, at_ms } => c.str("pay").str(message.as_str()).opt_u64(*at_ms),
            Action::Reject { message } => c.str("reject").str(message.as_str()),
            Action::Refund { message } => c.str("refund").str(message.as_str()),
            Action::TopUp { rail, amount } => c.str("top_up").str(rail).str(amount),
            Action::CashOut { rail, amount } => c.str("cash_out").str(rail).str(amount),
            Action::Link { rail, reference } => c.str("link").str(rail).str(reference),
            Action::Grant {
                key,
                scope,
                expires_at_ms,
                label,
            } => {
                c.str("grant").bytes(key.as_bytes()).u64(scope.len() as u64);
                for s in scope {
                    c.str(s);
                }
                c.u64(*expires_at_ms).str(label)
            }
            Action::Revoke { key } => c.str("revoke").bytes(key.as_bytes()),
            Action::OfflineDeposit {
                device,
                amount,
                device_i,
            } => c
                .str("offline_deposit")
                .bytes(device.as_bytes())
                .str(amount)
                .u64(*device_i),
            Action::RetireDevice { device } => c.str("retire_device").bytes(device.as_bytes()),
        };
        c.finish()
    }

    pub fn sign(&self, key: &IdentitySecret) -> Signature {
        key.sign(&self.signing_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::EncryptionSecret;

    fn handle(s: &str) -> Handle {
        Handle::new(s).unwrap()
    }

    #[test]
    fn registration_binds_keys_and_certificate_verifies_against_the_pinned_node() {
        let id = IdentitySecret::generate();
        let enc = EncryptionSecret::generate();
        let reg = Registration {
            handle: handle("alice"),
            identity_key: id.public(),
            encryption_key: enc.public(),
            created_at_ms: 1,
        };
        let sig = reg.sign(&id);
        assert_eq!(reg.verify(&sig), Ok(()));
        let swapped = Registration {
            encryption_key: EncryptionSecret::generate().public(),
            ..reg.clone()
        };
        assert!(
            swapped.verify(&sig).is_err(),
            "the encryption key is covered"
        );
        let node = IdentitySecret::generate();
        let cert = Certificate::issue(&reg, 5, &node);
        assert_eq!(cert.verify(&node.public()), Ok(()));
        assert!(cert.verify(&IdentitySecret::generate().public()).is_err());
        let forged = Certificate {
            handle: handle("mallory"),
            ..cert.clone()
        };
        assert!(forged.verify(&node.public()).is_err());
    }

    #[test]
    fn commands_sign_every_field() {
        let id = IdentitySecret::generate();
        let offer = Command {
            id: CommandId::new(1),
            actor: handle("alice"),
            action: Action::Offer {
                to: handle("bob"),
                amount: "EUR:5.00".into(),
                expires_at_ms: 9,
                body_digest: "d".into(),
            },
        };
        let sig = offer.sign(&id);
        let mut changed = offer.clone();
        if let Action::Offer { amount, .. } = &mut changed.action {
            *amount = "EUR:50.00".into();
        }
        assert_eq!(id.public().verify(&offer.signing_bytes(), &sig), Ok(()));
        assert!(id.public().verify(&changed.signing_bytes(), &sig).is_err());
        let json = serde_json::to_string(&offer).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), offer);
    }
}
