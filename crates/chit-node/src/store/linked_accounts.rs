//! Links to external accounts on a rail, stored once the rail has verified them.

use chit_ledger::StoreError;
use chit_proto::Handle;

use super::ms;
use crate::db::Conn;

/// Stores (or replaces) a verified link to an external account.
pub fn link_account(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
    reference: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM linked_accounts WHERE handle = $1 AND rail = $2",
        &[handle.as_str().into(), rail.into()],
    )?;
    c.execute(
        "INSERT INTO linked_accounts (handle, rail, reference, verified_at_ms) VALUES ($1, $2, $3, $4)",
        &[handle.as_str().into(), rail.into(), reference.into(), ms(now_ms)],
    )?;
    Ok(())
}

/// The linked external account for a rail, if any.
pub fn linked_account(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
) -> Result<Option<String>, StoreError> {
    Ok(linked_account_since(c, handle, rail)?.map(|(reference, _)| reference))
}

/// The linked external account for a rail and when it was verified, if any.
pub fn linked_account_since(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
) -> Result<Option<(String, u64)>, StoreError> {
    c.query_opt(
        "SELECT reference, verified_at_ms FROM linked_accounts WHERE handle = $1 AND rail = $2",
        &[handle.as_str().into(), rail.into()],
    )?
    .map(|r| Ok((r.text(0)?, r.int(1)?.max(0) as u64)))
    .transpose()
}
