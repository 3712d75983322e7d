//! The emulator over real HTTP on 127.0.0.1: the Direct Line 3.0 contract clients rely on.

mod common;

use std::time::Duration;

use common::{
    Client, PATIENCE, bot_messages, emulator, emulator_with, event, expect_error, message, texts,
};
use gcbridge_directline::{Activity, Conversation};
use gcbridge_emulator::{EmulatorConfig, Fault, Op, Script};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SCRIPT: &str = r#"
[agent]
name = "Test Agent"
bot_id = "test-bot"

[variables]
CustomerName = "there"

[greeting]
steps = [{ typing = true }, { text = "Hello {CustomerName}", delay_ms = 5 }]

[[rules]]
topic = "Several"
match = { equals = "several" }
steps = [
  { typing = true },
  { text = "one", delay_ms = 30 },
  { typing = true, delay_ms = 5 },
  { text = "two", delay_ms = 20 },
  { text = "three", suggested_actions = ["Yes", "No"], input_hint = "expectingInput" },
]

[[rules]]
topic = "Echo"
match = { starts_with = "echo" }
steps = [{ text = "echo: {Text}", delay_ms = 10 }]

[[rules]]
topic = "Slowish"
match = { equals = "slowish" }
steps = [{ text = "slowish reply", delay_ms = 150 }]

[[rules]]
topic = "Escalate"
match = { contains = "agent" }
steps = [
  { text = "Transferring you." },
  { handoff = { agent_message = "{CustomerName} wants a human", variables = { OrderNumber = "12345" }, include_variables = true }, delay_ms = 5 },
]

[[rules]]
topic = "Goodbye"
match = { equals = "bye" }
steps = [{ text = "Goodbye" }, { end = "completedSuccessfully" }]

[[rules]]
topic = "Custom end"
match = { equals = "custom end" }
steps = [{ event = "EndOfConversation", value = "EndOfConversation" }]

[[rules]]
topic = "Busy"
match = { equals = "busy" }
fault = { status = 429, retry_after_secs = 3 }
steps = [{ text = "got through" }]

[[rules]]
topic = "Broken"
match = { equals = "broken" }
fault = { status = 502, times = 2 }
steps = [{ text = "fixed" }]

[[rules]]
topic = "Submit"
match = { value = { action = "track" } }
steps = [{ text = "tracking" }]

[[rules]]
topic = "Cards"
match = { equals = "cards" }
steps = [
  { text = "One card", card = { title = "Backpack {CustomerName}", subtitle = "40 l", image = "https://example.com/b.png", buttons = ["Buy", { type = "openUrl", title = "Details", value = "https://example.com/b" }] } },
  { cards = [{ title = "A" }, { title = "B" }] },
  { adaptive_card = { type = "AdaptiveCard", version = "1.5", body = [{ type = "TextBlock", text = "Hi {CustomerName}" }] } },
]

[fallback]
steps = [{ text = "fallback: {Text}" }]
"#;

