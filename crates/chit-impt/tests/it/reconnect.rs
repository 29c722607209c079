//! Sessions end and clients come back: an identical retry returns the original outcome (never
//! a second payment, never an error), and what waited for a user while they were away is asked
//! at login, as a wallet's sync shows it.

use chit_impt::codec::Pdu;
use chit_ledger_tests::{engines, Engine};

use super::conformance::{incoming_request_id, pair};
use super::*;

fn balance(user: &User) -> String {
    user.client.balances().unwrap().balances[0].balance.clone()
}

/// What the user can spend: the balance less what open offers hold.
fn available(user: &User) -> String {
    user.client.balances().unwrap().balances[0]
        .available
        .clone()
}

/// Ends a session the polite way; the echo proves every earlier line was answered without an
/// error (an error would have come first and closed the connection).
fn disconnect(raw: &mut Raw) {
    raw.send("C > DISCONNECT");
    assert_eq!(raw.recv_text(), "S > DISCONNECT\r\n");
    raw.assert_closed();
}

#[test]
fn an_identical_retry_after_a_reconnect_returns_the_original_outcome() {
    for engine in engines() {
        let gw = Gateway::start(engine);
        let alice = gw.user("alice", Some("EUR:20.00"), ALL);
        let bob = gw.user("bob", None, ALL);

        // Alice offers while Bob is away, then loses her connection.
        let (mut a, _) = Raw::login(&gw, &alice);
        let bob_t = a.who("bob");
        a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 5 0000000042"));
        disconnect(&mut a);
        assert_eq!(available(&alice), "EUR:15.00", "{engine:?}");

        // The same PAYSND again in a new session (another token for Bob, the amount written
        // another way): the same open offer, not a second hold.
        let (mut a, _) = Raw::login(&gw, &alice);
        let bob_t = a.who("bob");
        a.send(&format!(
            "C > PAYSND [BEGIN] {bob_t} chit EUR:5.00 0000000042"
        ));
        disconnect(&mut a);
        assert_eq!(available(&alice), "EUR:15.00", "{engine:?}: held once");

        // Bob logs in, is asked once, accepts.
        let (mut b, _) = Raw::login(&gw, &bob);
        let seen = b.recv();
        let alice_t = match &seen {
            Pdu::PaySnd { payment, .. } => payment.peer.as_str().to_owned(),
            other => panic!("{engine:?}: {other:?}"),
        };
        let rid = incoming_request_id(seen, true);
        b.send(&format!("C > PAYACCEPT [RES] {alice_t} {rid}"));
        assert_eq!(
            b.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {alice_t} {rid}\r\n")
        );
        disconnect(&mut b);

        // Alice retries once more, having missed the outcome: she is told it.
        let (mut a, _) = Raw::login(&gw, &alice);
        let bob_t = a.who("bob");
        a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 5 0000000042"));
        assert_eq!(
            a.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {bob_t} 0000000042\r\n")
        );
        disconnect(&mut a);

        // The same id for another amount is not a retry.
        let (mut a, _) = Raw::login(&gw, &alice);
        let bob_t = a.who("bob");
        a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 6 0000000042"));
        assert_eq!(
            a.recv_text(),
            format!(
                "S > ERR_PAY [FINAL] {bob_t} \"this request id was used for a different payment\" 0000000042\r\n"
            )
        );
        a.assert_closed();
        assert_eq!(balance(&alice), "EUR:15.00", "{engine:?}");
        assert_eq!(balance(&bob), "EUR:5.00", "{engine:?}");
    }
}

#[test]
fn a_retried_request_that_was_rejected_reads_closed_and_a_failed_offer_can_be_retried() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", Some("EUR:10.00"), ALL);
    let bob = gw.user("bob", Some("EUR:10.00"), ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYRQST [BEGIN] {bob_t} chit 2 0000000007"));
    let rid = incoming_request_id(b.recv(), false);
    b.send(&format!("C > PAYDECLINE [RES] {alice_t} {rid}"));
    assert_eq!(
        a.recv_text(),
        format!("S > PAYCLOSED [FINAL] {bob_t} 0000000007 rejected\r\n")
    );
    disconnect(&mut a);
    let (mut a, _) = Raw::login(&gw, &alice);
    let bob_t = a.who("bob");
    a.send(&format!("C > PAYRQST [BEGIN] {bob_t} chit 2 0000000007"));
    assert_eq!(
        a.recv_text(),
        format!("S > PAYCLOSED [FINAL] {bob_t} 0000000007 rejected\r\n")
    );
    disconnect(&mut a);

    // An offer refused for want of funds made nothing: after a top-up the same id goes through.
    let (mut a, _) = Raw::login(&gw, &alice);
    let bob_t = a.who("bob");
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 15 0000000008"));
    assert!(a.recv_text().starts_with("S > ERR_TRANS [FINAL]"));
    a.assert_closed();
    alice
        .client
        .move_money(&Client::sign(
            &alice.me,
            Action::TopUp {
                rail: "sandbox".into(),
                amount: "EUR:5.00".into(),
            },
        ))
        .unwrap();
    let (mut a, _) = Raw::login(&gw, &alice);
    let bob_t = a.who("bob");
    a.send(&format!("C > PAYSND [BEGIN] {bob_t} chit 15 0000000008"));
    disconnect(&mut a);
    assert_eq!(available(&alice), "EUR:0.00");
}

