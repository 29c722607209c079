//! The gateway: IMPT sessions over TCP, each a user logged in with an API token, mapped onto
//! the node's own offers, requests and messages. Nothing here moves money by itself: every
//! action is a command signed with the session's API key and handed to the same [`Node`]
//! functions the HTTP API calls, so an IMPT payment is a message in the users' conversation
//! and a wallet's offer can be accepted over IMPT.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chit_node::auth::keys::TokenSession;
use chit_node::{Node, NodeError};
use chit_proto::api::{digest_text, seal_direct, Delivery, PostRequest, SignedCommand};
use chit_proto::{Action, Command, CommandId, EncryptionKey, Handle, MessageId, PaymentId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::codec::{check_line, CodecError, Kind, Line, Pdu, RequestId, UserToken};
use crate::dfa::{self, State};
use crate::tls::TlsAcceptor;

mod payments;
mod presence;
mod sasl;
mod texts;

use presence::{send_relay, Relay};
use sasl::base64_standard;
pub use sasl::{base64_standard_encode, sasl_plain};

/// The one version spoken.
pub const VERSION: &str = "IMPT 1.0";
/// What every authentication failure says (seed §5: nothing more specific).
pub const AUTH_ERROR: &str = "authentication error";
/// What every illegal message gets before the connection closes.
pub const ILLEGAL: &str = "illegal message";
/// How long an IMPT offer or request stays open in the conversation.
pub const PAYMENT_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// A client that reads nothing for this long while the gateway writes to it is gone: its
/// session ends instead of holding a slot forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Peers and requests one session may name before it must reconnect.
const SESSION_NAMES_MAX: usize = 10_000;

/// Limits, timeouts and TLS.
#[derive(Clone)]
pub struct GatewayConfig {
    /// From connect to the end of authentication.
    pub handshake_timeout: Duration,
    /// Silence from an authenticated client before the gateway disconnects it.
    pub idle_timeout: Duration,
    /// How long a POKE waits for the other user to answer.
    pub peer_timeout: Duration,
    /// Open sessions at most; further connections wait to be accepted.
    pub sessions_max: usize,
    /// TLS on every connection when set (the handshake timeout covers the TLS handshake too);
    /// plain TCP otherwise, for localhost or behind a TLS terminator.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("peer_timeout", &self.peer_timeout)
            .field("sessions_max", &self.sessions_max)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            peer_timeout: Duration::from_secs(30),
            sessions_max: 4096,
            tls: None,
        }
    }
}

/// What all sessions of one gateway share.
struct Shared {
    node: Arc<Node>,
    config: GatewayConfig,
    /// Live IMPT sessions per user, for relaying POKEs.
    sessions: Mutex<HashMap<Handle, HashMap<u64, mpsc::Sender<Relay>>>>,
    /// Texts sent over IMPT by message id: the node stores them sealed, an IMPT peer is shown
    /// the words it was sent (oldest forgotten first).
    texts: Mutex<(HashMap<MessageId, String>, VecDeque<MessageId>)>,
    next_session: AtomicU64,
}

/// Serves IMPT on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    node: Arc<Node>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(config.sessions_max));
    let shared = Arc::new(Shared {
        node,
        config,
        sessions: Mutex::new(HashMap::new()),
        texts: Mutex::new((HashMap::new(), VecDeque::new())),
        next_session: AtomicU64::new(1),
    });
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            permit = limit.clone().acquire_owned() => permit.expect("semaphore open"),
        };
        let (socket, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "impt accept failed");
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let (shared, tls) = (shared.clone(), shared.config.tls.clone());
        tokio::spawn(async move {
            let mut session = Session::new(shared, peer);
            match tls {
                None => session.serve(socket).await,
                // The session's handshake deadline starts now, so it bounds TLS as well.
                Some(tls) => {
                    match tokio::time::timeout_at(session.deadline, tls.accept(socket)).await {
                        Ok(Ok(socket)) => session.serve(socket).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "impt tls handshake failed"),
                        Err(_) => tracing::debug!("impt tls handshake timed out"),
                    }
                }
            }
            session.leave();
            drop(permit);
        });
    }
}

/// Why a session ends.
enum End {
    /// Say this, then close.
    With(Pdu),
    /// Close without a word (the peer hung up).
    Silently,
}

/// The payment behind a request id, as this session knows it.
#[derive(Clone, Debug)]
struct PaymentRef {
    payment: PaymentId,
    peer: Handle,
    kind: chit_proto::PaymentKind,
}

