//! Deterministic fuzzing of the text pipeline and of `translate` with odd activities: no input
//! panics, every answer is a body Genesys accepts, every message respects the length limit, and
//! hostile inputs stay fast.
//!
//! The generator is a fixed-seed xorshift so failures reproduce; the alphabet is biased towards
//! the characters the pipeline treats specially.

mod common;

use std::time::{Duration, Instant};

use gcbridge_core::profile::{BotProfile, CitationMode, MarkdownMode, SlotFilter};
use gcbridge_core::translate::text::render_text;
use gcbridge_core::translate::translate_turn;
use gcbridge_directline::Activity;
use serde_json::{Value, json};

use common::assert_valid_body;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "a",
    "word",
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    ".",
    "!",
    "?",
    "…",
    "。",
    "*",
    "**",
    "_",
    "__",
    "~~",
    "`",
    "```",
    "~~~",
    "#",
    "## ",
    "> ",
    "- ",
    "* ",
    "1. ",
    "|",
    "|---|",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "<",
    ">",
    "\\",
    "&",
    "&amp;",
    "&#",
    "&#x",
    ";",
    "&#39;",
    "&lt;",
    "[1]",
    "[1]: https://a.example \"T\"",
    "\n[2]: cite:2",
    "https://a.example/x_y*z",
    "é",
    "e\u{301}",
    "😀",
    "👩\u{200d}👧",
    "🇫🇷",
    "\u{200d}",
    "\u{fe0f}",
    "中文",
    "\u{0}",
    "\u{feff}",
];

fn random_text(rng: &mut Rng, pieces: usize) -> String {
    (0..pieces)
        .map(|_| PIECES[rng.below(PIECES.len())])
        .collect()
}

fn profiles() -> Vec<BotProfile> {
    let mut out = Vec::new();
    for markdown in [MarkdownMode::Keep, MarkdownMode::Basic, MarkdownMode::Plain] {
        for citations in [CitationMode::List, CitationMode::Strip] {
            for max_text_chars in [0, 1, 3, 17, 4_000] {
                out.push(BotProfile {
                    markdown,
                    citations,
                    max_text_chars,
                    ..BotProfile::default()
                });
            }
        }
    }
    out
}

#[test]
fn random_texts_respect_the_limit_in_every_mode() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let profiles = profiles();
    for round in 0..400 {
        let text = random_text(&mut rng, 1 + round % 60);
        for profile in &profiles {
            for part in render_text(profile, &text) {
                assert!(!part.is_empty(), "{text:?}");
                assert_eq!(part.trim(), part, "{text:?}");
                if profile.max_text_chars > 0 {
                    assert!(
                        part.chars().count() <= profile.max_text_chars,
                        "{text:?} -> {part:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn hostile_texts_stay_fast() {
    let plain = BotProfile {
        markdown: MarkdownMode::Plain,
        ..BotProfile::default()
    };
    let basic = BotProfile::default();
    let inputs = [
        "[".repeat(200_000),
        "](".repeat(100_000),
        format!("{}x{}", "[".repeat(50_000), "](u)".repeat(50_000)),
        "*_".repeat(100_000),
        "`".repeat(200_000),
        (1..600).map(|n| "`".repeat(n) + " ").collect(),
        "<".repeat(200_000),
        "&".repeat(200_000),
        "&#".repeat(100_000),
        "a".repeat(200_000),
        "e\u{301}".repeat(100_000),
        "🇫".repeat(100_000),
        "|".repeat(100_000) + "\n|---|\n" + &"|".repeat(100_000),
        "```\n".repeat(50_000),
        "[1]\n".repeat(20_000) + "[1]: https://a.example",
    ];
    for input in &inputs {
        for profile in [&plain, &basic] {
            let started = Instant::now();
            let parts = render_text(profile, input);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}… took {:?}",
                &input.chars().take(20).collect::<String>(),
                started.elapsed()
            );
            assert!(parts.iter().all(|p| p.chars().count() <= 4_000));
        }
    }
}

/// Random JSON built from the shapes activities use, to throw at every field `translate` reads.
fn random_json(rng: &mut Rng, depth: usize) -> Value {
    let leaf = |rng: &mut Rng| match rng.below(7) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(rng.below(1000) as f64 / 7.0),
        4 => json!(""),
        5 => json!(random_text(rng, 5)),
        _ => json!("https://a.example/f.png"),
    };
    if depth == 0 {
        return leaf(rng);
    }
    match rng.below(4) {
        0 => leaf(rng),
        1 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "type",
                "title",
                "text",
                "subtitle",
                "value",
                "url",
                "buttons",
                "body",
                "actions",
                "items",
                "columns",
                "facts",
                "card",
                "fallback",
                "fallbackText",
                "choices",
                "label",
                "id",
                "data",
                "images",
                "tap",
                "selectAction",
                "isMultiSelect",
                "contentType",
                "quickReply",
                "content",
                "payload",
                "description",
                "va_AgentMessage",
                "va_LastPhrases",
                "MSCallerId",
                "OrderNumber",
                "",
            ];
            let types = [
                "TextBlock",
                "FactSet",
                "Container",
                "ColumnSet",
                "Action.OpenUrl",
                "Action.ShowCard",
                "Input.ChoiceSet",
                "Input.Text",
                "Action.Submit",
                "Action.Execute",
                "Image",
                "ImageSet",
                "imBack",
                "postBack",
                "messageBack",
                "openUrl",
                "call",
                "Structured",
                "Text",
                "QuickReply",
                "Card",
                "Carousel",
                "Link",
                "Postback",
            ];
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                let key = keys[rng.below(keys.len())];
                let value = if key == "type" {
                    json!(types[rng.below(types.len())])
                } else {
                    random_json(rng, depth - 1)
                };
                map.insert(key.to_owned(), value);
            }
            Value::Object(map)
        }
    }
}

