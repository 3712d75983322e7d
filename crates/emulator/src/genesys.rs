//! A local stand-in for the two Genesys Cloud hosts gcbridge calls when it pushes asynchronous
//! Digital Bot Connector replies (`spec/genesys-bot-connector.md` §7 and §9): the login host's
//! `POST /oauth/token` (client credentials) and the Platform API's
//! `POST /api/v2/integrations/botconnectors/outgoing/messages`.
//!
//! Like the Direct Line emulator it is an independent model: it checks requests against the
//! documented contract (Basic client authentication, bearer tokens it issued, the required
//! correlation fields, `botState` values, a session closed by `Complete`/`Failed`) rather than
//! against gcbridge's own types. Tests, `gcbridge demo --dbc` and `gcbridge bench` read what was
//! pushed, with arrival times, through [`GenesysStandIn`], or over HTTP with
//! `GET /standin/outgoing?after=N&wait_ms=M` (long polling), and inject failures with
//! [`GenesysStandIn::fail_next`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// Path of the outgoing-messages API.
pub const OUTGOING_PATH: &str = "/api/v2/integrations/botconnectors/outgoing/messages";

/// Who may obtain tokens, and for how long they live.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
}

impl Default for StandInConfig {
    fn default() -> Self {
        Self {
            client_id: "standin-client".to_owned(),
            client_secret: "standin-secret".to_owned(),
            token_lifetime_secs: 86_400,
        }
    }
}

/// One accepted outgoing message.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Position in arrival order, from 1.
    pub seq: u64,
    /// When it arrived (tokio clock).
    pub at: Instant,
    /// The `messageId` the stand-in answered with.
    pub message_id: String,
    /// The request body as sent.
    pub body: Value,
}

impl Pushed {
    /// `botSessionId` of the message.
    pub fn session(&self) -> &str {
        self.body["botSessionId"].as_str().unwrap_or_default()
    }

    /// `botState` of the message.
    pub fn bot_state(&self) -> &str {
        self.body["botState"].as_str().unwrap_or_default()
    }

    /// The `text` of every reply message, in order.
    pub fn texts(&self) -> Vec<String> {
        self.body["replyMessages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .filter_map(|m| m["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A canned failure for the next outgoing-message call.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    /// Genesys error `code` (e.g. `session.not.found`), if any.
    pub code: Option<String>,
    pub retry_after_secs: Option<u64>,
    /// The call is answered with the failure *after* being accepted (an ambiguous failure).
    pub after_accepting: bool,
}

impl Failure {
    /// A plain status answer with no error code.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            code: None,
            retry_after_secs: None,
            after_accepting: false,
        }
    }

    /// `409` with one of the documented conflict codes.
    pub fn conflict(code: &str) -> Self {
        Self {
            status: 409,
            code: Some(code.to_owned()),
            retry_after_secs: None,
            after_accepting: false,
        }
    }
}

/// Something the stand-in refused, for tests to assert on (none expected normally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

#[derive(Debug, Default)]
struct Inner {
    pushed: Vec<Pushed>,
    rejections: Vec<Rejection>,
    tokens: HashMap<String, Instant>,
    token_requests: u64,
    /// Outgoing-message calls of any outcome.
    attempts: u64,
    failures: VecDeque<Failure>,
    closed: HashSet<String>,
    /// Sessions Genesys considers closed from outside (the customer left, flow moved on).
    force_closed: HashSet<String>,
    next_id: u64,
}

#[derive(Debug)]
struct Shared {
    config: StandInConfig,
    inner: Mutex<Inner>,
    arrived: Notify,
}

/// A running stand-in; stopped when dropped or with [`GenesysStandIn::shutdown`].
#[derive(Debug)]
pub struct GenesysStandIn {
    base_url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the stand-in on `listener` (bind it to 127.0.0.1).
pub async fn start_genesys(listener: TcpListener, config: StandInConfig) -> GenesysStandIn {
    let base_url = listener
        .local_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        config,
        inner: Mutex::new(Inner::default()),
        arrived: Notify::new(),
    });
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route(OUTGOING_PATH, post(outgoing))
        .route("/standin/outgoing", get(follow))
        .with_state(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    GenesysStandIn {
        base_url,
        shared,
        stop: Some(stop),
        task: Some(task),
    }
}

impl GenesysStandIn {
    /// `http://127.0.0.1:PORT`: both the login and the API base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The OAuth client the stand-in accepts.
    pub fn config(&self) -> &StandInConfig {
        &self.shared.config
    }

