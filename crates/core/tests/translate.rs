//! `translate`: golden fixtures end to end, then tables of turn-level behaviour.

use std::path::PathBuf;

use gcbridge_core::profile::{BotProfile, HandoffVariable, MarkdownMode, SlotFilter};
use gcbridge_core::translate::slots::{DropReason, DroppedSlot};
use gcbridge_core::translate::{Ending, Translation, agent_error_escalation, translate};
use gcbridge_directline::{Activity, ActivitySet};
use gcbridge_genesys::{BotState, ReplyMessage, TurnResponse};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn activity_set(name: &str) -> Vec<Activity> {
    serde_json::from_value::<ActivitySet>(fixture(name))
        .expect("activity set")
        .activities
}

fn activity(v: Value) -> Activity {
    serde_json::from_value(v).expect("activity")
}

fn bot(v: Value) -> Activity {
    let mut v = v;
    v["from"] = json!({"id": "00000000-0000-4000-a000-0000000000b0", "role": "bot"});
    activity(v)
}

fn bot_text(text: &str) -> Activity {
    bot(json!({"type": "message", "textFormat": "markdown", "text": text}))
}

fn handoff(value: Value) -> Activity {
    bot(json!({"type": "event", "name": "handoff.initiate", "value": value}))
}

fn texts(t: &Translation) -> Vec<&str> {
    t.response
        .reply_messages
        .iter()
        .map(|m| m.text.as_deref().unwrap_or_default())
        .collect()
}

fn as_json(response: &TurnResponse) -> Value {
    serde_json::to_value(response).expect("serialise")
}

fn declared_profile() -> BotProfile {
    BotProfile {
        handoff_variables: vec![HandoffVariable {
            name: "OrderNumber".into(),
            kind: "String".into(),
        }],
        system_slots: vec!["va_LastTopic".into()],
        ..BotProfile::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Golden fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn handoff_fixture_gives_the_escalate_fixture() {
    let t = translate(
        &declared_profile(),
        &activity_set("directline-activityset-handoff.json"),
    );
    assert_eq!(
        as_json(&t.response),
        fixture("genesys-response-escalate.json")
    );
    // Entity order is part of the contract (parameters are a map, compared as one).
    let names: Vec<&str> = t
        .response
        .entities
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["va_AgentMessage", "va_OrderNumber", "va_LastTopic"]);
    assert_eq!(t.ending, Some(Ending::Handoff));
    let mut dropped: Vec<&str> = t.dropped_slots.iter().map(|d| d.name.as_str()).collect();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        [
            "va_BotId",
            "va_BotName",
            "va_ConversationId",
            "va_CustomerIntent",
            "va_CustomerTier",
            "va_Language",
            "va_LastPhrase",
            "va_Phrases",
            "va_Scope",
            "va_Topics",
        ]
    );
    assert!(
        t.dropped_slots
            .iter()
            .all(|d| d.reason == DropReason::NotDeclared)
    );
}

#[test]
fn end_of_conversation_fixture_gives_the_end_fixture() {
    let activities = vec![
        bot_text("Thanks for contacting Contoso. Goodbye!"),
        activity(fixture("directline-activity-end-of-conversation.json")),
    ];
    let t = translate(&BotProfile::default(), &activities);
    assert_eq!(as_json(&t.response), fixture("genesys-response-end.json"));
    assert_eq!(t.ending, Some(Ending::End));
}

#[test]
fn first_turn_frame_is_the_first_turn_fixture() {
    let t = translate(
        &BotProfile::default(),
        &activity_set("directline-stream-frame-greeting-typing-suggested-hero.json"),
    );
    assert_eq!(t.response.bot_state, BotState::MoreData);
    assert_eq!(t.response.intent, None);
    assert_eq!(t.ending, None);
    assert_eq!(t.ignored_activities, 1, "the typing activity");
    // Native card and quick replies since rich content is mapped (tests/rich_content.rs has the
    // details); their fallback texts are what the degraded messages used to read.
    assert_eq!(
        as_json(&t.response),
        fixture("genesys-response-first-turn.json")
    );
    // `basic` keeps bold.
    assert_eq!(
        t.response.reply_messages[0],
        ReplyMessage::text("Hello, I'm the **Contoso** virtual assistant. How can I help?")
    );
}

