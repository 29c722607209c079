//! The session state machine, as an explicit table: which client message is legal in which
//! state and where it leads. Anything not in the table is illegal: the gateway answers with the
//! generic error and closes (seed §2.4, §5). docs/impt.md draws the same table as a diagram.

use crate::codec::{Kind, Line, Side};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected; waiting for `INIT [BEGIN]`.
    AwaitInit,
    /// Offered a version; waiting for `INIT [FINAL]`.
    AwaitInitFinal,
    /// Version agreed; waiting for `AUTH [BEGIN]` (SASL).
    AwaitAuth,
    /// Authenticated: payments, pokes and messages in any order.
    Ready,
    Closed,
}

use Kind::{Begin, Final, Res};
use State::{AwaitAuth, AwaitInit, AwaitInitFinal, Closed, Ready};

/// (state, client command, message type) → next state. `None` as the type: no `[TYPE]`.
pub const TABLE: &[(State, &str, Option<Kind>, State)] = &[
    (AwaitInit, "INIT", Some(Begin), AwaitInitFinal),
    (AwaitInitFinal, "INIT", Some(Final), AwaitAuth),
    (AwaitAuth, "AUTH", Some(Begin), Ready),
    (Ready, "WHO", Some(Begin), Ready),
    (Ready, "POKE", Some(Begin), Ready),
    (Ready, "POKE", Some(Res), Ready),
    (Ready, "PAYSND", Some(Begin), Ready),
    (Ready, "PAYRQST", Some(Begin), Ready),
    (Ready, "PAYACCEPT", Some(Res), Ready),
    (Ready, "PAYDECLINE", Some(Res), Ready),
    (Ready, "MSG", Some(Begin), Ready),
    // Either side may end the session at any point.
    (AwaitInit, "DISCONNECT", None, Closed),
    (AwaitInitFinal, "DISCONNECT", None, Closed),
    (AwaitAuth, "DISCONNECT", None, Closed),
    (Ready, "DISCONNECT", None, Closed),
    // A client reporting an error ends the session too (seed: errors terminate).
    (Ready, "ERR_INIT", Some(Final), Closed),
    (Ready, "ERR_PAY", Some(Final), Closed),
    (Ready, "ERR_TRANS", Some(Final), Closed),
];

/// The state a client line leads to, or `None` when it is illegal here. Lines marked as sent by
/// the server are never legal from a client.
pub fn next(state: State, line: &Line) -> Option<State> {
    if line.from != Side::Client {
        return None;
    }
    let command = line.pdu.command();
    let kind = line.pdu.message_type();
    TABLE
        .iter()
        .find(|(from, c, k, _)| *from == state && *c == command && *k == kind)
        .map(|(_, _, _, to)| *to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Line;

    fn client(s: &str) -> Line {
        Line::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn the_handshake_goes_in_order() {
        let mut state = AwaitInit;
        for (line, expect) in [
            ("C > INIT [BEGIN] IMPT 1.0", AwaitInitFinal),
            ("C > INIT [FINAL] IMPT 1.0", AwaitAuth),
            ("C > AUTH [BEGIN] PLAIN AGFsaWNlAHNlY3JldA==", Ready),
            ("C > POKE [BEGIN] rieoslfbdjlgfdem", Ready),
            ("C > DISCONNECT", Closed),
        ] {
            state = next(state, &client(line)).unwrap_or_else(|| panic!("{line} illegal"));
            assert_eq!(state, expect);
        }
    }

    #[test]
    fn out_of_order_and_server_lines_are_illegal() {
        assert_eq!(next(AwaitInit, &client("C > INIT [FINAL] IMPT 1.0")), None);
        assert_eq!(
            next(
                AwaitAuth,
                &client("C > PAYSND [BEGIN] rieoslfbdjlgfdem chit 5 0000000001")
            ),
            None
        );
        assert_eq!(next(Ready, &client("C > INIT [BEGIN] IMPT 1.0")), None);
        assert_eq!(
            next(
                Ready,
                &client("S > TRANS_SUCCESS [FINAL] rieoslfbdjlgfdem 0000000001")
            ),
            None
        );
        assert_eq!(
            next(
                Ready,
                &client("C > PAYACCEPT [BEGIN] rieoslfbdjlgfdem 0000000001")
            ),
            None
        );
        assert_eq!(next(Closed, &client("C > DISCONNECT")), None);
    }
}