#[tokio::test]
async fn authentication_missing_is_401_wrong_is_403() {
    let emu = emulator(SCRIPT).await;
    let http = reqwest::Client::new();
    let url = format!("{}/conversations", emu.directline_url());

    let r = http.post(&url).send().await.expect("send");
    expect_error(r, 401).await;
    let r = http
        .post(&url)
        .header("Authorization", "Basic abc")
        .send()
        .await
        .expect("send");
    expect_error(r, 401).await;
    let r = http
        .post(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    expect_error(r, 403).await;

    let conv = Client::secret(&emu).start().await;
    let id = conv.conversation_id.expect("id");
    // Every operation checks, not only start.
    let r = http
        .get(format!(
            "{}/conversations/{id}/activities",
            emu.directline_url()
        ))
        .send()
        .await
        .expect("send");
    expect_error(r, 401).await;
    let r = http
        .post(format!(
            "{}/conversations/{id}/activities",
            emu.directline_url()
        ))
        .bearer_auth("wrong")
        .json(&message("hi"))
        .send()
        .await
        .expect("send");
    expect_error(r, 403).await;
    assert_eq!(emu.conversations_started(), 1);
}

#[tokio::test]
async fn secrets_rotate() {
    let mut config = EmulatorConfig::new(Script::from_toml_str(SCRIPT).expect("script"));
    config.secrets = vec!["secret-one".to_owned(), "secret-two".to_owned()];
    let emu = emulator_with(config).await;
    Client::new(&emu, "secret-one").start().await;
    Client::new(&emu, "secret-two").start().await;
    let r = Client::new(&emu, gcbridge_emulator::DEFAULT_SECRET)
        .post("/conversations")
        .send()
        .await
        .expect("send");
    expect_error(r, 403).await;
    assert_eq!(emu.conversations_started(), 2);
}

#[tokio::test]
async fn start_then_greeting_answers_the_start_event() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let conv = dl.start().await;
    let id = conv.conversation_id.clone().expect("conversation id");
    assert!(id.starts_with("EmuConv1-"), "{id}");
    assert_eq!(conv.expires_in, Some(1800));
    let token = conv.token.clone().expect("token");
    assert_eq!(
        conv.stream_url.as_deref(),
        Some(
            format!(
                "ws://{}/v3/directline/conversations/{id}/stream?watermark=-&t={token}",
                emu.local_addr()
            )
            .as_str()
        )
    );

    let start_id = dl.post_ok(&id, &event("startConversation", None)).await;
    assert_eq!(start_id, format!("{id}|0000001"));
    let (seen, _) = dl
        .poll_until(&id, None, |bots| bot_messages(bots) >= 1)
        .await;
    let greeting = seen.iter().find(|a| a.is_from_bot()).expect("greeting");
    assert_eq!(greeting.text.as_deref(), Some("Hello there"));
    assert_eq!(greeting.reply_to_id.as_deref(), Some(start_id.as_str()));
    let from = greeting.from.as_ref().expect("from");
    assert_eq!(from.id.as_deref(), Some("test-bot"));
    assert_eq!(from.name.as_deref(), Some("Test Agent"));
    assert_eq!(greeting.text_format.as_deref(), Some("markdown"));
    assert_eq!(greeting.channel_id.as_deref(), Some("directline"));
    assert_eq!(
        greeting.conversation.as_ref().and_then(|c| c.id.as_deref()),
        Some(id.as_str())
    );
    assert!(
        greeting
            .timestamp
            .as_deref()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // Activity 2 is the typing indicator (not polled), so the greeting is number 3.
    assert_eq!(
        greeting.id.as_deref(),
        Some(format!("{id}|0000003").as_str())
    );
}

#[tokio::test]
async fn context_variables_feed_the_greeting() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.post_ok(
        &id,
        &event(
            "pvaSetContext",
            Some(json!({"CustomerName": "Ada", "CustomerTier": "gold"})),
        ),
    )
    .await;
    dl.post_ok(&id, &event("startConversation", None)).await;
    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 1).await;
    assert_eq!(texts(&seen), ["Hello Ada"]);
    let vars = emu.variables(&id).expect("variables");
    assert_eq!(vars["CustomerTier"], "gold");
}

#[tokio::test]
async fn several_messages_arrive_in_script_order() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let msg_id = dl.say(&id, "several").await;
    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 3).await;
    assert_eq!(texts(&seen), ["one", "two", "three"]);
    for a in seen.iter().filter(|a| a.is_from_bot()) {
        assert_eq!(a.reply_to_id.as_deref(), Some(msg_id.as_str()));
    }
    let last = seen.last().expect("last");
    assert_eq!(last.input_hint.as_deref(), Some("expectingInput"));
    let actions = &last
        .suggested_actions
        .as_ref()
        .expect("quick replies")
        .actions;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].kind, "imBack");
    assert_eq!(actions[0].title.as_deref(), Some("Yes"));
    assert_eq!(actions[0].value, Some(json!("Yes")));
}

#[tokio::test]
async fn concurrent_posts_get_replies_in_post_order() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    // The first reaction is slower than the second: replies must still follow post order.
    let first = dl.say(&id, "slowish").await;
    let (a, b) = tokio::join!(dl.say(&id, "echo a"), dl.say(&id, "echo b"));
    let (seen, _) = dl
        .poll_until(&id, None, |bots| bot_messages(bots) >= 3)
        .await;
    let bots: Vec<&Activity> = seen.iter().filter(|a| a.is_from_bot()).collect();
    assert_eq!(bots[0].reply_to_id.as_deref(), Some(first.as_str()));
    assert_eq!(bots[0].text.as_deref(), Some("slowish reply"));
    // Whichever echo was stored first is answered first.
    let mut echo_ids = [a, b];
    echo_ids.sort();
    assert_eq!(bots[1].reply_to_id.as_deref(), Some(echo_ids[0].as_str()));
    assert_eq!(bots[2].reply_to_id.as_deref(), Some(echo_ids[1].as_str()));
}

