//! A wallet on disk: keys (mode 0600), the pinned node key, the session token, and every message
//! and receipt seen, deduplicated by id (delivery is at-least-once).
//!
//! Layout of the wallet directory:
//! - `keys.json` (0600): handle, node URL, pinned node key, identity and encryption seeds.
//! - `session.json` (0600): the current session token.
//! - `messages.json`: the mailbox cursor and the messages synced so far, and the statement
//!   (every ledger transfer on the account) per currency.
//!
//! `session.json` and `messages.json` are caches: a damaged one is set aside with a note and
//! fetched again. `keys.json` is not: without it the handle is lost, so `chit key export` makes
//! a passphrase-encrypted backup (see [`crate::backup`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chit_proto::api::{Delivery, Envelope, StatementEntry};
use chit_proto::{b64, EncryptionSecret, Handle, IdentityKey, IdentitySecret, MessageId};
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
    #[error("{path} is damaged ({message}); restore it from a backup with `chit key import FILE` (made by `chit key export`)")]
    DamagedKeys { path: PathBuf, message: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl WalletError {
    /// The node's error code, if the node answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Client(c) => c.code(),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysFile {
    pub(crate) handle: Handle,
    pub(crate) node_url: String,
    pub(crate) node_key: IdentityKey,
    pub(crate) identity_seed: String,
    pub(crate) encryption_seed: String,
}

#[derive(Serialize, Deserialize, Default)]
struct SessionFile {
    token: Option<String>,
    expires_at_ms: u64,
}

/// Messages kept locally, by id, with the mailbox cursor they were synced up to; and the
/// statement per currency, every entry from the first.
#[derive(Serialize, Deserialize, Default)]
pub struct Store {
    pub cursor: u64,
    pub messages: BTreeMap<MessageId, Delivery>,
    #[serde(default)]
    pub statements: BTreeMap<String, Vec<StatementEntry>>,
    /// The mailbox cursor up to which `chit inbox` (or `listen`) has shown messages: what
    /// another command synced is still new to the person. Absent in older wallets, where it
    /// starts at the cursor they had.
    #[serde(default)]
    pub inbox_shown: Option<u64>,
}

/// An opened wallet with a client connected to its node.
pub struct Wallet {
    dir: PathBuf,
    pub identity: Identity,
    pub client: Client,
    node_url: String,
    /// Things the person should hear about the wallet itself (a cache set aside, say).
    pub notes: Vec<String>,
}

/// `host:port` means `http://host:port`; a URL keeps its scheme.
pub fn node_url(text: &str) -> String {
    let text = text.trim().trim_end_matches('/');
    if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> WalletError {
    WalletError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes atomically (temp file + rename); `private` files are created mode 0600.
pub(crate) fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), WalletError> {
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

/// Statement entries fetched per request.
const STATEMENT_PAGE: usize = 500;

/// Reads a cache file; a damaged one is renamed `*.damaged` (kept for a look, not trusted),
/// noted, and started afresh.
fn set_aside_if_damaged<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<T, WalletError> {
    match read_json(path) {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(WalletError::File { message, .. }) if path.exists() => {
            let aside = path.with_extension("json.damaged");
            std::fs::rename(path, &aside).map_err(|e| file_error(path, e))?;
            notes.push(format!(
                "{} was damaged ({message}); set aside as {} and fetched again from the node",
                path.display(),
                aside.display()
            ));
            Ok(T::default())
        }
        Err(e) => Err(e),
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
        let node_url = &self::node_url(node_url);
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
            notes: Vec::new(),
        };
        wallet.login()?;
        Ok(wallet)
    }

    /// Opens the wallet in `dir`. `node_url` overrides the saved node (the pinned key still
    /// has to match).
    pub fn open(dir: &Path, node_url: Option<&str>) -> Result<Self, WalletError> {
        let keys_path = dir.join("keys.json");
        let damaged = |e: WalletError| match e {
            WalletError::File { path, message } => WalletError::DamagedKeys { path, message },
            other => other,
        };
        let keys: KeysFile = read_json(&keys_path)
            .map_err(damaged)?
            .ok_or_else(|| WalletError::Missing(dir.to_owned()))?;
        let identity = Identity {
            handle: keys.handle,
            identity: IdentitySecret::from_seed(
                seed(&keys.identity_seed, &keys_path).map_err(damaged)?,
            ),
            encryption: EncryptionSecret::from_seed(
                seed(&keys.encryption_seed, &keys_path).map_err(damaged)?,
            ),
        };
        let url = node_url.map_or_else(|| keys.node_url.clone(), self::node_url);
        let mut client = Client::new(&url, Some(keys.node_key));
        let mut notes = Vec::new();
        let session: SessionFile = set_aside_if_damaged(&dir.join("session.json"), &mut notes)?;
        if let Some(token) = session
            .token
            .filter(|_| session.expires_at_ms > crate::now_ms() + 60_000)
        {
            client.set_token(token);
        }
        let _: Store = set_aside_if_damaged(&dir.join("messages.json"), &mut notes)?;
        Ok(Self {
            dir: dir.to_owned(),
            identity,
            client,
            node_url: url,
            notes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn node_url(&self) -> &str {
        &self.node_url
    }

    /// Logs in (a fresh challenge) and saves the session. A refusal from a node other than the
    /// one this wallet registered at says so, instead of "authentication failed".
    pub fn login(&mut self) -> Result<(), WalletError> {
        let res = match self.client.login(&self.identity) {
            Ok(res) => res,
            Err(e @ ClientError::Api { status: 401, .. }) => {
                self.client.node_info().map_err(|other| match other {
                    ClientError::Untrusted(why) => ClientError::Untrusted(format!(
                        "{} is not the node this wallet registered at ({why})",
                        self.node_url
                    )),
                    other => other,
                })?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
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
        store.inbox_shown.get_or_insert(store.cursor);
        let mut fresh = Vec::new();
        loop {
            let after = store.cursor;
            let page = self.with_session(|w| w.client.mailbox(after, 500))?;
            let Some(last) = page.last() else { break };
            store.cursor = last.cursor;
            let full = page.len() == 500;
            for item in page {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    store.messages.entry(item.message.id)
                {
                    slot.insert(item.clone());
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

    /// Fetches every statement entry not yet stored, for every currency the node serves; the
    /// store keeps them all, from the first, so the balance after each line is known.
    pub fn sync_statements(&mut self) -> Result<(), WalletError> {
        let currencies: Vec<String> = self
            .client
            .node_info()?
            .currencies
            .into_iter()
            .map(|c| c.code)
            .collect();
        let mut store = self.load_store()?;
        for currency in currencies {
            loop {
                let entries = store.statements.entry(currency.clone()).or_default();
                let after = entries.last().map(|e| e.cursor);
                let page = self
                    .with_session(|w| w.client.statement(Some(&currency), after, STATEMENT_PAGE))?;
                let full = page.entries.len() == STATEMENT_PAGE;
                store
                    .statements
                    .entry(currency.clone())
                    .or_default()
                    .extend(page.entries);
                if !full {
                    break;
                }
            }
        }
        self.save_store(&store)
    }

    /// What the inbox has not shown yet, in mailbox order (synced by any command since).
    pub fn unshown(&self) -> Result<Vec<Delivery>, WalletError> {
        let store = self.load_store()?;
        let shown = store.inbox_shown.unwrap_or(store.cursor);
        let mut items: Vec<Delivery> = store
            .messages
            .into_values()
            .filter(|d| d.cursor > shown)
            .collect();
        items.sort_by_key(|d| d.cursor);
        Ok(items)
    }

    /// The inbox has shown everything up to mailbox cursor `upto`.
    pub fn mark_inbox_shown(&self, upto: u64) -> Result<(), WalletError> {
        let mut store = self.load_store()?;
        if store.inbox_shown.is_some_and(|s| s >= upto) {
            return Ok(());
        }
        store.inbox_shown = Some(upto);
        self.save_store(&store)
    }

    /// Keeps one delivery (e.g. from the live stream) unless it is already stored.
    pub fn remember(&self, delivery: &Delivery) -> Result<bool, WalletError> {
        let mut store = self.load_store()?;
        if store.messages.contains_key(&delivery.message.id) {
            return Ok(false);
        }
        store.messages.insert(delivery.message.id, delivery.clone());
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
