//! The devices one write touches, loaded in its transaction under their locks: each row, its
//! chain as the node has it (rebuilt from the stored entries, whose signatures were checked
//! before they were stored), and what it paid that no one has redeemed yet. New entries are
//! placed and checked here; what they show — a fork, a reused index, a balance that does not
//! follow — is recorded as evidence and the device revoked, once.

use std::collections::{BTreeMap, BTreeSet};

use chit_ledger::StoreError;
use chit_offline::api::DeviceStatus;
use chit_offline::chain::{DeviceChain, Fraud, Observed};
use chit_offline::entry::{Event, SignedEntry};
use chit_proto::{b64, Handle, IdentityKey};

use crate::db::{Conn, WriteLock};
use crate::store::{self, DeviceRow};

/// One device in a write.
pub(crate) struct Book {
    pub(crate) row: DeviceRow,
    chain: DeviceChain,
    stored: BTreeSet<u64>,
    /// Hashes of its vouchers already redeemed.
    redeemed: BTreeSet<[u8; 32]>,
    new_entries: Vec<SignedEntry>,
    frauds: Vec<Fraud>,
    changed: bool,
}

/// A device caught by this write, to tell its owner and the receivers.
pub(crate) struct Caught {
    pub(crate) owner: Handle,
    pub(crate) device: IdentityKey,
    pub(crate) why: String,
    /// The payments in the evidence: receiver, amount (minor units), voucher hash.
    pub(crate) payments: Vec<(Handle, u64, [u8; 32])>,
}

impl Book {
    pub(crate) fn verified_to(&self) -> u64 {
        self.chain.verified_balance().0
    }

    /// Places an entry whose signature is checked; a fraud it shows is kept for [`Books::save`].
    pub(crate) fn observe(&mut self, e: &SignedEntry) -> Observed {
        let seq = e.entry.seq;
        let outcome = self.chain.place(e);
        if !self.stored.contains(&seq) && self.chain.entry(seq) == Some(e) {
            self.stored.insert(seq);
            self.new_entries.push(e.clone());
            if let Event::Withdraw { i, .. } = e.entry.event {
                self.row.movements = self.row.movements.max(i);
            }
            self.changed = true;
        }
        match outcome {
            Ok(o) => o,
            Err(fraud) => {
                self.frauds.push(fraud);
                Observed::Known
            }
        }
    }

    /// Whether the device is revoked, or this write caught it.
    pub(crate) fn is_caught(&self) -> bool {
        self.row.status == DeviceStatus::Revoked || !self.frauds.is_empty()
    }

    /// The stored entry numbered `seq`.
    pub(crate) fn entry(&self, seq: u64) -> Option<&SignedEntry> {
        self.chain.entry(seq)
    }

    /// What the device paid in entries the node has seen and no one has redeemed: money still
    /// held for receivers, which its owner cannot withdraw.
    pub(crate) fn owed(&self) -> u64 {
        (1..=self.chain_len())
            .filter_map(|seq| self.chain.entry(seq))
            .filter_map(|e| match e.entry.event {
                Event::Pay { amount, .. } if !self.redeemed.contains(&e.hash()) => Some(amount),
                _ => None,
            })
            .sum()
    }

    fn chain_len(&self) -> u64 {
        self.stored.iter().next_back().copied().unwrap_or(0)
    }

    pub(crate) fn redeemed(&mut self, hash: [u8; 32]) {
        self.redeemed.insert(hash);
    }

    /// Takes up to `amount` from what the device holds; what it took.
    pub(crate) fn take(&mut self, amount: u64) -> u64 {
        let taken = amount.min(self.row.held);
        self.row.held -= taken;
        self.changed |= taken > 0;
        taken
    }

    pub(crate) fn put(&mut self, amount: u64) {
        self.row.held = self
            .row
            .held
            .checked_add(amount)
            .expect("held amounts are bounded by the limits");
        self.changed |= amount > 0;
    }

    pub(crate) fn set_movements(&mut self, i: u64) {
        self.row.movements = self.row.movements.max(i);
        self.changed = true;
    }

    /// A fraud found outside the chain (a collect of a voucher that does not verify).
    pub(crate) fn caught(&mut self, entry: &SignedEntry, why: String) {
        self.frauds.push(Fraud::Inflated {
            entry: Box::new(entry.clone()),
            why,
        });
    }
}

