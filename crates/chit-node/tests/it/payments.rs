//! Push payments as messages: hold, accept, decline, cancel, expiry; receipts; who may do what;
//! retries, races and bad input — on every engine, with the ledger audited afterwards.

use chit_client::{Client, ClientError, Identity};
use chit_ledger_tests::engines;
use chit_proto::api::Envelope;
use chit_proto::{Action, Handle};

use super::*;

pub fn handle(s: &str) -> Handle {
    Handle::new(s).unwrap()
}

pub fn in_ms(ms: u64) -> u64 {
    chit_client::now_ms() + ms
}

pub fn funded(node: &TestNode, name: &str, amount: &str) -> (Client, Identity) {
    let (client, me) = node.user(name);
    client
        .link(&Client::sign(
            &me,
            Action::Link {
                rail: "sandbox".into(),
                reference: "DE89 3704 0044 0532 0130 00".into(),
            },
        ))
        .unwrap();
    let balances = client
        .move_money(&Client::sign(
            &me,
            Action::TopUp {
                rail: "sandbox".into(),
                amount: amount.into(),
            },
        ))
        .unwrap();
    assert_eq!(balances.balances[0].balance, amount);
    (client, me)
}

pub fn balance(client: &Client) -> (String, String) {
    let b = client.balances().unwrap().balances.remove(0);
    (b.balance, b.available)
}

pub fn decide(client: &Client, me: &Identity, action: Action) -> Result<Envelope, ClientError> {
    client.decide(&Client::sign(me, action))
}

pub fn assert_audit_clean(node: &TestNode) {
    let report = node.node.ledger().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
}

