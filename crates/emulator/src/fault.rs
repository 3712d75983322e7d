//! Faults injected by tests: the next calls of an operation answer an error.

/// A Direct Line operation, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `POST /v3/directline/conversations`.
    StartConversation,
    /// `GET /v3/directline/conversations/{id}` (reconnect).
    GetConversation,
    /// `POST /v3/directline/conversations/{id}/activities`.
    PostActivity,
    /// The same post, but the activity **is accepted** (stored, the agent reacts) and only the
    /// answer is the error: a response lost on the way back, the ambiguous case a client must
    /// not resolve by blindly posting again.
    PostActivityAfterAccept,
    /// `GET /v3/directline/conversations/{id}/activities`.
    GetActivities,
    /// Opening the WebSocket stream (the upgrade request is answered with the error).
    OpenStream,
    /// `POST /v3/directline/tokens/generate`.
    GenerateToken,
    /// `POST /v3/directline/tokens/refresh`.
    RefreshToken,
    /// The Copilot Studio token endpoint emulation.
    TokenEndpoint,
    /// Any of the above.
    Any,
}

impl Op {
    /// Whether a fault registered for `self` applies to a call of `call`.
    pub(crate) fn covers(self, call: Op) -> bool {
        self == Op::Any || self == call
    }
}

/// Makes the next `count` calls of `op` answer `status` with a Direct Line error body (and a
/// `Retry-After` header when `retry_after_secs` is set). Faults are checked after
/// authentication, in the order they were injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Which operation fails.
    pub op: Op,
    /// HTTP status to answer (e.g. 429, 502); `0` cuts the connection instead (the status line
    /// goes out, then the body breaks off: the client sees a connection reset).
    pub status: u16,
    /// `Retry-After` header value, in seconds.
    pub retry_after_secs: Option<u64>,
    /// How many calls fail.
    pub count: usize,
}

impl Fault {
    /// One failure of `op` with `status` and no `Retry-After`.
    pub fn once(op: Op, status: u16) -> Self {
        Self {
            op,
            status,
            retry_after_secs: None,
            count: 1,
        }
    }
}
