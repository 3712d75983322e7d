//! Nothing leaked, through the real binary at the most verbose log level: two `gcbridge serve`
//! processes (one with a Direct Line secret, one with a Copilot Studio token endpoint, so
//! conversation tokens and stream URLs are in play) run a representative set of scenarios
//! against the demo agent with `GCBRIDGE_LOG=trace` (every crate, gcbridge's and its
//! dependencies') and content logging off. Then every log line of both processes is searched
//! for the configured secrets, any Direct Line token and every message text (the customer's and
//! the agent's), and every response body for the secrets, tokens and internal error text.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{DL_SECRET, Proc, emulator, serve};

const GENESYS_SECRET: &str = "zq-genesys-shared-secret-4711";
const USER_ID_KEY: &str = "zq-user-id-hmac-key-0815";

/// What the customer says: each text is unique, so any trace of it in a log is a leak.
const CUSTOMER_TEXTS: &[&str] = &[
    "opening hours zqa1",
    "track my order zqa2",
    "backpack zqa3",
    "plans zqa4",
    "size chart zqa5",
    "my name is Zqbert",
    "what do you remember zqa6",
    "slow zqa7",
    "tell me something zqa8",
];

/// Texts the demo agent answers with (one per scenario above, plus the greeting and handoff).
const AGENT_TEXTS: &[&str] = &[
    "virtual assistant",
    "Our stores are open",
    "Let me look that up",
    "Contoso Travel Backpack",
    "Here are our plans",
    "Here is the size chart",
    "Zqbert",
    "Sorry, I understood",
    "transferring you",
];

struct Client {
    http: reqwest::blocking::Client,
    url: String,
    bodies: Vec<String>,
}

impl Client {
    fn new(url: &str) -> Self {
        Self {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                // A fresh connection per request: the hostile requests make gcbridge close
                // theirs early, and a pooled connection caught closing fails the next request.
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
            url: url.to_owned(),
            bodies: Vec::new(),
        }
    }