#[test]
fn an_offer_holds_the_money_until_accepted_and_both_sides_get_a_receipt() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:100.00");
        let (bob_c, bob) = node.user("bob");
        let offer = alice_c
            .offer(
                &alice,
                &handle("bob"),
                "25",
                in_ms(60_000),
                b"for the tickets",
            )
            .unwrap();
        let part = offer.payment.clone().unwrap();
        assert_eq!(
            (part.amount.as_str(), part.state.as_str()),
            ("EUR:25.00", "pending")
        );
        assert_eq!(
            balance(&alice_c),
            ("EUR:100.00".into(), "EUR:75.00".into()),
            "{engine:?}"
        );
        assert_eq!(balance(&bob_c), ("EUR:0.00".into(), "EUR:0.00".into()));
        let inbox = bob_c.mailbox(0, 10).unwrap();
        assert_eq!(inbox[0].message.id, offer.id);
        assert_eq!(
            Client::open(&bob, &inbox[0].message).unwrap(),
            b"for the tickets"
        );

        let accept = Client::sign(
            &bob,
            Action::Accept {
                message: offer.id.into(),
            },
        );
        let update = bob_c.decide(&accept).unwrap();
        assert_eq!(update.payment.as_ref().unwrap().state, "accepted");
        let receipt = update.receipt.clone().unwrap();
        receipt.verify(&alice_c.node_key().unwrap()).unwrap();
        assert_eq!(
            (receipt.amount.as_str(), receipt.message_id.as_str()),
            ("EUR:25.00", offer.id.as_str())
        );
        assert_eq!(balance(&alice_c), ("EUR:75.00".into(), "EUR:75.00".into()));
        assert_eq!(balance(&bob_c), ("EUR:25.00".into(), "EUR:25.00".into()));
        // Both sides see the update in the conversation.
        for client in [&alice_c, &bob_c] {
            let last = client.mailbox(0, 10).unwrap().pop().unwrap();
            assert_eq!(last.message.id, update.id);
        }
        // The same accept again changes nothing; another accept is refused.
        assert_eq!(bob_c.decide(&accept).unwrap().id, update.id);
        let again = decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: offer.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(again.code(), Some("already_settled"));
        assert_eq!(balance(&bob_c).0, "EUR:25.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn decline_and_cancel_refund_and_only_the_right_people_may_decide() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (bob_c, bob) = node.user("bob");
        let (carol_c, carol) = node.user("carol");
        let first = alice_c
            .offer(&alice, &handle("bob"), "EUR:10.00", in_ms(60_000), b"")
            .unwrap();
        let second = alice_c
            .offer(&alice, &handle("bob"), "EUR:15.00", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(balance(&alice_c).1, "EUR:25.00");
        // Carol is not part of it; Bob cannot cancel Alice's offer; Alice cannot accept it.
        for action in [
            Action::Accept {
                message: first.id.into(),
            },
            Action::Decline {
                message: first.id.into(),
            },
            Action::Cancel {
                message: first.id.into(),
            },
        ] {
            // To a stranger another's payment is no payment at all: ids cannot be probed.
            assert_eq!(
                decide(&carol_c, &carol, action).unwrap_err().code(),
                Some("unknown_payment")
            );
        }
        assert_eq!(
            decide(
                &bob_c,
                &bob,
                Action::Cancel {
                    message: first.id.into()
                }
            )
            .unwrap_err()
            .code(),
            Some("forbidden")
        );
        assert_eq!(
            decide(
                &alice_c,
                &alice,
                Action::Accept {
                    message: first.id.into()
                }
            )
            .unwrap_err()
            .code(),
            Some("forbidden")
        );

        let declined = decide(
            &bob_c,
            &bob,
            Action::Decline {
                message: first.id.into(),
            },
        )
        .unwrap();
        assert_eq!(declined.payment.unwrap().state, "declined");
        let cancelled = decide(
            &alice_c,
            &alice,
            Action::Cancel {
                message: second.id.into(),
            },
        )
        .unwrap();
        assert_eq!(cancelled.payment.unwrap().state, "cancelled", "{engine:?}");
        assert_eq!(balance(&alice_c), ("EUR:50.00".into(), "EUR:50.00".into()));
        let late = decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: first.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(late.code(), Some("already_closed"));
        assert_eq!(balance(&bob_c).0, "EUR:0.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn bad_offers_are_refused_and_change_nothing() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let _ = node.user("bob");
        let bob = handle("bob");
        // Signed as given, past the SDK (which writes every amount in its one form first).
        let cases = [
            ("EUR:10.01", in_ms(60_000), "insufficient_funds"),
            ("EUR:0.00", in_ms(60_000), "bad_amount"),
            ("-5", in_ms(60_000), "bad_amount"),
            ("EUR:1.001", in_ms(60_000), "bad_amount"),
            ("USD:1.00", in_ms(60_000), "bad_amount"),
            ("EUR:5.0", in_ms(60_000), "bad_amount"),
            ("EUR:00005.00", in_ms(60_000), "bad_amount"),
            ("5", in_ms(60_000), "bad_amount"),
            ("EUR:EUR:5", in_ms(60_000), "bad_amount"),
            ("EUR:1.00", 1, "bad_expiry"),
            ("EUR:1.00", in_ms(31 * 24 * 3600 * 1000), "bad_expiry"),
        ];
        for (amount, expires, code) in cases {
            let mut offer = alice_c
                .seal_offer(
                    &alice,
                    &bob,
                    "EUR:1",
                    in_ms(60_000),
                    b"",
                    &chit_client::new_id(),
                )
                .unwrap();
            if let Action::Offer {
                amount: signed,
                expires_at_ms,
                ..
            } = &mut offer.command.action
            {
                *signed = amount.to_owned();
                *expires_at_ms = expires;
            }
            offer.signature = offer.command.sign(&alice.identity);
            let err = alice_c.post_offer(&offer).unwrap_err();
            assert_eq!(err.code(), Some(code), "{engine:?} {amount}");
        }
        // The SDK refuses what is not an amount before signing anything.
        for amount in ["EUR:0", "-5", "EUR:1.001", "USD:1", "EUR:EUR:5"] {
            let err = alice_c
                .offer(&alice, &bob, amount, in_ms(60_000), b"")
                .unwrap_err();
            assert!(matches!(err, ClientError::Amount(_)), "{amount}: {err:?}");
        }
        let made = alice_c
            .offer(&alice, &bob, "5.0", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(made.payment.unwrap().amount, "EUR:5.00");
        decide(
            &alice_c,
            &alice,
            Action::Cancel {
                message: made.id.into(),
            },
        )
        .unwrap();
        let own = alice_c.offer(&alice, &handle("alice"), "EUR:1", in_ms(60_000), b"");
        assert!(own.is_err());
        assert_eq!(balance(&alice_c), ("EUR:10.00".into(), "EUR:10.00".into()));
        let cash = alice_c.move_money(&Client::sign(
            &alice,
            Action::CashOut {
                rail: "sandbox".into(),
                amount: "EUR:11.00".into(),
            },
        ));
        assert_eq!(cash.unwrap_err().code(), Some("insufficient_funds"));
        let rail = alice_c.move_money(&Client::sign(
            &alice,
            Action::TopUp {
                rail: "paypal".into(),
                amount: "EUR:1.00".into(),
            },
        ));
        assert_eq!(rail.unwrap_err().code(), Some("unknown_rail"));
        assert_audit_clean(&node);
    }
}

#[test]
fn two_devices_accepting_at_once_pay_once() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:20.00");
        let (_, bob) = node.user("bob");
        let offer = alice_c
            .offer(&alice, &handle("bob"), "EUR:20", in_ms(60_000), b"")
            .unwrap();
        let bob = std::sync::Arc::new(bob);
        let devices: Vec<_> = (0..4)
            .map(|_| {
                let (url, bob, id) = (node.url.clone(), bob.clone(), offer.id);
                std::thread::spawn(move || {
                    let mut device = Client::new(&url, None);
                    device.login(&bob).unwrap();
                    decide(&device, &bob, Action::Accept { message: id.into() }).map(|e| e.id)
                })
            })
            .collect();
        let results: Vec<_> = devices.into_iter().map(|d| d.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{engine:?}: {results:?}");
        for r in results.iter().filter(|r| r.is_err()) {
            assert_eq!(r.as_ref().unwrap_err().code(), Some("already_settled"));
        }
        let (_, bob_client) = (0, {
            let mut c = node.client();
            c.login(&bob).unwrap();
            c
        });
        assert_eq!(balance(&bob_client).0, "EUR:20.00");
        assert_audit_clean(&node);
    }
}

#[test]
fn an_expired_offer_is_refunded_once_even_with_two_workers() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:30.00");
        let (bob_c, bob) = node.user("bob");
        let offer = alice_c
            .offer(&alice, &handle("bob"), "EUR:30", in_ms(1_200), b"")
            .unwrap();
        assert_eq!(balance(&alice_c).1, "EUR:0.00");
        // Waiting for real time to pass the expiry is the point of this test.
        std::thread::sleep(std::time::Duration::from_millis(1_400));
        let late = decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: offer.id.into(),
            },
        )
        .unwrap_err();
        assert_eq!(late.code(), Some("expired"), "{engine:?}");
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let n = node.node.clone();
                std::thread::spawn(move || n.expire_due(100).unwrap())
            })
            .collect();
        let expired: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(expired >= 1);
        assert_eq!(
            node.node.expire_due(100).unwrap(),
            0,
            "nothing left to expire"
        );
        assert_eq!(balance(&alice_c), ("EUR:30.00".into(), "EUR:30.00".into()));
        let updates: Vec<_> = bob_c
            .mailbox(0, 10)
            .unwrap()
            .into_iter()
            .filter(|d| d.message.kind == "payment_update")
            .collect();
        assert_eq!(updates.len(), 1, "one expiry message, however many workers");
        assert_eq!(
            updates[0].message.payment.as_ref().unwrap().state,
            "expired"
        );
        assert_audit_clean(&node);
    }
}

