//! Bot Framework card actions, suggested actions and hero/thumbnail cards → drafts
//! (`mapping.md` §4.3 and §4.4).

use std::borrow::Cow;

use gcbridge_directline::CardAction as BotAction;
use serde_json::{Map, Value};

use crate::offers::OfferedAction;
use crate::profile::{BotProfile, MarkdownMode};

use super::draft::{Button, CardDraft, Draft, Target, derived_title, join_non_empty};
use super::text::{format_text, plain_label};

/// What one Bot Framework card action can become.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionUse {
    /// `imBack`, `postBack`, `messageBack`: a reply button gcbridge offers.
    Reply(Button),
    /// `openUrl` to an address a customer can open: a link.
    Link {
        /// The button title, or the address when there is none.
        label: String,
        /// The address.
        url: String,
    },
    /// `call`: a `title: number` line (Genesys has no call button).
    Call(String),
}

/// Reads one card action. `None` for actions that mean nothing outside a Bot Framework client
/// (`showImage`, `playAudio`, `signin`, …) or that carry nothing usable (no label, a
/// `javascript:` address).
pub fn classify_action(action: &BotAction) -> Option<ActionUse> {
    let kind = action.kind.as_str();
    let is = |name: &str| kind.eq_ignore_ascii_case(name);
    let string_value = action
        .value
        .as_ref()
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty());
    if is("imBack") || is("postBack") || is("messageBack") {
        let label = [
            action.title.as_deref(),
            action.display_text.as_deref(),
            string_value,
            action.text.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(plain_label)
        .find(|l| !l.is_empty())?;
        let value = action.value.clone().filter(|v| !v.is_null());
        let (offered, slug_source) = if is("imBack") {
            let said = string_value.map_or_else(|| label.clone(), str::to_owned);
            let offered = OfferedAction::ImBack { value: said };
            (offered, string_value.map(str::to_owned))
        } else if is("postBack") {
            let value = value.unwrap_or_else(|| Value::String(label.clone()));
            (
                OfferedAction::PostBack { value },
                string_value.map(str::to_owned),
            )
        } else {
            let text = action.text.clone().filter(|t| !t.trim().is_empty());
            let slug_source = text.clone().or_else(|| string_value.map(str::to_owned));
            // A messageBack with neither text nor value would post an empty message.
            let text = if text.is_none() && value.is_none() {
                Some(label.clone())
            } else {
                text
            };
            let display_text = action.display_text.clone().filter(|d| !d.trim().is_empty());
            let offered = OfferedAction::MessageBack {
                text,
                value,
                display_text,
            };
            (offered, slug_source)
        };
        return Some(ActionUse::Reply(Button {
            target: Target::Offer {
                slug_source: slug_source.unwrap_or_else(|| label.clone()),
                action: offered,
            },
            image: action.image.as_deref().and_then(web_url),
            label,
        }));
    }
    let target = string_value?.trim();
    let title = action.title.as_deref().map(plain_label).unwrap_or_default();
    if is("openUrl") && is_linkable(target) {
        let label = if title.is_empty() {
            target.to_owned()
        } else {
            title
        };
        return Some(ActionUse::Link {
            label,
            url: target.to_owned(),
        });
    }
    if is("call") {
        return Some(ActionUse::Call(titled_line(&title, target)));
    }
    None
}

/// `suggestedActions` (`mapping.md` §4.3): reply actions become quick-reply options under the
/// prompt, `openUrl` and `call` actions `title: address` lines after them. `None` when no
/// action is usable, so the message reads as if it had none. With links only, the prompt and
/// the links are one text.
pub fn suggested_actions(prompt: &str, actions: &[BotAction]) -> Option<Draft> {
    let mut options = Vec::new();
    let mut links = Vec::new();
    for action in actions {
        match classify_action(action) {
            Some(ActionUse::Reply(button)) => options.push(button),
            Some(ActionUse::Link { label, url }) => links.push(titled_line(&label, &url)),
            Some(ActionUse::Call(line)) => links.push(line),
            None => {}
        }
    }
    if options.is_empty() {
        if links.is_empty() {
            return None;
        }
        let mut lines = vec![prompt.to_owned()];
        lines.extend(links);
        return Some(Draft::Text(join_non_empty(&lines, "\n")));
    }
    Some(Draft::Choices {
        prompt: prompt.to_owned(),
        options,
        links,
        text: None,
    })
}

