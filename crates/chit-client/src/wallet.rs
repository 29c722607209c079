//! A wallet on disk: keys (mode 0600), the pinned node key, the session token, and every message
//! and receipt seen, deduplicated by id (delivery is at-least-once).
//!
//! Layout of the wallet directory:
//! - `keys.json` (0600): handle, node URL, pinned node key, identity and encryption seeds.
//! - `session.json` (0600): the current session token.
//! - `messages.json`: the mailbox cursor and the messages synced so far.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chit_proto::api::{Delivery, Envelope};
use chit_proto::{b64, EncryptionSecret, Handle, IdentityKey, IdentitySecret};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, Identity};

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("no wallet in {0} (run `chit register <handle>` first)")]
    Missing(PathBuf),
    #[error("a wallet already exists in {0}")]
    Exists(PathBuf),
    #[error("wallet file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

#[derive(Serialize, Deserialize)]
struct KeysFile {
    handle: Handle,
    node_url: String,
    node_key: IdentityKey,
    identity_seed: String,
    encryption_seed: String,
}

#[derive(Serialize, Deserialize, Default)]
struct SessionFile {
    token: Option<String>,
    expires_at_ms: u64,
}

/// Messages kept locally, by id, with the mailbox cursor they were synced up to.
#[derive(Serialize, Deserialize, Default)]
pub struct Store {
    pub cursor: u64,
    pub messages: BTreeMap<String, Delivery>,
}

/// An opened wallet with a client connected to its node.
pub struct Wallet {
    dir: PathBuf,
    pub identity: Identity,
    pub client: Client,
    node_url: String,
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> WalletError {
    WalletError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes atomically (temp file + rename); `private` files are created mode 0600.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), WalletError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = private;
    let mut file = options.open(&tmp).map_err(|e| file_error(&tmp, e))?;
    file.write_all(bytes).map_err(|e| file_error(&tmp, e))?;
    file.sync_all().map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, WalletError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| file_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(path, e)),
    }
}

fn seed(text: &str, path: &Path) -> Result<[u8; 32], WalletError> {
    b64::decode_array(text).ok_or_else(|| file_error(path, "bad key seed"))
}

