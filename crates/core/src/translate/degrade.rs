//! Readable-text stand-ins for content that is not yet mapped to native Genesys content
//! (mapping principle 4: anything that cannot be translated exactly degrades to readable text).
//!
//! Each function here turns one kind of rich content into the text a customer can act on:
//! suggested actions into a numbered option list, Bot Framework cards into their lines and
//! button links, Adaptive Cards into their text and facts, files into `name: url`. The texts
//! follow the fallback texts `mapping.md` §4.3–§4.6 gives the future `Structured` messages, so
//! replacing a function by a native mapping keeps the same fallback.

use gcbridge_directline::{Attachment, CardAction};
use serde_json::Value;

use crate::profile::{BotProfile, MarkdownMode};

use super::text::{format_text, plain_label};

/// Shown instead of a file whose address the customer cannot open (`data:` and other non-web
/// addresses), `mapping.md` §4.6.
pub const FILE_NOT_DISPLAYABLE: &str = "A file was sent but cannot be displayed here.";

/// Shown for an Adaptive Card with nothing readable in it, `mapping.md` §4.5.
pub const CONTENT_NOT_DISPLAYABLE: &str = "This content cannot be displayed here.";

/// Adaptive Cards nest containers; real cards are shallow, and the bound keeps a hostile card
/// from recursing without end.
const MAX_CARD_DEPTH: usize = 16;

/// How a button reads as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionText {
    /// A reply option (`imBack`, `postBack`, `messageBack`): its label, which the customer can
    /// type back.
    Reply(String),
    /// A link (`openUrl`, `call`): a `title: address` line.
    Link(String),
}

