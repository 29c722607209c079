//! 128-bit identifiers chosen by clients (TigerBeetle style): a retry carries the same id, so the
//! ledger can tell a retry from a new request. Zero and `u128::MAX` are reserved and never valid.

use std::fmt;
use std::str::FromStr;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id must be 32 hexadecimal digits, got {0:?}")]
    Invalid(String),
    #[error("id 0 and id ffff…ffff are reserved")]
    Reserved,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u128);

        impl $name {
            /// Wraps a raw value; zero and `u128::MAX` are reserved.
            pub fn new(raw: u128) -> Result<Self, IdError> {
                if raw == 0 || raw == u128::MAX {
                    return Err(IdError::Reserved);
                }
                Ok(Self(raw))
            }

            /// A time-ordered id (the ULID layout): 48 bits of Unix milliseconds, then 80 random
            /// bits. Clients should use these: ids that grow with time insert at the edge of
            /// the ledger's id index instead of at a random page, which is what keeps large
            /// ledgers fast (TigerBeetle recommends the same).
            pub fn time_ordered(unix_ms: u64, random: u128) -> Self {
                let ms = u128::from(unix_ms & ((1 << 48) - 1));
                let raw = ms << 80 | (random & ((1 << 80) - 1));
                // Zero (a zero clock and zero randomness) and MAX are reserved; nudge off them.
                Self(raw.clamp(1, u128::MAX - 1))
            }

            pub fn as_u128(self) -> u128 {
                self.0
            }

            /// Big-endian bytes: the storage form, so byte order equals numeric order.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Result<Self, IdError> {
                Self::new(u128::from_be_bytes(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:032x})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdError::Invalid(s.to_owned()));
                }
                let raw = u128::from_str_radix(s, 16).map_err(|_| IdError::Invalid(s.to_owned()))?;
                Self::new(raw)
            }
        }
    };
}

id_type!(
    /// Identifies a ledger account.
    AccountId
);
id_type!(
    /// Identifies a ledger transfer; chosen by the client so retries are recognised.
    TransferId
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reserved_and_malformed_ids_are_refused() {
        assert_eq!(TransferId::new(0), Err(IdError::Reserved));
        assert_eq!(TransferId::new(u128::MAX), Err(IdError::Reserved));
        assert!("xyz".parse::<TransferId>().is_err());
        assert!("+0000000000000000000000000000001"
            .parse::<TransferId>()
            .is_err());
        assert_eq!("0".repeat(32).parse::<AccountId>(), Err(IdError::Reserved));
    }

    #[test]
    fn time_ordered_ids_sort_by_time() {
        let early = TransferId::time_ordered(1_000, u128::MAX);
        let late = TransferId::time_ordered(1_001, 0);
        assert!(early < late);
        assert_eq!(TransferId::time_ordered(0, 0).as_u128(), 1);
        assert_eq!(late.as_u128() >> 80, 1_001);
    }

    proptest! {
        #[test]
        fn text_and_bytes_round_trip(raw in 1..u128::MAX) {
            let id = AccountId::new(raw).unwrap();
            prop_assert_eq!(id.to_string().parse::<AccountId>(), Ok(id));
            prop_assert_eq!(AccountId::from_bytes(id.to_bytes()), Ok(id));
        }
    }
}
