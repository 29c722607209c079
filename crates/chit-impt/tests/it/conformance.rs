//! One test per PDU and per edge of the state table; every illegal message closes the
//! connection after the generic error.

use chit_impt::codec::{Kind, Pdu};
use chit_impt::gateway::base64_standard_encode;
use chit_ledger_tests::Engine;

use super::*;

const ILLEGAL: &str = "S > ERR [FINAL] \"illegal message\"\r\n";
const AUTH_ERROR: &str = "S > ERR_INIT [FINAL] - \"authentication error\"\r\n";

/// Balance text of a user, from the HTTP API.
fn balance(user: &User) -> String {
    user.client.balances().unwrap().balances[0].balance.clone()
}

#[test]
fn handshake_auth_and_disconnect() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let (mut raw, own) = Raw::login(&gw, &alice);
    assert_eq!(own.len(), 16);
    assert!(own.bytes().all(|b| b.is_ascii_lowercase()));
    raw.send("C > DISCONNECT");
    assert_eq!(raw.recv_text(), "S > DISCONNECT\r\n");
    raw.assert_closed();
}

#[test]
fn every_illegal_message_gets_the_generic_error_and_a_close() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let pay = "C > PAYSND [BEGIN] rieoslfbdjlgfdem chit 5 0000000001";
    // (lines to reach the state, the illegal line)
    let before_init: &[&str] = &[];
    let cases: Vec<(&[&str], String)> = vec![
        (before_init, "C > INIT [FINAL] IMPT 1.0".into()),
        (before_init, "C > INIT [RES] IMPT 1.0".into()),
        (before_init, pay.into()),
        (before_init, "C > AUTH [BEGIN] PLAIN AGFsaWNlAHg=".into()),
        (before_init, "S > INIT [RES] IMPT 1.0".into()),
        (before_init, "hello".into()),
        (before_init, "C > FROB [BEGIN]".into()),
        (before_init, "C > POKE [BEGIN] short".into()),
        (
            &["C > INIT [BEGIN] IMPT 1.0"],
            "C > INIT [BEGIN] IMPT 1.0".into(),
        ),
        (
            &["C > INIT [BEGIN] IMPT 1.0"],
            "C > POKE [BEGIN] rieoslfbdjlgfdem".into(),
        ),
        (
            &["C > INIT [BEGIN] IMPT 1.0", "C > INIT [FINAL] IMPT 1.0"],
            pay.into(),
        ),
        (
            &["C > INIT [BEGIN] IMPT 1.0", "C > INIT [FINAL] IMPT 1.0"],
            "C > AUTH [RES] PLAIN x".into(),
        ),
    ];
    for (setup, bad) in cases {
        let mut raw = Raw::connect(&gw);
        for line in setup {
            raw.send(line);
            if line.starts_with("C > INIT [BEGIN]") {
                raw.recv();
            }
        }
        raw.send(&bad);
        assert_eq!(raw.recv_text(), ILLEGAL, "after {setup:?}: {bad}");
        raw.assert_closed();
    }
    // In the Ready state.
    let auth = format!("C > AUTH [BEGIN] PLAIN {}", plain("alice", &alice.token));
    for bad in [
        "C > INIT [BEGIN] IMPT 1.0",
        auth.as_str(),
        "C > TRANS_SUCCESS [FINAL] rieoslfbdjlgfdem 0000000001",
        "C > PAYACCEPT [BEGIN] rieoslfbdjlgfdem 0000000001",
        "C > PAYSND [RES] rieoslfbdjlgfdem chit 5 0000000001",
        "C > PAYCLOSED [FINAL] rieoslfbdjlgfdem 0000000001 expired",
        "C > DISCONNECT [FINAL]",
        "C > MSG [BEGIN] rieoslfbdjlgfdem \"unterminated",
    ] {
        let (mut raw, _) = Raw::login(&gw, &alice);
        raw.send(bad);
        assert_eq!(raw.recv_text(), ILLEGAL, "{bad}");
        raw.assert_closed();
    }
    // A line longer than the limit, even without its end.
    let mut raw = Raw::connect(&gw);
    raw.send_bytes(&vec![b'C'; chit_impt::codec::LINE_BYTES_MAX + 10]);
    assert_eq!(raw.recv_text(), ILLEGAL);
    raw.assert_closed();
}