#[test]
fn what_waited_while_a_user_was_away_is_asked_at_login() {
    for engine in engines() {
        let gw = Gateway::start(engine);
        let mut alice = gw.user("alice", Some("EUR:20.00"), ALL);
        let bob = gw.user("bob", Some("EUR:5.00"), ALL);
        // Bob is away: Alice's wallet offers, and she asks for money over IMPT.
        alice
            .client
            .offer(
                &alice.me,
                &bob.me.handle,
                "3",
                chit_client::now_ms() + 60_000,
                b"for the tickets",
            )
            .unwrap();
        let (mut a, _) = Raw::login(&gw, &alice);
        let bob_t = a.who("bob");
        a.send(&format!("C > PAYRQST [BEGIN] {bob_t} chit 2 0000000001"));

        // Bob logs in: both, oldest first, once.
        let login = |gw: &Gateway| {
            let (mut b, _) = Raw::login(gw, &bob);
            let offer = b.recv();
            let request = b.recv();
            let (offer_t, offer_id) = match &offer {
                Pdu::PaySnd { payment, .. } => {
                    assert_eq!(payment.amount, "EUR:3.00", "{engine:?}");
                    (payment.peer.as_str().to_owned(), payment.request)
                }
                other => panic!("{engine:?}: {other:?}"),
            };
            let request_id = match &request {
                Pdu::PayRqst { payment, .. } => {
                    assert_eq!(payment.amount, "EUR:2.00", "{engine:?}");
                    assert_eq!(payment.peer.as_str(), offer_t);
                    payment.request
                }
                other => panic!("{engine:?}: {other:?}"),
            };
            (b, offer_t, offer_id, request_id)
        };
        let (mut b, _, offer_id, request_id) = login(&gw);
        disconnect(&mut b);
        // Still waiting: asked again, under the same request ids.
        let (mut b, alice_t, offer_again, request_again) = login(&gw);
        assert_eq!((offer_again, request_again), (offer_id, request_id));
        b.send(&format!("C > PAYACCEPT [RES] {alice_t} {offer_id}"));
        assert_eq!(
            b.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {alice_t} {offer_id}\r\n")
        );
        b.send(&format!("C > PAYACCEPT [RES] {alice_t} {request_id}"));
        assert_eq!(
            b.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {alice_t} {request_id}\r\n")
        );
        // Alice's session hears both: her wallet's offer (under an id it was given) and the
        // request it made.
        let told = [a.recv_text(), a.recv_text()];
        assert!(told[0].starts_with(&format!("S > TRANS_SUCCESS [FINAL] {bob_t} ")));
        assert_eq!(
            told[1],
            format!("S > TRANS_SUCCESS [FINAL] {bob_t} 0000000001\r\n")
        );
        disconnect(&mut b);
        // Nothing waits any more: nothing is asked.
        let (mut b, _) = Raw::login(&gw, &bob);
        disconnect(&mut b);
        assert_eq!(balance(&bob), "EUR:6.00", "{engine:?}");
        assert_eq!(balance(&alice), "EUR:19.00", "{engine:?}");
    }
}

#[test]
fn a_scheduled_payment_that_could_not_be_made_asks_the_payer_again() {
    let gw = Gateway::start(Engine::Sqlite);
    let alice = gw.user("alice", None, ALL);
    let bob = gw.user("bob", None, ALL);
    let (mut a, bob_t, mut b, alice_t) = pair(&gw, &alice, &bob);
    a.send(&format!("C > PAYRQST [BEGIN] {bob_t} chit 4 0000000003"));
    let rid = incoming_request_id(b.recv(), false);
    // Bob's wallet says "pay it in a moment"; when the moment comes he has nothing.
    let request = bob
        .client
        .mailbox(0, 50)
        .unwrap()
        .into_iter()
        .find(|d| d.message.kind == "request")
        .unwrap()
        .message;
    let at = chit_client::now_ms() + 300;
    bob.client
        .decide(&Client::sign(
            &bob.me,
            Action::Pay {
                message: request.id.into(),
                at_ms: Some(at),
            },
        ))
        .unwrap();
    while chit_client::now_ms() <= at {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(gw.node.run_scheduled(100).unwrap(), 0);
    match b.recv() {
        Pdu::PayRqst { payment, .. } => {
            assert_eq!(
                payment.request.to_string(),
                rid,
                "the same request, asked again"
            );
            assert_eq!(payment.amount, "EUR:4.00");
        }
        other => panic!("{other:?}"),
    }
    // Still decidable from IMPT: Bob turns it down, and Alice hears it.
    b.send(&format!("C > PAYDECLINE [RES] {alice_t} {rid}"));
    assert_eq!(
        b.recv_text(),
        format!("S > PAYCLOSED [FINAL] {alice_t} {rid} rejected\r\n")
    );
    assert_eq!(
        a.recv_text(),
        format!("S > PAYCLOSED [FINAL] {bob_t} 0000000003 rejected\r\n")
    );
}