impl Wallet {
    /// Makes new keys, registers `handle` at the node, logs in and saves the wallet.
    pub fn register(dir: &Path, node_url: &str, handle: Handle) -> Result<Self, WalletError> {
        let keys_path = dir.join("keys.json");
        if keys_path.exists() {
            return Err(WalletError::Exists(dir.to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let identity = Identity::generate(handle);
        let mut client = Client::new(node_url, None);
        let node_key = client.node_info()?.node_key;
        client.register(&identity)?;
        let keys = KeysFile {
            handle: identity.handle.clone(),
            node_url: node_url.to_owned(),
            node_key,
            identity_seed: b64::encode(&identity.identity.to_seed()),
            encryption_seed: b64::encode(&identity.encryption.to_seed()),
        };
        let json = serde_json::to_vec_pretty(&keys).expect("serialisable");
        write_file(&keys_path, &json, true)?;
        let mut wallet = Self {
            dir: dir.to_owned(),
            identity,
            client,
            node_url: node_url.to_owned(),
        };
        wallet.login()?;
        Ok(wallet)
    }

    /// Opens the wallet in `dir`. `node_url` overrides the saved node (the pinned key still
    /// has to match).
    pub fn open(dir: &Path, node_url: Option<&str>) -> Result<Self, WalletError> {
        let keys_path = dir.join("keys.json");
        let keys: KeysFile =
            read_json(&keys_path)?.ok_or_else(|| WalletError::Missing(dir.to_owned()))?;
        let identity = Identity {
            handle: keys.handle,
            identity: IdentitySecret::from_seed(seed(&keys.identity_seed, &keys_path)?),
            encryption: EncryptionSecret::from_seed(seed(&keys.encryption_seed, &keys_path)?),
        };
        let url = node_url.unwrap_or(&keys.node_url).to_owned();
        let mut client = Client::new(&url, Some(keys.node_key));
        let session: SessionFile = read_json(&dir.join("session.json"))?.unwrap_or_default();
        if let Some(token) = session
            .token
            .filter(|_| session.expires_at_ms > crate::now_ms() + 60_000)
        {
            client.set_token(token);
        }
        Ok(Self {
            dir: dir.to_owned(),
            identity,
            client,
            node_url: url,
        })
    }

    pub fn node_url(&self) -> &str {
        &self.node_url
    }

    /// Logs in (a fresh challenge) and saves the session.
    pub fn login(&mut self) -> Result<(), WalletError> {
        let res = self.client.login(&self.identity)?;
        let session = SessionFile {
            token: Some(res.token),
            expires_at_ms: res.expires_at_ms,
        };
        let json = serde_json::to_vec(&session).expect("serialisable");
        write_file(&self.dir.join("session.json"), &json, true)
    }

    /// Runs `f`, logging in first if there is no session and once more if the node says the
    /// session is no longer valid.
    pub fn with_session<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, ClientError>,
    ) -> Result<T, WalletError> {
        if self.client.token().is_none() {
            self.login()?;
        }
        match f(self) {
            Err(ClientError::Api { status: 401, .. }) => {
                self.login()?;
                Ok(f(self)?)
            }
            other => Ok(other?),
        }
    }

    pub fn load_store(&self) -> Result<Store, WalletError> {
        Ok(read_json(&self.dir.join("messages.json"))?.unwrap_or_default())
    }

    fn save_store(&self, store: &Store) -> Result<(), WalletError> {
        let json = serde_json::to_vec(store).expect("serialisable");
        write_file(&self.dir.join("messages.json"), &json, false)
    }

    /// Fetches everything new from the mailbox into the local store; returns the new items.
    pub fn sync(&mut self) -> Result<Vec<Delivery>, WalletError> {
        let mut store = self.load_store()?;
        let mut fresh = Vec::new();
        loop {
            let after = store.cursor;
            let page = self.with_session(|w| w.client.mailbox(after, 500))?;
            let Some(last) = page.last() else { break };
            store.cursor = last.cursor;
            let full = page.len() == 500;
            for item in page {
                if !store.messages.contains_key(&item.message.id) {
                    store.messages.insert(item.message.id.clone(), item.clone());
                    fresh.push(item);
                }
            }
            if !full {
                break;
            }
        }
        self.save_store(&store)?;
        Ok(fresh)
    }

    /// Keeps one delivery (e.g. from the live stream) unless it is already stored.
    pub fn remember(&self, delivery: &Delivery) -> Result<bool, WalletError> {
        let mut store = self.load_store()?;
        if store.messages.contains_key(&delivery.message.id) {
            return Ok(false);
        }
        store
            .messages
            .insert(delivery.message.id.clone(), delivery.clone());
        self.save_store(&store)?;
        Ok(true)
    }

    /// The opened text of a message, if it has a body for this wallet.
    pub fn open_text(&self, message: &Envelope) -> Option<String> {
        if message.body.recipients.is_empty() {
            return None;
        }
        Client::open(&self.identity, message)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// A saved invoice template: what `chit request --template NAME` fills in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub amount: String,
    #[serde(default)]
    pub note: String,
    /// How long requests made from it stay open, e.g. `7d`.
    pub expires: String,
}

impl Wallet {
    /// Templates live only in the wallet: their notes are private.
    pub fn templates(&self) -> Result<BTreeMap<String, Template>, WalletError> {
        Ok(read_json(&self.dir.join("templates.json"))?.unwrap_or_default())
    }

    pub fn save_templates(
        &self,
        templates: &BTreeMap<String, Template>,
    ) -> Result<(), WalletError> {
        let json = serde_json::to_vec_pretty(templates).expect("serialisable");
        write_file(&self.dir.join("templates.json"), &json, false)
    }
}