#[test]
fn greeting_markdown_per_mode() {
    let greeting =
        activity_set("directline-stream-frame-greeting-typing-suggested-hero.json").remove(0);
    for (mode, want) in [
        (
            MarkdownMode::Keep,
            "Hello, I'm the **Contoso** virtual assistant. How can I help?",
        ),
        (
            MarkdownMode::Basic,
            "Hello, I'm the **Contoso** virtual assistant. How can I help?",
        ),
        (
            MarkdownMode::Plain,
            "Hello, I'm the Contoso virtual assistant. How can I help?",
        ),
    ] {
        let profile = BotProfile {
            markdown: mode,
            ..BotProfile::default()
        };
        let t = translate(&profile, std::slice::from_ref(&greeting));
        assert_eq!(texts(&t), [want], "{mode:?}");
    }
}

#[test]
fn adaptive_card_fixture_reads_as_its_fallback_text() {
    let t = translate(
        &BotProfile::default(),
        &[activity(fixture("directline-activity-adaptive-card.json"))],
    );
    // A native card now (tests/rich_content.rs); its text is what text-only channels show,
    // with the submit button by its label.
    assert_eq!(
        texts(&t),
        [
            "Order 12345\nStatus: Shipped\nETA: Friday\nTrack it\nOpen order page: https://shop.example.com/orders/12345"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// What produces nothing
// ---------------------------------------------------------------------------------------------

#[test]
fn only_bot_messages_reach_the_customer() {
    let user = activity(
        json!({"type": "message", "text": "hi", "from": {"id": "dl_gcb_x", "role": "user"}}),
    );
    let numeric_role =
        activity(json!({"type": "message", "text": "hi", "from": {"id": "b", "role": 1}}));
    let no_from = activity(json!({"type": "message", "text": "hi"}));
    let cases = vec![
        user.clone(),
        numeric_role,
        no_from,
        bot(json!({"type": "typing"})),
        bot(
            json!({"type": "typing", "text": "Our opening hours are", "channelData": {"streamType": "streaming"}}),
        ),
        bot(json!({"type": "trace", "text": "debug"})),
        bot(json!({"type": "conversationUpdate", "membersAdded": [{"id": "x"}]})),
        bot(json!({"type": "invoke", "name": "x"})),
        bot(json!({"type": "somethingNew", "text": "?"})),
        bot(json!({"type": ""})),
        bot(json!({"type": "event", "name": "turn.complete"})),
        bot(json!({"type": "event", "name": "SomeTopicEvent", "value": "x"})),
        bot(json!({"type": "event"})),
        // A user cannot hand off or end the session.
        activity(
            json!({"type": "event", "name": "handoff.initiate", "from": {"id": "u", "role": "user"}}),
        ),
        activity(json!({"type": "endOfConversation", "from": {"id": "u", "role": "user"}})),
        // A message with nothing for the customer.
        bot(json!({"type": "message", "value": {"a": 1}, "speak": "hello", "channelData": {}})),
        bot(json!({"type": "message", "text": "   "})),
        bot(
            json!({"type": "message", "attachments": [{"contentType": "application/json", "name": "Transcript", "content": {"activities": []}}]}),
        ),
    ];
    for case in &cases {
        let t = translate(&BotProfile::default(), std::slice::from_ref(case));
        assert_eq!(t.response, TurnResponse::more_data(Vec::new()), "{case:?}");
        assert_eq!(t.ending, None, "{case:?}");
    }
    let t = translate(&BotProfile::default(), &cases);
    assert_eq!(t.ignored_activities, 15);
    let mixed = [
        user,
        bot_text("Hello"),
        bot(json!({"type": "typing"})),
        bot_text("World"),
    ];
    assert_eq!(
        texts(&translate(&BotProfile::default(), &mixed)),
        ["Hello", "World"]
    );
}

#[test]
fn no_activities_is_more_data_with_no_messages() {
    let t = translate(&BotProfile::default(), &[]);
    assert_eq!(
        as_json(&t.response),
        json!({"botState": "MoreData", "replyMessages": []})
    );
}

// ---------------------------------------------------------------------------------------------
// Message content
// ---------------------------------------------------------------------------------------------

#[test]
fn message_text_table() {
    let plain = BotProfile {
        markdown: MarkdownMode::Plain,
        ..BotProfile::default()
    };
    let strip = BotProfile {
        citations: gcbridge_core::profile::CitationMode::Strip,
        ..BotProfile::default()
    };
    let basic = BotProfile::default();
    let answer = "Returns are free \\[1\\] &amp; fast.\n\n[1]: https://contoso.example/returns \"Returns &quot;policy&quot;\"";
    for (profile, input, want) in [
        (&basic, "It&#39;s &lt;fine&gt;", vec!["It's <fine>"]),
        (&basic, "\\*not bold\\* \\_x\\_", vec!["*not bold* _x_"]),
        (&plain, "\\*literal\\*", vec!["literal"]),
        (
            &basic,
            answer,
            vec![
                "Returns are free [1] & fast.\n\nSources:\n1. Returns \"policy\" – https://contoso.example/returns",
            ],
        ),
        (&strip, answer, vec!["Returns are free & fast."]),
        (
            &basic,
            "## Plans\n| Plan | Price |\n|---|---|\n| **Basic** | 9.99 |",
            vec!["Plans\nPlan: **Basic**\nPrice: 9.99"],
        ),
        (
            &plain,
            "## Plans\n| Plan | Price |\n|---|---|\n| **Basic** | 9.99 |",
            vec!["Plans\nPlan: Basic\nPrice: 9.99"],
        ),
        (
            &basic,
            "See ![chart](https://a.example/c.png) and [docs](https://a.example/d)",
            vec!["See chart: https://a.example/c.png and [docs](https://a.example/d)"],
        ),
        (
            &plain,
            "See ![chart](https://a.example/c.png) and [docs](https://a.example/d)",
            vec!["See chart: https://a.example/c.png and docs (https://a.example/d)"],
        ),
        (&basic, "```\nlet x = 1;\n```", vec!["let x = 1;"]),
        (&basic, "\r\n\r\n", vec![]),
    ] {
        let t = translate(profile, &[bot_text(input)]);
        assert_eq!(texts(&t), want, "{input:?} with {:?}", profile.markdown);
    }
}

#[test]
fn long_messages_are_split_into_several_text_messages() {
    let profile = BotProfile {
        max_text_chars: 20,
        ..BotProfile::default()
    };
    for (input, want) in [
        (
            "First paragraph.\n\nSecond paragraph.",
            vec!["First paragraph.", "Second paragraph."],
        ),
        (
            "One sentence here. Another one here.",
            vec!["One sentence here.", "Another one here."],
        ),
        (
            "words words words words words",
            vec!["words words words", "words words"],
        ),
        (
            "ééééééééééééééééééééééééé",
            vec!["éééééééééééééééééééé", "ééééé"],
        ),
        (
            "😀".repeat(21).as_str(),
            vec![&"😀".repeat(20) as &str, "😀"],
        ),
    ] {
        let t = translate(&profile, &[bot_text(input)]);
        assert_eq!(texts(&t), want, "{input:?}");
        assert!(texts(&t).iter().all(|m| m.chars().count() <= 20));
    }
}

/// The `text` of every message: what a channel without buttons, cards or carousels shows.
/// These were the degraded messages before rich content was mapped; the native messages keep
/// the same readable text (images now read `name` then the address, as a card's title and note).
#[test]
fn readable_text_table() {
    let backpack = json!({
        "contentType": "application/vnd.microsoft.card.hero",
        "content": {
            "title": "Backpack", "subtitle": "40 litres", "text": "Fits **cabin** rules.",
            "buttons": [
                {"type": "imBack", "title": "Buy now", "value": "buy"},
                {"type": "openUrl", "title": "Details", "value": "https://a.example/p"},
                {"type": "signin", "title": "Sign in", "value": "https://login.example"}
            ]
        }
    });
    let plan = |name: &str| {
        json!({"contentType": "application/vnd.microsoft.card.thumbnail",
               "content": {"title": name, "buttons": [{"type": "postBack", "title": format!("Choose {name}"), "value": {"plan": name}}]}})
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // Text first, then the card.
        (
            json!({"type": "message", "text": "Popular:", "attachments": [backpack]}),
            vec![
                "Popular:",
                "Backpack\n40 litres\nFits cabin rules.\nBuy now\nDetails: https://a.example/p",
            ],
        ),
        // Several cards are one message, separated by blank lines.
        (
            json!({"type": "message", "text": "Plans:", "attachmentLayout": "carousel", "attachments": [plan("Basic"), plan("Plus")]}),
            vec!["Plans:", "Basic\nChoose Basic\n\nPlus\nChoose Plus"],
        ),
        // Suggested actions: attachments first, the prompt with its options last.
        (
            json!({"type": "message", "text": "Which **size**?",
            "attachments": [{"contentType": "image/png", "contentUrl": "https://a.example/s.png", "name": "size-chart.png"}],
            "suggestedActions": {"actions": [
                {"type": "imBack", "title": "Small", "value": "S"},
                {"type": "messageBack", "displayText": "Large", "text": "L"},
                {"type": "call", "title": "Call us", "value": "tel:+15550100"},
                {"type": "playAudio", "title": "Listen", "value": "https://a.example/a.mp3"}
            ]}}),
            vec![
                "size-chart.png\nhttps://a.example/s.png",
                "Which **size**?\n1. Small\n2. Large\nCall us: tel:+15550100",
            ],
        ),
        // Options without a prompt.
        (
            json!({"type": "message", "suggestedActions": {"actions": [{"type": "imBack", "title": "Yes", "value": "Yes"}]}}),
            vec!["1. Yes"],
        ),
        // No usable action: the message is read as if it had none.
        (
            json!({"type": "message", "text": "Look", "suggestedActions": {"actions": [{"type": "showImage", "value": "https://a.example/i.png"}]}}),
            vec!["Look"],
        ),
        // Files.
        (
            json!({"type": "message", "text": "Here is the size chart.", "attachments": [
                {"contentType": "image/png", "contentUrl": "https://shop.example.com/img/size-chart.png", "name": "size-chart.png"},
                {"contentType": "application/pdf", "contentUrl": "https://a.example/files/terms.pdf"},
                {"contentType": "image/png", "contentUrl": "data:image/png;base64,iVBORw0KGgo="}
            ]}),
            vec![
                "Here is the size chart.",
                "size-chart.png\nhttps://shop.example.com/img/size-chart.png",
                "terms.pdf: https://a.example/files/terms.pdf",
                "A file was sent but cannot be displayed here.",
            ],
        ),
        // Adaptive Card with inputs, a ShowCard, hidden text and a fallback text.
        (
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "type": "AdaptiveCard", "fallbackText": "Open this in Teams.",
            "body": [
                {"type": "TextBlock", "text": "Book a **visit**"},
                {"type": "TextBlock", "text": "secret", "isVisible": false},
                {"type": "ColumnSet", "columns": [{"type": "Column", "items": [{"type": "TextBlock", "text": "Left"}]}]},
                {"type": "Input.Date", "id": "day", "label": "Day"},
                {"type": "Input.ChoiceSet", "id": "slot", "label": "Time", "choices": [{"title": "Morning", "value": "am"}, {"title": "Afternoon", "value": "pm"}]},
                {"type": "FancyNewThing", "fallback": {"type": "TextBlock", "text": "Fallback element"}}
            ],
            "actions": [
                {"type": "Action.Submit", "title": "Book"},
                {"type": "Action.ShowCard", "title": "More", "card": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Shown card"}]}}
            ]}}]}),
            vec![
                "Book a visit\nLeft\nFallback element\nShown card\nPlease reply with: Day, Time (Morning, Afternoon)\nOpen this in Teams.\nBook",
            ],
        ),
        // Adaptive Card with nothing to read but an image: a card named after the bot.
        (
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "body": [{"type": "Image", "url": "https://a.example/i.png"}]}}]}),
            vec!["Copilot Studio agent\nhttps://a.example/i.png"],
        ),
        // Adaptive Card with nothing usable at all.
        (
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "body": [{"type": "Image", "url": "data:image/png;base64,AA"}]}}]}),
            vec!["This content cannot be displayed here."],
        ),
        // Adaptive Card content sent as a JSON string.
        (
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": "{\"type\":\"AdaptiveCard\",\"body\":[{\"type\":\"TextBlock\",\"text\":\"From a string\"}]}"}]}),
            vec!["From a string"],
        ),
        // Odd JSON where cards are expected.
        (
            json!({"type": "message", "text": "x", "attachments": [
                {"contentType": "application/vnd.microsoft.card.hero", "content": 42},
                {"contentType": "application/vnd.microsoft.card.hero", "content": {"title": ["not", "text"], "buttons": "nope"}},
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": null},
                {"contentType": "application/vnd.microsoft.card.adaptive"}
            ]}),
            vec![
                "x",
                "This content cannot be displayed here.",
                "This content cannot be displayed here.",
            ],
        ),
    ];
    for (input, want) in cases {
        let t = translate(&BotProfile::default(), &[bot(input.clone())]);
        assert_eq!(texts(&t), want, "{input}");
    }
}

