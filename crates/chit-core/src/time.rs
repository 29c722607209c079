//! Ledger time: nanoseconds since the Unix epoch, as TigerBeetle counts it. Reading the clock is
//! I/O and lives outside this crate; this is only the value.

use std::fmt;

/// A point in time, nanoseconds since 1970-01-01 UTC. Fits an `i64` until the year 2262.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

/// Largest timestamp storable in an `i64` column.
pub const TIMESTAMP_MAX: u64 = i64::MAX as u64;

impl Timestamp {
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    /// This time plus `nanos`, or `None` past [`TIMESTAMP_MAX`].
    pub fn checked_add_nanos(self, nanos: u64) -> Option<Self> {
        self.0
            .checked_add(nanos)
            .filter(|t| *t <= TIMESTAMP_MAX)
            .map(Self)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
