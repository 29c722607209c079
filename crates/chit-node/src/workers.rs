//! The node's periodic jobs, as a list run in order every second on every node at once (each
//! is safe to race another node's). A new periodic job — a voucher sweep, a coupon chain's
//! expiry — is one more entry in [`JOBS`].

use std::sync::Arc;

use crate::error::NodeError;
use crate::Node;

/// Most items one job handles per tick; the rest wait for the next.
const BATCH: usize = 1_000;
/// How long a payment may sit in `paying` before it is taken for interrupted by a crash.
const PAYING_STALE_MS: u64 = 30_000;

/// A periodic job: its name (for the log) and one tick of its work.
pub struct Job {
    pub name: &'static str,
    pub run: fn(&Node) -> Result<(), NodeError>,
}

/// The jobs in the order they run. Scheduled payments come before expiry: after downtime a
/// payment due before its request's expiry is made rather than expired.
pub const JOBS: &[Job] = &[
    Job {
        name: "scheduled payments",
        run: |node| node.run_scheduled(BATCH).map(drop),
    },
    Job {
        name: "expiry",
        run: |node| node.expire_due(BATCH).map(drop),
    },
    Job {
        name: "interrupted payments",
        run: |node| node.recover_paying(PAYING_STALE_MS, BATCH).map(drop),
    },
    Job {
        name: "retired devices",
        run: |node| node.release_retired(BATCH).map(drop),
    },
    Job {
        name: "offline booking",
        run: |node| node.book_offline(BATCH).map(drop),
    },
    Job {
        name: "expired sessions",
        run: |node| node.sweep_sessions(BATCH).map(drop),
    },
];

/// Starts [`JOBS`] on a one-second tick. A failing job is logged and tried again at the next
/// tick; the jobs after it still run.
pub fn spawn_workers(node: Arc<Node>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let node = node.clone();
            let ran = tokio::task::spawn_blocking(move || {
                for job in JOBS {
                    if let Err(e) = (job.run)(&node) {
                        tracing::warn!(job = job.name, error = ?e, "worker failed; retrying next tick");
                    }
                }
            })
            .await;
            if let Err(e) = ran {
                tracing::error!(error = %e, "workers panicked; retrying next tick");
            }
        }
    })
}
