//! Golden fixtures of the Genesys side parse and serialise back to the same JSON.

use std::path::PathBuf;

use gcbridge_genesys::{BotList, DbcBotList, TurnRequest, TurnResponse};
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

/// Parse the fixture as `T`, serialise it and require the exact original JSON back.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) {
    let original = fixture(name);
    let parsed: T =
        serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&parsed).expect("serialise");
    assert_eq!(back, original, "{name} did not survive a round trip");
}

#[test]
fn requests_round_trip() {
    for name in [
        "genesys-v1-request-text.json",
        "genesys-v1-request-button-response.json",
        "genesys-dbc-messages-request.json",
    ] {
        round_trip::<TurnRequest>(name);
    }
}

#[test]
fn responses_round_trip() {
    for name in [
        "genesys-response-text.json",
        "genesys-response-quick-replies.json",
        "genesys-response-card.json",
        "genesys-response-carousel.json",
        "genesys-response-first-turn.json",
        "genesys-response-escalate.json",
        "genesys-response-end.json",
        "genesys-response-failed.json",
    ] {
        round_trip::<TurnResponse>(name);
    }
}

#[test]
fn bot_lists_round_trip() {
    round_trip::<BotList>("genesys-v1-botlist.json");
    round_trip::<DbcBotList>("genesys-dbc-bots.json");
}

#[test]
fn request_fields_are_read() {
    let r: TurnRequest =
        serde_json::from_value(fixture("genesys-v1-request-button-response.json")).expect("parse");
    assert_eq!(
        r.bot_session_id.as_deref(),
        Some("00000000-0000-4000-a000-00000000b001")
    );
    assert_eq!(
        r.chat_bot.and_then(|c| c.id).as_deref(),
        Some("contoso-support")
    );
    let content = r.input_message.and_then(|m| m.content).expect("content");
    let button = content[0].button_response.as_ref().expect("button");
    assert_eq!(button.payload.as_deref(), Some("gcb:qr:1:home-delivery"));
}
