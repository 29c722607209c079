//! Model-based property test: random sequences of account creations, transfers (immediate,
//! pending, post, void, linked chains, duplicates and invalid ones), clock moves and expiry sweeps
//! go to the real ledger and to the in-memory model. Results, balances and pending states must
//! agree and the audit must be clean after every step, on every engine.

use std::sync::atomic::{AtomicU64, Ordering};

use chit_core::{AccountId, CurrencyCode, Timestamp, TransferId};
use chit_ledger::{AccountKind, Applied, Clock, NewAccount, NewTransfer, TransferAction};
use chit_ledger_tests::model::{Model, Outcome};
use chit_ledger_tests::{engines, eur};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;

const ACCOUNTS: u8 = 6;
const TRANSFER_IDS: u8 = 12;
const SECOND: u64 = 1_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Accounts(Vec<(u8, bool, bool, u16)>),
    Transfers(Vec<(TransferOp, bool)>),
    Advance(u64),
    Sweep,
}

#[derive(Clone, Debug)]
enum TransferOp {
    Immediate {
        id: u8,
        debit: u8,
        credit: u8,
        amount: u64,
        usd: bool,
    },
    Pending {
        id: u8,
        debit: u8,
        credit: u8,
        amount: u64,
        expires_in: Option<u64>,
    },
    Post {
        id: u8,
        pending: u8,
        amount: u64,
    },
    Void {
        id: u8,
        pending: u8,
    },
}

/// Amount sentinels resolved against the model when the request is built: exactly what the
/// debit account (or the pending transfer) has, and one more. Boundaries are where bugs live.
const EXACT: u64 = u64::MAX - 1;
const EXACT_PLUS_ONE: u64 = u64::MAX - 2;

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        8 => 1..2_000u64,
        1 => 2_000..20_000u64,
        2 => Just(EXACT),
        1 => Just(EXACT_PLUS_ONE),
    ]
}

/// Replaces a sentinel with the exact boundary `limit` (or one past it).
fn resolve(amount: u64, limit: u64) -> u64 {
    match amount {
        EXACT => limit.max(1),
        EXACT_PLUS_ONE => limit + 1,
        a => a,
    }
}

