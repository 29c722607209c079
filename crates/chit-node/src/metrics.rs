//! Prometheus metrics in the text exposition format, from plain atomic counters: no registry
//! crate needed for a handful of series.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the node keeps. Names follow Prometheus conventions (`_total` for counters).
#[derive(Default)]
pub struct Metrics {
    pub registrations: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub messages: AtomicU64,
    pub offers: AtomicU64,
    pub requests: AtomicU64,
    pub settled: AtomicU64,
    pub closed: AtomicU64,
    pub live_subscribers: AtomicU64,
    /// Kept by the HTTP server (`chit-http`).
    pub connections_open: AtomicU64,
    pub connections_displaced: AtomicU64,
    pub connections_refused: AtomicU64,
}

impl Metrics {
    /// Takes the HTTP server's connection counts: open, displaced and refused so far.
    pub fn count_connections(&self, open: usize, displaced: usize, refused: usize) {
        let set = |gauge: &AtomicU64, value: usize| gauge.store(value as u64, Ordering::Relaxed);
        set(&self.connections_open, open);
        set(&self.connections_displaced, displaced);
        set(&self.connections_refused, refused);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text for `GET /metrics`; `batches_redone` is the database's count
    /// ([`crate::db::Db::batches_redone`]).
    pub fn render(&self, batches_redone: u64) -> String {
        let mut out = String::new();
        let mut series = |name: &str, kind: &str, help: &str, samples: &[(&str, &AtomicU64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {}", value.load(Ordering::Relaxed));
            }
        };
        series(
            "chit_registrations_total",
            "counter",
            "Accounts registered.",
            &[("", &self.registrations)],
        );
        series(
            "chit_logins_total",
            "counter",
            "Login attempts by result.",
            &[
                (r#"{result="ok"}"#, &self.logins_ok),
                (r#"{result="failed"}"#, &self.logins_failed),
            ],
        );
        series(
            "chit_messages_total",
            "counter",
            "Text messages posted.",
            &[("", &self.messages)],
        );
        series(
            "chit_payments_total",
            "counter",
            "Offers and requests created.",
            &[
                (r#"{kind="offer"}"#, &self.offers),
                (r#"{kind="request"}"#, &self.requests),
            ],
        );
        series(
            "chit_payment_outcomes_total",
            "counter",
            "Payments settled (money moved) or closed without moving money.",
            &[
                (r#"{outcome="settled"}"#, &self.settled),
                (r#"{outcome="closed"}"#, &self.closed),
            ],
        );
        series(
            "chit_live_subscribers",
            "gauge",
            "Connected WebSocket event streams.",
            &[("", &self.live_subscribers)],
        );
        series(
            "chit_http_connections",
            "gauge",
            "Open HTTP connections (WebSockets included).",
            &[("", &self.connections_open)],
        );
        series(
            "chit_http_connections_shed_total",
            "counter",
            "HTTP connections closed to make room (displaced) or refused because their address held too many.",
            &[
                (r#"{reason="displaced"}"#, &self.connections_displaced),
                (r#"{reason="address_full"}"#, &self.connections_refused),
            ],
        );
        series(
            "chit_write_batches_redone_total",
            "counter",
            "Group commits redone job by job because a job failed or met another writer.",
            &[("", &AtomicU64::new(batches_redone))],
        );
        out
    }
}
