//! Payments over IMPT: PAYSND and PAYRQST start a Chit offer or request, PAYACCEPT and
//! PAYDECLINE decide one, and what happens in the users' conversations is told back as IMPT
//! PDUs. A retry of the same request id returns the original outcome; what waited for the user
//! while they were away is asked again at login.

use chit_core::{Amount, Currencies, TransferId};
use chit_node::{store, NodeError};
use chit_proto::api::PaymentPart;
use chit_proto::{Action, Handle, PaymentId};
use sha2::{Digest, Sha256};

use super::{End, PaymentRef, Session, PAYMENT_TTL_MS, SESSION_NAMES_MAX};
use crate::codec::{Kind, Payment, Pdu, RequestId, UserToken};

/// Offers and requests asked again at login, oldest first; more wait for the next login or
/// the wallet.
pub(super) const REPLAY_MAX: usize = 200;

/// The Chit id of a payment a user starts over IMPT: a function of the user and their request
/// id, so a retry after a reconnect names the same payment.
fn payment_id(handle: &Handle, request: RequestId) -> PaymentId {
    let digest = Sha256::new()
        .chain_update(b"chit/impt/request\0")
        .chain_update(handle.as_str())
        .chain_update(b"\0")
        .chain_update(request.to_string())
        .finalize();
    let raw = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
    let id = TransferId::new(raw.clamp(1, u128::MAX - 1)).expect("clamped off the reserved values");
    PaymentId::from(id)
}

