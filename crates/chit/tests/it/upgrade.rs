//! A node directory written by an earlier `chit` (the fixture `data-dir-v1.tar.gz`, made by
//! `tests/fixtures/make-data-dir.sh`) opens with this one and keeps working: its users log in,
//! its balances, payments and receipts are what they were, open payments can still be decided,
//! new ones can be made, and the operator's audit finds nothing wrong.

use super::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/data-dir-v1.tar.gz"
);

fn by_note<'a>(history: &'a Value, note: &str) -> &'a Value {
    history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["note"] == note)
        .unwrap_or_else(|| panic!("no {note:?} in {history}"))
}

#[test]
fn a_data_dir_from_an_earlier_version_opens_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let unpacked = Command::new("tar")
        .args(["xzf", FIXTURE, "-C"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(unpacked.success());
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));

    // Balances: alice topped up 100, paid 12.50 (refunded), 5 and cashed out 10; bob kept 5.
    let a = chit(&node, &alice, &["balance"]).unwrap();
    assert_eq!(a["balance"], "EUR:85.00", "{a}");
    assert_eq!(
        chit(&node, &bob, &["balance"]).unwrap()["balance"],
        "EUR:5.00"
    );

    let history = chit(&node, &bob, &["history"]).unwrap();
    for (note, state) in [
        ("lunch", "refunded"),
        ("wrong", "declined"),
        ("cinema", "paid"),
        ("nope", "rejected"),
    ] {
        assert_eq!(by_note(&history, note)["state"], state, "{note}");
    }
    // The receipts the old node signed still verify against the pinned key.
    let lunch = by_note(&history, "lunch")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let receipt = chit(&node, &bob, &["receipt", &lunch, "--verify"]).unwrap();
    assert!(receipt.to_string().contains("refunded"), "{receipt}");

    // The open offer and the open request were made with 30 days to run: decided now, or
    // expired by the node when the fixture is older than that.
    let offer = by_note(&history, "open offer")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    match chit(&node, &bob, &["accept", &offer]) {
        Ok(accepted) => assert_eq!(accepted["state"], "accepted"),
        Err(e) => assert!(e.contains("expired"), "{e}"),
    }
    let later = by_note(&history, "later")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    match chit(&node, &alice, &["pay", &later]) {
        Ok(paid) => assert_eq!(paid["state"], "paid"),
        Err(e) => assert!(e.contains("expired"), "{e}"),
    }

    // New payments on the old data.
    let sent = chit(&node, &alice, &["send", "@bob", "1.25", "--note", "new"]).unwrap();
    let id = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(
        chit(&node, &bob, &["accept", &id]).unwrap()["state"],
        "accepted"
    );
    let a = chit(&node, &alice, &["balance"]).unwrap();
    let b = chit(&node, &bob, &["balance"]).unwrap();
    let minor = |v: &Value| -> i64 {
        let text = v["balance"].as_str().unwrap().trim_start_matches("EUR:");
        let (units, cents) = text.split_once('.').unwrap();
        units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
    };
    assert_eq!(
        minor(&a) + minor(&b),
        9_000,
        "no cent made or lost: {a} {b}"
    );
    assert_eq!(a["balance"], a["available"], "nothing left held: {a}");
    let tokens = chit(&node, &alice, &["token", "list"]).unwrap();
    assert!(tokens.to_string().contains("script"), "{tokens}");

    let audit = Command::new(CHIT)
        .args(["admin", "audit", "--json", "--data-dir"])
        .arg(dir.path().join("node"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert!(audit.status.success(), "{report}");
    assert_eq!(report["clean"], true, "{report}");
    node.stop();
}
