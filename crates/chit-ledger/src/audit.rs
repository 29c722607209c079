//! The audit: re-derives every account from the immutable transfer history and checks each
//! invariant of DESIGN §3 against what is stored, naming every violation precisely.
//!
//! It streams accounts, transfers and pending statuses page by page, so its memory is bounded by
//! the number of accounts and pending transfers, not by the length of history.

use std::collections::HashMap;
use std::fmt;

use chit_core::{AccountId, CurrencyCode, Timestamp, TransferId};

use crate::store::{Reader, StoreError};
use crate::types::{Account, AccountKind, PendingState, PendingStatus, TransferKind};

const PAGE: usize = 5_000;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Σ debits ≠ Σ credits for one currency (`pending` tells which pair of totals).
    Unbalanced {
        currency: CurrencyCode,
        pending: bool,
        debits: u128,
        credits: u128,
    },
    /// A user account whose balance or available balance is below zero.
    NegativeUserAccount {
        account: AccountId,
        balance: i128,
        available: i128,
    },
    /// A stored total differs from the one re-derived from the transfers (a half-applied write).
    TotalsMismatch {
        account: AccountId,
        field: &'static str,
        stored: u64,
        derived: u128,
    },
    /// A transfer names an account that does not exist.
    MissingAccount {
        transfer: TransferId,
        account: AccountId,
    },
    /// A transfer's currency differs from one of its accounts'.
    CurrencyMismatch { transfer: TransferId },
    /// A transfer with a zero amount, or a post larger than its pending transfer.
    BadAmount { transfer: TransferId },
    /// Timestamps must strictly increase in commit order.
    TimestampNotIncreasing {
        transfer: TransferId,
        timestamp: Timestamp,
    },
    /// A post or void whose pending transfer is missing, not pending-kind, or on other accounts.
    BadResolution {
        transfer: TransferId,
        pending: TransferId,
    },
    /// Two transfers resolve the same pending transfer.
    ResolvedTwice {
        pending: TransferId,
        first: TransferId,
        second: TransferId,
    },
    /// The stored pending status disagrees with the transfers that resolve it.
    PendingStatusMismatch {
        pending: TransferId,
        stored: Option<PendingState>,
        derived: PendingState,
    },
    /// A pending status row without a pending transfer.
    OrphanPendingStatus { pending: TransferId },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbalanced {
                currency,
                pending,
                debits,
                credits,
            } => {
                let which = if *pending { "pending" } else { "posted" };
                write!(
                    f,
                    "{currency}: {which} debits {debits} != {which} credits {credits}"
                )
            }
            Self::NegativeUserAccount {
                account,
                balance,
                available,
            } => write!(
                f,
                "user account {account} below zero: balance {balance}, available {available}"
            ),
            Self::TotalsMismatch {
                account,
                field,
                stored,
                derived,
            } => write!(
                f,
                "account {account}: stored {field} {stored} but transfers add up to {derived}"
            ),
            Self::MissingAccount { transfer, account } => {
                write!(f, "transfer {transfer} names missing account {account}")
            }
            Self::CurrencyMismatch { transfer } => {
                write!(f, "transfer {transfer} currency differs from its accounts'")
            }
            Self::BadAmount { transfer } => write!(f, "transfer {transfer} has an invalid amount"),
            Self::TimestampNotIncreasing {
                transfer,
                timestamp,
            } => write!(
                f,
                "transfer {transfer} timestamp {timestamp} is not increasing"
            ),
            Self::BadResolution { transfer, pending } => write!(
                f,
                "transfer {transfer} resolves {pending}, which is not a matching pending transfer"
            ),
            Self::ResolvedTwice {
                pending,
                first,
                second,
            } => write!(
                f,
                "pending {pending} resolved twice: by {first} and by {second}"
            ),
            Self::PendingStatusMismatch {
                pending,
                stored,
                derived,
            } => write!(
                f,
                "pending {pending}: stored status {stored:?}, transfers say {derived:?}"
            ),
            Self::OrphanPendingStatus { pending } => {
                write!(f, "pending status {pending} has no pending transfer")
            }
        }
    }
}

