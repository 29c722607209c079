//! A child process for the ledger's crash and multi-process tests.
//!
//! `ledger-child crash ENGINE LOCATION SEED`: writes linked pairs of transfers from several
//! threads forever, printing `ack ID…` after each request is acknowledged (so after its durable
//! commit). The parent kills it with SIGKILL at a random moment.
//!
//! `ledger-child hammer ENGINE LOCATION SEED REQUESTS`: sends random transfers, pendings, posts and
//! voids over a shared set of accounts, then prints `errors N` (ledger-level failures, which must
//! be zero: conflicts are retried inside the ledger) and exits.

use std::io::Write;
use std::sync::Arc;

use chit_ledger::{
    AccountKind, Ledger, LedgerConfig, NewAccount, NewTransfer, SystemClock, TransferAction,
};
use chit_ledger_tests::{account_id, eur, immediate, open, pending, transfer_id, Engine, Random};

const BANK: u128 = 1;
const USERS: u128 = 12;
const THREADS: u64 = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ledger-child crash|hammer ENGINE LOCATION SEED [REQUESTS]";
    let (mode, engine, location, seed) = match &args[..] {
        [_, mode, engine, location, seed, ..] => (
            mode.as_str(),
            Engine::parse(engine).expect(usage),
            location.as_str(),
            seed.parse::<u64>().expect(usage),
        ),
        _ => panic!("{usage}"),
    };
    let ledger = Arc::new(open(
        engine,
        location,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    ));
    create_accounts(&ledger);
    match mode {
        "crash" => crash(ledger, seed),
        "hammer" => {
            let requests = args.get(5).and_then(|r| r.parse().ok()).expect(usage);
            hammer(ledger, seed, requests)
        }
        _ => panic!("{usage}"),
    }
}

fn create_accounts(ledger: &Ledger) {
    let bank = NewAccount {
        id: account_id(BANK),
        currency: eur(),
        kind: AccountKind::System,
        code: 0,
        reference: 0,
    };
    let mut accounts = vec![bank];
    accounts.extend((0..USERS).map(|u| NewAccount {
        id: account_id(100 + u),
        kind: AccountKind::User,
        ..bank
    }));
    let results = ledger
        .create_accounts_blocking(accounts)
        .expect("create accounts");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

fn with_linked(mut t: NewTransfer, linked: bool) -> NewTransfer {
    t.linked = linked;
    t
}

/// Pairs whose ids differ only in the lowest bit: `id` and `id ^ 1` commit together or not at all.
fn crash(ledger: Arc<Ledger>, seed: u64) {
    println!("ready");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let mut rng = Random::new(seed.wrapping_mul(31).wrapping_add(t));
                loop {
                    let mut request = Vec::new();
                    for _ in 0..10 {
                        let first = rng.id() & !1 | 2;
                        let user = 100 + u128::from(rng.below(USERS as u64));
                        let other = 100 + (user - 100 + 1) % USERS;
                        let amount = 1 + rng.below(1_000);
                        if rng.below(2) == 0 {
                            request.push(with_linked(immediate(first, BANK, user, amount), true));
                            request.push(with_linked(
                                immediate(first ^ 1, user, other, amount),
                                false,
                            ));
                        } else {
                            request
                                .push(with_linked(pending(first, BANK, user, amount, None), true));
                            request.push(NewTransfer {
                                id: transfer_id(first ^ 1),
                                action: TransferAction::PostPending {
                                    pending_id: transfer_id(first),
                                    amount,
                                },
                                code: 1,
                                reference: 0,
                                linked: false,
                            });
                        }
                    }
                    let results = ledger
                        .create_transfers_blocking(request.clone())
                        .expect("ledger call");
                    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
                    let ids: Vec<String> = request.iter().map(|t| t.id.to_string()).collect();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {}", ids.join(" ")).expect("stdout");
                    out.flush().expect("stdout");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
}

fn hammer(ledger: Arc<Ledger>, seed: u64, requests: u64) {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let mut rng = Random::new(seed.wrapping_mul(7919).wrapping_add(t));
                let mut open_pendings: Vec<u128> = Vec::new();
                let mut errors = 0u64;
                for _ in 0..requests / THREADS {
                    let mut request = Vec::new();
                    for _ in 0..20 {
                        let a = 100 + u128::from(rng.below(USERS as u64));
                        let b = 100 + u128::from(rng.below(USERS as u64));
                        let amount = 1 + rng.below(500);
                        let id = rng.id();
                        request.push(match rng.below(5) {
                            0 => with_linked(immediate(id, BANK, a, amount * 3), false),
                            1 => {
                                open_pendings.push(id);
                                with_linked(pending(id, a, b, amount, None), false)
                            }
                            2 if !open_pendings.is_empty() => {
                                let p = open_pendings.swap_remove(0);
                                let action = if rng.below(2) == 0 {
                                    TransferAction::VoidPending {
                                        pending_id: transfer_id(p),
                                    }
                                } else {
                                    TransferAction::PostPending {
                                        pending_id: transfer_id(p),
                                        amount: 1,
                                    }
                                };
                                NewTransfer {
                                    action,
                                    ..with_linked(immediate(id, a, b, 1), false)
                                }
                            }
                            _ => with_linked(immediate(id, a, b, amount), false),
                        });
                    }
                    if ledger.create_transfers_blocking(request).is_err() {
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let errors: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("hammer thread"))
        .sum();
    println!("errors {errors}");
}
