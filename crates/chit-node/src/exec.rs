//! The execution policy, in one place: which node work runs on the async threads and which
//! on the blocking pool, and how many checks run there at once. Front doors (HTTP, the calls
//! socket, IMPT) call the node's async operations and never choose a lane themselves.

use std::sync::Arc;

use crate::error::NodeError;
use crate::node::Node;

/// Checks (signature checks and short reads) running at once on the blocking pool, on
/// PostgreSQL: half its connection pool, so other work still finds connections.
pub(crate) const CHECKS_PARALLEL: usize = crate::db::PG_POOL_MAX / 2;

/// Runs blocking node work (database reads, the PostgreSQL engine) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        NodeError::internal()
    })?
}

impl Node {
    /// Runs node work that does database I/O on the blocking pool: every async operation of
    /// the node that is not a check goes through here.
    pub(crate) async fn run_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let node = self.clone();
        blocking(move || f(&node)).await
    }

    /// Runs the checks before a command (a signature, short reads), never work that waits on a
    /// commit. On SQLite right on the calling task: a read there is a lookup in a WAL snapshot
    /// that waits for no writer, cheaper than the hand-off to a blocking thread and back
    /// (docs/benchmarks.md has what it cost). On PostgreSQL every read is a round trip to the
    /// server, so the checks go to the blocking pool, at most [`CHECKS_PARALLEL`] at a time: a
    /// thousand calls in flight then wait here as tasks instead of as a thousand threads
    /// queueing for connections (which cost more in switching than the checks themselves).
    pub(crate) async fn check<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        if self.db.is_sqlite() {
            return f(self);
        }
        let _admitted = self
            .checks
            .acquire()
            .await
            .map_err(|_| NodeError::internal())?;
        let node = self.clone();
        blocking(move || f(&node)).await
    }
}
