//! Scenario tests of the ledger's rules, on every engine.

use chit_core::Timestamp;
use chit_ledger::{AccountKind, Applied, HistoryQuery, Order, PendingState, TransferKind};
use chit_ledger_tests::{account_id, engines, transfer_id};

use super::*;

const BANK: u128 = 1;
const ALICE: u128 = 10;
const BOB: u128 = 11;

fn funded(engine: chit_ledger_tests::Engine) -> Fixture {
    let f = fixture(engine);
    let r = f
        .ledger
        .create_accounts_blocking(vec![
            new_account(BANK, AccountKind::System),
            new_account(ALICE, AccountKind::User),
            new_account(BOB, AccountKind::User),
        ])
        .unwrap();
    assert!(r.iter().all(|r| matches!(r, Ok(Applied::Created { .. }))));
    let r = f
        .ledger
        .create_transfers_blocking(vec![immediate(1000, BANK, ALICE, 10_000)])
        .unwrap();
    assert!(is_created(&r[0]));
    f
}

#[test]
fn immediate_transfer_moves_money_and_balances() {
    for engine in engines() {
        let f = funded(engine);
        let r = f
            .ledger
            .create_transfers_blocking(vec![immediate(1, ALICE, BOB, 2_500)])
            .unwrap();
        assert!(is_created(&r[0]), "{engine:?}");
        assert_eq!(balance(&f.ledger, ALICE), (7_500, 7_500));
        assert_eq!(balance(&f.ledger, BOB), (2_500, 2_500));
        assert_eq!(balance(&f.ledger, BANK), (-10_000, -10_000));
        assert_clean(&f.ledger);
    }
}

#[test]
fn user_accounts_never_go_below_zero() {
    for engine in engines() {
        let f = funded(engine);
        let r = f
            .ledger
            .create_transfers_blocking(vec![
                immediate(1, ALICE, BOB, 10_001),
                pending(2, ALICE, BOB, 6_000, None),
                immediate(3, ALICE, BOB, 5_000),
                pending(4, BOB, ALICE, 1, None),
            ])
            .unwrap();
        assert_eq!(
            codes(&r),
            [
                "insufficient_funds",
                "created",
                "insufficient_funds",
                "insufficient_funds"
            ],
            "{engine:?}"
        );
        assert_eq!(balance(&f.ledger, ALICE), (10_000, 4_000));
        assert_clean(&f.ledger);
    }
}

#[test]
fn idempotency_exists_and_names_the_differing_field() {
    for engine in engines() {
        let f = funded(engine);
        let first = f
            .ledger
            .create_transfers_blocking(vec![immediate(1, ALICE, BOB, 100)])
            .unwrap();
        let Ok(Applied::Created { timestamp }) = first[0] else {
            panic!("{first:?}")
        };
        let retry = f
            .ledger
            .create_transfers_blocking(vec![
                immediate(1, ALICE, BOB, 100),
                immediate(1, ALICE, BOB, 101),
                immediate(1, BOB, ALICE, 100),
                pending(1, ALICE, BOB, 100, None),
                NewTransfer {
                    reference: 7,
                    ..immediate(1, ALICE, BOB, 100)
                },
            ])
            .unwrap();
        assert_eq!(retry[0], Ok(Applied::Exists { timestamp }));
        assert_eq!(
            codes(&retry)[1..],
            [
                "exists_with_different_amount",
                "exists_with_different_debit_account_id",
                "exists_with_different_kind",
                "exists_with_different_reference"
            ]
        );
        // Applied once, however often retried.
        assert_eq!(balance(&f.ledger, BOB), (100, 100));
        let accounts = f
            .ledger
            .create_accounts_blocking(vec![
                new_account(BOB, AccountKind::User),
                new_account(BOB, AccountKind::System),
            ])
            .unwrap();
        assert!(matches!(accounts[0], Ok(Applied::Exists { .. })));
        assert_eq!(
            accounts[1].unwrap_err().code(),
            "exists_with_different_account_kind"
        );
        assert_clean(&f.ledger);
    }
}

