//! The HTTP API's error: a status, a stable snake_case code and a message, rendered as
//! `{"error": {"code": …, "message": …}}`. Every [`NodeError`] maps to one status here, and
//! errors of HTTP's own (a body that is not JSON, a request past its deadline) are made here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chit_proto::api::{ErrorBody, ErrorDetail};

use chit_node::NodeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn bad_request(code: &str, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized() -> Self {
        NodeError::Unauthorized.into()
    }

    pub fn internal() -> Self {
        NodeError::Internal.into()
    }

    /// The JSON body: `{"error": {"code": …, "message": …}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
            },
        }
    }
}

/// The status each kind of node failure answers with.
fn status(e: &NodeError) -> StatusCode {
    match e {
        NodeError::Invalid { .. } => StatusCode::BAD_REQUEST,
        NodeError::Unauthorized => StatusCode::UNAUTHORIZED,
        NodeError::Forbidden { .. } => StatusCode::FORBIDDEN,
        NodeError::NotFound { .. } => StatusCode::NOT_FOUND,
        NodeError::Conflict { .. } => StatusCode::CONFLICT,
        NodeError::Expired { .. } => StatusCode::GONE,
        NodeError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        NodeError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        NodeError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        NodeError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self::new(status(&e), e.code(), &e.message())
    }
}

impl From<chit_ledger::StoreError> for ApiError {
    fn from(e: chit_ledger::StoreError) -> Self {
        NodeError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
