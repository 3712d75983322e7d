//! The Direct Line 3.0 client (`direct-line.md` §3–§5): one pooled HTTP client (rustls,
//! keep-alive, HTTP/2 when offered) shared by every conversation, so no turn pays a TLS
//! handshake. Every call takes a deadline; errors carry the HTTP status and `Retry-After`,
//! never the response body (which may echo what was sent).

use std::time::Duration;

use gcbridge_directline::{API_PREFIX, Activity, ActivitySet, Conversation, ResourceResponse};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::secret::Secret;

/// Why a Direct Line call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DlError {
    /// The service answered with a non-success status.
    #[error("Direct Line answered HTTP {status}")]
    Status {
        status: u16,
        /// `Retry-After`, in seconds as Direct Line documents it.
        retry_after: Option<Duration>,
        /// `error.code` of the body when it is `TokenExpired` (the only code worth branching on).
        token_expired: bool,
    },
    /// No answer before the deadline.
    #[error("Direct Line did not answer in time")]
    Timeout,
    /// Connection refused, reset, TLS failure...
    #[error("Direct Line could not be reached")]
    Transport,
    /// A success answer whose body was not what Direct Line sends.
    #[error("Direct Line answered with an unexpected body")]
    Decode,
}

impl DlError {
    /// The HTTP status, if the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DlError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Low-cardinality metric label.
    pub fn label(&self) -> String {
        match self {
            DlError::Status { status, .. } => status.to_string(),
            DlError::Timeout => "timeout".to_owned(),
            DlError::Transport => "transport".to_owned(),
            DlError::Decode => "decode".to_owned(),
        }
    }

    /// Worth retrying an idempotent call (5xx, 409, transport); 429 is handled separately.
    pub fn is_transient(&self) -> bool {
        match self {
            DlError::Status { status, .. } => *status >= 500 || *status == 409,
            DlError::Timeout | DlError::Transport => true,
            DlError::Decode => false,
        }
    }
}

/// The bearer credential of a call: the bot's secret or a conversation token.
#[derive(Debug, Clone, Copy)]
pub enum Bearer<'a> {
    Secret(&'a Secret),
    Token(&'a str),
}

impl Bearer<'_> {
    fn header(&self) -> String {
        match self {
            Bearer::Secret(s) => format!("Bearer {}", s.expose()),
            Bearer::Token(t) => format!("Bearer {t}"),
        }
    }
}

/// The one Direct Line client of the process.
#[derive(Debug, Clone)]
pub struct DirectLineClient {
    http: reqwest::Client,
}

/// Operation names used in metrics and spans.
pub mod op {
    pub const START: &str = "start_conversation";
    pub const POST: &str = "post_activity";
    pub const GET: &str = "get_activities";
    pub const TOKEN: &str = "token_endpoint";
    pub const REFRESH: &str = "refresh_token";
    pub const GENERATE: &str = "generate_token";
    pub const RECONNECT: &str = "reconnect";
}

impl DirectLineClient {
    /// Builds the pooled client.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("gcbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    /// `POST /v3/directline/conversations`.
    pub async fn start_conversation(
        &self,
        base: &str,
        bearer: Bearer<'_>,
        deadline: Instant,
    ) -> Result<Conversation, DlError> {
        let url = format!("{base}{API_PREFIX}/conversations");
        let req = self
            .http
            .post(url)
            .header("Authorization", bearer.header())
            .header("Content-Type", "application/json")
            .body("{}");
        self.call(op::START, req, deadline).await
    }

    /// `GET /v3/directline/conversations/{id}?watermark=`: a fresh `streamUrl` whose stream
    /// replays what came after `watermark`.
    pub async fn reconnect(
        &self,
        base: &str,
        bearer: Bearer<'_>,
        conversation_id: &str,
        watermark: Option<&str>,
        deadline: Instant,
    ) -> Result<Conversation, DlError> {
        let url = conversation_url(base, conversation_id, "", watermark);
        let req = self.http.get(url).header("Authorization", bearer.header());
        self.call(op::RECONNECT, req, deadline).await
    }

    /// `GET <Copilot Studio token endpoint>`: a token for one new conversation.
    pub async fn fetch_token(
        &self,
        token_endpoint: &str,
        deadline: Instant,
    ) -> Result<Conversation, DlError> {
        let req = self.http.get(token_endpoint);
        self.call(op::TOKEN, req, deadline).await
    }

