//! SQLite: its errors as [`StoreError`]s, and the WAL checkpointer.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::StoreError;

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

/// Maps SQLite errors: a busy database or a duplicate key from a concurrent writer is transient.
pub fn error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        let unique = f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) || unique {
            return StoreError::Conflict(e.to_string());
        }
    }
    StoreError::Backend(e.to_string())
}

/// Runs passive checkpoints on `conn` every few milliseconds until the returned sender is
/// dropped, then truncates the WAL. For any SQLite file whose writers turned
/// `wal_autocheckpoint` off (the node database uses it too).
pub fn start_checkpointer(conn: Connection) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let checkpoint = move |mode: &str| {
        let sql = format!("PRAGMA wal_checkpoint({mode})");
        if let Err(e) = conn.query_row(&sql, [], |_| Ok(())) {
            tracing::warn!(error = %e, "sqlite checkpoint failed");
        }
    };
    std::thread::Builder::new()
        .name("chit-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                checkpoint("PASSIVE");
            }
            checkpoint("TRUNCATE");
        })
        .expect("spawn sqlite checkpointer");
    stop
}