/// The devices of one write, by key.
pub(crate) struct Books {
    books: BTreeMap<[u8; 32], Book>,
}

impl Books {
    /// The device locks for `keys`, sorted, to take before anything else in the transaction.
    pub(crate) fn locks(keys: &[IdentityKey]) -> Vec<WriteLock> {
        let mut locks: Vec<WriteLock> = keys
            .iter()
            .map(|k| WriteLock::device(k.as_bytes()))
            .collect();
        locks.sort();
        locks.dedup();
        locks
    }

    /// Loads the devices of `keys` that are registered.
    pub(crate) fn load(c: &mut dyn Conn, keys: &[IdentityKey]) -> Result<Self, StoreError> {
        let mut books = BTreeMap::new();
        for key in keys {
            if books.contains_key(key.as_bytes()) {
                continue;
            }
            let Some(row) = store::device(c, key)? else {
                continue;
            };
            let mut chain = DeviceChain::new(*key, &row.certificate.currency);
            for m in store::movements(c, key)? {
                if m.deposit {
                    chain.confirmed_deposit(m.i, m.amount);
                }
            }
            let mut stored = BTreeSet::new();
            for e in store::entries(c, key)? {
                // A chain stuck on a fraud stays stuck; its evidence is stored already.
                let _ = chain.place(&e);
                stored.insert(e.entry.seq);
            }
            let redeemed = store::redeemed_of(c, key)?;
            books.insert(
                *key.as_bytes(),
                Book {
                    row,
                    chain,
                    stored,
                    redeemed,
                    new_entries: Vec::new(),
                    frauds: Vec::new(),
                    changed: false,
                },
            );
        }
        Ok(Self { books })
    }

    pub(crate) fn get(&self, key: &IdentityKey) -> Option<&Book> {
        self.books.get(key.as_bytes())
    }

    pub(crate) fn get_mut(&mut self, key: &IdentityKey) -> Option<&mut Book> {
        self.books.get_mut(key.as_bytes())
    }

    /// Writes what changed: new entries, counters, and for each new fraud its evidence, the
    /// revocation and the list; the devices caught now, to be told.
    pub(crate) fn save(self, c: &mut dyn Conn, now_ms: u64) -> Result<Vec<Caught>, StoreError> {
        let mut caught = Vec::new();
        for book in self.books.into_values() {
            let key = book.row.key();
            for e in &book.new_entries {
                store::insert_entry(c, e)?;
            }
            if book.changed {
                store::set_device_counters(c, &key, book.row.movements, book.row.held)?;
            }
            for fraud in &book.frauds {
                if let Some(found) = record(c, &book.row, fraud, now_ms)? {
                    caught.push(found);
                }
            }
        }
        Ok(caught)
    }
}

/// Stores a fraud's evidence once, and revokes the device; `None` if it was known.
fn record(
    c: &mut dyn Conn,
    row: &DeviceRow,
    fraud: &Fraud,
    now_ms: u64,
) -> Result<Option<Caught>, StoreError> {
    let (kind, first, second) = match fraud {
        Fraud::Fork { first, second } => ("fork", first.as_ref(), Some(second.as_ref())),
        Fraud::ReusedIndex { first, second } => {
            ("reused_index", first.as_ref(), Some(second.as_ref()))
        }
        Fraud::Inflated { entry, .. } => ("inflated", entry.as_ref(), None),
    };
    let last = second.unwrap_or(first);
    let evidence = format!("{kind}:{}", b64::encode(&last.hash()));
    let key = row.key();
    let why = fraud.describe();
    if !store::insert_evidence(c, &key, &evidence, kind, &why, first, second, now_ms)? {
        return Ok(None);
    }
    store::set_device_status(c, &key, DeviceStatus::Revoked, &why, now_ms)?;
    store::add_revocation(c, &key, now_ms)?;
    let payments = [Some(first), second]
        .into_iter()
        .flatten()
        .filter_map(|e| match &e.entry.event {
            Event::Pay {
                amount, receiver, ..
            } => Some((receiver.clone(), *amount, e.hash())),
            _ => None,
        })
        .collect();
    Ok(Some(Caught {
        owner: row.owner().clone(),
        device: key,
        why,
        payments,
    }))
}
