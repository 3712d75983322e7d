//! The fixed `errorInfo` codes gcbridge answers with (`genesys-bot-connector.md` §11).
//!
//! Each code has one fixed, human-readable sentence. Nothing from the request, upstream bodies,
//! exception text or credentials ever goes into a response.

use gcbridge_genesys::TurnResponse;

/// Why a turn answered `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    RequestTooLarge,
    UnknownBot,
    SessionClosed,
    AgentUnavailable,
    AgentThrottled,
    AgentAuthFailed,
    ConversationLost,
    StoreUnavailable,
    SessionBusy,
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidRequest,
        ErrorCode::RequestTooLarge,
        ErrorCode::UnknownBot,
        ErrorCode::SessionClosed,
        ErrorCode::AgentUnavailable,
        ErrorCode::AgentThrottled,
        ErrorCode::AgentAuthFailed,
        ErrorCode::ConversationLost,
        ErrorCode::StoreUnavailable,
        ErrorCode::SessionBusy,
        ErrorCode::Internal,
    ];

    /// The `errorCode` string; also a low-cardinality metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::RequestTooLarge => "RequestTooLarge",
            ErrorCode::UnknownBot => "UnknownBot",
            ErrorCode::SessionClosed => "SessionClosed",
            ErrorCode::AgentUnavailable => "AgentUnavailable",
            ErrorCode::AgentThrottled => "AgentThrottled",
            ErrorCode::AgentAuthFailed => "AgentAuthFailed",
            ErrorCode::ConversationLost => "ConversationLost",
            ErrorCode::StoreUnavailable => "StoreUnavailable",
            ErrorCode::SessionBusy => "SessionBusy",
            ErrorCode::Internal => "Internal",
        }
    }

    /// The fixed `errorMessage` sentence.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => {
                "The request is not a valid Bot Connector turn: its body is not JSON or a required field is missing or of the wrong type."
            }
            ErrorCode::RequestTooLarge => "The request body is larger than gcbridge accepts.",
            ErrorCode::UnknownBot => "The requested bot is not configured in gcbridge.",
            ErrorCode::SessionClosed => "This bot session has already ended.",
            ErrorCode::AgentUnavailable => "The virtual agent could not be reached.",
            ErrorCode::AgentThrottled => {
                "The virtual agent is throttling requests; try again shortly."
            }
            ErrorCode::AgentAuthFailed => {
                "gcbridge could not authenticate with the virtual agent; check its Direct Line credentials."
            }
            ErrorCode::ConversationLost => {
                "The conversation with the virtual agent was lost and could not be replaced."
            }
            ErrorCode::StoreUnavailable => "The session store is unavailable.",
            ErrorCode::SessionBusy => {
                "Another request of this bot session was still being answered; the message was not sent to the virtual agent."
            }
            ErrorCode::Internal => "gcbridge hit an internal error.",
        }
    }

    /// A `Failed` answer for this code.
    pub fn response(self) -> TurnResponse {
        TurnResponse::failed(self.as_str(), self.message())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_matches_fixture_shape() {
        let v = serde_json::to_value(ErrorCode::AgentUnavailable.response()).expect("ser");
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../fixtures/genesys-response-failed.json"
        ))
        .expect("fixture");
        assert_eq!(v, fixture);
    }

    #[test]
    fn every_code_has_a_distinct_sentence() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.message()), "{code} repeats a sentence");
            assert!(code.message().ends_with('.'));
        }
    }
}
