//! The node's state, written once for both engines (see [`crate::db`]), one file per
//! aggregate: users, sessions, messages (conversations and mailboxes), payments, linked
//! accounts, API keys, offline devices. Every function runs inside the caller's transaction.

mod api_keys;
mod linked_accounts;
mod messages;
mod offline;
mod payments;
mod sessions;
mod users;

pub use api_keys::*;
pub use linked_accounts::*;
pub use messages::*;
pub use offline::*;
pub use payments::*;
pub use sessions::*;
pub use users::*;

use chit_ledger::StoreError;

use crate::db::{Row, Value};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A stored word (a kind, a state, an id) read back as its type; anything else is a corrupt
/// row.
fn word<T: std::str::FromStr>(r: &Row, i: usize, what: &str) -> Result<T, StoreError> {
    let text = r.text(i)?;
    text.parse()
        .map_err(|_| corrupt(&format!("{what} {text:?}")))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(&format!("{what}: {e}")))
}

fn ms(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn key32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt("key is not 32 bytes"))
}
