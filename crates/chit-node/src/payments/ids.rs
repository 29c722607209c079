//! Ledger ids derived from Chit's: a user's account per currency, the bank account, and the
//! id of each step the node takes on a payment — the same on every node, so a step retried
//! anywhere is the same ledger transfer.

use chit_core::{AccountId, Currency, TransferId};
use chit_proto::Handle;
use sha2::{Digest, Sha256};

use crate::error::NodeError;

fn derive_u128(parts: &[&[u8]]) -> u128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    u128::from_be_bytes(digest[..16].try_into().expect("16 bytes")).clamp(1, u128::MAX - 1)
}

/// The ledger account holding `handle`'s money in `currency`.
pub fn user_account(handle: &Handle, currency: &Currency) -> AccountId {
    let raw = derive_u128(&[
        b"chit/v1/account/user",
        handle.as_str().as_bytes(),
        currency.code().as_str().as_bytes(),
    ]);
    AccountId::new(raw).expect("derived ids avoid the reserved values")
}

/// The `bank` system account: money that entered or left through a rail.
pub fn bank_account(currency: &Currency) -> AccountId {
    let raw = derive_u128(&[b"chit/v1/account/bank", currency.code().as_str().as_bytes()]);
    AccountId::new(raw).expect("derived ids avoid the reserved values")
}

/// The id of the node's own step on a payment (e.g. its expiry): the same on every node.
pub(crate) fn derived_id(payment: &str, step: &str) -> TransferId {
    TransferId::new(derive_u128(&[
        b"chit/v1/step",
        payment.as_bytes(),
        step.as_bytes(),
    ]))
    .expect("derived ids avoid the reserved values")
}

pub(crate) fn transfer_id(id: &str) -> Result<TransferId, NodeError> {
    id.parse().map_err(|_| {
        NodeError::bad_request("bad_id", "ids are 32 hexadecimal digits, not all zero")
    })
}