#[test]
fn versions_are_negotiated() {
    let gw = Gateway::start(Engine::Sqlite);
    let mut raw = Raw::connect(&gw);
    raw.send("C > INIT [BEGIN] IMPT 1.7");
    assert_eq!(raw.recv_text(), "S > INIT [RES] IMPT 1.0\r\n");
    raw.send("C > INIT [FINAL] IMPT 1.7");
    assert_eq!(
        raw.recv_text(),
        "S > ERR_INIT [FINAL] - \"unsupported version\"\r\n"
    );
    raw.assert_closed();
    let mut raw = Raw::connect(&gw);
    raw.send("C > INIT [BEGIN] SMTP 1.0");
    assert_eq!(
        raw.recv_text(),
        "S > ERR_INIT [FINAL] - \"unsupported version\"\r\n"
    );
    raw.assert_closed();
}

#[test]
fn every_authentication_failure_looks_the_same() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let bob = gw.user("bob", None, ALL);
    // Bob's token revoked.
    bob.client
        .manage_key(&Client::sign(
            &bob.me,
            Action::Revoke {
                key: api_token_key(&bob.token).public(),
            },
        ))
        .unwrap();
    for response in [
        plain("alice", "chit_wrong"),
        plain("alice", &bob.token),
        plain("bob", &bob.token),
        plain("nobody", &alice.token),
        "not-base64!".into(),
        base64_standard_encode(b"alice\0only-two-parts"),
        base64_standard_encode(format!("bob\0alice\0{}", alice.token).as_bytes()),
    ] {
        let mut raw = Raw::connect(&gw);
        raw.handshake();
        raw.send(&format!("C > AUTH [BEGIN] PLAIN {response}"));
        assert_eq!(raw.recv_text(), AUTH_ERROR, "{response}");
        raw.assert_closed();
    }
    let mut raw = Raw::connect(&gw);
    raw.handshake();
    raw.send(&format!(
        "C > AUTH [BEGIN] LOGIN {}",
        plain("alice", &alice.token)
    ));
    assert_eq!(raw.recv_text(), AUTH_ERROR);
    raw.assert_closed();
}

#[test]
fn who_and_poke_find_the_other_user() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let bob = gw.user("bob", None, ALL);
    let (mut a, _) = Raw::login(&gw, &alice);
    let (mut b, _) = Raw::login(&gw, &bob);
    let bob_for_alice = a.who("bob");
    a.send(&format!("C > POKE [BEGIN] {bob_for_alice}"));
    let alice_for_bob = match b.recv() {
        Pdu::Poke {
            kind: Kind::Begin,
            peer,
            handle,
        } => {
            assert_eq!(handle.as_deref(), Some("alice"));
            peer.as_str().to_owned()
        }
        other => panic!("{other:?}"),
    };
    b.send(&format!("C > POKE [RES] {alice_for_bob}"));
    assert_eq!(a.recv_text(), format!("S > POKE [RES] {bob_for_alice}\r\n"));

    // Nobody answers in time: the seed's rule is an initialisation error and a close.
    a.send(&format!("C > POKE [BEGIN] {bob_for_alice}"));
    assert!(matches!(b.recv(), Pdu::Poke { .. }));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_INIT [FINAL] {bob_for_alice} \"user not online\"\r\n")
    );
    a.assert_closed();

    // A user nobody is connected as is not online; an unknown handle is unknown.
    let _carol = gw.user("carol", None, ALL);
    let (mut a, _) = Raw::login(&gw, &alice);
    let carol = a.who("carol");
    a.send(&format!("C > POKE [BEGIN] {carol}"));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_INIT [FINAL] {carol} \"user not online\"\r\n")
    );
    a.assert_closed();
    let (mut a, _) = Raw::login(&gw, &alice);
    a.send("C > WHO [BEGIN] nobody");
    assert_eq!(a.recv_text(), "S > ERR_INIT [FINAL] - \"unknown user\"\r\n");
    a.assert_closed();
    let (mut a, _) = Raw::login(&gw, &alice);
    a.send("C > POKE [BEGIN] abcdefghijklmnop");
    assert_eq!(
        a.recv_text(),
        "S > ERR_INIT [FINAL] abcdefghijklmnop \"unknown user token\"\r\n"
    );
    a.assert_closed();
}

