//! The Digital Bot Connector endpoints through the router: bot list, one bot, messages with
//! `messageId` idempotency, and multi-bot routing.

mod support;

use gcbridge_core::errors::ErrorCode;
use serde_json::{Value, json};
use support::{GENESYS_SECRET, Options, TestApp, failed, more_data};

const TWO_BOTS: &str = r#"
[[bots]]
id = "contoso-support"
name = "Contoso Support"
languages = ["en-us", "fr-fr"]
handoff_variables = [{ name = "OrderNumber" }]
system_slots = ["va_LastTopic"]
timings = { quiet_ms = 250, first_poll_delay_ms = 20, poll_interval_ms = 25, dbc_deadline_ms = 2500, response_margin_ms = 200 }

[[bots]]
id = "sales"
name = "Sales"
timings = { quiet_ms = 250, first_poll_delay_ms = 20, poll_interval_ms = 25 }
"#;

async fn app() -> TestApp {
    TestApp::with(Options {
        config: TWO_BOTS.to_owned(),
        ..Options::default()
    })
    .await
}

fn message(session: &str, message_id: &str, text: &str) -> Value {
    json!({
        "botId": "contoso-support",
        "botVersion": "1",
        "botSessionId": session,
        "messageId": message_id,
        "inputMessage": {"type": "Text", "text": text},
        "languageCode": "en-US",
        "botSessionTimeout": 720,
        "genesysConversationId": "00000000-0000-4000-a000-00000000c002",
        "parameters": {"CustomerName": "Ada"}
    })
}

async fn dbc(app: &TestApp, body: &Value) -> Value {
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

#[tokio::test]
async fn bot_list_and_one_bot() {
    let app = app().await;
    let list: Value = app
        .http
        .get(format!("{}/genesys/dbc/bots", app.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let fixture: Value =
        serde_json::from_str(include_str!("../../../fixtures/genesys-dbc-bots.json"))
            .expect("fixture");
    assert_eq!(list["entities"][0], fixture["entities"][0]);
    assert_eq!(list["entities"][1]["id"], "sales");

    let one = app
        .http
        .get(format!("{}/genesys/dbc/bots/sales", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(one.status(), 200);
    assert_eq!(one.json::<Value>().await.expect("json")["name"], "Sales");
    // Ids are case-sensitive; unknown ids are 404.
    for id in ["Sales", "nope"] {
        let r = app
            .http
            .get(format!("{}/genesys/dbc/bots/{id}", app.url))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{id}");
    }
    // A credential header that is present must be right.
    let r = app
        .http
        .get(format!("{}/genesys/dbc/bots", app.url))
        .header("Authorization", "wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn strict_bot_list_requires_the_secret() {
    let app = TestApp::with(Options {
        config: format!("[genesys]\nrequire_secret_on_bot_list = true\n{TWO_BOTS}"),
        ..Options::default()
    })
    .await;
    let r = app
        .http
        .get(format!("{}/genesys/dbc/bots", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(format!("{}/genesys/dbc/bots", app.url))
        .header("Authorization", GENESYS_SECRET)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn messages_share_the_turn_logic_and_replay_by_message_id() {
    let app = app().await;
    assert_eq!(
        dbc(&app, &message("d-1", "m-1", "hi")).await,
        more_data(&["Hello Ada!", "echo: hi"])
    );
    let first = dbc(&app, &message("d-1", "m-2", "same text")).await;
    assert_eq!(first, more_data(&["echo: same text"]));
    // Genesys retries m-2: same answer, nothing posted again.
    assert_eq!(dbc(&app, &message("d-1", "m-2", "same text")).await, first);
    // A new messageId with the same text is a new customer message.
    assert_eq!(
        dbc(&app, &message("d-1", "m-3", "same text")).await,
        more_data(&["echo: same text"])
    );
    let conv = app.conversation();
    let posted = app
        .emulator
        .user_activities(&conv)
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("same text"))
        .count();
    assert_eq!(posted, 2);
}

#[tokio::test]
async fn dbc_handoff_uses_declared_slots_and_unknown_bots_fail() {
    let app = app().await;
    dbc(&app, &message("d-2", "m-1", "")).await;
    let answer = dbc(&app, &message("d-2", "m-2", "agent")).await;
    assert_eq!(answer["botState"], "Complete");
    assert_eq!(answer["intent"], "Escalate");
    let names: Vec<&str> = answer["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["va_AgentMessage", "va_OrderNumber", "va_LastTopic"]);

    let mut unknown = message("d-3", "m-1", "hi");
    unknown["botId"] = json!("marketing");
    assert_eq!(dbc(&app, &unknown).await, failed(ErrorCode::UnknownBot));
    // chatBot.id wins over botId.
    let mut by_chat_bot = message("d-4", "m-1", "");
    by_chat_bot["botId"] = json!("whatever");
    by_chat_bot["chatBot"] = json!({"id": "sales", "name": "Sales"});
    assert_eq!(dbc(&app, &by_chat_bot).await["botState"], "MoreData");
}

#[tokio::test]
async fn dbc_uses_its_own_deadline_not_the_v1_one() {
    // v1 keeps its 8 s default here; the DBC ceiling is 2.5 s, shorter than the agent's 3 s.
    let app = app().await;
    dbc(&app, &message("d-5", "m-1", "")).await;
    let started = std::time::Instant::now();
    assert_eq!(
        dbc(&app, &message("d-5", "m-2", "late")).await,
        more_data(&[])
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(2_600));
    // With a 4 s DBC ceiling the same answer fits in the turn.
    let app = TestApp::with(Options {
        config: TWO_BOTS.replace("dbc_deadline_ms = 2500", "dbc_deadline_ms = 4000"),
        ..Options::default()
    })
    .await;
    dbc(&app, &message("d-6", "m-1", "")).await;
    assert_eq!(
        dbc(&app, &message("d-6", "m-2", "late")).await,
        more_data(&["late answer"])
    );
}
