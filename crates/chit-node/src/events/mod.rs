//! Live delivery: who is listening, and pushing committed messages to them. Behind the
//! [`Events`] trait so the node does not care where listeners are: [`LocalHub`] serves the
//! sessions connected to this node; an implementation over NATS (many nodes) can sit beside it
//! without touching a caller.

mod local;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chit_proto::api::Delivery;
use chit_proto::Handle;

pub use local::{LocalHub, SUBSCRIBER_BUFFER};

/// Where live deliveries go and come from.
pub trait Events: Send + Sync {
    /// Listens to `handle`'s deliveries until the subscription is dropped.
    fn subscribe(&self, handle: &Handle) -> Subscription;
    /// Whether `handle` has a live session listening (a wallet's WebSocket, an IMPT client).
    fn online(&self, handle: &Handle) -> bool;
    /// Pushes a committed delivery to `handle`'s listeners, if any (the rest read their
    /// mailbox).
    fn publish(&self, handle: &Handle, delivery: Delivery);
    /// Users someone is listening for now.
    fn channels(&self) -> usize;
}

/// Why there is no next delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// This listener fell behind by this many deliveries: resync from the mailbox cursor.
    #[error("fell behind by {0} deliveries")]
    Lagged(u64),
    /// The delivery source is gone (never while the subscription lives, for [`LocalHub`]).
    #[error("the event source closed")]
    Closed,
}

/// The next delivery, as an implementation's [`Listening::recv`] makes it.
pub type NextDelivery<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Delivery>, RecvError>> + Send + 'a>>;

/// One listener's side of an [`Events`] implementation; dropping it stops listening.
pub trait Listening: Send + Sync {
    fn recv(&mut self) -> NextDelivery<'_>;
}

/// A listener's subscription to one user's deliveries, whatever the implementation.
pub struct Subscription(Box<dyn Listening>);

impl Subscription {
    pub fn new(listening: impl Listening + 'static) -> Self {
        Self(Box::new(listening))
    }

    /// The next delivery; `Err(Lagged)` when this listener fell behind (resync from the
    /// mailbox).
    pub async fn recv(&mut self) -> Result<Arc<Delivery>, RecvError> {
        self.0.recv().await
    }
}
