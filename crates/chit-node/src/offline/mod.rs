//! Offline payments at the node (seed 002; the rules are in `chit-offline`): devices certified
//! and retired, deposits and withdrawals as ledger transfers to and from the `offline` system
//! account, vouchers claimed into the online balance exactly once, device chains checked at
//! every claim and sync, cheating devices revoked with the evidence kept, and the node-signed
//! revocation list.
//!
//! Money: the ledger's `offline` account holds what lives on devices; the node counts, per
//! device, what of it is still *held* there. A redemption is paid from what the paying device
//! holds, and what it does not hold is a double spend the operator's [`LossPolicy`] settles
//! (booked to the `offline_losses` account, or refused). Each change is written with the
//! ledger transfer it needs (by an id derived from what it is for, so a retry is the same
//! transfer) and booked right after the commit; [`Node::book_offline`] finishes any a crash
//! left, and the audit checks the `offline` account against the sum of what devices hold.
//!
//! - [`devices`]: registration, the list, retiring, the limits.
//! - [`deposits`]: online → device.
//! - [`books`]: the devices a write touches, their chains checked and their frauds recorded.
//! - [`sync`]: a device's entries (withdrawals credited, collects taken).
//! - [`redeem`]: one voucher claimed or collected, paid from what its device holds.
//! - [`claims`]: vouchers credited online, each a payment message with a receipt.
//! - [`release`]: a retired device's money back to its owner after the claim window.
//! - [`booking`]: the ledger transfers behind it all.
//! - [`notices`]: what the owner and the receivers are told.
//! - [`audit`]: the operator's check.

pub mod audit;
mod booking;
mod books;
mod claims;
mod deposits;
mod devices;
mod notices;
mod redeem;
mod release;
mod sync;

use chit_core::TransferId;
use chit_core::{AccountId, Currency};
use chit_ledger::{AccountKind, NewAccount};
use chit_offline::cover::LossPolicy;
use chit_offline::limits::OfflineLimits;
use chit_offline::EntryHash;
use chit_proto::{IdentityKey, PaymentId};
use sha2::{Digest, Sha256};

use crate::error::NodeError;
use crate::node::Node;

pub const ACCOUNT_OFFLINE: u16 = 101;
pub const ACCOUNT_OFFLINE_LOSSES: u16 = 102;
pub const CODE_OFFLINE_DEPOSIT: u16 = 30;
pub const CODE_OFFLINE_WITHDRAW: u16 = 31;
pub const CODE_OFFLINE_CLAIM: u16 = 32;
/// A double spend the operator paid (from `offline_losses`).
pub const CODE_OFFLINE_LOSS: u16 = 33;

/// The operator's offline settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineConfig {
    pub limits: OfflineLimits,
    pub loss_policy: LossPolicy,
    /// How long after its retirement a device's vouchers may still be claimed from what it
    /// held; then the rest goes back to its owner.
    pub retired_claim_window_ms: u64,
}

impl Default for OfflineConfig {
    /// The default limits; receivers who PayVerified a voucher are paid (the operator bears a
    /// double spend, bounded by the limits).
    fn default() -> Self {
        Self {
            limits: OfflineLimits::default(),
            loss_policy: LossPolicy::Operator,
            retired_claim_window_ms: 7 * 24 * 3_600_000,
        }
    }
}

fn derive(parts: &[&[u8]]) -> u128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    u128::from_be_bytes(h.finalize()[..16].try_into().expect("16 bytes")).clamp(1, u128::MAX - 1)
}

fn account(tag: &[u8], code: &str) -> AccountId {
    AccountId::new(derive(&[tag, code.as_bytes()])).expect("derived ids avoid the reserved values")
}

/// The `offline` system account of a currency (by its code): the money that lives on devices.
pub fn offline_account_of(code: &str) -> AccountId {
    account(b"chit/v1/account/offline", code)
}

pub fn offline_account(currency: &Currency) -> AccountId {
    offline_account_of(currency.code().as_str())
}

/// The `offline_losses` system account: double spends the operator paid.
pub fn offline_losses_account(currency: &Currency) -> AccountId {
    account(b"chit/v1/account/offline-losses", currency.code().as_str())
}

pub(crate) fn transfer(tag: &[u8], what: &[u8]) -> TransferId {
    TransferId::new(derive(&[tag, what])).expect("derived ids avoid the reserved values")
}

/// The credit of withdrawal `i` of `device`.
pub(crate) fn withdraw_transfer(device: &IdentityKey, i: u64) -> TransferId {
    transfer(
        b"chit/v1/offline/withdraw",
        &[device.as_bytes().as_slice(), &i.to_be_bytes()].concat(),
    )
}

/// A redemption's part paid from the device's money, and its part paid by the operator.
pub(crate) fn redeem_transfer(voucher: &EntryHash) -> TransferId {
    transfer(b"chit/v1/offline/redeem", voucher)
}

pub(crate) fn loss_transfer(voucher: &EntryHash) -> TransferId {
    transfer(b"chit/v1/offline/loss", voucher)
}

/// The payment a claimed voucher is in the conversation of payer and payee.
pub fn voucher_payment(voucher: &EntryHash) -> PaymentId {
    PaymentId::from(transfer(b"chit/v1/offline/payment", voucher))
}

impl Node {
    /// Sets the operator's offline limits and loss policy (at start-up; devices certified
    /// before keep the limits written in their certificates).
    pub fn set_offline_config(&self, config: OfflineConfig) {
        *self.offline.write().expect("offline config lock") = config;
    }

    pub fn offline_config(&self) -> OfflineConfig {
        *self.offline.read().expect("offline config lock")
    }

    /// Opens the `offline` and `offline_losses` accounts for every currency (idempotent).
    pub(crate) fn open_offline_accounts(&self) -> Result<(), NodeError> {
        let mut accounts = Vec::new();
        for c in self.currencies.iter() {
            for (id, code) in [
                (offline_account(&c), ACCOUNT_OFFLINE),
                (offline_losses_account(&c), ACCOUNT_OFFLINE_LOSSES),
            ] {
                accounts.push(NewAccount {
                    id,
                    currency: c.code(),
                    kind: AccountKind::System,
                    code,
                    reference: 0,
                });
            }
        }
        self.create_accounts(accounts)
    }

    /// The currency devices are certified in: the node's default.
    pub(crate) fn offline_currency(&self) -> Currency {
        self.currencies.default_currency()
    }
}
