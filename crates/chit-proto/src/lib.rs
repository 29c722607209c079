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

/// Whether `id` is a command id in its one written form: 32 lowercase hex digits (128 bits).
/// One form only: `ABC…` and `abc…` name the same ledger transfer, so accepting both made two
/// payments of one hold.
pub fn is_command_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod id_tests {
    #[test]
    fn made_ids_are_in_the_one_written_form_and_others_are_not() {
        let id = super::command_id(1_796_340_884_207);
        assert!(super::is_command_id(&id), "{id}");
        assert!(!super::is_command_id(&id.to_uppercase()));
        assert!(!super::is_command_id(&id[1..]));
        assert!(!super::is_command_id(&format!("{}g", &id[1..])));
        assert_eq!(
            u64::from_str_radix(&id[..12], 16).unwrap(),
            1_796_340_884_207
        );
    }
}
