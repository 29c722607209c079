//! Login challenges that cost the node nothing to hand out: each is its expiry, a random
//! nonce and a MAC under a key derived from the node key, over the handle it was issued for.
//! Nothing is written when one is issued (strangers used to make 20,000 rows in ten seconds);
//! a challenge is checked by recomputing its MAC, and once it has opened a session it is
//! remembered, in memory and until it expires, so it opens no second one. Nodes sharing a key
//! accept each other's challenges.

use std::collections::HashMap;
use std::sync::Mutex;

use chit_proto::Handle;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes of a challenge: expiry (8, big-endian ms), nonce (16), MAC (32).
pub const CHALLENGE_BYTES: usize = 8 + 16 + 32;

/// Why a challenge was not accepted (the login answers the same for each).
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    Forged,
    Expired,
    Used,
}

pub struct Challenges {
    key: [u8; 32],
    /// Nonces that opened a session, with their expiry.
    used: Mutex<HashMap<[u8; 16], u64>>,
}

impl Challenges {
    /// `node_seed` is the node's secret key seed; the MAC key is derived from it, apart.
    pub fn new(node_seed: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"chit/v1/challenge-key");
        hash.update(node_seed);
        Self {
            key: hash.finalize().into(),
            used: Mutex::default(),
        }
    }

    fn mac(&self, handle: &Handle, expires_at_ms: u64, nonce: &[u8; 16]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"chit/v1/challenge");
        mac.update(&(handle.as_str().len() as u32).to_be_bytes());
        mac.update(handle.as_str().as_bytes());
        mac.update(&expires_at_ms.to_be_bytes());
        mac.update(nonce);
        mac
    }

    /// A challenge for `handle`, valid until `expires_at_ms`.
    pub fn issue(&self, handle: &Handle, expires_at_ms: u64, nonce: [u8; 16]) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHALLENGE_BYTES);
        out.extend_from_slice(&expires_at_ms.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(
            &self
                .mac(handle, expires_at_ms, &nonce)
                .finalize()
                .into_bytes(),
        );
        out
    }

    /// Checks that `challenge` was issued by this node for `handle` and is live at `now_ms`.
    pub fn check(&self, handle: &Handle, challenge: &[u8], now_ms: u64) -> Result<(), Rejected> {
        let (expires, nonce, mac) = split(challenge)?;
        // `verify_slice` compares in constant time.
        if self.mac(handle, expires, &nonce).verify_slice(mac).is_err() {
            return Err(Rejected::Forged);
        }
        if now_ms >= expires {
            return Err(Rejected::Expired);
        }
        if self
            .used
            .lock()
            .expect("challenge lock")
            .contains_key(&nonce)
        {
            return Err(Rejected::Used);
        }
        Ok(())
    }

    /// Marks a checked challenge as spent; false if it already was (two logins raced).
    pub fn spend(&self, challenge: &[u8], now_ms: u64) -> bool {
        let Ok((expires, nonce, _)) = split(challenge) else {
            return false;
        };
        let mut used = self.used.lock().expect("challenge lock");
        if used.len() >= 10_000 {
            used.retain(|_, e| *e > now_ms);
        }
        used.insert(nonce, expires).is_none()
    }
}

fn split(challenge: &[u8]) -> Result<(u64, [u8; 16], &[u8]), Rejected> {
    if challenge.len() != CHALLENGE_BYTES {
        return Err(Rejected::Malformed);
    }
    let expires = u64::from_be_bytes(challenge[..8].try_into().expect("8 bytes"));
    let nonce: [u8; 16] = challenge[8..24].try_into().expect("16 bytes");
    Ok((expires, nonce, &challenge[24..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_bound_to_its_handle_its_node_and_its_time_and_opens_once() {
        let node = Challenges::new(&[7; 32]);
        let alice = Handle::new("alice").unwrap();
        let c = node.issue(&alice, 1_000, [1; 16]);
        assert_eq!(node.check(&alice, &c, 999), Ok(()));
        assert_eq!(node.check(&alice, &c, 1_000), Err(Rejected::Expired));
        let bob = Handle::new("bob").unwrap();
        assert_eq!(node.check(&bob, &c, 10), Err(Rejected::Forged));
        assert_eq!(
            Challenges::new(&[8; 32]).check(&alice, &c, 10),
            Err(Rejected::Forged)
        );
        let mut later = c.clone();
        later[7] ^= 1;
        assert_eq!(node.check(&alice, &later, 10), Err(Rejected::Forged));
        assert_eq!(node.check(&alice, &c[1..], 10), Err(Rejected::Malformed));
        assert!(node.spend(&c, 10));
        assert!(!node.spend(&c, 10));
        assert_eq!(node.check(&alice, &c, 10), Err(Rejected::Used));
    }
}