#[tokio::test]
async fn watermarks_never_repeat_and_polling_skips_typing() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");

    let empty = dl.activities(&id, None).await;
    assert!(empty.activities.is_empty());
    assert_eq!(empty.watermark.as_deref(), Some("0"));

    let msg_id = dl.say(&id, "several").await;
    let (seen, wm) = dl.poll_until(&id, None, |b| bot_messages(b) >= 3).await;
    // The user's own message comes back too, as real Direct Line does.
    assert_eq!(seen[0].id.as_deref(), Some(msg_id.as_str()));
    assert_eq!(seen[0].text.as_deref(), Some("several"));
    assert!(!seen[0].is_from_bot());
    assert!(
        seen.iter().all(|a| a.kind != "typing"),
        "typing is never polled"
    );
    // No activity twice, even across several polls.
    let mut ids: Vec<_> = seen.iter().filter_map(|a| a.id.clone()).collect();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before);

    // The watermark counts every activity, typing included (1 user + 2 typing + 3 messages).
    let all = emu.activities(&id);
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|a| a.kind == "typing").count(), 2);
    assert_eq!(wm, "6");

    let after = dl.activities(&id, Some(&wm)).await;
    assert!(after.activities.is_empty());
    assert_eq!(after.watermark.as_deref(), Some("6"));

    let from_one = dl.activities(&id, Some("1")).await;
    assert_eq!(texts(&from_one.activities), ["one", "two", "three"]);
    assert!(from_one.activities.iter().all(Activity::is_from_bot));

    let everything = dl.activities(&id, Some("")).await;
    assert_eq!(everything.activities.len(), 4);

    let r = dl
        .get(&format!("/conversations/{id}/activities?watermark=abc"))
        .send()
        .await
        .expect("send");
    expect_error(r, 400).await;
}

#[tokio::test]
async fn user_activities_are_kept_as_sent() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let no_role = json!({"type": "message", "from": {"id": "dl_x"}, "text": "echo 1",
                         "channelData": {"clientActivityID": "gcb-1"}});
    let first = dl.post_ok(&id, &no_role).await;
    let second = dl.post_ok(&id, &message("echo 2")).await;
    dl.poll_until(&id, None, |b| bot_messages(b) >= 2).await;
    let users = emu.user_activities(&id);
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].id.as_deref(), Some(first.as_str()));
    assert_eq!(users[1].id.as_deref(), Some(second.as_str()));
    let from = users[0].from.as_ref().expect("from");
    assert_eq!(from.id.as_deref(), Some("dl_x"));
    assert_eq!(from.role, Some(json!("user")));
    assert_eq!(users[0].client_activity_id().as_deref(), Some("gcb-1"));
    assert_eq!(users[0].channel_id.as_deref(), Some("directline"));
    assert!(users[0].timestamp.is_some());
}

#[tokio::test]
async fn card_submit_value_matches_a_rule_and_fallback_says_what_it_understood() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let submit = json!({"type": "message", "from": {"id": "dl_x", "role": "user"},
                        "value": {"action": "track", "order": "12345"}});
    dl.post_ok(&id, &submit).await;
    dl.say(&id, "what is the meaning of life").await;
    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 2).await;
    assert_eq!(
        texts(&seen),
        ["tracking", "fallback: what is the meaning of life"]
    );
}