/// Two amount texts name the same amount (`5`, `5.00` and `EUR:5` are one amount).
fn same_amount(a: &str, b: &str, currencies: &Currencies) -> bool {
    match (Amount::parse(a, currencies), Amount::parse(b, currencies)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn trans_error(p: &Payment, e: &NodeError) -> End {
    End::With(Pdu::ErrTrans {
        kind: Kind::Final,
        peer: Some(p.peer.clone()),
        message: e.message(),
        request: p.request,
    })
}

/// Settlement itself failed (as opposed to a request that was wrong to begin with).
fn is_transaction_failure(e: &NodeError) -> bool {
    match e {
        NodeError::Refused { code, .. } => code == "insufficient_funds",
        NodeError::Conflict { code, .. } => [
            "already_settled",
            "already_closed",
            "already_paid",
            "in_progress",
        ]
        .contains(&code.as_str()),
        NodeError::Expired { .. } | NodeError::Unavailable { .. } | NodeError::Internal => true,
        NodeError::Invalid { .. }
        | NodeError::Unauthorized
        | NodeError::Forbidden { .. }
        | NodeError::NotFound { .. }
        | NodeError::RateLimited { .. } => false,
    }
}

impl Session {
    /// PAYSND → an offer; PAYRQST → a request. Both are signed with the session's API key.
    pub(super) async fn start_payment(&mut self, p: Payment, send: bool) -> Result<Vec<Pdu>, End> {
        let peer = self.peer(&p.peer)?;
        let pay_error = |message: &str| {
            End::With(Pdu::ErrPay {
                kind: Kind::Final,
                peer: Some(p.peer.clone()),
                message: message.into(),
                request: p.request,
            })
        };
        if self.requests.len() >= SESSION_NAMES_MAX {
            return Err(pay_error("too many requests in one session"));
        }
        let node = self.node();
        // Signed in its one written form (`5` is `EUR:5.00`).
        let amount = chit_core::Amount::parse_positive(&p.amount, node.currencies())
            .map_err(|e| pay_error(&e.to_string()))?
            .to_string();
        let me = self.me().clone();
        let (payer, payee) = if send { (&me, &peer) } else { (&peer, &me) };
        match p.service.as_str() {
            "chit" => {}
            "sandbox" => {
                for who in [payer, payee] {
                    let linked = node
                        .has_linked_account(who.clone(), "sandbox".to_owned())
                        .await
                        .map_err(|_| pay_error("payment service unavailable"))?;
                    if !linked {
                        return Err(pay_error(&format!("{who} has no sandbox account")));
                    }
                }
            }
            _ => return Err(pay_error("unknown payment service")),
        }
        let id = payment_id(&me, p.request);
        let earlier = node
            .payment(id)
            .await
            .map_err(|e| pay_error(&e.message()))?;
        if let Some(earlier) = earlier {
            // The same user and request id name the same payment: a retry (after a reconnect,
            // or a lost answer) gets the original outcome, never a second payment.
            let same = earlier.part.kind == if send { "offer" } else { "request" }
                && (&earlier.part.payer, &earlier.part.payee) == (payer, payee)
                && same_amount(&earlier.part.amount, &amount, node.currencies());
            if !same {
                return Err(pay_error(
                    "this request id was used for a different payment",
                ));
            }
            return Ok(self.resume(p.peer.clone(), p.request, &earlier.part));
        }
        let ttl_end = node.now_ms() + PAYMENT_TTL_MS;
        let action = if send {
            Action::Offer {
                to: peer.clone(),
                amount: amount.clone(),
                expires_at_ms: ttl_end,
                body_digest: String::new(),
            }
        } else {
            Action::Request {
                to: peer.clone(),
                amount: amount.clone(),
                expires_at_ms: ttl_end,
                body_digest: String::new(),
            }
        };
        let request = self
            .sealed_post(&peer, &id.into(), action, b"")
            .await
            .map_err(|e| pay_error(&e.message()))?;
        if send && p.service == "sandbox" {
            // Paying "with" the sandbox rail: the money comes in from the linked account first.
            let top_up = self.signed(Action::TopUp {
                rail: "sandbox".into(),
                amount: amount.clone(),
            });
            let (node, me2) = (node.clone(), me.clone());
            node.top_up_or_cash_out(me2, top_up)
                .await
                .map_err(|e| trans_error(&p, &e))?;
        }
        let posted = if send {
            node.clone().offer(me.clone(), request).await
        } else {
            let (node2, me2) = (node.clone(), me.clone());
            node2.request(me2, request).await
        };
        match posted {
            Ok(_) => {
                self.remember(
                    p.request,
                    PaymentRef {
                        payment: id,
                        peer,
                        kind: if send {
                            chit_proto::PaymentKind::Offer
                        } else {
                            chit_proto::PaymentKind::Request
                        },
                    },
                );
                Ok(Vec::new())
            }
            Err(e) if is_transaction_failure(&e) => Err(trans_error(&p, &e)),
            Err(e) => Err(pay_error(&e.message())),
        }
    }

    /// PAYACCEPT: accept an offer or pay a request now. PAYDECLINE: decline or reject.
    pub(super) async fn decide(
        &mut self,
        token: &UserToken,
        request: RequestId,
        yes: bool,
    ) -> Result<Vec<Pdu>, End> {
        let peer = self.peer(token)?;
        let unknown = || {
            End::With(Pdu::ErrPay {
                kind: Kind::Final,
                peer: Some(token.clone()),
                message: "unknown request".into(),
                request,
            })
        };
        let known = self.requests.get(&request).cloned().ok_or_else(unknown)?;
        if known.peer != peer {
            return Err(unknown());
        }
        let message = known.payment;
        let action = match (known.kind.as_str(), yes) {
            ("offer", true) => Action::Accept { message },
            ("offer", false) => Action::Decline { message },
            (_, true) => Action::Pay {
                message,
                at_ms: None,
            },
            (_, false) => Action::Reject { message },
        };
        let signed = self.signed(action);
        match self.node().act(self.me().clone(), signed).await {
            Ok(_) => Ok(Vec::new()),
            Err(e) if is_transaction_failure(&e) => Err(End::With(Pdu::ErrTrans {
                kind: Kind::Final,
                peer: Some(token.clone()),
                message: e.message(),
                request,
            })),
            Err(e) => Err(End::With(Pdu::ErrPay {
                kind: Kind::Final,
                peer: Some(token.clone()),
                message: e.message(),
                request,
            })),
        }
    }

    /// What a payment's state says to the client that started it: nothing yet while it is
    /// open, `TRANS_SUCCESS` once money moved, `PAYCLOSED` once it ended without.
    fn resume(&mut self, peer: UserToken, request: RequestId, part: &PaymentPart) -> Vec<Pdu> {
        self.remember(
            request,
            PaymentRef {
                payment: part.payment,
                peer: if &part.payer == self.me() {
                    part.payee.clone()
                } else {
                    part.payer.clone()
                },
                kind: part.kind,
            },
        );
        match part.state.as_str() {
            "accepted" | "paid" | "refunded" => vec![Pdu::TransSuccess {
                kind: Kind::Final,
                peer,
                request,
            }],
            state @ ("declined" | "rejected" | "cancelled" | "expired") => vec![Pdu::PayClosed {
                kind: Kind::Final,
                peer,
                request,
                state: state.into(),
            }],
            _ => Vec::new(),
        }
    }

    /// At login: every offer and request still waiting for this user, asked as if it had just
    /// arrived (`PAYSND`/`PAYRQST [BEGIN]`), as a wallet's sync shows its inbox.
    pub(super) async fn replay_waiting(&mut self) -> Vec<Pdu> {
        let (node, me) = (self.node(), self.me().clone());
        let waiting = match node.awaiting_decision(me, REPLAY_MAX).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e.message(), "impt replay at login failed");
                return Vec::new();
            }
        };
        let now = self.shared.node.now_ms();
        let mut pdus = Vec::new();
        for store::Payment { part, .. } in waiting {
            if part.expires_at_ms <= now || self.request_ids.contains_key(&part.payment) {
                continue;
            }
            let other = if &part.payer == self.me() {
                part.payee.clone()
            } else {
                part.payer.clone()
            };
            let Ok(peer) = self.token_for(&other) else {
                break;
            };
            let payment = PaymentRef {
                payment: part.payment,
                peer: other,
                kind: part.kind,
            };
            pdus.push(self.ask(peer, &payment, &part));
        }
        pdus
    }

    /// `PAYSND`/`PAYRQST [BEGIN]` to this user: someone offers or asks for money.
    fn ask(&mut self, peer: UserToken, payment: &PaymentRef, part: &PaymentPart) -> Pdu {
        let request = self.request_id_for(payment);
        let p = Payment {
            peer,
            service: "chit".into(),
            amount: part.amount.clone(),
            request,
        };
        if part.kind == "offer" {
            Pdu::PaySnd {
                kind: Kind::Begin,
                payment: p,
            }
        } else {
            Pdu::PayRqst {
                kind: Kind::Begin,
                payment: p,
            }
        }
    }

    fn remember(&mut self, request: RequestId, payment: PaymentRef) {
        self.request_ids.insert(payment.payment, request);
        self.requests.insert(request, payment);
    }

    /// The request id this session shows for a payment it did not start: a function of the
    /// payment id (stable across reconnects), moved on past any collision in this session.
    fn request_id_for(&mut self, payment: &PaymentRef) -> RequestId {
        if let Some(r) = self.request_ids.get(&payment.payment) {
            return *r;
        }
        let digest = Sha256::digest(payment.payment.as_str().as_bytes());
        let mut n =
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % (RequestId::MAX + 1);
        let id = loop {
            let id = RequestId::from_number(n).expect("in range");
            if !self.requests.contains_key(&id) {
                break id;
            }
            n = (n + 1) % (RequestId::MAX + 1);
        };
        self.remember(id, payment.clone());
        id
    }

    /// A payment message in one of the user's conversations, told the IMPT way.
    pub(super) fn on_payment(&mut self, kind: &str, from_me: bool, part: &PaymentPart) -> Vec<Pdu> {
        let me = self.me().clone();
        let other = if part.payer == me {
            &part.payee
        } else {
            &part.payer
        };
        let payment = PaymentRef {
            payment: part.payment,
            peer: other.clone(),
            kind: part.kind,
        };
        let Ok(peer) = self.token_for(other) else {
            return Vec::new();
        };
        match (kind, part.state.as_str()) {
            ("offer" | "request", "pending") if !from_me => {
                if self.request_ids.contains_key(&part.payment) {
                    // Already told at login (the replay and the live feed can overlap).
                    return Vec::new();
                }
                vec![self.ask(peer, &payment, part)]
            }
            // A scheduled payment that could not be made: the request is the payer's to
            // decide again, so it is asked again.
            ("payment_update", "pending") if part.payer == me && part.kind == "request" => {
                vec![self.ask(peer, &payment, part)]
            }
            ("payment_update", "accepted" | "paid") => {
                let request = self.request_id_for(&payment);
                vec![Pdu::TransSuccess {
                    kind: Kind::Final,
                    peer,
                    request,
                }]
            }
            ("payment_update", state @ ("declined" | "rejected" | "cancelled" | "expired")) => {
                let request = self.request_id_for(&payment);
                vec![Pdu::PayClosed {
                    kind: Kind::Final,
                    peer,
                    request,
                    state: state.into(),
                }]
            }
            _ => Vec::new(),
        }
    }
}
