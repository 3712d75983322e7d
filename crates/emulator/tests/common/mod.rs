//! A small Direct Line client over real HTTP, for the emulator's tests.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helper"
)]

use std::time::Duration;

use gcbridge_directline::{Activity, ActivitySet, Conversation, ErrorResponse, ResourceResponse};
use gcbridge_emulator::{DEFAULT_SECRET, Emulator, EmulatorConfig, Script, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Upper bound for anything a test waits for; scripts in tests use delays of a few ms.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts an emulator on a free loopback port.
pub async fn emulator(script: &str) -> Emulator {
    emulator_with(EmulatorConfig::new(
        Script::from_toml_str(script).expect("test script"),
    ))
    .await
}

/// Starts an emulator with a given configuration.
pub async fn emulator_with(config: EmulatorConfig) -> Emulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    start(listener, config).await
}

/// A Direct Line client authenticated with one credential.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub credential: String,
}

impl Client {
    pub fn new(emu: &Emulator, credential: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emu.directline_url(),
            credential: credential.to_owned(),
        }
    }

    pub fn secret(emu: &Emulator) -> Self {
        Self::new(emu, DEFAULT_SECRET)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.credential)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.credential)
    }

    /// Starts a conversation and checks the `201`.
    pub async fn start(&self) -> Conversation {
        let r = self.post("/conversations").send().await.expect("start");
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.expect("conversation body")
    }

    /// Posts an activity; returns the raw response.
    pub async fn post_raw(&self, conv: &str, activity: &Value) -> reqwest::Response {
        self.post(&format!("/conversations/{conv}/activities"))
            .json(activity)
            .send()
            .await
            .expect("post activity")
    }

    /// Posts an activity that must be accepted; returns its id.
    pub async fn post_ok(&self, conv: &str, activity: &Value) -> String {
        let r = self.post_raw(conv, activity).await;
        assert_eq!(r.status(), StatusCode::OK, "post answered {}", r.status());
        let body: ResourceResponse = r.json().await.expect("resource response");
        body.id
    }

    /// Posts a user message.
    pub async fn say(&self, conv: &str, text: &str) -> String {
        self.post_ok(conv, &message(text)).await
    }

    /// One poll.
    pub async fn activities(&self, conv: &str, watermark: Option<&str>) -> ActivitySet {
        // Watermarks from this service are digits, so no escaping is needed.
        let path = match watermark {
            Some(w) => format!("/conversations/{conv}/activities?watermark={w}"),
            None => format!("/conversations/{conv}/activities"),
        };
        let r = self.get(&path).send().await.expect("get activities");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("activity set")
    }

    /// Polls (bounded) until the bot activities after `watermark` satisfy `done`; returns every
    /// activity seen after `watermark` and the last watermark.
    pub async fn poll_until(
        &self,
        conv: &str,
        watermark: Option<&str>,
        done: impl Fn(&[Activity]) -> bool,
    ) -> (Vec<Activity>, String) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen: Vec<Activity> = Vec::new();
        let mut wm = watermark.map(str::to_owned);
        loop {
            let set = self.activities(conv, wm.as_deref()).await;
            seen.extend(set.activities);
            if set.watermark.is_some() {
                wm = set.watermark;
            }
            let bots: Vec<Activity> = seen.iter().filter(|a| a.is_from_bot()).cloned().collect();
            if done(&bots) {
                return (seen, wm.unwrap_or_default());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting; bot activities so far: {bots:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A user message.
pub fn message(text: &str) -> Value {
    json!({ "type": "message", "from": { "id": "dl_test_user", "role": "user" }, "locale": "en-US", "text": text })
}

/// A user event.
pub fn event(name: &str, value: Option<Value>) -> Value {
    let mut e =
        json!({ "type": "event", "name": name, "from": { "id": "dl_test_user", "role": "user" } });
    if let Some(v) = value {
        e["value"] = v;
    }
    e
}

/// Texts of the bot messages.
pub fn texts(activities: &[Activity]) -> Vec<String> {
    activities
        .iter()
        .filter(|a| a.is_from_bot() && a.kind == "message")
        .map(|a| a.text.clone().unwrap_or_default())
        .collect()
}

/// Number of bot messages.
pub fn bot_messages(activities: &[Activity]) -> usize {
    texts(activities).len()
}

/// Reads an error response and checks its status and shape.
pub async fn expect_error(r: reqwest::Response, status: u16) -> ErrorResponse {
    assert_eq!(r.status().as_u16(), status, "status");
    let body: ErrorResponse = r.json().await.expect("Direct Line error body");
    assert!(!body.error.code.is_empty(), "error code present");
    assert!(!body.error.message.is_empty(), "error message present");
    body
}