#[tokio::test]
async fn handoff_carries_context_variables_and_transcript() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.post_ok(
        &id,
        &event("pvaSetContext", Some(json!({"CustomerName": "Ada"}))),
    )
    .await;
    dl.post_ok(&id, &event("startConversation", None)).await;
    dl.poll_until(&id, None, |b| bot_messages(b) >= 1).await;
    dl.say(&id, "echo hello").await;
    dl.poll_until(&id, None, |b| bot_messages(b) >= 2).await;
    let trigger = dl.say(&id, "I want an agent").await;
    let (seen, _) = dl
        .poll_until(&id, None, |b| b.iter().any(|a| a.kind == "event"))
        .await;
    let handoff = seen
        .iter()
        .find(|a| a.name.as_deref() == Some("handoff.initiate"))
        .expect("handoff event");
    assert_eq!(handoff.kind, "event");
    assert!(handoff.is_from_bot());
    assert_eq!(handoff.reply_to_id.as_deref(), Some(trigger.as_str()));
    let v = handoff.value.as_ref().expect("value");
    assert_eq!(v["va_AgentMessage"], "Ada wants a human");
    assert_eq!(v["va_LastTopic"], "Escalate");
    assert_eq!(
        v["va_Topics"],
        json!(["Conversation Start", "Echo", "Escalate"])
    );
    assert_eq!(v["va_LastPhrase"], "I want an agent");
    assert_eq!(v["va_Phrases"], json!(["echo hello", "I want an agent"]));
    assert_eq!(v["va_ConversationId"], json!(id));
    assert_eq!(v["va_BotId"], "test-bot");
    assert_eq!(v["va_BotName"], "Test Agent");
    assert_eq!(v["va_Language"], "En-US");
    assert_eq!(v["va_Scope"], "bot");
    assert_eq!(v["OrderNumber"], "12345");
    assert_eq!(
        v["CustomerName"], "Ada",
        "include_variables adds the context"
    );

    let attachment = &handoff.attachments.as_ref().expect("attachments")[0];
    assert_eq!(attachment.name.as_deref(), Some("Transcript"));
    assert_eq!(attachment.content_type, "application/json");
    let transcript = attachment.content.as_ref().expect("content")["activities"]
        .as_array()
        .expect("activities")
        .clone();
    let transcript_texts: Vec<&str> = transcript
        .iter()
        .filter_map(|a| a["text"].as_str())
        .collect();
    assert_eq!(
        transcript_texts,
        [
            "Hello Ada",
            "echo hello",
            "echo: echo hello",
            "I want an agent",
            "Transferring you."
        ]
    );
    let relates = handoff.relates_to.as_ref().expect("relatesTo");
    assert_eq!(relates["activityId"], json!(trigger));
    assert_eq!(relates["conversation"]["id"], json!(id));
    assert_eq!(relates["channelId"], "directline");
    assert_eq!(relates["bot"]["role"], "bot");
}

#[tokio::test]
async fn end_of_conversation_native_and_custom() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let bye = dl.say(&id, "bye").await;
    dl.say(&id, "custom end").await;
    let (seen, _) = dl
        .poll_until(&id, None, |b| {
            b.iter().filter(|a| a.kind != "message").count() >= 2
        })
        .await;
    let end = seen
        .iter()
        .find(|a| a.kind == "endOfConversation")
        .expect("endOfConversation");
    assert_eq!(end.code.as_deref(), Some("completedSuccessfully"));
    assert_eq!(end.reply_to_id.as_deref(), Some(bye.as_str()));
    assert!(end.is_from_bot());
    let custom = seen
        .iter()
        .find(|a| a.kind == "event")
        .expect("custom event");
    assert_eq!(custom.name.as_deref(), Some("EndOfConversation"));
    assert_eq!(custom.value, Some(json!("EndOfConversation")));
}

#[tokio::test]
async fn injected_faults_answer_errors_then_recover() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");

    emu.inject_fault(Fault {
        op: Op::PostActivity,
        status: 429,
        retry_after_secs: Some(2),
        count: 1,
    });
    let r = dl.post_raw(&id, &message("echo x")).await;
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let body = expect_error(r, 429).await;
    assert_eq!(body.error.code, "Throttled");
    assert!(
        emu.user_activities(&id).is_empty(),
        "a refused post is not stored"
    );
    dl.say(&id, "echo x").await;

    emu.inject_fault(Fault {
        op: Op::GetActivities,
        status: 502,
        retry_after_secs: None,
        count: 2,
    });
    for _ in 0..2 {
        let r = dl
            .get(&format!("/conversations/{id}/activities"))
            .send()
            .await
            .expect("send");
        assert!(r.headers().get("retry-after").is_none());
        let body = expect_error(r, 502).await;
        assert_eq!(body.error.code, "BotRejectedActivity");
    }
    assert_eq!(
        dl.activities(&id, None).await.activities[0].text.as_deref(),
        Some("echo x")
    );

    emu.inject_fault(Fault::once(Op::Any, 503));
    let r = dl.post("/conversations").send().await.expect("send");
    expect_error(r, 503).await;
    emu.inject_fault(Fault::once(Op::StartConversation, 500));
    dl.say(&id, "echo y").await; // other operations are not affected
    let r = dl.post("/conversations").send().await.expect("send");
    expect_error(r, 500).await;
    dl.start().await;
}

