//! The two front doors are one node: an IMPT payment is a message in the users' Chit
//! conversation, and an offer made with the SDK (as the CLI makes it) is accepted over IMPT.

use chit_impt::codec::Pdu;
use chit_ledger_tests::engines;

use super::*;

#[test]
fn an_sdk_offer_is_accepted_over_impt_and_an_impt_payment_is_in_the_conversation() {
    for engine in engines() {
        let gw = Gateway::start(engine);
        let mut alice = gw.user("alice", Some("EUR:50.00"), ALL);
        let bob = gw.user("bob", Some("EUR:5.00"), ALL);
        let (mut b, _) = Raw::login(&gw, &bob);

        // Alice's wallet offers; Bob, on IMPT, sees a PAYSND and accepts it.
        let offer = alice
            .client
            .offer(
                &alice.me,
                &bob.me.handle,
                "12.50",
                chit_client::now_ms() + 60_000,
                b"dinner",
            )
            .unwrap();
        let (alice_t, rid) = match b.recv() {
            Pdu::PaySnd { payment, .. } => {
                assert_eq!(payment.amount, "EUR:12.50");
                (
                    payment.peer.as_str().to_owned(),
                    payment.request.to_string(),
                )
            }
            other => panic!("{engine:?}: {other:?}"),
        };
        b.send(&format!("C > PAYACCEPT [RES] {alice_t} {rid}"));
        assert_eq!(
            b.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {alice_t} {rid}\r\n")
        );
        let items = alice.client.mailbox(0, 50).unwrap();
        let update = items
            .iter()
            .find(|d| {
                d.message.kind == "payment_update"
                    && d.message.payment.as_ref().unwrap().payment == offer.id
            })
            .expect("the acceptance is in Alice's conversation");
        assert_eq!(update.message.payment.as_ref().unwrap().state, "accepted");
        assert!(update.message.receipt.is_some());

        // Bob pays Alice back over IMPT; her wallet sees an offer and accepts it.
        let alice_for_b = b.who("alice");
        b.send(&format!(
            "C > PAYSND [BEGIN] {alice_for_b} chit 2 0000000077"
        ));
        let incoming = loop {
            let items = alice.client.mailbox(0, 50).unwrap();
            if let Some(d) = items
                .iter()
                .find(|d| d.message.kind == "offer" && d.message.sender == bob.me.handle)
            {
                break d.message.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(incoming.signer, Some(api_token_key(&bob.token).public()));
        alice
            .client
            .decide(&Client::sign(
                &alice.me,
                Action::Accept {
                    message: incoming.id.into(),
                },
            ))
            .unwrap();
        assert_eq!(
            b.recv_text(),
            format!("S > TRANS_SUCCESS [FINAL] {alice_for_b} 0000000077\r\n")
        );
        let balances = |u: &User| u.client.balances().unwrap().balances[0].balance.clone();
        assert_eq!(balances(&alice), "EUR:39.50", "{engine:?}");
        assert_eq!(balances(&bob), "EUR:15.50", "{engine:?}");
    }
}
