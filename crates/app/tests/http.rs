//! The HTTP contract of the Genesys endpoint: secret check, bad input, limits, health, metrics.

mod support;

use std::sync::Arc;

use gcbridge_core::errors::ErrorCode;
use gcbridge_store::{Revision, SessionStore, StoreError, Stored};
use serde_json::json;
use support::{GENESYS_SECRET, Options, TestApp, failed, request};

#[tokio::test]
async fn missing_secret_is_401_and_wrong_secret_is_403_with_empty_bodies() {
    let app = TestApp::spawn().await;
    let body = request("s-auth", "hi").to_string();
    let r = app
        .http
        .post(app.utterance_url())
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.expect("body"), "");
    let r = app
        .http
        .post(app.utterance_url())
        .header("Authorization", format!("{GENESYS_SECRET}x"))
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.expect("body"), "");
    // Nothing reached the agent.
    assert_eq!(app.emulator.conversations_started(), 0);
    // Both rotated values are accepted.
    for secret in ["old-secret", GENESYS_SECRET] {
        let r = app
            .http
            .post(app.utterance_url())
            .header("Authorization", secret)
            .body(request(&format!("s-auth-{secret}"), "").to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{secret}");
    }
}

#[tokio::test]
async fn custom_secret_header() {
    let app = TestApp::with(Options {
        env: vec![("GCBRIDGE_GENESYS_SECRET_HEADER", "x-api-key".to_owned())],
        ..Options::default()
    })
    .await;
    let r = app
        .http
        .post(app.utterance_url())
        .header("x-api-key", GENESYS_SECRET)
        .body(request("s-hdr", "").to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.utterance_url())
        .header("Authorization", GENESYS_SECRET)
        .body(request("s-hdr2", "").to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn malformed_json_is_failed_invalid_request() {
    let app = TestApp::spawn().await;
    for body in [
        "{not json",
        "",
        "[]",
        "42",
        "\u{0}\u{1}",
        "{\"botSessionId\": 5}",
    ] {
        let (status, text) = app.post_raw(body.to_owned()).await;
        assert_eq!(status, 200, "{body:?}");
        let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(answer, failed(ErrorCode::InvalidRequest), "{body:?}");
    }
    // Invalid UTF-8.
    let (status, text) = app.post_raw(vec![0xff, 0xfe, b'{']).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("json"),
        failed(ErrorCode::InvalidRequest)
    );
}

#[tokio::test]
async fn missing_fields_are_failed_invalid_request() {
    let app = TestApp::spawn().await;
    for field in ["botSessionId", "inputMessage", "botId"] {
        let mut body = request("s-missing", "hi");
        body.as_object_mut().expect("object").remove(field);
        assert_eq!(
            app.post(&body).await,
            failed(ErrorCode::InvalidRequest),
            "{field}"
        );
    }
    let mut wrong_type = request("s-type", "hi");
    wrong_type["inputMessage"] = json!("hello");
    assert_eq!(
        app.post(&wrong_type).await,
        failed(ErrorCode::InvalidRequest)
    );
    assert_eq!(app.emulator.conversations_started(), 0);
}

#[tokio::test]
async fn oversized_body_is_failed_request_too_large() {
    let app = TestApp::spawn().await;
    let mut body = request("s-big", "hi");
    body["inputMessage"]["text"] = json!("x".repeat(300 * 1024));
    let (status, text) = app.post_raw(body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("json"),
        failed(ErrorCode::RequestTooLarge)
    );
    // Without a Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 10 * 1024])).collect();
    let stream = futures_util::stream::iter(chunks);
    let r = app
        .http
        .post(app.utterance_url())
        .header("Authorization", GENESYS_SECRET)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json"),
        failed(ErrorCode::RequestTooLarge)
    );
}

