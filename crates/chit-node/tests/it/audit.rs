//! `chit admin audit`'s checks: clean after real traffic on every engine; each kind of damage
//! to the stored state is named.

use chit_client::Client;
use chit_ledger_tests::engines;
use chit_node::db::Value;
use chit_proto::Action;

use super::payments::{decide, funded, handle, in_ms};
use super::*;

fn audit(node: &TestNode) -> chit_node::audit::NodeAudit {
    chit_node::audit::audit(
        node.node.db(),
        node.node.ledger(),
        &node.node.key().public(),
    )
    .unwrap()
}

#[test]
fn the_audit_is_clean_after_traffic_and_names_each_kind_of_damage() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (mut bob_c, bob) = node.user("bob");
        alice_c.say(&alice, &handle("bob"), b"hi").unwrap();
        let accepted = alice_c
            .offer(&alice, &handle("bob"), "EUR:5", in_ms(60_000), b"")
            .unwrap();
        decide(
            &bob_c,
            &bob,
            Action::Accept {
                message: accepted.id.into(),
            },
        )
        .unwrap();
        let declined = alice_c
            .offer(&alice, &handle("bob"), "EUR:2", in_ms(60_000), b"")
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
            .request(&bob, &handle("alice"), "EUR:3", in_ms(60_000), b"")
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
        decide(
            &bob_c,
            &bob,
            Action::Refund {
                message: invoice.id.into(),
            },
        )
        .unwrap();
        let open = alice_c
            .offer(&alice, &handle("bob"), "EUR:1", in_ms(60_000), b"")
            .unwrap();
        let key = chit_proto::IdentitySecret::generate();
        alice_c
            .manage_key(&Client::sign(
                &alice,
                Action::Grant {
                    key: key.public(),
                    scope: vec!["say".into()],
                    expires_at_ms: in_ms(60_000),
                    label: "audit".into(),
                },
            ))
            .unwrap();

        let clean = audit(&node);
        assert!(
            clean.is_clean(),
            "{engine:?}: {:?} {:?}",
            clean.violations,
            clean.ledger
        );
        assert_eq!(
            (clean.users, clean.payments, clean.api_keys),
            (2, 4, 1),
            "{engine:?}"
        );
        assert!(
            clean.signatures >= 9 && clean.receipts >= 4,
            "{engine:?}: {clean:?}"
        );
        assert!(clean.repairs_pending.is_empty(), "{engine:?}");

        let db = &node.node.db();
        let set = |sql: &str, params: &[Value]| db.write(|c| c.execute(sql, params)).unwrap();
        // A payment the node calls declined whose money was paid out.
        set(
            "UPDATE payments SET state = 'declined' WHERE id = $1",
            &[accepted.id.as_str().into()],
        );
        // A request marked unpaid although the ledger paid it.
        set(
            "UPDATE payments SET state = 'pending' WHERE id = $1",
            &[invoice.id.as_str().into()],
        );
        // A forged command signature on a stored message.
        set(
            "UPDATE messages SET signature = $1 WHERE id = $2",
            &[vec![7u8; 64].into(), open.id.as_str().into()],
        );
        // A certificate swapped between accounts.
        let bobs = db
            .read(|c| c.query_opt("SELECT certificate FROM users WHERE handle = 'bob'", &[]))
            .unwrap()
            .unwrap()
            .text(0)
            .unwrap();
        set(
            "UPDATE users SET certificate = $1 WHERE handle = 'alice'",
            &[bobs.as_str().into()],
        );
        let damaged = audit(&node);
        assert!(!damaged.is_clean());
        let named = |needle: &str| damaged.violations.iter().any(|v| v.contains(needle));
        assert!(
            named(&format!("payment {}: the node says declined", accepted.id)),
            "{damaged:?}"
        );
        assert!(
            named(&format!("payment {}: the node says pending", invoice.id)),
            "{damaged:?}"
        );
        assert!(
            named(&format!("message {}: its command's signature", open.id)),
            "{damaged:?}"
        );
        assert!(
            named("user @alice: certificate names other keys"),
            "{damaged:?}"
        );
        assert_eq!(
            damaged.violations.len(),
            4,
            "{engine:?}: {:?}",
            damaged.violations
        );
    }
}

#[test]
fn the_audit_names_a_payment_whose_amount_is_not_what_the_ledger_moved() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (mut bob_c, bob) = node.user("bob");
        let offer = alice_c
            .offer(&alice, &handle("bob"), "EUR:5", in_ms(60_000), b"")
            .unwrap();
        let invoice = bob_c
            .request(&bob, &handle("alice"), "EUR:3", in_ms(60_000), b"")
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
        assert!(audit(&node).is_clean(), "{engine:?}");

        // Someone edits what the node says a payment was for; the ledger's hold and pay stand.
        let db = node.node.db();
        for (id, minor) in [(&offer.id, 50_000), (&invoice.id, 299)] {
            db.write(|c| {
                c.execute(
                    "UPDATE payments SET amount_minor = $1 WHERE id = $2",
                    &[Value::Int(minor), id.as_str().into()],
                )
            })
            .unwrap();
        }
        let damaged = audit(&node);
        let named = |needle: &str| damaged.violations.iter().any(|v| v.contains(needle));
        assert!(
            named(&format!(
                "payment {}: the node says EUR:500.00, the ledger moved 500",
                offer.id
            )),
            "{engine:?}: {damaged:?}"
        );
        assert!(
            named(&format!(
                "payment {}: the node says EUR:2.99, the ledger moved 300",
                invoice.id
            )),
            "{engine:?}: {damaged:?}"
        );
        assert_eq!(damaged.violations.len(), 2, "{engine:?}: {damaged:?}");
    }
}
