//! POKE: is the other user there? Sessions of one gateway relay pokes and answers to each
//! other; a user online only through a wallet is answered for by the node.

use tokio::time::Instant;

use super::{End, Session, Shared};
use crate::codec::{Kind, Pdu, UserToken};
use chit_proto::Handle;

/// A note from one session to another about a POKE.
#[derive(Debug)]
pub(super) enum Relay {
    /// `from` pokes this session's user.
    Poked { from: Handle },
    /// `by` answered this session's poke.
    Answered { by: Handle },
}

impl Session {
    /// Is the other user there? IMPT clients answer for themselves; a user online only through
    /// a wallet is answered for by the node; nobody online is an initialisation error.
    pub(super) fn poke(&mut self, token: &UserToken) -> Result<Vec<Pdu>, End> {
        let peer = self.peer(token)?;
        let me = self.me().clone();
        if send_relay(&self.shared, &peer, || Relay::Poked { from: me.clone() }) > 0 {
            self.pokes
                .insert(peer, Instant::now() + self.shared.config.peer_timeout);
            return Ok(Vec::new());
        }
        if self.shared.node.hub().online(&peer) {
            return Ok(vec![Pdu::Poke {
                kind: Kind::Res,
                peer: token.clone(),
                handle: None,
            }]);
        }
        Err(End::With(Pdu::ErrInit {
            kind: Kind::Final,
            peer: Some(token.clone()),
            message: "user not online".into(),
        }))
    }

    pub(super) fn on_relay(&mut self, relay: Relay) -> Vec<Pdu> {
        match relay {
            Relay::Poked { from } => match self.token_for(&from) {
                Ok(peer) => vec![Pdu::Poke {
                    kind: Kind::Begin,
                    peer,
                    handle: Some(from.as_str().into()),
                }],
                Err(_) => Vec::new(),
            },
            Relay::Answered { by } => {
                if self.pokes.remove(&by).is_none() {
                    return Vec::new();
                }
                match self.token_for(&by) {
                    Ok(peer) => vec![Pdu::Poke {
                        kind: Kind::Res,
                        peer,
                        handle: None,
                    }],
                    Err(_) => Vec::new(),
                }
            }
        }
    }
}

/// Sends to every IMPT session of `to`; says how many there were.
pub(super) fn send_relay(shared: &Shared, to: &Handle, make: impl Fn() -> Relay) -> usize {
    let sessions = shared.sessions.lock().expect("sessions");
    let Some(theirs) = sessions.get(to) else {
        return 0;
    };
    theirs
        .values()
        .filter(|tx| tx.try_send(make()).is_ok())
        .count()
}
