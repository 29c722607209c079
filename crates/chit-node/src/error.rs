//! What can go wrong in the node, as a type every front door maps exhaustively: HTTP to a
//! status and `{"error": {"code", "message"}}` (`chit_http::ApiError`), IMPT to its error
//! PDUs. Each variant is a kind of failure; within a kind the stable snake_case `code` (part of
//! the wire) says which. Storage failures become `Internal`, which says nothing about internals
//! (the detail goes to the log).

use chit_ledger::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The request breaks a rule or is malformed; nothing changed.
    #[error("{message}")]
    Invalid { code: String, message: String },
    /// The same answer for a wrong signature, an unknown handle and an expired token.
    #[error("authentication failed")]
    Unauthorized,
    /// Authenticated, but not allowed to do this.
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    NotFound { code: String, message: String },
    /// The thing is not in a state that allows this (settled, closed, in progress, an id used
    /// for something else).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// Its time is up.
    #[error("{message}")]
    Expired { message: String },
    /// Well-formed, but the ledger will not do it (insufficient funds and the like).
    #[error("{message}")]
    Refused { code: String, message: String },
    /// Too many tries from this source; try again later.
    #[error("{message}")]
    RateLimited { message: String },
    /// A part the node depends on (the ledger) cannot answer now.
    #[error("{message}")]
    Unavailable { message: String },
    /// Something failed inside the node; the detail is in the log, never in the answer.
    #[error("internal error")]
    Internal,
}

impl NodeError {
    pub fn bad_request(code: &str, message: &str) -> Self {
        Self::Invalid {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn not_found(code: &str, message: &str) -> Self {
        Self::NotFound {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn conflict(code: &str, message: &str) -> Self {
        Self::Conflict {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn forbidden(message: &str) -> Self {
        Self::Forbidden {
            message: message.to_owned(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::Unauthorized
    }

    pub fn internal() -> Self {
        Self::Internal
    }

    pub fn rate_limited(message: &str) -> Self {
        Self::RateLimited {
            message: message.to_owned(),
        }
    }

    pub fn expired(message: &str) -> Self {
        Self::Expired {
            message: message.to_owned(),
        }
    }

    pub fn refused(code: &str, message: &str) -> Self {
        Self::Refused {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn unavailable(message: &str) -> Self {
        Self::Unavailable {
            message: message.to_owned(),
        }
    }

    /// The stable snake_case code the wire carries.
    pub fn code(&self) -> &str {
        match self {
            Self::Invalid { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Refused { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::Expired { .. } => "expired",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The sentence a person reads.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::Internal
    }
}
