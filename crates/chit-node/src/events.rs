//! Live delivery inside one node: each user's connected sessions subscribe to their channel;
//! a posted message is published to every member after it is committed. Channels are bounded:
//! a subscriber that falls behind is told to resync from its mailbox cursor instead of
//! holding memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chit_proto::api::Delivery;
use chit_proto::Handle;
use tokio::sync::broadcast;

/// Undelivered events buffered per user before slow subscribers must resync.
pub const SUBSCRIBER_BUFFER: usize = 1024;

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<Handle, broadcast::Sender<Arc<Delivery>>>>,
}

impl Hub {
    pub fn subscribe(&self, handle: &Handle) -> broadcast::Receiver<Arc<Delivery>> {
        let mut channels = self.channels.lock().expect("hub lock");
        channels
            .entry(handle.clone())
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe()
    }

    /// Whether `handle` has a live session listening (a wallet's WebSocket, an IMPT client).
    pub fn online(&self, handle: &Handle) -> bool {
        let channels = self.channels.lock().expect("hub lock");
        channels
            .get(handle)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    pub fn publish(&self, handle: &Handle, delivery: Delivery) {
        let mut channels = self.channels.lock().expect("hub lock");
        if let Some(sender) = channels.get(handle) {
            if sender.send(Arc::new(delivery)).is_err() {
                // Nobody listens any more: forget the channel.
                channels.remove(handle);
            }
        }
    }
}
