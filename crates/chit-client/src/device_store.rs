//! The software secure element's state on disk (chit-offline `SoftElement`): one file per
//! device under the wallet's `devices/`, sealed with ChaCha20-Poly1305 under a key derived from
//! the wallet's identity key, so the file alone opens for no one and cannot be edited unseen.
//! Every change replaces it atomically (write, fsync, rename, fsync the folder) before the
//! device's answer is used: a crash leaves the old state or the new one, never half of each.
//!
//! A software state can still be copied whole or put back to an older copy; the node's chain
//! check (chit-offline `chain`) is what catches that.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chit_offline::device::DeviceState;
use chit_proto::canon::Canon;
use chit_proto::keys::random_bytes;
use chit_proto::{b64, IdentityKey, IdentitySecret};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wallet::{write_file, WalletError};

/// The one format this version writes and reads.
pub const DEVICE_STATE_FORMAT: &str = "chit-device-state/1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedState {
    format: String,
    device: IdentityKey,
    nonce: String,
    ciphertext: String,
}

/// What a wallet keeps of one device, sealed: the element's state, and what the node has not
/// seen yet — entries to sync, the vouchers the collects among them name, and a deposit sent
/// but not yet answered (sent again, under the same id, before anything else).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    pub state: DeviceState,
    #[serde(default)]
    pub unsynced: Vec<chit_offline::entry::SignedEntry>,
    #[serde(default)]
    pub collected: Vec<chit_offline::entry::Voucher>,
    #[serde(default)]
    pub pending_deposit: Option<chit_proto::api::SignedCommand>,
}

impl DeviceFile {
    pub fn new(state: DeviceState) -> Self {
        Self {
            state,
            unsynced: Vec::new(),
            collected: Vec::new(),
            pending_deposit: None,
        }
    }
}

/// Where a wallet keeps its devices' states.
pub struct DeviceStore {
    dir: PathBuf,
    key: Key,
}

