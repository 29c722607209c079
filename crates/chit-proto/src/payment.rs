//! What kind of payment a message carries and the state it is in, as types: the wire keeps
//! the lowercase words it always had (`"offer"`, `"pending"` …), the code can no longer
//! misspell one. The words compare equal to the values (`state == "paid"`), so code and
//! tests can still say what they mean plainly.

use serde::{Deserialize, Serialize};

/// Defines a wire enum: each variant with its one written form.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The written form, as on the wire and in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<Self, UnknownWord> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord { what: $what, text: text.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
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
    };
}

/// A word that names no value of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {what}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub text: String,
}

wire_enum! {
    /// An offer (the payer pushes money, held until the payee decides), a request (the payee
    /// asks; nothing is held until the payer pays), or an offline voucher the payee claimed.
    PaymentKind, "payment kind" {
        Offer = "offer",
        Request = "request",
        Offline = "offline",
    }
}

wire_enum! {
    /// Where a payment stands. A failed scheduled payment is `Pending` again, with a reason.
    PaymentState, "payment state" {
        Pending = "pending",
        Accepted = "accepted",
        Declined = "declined",
        Cancelled = "cancelled",
        Expired = "expired",
        Scheduled = "scheduled",
        Paying = "paying",
        Paid = "paid",
        Rejected = "rejected",
        Refunded = "refunded",
    }
}

wire_enum! {
    /// Whom a user accepts offers from without being asked.
    AutoAccept, "auto-accept mode" {
        Off = "off",
        /// People the user has written to.
        Contacts = "contacts",
        Everyone = "everyone",
    }
}

impl PaymentState {
    /// Whether the payment can still be decided (nothing final has happened to it).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Scheduled | Self::Paying)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_through_text_and_json() {
        for state in PaymentState::ALL {
            assert_eq!(state.as_str().parse::<PaymentState>().unwrap(), *state);
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<PaymentState>(&json).unwrap(), *state);
        }
        for kind in PaymentKind::ALL {
            assert_eq!(kind.as_str().parse::<PaymentKind>().unwrap(), *kind);
        }
        for mode in AutoAccept::ALL {
            assert_eq!(mode.as_str().parse::<AutoAccept>().unwrap(), *mode);
        }
        assert_eq!(PaymentState::Paid, "paid");
        let err = "Paid".parse::<PaymentState>().unwrap_err();
        assert_eq!(err.to_string(), "\"Paid\" is not a payment state");
        assert!(serde_json::from_str::<PaymentKind>("\"gift\"").is_err());
    }
}
