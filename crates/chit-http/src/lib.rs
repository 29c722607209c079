//! The HTTP front door: JSON under `/v1`, the WebSocket `/v1/events`, `/healthz`. Handlers are
//! thin: parse, authenticate, await the [`Node`]'s operation (which picks its own lane, see
//! [`chit_node::exec`]), answer.

pub mod admission;
pub mod error;
mod extract;
mod handlers;
pub mod offline;
pub mod read;
pub mod serving;
mod sockets;
pub mod web;

pub use error::ApiError;
pub(crate) use extract::*;
pub use extract::{ApiJson, Authed, AuthedToken, Peer, Upgrade};
pub use handlers::OPENAPI;
pub(crate) use handlers::*;
pub(crate) use sockets::*;
pub use sockets::{CALLS_IN_FLIGHT_MAX, EVENTS_INCOMING_BYTES_MAX};

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use chit_node::Node;

use crate::admission::Limits;

/// Largest request body accepted.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

pub(crate) type AppState = Arc<Node>;

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
pub(crate) const METRICS_LIMITS: Limits = Limits {
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
        .merge(crate::offline::routes())
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(node)
}
