//! The HTTP front door: JSON under `/v1`, the WebSocket `/v1/events`, `/healthz`. Handlers are
//! thin: parse, authenticate, await the [`Node`]'s operation (which picks its own lane, see
//! [`chit_node::exec`]), answer.

pub mod admission;
pub mod error;
pub mod read;
pub mod serving;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chit_proto::api::{
    ChallengeRequest, LoginRequest, MailboxPage, PostRequest, RegisterRequest, SignedCommand,
};
use chit_proto::Action;
use chit_proto::Handle;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;

use chit_node::throttle::Source;

use crate::admission::{Connection, Limits};
use chit_node::events::RecvError;
use chit_node::messaging::MAILBOX_PAGE_MAX;
use chit_node::Node;
pub use error::ApiError;

/// Largest request body accepted.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

type AppState = Arc<Node>;

/// Serves the API on `listener` until `shutdown` resolves; in-flight requests finish first.
/// Connections are bounded in all and per address, with header and request deadlines (see
/// [`crate::serving`] and [`crate::admission`]).
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(node.clone());
    let counted = move |admission: &crate::admission::Admission| {
        let (open, displaced, refused) =
            (admission.open(), admission.displaced(), admission.refused());
        node.metrics().count_connections(open, displaced, refused);
    };
    crate::serving::serve_router(listener, router, limits, counted, shutdown).await
}

/// Connections the operator's metrics listener keeps: scrapers, not the public.
const METRICS_LIMITS: Limits = Limits {
    max: 64,
    per_address_max: 64,
    header_read_timeout: crate::admission::HEADER_READ_TIMEOUT,
    request_timeout: crate::admission::REQUEST_TIMEOUT,
};

/// Serves `GET /metrics` (Prometheus text) on its own listener, apart from the public API,
/// as services do: by default on 127.0.0.1 only, for the operator's scraper.
pub async fn serve_metrics(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(node);
    crate::serving::serve_router(listener, router, METRICS_LIMITS, |_| {}, shutdown).await
}

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/node", get(node_info))
        .route("/v1/register", post(register))
        .route("/v1/login/challenge", post(challenge))
        .route("/v1/login", post(login))
        .route("/v1/users/{handle}", get(user_info))
        .route("/v1/messages", post(post_message))
        .route("/v1/mailbox", get(mailbox))
        .route("/v1/offers", post(offer))
        .route("/v1/requests", post(request))
        .route("/v1/commands", post(command))
        .route("/v1/balance", get(balance))
        .route("/v1/keys", get(api_keys))
        .route("/v1/settings", get(crate::read::settings).post(settings))
        .route("/v1/events", get(events))
        .route("/v1/calls", get(calls))
        .merge(crate::read::routes())
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(node)
}

/// JSON bodies whose every rejection is a JSON error: malformed, unknown field, too large.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    &format!("request bodies are at most {BODY_BYTES_MAX} bytes"),
                ))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_content_type",
                "send Content-Type: application/json",
            )),
            Err(e) => Err(ApiError::bad_request("bad_json", &e.body_text())),
        }
    }
}

/// The logged-in user: `Authorization: Bearer <token>` (or `?token=` on a WebSocket upgrade
/// only, since browsers cannot give those headers; anywhere else a token in the address would
/// end up in logs and histories). A connection that shows a valid session is a user's: it is
/// never closed to make room for others ([`crate::admission`]).
pub struct Authed(pub Handle);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        let AuthedToken(handle, _) = AuthedToken::from_request_parts(parts, node).await?;
        Ok(Self(handle))
    }
}

/// A WebSocket upgrade; anything else on a WebSocket route is a JSON error like every other.
pub struct Upgrade(pub WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(|e| {
                ApiError::new(
                    e.status(),
                    "websocket_required",
                    &format!(
                        "this is a WebSocket: connect with Upgrade: websocket ({})",
                        e.body_text()
                    ),
                )
            })
    }
}