/// A hero or thumbnail card (`mapping.md` §4.4). `None` when the content is not a card object
/// or has nothing to show.
pub fn hero_card(profile: &BotProfile, content: &Value) -> Option<CardDraft> {
    let card = as_object(content)?;
    let title = string_field(&card, "title")
        .map(plain_label)
        .unwrap_or_default();
    let subtitle = string_field(&card, "subtitle")
        .map(|s| plain_text(profile, s))
        .unwrap_or_default();
    let text = string_field(&card, "text")
        .map(|s| plain_text(profile, s))
        .unwrap_or_default();
    let image = array_field(&card, "images")
        .iter()
        .filter_map(|i| i.get("url").and_then(Value::as_str))
        .find_map(web_url);
    let default_url = card
        .get("tap")
        .and_then(|t| serde_json::from_value::<BotAction>(t.clone()).ok())
        .and_then(|tap| match classify_action(&tap) {
            Some(ActionUse::Link { url, .. }) => Some(url),
            _ => None,
        });
    let mut buttons = Vec::new();
    let mut notes = Vec::new();
    for raw in array_field(&card, "buttons") {
        let Ok(action) = serde_json::from_value::<BotAction>(raw.clone()) else {
            continue;
        };
        match classify_action(&action) {
            Some(ActionUse::Reply(button)) => buttons.push(button),
            Some(ActionUse::Link { label, url }) => buttons.push(Button {
                label,
                target: Target::Link(url),
                image: None,
            }),
            Some(ActionUse::Call(line)) => notes.push(line),
            None => {}
        }
    }
    let nothing = title.is_empty()
        && subtitle.is_empty()
        && text.is_empty()
        && image.is_none()
        && buttons.is_empty()
        && notes.is_empty();
    if nothing {
        return None;
    }
    // The title is required: the subtitle, then the first line of the text stand in for a
    // missing one (and leave the description), then the bot's name.
    let (title, description) = if !title.is_empty() {
        (title, join_non_empty(&[subtitle, text], "\n"))
    } else if !subtitle.is_empty() {
        (derived_title(&subtitle), text)
    } else if !text.is_empty() {
        let (first, rest) = split_first_line(&text);
        (
            derived_title(first),
            join_non_empty(&[rest.to_owned()], "\n"),
        )
    } else {
        // Nothing to read but an image (or buttons): the image's address is what a text-only
        // channel can show.
        notes.splice(0..0, image.clone());
        (profile.name.clone(), String::new())
    };
    Some(CardDraft {
        title,
        description: (!description.is_empty()).then_some(description),
        image,
        video: None,
        default_url,
        buttons,
        notes,
    })
}

/// `first line`, `the rest`.
fn split_first_line(text: &str) -> (&str, &str) {
    let text = text.trim();
    text.split_once('\n').unwrap_or((text, ""))
}

/// `title: target`, or the target alone when there is no title.
pub fn titled_line(title: &str, target: &str) -> String {
    if title.is_empty() || title == target {
        target.to_owned()
    } else {
        format!("{title}: {target}")
    }
}

/// A text field of a card as plain text: cards are shown without markdown (`mapping.md` §4.4).
pub fn plain_text(profile: &BotProfile, raw: &str) -> String {
    format_text(raw, MarkdownMode::Plain, profile.citations)
}

/// Card content arrives as an object, and from some agents as a JSON-encoded string.
pub fn as_object(content: &Value) -> Option<Cow<'_, Map<String, Value>>> {
    match content {
        Value::Object(map) => Some(Cow::Borrowed(map)),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => Some(Cow::Owned(map)),
            _ => None,
        },
        _ => None,
    }
}

/// A string field of a JSON object.
pub fn string_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// An array field of a JSON object, empty when absent or not an array.
pub fn array_field<'a>(object: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Addresses worth a link: web pages, mail and phone. `javascript:`, internal schemes and
/// relative paths cannot be opened from a chat message.
pub fn is_linkable(url: &str) -> bool {
    is_web_url(url)
        || starts_with_ignore_case(url, "mailto:")
        || starts_with_ignore_case(url, "tel:")
}

/// `http(s)://` addresses.
pub fn is_web_url(url: &str) -> bool {
    starts_with_ignore_case(url, "https://") || starts_with_ignore_case(url, "http://")
}

