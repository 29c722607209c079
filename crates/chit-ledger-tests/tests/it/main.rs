//! The ledger's integration tests. Every test runs on each engine from `engines()`.

mod basics;
mod crash;
mod model_based;
mod races;

use std::sync::Arc;

use chit_ledger::{
    AccountKind, Applied, Ledger, LedgerConfig, ManualClock, NewAccount, NewTransfer,
    TransferAction, TransferResult,
};
use chit_ledger_tests::{account_id, epoch, eur, Engine, TestDb};
pub use chit_ledger_tests::{immediate, linked, pending, post, void};

/// A fresh database, a ledger on it, and the manual clock it reads.
pub struct Fixture {
    pub ledger: Ledger,
    pub clock: ManualClock,
    pub db: TestDb,
}

pub fn fixture(engine: Engine) -> Fixture {
    let db = TestDb::new(engine);
    let clock = ManualClock::new(epoch());
    let ledger = db.start(Arc::new(clock.clone()), LedgerConfig::default());
    Fixture { ledger, clock, db }
}

pub fn new_account(id: u128, kind: AccountKind) -> NewAccount {
    NewAccount {
        id: account_id(id),
        currency: eur(),
        kind,
        code: 1,
        reference: 0,
    }
}

pub fn is_created(r: &TransferResult) -> bool {
    matches!(r, Ok(Applied::Created { .. }))
}

pub fn codes(results: &[TransferResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(Applied::Created { .. }) => "created".to_owned(),
            Ok(Applied::Exists { .. }) => "exists".to_owned(),
            Err(e) => e.code(),
        })
        .collect()
}

/// balance and available of an account, in minor units.
pub fn balance(ledger: &Ledger, id: u128) -> (i128, i128) {
    let a = ledger
        .account(account_id(id))
        .expect("read")
        .expect("account exists");
    (a.balance(), a.available())
}

pub fn assert_clean(ledger: &Ledger) {
    let report = ledger.audit().expect("audit runs");
    assert!(
        report.is_clean(),
        "audit found violations:\n{}",
        report
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