#[test]
fn auto_accept_follows_the_recipients_setting() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:30.00");
        let (bob_c, _) = node.user("bob");
        let (mut carol_c, carol) = node.user("carol");
        let (dave_c, _) = node.user("dave");
        bob_c.set_auto_accept("everyone").unwrap();
        carol_c.set_auto_accept("contacts").unwrap();
        assert_eq!(
            dave_c.set_auto_accept("sometimes").unwrap_err().code(),
            Some("bad_setting")
        );

        alice_c
            .offer(&alice, &handle("bob"), "EUR:1", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(
            balance(&bob_c).0,
            "EUR:1.00",
            "{engine:?}: accepted without asking"
        );
        let last = bob_c.mailbox(0, 10).unwrap().pop().unwrap().message;
        assert_eq!(last.payment.unwrap().state, "accepted");
        assert!(last.receipt.is_some());

        // Carol has never written to Alice: Alice is not yet a contact.
        alice_c
            .offer(&alice, &handle("carol"), "EUR:2", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(balance(&carol_c).0, "EUR:0.00");
        carol_c.say(&carol, &handle("alice"), b"hi alice").unwrap();
        alice_c
            .offer(&alice, &handle("carol"), "EUR:3", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(balance(&carol_c).0, "EUR:3.00");

        alice_c
            .offer(&alice, &handle("dave"), "EUR:4", in_ms(60_000), b"")
            .unwrap();
        assert_eq!(balance(&dave_c).0, "EUR:0.00", "off by default");
        assert_eq!(balance(&alice_c), ("EUR:26.00".into(), "EUR:20.00".into()));
        assert_audit_clean(&node);
    }
}

#[test]
fn metrics_count_what_happened() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
    let (bob_c, bob) = node.user("bob");
    let _ = node.client().login(&Identity::generate(handle("nobody")));
    alice_c.say(&alice, &handle("bob"), b"hi").unwrap();
    let offer = alice_c
        .offer(&alice, &handle("bob"), "EUR:1", in_ms(60_000), b"")
        .unwrap();
    decide(
        &bob_c,
        &bob,
        Action::Accept {
            message: offer.id.into(),
        },
    )
    .unwrap();
    let second = alice_c
        .offer(&alice, &handle("bob"), "EUR:1", in_ms(60_000), b"")
        .unwrap();
    decide(
        &bob_c,
        &bob,
        Action::Decline {
            message: second.id.into(),
        },
    )
    .unwrap();
    // Metrics are the operator's: not on the public API, on their own listener.
    assert_eq!(raw(&node.url, "GET", "/metrics", None, b"").0, 404);
    let (status, text) = raw(&node.metrics_url, "GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    for line in [
        "chit_registrations_total 2",
        r#"chit_logins_total{result="ok"} 2"#,
        r#"chit_logins_total{result="failed"} 1"#,
        "chit_messages_total 1",
        r#"chit_payments_total{kind="offer"} 2"#,
        r#"chit_payment_outcomes_total{outcome="settled"} 1"#,
        r#"chit_payment_outcomes_total{outcome="closed"} 1"#,
        "chit_write_batches_redone_total 0",
        r#"chit_http_connections_shed_total{reason="displaced"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn rails_need_a_verified_linked_account() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (client, me) = node.user("alice");
        let top_up = |amount: &str| {
            client.move_money(&Client::sign(
                &me,
                Action::TopUp {
                    rail: "sandbox".into(),
                    amount: amount.into(),
                },
            ))
        };
        assert_eq!(
            top_up("EUR:5.00").unwrap_err().code(),
            Some("no_linked_account"),
            "{engine:?}"
        );
        let bad = client.link(&Client::sign(
            &me,
            Action::Link {
                rail: "sandbox".into(),
                reference: "DE88370400440532013000".into(),
            },
        ));
        assert_eq!(bad.unwrap_err().code(), Some("account_not_verified"));
        assert_eq!(
            top_up("EUR:5.00").unwrap_err().code(),
            Some("no_linked_account"),
            "a refused account is not stored"
        );
        let linked = client
            .link(&Client::sign(
                &me,
                Action::Link {
                    rail: "sandbox".into(),
                    reference: "gb82 west 1234 5698 7654 32".into(),
                },
            ))
            .unwrap();
        assert_eq!(
            (linked.rail.as_str(), linked.reference.as_str()),
            ("sandbox", "…5432")
        );
        assert_eq!(top_up("EUR:5.00").unwrap().balances[0].balance, "EUR:5.00");
        assert_eq!(
            top_up("EUR:10000.01").unwrap_err().code(),
            Some("limit_exceeded")
        );
        assert_audit_clean(&node);
    }
}