#[test]
fn pending_post_partial_void_and_their_errors() {
    for engine in engines() {
        let f = funded(engine);
        let r = f
            .ledger
            .create_transfers_blocking(vec![
                pending(1, ALICE, BOB, 3_000, None),
                pending(2, ALICE, BOB, 1_000, None),
                post(3, 1, 2_000),
                void(4, 2),
                post(5, 1, 1),
                void(6, 1),
                post(7, 2, 1),
                post(8, 99, 1),
                post(9, 1000, 1),
                pending(10, ALICE, BOB, 500, None),
                post(11, 10, 501),
                post(12, 10, 0),
            ])
            .unwrap();
        assert_eq!(
            codes(&r),
            [
                "created",
                "created",
                "created",
                "created",
                "pending_transfer_already_posted",
                "pending_transfer_already_posted",
                "pending_transfer_already_voided",
                "pending_transfer_not_found",
                "pending_transfer_not_pending",
                "created",
                "exceeds_pending_transfer_amount",
                "amount_must_not_be_zero",
            ],
            "{engine:?}"
        );
        // 2000 posted of the 3000 held; 1000 voided; 500 still held.
        assert_eq!(balance(&f.ledger, ALICE), (8_000, 7_500));
        assert_eq!(balance(&f.ledger, BOB), (2_000, 2_000));
        let status = f.ledger.pending_status(transfer_id(1)).unwrap().unwrap();
        assert_eq!(status.state, PendingState::Posted);
        assert_eq!(status.resolved_by, Some(transfer_id(3)));
        let void = f.ledger.transfer(transfer_id(4)).unwrap().unwrap();
        assert_eq!(
            (void.kind, void.amount, void.pending_id),
            (TransferKind::VoidPending, 1_000, Some(transfer_id(2)))
        );
        assert_clean(&f.ledger);
    }
}

#[test]
fn pending_transfers_expire_exactly_once() {
    for engine in engines() {
        let f = funded(engine);
        let at = |secs: u64| {
            Some(Timestamp::from_nanos(
                epoch().as_nanos() + secs * 1_000_000_000,
            ))
        };
        let r = f
            .ledger
            .create_transfers_blocking(vec![
                pending(1, ALICE, BOB, 1_000, at(10)),
                pending(2, ALICE, BOB, 1_000, at(20)),
                pending(3, ALICE, BOB, 1_000, at(0)),
            ])
            .unwrap();
        assert_eq!(
            codes(&r),
            ["created", "created", "expires_at_must_be_in_future"]
        );
        f.clock.advance_nanos(15_000_000_000);
        // Posting after the deadline fails and releases the hold in the same commit.
        let r = f
            .ledger
            .create_transfers_blocking(vec![post(4, 1, 1_000)])
            .unwrap();
        assert_eq!(codes(&r), ["pending_transfer_expired"]);
        assert_eq!(balance(&f.ledger, ALICE), (10_000, 9_000));
        let rt = f.ledger.expire_due_blocking(100).unwrap();
        assert_eq!(rt, 0, "1 already expired, 2 not yet due");
        f.clock.advance_nanos(10_000_000_000);
        assert_eq!(f.ledger.expire_due_blocking(100).unwrap(), 1);
        assert_eq!(
            f.ledger.expire_due_blocking(100).unwrap(),
            0,
            "an expiry happens once"
        );
        assert_eq!(balance(&f.ledger, ALICE), (10_000, 10_000));
        let s = f.ledger.pending_status(transfer_id(2)).unwrap().unwrap();
        assert_eq!((s.state, s.resolved_by), (PendingState::Expired, None));
        let r = f
            .ledger
            .create_transfers_blocking(vec![void(5, 2)])
            .unwrap();
        assert_eq!(codes(&r), ["pending_transfer_expired"]);
        assert_clean(&f.ledger);
    }
}

#[test]
fn linked_chains_succeed_or_fail_together() {
    for engine in engines() {
        let f = funded(engine);
        let r = f
            .ledger
            .create_transfers_blocking(vec![
                linked(immediate(1, ALICE, BOB, 100)),
                linked(immediate(2, BOB, ALICE, 50)),
                immediate(3, ALICE, BOB, 1_000_000), // fails: the chain fails
                immediate(4, ALICE, BOB, 1),         // independent
                linked(immediate(5, ALICE, BOB, 1)), // chain left open
            ])
            .unwrap();
        assert_eq!(
            codes(&r),
            [
                "linked_event_failed",
                "linked_event_failed",
                "insufficient_funds",
                "created",
                "linked_event_chain_open"
            ],
            "{engine:?}"
        );
        assert!(f.ledger.transfer(transfer_id(1)).unwrap().is_none());
        assert_eq!(balance(&f.ledger, BOB), (1, 1));
        assert_clean(&f.ledger);
    }
}