struct Session {
    id: u64,
    /// The client's address, for the node's budget of failed logins.
    from: chit_node::throttle::Source,
    shared: Arc<Shared>,
    state: State,
    user: Option<TokenSession>,
    /// The user's encryption key, read once at login (bodies are sealed to it too).
    own_key: Option<EncryptionKey>,
    relay: (mpsc::Sender<Relay>, mpsc::Receiver<Relay>),
    events: Option<chit_node::events::Subscription>,
    peers: HashMap<UserToken, Handle>,
    tokens: HashMap<Handle, UserToken>,
    requests: HashMap<RequestId, PaymentRef>,
    request_ids: HashMap<PaymentId, RequestId>,
    /// Pokes waiting for an answer: peer and deadline.
    pokes: HashMap<Handle, Instant>,
    deadline: Instant,
}

fn random_token() -> UserToken {
    let bytes: [u8; crate::codec::USER_TOKEN_CHARS] = chit_proto::keys::random_bytes();
    let text: String = bytes.iter().map(|b| char::from(b'a' + (b % 26))).collect();
    UserToken::new(&text).expect("16 letters")
}

impl Session {
    fn new(shared: Arc<Shared>, peer: std::net::SocketAddr) -> Self {
        let deadline = Instant::now() + shared.config.handshake_timeout;
        Self {
            id: shared.next_session.fetch_add(1, Ordering::Relaxed),
            from: chit_node::throttle::Source::of(peer.ip()),
            shared,
            state: State::AwaitInit,
            user: None,
            own_key: None,
            relay: mpsc::channel(64),
            events: None,
            peers: HashMap::new(),
            tokens: HashMap::new(),
            requests: HashMap::new(),
            request_ids: HashMap::new(),
            pokes: HashMap::new(),
            deadline,
        }
    }

    fn node(&self) -> Arc<Node> {
        self.shared.node.clone()
    }

    fn me(&self) -> &Handle {
        &self.user.as_ref().expect("authenticated").handle
    }