// ---------------------------------------------------------------------------------------------
// Handoff
// ---------------------------------------------------------------------------------------------

const VALUE: &str = r#"{
    "va_AgentMessage": "Needs help",
    "va_LastTopic": "Orders",
    "va_Topics": ["Greeting", "Orders"],
    "va_LastPhrases": "help me",
    "MSCallerId": "caller",
    "CustomerTier": "gold",
    "OrderNumber": 12345,
    "va_OrderNumber": "A-12345",
    "Items": ["x", "y"]
}"#;

fn slot_summary(t: &Translation) -> Vec<(String, String, Value)> {
    t.response
        .entities
        .iter()
        .map(|e| {
            let v = match (&e.value, &e.values) {
                (Some(v), _) => json!(v),
                (None, Some(vs)) => json!(vs),
                (None, None) => Value::Null,
            };
            (e.name.clone(), e.kind.clone(), v)
        })
        .collect()
}

fn s(name: &str, kind: &str, value: Value) -> (String, String, Value) {
    (name.to_owned(), kind.to_owned(), value)
}

#[test]
fn slot_filter_table() {
    let value: Value = serde_json::from_str(VALUE).expect("value");
    let with = |filter: SlotFilter, declared: bool| BotProfile {
        slot_filter: filter,
        ..if declared {
            declared_profile()
        } else {
            BotProfile::default()
        }
    };
    for (profile, want) in [
        // auto with declarations = declared.
        (
            with(SlotFilter::Auto, true),
            vec![
                s("va_AgentMessage", "String", json!("Needs help")),
                s("va_OrderNumber", "String", json!("A-12345")),
                s("va_LastTopic", "String", json!("Orders")),
            ],
        ),
        // auto without declarations: the agent message and every custom variable, in value order.
        (
            with(SlotFilter::Auto, false),
            vec![
                s("va_AgentMessage", "String", json!("Needs help")),
                s("va_CustomerTier", "String", json!("gold")),
                s("va_OrderNumber", "String", json!("A-12345")),
                s("va_Items", "StringCollection", json!(["x", "y"])),
            ],
        ),
        (
            with(SlotFilter::Declared, true),
            vec![
                s("va_AgentMessage", "String", json!("Needs help")),
                s("va_OrderNumber", "String", json!("A-12345")),
                s("va_LastTopic", "String", json!("Orders")),
            ],
        ),
        // declared without declarations: only the agent message.
        (
            with(SlotFilter::Declared, false),
            vec![s("va_AgentMessage", "String", json!("Needs help"))],
        ),
        // all: declared first, then every other key in value order; va_LastPhrases read as
        // va_LastPhrase; MSCallerId never.
        (
            with(SlotFilter::All, true),
            vec![
                s("va_AgentMessage", "String", json!("Needs help")),
                s("va_OrderNumber", "String", json!("A-12345")),
                s("va_LastTopic", "String", json!("Orders")),
                s(
                    "va_Topics",
                    "StringCollection",
                    json!(["Greeting", "Orders"]),
                ),
                s("va_LastPhrase", "String", json!("help me")),
                s("va_CustomerTier", "String", json!("gold")),
                s("va_Items", "StringCollection", json!(["x", "y"])),
            ],
        ),
    ] {
        let t = translate(&profile, &[handoff(value.clone())]);
        assert_eq!(slot_summary(&t), want, "{:?}", profile.slot_filter);
        assert_eq!(t.response.intent.as_deref(), Some("Escalate"));
        // Parameters mirror the entities as strings.
        assert_eq!(t.response.parameters.len(), want.len());
        for (name, _, v) in &want {
            let expected = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            assert_eq!(t.response.parameters.get(name), Some(&expected), "{name}");
        }
        assert!(!t.response.parameters.contains_key("va_MSCallerId"));
        assert!(!t.response.parameters.contains_key("MSCallerId"));
    }
}

