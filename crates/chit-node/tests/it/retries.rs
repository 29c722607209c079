//! Every signed command, sent again exactly as it was (a client that never heard the answer),
//! gets its first answer, even after the payment has moved on — over HTTP and over
//! `/v1/calls` — and changes nothing a second time.

use chit_client::{new_id, Client};
use chit_ledger_tests::engines;
use chit_proto::api::{Envelope, SignedCommand};
use chit_proto::{Action, IdentitySecret};

use super::payments::{assert_audit_clean, balance, funded, handle, in_ms};
use super::*;

/// `signed`, sent twice: both answers, which must be the same.
fn twice(client: &Client, signed: &SignedCommand) -> Envelope {
    let first = client.decide(signed).unwrap();
    let again = client.decide(signed).unwrap();
    assert_eq!(first, again, "{:?}", signed.command.action);
    first
}

#[test]
fn each_kind_of_signed_command_retried_gets_its_first_answer() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:100.00");
        let (mut shop_c, shop) = funded(&node, "shop", "EUR:10.00");

        // Text, offers, requests: the same envelope.
        let say = alice_c
            .seal_say(&alice, &handle("shop"), b"hello", &new_id())
            .unwrap();
        assert_eq!(
            alice_c.post_request(&say).unwrap(),
            alice_c.post_request(&say).unwrap()
        );
        let offer = |c: &mut Client| {
            let request = c
                .seal_offer(
                    &alice,
                    &handle("shop"),
                    "EUR:5",
                    in_ms(60_000),
                    b"",
                    &new_id(),
                )
                .unwrap();
            let first = c.post_offer(&request).unwrap();
            assert_eq!(first, c.post_offer(&request).unwrap());
            first.id
        };
        let invoice = |c: &mut Client| {
            let request = c
                .seal_request(
                    &shop,
                    &handle("alice"),
                    "EUR:3",
                    in_ms(60_000),
                    b"",
                    &new_id(),
                )
                .unwrap();
            let first = c.post_payment_request(&request).unwrap();
            assert_eq!(first, c.post_payment_request(&request).unwrap());
            first.id
        };

        // Decisions on offers.
        let accepted = offer(&mut alice_c);
        let accept = Client::sign(
            &shop,
            Action::Accept {
                message: accepted.into(),
            },
        );
        twice(&shop_c, &accept);
        let declined = offer(&mut alice_c);
        twice(
            &shop_c,
            &Client::sign(
                &shop,
                Action::Decline {
                    message: declined.into(),
                },
            ),
        );
        let cancelled = offer(&mut alice_c);
        twice(
            &alice_c,
            &Client::sign(
                &alice,
                Action::Cancel {
                    message: cancelled.into(),
                },
            ),
        );

        // Decisions on requests: pay now, reject, cancel, pay later (before and after it ran).
        let paid = invoice(&mut shop_c);
        let pay = Client::sign(
            &alice,
            Action::Pay {
                message: paid.into(),
                at_ms: None,
            },
        );
        let first = twice(&alice_c, &pay);
        assert!(first.receipt.is_some());
        let rejected = invoice(&mut shop_c);
        twice(
            &alice_c,
            &Client::sign(
                &alice,
                Action::Reject {
                    message: rejected.into(),
                },
            ),
        );
        let withdrawn = invoice(&mut shop_c);
        twice(
            &shop_c,
            &Client::sign(
                &shop,
                Action::Cancel {
                    message: withdrawn.into(),
                },
            ),
        );
        let later = invoice(&mut shop_c);
        let schedule = Client::sign(
            &alice,
            Action::Pay {
                message: later.into(),
                at_ms: Some(in_ms(1_000)),
            },
        );
        let scheduled = twice(&alice_c, &schedule);
        node.clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(node.node.run_scheduled(10).unwrap(), 1);
        assert_eq!(alice_c.decide(&schedule).unwrap(), scheduled, "{engine:?}");

        // Refunds.
        let refund = Client::sign(
            &shop,
            Action::Refund {
                message: accepted.into(),
            },
        );
        twice(&shop_c, &refund);

        // Money in and out, links and keys: answered again, done once.
        let before = balance(&alice_c).0;
        let top_up = Client::sign(
            &alice,
            Action::TopUp {
                rail: "sandbox".into(),
                amount: "EUR:1.00".into(),
            },
        );
        let once = alice_c.move_money(&top_up).unwrap();
        assert_eq!(once, alice_c.move_money(&top_up).unwrap(), "{engine:?}");
        let cash_out = Client::sign(
            &alice,
            Action::CashOut {
                rail: "sandbox".into(),
                amount: "EUR:1.00".into(),
            },
        );
        let once = alice_c.move_money(&cash_out).unwrap();
        assert_eq!(once, alice_c.move_money(&cash_out).unwrap(), "{engine:?}");
        assert_eq!(balance(&alice_c).0, before, "{engine:?}");
        let link = Client::sign(
            &alice,
            Action::Link {
                rail: "sandbox".into(),
                reference: "DE89370400440532013000".into(),
            },
        );
        assert_eq!(alice_c.link(&link).unwrap(), alice_c.link(&link).unwrap());
        let key = IdentitySecret::generate();
        let grant = Client::sign(
            &alice,
            Action::Grant {
                key: key.public(),
                scope: vec!["say".into()],
                expires_at_ms: in_ms(60_000),
                label: "retry".into(),
            },
        );
        assert_eq!(
            alice_c.manage_key(&grant).unwrap(),
            alice_c.manage_key(&grant).unwrap()
        );
        let revoke = Client::sign(&alice, Action::Revoke { key: key.public() });
        assert_eq!(
            alice_c.manage_key(&revoke).unwrap(),
            alice_c.manage_key(&revoke).unwrap()
        );

        // 100 - 5 (accepted, refunded back) - 3 (paid) - 3 (paid later) + 5 (refund) = 94.
        assert_eq!(balance(&alice_c).0, "EUR:94.00", "{engine:?}");
        assert_eq!(balance(&shop_c).0, "EUR:16.00", "{engine:?}");
        assert_audit_clean(&node);
    }
}