    /// Every accepted outgoing message so far, in arrival order.
    pub fn pushed(&self) -> Vec<Pushed> {
        self.lock().pushed.clone()
    }

    /// Accepted outgoing messages of one bot session.
    pub fn pushed_for(&self, bot_session_id: &str) -> Vec<Pushed> {
        self.lock()
            .pushed
            .iter()
            .filter(|p| p.session() == bot_session_id)
            .cloned()
            .collect()
    }

    /// Requests the stand-in refused as malformed or unauthorised (not injected failures).
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejections.clone()
    }

    /// How many tokens were requested.
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// How many outgoing-message calls arrived, whatever their outcome.
    pub fn attempts(&self) -> u64 {
        self.lock().attempts
    }

    /// Answers the next outgoing-message calls with these failures, in order.
    pub fn fail_next(&self, failures: impl IntoIterator<Item = Failure>) {
        self.lock().failures.extend(failures);
    }

    /// Makes Genesys consider a session closed (later pushes get `409 session.already.closed`).
    pub fn close_session(&self, bot_session_id: &str) {
        self.lock().force_closed.insert(bot_session_id.to_owned());
    }

    /// Invalidates every issued token (as if they expired).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Waits until at least `count` messages of `bot_session_id` arrived, or `timeout` passed;
    /// returns that session's messages either way.
    pub async fn wait_for(
        &self,
        bot_session_id: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Pushed> {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let got = self.pushed_for(bot_session_id);
            if got.len() >= count || Instant::now() >= until {
                return got;
            }
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for GenesysStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "code": code, "message": message})),
    )
        .into_response()
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    shared
        .inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reject(shared: &Shared, status: StatusCode, code: &str, reason: String) -> Response {
    lock(shared).rejections.push(Rejection {
        status: status.as_u16(),
        reason: reason.clone(),
    });
    error(status, code, &reason)
}

/// `POST /oauth/token`: client credentials with HTTP Basic client authentication.
async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    lock(&shared).token_requests += 1;
    let expected = format!(
        "{}:{}",
        shared.config.client_id, shared.config.client_secret
    );
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(decode_base64);
    if presented.as_deref() != Some(expected.as_bytes()) {
        return reject(
            &shared,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed".to_owned(),
        );
    }
    let form = String::from_utf8_lossy(&body);
    if !form
        .split('&')
        .any(|pair| pair == "grant_type=client_credentials")
    {
        return reject(
            &shared,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials".to_owned(),
        );
    }
    let mut inner = lock(&shared);
    inner.next_id += 1;
    let value = format!("standin-token-{}-{}", inner.next_id, rand::random::<u64>());
    let lifetime = shared.config.token_lifetime_secs;
    inner.tokens.insert(
        value.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    Json(json!({"access_token": value, "token_type": "bearer", "expires_in": lifetime}))
        .into_response()
}

/// Standard base64 (what HTTP Basic uses), without a crate: the stand-in must not share
/// gcbridge's encoder.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    Some(out)
}

/// Checks the body against §9: the correlation fields, `botState`, reply messages.
fn validate(body: &Value) -> Result<(), String> {
    for field in [
        "botId",
        "botVersion",
        "botSessionId",
        "languageCode",
        "botState",
    ] {
        match body.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(format!(
                    "{field} is required and must be a non-empty string"
                ));
            }
        }
    }
    let state = body["botState"].as_str().unwrap_or_default();
    if !matches!(state, "MoreData" | "Complete" | "Failed") {
        return Err(format!(
            "botState {state:?} is not MoreData, Complete or Failed"
        ));
    }
    if state == "Failed" && body.get("errorInfo").is_none() {
        return Err("a Failed message needs errorInfo".to_owned());
    }
    if let Some(messages) = body.get("replyMessages") {
        let Some(messages) = messages.as_array() else {
            return Err("replyMessages must be an array".to_owned());
        };
        for m in messages {
            let kind = m["type"].as_str().unwrap_or_default();
            if !matches!(kind, "Text" | "Structured") {
                return Err(format!(
                    "reply message type {kind:?} is not Text or Structured"
                ));
            }
            if kind == "Text" && m["text"].as_str().is_none_or(str::is_empty) {
                return Err("a Text reply message needs text".to_owned());
            }
        }
    }
    if let Some(Value::Object(params)) = body.get("parameters")
        && params.values().any(|v| !v.is_string())
    {
        return Err("parameter values must be strings".to_owned());
    }
    if body
        .as_object()
        .is_some_and(|o| o.values().any(Value::is_null))
    {
        return Err("null values are not accepted".to_owned());
    }
    Ok(())
}

