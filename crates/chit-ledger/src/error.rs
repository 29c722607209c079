//! How storage fails, the same for every engine (and for the node's own tables).

/// A storage failure. `Conflict` is transient (serialization failure, deadlock, a concurrent
/// insert of the same id) and the whole batch is retried; anything else is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("transient storage conflict: {0}")]
    Conflict(String),
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
}
