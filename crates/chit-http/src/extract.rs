//! The extractors every handler uses: a JSON body with the API's errors, the session's user
//! (and its token), a WebSocket upgrade, the caller's source address.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chit_node::throttle::Source;
use chit_proto::Handle;

use crate::admission::Connection;
use crate::*;

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

pub(crate) fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The session's user: from the cache without leaving the async thread, else from the
/// database on the blocking pool.
pub(crate) async fn authenticate(node: &AppState, token: &str) -> Result<Handle, ApiError> {
    if let Some(handle) = node.authenticate_cached(token) {
        return Ok(handle);
    }
    let (node, token) = (node.clone(), token.to_owned());
    Ok(node.authenticate(token).await?)
}