/// Where the request came from, for budgets per address ([`chit_node::throttle`]). A router
/// served without [`crate::serving`] (no peer known) counts everyone as one address.
pub struct Peer(pub Source);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
        Ok(Self(Source::of(address)))
    }
}

/// [`Authed`] and the session token itself, for a socket that must re-check its session.
pub struct AuthedToken(pub Handle, pub String);

impl FromRequestParts<AppState> for AuthedToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let query = || {
            parts.uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("token="))
                    .map(str::to_owned)
            })
        };
        let token = match header {
            Some(token) => token,
            None if is_websocket_upgrade(parts) => query().ok_or_else(ApiError::unauthorized)?,
            None if query().is_some() => {
                return Err(ApiError::bad_request(
                    "token_in_query",
                    "a session token goes in the Authorization header (Bearer); ?token= is for WebSocket upgrades only",
                ))
            }
            None => return Err(ApiError::unauthorized()),
        };
        let handle = authenticate(node, &token).await?;
        if let Some(connection) = parts.extensions.get::<Arc<Connection>>() {
            connection.trust();
        }
        Ok(Self(handle, token))
    }
}

fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The session's user: from the cache without leaving the async thread, else from the
/// database on the blocking pool.
async fn authenticate(node: &AppState, token: &str) -> Result<Handle, ApiError> {
    if let Some(handle) = node.authenticate_cached(token) {
        return Ok(handle);
    }
    let (node, token) = (node.clone(), token.to_owned());
    Ok(node.authenticate(token).await?)
}

/// The API description, hand-written and checked by a test against the real routes.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn metrics(State(node): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        node.metrics().render(node.db().batches_redone()),
    )
        .into_response()
}

async fn node_info(State(node): State<AppState>) -> Response {
    Json(node.info()).into_response()
}