/// Agent text: mostly random pieces, sometimes JSON shaped like Genesys reply messages (valid
/// or not) to exercise the Genesys-JSON reading.
fn random_agent_text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => {
            let messages: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| {
                    let content: Vec<Value> = (0..rng.below(4))
                        .map(|_| {
                            let kind = ["QuickReply", "Card", "Carousel", "Attachment", "Other"]
                                [rng.below(5)];
                            let mut item = json!({"contentType": kind});
                            let sibling = random_json(rng, 3);
                            let key = match kind {
                                "QuickReply" => "quickReply",
                                "Card" => "card",
                                "Carousel" => "carousel",
                                "Attachment" => "attachment",
                                _ => "other",
                            };
                            item[key] = sibling;
                            item
                        })
                        .collect();
                    let kind = ["Text", "structured", "x"][rng.below(3)];
                    json!({"type": kind, "text": random_json(rng, 0), "content": content})
                })
                .collect();
            Value::Array(messages).to_string()
        }
        1 => format!("[{}]", random_text(rng, 6)),
        _ => random_text(rng, 8),
    }
}

#[test]
fn random_activities_never_panic_and_give_valid_bodies() {
    let mut rng = Rng(42);
    let content_types = [
        "application/vnd.microsoft.card.hero",
        "application/vnd.microsoft.card.thumbnail",
        "application/vnd.microsoft.card.receipt",
        "application/vnd.microsoft.card.adaptive",
        "image/png",
        "video/mp4",
        "application/pdf",
        "application/json",
    ];
    let kinds = [
        "message",
        "message",
        "event",
        "endOfConversation",
        "typing",
        "trace",
        "x",
    ];
    let names = [
        "handoff.initiate",
        "EndOfConversation",
        "turn.complete",
        "other",
    ];
    let action_types = [
        "imBack",
        "postBack",
        "messageBack",
        "openUrl",
        "call",
        "showImage",
        "",
    ];
    let mut profiles: Vec<BotProfile> = [SlotFilter::Auto, SlotFilter::Declared, SlotFilter::All]
        .into_iter()
        .map(|slot_filter| BotProfile {
            slot_filter,
            max_text_chars: 50,
            ..BotProfile::default()
        })
        .collect();
    profiles.push(BotProfile {
        attachments: true,
        max_messages: 2,
        max_quick_replies: 1,
        max_card_buttons: 1,
        card_fallback_text: false,
        max_text_chars: 50,
        ..BotProfile::default()
    });
    for round in 0..400 {
        let activities: Vec<Activity> = (0..1 + rng.below(4))
            .map(|_| {
                let attachments: Vec<Value> = (0..rng.below(4))
                    .map(|_| {
                        json!({
                            "contentType": content_types[rng.below(content_types.len())],
                            "content": random_json(&mut rng, 4),
                            "contentUrl": random_json(&mut rng, 0),
                        })
                    })
                    .filter(|a| a["contentUrl"].is_string() || a["contentUrl"].is_null())
                    .collect();
                let actions: Vec<Value> = (0..rng.below(14))
                    .map(|_| {
                        json!({
                            "type": action_types[rng.below(action_types.len())],
                            "title": random_text(&mut rng, 2),
                            "value": random_json(&mut rng, 1),
                        })
                    })
                    .collect();
                let raw = json!({
                    "type": kinds[rng.below(kinds.len())],
                    "name": names[rng.below(names.len())],
                    "from": {"id": "b", "role": "bot"},
                    "text": random_agent_text(&mut rng),
                    "value": random_json(&mut rng, 3),
                    "attachments": attachments,
                    "suggestedActions": {"actions": actions},
                });
                // Fields of the wrong JSON type fail to parse as an activity at the wire layer;
                // what parses is what translate must survive.
                serde_json::from_value(raw.clone()).unwrap_or_else(|_| {
                    let mut fallback = raw;
                    fallback["suggestedActions"] = json!({"actions": []});
                    serde_json::from_value(fallback).unwrap_or_default()
                })
            })
            .collect();
        let turn = [1, 2, u64::MAX][round % 3];
        for profile in &profiles {
            let t = translate_turn(profile, &activities, turn);
            assert_valid_body(profile, &t.response);
            let messages = &t.response.reply_messages;
            for (i, message) in messages.iter().enumerate() {
                let text = message.text.as_deref().unwrap_or_default();
                // Beyond `max_messages` the rest is merged into the last message, whatever its
                // length: the count limit comes last.
                let merged = i + 1 == profile.max_messages;
                assert!(
                    merged || text.chars().count() <= profile.max_text_chars,
                    "{text:?}"
                );
            }
            // Exactly the gcbridge payloads shown are offered.
            let json = serde_json::to_value(messages).expect("serialise");
            let mut shown: Vec<String> = collect_payloads(&json)
                .into_iter()
                .filter(|p| p.starts_with("gcb:"))
                .collect();
            let mut offered: Vec<String> = t.offered.iter().map(|o| o.payload.clone()).collect();
            shown.sort_unstable();
            offered.sort_unstable();
            assert_eq!(shown, offered);
        }
    }
}

/// Every `payload` string in a JSON value.
fn collect_payloads(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v) {
                ("payload", Value::String(p)) => vec![p.clone()],
                _ => collect_payloads(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(collect_payloads).collect(),
        _ => Vec::new(),
    }
}
