//! Direct Line error responses: `{"error": {"code", "message"}}` with the right status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gcbridge_directline::ErrorResponse;

/// An error answered to a Direct Line call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` header in seconds.
    pub retry_after_secs: Option<u64>,
    /// Cut the connection instead of answering: the status line goes out, then the body
    /// breaks off (the client sees the connection reset mid-answer).
    pub cut: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            cut: false,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadArgument", message)
    }

    pub(crate) fn missing_auth() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "BadArgument",
            "Missing or malformed Authorization header (expected `Bearer <secret or token>`)",
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "BadArgument", message)
    }

    pub(crate) fn token_expired() -> Self {
        Self::new(StatusCode::FORBIDDEN, "TokenExpired", "Token expired")
    }

    pub(crate) fn conversation_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", "Conversation not found.")
    }

    /// The error an injected or scripted fault answers, with the code real Direct Line uses for
    /// that status where one is known.
    pub(crate) fn fault(status: u16, retry_after_secs: Option<u64>) -> Self {
        let requested = status;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message) = match status.as_u16() {
            400 => ("BadArgument", "Bad request."),
            401 | 403 => ("BadArgument", "Unauthorized."),
            404 => ("NotFound", "Conversation not found."),
            409 => ("Conflict", "Conflict."),
            429 => ("Throttled", "Too many requests. Retry later."),
            502 => (
                "BotRejectedActivity",
                "Failed to send activity: bot returned an error",
            ),
            503 => ("ServiceUnavailable", "Service unavailable."),
            504 => ("BotTimeout", "Failed to send activity: bot timed out"),
            _ => ("ServiceError", "Internal error."),
        };
        Self {
            status,
            code,
            message: format!("{message} (fault injected by the emulator)"),
            retry_after_secs,
            cut: requested == 0,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.cut {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other("connection cut by the emulator"))
            });
            return (StatusCode::OK, axum::body::Body::from_stream(broken)).into_response();
        }
        let mut response = (
            self.status,
            Json(ErrorResponse::new(self.code, &self.message)),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
