//! The calls socket (`/v1/calls`): the acting POST endpoints, pipelined on one WebSocket, each
//! call answered like its HTTP twin.

use std::collections::HashMap;

use chit_client::Client;
use chit_ledger_tests::engines;
use chit_proto::api::Envelope;
use chit_proto::Action;

use super::payments::{assert_audit_clean, balance, funded};
use super::*;

#[test]
fn pipelined_messages_are_each_stored_once_and_answered_by_number() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = node.user("alice");
        let (bob_c, _) = node.user("bob");
        let bob = Handle::new("bob").unwrap();
        let mut calls = alice_c.calls().unwrap();
        let mut sent = HashMap::new();
        let mut first = None;
        // 200 calls before reading any reply (below the node's 256 in flight).
        for i in 0..200 {
            let text = format!("message {i}");
            let id = chit_client::new_id();
            let request = alice_c
                .seal_say(&alice, &bob, text.as_bytes(), &id)
                .unwrap();
            sent.insert(calls.send("/v1/messages", &request).unwrap(), id);
            first.get_or_insert(request);
        }
        let mut seqs = Vec::new();
        for _ in 0..200 {
            let (number, outcome) = calls.recv::<Envelope>().unwrap();
            let envelope = outcome.unwrap();
            assert_eq!(envelope.id, sent.remove(&number).unwrap(), "{engine:?}");
            seqs.push(envelope.seq);
        }
        assert!(sent.is_empty());
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=200).collect::<Vec<u64>>(),
            "{engine:?}: no gap, no repeat"
        );
        // A retry of a message on the same socket: the stored message, not a new one.
        let first = first.unwrap();
        calls.send("/v1/messages", &first).unwrap();
        let again = calls.recv::<Envelope>().unwrap().1.unwrap();
        assert_eq!(again.id, first.command.id);
        let mailbox = bob_c.mailbox(0, 500).unwrap();
        assert_eq!(mailbox.len(), 200, "{engine:?}");
        assert_eq!(
            mailbox
                .iter()
                .find(|d| d.message.id == again.id)
                .unwrap()
                .message
                .seq,
            again.seq
        );
    }
}

#[test]
fn a_flushed_call_goes_out_without_reading_a_reply() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = node.user("alice");
        let (bob_c, _) = node.user("bob");
        let bob = Handle::new("bob").unwrap();
        let mut calls = alice_c.calls().unwrap();
        let id = chit_client::new_id();
        let request = alice_c.seal_say(&alice, &bob, b"flushed", &id).unwrap();
        calls.send("/v1/messages", &request).unwrap();
        // Queued calls wait for a recv or a flush; this one must arrive with neither a recv
        // nor another call after it.
        calls.flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !bob_c
            .mailbox(0, 10)
            .unwrap()
            .iter()
            .any(|d| d.message.id == id)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{engine:?}: the flushed call never reached the node"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn offers_requests_and_decisions_work_over_the_socket_as_over_http() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = funded(&node, "alice", "EUR:20.00");
        let (mut bob_c, bob) = node.user("bob");
        let expires = chit_client::now_ms() + 3_600_000;
        let (mut alice_calls, mut bob_calls) = (alice_c.calls().unwrap(), bob_c.calls().unwrap());

        let id = chit_client::new_id();
        let offer = alice_c
            .seal_offer(&alice, &bob.handle, "EUR:5", expires, b"lunch", &id)
            .unwrap();
        let n = alice_calls.send("/v1/offers", &offer).unwrap();
        let (m, outcome) = alice_calls.recv::<Envelope>().unwrap();
        assert_eq!((m, outcome.unwrap().id), (n, id.into()));
        let accept = Client::sign(&bob, Action::Accept { message: id.into() });
        bob_calls.send("/v1/commands", &accept).unwrap();
        let (_, update) = bob_calls.recv::<Envelope>().unwrap();
        let update = update.unwrap();
        assert_eq!(update.payment.unwrap().state, "accepted", "{engine:?}");
        assert!(update.receipt.is_some());
        assert_eq!(balance(&bob_c).0, "EUR:5.00", "{engine:?}");

        // Bob asks, Alice pays, both over the socket.
        let id = chit_client::new_id();
        let request = bob_c
            .seal_request(&bob, &alice.handle, "EUR:2", expires, b"coffee", &id)
            .unwrap();
        bob_calls.send("/v1/requests", &request).unwrap();
        bob_calls.recv::<Envelope>().unwrap().1.unwrap();
        let pay = Client::sign(
            &alice,
            Action::Pay {
                message: id.into(),
                at_ms: None,
            },
        );
        alice_calls.send("/v1/commands", &pay).unwrap();
        let (_, paid) = alice_calls.recv::<Envelope>().unwrap();
        assert_eq!(paid.unwrap().payment.unwrap().state, "paid", "{engine:?}");
        assert_eq!(balance(&alice_c).0, "EUR:13.00", "{engine:?}");
        assert_audit_clean(&node);
    }
}

