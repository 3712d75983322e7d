//! Property-based tests of the two parsers gcbridge exposes to the outside: the Genesys turn
//! request (what any client of the public endpoint can send) and the Direct Line activities
//! (what the agent, or anything on the way, can send back). Arbitrary bytes, malformed UTF-8,
//! huge strings, deep JSON, wrong types, unknown content types and thousands of activities:
//! never a panic, always a parse error, a fixed `Failed` code, or an answer Genesys accepts
//! (`common::assert_valid_body`).

mod common;

use gcbridge_core::errors::ErrorCode;
use gcbridge_core::fuzz::{directline_activities, genesys_request};
use gcbridge_core::profile::BotProfile;
use gcbridge_core::request::Turn;
use gcbridge_core::translate::translate_turn;
use gcbridge_directline::{Activity, ActivitySet};
use gcbridge_genesys::TurnRequest;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value: scalars of every type, strings of any characters, nested arrays and objects.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys gcbridge reads, mixed with arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "botId",
            "botVersion",
            "botSessionId",
            "messageId",
            "inputMessage",
            "type",
            "text",
            "payload",
            "content",
            "contentType",
            "url",
            "languageCode",
            "botSessionTimeout",
            "genesysConversationId",
            "parameters",
            "chatBot",
            "id",
            "from",
            "role",
            "attachments",
            "suggestedActions",
            "actions",
            "value",
            "name",
            "channelData",
            "replyToId",
            "inputHint",
            "entities",
        ])
        .prop_map(str::to_owned),
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
    ]
}

/// A request whose fields hold values of any type.
fn genesys_like() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(session, input, text, params, extra)| {
            json!({
                "botId": "b",
                "botSessionId": session,
                "inputMessage": {"type": input, "text": text},
                "parameters": params,
                "languageCode": extra,
            })
        })
}

/// Checks one request body the way the router reads it.
fn check_request(bytes: &[u8]) {
    if let Err(e) = genesys_request(bytes) {
        panic!("{e}: {}", String::from_utf8_lossy(bytes));
    }
    if let Ok(request) = serde_json::from_slice::<TurnRequest>(bytes)
        && let Err(code) = Turn::from_request(request)
    {
        assert!(ErrorCode::ALL.contains(&code));
    }
}

/// A bot activity with arbitrary fields over a plausible base.
fn activity_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "message",
            "typing",
            "event",
            "endOfConversation",
            "trace",
            "conversationUpdate",
            "invoke",
            "🤖",
            "",
        ]),
        json_value(),
        json_value(),
        prop::sample::select(vec![
            "application/vnd.microsoft.card.hero",
            "application/vnd.microsoft.card.adaptive",
            "application/vnd.microsoft.card.thumbnail",
            "application/vnd.microsoft.card.oauth",
            "image/png",
            "text/x-unknown",
            "",
        ]),
        json_value(),
        any::<u16>(),
    )
        .prop_map(|(kind, text, value, content_type, content, n)| {
            json!({
                "type": kind,
                "id": format!("c|{n:07}"),
                "from": {"id": "bot", "role": if n % 7 == 0 { json!("user") } else { json!("bot") }},
                "text": text,
                "value": value,
                "name": if n % 3 == 0 { json!("handoff.initiate") } else { json!("x") },
                "attachments": [{"contentType": content_type, "content": content}],
                "suggestedActions": {"actions": [{"type": "imBack", "title": text, "value": text}]},
                "replyToId": "posted",
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_break_the_request_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_request(&bytes);
    }

    #[test]
    fn fields_of_any_type_are_an_error_or_a_valid_turn(request in genesys_like()) {
        check_request(request.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_json_is_not_a_request(value in json_value()) {
        check_request(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_break_the_activity_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = directline_activities(&bytes) {
            panic!("{e}");
        }
    }

    #[test]
    fn odd_activities_translate_into_an_answer_genesys_accepts(activities in prop::collection::vec(activity_like(), 0..24)) {
        let body = json!({"activities": activities, "watermark": "7"}).to_string();
        if let Err(e) = directline_activities(body.as_bytes()) {
            panic!("{e}: {body}");
        }
        let set: Result<ActivitySet, _> = serde_json::from_str(&body);
        if let Ok(set) = set {
            let profile = BotProfile::default();
            let translation = translate_turn(&profile, &set.activities, 1);
            common::assert_valid_body(&profile, &translation.response);
        }
    }
}

#[test]
fn malformed_utf8_is_a_parse_error() {
    let mut body =
        br#"{"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    body.extend_from_slice(br#""}}"#);
    assert!(serde_json::from_slice::<TurnRequest>(&body).is_err());
    check_request(&body);
    let activity = [
        br#"{"activities":[{"type":"message","text":""#.as_slice(),
        &[0xed, 0xa0, 0x80],
        br#""}]}"#,
    ]
    .concat();
    assert!(serde_json::from_slice::<ActivitySet>(&activity).is_err());
    directline_activities(&activity).expect("no broken invariant");
}

#[test]
fn deep_json_is_refused_without_overflowing_the_stack() {
    for depth in [200, 10_000, 100_000] {
        let deep = format!(
            r#"{{"botId":"b","botSessionId":"s","parameters":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        check_request(deep.as_bytes());
        let activities = format!(
            r#"{{"activities":[{{"type":"message","from":{{"role":"bot"}},"value":{}1{}}}]}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        directline_activities(activities.as_bytes()).expect("no broken invariant");
    }
}

#[test]
fn huge_strings_are_cut_to_the_limits() {
    let huge = "x".repeat(4 * 1024 * 1024);
    let request = json!({
        "botId": huge, "botSessionId": huge, "messageId": huge,
        "inputMessage": {"type": "Text", "text": huge},
    });
    check_request(request.to_string().as_bytes());
    let reply = json!({"activities": [{
        "type": "message", "id": "c|1", "from": {"role": "bot"}, "text": huge,
        "suggestedActions": {"actions": [{"type": "imBack", "title": huge, "value": huge}]},
    }]});
    directline_activities(reply.to_string().as_bytes()).expect("no broken invariant");
    let set: ActivitySet = serde_json::from_value(reply).expect("set");
    let profile = BotProfile::default();
    common::assert_valid_body(
        &profile,
        &translate_turn(&profile, &set.activities, 1).response,
    );
}

#[test]
fn thousands_of_activities_stay_within_the_reply_limits() {
    let activities: Vec<Value> = (0..5_000)
        .map(|i| {
            json!({"type": if i % 5 == 0 { "typing" } else { "message" }, "id": format!("c|{i:07}"),
                   "from": {"role": "bot"}, "text": format!("reply {i}"),
                   "attachments": [{"contentType": "application/x-unknown", "content": {"i": i}}]})
        })
        .collect();
    let body = json!({"activities": activities, "watermark": "5000"}).to_string();
    let started = std::time::Instant::now();
    directline_activities(body.as_bytes()).expect("no broken invariant");
    let set: ActivitySet = serde_json::from_str(&body).expect("set");
    let profile = BotProfile::default();
    let translation = translate_turn(&profile, &set.activities, 1);
    common::assert_valid_body(&profile, &translation.response);
    assert!(translation.response.reply_messages.len() <= profile.max_messages);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // A single activity of the wrong shape is not a set, and not a panic either.
    let wrong: Result<Activity, _> = serde_json::from_str(r#"{"type": 5, "text": ["a"]}"#);
    assert!(wrong.is_err());
}
