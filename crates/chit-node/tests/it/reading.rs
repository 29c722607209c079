//! Looking back (issue 14): the statement lists every money movement (top-ups and cash-outs
//! too) so the balance after each line can be known; conversations come back as a list with
//! unread counts and as pages with each payment's state now; read markers are the node's.

use chit_client::{Client, Page};
use chit_ledger_tests::engines;
use chit_proto::Action;

use super::payments::{balance, decide, funded, handle, in_ms};
use super::*;

#[test]
fn the_statement_has_every_money_movement_and_adds_up_to_the_balance() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:100.00");
        let (mut bob_c, bob) = node.user("bob");
        let lunch = alice_c
            .offer(&alice, &handle("bob"), "EUR:12.50", in_ms(60_000), b"")
            .unwrap();
        let declined = alice_c
            .offer(&alice, &handle("bob"), "EUR:3", in_ms(60_000), b"")
            .unwrap();
        decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: lunch.id.into(),
            },
        )
        .unwrap();
        decide(
            &bob_c,
            &bob,
            Action::Decline {
                message: declined.id.into(),
            },
        )
        .unwrap();
        let invoice = bob_c
            .request(&bob, &handle("alice"), "EUR:7", in_ms(60_000), b"")
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
        alice_c
            .move_money(&Client::sign(
                &alice,
                Action::CashOut {
                    rail: "sandbox".into(),
                    amount: "EUR:30.00".into(),
                },
            ))
            .unwrap();

        let statement = alice_c.statement(None, None, 500).unwrap();
        assert_eq!(statement.currency, "EUR");
        let lines: Vec<_> = statement
            .entries
            .iter()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.direction.as_str(),
                    e.amount.as_str(),
                    e.moves_balance,
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("top_up", "in", "EUR:100.00", true),
                ("hold", "out", "EUR:12.50", false),
                ("hold", "out", "EUR:3.00", false),
                ("payment", "out", "EUR:12.50", true),
                ("release", "out", "EUR:3.00", false),
                ("payment", "out", "EUR:7.00", true),
                ("cash_out", "out", "EUR:30.00", true),
            ],
            "{engine:?}"
        );
        let e = &statement.entries;
        assert_eq!(e[0].rail.as_deref(), Some("sandbox"));
        assert_eq!(e[3].counterparty, Some(handle("bob")));
        assert_eq!(e[3].payment, Some(lunch.id.into()));
        assert_eq!(e[5].payment, Some(invoice.id.into()));
        assert!(e.windows(2).all(|w| w[0].cursor < w[1].cursor));
        // The lines that move the balance add up to it.
        let sum: i64 = e
            .iter()
            .filter(|e| e.moves_balance)
            .map(|e| {
                let minor = chit_core::Amount::parse(&e.amount, &chit_core::Currencies::default())
                    .unwrap()
                    .minor() as i64;
                if e.direction == "in" {
                    minor
                } else {
                    -minor
                }
            })
            .sum();
        assert_eq!(sum, 10_000 - 1_250 - 700 - 3_000, "in cents");
        assert_eq!(balance(&alice_c).0, "EUR:50.50");
        // Paging continues after the cursor; bad pages are refused.
        let rest = alice_c
            .statement(Some("EUR"), Some(e[4].cursor), 500)
            .unwrap();
        assert_eq!(rest.entries, e[5..].to_vec());
        assert_eq!(
            alice_c.statement(Some("XXX"), None, 5).unwrap_err().code(),
            Some("bad_currency")
        );
        assert_eq!(
            alice_c.statement(None, None, 0).unwrap_err().code(),
            Some("bad_limit")
        );
        // Bob's side names Alice.
        let bob_lines = bob_c.statement(None, None, 100).unwrap().entries;
        assert!(bob_lines
            .iter()
            .all(|l| l.counterparty == Some(handle("alice")) && l.direction == "in"));
    }
}

#[test]
fn conversations_list_page_and_keep_read_markers() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:10.00");
        let (mut bob_c, bob) = node.user("bob");
        let (mut carol_c, carol) = node.user("carol");
        alice_c.say(&alice, &handle("bob"), b"hi bob").unwrap();
        carol_c.say(&carol, &handle("alice"), b"hi alice").unwrap();
        let offer = alice_c
            .offer(&alice, &handle("bob"), "EUR:2", in_ms(60_000), b"coffee")
            .unwrap();
        bob_c.say(&bob, &handle("alice"), b"thanks").unwrap();

        let list = alice_c.conversations(50).unwrap().conversations;
        let ids: Vec<_> = list.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["direct:alice:bob", "direct:alice:carol"],
            "{engine:?}: newest first"
        );
        assert_eq!(list[0].members, [handle("alice"), handle("bob")]);
        assert_eq!(list[0].unread, 1, "only others' messages count");
        assert_eq!(list[1].unread, 1);
        assert_eq!(list[0].last.sender, handle("bob"));

        decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: offer.id.into(),
            },
        )
        .unwrap();
        let page = alice_c
            .conversation("direct:alice:bob", Page::Newest, 100)
            .unwrap();
        let kinds: Vec<_> = page.items.iter().map(|i| i.message.kind.as_str()).collect();
        assert_eq!(kinds, ["text", "offer", "text", "payment_update"]);
        assert_eq!(
            page.items[1].state.as_deref(),
            Some("accepted"),
            "the state now"
        );
        assert_eq!(
            page.items[1].message.payment.as_ref().unwrap().state,
            "pending"
        );
        assert!(page
            .items
            .windows(2)
            .all(|w| w[0].message.seq < w[1].message.seq));
        let older = alice_c
            .conversation("direct:alice:bob", Page::Before(3), 1)
            .unwrap();
        assert_eq!(older.items.len(), 1);
        assert_eq!(older.items[0].message.seq, 2);
        let newer = alice_c
            .conversation("direct:alice:bob", Page::After(2), 100)
            .unwrap();
        assert_eq!(newer.items.len(), 2);

        // Markers move forward only, never past the end, and every device sees them.
        assert_eq!(alice_c.mark_read("direct:alice:bob", 3).unwrap(), 3);
        assert_eq!(alice_c.mark_read("direct:alice:bob", 1).unwrap(), 3);
        assert_eq!(alice_c.mark_read("direct:alice:bob", 99).unwrap(), 4);
        let mut other_device = node.client();
        other_device.login(&alice).unwrap();
        let list = other_device.conversations(50).unwrap().conversations;
        assert_eq!((list[0].read_seq, list[0].unread), (4, 0));

        // Not a member: the same answer as no such conversation.
        for id in ["direct:alice:bob", "direct:bob:zed"] {
            let e = carol_c.conversation(id, Page::Newest, 10).unwrap_err();
            assert_eq!(e.code(), Some("unknown_conversation"), "{id}");
            assert_eq!(
                carol_c.mark_read(id, 1).unwrap_err().code(),
                Some("unknown_conversation")
            );
        }
        assert_eq!(
            alice_c.conversations(0).unwrap_err().code(),
            Some("bad_limit")
        );
        assert_eq!(alice_c.settings().unwrap().auto_accept, "off");
        alice_c.set_auto_accept("contacts").unwrap();
        assert_eq!(alice_c.settings().unwrap().auto_accept, "contacts");
    }
}
