//! The Platform API client and the bot-list calls against a local stand-in for Genesys' login
//! host and Platform API (an axum server on 127.0.0.1) that records every request, so the tests
//! check the exact token request, the exact bot-list `PUT`, token caching and renewal, and the
//! handling of every kind of failure. Nothing leaves the loopback interface.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gcbridge_app::AppConfig;
use gcbridge_app::platform::bot_list::{self, IntegrationId, Operation, ReadBack, Verification};
use gcbridge_app::platform::{
    ClientCredentials, ClientOptions, Endpoints, PlatformClient, PlatformError,
};
use gcbridge_app::secret::Secret;
use gcbridge_genesys::BotList;
use serde_json::{Value, json};

const CLIENT_ID: &str = "test-client-id";
const CLIENT_SECRET: &str = "test-client-secret+/=";
/// `base64("test-client-id:test-client-secret+/=")`, computed independently of the code under
/// test.
const BASIC: &str = "Basic dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0Ky89";
const INTEGRATION: &str = "5f7a7c2e-1b2c-4d3e-8f90-0123456789ab";
const BOTS_PATH: &str =
    "/api/v2/integrations/botconnector/5f7a7c2e-1b2c-4d3e-8f90-0123456789ab/bots";

/// A config declaring what `fixtures/genesys-v1-botlist.json` holds.
const CONTOSO: &str = r#"
[bot]
id = "contoso-support"
name = "Contoso Support"
languages = ["en-us", "fr-fr"]
handoff_variables = [{ name = "OrderNumber" }]
system_slots = ["va_LastTopic"]
"#;

// ---------------------------------------------------------------------------------------------
// The stand-in
// ---------------------------------------------------------------------------------------------

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A canned answer that replaces the next API (not token) answer.
#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn canned(status: u16, body: Value) -> Canned {
    Canned {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    issued: AtomicUsize,
    valid_tokens: Mutex<HashSet<String>>,
    expires_in: AtomicU64,
    /// What the stand-in holds, and what it held before the last PUT.
    list: Mutex<Option<Value>>,
    previous: Mutex<Option<Value>>,
    /// GETs still answered with the previous list after a PUT (slow propagation).
    stale_reads: AtomicUsize,
    canned_api: Mutex<VecDeque<Canned>>,
    canned_token: Mutex<VecDeque<Canned>>,
}

struct StandIn {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        shared.expires_in.store(86_400, Ordering::SeqCst);
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("stand-in");
        });
        Self { url, shared, task }
    }

    fn client(&self) -> PlatformClient {
        self.client_with(ClientOptions::default())
    }

    fn client_with(&self, options: ClientOptions) -> PlatformClient {
        PlatformClient::new(
            Endpoints::custom(&self.url, &self.url),
            ClientCredentials::new(Secret::new(CLIENT_ID), Secret::new(CLIENT_SECRET)),
            options,
        )
        .expect("client")
    }

    fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// `"token"` for a token request, else `"METHOD path"`.
    fn summary(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                if r.path == "/oauth/token" {
                    "token".to_owned()
                } else {
                    format!("{} {}", r.method, r.path)
                }
            })
            .collect()
    }

    fn token_requests(&self) -> usize {
        self.summary().iter().filter(|s| *s == "token").count()
    }

    fn bearers(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.path != "/oauth/token")
            .map(|r| r.header("authorization").unwrap_or_default().to_owned())
            .collect()
    }

    fn set_expires_in(&self, seconds: u64) {
        self.shared.expires_in.store(seconds, Ordering::SeqCst);
    }

    fn hold(&self, list: Value) {
        *self.shared.list.lock().expect("lock") = Some(list);
    }

    fn then_api(&self, answer: Canned) {
        self.shared
            .canned_api
            .lock()
            .expect("lock")
            .push_back(answer);
    }

    fn then_token(&self, answer: Canned) {
        self.shared
            .canned_token
            .lock()
            .expect("lock")
            .push_back(answer);
    }

    /// Genesys forgets every token it issued (as when they expire server-side).
    fn revoke_tokens(&self) {
        self.shared.valid_tokens.lock().expect("lock").clear();
    }
}

fn answer(canned: Canned) -> Response {
    let mut response = (
        StatusCode::from_u16(canned.status).expect("status"),
        canned.body,
    )
        .into_response();
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("header value"),
    );
    for (name, value) in canned.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

