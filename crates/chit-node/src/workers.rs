//! The node's periodic jobs, run on every node at once (each is safe to race another node's).

/// Starts the node's background work, every second: expire payments whose time is up, make
/// scheduled payments, finish or undo payments a crash interrupted, delete expired sessions.
/// Safe on every node at once.
pub fn spawn_workers(node: std::sync::Arc<crate::Node>) -> tokio::task::JoinHandle<()> {
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
