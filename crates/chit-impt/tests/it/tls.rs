//! IMPT over TLS (`chit serve --impt-tls-cert/--impt-tls-key`): the whole protocol runs inside
//! TLS, and nothing IMPT is said to a client that does not speak it.

use std::io::Read;

use chit_ledger_tests::Engine;

use super::conformance::{pair, pay_and_answer};
use super::*;

#[test]
fn a_payment_settles_over_tls_and_the_session_ends_with_close_notify() {
    let gw = Gateway::start_tls(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:20.00"), ALL);
    let bob = gw.user("bob", None, ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    pay_and_answer(
        (&mut a, &bob_t),
        (&mut b, &alice_t),
        ("PAYSND", "5", "0000000042"),
        "PAYACCEPT",
        ("TRANS_SUCCESS", ""),
    );
    assert_eq!(
        bob.client.balances().unwrap().balances[0].balance,
        "EUR:5.00"
    );
    // A clean TLS close: rustls reports end of stream only after the server's close_notify.
    a.send("C > DISCONNECT");
    assert_eq!(a.recv_text(), "S > DISCONNECT\r\n");
    a.assert_closed();
}

#[test]
fn a_client_speaking_plain_impt_to_a_tls_listener_hears_no_impt_and_is_closed() {
    let gw = Gateway::start_tls(Engine::Sqlite);
    let mut plain = Raw::tcp(&gw);
    plain.write_all(b"C > INIT [BEGIN] IMPT 1.0\r\n").unwrap();
    // At most a TLS alert comes back, then the end of the stream; never an IMPT line.
    let mut heard = Vec::new();
    match plain.read_to_end(&mut heard) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection closed, got {e}"),
    }
    assert!(
        !String::from_utf8_lossy(&heard).contains("S >"),
        "{heard:?}"
    );
    // The listener still serves TLS clients.
    let alice = gw.user("alice", None, ALL);
    let (mut raw, own) = Raw::login(&gw, &alice);
    assert_eq!(own.len(), 16);
    raw.send("C > DISCONNECT");
    assert_eq!(raw.recv_text(), "S > DISCONNECT\r\n");
}

#[test]
fn a_client_that_never_starts_tls_is_cut_at_the_handshake_timeout() {
    let gw = Gateway::start_tls(Engine::Sqlite);
    let mut silent = Raw::tcp(&gw);
    // The read timeout (10 s) is far above the handshake timeout (1.5 s): a timeout here means
    // the gateway kept the connection open.
    let mut heard = Vec::new();
    match silent.read_to_end(&mut heard) {
        Ok(_) => assert!(heard.is_empty(), "{heard:?}"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection closed, got {e}"),
    }
}
