//! Asynchronous replies on the Digital Bot Connector (`genesys-bot-connector.md` §9), through the
//! router, against the Direct Line emulator and the emulator crate's stand-in for the Genesys
//! login host and Platform API (which checks every request against the documented contract and
//! injects failures). Nothing leaves the loopback interface.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use gcbridge_emulator::genesys::{Failure, Pushed};
use gcbridge_emulator::{GenesysStandIn, StandInConfig, start_genesys};
use serde_json::{Value, json};
use support::{FAST_TIMINGS, GENESYS_SECRET, Options, TestApp};

const CLIENT_ID: &str = "async-client";
const CLIENT_SECRET: &str = "async-secret/+=";
const WAIT: Duration = Duration::from_secs(10);

async fn standin() -> GenesysStandIn {
    start_genesys(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        StandInConfig {
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            token_lifetime_secs: 3600,
        },
    )
    .await
}

async fn app_with(genesys: &GenesysStandIn, dl_secret: Option<String>) -> TestApp {
    TestApp::with(Options {
        config: format!(
            "[bot]\nid = \"contoso-support\"\ndbc_async = true\nhandoff_variables = [{{ name = \"OrderNumber\" }}]\n{FAST_TIMINGS}dbc_async_ceiling_ms = 3000\n"
        ),
        env: vec![
            ("GCBRIDGE_GENESYS_LOGIN_URL", genesys.base_url().to_owned()),
            ("GCBRIDGE_GENESYS_API_URL", genesys.base_url().to_owned()),
            ("GCBRIDGE_GENESYS_CLIENT_ID", CLIENT_ID.to_owned()),
            ("GCBRIDGE_GENESYS_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ],
        dl_secret,
        ..Options::default()
    })
    .await
}

fn message(session: &str, message_id: &str, text: &str) -> Value {
    json!({
        "botId": "contoso-support",
        "botVersion": "7",
        "botSessionId": session,
        "messageId": message_id,
        "inputMessage": {"type": "Text", "text": text},
        "languageCode": "en-us",
        "botSessionTimeout": 720,
        "genesysConversationId": "00000000-0000-4000-a000-00000000c003",
        "parameters": {"CustomerName": "Ada"}
    })
}

async fn send(app: &TestApp, body: &Value) -> Value {
    let r = app
        .http
        .post(format!("{}/genesys/dbc/messages", app.url))
        .header("Authorization", GENESYS_SECRET)
        .json(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn ack() -> Value {
    json!({"botState": "MoreData", "replyMessages": []})
}

/// Every reply text pushed for a session, in arrival order.
fn texts(pushed: &[Pushed]) -> Vec<String> {
    pushed.iter().flat_map(Pushed::texts).collect()
}

/// Waits until the session's pushed texts include `text`; returns them all.
async fn wait_for_text(genesys: &GenesysStandIn, session: &str, text: &str) -> Vec<String> {
    let until = tokio::time::Instant::now() + WAIT;
    let mut count = 1;
    loop {
        let got = genesys.wait_for(session, count, WAIT).await;
        let all = texts(&got);
        if all.iter().any(|t| t == text) {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{text:?} never pushed; got {all:?}"
        );
        count = got.len() + 1;
    }
}

async fn stop(app: TestApp, genesys: GenesysStandIn) {
    assert_eq!(
        genesys.rejections(),
        Vec::new(),
        "the stand-in refused requests"
    );
    app.stop().await;
    genesys.shutdown().await;
}

#[tokio::test]
async fn acknowledged_at_once_then_every_reply_pushed_in_order_with_the_correlation_fields() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;

    // The agent answers "slow" after 800 ms: the acknowledgement comes long before.
    assert_eq!(send(&app, &message("s-1", "m-1", "slow")).await, ack());
    assert!(
        texts(&genesys.pushed_for("s-1"))
            .iter()
            .all(|t| t != "slow answer"),
        "the reply was awaited before acknowledging"
    );
    let all = wait_for_text(&genesys, "s-1", "slow answer").await;
    assert_eq!(all, ["Hello Ada!", "slow answer"]);

    assert_eq!(send(&app, &message("s-1", "m-2", "two")).await, ack());
    let all = wait_for_text(&genesys, "s-1", "second").await;
    assert_eq!(all, ["Hello Ada!", "slow answer", "first", "second"]);

    let pushed = genesys.pushed_for("s-1");
    for p in &pushed {
        assert_eq!(p.body["botId"], "contoso-support");
        assert_eq!(p.body["botVersion"], "7");
        assert_eq!(p.body["botSessionId"], "s-1");
        assert_eq!(p.body["languageCode"], "en-us");
        assert_eq!(p.body["botState"], "MoreData");
    }
    // Messages arrive as the agent sends them: "first" and "second" (100 ms apart, typing in
    // between) are not held back for each other.
    assert!(pushed.len() >= 3, "{pushed:?}");
    // One token for every push.
    assert_eq!(genesys.token_requests(), 1);
    stop(app, genesys).await;
}

#[tokio::test]
async fn a_handoff_closes_the_session_with_intent_and_slots() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    assert_eq!(send(&app, &message("s-h", "m-1", "agent")).await, ack());
    let pushed = genesys.wait_for("s-h", 2, WAIT).await;
    let last = pushed.last().expect("pushed");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut pushed = pushed.clone();
    while pushed.last().map(Pushed::bot_state) != Some("Complete") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Complete: {last:?}"
        );
        pushed = genesys.wait_for("s-h", pushed.len() + 1, WAIT).await;
    }
    let complete = pushed.last().expect("complete");
    assert_eq!(complete.body["intent"], "Escalate");
    let entities: Vec<(&str, &str)> = complete.body["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default(),
                e["value"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        entities.contains(&(
            "va_AgentMessage",
            "Customer wants to change the delivery address of order 12345."
        )),
        "{entities:?}"
    );
    assert!(
        entities.contains(&("va_OrderNumber", "12345")),
        "{entities:?}"
    );
    assert!(texts(&pushed).contains(&"I'm transferring you to one of our agents now.".to_owned()));
    // Nothing after the Complete: Genesys closed the session.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(genesys.pushed_for("s-h").len(), pushed.len());
    stop(app, genesys).await;
}

#[tokio::test]
async fn a_retried_message_is_posted_to_the_agent_once_and_its_replies_pushed_once() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    assert_eq!(send(&app, &message("s-r", "m-1", "hello")).await, ack());
    // Genesys repeats the request (same messageId) at once and again later.
    assert_eq!(send(&app, &message("s-r", "m-1", "hello")).await, ack());
    wait_for_text(&genesys, "s-r", "echo: hello").await;
    assert_eq!(send(&app, &message("s-r", "m-1", "hello")).await, ack());
    tokio::time::sleep(Duration::from_millis(600)).await;

    let conversation = app.conversation();
    let posted: Vec<_> = app
        .emulator
        .user_activities(&conversation)
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("hello"))
        .collect();
    assert_eq!(
        posted.len(),
        1,
        "the customer's message reached the agent twice"
    );
    let all = texts(&genesys.pushed_for("s-r"));
    assert_eq!(all, ["Hello Ada!", "echo: hello"]);
    stop(app, genesys).await;
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_reply_still_arrives_once() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    assert_eq!(send(&app, &message("s-t", "m-1", "hello")).await, ack());
    wait_for_text(&genesys, "s-t", "echo: hello").await;
    assert_eq!(genesys.token_requests(), 1);
    // Genesys forgets the token (expired early, revoked): the next push gets 401.
    genesys.revoke_tokens();
    assert_eq!(send(&app, &message("s-t", "m-2", "again")).await, ack());
    let all = wait_for_text(&genesys, "s-t", "echo: again").await;
    assert_eq!(all, ["Hello Ada!", "echo: hello", "echo: again"]);
    assert_eq!(genesys.token_requests(), 2);
    // The refused call is the stand-in's one rejection; nothing else was refused.
    let rejections = genesys.rejections();
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!(rejections[0].status, 401);
    app.stop().await;
    genesys.shutdown().await;
}

