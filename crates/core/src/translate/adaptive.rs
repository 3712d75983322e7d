//! Adaptive Cards → the closest Genesys content (`mapping.md` §4.5).
//!
//! One walk over the card collects its text lines (`TextBlock`, `RichTextBlock`, `FactSet`,
//! the content of containers, columns and tables, and of `Action.ShowCard` cards), its first
//! image, its actions and its inputs. Then:
//!
//! - one single-select `Input.ChoiceSet` with exactly one submit action and no other input
//!   becomes a quick-reply prompt: each choice submits the card's `data` with the choice;
//! - anything else with something to show becomes a card: title from the first prominent
//!   `TextBlock`, description from the other lines, `Action.OpenUrl` as links, `Action.Submit`
//!   and `Action.Execute` as postbacks storing their `data`; inputs a customer cannot fill in
//!   here are named in a "Please reply with:" line, followed by the card's `fallbackText`;
//! - a card with nothing usable becomes its `fallbackText`, its `speak` text or the configured
//!   "cannot be displayed" sentence.
//!
//! Hidden elements are skipped, unknown elements use their `fallback` element, and nesting is
//! bounded so a hostile card cannot recurse without end.

use serde_json::{Map, Value};

use crate::offers::{ChoiceSelection, OfferedAction};
use crate::profile::BotProfile;

use super::cards::{
    array_field, as_object, is_linkable, plain_text, string_field, titled_line, web_url,
};
use super::degrade::pair_line;
use super::draft::{Button, CardDraft, Draft, Target, derived_title, join_non_empty};
use super::text::plain_label;

/// Real cards are shallow; the bound keeps a hostile card from recursing without end.
const MAX_CARD_DEPTH: usize = 16;

/// Label of a submit action without a title: a button needs one.
const DEFAULT_SUBMIT_LABEL: &str = "Submit";

/// What an Adaptive Card becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum AdaptiveDraft {
    /// A card, which may share a carousel with the message's other cards.
    Card(CardDraft),
    /// A quick-reply prompt or a text.
    Other(Draft),
}

/// A line of the card's text.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    /// For a `TextBlock` of the card itself (not of a shown card): its raw text and whether it
    /// is prominent (bolder, or at least medium size) — the title candidates.
    heading: Option<(String, bool)>,
}

/// A submit or execute action of the card: what it submits.
#[derive(Debug, Clone)]
struct Submit {
    data: Option<Value>,
}

