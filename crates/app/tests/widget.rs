//! Transcripts and the agent-side widget through the real router against the emulator: what is
//! stored after a few turns and a handoff, redaction, the key check, and nothing stored when
//! transcripts are off.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{FAST_TIMINGS, Options, TestApp};

const CONVERSATION: &str = "00000000-0000-4000-a000-00000000c001";
const KEY: &str = "widget-key-2";

fn config(enabled: bool) -> String {
    format!(
        "[bot]\nhandoff_variables = [{{ name = \"OrderNumber\" }}, {{ name = \"CustomerIntent\" }}]\n{FAST_TIMINGS}\n[transcripts]\nenabled = {enabled}\nredact = [\"card_numbers\", \"emails\", \"Ada\"]\n\n[widget]\nkeys = [\"widget-key-1\", \"{KEY}\"]\n"
    )
}

async fn app(enabled: bool) -> TestApp {
    TestApp::with(Options {
        config: config(enabled),
        ..Options::default()
    })
    .await
}

async fn get(app: &TestApp, path_and_query: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{path_and_query}", app.url))
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn api(key: &str) -> String {
    format!("/widget/api/transcript?conversationId={CONVERSATION}&key={key}")
}

/// Polls the data endpoint (bounded) until the transcript holds `entries` entries: transcripts
/// are written in the background after the answer.
async fn transcript_with(app: &TestApp, entries: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(app, &api(KEY)).await;
        assert_eq!(status, 200, "{body}");
        let json: Value = serde_json::from_str(&body).expect("json");
        let have = json["transcript"]["entries"].as_array().map_or(0, Vec::len);
        if have >= entries {
            return json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transcript never reached {entries} entries: {json}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn turns_and_handoff_are_stored_redacted_and_served_with_a_key() {
    let app = app(true).await;
    app.say("w-1", "").await;
    let live = transcript_with(&app, 1).await;
    assert_eq!(live["live"], true);
    assert_eq!(live["transcript"]["state"], "withBot");

    app.say("w-1", "card 4111 1111 1111 1111, mail ada@example.com")
        .await;
    app.say("w-1", "choose").await;
    let handoff = app.say("w-1", "agent").await;
    assert_eq!(handoff["botState"], "Complete");

    // greeting; customer + echo; customer + quick replies; customer + transfer message.
    let json = transcript_with(&app, 7).await;
    assert_eq!(json["found"], true);
    assert_eq!(json["live"], false, "{json}");
    let t = &json["transcript"];
    assert_eq!(t["state"], "completed");
    assert_eq!(t["genesys_conversation_id"], CONVERSATION);
    assert_eq!(t["language"], "fr-fr");
    let entries = t["entries"].as_array().expect("entries");
    let froms: Vec<&str> = entries.iter().filter_map(|e| e["from"].as_str()).collect();
    assert_eq!(
        froms,
        [
            "bot", "customer", "bot", "customer", "bot", "customer", "bot"
        ]
    );
    assert_eq!(entries[0]["message"]["text"], "Hello [redacted]!");
    assert_eq!(entries[1]["text"], "card [card number], mail [email]");
    assert_eq!(
        entries[2]["message"]["text"],
        "echo: card [card number], mail [email]"
    );
    // The quick replies exactly as Genesys received them.
    let quick: Vec<&str> = entries[4]["message"]["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|c| c["quickReply"]["text"].as_str())
        .collect();
    assert_eq!(quick, ["Red", "Blue"]);
    assert_eq!(
        entries[6]["message"]["text"],
        "I'm transferring you to one of our agents now."
    );

    let h = &t["handoff"];
    assert_eq!(h["intent"], handoff["intent"]);
    assert_eq!(
        h["agent_message"],
        "Customer wants to change the delivery address of order 12345."
    );
    // The topic is the agent's `va_LastTopic`, when it sends one.
    assert_eq!(h["topic"], handoff["parameters"]["va_LastTopic"]);
    // Every output variable Genesys got is there.
    let params = handoff["parameters"].as_object().expect("parameters");
    assert!(!params.is_empty());
    for (name, value) in params {
        let value = value.as_str().expect("string").replace("Ada", "[redacted]");
        assert_eq!(h["variables"][name], value, "{name}");
    }
    assert_eq!(h["variables"]["va_OrderNumber"], "12345");

    let stored = json.to_string();
    assert!(!stored.contains("4111"), "{stored}");
    assert!(!stored.contains("ada@"), "{stored}");

    // The page needs the key too; assets carry no data and are public.
    let (status, html) = get(
        &app,
        &format!("/widget?conversationId={CONVERSATION}&lang=fr-FR&key={KEY}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("/widget/assets/widget.js"));
    assert!(!html.contains("transferring"));
    let (status, js) = get(&app, "/widget/assets/widget.js").await;
    assert_eq!(status, 200);
    assert!(js.contains("/widget/api/transcript"));
    let (status, _) = get(&app, "/widget/assets/widget.css").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn without_a_valid_key_nothing_is_served() {
    let app = app(true).await;
    app.say("w-2", "hello").await;
    transcript_with(&app, 2).await;

    for path in [
        format!("/widget/api/transcript?conversationId={CONVERSATION}"),
        api(""),
        api("widget-key"),
        api("widget-key-22"),
        format!("/widget?conversationId={CONVERSATION}"),
        format!("/widget?conversationId={CONVERSATION}&key=nope"),
    ] {
        let (status, body) = get(&app, &path).await;
        assert_eq!(status, 401, "{path}");
        assert!(body.is_empty(), "{path}: {body}");
    }
    // The old key of a rotation still works.
    assert_eq!(get(&app, &api("widget-key-1")).await.0, 200);
    // A malformed conversation id is refused even with a key.
    let (status, _) = get(
        &app,
        &format!("/widget/api/transcript?conversationId=a%2Fb&key={KEY}"),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn without_configured_keys_the_widget_is_closed() {
    let app = TestApp::with(Options {
        config: format!("{FAST_TIMINGS}\n[transcripts]\nenabled = true\n"),
        ..Options::default()
    })
    .await;
    app.say("w-3", "hello").await;
    assert_eq!(get(&app, &api("")).await.0, 401);
    assert_eq!(get(&app, &api("anything")).await.0, 401);
}

#[tokio::test]
async fn nothing_is_stored_when_transcripts_are_off() {
    let app = app(false).await;
    app.say("w-4", "").await;
    app.say("w-4", "agent").await;
    let key = gcbridge_app::transcript::transcript_key(CONVERSATION);
    assert!(app.state.store.load(&key).await.expect("load").is_none());
    let (status, body) = get(&app, &api(KEY)).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["found"], false);
}

#[tokio::test]
async fn a_configured_ttl_shortens_the_transcript_life() {
    let app = TestApp::with(Options {
        config: format!(
            "{FAST_TIMINGS}\n[transcripts]\nenabled = true\nttl_secs = 5\n\n[widget]\nkeys = [\"{KEY}\"]\n"
        ),
        ..Options::default()
    })
    .await;
    app.say("w-5", "hello").await;
    transcript_with(&app, 2).await;
    let now = gcbridge_app::turn::unix_ms();
    let key = gcbridge_app::transcript::transcript_key(CONVERSATION);
    let stored = app
        .state
        .store
        .load(&key)
        .await
        .expect("load")
        .expect("stored");
    assert!(
        stored.expires_at_ms <= now + 5_000,
        "{}",
        stored.expires_at_ms
    );
    assert!(stored.expires_at_ms + 10_000 > now);
    // The session itself lives for its botSessionTimeout (60 minutes).
    let session = app
        .state
        .store
        .load(&gcbridge_app::turn::session_key("w-5"))
        .await
        .expect("load")
        .expect("session");
    assert!(session.expires_at_ms > now + 50 * 60_000);
}
