//! What became of each voucher: claimed into its receiver's online balance, or collected onto
//! the receiver's device to spend again — once. The same claim sent again is answered as the
//! first time (a retry); a second redemption of any other kind is refused, and says whether it
//! is a replay (a claim by someone the voucher does not pay) or a double spend (the receiver
//! both claiming and collecting it).

use std::collections::HashMap;

use chit_proto::{Handle, IdentityKey};

use crate::entry::{Event, Voucher};
use crate::EntryHash;

/// How a voucher was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    Claimed { by: Handle },
    Collected { device: IdentityKey },
}

/// A redemption taken or refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("the voucher pays @{payee}, not @{claimant}: a replay")]
    NotYours { payee: String, claimant: String },
    #[error("the voucher was already {first}: a double spend")]
    DoubleSpend { first: String },
    #[error("not a payment voucher")]
    NotAPayment,
}

/// The node's record of redemptions (kept by the node's store; this is the rule).
#[derive(Clone, Debug, Default)]
pub struct Redemptions {
    taken: HashMap<EntryHash, Redemption>,
}

/// What a claim did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// New: credit the claimant.
    Now,
    /// The same claim again: answer as before, credit nothing.
    Before,
}

fn describe(r: &Redemption) -> String {
    match r {
        Redemption::Claimed { by } => format!("claimed by {by}"),
        Redemption::Collected { .. } => "collected onto a device".to_owned(),
    }
}

fn payee(voucher: &Voucher) -> Result<&Handle, RedeemError> {
    match &voucher.entry.entry.event {
        Event::Pay { receiver, .. } => Ok(receiver),
        _ => Err(RedeemError::NotAPayment),
    }
}

impl Redemptions {
    /// A claim of a (PayVerified) voucher by `claimant`.
    pub fn claim(&mut self, voucher: &Voucher, claimant: &Handle) -> Result<Claimed, RedeemError> {
        let payee = payee(voucher)?;
        if payee != claimant {
            return Err(RedeemError::NotYours {
                payee: payee.as_str().to_owned(),
                claimant: claimant.as_str().to_owned(),
            });
        }
        let hash = voucher.entry.hash();
        match self.taken.get(&hash) {
            Some(Redemption::Claimed { by }) if by == claimant => Ok(Claimed::Before),
            Some(first) => Err(RedeemError::DoubleSpend {
                first: describe(first),
            }),
            None => {
                self.taken.insert(
                    hash,
                    Redemption::Claimed {
                        by: claimant.clone(),
                    },
                );
                Ok(Claimed::Now)
            }
        }
    }

    /// A collect the node learned of from `device`'s chain (the device belongs to `owner`).
    pub fn collected(
        &mut self,
        voucher: &Voucher,
        device: IdentityKey,
        owner: &Handle,
    ) -> Result<(), RedeemError> {
        let payee = payee(voucher)?;
        if payee != owner {
            return Err(RedeemError::NotYours {
                payee: payee.as_str().to_owned(),
                claimant: owner.as_str().to_owned(),
            });
        }
        let hash = voucher.entry.hash();
        match self.taken.get(&hash) {
            Some(Redemption::Collected { device: d }) if *d == device => Ok(()),
            Some(first) => Err(RedeemError::DoubleSpend {
                first: describe(first),
            }),
            None => {
                self.taken.insert(hash, Redemption::Collected { device });
                Ok(())
            }
        }
    }

    pub fn of(&self, hash: &EntryHash) -> Option<&Redemption> {
        self.taken.get(hash)
    }
}
