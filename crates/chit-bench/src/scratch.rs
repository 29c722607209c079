//! Scratch databases for benchmarks: a temporary directory, or a database created on a
//! PostgreSQL server and dropped afterwards.

use std::sync::Arc;

use chit_ledger::{Ledger, LedgerConfig, SystemClock};

/// Where to run: a fresh SQLite file in a temporary directory, or a fresh database on a server.
#[derive(Clone, Debug)]
pub enum Target {
    Sqlite,
    /// URL of a PostgreSQL server's maintenance database; a scratch database is created and dropped.
    Postgres(String),
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A scratch database that is removed afterwards.
pub struct Scratch {
    target: Target,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Scratch {
    pub fn new(target: &Target) -> Result<Self, String> {
        match target {
            Target::Sqlite => Ok(Self {
                target: target.clone(),
                dir: Some(tempfile::tempdir().map_err(|e| e.to_string())?),
                pg_name: None,
            }),
            Target::Postgres(url) => {
                let name = format!("chit_bench_{}", std::process::id());
                let mut admin = postgres::Client::connect(url, postgres::NoTls)
                    .map_err(|e| format!("connect {url}: {e}"))?;
                // Two statements: CREATE DATABASE cannot share an implicit transaction.
                for sql in [
                    format!("DROP DATABASE IF EXISTS {name}"),
                    format!("CREATE DATABASE {name}"),
                ] {
                    admin
                        .batch_execute(&sql)
                        .map_err(|e| format!("{sql}: {e:?}"))?;
                }
                Ok(Self {
                    target: target.clone(),
                    dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }

    /// A ledger on the scratch database.
    pub fn ledger(&self) -> Result<Ledger, String> {
        let clock = Arc::new(SystemClock);
        let config = LedgerConfig::default();
        match (&self.target, &self.dir, &self.pg_name) {
            (Target::Sqlite, Some(dir), _) => {
                chit_ledger_sqlite::start(&dir.path().join("bench.db"), clock, config)
                    .map_err(|e| e.to_string())
            }
            (Target::Postgres(url), _, Some(name)) => chit_ledger_postgres::start(
                &chit_ledger_postgres::url_with_database(url, name),
                clock,
                config,
            )
            .map_err(|e| e.to_string()),
            _ => unreachable!("scratch matches its target"),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let (Target::Postgres(url), Some(name)) = (&self.target, &self.pg_name) {
            if let Ok(mut admin) = postgres::Client::connect(url, postgres::NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

impl Scratch {
    /// The node database on the scratch location (a file beside the ledger, or the same
    /// PostgreSQL database).
    pub fn node_db(&self) -> Result<chit_node::db::Db, String> {
        match (&self.target, &self.dir, &self.pg_name) {
            (Target::Sqlite, Some(dir), _) => {
                chit_node::db::Db::sqlite(&dir.path().join("node.db"))
            }
            (Target::Postgres(url), _, Some(name)) => {
                chit_node::db::Db::postgres(&chit_ledger_postgres::url_with_database(url, name))
            }
            _ => unreachable!("scratch matches its target"),
        }
        .map_err(|e| e.to_string())
    }
}
