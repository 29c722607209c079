//! The golden vectors the web client is checked against (`web/test/vectors.json`): canonical
//! bytes and signatures of every statement a wallet signs or verifies, amounts as the CLI reads
//! them, a sealed body and a key backup. Made here, from chit-proto itself, so the browser code
//! is held to the Rust code and not to a copy of it.
//!
//! This test fails when the file is out of date; `CHIT_WRITE_VECTORS=1 cargo test -p chit-client
//! --test web_vectors` writes it again. What is deterministic (bytes, Ed25519 signatures, key
//! derivations, amounts) must match exactly; what is sealed with fresh randomness (the body, the
//! backup) must open here to what the file says it holds.

use std::path::PathBuf;

use chit_core::{Amount, Currencies, Currency, CurrencyCode};
use chit_proto::api::{body_aad, digest_text, direct_conversation, seal_direct};
use chit_proto::canon::Canon;
use chit_proto::{
    b64, login_bytes, Action, Certificate, Command, CommandId, EncryptionSecret, Handle,
    IdentitySecret, Outcome, Receipt, ReceiptFacts, Registration, SealedBody, Settlement,
};
use serde_json::{json, Value};

const NOTE: &str = "lunch on Friday — 12,50 €";
const PASSPHRASE: &str = "correct horse battery";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/test/vectors.json")
}

fn handle(s: &str) -> Handle {
    Handle::new(s).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn id(n: u8) -> CommandId {
    format!("0190f5d2a1b2{:020x}", n).parse().unwrap()
}

/// A statement's bytes and the signature over them.
fn signed(bytes: Vec<u8>, key: &IdentitySecret) -> Value {
    json!({ "bytes": hex(&bytes), "signature": key.sign(&bytes) })
}

fn commands(alice: &IdentitySecret) -> Value {
    let bob = handle("bob");
    let grant_key = IdentitySecret::from_seed([7; 32]).public();
    let actions = vec![
        Action::Say {
            to: bob.clone(),
            body_digest: "ZGlnZXN0".into(),
        },
        Action::Offer {
            to: bob.clone(),
            amount: "EUR:12.50".into(),
            expires_at_ms: 1_796_400_000_000,
            body_digest: "ZGlnZXN0".into(),
        },
        Action::Request {
            to: bob,
            amount: "JPY:500".into(),
            expires_at_ms: 1_796_400_000_001,
            body_digest: String::new(),
        },
        Action::Accept {
            message: id(1).into(),
        },
        Action::Decline {
            message: id(2).into(),
        },
        Action::Cancel {
            message: id(3).into(),
        },
        Action::Pay {
            message: id(4).into(),
            at_ms: None,
        },
        Action::Pay {
            message: id(5).into(),
            at_ms: Some(1_796_300_000_000),
        },
        Action::Reject {
            message: id(6).into(),
        },
        Action::Refund {
            message: id(7).into(),
        },
        Action::TopUp {
            rail: "sandbox".into(),
            amount: "EUR:100.00".into(),
        },
        Action::CashOut {
            rail: "sandbox".into(),
            amount: "EUR:0.01".into(),
        },
        Action::Link {
            rail: "sandbox".into(),
            reference: "DE89370400440532013000".into(),
        },
        Action::Grant {
            key: grant_key,
            scope: vec!["send".into(), "say".into()],
            expires_at_ms: 1_796_500_000_000,
            label: "shop till".into(),
        },
        Action::Revoke { key: grant_key },
    ];
    actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            let command = Command {
                id: id(100 + i as u8),
                actor: handle("alice"),
                action,
            };
            let mut v = signed(command.signing_bytes(), alice);
            v["command"] = serde_json::to_value(&command).unwrap();
            v
        })
        .collect()
}

fn receipts(node: &IdentitySecret) -> Value {
    let facts = |outcome, reason: Option<&str>| ReceiptFacts {
        id: id(200).into(),
        payer: handle("alice"),
        payee: handle("bob"),
        amount: "EUR:12.50".into(),
        time_ms: 1_796_340_884_207,
        message_id: id(1).into(),
        body_digest: "ZGlnZXN0".into(),
        settlement: Settlement {
            kind: "offer".into(),
            outcome,
            reason: reason.map(str::to_owned),
            transfers: vec![id(1).to_string(), id(200).to_string()],
        },
    };
    let mut out: Vec<Value> = [
        facts(Outcome::Accepted, None),
        facts(Outcome::Failed, Some("insufficient funds")),
    ]
    .into_iter()
    .map(|f| serde_json::to_value(Receipt::issue(f, node)).unwrap())
    .collect();
    // The first form, as nodes signed it before receipts said what happened.
    let old = Canon::new("chit/v1/receipt")
        .str(id(201).as_str())
        .str("alice")
        .str("bob")
        .str("EUR:5.00")
        .u64(7)
        .str(id(2).as_str())
        .str("ZGlnZXN0")
        .finish();
    out.push(json!({
        "transfer_id": id(201), "payer": "alice", "payee": "bob", "amount": "EUR:5.00",
        "time_ms": 7, "message_id": id(2), "body_digest": "ZGlnZXN0",
        "signature": node.sign(&old),
    }));
    for r in &out {
        let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
        receipt.verify(&node.public()).unwrap();
    }
    Value::Array(out)
}

