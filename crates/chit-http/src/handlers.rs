//! The handlers of the JSON endpoints: parse, authenticate, await the node, answer.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chit_node::messaging::MAILBOX_PAGE_MAX;
use chit_proto::api::{
    ChallengeRequest, LoginRequest, MailboxPage, PostRequest, RegisterRequest, SignedCommand,
};
use chit_proto::Action;
use chit_proto::Handle;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::*;

/// The API description, hand-written and checked by a test against the real routes.
pub const OPENAPI: &str = include_str!("openapi.json");

pub(crate) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

pub(crate) async fn metrics(State(node): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        node.metrics().render(node.db().batches_redone()),
    )
        .into_response()
}

pub(crate) async fn node_info(State(node): State<AppState>) -> Response {
    Json(node.info()).into_response()
}

pub(crate) async fn register(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let res = node.register(req.registration, req.signature, from).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

pub(crate) async fn challenge(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Response, ApiError> {
    // No I/O: a challenge is made and MAC'd in memory.
    let res = node.challenge(&req.handle, from)?;
    Ok(Json(res).into_response())
}

pub(crate) async fn login(
    State(node): State<AppState>,
    Peer(from): Peer,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let res = node
        .login(req.handle, req.challenge, req.signature, from)
        .await?;
    Ok(Json(res).into_response())
}

pub(crate) async fn user_info(
    State(node): State<AppState>,
    Peer(from): Peer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let handle =
        Handle::new(&handle).map_err(|e| ApiError::bad_request("bad_handle", &e.to_string()))?;
    let res = node.lookup(handle, from).await?;
    Ok(Json(res).into_response())
}

pub(crate) async fn post_message(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.post(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

pub(crate) async fn offer(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.offer(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

pub(crate) async fn request(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<PostRequest>,
) -> Result<Response, ApiError> {
    let res = node.request(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

/// A signed command that is not a message of its own: payment decisions, top-up, cash-out.
pub(crate) async fn command(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<SignedCommand>,
) -> Result<Response, ApiError> {
    Ok(Json(run_command(node, actor, req).await?).into_response())
}

/// `/v1/commands` for both front doors (HTTP and the calls socket): the answer as JSON.
pub(crate) async fn run_command(
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
        Action::RetireDevice { .. } => raw_json(&node.retire_device(actor, req).await?),
        Action::OfflineDeposit { .. } => raw_json(&node.offline_deposit(actor, req).await?),
        _ => raw_json(&node.act(actor, req).await?),
    }
}

pub(crate) async fn settings(
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

pub(crate) async fn api_keys(
    State(node): State<AppState>,
    Authed(actor): Authed,
) -> Result<Response, ApiError> {
    let res = node.api_keys(actor).await?;
    Ok(Json(res).into_response())
}

pub(crate) async fn balance(
    State(node): State<AppState>,
    Authed(actor): Authed,
) -> Result<Response, ApiError> {
    let res = node.balances(actor).await?;
    Ok(Json(res).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailboxQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

pub(crate) async fn mailbox(
    State(node): State<AppState>,
    Authed(handle): Authed,
    query: Result<Query<MailboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("bad_query", &e.body_text()))?;
    let limit = q.limit.unwrap_or(MAILBOX_PAGE_MAX);
    let items = node.mailbox(handle, q.after, limit).await?;
    Ok(Json(MailboxPage { items }).into_response())
}

/// An answer serialised once, to be embedded as it is.
pub(crate) fn raw_json(value: &impl serde::Serialize) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(value).map_err(|_| ApiError::internal())
}
