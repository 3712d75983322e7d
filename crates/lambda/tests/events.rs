//! Real-shaped Lambda events through the handler, in process: API Gateway REST API (payload v1,
//! stage `prod`), HTTP API (payload v2, `$default` and a named stage) and Function URL events from
//! `tests/events/`, each deserialised as the runtime does, passed through `lambda_http`'s adapter
//! and gcbridge's service, and the serialised answer checked (status, headers, body) as Lambda
//! would return it to API Gateway. Turns reach the real Direct Line emulator on loopback.
//!
//! The configuration goes through the Lambda cold start (`startup::config_from_env`), with the
//! Genesys secret given as a Parameter Store reference resolved by a test double; only the store
//! is swapped for an in-process one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gcbridge_app::AppState;
use gcbridge_emulator::{Emulator, EmulatorConfig, Script};
use gcbridge_lambda::LambdaService;
use gcbridge_lambda::secrets::{SecretRef, StaticSecrets};
use gcbridge_lambda::startup::config_from_env;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent};
use serde_json::Value;
use tower::ServiceExt;

/// The value the fixtures send in their `Authorization` header.
const GENESYS_SECRET: &str = "lambda-fixture-genesys-secret";

const AGENT: &str = r#"
[agent]
name = "Lambda Test Agent"
bot_id = "lambda-test-agent"

[greeting]
steps = [{ text = "Hello {CustomerName}!" }]

[fallback]
steps = [{ text = "echo: {Text}" }]
"#;

/// Fast timings so a turn ends in a fraction of a second.
const CONFIG: &str = r#"
[bot.timings]
deadline_ms = 2500
response_margin_ms = 200
quiet_ms = 250
typing_hold_ms = 500
expecting_input_grace_ms = 50
first_poll_delay_ms = 20
poll_interval_ms = 25
"#;

struct Harness {
    service: LambdaService,
    _emulator: Emulator,
}

async fn harness() -> Harness {
    let emulator = gcbridge_emulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        EmulatorConfig::new(Script::from_toml_str(AGENT).expect("script")),
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let config_file = dir.path().join("gcbridge.toml");
    std::fs::write(&config_file, CONFIG).expect("config file");
    let env: BTreeMap<String, String> = [
        ("GCBRIDGE_CONFIG", config_file.display().to_string()),
        // A shared store URL, as Lambda requires; the state below uses an in-process store.
        ("GCBRIDGE_STORE", "redis://127.0.0.1:1".to_owned()),
        (
            "GCBRIDGE_GENESYS_SECRET_SSM",
            "/gcbridge/genesys-secret".to_owned(),
        ),
        ("GCBRIDGE_USER_ID_KEY", "lambda-test-user-id-key".to_owned()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        (
            "GCBRIDGE_DIRECTLINE_SECRET",
            emulator.secret().expect("secret").to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let secrets = StaticSecrets::new([(
        SecretRef::Parameter("/gcbridge/genesys-secret".to_owned()),
        GENESYS_SECRET.to_owned(),
    )]);
    let config = config_from_env(env, &secrets)
        .await
        .expect("Lambda configuration");
    let store = Arc::new(gcbridge_store::MemoryStore::new());
    let state = Arc::new(AppState::with_store(config, store).expect("state"));
    Harness {
        service: gcbridge_lambda::service(state),
        _emulator: emulator,
    }
}

/// The fixture `name`, through the adapter `lambda_http::run` uses, answered as Lambda would
/// serialise it.
async fn invoke(harness: &Harness, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/events")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let event: LambdaRequest = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an event lambda_http accepts: {e}"));
    let adapter = Adapter::from(harness.service.clone());
    let response = adapter
        .oneshot(LambdaEvent::new(event, Context::default()))
        .await
        .expect("the router never fails");
    serde_json::to_value(response).expect("response JSON")
}

/// A header of a v1 (`multiValueHeaders`) or v2 (`headers`) answer.
fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"][name]
        .as_str()
        .or_else(|| response["multiValueHeaders"][name][0].as_str())
}

