//! Which connections the HTTP front door keeps: a bound on all of them, a bound per source
//! address, and at the bound, room made by closing the connection least likely to be a user.
//!
//! A flood of silent connections must not lock people out. So when every place is taken, a new
//! connection displaces the oldest one that has not logged in (preferring one that is not
//! in the middle of a request); connections that have shown a valid session are never
//! displaced, and only when all of them are does a new connection wait. One address (an IPv4
//! address, or an IPv6 /64, what one host usually holds) may hold at most `per_address_max`
//! places, so one machine cannot take them all; at its share, its own oldest idle stranger
//! makes room, and when it has none the connection is refused. Pure bookkeeping: the server
//! asks and acts.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chit_node::throttle::Source;
use futures_util::task::AtomicWaker;

/// The limits of the HTTP front door: [`Admission`] keeps the counts, the server
/// ([`crate::serving`]) the deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most (WebSockets included).
    pub max: usize,
    /// Open connections from one source (IPv4 address or IPv6 /64) at most.
    pub per_address_max: usize,
    /// How long a client may take to send a request's headers, and a kept-alive connection
    /// may wait for its next request: a silent or one-byte-a-second socket is closed after it.
    pub header_read_timeout: Duration,
    /// How long one request may take, its body included; a slow body is answered 408.
    pub request_timeout: Duration,
}

/// Open connections by default.
pub const CONNECTIONS_MAX: usize = 4096;
/// Open connections from one address by default: enough for a busy gateway or a NAT of
/// households, a sixteenth of the whole.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 256;

/// Longer than the SDK's pool keeps an idle connection (15 s), so it never sends on one the
/// node has just closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Commands are idempotent by id, so a client that timed out retries safely.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max: CONNECTIONS_MAX,
            per_address_max: CONNECTIONS_PER_ADDRESS_MAX,
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// What the server knows of one open connection, shared by the connection and the table.
pub struct Connection {
    id: u64,
    source: Source,
    trusted: AtomicBool,
    busy: AtomicUsize,
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl Connection {
    /// The connection carried a valid session: it is a user's, never displaced.
    pub fn trust(&self) {
        self.trusted.store(true, Ordering::Relaxed);
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Relaxed)
    }

