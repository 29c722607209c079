//! The locks a batched write takes (see [`WriteLock`]).

/// A lock a batched write takes before it runs, named by what it writes that another writer
/// may write too: a user's mailbox and conversations, a message id. On PostgreSQL a batch
/// takes the locks of all its jobs at once, in ascending order, before any job runs, so two
/// writers (of one node, or of two nodes on one database) never wait for each other in a
/// cycle. Without them, a batch posting to alice then bob and another posting to bob then
/// alice lock the counter rows in opposite orders and deadlock; PostgreSQL breaks the tie only
/// after `deadlock_timeout` (1 s), and under load the retries meet again. SQLite has one
/// writer at a time and needs none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteLock(pub(super) i64);

impl WriteLock {
    /// The lock on what is numbered for the user `handle` (lowercase, as handles are stored):
    /// their mailbox and the conversations they are in.
    pub fn user(handle: &str) -> Self {
        Self::named(b"user", handle)
    }

    /// The lock on a message id, and on the payment row an offer or a request shares it with.
    /// Ids are chosen by clients, so posts to two conversations may race for one; without
    /// this lock two batches inserting ids X then Y and Y then X would deadlock.
    pub fn message(id: &str) -> Self {
        Self::named(b"message", id)
    }

    /// The lock on an offline device: its chain, its counters and what it holds. Taken before
    /// any user or message lock, so two writers never wait for each other in a cycle.
    pub fn device(key: &[u8; 32]) -> Self {
        Self::named(b"device", &chit_proto::b64::encode(key))
    }

    /// A PostgreSQL advisory lock key, the same on every node: FNV-1a over the kind and the
    /// name. Nothing rests on the keys being hard to collide (two names whose keys collide
    /// only wait for each other), and a posting takes three on every engine, so the cheap
    /// hash: about 40 ns for a posting's three instead of 240 ns with SHA-256 (timed over a
    /// million postings).
    fn named(kind: &[u8], name: &str) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let bytes = kind.iter().chain(b"\0").chain(name.as_bytes());
        let hash = bytes.fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
        Self(i64::from_ne_bytes(hash.to_ne_bytes()))
    }
}
