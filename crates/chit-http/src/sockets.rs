//! The two WebSockets: `/v1/events` (live deliveries out, only pings and the close in) and
//! `/v1/calls` (the acting endpoints as pipelined calls, each re-checking the session).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chit_node::events::RecvError;
use chit_proto::api::PostRequest;
use serde_json::value::RawValue;

use crate::*;

pub(crate) async fn events(
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
pub(crate) async fn forward_events(
    mut socket: WebSocket,
    mut receiver: chit_node::events::Subscription,
) {
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
pub(crate) const SOCKET_READ_BUFFER_BYTES: usize = 16 * 1024;

/// Calls one socket may have in flight; beyond it the node stops reading the socket until
/// replies have gone out (backpressure instead of an unbounded queue).
pub const CALLS_IN_FLIGHT_MAX: usize = 256;

/// `/v1/calls`: a WebSocket carrying the acting POST endpoints as pipelined calls (see
/// [`chit_proto::api::Call`]). One connection, no per-request HTTP: what a busy wallet or a
/// gateway uses. Each call is checked like its HTTP twin, the session included (a socket does
/// not outlive its session).
pub(crate) async fn calls(
    State(node): State<AppState>,
    AuthedToken(_, token): AuthedToken,
    Upgrade(upgrade): Upgrade,
) -> Response {
    upgrade
        .max_message_size(BODY_BYTES_MAX)
        .read_buffer_size(SOCKET_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_calls(socket, node, token))
}

pub(crate) async fn serve_calls(mut socket: WebSocket, node: AppState, token: String) {
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
pub(crate) async fn send_ready(
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
pub(crate) async fn answer_call(node: AppState, token: &str, frame: &str) -> String {
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

pub(crate) fn reply_error(number: Option<u64>, e: &ApiError) -> String {
    serde_json::to_string(&chit_proto::api::Reply {
        reply: number,
        status: e.status.as_u16(),
        body: e.body(),
    })
    .expect("serialisable")
}