    /// `POST /v3/directline/tokens/generate` with the secret: a token for one new conversation,
    /// bound to `user_id` (for a browser Web Chat; the secret stays here).
    pub async fn generate_token(
        &self,
        base: &str,
        secret: &Secret,
        user_id: &str,
        deadline: Instant,
    ) -> Result<Conversation, DlError> {
        let url = format!("{base}{API_PREFIX}/tokens/generate");
        let req = self
            .http
            .post(url)
            .header("Authorization", Bearer::Secret(secret).header())
            .json(&serde_json::json!({"user": {"id": user_id}}));
        self.call(op::GENERATE, req, deadline).await
    }

    /// `POST /v3/directline/tokens/refresh`.
    pub async fn refresh_token(
        &self,
        base: &str,
        token: &str,
        deadline: Instant,
    ) -> Result<Conversation, DlError> {
        let url = format!("{base}{API_PREFIX}/tokens/refresh");
        let req = self
            .http
            .post(url)
            .header("Authorization", Bearer::Token(token).header());
        self.call(op::REFRESH, req, deadline).await
    }

    /// `POST /v3/directline/conversations/{id}/activities`; returns the activity id.
    pub async fn post_activity(
        &self,
        base: &str,
        bearer: Bearer<'_>,
        conversation_id: &str,
        activity: &Activity,
        deadline: Instant,
    ) -> Result<String, DlError> {
        let url = format!(
            "{base}{API_PREFIX}/conversations/{}/activities",
            encode_segment(conversation_id)
        );
        let req = self
            .http
            .post(url)
            .header("Authorization", bearer.header())
            .json(activity);
        let resp: ResourceResponse = self.call(op::POST, req, deadline).await?;
        if resp.id.is_empty() {
            return Err(DlError::Decode);
        }
        Ok(resp.id)
    }

    /// `GET /v3/directline/conversations/{id}/activities?watermark=`.
    pub async fn get_activities(
        &self,
        base: &str,
        bearer: Bearer<'_>,
        conversation_id: &str,
        watermark: Option<&str>,
        deadline: Instant,
    ) -> Result<ActivitySet, DlError> {
        let url = conversation_url(base, conversation_id, "/activities", watermark);
        let req = self.http.get(url).header("Authorization", bearer.header());
        self.call(op::GET, req, deadline).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        req: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<T, DlError> {
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, async {
            let resp = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    DlError::Timeout
                } else {
                    DlError::Transport
                }
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(status_error(status, resp).await);
            }
            let bytes = resp.bytes().await.map_err(|_| DlError::Transport)?;
            serde_json::from_slice::<T>(&bytes).map_err(|_| DlError::Decode)
        })
        .await
        .unwrap_or(Err(DlError::Timeout));
        let label = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.label(),
        };
        metrics::counter!("gcbridge_directline_requests_total", "op" => op, "result" => label)
            .increment(1);
        metrics::histogram!("gcbridge_directline_request_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

async fn status_error(status: StatusCode, resp: reqwest::Response) -> DlError {
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let token_expired = if status == StatusCode::FORBIDDEN {
        resp.json::<gcbridge_directline::ErrorResponse>()
            .await
            .map(|e| e.error.code == "TokenExpired")
            .unwrap_or(false)
    } else {
        false
    };
    DlError::Status {
        status: status.as_u16(),
        retry_after,
        token_expired,
    }
}

/// `{base}/v3/directline/conversations/{id}{suffix}[?watermark=…]`, every part encoded.
fn conversation_url(
    base: &str,
    conversation_id: &str,
    suffix: &str,
    watermark: Option<&str>,
) -> String {
    let mut url = format!(
        "{base}{API_PREFIX}/conversations/{}{suffix}",
        encode_segment(conversation_id)
    );
    if let Some(wm) = watermark {
        url.push_str("?watermark=");
        url.push_str(&encode_segment(wm));
    }
    url
}

/// Percent-encodes a path segment or query value (conversation ids contain `-`, watermarks may
/// contain anything).
fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("GcbTestConv-eu"), "GcbTestConv-eu");
        assert_eq!(encode_segment("a|b c/d"), "a%7Cb%20c%2Fd");
    }

    #[test]
    fn transient_classification() {
        let s = |status| DlError::Status {
            status,
            retry_after: None,
            token_expired: false,
        };
        assert!(s(502).is_transient());
        assert!(s(409).is_transient());
        assert!(!s(403).is_transient());
        assert!(!s(429).is_transient());
        assert!(DlError::Transport.is_transient());
    }
}
