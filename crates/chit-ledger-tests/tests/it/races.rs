//! Races: many writers on one pending transfer, two expiry workers, two processes on the same
//! accounts. Two `Ledger`s on one database are two writers with their own connections, as two
//! nodes would be.

use std::process::Command;
use std::sync::Arc;

use chit_ledger::{Ledger, PendingState};
use chit_ledger_tests::{engines, transfer_id, TestDb};

use super::*;

const BANK: u128 = 1;
const ALICE: u128 = 10;
const BOB: u128 = 11;

fn two_ledgers(
    engine: chit_ledger_tests::Engine,
) -> (TestDb, ManualClock, Arc<Ledger>, Arc<Ledger>) {
    let db = TestDb::new(engine);
    let clock = ManualClock::new(epoch());
    let a = Arc::new(db.start(Arc::new(clock.clone()), LedgerConfig::default()));
    let b = Arc::new(db.start(Arc::new(clock.clone()), LedgerConfig::default()));
    a.create_accounts_blocking(vec![
        new_account(BANK, AccountKind::System),
        new_account(ALICE, AccountKind::User),
        new_account(BOB, AccountKind::User),
    ])
    .unwrap();
    a.create_transfers_blocking(vec![immediate(1, BANK, ALICE, 1_000_000)])
        .unwrap();
    (db, clock, a, b)
}

#[test]
fn many_tasks_posting_and_voiding_one_pending_transfer_exactly_one_wins() {
    for engine in engines() {
        let (_db, _clock, a, b) = two_ledgers(engine);
        for round in 0..20u128 {
            let p = 1_000 + round * 100;
            a.create_transfers_blocking(vec![pending(p, ALICE, BOB, 100, None)])
                .unwrap();
            let handles: Vec<_> = (1..=16u128)
                .map(|i| {
                    let ledger = if i % 2 == 0 { a.clone() } else { b.clone() };
                    std::thread::spawn(move || {
                        let t = if i % 3 == 0 {
                            void(p + i, p)
                        } else {
                            post(p + i, p, 100)
                        };
                        ledger.create_transfers_blocking(vec![t]).unwrap().remove(0)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let winners = results.iter().filter(|r| is_created(r)).count();
            assert_eq!(
                winners,
                1,
                "{engine:?} round {round}: {:?}",
                codes(&results)
            );
            for r in &results {
                let code = codes(std::slice::from_ref(r)).remove(0);
                assert!(
                    [
                        "created",
                        "pending_transfer_already_posted",
                        "pending_transfer_already_voided"
                    ]
                    .contains(&code.as_str()),
                    "{code}"
                );
            }
        }
        // 20 holds of 100, each posted (to Bob) or voided (back to Alice) exactly once.
        let (alice, _) = balance(&a, ALICE);
        let (bob, _) = balance(&a, BOB);
        assert_eq!(alice + bob, 1_000_000);
        assert_clean(&a);
    }
}

#[test]
fn two_expiry_workers_expire_each_pending_transfer_once() {
    for engine in engines() {
        let (_db, clock, a, b) = two_ledgers(engine);
        let expires = Some(chit_core::Timestamp::from_nanos(
            epoch().as_nanos() + 1_000_000_000,
        ));
        let holds: Vec<_> = (0..200u128)
            .map(|i| pending(5_000 + i, ALICE, BOB, 10, expires))
            .collect();
        let r = a.create_transfers_blocking(holds).unwrap();
        assert!(r.iter().all(is_created));
        clock.advance_nanos(2_000_000_000);
        let workers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
            .into_iter()
            .map(|ledger| {
                std::thread::spawn(move || {
                    let mut total = 0;
                    loop {
                        let n = ledger.expire_due_blocking(7).unwrap();
                        if n == 0 {
                            return total;
                        }
                        total += n;
                    }
                })
            })
            .collect();
        let expired: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(expired, 200, "{engine:?}: every hold expired exactly once");
        for i in 0..200u128 {
            let s = a.pending_status(transfer_id(5_000 + i)).unwrap().unwrap();
            assert_eq!(s.state, PendingState::Expired);
        }
        assert_eq!(balance(&a, ALICE), (1_000_000, 1_000_000));
        assert_clean(&a);
    }
}

#[test]
fn two_processes_hammering_overlapping_accounts_keep_every_invariant() {
    for engine in engines() {
        let db = TestDb::new(engine);
        // Run both at once: spawn, then wait for both.
        let spawned: Vec<_> = [11u64, 22]
            .iter()
            .map(|seed| {
                Command::new(env!("CARGO_BIN_EXE_ledger-child"))
                    .args([
                        "hammer",
                        engine.name(),
                        &db.location,
                        &seed.to_string(),
                        "400",
                    ])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn ledger-child")
            })
            .collect();
        for child in spawned {
            let out = child.wait_with_output().expect("wait for ledger-child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{engine:?}: child failed: {stdout}");
            assert_eq!(
                stdout.trim(),
                "errors 0",
                "{engine:?}: ledger errors reached callers"
            );
        }
        let ledger = db.start(Arc::new(ManualClock::new(epoch())), LedgerConfig::default());
        let report = ledger.audit().unwrap();
        assert!(
            report.transfers > 1_000,
            "{engine:?}: only {} transfers",
            report.transfers
        );
        assert_clean(&ledger);
    }
}