/// Alice and Bob logged in over IMPT, each knowing the other's token.
pub fn pair(gw: &Gateway, alice: &User, bob: &User) -> (Raw, String, Raw, String) {
    let (mut a, _) = Raw::login(gw, alice);
    let (mut b, _) = Raw::login(gw, bob);
    let bob_t = a.who(bob.me.handle.as_str());
    let alice_t = b.who(alice.me.handle.as_str());
    (a, bob_t, b, alice_t)
}

/// One whole IMPT payment between two logged-in sessions. `starter` (with its token for the
/// other user) sends `start` (`PAYSND` or `PAYRQST`) of `amount` under its request id `rid`;
/// `answerer` (with its token for the starter) answers with `answer` (`PAYACCEPT` or
/// `PAYDECLINE`); then each must hear `ending` (`TRANS_SUCCESS`, or `PAYCLOSED` with the state
/// as `reason`) naming the other and its own request id.
pub fn pay_and_answer(
    (starter, answerer_t): (&mut Raw, &str),
    (answerer, starter_t): (&mut Raw, &str),
    (start, amount, rid): (&str, &str, &str),
    answer: &str,
    (ending, reason): (&str, &str),
) {
    starter.send(&format!(
        "C > {start} [BEGIN] {answerer_t} chit {amount} {rid}"
    ));
    let theirs = incoming_request_id(answerer.recv(), start == "PAYSND");
    answerer.send(&format!("C > {answer} [RES] {starter_t} {theirs}"));
    assert_eq!(
        answerer.recv_text(),
        format!("S > {ending} [FINAL] {starter_t} {theirs}{reason}\r\n")
    );
    assert_eq!(
        starter.recv_text(),
        format!("S > {ending} [FINAL] {answerer_t} {rid}{reason}\r\n")
    );
}

pub fn incoming_request_id(pdu: Pdu, expect_send: bool) -> String {
    match (pdu, expect_send) {
        (Pdu::PaySnd { payment, .. }, true) | (Pdu::PayRqst { payment, .. }, false) => {
            payment.request.to_string()
        }
        (other, _) => panic!("{other:?}"),
    }
}

#[test]
fn paysnd_then_payaccept_settles_and_both_get_trans_success() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:20.00"), ALL);
    let bob = gw.user("bob", None, ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 5 0000000042"));
    let seen = b.recv();
    assert_eq!(
        seen,
        Pdu::PaySnd {
            kind: Kind::Begin,
            payment: chit_impt::codec::Payment {
                peer: chit_impt::codec::UserToken::new(&alice_t).unwrap(),
                service: "chit".into(),
                amount: "EUR:5.00".into(),
                request: match &seen {
                    Pdu::PaySnd { payment, .. } => payment.request,
                    _ => unreachable!(),
                },
            }
        }
    );
    let rid = incoming_request_id(seen, true);
    b.send(&format!("C > PAYACCEPT [RES] {alice_t} {rid}"));
    assert_eq!(
        b.recv_text(),
        format!("S > TRANS_SUCCESS [FINAL] {alice_t} {rid}\r\n")
    );
    assert_eq!(
        a.recv_text(),
        format!("S > TRANS_SUCCESS [FINAL] {bob_t} 0000000042\r\n")
    );
    assert_eq!(balance(&alice), "EUR:15.00");
    assert_eq!(balance(&bob), "EUR:5.00");
}

#[test]
fn payrqst_paid_or_declined() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let bob = gw.user("bob", Some("EUR:20.00"), ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    // Alice asks, Bob pays.
    pay_and_answer(
        (&mut a, &bob_t),
        (&mut b, &alice_t),
        ("PAYRQST", "7.50", "0000000001"),
        "PAYACCEPT",
        ("TRANS_SUCCESS", ""),
    );
    assert_eq!(balance(&alice), "EUR:7.50");
    // Alice asks again, Bob declines (a rejection): both told, nothing moves, both stay.
    pay_and_answer(
        (&mut a, &bob_t),
        (&mut b, &alice_t),
        ("PAYRQST", "1", "0000000002"),
        "PAYDECLINE",
        ("PAYCLOSED", " rejected"),
    );
    assert_eq!(balance(&bob), "EUR:12.50");
    // And an offer declined comes back.
    pay_and_answer(
        (&mut b, &alice_t),
        (&mut a, &bob_t),
        ("PAYSND", "2", "0000000003"),
        "PAYDECLINE",
        ("PAYCLOSED", " declined"),
    );
    assert_eq!(balance(&bob), "EUR:12.50");
}

