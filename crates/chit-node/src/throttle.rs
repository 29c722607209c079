//! Budgets per source address for what strangers can do without logging in: ask for login
//! challenges, fail to log in, register, look handles up. A token bucket per address (IPv4,
//! or IPv6 /64: [`Source`]), so one machine's flood costs only that machine.
//!
//! Nothing here is keyed by handle: a limit per handle let anyone lock its owner out by
//! asking for thirty challenges in their name. And a valid login is never refused by the
//! failure budget: the node checks the signature first and counts only failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a request comes from, as budgets (and the HTTP server's per-address count) key it:
/// IPv4 by address, IPv6 by its /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u32::from(v4) as u128),
                None => Self((u128::from(v6) >> 64 << 64) | (1 << 32)),
            },
        }
    }
}

/// A bucket's size and how fast it refills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// What an address may do at once, after a quiet spell.
    pub burst: u32,
    /// How many more it may do per second after that.
    pub per_second: f64,
}

/// The node's budgets per address.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budgets {
    /// Login challenges (and IMPT logins, which ask for none).
    pub challenges: Budget,
    /// Failed logins (challenge or API token); once spent, failures answer 429.
    pub login_failures: Budget,
    /// New accounts.
    pub registrations: Budget,
    /// `GET /v1/users/{handle}`: a directory must answer lookups, but not a crawl.
    pub lookups: Budget,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            challenges: Budget {
                burst: 60,
                per_second: 1.0,
            },
            login_failures: Budget {
                burst: 20,
                per_second: 1.0 / 3.0,
            },
            registrations: Budget {
                burst: 20,
                per_second: 1.0 / 6.0,
            },
            lookups: Budget {
                burst: 300,
                per_second: 5.0,
            },
        }
    }
}

impl Budgets {
    /// Budgets no test or benchmark on one machine reaches (every client is 127.0.0.1).
    pub fn unlimited() -> Self {
        let open = Budget {
            burst: u32::MAX,
            per_second: f64::MAX,
        };
        Self {
            challenges: open,
            login_failures: open,
            registrations: open,
            lookups: open,
        }
    }
}

/// Addresses tracked at most per bucket set; beyond it, full buckets are forgotten first (an
/// address with a full bucket is no different from a new one).
const ADDRESSES_MAX: usize = 100_000;

/// Token buckets for one kind of action.
pub struct Throttle {
    state: Mutex<(Budget, HashMap<Source, Bucket>)>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    pub fn new(budget: Budget) -> Self {
        Self {
            state: Mutex::new((budget, HashMap::new())),
        }
    }

    pub fn set_budget(&self, budget: Budget) {
        let mut state = self.state.lock().expect("throttle lock");
        *state = (budget, HashMap::new());
    }

    /// Takes one token from `source`'s bucket; `Err(wait)` when it is empty, with how long
    /// until the next token.
    pub fn take(&self, source: Source, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("throttle lock");
        let (budget, buckets) = &mut *state;
        let budget = *budget;
        if buckets.len() >= ADDRESSES_MAX {
            buckets.retain(|_, b| refilled(*b, budget, now) < budget.burst as f64);
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: budget.burst as f64,
            at: now,
        });
        let tokens = refilled(*bucket, budget, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64(
                ((1.0 - tokens) / budget.per_second).min(3600.0),
            ))
        }
    }
}

fn refilled(bucket: Bucket, budget: Budget, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * budget.per_second).min(budget.burst as f64)
}

/// The node's throttles, one per kind of action.
pub struct Throttles {
    pub challenges: Throttle,
    pub login_failures: Throttle,
    pub registrations: Throttle,
    pub lookups: Throttle,
}

impl Throttles {
    pub fn new(budgets: Budgets) -> Self {
        Self {
            challenges: Throttle::new(budgets.challenges),
            login_failures: Throttle::new(budgets.login_failures),
            registrations: Throttle::new(budgets.registrations),
            lookups: Throttle::new(budgets.lookups),
        }
    }

    pub fn set(&self, budgets: Budgets) {
        self.challenges.set_budget(budgets.challenges);
        self.login_failures.set_budget(budgets.login_failures);
        self.registrations.set_budget(budgets.registrations);
        self.lookups.set_budget(budgets.lookups);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::of(text.parse().unwrap())
    }

    #[test]
    fn a_burst_then_the_refill_rate_per_address() {
        let t = Throttle::new(Budget {
            burst: 3,
            per_second: 2.0,
        });
        let start = Instant::now();
        let a = source("10.0.0.1");
        for _ in 0..3 {
            assert_eq!(t.take(a, start), Ok(()));
        }
        let wait = t.take(a, start).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        // Another address is untouched.
        assert_eq!(t.take(source("10.0.0.2"), start), Ok(()));
        // Half a second later, one more.
        let later = start + Duration::from_millis(500);
        assert_eq!(t.take(a, later), Ok(()));
        assert!(t.take(a, later).is_err());
        // A long rest refills to the burst, never beyond it.
        let rested = later + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(t.take(a, rested), Ok(()));
        }
        assert!(t.take(a, rested).is_err());
    }
}