async fn register(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let res = node.register(req.registration, req.signature, from).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

async fn challenge(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Response, ApiError> {
    // No I/O: a challenge is made and MAC'd in memory.
    let res = node.challenge(&req.handle, from)?;
    Ok(Json(res).into_response())
}

async fn login(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let res = node
        .login(req.handle, req.challenge, req.signature, from)
        .await?;
    Ok(Json(res).into_response())
}

async fn user_info(
    State(node): State<AppState>,
    Peer(from): Peer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let handle =
        Handle::new(&handle).map_err(|e| ApiError::bad_request("bad_handle", &e.to_string()))?;
    let res = node.lookup(handle, from).await?;
    Ok(Json(res).into_response())
}

async fn post_message(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.post(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

async fn offer(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.offer(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

async fn request(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.request(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

/// A signed command that is not a message of its own: payment decisions, top-up, cash-out.
async fn command(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<SignedCommand>,
) -> Result<Response, ApiError> {
    Ok(Json(run_command(node, actor, req).await?).into_response())
}

/// `/v1/commands` for both front doors (HTTP and the calls socket): the answer as JSON.
async fn run_command(
    node: AppState,
    actor: Handle,
    req: SignedCommand,
) -> Result<Box<RawValue>, ApiError> {
    match req.command.action {
        Action::Link { .. } => raw_json(&node.link(actor, req).await?),
        Action::Grant { .. } => raw_json(&node.grant(actor, req).await?),
        Action::Revoke { .. } => raw_json(&node.revoke(actor, req).await?),
        Action::TopUp { .. } | Action::CashOut { .. } => {
            raw_json(&node.top_up_or_cash_out(actor, req).await?)
        }
        _ => raw_json(&node.act(actor, req).await?),
    }
}

async fn settings(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<chit_proto::api::Settings>,
) -> Result<Response, ApiError> {
    let mode = req.auto_accept.parse().map_err(|_| {
        ApiError::bad_request("bad_setting", "auto_accept is off, contacts or everyone")
    })?;
    node.set_auto_accept(actor, mode).await?;
    Ok(Json(req).into_response())
}

async fn api_keys(
    State(node): State<AppState>,
    Authed(actor): Authed,
) -> Result<Response, ApiError> {
    let res = node.api_keys(actor).await?;
    Ok(Json(res).into_response())
}

async fn balance(
    State(node): State<AppState>,
    Authed(actor): Authed,
) -> Result<Response, ApiError> {
    let res = node.balances(actor).await?;
    Ok(Json(res).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailboxQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

async fn mailbox(
    State(node): State<AppState>,
    Authed(handle): Authed,
    query: Result<Query<MailboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("bad_query", &e.body_text()))?;
    let limit = q.limit.unwrap_or(MAILBOX_PAGE_MAX);
    let items = node.mailbox(handle, q.after, limit).await?;
    Ok(Json(MailboxPage { items }).into_response())
}

async fn events(
    State(node): State<AppState>,
    Authed(handle): Authed,
    Upgrade(upgrade): Upgrade,
) -> Response {
    // Subscribe before the upgrade completes, so nothing posted meanwhile is missed.
    let receiver = node.hub().subscribe(&handle);
    let upgrade = upgrade
        .max_message_size(EVENTS_INCOMING_BYTES_MAX)
        .max_frame_size(EVENTS_INCOMING_BYTES_MAX)
        .read_buffer_size(SOCKET_READ_BUFFER_BYTES);
    upgrade.on_upgrade(move |socket| async move {
        chit_node::metrics::Metrics::inc(&node.metrics().live_subscribers);
        forward_events(socket, receiver).await;
        node.metrics()
            .live_subscribers
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    })
}

/// Pushes each delivery to the socket as JSON. A subscriber that fell behind gets
/// `{"resync": true}` and should sync its mailbox from its last cursor.
async fn forward_events(mut socket: WebSocket, mut receiver: chit_node::events::Subscription) {
    loop {
        tokio::select! {
            event = receiver.recv() => {
                let text = match event {
                    Ok(delivery) => serde_json::to_string(&*delivery).expect("serialisable"),
                    Err(RecvError::Lagged(_)) => r#"{"resync":true}"#.to_owned(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Largest message a client may send on its event stream, which only ever carries pings and
/// the close (anything else is read and dropped).
pub const EVENTS_INCOMING_BYTES_MAX: usize = 4 * 1024;
/// Read buffer of a WebSocket. The library's default, 128 KiB, is zeroed before every read,
/// which showed in the profile with many small calls (docs/benchmarks.md has the runs).
const SOCKET_READ_BUFFER_BYTES: usize = 16 * 1024;

/// Calls one socket may have in flight; beyond it the node stops reading the socket until
/// replies have gone out (backpressure instead of an unbounded queue).
pub const CALLS_IN_FLIGHT_MAX: usize = 256;

/// `/v1/calls`: a WebSocket carrying the acting POST endpoints as pipelined calls (see
/// [`chit_proto::api::Call`]). One connection, no per-request HTTP: what a busy wallet or a
/// gateway uses. Each call is checked like its HTTP twin, the session included (a socket does
/// not outlive its session).
async fn calls(
    State(node): State<AppState>,
    AuthedToken(_, token): AuthedToken,
    Upgrade(upgrade): Upgrade,
) -> Response {
    upgrade
        .max_message_size(BODY_BYTES_MAX)
        .read_buffer_size(SOCKET_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_calls(socket, node, token))
}

async fn serve_calls(mut socket: WebSocket, node: AppState, token: String) {
    let (replies, mut replied) = tokio::sync::mpsc::channel::<String>(CALLS_IN_FLIGHT_MAX);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(CALLS_IN_FLIGHT_MAX));
    loop {
        tokio::select! {
            reply = replied.recv() => {
                let reply = reply.expect("the loop holds a sender");
                if send_ready(&mut socket, reply, &mut replied).await.is_err() {
                    return;
                }
            }
            // Read only while a call may start; the permit goes back before the reply is
            // queued, so the reply that wakes this loop finds it free again.
            incoming = socket.recv(), if in_flight.available_permits() > 0 => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(Message::Binary(_))) => {
                        let e = ApiError::bad_request("bad_call", "calls are JSON text frames");
                        if socket.send(Message::Text(reply_error(None, &e).into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Pings are answered by the socket itself.
                    Some(Ok(_)) => continue,
                };
                let permit = in_flight.clone().try_acquire_owned().expect("a permit is free");
                let (node, token, replies) = (node.clone(), token.clone(), replies.clone());
                tokio::spawn(async move {
                    let reply = answer_call(node, &token, text.as_str()).await;
                    drop(permit);
                    let _ = replies.send(reply).await;
                });
            }
        }
    }
}

/// Sends `first` and every other reply already waiting in one write: a group commit answers
/// many calls at once, and a system call per reply would cost more than the replies.
async fn send_ready(
    socket: &mut WebSocket,
    first: String,
    replied: &mut tokio::sync::mpsc::Receiver<String>,
) -> Result<(), axum::Error> {
    use futures_util::SinkExt;
    socket.feed(Message::Text(first.into())).await?;
    while let Ok(next) = replied.try_recv() {
        socket.feed(Message::Text(next.into())).await?;
    }
    socket.flush().await
}

/// One call, answered as JSON: the status and body its HTTP twin would give.
async fn answer_call(node: AppState, token: &str, frame: &str) -> String {
    use chit_proto::api::{Call, Reply};
    // The body stays raw text until the path says what it must be: parsed once, into its type.
    let call: Call<Box<RawValue>> = match serde_json::from_str(frame) {
        Ok(call) => call,
        Err(e) => {
            let number = serde_json::from_str::<serde_json::Value>(frame)
                .ok()
                .and_then(|v| v.get("call").and_then(serde_json::Value::as_u64));
            return reply_error(number, &ApiError::bad_request("bad_call", &e.to_string()));
        }
    };
    let outcome = async {
        let actor = authenticate(&node, token).await?;
        fn body<T: serde::de::DeserializeOwned>(raw: &RawValue) -> Result<T, ApiError> {
            serde_json::from_str(raw.get())
                .map_err(|e| ApiError::bad_request("bad_json", &e.to_string()))
        }
        Ok::<_, ApiError>(match call.path.as_str() {
            "/v1/messages" => {
                let envelope = node.post(actor, body(&call.body)?).await?;
                (StatusCode::CREATED, raw_json(&envelope)?)
            }
            "/v1/offers" => {
                let envelope = node.offer(actor, body(&call.body)?).await?;
                (StatusCode::CREATED, raw_json(&envelope)?)
            }
            "/v1/requests" => {
                let req: PostRequest = body(&call.body)?;
                let envelope = node.request(actor, req).await?;
                (StatusCode::CREATED, raw_json(&envelope)?)
            }
            "/v1/commands" => (
                StatusCode::OK,
                run_command(node, actor, body(&call.body)?).await?,
            ),
            other => {
                return Err(ApiError::not_found(
                    "not_found",
                    &format!("{other} cannot be called on this socket"),
                ))
            }
        })
    }
    .await;
    match outcome {
        Ok((status, body)) => serde_json::to_string(&Reply {
            reply: Some(call.call),
            status: status.as_u16(),
            body,
        })
        .expect("serialisable"),
        Err(e) => reply_error(Some(call.call), &e),
    }
}

/// An answer serialised once, to be embedded as it is.
fn raw_json(value: &impl serde::Serialize) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(value).map_err(|_| ApiError::internal())
}

fn reply_error(number: Option<u64>, e: &ApiError) -> String {
    serde_json::to_string(&chit_proto::api::Reply {
        reply: number,
        status: e.status.as_u16(),
        body: e.body(),
    })
    .expect("serialisable")
}
