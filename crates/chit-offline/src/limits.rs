//! The limits that keep what a cheating device can cost bounded, by how far the node trusts the
//! device's hardware: the most it may hold offline, the largest single voucher, and how old a
//! receiver's revocation list may be before the receiver is warned. Set by the operator,
//! written into each device certificate so the device, the receiver and the node all apply the
//! same numbers, and shown to the user.

use crate::statements::Attestation;

/// A device class's limits, in minor units of the node's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassLimits {
    pub holding: u64,
    pub voucher: u64,
}

/// The operator's offline limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineLimits {
    pub software: ClassLimits,
    pub hardware: ClassLimits,
    /// How old a revocation list may get before a receiver is warned.
    pub revocation_max_age_ms: u64,
}

impl Default for OfflineLimits {
    /// Cautious defaults for a currency with two decimals: a software device, which can be
    /// copied, holds at most 200.00 and pays at most 50.00 at once; a hardware one 1,000.00 and
    /// 250.00; lists older than a day warn.
    fn default() -> Self {
        Self {
            software: ClassLimits {
                holding: 20_000,
                voucher: 5_000,
            },
            hardware: ClassLimits {
                holding: 100_000,
                voucher: 25_000,
            },
            revocation_max_age_ms: 24 * 3_600_000,
        }
    }
}

impl OfflineLimits {
    pub fn for_class(&self, class: Attestation) -> ClassLimits {
        match class {
            Attestation::Software => self.software,
            Attestation::Hardware => self.hardware,
        }
    }
}