fn transfer_op() -> impl Strategy<Value = TransferOp> {
    let id = 0..TRANSFER_IDS;
    let acct = prop_oneof![1 => Just(0u8), 3 => 0..ACCOUNTS];
    prop_oneof![
        3 => (id.clone(), acct.clone(), acct.clone(), amount(), prop::bool::weighted(0.1))
            .prop_map(|(id, debit, credit, amount, usd)| TransferOp::Immediate { id, debit, credit, amount, usd }),
        3 => (id.clone(), acct.clone(), acct, amount(), prop::option::of(0..4u64))
            .prop_map(|(id, debit, credit, amount, expires_in)| TransferOp::Pending { id, debit, credit, amount, expires_in }),
        2 => (id.clone(), id.clone(), amount()).prop_map(|(id, pending, amount)| TransferOp::Post { id, pending, amount }),
        1 => (id.clone(), id).prop_map(|(id, pending)| TransferOp::Void { id, pending }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => prop::collection::vec((0..ACCOUNTS, any::<bool>(), prop::bool::weighted(0.15), 0..2u16), 1..4)
            .prop_map(Op::Accounts),
        6 => prop::collection::vec((transfer_op(), prop::bool::weighted(0.25)), 1..6)
            .prop_map(Op::Transfers),
        1 => (0..3u64).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

/// Ids of one test case: a per-case prefix keeps cases apart in the shared database.
struct Ids(u128);

impl Ids {
    fn account(&self, i: u8) -> AccountId {
        AccountId::new((self.0 << 64) | (u128::from(i) + 1)).unwrap()
    }
    fn transfer(&self, i: u8) -> TransferId {
        TransferId::new((self.0 << 64) | (u128::from(i) + 1)).unwrap()
    }
}

fn usd() -> CurrencyCode {
    CurrencyCode::new("USD").unwrap()
}

fn to_request(
    ids: &Ids,
    model: &Model,
    op: &TransferOp,
    linked: bool,
    now: Timestamp,
) -> NewTransfer {
    let available = |i: u8| model.available(ids.account(i)).unwrap_or(1);
    let held = |p: u8| model.pending_amount(ids.transfer(p)).unwrap_or(1);
    let action = match *op {
        TransferOp::Immediate {
            debit,
            credit,
            amount,
            usd: u,
            ..
        } => TransferAction::Immediate {
            debit_account_id: ids.account(debit),
            credit_account_id: ids.account(credit),
            amount: resolve(amount, available(debit)),
            currency: if u { usd() } else { eur() },
        },
        TransferOp::Pending {
            debit,
            credit,
            amount,
            expires_in,
            ..
        } => TransferAction::Pending {
            debit_account_id: ids.account(debit),
            credit_account_id: ids.account(credit),
            amount: resolve(amount, available(debit)),
            currency: eur(),
            // Whole seconds: the ledger's timestamps creep past `now` by nanoseconds only.
            expires_at: expires_in
                .map(|s| Timestamp::from_nanos(now.as_nanos() / SECOND * SECOND + s * SECOND)),
        },
        TransferOp::Post {
            pending, amount, ..
        } => TransferAction::PostPending {
            pending_id: ids.transfer(pending),
            amount: resolve(amount, held(pending)),
        },
        TransferOp::Void { pending, .. } => TransferAction::VoidPending {
            pending_id: ids.transfer(pending),
        },
    };
    let id = match *op {
        TransferOp::Immediate { id, .. }
        | TransferOp::Pending { id, .. }
        | TransferOp::Post { id, .. }
        | TransferOp::Void { id, .. } => id,
    };
    NewTransfer {
        id: ids.transfer(id),
        action,
        code: 1,
        reference: 0,
        linked,
    }
}

fn outcome_of<E: std::fmt::Debug>(r: &Result<Applied, E>, code: impl Fn(&E) -> String) -> Outcome {
    match r {
        Ok(Applied::Created { .. }) => Outcome::Created,
        Ok(Applied::Exists { .. }) => Outcome::Exists,
        Err(e) => Outcome::Error(code(e)),
    }
}

fn run_case(f: &Fixture, ids: &Ids, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    // Every case starts with a system "bank" account (index 0) that funds the users.
    let bank = NewAccount {
        id: ids.account(0),
        currency: eur(),
        kind: AccountKind::System,
        code: 0,
        reference: 0,
    };
    f.ledger.create_accounts_blocking(vec![bank]).unwrap();
    model.create_account(&bank);
    // Two funded EUR users to start from; the rest are created (or not) by the operations.
    for i in [1u8, 2] {
        let user = NewAccount {
            id: ids.account(i),
            kind: AccountKind::User,
            ..bank
        };
        f.ledger.create_accounts_blocking(vec![user]).unwrap();
        model.create_account(&user);
        let fund = TransferOp::Immediate {
            id: 100 + i,
            debit: 0,
            credit: i,
            amount: 5_000,
            usd: false,
        };
        let request = vec![to_request(ids, &model, &fund, false, f.clock.now())];
        f.ledger.create_transfers_blocking(request.clone()).unwrap();
        model.create_transfers(&request, f.clock.now());
    }
    for op in ops {
        let now = f.clock.now();
        match op {
            Op::Accounts(accounts) => {
                let new: Vec<NewAccount> = accounts
                    .iter()
                    .map(|&(i, user, in_usd, code)| NewAccount {
                        id: ids.account(i),
                        currency: if in_usd { usd() } else { eur() },
                        kind: if user && i != 0 {
                            AccountKind::User
                        } else {
                            AccountKind::System
                        },
                        code,
                        reference: 0,
                    })
                    .collect();
                let real: Vec<Outcome> = f
                    .ledger
                    .create_accounts_blocking(new.clone())
                    .unwrap()
                    .iter()
                    .map(|r| outcome_of(r, |e| e.code()))
                    .collect();
                let expected: Vec<Outcome> = new.iter().map(|a| model.create_account(a)).collect();
                prop_assert_eq!(real, expected, "accounts {:?}", op);
            }
            Op::Transfers(transfers) => {
                let request: Vec<NewTransfer> = transfers
                    .iter()
                    .map(|(t, linked)| to_request(ids, &model, t, *linked, now))
                    .collect();
                let real: Vec<Outcome> = f
                    .ledger
                    .create_transfers_blocking(request.clone())
                    .unwrap()
                    .iter()
                    .map(|r| outcome_of(r, |e| e.code()))
                    .collect();
                let expected = model.create_transfers(&request, now);
                prop_assert_eq!(real, expected, "transfers {:?}", op);
            }
            Op::Advance(secs) => f.clock.advance_nanos(secs * SECOND),
            Op::Sweep => {
                let real = f.ledger.expire_due_blocking(8_000).unwrap();
                let expected = model.expire_due(now);
                // Other cases share the database, so the sweep may expire their leftovers too;
                // the per-transfer states below are compared exactly.
                prop_assert!(real >= expected, "sweep expired {} < {}", real, expected);
            }
        }
        for i in 0..ACCOUNTS {
            let real = f.ledger.account(ids.account(i)).unwrap();
            let expected = model.accounts.get(&ids.account(i));
            match (real, expected) {
                (None, None) => {}
                (Some(r), Some(m)) => {
                    let totals = [
                        r.debits_pending,
                        r.debits_posted,
                        r.credits_pending,
                        r.credits_posted,
                    ];
                    prop_assert_eq!(totals, m.totals, "account {} after {:?}", i, op);
                    prop_assert_eq!((r.currency, r.kind), (m.currency, m.kind));
                }
                (r, m) => prop_assert!(false, "account {} exists: ledger {:?} model {:?}", i, r, m),
            }
        }
        for i in 0..TRANSFER_IDS {
            let real = f
                .ledger
                .pending_status(ids.transfer(i))
                .unwrap()
                .map(|s| s.state);
            prop_assert_eq!(
                real,
                model.pending_state(ids.transfer(i)),
                "pending {} after {:?}",
                i,
                op
            );
        }
        let report = f.ledger.audit().unwrap();
        prop_assert!(
            report.is_clean(),
            "audit after {:?}: {:?}",
            op,
            report.violations
        );
    }
    Ok(())
}

#[test]
fn ledger_agrees_with_model_on_every_engine() {
    let cases = std::env::var("CHIT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    for engine in engines() {
        let f = fixture(engine);
        let case = AtomicU64::new(0);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
            let ids = Ids(u128::from(case.fetch_add(1, Ordering::Relaxed)) + 1);
            run_case(&f, &ids, &ops)
        });
        if let Err(e) = result {
            panic!("{engine:?}: {e}");
        }
    }
}
