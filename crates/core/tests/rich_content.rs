//! Rich content, agent → customer (`mapping.md` §4.3–§4.8): golden fixtures end to end, then
//! a table per limit of §4.7 and per Genesys-JSON form, each answer also checked against the
//! reply contract.

mod common;

use std::path::PathBuf;

use gcbridge_core::offers::{ChoiceSelection, Offer, OfferedAction};
use gcbridge_core::profile::BotProfile;
use gcbridge_core::translate::{Translation, translate, translate_turn};
use gcbridge_directline::{Activity, ActivitySet};
use gcbridge_genesys::{ReplyContent, ReplyKind, ReplyMessage};
use serde_json::{Value, json};

use common::assert_valid_body;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn frame() -> Vec<Activity> {
    serde_json::from_value::<ActivitySet>(fixture(
        "directline-stream-frame-greeting-typing-suggested-hero.json",
    ))
    .expect("activity set")
    .activities
}

fn bot(v: Value) -> Activity {
    let mut v = v;
    v["type"] = json!("message");
    v["from"] = json!({"id": "b", "role": "bot"});
    serde_json::from_value(v).expect("activity")
}

fn run(profile: &BotProfile, activities: &[Activity], turn: u64) -> Translation {
    let t = translate_turn(profile, activities, turn);
    assert_valid_body(profile, &t.response);
    t
}

fn messages_json(t: &Translation) -> Value {
    serde_json::to_value(&t.response.reply_messages).expect("serialise")
}

fn texts(t: &Translation) -> Vec<&str> {
    t.response
        .reply_messages
        .iter()
        .map(|m| m.text.as_deref().unwrap_or_default())
        .collect()
}

/// The `(label, payload)` of every quick reply of a message.
fn quick_replies(message: &ReplyMessage) -> Vec<(&str, &str)> {
    message
        .content
        .iter()
        .filter_map(|c| match c {
            ReplyContent::QuickReply(q) => Some((q.text.as_str(), q.payload.as_str())),
            _ => None,
        })
        .collect()
}

