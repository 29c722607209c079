//! A node's data on disk: where it is kept (a directory of SQLite files, or PostgreSQL), opening
//! and migrating it, the node key file, and keeping all of it private to the node's user.

use std::path::Path;

use chit_proto::IdentitySecret;

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
) -> Result<(crate::db::Db, chit_ledger::Ledger), chit_ledger::StoreError> {
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
                crate::db::Db::sqlite(&dir.join("node.db"))?
            },
            chit_ledger_sqlite::start(&dir.join("ledger.db"), clock, config)?,
        ),
        StorageAt::Postgres(url) => (
            crate::db::Db::postgres(url)?,
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

/// Loads the node key from `dir/node.key`, creating it (mode 0600) on first start.
pub fn load_or_create_node_key(dir: &Path) -> std::io::Result<IdentitySecret> {
    let path = dir.join("node.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let seed: [u8; 32] = bytes.try_into().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "node.key must be 32 bytes")
            })?;
            Ok(IdentitySecret::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = IdentitySecret::generate();
            write_private(&path, &key.to_seed())?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