fn body_json(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false, "{response}");
    serde_json::from_str(response["body"].as_str().expect("text body")).expect("JSON body")
}

#[tokio::test]
async fn rest_api_events_on_a_named_stage_reach_the_routes() {
    let h = harness().await;

    let health = invoke(&h, "rest-v1-healthz.json").await;
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(header(&health, "content-type"), Some("application/json"));
    assert_eq!(body_json(&health), serde_json::json!({"status": "ok"}));
    // The REST (v1) answer format: multi-value headers.
    assert!(health["multiValueHeaders"].is_object(), "{health}");

    let forbidden = invoke(&h, "rest-v1-utterance-wrong-secret.json").await;
    assert_eq!(forbidden["statusCode"], 403, "{forbidden}");
    assert!(
        forbidden["body"].is_null() || forbidden["body"] == "",
        "a failed secret check has an empty body: {forbidden}"
    );

    let bad = invoke(&h, "rest-v1-utterance-bad-body.json").await;
    assert_eq!(bad["statusCode"], 200, "{bad}");
    let answer = body_json(&bad);
    assert_eq!(answer["botState"], "Failed", "{answer}");
    assert_eq!(
        answer["errorInfo"]["errorCode"], "InvalidRequest",
        "{answer}"
    );
}

#[tokio::test]
async fn a_base64_encoded_rest_body_is_a_real_turn() {
    let h = harness().await;
    let first = invoke(&h, "rest-v1-utterance-base64.json").await;
    assert_eq!(first["statusCode"], 200, "{first}");
    let answer = body_json(&first);
    assert_eq!(answer["botState"], "MoreData", "{answer}");
    assert_eq!(answer["replyMessages"][0]["text"], "Hello Ada!", "{answer}");
}

#[tokio::test]
async fn http_api_events_serve_the_bot_list_on_default_and_named_stages() {
    let h = harness().await;

    let bots = invoke(&h, "http-v2-dbc-bots.json").await;
    assert_eq!(bots["statusCode"], 200, "{bots}");
    assert_eq!(header(&bots, "content-type"), Some("application/json"));
    let list = body_json(&bots);
    assert_eq!(list["entities"][0]["id"], "copilot", "{list}");

    // rawPath `/live/genesys/dbc/bots/copilot` on stage `live`.
    let bot = invoke(&h, "http-v2-stage-dbc-bot.json").await;
    assert_eq!(bot["statusCode"], 200, "{bot}");
    assert_eq!(body_json(&bot)["id"], "copilot", "{bot}");

    let metrics = invoke(&h, "http-v2-metrics.json").await;
    assert_eq!(metrics["statusCode"], 200, "{metrics}");
    assert!(
        header(&metrics, "content-type").is_some_and(|c| c.starts_with("text/plain")),
        "{metrics}"
    );
}

#[tokio::test]
async fn function_url_events_run_one_conversation_across_turns() {
    let h = harness().await;

    let first = invoke(&h, "function-url-utterance-first.json").await;
    assert_eq!(first["statusCode"], 200, "{first}");
    let answer = body_json(&first);
    assert_eq!(answer["botState"], "MoreData", "{answer}");
    assert_eq!(answer["replyMessages"][0]["text"], "Hello Ada!", "{answer}");

    let next = invoke(&h, "function-url-utterance-next.json").await;
    let answer = body_json(&next);
    assert_eq!(answer["botState"], "MoreData", "{answer}");
    assert_eq!(
        answer["replyMessages"][0]["text"], "echo: anything else",
        "{answer}"
    );
    assert_eq!(
        h._emulator.conversations_started(),
        1,
        "one conversation per session"
    );

    let missing = invoke(&h, "function-url-utterance-no-secret.json").await;
    assert_eq!(missing["statusCode"], 401, "{missing}");

    let unknown = invoke(&h, "function-url-dbc-bot-unknown.json").await;
    assert_eq!(unknown["statusCode"], 404, "{unknown}");

    let ready = invoke(&h, "function-url-readyz.json").await;
    assert_eq!(ready["statusCode"], 200, "{ready}");
    assert_eq!(body_json(&ready)["status"], "ready", "{ready}");
}
