//! Readable text for the Bot Framework cards Genesys has no native form for (mapping principle
//! 4: anything that cannot be translated exactly degrades to readable text).
//!
//! Receipt, sign-in, OAuth, animation, audio and video cards become their lines: title,
//! subtitle, text, receipt facts, items and total, media addresses, then the buttons — reply
//! buttons by label (the customer can type it), links as `title: url` (`mapping.md` §4.4).
//! Everything Genesys can show natively — suggested actions, hero, thumbnail and Adaptive
//! Cards, images and files — has its own module.

use gcbridge_directline::CardAction;
use serde_json::Value;

use crate::profile::BotProfile;

use super::cards::{
    ActionUse, array_field, as_object, classify_action, plain_text, string_field, titled_line,
    web_url,
};
use super::text::plain_label;

/// A card as text. `None` when the content is not a card object or nothing in it is readable.
pub fn card_text(profile: &BotProfile, content: &Value) -> Option<String> {
    let card = as_object(content)?;
    let mut lines: Vec<String> = Vec::new();
    if let Some(title) = string_field(&card, "title") {
        lines.push(plain_label(title));
    }
    for key in ["subtitle", "text"] {
        if let Some(text) = string_field(&card, key) {
            lines.push(plain_text(profile, text));
        }
    }
    for fact in array_field(&card, "facts") {
        let key = fact.get("key").and_then(Value::as_str).map(plain_label);
        let value = fact.get("value").and_then(Value::as_str).map(plain_label);
        lines.push(pair_line(key.as_deref(), value.as_deref()));
    }
    for item in array_field(&card, "items") {
        let title = item.get("title").and_then(Value::as_str).map(plain_label);
        let price = item.get("price").and_then(Value::as_str).map(plain_label);
        lines.push(pair_line(title.as_deref(), price.as_deref()));
    }
    if let Some(total) = string_field(&card, "total") {
        lines.push(pair_line(Some("Total"), Some(&plain_label(total))));
    }
    for media in array_field(&card, "media") {
        if let Some(url) = media.get("url").and_then(Value::as_str).and_then(web_url) {
            lines.push(url);
        }
    }
    for button in array_field(&card, "buttons") {
        let Ok(action) = serde_json::from_value::<CardAction>(button.clone()) else {
            continue;
        };
        match classify_action(&action) {
            Some(ActionUse::Reply(button)) => lines.push(button.label),
            Some(ActionUse::Link { label, url }) => lines.push(titled_line(&label, &url)),
            Some(ActionUse::Call(line)) => lines.push(line),
            None => {}
        }
    }
    join_lines(lines)
}

/// `key: value`, or whichever is present.
pub fn pair_line(key: Option<&str>, value: Option<&str>) -> String {
    let key = key.unwrap_or_default().trim();
    let value = value.unwrap_or_default().trim();
    match (key.is_empty(), value.is_empty()) {
        (false, false) => format!("{key}: {value}"),
        (true, _) => value.to_owned(),
        (false, true) => key.to_owned(),
    }
}

/// Non-empty lines joined by newlines; `None` when there are none.
fn join_lines(lines: Vec<String>) -> Option<String> {
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn card_text_table() {
        let profile = BotProfile::default();
        for (content, want) in [
            (
                json!({"title": "Receipt", "facts": [{"key": "Order", "value": "12345"}],
                       "items": [{"title": "Backpack", "price": "89.00"}], "total": "89.00",
                       "buttons": [{"type": "openUrl", "title": "Invoice", "value": "https://a.example/i"},
                                   {"type": "imBack", "title": "Thanks", "value": "thanks"},
                                   {"type": "call", "title": "Call", "value": "tel:+1"}]}),
                Some(
                    "Receipt\nOrder: 12345\nBackpack: 89.00\nTotal: 89.00\nInvoice: https://a.example/i\nThanks\nCall: tel:+1",
                ),
            ),
            (
                json!({"title": "Clip", "media": [{"url": "https://a.example/v.mp4"}, {"url": "data:x"}]}),
                Some("Clip\nhttps://a.example/v.mp4"),
            ),
            (
                json!({"text": "Please sign in", "buttons": [{"type": "signin", "title": "Sign in", "value": "https://login.example"}]}),
                Some("Please sign in"),
            ),
            (json!({"buttons": "nope"}), None),
            (json!(42), None),
        ] {
            assert_eq!(card_text(&profile, &content).as_deref(), want, "{content}");
        }
    }
}
