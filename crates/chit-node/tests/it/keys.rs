//! API keys: granted by a signed command, acting only within their scope, dead at once when
//! revoked or expired, and never stored as anything that could sign.

use chit_client::{Client, ClientError, Identity};
use chit_ledger_tests::engines;
use chit_proto::api::{ApiKeyInfo, SignedCommand};
use chit_proto::{api_token_key, new_api_token, Action, Command, IdentitySecret};

use super::payments::{balance, funded, handle, in_ms};
use super::*;

fn grant(client: &Client, me: &Identity, key: &IdentitySecret, scope: &[&str]) -> ApiKeyInfo {
    client
        .manage_key(&Client::sign(
            me,
            Action::Grant {
                key: key.public(),
                scope: scope.iter().map(|s| (*s).to_owned()).collect(),
                expires_at_ms: in_ms(3_600_000),
                label: "test".into(),
            },
        ))
        .unwrap()
}

/// A command signed by an API key instead of the identity key.
fn by_key(me: &Identity, key: &IdentitySecret, action: Action) -> SignedCommand {
    let command = Command {
        id: chit_client::new_id(),
        actor: me.handle.clone(),
        action,
    };
    SignedCommand {
        signature: command.sign(key),
        signer: Some(key.public()),
        command,
    }
}

fn forbidden(r: Result<impl std::fmt::Debug, ClientError>) {
    match r {
        Err(ClientError::Api { status: 403, .. }) => {}
        other => panic!("expected 403, got {other:?}"),
    }
}

#[test]
fn a_key_acts_within_its_scope_until_revoked() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:50.00");
        let (bob_c, bob) = node.user("bob");
        let token = new_api_token();
        let key = api_token_key(&token);
        let info = grant(&bob_c, &bob, &key, &["decide"]);
        assert_eq!(info.scope, vec!["decide".to_owned()]);
        assert_eq!(bob_c.api_keys().unwrap().keys, vec![info.clone()]);

        // The key decides on Bob's behalf; the update records which key signed.
        let offer = alice_c
            .offer(&alice, &handle("bob"), "5", in_ms(60_000), b"x")
            .unwrap();
        let accept = by_key(
            &bob,
            &key,
            Action::Accept {
                message: offer.id.into(),
            },
        );
        let update = bob_c.decide(&accept).unwrap();
        assert_eq!(update.payment.unwrap().state, "accepted", "{engine:?}");
        assert_eq!(update.signer, Some(key.public()));

        // Out of scope: money out, cash out, granting more.
        forbidden(bob_c.move_money(&by_key(
            &bob,
            &key,
            Action::CashOut {
                rail: "sandbox".into(),
                amount: "EUR:1.00".into(),
            },
        )));
        forbidden(bob_c.manage_key(&by_key(
            &bob,
            &key,
            Action::Grant {
                key: IdentitySecret::generate().public(),
                scope: vec!["send".into()],
                expires_at_ms: in_ms(60_000),
                label: String::new(),
            },
        )));
        // Someone else's key is not Bob's, whatever it may do for them.
        let alice_key = IdentitySecret::generate();
        grant(&alice_c, &alice, &alice_key, &["decide"]);
        let offer = alice_c
            .offer(&alice, &handle("bob"), "5", in_ms(60_000), b"x")
            .unwrap();
        forbidden(bob_c.decide(&by_key(
            &bob,
            &alice_key,
            Action::Decline {
                message: offer.id.into(),
            },
        )));

        // The token opens a session for Bob only.
        assert!(node
            .block_on(
                node.node
                    .authenticate_token(bob.handle.clone(), token.clone(), local())
            )
            .unwrap()
            .is_some());
        assert!(node
            .block_on(
                node.node
                    .authenticate_token(alice.handle.clone(), token.clone(), local())
            )
            .unwrap()
            .is_none());
        assert!(node
            .block_on(
                node.node
                    .authenticate_token(bob.handle.clone(), new_api_token(), local())
            )
            .unwrap()
            .is_none());

        // Revoked: nothing more, at once.
        let revoked = bob_c
            .manage_key(&Client::sign(&bob, Action::Revoke { key: key.public() }))
            .unwrap();
        assert!(revoked.revoked_at_ms.is_some());
        forbidden(bob_c.decide(&by_key(
            &bob,
            &key,
            Action::Decline {
                message: offer.id.into(),
            },
        )));
        assert!(node
            .block_on(
                node.node
                    .authenticate_token(bob.handle.clone(), token.clone(), local())
            )
            .unwrap()
            .is_none());
        assert_eq!(balance(&alice_c).1, "EUR:40.00");
    }
}

#[test]
fn bad_grants_are_refused() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (client, me) = node.user("carol");
        let key = IdentitySecret::generate().public();
        let attempt = |scope: &[&str], expires_at_ms: u64, label: &str| {
            client.manage_key(&Client::sign(
                &me,
                Action::Grant {
                    key,
                    scope: scope.iter().map(|s| (*s).to_owned()).collect(),
                    expires_at_ms,
                    label: label.into(),
                },
            ))
        };
        for (scope, expires, label, code) in [
            (&["cash_out"][..], in_ms(60_000), "", "bad_scope"),
            (&[][..], in_ms(60_000), "", "bad_scope"),
            (&["say"][..], in_ms(0).saturating_sub(1), "", "bad_expiry"),
            (&["say"][..], in_ms(400 * 86_400_000), "", "bad_expiry"),
            (&["say"][..], in_ms(60_000), "a\nb", "bad_label"),
        ] {
            match attempt(scope, expires, label) {
                Err(ClientError::Api { code: c, .. }) => assert_eq!(c, code),
                other => panic!("{engine:?}: expected {code}, got {other:?}"),
            }
        }
        assert!(client.api_keys().unwrap().keys.is_empty());
        // The database holds the public key only: the token's secret is nowhere.
        let token = new_api_token();
        let secret = api_token_key(&token);
        grant(&client, &me, &secret, &["say"]);
        let rows = node
            .node
            .db()
            .read(|c| c.query("SELECT key FROM api_keys", &[]))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].blob(0).unwrap(),
            secret.public().as_bytes().to_vec()
        );
    }
}

/// The address the tests' IMPT logins come from.
fn local() -> chit_node::throttle::Source {
    chit_node::throttle::Source::of(std::net::Ipv4Addr::LOCALHOST.into())
}