#[test]
fn a_pay_retried_over_calls_gets_its_first_answer() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (mut shop_c, shop) = node.user("shop");
        let invoice = shop_c
            .request(&shop, &handle("alice"), "EUR:4", in_ms(60_000), b"")
            .unwrap();
        let pay = Client::sign(
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: None,
            },
        );
        let mut calls = alice_c.calls().unwrap();
        // Two in flight at once: the one that comes while the other is paying hears so.
        calls.send("/v1/commands", &pay).unwrap();
        calls.send("/v1/commands", &pay).unwrap();
        let (_, one) = calls.recv::<Envelope>().unwrap();
        let (_, other) = calls.recv::<Envelope>().unwrap();
        let (first, second) = match (one, other) {
            (Ok(first), second) | (second, Ok(first)) => (first, second),
            (Err(a), Err(b)) => panic!("{engine:?}: neither paid: {a:?} {b:?}"),
        };
        match second {
            Ok(second) => assert_eq!(first, second, "{engine:?}"),
            Err(e) => assert_eq!(e.code(), Some("in_progress"), "{engine:?}: {e:?}"),
        }
        // Once it is answered, again on the socket and over HTTP: the first answer.
        calls.send("/v1/commands", &pay).unwrap();
        assert_eq!(calls.recv::<Envelope>().unwrap().1.unwrap(), first);
        assert_eq!(alice_c.decide(&pay).unwrap(), first, "{engine:?}");
        assert_eq!(balance(&alice_c).0, "EUR:6.00", "{engine:?}");
    }
}

#[test]
fn another_command_on_a_request_being_paid_hears_in_progress_not_paid() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let (alice_c, alice) = funded(&node, "alice", "EUR:10.00");
    let (mut shop_c, shop) = node.user("shop");
    let invoice = shop_c
        .request(&shop, &handle("alice"), "EUR:4", in_ms(60_000), b"")
        .unwrap();
    // A pay that a crash interrupted after its claim: the request is `paying`, no money moved.
    let id = invoice.id;
    node.node
        .db()
        .write(|c| {
            c.execute(
                "UPDATE payments SET state = 'paying', paying_since_ms = $1 WHERE id = $2",
                &[
                    chit_node::db::Value::Int(in_ms(0) as i64),
                    id.as_str().into(),
                ],
            )
        })
        .unwrap();
    let reject = Client::sign(
        &alice,
        Action::Reject {
            message: invoice.id.into(),
        },
    );
    let busy = alice_c.decide(&reject).unwrap_err();
    assert_eq!(busy.code(), Some("in_progress"), "{busy:?}");
    // Recovery finds no money moved and reopens it; the same reject then goes through.
    node.clock.advance(std::time::Duration::from_secs(60));
    node.node.recover_paying(30_000, 10).unwrap();
    alice_c.decide(&reject).unwrap();
    assert_eq!(balance(&alice_c).0, "EUR:10.00");
}

/// A crash between claiming a request and recording its payment: the pay sent again finishes
/// it at once (the money moves at most once), instead of hearing "in progress" until the
/// recovery worker's turn.
#[test]
fn the_pay_that_claimed_a_request_sent_again_after_a_crash_finishes_it() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (mut shop_c, shop) = node.user("shop");
        let invoice = shop_c
            .request(&shop, &handle("alice"), "EUR:4", in_ms(60_000), b"")
            .unwrap();
        let pay = Client::sign(
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: None,
            },
        );
        // What the claim wrote before the crash: the request is `paying`, by this command.
        let json = serde_json::to_string(&pay).unwrap();
        let id = invoice.id;
        node.node
            .db()
            .write(|c| {
                c.execute(
                    "UPDATE payments SET state = 'paying', pay_command = $1, paying_since_ms = $2 \
                     WHERE id = $3",
                    &[
                        json.as_str().into(),
                        chit_node::db::Value::Int(in_ms(0) as i64),
                        id.as_str().into(),
                    ],
                )
            })
            .unwrap();
        // Another command waits its turn; the claimant's own retry finishes the payment.
        let other = Client::sign(
            &alice,
            Action::Pay {
                message: invoice.id.into(),
                at_ms: None,
            },
        );
        assert_eq!(
            alice_c.decide(&other).unwrap_err().code(),
            Some("in_progress")
        );
        let paid = alice_c.decide(&pay).unwrap();
        assert!(paid.receipt.is_some(), "{engine:?}");
        assert_eq!(alice_c.decide(&pay).unwrap(), paid, "{engine:?}");
        assert_eq!(balance(&alice_c).0, "EUR:6.00", "{engine:?}");
        assert_eq!(balance(&shop_c).0, "EUR:4.00", "{engine:?}");
        assert_audit_clean(&node);
    }
}
