//! What the node checks of a device's chain at every claim and every sync. Entries may arrive
//! in any order (a voucher claimed before the device syncs); each is placed by its number, and
//! the chain is verified as far as it is contiguous:
//!
//! - two different entries with one number: a **fork** (the device was copied);
//! - two different payments with one *j*: a **reused index** (it was rolled back);
//! - an entry that does not link to the one before it, or whose balance does not follow from
//!   it: an **inflated** or rebuilt balance (it was patched);
//! - a deposit the node never confirmed, or one with another amount: **inflated** too.
//!
//! Each finding carries both pieces of evidence, so it can be shown and stored as it is.

use std::collections::BTreeMap;

use chit_proto::IdentityKey;

use crate::entry::{Event, SignedEntry, GENESIS};
use crate::EntryHash;

/// Proof that a device broke the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fraud {
    /// Two different entries with the same number.
    Fork {
        first: Box<SignedEntry>,
        second: Box<SignedEntry>,
    },
    /// Two different payments with the same payment number.
    ReusedIndex {
        first: Box<SignedEntry>,
        second: Box<SignedEntry>,
    },
    /// An entry whose balance, link or counters do not follow from the chain before it.
    Inflated {
        entry: Box<SignedEntry>,
        why: String,
    },
}

impl Fraud {
    /// What happened, in words, for the owner, the receivers and the operator.
    pub fn describe(&self) -> String {
        match self {
            Self::Fork { first, .. } => format!(
                "the device signed two different entries numbered {} (it was copied)",
                first.entry.seq
            ),
            Self::ReusedIndex { first, .. } => match first.entry.event {
                Event::Pay { j, .. } => format!(
                    "the device signed two different payments numbered {j} (it was rolled back)"
                ),
                _ => "the device reused a payment number".to_owned(),
            },
            Self::Inflated { entry, why } => {
                format!("entry {} does not follow: {why}", entry.entry.seq)
            }
        }
    }
}

/// Why an entry is not taken at all (no evidence against the device: it may not be its).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the entry is not signed by this device")]
    BadSignature,
    #[error("the entry is for another device or currency")]
    OtherDevice,
    #[error("entry numbers start at 1")]
    ZeroSeq,
}

/// What observing an entry told the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Seen before, the same entry: nothing new (a retried claim or sync).
    Known,
    /// New; the chain is verified up to `verified_to`.
    New { verified_to: u64 },
}

/// The node's view of one device's chain.
#[derive(Clone, Debug)]
pub struct DeviceChain {
    device_key: IdentityKey,
    currency: String,
    entries: BTreeMap<u64, SignedEntry>,
    /// Payment number → the number of the entry that made it.
    payments: BTreeMap<u64, u64>,
    /// Deposits the node confirmed: movement number → amount.
    deposits: BTreeMap<u64, u64>,
    verified_to: u64,
    balance: u64,
    last: EntryHash,
    movements: u64,
    pays: u64,
}

impl DeviceChain {
    pub fn new(device_key: IdentityKey, currency: &str) -> Self {
        Self {
            device_key,
            currency: currency.to_owned(),
            entries: BTreeMap::new(),
            payments: BTreeMap::new(),
            deposits: BTreeMap::new(),
            verified_to: 0,
            balance: 0,
            last: GENESIS,
            movements: 0,
            pays: 0,
        }
    }

    /// Records that the node confirmed deposit number `i` of `amount` (before the device can
    /// show it in its chain).
    pub fn confirmed_deposit(&mut self, i: u64, amount: u64) {
        self.deposits.insert(i, amount);
    }

    /// The balance the verified part of the chain ends with.
    pub fn verified_balance(&self) -> (u64, u64) {
        (self.verified_to, self.balance)
    }

    /// Places an entry and verifies the chain as far as it is contiguous.
    pub fn observe(&mut self, e: &SignedEntry) -> Result<Result<Observed, Fraud>, Rejected> {
        if e.entry.device_key != self.device_key || e.entry.currency != self.currency {
            return Err(Rejected::OtherDevice);
        }
        if e.entry.seq == 0 {
            return Err(Rejected::ZeroSeq);
        }
        e.verify().map_err(|_| Rejected::BadSignature)?;
        Ok(self.place(e))
    }

    /// [`DeviceChain::observe`] for an entry whose signature the caller has checked: one the
    /// node stored after checking it, or a voucher's from a batched verification.
    pub fn place(&mut self, e: &SignedEntry) -> Result<Observed, Fraud> {
        debug_assert!(e.entry.device_key == self.device_key && e.entry.seq > 0);
        if let Some(known) = self.entries.get(&e.entry.seq) {
            if known == e {
                return Ok(Observed::Known);
            }
            return Err(Fraud::Fork {
                first: Box::new(known.clone()),
                second: Box::new(e.clone()),
            });
        }
        if let Event::Pay { j, .. } = e.entry.event {
            if let Some(first) = self.payments.get(&j).and_then(|seq| self.entries.get(seq)) {
                return Err(Fraud::ReusedIndex {
                    first: Box::new(first.clone()),
                    second: Box::new(e.clone()),
                });
            }
            self.payments.insert(j, e.entry.seq);
        }
        self.entries.insert(e.entry.seq, e.clone());
        self.advance()
            .map(|verified_to| Observed::New { verified_to })
    }

    /// The entry numbered `seq`, if the node has it.
    pub fn entry(&self, seq: u64) -> Option<&SignedEntry> {
        self.entries.get(&seq)
    }

    /// Verifies the entries that now follow the verified part, in order.
    fn advance(&mut self) -> Result<u64, Fraud> {
        while let Some(e) = self.entries.get(&(self.verified_to + 1)).cloned() {
            let bad = |why: String| Fraud::Inflated {
                entry: Box::new(e.clone()),
                why,
            };
            if e.entry.prev != self.last {
                return Err(bad("it does not link to the entry before it".into()));
            }
            match e.entry.event {
                Event::Deposit { i, amount } => {
                    if i != self.movements + 1 {
                        return Err(bad(format!("deposit {i} out of order")));
                    }
                    if self.deposits.get(&i) != Some(&amount) {
                        return Err(bad(format!(
                            "the node never confirmed deposit {i} of {amount}"
                        )));
                    }
                    self.movements = i;
                }
                Event::Withdraw { i, .. } => {
                    if i != self.movements + 1 {
                        return Err(bad(format!("withdrawal {i} out of order")));
                    }
                    self.movements = i;
                }
                Event::Pay { j, .. } => {
                    if j != self.pays + 1 {
                        return Err(bad(format!("payment {j} out of order")));
                    }
                    self.pays = j;
                }
                Event::Collect { .. } => {}
            }
            let expected = i128::from(self.balance) + e.entry.delta();
            if expected < 0 || i128::from(e.entry.balance_after) != expected {
                return Err(bad(format!(
                    "its balance is {}, the entries before it give {expected}",
                    e.entry.balance_after
                )));
            }
            self.balance = e.entry.balance_after;
            self.last = e.hash();
            self.verified_to += 1;
        }
        Ok(self.verified_to)
    }
}
