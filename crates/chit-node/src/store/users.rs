//! Users: a handle, its two keys, the node's certificate, and the auto-accept setting.

use chit_ledger::StoreError;
use chit_proto::{Certificate, EncryptionKey, Handle, IdentityKey, Signature};

use super::{corrupt, from_json, json, key32, ms};
use crate::db::{Conn, Row};

/// A registered user as the node keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub handle: Handle,
    pub identity_key: IdentityKey,
    pub encryption_key: EncryptionKey,
    pub certificate: Certificate,
    pub auto_accept: String,
}

/// Inserts a user; `Conflict` if the handle (or the identity key) is taken.
pub fn create_user(
    c: &mut dyn Conn,
    certificate: &Certificate,
    registration_signature: &Signature,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO users (handle, identity_key, encryption_key, registration_signature, \
         certificate, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            certificate.handle.as_str().into(),
            certificate.identity_key.as_bytes().to_vec().into(),
            certificate.encryption_key.as_bytes().to_vec().into(),
            registration_signature.0.to_vec().into(),
            json(certificate).into(),
            ms(now_ms),
        ],
    )?;
    Ok(())
}

fn user_row(row: &Row) -> Result<User, StoreError> {
    let handle = Handle::new(&row.text(0)?).map_err(|e| corrupt(&e.to_string()))?;
    Ok(User {
        handle,
        identity_key: IdentityKey::from_bytes(key32(row.blob(1)?)?)
            .map_err(|_| corrupt("identity key"))?,
        encryption_key: EncryptionKey::from_bytes(key32(row.blob(2)?)?)
            .map_err(|_| corrupt("encryption key"))?,
        certificate: from_json(&row.text(3)?, "certificate")?,
        auto_accept: row.text(4)?,
    })
}

pub fn user(c: &mut dyn Conn, handle: &Handle) -> Result<Option<User>, StoreError> {
    c.query_opt(
        "SELECT handle, identity_key, encryption_key, certificate, auto_accept FROM users \
         WHERE handle = $1",
        &[handle.as_str().into()],
    )?
    .map(|r| user_row(&r))
    .transpose()
}

/// The user's auto-accept setting; `None` for an unknown handle.
pub fn auto_accept(c: &mut dyn Conn, handle: &Handle) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT auto_accept FROM users WHERE handle = $1",
        &[handle.as_str().into()],
    )?
    .map(|r| r.text(0))
    .transpose()
}

/// Sets who a user accepts offers from automatically: `off`, `contacts` or `everyone`.
pub fn set_auto_accept(c: &mut dyn Conn, handle: &Handle, mode: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE users SET auto_accept = $1 WHERE handle = $2",
        &[mode.into(), handle.as_str().into()],
    )?;
    Ok(())
}