#[tokio::test]
async fn unknown_bot_is_failed_when_several_bots_are_configured() {
    let config = format!(
        "{}\n[[bots]]\nid = \"sales\"\nname = \"Sales\"\n[[bots]]\nid = \"support\"\nname = \"Contoso Support\"\n",
        support::FAST_TIMINGS.replace("[bot.timings]", "[unused]")
    );
    // Timings go with each bot in multi-bot configs; keep defaults here (the greeting is fast).
    let config = config
        .replace("[unused]\n", "")
        .lines()
        .filter(|l| !l.contains("_ms"))
        .collect::<Vec<_>>()
        .join("\n");
    let app = TestApp::with(Options {
        config,
        ..Options::default()
    })
    .await;
    let mut body = request("s-unknown", "");
    body["botId"] = json!("marketing");
    assert_eq!(app.post(&body).await, failed(ErrorCode::UnknownBot));
    // Routed by display name (v1 sends it in botId).
    let answer = app.say("s-known", "").await;
    assert_eq!(answer["botState"], "MoreData");
}

#[tokio::test]
async fn store_outage_is_failed_store_unavailable_and_not_ready() {
    let down = FlakyStore::default();
    down.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = TestApp::with(Options {
        store: Some(Arc::new(down)),
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.say("s-down", "hi").await,
        failed(ErrorCode::StoreUnavailable)
    );
    assert_eq!(
        app.emulator.conversations_started(),
        0,
        "nothing posted without a session"
    );
    let r = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn().await;
    app.say("s-metrics", "").await;
    let r = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let text = app.metrics().await;
    assert!(text.contains("gcbridge_turns_total"), "{text}");
    assert!(text.contains("gcbridge_turn_seconds_bucket"), "{text}");
    assert!(
        text.contains("gcbridge_directline_requests_total"),
        "{text}"
    );
    let r = app
        .http
        .get(format!("{}/nope", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn embedded_store_keeps_the_session_across_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let store_url = format!("embedded:{}", dir.path().join("g.db").display());
    let options = || Options {
        env: vec![("GCBRIDGE_STORE", store_url.clone())],
        ..Options::default()
    };
    let app = TestApp::with(options()).await;
    app.say("s-restart", "").await;
    let emulator_conversations = app.emulator.conversation_ids();
    app.stop().await;
    // A second gcbridge on the same file: the session record survives, so it goes on with the
    // stored conversation on the first (now stopped) emulator instead of starting a new one.
    let app = TestApp::with(options()).await;
    assert_eq!(emulator_conversations.len(), 1);
    assert_eq!(
        app.say("s-restart", "hello").await,
        failed(ErrorCode::AgentUnavailable)
    );
    assert_eq!(app.emulator.conversations_started(), 0);
}

/// A store whose backend can be taken down and brought back, like a restarted Redis.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: gcbridge_store::MemoryStore,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreError::Unavailable("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for FlakyStore {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        self.check()?;
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError> {
        self.check()?;
        self.inner.save(key, value, expected, expires_at_ms).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

#[tokio::test]
async fn a_store_outage_fails_fast_and_recovery_needs_no_restart() {
    let store = Arc::new(FlakyStore::default());
    let app = TestApp::with(Options {
        store: Some(store.clone()),
        ..Options::default()
    })
    .await;
    assert_eq!(app.say("s-flaky", "").await["botState"], "MoreData");
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = std::time::Instant::now();
    assert_eq!(
        app.say("s-flaky", "hi").await,
        failed(ErrorCode::StoreUnavailable)
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    let ready = |app: &TestApp| {
        let url = format!("{}/readyz", app.url);
        let http = app.http.clone();
        async move { http.get(url).send().await.expect("send").status().as_u16() }
    };
    assert_eq!(ready(&app).await, 503);
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ready(&app).await, 200);
    // The session stored before the outage goes on in the same conversation.
    assert_eq!(
        app.say("s-flaky", "hi again").await,
        support::more_data(&["echo: hi again"])
    );
    assert_eq!(app.emulator.conversations_started(), 1);
}