/// `POST /api/v2/integrations/botconnectors/outgoing/messages`.
async fn outgoing(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    lock(&shared).attempts += 1;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let valid = bearer.as_ref().is_some_and(|t| {
        lock(&shared)
            .tokens
            .get(t)
            .is_some_and(|until| Instant::now() < *until)
    });
    if !valid {
        return reject(
            &shared,
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "missing, unknown or expired bearer token".to_owned(),
        );
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return reject(
            &shared,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported.media.type",
            "Content-Type must be application/json".to_owned(),
        );
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reject(
                &shared,
                StatusCode::BAD_REQUEST,
                "bad.request",
                format!("body is not JSON: {e}"),
            );
        }
    };
    if let Err(reason) = validate(&body) {
        return reject(&shared, StatusCode::BAD_REQUEST, "bad.request", reason);
    }

    let session = body["botSessionId"].as_str().unwrap_or_default().to_owned();
    let mut inner = lock(&shared);
    let injected = inner.failures.pop_front();
    if let Some(f) = &injected
        && !f.after_accepting
    {
        drop(inner);
        return failure_response(f);
    }
    if inner.closed.contains(&session) || inner.force_closed.contains(&session) {
        drop(inner);
        return error(
            StatusCode::CONFLICT,
            "session.already.closed",
            "The bot session is already closed",
        );
    }
    inner.next_id += 1;
    let message_id = format!("standin-msg-{}", inner.next_id);
    if matches!(body["botState"].as_str(), Some("Complete" | "Failed")) {
        inner.closed.insert(session);
    }
    let seq = inner.pushed.len() as u64 + 1;
    inner.pushed.push(Pushed {
        seq,
        at: Instant::now(),
        message_id: message_id.clone(),
        body,
    });
    drop(inner);
    shared.arrived.notify_waiters();
    match injected {
        Some(f) => failure_response(&f),
        None => Json(json!({"messageId": message_id})).into_response(),
    }
}

fn failure_response(f: &Failure) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error(
        status,
        f.code.as_deref().unwrap_or("injected.failure"),
        "injected by the stand-in",
    );
    if let Some(secs) = f.retry_after_secs
        && let Ok(v) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[derive(Debug, Deserialize)]
struct FollowQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default, rename = "botSessionId")]
    bot_session_id: Option<String>,
}

/// `GET /standin/outgoing?after=N&wait_ms=M[&botSessionId=S]`: accepted messages with a `seq`
/// above `after`, waiting up to `wait_ms` (at most 30 s) for one to arrive.
async fn follow(State(shared): State<Arc<Shared>>, Query(q): Query<FollowQuery>) -> Response {
    let until = Instant::now() + Duration::from_millis(q.wait_ms.min(30_000));
    loop {
        let notified = shared.arrived.notified();
        let found: Vec<Value> = lock(&shared)
            .pushed
            .iter()
            .filter(|p| p.seq > q.after)
            .filter(|p| q.bot_session_id.as_deref().is_none_or(|s| p.session() == s))
            .map(|p| json!({"seq": p.seq, "messageId": p.message_id, "message": p.body}))
            .collect();
        if !found.is_empty() || Instant::now() >= until {
            return Json(json!({ "messages": found })).into_response();
        }
        let _ = tokio::time::timeout_at(until, notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_basic_credentials() {
        assert_eq!(
            decode_base64("dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0Ky89").as_deref(),
            Some(b"test-client-id:test-client-secret+/=".as_slice())
        );
        assert_eq!(decode_base64("YQ==").as_deref(), Some(b"a".as_slice()));
        assert_eq!(decode_base64("YWI=").as_deref(), Some(b"ab".as_slice()));
        assert_eq!(decode_base64("*bad"), None);
    }

    #[test]
    fn validation_follows_the_contract() {
        let ok = json!({"botId": "b", "botVersion": "1", "botSessionId": "s",
            "languageCode": "en-us", "botState": "MoreData",
            "replyMessages": [{"type": "Text", "text": "hi"}]});
        assert_eq!(validate(&ok), Ok(()));
        let mut missing = ok.clone();
        missing.as_object_mut().map(|o| o.remove("botVersion"));
        assert!(validate(&missing).is_err());
        let mut failed = ok.clone();
        failed["botState"] = json!("Failed");
        assert!(validate(&failed).is_err());
        let mut wrong = ok.clone();
        wrong["botState"] = json!("Done");
        assert!(validate(&wrong).is_err());
        let mut null = ok;
        null["intent"] = Value::Null;
        assert!(validate(&null).is_err());
    }
}
