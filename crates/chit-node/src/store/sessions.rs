//! Sessions: a bearer token's hash, its user and its expiry.

use chit_ledger::StoreError;
use chit_proto::Handle;

use super::{corrupt, ms};
use crate::db::Conn;

pub fn create_session(
    c: &mut dyn Conn,
    token_hash: &[u8],
    handle: &Handle,
    expires_at_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO sessions (token_hash, handle, expires_at_ms) VALUES ($1, $2, $3)",
        &[
            token_hash.to_vec().into(),
            handle.as_str().into(),
            ms(expires_at_ms),
        ],
    )?;
    Ok(())
}

/// Deletes up to `limit` expired sessions, oldest first; returns how many.
pub fn delete_expired_sessions(
    c: &mut dyn Conn,
    now_ms: u64,
    limit: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(c.execute(
        "DELETE FROM sessions WHERE token_hash IN \
         (SELECT token_hash FROM sessions WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2)",
        &[ms(now_ms), limit.into()],
    )? as usize)
}

/// The handle a live session belongs to, and when the session ends.
pub fn session(
    c: &mut dyn Conn,
    token_hash: &[u8],
    now_ms: u64,
) -> Result<Option<(Handle, u64)>, StoreError> {
    let row = c.query_opt(
        "SELECT handle, expires_at_ms FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2",
        &[token_hash.to_vec().into(), ms(now_ms)],
    )?;
    row.map(|r| {
        let handle = Handle::new(&r.text(0)?).map_err(|e| corrupt(&e.to_string()))?;
        Ok((handle, r.int(1)?.max(0) as u64))
    })
    .transpose()
}