/// A single-select choice set: the only input gcbridge can offer as buttons.
#[derive(Debug, Clone)]
struct ChoiceSet {
    id: String,
    label: Option<String>,
    /// `(title, value)` of each choice.
    choices: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Input {
    Choice(ChoiceSet),
    /// Anything else, by the label the customer is asked for.
    Other(String),
}

impl Input {
    fn label(&self) -> String {
        match self {
            Input::Other(label) => label.clone(),
            Input::Choice(set) => {
                let name = set.label.clone().unwrap_or_else(|| set.id.clone());
                let titles: Vec<&str> = set.choices.iter().map(|(t, _)| t.as_str()).collect();
                format!("{name} ({})", titles.join(", "))
            }
        }
    }
}

/// Everything one walk collects.
#[derive(Default)]
struct Walk {
    lines: Vec<Line>,
    image: Option<String>,
    /// Links and submits of the card itself, in order.
    buttons: Vec<Button>,
    submits: Vec<Submit>,
    inputs: Vec<Input>,
}

/// Where the walk is.
#[derive(Clone, Copy)]
struct At {
    depth: usize,
    /// Inside an `Action.ShowCard` card: its text is appended, its actions are not offered.
    shown_card: bool,
}

impl At {
    fn deeper(self) -> Self {
        Self {
            depth: self.depth + 1,
            ..self
        }
    }
}

/// Translates one Adaptive Card's content.
pub fn adaptive_draft(profile: &BotProfile, content: &Value) -> AdaptiveDraft {
    let Some(card) = as_object(content) else {
        return AdaptiveDraft::Other(Draft::Text(profile.unsupported_content_text.clone()));
    };
    let mut walk = Walk::default();
    walk_card(
        profile,
        &card,
        At {
            depth: 0,
            shown_card: false,
        },
        &mut walk,
    );
    let fallback_text = string_field(&card, "fallbackText")
        .map(|t| plain_text(profile, t))
        .filter(|t| !t.is_empty());

    if let Some(prompt) = choice_prompt(&walk) {
        return AdaptiveDraft::Other(prompt);
    }

    let usable = !walk.lines.is_empty()
        || walk.image.is_some()
        || !walk.buttons.is_empty()
        || !walk.inputs.is_empty();
    if !usable {
        let speak = string_field(&card, "speak")
            .filter(|s| !s.trim_start().starts_with('<'))
            .map(|s| plain_text(profile, s))
            .filter(|s| !s.is_empty());
        let text = fallback_text
            .or(speak)
            .unwrap_or_else(|| profile.unsupported_content_text.clone());
        return AdaptiveDraft::Other(Draft::Text(text));
    }

    let Walk {
        mut lines,
        image,
        buttons,
        inputs,
        ..
    } = walk;
    let title = take_title(&mut lines)
        .or_else(|| fallback_text.as_deref().map(derived_title))
        .filter(|t| !t.is_empty());
    // Nothing to read but an image (or buttons): the image's address is what a text-only
    // channel can show.
    let notes = match (&title, &image) {
        (None, Some(image)) => vec![image.clone()],
        _ => Vec::new(),
    };
    let title = title.unwrap_or_else(|| profile.name.clone());
    let mut description: Vec<String> = lines.into_iter().map(|l| l.text).collect();
    if !inputs.is_empty() {
        let labels: Vec<String> = inputs.iter().map(Input::label).collect();
        description.push(format!("Please reply with: {}", labels.join(", ")));
        description.extend(fallback_text);
    }
    let description = join_non_empty(&description, "\n");
    let default_url = card
        .get("selectAction")
        .and_then(Value::as_object)
        .filter(|a| string_field(a, "type") == Some("Action.OpenUrl"))
        .and_then(|a| string_field(a, "url"))
        .map(str::trim)
        .filter(|u| is_linkable(u))
        .map(str::to_owned);
    AdaptiveDraft::Card(CardDraft {
        title,
        description: (!description.is_empty()).then_some(description),
        image,
        video: None,
        default_url,
        buttons,
        notes,
    })
}

/// The title: the first prominent `TextBlock` of the card, else its first `TextBlock`, else
/// its first line of any kind; removed from the lines so the description does not repeat it.
fn take_title(lines: &mut Vec<Line>) -> Option<String> {
    let index = lines
        .iter()
        .position(|l| matches!(l.heading, Some((_, true))))
        .or_else(|| lines.iter().position(|l| l.heading.is_some()))
        .or_else(|| (!lines.is_empty()).then_some(0))?;
    let line = lines.remove(index);
    let title = match line.heading {
        Some((raw, _)) => plain_label(&raw),
        None => derived_title(&line.text),
    };
    Some(title)
}

/// The quick-reply form of a card whose only input is one single-select choice set, submitted
/// by its only submit action: the card's text as the prompt, one option per choice, links as
/// lines.
fn choice_prompt(walk: &Walk) -> Option<Draft> {
    let [Input::Choice(set)] = walk.inputs.as_slice() else {
        return None;
    };
    let [submit] = walk.submits.as_slice() else {
        return None;
    };
    let mut prompt: Vec<String> = walk.lines.iter().map(|l| l.text.clone()).collect();
    prompt.extend(set.label.clone());
    let options = set
        .choices
        .iter()
        .map(|(title, value)| Button {
            label: title.clone(),
            target: Target::Offer {
                slug_source: value.clone(),
                action: OfferedAction::Submit {
                    data: submit.data.clone(),
                    choice: Some(ChoiceSelection {
                        input_id: set.id.clone(),
                        value: value.clone(),
                    }),
                },
            },
            image: None,
        })
        .collect();
    let links = walk
        .buttons
        .iter()
        .filter_map(|b| match &b.target {
            Target::Link(url) => Some(titled_line(&b.label, url)),
            _ => None,
        })
        .collect();
    Some(Draft::Choices {
        prompt: join_non_empty(&prompt, "\n"),
        options,
        links,
        text: None,
    })
}

fn walk_card(profile: &BotProfile, card: &Map<String, Value>, at: At, walk: &mut Walk) {
    for element in array_field(card, "body") {
        walk_element(profile, element, at.deeper(), walk);
    }
    for action in array_field(card, "actions") {
        walk_action(profile, action, at.deeper(), walk);
    }
}

fn walk_element(profile: &BotProfile, element: &Value, at: At, walk: &mut Walk) {
    if at.depth > MAX_CARD_DEPTH {
        return;
    }
    let Some(object) = element.as_object() else {
        return;
    };
    if object.get("isVisible") == Some(&Value::Bool(false)) {
        return;
    }
    let kind = string_field(object, "type").unwrap_or_default();
    let children = |key: &str, walk: &mut Walk| {
        for child in array_field(object, key) {
            walk_element(profile, child, at.deeper(), walk);
        }
    };
    match kind {
        "TextBlock" => {
            if let Some(raw) = string_field(object, "text") {
                let heading = (!at.shown_card).then(|| (raw.to_owned(), is_prominent(object)));
                push_line(walk, plain_text(profile, raw), heading);
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
            push_line(walk, plain_text(profile, &text), None);
        }
        "FactSet" => {
            for fact in array_field(object, "facts") {
                let title = fact.get("title").and_then(Value::as_str).map(plain_label);
                let value = fact.get("value").and_then(Value::as_str).map(plain_label);
                push_line(walk, pair_line(title.as_deref(), value.as_deref()), None);
            }
        }
        "Container" | "Column" | "TableCell" => children("items", walk),
        "ColumnSet" => children("columns", walk),
        "Table" => {
            for row in array_field(object, "rows") {
                for cell in row
                    .get("cells")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    walk_element(profile, cell, at.deeper(), walk);
                }
            }
        }
        "ActionSet" => {
            for action in array_field(object, "actions") {
                walk_action(profile, action, at.deeper(), walk);
            }
        }
        "Image" => {
            if !at.shown_card && walk.image.is_none() {
                walk.image = string_field(object, "url").and_then(web_url);
            }
        }
        "ImageSet" => {
            if !at.shown_card && walk.image.is_none() {
                walk.image = array_field(object, "images")
                    .iter()
                    .filter_map(|i| i.get("url").and_then(Value::as_str))
                    .find_map(web_url);
            }
        }
        "Media" => {}
        input if input.starts_with("Input.") => {
            if let Some(input) = read_input(input, object) {
                walk.inputs.push(input);
            }
        }
        _ => {
            if let Some(fallback) = object.get("fallback").filter(|f| f.is_object()) {
                walk_element(profile, fallback, at.deeper(), walk);
            }
        }
    }
}

fn push_line(walk: &mut Walk, text: String, heading: Option<(String, bool)>) {
    if !text.trim().is_empty() {
        walk.lines.push(Line { text, heading });
    }
}

/// `weight: Bolder` or `size` at least `Medium` (Adaptive Card enums are case-insensitive).
fn is_prominent(text_block: &Map<String, Value>) -> bool {
    let is = |key: &str, values: &[&str]| {
        string_field(text_block, key)
            .is_some_and(|v| values.iter().any(|w| v.eq_ignore_ascii_case(w)))
    };
    is("weight", &["bolder"]) || is("size", &["medium", "large", "extraLarge"])
}

fn walk_action(profile: &BotProfile, action: &Value, at: At, walk: &mut Walk) {
    if at.depth > MAX_CARD_DEPTH {
        return;
    }
    let Some(object) = action.as_object() else {
        return;
    };
    if object.get("isVisible") == Some(&Value::Bool(false)) {
        return;
    }
    let title = string_field(object, "title")
        .map(plain_label)
        .unwrap_or_default();
    match string_field(object, "type").unwrap_or_default() {
        "Action.OpenUrl" => {
            let Some(url) = string_field(object, "url")
                .map(str::trim)
                .filter(|u| is_linkable(u))
            else {
                return;
            };
            if at.shown_card {
                push_line(walk, titled_line(&title, url), None);
            } else {
                let label = if title.is_empty() {
                    url.to_owned()
                } else {
                    title
                };
                walk.buttons.push(Button {
                    label,
                    target: Target::Link(url.to_owned()),
                    image: None,
                });
            }
        }
        "Action.Submit" | "Action.Execute" => {
            // A shown card's submit sends that card's inputs, which cannot be filled in here.
            if at.shown_card {
                return;
            }
            let label = if title.is_empty() {
                DEFAULT_SUBMIT_LABEL.to_owned()
            } else {
                title
            };
            let data = object.get("data").filter(|d| !d.is_null()).cloned();
            walk.submits.push(Submit { data: data.clone() });
            walk.buttons.push(Button {
                target: Target::Offer {
                    slug_source: label.clone(),
                    action: OfferedAction::Submit { data, choice: None },
                },
                label,
                image: None,
            });
        }
        "Action.ShowCard" => {
            if let Some(card) = object.get("card").and_then(Value::as_object) {
                let inner = At {
                    shown_card: true,
                    ..at.deeper()
                };
                walk_card(profile, card, inner, walk);
            }
        }
        // ToggleVisibility and unknown actions need a card client.
        _ => {}
    }
}

/// An input: a single-select choice set with an id and choices can become quick replies;
/// anything else is named by its label (or placeholder, toggle title, id), with the choices of a
/// multi-select set in parentheses. Hidden inputs are not asked for.
fn read_input(kind: &str, object: &Map<String, Value>) -> Option<Input> {
    let label = ["label", "placeholder", "title"]
        .into_iter()
        .filter_map(|key| string_field(object, key))
        .map(plain_label)
        .find(|l| !l.is_empty());
    let id = string_field(object, "id")
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let choices: Vec<(String, String)> = array_field(object, "choices")
        .iter()
        .filter_map(|c| {
            let title = c.get("title").and_then(Value::as_str).map(plain_label)?;
            let value = c
                .get("value")
                .and_then(Value::as_str)
                .map_or_else(|| title.clone(), str::to_owned);
            (!title.is_empty()).then_some((title, value))
        })
        .collect();
    let multi = object.get("isMultiSelect") == Some(&Value::Bool(true));
    if kind == "Input.ChoiceSet"
        && !multi
        && !choices.is_empty()
        && let Some(id) = id
    {
        return Some(Input::Choice(ChoiceSet {
            id: id.to_owned(),
            label,
            choices,
        }));
    }
    let name = label
        .or_else(|| id.map(plain_label))
        .filter(|n| !n.is_empty())?;
    let titles: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
    Some(Input::Other(if titles.is_empty() {
        name
    } else {
        format!("{name} ({})", titles.join(", "))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card(profile: &BotProfile, content: Value) -> CardDraft {
        match adaptive_draft(profile, &content) {
            AdaptiveDraft::Card(card) => card,
            other => panic!("not a card: {other:?}"),
        }
    }

    fn labels(card: &CardDraft) -> Vec<&str> {
        card.buttons.iter().map(|b| b.label.as_str()).collect()
    }

    #[test]
    fn title_prefers_a_prominent_text_block() {
        let profile = BotProfile::default();
        let c = card(
            &profile,
            json!({"type":"AdaptiveCard","body":[
                {"type":"TextBlock","text":"Small print first"},
                {"type":"Container","items":[{"type":"TextBlock","text":"**Order** 12345","size":"large"}]},
                {"type":"FactSet","facts":[{"title":"Status","value":"Shipped"}]}
            ]}),
        );
        assert_eq!(c.title, "Order 12345");
        assert_eq!(
            c.description.as_deref(),
            Some("Small print first\nStatus: Shipped")
        );
        let c = card(
            &profile,
            json!({"body":[{"type":"TextBlock","text":"Plain"},{"type":"TextBlock","text":"Other"}]}),
        );
        assert_eq!(
            (c.title.as_str(), c.description.as_deref()),
            ("Plain", Some("Other"))
        );
        let c = card(
            &profile,
            json!({"body":[{"type":"FactSet","facts":[{"title":"A","value":"1"},{"title":"B","value":"2"}]}]}),
        );
        assert_eq!(
            (c.title.as_str(), c.description.as_deref()),
            ("A: 1", Some("B: 2"))
        );
        let c = card(
            &profile,
            json!({"body":[{"type":"Image","url":"https://a.example/i.png"}], "fallbackText":"A picture"}),
        );
        assert_eq!(c.title, "A picture");
        let c = card(
            &profile,
            json!({"body":[{"type":"Image","url":"https://a.example/i.png"}]}),
        );
        assert_eq!(c.title, profile.name);
        assert_eq!(c.image.as_deref(), Some("https://a.example/i.png"));
    }

    #[test]
    fn actions_images_show_cards_and_hidden_elements() {
        let profile = BotProfile::default();
        let c = card(
            &profile,
            json!({
                "selectAction": {"type": "Action.OpenUrl", "url": "https://a.example/o"},
                "body": [
                    {"type":"TextBlock","text":"Hidden","isVisible":false},
                    {"type":"TextBlock","text":"Title","weight":"bolder"},
                    {"type":"Image","url":"data:image/png;base64,AAAA"},
                    {"type":"ImageSet","images":[{"type":"Image","url":"https://a.example/1.png"}]},
                    {"type":"ActionSet","actions":[{"type":"Action.OpenUrl","title":"Docs","url":"https://a.example/d"}]},
                    {"type":"Unknown","fallback":{"type":"TextBlock","text":"From fallback"}}
                ],
                "actions": [
                    {"type":"Action.Submit","data":{"x":1}},
                    {"type":"Action.Execute","title":"Run","verb":"run","data":{"y":2}},
                    {"type":"Action.ToggleVisibility","title":"More","targetElements":["a"]},
                    {"type":"Action.OpenUrl","title":"Bad","url":"javascript:x"},
                    {"type":"Action.ShowCard","title":"Comment","card":{"type":"AdaptiveCard","body":[
                        {"type":"TextBlock","text":"Tell us more","weight":"bolder"},
                        {"type":"Input.Text","id":"comment","placeholder":"Your comment"}
                    ],"actions":[
                        {"type":"Action.Submit","title":"Send"},
                        {"type":"Action.OpenUrl","title":"Policy","url":"https://a.example/p"}
                    ]}}
                ]
            }),
        );
        assert_eq!(c.title, "Title");
        assert_eq!(c.image.as_deref(), Some("https://a.example/1.png"));
        assert_eq!(c.default_url.as_deref(), Some("https://a.example/o"));
        assert_eq!(labels(&c), ["Docs", "Submit", "Run"]);
        assert_eq!(
            c.description.as_deref(),
            Some(
                "From fallback\nTell us more\nPolicy: https://a.example/p\nPlease reply with: Your comment"
            )
        );
        assert_eq!(
            c.buttons[2].target,
            Target::Offer {
                slug_source: "Run".into(),
                action: OfferedAction::Submit {
                    data: Some(json!({"y":2})),
                    choice: None
                }
            }
        );
    }

    #[test]
    fn one_choice_set_and_one_submit_become_quick_replies() {
        let profile = BotProfile::default();
        let content = json!({"body":[
            {"type":"TextBlock","text":"Pick a size","weight":"Bolder"},
            {"type":"Input.ChoiceSet","id":"size","label":"Size","choices":[
                {"title":"Small","value":"S"},{"title":"Large","value":"L"},{"title":"","value":"X"}
            ]}
        ],"actions":[
            {"type":"Action.Submit","title":"OK","data":{"action":"size"}},
            {"type":"Action.OpenUrl","title":"Size guide","url":"https://a.example/g"}
        ]});
        let AdaptiveDraft::Other(Draft::Choices {
            prompt,
            options,
            links,
            text,
        }) = adaptive_draft(&profile, &content)
        else {
            panic!("not quick replies");
        };
        assert_eq!(prompt, "Pick a size\nSize");
        assert_eq!(links, ["Size guide: https://a.example/g"]);
        assert_eq!(text, None);
        let got: Vec<(&str, &Target)> = options
            .iter()
            .map(|o| (o.label.as_str(), &o.target))
            .collect();
        let submit = |value: &str| Target::Offer {
            slug_source: value.into(),
            action: OfferedAction::Submit {
                data: Some(json!({"action":"size"})),
                choice: Some(ChoiceSelection {
                    input_id: "size".into(),
                    value: value.into(),
                }),
            },
        };
        assert_eq!(got, [("Small", &submit("S")), ("Large", &submit("L"))]);
    }

    #[test]
    fn other_inputs_ask_for_a_reply() {
        let profile = BotProfile::default();
        for (content, want) in [
            // A second input.
            (
                json!({"body":[
                    {"type":"TextBlock","text":"Book","weight":"Bolder"},
                    {"type":"Input.ChoiceSet","id":"size","label":"Size","choices":[{"title":"S","value":"S"}]},
                    {"type":"Input.Date","id":"when","label":"Date"}
                ],"actions":[{"type":"Action.Submit","title":"Book"}],"fallbackText":"Use the website."}),
                "Please reply with: Size (S), Date\nUse the website.",
            ),
            // Two submits.
            (
                json!({"body":[
                    {"type":"TextBlock","text":"Book","weight":"Bolder"},
                    {"type":"Input.ChoiceSet","id":"size","choices":[{"title":"S","value":"S"}]}
                ],"actions":[{"type":"Action.Submit","title":"A"},{"type":"Action.Submit","title":"B"}]}),
                "Please reply with: size (S)",
            ),
            // Multi-select.
            (
                json!({"body":[
                    {"type":"TextBlock","text":"Book","weight":"Bolder"},
                    {"type":"Input.ChoiceSet","id":"t","isMultiSelect":true,"label":"Toppings","choices":[{"title":"Ham"},{"title":"Egg"}]}
                ],"actions":[{"type":"Action.Submit","title":"A"}]}),
                "Please reply with: Toppings (Ham, Egg)",
            ),
        ] {
            let c = card(&profile, content.clone());
            assert_eq!(c.title, "Book", "{content}");
            assert_eq!(c.description.as_deref(), Some(want), "{content}");
        }
    }

    #[test]
    fn nothing_usable_is_text() {
        let profile = BotProfile::default();
        for (content, want) in [
            (Value::Null, "This content cannot be displayed here."),
            (json!({"body":[]}), "This content cannot be displayed here."),
            (
                json!({"body":[], "fallbackText":"Old client"}),
                "Old client",
            ),
            (json!({"body":[], "speak":"Say this"}), "Say this"),
            (
                json!({"body":[], "speak":"<speak>ssml</speak>"}),
                "This content cannot be displayed here.",
            ),
            (
                json!({"body":[{"type":"Image","url":"blob:x"}],"actions":[{"type":"Action.ToggleVisibility"}]}),
                "This content cannot be displayed here.",
            ),
        ] {
            assert_eq!(
                adaptive_draft(&profile, &content),
                AdaptiveDraft::Other(Draft::Text(want.into())),
                "{content}"
            );
        }
        let custom = BotProfile {
            unsupported_content_text: "Not here.".into(),
            ..BotProfile::default()
        };
        assert_eq!(
            adaptive_draft(&custom, &json!(3)),
            AdaptiveDraft::Other(Draft::Text("Not here.".into()))
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = (0..120).fold(
            json!({"type":"TextBlock","text":"leaf"}),
            |acc, _| json!({"type":"Container","items":[acc]}),
        );
        let content = json!({"body":[{"type":"TextBlock","text":"Top"}, deep]});
        // Deeper than the walk goes, as deep as serde_json parses (its limit is 128 levels).
        let c = card(&BotProfile::default(), content);
        assert_eq!(c.title, "Top");
    }
}
