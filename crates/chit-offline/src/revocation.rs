//! The node's list of revoked devices, signed and versioned: wallets fetch it when online and
//! PayVerify against their copy. A copy older than the node's maximum age still works, and the
//! receiver is told it may be missing revocations.

use chit_proto::canon::Canon;
use chit_proto::{IdentityKey, IdentitySecret, KeyError, Signature};
use serde::{Deserialize, Serialize};

/// A version of the revocation list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Grows by one with every change; a wallet keeps the highest it has seen.
    pub version: u64,
    pub issued_at_ms: u64,
    /// How old a copy may get before a receiver is warned.
    pub max_age_ms: u64,
    /// Revoked device keys, sorted.
    pub devices: Vec<IdentityKey>,
    pub node_key: IdentityKey,
    pub signature: Signature,
}

/// What a receiver's copy of the list says about its freshness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Current,
    /// Older than the node allows: a device revoked since would not show.
    Stale {
        age_ms: u64,
    },
}

impl RevocationList {
    fn bytes(&self) -> Vec<u8> {
        let mut c = Canon::new("chit/v1/offline/revocation-list");
        c.u64(self.version)
            .u64(self.issued_at_ms)
            .u64(self.max_age_ms)
            .u64(self.devices.len() as u64);
        for d in &self.devices {
            c.bytes(d.as_bytes());
        }
        c.bytes(self.node_key.as_bytes()).finish()
    }

    pub fn issue(
        version: u64,
        issued_at_ms: u64,
        max_age_ms: u64,
        mut devices: Vec<IdentityKey>,
        node: &IdentitySecret,
    ) -> Self {
        devices.sort_by_key(|d| *d.as_bytes());
        devices.dedup();
        let mut list = Self {
            version,
            issued_at_ms,
            max_age_ms,
            devices,
            node_key: node.public(),
            signature: Signature([0; 64]),
        };
        list.signature = node.sign(&list.bytes());
        list
    }

    /// Verifies against the pinned node key.
    pub fn verify(&self, pinned_node_key: &IdentityKey) -> Result<(), KeyError> {
        if &self.node_key != pinned_node_key {
            return Err(KeyError::BadSignature);
        }
        pinned_node_key.verify(&self.bytes(), &self.signature)
    }

    /// Whether this copy is recent enough at `now_ms`.
    pub fn freshness(&self, now_ms: u64) -> Freshness {
        let age_ms = now_ms.saturating_sub(self.issued_at_ms);
        if age_ms > self.max_age_ms {
            Freshness::Stale { age_ms }
        } else {
            Freshness::Current
        }
    }

    /// The newer of two verified copies (a wallet never goes back to an older list).
    pub fn newer(self, other: Self) -> Self {
        if other.version > self.version {
            other
        } else {
            self
        }
    }
}
