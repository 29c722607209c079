//! PostgreSQL: its errors as [`StoreError`]s.

use postgres::error::SqlState;

use crate::StoreError;

/// Maps PostgreSQL errors: serialization failures, deadlocks and duplicate keys are transient.
pub fn error(e: postgres::Error) -> StoreError {
    let transient = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
        SqlState::LOCK_NOT_AVAILABLE,
    ];
    // "db error" alone says nothing: include the server's own message.
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    match e.code() {
        Some(code) if transient.contains(code) => StoreError::Conflict(text),
        _ => StoreError::Backend(text),
    }
}