fn amounts() -> Value {
    let eur = Currency::new(CurrencyCode::new("EUR").unwrap(), 2).unwrap();
    let jpy = Currency::new(CurrencyCode::new("JPY").unwrap(), 0).unwrap();
    let currencies = Currencies::new(vec![eur, jpy], eur.code()).unwrap();
    let inputs = [
        "5",
        "5.5",
        "12.50",
        "0.01",
        "EUR:5",
        "EUR:12.5",
        "JPY:500",
        "1.234",
        "-5",
        "abc",
        "0",
        "0.00",
        "",
        "5.",
        ".5",
        "1e3",
        "EUR:EUR:5",
        "USD:5",
        "eur:5",
        "JPY:1.5",
        "1,50",
        "92233720368547758.07",
        "92233720368547758.08",
        " 5",
        "5 ",
        "+5",
        "00012.30",
    ];
    inputs
        .iter()
        .map(|input| match Amount::parse_positive(input, &currencies) {
            Ok(a) => json!({ "input": input, "canonical": a.to_string(), "minor": a.minor().to_string() }),
            Err(e) => json!({ "input": input, "error": e.to_string() }),
        })
        .collect()
}

/// The deterministic half of the file: everything that must match byte for byte.
fn deterministic() -> Value {
    let alice = IdentitySecret::from_seed([1; 32]);
    let alice_enc = EncryptionSecret::from_seed([2; 32]);
    let node = IdentitySecret::from_seed([9; 32]);
    let registration = Registration {
        handle: handle("alice"),
        identity_key: alice.public(),
        encryption_key: alice_enc.public(),
        created_at_ms: 1_796_340_884_207,
    };
    let certificate = Certificate::issue(&registration, 1_796_340_884_300, &node);
    let challenge = [5u8; 32];
    let conversation = direct_conversation(&handle("alice"), &handle("bob"));
    json!({
        "keys": {
            "identity_seed": b64::encode(&[1; 32]),
            "identity_key": alice.public(),
            "identity_fingerprint": alice.public().fingerprint(),
            "encryption_seed": b64::encode(&[2; 32]),
            "encryption_key": alice_enc.public(),
            "node_seed": b64::encode(&[9; 32]),
            "node_key": node.public(),
        },
        "registration": {
            "registration": registration,
            "signed": signed(registration.signing_bytes(), &alice),
        },
        "certificate": certificate,
        "login": {
            "handle": "alice",
            "challenge": b64::encode(&challenge),
            "signed": signed(login_bytes(&handle("alice"), &challenge), &alice),
        },
        "commands": commands(&alice),
        "receipts": receipts(&node),
        "body_aad": {
            "message_id": id(42),
            "conversation": conversation,
            "sender": "alice",
            "bytes": hex(&body_aad(id(42).as_str(), &conversation, &handle("alice"))),
        },
        "amounts": amounts(),
        "api_token": {
            "token": "chit_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "key": chit_proto::api_token_key("chit_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").public(),
        },
    })
}

/// A body sealed to alice and bob (bob's encryption seed is `[3; 32]`) and its digest.
fn sealed() -> Value {
    let alice = EncryptionSecret::from_seed([2; 32]);
    let bob = EncryptionSecret::from_seed([3; 32]);
    let body = seal_direct(
        NOTE.as_bytes(),
        id(42).as_str(),
        (&handle("alice"), alice.public()),
        (&handle("bob"), bob.public()),
    )
    .unwrap();
    json!({
        "bob_encryption_seed": b64::encode(&[3; 32]),
        "message_id": id(42),
        "sender": "alice",
        "to": "bob",
        "text": NOTE,
        "body": body,
        "digest": digest_text(&body),
    })
}

/// A CLI backup (`chit key export`) of alice's keys.
fn backup() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let keys = json!({
        "handle": "alice",
        "node_url": "http://127.0.0.1:8080",
        "node_key": IdentitySecret::from_seed([9; 32]).public(),
        "identity_seed": b64::encode(&[1; 32]),
        "encryption_seed": b64::encode(&[2; 32]),
    });
    std::fs::write(dir.path().join("keys.json"), keys.to_string()).unwrap();
    let backup = chit_client::backup::export(dir.path(), PASSPHRASE).unwrap();
    json!({ "passphrase": PASSPHRASE, "backup": backup, "keys": keys })
}

/// Checks the parts made with fresh randomness: they must still open to what they claim.
fn check_random_parts(file: &Value) {
    let s = &file["sealed"];
    let body: SealedBody = serde_json::from_value(s["body"].clone()).unwrap();
    assert_eq!(digest_text(&body), s["digest"], "the sealed body's digest");
    let conversation = direct_conversation(&handle("alice"), &handle("bob"));
    let aad = body_aad(id(42).as_str(), &conversation, &handle("alice"));
    for (me, seed) in [("alice", 2), ("bob", 3)] {
        let opened = body
            .open(me, &EncryptionSecret::from_seed([seed; 32]), &aad)
            .unwrap();
        assert_eq!(String::from_utf8(opened).unwrap(), s["text"]);
    }
    let b = &file["backup"];
    let backup = serde_json::from_value(b["backup"].clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("w");
    chit_client::backup::import(&into, &backup, PASSPHRASE).unwrap();
    let keys: Value =
        serde_json::from_slice(&std::fs::read(into.join("keys.json")).unwrap()).unwrap();
    assert_eq!(keys, b["keys"]);
}

#[test]
fn the_web_clients_golden_vectors_are_up_to_date() {
    let path = path();
    let fresh = deterministic();
    if std::env::var_os("CHIT_WRITE_VECTORS").is_some() {
        let mut file = fresh.clone();
        file["sealed"] = sealed();
        file["backup"] = backup();
        let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let stale = "web/test/vectors.json is out of date with chit-proto: \
                 CHIT_WRITE_VECTORS=1 cargo test -p chit-client --test web_vectors";
    let text = std::fs::read_to_string(&path).expect(stale);
    let file: Value = serde_json::from_str(&text).expect(stale);
    for (name, part) in fresh.as_object().unwrap() {
        assert_eq!(&file[name], part, "{stale} (part {name:?} differs)");
    }
    check_random_parts(&file);
}
