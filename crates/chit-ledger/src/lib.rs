//! Chit's double-entry ledger: accounts, two-phase transfers, idempotent ids, group commit and
//! the audit, independent of where the rows live.
//!
//! Storage engines (`chit-ledger-sqlite`, `chit-ledger-postgres`) implement [`store::Writer`] and
//! [`store::Reader`]; the rules live in [`apply`] and are the same for every engine.

pub mod apply;
pub mod audit;
pub mod clock;
pub mod error;
pub mod ledger;
pub mod row;
pub mod store;
pub mod types;

pub use audit::{AuditReport, Violation};
pub use clock::{Clock, ManualClock, SystemClock};
pub use ledger::{Ledger, LedgerConfig, LedgerError};
pub use store::{HistoryQuery, Order, Reader, Storage, StoreError, Writer};
pub use types::*;
