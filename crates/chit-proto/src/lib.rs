//! Chit's protocol: keys, canonical signing, sealed bodies, handles, certificates, receipts and
//! the signed commands wallets send. Shared by the node and the wallet; no I/O.

pub mod api;
pub mod b64;
pub mod canon;
pub mod handle;
pub mod keys;
pub mod payment;
pub mod receipt;
pub mod seal;
pub mod verify;

pub use handle::{Handle, HandleError};
pub use keys::{
    api_token_key, new_api_token, verify_batch, EncryptionKey, EncryptionSecret, IdentityKey,
    IdentitySecret, KeyError, Signature, Verifier,
};
pub use payment::{AutoAccept, PaymentKind, PaymentState, UnknownWord};
pub use seal::{SealError, SealedBody};
pub mod statements;

pub use receipt::{Outcome, Receipt, ReceiptFacts, Settlement};
pub use statements::{login_bytes, Action, Certificate, Command, Registration, SCOPES};

/// A new command id made at `now_ms` (milliseconds since the Unix epoch): 48 bits of time, then
/// 80 random bits, as 32 lowercase hex digits. Ids made later sort later, so the ledger and the
/// tables indexed by id grow at their end; the caller reads the clock (wallets the wall clock,
/// the node its own), so this stays a pure function of its input and the random source.
pub fn command_id(now_ms: u64) -> String {
    let random = u128::from_be_bytes(keys::random_bytes());
    chit_core::TransferId::time_ordered(now_ms, random).to_string()
}
