//! One voucher redeemed, claimed online or collected onto a device: its entry placed in the
//! paying device's chain (which may show a fraud), its money taken from what that device
//! holds, the shortfall settled by the loss policy, and a collect's money put on the
//! collecting device.

use chit_offline::cover::{cover, LossPolicy};
use chit_offline::entry::Voucher;
use chit_proto::{Handle, IdentityKey};

use super::books::Books;
use crate::store::RedemptionRow;

pub(crate) enum Redeemer<'a> {
    Claim {
        claimant: &'a Handle,
    },
    Collect {
        device: IdentityKey,
        owner: &'a Handle,
    },
}

/// Redeems a PayVerified voucher of `amount` whose paying device is in `books` (and, for a
/// collect, the collecting one). The row to store; not yet booked.
pub(crate) fn redeem(
    books: &mut Books,
    voucher: &Voucher,
    amount: u64,
    by: Redeemer<'_>,
    policy: LossPolicy,
) -> RedemptionRow {
    let hash = voucher.entry.hash();
    let payer = books
        .get_mut(&voucher.certificate.device_key)
        .expect("the caller loaded the paying device");
    payer.observe(&voucher.entry);
    payer.redeemed(hash);
    let split = cover(amount, payer.row.held, policy);
    payer.take(split.from_device);
    let (claimed, claimant, collector) = match by {
        Redeemer::Claim { claimant } => (true, claimant.clone(), None),
        Redeemer::Collect { device, owner } => {
            books
                .get_mut(&device)
                .expect("the caller loaded the collecting device")
                .put(split.paid());
            (false, owner.clone(), Some(device))
        }
    };
    // A claim books the money to the claimant; a collect only what the operator adds.
    let booked = if claimed {
        split.paid() == 0
    } else {
        split.from_losses == 0
    };
    RedemptionRow {
        hash,
        device: voucher.certificate.device_key,
        claimed,
        claimant,
        collector,
        amount,
        from_device: split.from_device,
        from_losses: split.from_losses,
        refused: split.refused,
        payment: None,
        booked,
        voucher: voucher.clone(),
    }
}