    /// Sends `body` to `path` with `secret`; keeps the response body; returns status and JSON.
    fn send(&mut self, path: &str, secret: Option<&str>, body: impl Into<String>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .body(body.into());
        if let Some(secret) = secret {
            request = request.header("Authorization", secret);
        }
        let response = request.send().expect("send");
        let status = response.status().as_u16();
        let text = response.text().expect("body");
        self.bodies.push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn v1(&mut self, session: &str, input: Value) -> Value {
        let body = json!({
            "botId": "Contoso Support", "botVersion": "1", "botSessionId": session,
            "inputMessage": input, "languageCode": "en-us", "botSessionTimeout": 60,
            "genesysConversationId": "c-secrets", "parameters": {"CustomerName": "Zqlinda"},
        });
        let (status, answer) = self.send(
            "/genesys/v1/utterance",
            Some(GENESYS_SECRET),
            body.to_string(),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn say(&mut self, session: &str, text: &str) -> Value {
        self.v1(session, json!({"type": "Text", "text": text}))
    }
}

/// The scenario set: greeting, every kind of reply, memory, a slow reply, a throttled post, a
/// quick-reply click, the handoff, the Digital Bot Connector, and hostile requests.
fn scenarios(url: &str, session: &str) -> Vec<String> {
    let mut c = Client::new(url);
    assert_eq!(c.say(session, "")["botState"], "MoreData");
    for text in CUSTOMER_TEXTS {
        let answer = c.say(session, text);
        assert_eq!(answer["botState"], "MoreData", "{text}: {answer}");
    }
    // Throttled by the agent (429 + Retry-After), retried within the turn.
    assert_eq!(c.say(session, "busy")["botState"], "MoreData");
    // A click on a quick reply offered earlier ("Opening hours" on the greeting).
    let greeting = c.say(&format!("{session}-b"), "");
    let payload = greeting["replyMessages"]
        .as_array()
        .expect("replies")
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find_map(|c| c["quickReply"]["payload"].as_str().map(str::to_owned))
        .expect("a quick reply");
    let click = c.v1(
        &format!("{session}-b"),
        json!({"type": "Structured", "content": [{"contentType": "ButtonResponse",
               "buttonResponse": {"type": "QuickReply", "text": "Opening hours", "payload": payload}}]}),
    );
    assert_eq!(click["botState"], "MoreData", "{click}");
    // The Digital Bot Connector.
    let dbc = json!({
        "botId": "contoso-support", "botSessionId": format!("{session}-dbc"),
        "messageId": "m-zq-1", "inputMessage": {"type": "Text", "text": "plans zqa9"},
        "languageCode": "en-US", "botSessionTimeout": 60,
    });
    let (status, answer) = c.send(
        "/genesys/dbc/messages",
        Some(GENESYS_SECRET),
        dbc.to_string(),
    );
    assert_eq!(
        (status, &answer["botState"]),
        (200, &json!("MoreData")),
        "{answer}"
    );
    // Hostile requests: not JSON, wrong types, too large, no secret, a wrong secret.
    let (status, answer) = c.send(
        "/genesys/v1/utterance",
        Some(GENESYS_SECRET),
        "{not json zqa10",
    );
    assert_eq!(
        (status, answer["errorInfo"]["errorCode"].as_str()),
        (200, Some("InvalidRequest"))
    );
    let (status, answer) = c.send(
        "/genesys/v1/utterance",
        Some(GENESYS_SECRET),
        r#"{"botId": 1, "botSessionId": ["zqa11"], "inputMessage": "zqa12"}"#,
    );
    assert_eq!(
        (status, answer["errorInfo"]["errorCode"].as_str()),
        (200, Some("InvalidRequest"))
    );
    let huge = format!(
        r#"{{"botId":"b","botSessionId":"s","inputMessage":{{"type":"Text","text":"{}"}}}}"#,
        "zq".repeat(200_000)
    );
    let (status, answer) = c.send("/genesys/v1/utterance", Some(GENESYS_SECRET), huge);
    assert_eq!(
        (status, answer["errorInfo"]["errorCode"].as_str()),
        (200, Some("RequestTooLarge"))
    );
    let (status, _) = c.send("/genesys/v1/utterance", None, "{}");
    assert_eq!(status, 401);
    let (status, _) = c.send("/genesys/v1/utterance", Some("zq-wrong-secret"), "{}");
    assert_eq!(status, 403);
    // The handoff ends the session.
    let handoff = c.say(session, "talk to an agent");
    assert_eq!(handoff["botState"], "Complete", "{handoff}");
    c.bodies
}

/// Runs of 40+ letters and digits mixing upper and lower case: the shape of a Direct Line token
/// (ids are hex or carry separators).
fn token_like(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            w.len() >= 40
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .map(str::to_owned)
        .collect()
}

fn serve_with(
    dir: &std::path::Path,
    name: &str,
    dl_url: &str,
    dl: (&str, String),
) -> (Proc, String) {
    let env = vec![
        ("GCBRIDGE_DIRECTLINE_URL", dl_url.to_owned()),
        (
            "GCBRIDGE_STORE",
            format!("embedded:{}", dir.join(name).join("s.db").display()),
        ),
        dl,
        ("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET.to_owned()),
        ("GCBRIDGE_USER_ID_KEY", USER_ID_KEY.to_owned()),
        ("GCBRIDGE_TRANSCRIPTS", "true".to_owned()),
        ("GCBRIDGE_LOG", "trace".to_owned()),
    ];
    serve(&env, None)
}

#[test]
fn trace_logs_and_response_bodies_hold_no_secret_token_or_message_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_emulator, dl_url) = emulator(dir.path(), gcbridge_emulator::DEMO_TOML);
    let token_endpoint = format!(
        "{dl_url}/powervirtualagents/botsbyschema/emulator/directline/token?api-version=2022-03-01-preview"
    );
    let (mut by_secret, secret_url) = serve_with(
        dir.path(),
        "secret",
        &dl_url,
        ("GCBRIDGE_DIRECTLINE_SECRET", DL_SECRET.to_owned()),
    );
    let (mut by_token, token_url) = serve_with(
        dir.path(),
        "token",
        &dl_url,
        ("GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT", token_endpoint),
    );
    // Both at once: the scenario set takes a while (quiet periods, a slow and a throttled reply).
    let token_run = std::thread::spawn(move || scenarios(&token_url, "zq-session-token"));
    let mut bodies = scenarios(&secret_url, "zq-session-secret");
    bodies.extend(token_run.join().expect("token-endpoint scenarios"));
    std::thread::sleep(Duration::from_millis(300));
    let logs = format!("{}\n{}", by_secret.output(), by_token.output());
    by_secret.kill();
    by_token.kill();

    assert!(logs.contains("turn answered"), "logs were captured");
    assert!(logs.contains("TRACE"), "trace level was on");
    let mut needles: Vec<&str> = vec![GENESYS_SECRET, USER_ID_KEY, DL_SECRET, "zq-wrong-secret"];
    needles.extend(CUSTOMER_TEXTS);
    needles.extend(AGENT_TEXTS);
    needles.extend(["zqa9", "zqa10", "zqa11", "zqa12", "zqzqzq", "Zqlinda"]);
    for needle in &needles {
        let hits: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(needle))
            .take(3)
            .collect();
        assert!(
            hits.is_empty(),
            "log lines contain {needle:?}:\n{}",
            hits.join("\n")
        );
    }
    let tokens = token_like(&logs);
    assert!(
        tokens.is_empty(),
        "token-like strings in the logs: {tokens:?}"
    );
    for needle in ["?t=", "&t=", "/stream"] {
        let hits: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(needle))
            .take(3)
            .collect();
        assert!(
            hits.is_empty(),
            "a stream URL (it holds a token) in the logs:\n{}",
            hits.join("\n")
        );
    }

    let all_bodies = bodies.join("\n");
    for needle in [GENESYS_SECRET, USER_ID_KEY, DL_SECRET, "zq-wrong-secret"] {
        assert!(
            !all_bodies.contains(needle),
            "a response body contains {needle:?}"
        );
    }
    let tokens = token_like(&all_bodies);
    assert!(
        tokens.is_empty(),
        "token-like strings in responses: {tokens:?}"
    );
    // No internal error text: only the fixed sentences of the error codes.
    for internal in [
        "error sending request",
        "connection",
        "hyper",
        "reqwest",
        "redb",
        "panicked",
        "serde",
        "expected",
        "at line",
        "EOF",
    ] {
        assert!(
            !all_bodies.contains(internal),
            "a response body contains {internal:?}:\n{all_bodies}"
        );
    }
}