#[test]
fn bad_requests_are_named_and_change_nothing() {
    for engine in engines() {
        let f = funded(engine);
        let mut wrong_currency = immediate(5, ALICE, BOB, 1);
        if let TransferAction::Immediate { currency, .. } = &mut wrong_currency.action {
            *currency = chit_core::CurrencyCode::new("USD").unwrap();
        }
        let r = f
            .ledger
            .create_transfers_blocking(vec![
                immediate(1, ALICE, BOB, 0),
                immediate(2, ALICE, ALICE, 1),
                immediate(3, 404, BOB, 1),
                immediate(4, ALICE, 404, 1),
                wrong_currency,
                immediate(6, ALICE, BOB, u64::MAX),
            ])
            .unwrap();
        assert_eq!(
            codes(&r),
            [
                "amount_must_not_be_zero",
                "accounts_must_be_different",
                "debit_account_not_found",
                "credit_account_not_found",
                "currency_mismatch",
                "amount_too_large"
            ]
        );
        assert_eq!(balance(&f.ledger, ALICE), (10_000, 10_000));
        let too_many = vec![immediate(1, ALICE, BOB, 1); 8193];
        assert!(matches!(
            f.ledger.create_transfers_blocking(too_many),
            Err(chit_ledger::LedgerError::RequestTooLarge { .. })
        ));
        assert_clean(&f.ledger);
    }
}

#[test]
fn history_pages_in_both_directions() {
    for engine in engines() {
        let f = funded(engine);
        let batch: Vec<_> = (1..=25).map(|i| immediate(i, ALICE, BOB, 10)).collect();
        f.ledger.create_transfers_blocking(batch).unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let q = HistoryQuery {
                cursor,
                limit: 10,
                order: Order::OldestFirst,
            };
            let page = f.ledger.history(account_id(ALICE), q).unwrap();
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|t| t.timestamp);
            seen.extend(page.into_iter().map(|t| t.id.as_u128()));
        }
        let expected: Vec<u128> = std::iter::once(1000).chain(1..=25).collect();
        assert_eq!(seen, expected, "{engine:?}");
        let q = HistoryQuery {
            cursor: None,
            limit: 3,
            order: Order::NewestFirst,
        };
        let newest: Vec<u128> = f
            .ledger
            .history(account_id(BOB), q)
            .unwrap()
            .iter()
            .map(|t| t.id.as_u128())
            .collect();
        assert_eq!(newest, [25, 24, 23]);
        let bad = HistoryQuery {
            cursor: None,
            limit: 0,
            order: Order::NewestFirst,
        };
        assert!(f.ledger.history(account_id(BOB), bad).is_err());
    }
}

#[test]
fn data_survives_reopening_and_timestamps_keep_increasing() {
    for engine in engines() {
        let f = funded(engine);
        let before = f
            .ledger
            .transfer(transfer_id(1000))
            .unwrap()
            .unwrap()
            .timestamp;
        let Fixture { ledger, db, .. } = f;
        ledger.shutdown();
        // A clock that went backwards must not produce an older timestamp.
        let clock = ManualClock::new(Timestamp::from_secs(1));
        let ledger = db.start(std::sync::Arc::new(clock), LedgerConfig::default());
        assert_eq!(balance(&ledger, ALICE), (10_000, 10_000));
        let r = ledger
            .create_transfers_blocking(vec![immediate(1, ALICE, BOB, 1)])
            .unwrap();
        let Ok(Applied::Created { timestamp }) = r[0] else {
            panic!("{r:?}")
        };
        assert!(timestamp > before);
        assert_clean(&ledger);
    }
}

/// Enough transfers that the SQLite engine moves history into indexed runs (it does so when its
/// writer is idle and over a thousand transfers are unindexed); pages must cross runs and the
/// unindexed tail without losing, repeating or misordering anything.
#[test]
fn history_pages_across_indexed_runs_and_the_tail() {
    for engine in engines() {
        let f = funded(engine);
        let mut expected = vec![1000u128];
        // Ids above the fixture's funding transfer (1000).
        let mut next = 10_000u128;
        for round in 0..6 {
            let n = if round == 5 { 13 } else { 700 };
            let batch: Vec<_> = (next..next + n)
                .map(|i| {
                    if i % 2 == 0 {
                        immediate(i, ALICE, BOB, 1)
                    } else {
                        immediate(i, BANK, BOB, 1)
                    }
                })
                .collect();
            expected.extend((next..next + n).filter(|i| i % 2 == 0));
            next += n;
            f.ledger.create_transfers_blocking(batch).unwrap();
        }
        let page = |order, cursor| {
            let q = HistoryQuery {
                cursor,
                limit: 97,
                order,
            };
            f.ledger.history(account_id(ALICE), q).unwrap()
        };
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let p = page(order, cursor);
                if p.is_empty() {
                    break;
                }
                assert!(p.len() <= 97);
                cursor = p.last().map(|t| t.timestamp);
                seen.extend(p.iter().map(|t| t.id.as_u128()));
            }
            let mut want = expected.clone();
            if order == Order::NewestFirst {
                want.reverse();
            }
            assert_eq!(seen.len(), want.len(), "{engine:?} {order:?}");
            assert_eq!(seen, want, "{engine:?} {order:?}");
        }
    }
}
