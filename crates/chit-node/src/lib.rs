//! The Chit node: identities and certificates, sealed messages with live push and mailboxes,
//! and (next) payments as messages on top of the ledger. `chit serve` wires it up.

pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod node;
pub mod store;

pub use error::ApiError;
pub use node::Node;
