//! Golden fixtures of the Direct Line side parse and serialise back to the same JSON.

use std::path::PathBuf;

use gcbridge_directline::{Activity, ActivitySet, Conversation, ErrorResponse, ResourceResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let original = fixture(name);
    let parsed: T =
        serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&parsed).expect("serialise");
    assert_eq!(back, original, "{name} did not survive a round trip");
    parsed
}

#[test]
fn activities_round_trip() {
    for name in [
        "directline-post-message.json",
        "directline-post-pvasetcontext.json",
        "directline-post-start-conversation.json",
        "directline-activity-adaptive-card.json",
        "directline-activity-end-of-conversation.json",
    ] {
        round_trip::<Activity>(name);
    }
}

#[test]
fn activity_sets_round_trip_and_classify() {
    let frame: ActivitySet =
        round_trip("directline-stream-frame-greeting-typing-suggested-hero.json");
    assert_eq!(frame.watermark.as_deref(), Some("6"));
    assert!(frame.activities.iter().all(Activity::is_from_bot));
    assert!(frame.activities.iter().any(|a| a.kind == Activity::TYPING));

    let handoff: ActivitySet = round_trip("directline-activityset-handoff.json");
    let event = handoff
        .activities
        .iter()
        .find(|a| a.kind == Activity::EVENT)
        .expect("event");
    assert_eq!(event.name.as_deref(), Some("handoff.initiate"));
    assert!(
        event
            .value
            .as_ref()
            .is_some_and(|v| v.get("va_AgentMessage").is_some())
    );
}

#[test]
fn conversation_and_token_round_trip() {
    let c: Conversation = round_trip("directline-conversation-start.json");
    assert_eq!(
        c.conversation_id.as_deref(),
        Some("GcbTestConv00000000001-eu")
    );
    assert_eq!(c.expires_in, Some(3600));
    round_trip::<Conversation>("directline-token-response.json");
    round_trip::<ResourceResponse>("directline-post-activity-response.json");
}

#[test]
fn errors_round_trip() {
    for name in [
        "directline-error-404.json",
        "directline-error-429.json",
        "directline-error-502.json",
    ] {
        let e: ErrorResponse = round_trip(name);
        assert!(!e.error.code.is_empty(), "{name}");
    }
}