fn error(path: &Path, message: impl std::fmt::Display) -> WalletError {
    WalletError::File {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn associated_data(device: &IdentityKey) -> Vec<u8> {
    Canon::new(DEVICE_STATE_FORMAT)
        .bytes(device.as_bytes())
        .finish()
}

impl DeviceStore {
    /// The store of the wallet in `wallet_dir`, whose identity key seals it.
    pub fn new(wallet_dir: &Path, identity: &IdentitySecret) -> Self {
        let mut h = Sha256::new();
        h.update(b"chit/v1/device-state\0");
        h.update(identity.to_seed());
        Self {
            dir: wallet_dir.join("devices"),
            key: Key::from(<[u8; 32]>::from(h.finalize())),
        }
    }

    fn path(&self, device: &IdentityKey) -> PathBuf {
        let name = b64::encode(device.as_bytes());
        self.dir.join(format!("{name}.json"))
    }

    /// Seals and stores `file`, replacing the device's file atomically.
    pub fn save(&self, file: &DeviceFile) -> Result<(), WalletError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| error(&self.dir, e))?;
        let device = file.state.certificate.device_key;
        let nonce = random_bytes::<12>();
        let plain = serde_json::to_vec(file).expect("serialisable");
        let sealed = ChaCha20Poly1305::new(&self.key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &associated_data(&device),
                },
            )
            .map_err(|_| error(&self.dir, "sealing failed"))?;
        let file = SealedState {
            format: DEVICE_STATE_FORMAT.into(),
            device,
            nonce: b64::encode(&nonce),
            ciphertext: b64::encode(&sealed),
        };
        let path = self.path(&device);
        write_file(
            &path,
            &serde_json::to_vec(&file).expect("serialisable"),
            true,
        )?;
        // The rename is durable only once the folder is.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| error(&self.dir, e))
    }

    /// The devices this wallet keeps a state for.
    pub fn devices(&self) -> Result<Vec<IdentityKey>, WalletError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(error(&self.dir, e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let name = entry.map_err(|e| error(&self.dir, e))?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(key) =
                b64::decode_array::<32>(stem).and_then(|b| IdentityKey::from_bytes(b).ok())
            {
                keys.push(key);
            }
        }
        keys.sort_by_key(|k| *k.as_bytes());
        Ok(keys)
    }

    /// Forgets a device (once the node has retired it).
    pub fn remove(&self, device: &IdentityKey) -> Result<(), WalletError> {
        let path = self.path(device);
        std::fs::remove_file(&path).map_err(|e| error(&path, e))
    }

    /// The stored state of `device`, if this wallet has one; a file that does not open (another
    /// wallet's, or altered) is an error, never a state.
    pub fn load(&self, device: &IdentityKey) -> Result<Option<DeviceFile>, WalletError> {
        let path = self.path(device);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(error(&path, e)),
        };
        let file: SealedState = serde_json::from_slice(&bytes).map_err(|e| error(&path, e))?;
        if file.format != DEVICE_STATE_FORMAT || &file.device != device {
            return Err(error(&path, "not this device's state"));
        }
        let nonce = b64::decode_array::<12>(&file.nonce).ok_or_else(|| error(&path, "nonce"))?;
        let sealed = b64::decode(&file.ciphertext).ok_or_else(|| error(&path, "ciphertext"))?;
        let plain = ChaCha20Poly1305::new(&self.key)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: &associated_data(device),
                },
            )
            .map_err(|_| {
                error(
                    &path,
                    "does not open with this wallet's key, or was altered",
                )
            })?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chit_offline::device::{SecureElement, SoftElement};
    use chit_offline::limits::ClassLimits;
    use chit_offline::statements::{
        Attestation, Confirmation, DeviceCertificate, DeviceRegistration, Movement,
    };
    use chit_proto::Handle;

    fn element() -> (SoftElement, IdentitySecret) {
        let node = IdentitySecret::from_seed([9; 32]);
        let registration = DeviceRegistration {
            owner: Handle::new("alice").unwrap(),
            device_key: IdentitySecret::from_seed([1; 32]).public(),
            attestation: Attestation::Software,
            label: "laptop".into(),
            created_at_ms: 1,
        };
        let cert = DeviceCertificate::issue(
            &registration,
            "EUR",
            ClassLimits {
                holding: 10_000,
                voucher: 10_000,
            },
            2,
            &node,
        );
        (SoftElement::new([1; 32], cert), node)
    }

    #[test]
    fn a_state_reads_back_only_with_its_wallets_key_and_unaltered() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = IdentitySecret::from_seed([4; 32]);
        let store = DeviceStore::new(dir.path(), &wallet);
        let (mut d, node) = element();
        let key = d.device_key();
        assert_eq!(store.load(&key).unwrap(), None);
        let c = Confirmation::issue(key, Movement::Deposit, 1, 700, "EUR", &node);
        d.deposit(&c, 3).unwrap();
        store.save(&DeviceFile::new(d.state().clone())).unwrap();
        let back = store.load(&key).unwrap().unwrap();
        assert_eq!(&back.state, d.state());
        assert_eq!(SoftElement::from_state(back.state).unwrap().balance(), 700);
        assert_eq!(store.devices().unwrap(), vec![key]);
        assert!(!store.path(&key).with_extension("tmp").exists());

        let other = DeviceStore::new(dir.path(), &IdentitySecret::from_seed([5; 32]));
        assert!(
            other.load(&key).is_err(),
            "another wallet's key opens nothing"
        );
        let path = store.path(&key);
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut sealed = b64::decode(file["ciphertext"].as_str().unwrap()).unwrap();
        sealed[3] ^= 1;
        file["ciphertext"] = b64::encode(&sealed).into();
        std::fs::write(&path, file.to_string()).unwrap();
        assert!(store.load(&key).is_err(), "an altered state is refused");
    }
}
