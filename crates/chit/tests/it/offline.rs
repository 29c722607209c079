//! The offline walkthrough through the real binary: a device added and filled, a request and
//! a voucher handed over as text while the node is down, the voucher received offline and
//! claimed once the node is back, a withdrawal, and the operator's audit clean.

use super::*;

fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
        .to_owned()
}

#[test]
fn paying_with_no_network_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Serve::start(&data, None);
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    chit(&node, &alice, &["register", "alice"]).unwrap();
    chit(&node, &bob, &["register", "bob"]).unwrap();
    chit(
        &node,
        &alice,
        &["link", "sandbox", "DE89 3704 0044 0532 0130 00"],
    )
    .unwrap();
    chit(&node, &alice, &["topup", "100"]).unwrap();
    let added = chit(&node, &alice, &["device", "add", "--label", "phone"]).unwrap();
    assert_eq!(added["status"], "active");
    assert_eq!(added["certificate"]["holding_limit"], 20_000);
    let deposited = chit(&node, &alice, &["offline", "deposit", "50"]).unwrap();
    assert_eq!(deposited["device_balance"], 5_000);
    // Bob learns the currency while online; then the node goes away.
    chit(&node, &bob, &["offline", "balance"]).unwrap();
    let url = node.url.clone();
    node.stop();
    let request = chit_at(&url, &bob, &["offline", "request", "12.50"]).unwrap();
    let paid = chit_at(
        &url,
        &alice,
        &["offline", "pay", &text(&request, "request")],
    )
    .unwrap();
    assert_eq!(paid["device_balance"], 3_750);
    let voucher = text(&paid, "voucher");
    assert!(voucher.starts_with("chit://offline-voucher/"));
    let received = chit_at(&url, &bob, &["offline", "receive", &voucher]).unwrap();
    assert_eq!(received["received"], "EUR:12.50");
    let again = chit_at(&url, &bob, &["offline", "receive", &voucher]).unwrap_err();
    assert!(again.contains("already received"), "{again}");
    let err = chit_at(&url, &bob, &["offline", "claim"]).unwrap_err();
    assert!(err.contains("cannot reach the node"), "{err}");
    // Back online.
    let node = Serve::start(&data, None);
    let claimed = chit(&node, &bob, &["offline", "claim"]).unwrap();
    assert_eq!(claimed["results"][0]["outcome"], "claimed");
    assert_eq!(
        chit(&node, &bob, &["balance"]).unwrap()["balance"],
        "EUR:12.50"
    );
    let withdrawn = chit(&node, &alice, &["offline", "withdraw", "10"]).unwrap();
    assert_eq!(withdrawn["withdrawn"], 1_000);
    let synced = chit(&node, &alice, &["offline", "sync"]).unwrap();
    assert_eq!(synced["device"]["held"], 2_750);
    let list = chit(&node, &alice, &["device", "list"]).unwrap();
    assert_eq!(list["devices"][0]["verified_to"], 3);
    let refused = chit(&node, &alice, &["device", "retire", "x"]).unwrap_err();
    assert!(refused.contains("match"), "{refused}");
    node.stop();
    let out = Command::new(CHIT)
        .args(["--json", "admin", "audit", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["vouchers"], 1);
}
