//! The node: its state handles ([`Node`]), how it is made, and what every room shares — the
//! clock, write retries, the node's public description. Behaviour is in the rooms by concern:
//! [`crate::auth`], [`crate::messaging`], [`crate::posting`], [`crate::payments`], with the
//! execution policy in [`crate::exec`] and the periodic jobs in [`crate::workers`].

use std::sync::Arc;

use chit_core::Currencies;
use chit_ledger::StoreError;
use chit_proto::api::{CurrencyInfo, NodeInfo};
use chit_proto::IdentitySecret;

use crate::db::Db;
use crate::error::NodeError;
use crate::events::{Events, LocalHub};
use crate::exec::CHECKS_PARALLEL;

/// Retries of a write transaction that hit a concurrent writer (another node).
pub(crate) const WRITE_RETRIES_MAX: u32 = 16;

/// A running node's state handles. Behaviour lives in the rooms by concern (`auth`,
/// `messaging`, `posting`, `payments`, `exec`); the fields are the crate's, and outsiders (the
/// front doors, tools, tests) reach them through the accessors below.
pub struct Node {
    pub(crate) db: Db,
    pub(crate) ledger: chit_ledger::Ledger,
    pub(crate) key: IdentitySecret,
    pub(crate) currencies: Currencies,
    /// Live delivery; [`LocalHub`] unless the node is given another [`Events`].
    pub(crate) hub: Arc<dyn Events>,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Where the node reads the time (the ledger has its own); tests move it forward.
    pub(crate) clock: Arc<dyn chit_ledger::Clock>,
    /// Login challenges: issued without a write, checked by their MAC.
    pub(crate) challenges: crate::auth::challenges::Challenges,
    /// Budgets per source address for what strangers can do (see [`crate::throttle`]).
    pub(crate) throttles: crate::throttle::Throttles,
    pub(crate) identities: crate::auth::cache::Identities,
    pub(crate) sessions: crate::auth::cache::Sessions,
    /// Admits [`Node::check`]s; the rest wait as tasks, not as threads.
    pub(crate) checks: tokio::sync::Semaphore,
    /// Checks the signatures of async callers in batches.
    pub(crate) signatures: crate::auth::signatures::SignatureChecks,
    /// The operator's offline limits and loss policy.
    pub(crate) offline: std::sync::RwLock<crate::offline::OfflineConfig>,
}

impl Node {
    /// A node over its database and ledger, on the system clock; opens the system accounts.
    pub fn new(
        db: Db,
        ledger: chit_ledger::Ledger,
        key: IdentitySecret,
        currencies: Currencies,
    ) -> Result<Arc<Self>, NodeError> {
        Self::with_clock(
            db,
            ledger,
            key,
            currencies,
            Arc::new(chit_ledger::SystemClock),
        )
    }

    /// A node reading the time from `clock`.
    pub fn with_clock(
        db: Db,
        ledger: chit_ledger::Ledger,
        key: IdentitySecret,
        currencies: Currencies,
        clock: Arc<dyn chit_ledger::Clock>,
    ) -> Result<Arc<Self>, NodeError> {
        let challenges = crate::auth::challenges::Challenges::new(&key.to_seed());
        let node = Arc::new(Self {
            db,
            ledger,
            key,
            currencies,
            hub: Arc::new(LocalHub::default()),
            metrics: crate::metrics::Metrics::default(),
            clock,
            challenges,
            throttles: crate::throttle::Throttles::new(Default::default()),
            identities: crate::auth::cache::Identities::default(),
            sessions: crate::auth::cache::Sessions::default(),
            checks: tokio::sync::Semaphore::new(CHECKS_PARALLEL),
            signatures: crate::auth::signatures::SignatureChecks::start(),
            offline: Default::default(),
        });
        node.open_system_accounts()?;
        node.open_offline_accounts()?;
        node.fill_missing_amounts()?;
        Ok(node)
    }

    /// Runs a write transaction, retrying when another writer (another node) got there first.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut dyn crate::db::Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match self.db.write(&mut f) {
                Err(StoreError::Conflict(_)) if attempt < WRITE_RETRIES_MAX => attempt += 1,
                other => return other,
            }
        }
    }

    /// The node's own database (users, messages, payments).
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn ledger(&self) -> &chit_ledger::Ledger {
        &self.ledger
    }

    /// The node's signing key (certificates, receipts).
    pub fn key(&self) -> &IdentitySecret {
        &self.key
    }

    pub fn currencies(&self) -> &Currencies {
        &self.currencies
    }

    /// Live delivery: who is online, and their subscriptions.
    pub fn hub(&self) -> &dyn Events {
        self.hub.as_ref()
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The per-address budgets; an operator (or a test) may change them while running.
    pub fn throttles(&self) -> &crate::throttle::Throttles {
        &self.throttles
    }

    /// The node's time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.clock.now().as_nanos() / 1_000_000
    }

    pub fn info(&self) -> NodeInfo {
        let key = self.key.public();
        NodeInfo {
            node_key: key,
            fingerprint: key.fingerprint(),
            currencies: self
                .currencies
                .iter()
                .map(|c| CurrencyInfo {
                    code: c.code().to_string(),
                    decimals: c.decimals(),
                })
                .collect(),
            default_currency: self.currencies.default_currency().code().to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}
