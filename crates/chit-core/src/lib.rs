//! Chit's domain types: currencies, amounts, identifiers and timestamps.
//!
//! Values are parsed once at the edge into these types and cannot be invalid afterwards.
//! This crate does no I/O.

pub mod amount;
pub mod currency;
pub mod id;
pub mod time;

pub use amount::{Amount, AmountError, MINOR_MAX};
pub use currency::{Currencies, Currency, CurrencyCode, CurrencyError};
pub use id::{AccountId, IdError, TransferId};
pub use time::{iso8601, parse_time, show_utc, TimeError, Timestamp};
