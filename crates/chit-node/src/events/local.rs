//! Live delivery inside one node (the [`Events`] of a node on its own): each user's connected
//! sessions subscribe to their channel; a posted message is published to every member after it
//! is committed. Channels are bounded:
//! a subscriber that falls behind is told to resync from its mailbox cursor instead of
//! holding memory. A user's channel exists only while someone listens: the last
//! [`Subscription`] to go removes it (a channel's buffer is tens of kilobytes, and it used to
//! stay for every user who had ever listened, until a message next came for them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chit_proto::api::Delivery;
use chit_proto::Handle;
use tokio::sync::broadcast;

use super::{Events, Listening, RecvError, Subscription};

/// Undelivered events buffered per user before slow subscribers must resync.
pub const SUBSCRIBER_BUFFER: usize = 1024;

type Channels = Mutex<HashMap<Handle, broadcast::Sender<Arc<Delivery>>>>;

#[derive(Default)]
pub struct LocalHub {
    channels: Arc<Channels>,
}

impl Events for LocalHub {
    fn subscribe(&self, handle: &Handle) -> Subscription {
        let mut channels = self.channels.lock().expect("hub lock");
        let receiver = channels
            .entry(handle.clone())
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe();
        Subscription::new(Local {
            receiver: Some(receiver),
            handle: handle.clone(),
            channels: self.channels.clone(),
        })
    }

    fn online(&self, handle: &Handle) -> bool {
        let channels = self.channels.lock().expect("hub lock");
        channels
            .get(handle)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    fn publish(&self, handle: &Handle, delivery: Delivery) {
        let channels = self.channels.lock().expect("hub lock");
        if let Some(sender) = channels.get(handle) {
            // Only fails with no receiver, and then the channel is already on its way out.
            let _ = sender.send(Arc::new(delivery));
        }
    }

    fn channels(&self) -> usize {
        self.channels.lock().expect("hub lock").len()
    }
}

/// One listener's place on a user's channel.
struct Local {
    receiver: Option<broadcast::Receiver<Arc<Delivery>>>,
    handle: Handle,
    channels: Arc<Channels>,
}

impl Listening for Local {
    fn recv(&mut self) -> super::NextDelivery<'_> {
        Box::pin(async {
            let receiver = self.receiver.as_mut().expect("present until dropped");
            receiver.recv().await.map_err(|e| match e {
                broadcast::error::RecvError::Lagged(missed) => RecvError::Lagged(missed),
                broadcast::error::RecvError::Closed => RecvError::Closed,
            })
        })
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Under the lock, so no subscriber can join between the count and the removal.
        let mut channels = self.channels.lock().expect("hub lock");
        drop(self.receiver.take());
        if channels
            .get(&self.handle)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process, in bytes (Linux).
    fn resident_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    #[test]
    fn a_channel_lives_only_while_someone_listens() {
        let hub = LocalHub::default();
        let alice = Handle::new("alice").unwrap();
        let first = hub.subscribe(&alice);
        let second = hub.subscribe(&alice);
        assert!(hub.online(&alice));
        drop(first);
        assert!(hub.online(&alice));
        drop(second);
        assert!(!hub.online(&alice));
        assert_eq!(hub.channels(), 0);
    }

    #[test]
    fn ten_thousand_users_listening_once_leave_no_memory_behind() {
        let hub = LocalHub::default();
        let before = resident_bytes();
        for i in 0..10_000 {
            let handle = Handle::new(&format!("user{i}")).unwrap();
            drop(hub.subscribe(&handle));
        }
        assert_eq!(hub.channels(), 0);
        // Kept (before the fix), the 10,000 channels grew resident memory by 330 MB here.
        if let (Some(before), Some(after)) = (before, resident_bytes()) {
            let grown = after.saturating_sub(before);
            assert!(grown < 16 << 20, "resident memory grew by {grown} bytes");
        }
    }
}
