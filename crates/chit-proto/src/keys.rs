//! Keys: an Ed25519 identity key (signs) and an X25519 encryption key (receives sealed bodies),
//! for users and for the node. Private halves never appear in `Debug` output.

use std::fmt;

use ed25519_dalek::Signer;
use hpke::{kem::X25519HkdfSha256, Deserializable, Kem, Serializable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::b64;
use crate::verify::PublicPoint;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("invalid public key")]
    PublicKey,
    #[error("invalid signature encoding")]
    SignatureEncoding,
    #[error("signature does not verify")]
    BadSignature,
    #[error("invalid private key material")]
    PrivateKey,
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("operating system randomness");
    out
}

/// An Ed25519 signature, base64url on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", b64::encode(&self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        b64::decode_array(&text)
            .map(Signature)
            .ok_or_else(|| serde::de::Error::custom("signature must be 64 bytes of base64url"))
    }
}

/// A public identity (verifying) key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    /// Refuses anything but the canonical encoding of a curve point not of small order (a
    /// small-order key would "sign" every message).
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        PublicPoint::new(bytes).ok_or(KeyError::PublicKey)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks `signature` over `message` under Chit's rule (see [`crate::verify`]).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        self.verifier()?.verify(message, signature)
    }

    /// The key decompressed once, for whoever verifies many signatures by the same signer.
    pub fn verifier(&self) -> Result<Verifier, KeyError> {
        PublicPoint::new(self.0)
            .map(Verifier)
            .ok_or(KeyError::PublicKey)
    }

    /// A short human-comparable fingerprint: the first 16 bytes of SHA-256, hex in groups of 4.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0);
        digest[..16]
            .chunks(2)
            .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// Text form of a new API token: `chit_` and 32 random bytes in base64url. Shown to its owner
/// once; the node keeps only the public key derived from it.
pub fn new_api_token() -> String {
    format!("chit_{}", crate::b64::encode(&random_bytes::<32>()))
}

/// The signing key an API token stands for. Whoever presents the token (over IMPT's SASL
/// PLAIN) lets the node sign as this key for that session only; the node stores the public key,
/// so its database never holds anything that would let it sign without the user.
pub fn api_token_key(token: &str) -> IdentitySecret {
    let mut hash = Sha256::new();
    hash.update(b"chit/v1/api-token\0");
    hash.update(token.as_bytes());
    IdentitySecret::from_seed(hash.finalize().into())
}

/// An identity key ready to verify: decompressing the curve point is a good part of the cost
/// of a verification, so a node keeps these for the users it hears from.
#[derive(Clone, Debug)]
pub struct Verifier(PublicPoint);

impl Verifier {
    /// As [`IdentityKey::verify`].
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if crate::verify::verify(&self.0, message, &signature.0) {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }
}

/// Checks many signatures in one go, a fraction of the work of checking them one by one: `Ok`
/// exactly when every one would pass [`Verifier::verify`]. Says nothing about which failed;
/// whoever needs that checks them one by one after an `Err`.
pub fn verify_batch(items: &[(&Verifier, &[u8], &Signature)]) -> Result<(), KeyError> {
    let items: Vec<_> = items
        .iter()
        .map(|(v, message, signature)| (&v.0, *message, &signature.0))
        .collect();
    if crate::verify::verify_batch(&items) {
        Ok(())
    } else {
        Err(KeyError::BadSignature)
    }
}

/// A public encryption key (X25519), what others seal bodies to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&bytes)
            .map_err(|_| KeyError::PublicKey)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn to_hpke(self) -> <X25519HkdfSha256 as Kem>::PublicKey {
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&self.0)
            .expect("validated at construction")
    }
}

macro_rules! public_key_text {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), b64::encode(&self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&b64::encode(&self.0))
            }
        }

        impl std::str::FromStr for $name {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, KeyError> {
                Self::from_bytes(b64::decode_array(s).ok_or(KeyError::PublicKey)?)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&b64::encode(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

public_key_text!(IdentityKey);
public_key_text!(EncryptionKey);

/// A private identity key: signs registrations, logins and every money-moving command.
pub struct IdentitySecret(ed25519_dalek::SigningKey);

impl IdentitySecret {
    pub fn generate() -> Self {
        Self::from_seed(random_bytes())
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for storing in a key file.
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> IdentityKey {
        IdentityKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdentitySecret(public: {}, private: <redacted>)",
            self.public()
        )
    }
}

/// A private encryption key: opens bodies sealed to its public half.
pub struct EncryptionSecret {
    seed: [u8; 32],
    secret: <X25519HkdfSha256 as Kem>::PrivateKey,
    public: EncryptionKey,
}

impl EncryptionSecret {
    pub fn generate() -> Self {
        Self::from_seed(random_bytes())
    }

    /// Derives the key pair from 32 bytes of seed (RFC 9180 DeriveKeyPair).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let (secret, public) = X25519HkdfSha256::derive_keypair(&seed);
        let public = EncryptionKey(public.to_bytes().into());
        Self {
            seed,
            secret,
            public,
        }
    }

    pub fn to_seed(&self) -> [u8; 32] {
        self.seed
    }

    pub fn public(&self) -> EncryptionKey {
        self.public
    }

    pub(crate) fn hpke_secret(&self) -> &<X25519HkdfSha256 as Kem>::PrivateKey {
        &self.secret
    }
}

impl fmt::Debug for EncryptionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EncryptionSecret(public: {}, private: <redacted>)",
            self.public
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let key = IdentitySecret::generate();
        let sig = key.sign(b"pay bob 5");
        assert_eq!(key.public().verify(b"pay bob 5", &sig), Ok(()));
        assert_eq!(
            key.public().verify(b"pay bob 6", &sig),
            Err(KeyError::BadSignature)
        );
        let other = IdentitySecret::generate();
        assert_eq!(
            other.public().verify(b"pay bob 5", &sig),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn keys_round_trip_through_text_and_seeds() {
        let id = IdentitySecret::generate();
        assert_eq!(
            id.public().to_string().parse::<IdentityKey>(),
            Ok(id.public())
        );
        assert_eq!(
            IdentitySecret::from_seed(id.to_seed()).public(),
            id.public()
        );
        let enc = EncryptionSecret::generate();
        assert_eq!(
            EncryptionSecret::from_seed(enc.to_seed()).public(),
            enc.public()
        );
        assert!(format!("{id:?}").contains("redacted"));
        assert!("not-a-key".parse::<IdentityKey>().is_err());
        assert_eq!(id.public().fingerprint().len(), 39);
    }
}