/// The text form of one Bot Framework card action, or `None` for actions that have no meaning
/// outside a Bot Framework client (`showImage`, `signin`, …) or carry nothing usable.
pub fn action_text(action: &CardAction) -> Option<ActionText> {
    let kind = action.kind.as_str();
    let is = |name: &str| kind.eq_ignore_ascii_case(name);
    if is("imBack") || is("postBack") || is("messageBack") {
        let value = action.value.as_ref().and_then(Value::as_str);
        let label = [
            action.title.as_deref(),
            action.display_text.as_deref(),
            value,
            action.text.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(plain_label)
        .find(|l| !l.is_empty())?;
        return Some(ActionText::Reply(label));
    }
    let target = action.value.as_ref().and_then(Value::as_str)?.trim();
    let usable = if is("openUrl") {
        is_linkable(target)
    } else {
        is("call") && !target.is_empty()
    };
    if !usable {
        return None;
    }
    let title = action.title.as_deref().map(plain_label).unwrap_or_default();
    Some(ActionText::Link(titled_line(&title, target)))
}

/// `title: target`, or the target alone when there is no title.
fn titled_line(title: &str, target: &str) -> String {
    if title.is_empty() {
        target.to_owned()
    } else {
        format!("{title}: {target}")
    }
}

/// Addresses worth showing a customer. `javascript:`, internal schemes and relative paths are
/// not: they cannot be opened from a chat message.
fn is_linkable(url: &str) -> bool {
    is_web_url(url)
        || starts_with_ignore_case(url, "mailto:")
        || starts_with_ignore_case(url, "tel:")
}

fn is_web_url(url: &str) -> bool {
    starts_with_ignore_case(url, "https://") || starts_with_ignore_case(url, "http://")
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `suggestedActions` as text: the processed prompt, then the reply options as a numbered list
/// (`1. Home delivery`), then link actions as `title: url` lines. `None` when no action is
/// usable, so the message is then treated as if it had no suggested actions.
pub fn suggested_actions_text(prompt: &str, actions: &[CardAction]) -> Option<String> {
    let mut replies = Vec::new();
    let mut links = Vec::new();
    for action in actions {
        match action_text(action) {
            Some(ActionText::Reply(label)) => replies.push(label),
            Some(ActionText::Link(line)) => links.push(line),
            None => {}
        }
    }
    if replies.is_empty() && links.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = Vec::new();
    let prompt = prompt.trim();
    if !prompt.is_empty() {
        lines.push(prompt.to_owned());
    }
    lines.extend(
        replies
            .iter()
            .enumerate()
            .map(|(n, label)| format!("{}. {label}", n + 1)),
    );
    lines.extend(links);
    Some(lines.join("\n"))
}

/// The attachments of one message as text blocks, in order. Consecutive Bot Framework cards
/// (a list or carousel) share one block separated by blank lines; each Adaptive Card and each
/// file is a block of its own; attachments with nothing to show (inline JSON such as a handoff
/// transcript) produce nothing.
pub fn attachments_text(profile: &BotProfile, attachments: &[Attachment]) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut cards: Vec<String> = Vec::new();
    for attachment in attachments {
        let kind = attachment.content_type.to_ascii_lowercase();
        if kind.starts_with("application/vnd.microsoft.card.") && kind != ADAPTIVE {
            if let Some(text) = attachment
                .content
                .as_ref()
                .and_then(|c| card_text(profile, c))
            {
                cards.push(text);
            }
            continue;
        }
        if !cards.is_empty() {
            blocks.push(cards.join("\n\n"));
            cards.clear();
        }
        let text = if kind == ADAPTIVE {
            // The agent meant to show a card: even without content, say that something was not
            // shown rather than nothing.
            let content = attachment.content.as_ref().unwrap_or(&Value::Null);
            Some(adaptive_card_text(profile, content))
        } else {
            media_text(attachment)
        };
        blocks.extend(text);
    }
    if !cards.is_empty() {
        blocks.push(cards.join("\n\n"));
    }
    blocks
}

const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";

/// Card content arrives as an object, and from some agents as a JSON-encoded string.
fn as_object(content: &Value) -> Option<serde_json::Map<String, Value>> {
    match content {
        Value::Object(map) => Some(map.clone()),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

fn string_field<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn array_field<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A text field of a card, as plain text (cards are shown without markdown, `mapping.md` §4.4).
fn plain_text(profile: &BotProfile, raw: &str) -> String {
    format_text(raw, MarkdownMode::Plain, profile.citations)
}

/// A hero, thumbnail, receipt, sign-in or media card as text: title, subtitle, text, receipt
/// facts/items/total, media addresses, then its buttons — reply buttons by label, links as
/// `title: url` (the fallback text of `mapping.md` §4.4). `None` when nothing is readable.
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
        if let Some(url) = media.get("url").and_then(Value::as_str)
            && is_web_url(url.trim())
        {
            lines.push(url.trim().to_owned());
        }
    }
    for button in array_field(&card, "buttons") {
        let Ok(action) = serde_json::from_value::<CardAction>(button.clone()) else {
            continue;
        };
        match action_text(&action) {
            Some(ActionText::Reply(label)) => lines.push(label),
            Some(ActionText::Link(line)) => lines.push(line),
            None => {}
        }
    }
    join_lines(lines)
}

/// `key: value`, or whichever is present.
fn pair_line(key: Option<&str>, value: Option<&str>) -> String {
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

/// What an Adaptive Card walk collects.
#[derive(Default)]
struct AdaptiveText {
    lines: Vec<String>,
    /// Labels of inputs a customer would have to fill in.
    inputs: Vec<String>,
}

/// An Adaptive Card as text: its `TextBlock`s and `RichTextBlock`s, `FactSet`s as `title: value`
/// lines, the content of containers, columns, tables and `Action.ShowCard` cards, `Action.OpenUrl`
/// links as `title: url`, a "Please reply with:" line naming its inputs, then its `fallbackText`.
/// Hidden elements are skipped and unknown elements use their `fallback` element. A card with
/// nothing readable becomes [`CONTENT_NOT_DISPLAYABLE`].
pub fn adaptive_card_text(profile: &BotProfile, content: &Value) -> String {
    let Some(card) = as_object(content) else {
        return CONTENT_NOT_DISPLAYABLE.to_owned();
    };
    let mut acc = AdaptiveText::default();
    walk_card(profile, &card, 0, &mut acc);
    let mut lines = acc.lines;
    if !acc.inputs.is_empty() {
        lines.push(format!("Please reply with: {}", acc.inputs.join(", ")));
    }
    if let Some(fallback) = string_field(&card, "fallbackText") {
        lines.push(plain_text(profile, fallback));
    }
    if let Some(text) = join_lines(lines) {
        return text;
    }
    string_field(&card, "speak")
        .filter(|s| !s.trim_start().starts_with('<'))
        .map(|s| plain_text(profile, s))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| CONTENT_NOT_DISPLAYABLE.to_owned())
}

fn walk_card(
    profile: &BotProfile,
    card: &serde_json::Map<String, Value>,
    depth: usize,
    acc: &mut AdaptiveText,
) {
    for element in array_field(card, "body") {
        walk_element(profile, element, depth + 1, acc);
    }
    for action in array_field(card, "actions") {
        walk_action(profile, action, depth + 1, acc);
    }
}

fn walk_element(profile: &BotProfile, element: &Value, depth: usize, acc: &mut AdaptiveText) {
    if depth > MAX_CARD_DEPTH {
        return;
    }
    let Some(object) = element.as_object() else {
        return;
    };
    if object.get("isVisible") == Some(&Value::Bool(false)) {
        return;
    }
    let kind = string_field(object, "type").unwrap_or_default();
    let children = |key: &str, acc: &mut AdaptiveText| {
        for child in array_field(object, key) {
            walk_element(profile, child, depth + 1, acc);
        }
    };
    match kind {
        "TextBlock" => {
            if let Some(text) = string_field(object, "text") {
                acc.lines.push(plain_text(profile, text));
            }
        }
        "RichTextBlock" => {
            let text: String = array_field(object, "inlines")
                .iter()
                .filter_map(|inline| match inline {
                    Value::String(s) => Some(s.as_str()),
                    other => other.get("text").and_then(Value::as_str),
                })
                .collect();
            acc.lines.push(plain_text(profile, &text));
        }
        "FactSet" => {
            for fact in array_field(object, "facts") {
                let title = fact.get("title").and_then(Value::as_str).map(plain_label);
                let value = fact.get("value").and_then(Value::as_str).map(plain_label);
                acc.lines
                    .push(pair_line(title.as_deref(), value.as_deref()));
            }
        }
        "Container" | "Column" => children("items", acc),
        "ColumnSet" => children("columns", acc),
        "Table" => {
            for row in array_field(object, "rows") {
                for cell in row
                    .get("cells")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    walk_element(profile, cell, depth + 1, acc);
                }
            }
        }
        "TableCell" => children("items", acc),
        "ActionSet" => {
            for action in array_field(object, "actions") {
                walk_action(profile, action, depth + 1, acc);
            }
        }
        "Image" | "ImageSet" | "Media" => {}
        input if input.starts_with("Input.") => {
            if let Some(label) = input_label(object) {
                acc.inputs.push(label);
            }
        }
        _ => {
            if let Some(fallback) = object.get("fallback").filter(|f| f.is_object()) {
                walk_element(profile, fallback, depth + 1, acc);
            }
        }
    }
}