#[tokio::test]
async fn throttling_and_gateway_errors_are_retried_without_duplicates() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    genesys.fail_next([
        Failure {
            retry_after_secs: Some(1),
            ..Failure::status(429)
        },
        Failure::status(503),
        Failure::status(502),
    ]);
    assert_eq!(send(&app, &message("s-f", "m-1", "hello")).await, ack());
    let all = wait_for_text(&genesys, "s-f", "echo: hello").await;
    assert_eq!(all, ["Hello Ada!", "echo: hello"]);
    assert!(genesys.attempts() >= 5, "attempts {}", genesys.attempts());
    stop(app, genesys).await;
}

#[tokio::test]
async fn an_outage_keeps_replies_for_the_next_turn_in_order() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    // Enough failures for the first push (greeting) to be given up this turn.
    genesys.fail_next((0..4).map(|_| Failure::status(503)));
    assert_eq!(send(&app, &message("s-o", "m-1", "hello")).await, ack());
    // Wait until the turn is over (the agent answered and the pushes were given up).
    let conversation_text = "echo: hello";
    let conversation = loop {
        if let Some(id) = app.emulator.conversation_ids().first() {
            break id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    app.wait_for_bot_text(&conversation, conversation_text)
        .await;
    let until = tokio::time::Instant::now() + WAIT;
    while app.state.async_turns.in_flight() > 0 {
        assert!(tokio::time::Instant::now() < until, "turn never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(genesys.pushed_for("s-o").is_empty());

    // The next message: the kept replies go first, then the new one, each once.
    assert_eq!(send(&app, &message("s-o", "m-2", "again")).await, ack());
    let all = wait_for_text(&genesys, "s-o", "echo: again").await;
    assert_eq!(all, ["Hello Ada!", "echo: hello", "echo: again"]);
    stop(app, genesys).await;
}

#[tokio::test]
async fn a_session_genesys_closed_is_not_pushed_to_again() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    assert_eq!(send(&app, &message("s-c", "m-1", "hello")).await, ack());
    wait_for_text(&genesys, "s-c", "echo: hello").await;
    genesys.close_session("s-c");
    let before = genesys.attempts();
    assert_eq!(send(&app, &message("s-c", "m-2", "two")).await, ack());
    let until = tokio::time::Instant::now() + WAIT;
    while app.state.async_turns.in_flight() > 0 {
        assert!(tokio::time::Instant::now() < until, "turn never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // "first" got the 409; "second" was not tried at all.
    assert_eq!(genesys.attempts(), before + 1);
    stop(app, genesys).await;
}

#[tokio::test]
async fn a_newer_message_takes_over_and_no_reply_is_lost_or_repeated() {
    let genesys = standin().await;
    let app = app_with(&genesys, None).await;
    assert_eq!(send(&app, &message("s-n", "m-1", "hello")).await, ack());
    wait_for_text(&genesys, "s-n", "echo: hello").await;
    // The customer does not wait for the slow answer.
    assert_eq!(send(&app, &message("s-n", "m-2", "slow")).await, ack());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(send(&app, &message("s-n", "m-3", "quick")).await, ack());
    let all = wait_for_text(&genesys, "s-n", "echo: quick").await;
    let all = if all.iter().any(|t| t == "slow answer") {
        all
    } else {
        wait_for_text(&genesys, "s-n", "slow answer").await
    };
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a reply was pushed twice: {all:?}");
    assert_eq!(all.len(), 4, "{all:?}");
    stop(app, genesys).await;
}

#[tokio::test]
async fn an_agent_failure_before_posting_is_pushed_as_failed() {
    let genesys = standin().await;
    let app = app_with(&genesys, Some("wrong-direct-line-secret".to_owned())).await;
    assert_eq!(send(&app, &message("s-e", "m-1", "hello")).await, ack());
    let pushed = genesys.wait_for("s-e", 1, WAIT).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].bot_state(), "Failed");
    assert_eq!(pushed[0].body["errorInfo"]["errorCode"], "AgentAuthFailed");
    stop(app, genesys).await;
}

#[tokio::test]
async fn dbc_async_without_region_or_client_stops_start_up_with_a_clear_message() {
    let config = "[bot]\ndbc_async = true\n";
    let e = gcbridge_app::AppConfig::from_parts(Some(config), &|_| None).expect_err("no region");
    assert!(
        e.to_string().contains("dbc_async needs the Genesys region"),
        "{e}"
    );
    let env = |name: &str| (name == "GCBRIDGE_GENESYS_REGION").then(|| "eu-west-1".to_owned());
    let e = gcbridge_app::AppConfig::from_parts(Some(config), &env).expect_err("no client");
    assert!(
        e.to_string()
            .contains("GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET"),
        "{e}"
    );
    let env = |name: &str| (name == "GCBRIDGE_GENESYS_REGION").then(|| "mars-1".to_owned());
    let e = gcbridge_app::AppConfig::from_parts(None, &env).expect_err("bad region");
    assert!(e.to_string().contains("genesys.region"), "{e}");
}