/// Regression: a crash between the ledger accepting an offer and the node recording it left
/// the offer "pending" forever while the money had moved. The expiry worker now repairs the
/// node's state from the ledger (which transfer resolved the hold, and by its code, how).
#[test]
fn an_accept_the_node_never_recorded_is_repaired_from_the_ledger() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (bob_c, _) = node.user("bob");
        let offer = alice_c
            .offer(&alice, &handle("bob"), "EUR:4", in_ms(1_000), b"")
            .unwrap();
        // The ledger half of an accept, as if the node died right after it.
        let pending_id = offer.id.transfer();
        let accept_id = chit_core::TransferId::new(pending_id.as_u128() ^ 0xff).unwrap();
        let results = node
            .node
            .ledger()
            .create_transfers_blocking(vec![chit_ledger::NewTransfer {
                id: accept_id,
                action: chit_ledger::TransferAction::PostPending {
                    pending_id,
                    amount: 400,
                },
                code: chit_node::payments::CODE_OFFER_ACCEPT,
                reference: pending_id.as_u128(),
                linked: false,
            }])
            .unwrap();
        assert!(results[0].is_ok());
        assert_eq!(balance(&bob_c).0, "EUR:4.00");
        // Waiting for the offer's expiry is the point: that is when the worker looks again.
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        assert_eq!(
            node.node.expire_due(10).unwrap(),
            0,
            "{engine:?}: nothing to expire"
        );
        let stored = node
            .node
            .db()
            .read(|c| chit_node::store::payment(c, &offer.id.into()))
            .unwrap()
            .unwrap();
        assert_eq!(stored.part.state, "accepted");
        let update = bob_c.mailbox(0, 10).unwrap().pop().unwrap().message;
        assert_eq!(update.id.as_str(), accept_id.to_string());
        assert_eq!(update.payment.unwrap().state, "accepted");
        update
            .receipt
            .unwrap()
            .verify(&node.node.key().public())
            .unwrap();
        assert_eq!(balance(&alice_c), ("EUR:6.00".into(), "EUR:6.00".into()));
        assert_audit_clean(&node);
    }
}