/// How an input is named for the customer: its label (or placeholder, toggle title, id), with
/// the choices of a choice set in parentheses.
fn input_label(object: &serde_json::Map<String, Value>) -> Option<String> {
    let name = ["label", "placeholder", "title", "id"]
        .into_iter()
        .filter_map(|key| string_field(object, key))
        .map(plain_label)
        .find(|l| !l.is_empty())?;
    let choices: Vec<String> = array_field(object, "choices")
        .iter()
        .filter_map(|c| c.get("title").and_then(Value::as_str))
        .map(plain_label)
        .filter(|c| !c.is_empty())
        .collect();
    Some(if choices.is_empty() {
        name
    } else {
        format!("{name} ({})", choices.join(", "))
    })
}

fn walk_action(profile: &BotProfile, action: &Value, depth: usize, acc: &mut AdaptiveText) {
    if depth > MAX_CARD_DEPTH {
        return;
    }
    let Some(object) = action.as_object() else {
        return;
    };
    match string_field(object, "type").unwrap_or_default() {
        "Action.OpenUrl" => {
            if let Some(url) = string_field(object, "url").map(str::trim)
                && is_linkable(url)
            {
                let title = string_field(object, "title")
                    .map(plain_label)
                    .unwrap_or_default();
                acc.lines.push(titled_line(&title, url));
            }
        }
        "Action.ShowCard" => {
            if let Some(card) = object.get("card").and_then(Value::as_object) {
                walk_card(profile, card, depth + 1, acc);
            }
        }
        // Submit, Execute and ToggleVisibility need a client that can send card data back.
        _ => {}
    }
}

/// An image, video, audio or other file as `name: url` (the name being the attachment's name or
/// the last segment of the address). A `data:` URI or any other non-web address becomes
/// [`FILE_NOT_DISPLAYABLE`]. `None` when there is no `contentUrl`.
pub fn media_text(attachment: &Attachment) -> Option<String> {
    let url = attachment.content_url.as_deref()?.trim();
    if url.is_empty() {
        return None;
    }
    if !is_web_url(url) {
        return Some(FILE_NOT_DISPLAYABLE.to_owned());
    }
    let name = attachment
        .name
        .as_deref()
        .map(plain_label)
        .filter(|n| !n.is_empty())
        .or_else(|| last_path_segment(url).map(str::to_owned));
    Some(match name {
        Some(name) => titled_line(&name, url),
        None => url.to_owned(),
    })
}