    fn leave(&self) {
        if let Some(user) = &self.user {
            let mut sessions = self.shared.sessions.lock().expect("sessions");
            if let Some(mine) = sessions.get_mut(&user.handle) {
                mine.remove(&self.id);
                if mine.is_empty() {
                    sessions.remove(&user.handle);
                }
            }
        }
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&mut self, mut socket: S) {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        let end = loop {
            // Whole lines first; then wait for bytes, a relay, a delivery or a deadline.
            match check_line(&buf) {
                Ok(Some(n)) => {
                    let line: Vec<u8> = buf.drain(..n).collect();
                    match self.on_line(&line).await {
                        Ok(replies) => {
                            if write_all(&mut socket, &replies).await.is_err() {
                                break End::Silently;
                            }
                            if self.state == State::Closed {
                                break End::Silently;
                            }
                            continue;
                        }
                        Err(end) => break end,
                    }
                }
                Ok(None) => {}
                Err(_) => break illegal(),
            }
            let poke_deadline = self.pokes.values().min().copied();
            let wake = poke_deadline.map_or(self.deadline, |p| p.min(self.deadline));
            tokio::select! {
                read = socket.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => break End::Silently,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
                relay = self.relay.1.recv() => {
                    let relay = relay.expect("the session holds a sender");
                    let replies = self.on_relay(relay);
                    if write_all(&mut socket, &replies).await.is_err() {
                        break End::Silently;
                    }
                }
                event = next_event(&mut self.events) => {
                    let replies = match event {
                        Ok(delivery) => self.on_delivery(&delivery),
                        // Fell behind: live events are a convenience, the conversation keeps all.
                        Err(chit_node::events::RecvError::Lagged(_)) => Vec::new(),
                        Err(chit_node::events::RecvError::Closed) => Vec::new(),
                    };
                    if write_all(&mut socket, &replies).await.is_err() {
                        break End::Silently;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if let Some((peer, _)) = self.pokes.iter().find(|(_, at)| **at <= Instant::now()) {
                        let peer = peer.clone();
                        break End::With(Pdu::ErrInit {
                            kind: Kind::Final,
                            peer: self.tokens.get(&peer).cloned(),
                            message: "user not online".into(),
                        });
                    }
                    if Instant::now() >= self.deadline {
                        break match self.state {
                            State::Ready => End::With(Pdu::Disconnect),
                            _ => End::With(Pdu::ErrInit {
                                kind: Kind::Final,
                                peer: None,
                                message: "handshake timeout".into(),
                            }),
                        };
                    }
                }
            }
        };
        if let End::With(pdu) = end {
            let _ = write_all(&mut socket, &[pdu]).await;
        }
        // Sends TLS close_notify; bounded like every write, the client may have stopped reading.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.shutdown()).await;
    }

    /// One client line: check it against the state table, then act on it.
    async fn on_line(&mut self, bytes: &[u8]) -> Result<Vec<Pdu>, End> {
        let line = Line::parse(bytes).map_err(|_: CodecError| illegal())?;
        let next = dfa::next(self.state, &line).ok_or_else(illegal)?;
        if self.state == State::Ready {
            self.deadline = Instant::now() + self.shared.config.idle_timeout;
        }
        let replies = self.act(line.pdu).await?;
        self.state = next;
        Ok(replies)
    }

    async fn act(&mut self, pdu: Pdu) -> Result<Vec<Pdu>, End> {
        match pdu {
            Pdu::Init {
                kind: Kind::Begin,
                version,
            } => {
                if !version.starts_with("IMPT ") {
                    return Err(init_error("unsupported version"));
                }
                Ok(vec![Pdu::Init {
                    kind: Kind::Res,
                    version: VERSION.into(),
                }])
            }
            Pdu::Init { version, .. } => {
                if version != VERSION {
                    return Err(init_error("unsupported version"));
                }
                Ok(Vec::new())
            }
            Pdu::Auth {
                mechanism,
                response,
                ..
            } => self.authenticate(&mechanism, &response).await,
            Pdu::Who { handle, .. } => self.who(&handle).await,
            Pdu::Poke {
                kind: Kind::Begin,
                peer,
                ..
            } => self.poke(&peer),
            Pdu::Poke { peer, .. } => {
                // This user answers someone's poke.
                let poker = self.peer(&peer)?;
                send_relay(&self.shared, &poker, || Relay::Answered {
                    by: self.me().clone(),
                });
                Ok(Vec::new())
            }
            Pdu::PaySnd { payment, .. } => self.start_payment(payment, true).await,
            Pdu::PayRqst { payment, .. } => self.start_payment(payment, false).await,
            Pdu::PayAccept { peer, request, .. } => self.decide(&peer, request, true).await,
            Pdu::PayDecline { peer, request, .. } => self.decide(&peer, request, false).await,
            Pdu::Msg { peer, text, .. } => self.say(&peer, text).await,
            Pdu::Disconnect => Ok(vec![Pdu::Disconnect]),
            // A client's own error report: the session ends quietly.
            Pdu::ErrInit { .. } | Pdu::ErrPay { .. } | Pdu::ErrTrans { .. } => Err(End::Silently),
            _ => Err(illegal()),
        }
    }

    /// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, base64. The authcid is the
    /// handle, the password an API token; an authzid, if given, must be the same handle.
    async fn authenticate(&mut self, mechanism: &str, response: &str) -> Result<Vec<Pdu>, End> {
        let failed = || init_error(AUTH_ERROR);
        if mechanism != "PLAIN" {
            return Err(failed());
        }
        let decoded = base64_standard(response).ok_or_else(failed)?;
        let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
        let [authzid, authcid, token] = parts[..] else {
            return Err(failed());
        };
        let text = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned).ok();
        let (authzid, authcid, token) = (
            text(authzid).ok_or_else(failed)?,
            text(authcid).ok_or_else(failed)?,
            text(token).ok_or_else(failed)?,
        );
        let handle = Handle::new(&authcid).map_err(|_| failed())?;
        if !authzid.is_empty() && Handle::new(&authzid).ok().as_ref() != Some(&handle) {
            return Err(failed());
        }
        let node = self.node();
        let user = node
            .authenticate_token(handle, token, self.from)
            .await
            .ok()
            .flatten()
            .ok_or_else(failed)?;
        let info = node
            .user_info(user.handle.clone())
            .await
            .map_err(|_| failed())?;
        self.own_key = Some(info.encryption_key);
        let own = random_token();
        self.peers.insert(own.clone(), user.handle.clone());
        self.tokens.insert(user.handle.clone(), own.clone());
        self.events = Some(self.shared.node.hub().subscribe(&user.handle));
        self.shared
            .sessions
            .lock()
            .expect("sessions")
            .entry(user.handle.clone())
            .or_default()
            .insert(self.id, self.relay.0.clone());
        self.user = Some(user);
        self.deadline = Instant::now() + self.shared.config.idle_timeout;
        let mut replies = vec![Pdu::Auth {
            kind: Kind::Res,
            mechanism: "PLAIN".into(),
            response: own.as_str().into(),
        }];
        // Subscribed first, then read: nothing made in between is missed (a payment in both
        // is told once).
        replies.extend(self.replay_waiting().await);
        Ok(replies)
    }