#[tokio::test]
async fn scripted_faults_fail_the_first_posts_only() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");

    let r = dl.post_raw(&id, &message("busy")).await;
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    expect_error(r, 429).await;
    let accepted = dl.say(&id, "Busy").await;

    for _ in 0..2 {
        expect_error(dl.post_raw(&id, &message("broken")).await, 502).await;
    }
    dl.say(&id, "broken").await;

    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 2).await;
    assert_eq!(texts(&seen), ["got through", "fixed"]);
    assert_eq!(seen[1].reply_to_id.as_deref(), Some(accepted.as_str()));
    assert_eq!(emu.user_activities(&id).len(), 2);

    // The count is per conversation.
    let other = dl.start().await.conversation_id.expect("id");
    expect_error(dl.post_raw(&other, &message("busy")).await, 429).await;
}

#[tokio::test]
async fn expired_conversation_answers_404() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.say(&id, "echo before").await;
    emu.expire_conversation(&id);

    let body = expect_error(dl.post_raw(&id, &message("echo after")).await, 404).await;
    assert_eq!(body.error.code, "NotFound");
    let r = dl
        .get(&format!("/conversations/{id}/activities"))
        .send()
        .await
        .expect("send");
    expect_error(r, 404).await;
    let r = dl
        .get(&format!("/conversations/{id}"))
        .send()
        .await
        .expect("send");
    expect_error(r, 404).await;
    let r = dl
        .get("/conversations/EmuConv999-unknown/activities")
        .send()
        .await
        .expect("send");
    expect_error(r, 404).await;
    // Other conversations are unaffected.
    let other = dl.start().await.conversation_id.expect("id");
    dl.say(&other, "echo still here").await;
}

#[tokio::test]
async fn reconnect_gives_a_fresh_token_and_stream_url() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let start = dl.start().await;
    let id = start.conversation_id.clone().expect("id");
    dl.say(&id, "echo 1").await;
    let r = dl
        .get(&format!("/conversations/{id}?watermark=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let again: Conversation = r.json().await.expect("conversation");
    assert_eq!(again.conversation_id.as_deref(), Some(id.as_str()));
    let token = again.token.clone().expect("token");
    assert_ne!(Some(&token), start.token.as_ref());
    let stream = again.stream_url.expect("streamUrl");
    assert!(stream.contains("watermark=1&t="), "{stream}");
    // The fresh token works for this conversation.
    Client::new(&emu, &token).activities(&id, None).await;
}

#[tokio::test]
async fn tokens_generate_start_refresh_and_expire() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);

    let r = dl.post("/tokens/generate").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let generated: Conversation = r.json().await.expect("token body");
    let id = generated.conversation_id.clone().expect("id");
    assert_eq!(generated.expires_in, Some(1800));
    assert!(generated.stream_url.is_none());
    let token = generated.token.expect("token");
    assert_eq!(emu.conversations_started(), 0, "generating does not start");

    let user = Client::new(&emu, &token);
    // Not started yet: posting is refused.
    expect_error(user.post_raw(&id, &message("echo early")).await, 404).await;
    let r = user.post("/conversations").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let started: Conversation = r.json().await.expect("body");
    assert_eq!(started.conversation_id.as_deref(), Some(id.as_str()));
    assert!(started.stream_url.is_some());
    let r = user.post("/conversations").send().await.expect("send");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "second start with the same token"
    );
    assert_eq!(emu.conversations_started(), 1);
    user.say(&id, "echo with token").await;

    // A token is valid for its own conversation only.
    let other = dl.start().await.conversation_id.expect("id");
    expect_error(user.post_raw(&other, &message("hi")).await, 403).await;
    // Only a secret generates tokens; only a token refreshes.
    expect_error(
        user.post("/tokens/generate").send().await.expect("send"),
        403,
    )
    .await;
    expect_error(dl.post("/tokens/refresh").send().await.expect("send"), 403).await;

    let r = user.post("/tokens/refresh").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Conversation = r.json().await.expect("body");
    assert_eq!(refreshed.conversation_id.as_deref(), Some(id.as_str()));
    let new_token = refreshed.token.expect("token");
    assert_ne!(new_token, token);
    Client::new(&emu, &new_token).activities(&id, None).await;

    emu.expire_tokens(&id);
    let body = expect_error(
        user.post("/tokens/refresh").send().await.expect("send"),
        403,
    )
    .await;
    assert_eq!(body.error.code, "TokenExpired");
    let body = expect_error(user.post_raw(&id, &message("echo late")).await, 403).await;
    assert_eq!(body.error.code, "TokenExpired");
    // The secret still works on that conversation.
    dl.say(&id, "echo via secret").await;
}

