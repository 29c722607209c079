//! Row decoding shared by the storage engines: each engine exposes its rows as a [`RowSource`]
//! and the column lists here, so both agree on layout and on what counts as a corrupt row.

use chit_core::{AccountId, CurrencyCode, Timestamp, TransferId};

use crate::error::StoreError;
use crate::types::{Account, AccountKind, PendingState, PendingStatus, Transfer, TransferKind};

pub const ACCOUNT_COLUMNS: &str = "id, currency, kind, code, reference, debits_pending, \
    debits_posted, credits_pending, credits_posted, timestamp";
pub const TRANSFER_COLUMNS: &str = "id, debit_account_id, credit_account_id, amount, currency, \
    kind, pending_id, expires_at, code, reference, linked, timestamp";
pub const PENDING_COLUMNS: &str = "id, state, expires_at, resolved_by, resolved_at";

/// One database row, read by column index. Integer columns of any width (and booleans) read as
/// `i64`; NULL reads as `None`.
pub trait RowSource {
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn bytes16(r: &dyn RowSource, i: usize) -> Result<Option<[u8; 16]>, StoreError> {
    r.bytes(i)?
        .map(|b| b.try_into().map_err(|_| corrupt("id is not 16 bytes")))
        .transpose()
}

fn required<T>(v: Option<T>, what: &str) -> Result<T, StoreError> {
    v.ok_or_else(|| corrupt(&format!("{what} is null")))
}

fn transfer_id(r: &dyn RowSource, i: usize) -> Result<Option<TransferId>, StoreError> {
    bytes16(r, i)?
        .map(|b| TransferId::from_bytes(b).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn account_id(r: &dyn RowSource, i: usize) -> Result<AccountId, StoreError> {
    let b = required(bytes16(r, i)?, "account id")?;
    AccountId::from_bytes(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unsigned(r: &dyn RowSource, i: usize, what: &str) -> Result<Option<u64>, StoreError> {
    r.int(i)?
        .map(|v| u64::try_from(v).map_err(|_| corrupt(&format!("negative {what}"))))
        .transpose()
}

fn amount(r: &dyn RowSource, i: usize, what: &str) -> Result<u64, StoreError> {
    required(unsigned(r, i, what)?, what)
}

fn timestamp(r: &dyn RowSource, i: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(unsigned(r, i, "timestamp")?.map(Timestamp::from_nanos))
}

fn small(r: &dyn RowSource, i: usize, what: &str) -> Result<i16, StoreError> {
    let v = required(r.int(i)?, what)?;
    i16::try_from(v).map_err(|_| corrupt(what))
}

fn code(r: &dyn RowSource, i: usize) -> Result<u16, StoreError> {
    let v = required(r.int(i)?, "code")?;
    u16::try_from(v).map_err(|_| corrupt("code"))
}

fn currency(r: &dyn RowSource, i: usize) -> Result<CurrencyCode, StoreError> {
    CurrencyCode::new(&r.text(i)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn reference(r: &dyn RowSource, i: usize) -> Result<u128, StoreError> {
    Ok(u128::from_be_bytes(required(bytes16(r, i)?, "reference")?))
}

/// Decodes a row selected with [`ACCOUNT_COLUMNS`].
pub fn account(r: &dyn RowSource) -> Result<Account, StoreError> {
    Ok(Account {
        id: account_id(r, 0)?,
        currency: currency(r, 1)?,
        kind: AccountKind::from_i16(small(r, 2, "account kind")?)
            .ok_or_else(|| corrupt("account kind"))?,
        code: code(r, 3)?,
        reference: reference(r, 4)?,
        debits_pending: amount(r, 5, "debits_pending")?,
        debits_posted: amount(r, 6, "debits_posted")?,
        credits_pending: amount(r, 7, "credits_pending")?,
        credits_posted: amount(r, 8, "credits_posted")?,
        timestamp: required(timestamp(r, 9)?, "timestamp")?,
    })
}

/// Decodes a row selected with [`TRANSFER_COLUMNS`].
pub fn transfer(r: &dyn RowSource) -> Result<Transfer, StoreError> {
    Ok(Transfer {
        id: required(transfer_id(r, 0)?, "transfer id")?,
        debit_account_id: account_id(r, 1)?,
        credit_account_id: account_id(r, 2)?,
        amount: amount(r, 3, "amount")?,
        currency: currency(r, 4)?,
        kind: TransferKind::from_i16(small(r, 5, "transfer kind")?)
            .ok_or_else(|| corrupt("transfer kind"))?,
        pending_id: transfer_id(r, 6)?,
        expires_at: timestamp(r, 7)?,
        code: code(r, 8)?,
        reference: reference(r, 9)?,
        linked: required(r.int(10)?, "linked")? != 0,
        timestamp: required(timestamp(r, 11)?, "timestamp")?,
    })
}

/// Decodes a row selected with [`PENDING_COLUMNS`].
pub fn pending(r: &dyn RowSource) -> Result<PendingStatus, StoreError> {
    Ok(PendingStatus {
        id: required(transfer_id(r, 0)?, "pending id")?,
        state: PendingState::from_i16(small(r, 1, "pending state")?)
            .ok_or_else(|| corrupt("pending state"))?,
        expires_at: timestamp(r, 2)?,
        resolved_by: transfer_id(r, 3)?,
        resolved_at: timestamp(r, 4)?,
    })
}

/// The first column as a transfer id (for id-only queries).
pub fn first_transfer_id(r: &dyn RowSource) -> Result<TransferId, StoreError> {
    required(transfer_id(r, 0)?, "transfer id")
}

/// Converts a bounded `u64` (amounts, timestamps ≤ `i64::MAX`) to a database integer.
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("ledger values are bounded by i64::MAX")
}