/// The audit's findings: empty `violations` means every invariant holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub accounts: u64,
    pub transfers: u64,
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Totals re-derived from transfers: debits pending, debits posted, credits pending, credits posted.
type Totals = [u128; 4];

struct PendingSeen {
    amount: u64,
    debit: AccountId,
    credit: AccountId,
    resolved_by: Option<(TransferId, PendingState)>,
}

pub fn audit(reader: &dyn Reader) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let accounts = load_accounts(reader)?;
    report.accounts = accounts.len() as u64;
    let mut derived: HashMap<AccountId, Totals> = HashMap::new();
    let mut pendings: HashMap<TransferId, PendingSeen> = HashMap::new();
    let v = &mut report.violations;

    let mut last: Option<Timestamp> = None;
    loop {
        let page = reader.scan_transfers(last, PAGE)?;
        for t in &page {
            report.transfers += 1;
            if last.is_some_and(|l| t.timestamp <= l) {
                v.push(Violation::TimestampNotIncreasing {
                    transfer: t.id,
                    timestamp: t.timestamp,
                });
            }
            last = Some(t.timestamp);
            let mut accounts_ok = true;
            for account in [t.debit_account_id, t.credit_account_id] {
                match accounts.get(&account) {
                    None => {
                        v.push(Violation::MissingAccount {
                            transfer: t.id,
                            account,
                        });
                        accounts_ok = false;
                    }
                    Some(a) if a.currency != t.currency => {
                        v.push(Violation::CurrencyMismatch { transfer: t.id })
                    }
                    Some(_) => {}
                }
            }
            if t.amount == 0 && t.kind != TransferKind::VoidPending {
                v.push(Violation::BadAmount { transfer: t.id });
            }
            if !accounts_ok {
                continue;
            }
            let amount = u128::from(t.amount);
            match t.kind {
                TransferKind::Immediate => {
                    derived.entry(t.debit_account_id).or_default()[1] += amount;
                    derived.entry(t.credit_account_id).or_default()[3] += amount;
                }
                TransferKind::Pending => {
                    derived.entry(t.debit_account_id).or_default()[0] += amount;
                    derived.entry(t.credit_account_id).or_default()[2] += amount;
                    pendings.insert(
                        t.id,
                        PendingSeen {
                            amount: t.amount,
                            debit: t.debit_account_id,
                            credit: t.credit_account_id,
                            resolved_by: None,
                        },
                    );
                }
                TransferKind::PostPending | TransferKind::VoidPending => {
                    let pending_id = t.pending_id.unwrap_or(t.id);
                    let Some(p) = pendings.get_mut(&pending_id).filter(|p| {
                        p.debit == t.debit_account_id && p.credit == t.credit_account_id
                    }) else {
                        v.push(Violation::BadResolution {
                            transfer: t.id,
                            pending: pending_id,
                        });
                        continue;
                    };
                    if let Some((first, _)) = p.resolved_by {
                        v.push(Violation::ResolvedTwice {
                            pending: pending_id,
                            first,
                            second: t.id,
                        });
                        continue;
                    }
                    let posted = t.kind == TransferKind::PostPending;
                    if posted && t.amount > p.amount {
                        v.push(Violation::BadAmount { transfer: t.id });
                    }
                    let state = if posted {
                        PendingState::Posted
                    } else {
                        PendingState::Voided
                    };
                    p.resolved_by = Some((t.id, state));
                    let held = u128::from(p.amount);
                    let (debit, credit) = (p.debit, p.credit);
                    let d = derived.entry(debit).or_default();
                    d[0] = d[0].wrapping_sub(held);
                    if posted {
                        d[1] += amount;
                    }
                    let c = derived.entry(credit).or_default();
                    c[2] = c[2].wrapping_sub(held);
                    if posted {
                        c[3] += amount;
                    }
                }
            }
        }
        if page.len() < PAGE {
            break;
        }
    }

    check_pending_statuses(reader, &mut pendings, &mut derived, v)?;
    check_accounts(&accounts, &derived, v);
    Ok(report)
}

