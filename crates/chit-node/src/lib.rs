//! The Chit node: identities and certificates, sealed messages with live push and mailboxes,
//! and payments as messages on top of the ledger. `chit serve` wires it up.

pub mod admission;
pub mod audit;
pub mod cache;
pub mod challenges;
pub mod conversations;
pub mod db;
pub mod error;
pub mod events;
pub mod funding;
pub mod http;
pub mod http_read;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod node;
pub mod outcomes;
pub mod payments;
pub mod rails;
pub mod refunds;
pub mod requests;
pub mod serving;
pub mod signatures;
pub mod statement;
pub mod store;
pub mod throttle;

pub use error::ApiError;
pub use node::Node;

/// Where a node keeps everything: SQLite files (`node.db`, `ledger.db`) in a directory, or one
/// PostgreSQL database for both.
#[derive(Clone, Copy, Debug)]
pub enum StorageAt<'a> {
    Directory(&'a std::path::Path),
    Postgres(&'a str),
}

/// Opens (and migrates) the node's database and starts its ledger, on the same engine.
pub fn open_storage(
    at: StorageAt<'_>,
    clock: std::sync::Arc<dyn chit_ledger::Clock>,
) -> Result<(db::Db, chit_ledger::Ledger), chit_ledger::StoreError> {
    let config = chit_ledger::LedgerConfig::default();
    Ok(match at {
        StorageAt::Directory(dir) => (
            {
                keep_private(dir).map_err(|e| {
                    chit_ledger::StoreError::Backend(format!(
                        "data directory {}: {e}",
                        dir.display()
                    ))
                })?;
                db::Db::sqlite(&dir.join("node.db"))?
            },
            chit_ledger_sqlite::start(&dir.join("ledger.db"), clock, config)?,
        ),
        StorageAt::Postgres(url) => (
            db::Db::postgres(url)?,
            chit_ledger_postgres::start(url, clock, config)?,
        ),
    })
}

/// The files of a node's data directory: its key, and the two SQLite databases with their
/// write-ahead logs.
const DATA_FILES: [&str; 7] = [
    "node.key",
    "node.db",
    "node.db-wal",
    "node.db-shm",
    "ledger.db",
    "ledger.db-wal",
    "ledger.db-shm",
];

/// Makes `dir` readable by its owner only (0700) and its database files too (0600): they hold
/// every balance and every session. The databases are created 0600 before SQLite opens them
/// (SQLite gives its `-wal` and `-shm` files the database's mode); files an older node made
/// 0644 are tightened.
pub fn keep_private(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for db in ["node.db", "ledger.db"] {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(dir.join(db))?;
        }
        for file in DATA_FILES {
            let path = dir.join(file);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// Starts the node's background work, every second: expire payments whose time is up, make
/// scheduled payments, finish or undo payments a crash interrupted, delete expired sessions.
/// Safe on every node at once.
pub fn spawn_workers(node: std::sync::Arc<Node>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let node = node.clone();
            let result = tokio::task::spawn_blocking(move || {
                // Scheduled payments first: after downtime a payment due before its request's
                // expiry is made rather than expired.
                node.run_scheduled(1_000)?;
                node.expire_due(1_000)?;
                node.recover_paying(30_000, 1_000)?;
                node.sweep_sessions(1_000).map(|_| ())
            })
            .await;
            if let Ok(Err(e)) = result {
                tracing::warn!(error = ?e, "payment worker failed; retrying next tick");
            }
        }
    })
}
