//! Requests (invoices): Pay now, Pay later, Reject, payee cancel, expiry; paid at most once.

use chit_client::Client;
use chit_ledger_tests::engines;
use chit_proto::Action;

use super::payments::{assert_audit_clean, balance, decide, funded, handle, in_ms};
use super::*;

#[test]
fn a_request_is_paid_once_with_a_receipt_however_many_devices_press_pay() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let invoice = shop_c
            .request(
                &shop,
                &handle("alice"),
                "EUR:20",
                in_ms(60_000),
                b"invoice #7",
            )
            .unwrap();
        assert_eq!(invoice.payment.as_ref().unwrap().payer, handle("alice"));
        // Nothing is held by a request.
        assert_eq!(
            balance(&alice_c),
            ("EUR:50.00".into(), "EUR:50.00".into()),
            "{engine:?}"
        );
        let inbox = alice_c.mailbox(0, 10).unwrap();
        assert_eq!(
            Client::open(&alice, &inbox[0].message).unwrap(),
            b"invoice #7"
        );

        let alice = std::sync::Arc::new(alice);
        let devices: Vec<_> = (0..4)
            .map(|_| {
                let (url, alice, id) = (node.url.clone(), alice.clone(), invoice.id);
                std::thread::spawn(move || {
                    let mut device = Client::new(&url, None);
                    device.login(&alice).unwrap();
                    decide(
                        &device,
                        &alice,
                        Action::Pay {
                            message: id.into(),
                            at_ms: None,
                        },
                    )
                })
            })
            .collect();
        let results: Vec<_> = devices.into_iter().map(|d| d.join().unwrap()).collect();
        let paid: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(paid.len(), 1, "{engine:?}: {results:?}");
        // Those that came while it was being paid heard so, the later ones that it is paid.
        for r in results.iter().filter(|r| r.is_err()) {
            let code = r.as_ref().unwrap_err().code();
            assert!(
                matches!(code, Some("already_paid" | "in_progress")),
                "{code:?}"
            );
        }
        paid[0]
            .receipt
            .as_ref()
            .unwrap()
            .verify(&node.node.key().public())
            .unwrap();
        assert_eq!(balance(&alice_c).0, "EUR:30.00");
        assert_eq!(balance(&shop_c).0, "EUR:20.00");
        // Closing a paid request is refused.
        let late = decide(
            &shop_c,
            &shop,
            Action::Cancel {
                message: invoice.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(late.code(), Some("already_paid"));
        assert_audit_clean(&node);
    }
}