#[test]
fn declared_types_format_or_drop_values() {
    let variable = |name: &str, kind: &str| HandoffVariable {
        name: name.into(),
        kind: kind.into(),
    };
    let profile = BotProfile {
        handoff_variables: vec![
            variable("Count", "Integer"),
            variable("Amount", "Decimal"),
            variable("Vip", "Boolean"),
            variable("Tags", "StringCollection"),
            variable("Meta", "String"),
            variable("Age", "Integer"),
            variable("When", "Datetime"),
            variable("Missing", "String"),
        ],
        system_slots: vec!["va_Phrases".into(), "va_Language".into()],
        ..BotProfile::default()
    };
    let value = json!({
        "Count": 3.0, "Amount": "12.50", "Vip": true, "Tags": ["a", "b"],
        "Meta": {"k": [1, 2]}, "Age": "old", "When": "yesterday",
        "va_Phrases": ["hi", "help"], "va_Language": "En-US"
    });
    let t = translate(&profile, &[handoff(value)]);
    assert_eq!(
        slot_summary(&t),
        vec![
            s("va_Count", "Integer", json!("3")),
            s("va_Amount", "Decimal", json!("12.50")),
            s("va_Vip", "Boolean", json!("true")),
            s("va_Tags", "StringCollection", json!(["a", "b"])),
            s("va_Meta", "String", json!(r#"{"k":[1,2]}"#)),
            s("va_Phrases", "StringCollection", json!(["hi", "help"])),
            s("va_Language", "String", json!("En-US")),
        ]
    );
    assert_eq!(t.response.parameters["va_Tags"], r#"["a","b"]"#);
    assert_eq!(
        t.dropped_slots,
        vec![
            DroppedSlot {
                name: "va_Age".into(),
                reason: DropReason::Unconvertible
            },
            DroppedSlot {
                name: "va_When".into(),
                reason: DropReason::Unconvertible
            },
        ]
    );
}

#[test]
fn last_phrase_alias_table() {
    let profile = BotProfile {
        system_slots: vec!["va_LastPhrase".into()],
        ..BotProfile::default()
    };
    for (value, want) in [
        (
            json!({"va_LastPhrases": "docs spelling"}),
            Some("docs spelling"),
        ),
        (
            json!({"va_LastPhrase": "real", "va_LastPhrases": "docs"}),
            Some("real"),
        ),
        (
            json!({"va_LastPhrases": "docs", "va_LastPhrase": "real"}),
            Some("real"),
        ),
        (json!({}), None),
    ] {
        let t = translate(&profile, &[handoff(value.clone())]);
        assert_eq!(
            t.response
                .parameters
                .get("va_LastPhrase")
                .map(String::as_str),
            want,
            "{value}"
        );
        assert!(!t.response.parameters.contains_key("va_LastPhrases"));
    }
}

#[test]
fn custom_handoff_events_and_placeholders() {
    let profile = BotProfile {
        handoff_events: vec!["GenesysHandoff".into(), "Exit".into()],
        handoff_placeholders: vec!["Handover".into()],
        ..BotProfile::default()
    };
    let event =
        |name: &str, value: Value| bot(json!({"type": "event", "name": name, "value": value}));
    for (activity, agent_message) in [
        (
            event("GenesysHandoff", json!("Summary for the agent")),
            Some("Summary for the agent"),
        ),
        (event("Exit", json!("Handover")), None),
        (event("Exit", json!(" Handover ")), None),
        (event("Exit", json!("")), None),
        (event("Exit", json!(42)), None),
        (event("Exit", json!(["a"])), None),
        (event("Exit", Value::Null), None),
        (bot(json!({"type": "event", "name": "Exit"})), None),
        (
            event(
                "GenesysHandoff",
                json!({"va_AgentMessage": "From object", "Extra": {"deep": [1]}}),
            ),
            Some("From object"),
        ),
        (
            event("GenesysHandoff", json!({"va_AgentMessage": "   "})),
            None,
        ),
        (
            event("GenesysHandoff", json!({"va_AgentMessage": 7})),
            Some("7"),
        ),
        (
            event("handoff.initiate", json!("A string on the native event")),
            Some("A string on the native event"),
        ),
    ] {
        let t = translate(&profile, std::slice::from_ref(&activity));
        assert_eq!(t.ending, Some(Ending::Handoff), "{activity:?}");
        assert_eq!(t.response.bot_state, BotState::Complete);
        assert_eq!(
            t.response
                .parameters
                .get("va_AgentMessage")
                .map(String::as_str),
            agent_message,
            "{activity:?}"
        );
    }
}

#[test]
fn messages_around_a_handoff_are_all_kept_in_order() {
    let activities = [
        bot_text("Before"),
        handoff(json!({"va_AgentMessage": "m"})),
        bot_text("After"),
        bot(json!({"type": "typing"})),
        bot(json!({"type": "event", "name": "SomethingElse"})),
        bot_text("Last"),
    ];
    let t = translate(&BotProfile::default(), &activities);
    assert_eq!(texts(&t), ["Before", "After", "Last"]);
    assert_eq!(t.ending, Some(Ending::Handoff));
}

#[test]
fn the_first_ending_decides() {
    let end =
        bot(json!({"type": "endOfConversation", "text": "Bye!", "code": "completedSuccessfully"}));
    let custom_end =
        bot(json!({"type": "event", "name": "EndOfConversation", "value": "EndOfConversation"}));
    let hand = handoff(json!({"va_AgentMessage": "m"}));
    for (activities, ending, intent, want_texts) in [
        (
            vec![hand.clone(), end.clone()],
            Ending::Handoff,
            "Escalate",
            vec!["Bye!"],
        ),
        (
            vec![end.clone(), hand.clone()],
            Ending::End,
            "EndConversation",
            vec!["Bye!"],
        ),
        (
            vec![custom_end.clone(), hand.clone()],
            Ending::End,
            "EndConversation",
            vec![],
        ),
        (
            vec![hand.clone(), custom_end.clone()],
            Ending::Handoff,
            "Escalate",
            vec![],
        ),
        (
            vec![bot_text("a"), end.clone(), bot_text("b")],
            Ending::End,
            "EndConversation",
            vec!["a", "Bye!", "b"],
        ),
    ] {
        let t = translate(&BotProfile::default(), &activities);
        assert_eq!(t.ending, Some(ending));
        assert_eq!(t.response.bot_state, BotState::Complete);
        assert_eq!(t.response.intent.as_deref(), Some(intent));
        assert_eq!(texts(&t), want_texts);
        // The end intent carries no slots unless va_EndCode is declared.
        if ending == Ending::End {
            assert!(t.response.entities.is_empty());
            assert!(t.response.parameters.is_empty());
        }
    }
}

#[test]
fn end_code_slot_only_when_declared() {
    let profile = BotProfile {
        end_code_slot: true,
        end_intent: "Done".into(),
        ..BotProfile::default()
    };
    for (activity, code) in [
        (
            bot(json!({"type": "endOfConversation", "code": "completedSuccessfully"})),
            Some("completedSuccessfully"),
        ),
        (
            bot(json!({"type": "endOfConversation", "value": {"code": "userCancelled"}})),
            Some("userCancelled"),
        ),
        (
            bot(json!({"type": "endOfConversation", "code": "", "value": {"code": 3}})),
            None,
        ),
        (
            bot(
                json!({"type": "event", "name": "EndOfConversation", "value": "EndOfConversation"}),
            ),
            None,
        ),
    ] {
        let t = translate(&profile, std::slice::from_ref(&activity));
        assert_eq!(t.response.intent.as_deref(), Some("Done"));
        assert_eq!(
            t.response.parameters.get("va_EndCode").map(String::as_str),
            code,
            "{activity:?}"
        );
        assert_eq!(t.response.entities.len(), usize::from(code.is_some()));
    }
}

#[test]
fn agent_error_escalation_answers_escalate_with_the_configured_message() {
    let profile = BotProfile {
        escalate_intent: "live-agent-handoff".into(),
        agent_error_message: "Bot down.".into(),
        ..BotProfile::default()
    };
    assert_eq!(
        as_json(&agent_error_escalation(&profile)),
        json!({
            "botState": "Complete",
            "replyMessages": [],
            "intent": "live-agent-handoff",
            "entities": [{"name": "va_AgentMessage", "type": "String", "value": "Bot down."}],
            "parameters": {"va_AgentMessage": "Bot down."}
        })
    );
    let silent = BotProfile {
        agent_error_message: String::new(),
        ..BotProfile::default()
    };
    assert_eq!(
        as_json(&agent_error_escalation(&silent)),
        json!({"botState": "Complete", "replyMessages": [], "intent": "Escalate"})
    );
}

#[test]
fn odd_handoff_values_never_panic() {
    let profile = BotProfile {
        slot_filter: SlotFilter::All,
        handoff_variables: vec![HandoffVariable {
            name: "N".into(),
            kind: "IntegerCollection".into(),
        }],
        ..BotProfile::default()
    };
    let deep = (0..100).fold(json!("leaf"), |acc, _| json!([acc]));
    for value in [
        json!(null),
        json!(true),
        json!(1.5),
        json!([1, 2]),
        json!({"": "x", "va_": "y", "N": {"not": "a list"}, "Deep": deep, "Big": "x".repeat(100_000)}),
        json!({"N": [1, "2", 3.5, null, {"x": 1}]}),
    ] {
        let t = translate(&profile, &[handoff(value.clone())]);
        assert_eq!(t.response.bot_state, BotState::Complete, "{value}");
        for e in &t.response.entities {
            assert!(e.value.is_some() != e.values.is_some(), "{e:?}");
            assert!(e.name.starts_with("va_") && e.name.len() > 3, "{e:?}");
        }
    }
}