#[tokio::test]
async fn token_lifetime_is_enforced() {
    let mut config = EmulatorConfig::new(Script::from_toml_str(SCRIPT).expect("script"));
    config.token_ttl = Duration::ZERO;
    let emu = emulator_with(config).await;
    let dl = Client::secret(&emu);
    let start = dl.start().await;
    assert_eq!(start.expires_in, Some(0));
    let user = Client::new(&emu, &start.token.expect("token"));
    let body = expect_error(
        user.post("/tokens/refresh").send().await.expect("send"),
        403,
    )
    .await;
    assert_eq!(body.error.code, "TokenExpired");
}

#[tokio::test]
async fn copilot_studio_token_endpoint() {
    let emu = emulator(SCRIPT).await;
    let r = reqwest::get(emu.token_endpoint_url()).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["expires_in"], 3600);
    let token = body["token"].as_str().expect("token").to_owned();
    let id = body["conversationId"].as_str().expect("id").to_owned();
    let user = Client::new(&emu, &token);
    let started = user.start().await;
    assert_eq!(started.conversation_id.as_deref(), Some(id.as_str()));
    user.post_ok(&id, &event("startConversation", None)).await;
    let (seen, _) = user.poll_until(&id, None, |b| bot_messages(b) >= 1).await;
    assert_eq!(texts(&seen), ["Hello there"]);

    let settings: Value = reqwest::get(format!(
        "{}/powervirtualagents/regionalchannelsettings?api-version=2022-03-01-preview",
        emu.base_url()
    ))
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(
        settings["channelUrlsById"]["directline"],
        json!(format!("{}/", emu.base_url()))
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let path = format!("/conversations/{id}/activities");

    let r = dl
        .post(&path)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let body = expect_error(r, 400).await;
    assert!(
        body.error.message.contains("not valid JSON"),
        "{}",
        body.error.message
    );

    let r = dl
        .post(&path)
        .json(&json!([1, 2]))
        .send()
        .await
        .expect("send");
    expect_error(r, 400).await;
    let r = dl
        .post(&path)
        .json(&json!({"type": "message", "text": "no from"}))
        .send()
        .await
        .expect("send");
    assert_eq!(expect_error(r, 400).await.error.code, "MissingProperty");
    let r = dl
        .post(&path)
        .json(&json!({"from": {"id": "x"}, "text": "no type"}))
        .send()
        .await
        .expect("send");
    assert_eq!(expect_error(r, 400).await.error.code, "MissingProperty");
    let r = dl
        .post(&path)
        .json(&json!({"type": "message", "from": {"id": "x", "role": "bot"}, "text": "spoof"}))
        .send()
        .await
        .expect("send");
    expect_error(r, 400).await;

    let huge = message(&"x".repeat(300 * 1024));
    let r = dl.post(&path).json(&huge).send().await.expect("send");
    expect_error(r, 413).await;

    let r = dl
        .post("/conversations")
        .body("{oops")
        .send()
        .await
        .expect("send");
    expect_error(r, 400).await;
    let r = dl.get("/no/such/path").send().await.expect("send");
    expect_error(r, 404).await;
    let r = dl
        .http
        .delete(dl.url("/conversations"))
        .send()
        .await
        .expect("send");
    expect_error(r, 405).await;

    // None of this broke the conversation.
    assert!(emu.user_activities(&id).is_empty());
    dl.say(&id, "echo fine").await;
    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 1).await;
    assert_eq!(texts(&seen), ["echo: echo fine"]);
}

