//! Receipts that tell the truth, refunds, and a request's state machine (issue 14): each test
//! here failed before the receipts said what happened.

use chit_client::Client;
use chit_ledger_tests::engines;
use chit_proto::api::Envelope;
use chit_proto::{Action, Outcome};

use super::payments::{assert_audit_clean, balance, decide, funded, handle, in_ms};
use super::*;

/// The receipt on an update, checked against the node key.
fn receipt_of(node: &TestNode, update: &Envelope) -> chit_proto::Receipt {
    let receipt = update.receipt.clone().expect("every outcome has a receipt");
    receipt.verify(&node.node.key().public()).unwrap();
    receipt
}

#[test]
fn a_receipt_says_whether_the_money_moved_and_names_its_transfers() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (bob_c, bob) = node.user("bob");
        let mut offer = |amount: &str, ttl: u64| {
            alice_c
                .offer(&alice, &handle("bob"), amount, in_ms(ttl), b"")
                .unwrap()
        };
        let (declined, cancelled, accepted) = (
            offer("EUR:5", 60_000),
            offer("EUR:6", 60_000),
            offer("EUR:7", 60_000),
        );
        let expiring = offer("EUR:8", 60_000);
        let decline = decide(
            &bob_c,
            &bob,
            Action::Decline {
                message: declined.id.into(),
            },
        )
        .unwrap();
        let cancel = decide(
            &alice_c,
            &alice,
            Action::Cancel {
                message: cancelled.id.into(),
            },
        )
        .unwrap();
        let accept = decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: accepted.id.into(),
            },
        )
        .unwrap();
        node.clock.advance(std::time::Duration::from_secs(120));
        assert_eq!(node.node.expire_due(10).unwrap(), 1, "{engine:?}");
        let expired = bob_c
            .mailbox(0, 50)
            .unwrap()
            .into_iter()
            .map(|d| d.message)
            .find(|m| {
                m.kind == "payment_update" && m.payment.as_ref().unwrap().payment == expiring.id
            })
            .unwrap();

        for (update, offer, outcome, words) in [
            (
                &decline,
                &declined,
                Outcome::Declined,
                "@bob declined EUR:5.00 from @alice: nothing was paid",
            ),
            (
                &cancel,
                &cancelled,
                Outcome::Cancelled,
                "@alice cancelled the offer of EUR:6.00",
            ),
            (
                &accept,
                &accepted,
                Outcome::Accepted,
                "@alice paid @bob EUR:7.00",
            ),
            (
                &expired,
                &expiring,
                Outcome::Expired,
                "expired: nothing was paid",
            ),
        ] {
            let receipt = receipt_of(&node, update);
            let settlement = receipt.settlement.as_ref().unwrap();
            assert_eq!(settlement.outcome, outcome, "{engine:?}");
            assert_eq!(settlement.kind, "offer");
            assert_eq!(receipt.message_id, offer.id);
            assert!(receipt.describe().contains(words), "{}", receipt.describe());
            // The hold comes first; its resolution (when the node made one) after it, and each
            // is a real ledger transfer.
            assert_eq!(settlement.transfers[0], offer.id.as_str());
            for t in &settlement.transfers {
                let id: chit_core::TransferId = t.parse().unwrap();
                assert!(node.node.ledger().transfer(id).unwrap().is_some(), "{t}");
            }
        }
        assert_eq!(
            receipt_of(&node, &accept).settlement.unwrap().transfers[1],
            accept.id.as_str()
        );
        assert_eq!(balance(&alice_c).0, "EUR:43.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn a_refund_gives_a_settled_payment_back_once() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (mut shop_c, shop) = funded(&node, "shop", "EUR:1.00");
        let offer = alice_c
            .offer(&alice, &handle("shop"), "EUR:10", in_ms(60_000), b"")
            .unwrap();
        let open = decide(
            &shop_c,
            &shop,
            Action::Refund {
                message: offer.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(open.code(), Some("not_settled"), "{engine:?}");
        decide(
            &shop_c,
            &shop,
            Action::Accept {
                message: offer.id.into(),
            },
        )
        .unwrap();
        let not_theirs = decide(
            &alice_c,
            &alice,
            Action::Refund {
                message: offer.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(not_theirs.code(), Some("forbidden"));

        let refund = Client::sign(
            &shop,
            Action::Refund {
                message: offer.id.into(),
            },
        );
        let first = shop_c.decide(&refund).unwrap();
        let receipt = receipt_of(&node, &first);
        assert_eq!(receipt.outcome(), Some(Outcome::Refunded));
        assert_eq!(receipt.describe(), "@shop refunded EUR:10.00 to @alice");
        assert_eq!(first.payment.as_ref().unwrap().state, "refunded");
        assert_eq!(balance(&alice_c).0, "EUR:50.00");
        assert_eq!(balance(&shop_c).0, "EUR:1.00");
        // The same signed refund again answers what it answered first; another is refused.
        assert_eq!(shop_c.decide(&refund).unwrap(), first);
        let again = decide(
            &shop_c,
            &shop,
            Action::Refund {
                message: offer.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(again.code(), Some("already_refunded"));
        assert_eq!(balance(&alice_c).0, "EUR:50.00");

        // A paid request can be refunded too, but not with money the payee no longer has.
        let invoice = shop_c
            .request(&shop, &handle("alice"), "EUR:20", in_ms(60_000), b"")
            .unwrap();
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: None,
            },
        )
        .unwrap();
        let spend = shop_c
            .offer(&shop, &handle("alice"), "EUR:15", in_ms(60_000), b"")
            .unwrap();
        let short = decide(
            &shop_c,
            &shop,
            Action::Refund {
                message: invoice.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(short.code(), Some("insufficient_funds"));
        assert!(
            short
                .to_string()
                .contains("EUR:6.00 available, EUR:20.00 needed"),
            "{short}"
        );
        decide(
            &shop_c,
            &shop,
            Action::Cancel {
                message: spend.id.into(),
            },
        )
        .unwrap();
        let refunded = decide(
            &shop_c,
            &shop,
            Action::Refund {
                message: invoice.id.into(),
            },
        )
        .unwrap();
        assert_eq!(
            receipt_of(&node, &refunded).outcome(),
            Some(Outcome::Refunded)
        );
        assert_eq!(balance(&alice_c).0, "EUR:50.00");
        assert_eq!(balance(&shop_c).0, "EUR:1.00");
        assert_audit_clean(&node);
    }
}

/// Regression (issue 14): paying a scheduled request now without the money answered
/// "insufficient funds" and left the request open (pending) while both wallets still showed it
/// scheduled. It stays scheduled, and the payer hears what is available.
#[test]
fn a_failed_pay_now_leaves_a_schedule_as_it_was() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut shop_c, shop) = node.user("shop");
        let (alice_c, alice) = funded(&node, "alice", "EUR:3.00");
        let invoice = shop_c
            .request(&shop, &handle("alice"), "EUR:5", in_ms(600_000), b"")
            .unwrap();
        let at = in_ms(300_000);
        decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: Some(at),
            },
        )
        .unwrap();
        let now = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: None,
            },
        )
        .unwrap_err();
        assert_eq!(now.code(), Some("insufficient_funds"), "{engine:?}");
        assert!(
            now.to_string()
                .contains("EUR:3.00 available, EUR:5.00 needed"),
            "{now}"
        );
        let stored = node
            .block_on(node.node.payment(invoice.id.into()))
            .unwrap()
            .unwrap();
        assert_eq!(stored.part.state, "scheduled");
        assert_eq!(stored.part.pay_at_ms, Some(at));

        // A time already past is refused rather than paid at once without a word.
        let past = decide(
            &alice_c,
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: Some(in_ms(0) - 3_600_000),
            },
        )
        .unwrap_err();
        assert_eq!(past.code(), Some("time_in_the_past"));
        assert_eq!(
            node.block_on(node.node.payment(invoice.id.into()))
                .unwrap()
                .unwrap()
                .part
                .state,
            "scheduled"
        );
        assert_audit_clean(&node);
    }
}

