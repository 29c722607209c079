//! The Rust SDK: talks to a Chit node for a wallet. It pins the node key on first contact,
//! verifies every certificate it is shown against it, seals bodies before they leave and opens
//! them after they arrive. The `chit` binary is glue over this crate.

pub mod backup;
pub mod device_store;
pub mod history;
pub mod ids;
pub mod offline;
mod reading;
pub use reading::Page;
pub mod wallet;

use std::net::TcpStream;

use chit_proto::api::{
    body_aad, digest_text, seal_direct, Balances, ChallengeRequest, ChallengeResponse, Delivery,
    Envelope, ErrorBody, LoginRequest, LoginResponse, MailboxPage, NodeInfo, PostRequest,
    RegisterRequest, RegisterResponse, SignedCommand, UserInfo,
};
use chit_proto::{
    b64, login_bytes, Action, Certificate, Command, CommandId, EncryptionSecret, Handle,
    IdentityKey, IdentitySecret, Registration, SealedBody,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The node could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// The node said something it must not: a bad certificate, a changed key, garbage.
    #[error("the node's answer is not trustworthy: {0}")]
    Untrusted(String),
    #[error("not logged in")]
    NotLoggedIn,
    #[error(transparent)]
    Seal(#[from] chit_proto::SealError),
    /// An amount that is not one (checked before anything is signed).
    #[error(transparent)]
    Amount(#[from] chit_core::AmountError),
}

impl ClientError {
    /// The node's error code, if the node answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A wallet's keys and handle.
pub struct Identity {
    pub handle: Handle,
    pub identity: IdentitySecret,
    pub encryption: EncryptionSecret,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            identity: IdentitySecret::from_seed(self.identity.to_seed()),
            encryption: EncryptionSecret::from_seed(self.encryption.to_seed()),
        }
    }
}

impl Identity {
    pub fn generate(handle: Handle) -> Self {
        Self {
            handle,
            identity: IdentitySecret::generate(),
            encryption: EncryptionSecret::generate(),
        }
    }
}

/// A new random 128-bit id in hex, time-ordered so the ledger's indexes stay compact.
/// The currency set a node describes, if it is a valid one.
fn currencies_of(info: &NodeInfo) -> Option<chit_core::Currencies> {
    let all = info
        .currencies
        .iter()
        .map(|c| {
            chit_core::Currency::new(chit_core::CurrencyCode::new(&c.code).ok()?, c.decimals).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let default = chit_core::CurrencyCode::new(&info.default_currency).ok()?;
    chit_core::Currencies::new(all, default).ok()
}

/// A new time-ordered command id, by the wall clock (see [`CommandId::new`]).
pub fn new_id() -> CommandId {
    CommandId::new(now_ms())
}

/// The wall clock in protocol units (milliseconds since the Unix epoch), as wallets and tools
/// read it; the node reads its own injectable clock instead.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection to one node.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    node_key: Option<IdentityKey>,
    token: Option<String>,
    /// The node's currencies, from its description: amounts are signed in their one form.
    currencies: Option<chit_core::Currencies>,
}

impl Client {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:8080`). `pinned` is the node key
    /// remembered from an earlier contact; `None` pins whatever the node presents first.
    pub fn new(base: &str, pinned: Option<IdentityKey>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            node_key: pinned,
            token: None,
            currencies: None,
        }
    }

    pub fn node_key(&self) -> Option<IdentityKey> {
        self.node_key
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A failure to talk to the node at all, said so a person knows what to check.
    fn unreachable(&self, e: impl std::fmt::Display) -> ClientError {
        let why = e.to_string();
        let why = if why.contains("Connection refused") {
            "connection refused".to_owned()
        } else {
            why
        };
        ClientError::Transport(format!(
            "cannot reach the node at {} ({why}) — is `chit serve` running there? (choose another with --node URL)",
            self.base
        ))
    }

    fn finish<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response = response.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        if status >= 400 {
            let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
            return Err(api_error(status, body));
        }
        serde_json::from_str(&body).map_err(|e| ClientError::Untrusted(format!("bad JSON: {e}")))
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let mut req = self.agent.get(&self.url(path));
        if let Some(token) = &self.token {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        self.finish(req.call())
    }

    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let mut req = self.agent.post(&self.url(path));
        if let Some(token) = &self.token {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        self.finish(req.send_json(body))
    }

    /// Fetches the node's description and pins its key (or checks it against the pin).
    pub fn node_info(&mut self) -> Result<NodeInfo, ClientError> {
        let info: NodeInfo = self.get("/v1/node")?;
        match self.node_key {
            Some(pinned) if pinned != info.node_key => {
                return Err(ClientError::Untrusted(format!(
                    "the node key changed: pinned {}, presented {}",
                    pinned.fingerprint(),
                    info.node_key.fingerprint()
                )))
            }
            Some(_) => {}
            None => self.node_key = Some(info.node_key),
        }
        self.currencies = currencies_of(&info);
        Ok(info)
    }

    /// `text` as the node takes an amount: `5`, `5.0` or `EUR:5` become `EUR:5.00` (with the
    /// node's currencies; the default one when no code is given). What is signed is this.
    pub fn canonical_amount(&mut self, text: &str) -> Result<String, ClientError> {
        if self.currencies.is_none() {
            self.node_info()?;
        }
        let currencies = self
            .currencies
            .as_ref()
            .ok_or_else(|| ClientError::Untrusted("the node's currencies are unreadable".into()))?;
        Ok(chit_core::Amount::parse_positive(text, currencies)?.to_string())
    }

    /// [`Client::canonical_amount`], read: the amount with its currency and minor units.
    pub fn amount(&mut self, text: &str) -> Result<chit_core::Amount, ClientError> {
        let canonical = self.canonical_amount(text)?;
        let currencies = self.currencies.as_ref().expect("read by canonical_amount");
        Ok(chit_core::Amount::parse_canonical(&canonical, currencies)?)
    }

    fn pinned(&mut self) -> Result<IdentityKey, ClientError> {
        match self.node_key {
            Some(k) => Ok(k),
            None => Ok(self.node_info()?.node_key),
        }
    }

    /// Registers the identity's handle and keys; returns the verified certificate.
    pub fn register(&mut self, me: &Identity) -> Result<Certificate, ClientError> {
        let node_key = self.pinned()?;
        let registration = Registration {
            handle: me.handle.clone(),
            identity_key: me.identity.public(),
            encryption_key: me.encryption.public(),
            created_at_ms: now_ms(),
        };
        let signature = registration.sign(&me.identity);
        let res: RegisterResponse = self.post(
            "/v1/register",
            &RegisterRequest {
                registration: registration.clone(),
                signature,
            },
        )?;
        let cert = res.certificate;
        cert.verify(&node_key)
            .map_err(|_| ClientError::Untrusted("certificate signature".into()))?;
        if cert.handle != registration.handle
            || cert.identity_key != registration.identity_key
            || cert.encryption_key != registration.encryption_key
        {
            return Err(ClientError::Untrusted(
                "certificate names other keys".into(),
            ));
        }
        Ok(cert)
    }

    /// Logs in by signing the node's challenge; keeps the session token.
    pub fn login(&mut self, me: &Identity) -> Result<LoginResponse, ClientError> {
        let challenge: ChallengeResponse = self.post(
            "/v1/login/challenge",
            &ChallengeRequest {
                handle: me.handle.clone(),
            },
        )?;
        let nonce = b64::decode(&challenge.challenge)
            .ok_or_else(|| ClientError::Untrusted("challenge encoding".into()))?;
        let signature = me.identity.sign(&login_bytes(&me.handle, &nonce));
        let res: LoginResponse = self.post(
            "/v1/login",
            &LoginRequest {
                handle: me.handle.clone(),
                challenge: challenge.challenge,
                signature,
            },
        )?;
        self.token = Some(res.token.clone());
        Ok(res)
    }

    /// Another user's keys, with their certificate checked against the pinned node key.
    pub fn user(&mut self, handle: &Handle) -> Result<UserInfo, ClientError> {
        let node_key = self.pinned()?;
        let info: UserInfo = self.get(&format!("/v1/users/{}", handle.as_str()))?;
        info.certificate
            .verify(&node_key)
            .map_err(|_| ClientError::Untrusted(format!("certificate of {handle}")))?;
        if info.certificate.handle != *handle
            || info.certificate.encryption_key != info.encryption_key
            || info.certificate.identity_key != info.identity_key
        {
            return Err(ClientError::Untrusted(format!(
                "keys of {handle} do not match their certificate"
            )));
        }
        Ok(info)
    }

    /// Seals `plaintext` to `to` and to oneself, signs, and posts it as a text message.
    pub fn say(
        &mut self,
        me: &Identity,
        to: &Handle,
        plaintext: &[u8],
    ) -> Result<Envelope, ClientError> {
        let id = new_id();
        let request = self.seal_say(me, to, plaintext, &id)?;
        self.post_request(&request)
    }

    /// Builds a signed, sealed text message without sending it (lets callers retry it as is).
    pub fn seal_say(
        &mut self,
        me: &Identity,
        to: &Handle,
        plaintext: &[u8],
        id: &CommandId,
    ) -> Result<PostRequest, ClientError> {
        let body = self.seal_note(me, to, plaintext, id)?;
        let command = Command {
            id: *id,
            actor: me.handle.clone(),
            action: Action::Say {
                to: to.clone(),
                body_digest: digest_text(&body),
            },
        };
        let signature = command.sign(&me.identity);
        Ok(PostRequest {
            command,
            signature,
            signer: None,
            body,
        })
    }

    pub fn post_request(&self, request: &PostRequest) -> Result<Envelope, ClientError> {
        self.post("/v1/messages", request)
    }

    /// Seals a body to the other member and to oneself (so one's other devices can read it),
    /// bound to its message by the associated data.
    fn seal_note(
        &mut self,
        me: &Identity,
        to: &Handle,
        plaintext: &[u8],
        id: &CommandId,
    ) -> Result<SealedBody, ClientError> {
        if self.token.is_none() {
            return Err(ClientError::NotLoggedIn);
        }
        let them = self.user(to)?;
        Ok(seal_direct(
            plaintext,
            id.as_str(),
            (&me.handle, me.encryption.public()),
            (to, them.encryption_key),
        )?)
    }

    /// Builds a signed push payment of `amount` (e.g. `EUR:5.00`) to `to`, expiring at
    /// `expires_at_ms`, with a sealed note.
    pub fn seal_offer(
        &mut self,
        me: &Identity,
        to: &Handle,
        amount: &str,
        expires_at_ms: u64,
        note: &[u8],
        id: &CommandId,
    ) -> Result<PostRequest, ClientError> {
        self.seal_payment(me, to, amount, expires_at_ms, note, id, false)
    }

    /// Builds a signed request (invoice) asking `from` for `amount`.
    pub fn seal_request(
        &mut self,
        me: &Identity,
        from: &Handle,
        amount: &str,
        expires_at_ms: u64,
        note: &[u8],
        id: &CommandId,
    ) -> Result<PostRequest, ClientError> {
        self.seal_payment(me, from, amount, expires_at_ms, note, id, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn seal_payment(
        &mut self,
        me: &Identity,
        other: &Handle,
        amount: &str,
        expires_at_ms: u64,
        note: &[u8],
        id: &CommandId,
        request: bool,
    ) -> Result<PostRequest, ClientError> {
        let amount = self.canonical_amount(amount)?;
        let body = self.seal_note(me, other, note, id)?;
        let (to, body_digest) = (other.clone(), digest_text(&body));
        let action = if request {
            Action::Request {
                to,
                amount,
                expires_at_ms,
                body_digest,
            }
        } else {
            Action::Offer {
                to,
                amount,
                expires_at_ms,
                body_digest,
            }
        };
        let command = Command {
            id: *id,
            actor: me.handle.clone(),
            action,
        };
        let signature = command.sign(&me.identity);
        Ok(PostRequest {
            command,
            signature,
            signer: None,
            body,
        })
    }

    /// Sends a push payment; the money is held until the recipient accepts or declines.
    pub fn offer(
        &mut self,
        me: &Identity,
        to: &Handle,
        amount: &str,
        expires_at_ms: u64,
        note: &[u8],
    ) -> Result<Envelope, ClientError> {
        let request = self.seal_offer(me, to, amount, expires_at_ms, note, &new_id())?;
        self.post_offer(&request)
    }

    /// Posts a built offer (see [`Client::seal_offer`]); safe to retry as is.
    pub fn post_offer(&self, request: &PostRequest) -> Result<Envelope, ClientError> {
        self.post("/v1/offers", request)
    }

    /// Posts a built request (see [`Client::seal_request`]); safe to retry as is.
    pub fn post_payment_request(&self, request: &PostRequest) -> Result<Envelope, ClientError> {
        self.post("/v1/requests", request)
    }

    /// Sends a request (invoice) to `from`.
    pub fn request(
        &mut self,
        me: &Identity,
        from: &Handle,
        amount: &str,
        expires_at_ms: u64,
        note: &[u8],
    ) -> Result<Envelope, ClientError> {
        let request = self.seal_request(me, from, amount, expires_at_ms, note, &new_id())?;
        self.post_payment_request(&request)
    }

    /// Signs `action` as `me` under a new id.
    pub fn sign(me: &Identity, action: Action) -> SignedCommand {
        let command = Command {
            id: new_id(),
            actor: me.handle.clone(),
            action,
        };
        let signature = command.sign(&me.identity);
        SignedCommand {
            command,
            signature,
            signer: None,
        }
    }

    /// Sends a signed decision (accept, decline, cancel) and returns the update message.
    pub fn decide(&self, signed: &SignedCommand) -> Result<Envelope, ClientError> {
        self.post("/v1/commands", signed)
    }

    /// Sends a signed link of an external account; answers with the verified, masked account.
    pub fn link(
        &self,
        signed: &SignedCommand,
    ) -> Result<chit_proto::api::LinkedAccount, ClientError> {
        self.post("/v1/commands", signed)
    }

    /// Sends a signed top-up or cash-out and returns the new balances.
    pub fn move_money(&self, signed: &SignedCommand) -> Result<Balances, ClientError> {
        self.post("/v1/commands", signed)
    }

    /// Grants or revokes an API key (a signed `Grant` or `Revoke`).
    pub fn manage_key(
        &self,
        signed: &SignedCommand,
    ) -> Result<chit_proto::api::ApiKeyInfo, ClientError> {
        self.post("/v1/commands", signed)
    }

    /// The caller's API keys, newest first.
    pub fn api_keys(&self) -> Result<chit_proto::api::ApiKeys, ClientError> {
        self.get("/v1/keys")
    }

    /// Sets who offers are accepted from automatically: `off`, `contacts` or `everyone`.
    pub fn set_auto_accept(&self, mode: &str) -> Result<(), ClientError> {
        let _: chit_proto::api::Settings = self.post(
            "/v1/settings",
            &chit_proto::api::Settings {
                auto_accept: mode.to_owned(),
            },
        )?;
        Ok(())
    }

    pub fn balances(&self) -> Result<Balances, ClientError> {
        self.get("/v1/balance")
    }

    /// Mailbox items after `cursor`.
    pub fn mailbox(&self, after: u64, limit: usize) -> Result<Vec<Delivery>, ClientError> {
        let page: MailboxPage = self.get(&format!("/v1/mailbox?after={after}&limit={limit}"))?;
        Ok(page.items)
    }

    /// Opens a message's body with the wallet's key.
    pub fn open(me: &Identity, message: &Envelope) -> Result<Vec<u8>, ClientError> {
        let aad = body_aad(message.id.as_str(), &message.conversation, &message.sender);
        Ok(message
            .body
            .open(me.handle.as_str(), &me.encryption, &aad)?)
    }

    /// Opens the live event stream.
    pub fn listen(&self) -> Result<Listener, ClientError> {
        Ok(Listener {
            socket: self.websocket("/v1/events")?,
        })
    }

    /// Opens a calls socket: the acting POST endpoints, pipelined on one connection.
    pub fn calls(&self) -> Result<Calls, ClientError> {
        Ok(Calls {
            socket: self.websocket("/v1/calls")?,
            next: 1,
        })
    }

    fn websocket(&self, path: &str) -> Result<WebSocket, ClientError> {
        let token = self.token.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let ws_base = self
            .base
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        let url = format!("{ws_base}{path}?token={token}");
        let (socket, _) = tungstenite::connect(url.as_str()).map_err(|e| self.unreachable(e))?;
        Ok(socket)
    }
}

type WebSocket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A connection to `/v1/calls`. [`Calls::send`] returns at once with the call's number;
/// [`Calls::recv`] gives the next reply, in whatever order the node finishes them. Keep the
/// calls in flight below the node's limit (256) or it stops reading until replies are read.
pub struct Calls {
    socket: WebSocket,
    next: u64,
}

impl Calls {
    /// Queues one call (e.g. `"/v1/messages"` with a [`PostRequest`]); returns its number.
    /// Queued calls go out together with the next [`Calls::recv`] or [`Calls::flush`] (or once
    /// 128 KiB are queued): a burst of calls costs one write, not one each.
    pub fn send<B: Serialize>(&mut self, path: &str, body: &B) -> Result<u64, ClientError> {
        let call = chit_proto::api::Call {
            call: self.next,
            path: path.to_owned(),
            body,
        };
        let text = serde_json::to_string(&call).expect("serialisable");
        self.socket
            .write(tungstenite::Message::Text(text.into()))
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        self.next += 1;
        Ok(call.call)
    }

    /// Sends every queued call now.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        self.socket
            .flush()
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Sends the queued calls, then blocks for the next reply: its call's number and the
    /// outcome, an error as over HTTP.
    pub fn recv<T: DeserializeOwned>(
        &mut self,
    ) -> Result<(u64, Result<T, ClientError>), ClientError> {
        self.flush()?;
        loop {
            let text = match self
                .socket
                .read()
                .map_err(|e| ClientError::Transport(e.to_string()))?
            {
                tungstenite::Message::Text(text) => text,
                tungstenite::Message::Close(_) => {
                    return Err(ClientError::Transport("the node closed the socket".into()))
                }
                _ => continue,
            };
            // The body stays raw until the status says whether it is an answer or an error.
            let reply: chit_proto::api::Reply<Box<serde_json::value::RawValue>> =
                serde_json::from_str(text.as_str())
                    .map_err(|e| ClientError::Untrusted(format!("reply: {e}")))?;
            let error = || {
                let body = serde_json::from_str(reply.body.get()).unwrap_or_default();
                api_error(reply.status, body)
            };
            let Some(number) = reply.reply else {
                return Err(error());
            };
            if reply.status >= 400 {
                return Ok((number, Err(error())));
            }
            let body = serde_json::from_str(reply.body.get())
                .map_err(|e| ClientError::Untrusted(format!("reply body: {e}")));
            return Ok((number, body));
        }
    }
}

/// The node's error answer (`{"error": {…}}`), over HTTP or the calls socket.
fn api_error(status: u16, body: serde_json::Value) -> ClientError {
    match serde_json::from_value::<ErrorBody>(body) {
        Ok(e) => ClientError::Api {
            status,
            code: e.error.code,
            message: e.error.message,
        },
        Err(_) => ClientError::Api {
            status,
            code: "http_error".into(),
            message: format!("HTTP {status}"),
        },
    }
}

/// What the live stream says.
#[derive(Debug)]
pub enum Event {
    Delivery(Box<Delivery>),
    /// Events were dropped for this listener: sync the mailbox from the last cursor.
    Resync,
}

/// A live connection to `/v1/events`.
pub struct Listener {
    socket: WebSocket,
}

impl Listener {
    /// Blocks until the next event.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let message = self
                .socket
                .read()
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            match message {
                tungstenite::Message::Text(text) => {
                    if text.as_str() == r#"{"resync":true}"# {
                        return Ok(Event::Resync);
                    }
                    let delivery = serde_json::from_str(text.as_str())
                        .map_err(|e| ClientError::Untrusted(format!("event: {e}")))?;
                    return Ok(Event::Delivery(Box::new(delivery)));
                }
                tungstenite::Message::Close(_) => {
                    return Err(ClientError::Transport("the node closed the stream".into()))
                }
                _ => {}
            }
        }
    }

    /// Sets how long [`Listener::next_event`] waits before failing with a transport error.
    pub fn set_timeout(&mut self, timeout: Option<std::time::Duration>) -> Result<(), ClientError> {
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = self.socket.get_mut() {
            stream
                .set_read_timeout(timeout)
                .map_err(|e| ClientError::Transport(e.to_string()))?;
        }
        Ok(())
    }
}
