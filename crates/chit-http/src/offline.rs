//! The offline payment routes: devices (register, list; retiring is a signed command), deposit,
//! withdraw, sync, claims, and the public revocation list and limits. Thin, like the rest:
//! parse, authenticate, await the node.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chit_offline::api::{ClaimRequest, RegisterDevice, SyncRequest};
use chit_proto::api::SignedCommand;

use crate::{ApiError, ApiJson, AppState, Authed};

/// Largest claim body: [`chit_offline::api::CLAIM_VOUCHERS_MAX`] vouchers of about 1 KiB each.
pub const CLAIM_BODY_BYTES_MAX: usize = 1536 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/devices", get(devices).post(register))
        .route("/v1/offline/deposit", post(deposit))
        .route("/v1/offline/withdraw", post(withdraw))
        .route("/v1/offline/sync", post(sync))
        .route(
            "/v1/offline/claims",
            post(claims).layer(DefaultBodyLimit::max(CLAIM_BODY_BYTES_MAX)),
        )
        .route("/v1/offline/revocations", get(revocations))
        .route("/v1/offline/limits", get(limits))
}

async fn register(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<RegisterDevice>,
) -> Result<Response, ApiError> {
    let res = node.register_device(actor, req).await?;
    Ok((StatusCode::CREATED, Json(res)).into_response())
}

async fn devices(
    State(node): State<AppState>,
    Authed(actor): Authed,
) -> Result<Response, ApiError> {
    Ok(Json(node.devices(actor).await?).into_response())
}

async fn deposit(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<SignedCommand>,
) -> Result<Response, ApiError> {
    Ok(Json(node.offline_deposit(actor, req).await?).into_response())
}

async fn withdraw(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(node.offline_sync(actor, req, true).await?).into_response())
}

async fn sync(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(node.offline_sync(actor, req, false).await?).into_response())
}

async fn claims(
    State(node): State<AppState>,
    Authed(actor): Authed,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(node.offline_claim(actor, req).await?).into_response())
}

async fn revocations(State(node): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(node.revocation_list().await?).into_response())
}

async fn limits(State(node): State<AppState>) -> Response {
    Json(node.offline_limits()).into_response()
}
