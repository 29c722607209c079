//! API keys: the public key derived from a token, its scope, label and lifetime.

use chit_ledger::StoreError;
use chit_proto::{Command, Handle, IdentityKey, Signature};

use super::{corrupt, json, key32, ms};
use crate::db::{Conn, Row};

/// An API key as granted (the public key derived from a token; never the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub key: IdentityKey,
    pub handle: Handle,
    pub scope: Vec<String>,
    pub label: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

const API_KEY_COLUMNS: &str =
    "key, handle, scope, label, created_at_ms, expires_at_ms, revoked_at_ms";

fn api_key_row(r: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        key: IdentityKey::from_bytes(key32(r.blob(0)?)?).map_err(|_| corrupt("api key"))?,
        handle: Handle::new(&r.text(1)?).map_err(|e| corrupt(&e.to_string()))?,
        scope: r.text(2)?.split(',').map(str::to_owned).collect(),
        label: r.text(3)?,
        created_at_ms: r.int(4)? as u64,
        expires_at_ms: r.int(5)? as u64,
        revoked_at_ms: r.opt_int(6)?.map(|v| v as u64),
    })
}

/// Stores a granted key with the signed grant; `Conflict` if the key exists.
pub fn insert_api_key(
    c: &mut dyn Conn,
    k: &ApiKey,
    grant: &Command,
    signature: &Signature,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO api_keys (key, handle, scope, label, created_at_ms, expires_at_ms, \
         revoked_at_ms, grant_command, grant_signature) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)",
        &[
            k.key.as_bytes().to_vec().into(),
            k.handle.as_str().into(),
            k.scope.join(",").into(),
            k.label.as_str().into(),
            ms(k.created_at_ms),
            ms(k.expires_at_ms),
            json(grant).into(),
            signature.0.to_vec().into(),
        ],
    )?;
    Ok(())
}

pub fn api_key(c: &mut dyn Conn, key: &IdentityKey) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key = $1");
    c.query_opt(&sql, &[key.as_bytes().to_vec().into()])?
        .map(|r| api_key_row(&r))
        .transpose()
}

/// A user's keys, newest first.
pub fn api_keys(c: &mut dyn Conn, handle: &Handle) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE handle = $1 ORDER BY created_at_ms DESC"
    );
    c.query(&sql, &[handle.as_str().into()])?
        .iter()
        .map(api_key_row)
        .collect()
}

/// Revokes `handle`'s key; false when there is no such key of theirs or it was revoked already.
pub fn revoke_api_key(
    c: &mut dyn Conn,
    handle: &Handle,
    key: &IdentityKey,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE api_keys SET revoked_at_ms = $1 \
         WHERE key = $2 AND handle = $3 AND revoked_at_ms IS NULL",
        &[
            ms(now_ms),
            key.as_bytes().to_vec().into(),
            handle.as_str().into(),
        ],
    )?;
    Ok(n == 1)
}
