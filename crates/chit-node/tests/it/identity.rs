//! Registration, certificates, login and authentication failures.

use chit_client::{Client, ClientError, Identity};
use chit_ledger_tests::engines;
use chit_proto::{Handle, IdentitySecret};

use super::*;

#[test]
fn register_issues_a_certificate_the_wallet_verifies_against_the_pinned_key() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let mut client = node.client();
        let info = client.node_info().unwrap();
        assert_eq!(info.node_key, node.node.key().public());
        assert_eq!(info.default_currency, "EUR");
        let alice = Identity::generate(Handle::new("Alice").unwrap());
        let cert = client.register(&alice).unwrap();
        assert_eq!(cert.handle.as_str(), "alice");
        // Retrying the same registration returns the certificate it already has.
        assert_eq!(client.register(&alice).unwrap(), cert);
        // Handles are unique case-insensitively.
        let impostor = Identity::generate(Handle::new("ALICE").unwrap());
        let err = client.register(&impostor).unwrap_err();
        assert_eq!(err.code(), Some("handle_taken"), "{engine:?}");
        // Another user's certificate is checked against the pinned key.
        let mut other = node.client();
        let seen = other.user(&Handle::new("alice").unwrap()).unwrap();
        assert_eq!(seen.encryption_key, alice.encryption.public());
    }
}

#[test]
fn a_wallet_refuses_a_node_whose_key_changed() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let mut client = Client::new(&node.url, Some(IdentitySecret::generate().public()));
    assert!(matches!(client.node_info(), Err(ClientError::Untrusted(_))));
}

#[test]
fn login_failures_all_look_the_same_and_tokens_authenticate() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (client, alice) = node.user("alice");
        assert!(client.token().is_some());
        assert!(client.mailbox(0, 10).unwrap().is_empty());
        // Wrong key for a real handle, and an unknown handle: the same generic answer.
        let wrong_key = Identity {
            identity: IdentitySecret::generate(),
            ..Identity::generate(alice.handle.clone())
        };
        let e1 = node.client().login(&wrong_key).unwrap_err();
        let e2 = node
            .client()
            .login(&Identity::generate(Handle::new("nobody").unwrap()))
            .unwrap_err();
        for e in [&e1, &e2] {
            assert!(
                matches!(e, ClientError::Api { status: 401, code, message } if code == "unauthorized" && message == "authentication failed"),
                "{e:?}"
            );
        }
        let mut forged = node.client();
        forged.set_token("not-a-real-token".into());
        assert_eq!(
            forged.mailbox(0, 10).unwrap_err().code(),
            Some("unauthorized")
        );
        assert_eq!(
            node.client().mailbox(0, 10).unwrap_err().code(),
            Some("unauthorized")
        );
    }
}

#[test]
fn malformed_requests_get_json_errors() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let json = Some("application/json");
    let cases: Vec<(&[u8], Option<&str>, u16, &str)> = vec![
        (b"{not json", json, 400, "bad_json"),
        (br#"{"handle":"alice","extra":1}"#, json, 400, "bad_json"),
        (br#"{"handle":"a!"}"#, json, 400, "bad_json"),
        (br#"{"handle":"alice"}"#, None, 415, "bad_content_type"),
    ];
    for (body, ct, status, code) in cases {
        let (got, text) = raw(&node.url, "POST", "/v1/login/challenge", ct, body);
        assert_eq!(got, status, "{text}");
        assert!(text.contains(&format!(r#""code":"{code}""#)), "{text}");
    }
    let huge = vec![b'x'; 300 * 1024];
    let (got, text) = raw(&node.url, "POST", "/v1/register", json, &huge);
    assert_eq!(got, 413, "{text}");
    let (got, text) = raw(&node.url, "GET", "/v1/nope", None, b"");
    assert_eq!((got, text.contains("not_found")), (404, true));
}

/// The OpenAPI document is served, is JSON, and every path and method it documents reaches a
/// real handler (never the "no such endpoint" fallback).
#[test]
fn every_documented_operation_exists() {
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    let (status, text) = raw(&node.url, "GET", "/v1/openapi.json", None, b"");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15);
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{handle}", "alice")
                .replace("{id}", "direct:alice:bob");
            let (status, body) = raw(
                &node.url,
                &method.to_uppercase(),
                &concrete,
                Some("application/json"),
                b"{}",
            );
            assert!(
                status != 404 || !body.contains("no such endpoint"),
                "{method} {path} is documented but not served"
            );
            assert!(status != 405, "{method} {path}: method not allowed");
        }
    }
    let (status, _) = raw(&node.url, "GET", "/v1/not-documented", None, b"");
    assert_eq!(status, 404);
}

/// Ends every session: a day and an hour pass.
fn expire_every_session(node: &TestNode) {
    node.clock
        .advance(std::time::Duration::from_secs(25 * 3600));
}

#[test]
fn an_expired_session_gets_the_generic_answer_and_a_wallet_logs_in_again() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (client, _) = node.user("alice");
        let dir = tempfile::tempdir().unwrap();
        let mut wallet = chit_client::wallet::Wallet::register(
            dir.path(),
            &node.url,
            Handle::new("bob").unwrap(),
        )
        .unwrap();
        // Both sessions were used (so the node holds them in memory) before they end.
        client.mailbox(0, 10).unwrap();
        assert!(wallet.sync().unwrap().is_empty());
        expire_every_session(&node);
        let err = client.mailbox(0, 10).unwrap_err();
        assert!(
            matches!(err, ClientError::Api { status: 401, ref code, .. } if code == "unauthorized"),
            "{engine:?}: {err:?}"
        );

        // A wallet on disk notices and logs in again by itself.
        assert!(wallet.sync().unwrap().is_empty());
    }
}

/// Balances and sessions are nobody else's business: the data directory is 0700, its
/// databases (and their write-ahead logs) 0600, also when an older node left them 0644.
#[cfg(unix)]
#[test]
fn the_data_directory_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let node = TestNode::start(chit_ledger_tests::Engine::Sqlite);
    // Registering and logging in wrote to both databases, so their logs exist too.
    node.user("alice");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = node.data_dir();
    assert_eq!(mode(dir), 0o700);
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(".db") {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 4, "node.db, ledger.db and their logs");

    let old = tempfile::tempdir().unwrap();
    let loose = old.path().join("node.db");
    std::fs::write(&loose, b"").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(old.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chit_node::keep_private(old.path()).unwrap();
    assert_eq!((mode(old.path()), mode(&loose)), (0o700, 0o600));
}
