//! What strangers can do without a session is budgeted per address, never per handle: a
//! stranger cannot lock an owner out, and a valid login is never refused by a limit meant for
//! guesses. Challenges are written nowhere; expired sessions are swept.

use chit_ledger_tests::engines;
use chit_node::throttle::{Budget, Budgets};
use chit_proto::api::{ChallengeResponse, LoginRequest};
use chit_proto::{b64, login_bytes};

use super::*;

/// Asks for a challenge for `handle` from `from`: the challenge, or the error's status and body.
fn challenge_from(node: &TestNode, from: &str, handle: &str) -> Result<String, (u16, String)> {
    let body = format!(r#"{{"handle":"{handle}"}}"#);
    match raw_from(
        &node.url,
        from,
        "POST",
        "/v1/login/challenge",
        body.as_bytes(),
    ) {
        (200, text) => Ok(serde_json::from_str::<ChallengeResponse>(&text)
            .unwrap()
            .challenge),
        other => Err(other),
    }
}

/// Logs `me` in from `from` with a key of `signer`'s: (status, body).
fn login_from(node: &TestNode, from: &str, me: &Identity, signer: &Identity) -> (u16, String) {
    let challenge = challenge_from(node, from, me.handle.as_str()).expect("a challenge");
    let bytes = b64::decode(&challenge).unwrap();
    let request = LoginRequest {
        handle: me.handle.clone(),
        challenge,
        signature: signer.identity.sign(&login_bytes(&me.handle, &bytes)),
    };
    let body = serde_json::to_vec(&request).unwrap();
    raw_from(&node.url, from, "POST", "/v1/login", &body)
}

#[test]
fn a_stranger_cannot_lock_an_owner_out() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (_, alice) = node.user("alice");
        let forger = Identity::generate(alice.handle.clone());

        // The stranger guesses from 127.0.8.1 until the address's failure budget is spent.
        let statuses: Vec<u16> = (0..25)
            .map(|_| login_from(&node, "127.0.8.1", &alice, &forger).0)
            .collect();
        assert_eq!(&statuses[..20], &[401; 20], "{engine:?}");
        assert_eq!(statuses[24], 429, "{engine:?}: {statuses:?}");
        // Alice, from her own address, logs in at once.
        let (status, body) = login_from(&node, "127.0.8.2", &alice, &alice);
        assert_eq!(status, 200, "{engine:?}: {body}");
        // Even from the stranger's address (a shared NAT), her valid signature gets through.
        let (status, body) = login_from(&node, "127.0.8.1", &alice, &alice);
        assert_eq!(status, 200, "{engine:?}: {body}");
        // A challenge opens one session only.
        let challenge = challenge_from(&node, "127.0.8.2", "alice").unwrap();
        let bytes = b64::decode(&challenge).unwrap();
        let request = serde_json::to_vec(&LoginRequest {
            handle: alice.handle.clone(),
            challenge,
            signature: alice.identity.sign(&login_bytes(&alice.handle, &bytes)),
        })
        .unwrap();
        let once = raw_from(&node.url, "127.0.8.2", "POST", "/v1/login", &request);
        let twice = raw_from(&node.url, "127.0.8.2", "POST", "/v1/login", &request);
        assert_eq!((once.0, twice.0), (200, 401), "{engine:?}");

        // Challenges in alice's name from one address run out for that address only.
        let refused = (0..70)
            .map(|_| challenge_from(&node, "127.0.8.3", "alice"))
            .find_map(Result::err)
            .expect("the address's budget ends");
        assert_eq!(refused.0, 429, "{engine:?}");
        assert!(refused.1.contains("try again in"), "{}", refused.1);
        assert!(challenge_from(&node, "127.0.8.4", "alice").is_ok());
        let (status, _) = login_from(&node, "127.0.8.4", &alice, &alice);
        assert_eq!(status, 200, "{engine:?}");
    }
}

#[test]
fn registrations_and_lookups_are_budgeted_per_address() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let one = Budget {
        burst: 3,
        per_second: 0.001,
    };
    node.node.throttles().set(Budgets {
        registrations: one,
        lookups: one,
        ..Budgets::default()
    });
    // The SDK client is 127.0.0.1: three registrations, then the address waits.
    let users: Vec<Identity> = (0..4)
        .map(|i| Identity::generate(Handle::new(&format!("user{i}")).unwrap()))
        .collect();
    for me in &users[..3] {
        node.client().register(me).unwrap();
    }
    let refused = node.client().register(&users[3]).unwrap_err();
    assert_eq!(refused.code(), Some("rate_limited"), "{refused:?}");
    // A retry of a registration that was made still gets its certificate.
    node.client().register(&users[0]).unwrap();

    for _ in 0..3 {
        assert_eq!(raw(&node.url, "GET", "/v1/users/user0", None, b"").0, 200);
    }
    let (status, body) = raw(&node.url, "GET", "/v1/users/user0", None, b"");
    assert_eq!(status, 429, "{body}");
    let (status, _) = raw_from(&node.url, "127.0.9.1", "GET", "/v1/users/user0", b"");
    assert_eq!(status, 200);
}

#[test]
fn expired_sessions_are_swept() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (client, _) = node.user("alice");
        assert!(client.mailbox(0, 1).is_ok());
        assert_eq!(node.node.sweep_sessions(100).unwrap(), 0, "{engine:?}");
        node.clock.advance(std::time::Duration::from_millis(
            chit_node::auth::login::SESSION_TTL_MS + 1,
        ));
        assert_eq!(node.node.sweep_sessions(100).unwrap(), 1, "{engine:?}");
        assert_eq!(
            client.mailbox(0, 1).unwrap_err().code(),
            Some("unauthorized")
        );
    }
}
