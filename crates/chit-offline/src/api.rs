//! What wallets and the node say to each other about offline payments over HTTP (the routes
//! are in the OpenAPI document). Amounts are minor units of the device's currency, as in the
//! statements themselves.

use chit_proto::{IdentityKey, PaymentId, Signature};
use serde::{Deserialize, Serialize};

use crate::cover::LossPolicy;
use crate::entry::{SignedEntry, Voucher};
use crate::limits::ClassLimits;
use crate::statements::{Confirmation, DeviceCertificate, DeviceRegistration};

/// Most entries one sync may carry, and most vouchers one claim.
pub const SYNC_ENTRIES_MAX: usize = 1_000;
pub const CLAIM_VOUCHERS_MAX: usize = 1_000;

/// `POST /v1/devices`: a device key bound to its owner by the owner's identity key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub registration: DeviceRegistration,
    pub signature: Signature,
}

/// Whether a device may still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Active,
    /// Its owner retired it.
    Retired,
    /// The node caught it cheating.
    Revoked,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
}

impl std::str::FromStr for DeviceStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "revoked" => Ok(Self::Revoked),
            _ => Err(()),
        }
    }
}

/// A device as the node knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub certificate: DeviceCertificate,
    pub label: String,
    pub status: DeviceStatus,
    /// Why it was retired or revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the node counts as still on the device (deposits and collects in, withdrawals and
    /// redeemed vouchers out), in minor units.
    pub held: u64,
    /// The last deposit or withdrawal number the node knows of (the device's *i*).
    pub movements: u64,
    /// The device's entries the node has verified, in order, from the first.
    pub verified_to: u64,
}

/// `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

/// `POST /v1/offline/deposit` answers a signed `offline_deposit` command with the node's
/// confirmation, which the device applies once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositAnswer {
    pub confirmation: Confirmation,
    pub device: DeviceInfo,
}

/// `POST /v1/offline/sync` (and `/v1/offline/withdraw`, which requires a withdrawal among the
/// entries): a device's entries the node has not seen, and the vouchers its collects name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    pub device: IdentityKey,
    pub entries: Vec<SignedEntry>,
    #[serde(default)]
    pub collected: Vec<Voucher>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAnswer {
    pub device: DeviceInfo,
    /// Node-signed confirmations of the withdrawals credited to the online balance (the ones
    /// of this sync and any before it not yet confirmed).
    pub withdrawals: Vec<Confirmation>,
    /// What the chain showed, if the device cheated (it is revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud: Option<String>,
}

/// `POST /v1/offline/claims`: vouchers paid to the caller, to credit online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub vouchers: Vec<Voucher>,
}

/// What became of one claimed voucher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// Credited now.
    Claimed,
    /// Credited by an earlier claim of the same voucher: nothing new.
    AlreadyClaimed,
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The voucher's hash, base64url.
    pub voucher: String,
    pub outcome: ClaimOutcome,
    /// Minor units credited (0 when refused).
    pub paid: u64,
    /// The payment message in the conversation with the payer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentId>,
    /// Why it was refused, or what the node found (a double spend it still paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAnswer {
    pub results: Vec<ClaimResult>,
}

/// `GET /v1/offline/limits`: the operator's limits and loss policy, shown to users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsInfo {
    pub currency: String,
    pub software: ClassLimits,
    pub hardware: ClassLimits,
    pub revocation_max_age_ms: u64,
    pub loss_policy: LossPolicy,
}