/// The cards of a message, whether one card or a carousel.
fn cards(message: &ReplyMessage) -> Vec<&gcbridge_genesys::Card> {
    message
        .content
        .iter()
        .flat_map(|c| match c {
            ReplyContent::Card(card) => vec![card],
            ReplyContent::Carousel(carousel) => carousel.cards.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn payloads(t: &Translation) -> Vec<&str> {
    t.offered.iter().map(|o| o.payload.as_str()).collect()
}

fn hero(title: &str, buttons: Value) -> Value {
    json!({"contentType": "application/vnd.microsoft.card.hero",
           "content": {"title": title, "buttons": buttons}})
}

fn im_back(title: &str) -> Value {
    json!({"type": "imBack", "title": title, "value": title})
}

// ---------------------------------------------------------------------------------------------
// Golden fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn first_turn_frame_gives_the_first_turn_fixture() {
    let t = run(&BotProfile::default(), &frame(), 1);
    assert_eq!(
        serde_json::to_value(&t.response).expect("serialise"),
        fixture("genesys-response-first-turn.json")
    );
    assert_eq!(t.ignored_activities, 1, "the typing activity");
    assert_eq!(
        t.offered,
        vec![
            Offer {
                payload: "gcb:pb:1:buy-backpack-40".into(),
                action: OfferedAction::ImBack {
                    value: "buy backpack-40".into()
                },
            },
            Offer {
                payload: "gcb:qr:1:home-delivery".into(),
                action: OfferedAction::ImBack {
                    value: "Home delivery".into()
                },
            },
            Offer {
                payload: "gcb:qr:1:pick-up-in-store".into(),
                action: OfferedAction::ImBack {
                    value: "Pick up in store".into()
                },
            },
        ]
    );
    // `translate` is turn 1.
    assert_eq!(translate(&BotProfile::default(), &frame()), t);
}

#[test]
fn hero_card_gives_the_card_fixture_and_suggested_actions_the_quick_replies_fixture() {
    let activities = frame();
    let card = run(&BotProfile::default(), &activities[2..3], 1);
    assert_eq!(
        serde_json::to_value(&card.response).expect("serialise"),
        fixture("genesys-response-card.json")
    );
    let question = run(&BotProfile::default(), &activities[3..4], 1);
    assert_eq!(
        serde_json::to_value(&question.response).expect("serialise"),
        fixture("genesys-response-quick-replies.json")
    );
}

#[test]
fn carousel_activity_gives_the_carousel_fixture() {
    let activity: Activity =
        serde_json::from_value(fixture("directline-activity-carousel.json")).expect("activity");
    let t = run(&BotProfile::default(), &[activity], 3);
    assert_eq!(
        serde_json::to_value(&t.response).expect("serialise"),
        fixture("genesys-response-carousel.json")
    );
    assert_eq!(
        t.offered[0],
        Offer {
            payload: "gcb:pb:3:plan-basic".into(),
            action: OfferedAction::PostBack {
                value: json!("plan-basic")
            },
        }
    );
}

#[test]
fn adaptive_card_fixture_gives_a_card_with_a_postback_and_a_link() {
    let activity: Activity =
        serde_json::from_value(fixture("directline-activity-adaptive-card.json"))
            .expect("activity");
    let t = run(&BotProfile::default(), &[activity], 4);
    assert_eq!(
        messages_json(&t),
        json!([{
            "type": "Structured",
            "text": "Order 12345\nStatus: Shipped\nETA: Friday\nTrack it\nOpen order page: https://shop.example.com/orders/12345",
            "content": [{
                "contentType": "Card",
                "card": {
                    "title": "Order 12345",
                    "description": "Status: Shipped\nETA: Friday",
                    "image": "https://shop.example.com/img/parcel.png",
                    "actions": [
                        {"type": "Postback", "text": "Track it", "payload": "gcb:pb:4:track-it"},
                        {"type": "Link", "text": "Open order page", "url": "https://shop.example.com/orders/12345"}
                    ]
                }
            }]
        }])
    );
    assert_eq!(
        t.offered,
        vec![Offer {
            payload: "gcb:pb:4:track-it".into(),
            action: OfferedAction::Submit {
                data: Some(json!({"action": "track", "order": "12345"})),
                choice: None
            },
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Message order and kinds
// ---------------------------------------------------------------------------------------------

#[test]
fn order_text_attachments_then_buttons_last() {
    let activity = bot(json!({
        "text": "Which **size**?",
        "attachments": [
            {"contentType": "image/png", "contentUrl": "https://a.example/s.png", "name": "size-chart.png"},
            hero("Sizes", json!([im_back("Guide")]))
        ],
        "suggestedActions": {"actions": [
            {"type": "imBack", "title": "Small", "value": "S"},
            {"type": "messageBack", "displayText": "Large", "text": "L", "value": {"size": "L"}},
            {"type": "openUrl", "title": "Size guide", "value": "https://a.example/g"},
            {"type": "call", "title": "Call us", "value": "tel:+15550100"},
            {"type": "playAudio", "title": "Listen", "value": "https://a.example/a.mp3"}
        ]}
    }));
    let t = run(&BotProfile::default(), &[activity], 2);
    let m = &t.response.reply_messages;
    assert_eq!(m.len(), 3);
    // The image (a card without attachments), then the hero card, then the prompt.
    assert_eq!(
        cards(&m[0])[0].image.as_deref(),
        Some("https://a.example/s.png")
    );
    assert_eq!(cards(&m[0])[0].title, "size-chart.png");
    assert_eq!(
        m[0].text.as_deref(),
        Some("size-chart.png\nhttps://a.example/s.png")
    );
    assert_eq!(cards(&m[1])[0].title, "Sizes");
    assert_eq!(
        m[2].text.as_deref(),
        Some(
            "Which **size**?\n1. Small\n2. Large\nSize guide: https://a.example/g\nCall us: tel:+15550100"
        )
    );
    assert_eq!(
        quick_replies(&m[2]),
        [("Small", "gcb:qr:2:s"), ("Large", "gcb:qr:2:l")]
    );
    assert_eq!(payloads(&t), ["gcb:pb:2:guide", "gcb:qr:2:s", "gcb:qr:2:l"]);
}

#[test]
fn suggested_actions_edge_cases() {
    for (activity, want) in [
        // Options without a prompt: the list alone.
        (
            json!({"suggestedActions": {"actions": [im_back("Yes")]}}),
            json!([{"type": "Structured", "text": "1. Yes", "content": [
                {"contentType": "QuickReply", "quickReply": {"text": "Yes", "payload": "gcb:qr:1:yes"}}]}]),
        ),
        // Links only: the prompt with the links, as text.
        (
            json!({"text": "See", "suggestedActions": {"actions": [
                {"type": "openUrl", "title": "Docs", "value": "https://a.example/d"}]}}),
            json!([{"type": "Text", "text": "See\nDocs: https://a.example/d"}]),
        ),
        // No usable action: as if there were none.
        (
            json!({"text": "Look", "suggestedActions": {"actions": [
                {"type": "showImage", "value": "https://a.example/i.png"}, {"type": "imBack"}]}}),
            json!([{"type": "Text", "text": "Look"}]),
        ),
        // A quick reply's icon is kept when it is a web address.
        (
            json!({"text": "Pick", "suggestedActions": {"actions": [
                {"type": "postBack", "title": "Red", "value": "red", "image": "https://a.example/red.png"},
                {"type": "postBack", "title": "Blue", "value": "blue", "image": "data:image/png;base64,AA"}]}}),
            json!([{"type": "Structured", "text": "Pick\n1. Red\n2. Blue", "content": [
                {"contentType": "QuickReply", "quickReply": {"text": "Red", "payload": "gcb:qr:1:red", "image": "https://a.example/red.png"}},
                {"contentType": "QuickReply", "quickReply": {"text": "Blue", "payload": "gcb:qr:1:blue"}}]}]),
        ),
    ] {
        let t = run(&BotProfile::default(), &[bot(activity.clone())], 1);
        assert_eq!(messages_json(&t), want, "{activity}");
    }
}

#[test]
fn cards_of_every_kind() {
    let profile = BotProfile {
        name: "Contoso Support".into(),
        ..BotProfile::default()
    };
    let t = run(
        &profile,
        &[bot(json!({"attachmentLayout": "list", "attachments": [
            {"contentType": "application/vnd.microsoft.card.thumbnail", "content": {
                "subtitle": "Only a **subtitle**", "text": "And text",
                "images": [{"url": "data:image/png;base64,AAAA"}, {"url": "https://a.example/t.png"}],
                "tap": {"type": "imBack", "value": "not a link"},
                "buttons": [
                    {"type": "postBack", "title": "Choose", "value": {"plan": "x"}},
                    {"type": "openUrl", "value": "https://a.example/x"},
                    {"type": "call", "title": "Call", "value": "tel:+1"},
                    {"type": "signin", "title": "Sign in", "value": "https://login.example"}
                ]}},
            {"contentType": "application/vnd.microsoft.card.hero", "content": {"images": [{"url": "https://a.example/only.png"}]}},
            {"contentType": "application/vnd.microsoft.card.receipt", "content": {
                "title": "Receipt", "facts": [{"key": "Order", "value": "1"}], "total": "9.99"}},
            {"contentType": "application/vnd.microsoft.card.signin", "content": {
                "text": "Please sign in", "buttons": [{"type": "signin", "title": "Sign in", "value": "https://login.example"}]}},
            {"contentType": "application/vnd.microsoft.card.video", "content": {
                "title": "How to", "media": [{"url": "https://a.example/v.mp4"}]}}
        ]}))],
        1,
    );
    assert_eq!(
        messages_json(&t),
        json!([
            {"type": "Structured",
             "text": "Only a subtitle\nAnd text\nChoose\nhttps://a.example/x\nCall: tel:+1\n\nContoso Support\nhttps://a.example/only.png",
             "content": [{"contentType": "Carousel", "carousel": {"cards": [
                {"title": "Only a subtitle", "description": "And text", "image": "https://a.example/t.png",
                 "actions": [
                    {"type": "Postback", "text": "Choose", "payload": "gcb:pb:1:choose"},
                    {"type": "Link", "text": "https://a.example/x", "url": "https://a.example/x"}]},
                {"title": "Contoso Support", "image": "https://a.example/only.png", "actions": []}
             ]}}]},
            {"type": "Text", "text": "Receipt\nOrder: 1\nTotal: 9.99"},
            {"type": "Text", "text": "Please sign in"},
            {"type": "Text", "text": "How to\nhttps://a.example/v.mp4"}
        ])
    );
    assert_eq!(
        t.offered[0].action,
        OfferedAction::PostBack {
            value: json!({"plan": "x"})
        }
    );
}

#[test]
fn adaptive_choice_set_becomes_quick_replies_that_submit_the_choice() {
    let activity = bot(
        json!({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "type": "AdaptiveCard",
            "body": [
                {"type": "TextBlock", "text": "How should we deliver?", "weight": "Bolder"},
                {"type": "Input.ChoiceSet", "id": "delivery", "choices": [
                    {"title": "Home delivery", "value": "home"}, {"title": "Pick up", "value": "store"}]}
            ],
            "actions": [{"type": "Action.Submit", "title": "OK", "data": {"step": "delivery"}}]
        }}]}),
    );
    let t = run(&BotProfile::default(), &[activity], 5);
    assert_eq!(
        messages_json(&t),
        json!([{"type": "Structured", "text": "How should we deliver?\n1. Home delivery\n2. Pick up", "content": [
            {"contentType": "QuickReply", "quickReply": {"text": "Home delivery", "payload": "gcb:qr:5:home"}},
            {"contentType": "QuickReply", "quickReply": {"text": "Pick up", "payload": "gcb:qr:5:store"}}]}])
    );
    assert_eq!(
        t.offered[1].action,
        OfferedAction::Submit {
            data: Some(json!({"step": "delivery"})),
            choice: Some(ChoiceSelection {
                input_id: "delivery".into(),
                value: "store".into()
            }),
        }
    );
}

#[test]
fn adaptive_cards_join_hero_cards_in_a_carousel_and_odd_content_degrades() {
    let adaptive = |content: Value| json!({"contentType": "application/vnd.microsoft.card.adaptive", "content": content});
    let t = run(
        &BotProfile::default(),
        &[bot(json!({"text": "x", "attachments": [
            hero("Hero", json!([])),
            adaptive(json!({"body": [{"type": "TextBlock", "text": "Adaptive"}]})),
            adaptive(json!("{\"type\":\"AdaptiveCard\",\"body\":[{\"type\":\"TextBlock\",\"text\":\"From a string\"}]}")),
            {"contentType": "application/vnd.microsoft.card.hero", "content": 42},
            adaptive(Value::Null),
            {"contentType": "application/vnd.microsoft.card.adaptive"},
            adaptive(json!({"body": [{"type": "Image", "url": "https://a.example/i.png"}]}))
        ]}))],
        1,
    );
    assert_eq!(
        texts(&t),
        [
            "x",
            "Hero\n\nAdaptive\n\nFrom a string",
            "This content cannot be displayed here.",
            "This content cannot be displayed here.",
            "Copilot Studio agent\nhttps://a.example/i.png",
        ]
    );
    assert_eq!(cards(&t.response.reply_messages[1]).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Files (§4.6)
// ---------------------------------------------------------------------------------------------

#[test]
fn files_without_attachments_are_cards_and_text() {
    let t = run(
        &BotProfile::default(),
        &[bot(
            json!({"text": "Here is the size chart.", "attachments": [
                {"contentType": "image/png", "contentUrl": "https://a.example/img/size-chart.png"},
                {"contentType": "video/mp4", "contentUrl": "https://a.example/v/howto.mp4", "name": "How to"},
                {"contentType": "audio/mpeg", "contentUrl": "https://a.example/a/hello.mp3"},
                {"contentType": "application/pdf", "contentUrl": "https://a.example/files/terms.pdf"},
                {"contentType": "image/png", "contentUrl": "data:image/png;base64,iVBORw0KGgo="},
                {"contentType": "application/json", "name": "Transcript", "content": {"activities": []}}
            ]}),
        )],
        1,
    );
    assert_eq!(
        messages_json(&t),
        json!([
            {"type": "Text", "text": "Here is the size chart."},
            {"type": "Structured", "text": "Here is the size chart.\nhttps://a.example/img/size-chart.png", "content": [
                {"contentType": "Card", "card": {"title": "Here is the size chart.", "image": "https://a.example/img/size-chart.png", "actions": []}}]},
            {"type": "Structured", "text": "How to\nhttps://a.example/v/howto.mp4", "content": [
                {"contentType": "Card", "card": {"title": "How to", "video": "https://a.example/v/howto.mp4", "actions": []}}]},
            {"type": "Text", "text": "hello.mp3: https://a.example/a/hello.mp3"},
            {"type": "Text", "text": "terms.pdf: https://a.example/files/terms.pdf"},
            {"type": "Text", "text": "A file was sent but cannot be displayed here."}
        ])
    );
}

#[test]
fn files_with_attachments_are_attachments_captioned_by_the_text() {
    let profile = BotProfile {
        attachments: true,
        ..BotProfile::default()
    };
    let t = run(
        &profile,
        &[bot(
            json!({"text": "Here is the size chart.", "attachments": [
                {"contentType": "image/png", "contentUrl": "https://a.example/img/size-chart.png", "name": "size-chart.png"},
                {"contentType": "application/pdf", "contentUrl": "https://a.example/files/terms.pdf"},
                {"contentType": "image/png", "contentUrl": "blob:https://a.example/123"}
            ]}),
        )],
        1,
    );
    let id = |url: &str| gcbridge_core::translate::media::attachment_id(url);
    assert_eq!(
        messages_json(&t),
        json!([
            {"type": "Text", "text": "Here is the size chart.", "content": [{"contentType": "Attachment", "attachment": {
                "id": id("https://a.example/img/size-chart.png"), "mediaType": "Image",
                "url": "https://a.example/img/size-chart.png", "filename": "size-chart.png", "mime": "image/png"}}]},
            {"type": "Text", "text": "terms.pdf", "content": [{"contentType": "Attachment", "attachment": {
                "id": id("https://a.example/files/terms.pdf"), "mediaType": "File",
                "url": "https://a.example/files/terms.pdf", "filename": "terms.pdf", "mime": "application/pdf"}}]},
            {"type": "Text", "text": "A file was sent but cannot be displayed here."}
        ])
    );
    // With a card first, the text keeps its own message.
    let t = run(
        &profile,
        &[bot(json!({"text": "Look", "attachments": [
            hero("Card", json!([])),
            {"contentType": "image/png", "contentUrl": "https://a.example/i.png"}
        ]}))],
        1,
    );
    assert_eq!(texts(&t), ["Look", "Card", "i.png"]);
}

// ---------------------------------------------------------------------------------------------
// Limits (§4.7)
// ---------------------------------------------------------------------------------------------

#[test]
fn four_buttons_keep_three_on_the_card_and_list_the_fourth() {
    let buttons = json!([im_back("One"), im_back("Two"), im_back("Three"),
        {"type": "openUrl", "title": "Four", "value": "https://a.example/4"}]);
    for (profile, shown, text) in [
        (
            BotProfile::default(),
            vec!["One", "Two", "Three"],
            "Card\nOne\nTwo\nThree\nFour: https://a.example/4",
        ),
        (
            BotProfile {
                max_card_buttons: 1,
                ..BotProfile::default()
            },
            vec!["One"],
            "Card\nOne\nTwo\nThree\nFour: https://a.example/4",
        ),
        (
            BotProfile {
                card_fallback_text: false,
                ..BotProfile::default()
            },
            vec!["One", "Two", "Three"],
            "Card\nFour: https://a.example/4",
        ),
    ] {
        let t = run(
            &profile,
            &[bot(json!({"attachments": [hero("Card", buttons.clone())]}))],
            1,
        );
        let m = &t.response.reply_messages[0];
        let labels: Vec<&str> = cards(m)[0]
            .actions
            .iter()
            .map(|a| a.text.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(labels, shown);
        assert_eq!(m.text.as_deref(), Some(text));
        // Only the buttons shown are offered.
        assert_eq!(t.offered.len(), shown.len());
    }
}

#[test]
fn more_than_ten_cards_are_several_carousels() {
    for (count, sizes) in [
        (2, vec![2]),
        (10, vec![10]),
        (11, vec![10, 1]),
        (21, vec![10, 10, 1]),
    ] {
        let attachments: Vec<Value> = (1..=count)
            .map(|n| hero(&format!("Card {n}"), json!([im_back("Pick")])))
            .collect();
        let t = run(
            &BotProfile::default(),
            &[bot(
                json!({"attachmentLayout": "carousel", "attachments": attachments}),
            )],
            1,
        );
        let got: Vec<usize> = t
            .response
            .reply_messages
            .iter()
            .map(|m| cards(m).len())
            .collect();
        assert_eq!(got, sizes, "{count}");
        // One card is a Card, several a Carousel.
        for m in &t.response.reply_messages {
            let carousel = matches!(m.content[0], ReplyContent::Carousel(_));
            assert_eq!(carousel, cards(m).len() > 1);
        }
        // Same label everywhere, distinct payloads.
        assert_eq!(t.offered.len(), count);
        assert_eq!(t.offered[1].payload, "gcb:pb:1:pick-2");
        let last = t.response.reply_messages.last().expect("message");
        assert!(
            last.text
                .as_deref()
                .unwrap_or_default()
                .ends_with(&format!("Card {count}\nPick"))
        );
    }
}

#[test]
fn twelve_quick_replies_keep_ten_and_list_all() {
    let actions: Vec<Value> = (1..=12).map(|n| im_back(&format!("Option {n}"))).collect();
    let activity = bot(json!({"text": "Pick one", "suggestedActions": {"actions": actions}}));
    for (max, shown) in [(10, 10), (12, 12), (3, 3), (0, 0)] {
        let profile = BotProfile {
            max_quick_replies: max,
            ..BotProfile::default()
        };
        let t = run(&profile, std::slice::from_ref(&activity), 1);
        let m = &t.response.reply_messages[0];
        assert_eq!(quick_replies(m).len(), shown, "{max}");
        assert_eq!(t.offered.len(), shown, "{max}");
        let text = m.text.as_deref().unwrap_or_default();
        assert!(text.starts_with("Pick one\n1. Option 1\n"), "{text}");
        assert!(text.ends_with("\n12. Option 12"), "{text}");
        // Without any quick reply the message is plain text.
        let kind = if shown == 0 {
            ReplyKind::Text
        } else {
            ReplyKind::Structured
        };
        assert_eq!(m.kind, kind);
    }
}

#[test]
fn duplicate_labels_and_slugs_get_unique_payloads() {
    let activities = [
        bot(
            json!({"attachments": [hero("A", json!([im_back("Yes"), im_back("yes!")])), hero("B", json!([im_back("Yes")]))]}),
        ),
        bot(
            json!({"text": "Sure?", "suggestedActions": {"actions": [im_back("Yes"), im_back("Yes"), im_back("👍"), im_back("是")]}}),
        ),
    ];
    let t = run(&BotProfile::default(), &activities, 9);
    assert_eq!(
        payloads(&t),
        [
            "gcb:pb:9:yes",
            "gcb:pb:9:yes-2",
            "gcb:pb:9:yes-3",
            "gcb:qr:9:yes-4",
            "gcb:qr:9:yes-5",
            "gcb:qr:9:option",
            "gcb:qr:9:option-2",
        ]
    );
    assert_eq!(
        quick_replies(&t.response.reply_messages[1]),
        [
            ("Yes", "gcb:qr:9:yes-4"),
            ("Yes", "gcb:qr:9:yes-5"),
            ("👍", "gcb:qr:9:option"),
            ("是", "gcb:qr:9:option-2"),
        ]
    );
}

#[test]
fn empty_titles_and_labels_are_never_sent() {
    let t = run(
        &BotProfile::default(),
        &[bot(json!({
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.hero", "content": {
                    "title": "  ", "text": "**First** line\nSecond line",
                    "buttons": [
                        {"type": "imBack", "title": "", "value": "From value"},
                        {"type": "postBack", "title": " "},
                        {"type": "openUrl", "title": "", "value": "https://a.example/l"}
                    ]}},
                {"contentType": "application/vnd.microsoft.card.hero", "content": {"title": "", "subtitle": ""}},
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {
                    "body": [{"type": "TextBlock", "text": "   "}],
                    "actions": [{"type": "Action.Submit"}]}}
            ],
            "suggestedActions": {"actions": [
                {"type": "imBack", "title": "", "value": ""},
                {"type": "messageBack", "displayText": "", "text": "typed"}
            ]}
        }))],
        1,
    );
    let m = &t.response.reply_messages;
    let all_cards = cards(&m[0]);
    assert_eq!(all_cards[0].title, "First line");
    assert_eq!(all_cards[0].description.as_deref(), Some("Second line"));
    let labels: Vec<&str> = all_cards[0]
        .actions
        .iter()
        .map(|a| a.text.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(labels, ["From value", "https://a.example/l"]);
    assert_eq!(all_cards[1].title, "Copilot Studio agent");
    assert_eq!(all_cards[1].actions[0].text.as_deref(), Some("Submit"));
    assert_eq!(quick_replies(&m[1]), [("typed", "gcb:qr:1:typed")]);
}

#[test]
fn long_texts_are_split_and_structured_texts_fit() {
    let profile = BotProfile {
        max_text_chars: 30,
        ..BotProfile::default()
    };
    let long_prompt = "This is the first sentence. And this is the question?";
    let t = run(
        &profile,
        &[
            bot(
                json!({"text": long_prompt, "suggestedActions": {"actions": [im_back("Yes"), im_back("No")]}}),
            ),
            bot(
                json!({"attachments": [{"contentType": "application/vnd.microsoft.card.hero", "content": {
                "title": "Card", "text": "A description far longer than thirty characters in total."}}]}),
            ),
        ],
        1,
    );
    assert_eq!(
        texts(&t),
        [
            "This is the first sentence.",
            "And this is the question?",
            "1. Yes\n2. No",
            "Card",
        ]
    );
    assert!(texts(&t).iter().all(|m| m.chars().count() <= 30));
    // The card still carries its whole description.
    assert_eq!(
        cards(&t.response.reply_messages[3])[0]
            .description
            .as_deref(),
        Some("A description far longer than thirty characters in total.")
    );
}

#[test]
fn beyond_max_messages_the_rest_is_merged_into_text() {
    let profile = BotProfile {
        max_messages: 3,
        ..BotProfile::default()
    };
    let activities = [
        bot(json!({"text": "One"})),
        bot(json!({"text": "Two"})),
        bot(json!({"text": "Three"})),
        bot(json!({"attachments": [hero("Card", json!([im_back("Buy")]))]})),
        bot(json!({"text": "Five?", "suggestedActions": {"actions": [im_back("Yes")]}})),
    ];
    let t = run(&profile, &activities, 1);
    assert_eq!(
        texts(&t),
        ["One", "Two", "Three\n\nCard\nBuy\n\nFive?\n1. Yes"]
    );
    assert_eq!(t.response.reply_messages[2].kind, ReplyKind::Text);
    // Buttons that became text are not offered.
    assert!(t.offered.is_empty());
    let unlimited = BotProfile {
        max_messages: 0,
        ..BotProfile::default()
    };
    assert_eq!(
        run(&unlimited, &activities, 1)
            .response
            .reply_messages
            .len(),
        5
    );
    let one = BotProfile {
        max_messages: 1,
        ..BotProfile::default()
    };
    assert_eq!(texts(&run(&one, &activities[..2], 1)), ["One\n\nTwo"]);
}

#[test]
fn data_urls_are_never_sent() {
    for attachments in [false, true] {
        let profile = BotProfile {
            attachments,
            ..BotProfile::default()
        };
        let t = run(
            &profile,
            &[bot(json!({"attachments": [
                {"contentType": "image/png", "contentUrl": "data:image/png;base64,AAAA"},
                {"contentType": "application/vnd.microsoft.card.hero", "content": {
                    "title": "T", "images": [{"url": "data:image/png;base64,AAAA"}]}},
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {
                    "body": [{"type": "TextBlock", "text": "A"}, {"type": "Image", "url": "data:image/png;base64,AAAA"}],
                    "selectAction": {"type": "Action.OpenUrl", "url": "data:text/html,x"}}}
            ]}))],
            1,
        );
        let json = serde_json::to_string(&t.response).expect("serialise");
        assert!(!json.contains("data:"), "{json}");
        assert_eq!(
            texts(&t)[0],
            "A file was sent but cannot be displayed here."
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Genesys JSON in the agent's text (§4.8)
// ---------------------------------------------------------------------------------------------

#[test]
fn genesys_json_in_text_table() {
    let blueprint = r#"[
        {"type": "text", "text": "Hello, how can I help you today?"},
        {"type": "structured", "content": [
            {"contentType": "QuickReply", "quickReply": {"text": "I want to order cookies"}},
            {"contentType": "QuickReply", "quickReply": {"text": "I want to book a trip to Paris", "payload": "trip"}}
        ]}
    ]"#;
    let carousel = json!({"type": "Structured", "content": [{"contentType": "Carousel", "carousel": {"cards":
        (1..=12).map(|n| json!({"title": format!("C{n}"), "actions": [{"type": "Postback", "text": "Go", "payload": format!("go-{n}")}]})).collect::<Vec<_>>()
    }}]})
    .to_string();
    let cases: Vec<(&str, Value)> = vec![
        (
            blueprint,
            json!([
                {"type": "Text", "text": "Hello, how can I help you today?"},
                {"type": "Structured", "text": "1. I want to order cookies\n2. I want to book a trip to Paris", "content": [
                    {"contentType": "QuickReply", "quickReply": {"text": "I want to order cookies", "payload": "I want to order cookies"}},
                    {"contentType": "QuickReply", "quickReply": {"text": "I want to book a trip to Paris", "payload": "trip"}}]}
            ]),
        ),
        (
            r#"{"type":"Structured","text":"Our card","content":[{"contentType":"Card","card":{"title":"T","actions":[{"type":"Link","text":"Go","url":"https://a.example"}]}}]}"#,
            json!([{"type": "Structured", "text": "Our card", "content": [{"contentType": "Card", "card": {
                "title": "T", "actions": [{"type": "Link", "text": "Go", "url": "https://a.example"}]}}]}]),
        ),
        // Copilot Studio's escaping is undone first.
        (
            r#"\{&quot;type&quot;:&quot;Text&quot;,&quot;text&quot;:&quot;Tom &amp; Jerry&quot;\}"#,
            json!([{"type": "Text", "text": "Tom & Jerry"}]),
        ),
        // Not Genesys JSON: ordinary text.
        (
            "[1] Terms apply",
            json!([{"type": "Text", "text": "[1] Terms apply"}]),
        ),
        (
            "{not json}",
            json!([{"type": "Text", "text": "{not json}"}]),
        ),
        (
            r#"{"type":"Text"}"#,
            json!([{"type": "Text", "text": "{\"type\":\"Text\"}"}]),
        ),
        ("[]", json!([{"type": "Text", "text": "[]"}])),
        (
            r#"{"type":"Structured","content":[{"contentType":"Card","card":{"title":""}}]}"#,
            json!([{"type": "Text", "text": r#"{"type":"Structured","content":[{"contentType":"Card","card":{"title":""}}]}"#}]),
        ),
    ];
    for (text, want) in cases {
        let t = run(&BotProfile::default(), &[bot(json!({"text": text}))], 1);
        assert_eq!(messages_json(&t), want, "{text}");
        // Agent payloads are theirs: nothing is offered.
        assert!(t.offered.is_empty(), "{text}");
    }
    // A carousel of 12 is sent as 10 + 2 rather than rejected.
    let t = run(&BotProfile::default(), &[bot(json!({"text": carousel}))], 1);
    let sizes: Vec<usize> = t
        .response
        .reply_messages
        .iter()
        .map(|m| cards(m).len())
        .collect();
    assert_eq!(sizes, [10, 2]);
    // Switched off, the JSON is text.
    let off = BotProfile {
        genesys_json_in_text: false,
        ..BotProfile::default()
    };
    let t = run(&off, &[bot(json!({"text": blueprint}))], 1);
    assert_eq!(t.response.reply_messages.len(), 1);
    assert_eq!(t.response.reply_messages[0].kind, ReplyKind::Text);
}

#[test]
fn genesys_json_with_suggested_actions_keeps_the_buttons_last() {
    let t = run(
        &BotProfile::default(),
        &[bot(json!({
            "text": r#"{"type":"Text","text":"From JSON"}"#,
            "suggestedActions": {"actions": [im_back("OK")]}
        }))],
        1,
    );
    assert_eq!(texts(&t), ["From JSON", "1. OK"]);
}
