//! The SQL plumbing the ledger's engines and the node's database share: a bounded connection
//! pool, and for each engine the mapping of its errors onto [`StoreError`] (what is transient
//! and retried, what is reported) and, for SQLite, the WAL checkpointer. One copy, so the two
//! stores cannot come to disagree on what a conflict is.

pub mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use chit_ledger::StoreError;
pub use pool::Pool;
