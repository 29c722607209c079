//! The device's statements: its registration (the owner's identity key binds the device key to
//! the owner, the seed's TA setup), the node's certificate for it (the seed's OEMVerify, with
//! the attestation class in it), and the node's confirmation of a deposit or withdrawal.

use chit_proto::canon::Canon;
use chit_proto::{Handle, IdentityKey, IdentitySecret, KeyError, Signature};
use serde::{Deserialize, Serialize};

use crate::limits::ClassLimits;

/// How much the node may trust a device to stop double spending itself: a software element can
/// be copied or patched; a hardware one (TPM, a phone's keystore) is harder to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attestation {
    Software,
    Hardware,
}

impl Attestation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware => "hardware",
        }
    }
}

/// A device key bound to its owner, signed by the owner's identity key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRegistration {
    pub owner: Handle,
    pub device_key: IdentityKey,
    pub attestation: Attestation,
    /// A name the owner gives it (`phone`), at most 64 characters.
    pub label: String,
    pub created_at_ms: u64,
}

impl DeviceRegistration {
    pub fn signing_bytes(&self) -> Vec<u8> {
        Canon::new("chit/v1/offline/device-registration")
            .str(self.owner.as_str())
            .bytes(self.device_key.as_bytes())
            .str(self.attestation.as_str())
            .str(&self.label)
            .u64(self.created_at_ms)
            .finish()
    }

    pub fn sign(&self, owner: &IdentitySecret) -> Signature {
        owner.sign(&self.signing_bytes())
    }
}

/// The node's certificate for a device: whose it is, its key, its class, and the most it may
/// hold offline (a limit by class, shown to the user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificate {
    pub owner: Handle,
    pub device_key: IdentityKey,
    pub attestation: Attestation,
    pub currency: String,
    /// The most this device may hold offline, in minor units.
    pub holding_limit: u64,
    /// The largest single voucher it may sign, in minor units.
    pub voucher_limit: u64,
    pub issued_at_ms: u64,
    pub node_key: IdentityKey,
    pub signature: Signature,
}

impl DeviceCertificate {
    /// The bytes the node signs.
    pub fn signed_bytes(&self) -> Vec<u8> {
        self.bytes()
    }

    fn bytes(&self) -> Vec<u8> {
        Canon::new("chit/v1/offline/device-certificate")
            .str(self.owner.as_str())
            .bytes(self.device_key.as_bytes())
            .str(self.attestation.as_str())
            .str(&self.currency)
            .u64(self.holding_limit)
            .u64(self.voucher_limit)
            .u64(self.issued_at_ms)
            .bytes(self.node_key.as_bytes())
            .finish()
    }

    /// Certifies a registration under the node key, with the limits of its class.
    pub fn issue(
        registration: &DeviceRegistration,
        currency: &str,
        limits: ClassLimits,
        issued_at_ms: u64,
        node: &IdentitySecret,
    ) -> Self {
        let mut cert = Self {
            owner: registration.owner.clone(),
            device_key: registration.device_key,
            attestation: registration.attestation,
            currency: currency.to_owned(),
            holding_limit: limits.holding,
            voucher_limit: limits.voucher,
            issued_at_ms,
            node_key: node.public(),
            signature: Signature([0; 64]),
        };
        cert.signature = node.sign(&cert.bytes());
        cert
    }

    /// Verifies against the node key the wallet pinned (not the one the certificate names).
    pub fn verify(&self, pinned_node_key: &IdentityKey) -> Result<(), KeyError> {
        if &self.node_key != pinned_node_key {
            return Err(KeyError::BadSignature);
        }
        pinned_node_key.verify(&self.bytes(), &self.signature)
    }
}

/// Money moving between the online balance and a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Online → device.
    Deposit,
    /// Device → online.
    Withdraw,
}

impl Movement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "deposit",
            Self::Withdraw => "withdraw",
        }
    }
}

/// The node's word that movement number `i` of `amount` happened. A device applies a deposit
/// confirmation once, and only as its next *i*: a replayed or reordered one changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    pub device_key: IdentityKey,
    pub movement: Movement,
    pub i: u64,
    pub amount: u64,
    pub currency: String,
    pub signature: Signature,
}

impl Confirmation {
    fn bytes(&self) -> Vec<u8> {
        Canon::new("chit/v1/offline/confirmation")
            .bytes(self.device_key.as_bytes())
            .str(self.movement.as_str())
            .u64(self.i)
            .u64(self.amount)
            .str(&self.currency)
            .finish()
    }

    pub fn issue(
        device_key: IdentityKey,
        movement: Movement,
        i: u64,
        amount: u64,
        currency: &str,
        node: &IdentitySecret,
    ) -> Self {
        let mut c = Self {
            device_key,
            movement,
            i,
            amount,
            currency: currency.to_owned(),
            signature: Signature([0; 64]),
        };
        c.signature = node.sign(&c.bytes());
        c
    }

    pub fn verify(&self, node_key: &IdentityKey) -> Result<(), KeyError> {
        node_key.verify(&self.bytes(), &self.signature)
    }
}
