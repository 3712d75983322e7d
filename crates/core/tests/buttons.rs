//! Customer → agent button clicks (`mapping.md` §3.2): a turn translates the agent's buttons,
//! the session remembers the offers, and a later click is posted as the action it stands for.

use std::path::PathBuf;

use gcbridge_core::plan::{ButtonResolution, PostPurpose, plan_turn};
use gcbridge_core::profile::BotProfile;
use gcbridge_core::request::Turn;
use gcbridge_core::session::{DirectLineSession, SessionRecord};
use gcbridge_core::translate::translate_turn;
use gcbridge_directline::{Activity, ActivitySet};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn session() -> SessionRecord {
    SessionRecord::new(
        "contoso-support",
        "1",
        None,
        DirectLineSession {
            conversation_id: "conv".into(),
            base_url: "http://127.0.0.1:1".into(),
            token: None,
            token_expires_at_ms: None,
            user_id: "dl_gcb_5c0f1e2d3a4b5c6d7e8f9a0b1c2d3e4f".into(),
        },
        "en-US".into(),
        0,
        60,
    )
}

/// What the app does at the end of a turn: translate with the turn number, remember the offers.
fn agent_turn(session: &mut SessionRecord, activities: &[Activity]) {
    session.turn += 1;
    let t = translate_turn(&BotProfile::default(), activities, session.turn);
    session.remember_offers(session.turn, t.offered);
}

/// What the app does at the start of a turn: count it, plan the posts.
fn customer_turn(session: &mut SessionRecord, turn: &Turn) -> (Activity, Option<ButtonResolution>) {
    session.turn += 1;
    let plan = plan_turn(&BotProfile::default(), session, turn, false);
    let message = plan
        .posts
        .iter()
        .find(|p| p.purpose == PostPurpose::Message)
        .expect("the customer's message is posted");
    (message.activity.clone(), plan.button)
}

fn click(label: &str, payload: &str) -> Turn {
    Turn::from_request(
        serde_json::from_value(json!({
            "botId": "b", "botSessionId": "s",
            "inputMessage": {"type": "Structured", "text": label, "content": [
                {"contentType": "ButtonResponse", "buttonResponse": {"type": "Button", "text": label, "payload": payload}}]}
        }))
        .expect("wire"),
    )
    .expect("valid")
}

fn bot(v: Value) -> Activity {
    let mut v = v;
    v["type"] = json!("message");
    v["from"] = json!({"id": "b", "role": "bot"});
    serde_json::from_value(v).expect("activity")
}

/// `(text, value, channelData without the ids gcbridge always adds)` of a posted message.
fn posted(activity: &Activity) -> (Option<&str>, Option<&Value>, Value) {
    let mut channel_data = activity.channel_data_object().expect("channelData");
    channel_data.remove("clientActivityID");
    channel_data.remove("genesys");
    (
        activity.text.as_deref(),
        activity.value.as_ref(),
        Value::Object(channel_data),
    )
}

#[test]
fn the_button_fixture_resolves_to_the_quick_reply_of_turn_one() {
    let mut s = session();
    let frame: ActivitySet = serde_json::from_value(fixture(
        "directline-stream-frame-greeting-typing-suggested-hero.json",
    ))
    .expect("frame");
    agent_turn(&mut s, &frame.activities);
    assert_eq!(s.turn, 1);
    let turn = Turn::from_request(
        serde_json::from_value(fixture("genesys-v1-request-button-response.json")).expect("wire"),
    )
    .expect("valid");
    let (message, resolution) = customer_turn(&mut s, &turn);
    assert_eq!(resolution, Some(ButtonResolution::Offered));
    assert_eq!(message.text.as_deref(), Some("Home delivery"));
    assert_eq!(message.text_format.as_deref(), Some("plain"));
    assert_eq!(message.value, None);
    assert_eq!(posted(&message).2, json!({}));
    // The card button of the same turn posts the agent's value, not the label.
    let (buy, _) = customer_turn(&mut s, &click("Buy now", "gcb:pb:1:buy-backpack-40"));
    assert_eq!(buy.text.as_deref(), Some("buy backpack-40"));
}