#[test]
fn bad_calls_get_the_http_error_and_the_socket_stays_open() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_c, alice) = node.user("alice");
        node.user("bob");
        let bob = Handle::new("bob").unwrap();
        let mut calls = alice_c.calls().unwrap();
        let code = |calls: &mut chit_client::Calls| {
            let (_, outcome) = calls.recv::<serde_json::Value>().unwrap();
            let e = outcome.unwrap_err();
            (
                match &e {
                    chit_client::ClientError::Api { status, .. } => *status,
                    _ => 0,
                },
                e.code().unwrap_or_default().to_owned(),
            )
        };
        // A forged signature: the command of one message with another's signature.
        let mut forged = alice_c
            .seal_say(&alice, &bob, b"x", &chit_client::new_id())
            .unwrap();
        let other = alice_c
            .seal_say(&alice, &bob, b"y", &chit_client::new_id())
            .unwrap();
        forged.signature = other.signature;
        calls.send("/v1/messages", &forged).unwrap();
        assert_eq!(
            code(&mut calls),
            (400, "bad_signature".into()),
            "{engine:?}"
        );
        // An unknown field in the body, a path that cannot be called, an unknown handle.
        calls
            .send("/v1/messages", &serde_json::json!({"surprise": 1}))
            .unwrap();
        assert_eq!(code(&mut calls), (400, "bad_json".into()));
        calls.send("/v1/balance", &serde_json::json!({})).unwrap();
        assert_eq!(code(&mut calls), (404, "not_found".into()));
        let nobody = Handle::new("nobody").unwrap();
        let to_nobody = Client::sign(
            &alice,
            Action::Say {
                to: nobody,
                body_digest: "x".into(),
            },
        );
        calls
            .send(
                "/v1/messages",
                &serde_json::json!({"command": to_nobody.command, "signature": to_nobody.signature, "body": forged.body}),
            )
            .unwrap();
        assert_eq!(code(&mut calls), (404, "unknown_handle".into()));
        // Frames that are not calls: answered without a number.
        let url = format!(
            "{}/v1/calls?token={}",
            node.url.replacen("http://", "ws://", 1),
            alice_c.token().unwrap()
        );
        let (mut socket, _) = tungstenite::connect(url.as_str()).unwrap();
        socket
            .send(tungstenite::Message::Binary(b"{}".to_vec().into()))
            .unwrap();
        let reply: serde_json::Value =
            serde_json::from_str(socket.read().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(reply["body"]["error"]["code"], "bad_call", "a binary frame");
        for frame in ["not json", r#"{"call": 7, "path": "/v1/messages"}"#] {
            socket
                .send(tungstenite::Message::Text(frame.into()))
                .unwrap();
            let reply: serde_json::Value =
                serde_json::from_str(socket.read().unwrap().to_text().unwrap()).unwrap();
            assert_eq!(reply["status"], 400, "{frame}");
            assert_eq!(reply["body"]["error"]["code"], "bad_call", "{frame}");
        }
        // Nothing was stored, and the first socket still works.
        assert!(node.client().mailbox(0, 10).is_err(), "not logged in");
        let ok = alice_c
            .seal_say(&alice, &bob, b"fine", &chit_client::new_id())
            .unwrap();
        calls.send("/v1/messages", &ok).unwrap();
        let (_, outcome) = calls.recv::<Envelope>().unwrap();
        assert_eq!(
            outcome.unwrap().seq,
            1,
            "{engine:?}: only the good message was stored"
        );
    }
}

#[test]
fn a_socket_does_not_outlive_its_session() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let (mut alice_c, alice) = node.user("alice");
    node.user("bob");
    let bob = Handle::new("bob").unwrap();
    let mut calls = alice_c.calls().unwrap();
    node.clock
        .advance(std::time::Duration::from_secs(25 * 3600));
    let request = alice_c
        .seal_say(&alice, &bob, b"late", &chit_client::new_id())
        .unwrap();
    calls.send("/v1/messages", &request).unwrap();
    let (_, outcome) = calls.recv::<Envelope>().unwrap();
    assert_eq!(outcome.unwrap_err().code(), Some("unauthorized"));
    // Without a live session there is no socket at all.
    let mut stranger = node.client();
    stranger.set_token(alice_c.token().unwrap().to_owned());
    assert!(stranger.calls().is_err());
}