/// One written form per id: capitals are refused at the door (they name the same ledger
/// transfer as the lowercase id), and the database holds one payment per transfer whatever a
/// repair path might try.
#[test]
fn ids_have_one_written_form_and_one_payment_per_transfer() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (bob_c, bob) = node.user("bob");
        let id = chit_client::new_id();
        let offer = alice_c
            .seal_offer(
                &alice,
                &handle("bob"),
                "EUR:1",
                in_ms(60_000),
                b"",
                &id.as_str().to_uppercase().parse().unwrap(),
            )
            .unwrap();
        let refused = alice_c.post_offer(&offer).unwrap_err();
        assert_eq!(refused.code(), Some("bad_id"), "{engine:?}: {refused:?}");
        let offer = alice_c
            .seal_offer(&alice, &handle("bob"), "EUR:1", in_ms(60_000), b"", &id)
            .unwrap();
        let made = alice_c.post_offer(&offer).unwrap();
        let accept = decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: made.id.as_str().to_uppercase().parse().unwrap(),
            },
        );
        assert_eq!(accept.unwrap_err().code(), Some("bad_id"), "{engine:?}");
        assert_eq!(balance(&alice_c), ("EUR:10.00".into(), "EUR:9.00".into()));
        let copy = node.node.db().write(|c| {
            c.execute(
                "INSERT INTO payments (id, kind, conversation_id, payer, payee, amount, state, \
                 expires_at_ms, body_digest, created_at_ms) \
                 SELECT upper(id), kind, conversation_id, payer, payee, amount, state, \
                 expires_at_ms, body_digest, created_at_ms FROM payments WHERE id = $1",
                &[made.id.as_str().into()],
            )
        });
        assert!(
            copy.is_err(),
            "{engine:?}: a second payment of one transfer was stored"
        );
    }
}