fn load_accounts(reader: &dyn Reader) -> Result<HashMap<AccountId, Account>, StoreError> {
    let mut accounts = HashMap::new();
    let mut after = None;
    loop {
        let page = reader.scan_accounts(after, PAGE)?;
        after = page.last().map(|a| a.id);
        let full = page.len() == PAGE;
        accounts.extend(page.into_iter().map(|a| (a.id, a)));
        if !full {
            return Ok(accounts);
        }
    }
}

/// Compares stored statuses with what the transfers imply, and releases expired holds.
fn check_pending_statuses(
    reader: &dyn Reader,
    pendings: &mut HashMap<TransferId, PendingSeen>,
    derived: &mut HashMap<AccountId, Totals>,
    v: &mut Vec<Violation>,
) -> Result<(), StoreError> {
    let mut stored: HashMap<TransferId, PendingStatus> = HashMap::new();
    let mut after = None;
    loop {
        let page = reader.scan_pendings(after, PAGE)?;
        after = page.last().map(|p| p.id);
        let full = page.len() == PAGE;
        stored.extend(page.into_iter().map(|p| (p.id, p)));
        if !full {
            break;
        }
    }
    for (id, seen) in pendings.iter() {
        let status = stored.remove(id);
        let stored_state = status.map(|s| s.state);
        let derived_state = match seen.resolved_by {
            Some((by, state)) => {
                if status.is_some_and(|s| s.resolved_by != Some(by)) {
                    v.push(Violation::PendingStatusMismatch {
                        pending: *id,
                        stored: stored_state,
                        derived: state,
                    });
                    continue;
                }
                state
            }
            // Expiry writes no transfer: an unresolved pending is either still held or expired.
            None if stored_state == Some(PendingState::Expired) => {
                let held = u128::from(seen.amount);
                let d = derived.entry(seen.debit).or_default();
                d[0] = d[0].wrapping_sub(held);
                let c = derived.entry(seen.credit).or_default();
                c[2] = c[2].wrapping_sub(held);
                PendingState::Expired
            }
            None => PendingState::Pending,
        };
        if stored_state != Some(derived_state) {
            v.push(Violation::PendingStatusMismatch {
                pending: *id,
                stored: stored_state,
                derived: derived_state,
            });
        }
    }
    let mut orphans: Vec<TransferId> = stored.into_keys().collect();
    orphans.sort_unstable();
    v.extend(
        orphans
            .into_iter()
            .map(|pending| Violation::OrphanPendingStatus { pending }),
    );
    Ok(())
}

fn check_accounts(
    accounts: &HashMap<AccountId, Account>,
    derived: &HashMap<AccountId, Totals>,
    v: &mut Vec<Violation>,
) {
    let mut sums: HashMap<CurrencyCode, Totals> = HashMap::new();
    let mut ids: Vec<&AccountId> = accounts.keys().collect();
    ids.sort_unstable();
    for id in ids {
        let a = &accounts[id];
        let stored = [
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ];
        let names = [
            "debits_pending",
            "debits_posted",
            "credits_pending",
            "credits_posted",
        ];
        let d = derived.get(id).copied().unwrap_or_default();
        let sum = sums.entry(a.currency).or_default();
        for i in 0..4 {
            sum[i] += u128::from(stored[i]);
            if u128::from(stored[i]) != d[i] {
                v.push(Violation::TotalsMismatch {
                    account: a.id,
                    field: names[i],
                    stored: stored[i],
                    derived: d[i],
                });
            }
        }
        if a.kind == AccountKind::User && (a.balance() < 0 || a.available() < 0) {
            v.push(Violation::NegativeUserAccount {
                account: a.id,
                balance: a.balance(),
                available: a.available(),
            });
        }
    }
    let mut currencies: Vec<_> = sums.into_iter().collect();
    currencies.sort_unstable_by_key(|(c, _)| *c);
    for (currency, [dp, dpo, cp, cpo]) in currencies {
        if dpo != cpo {
            v.push(Violation::Unbalanced {
                currency,
                pending: false,
                debits: dpo,
                credits: cpo,
            });
        }
        if dp != cp {
            v.push(Violation::Unbalanced {
                currency,
                pending: true,
                debits: dp,
                credits: cp,
            });
        }
    }
}
