//! Who pays when a device's vouchers are worth more than the money it holds. The node keeps,
//! per device, what is still *outstanding* of the money put on it (deposits and collected
//! vouchers in, withdrawals and redeemed vouchers out). A redemption is paid from that first;
//! anything beyond it is money a cheating device made up, and the operator's [`LossPolicy`]
//! says whether the receiver is paid anyway (the operator bears it, booked to a named ledger
//! account) or refused. The device's own owner is never paid beyond it (a withdrawal).

use serde::{Deserialize, Serialize};

/// The operator's choice of who bears a double spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossPolicy {
    /// Receivers who PayVerified a voucher are paid in full; what the device did not hold is
    /// booked to the operator's `offline_losses` account.
    Operator,
    /// Receivers are paid only what the device still held; the rest is refused and they are
    /// told why.
    Receiver,
}

impl LossPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Receiver => "receiver",
        }
    }
}

impl std::str::FromStr for LossPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "operator" => Ok(Self::Operator),
            "receiver" => Ok(Self::Receiver),
            _ => Err(format!("{s:?} is not a loss policy (operator or receiver)")),
        }
    }
}

/// Where the money for one redemption comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cover {
    /// Out of the paying device's outstanding money.
    pub from_device: u64,
    /// Out of the operator's losses account.
    pub from_losses: u64,
    /// Not paid at all.
    pub refused: u64,
}

impl Cover {
    /// What the receiver gets.
    pub fn paid(&self) -> u64 {
        self.from_device + self.from_losses
    }
}

/// Splits a redemption of `amount` from a device with `outstanding` left.
pub fn cover(amount: u64, outstanding: u64, policy: LossPolicy) -> Cover {
    let from_device = amount.min(outstanding);
    let short = amount - from_device;
    match policy {
        LossPolicy::Operator => Cover {
            from_device,
            from_losses: short,
            refused: 0,
        },
        LossPolicy::Receiver => Cover {
            from_device,
            from_losses: 0,
            refused: short,
        },
    }
}

/// A withdrawal: the owner gets at most what the device still holds, whatever the policy.
pub fn withdrawal(amount: u64, outstanding: u64) -> Cover {
    cover(amount, outstanding, LossPolicy::Receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_pays_first_and_the_policy_decides_the_rest() {
        let c = cover(100, 30, LossPolicy::Operator);
        assert_eq!((c.from_device, c.from_losses, c.refused), (30, 70, 0));
        let c = cover(100, 30, LossPolicy::Receiver);
        assert_eq!(
            (c.from_device, c.from_losses, c.refused, c.paid()),
            (30, 0, 70, 30)
        );
        let c = cover(100, 500, LossPolicy::Receiver);
        assert_eq!((c.from_device, c.paid()), (100, 100));
        assert_eq!(withdrawal(100, 40).paid(), 40);
    }
}
