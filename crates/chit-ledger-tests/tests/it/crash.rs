//! Crash safety: a child process writes batches and is killed with SIGKILL at random moments,
//! many times. Afterwards every acknowledged transfer is there, no linked pair is half-applied,
//! and the audit is clean, on every engine.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chit_core::TransferId;
use chit_ledger::SystemClock;
use chit_ledger_tests::{engines, Random, TestDb};

use super::*;

fn rounds() -> u64 {
    std::env::var("CHIT_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// Runs the child once, kills it after it is ready plus `run_ms`, returns the acknowledged ids.
fn run_and_kill(db: &TestDb, seed: u64, run_ms: u64) -> Vec<TransferId> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-child"))
        .args(["crash", db.engine.name(), &db.location, &seed.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ledger-child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = lines.next().expect("child printed nothing").expect("read");
    assert_eq!(ready, "ready");
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        // Reading ends when the killed child's pipe closes. A torn last line is not an ack.
        for line in lines.map_while(Result::ok) {
            if let Some(ids) = line.strip_prefix("ack ") {
                let parsed: Result<Vec<TransferId>, _> = ids.split(' ').map(str::parse).collect();
                if let Ok(parsed) = parsed {
                    acked.extend(parsed);
                }
            }
        }
        acked
    });
    // The kill moment is what is random here; readiness was awaited above.
    std::thread::sleep(Duration::from_millis(run_ms));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread")
}

#[test]
fn acknowledged_transfers_survive_sigkill_and_nothing_is_half_applied() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let mut rng = Random::new(0xC4A5_4000 + engine as u64);
        let mut acked: HashSet<TransferId> = HashSet::new();
        for round in 0..rounds() {
            let run_ms = 20 + rng.below(300);
            acked.extend(run_and_kill(&db, round + 1, run_ms));
        }
        assert!(
            !acked.is_empty(),
            "{engine:?}: the child never acknowledged anything"
        );
        let ledger = db.start(Arc::new(SystemClock), LedgerConfig::default());
        for id in &acked {
            assert!(
                ledger.transfer(*id).unwrap().is_some(),
                "{engine:?}: acknowledged {id} lost"
            );
        }
        // Every committed transfer has its linked partner, acknowledged or not.
        let mut stored: HashSet<TransferId> = HashSet::new();
        let mut cursor = None;
        loop {
            let page = ledger.transfers_after(cursor, 5_000).unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(last.timestamp);
            stored.extend(page.iter().map(|t| t.id));
        }
        let partner = |id: &TransferId| TransferId::new(id.as_u128() ^ 1).unwrap();
        let orphans: Vec<_> = stored
            .iter()
            .filter(|id| !stored.contains(&partner(id)))
            .collect();
        assert!(
            orphans.is_empty(),
            "{engine:?}: half-applied pairs {orphans:?}"
        );
        assert!(stored.len() >= acked.len());
        assert_clean(&ledger);
        eprintln!(
            "{engine:?}: {} kills, {} acknowledged, {} committed",
            rounds(),
            acked.len(),
            stored.len()
        );
    }
}