#[test]
fn insufficient_funds_say_what_is_available_and_wrong_decisions_name_the_right_one() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (bob_c, bob) = node.user("bob");
        let held = alice_c
            .offer(&alice, &handle("bob"), "EUR:4", in_ms(60_000), b"")
            .unwrap();
        let e = alice_c
            .offer(&alice, &handle("bob"), "EUR:7", in_ms(60_000), b"")
            .unwrap_err();
        assert_eq!(e.code(), Some("insufficient_funds"), "{engine:?}");
        assert!(
            e.to_string()
                .contains("EUR:6.00 available, EUR:7.00 needed"),
            "{e}"
        );
        let out = alice_c
            .move_money(&Client::sign(
                &alice,
                Action::CashOut {
                    rail: "sandbox".into(),
                    amount: "EUR:9.00".into(),
                },
            ))
            .unwrap_err();
        assert!(
            out.to_string()
                .contains("EUR:6.00 available, EUR:9.00 needed"),
            "{out}"
        );

        let reject = decide(
            &bob_c,
            &bob,
            Action::Reject {
                message: held.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(reject.code(), Some("wrong_kind"));
        assert!(
            reject
                .to_string()
                .contains("this is an offer: to turn down an offer, decline it"),
            "{reject}"
        );
        let pay = decide(
            &bob_c,
            &bob,
            Action::Pay {
                message: held.id.into(),
                at_ms: None,
            },
        )
        .unwrap_err();
        assert!(pay.to_string().contains("accept it"), "{pay}");
        assert_eq!(balance(&alice_c), ("EUR:10.00".into(), "EUR:6.00".into()));
    }
}
