//! MSG: text messages in the two users' conversation. The node stores bodies sealed; the
//! gateway remembers the words it was given over IMPT so an IMPT peer can be shown them.

use chit_proto::api::Envelope;
use chit_proto::Action;

use super::{init_error, End, Session};
use crate::codec::{Kind, Pdu, UserToken};

/// Texts the gateway remembers (sent over IMPT, to show them to IMPT peers).
pub(super) const TEXTS_REMEMBERED_MAX: usize = 4096;

impl Session {
    pub(super) async fn say(&mut self, token: &UserToken, text: String) -> Result<Vec<Pdu>, End> {
        let peer = self.peer(token)?;
        let id = chit_proto::CommandId::new(self.node().now_ms());
        let request = self
            .sealed_post(
                &peer,
                &id,
                Action::Say {
                    to: peer.clone(),
                    body_digest: String::new(),
                },
                text.as_bytes(),
            )
            .await
            .map_err(|e| init_error(&e.message()))?;
        {
            let mut texts = self.shared.texts.lock().expect("texts");
            let (map, order) = &mut *texts;
            map.insert(id.into(), text);
            order.push_back(id.into());
            while order.len() > TEXTS_REMEMBERED_MAX {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        self.node()
            .post(self.me().clone(), request)
            .await
            .map_err(|e| init_error(&e.message()))?;
        Ok(Vec::new())
    }

    /// A text from the other user: its words if it came over IMPT, a pointer to the wallet if
    /// the wallet sealed it.
    pub(super) fn on_text(&mut self, m: &Envelope) -> Vec<Pdu> {
        let text = self
            .shared
            .texts
            .lock()
            .expect("texts")
            .0
            .get(&m.id)
            .cloned();
        let Ok(peer) = self.token_for(&m.sender) else {
            return Vec::new();
        };
        vec![Pdu::Msg {
            kind: Kind::Begin,
            peer,
            text: text
                .unwrap_or_else(|| format!("(sealed message {}: open it in your wallet)", m.id)),
        }]
    }
}