#[test]
fn err_pay_and_err_trans_close_the_session() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:10.00"), ALL);
    let bob = gw.user("bob", None, ALL);
    // Bob has no sandbox account: ERR_PAY.
    let (mut a, bob_t, _b, _) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} sandbox 1 0000000001"));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_PAY [FINAL] {bob_t} \"@bob has no sandbox account\" 0000000001\r\n")
    );
    a.assert_closed();
    let (mut a, bob_t, _b, _) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} PayPal 1 0000000002"));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_PAY [FINAL] {bob_t} \"unknown payment service\" 0000000002\r\n")
    );
    a.assert_closed();
    // More than Alice has: the hold fails, ERR_TRANS.
    let (mut a, bob_t, _b, _) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 11 0000000003"));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_TRANS [FINAL] {bob_t} \"insufficient funds: EUR:10.00 available, EUR:11.00 needed\" 0000000003\r\n")
    );
    a.assert_closed();
    // Accepting something never offered: ERR_PAY.
    let (_a, _, mut b, alice_t) = pair(&gw, &alice, &bob);
    b.send(&format!("C > PAYACCEPT [RES] {alice_t} 1234567890"));
    assert_eq!(
        b.recv_text(),
        format!("S > ERR_PAY [FINAL] {alice_t} \"unknown request\" 1234567890\r\n")
    );
    b.assert_closed();
    assert_eq!(balance(&alice), "EUR:10.00");
}

#[test]
fn a_sandbox_payment_is_funded_from_the_linked_account() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:1.00"), ALL);
    let bob = gw.user("bob", Some("EUR:1.00"), ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} sandbox 30 0000000001"));
    let rid = incoming_request_id(b.recv(), true);
    b.send(&format!("C > PAYACCEPT [RES] {alice_t} {rid}"));
    assert!(matches!(b.recv(), Pdu::TransSuccess { .. }));
    assert!(matches!(a.recv(), Pdu::TransSuccess { .. }));
    assert_eq!(balance(&alice), "EUR:1.00");
    assert_eq!(balance(&bob), "EUR:31.00");
}

#[test]
fn a_key_without_the_scope_cannot_pay() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:10.00"), &["say"]);
    let bob = gw.user("bob", None, ALL);
    let (mut a, bob_t, _b, _) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 1 0000000001"));
    assert_eq!(
        a.recv_text(),
        format!("S > ERR_PAY [FINAL] {bob_t} \"this API key may not do that\" 0000000001\r\n")
    );
    a.assert_closed();
    assert_eq!(balance(&alice), "EUR:10.00");
}

#[test]
fn msg_reaches_the_other_user() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let bob = gw.user("bob", None, ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    a.send(&format!("C > MSG [BEGIN] {bob_t} \"lunch at 12?\""));
    assert_eq!(
        b.recv_text(),
        format!("S > MSG [BEGIN] {alice_t} \"lunch at 12?\"\r\n")
    );
    // Stored sealed: Bob's wallet opens it from his mailbox.
    let items = bob.client.mailbox(0, 10).unwrap();
    let text = items.iter().find(|d| d.message.kind == "text").unwrap();
    assert_eq!(
        Client::open(&bob.me, &text.message).unwrap(),
        b"lunch at 12?"
    );
    assert_eq!(
        text.message.signer,
        Some(api_token_key(&alice.token).public())
    );
}

#[test]
fn timeouts_end_sessions() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    // Handshake never finished.
    let mut raw = Raw::connect(&gw);
    raw.send("C > INIT [BEGIN] IMPT 1.0");
    raw.recv();
    assert_eq!(
        raw.recv_text(),
        "S > ERR_INIT [FINAL] - \"handshake timeout\"\r\n"
    );
    raw.assert_closed();
    // Idle after login.
    let (mut raw, _) = Raw::login(&gw, &alice);
    assert_eq!(raw.recv_text(), "S > DISCONNECT\r\n");
    raw.assert_closed();
}