/// The trimmed address when it is a web address: images and media must be fetchable by
/// Genesys or the customer's client (`data:` and `blob:` are not).
pub fn web_url(url: &str) -> Option<String> {
    let url = url.trim();
    (is_web_url(url) && !url.chars().any(char::is_whitespace)).then(|| url.to_owned())
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(v: Value) -> BotAction {
        serde_json::from_value(v).expect("action")
    }

    fn reply(label: &str, slug_source: &str, offered: OfferedAction) -> Option<ActionUse> {
        Some(ActionUse::Reply(Button {
            label: label.into(),
            target: Target::Offer {
                slug_source: slug_source.into(),
                action: offered,
            },
            image: None,
        }))
    }

    #[test]
    fn action_table() {
        for (input, want) in [
            (
                json!({"type":"imBack","title":"Yes","value":"yes please"}),
                reply(
                    "Yes",
                    "yes please",
                    OfferedAction::ImBack {
                        value: "yes please".into(),
                    },
                ),
            ),
            (
                json!({"type":"imBack","title":"Yes"}),
                reply(
                    "Yes",
                    "Yes",
                    OfferedAction::ImBack {
                        value: "Yes".into(),
                    },
                ),
            ),
            (
                json!({"type":"postBack","value":"only value"}),
                reply(
                    "only value",
                    "only value",
                    OfferedAction::PostBack {
                        value: json!("only value"),
                    },
                ),
            ),
            (
                json!({"type":"postBack","title":"Choose Plus","value":{"plan":"plus"}}),
                reply(
                    "Choose Plus",
                    "Choose Plus",
                    OfferedAction::PostBack {
                        value: json!({"plan":"plus"}),
                    },
                ),
            ),
            (
                json!({"type":"messageBack","displayText":"Large","text":"L","value":{"size":"L"}}),
                reply(
                    "Large",
                    "L",
                    OfferedAction::MessageBack {
                        text: Some("L".into()),
                        value: Some(json!({"size":"L"})),
                        display_text: Some("Large".into()),
                    },
                ),
            ),
            (
                json!({"type":"messageBack","title":"Go"}),
                reply(
                    "Go",
                    "Go",
                    OfferedAction::MessageBack {
                        text: Some("Go".into()),
                        value: None,
                        display_text: None,
                    },
                ),
            ),
            (json!({"type":"imBack"}), None),
            (json!({"type":"imBack","title":"  "}), None),
            (
                json!({"type":"openUrl","title":"Docs","value":"https://a.example"}),
                Some(ActionUse::Link {
                    label: "Docs".into(),
                    url: "https://a.example".into(),
                }),
            ),
            (
                json!({"type":"openUrl","value":" https://a.example "}),
                Some(ActionUse::Link {
                    label: "https://a.example".into(),
                    url: "https://a.example".into(),
                }),
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
                Some(ActionUse::Call("Call us: tel:+15550100".into())),
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
            assert_eq!(classify_action(&action(input.clone())), want, "{input}");
        }
    }

    #[test]
    fn hero_title_fallbacks() {
        let profile = BotProfile {
            name: "Contoso Support".into(),
            ..BotProfile::default()
        };
        for (content, title, description) in [
            (
                json!({"title":"T","subtitle":"S","text":"X"}),
                "T",
                Some("S\nX"),
            ),
            (json!({"subtitle":"S","text":"X"}), "S", Some("X")),
            (json!({"text":"First\nSecond"}), "First", Some("Second")),
            (json!({"title":"**Bold** title"}), "Bold title", None),
            (
                json!({"images":[{"url":"https://a.example/i.png"}]}),
                "Contoso Support",
                None,
            ),
        ] {
            let card = hero_card(&profile, &content).expect("card");
            assert_eq!(card.title, title, "{content}");
            assert_eq!(card.description.as_deref(), description, "{content}");
        }
        for nothing in [
            json!(42),
            json!({}),
            json!({"title": ["not", "text"], "buttons": "nope"}),
            json!({"images":[{"url":"data:image/png;base64,AAAA"}]}),
        ] {
            assert_eq!(hero_card(&profile, &nothing), None, "{nothing}");
        }
        let encoded = json!("{\"title\":\"From a string\"}");
        assert_eq!(
            hero_card(&profile, &encoded).map(|c| c.title).as_deref(),
            Some("From a string")
        );
    }
}