#[test]
fn reject_cancel_expiry_and_wrong_actors() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (carol_c, carol) = node.user("carol");
        let r1 = shop_c
            .request(&shop, &handle("alice"), "EUR:1", in_ms(60_000), b"")
            .unwrap();
        let r2 = shop_c
            .request(&shop, &handle("alice"), "EUR:2", in_ms(60_000), b"")
            .unwrap();
        let r3 = shop_c
            .request(&shop, &handle("alice"), "EUR:3", in_ms(1_000), b"")
            .unwrap();
        // Only the payer pays or rejects; only the payee cancels; accept is for offers.
        let stranger = decide(
            &carol_c,
            &carol,
            Action::Pay {
                message: r1.id.into(),
                at_ms: None,
            },
        );
        assert_eq!(stranger.unwrap_err().code(), Some("unknown_payment"));
        let forbidden = [
            (
                &shop_c,
                &shop,
                Action::Pay {
                    message: r1.id.into(),
                    at_ms: None,
                },
            ),
            (
                &shop_c,
                &shop,
                Action::Reject {
                    message: r1.id.into(),
                },
            ),
            (
                &alice_c,
                &alice,
                Action::Cancel {
                    message: r1.id.into(),
                },
            ),
        ];
        for (client, who, action) in forbidden {
            assert_eq!(
                decide(client, who, action).unwrap_err().code(),
                Some("forbidden"),
                "{engine:?}"
            );
        }
        assert_eq!(
            decide(
                &alice_c,
                &alice,
                Action::Accept {
                    message: r1.id.into()
                }
            )
            .unwrap_err()
            .code(),
            Some("wrong_kind")
        );

        let rejected = decide(
            &alice_c,
            &alice,
            Action::Reject {
                message: r1.id.into(),
            },
        )
        .unwrap();
        assert_eq!(rejected.payment.unwrap().state, "rejected");
        let cancelled = decide(
            &shop_c,
            &shop,
            Action::Cancel {
                message: r2.id.into(),
            },
        )
        .unwrap();
        assert_eq!(cancelled.payment.unwrap().state, "cancelled");
        let pay = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: r1.id.into(),
                at_ms: None,
            },
        )
        .unwrap_err();
        assert_eq!(pay.code(), Some("already_closed"));
        // Waiting for real time to pass the expiry is the point here.
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        assert_eq!(node.node.expire_due(100).unwrap(), 1);
        let pay = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: r3.id.into(),
                at_ms: None,
            },
        )
        .unwrap_err();
        assert_eq!(pay.code(), Some("expired"));
        let states: Vec<String> = shop_c
            .mailbox(0, 50)
            .unwrap()
            .iter()
            .filter(|d| d.message.kind == "payment_update")
            .map(|d| d.message.payment.as_ref().unwrap().state.to_string())
            .collect();
        assert_eq!(states, ["rejected", "cancelled", "expired"]);
        assert_eq!(balance(&alice_c).0, "EUR:50.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn pay_later_runs_at_its_time_or_says_why_not() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let ok = shop_c
            .request(&shop, &handle("alice"), "EUR:4", in_ms(60_000), b"")
            .unwrap();
        let too_much = shop_c
            .request(&shop, &handle("alice"), "EUR:9", in_ms(60_000), b"")
            .unwrap();
        let at = in_ms(800);
        let scheduled = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: ok.id.into(),
                at_ms: Some(at),
            },
        )
        .unwrap();
        assert_eq!(scheduled.payment.as_ref().unwrap().state, "scheduled");
        assert_eq!(scheduled.payment.as_ref().unwrap().pay_at_ms, Some(at));
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: too_much.id.into(),
                // After the other one, so the other one finds the money.
                at_ms: Some(at + 100),
            },
        )
        .unwrap();
        // Pay later can be moved: the new time replaces the old one, and both sides hear it.
        let moved = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: ok.id.into(),
                at_ms: Some(in_ms(30_000)),
            },
        )
        .unwrap();
        assert_eq!(moved.payment.as_ref().unwrap().state, "scheduled");
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: ok.id.into(),
                at_ms: Some(at),
            },
        )
        .unwrap();
        assert_eq!(node.node.run_scheduled(100).unwrap(), 0, "not yet");
        assert_eq!(balance(&alice_c).0, "EUR:10.00");
        // Waiting for the scheduled time is the point here.
        std::thread::sleep(std::time::Duration::from_millis(1_000));
        assert_eq!(node.node.run_scheduled(100).unwrap(), 1, "{engine:?}");
        assert_eq!(balance(&alice_c).0, "EUR:6.00");
        assert_eq!(balance(&shop_c).0, "EUR:4.00");
        let updates: Vec<_> = shop_c
            .mailbox(0, 50)
            .unwrap()
            .into_iter()
            .filter(|d| d.message.kind == "payment_update")
            .map(|d| d.message.payment.unwrap())
            .collect();
        // The failure is told once, to both sides, with the reason, and the request is open
        // again (the update says so: its state is the node's).
        let failed: Vec<_> = shop_c
            .mailbox(0, 50)
            .unwrap()
            .into_iter()
            .filter(|d| d.message.payment.as_ref().unwrap().payment == too_much.id)
            .filter(|d| {
                d.message.receipt.as_ref().and_then(|r| r.outcome())
                    == Some(chit_proto::Outcome::Failed)
            })
            .collect();
        assert_eq!(failed.len(), 1, "{engine:?}: told once");
        let part = failed[0].message.payment.as_ref().unwrap();
        assert_eq!(part.state, "pending");
        assert_eq!(part.pay_at_ms, None, "the schedule is used up");
        let reason = part.reason.as_deref().unwrap();
        assert!(
            reason.contains("could not be made: insufficient funds"),
            "{reason}"
        );
        assert!(
            !reason.contains("available"),
            "the payee is not told the payer's balance"
        );
        failed[0]
            .message
            .receipt
            .as_ref()
            .unwrap()
            .verify(&node.node.key().public())
            .unwrap();
        let payer_side = alice_c.mailbox(0, 50).unwrap();
        assert!(payer_side
            .iter()
            .any(|d| d.message.id == failed[0].message.id));
        assert_eq!(node.node.run_scheduled(100).unwrap(), 0, "not tried again");
        assert!(updates
            .iter()
            .any(|p| p.state == "paid" && p.payment == ok.id));
        // The failed one is open again and can be paid by hand once there is money.
        alice_c
            .move_money(&Client::sign(
                &alice,
                Action::TopUp {
                    rail: "sandbox".into(),
                    amount: "EUR:5.00".into(),
                },
            ))
            .unwrap();
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: too_much.id.into(),
                at_ms: None,
            },
        )
        .unwrap();
        assert_eq!(balance(&shop_c).0, "EUR:13.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn a_payment_interrupted_mid_way_is_finished_or_reopened() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, _alice) = funded(&node, "alice", "EUR:10.00");
        let r = shop_c
            .request(&shop, &handle("alice"), "EUR:3", in_ms(60_000), b"")
            .unwrap();
        // A crash right after claiming the request, before the ledger moved anything.
        node.node
            .db()
            .write(|c| {
                chit_node::store::start_paying(
                    c,
                    &r.id.into(),
                    chit_proto::PaymentState::Pending,
                    "{}",
                    0,
                )
                .map(|_| ())
            })
            .unwrap();
        assert_eq!(node.node.recover_paying(0, 10).unwrap(), 1);
        let state = node
            .node
            .db()
            .read(|c| chit_node::store::payment(c, &r.id.into()))
            .unwrap()
            .unwrap()
            .part
            .state;
        assert_eq!(
            state, "pending",
            "{engine:?}: nothing moved, so it is open again"
        );
        assert_eq!(balance(&alice_c).0, "EUR:10.00");
        assert_audit_clean(&node);
    }
}

/// Regression: the expiry query looked only at `pending`, so a request scheduled for Pay-later
/// whose payment never ran (say the node was down) stayed open past its expiry forever.
#[test]
fn a_scheduled_request_still_expires() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let r = shop_c
            .request(&shop, &handle("alice"), "EUR:2", in_ms(1_000), b"")
            .unwrap();
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: r.id.into(),
                at_ms: Some(in_ms(800)),
            },
        )
        .unwrap();
        // Past both times, and only the expiry sweep runs.
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        assert_eq!(node.node.expire_due(10).unwrap(), 1, "{engine:?}");
        let state = node
            .node
            .db()
            .read(|c| chit_node::store::payment(c, &r.id.into()))
            .unwrap()
            .unwrap()
            .part
            .state;
        assert_eq!(state, "expired");
        assert_eq!(
            node.node.run_scheduled(10).unwrap(),
            0,
            "an expired request is not paid"
        );
        assert_eq!(balance(&alice_c).0, "EUR:10.00");
        assert_audit_clean(&node);
    }
}
