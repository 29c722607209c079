//! The ids of commands, messages and payments, as types. All three are 128-bit ledger ids
//! written as 32 hex digits; they are distinct types because they name different things — a
//! command is what a wallet signed, a message what the conversation shows, a payment the offer
//! or request whose id it keeps for its whole life — and mixing them up was a bug waiting to
//! happen when all three were `String`.
//!
//! An id keeps the text it was written in: commands and receipts are signed over that text, and
//! rows older nodes stored may hold capitals (before ids had one written form). New input must
//! be in the one written form, lowercase ([`CommandId::is_canonical`]); the node checks that at
//! its edge, and reading stored rows stays possible.

use std::fmt;
use std::str::FromStr;

use chit_core::TransferId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a text is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ids are 32 hexadecimal digits, not all zero (got {0:?})")]
pub struct BadId(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        /// The text as written, and the number it names (kept, so it is parsed once).
        pub struct $name([u8; 32], TransferId);

        impl $name {
            /// A new id made at `now_ms` (milliseconds since the Unix epoch): 48 bits of time,
            /// then 80 random bits, in the one written form. Ids made later sort later, so the
            /// ledger and the tables indexed by id grow at their end; the caller reads the
            /// clock (wallets the wall clock, the node its own).
            pub fn new(now_ms: u64) -> Self {
                let random = u128::from_be_bytes(crate::keys::random_bytes());
                Self::from(TransferId::time_ordered(now_ms, random))
            }

            /// The text, as written.
            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).expect("ids are ASCII hex digits")
            }

            /// Whether this is the one written form, lowercase: `ABC…` and `abc…` name the same
            /// ledger transfer, so new input in any other form is refused.
            pub fn is_canonical(&self) -> bool {
                self.0.iter().all(|b| !b.is_ascii_uppercase())
            }

            /// The ledger transfer of the same number.
            pub fn transfer(&self) -> TransferId {
                self.1
            }
        }

        impl From<TransferId> for $name {
            fn from(id: TransferId) -> Self {
                let mut text = [0u8; 32];
                text.copy_from_slice(id.to_string().as_bytes());
                Self(text, id)
            }
        }

        impl FromStr for $name {
            type Err = BadId;

            fn from_str(text: &str) -> Result<Self, BadId> {
                let id = text
                    .parse::<TransferId>()
                    .map_err(|_| BadId(text.to_owned()))?;
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(text.as_bytes());
                Ok(Self(bytes, id))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// What a wallet chose for a signed command: a retry carries the same id and does nothing
    /// new. A command that posts a message gives it its id; one that moves money names the
    /// ledger transfer.
    CommandId
);

id_type!(
    /// A message in a conversation: the id of the command that posted it, or, for the node's
    /// own updates, one derived from the payment and the step ([`PaymentId::step`]).
    MessageId
);

id_type!(
    /// A payment: the id of the offer or request message that opened it, which is also the
    /// ledger transfer that holds an offer's money.
    PaymentId
);

impl From<CommandId> for MessageId {
    /// The message a command posts has the command's id.
    fn from(id: CommandId) -> Self {
        Self(id.0, id.1)
    }
}

impl From<CommandId> for PaymentId {
    /// The offer or request a command opens has the command's id.
    fn from(id: CommandId) -> Self {
        Self(id.0, id.1)
    }
}

impl From<MessageId> for PaymentId {
    /// A payment has the id of the offer or request message that opened it.
    fn from(id: MessageId) -> Self {
        Self(id.0, id.1)
    }
}

impl From<PaymentId> for MessageId {
    /// The offer or request message of a payment.
    fn from(id: PaymentId) -> Self {
        Self(id.0, id.1)
    }
}

/// The same id across the three types: a command and the message it posted, a payment and
/// its offer or request.
macro_rules! same_id {
    ($a:ident, $b:ident) => {
        impl PartialEq<$b> for $a {
            fn eq(&self, other: &$b) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq<$a> for $b {
            fn eq(&self, other: &$a) -> bool {
                self.0 == other.0
            }
        }
    };
}

same_id!(CommandId, MessageId);
same_id!(CommandId, PaymentId);
same_id!(MessageId, PaymentId);

impl From<PaymentId> for CommandId {
    /// The command that opens a payment whose id was chosen first (a gateway naming a payment
    /// after its client's request, so a retry is the same payment).
    fn from(id: PaymentId) -> Self {
        Self(id.0, id.1)
    }
}

impl PaymentId {
    /// The id of one of the node's own steps on this payment (its expiry, the pay of a
    /// request, the update that reports it): the same on every node, so a step retried
    /// anywhere is the same ledger transfer and the same message.
    pub fn step(&self, step: &str) -> TransferId {
        let mut h = Sha256::new();
        for part in [
            b"chit/v1/step".as_slice(),
            self.as_str().as_bytes(),
            step.as_bytes(),
        ] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        let raw = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
        TransferId::new(raw.clamp(1, u128::MAX - 1)).expect("clamped off the reserved values")
    }

    /// The message that reports `step` ([`PaymentId::step`]).
    pub fn step_message(&self, step: &str) -> MessageId {
        MessageId::from(self.step(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_are_in_the_one_written_form_and_sort_by_time() {
        let id = CommandId::new(1_796_340_884_207);
        assert!(id.is_canonical(), "{id}");
        assert_eq!(
            u64::from_str_radix(&id.as_str()[..12], 16).unwrap(),
            1_796_340_884_207
        );
        assert!(CommandId::new(1_796_340_884_206) < CommandId::new(1_796_340_884_207));
    }

    #[test]
    fn capitals_are_kept_as_written_but_are_not_the_written_form() {
        let text = "0123456789ABCDEF0123456789abcdef";
        let id: MessageId = text.parse().unwrap();
        assert_eq!(id.as_str(), text);
        assert!(!id.is_canonical());
        assert_eq!(id.transfer().as_u128(), 0x0123456789abcdef0123456789abcdef);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
    }

    #[test]
    fn what_is_not_an_id_is_refused() {
        for bad in [
            "",
            "0123",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef0",
            "00000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffff",
            "+123456789abcdef0123456789abcdef",
        ] {
            assert!(bad.parse::<CommandId>().is_err(), "{bad:?}");
            assert!(serde_json::from_str::<PaymentId>(&format!("{bad:?}")).is_err());
        }
    }

    #[test]
    fn steps_are_the_ids_nodes_always_derived() {
        // The derivation is part of the protocol: changing it would make a step retried on
        // an upgraded node a new transfer. The value is the node's derivation before the id
        // types existed, recomputed independently (length-prefixed SHA-256, first 16 bytes).
        let payment: PaymentId = "0190f5d2a1b2000000000000000000aa".parse().unwrap();
        assert_eq!(
            payment.step("pay").to_string(),
            "50a9bc65194d80f343a9c3447305ba05"
        );
        assert_ne!(payment.step("pay"), payment.step("paid"));
        assert_eq!(
            MessageId::from(payment.step("paid")),
            payment.step_message("paid")
        );
    }
}
