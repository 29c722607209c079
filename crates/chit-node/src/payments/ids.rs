//! Ledger accounts derived from Chit's names: a user's account per currency and the bank
//! account. (The ids of the node's steps on a payment are protocol: [`chit_proto::PaymentId::step`].)

use chit_core::{AccountId, Currency};
use chit_proto::Handle;
use sha2::{Digest, Sha256};

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
