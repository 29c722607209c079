//! Sealed bodies: a message body encrypted to each recipient with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM). The node stores and forwards these
//! without being able to read them.

use hpke::{aead::AesGcm128, kdf::HkdfSha256, kem::X25519HkdfSha256, Deserializable, Serializable};
use rand_core::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canon::Canon;
use crate::keys::{EncryptionKey, EncryptionSecret};

/// Largest plaintext a body may carry.
pub const BODY_PLAINTEXT_MAX: usize = 64 * 1024;
/// Most recipients one body is sealed to (a group's members plus the sender).
pub const RECIPIENTS_MAX: usize = 64;

const INFO: &[u8] = b"chit/v1/sealed-body";

/// One copy of the body, sealed to one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedFor {
    /// The recipient's handle (without `@`).
    pub to: String,
    /// The HPKE encapsulated key.
    #[serde(with = "crate::b64")]
    pub enc: Vec<u8>,
    /// Ciphertext and tag.
    #[serde(with = "crate::b64")]
    pub ct: Vec<u8>,
}

/// A body sealed to each of its recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedBody {
    pub recipients: Vec<SealedFor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("body is larger than {BODY_PLAINTEXT_MAX} bytes")]
    TooLarge,
    #[error("a body is sealed to 1 to {RECIPIENTS_MAX} recipients")]
    Recipients,
    #[error("the body is not sealed to @{0}")]
    NotForMe(String),
    #[error("the body does not open: wrong key, wrong context or tampered")]
    Open,
}

impl SealedBody {
    /// Seals `plaintext` to each recipient. `aad` binds the body to its message (id,
    /// conversation, sender), so a body cannot be moved to another message.
    pub fn seal(
        plaintext: &[u8],
        recipients: &[(&str, EncryptionKey)],
        aad: &[u8],
    ) -> Result<Self, SealError> {
        if plaintext.len() > BODY_PLAINTEXT_MAX {
            return Err(SealError::TooLarge);
        }
        if recipients.is_empty() || recipients.len() > RECIPIENTS_MAX {
            return Err(SealError::Recipients);
        }
        let mut rng = rand_core::OsRng.unwrap_err();
        let recipients = recipients
            .iter()
            .map(|(to, key)| {
                let (enc, ct) =
                    hpke::single_shot_seal::<AesGcm128, HkdfSha256, X25519HkdfSha256, _>(
                        &hpke::OpModeS::Base,
                        &key.to_hpke(),
                        INFO,
                        plaintext,
                        aad,
                        &mut rng,
                    )
                    .expect("sealing to a validated public key");
                SealedFor {
                    to: (*to).to_owned(),
                    enc: enc.to_bytes().to_vec(),
                    ct,
                }
            })
            .collect();
        Ok(Self { recipients })
    }

    /// Opens the copy sealed to `me`.
    pub fn open(&self, me: &str, key: &EncryptionSecret, aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let mine = self
            .recipients
            .iter()
            .find(|r| r.to == me)
            .ok_or_else(|| SealError::NotForMe(me.to_owned()))?;
        let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&mine.enc)
            .map_err(|_| SealError::Open)?;
        hpke::single_shot_open::<AesGcm128, HkdfSha256, X25519HkdfSha256>(
            &hpke::OpModeR::Base,
            key.hpke_secret(),
            &enc,
            INFO,
            &mine.ct,
            aad,
        )
        .map_err(|_| SealError::Open)
    }

    /// SHA-256 over the canonical form of every copy: what signatures and receipts cover.
    pub fn digest(&self) -> [u8; 32] {
        let mut canon = Canon::new("chit/v1/sealed-body");
        for r in &self.recipients {
            canon.str(&r.to).bytes(&r.enc).bytes(&r.ct);
        }
        Sha256::digest(canon.finish()).into()
    }

    /// Total ciphertext size, for limits.
    pub fn len_bytes(&self) -> usize {
        self.recipients
            .iter()
            .map(|r| r.to.len() + r.enc.len() + r.ct.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recipient_opens_only_with_the_right_key_and_context() {
        let alice = EncryptionSecret::generate();
        let bob = EncryptionSecret::generate();
        let body = SealedBody::seal(
            b"lunch, 12.50",
            &[("alice", alice.public()), ("bob", bob.public())],
            b"msg-1",
        )
        .unwrap();
        assert_eq!(
            body.open("alice", &alice, b"msg-1").unwrap(),
            b"lunch, 12.50"
        );
        assert_eq!(body.open("bob", &bob, b"msg-1").unwrap(), b"lunch, 12.50");
        assert_eq!(body.open("bob", &alice, b"msg-1"), Err(SealError::Open));
        assert_eq!(
            body.open("bob", &bob, b"msg-2"),
            Err(SealError::Open),
            "aad binds the body"
        );
        assert_eq!(
            body.open("carol", &bob, b"msg-1"),
            Err(SealError::NotForMe("carol".into()))
        );
        let plaintext_visible = body
            .recipients
            .iter()
            .any(|r| r.ct.windows(5).any(|w| w == b"lunch"));
        assert!(!plaintext_visible);
    }

    #[test]
    fn tampering_changes_the_digest_and_breaks_opening() {
        let bob = EncryptionSecret::generate();
        let body = SealedBody::seal(b"hi", &[("bob", bob.public())], b"m").unwrap();
        let mut tampered = body.clone();
        tampered.recipients[0].ct[0] ^= 1;
        assert_ne!(body.digest(), tampered.digest());
        assert_eq!(tampered.open("bob", &bob, b"m"), Err(SealError::Open));
    }

    #[test]
    fn limits_are_enforced() {
        let bob = EncryptionSecret::generate();
        let big = vec![0u8; BODY_PLAINTEXT_MAX + 1];
        assert_eq!(
            SealedBody::seal(&big, &[("bob", bob.public())], b""),
            Err(SealError::TooLarge)
        );
        assert_eq!(SealedBody::seal(b"x", &[], b""), Err(SealError::Recipients));
    }
}
