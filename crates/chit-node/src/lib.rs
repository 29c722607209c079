//! The Chit node: identities and certificates, sealed messages with live push and mailboxes,
//! and payments as messages on top of the ledger, in rooms by concern (ARCHITECTURE.md has the
//! map). Its front doors are `chit-http` and `chit-impt`; `chit-server` runs it with both.

pub mod audit;
pub mod auth;
pub mod db;
pub mod error;
pub mod events;
pub mod exec;
pub mod messaging;
pub mod metrics;
pub mod node;
pub mod offline;
pub mod payments;
pub mod posting;
pub mod storage;
pub mod store;
pub mod throttle;
pub mod workers;

pub use error::NodeError;
pub use node::Node;
pub use storage::{keep_private, open_storage, StorageAt};
pub use workers::spawn_workers;