    /// The token this session uses for `handle`, made on first use.
    fn token_for(&mut self, handle: &Handle) -> Result<UserToken, End> {
        if let Some(t) = self.tokens.get(handle) {
            return Ok(t.clone());
        }
        if self.tokens.len() >= SESSION_NAMES_MAX {
            return Err(init_error("too many users named in one session"));
        }
        let token = loop {
            let t = random_token();
            if !self.peers.contains_key(&t) {
                break t;
            }
        };
        self.peers.insert(token.clone(), handle.clone());
        self.tokens.insert(handle.clone(), token.clone());
        Ok(token)
    }

    /// The user a token names; an unknown token is an initialisation error (seed §2.4).
    fn peer(&self, token: &UserToken) -> Result<Handle, End> {
        match self.peers.get(token) {
            Some(h) if h != self.me() => Ok(h.clone()),
            _ => Err(End::With(Pdu::ErrInit {
                kind: Kind::Final,
                peer: Some(token.clone()),
                message: "unknown user token".into(),
            })),
        }
    }

    async fn who(&mut self, handle: &str) -> Result<Vec<Pdu>, End> {
        let unknown = || init_error("unknown user");
        let handle = Handle::new(handle.trim_start_matches('@')).map_err(|_| unknown())?;
        let node = self.node();
        let lookup = handle.clone();
        node.user_info(lookup).await.map_err(|_| unknown())?;
        let token = self.token_for(&handle)?;
        Ok(vec![Pdu::Who {
            kind: Kind::Res,
            handle: handle.as_str().into(),
            peer: Some(token),
        }])
    }

    /// A command signed with the session's API key.
    fn signed(&self, action: Action) -> SignedCommand {
        self.signed_as(CommandId::new(self.node().now_ms()), action)
    }

    fn signed_as(&self, id: CommandId, action: Action) -> SignedCommand {
        let user = self.user.as_ref().expect("authenticated");
        let command = Command {
            id,
            actor: user.handle.clone(),
            action,
        };
        SignedCommand {
            signature: command.sign(&user.key),
            signer: Some(user.key.public()),
            command,
        }
    }

    /// A message to `peer` with `plaintext` sealed to both members (the gateway sees IMPT's
    /// plaintext in transit, as any IMPT server does; the node stores it sealed).
    async fn sealed_post(
        &self,
        peer: &Handle,
        id: &CommandId,
        mut action: Action,
        plaintext: &[u8],
    ) -> Result<PostRequest, NodeError> {
        let me = self.me().clone();
        let own_key = self.own_key.expect("read at login");
        let (node, them) = (self.node(), peer.clone());
        let theirs = node.user_info(them).await?;
        let body = seal_direct(
            plaintext,
            id.as_str(),
            (&me, own_key),
            (peer, theirs.encryption_key),
        )
        .map_err(|e| NodeError::bad_request("seal_failed", &e.to_string()))?;
        let digest = digest_text(&body);
        match &mut action {
            Action::Say { body_digest, .. }
            | Action::Offer { body_digest, .. }
            | Action::Request { body_digest, .. } => *body_digest = digest,
            _ => {}
        }
        let signed = self.signed_as(id.to_owned(), action);
        Ok(PostRequest {
            command: signed.command,
            signature: signed.signature,
            signer: signed.signer,
            body,
        })
    }

    /// A message in one of the user's conversations, told the IMPT way.
    fn on_delivery(&mut self, delivery: &Delivery) -> Vec<Pdu> {
        let m = &delivery.message;
        let me = self.me().clone();
        let from_me = m.sender == me;
        let Some(part) = &m.payment else {
            return if m.kind == "text" && !from_me {
                self.on_text(m)
            } else {
                Vec::new()
            };
        };
        self.on_payment(&m.kind, from_me, part)
    }
}

/// The generic answer to anything the state table does not allow (seed §2.4, §5).
fn illegal() -> End {
    End::With(Pdu::Err {
        message: ILLEGAL.into(),
    })
}

fn init_error(message: &str) -> End {
    End::With(Pdu::ErrInit {
        kind: Kind::Final,
        peer: None,
        message: message.into(),
    })
}

async fn next_event(
    events: &mut Option<chit_node::events::Subscription>,
) -> Result<Arc<Delivery>, chit_node::events::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn write_all<S: AsyncWrite + Unpin>(socket: &mut S, pdus: &[Pdu]) -> std::io::Result<()> {
    if pdus.is_empty() {
        return Ok(());
    }
    let text: String = pdus
        .iter()
        .map(|p| Line::server(p.clone()).encode())
        .collect();
    let write = async {
        socket.write_all(text.as_bytes()).await?;
        socket.flush().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}
