//! Genesys reply JSON written by the agent as its message text (`mapping.md` §4.8).
//!
//! Agents built for the Genesys blueprint write their cards and quick replies as Genesys
//! `replyMessages` JSON in the message text. With `genesys_json_in_text` on, a text that starts
//! with `{` or `[` (after entity decoding and escape removal) is read as one reply message or an
//! array of them, in the blueprint's loose forms: `type` in any case, a `QuickReply` without
//! `payload` (its `text` is used), unknown content types dropped, a missing fallback `text`
//! generated. The result is checked against the reply contract of `genesys-bot-connector.md`
//! §4.3 — required fields, usable addresses, no duplicate `text` + `payload` in a message — and
//! then goes through the same limits as gcbridge's own content (a carousel of 12 cards is sent
//! as two, never rejected). If anything does not fit, [`parse`] returns `None` and the text is
//! an ordinary text: `[1] Terms apply` must never break a turn.
//!
//! The agent's payloads are passed through verbatim; a click on one is not in the session's
//! offered actions, so it reaches the agent as `text = payload` (`mapping.md` §3.2).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::profile::BotProfile;

use super::cards::{is_linkable, web_url};
use super::draft::{Button, CardDraft, Draft, Target};
use super::media::{
    FILE_NOT_DISPLAYABLE, MediaKind, displayable_url, last_path_segment, reply_attachment,
};
use super::text::{decode_entities, decode_text};

/// The agent's text as reply-message drafts, or `None` when it is not valid Genesys reply JSON.
pub fn parse(profile: &BotProfile, raw: &str) -> Option<Vec<Draft>> {
    let decoded = decode_text(raw);
    let trimmed = decoded.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    // Escape removal also turns a JSON string's `\"` into `"`; the text with only its entities
    // decoded is the second chance.
    let value: Value = serde_json::from_str(trimmed).ok().or_else(|| {
        let entities = decode_entities(raw);
        serde_json::from_str(entities.trim()).ok()
    })?;
    let messages: Vec<&Map<String, Value>> = match &value {
        Value::Object(message) => vec![message],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(Value::as_object)
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let mut drafts = Vec::new();
    for message in messages {
        drafts.extend(read_message(profile, message)?);
    }
    (!drafts.is_empty()).then_some(drafts)
}

/// One content item of a reply message.
enum Item {
    QuickReply(Button),
    Cards(Vec<CardDraft>),
    File {
        kind: Option<MediaKind>,
        url: String,
        name: Option<String>,
        mime: Option<String>,
    },
}

/// One reply message as drafts: files and cards in the agent's order, quick replies last (they
/// belong under everything else); the agent's `text` goes with the quick replies, else with the
/// first card or file, else it is a text of its own.
fn read_message(profile: &BotProfile, message: &Map<String, Value>) -> Option<Vec<Draft>> {
    match message.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind))
            if kind.eq_ignore_ascii_case("text") || kind.eq_ignore_ascii_case("structured") => {}
        Some(_) => return None,
    }
    let text = match message.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
        Some(_) => return None,
    };
    let content = match message.get("content") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return None,
    };
    let mut items = Vec::new();
    for item in content {
        if let Some(item) = read_item(item)? {
            items.push(item);
        }
    }

    let mut drafts = Vec::new();
    let mut options = Vec::new();
    let mut seen_replies = HashSet::new();
    let mut seen_postbacks = HashSet::new();
    for item in items {
        match item {
            Item::QuickReply(button) => {
                if seen_replies.insert(button_key(&button)) {
                    options.push(button);
                }
            }
            Item::Cards(mut cards) => {
                for card in &mut cards {
                    card.buttons.retain(|b| {
                        matches!(b.target, Target::Link(_)) || seen_postbacks.insert(button_key(b))
                    });
                }
                drafts.push(Draft::Cards { cards, text: None });
            }
            Item::File {
                kind,
                url,
                name,
                mime,
            } => drafts.push(file_draft(profile, kind, &url, name, mime)),
        }
    }

    let mut text = text;
    if !options.is_empty() {
        drafts.push(Draft::Choices {
            prompt: String::new(),
            options,
            links: Vec::new(),
            text: text.take(),
        });
    } else if let Some(first) = drafts.first_mut() {
        match first {
            Draft::Cards { text: own, .. } => *own = text.take(),
            Draft::File { caption, .. } => *caption = text.take(),
            Draft::Text(_) | Draft::Choices { .. } => {}
        }
    }
    if let Some(text) = text {
        drafts.insert(0, Draft::Text(text));
    }
    // A message with nothing usable is not a Genesys message: the whole text stays text.
    (!drafts.is_empty()).then_some(drafts)
}

