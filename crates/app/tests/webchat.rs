//! `GET /webchat/token` through the real router against the Direct Line emulator: the token it
//! hands out opens a conversation with the agent, the secret never reaches the response, CORS
//! answers only configured origins (preflight too), other origins are refused, the per-client
//! rate limit, the Copilot Studio token-endpoint mode, and a refused secret.

mod support;

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, RETRY_AFTER,
};
use serde_json::{Value, json};
use support::{FAST_TIMINGS, Options, TestApp};

const SITE: &str = "http://127.0.0.1:8123";

fn config(per_minute: u32) -> String {
    format!(
        "{FAST_TIMINGS}\n[webchat]\nenabled = true\nallowed_origins = [\"{SITE}/\", \"https://www.example.com\"]\nrate_limit_per_minute = {per_minute}\n"
    )
}

async fn app(per_minute: u32, token_endpoint: bool) -> TestApp {
    TestApp::with(Options {
        config: config(per_minute),
        token_endpoint,
        ..Options::default()
    })
    .await
}

async fn ask(app: &TestApp, origin: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}/webchat/token", app.url));
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    request.send().await.expect("send")
}

#[tokio::test]
async fn a_token_from_the_secret_opens_a_conversation_with_the_agent() {
    let app = app(10, false).await;
    let secret = app.emulator.secret().expect("secret").to_owned();
    let response = ask(&app, Some(SITE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        SITE,
        "CORS answer for the configured origin"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(&secret),
        "the secret must not reach the browser"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    let token = body["token"].as_str().expect("token");
    assert_ne!(token, secret);
    assert!(body["expires_in"].as_u64().expect("expires_in") > 0);
    let user_id = body["userId"].as_str().expect("userId");
    assert!(user_id.starts_with("dl_"), "{user_id}");

    // The token starts its conversation and talks to the agent, as Web Chat will.
    let dl = format!("{}/v3/directline", app.emulator.base_url());
    let started = app
        .http
        .post(format!("{dl}/conversations"))
        .bearer_auth(token)
        .send()
        .await
        .expect("start");
    assert!(started.status().is_success(), "{}", started.status());
    let started: Value = started.json().await.expect("json");
    let conversation = started["conversationId"].as_str().expect("id").to_owned();
    assert_eq!(body["conversationId"], conversation.as_str());
    let posted = app
        .http
        .post(format!("{dl}/conversations/{conversation}/activities"))
        .bearer_auth(token)
        .json(&json!({"type": "message", "from": {"id": user_id}, "text": "hello there"}))
        .send()
        .await
        .expect("post");
    assert!(posted.status().is_success(), "{}", posted.status());
    app.wait_for_bot_text(&conversation, "echo: hello there")
        .await;

    // Without an Origin (a server, curl) the token is served too; each call is a new one.
    let other = ask(&app, None).await;
    assert_eq!(other.status(), 200);
    let other: Value = other.json().await.expect("json");
    assert_ne!(other["token"], body["token"]);
}

#[tokio::test]
async fn only_configured_origins_get_cors_and_tokens() {
    let app = app(10, false).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/webchat/token", app.url),
            )
            .header(ORIGIN, origin)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
    };
    let ok = preflight("https://www.example.com")
        .await
        .expect("preflight");
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://www.example.com"
    );
    let refused = preflight("https://evil.example.net")
        .await
        .expect("preflight");
    assert!(
        !refused.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
        "{:?}",
        refused.headers()
    );

    let response = ask(&app, Some("https://evil.example.net")).await;
    assert_eq!(response.status(), 403);
    assert!(!response.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    let body: Value = response.json().await.expect("json");
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn each_client_gets_its_rate() {
    let app = app(2, false).await;
    assert_eq!(ask(&app, Some(SITE)).await.status(), 200);
    assert_eq!(ask(&app, Some(SITE)).await.status(), 200);
    let limited = ask(&app, Some(SITE)).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    let body: Value = limited.json().await.expect("json");
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn the_copilot_token_endpoint_mode_passes_its_token_on() {
    let app = app(10, true).await;
    let response = ask(&app, Some(SITE)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["conversationId"].as_str().is_some());
    assert!(body.get("userId").is_none());
}

#[tokio::test]
async fn off_by_default_and_a_refused_secret_is_a_bad_gateway() {
    let off = TestApp::spawn().await;
    assert_eq!(ask(&off, None).await.status(), 404);

    let app = TestApp::with(Options {
        config: config(10),
        dl_secret: Some("not-the-emulator-secret".to_owned()),
        ..Options::default()
    })
    .await;
    let response = ask(&app, Some(SITE)).await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.expect("body");
    assert!(!text.contains("not-the-emulator-secret"), "{text}");
    assert!(!text.contains("token\""), "{text}");
}