    /// A request started on it; the guard marks its end.
    pub fn begin_request(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Whether the table closed it to make room; its socket should stop at once.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Wakes `waker` when the connection is closed to make room.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A request in progress on a connection.
pub struct Busy(Arc<Connection>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its source already holds `per_address_max` places.
    AddressFull,
    /// Every place is held by a logged-in connection: wait for one to close.
    Full,
}

/// The table of open connections.
pub struct Admission {
    limits: Limits,
    state: Mutex<State>,
    /// Signalled whenever a place is freed.
    freed: tokio::sync::Notify,
    displaced: AtomicUsize,
    refused: AtomicUsize,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Open connections, oldest first (ids only grow).
    open: BTreeMap<u64, Arc<Connection>>,
    per_source: HashMap<Source, usize>,
}

impl State {
    fn remove(&mut self, id: u64) -> Option<Arc<Connection>> {
        let connection = self.open.remove(&id)?;
        let held = self
            .per_source
            .get_mut(&connection.source)
            .expect("every open connection is counted under its source");
        *held -= 1;
        if *held == 0 {
            self.per_source.remove(&connection.source);
        }
        Some(connection)
    }

    /// The connection to close to make room: the oldest one not logged in, idle before busy.
    fn displaceable(&self) -> Option<u64> {
        let untrusted = || self.open.values().filter(|c| !c.is_trusted());
        untrusted()
            .find(|c| c.busy.load(Ordering::Relaxed) == 0)
            .or_else(|| untrusted().next())
            .map(|c| c.id)
    }

    /// The oldest idle connection from `source` that is not logged in.
    fn displaceable_from(&self, source: Source) -> Option<u64> {
        self.open
            .values()
            .find(|c| c.source == source && !c.is_trusted() && c.busy.load(Ordering::Relaxed) == 0)
            .map(|c| c.id)
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Self> {
        assert!(limits.max >= 1 && limits.per_address_max >= 1);
        Arc::new(Self {
            limits,
            state: Mutex::default(),
            freed: tokio::sync::Notify::new(),
            displaced: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        })
    }

    /// Admits a connection from `address` now, displacing another if every place is taken.
    pub fn try_admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refused> {
        let source = Source::of(address);
        let mut state = self.state.lock().expect("admission lock");
        if state.per_source.get(&source).copied().unwrap_or(0) >= self.limits.per_address_max {
            // The address competes with itself: its own oldest idle stranger makes room.
            let Some(id) = state.displaceable_from(source) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::AddressFull);
            };
            self.displace(&mut state, id);
        } else if state.open.len() >= self.limits.max {
            let id = state.displaceable().ok_or(Refused::Full)?;
            self.displace(&mut state, id);
        }
        let id = state.next_id;
        state.next_id += 1;
        let connection = Arc::new(Connection {
            id,
            source,
            trusted: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        state.open.insert(id, connection.clone());
        *state.per_source.entry(source).or_insert(0) += 1;
        Ok(Ticket {
            admission: self.clone(),
            connection,
        })
    }

    fn displace(&self, state: &mut State, id: u64) {
        let displaced = state.remove(id).expect("the displaceable one is open");
        displaced.close();
        self.displaced.fetch_add(1, Ordering::Relaxed);
    }

    /// Admits a connection from `address`, waiting while every place is held by a logged-in
    /// connection; `None` when its address is full.
    pub async fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Ticket> {
        loop {
            let freed = self.freed.notified();
            match self.try_admit(address) {
                Ok(ticket) => return Some(ticket),
                Err(Refused::AddressFull) => return None,
                Err(Refused::Full) => freed.await,
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state.lock().expect("admission lock").open.len()
    }

    /// Connections closed to make room, since start.
    pub fn displaced(&self) -> usize {
        self.displaced.load(Ordering::Relaxed)
    }

    /// Connections refused because their address was full, since start.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A connection's place in the table, given back when dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    connection: Arc<Connection>,
}

impl Ticket {
    pub fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let removed = self
            .admission
            .state
            .lock()
            .expect("admission lock")
            .remove(self.connection.id);
        // A displaced connection's place was handed over when it was displaced.
        if removed.is_some() {
            self.admission.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn table(max: usize, per_address_max: usize) -> Arc<Admission> {
        Admission::new(Limits {
            max,
            per_address_max,
            ..Limits::default()
        })
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let t = table(10, 2);
        let a = t.try_admit(ip("10.0.0.1")).unwrap();
        let b = t.try_admit(ip("10.0.0.1")).unwrap();
        let _working = a.connection().begin_request();
        b.connection().trust();
        assert_eq!(
            t.try_admit(ip("10.0.0.1")).err(),
            Some(Refused::AddressFull)
        );
        assert!(t.try_admit(ip("10.0.0.2")).is_ok());
        drop(b);
        let c = t.try_admit(ip("10.0.0.1")).unwrap();
        assert_eq!(t.refused(), 1);
        // At its share, the address's own idle stranger makes room; others are untouched.
        let _d = t.try_admit(ip("10.0.0.1")).unwrap();
        assert!(c.connection().is_closed() && !a.connection().is_closed());
        assert_eq!((t.open(), t.displaced()), (2, 1));
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64_and_a_mapped_ipv4_is_the_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8::1")),
            Source::of(ip("2001:db8::ffff:1"))
        );
        assert_ne!(
            Source::of(ip("2001:db8::1")),
            Source::of(ip("2001:db8:0:1::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:10.0.0.1")),
            Source::of(ip("10.0.0.1"))
        );
        assert_ne!(Source::of(ip("::a00:1")), Source::of(ip("10.0.0.1")));
    }

    #[test]
    fn at_the_limit_the_oldest_stranger_makes_room_and_users_stay() {
        let t = table(3, 3);
        let user = t.try_admit(ip("10.0.0.1")).unwrap();
        user.connection().trust();
        let busy_stranger = t.try_admit(ip("10.0.0.2")).unwrap();
        let _working = busy_stranger.connection().begin_request();
        let idle_stranger = t.try_admit(ip("10.0.0.3")).unwrap();

        // Full: the idle stranger goes first, though the busy one is older.
        let newcomer = t.try_admit(ip("10.0.0.4")).unwrap();
        assert!(idle_stranger.connection().is_closed());
        assert!(!busy_stranger.connection().is_closed());
        // The newcomer logs in; then only the busy stranger can go.
        newcomer.connection().trust();
        let second = t.try_admit(ip("10.0.0.5")).unwrap();
        assert!(busy_stranger.connection().is_closed());
        // And then the newest stranger, who has not logged in either.
        let _third = t.try_admit(ip("10.0.0.6")).unwrap();
        assert!(second.connection().is_closed());
        assert!(!user.connection().is_closed() && !newcomer.connection().is_closed());
        assert_eq!((t.open(), t.displaced()), (3, 3));
        // Dropping a displaced ticket frees nothing twice.
        drop(idle_stranger);
        assert_eq!(t.open(), 3);
    }

    #[tokio::test]
    async fn when_every_place_is_a_user_s_a_newcomer_waits_for_one_to_leave() {
        let t = table(1, 1);
        let user = t.try_admit(ip("10.0.0.1")).unwrap();
        user.connection().trust();
        assert_eq!(t.try_admit(ip("10.0.0.2")).err(), Some(Refused::Full));
        let waiting = tokio::spawn({
            let t = t.clone();
            async move { t.admit(ip("10.0.0.2")).await.is_some() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(user);
        assert!(waiting.await.unwrap());
    }
}