fn genesys_error(status: u16, code: &str, message: &str) -> Canned {
    canned(
        status,
        json!({"message": message, "code": code, "status": status, "contextId": format!("ctx-{status}")}),
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("request body");
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    shared.requests.lock().expect("lock").push(recorded.clone());

    if recorded.path == "/oauth/token" {
        if let Some(canned) = shared.canned_token.lock().expect("lock").pop_front() {
            return answer(canned);
        }
        // Genesys' login host: Basic client authentication and the form body, nothing else.
        if recorded.method != "POST"
            || recorded.header("content-type") != Some("application/x-www-form-urlencoded")
            || recorded.body != "grant_type=client_credentials"
        {
            return answer(canned(
                400,
                json!({"error": "invalid_request", "description": "bad token request"}),
            ));
        }
        if recorded.header("authorization") != Some(BASIC) {
            return answer(canned(
                401,
                json!({"error": "invalid_client", "description": "client not found"}),
            ));
        }
        let n = shared.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok-{n}");
        shared
            .valid_tokens
            .lock()
            .expect("lock")
            .insert(token.clone());
        return answer(canned(
            200,
            json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": shared.expires_in.load(Ordering::SeqCst),
            }),
        ));
    }

    let bearer = recorded
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !shared.valid_tokens.lock().expect("lock").contains(&bearer) {
        return answer(genesys_error(
            401,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        ));
    }
    if let Some(canned) = shared.canned_api.lock().expect("lock").pop_front() {
        return answer(canned);
    }
    let Some(id) = recorded
        .path
        .strip_prefix("/api/v2/integrations/botconnector/")
        .and_then(|rest| rest.strip_suffix("/bots"))
    else {
        return answer(genesys_error(404, "not.found", "no such resource"));
    };
    if id != INTEGRATION {
        return answer(genesys_error(
            404,
            "not.found",
            "Unable to find an integration with that id",
        ));
    }
    match recorded.method.as_str() {
        "GET" => {
            let stale = shared
                .stale_reads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let held = if stale {
                shared.previous.lock().expect("lock").clone()
            } else {
                shared.list.lock().expect("lock").clone()
            };
            let mut list = held.unwrap_or_else(|| json!({"chatBots": []}));
            // Fields Genesys generates and a client must ignore.
            for bot in list["chatBots"].as_array_mut().into_iter().flatten() {
                bot["botCompositeTag"] = json!("tag-1");
                bot["selfUri"] = json!(format!("{BOTS_PATH}/{}", bot["id"].as_str().unwrap_or("")));
            }
            answer(canned(200, list))
        }
        "PUT" => {
            if recorded.header("content-type") != Some("application/json") {
                return answer(genesys_error(415, "unsupported.media.type", "JSON only"));
            }
            let Ok(list) = serde_json::from_slice::<Value>(&recorded.body) else {
                return answer(genesys_error(
                    400,
                    "bad.request",
                    "The request could not be understood by the server due to malformed syntax.",
                ));
            };
            let old = shared.list.lock().expect("lock").replace(list);
            *shared.previous.lock().expect("lock") = old;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => answer(genesys_error(405, "method.not.allowed", "no")),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn integration() -> IntegrationId {
    IntegrationId::parse(INTEGRATION).expect("integration id")
}

fn contoso_list() -> BotList {
    let config = AppConfig::from_parts(Some(CONTOSO), &|_| None).expect("config");
    let profiles: Vec<_> = config.bots.iter().map(|b| &b.profile).collect();
    gcbridge_core::botlist::validate(profiles.iter().copied()).expect("valid");
    gcbridge_core::botlist::v1_bot_list(profiles)
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/genesys-v1-botlist.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

fn status_of(result: Result<impl std::fmt::Debug, PlatformError>) -> PlatformError {
    result.expect_err("an error")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn push_sends_the_exact_token_request_and_bot_list() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push");

    let requests = genesys.requests();
    assert_eq!(genesys.summary(), ["token", &format!("PUT {BOTS_PATH}")]);

    let token = &requests[0];
    assert_eq!(token.method, "POST");
    assert_eq!(token.path, "/oauth/token");
    assert_eq!(token.header("authorization"), Some(BASIC));
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(token.header("accept"), Some("application/json"));
    assert_eq!(token.body, "grant_type=client_credentials");

    let put = &requests[1];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, BOTS_PATH);
    assert_eq!(put.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(put.json(), fixture());
    // Generated by Genesys, never sent.
    let body = String::from_utf8_lossy(&put.body);
    assert!(!body.contains("botCompositeTag") && !body.contains("selfUri"));
}

#[tokio::test]
async fn read_returns_what_was_pushed_without_generated_fields() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    let empty = bot_list::get(&client, &integration()).await.expect("get");
    assert!(empty.chat_bots.is_empty());
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push");
    let read = bot_list::get(&client, &integration()).await.expect("get");
    assert_eq!(read, contoso_list());
    assert_eq!(genesys.requests()[1].method, "GET");
    assert_eq!(
        genesys.requests()[1].header("accept"),
        Some("application/json")
    );
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let genesys = StandIn::start().await;
    // 120 s: renewed only when less than 60 s remain, so still good for this test.
    genesys.set_expires_in(120);
    let client = genesys.client();
    for _ in 0..3 {
        bot_list::get(&client, &integration()).await.expect("get");
    }
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push");
    // Concurrent first calls on a fresh client also share one token request.
    let fresh = genesys.client();
    let id = integration();
    let calls = (0..5).map(|_| bot_list::get(&fresh, &id));
    for result in futures_util::future::join_all(calls).await {
        result.expect("get");
    }
    assert_eq!(genesys.token_requests(), 2);
    let bearers = genesys.bearers();
    assert_eq!(bearers[..4], ["Bearer tok-1"; 4]);
    assert_eq!(bearers[4..], ["Bearer tok-2"; 5]);
}

#[tokio::test]
async fn a_token_with_less_than_a_minute_left_is_renewed() {
    let genesys = StandIn::start().await;
    genesys.set_expires_in(60);
    let client = genesys.client();
    for _ in 0..3 {
        bot_list::get(&client, &integration()).await.expect("get");
    }
    assert_eq!(genesys.token_requests(), 3);
    assert_eq!(
        genesys.bearers(),
        ["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]
    );
}

#[tokio::test]
async fn a_401_renews_the_token_and_retries_once() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    bot_list::get(&client, &integration()).await.expect("get");
    genesys.revoke_tokens();
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push after renewal");
    assert_eq!(
        genesys.summary(),
        [
            "token".to_owned(),
            format!("GET {BOTS_PATH}"),
            format!("PUT {BOTS_PATH}"),
            "token".to_owned(),
            format!("PUT {BOTS_PATH}"),
        ]
    );
    assert_eq!(
        genesys.bearers(),
        ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    );

    // A second 401 in a row is an error, not a loop.
    let unauthorized = genesys_error(401, "bad.credentials", "Invalid login credentials.");
    genesys.then_api(unauthorized.clone());
    genesys.then_api(unauthorized);
    let before = genesys.requests().len();
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
    assert_eq!(
        genesys.requests().len() - before,
        3,
        "{:?}",
        genesys.summary()
    );
    let text = bot_list::explain(&e, Operation::Read, &integration());
    assert!(text.contains("even after renewing"), "{text}");
}

#[tokio::test]
async fn refused_client_credentials_are_explained_without_the_secret() {
    let genesys = StandIn::start().await;
    let client = PlatformClient::new(
        Endpoints::custom(&genesys.url, &genesys.url),
        ClientCredentials::new(Secret::new(CLIENT_ID), Secret::new("wrong-secret-value")),
        ClientOptions::default(),
    )
    .expect("client");
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert!(
        matches!(&e, PlatformError::Credentials { status: 401, code: Some(c) } if c == "invalid_client"),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let text = bot_list::explain(&e, Operation::Replace, &integration());
    assert!(text.contains("GCBRIDGE_GENESYS_CLIENT_ID"), "{text}");
    assert!(text.contains("GCBRIDGE_GENESYS_CLIENT_SECRET"), "{text}");
    for printed in [text, format!("{e:?}"), format!("{client:?}")] {
        assert!(!printed.contains("wrong-secret-value"), "{printed}");
        assert!(!printed.contains(CLIENT_ID), "{printed}");
    }
    // No API call is attempted without a token.
    assert_eq!(genesys.summary(), ["token"]);

    // A login host in trouble is not a credential problem.
    genesys.then_token(canned(503, json!({})));
    let e = status_of(bot_list::get(&genesys.client(), &integration()).await);
    assert_eq!((e.status(), e.is_retryable()), (Some(503), true));
}

#[tokio::test]
async fn the_token_is_never_printed() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    bot_list::get(&client, &integration()).await.expect("get");
    let printed = format!("{client:?}");
    assert!(!printed.contains("tok-1"), "{printed}");
    assert!(!printed.contains(CLIENT_SECRET), "{printed}");
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after_within_a_bound() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    genesys.then_api(Canned {
        headers: vec![("retry-after", "1".to_owned())],
        ..genesys_error(429, "too.many.requests", "Rate limit exceeded the maximum.")
    });
    let started = tokio::time::Instant::now();
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push after waiting");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        genesys.summary()[1..],
        [format!("PUT {BOTS_PATH}"), format!("PUT {BOTS_PATH}")]
    );
    assert_eq!(genesys.requests()[2].json(), fixture());

    // A wait beyond the bound is handed back at once.
    genesys.then_api(Canned {
        headers: vec![("retry-after", "120".to_owned())],
        ..genesys_error(429, "too.many.requests", "Rate limit exceeded the maximum.")
    });
    let started = tokio::time::Instant::now();
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert!(e.is_retryable());
    let text = bot_list::explain(&e, Operation::Read, &integration());
    assert!(text.contains("try again in 120 s"), "{text}");

    // And the number of waits is bounded too.
    let client = genesys.client_with(ClientOptions {
        max_rate_limit_retries: 2,
        default_retry_after: Duration::from_millis(10),
        ..ClientOptions::default()
    });
    for _ in 0..3 {
        genesys.then_api(genesys_error(429, "too.many.requests", "slow down"));
    }
    let before = genesys.requests().len();
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert_eq!(e.status(), Some(429));
    // One token request, then the call and its two repetitions.
    assert_eq!(
        genesys.requests().len() - before,
        4,
        "{:?}",
        genesys.summary()
    );
}

#[tokio::test]
async fn failures_are_typed_and_explained() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    let list = contoso_list();

    genesys.then_api(genesys_error(
        403,
        "missing.permissions",
        "You are missing the following permission(s): integration:botconnector:edit",
    ));
    let e = status_of(bot_list::put(&client, &integration(), &list).await);
    assert_eq!(
        (e.status(), e.kind(), e.is_retryable()),
        (Some(403), "forbidden", false)
    );
    let text = bot_list::explain(&e, Operation::Replace, &integration());
    assert!(
        text.contains("needs integration:botconnector:edit"),
        "{text}"
    );
    assert!(text.contains("missing.permissions"), "{text}");
    assert!(text.contains("ctx-403"), "{text}");

    // A wrong integration id reaches the stand-in's real 404.
    let other = IntegrationId::parse("00000000-0000-4000-8000-000000000000").expect("id");
    let e = status_of(bot_list::get(&client, &other).await);
    assert_eq!((e.status(), e.kind()), (Some(404), "not_found"));
    let text = bot_list::explain(&e, Operation::Read, &other);
    assert!(
        text.contains("integration 00000000-0000-4000-8000-000000000000 was not found"),
        "{text}"
    );
    assert!(text.contains("--region"), "{text}");

    genesys.then_api(genesys_error(
        400,
        "bad.request",
        "chatBots[0].versions[0].intents[0].name: may not be empty",
    ));
    let e = status_of(bot_list::put(&client, &integration(), &list).await);
    let text = bot_list::explain(&e, Operation::Replace, &integration());
    assert!(text.contains("may not be empty"), "{text}");
    assert!(!e.is_retryable());

    for status in [500, 502, 503, 504] {
        genesys.then_api(genesys_error(status, "internal.server.error", "boom"));
        let e = status_of(bot_list::put(&client, &integration(), &list).await);
        assert_eq!(
            (e.status(), e.kind(), e.is_retryable()),
            (Some(status), "server_error", true)
        );
        let text = bot_list::explain(&e, Operation::Replace, &integration());
        assert!(text.contains("server error"), "{text}");
        assert!(text.contains("may or may not have changed"), "{text}");
    }

    // A 2xx whose body is not a bot list.
    genesys.then_api(Canned {
        status: 200,
        headers: Vec::new(),
        body: "<html>portal</html>".to_owned(),
    });
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert!(matches!(e, PlatformError::Body { .. }), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_host_is_a_retryable_transport_error() {
    // A port that was just free: nothing listens on it any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let client = PlatformClient::new(
        Endpoints::custom(&url, &url),
        ClientCredentials::new(Secret::new(CLIENT_ID), Secret::new(CLIENT_SECRET)),
        ClientOptions::default(),
    )
    .expect("client");
    let e = status_of(bot_list::get(&client, &integration()).await);
    assert!(matches!(e, PlatformError::Transport { .. }), "{e:?}");
    assert!(e.is_retryable());
    let text = bot_list::explain(&e, Operation::Read, &integration());
    assert!(text.contains("could not reach Genesys Cloud"), "{text}");
}

#[tokio::test]
async fn a_dry_run_reads_and_compares_without_writing() {
    let genesys = StandIn::start().await;
    genesys.hold(json!({"chatBots": [
        {"id": "contoso-support", "name": "Contoso Support",
         "description": "Copilot Studio agent served by gcbridge",
         "versions": [{"version": "1", "supportedLanguages": ["en-us"], "intents": [
            {"name": "Escalate", "slots": {
                "va_AgentMessage": {"name": "va_AgentMessage", "type": "String"},
                "va_OrderNumber": {"name": "va_OrderNumber", "type": "Integer"}}},
            {"name": "EndConversation"}]}]},
        {"id": "legacy", "name": "Legacy bot", "versions": [
            {"version": "1", "supportedLanguages": ["en-us"], "intents": [{"name": "Escalate"}]}]}
    ]}));
    let client = genesys.client();
    let diff = bot_list::compare(&client, &integration(), &contoso_list())
        .await
        .expect("compare");
    assert_eq!(
        diff.to_string(),
        concat!(
            "  bot \"contoso-support\"\n",
            "    version \"1\"\n",
            "~     languages en-us → en-us, fr-fr\n",
            "      intent \"Escalate\"\n",
            "+       slot \"va_LastTopic\": String\n",
            "~       slot \"va_OrderNumber\": Integer → String\n",
            "- bot \"legacy\" (\"Legacy bot\")\n",
            "-   version \"1\", languages en-us\n",
            "-     intent \"Escalate\"\n",
        )
    );
    assert_eq!(
        genesys.summary(),
        ["token".to_owned(), format!("GET {BOTS_PATH}")]
    );

    // After a push the same comparison finds nothing.
    bot_list::put(&client, &integration(), &contoso_list())
        .await
        .expect("push");
    let diff = bot_list::compare(&client, &integration(), &contoso_list())
        .await
        .expect("compare");
    assert!(diff.is_empty(), "{diff}");
}

#[tokio::test]
async fn reading_back_waits_for_slow_propagation_within_bounds() {
    let genesys = StandIn::start().await;
    let client = genesys.client();
    let list = contoso_list();
    let quick = ReadBack {
        attempts: 4,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };

    bot_list::put(&client, &integration(), &list)
        .await
        .expect("push");
    genesys.shared.stale_reads.store(2, Ordering::SeqCst);
    match bot_list::verify(&client, &integration(), &list, &quick).await {
        Verification::Matches { reads } => assert_eq!(reads, 3),
        other => panic!("{other:?}"),
    }

    genesys.shared.stale_reads.store(10, Ordering::SeqCst);
    match bot_list::verify(&client, &integration(), &list, &quick).await {
        Verification::Differs { reads, diff } => {
            assert_eq!(reads, 4);
            assert!(
                diff.to_string().starts_with("+ bot \"contoso-support\""),
                "{diff}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A missing view permission cannot pass by waiting: one read, then the reason.
    genesys.shared.stale_reads.store(0, Ordering::SeqCst);
    genesys.then_api(genesys_error(
        403,
        "missing.permissions",
        "integration:botconnector:view",
    ));
    match bot_list::verify(&client, &integration(), &list, &quick).await {
        Verification::Unreadable { reads, error } => {
            assert_eq!((reads, error.status()), (1, Some(403)));
            let text = bot_list::explain(&error, Operation::Read, &integration());
            assert!(
                text.contains("needs integration:botconnector:view"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A server error can: it is read again.
    genesys.then_api(genesys_error(503, "service.unavailable", "try later"));
    match bot_list::verify(&client, &integration(), &list, &quick).await {
        Verification::Matches { reads } => assert_eq!(reads, 2),
        other => panic!("{other:?}"),
    }
}
