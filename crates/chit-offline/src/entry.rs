//! A device's history as one chain of signed entries. Each entry has the next sequence number,
//! the hash of the entry before it and the balance after it, so every change to the offline
//! balance is accounted for: a copy of the device shows as two entries with one number (a fork),
//! a rolled-back device reuses a number, a patched balance does not follow from the entries
//! before it. A payment's entry is the voucher the receiver is handed.

use chit_proto::canon::Canon;
use chit_proto::{Handle, IdentityKey, IdentitySecret, KeyError, Signature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::statements::{Confirmation, DeviceCertificate};
use crate::EntryHash;

/// The link of the first entry: there is nothing before it.
pub const GENESIS: EntryHash = [0; 32];

/// What changed the balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The node's deposit number `i` arrived (online → device).
    Deposit { i: u64, amount: u64 },
    /// Money leaves the device for the online balance as movement number `i`; the node credits
    /// it online once it sees this entry.
    Withdraw { i: u64, amount: u64 },
    /// Payment number `j` to `receiver`, answering the receiver's request `nonce`.
    Pay {
        j: u64,
        amount: u64,
        receiver: Handle,
        #[serde(with = "nonce_b64")]
        nonce: [u8; 16],
    },
    /// A voucher paid to this device's owner, moved onto the device to spend again.
    Collect {
        #[serde(with = "hash_b64")]
        voucher: EntryHash,
        amount: u64,
    },
}

/// One change to a device's balance, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub device_key: IdentityKey,
    pub currency: String,
    /// 1 for the first entry, then one more each time.
    pub seq: u64,
    #[serde(with = "hash_b64")]
    pub prev: EntryHash,
    pub event: Event,
    /// The offline balance after this entry, in minor units.
    pub balance_after: u64,
    pub time_ms: u64,
}

impl Entry {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new("chit/v1/offline/entry");
        c.bytes(self.device_key.as_bytes())
            .str(&self.currency)
            .u64(self.seq)
            .bytes(&self.prev);
        match &self.event {
            Event::Deposit { i, amount } => c.str("deposit").u64(*i).u64(*amount),
            Event::Withdraw { i, amount } => c.str("withdraw").u64(*i).u64(*amount),
            Event::Pay {
                j,
                amount,
                receiver,
                nonce,
            } => c
                .str("pay")
                .u64(*j)
                .u64(*amount)
                .str(receiver.as_str())
                .bytes(nonce),
            Event::Collect { voucher, amount } => c.str("collect").bytes(voucher).u64(*amount),
        };
        c.u64(self.balance_after).u64(self.time_ms).finish()
    }

    /// What the balance changes by: positive in, negative out.
    pub fn delta(&self) -> i128 {
        match self.event {
            Event::Deposit { amount, .. } | Event::Collect { amount, .. } => i128::from(amount),
            Event::Withdraw { amount, .. } | Event::Pay { amount, .. } => -i128::from(amount),
        }
    }
}

/// An entry with the device's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEntry {
    pub entry: Entry,
    pub signature: Signature,
}

impl SignedEntry {
    pub fn sign(entry: Entry, device: &IdentitySecret) -> Self {
        let signature = device.sign(&entry.signing_bytes());
        Self { entry, signature }
    }

    /// The device key named in the entry signed it.
    pub fn verify(&self) -> Result<(), KeyError> {
        self.entry
            .device_key
            .verify(&self.entry.signing_bytes(), &self.signature)
    }

    /// SHA-256 of the signed bytes and the signature: two entries differ in their hash if they
    /// differ in anything.
    pub fn hash(&self) -> EntryHash {
        let mut h = Sha256::new();
        h.update(self.entry.signing_bytes());
        h.update(self.signature.0);
        h.finalize().into()
    }
}

/// What a receiver shows the payer, as text or QR, with no network: pay me this, for this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub receiver: Handle,
    pub amount: u64,
    pub currency: String,
    /// Fresh for every request: a voucher answers one request only.
    #[serde(with = "nonce_b64")]
    pub nonce: [u8; 16],
    pub created_at_ms: u64,
}

/// What the payer hands over: the payment's entry and the device's certificate, so the
/// receiver can check the chain of signatures up to the pinned node key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voucher {
    pub certificate: DeviceCertificate,
    pub entry: SignedEntry,
}

/// A deposit applied on the device: the node's confirmation and the entry it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub confirmation: Confirmation,
    pub entry: SignedEntry,
}

macro_rules! fixed_b64 {
    ($name:ident, $n:literal) => {
        mod $name {
            use serde::{Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(bytes: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&chit_proto::b64::encode(bytes))
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; $n], D::Error> {
                let text = String::deserialize(d)?;
                chit_proto::b64::decode_array(&text).ok_or_else(|| {
                    serde::de::Error::custom(concat!($n, " bytes of base64url expected"))
                })
            }
        }
    };
}

fixed_b64!(nonce_b64, 16);
fixed_b64!(hash_b64, 32);