#[test]
fn every_action_kind_posts_what_a_bot_framework_client_posts() {
    let mut s = session();
    agent_turn(
        &mut s,
        &[
            bot(json!({"text": "Pick", "suggestedActions": {"actions": [
                {"type": "imBack", "title": "Yes", "value": "yes please"},
                {"type": "postBack", "title": "Basic", "value": "plan-basic"},
                {"type": "postBack", "title": "Plus", "value": {"plan": "plus"}},
                {"type": "messageBack", "title": "Large", "displayText": "Large", "text": "size L", "value": {"size": "L"}},
                {"type": "messageBack", "title": "Value only", "value": {"v": 1}}
            ]}})),
            bot(
                json!({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
                "body": [{"type": "TextBlock", "text": "Order 12345", "weight": "Bolder"}],
                "actions": [
                    {"type": "Action.Submit", "title": "Track it", "data": {"action": "track", "order": "12345"}},
                    {"type": "Action.Execute", "title": "Cancel", "verb": "cancel"},
                    {"type": "Action.Submit", "title": "Say it", "data": "track order 12345"}
                ]}}]}),
            ),
            bot(
                json!({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
                    "body": [{"type": "Input.ChoiceSet", "id": "delivery", "label": "Delivery", "choices": [
                        {"title": "Home", "value": "home"}, {"title": "Store", "value": "store"}]}],
                    "actions": [{"type": "Action.Submit", "title": "OK", "data": {"step": "delivery", "delivery": "none"}}]
                }}]}),
            ),
        ],
    );
    for (label, payload, text, value, channel_data) in [
        (
            "Yes",
            "gcb:qr:1:yes-please",
            Some("yes please"),
            None,
            json!({}),
        ),
        (
            "Basic",
            "gcb:qr:1:plan-basic",
            Some("plan-basic"),
            None,
            json!({"postBack": true}),
        ),
        (
            "Plus",
            "gcb:qr:1:plus",
            None,
            Some(json!({"plan": "plus"})),
            json!({"postBack": true}),
        ),
        (
            "Large",
            "gcb:qr:1:size-l",
            Some("size L"),
            Some(json!({"size": "L"})),
            json!({"messageBack": {"displayText": "Large"}}),
        ),
        (
            "Value only",
            "gcb:qr:1:value-only",
            None,
            Some(json!({"v": 1})),
            json!({}),
        ),
        (
            "Track it",
            "gcb:pb:1:track-it",
            None,
            Some(json!({"action": "track", "order": "12345"})),
            json!({"postBack": true}),
        ),
        (
            "Cancel",
            "gcb:pb:1:cancel",
            None,
            Some(json!({})),
            json!({"postBack": true}),
        ),
        (
            "Say it",
            "gcb:pb:1:say-it",
            Some("track order 12345"),
            None,
            json!({"postBack": true}),
        ),
        (
            "Store",
            "gcb:qr:1:store",
            None,
            Some(json!({"step": "delivery", "delivery": "store"})),
            json!({"postBack": true}),
        ),
    ] {
        let (message, resolution) = customer_turn(&mut s, &click(label, payload));
        assert_eq!(resolution, Some(ButtonResolution::Offered), "{payload}");
        assert_eq!(
            posted(&message),
            (text, value.as_ref(), channel_data),
            "{payload}"
        );
        assert_eq!(message.text_format.is_some(), text.is_some(), "{payload}");
    }
}

#[test]
fn unknown_and_expired_payloads() {
    let mut s = session();
    agent_turn(
        &mut s,
        &[bot(json!({"suggestedActions": {"actions": [
        {"type": "imBack", "title": "Old", "value": "old value"}]}}))],
    );
    // Three later turns with buttons push turn 1 out.
    for n in 0..3 {
        agent_turn(
            &mut s,
            &[bot(json!({"suggestedActions": {"actions": [
            {"type": "imBack", "title": format!("New {n}"), "value": format!("new {n}")}]}}))],
        );
    }
    assert_eq!(s.offered_action("gcb:qr:1:old-value"), None);
    assert!(s.offered_action("gcb:qr:2:new-0").is_some());
    for (label, payload, text, resolution) in [
        // An agent-written payload (Genesys JSON in text) is the agent's own: verbatim.
        (
            "Cookies",
            "I want to order cookies",
            "I want to order cookies",
            ButtonResolution::Foreign,
        ),
        ("Go", "go-3", "go-3", ButtonResolution::Foreign),
        // A gcbridge payload gcbridge no longer knows: the label the customer saw.
        (
            "Old",
            "gcb:qr:1:old-value",
            "Old",
            ButtonResolution::Expired,
        ),
        ("", "gcb:pb:99:x", "gcb:pb:99:x", ButtonResolution::Expired),
        // Still remembered.
        (
            "New 0",
            "gcb:qr:2:new-0",
            "new 0",
            ButtonResolution::Offered,
        ),
    ] {
        let (message, got) = customer_turn(&mut s, &click(label, payload));
        assert_eq!(got, Some(resolution), "{payload}");
        assert_eq!(message.text.as_deref(), Some(text), "{payload}");
        assert_eq!(message.value, None, "{payload}");
    }
    // An empty payload is read as the label's text at the request (no button resolution).
    let (message, got) = customer_turn(&mut s, &click("Just text", ""));
    assert_eq!((message.text.as_deref(), got), (Some("Just text"), None));
}

#[test]
fn a_session_stores_and_reloads_its_offers() {
    let mut s = session();
    let frame: ActivitySet = serde_json::from_value(fixture(
        "directline-stream-frame-greeting-typing-suggested-hero.json",
    ))
    .expect("frame");
    agent_turn(&mut s, &frame.activities);
    let stored: Value = serde_json::from_slice(&s.encode()).expect("json");
    assert_eq!(
        stored["offered_actions"],
        json!([{"turn": 1, "actions": {
            "gcb:pb:1:buy-backpack-40": {"type": "imBack", "value": "buy backpack-40"},
            "gcb:qr:1:home-delivery": {"type": "imBack", "value": "Home delivery"},
            "gcb:qr:1:pick-up-in-store": {"type": "imBack", "value": "Pick up in store"}
        }}])
    );
    let back = SessionRecord::decode(&s.encode()).expect("decode");
    assert_eq!(back, s);
}