/// `https://host/a/b/report.pdf?x=1` → `report.pdf`; `None` when the path is empty.
fn last_path_segment(url: &str) -> Option<&str> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    path.rsplit('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(v: Value) -> CardAction {
        serde_json::from_value(v).expect("action")
    }

    #[test]
    fn action_table() {
        for (input, want) in [
            (
                json!({"type":"imBack","title":"Yes","value":"yes"}),
                Some(ActionText::Reply("Yes".into())),
            ),
            (
                json!({"type":"postBack","value":"only value"}),
                Some(ActionText::Reply("only value".into())),
            ),
            (
                json!({"type":"messageBack","displayText":"Shown","text":"t"}),
                Some(ActionText::Reply("Shown".into())),
            ),
            (
                json!({"type":"postBack","value":{"a":1},"text":"fallback"}),
                Some(ActionText::Reply("fallback".into())),
            ),
            (json!({"type":"imBack"}), None),
            (
                json!({"type":"openUrl","title":"Docs","value":"https://a.example"}),
                Some(ActionText::Link("Docs: https://a.example".into())),
            ),
            (
                json!({"type":"openUrl","value":"https://a.example"}),
                Some(ActionText::Link("https://a.example".into())),
            ),
            (
                json!({"type":"openUrl","title":"x","value":"javascript:alert(1)"}),
                None,
            ),
            (
                json!({"type":"openUrl","title":"x","value":{"not":"a url"}}),
                None,
            ),
            (
                json!({"type":"call","title":"Call us","value":"tel:+15550100"}),
                Some(ActionText::Link("Call us: tel:+15550100".into())),
            ),
            (
                json!({"type":"showImage","title":"x","value":"https://a.example/i.png"}),
                None,
            ),
            (
                json!({"type":"signin","title":"x","value":"https://a.example"}),
                None,
            ),
            (json!({"type":"somethingNew","title":"x"}), None),
        ] {
            assert_eq!(action_text(&action(input.clone())), want, "{input}");
        }
    }

    #[test]
    fn suggested_actions_fixture_text() {
        let actions = vec![
            action(json!({"type":"imBack","title":"Home delivery","value":"Home delivery"})),
            action(json!({"type":"openUrl","title":"Track","value":"https://a.example/t"})),
            action(json!({"type":"imBack","title":"Pick up in store","value":"Pick up in store"})),
        ];
        assert_eq!(
            suggested_actions_text("How would you like to receive it?", &actions).as_deref(),
            Some(
                "How would you like to receive it?\n1. Home delivery\n2. Pick up in store\nTrack: https://a.example/t"
            )
        );
        assert_eq!(
            suggested_actions_text("  ", &actions[..1]).as_deref(),
            Some("1. Home delivery")
        );
        assert_eq!(
            suggested_actions_text("Q", &[action(json!({"type":"showImage"}))]),
            None
        );
    }

    #[test]
    fn media_table() {
        let attachment =
            |v: Value| -> Attachment { serde_json::from_value(v).expect("attachment") };
        for (input, want) in [
            (
                json!({"contentType":"image/png","contentUrl":"https://a.example/s.png","name":"size-chart.png"}),
                Some("size-chart.png: https://a.example/s.png"),
            ),
            (
                json!({"contentType":"application/pdf","contentUrl":"https://a.example/d/report.pdf?sig=1"}),
                Some("report.pdf: https://a.example/d/report.pdf?sig=1"),
            ),
            (
                json!({"contentType":"audio/mpeg","contentUrl":"https://a.example"}),
                Some("https://a.example"),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"data:image/png;base64,AAAA"}),
                Some(FILE_NOT_DISPLAYABLE),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"blob:xyz"}),
                Some(FILE_NOT_DISPLAYABLE),
            ),
            (json!({"contentType":"image/png","contentUrl":"  "}), None),
            (json!({"contentType":"image/png"}), None),
        ] {
            assert_eq!(
                media_text(&attachment(input.clone())).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn path_segments() {
        assert_eq!(last_path_segment("https://h/a/b.txt#x"), Some("b.txt"));
        assert_eq!(last_path_segment("https://h/"), None);
        assert_eq!(last_path_segment("https://h"), None);
        assert_eq!(last_path_segment("https://h/dir/"), None);
    }
}
