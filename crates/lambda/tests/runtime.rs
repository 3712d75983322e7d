//! The real `gcbridge-lambda` binary under a stand-in of the Lambda Runtime API on loopback: the
//! bootstrap polls `invocation/next`, answers each event through `invocation/{id}/response`, and
//! a configuration Lambda cannot run (the embedded store) stops the cold start with the reason.
//!
//! The stand-in implements the three calls a custom runtime makes (next, response, error) as
//! documented for `provided.al2023`; the process is stopped by its own handle when a test ends.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Notify;

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge-lambda");

#[derive(Default)]
struct RuntimeApi {
    /// Events not yet handed out, with their request ids.
    pending: Mutex<VecDeque<(String, String)>>,
    /// Answers received: (request id, body).
    answers: Mutex<Vec<(String, Value)>>,
    /// Errors reported by the runtime.
    errors: Mutex<Vec<String>>,
    changed: Notify,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    loop {
        let item = api.pending.lock().expect("lock").pop_front();
        if let Some((id, event)) = item {
            let mut headers = HeaderMap::new();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis()
                + 20_000;
            headers.insert("lambda-runtime-aws-request-id", id.parse().expect("id"));
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().expect("deadline"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:gcbridge"
                    .parse()
                    .expect("arn"),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-67d3c2a1-0123456789abcdef01234567;Sampled=0"
                    .parse()
                    .expect("trace"),
            );
            return (StatusCode::OK, headers, event).into_response();
        }
        // No event: long-poll, as the real API does, until one is queued.
        api.changed.notified().await;
    }
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    api.answers.lock().expect("lock").push((id, value));
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<RuntimeApi>>, body: String) -> StatusCode {
    api.errors.lock().expect("lock").push(body);
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn start_api() -> (Arc<RuntimeApi>, String) {
    let api = Arc::new(RuntimeApi::default());
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (api, addr)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/events")
            .join(name),
    )
    .expect("fixture")
}

/// The bootstrap with the variables Lambda sets, plus `extra`.
fn bootstrap(api: &str, extra: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "gcbridge")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/gcbridge")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/03/14/[$LATEST]0123456789abcdef",
        )
        .env("AWS_REGION", "eu-west-1")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_answers_events_from_the_runtime_api() {
    let (api, addr) = start_api().await;
    {
        let mut pending = api.pending.lock().expect("lock");
        pending.push_back(("req-1".to_owned(), fixture("rest-v1-healthz.json")));
        pending.push_back(("req-2".to_owned(), fixture("http-v2-dbc-bots.json")));
        pending.push_back((
            "req-3".to_owned(),
            fixture("rest-v1-utterance-wrong-secret.json"),
        ));
        // The store is a Redis nobody listens on: readiness says so, the process keeps serving.
        pending.push_back(("req-4".to_owned(), fixture("function-url-readyz.json")));
    }
    let mut child = bootstrap(
        &addr,
        &[
            ("GCBRIDGE_STORE", "redis://127.0.0.1:1"),
            ("GCBRIDGE_GENESYS_SECRET", "lambda-fixture-genesys-secret"),
            ("GCBRIDGE_USER_ID_KEY", "runtime-test-key"),
        ],
    )
    .spawn()
    .expect("spawn gcbridge-lambda");

    let answers = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let notified = api.changed.notified();
            if api.answers.lock().expect("lock").len() >= 4
                || !api.errors.lock().expect("lock").is_empty()
            {
                break;
            }
            notified.await;
        }
        api.answers.lock().expect("lock").clone()
    })
    .await;
    let _ = child.start_kill();
    let answers = answers.expect("four answers within 30 s");
    assert!(
        api.errors.lock().expect("lock").is_empty(),
        "{:?}",
        api.errors.lock()
    );
    let by_id = |id: &str| {
        answers
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no answer for {id}: {answers:?}"))
    };
    let health = by_id("req-1");
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(health["body"], r#"{"status":"ok"}"#, "{health}");
    let bots = by_id("req-2");
    assert_eq!(bots["statusCode"], 200, "{bots}");
    assert!(
        bots["body"].as_str().expect("body").contains("\"copilot\""),
        "{bots}"
    );
    assert_eq!(by_id("req-3")["statusCode"], 403);
    assert_eq!(by_id("req-4")["statusCode"], 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_lambda_cannot_run_stops_the_cold_start() {
    let (api, addr) = start_api().await;
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        bootstrap(
            &addr,
            &[
                ("GCBRIDGE_GENESYS_SECRET", "x"),
                ("GCBRIDGE_USER_ID_KEY", "k"),
            ],
        )
        .output(),
    )
    .await
    .expect("exits")
    .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "GCBRIDGE_STORE is `embedded:./data/gcbridge.db` (the default when it is not set)"
        ),
        "{stderr}"
    );
    assert!(api.answers.lock().expect("lock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_the_cold_start_then_every_probe() {
    let emulator = gcbridge_emulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        gcbridge_emulator::EmulatorConfig::new(
            gcbridge_emulator::Script::from_toml_str(
                "[agent]\nname = \"Check Agent\"\nbot_id = \"check-agent\"\n",
            )
            .expect("script"),
        ),
    )
    .await;
    let secret = emulator.secret().expect("secret").to_owned();
    let output = tokio::process::Command::new(BIN)
        .arg("check")
        .env_clear()
        .env("GCBRIDGE_STORE", "redis://127.0.0.1:1")
        .env("GCBRIDGE_GENESYS_SECRET", "lambda-check-genesys-secret")
        .env("GCBRIDGE_USER_ID_KEY", "k")
        .env("GCBRIDGE_DIRECTLINE_URL", emulator.base_url())
        .env("GCBRIDGE_DIRECTLINE_SECRET", &secret)
        .output()
        .await
        .expect("run gcbridge-lambda check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the store is down: {stdout}");
    for line in [
        "ok    configuration for Lambda (1 bot(s), secrets resolved)",
        "info  environment: AWS Lambda",
        "ok    Genesys secret: 1 accepted value(s)",
        "started a conversation",
        "FAIL  store redis://127.0.0.1:1",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(emulator.conversations_started(), 1);
    assert!(!stdout.contains(&secret), "{stdout}");

    let output = tokio::process::Command::new(BIN)
        .arg("check")
        .env_clear()
        .env("GCBRIDGE_STORE", "memory:")
        .output()
        .await
        .expect("run gcbridge-lambda check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL  GCBRIDGE_STORE is `memory:`"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL  no Genesys secret"), "{stdout}");
}