/// `text` + `payload`, the pair Genesys requires to be unique.
fn button_key(button: &Button) -> (String, String) {
    let payload = match &button.target {
        Target::Payload(p) | Target::Link(p) => p.clone(),
        Target::Offer { slug_source, .. } => slug_source.clone(),
    };
    (button.label.clone(), payload)
}

/// A known content item, `Ok(None)`-like `Some(None)` for an unknown content type (dropped),
/// `None` for a known type that breaks the contract.
fn read_item(item: &Value) -> Option<Option<Item>> {
    let item = item.as_object()?;
    let content_type = item.get("contentType")?.as_str()?;
    let sibling = |name: &str| {
        item.get(name).or_else(|| {
            item.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    };
    let read = match content_type.to_ascii_lowercase().as_str() {
        "quickreply" => Item::QuickReply(read_quick_reply(sibling("quickReply")?)?),
        "card" => Item::Cards(vec![read_card(sibling("card")?)?]),
        "carousel" => {
            let cards = sibling("carousel")?.get("cards")?.as_array()?;
            if cards.is_empty() {
                return None;
            }
            Item::Cards(cards.iter().map(read_card).collect::<Option<Vec<_>>>()?)
        }
        "attachment" => read_file(sibling("attachment")?)?,
        _ => return Some(None),
    };
    Some(Some(read))
}

/// A required, non-empty string field.
fn required(object: &Map<String, Value>, key: &str) -> Option<String> {
    let value = object.get(key)?.as_str()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// An optional string field: `Some(None)` when absent or null, `None` when not a string.
fn optional(object: &Map<String, Value>, key: &str) -> Option<Option<String>> {
    match object.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(_) => None,
    }
}

fn read_quick_reply(value: &Value) -> Option<Button> {
    let reply = value.as_object()?;
    let text = required(reply, "text")?;
    let payload = optional(reply, "payload")?.unwrap_or_else(|| text.clone());
    let image = optional(reply, "image")?.and_then(|i| web_url(&i));
    Some(Button {
        label: text,
        target: Target::Payload(payload),
        image,
    })
}

fn read_card(value: &Value) -> Option<CardDraft> {
    let card = value.as_object()?;
    let title = required(card, "title")?;
    let description = optional(card, "description")?;
    let image = optional(card, "image")?.and_then(|u| web_url(&u));
    let video = optional(card, "video")?.and_then(|u| web_url(&u));
    // A default action is optional decoration: one that is not a usable link is dropped.
    let default_url = card
        .get("defaultAction")
        .and_then(Value::as_object)
        .filter(|a| {
            a.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("link"))
        })
        .and_then(|a| required(a, "url"))
        .filter(|u| is_linkable(u));
    let buttons = match card.get("actions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(actions)) => actions
            .iter()
            .map(read_card_action)
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    Some(CardDraft {
        title,
        description,
        image,
        video,
        default_url,
        buttons,
        notes: Vec::new(),
    })
}

fn read_card_action(value: &Value) -> Option<Button> {
    let action = value.as_object()?;
    let kind = action.get("type")?.as_str()?;
    let text = required(action, "text")?;
    let target = if kind.eq_ignore_ascii_case("link") {
        Target::Link(required(action, "url").filter(|u| is_linkable(u))?)
    } else if kind.eq_ignore_ascii_case("postback") {
        Target::Payload(optional(action, "payload")?.unwrap_or_else(|| text.clone()))
    } else {
        return None;
    };
    Some(Button {
        label: text,
        target,
        image: None,
    })
}

fn read_file(value: &Value) -> Option<Item> {
    let file = value.as_object()?;
    let url = required(file, "url")?;
    let kind = match optional(file, "mediaType")?.as_deref() {
        None => Some(MediaKind::File),
        Some(t) if t.eq_ignore_ascii_case("image") => Some(MediaKind::Image),
        Some(t) if t.eq_ignore_ascii_case("video") => Some(MediaKind::Video),
        Some(t) if t.eq_ignore_ascii_case("audio") => Some(MediaKind::Audio),
        Some(t) if t.eq_ignore_ascii_case("file") => Some(MediaKind::File),
        // A link is not a file: it is shown as `name: url`.
        Some(t) if t.eq_ignore_ascii_case("link") => None,
        Some(_) => return None,
    };
    let name = optional(file, "filename")?;
    let mime = optional(file, "mime")?;
    Some(Item::File {
        kind,
        url,
        name,
        mime,
    })
}

/// A file the agent wrote: an attachment when the integration accepts them, otherwise the same
/// fallbacks as the agent's own media (`mapping.md` §4.6).
fn file_draft(
    profile: &BotProfile,
    kind: Option<MediaKind>,
    url: &str,
    name: Option<String>,
    mime: Option<String>,
) -> Draft {
    let Some(url) = displayable_url(url) else {
        return Draft::Text(FILE_NOT_DISPLAYABLE.to_owned());
    };
    let label = name
        .clone()
        .or_else(|| last_path_segment(&url).map(str::to_owned));
    let line = match &label {
        Some(label) => format!("{label}: {url}"),
        None => url.clone(),
    };
    let Some(kind) = kind else {
        return Draft::Text(line);
    };
    if profile.attachments {
        return Draft::File {
            caption: None,
            attachment: reply_attachment(kind, &url, name.as_deref(), mime.as_deref()),
        };
    }
    let card = |title: String, image: Option<String>, video: Option<String>| Draft::Cards {
        cards: vec![CardDraft {
            title,
            image,
            video,
            notes: vec![url.clone()],
            ..CardDraft::default()
        }],
        text: None,
    };
    match kind {
        MediaKind::Image => card(
            label.unwrap_or_else(|| "Image".to_owned()),
            Some(url.clone()),
            None,
        ),
        MediaKind::Video => card(
            label.unwrap_or_else(|| "Video".to_owned()),
            None,
            Some(url.clone()),
        ),
        MediaKind::Audio | MediaKind::File => Draft::Text(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drafts(raw: &str) -> Option<Vec<Draft>> {
        parse(&BotProfile::default(), raw)
    }

    #[test]
    fn not_json_or_not_valid_is_none() {
        for raw in [
            "",
            "Hello",
            "[1] Terms apply",
            "[1]: https://a.example",
            "{not json}",
            "[]",
            "{}",
            "[1, 2]",
            "\"text\"",
            r#"{"type": "Card", "text": "x"}"#,
            r#"{"type": "Text"}"#,
            r#"{"type": "Text", "text": "   "}"#,
            r#"{"type": "Text", "text": 5}"#,
            r#"{"type": "Structured", "content": []}"#,
            r#"{"type": "Structured", "content": [{"contentType": "Unknown"}]}"#,
            r#"{"type": "Structured", "content": {"contentType": "QuickReply"}}"#,
            r#"{"type": "Structured", "content": [{"contentType": "QuickReply", "quickReply": {"payload": "p"}}]}"#,
            r#"{"type": "Structured", "content": [{"contentType": "Card", "card": {"title": " ", "actions": []}}]}"#,
            r#"{"type": "Structured", "content": [{"contentType": "Card", "card": {"title": "T", "actions": [{"type": "Link", "text": "Go"}]}}]}"#,
            r#"{"type": "Structured", "content": [{"contentType": "Card", "card": {"title": "T", "actions": [{"type": "Call", "text": "Go"}]}}]}"#,
            r#"{"type": "Structured", "content": [{"contentType": "Carousel", "carousel": {"cards": []}}]}"#,
            r#"[{"type": "Text", "text": "ok"}, {"type": "Text"}]"#,
            r#"[{"type": "Text", "text": "ok"}, 3]"#,
        ] {
            assert_eq!(drafts(raw), None, "{raw}");
        }
    }

    #[test]
    fn blueprint_loose_forms_are_read() {
        let raw = r#"[
            {"type": "text", "text": "Hello, how can I help you today?"},
            {"type": "structured", "content": [
                {"contentType": "QuickReply", "quickReply": {"text": "I want to order cookies"}},
                {"contentType": "QuickReply", "quickReply": {"text": "I want to order cookies"}},
                {"contentType": "Reactions", "reactions": {}},
                {"contentType": "QuickReply", "quickReply": {"text": "Paris", "payload": "trip-paris", "image": "javascript:x"}}
            ]}
        ]"#;
        let got = drafts(raw).expect("valid");
        assert_eq!(
            got,
            vec![
                Draft::Text("Hello, how can I help you today?".into()),
                Draft::Choices {
                    prompt: String::new(),
                    options: vec![
                        Button {
                            label: "I want to order cookies".into(),
                            target: Target::Payload("I want to order cookies".into()),
                            image: None,
                        },
                        Button {
                            label: "Paris".into(),
                            target: Target::Payload("trip-paris".into()),
                            image: None,
                        },
                    ],
                    links: Vec::new(),
                    text: None,
                },
            ]
        );
    }

    #[test]
    fn escaped_copilot_text_is_read() {
        // Copilot Studio escapes brackets and HTML-encodes quotes in markdown text.
        let raw = r#"\[{&quot;type&quot;:&quot;Text&quot;,&quot;text&quot;:&quot;Hi&quot;}\]"#;
        assert_eq!(drafts(raw), Some(vec![Draft::Text("Hi".into())]));
        // An escaped quote inside a JSON string survives on the second reading.
        let raw = r#"{"type":"Text","text":"He said \"hi\""}"#;
        assert_eq!(
            drafts(raw),
            Some(vec![Draft::Text("He said \"hi\"".into())])
        );
    }

    #[test]
    fn cards_keep_their_text_and_drop_duplicate_postbacks() {
        let raw = r#"{"type": "Structured", "text": "Our plans", "content": [
            {"contentType": "Card", "card": {"title": "Basic", "image": "data:x", "defaultAction": {"type": "Postback", "payload": "x"},
             "actions": [{"type": "Postback", "text": "Choose", "payload": "basic"}, {"type": "Link", "text": "More", "url": "https://a.example/b"}]}},
            {"contentType": "Card", "card": {"title": "Basic again",
             "actions": [{"type": "postback", "text": "Choose", "payload": "basic"}, {"type": "Postback", "text": "Choose it"}]}}
        ]}"#;
        let got = drafts(raw).expect("valid");
        let [
            Draft::Cards {
                cards: first,
                text: Some(text),
            },
            Draft::Cards {
                cards: second,
                text: None,
            },
        ] = got.as_slice()
        else {
            panic!("{got:?}");
        };
        assert_eq!(text, "Our plans");
        assert_eq!(first[0].image, None);
        assert_eq!(first[0].default_url, None);
        assert_eq!(first[0].buttons.len(), 2);
        assert_eq!(
            second[0].buttons,
            vec![Button {
                label: "Choose it".into(),
                target: Target::Payload("Choose it".into()),
                image: None,
            }]
        );
    }

    #[test]
    fn files_follow_the_attachments_setting() {
        let raw = r#"{"type": "Text", "text": "The chart", "content": [
            {"contentType": "Attachment", "attachment": {"mediaType": "Image", "url": "https://a.example/c.png"}}
        ]}"#;
        let off = parse(&BotProfile::default(), raw).expect("valid");
        assert!(
            matches!(off.as_slice(), [Draft::Cards { cards, text: Some(t) }] if cards[0].title == "c.png" && t == "The chart"),
            "{off:?}"
        );
        let on = BotProfile {
            attachments: true,
            ..BotProfile::default()
        };
        let got = parse(&on, raw).expect("valid");
        assert!(
            matches!(got.as_slice(), [Draft::File { caption: Some(c), attachment }] if c == "The chart" && attachment.media_type == "Image"),
            "{got:?}"
        );
    }
}
