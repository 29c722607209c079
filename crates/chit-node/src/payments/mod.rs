//! Payments as messages, on the ledger.
//!
//! An offer is a pending ledger transfer from payer to payee whose id *is* the offer's message
//! id (the wallet's signed command id). Accepting posts it, declining or cancelling voids it,
//! expiry voids it under an id derived from the offer's, so every step is idempotent through
//! the ledger however often and from however many nodes it is retried. Each outcome becomes a
//! `payment_update` message in the conversation with a node-signed receipt (see
//! [`crate::payments::outcomes`]); requests have their own room ([`crate::payments::requests`]), as do refunds and
//! money moving through rails ([`crate::payments::refunds`], [`crate::payments::funding`]).

pub mod auto_accept;
pub mod decisions;
pub mod funding;
pub mod ids;
pub mod ledger;
pub mod offers;
pub mod outcomes;
pub mod rails;
pub mod refunds;
pub mod requests;
pub mod statement;

pub use ids::*;
pub(crate) use ledger::{ledger_error, transfer_error};

/// Ledger reason codes (the transfer's `code`).
pub const CODE_OFFER: u16 = 10;
/// How an offer's hold was resolved. Distinct codes let the node rebuild a payment's outcome
/// from the ledger alone (see `reconcile`).
pub const CODE_OFFER_ACCEPT: u16 = 11;
pub const CODE_OFFER_DECLINE: u16 = 13;
pub const CODE_OFFER_CANCEL: u16 = 14;
pub const CODE_OFFER_EXPIRE: u16 = 15;
pub const CODE_REQUEST_PAY: u16 = 12;
/// A settled payment given back by its payee.
pub const CODE_REFUND: u16 = 16;
pub const CODE_TOP_UP: u16 = 20;
pub const CODE_CASH_OUT: u16 = 21;
/// Ledger account codes.
pub const ACCOUNT_USER: u16 = 1;
pub const ACCOUNT_BANK: u16 = 100;
/// Longest an offer may stay open.
pub const OFFER_TTL_MAX_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Largest single sandbox top-up, in minor units: play money, but still a limit.
pub const SANDBOX_TOP_UP_MAX_MINOR: u64 = 1_000_000;
