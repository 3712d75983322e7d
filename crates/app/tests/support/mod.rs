//! `TestApp`: the real gcbridge router on a loopback port, pointed at the real Direct Line
//! emulator on another loopback port, with fast timings.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the harness"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gcbridge_app::{AppConfig, AppState};
use gcbridge_directline::Activity;
use gcbridge_emulator::{Emulator, EmulatorConfig, Script};
use gcbridge_store::SessionStore;
use serde_json::{Value, json};

pub const GENESYS_SECRET: &str = "genesys-test-secret";

/// Timings that keep tests fast: 2.5 s deadline, 250 ms quiet, 25 ms polling.
pub const FAST_TIMINGS: &str = r#"
[bot.timings]
deadline_ms = 2500
response_margin_ms = 200
quiet_ms = 250
typing_hold_ms = 500
expecting_input_grace_ms = 50
first_poll_delay_ms = 20
poll_interval_ms = 25
"#;

/// An agent with a greeting and rules for every turn shape the tests need.
pub const TEST_AGENT: &str = r#"
[agent]
name = "Test Agent"
bot_id = "test-agent"

[variables]
CustomerName = "there"

[greeting]
steps = [{ text = "Hello {CustomerName}!" }]

[[rules]]
topic = "Two"
match = { equals = "two" }
steps = [
  { text = "first" },
  { typing = true },
  { delay_ms = 100, text = "second" },
]

[[rules]]
topic = "Slow"
match = { equals = "slow" }
steps = [{ delay_ms = 800, text = "slow answer" }]

[[rules]]
topic = "Late"
match = { equals = "late" }
steps = [{ delay_ms = 3000, text = "late answer" }]

[[rules]]
topic = "Silent"
match = { equals = "silent" }
set = { Silent = "yes" }

[[rules]]
topic = "Change address"
match = { equals = "agent" }
steps = [
  { text = "I'm transferring you to one of our agents now." },
  { handoff = { agent_message = "Customer wants to change the delivery address of order 12345.", variables = { OrderNumber = "12345", CustomerIntent = "change-address" } } },
]

[[rules]]
topic = "Goodbye"
match = { equals = "bye" }
steps = [
  { text = "Goodbye!" },
  { end = "completedSuccessfully" },
]

[[rules]]
topic = "Busy"
match = { equals = "busy" }
fault = { status = 429, retry_after_secs = 1, times = 1 }
steps = [{ text = "through after the retry" }]

[[rules]]
topic = "Very busy"
match = { equals = "very busy" }
fault = { status = 429, retry_after_secs = 30, times = 1 }
steps = [{ text = "never seen" }]

[[rules]]
topic = "Choose"
match = { equals = "choose" }
steps = [{ text = "Pick one", suggested_actions = ["Red", { title = "Blue", value = "blue-value", type = "postBack" }] }]

[fallback]
steps = [{ text = "echo: {Text}" }]
"#;

pub struct TestApp {
    pub url: String,
    pub emulator: Emulator,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Builder knobs.
pub struct Options {
    pub script: String,
    pub config: String,
    pub env: Vec<(&'static str, String)>,
    pub store: Option<Arc<dyn SessionStore>>,
    /// Direct Line secret gcbridge uses (default: the emulator's).
    pub dl_secret: Option<String>,
    pub token_endpoint: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            script: TEST_AGENT.to_owned(),
            config: FAST_TIMINGS.to_owned(),
            env: Vec::new(),
            store: None,
            dl_secret: None,
            token_endpoint: false,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let script = Script::from_toml_str(&options.script).expect("test script");
        let emulator = gcbridge_emulator::start(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
            EmulatorConfig::new(script),
        )
        .await;
        let mut env: HashMap<&str, String> = HashMap::from([
            ("GCBRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
            ("GCBRIDGE_STORE", "memory:".to_owned()),
            ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
            (
                "GCBRIDGE_GENESYS_SECRET",
                format!("old-secret,{GENESYS_SECRET}"),
            ),
            ("GCBRIDGE_USER_ID_KEY", "test-key".to_owned()),
        ]);
        if options.token_endpoint {
            env.insert(
                "GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT",
                emulator.token_endpoint_url(),
            );
        } else {
            env.insert(
                "GCBRIDGE_DIRECTLINE_SECRET",
                options
                    .dl_secret
                    .clone()
                    .unwrap_or_else(|| emulator.secret().expect("secret").to_owned()),
            );
        }
        for (k, v) in options.env {
            env.insert(k, v);
        }
        let config =
            AppConfig::from_parts(Some(&options.config), &|n| env.get(n).cloned()).expect("config");
        let state = Arc::new(match options.store {
            Some(store) => AppState::with_store(config, store).expect("state"),
            None => AppState::new(config).await.expect("state"),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gcbridge_app::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            url,
            emulator,
            state,
            http: reqwest::Client::new(),
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server and waits until it has released the state (and so the store).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub fn utterance_url(&self) -> String {
        format!("{}/genesys/v1/utterance", self.url)
    }

    /// Posts a raw body with the right secret; returns status and body text.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        let r = self
            .http
            .post(self.utterance_url())
            .header("Authorization", GENESYS_SECRET)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Posts a JSON request and parses the JSON answer (asserting HTTP 200).
    pub async fn post(&self, body: &Value) -> Value {
        let (status, text) = self.post_raw(body.to_string()).await;
        assert_eq!(status, 200, "body: {text}");
        serde_json::from_str(&text).expect("JSON answer")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// One customer turn with text (empty text: the opening turn of an auto-started session).
    pub async fn say(&self, session: &str, text: &str) -> Value {
        self.post(&request(session, text)).await
    }

    /// The only conversation started so far.
    pub fn conversation(&self) -> String {
        let ids = self.emulator.conversation_ids();
        assert_eq!(ids.len(), 1, "expected one conversation, got {ids:?}");
        ids[0].clone()
    }

    /// Waits (bounded, event-driven) until the agent has sent a message with this text.
    pub async fn wait_for_bot_text(&self, conversation: &str, text: &str) -> Vec<Activity> {
        self.emulator
            .wait_for(conversation, Duration::from_secs(10), |all| {
                all.iter()
                    .any(|a| a.is_from_bot() && a.text.as_deref() == Some(text))
            })
            .await
            .unwrap_or_else(|| panic!("the agent never sent {text:?}"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A v1 request as Genesys sends it.
pub fn request(session: &str, text: &str) -> Value {
    json!({
        "botId": "Contoso Support",
        "botVersion": "1",
        "botSessionId": session,
        "inputMessage": {"type": "Text", "text": text},
        "languageCode": "fr-fr",
        "botSessionTimeout": 60,
        "genesysConversationId": "00000000-0000-4000-a000-00000000c001",
        "parameters": {"CustomerName": "Ada", "CustomerTier": "gold"}
    })
}

/// `MoreData` with these texts, exactly.
pub fn more_data(texts: &[&str]) -> Value {
    json!({
        "botState": "MoreData",
        "replyMessages": texts.iter().map(|t| json!({"type": "Text", "text": t})).collect::<Vec<_>>()
    })
}

/// `Failed` with this code and its fixed sentence.
pub fn failed(code: gcbridge_core::errors::ErrorCode) -> Value {
    serde_json::to_value(code.response()).expect("json")
}