#[tokio::test]
async fn emulator_wait_for_and_shutdown() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.say(&id, "several").await;
    let all = emu
        .wait_for(&id, PATIENCE, |acts| bot_messages(acts) >= 3)
        .await
        .expect("three replies");
    assert_eq!(texts(&all), ["one", "two", "three"]);
    assert!(
        emu.wait_for(&id, Duration::from_millis(50), |acts| acts.len() > 100)
            .await
            .is_none()
    );
    assert_eq!(emu.conversation_ids(), [id]);

    let url = emu.directline_url();
    emu.shutdown().await;
    let refused = reqwest::Client::new()
        .post(format!("{url}/conversations"))
        .send()
        .await;
    assert!(refused.is_err(), "the server is gone");
}

#[tokio::test]
async fn cards_carousels_and_adaptive_cards() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.say(&id, "cards").await;
    let (seen, _) = dl.poll_until(&id, None, |b| bot_messages(b) >= 3).await;
    let bots: Vec<&Activity> = seen.iter().filter(|a| a.is_from_bot()).collect();

    let hero = &bots[0].attachments.as_ref().expect("attachments")[0];
    assert_eq!(hero.content_type, "application/vnd.microsoft.card.hero");
    assert_eq!(bots[0].attachment_layout.as_deref(), Some("list"));
    let content = hero.content.as_ref().expect("content");
    assert_eq!(content["title"], "Backpack there");
    assert_eq!(content["images"][0]["url"], "https://example.com/b.png");
    assert_eq!(
        content["buttons"],
        json!([
            {"type": "imBack", "title": "Buy", "value": "Buy"},
            {"type": "openUrl", "title": "Details", "value": "https://example.com/b"}
        ])
    );

    assert_eq!(bots[1].attachment_layout.as_deref(), Some("carousel"));
    assert_eq!(bots[1].attachments.as_ref().map(Vec::len), Some(2));
    assert_eq!(bots[1].text, None);

    let adaptive = &bots[2].attachments.as_ref().expect("attachments")[0];
    assert_eq!(
        adaptive.content_type,
        "application/vnd.microsoft.card.adaptive"
    );
    let content = adaptive.content.as_ref().expect("content");
    assert_eq!(content["body"][0]["text"], "Hi there");
    assert_eq!(content["version"], "1.5");
}

#[tokio::test]
async fn router_can_be_mounted_elsewhere() {
    let app = gcbridge_emulator::router(EmulatorConfig::new(
        Script::from_toml_str(SCRIPT).expect("script"),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v3/directline/conversations"))
        .bearer_auth(gcbridge_emulator::DEFAULT_SECRET)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    server.abort();
}

#[tokio::test]
async fn transcript_endpoint_lists_every_conversation_for_the_secret_only() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let a = dl.start().await.conversation_id.expect("id");
    let b = dl.start().await.conversation_id.expect("id");
    dl.post_ok(&a, &message("echo 1")).await;
    dl.post_ok(&b, &message("echo 2")).await;
    dl.poll_until(&b, None, |s| bot_messages(s) >= 1).await;

    let url = format!("{}/emulator/transcript", emu.base_url());
    let body: Value = dl
        .http
        .get(&url)
        .bearer_auth(gcbridge_emulator::DEFAULT_SECRET)
        .send()
        .await
        .expect("transcript")
        .json()
        .await
        .expect("json");
    let conversations = body["conversations"].as_array().expect("list");
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0]["id"], a.as_str());
    let texts: Vec<&str> = conversations[1]["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .filter(|a| a["from"]["role"] != "bot")
        .filter_map(|a| a["text"].as_str())
        .collect();
    assert_eq!(texts, ["echo 2"]);

    // A conversation's token may not read everyone's transcript; no credential at all is 401.
    let token = dl.start().await.token.expect("token");
    let r = dl
        .http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    let r = dl.http.get(&url).send().await.expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_cut_fault_breaks_the_connection_mid_answer() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    emu.inject_fault(Fault::once(Op::GetActivities, 0));
    let cut = match dl
        .get(&format!("/conversations/{id}/activities"))
        .send()
        .await
    {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(cut, "the answer should have broken off");
    // One call only: the next one is answered.
    let r = dl
        .get(&format!("/conversations/{id}/activities"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}
