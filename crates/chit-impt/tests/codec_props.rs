//! Property tests of the codec: whatever PDU is encoded parses back to itself, and no input
//! whatsoever makes framing or parsing panic (the fuzz target in fuzz/ runs the same checks).

use chit_impt::codec::{check_line, Kind, Line, Payment, Pdu, RequestId, Side, UserToken};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Begin), Just(Kind::Res), Just(Kind::Final)]
}

fn token() -> impl Strategy<Value = UserToken> {
    "[a-zA-Z0-9]{16}".prop_map(|s| UserToken::new(&s).unwrap())
}

fn request() -> impl Strategy<Value = RequestId> {
    (0..=RequestId::MAX).prop_map(|n| RequestId::from_number(n).unwrap())
}

/// Any printable text (quotes, backslashes and spaces included), never empty-but-ambiguous.
fn text() -> impl Strategy<Value = String> {
    "[ -~äé€😀]{0,40}"
}

fn word() -> impl Strategy<Value = String> {
    "[!#-~]{1,20}".prop_filter("a lone dash means no token", |s| s != "-")
}

fn payment() -> impl Strategy<Value = Payment> {
    (token(), text(), text(), request()).prop_map(|(peer, service, amount, request)| Payment {
        peer,
        service,
        amount,
        request,
    })
}

fn pdu() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        (kind(), "[!-~][ -~]{0,20}[!-~]").prop_map(|(kind, version)| Pdu::Init { kind, version }),
        (kind(), text(), text()).prop_map(|(kind, mechanism, response)| Pdu::Auth {
            kind,
            mechanism,
            response
        }),
        (kind(), text(), proptest::option::of(token()))
            .prop_map(|(kind, handle, peer)| { Pdu::Who { kind, handle, peer } }),
        (kind(), token(), proptest::option::of(text()))
            .prop_map(|(kind, peer, handle)| { Pdu::Poke { kind, peer, handle } }),
        (kind(), payment()).prop_map(|(kind, payment)| Pdu::PaySnd { kind, payment }),
        (kind(), payment()).prop_map(|(kind, payment)| Pdu::PayRqst { kind, payment }),
        (kind(), token(), request()).prop_map(|(kind, peer, request)| Pdu::PayAccept {
            kind,
            peer,
            request
        }),
        (kind(), token(), request()).prop_map(|(kind, peer, request)| Pdu::PayDecline {
            kind,
            peer,
            request
        }),
        (kind(), token(), request()).prop_map(|(kind, peer, request)| Pdu::TransSuccess {
            kind,
            peer,
            request
        }),
        (kind(), token(), request(), word()).prop_map(|(kind, peer, request, state)| {
            Pdu::PayClosed {
                kind,
                peer,
                request,
                state,
            }
        }),
        (kind(), token(), text()).prop_map(|(kind, peer, text)| Pdu::Msg { kind, peer, text }),
        (kind(), proptest::option::of(token()), text()).prop_map(|(kind, peer, message)| {
            Pdu::ErrInit {
                kind,
                peer,
                message,
            }
        }),
        (kind(), proptest::option::of(token()), text(), request()).prop_map(
            |(kind, peer, message, request)| Pdu::ErrPay {
                kind,
                peer,
                message,
                request
            }
        ),
        (kind(), proptest::option::of(token()), text(), request()).prop_map(
            |(kind, peer, message, request)| Pdu::ErrTrans {
                kind,
                peer,
                message,
                request
            }
        ),
        text().prop_map(|message| Pdu::Err { message }),
        Just(Pdu::Disconnect),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_parse_is_the_identity(pdu in pdu(), server in any::<bool>()) {
        let line = Line { from: if server { Side::Server } else { Side::Client }, pdu };
        let wire = line.encode();
        prop_assert_eq!(check_line(wire.as_bytes()), Ok(Some(wire.len())));
        prop_assert_eq!(Line::parse(wire.as_bytes()), Ok(line));
    }

    #[test]
    fn no_bytes_make_it_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(Some(n)) = check_line(&bytes) {
            let _ = Line::parse(&bytes[..n]);
        }
        let _ = Line::parse(&bytes);
    }

    #[test]
    fn nearly_valid_lines_do_not_panic(
        prefix in prop_oneof![Just("C > "), Just("S > "), Just("C >"), Just("")],
        command in prop_oneof![
            Just("INIT"), Just("AUTH"), Just("WHO"), Just("POKE"), Just("PAYSND"),
            Just("PAYRQST"), Just("PAYACCEPT"), Just("PAYDECLINE"), Just("TRANS_SUCCESS"),
            Just("PAYCLOSED"), Just("MSG"), Just("ERR_INIT"), Just("ERR_PAY"),
            Just("ERR_TRANS"), Just("ERR"), Just("DISCONNECT"), Just("")
        ],
        rest in "[ -~\\[\\]\"\\\\]{0,80}",
    ) {
        let _ = Line::parse(format!("{prefix}{command}{rest}").as_bytes());
    }
}
