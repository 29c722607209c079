//! The HTTP routes a wallet uses to look back: its statement, its conversations and read
//! markers, its settings, and the node's home page. Reads only (a read marker is a preference,
//! not a signed command); each handler parses, authenticates, awaits the node's read.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chit_proto::api::{ReadMarker, Settings};
use serde::Deserialize;

use crate::{ApiError, ApiJson, Authed};
use chit_node::messaging::conversations::{Page, CONVERSATION_PAGE_MAX};
use chit_node::Node;

type AppState = std::sync::Arc<Node>;

/// Page sizes when the caller names none.
const STATEMENT_PAGE_DEFAULT: usize = 200;
const CONVERSATIONS_DEFAULT: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/statement", get(statement))
        .route("/v1/conversations", get(conversations))
        .route("/v1/conversations/{id}/messages", get(conversation))
        .route("/v1/conversations/{id}/read", post(mark_read))
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request("bad_query", &e.body_text()))
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// `GET /v1/settings`: the caller's preferences as they stand.
pub async fn settings(
    State(node): State<AppState>,
    Authed(me): Authed,
) -> Result<Response, ApiError> {
    let auto_accept = node.auto_accept_mode(me).await?;
    Ok(Json(Settings {
        auto_accept: auto_accept.to_string(),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementQuery {
    currency: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

async fn statement(
    State(node): State<AppState>,
    Authed(me): Authed,
    q: QueryResult<StatementQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(STATEMENT_PAGE_DEFAULT);
    let page = node.statement(me, q.currency, q.after, limit).await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn conversations(
    State(node): State<AppState>,
    Authed(me): Authed,
    q: QueryResult<LimitQuery>,
) -> Result<Response, ApiError> {
    let limit = query(q)?.limit.unwrap_or(CONVERSATIONS_DEFAULT);
    let list = node.conversations(me, limit).await?;
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

async fn conversation(
    State(node): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    q: QueryResult<PageQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let page = match (q.before, q.after) {
        (None, None) => Page::Newest,
        (Some(seq), None) => Page::Before(seq),
        (None, Some(seq)) => Page::After(seq),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "bad_query",
                "give before or after, not both",
            ))
        }
    };
    let limit = q.limit.unwrap_or(CONVERSATION_PAGE_MAX.min(100));
    let page = node.conversation(me, id, page, limit).await?;
    Ok(Json(page).into_response())
}

async fn mark_read(
    State(node): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    ApiJson(marker): ApiJson<ReadMarker>,
) -> Result<Response, ApiError> {
    let seq = node.mark_read(me, id, marker.seq).await?;
    Ok(Json(ReadMarker { seq }).into_response())
}
