//! Buttons gcbridge offers and what a click on one of them sends to the agent (`mapping.md`
//! §3.2).
//!
//! Every quick reply and card button gcbridge shows carries a payload of its own scheme,
//! `gcb:<kind>:<turn>:<slug>`, instead of the agent's value: Genesys requires `text` + `payload`
//! to be unique across a message, agent values are neither unique nor short, and an Adaptive
//! Card submit has no value at all, only `data`. The translation allocates the payloads with an
//! [`OfferBook`] and returns the [`Offer`]s; the session keeps those of the last few turns; when
//! Genesys reports a click, the planner looks the payload up and posts what a Bot Framework
//! client would have posted for that action ([`OfferedAction::click`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix of every payload gcbridge generates.
pub const PAYLOAD_PREFIX: &str = "gcb:";

/// Most buttons offered in one turn. Real turns offer a few dozen at most (20 messages of 10
/// cards with 3 buttons would be the theoretical worst); the bound keeps a runaway agent from
/// growing the session record without end. Buttons beyond it are shown as text only.
pub const MAX_OFFERS_PER_TURN: usize = 100;

/// Largest stored action (its JSON form), in bytes. An Adaptive Card submit can carry an
/// arbitrary `data` object; anything larger than this is not kept in the session, and its button
/// is shown as text only.
pub const MAX_OFFER_BYTES: usize = 4_096;

/// Most bytes of stored actions (JSON form, payloads included) per turn. With
/// [`crate::session::MAX_OFFERED_TURNS`] turns kept, this bounds what offers add to the session
/// record to about 100 KB, well inside the item size of every store backend (DynamoDB's is
/// 400 KB); a real turn needs a few kilobytes.
pub const MAX_OFFER_BYTES_PER_TURN: usize = 32_768;

/// Longest slug, in characters: long enough to stay recognisable in logs, short enough for any
/// channel's payload field.
const MAX_SLUG_CHARS: usize = 32;

/// Slug used when a value has no ASCII letter or digit at all (`"👍"`, `"是"`).
const EMPTY_SLUG: &str = "option";

/// Which kind of button a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// A quick reply: a suggested action, or a choice of an Adaptive Card choice set.
    QuickReply,
    /// A `Postback` button on a card.
    CardButton,
}

impl PayloadKind {
    /// The payload segment: `qr` or `pb`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::QuickReply => "qr",
            PayloadKind::CardButton => "pb",
        }
    }
}

/// `gcb:<kind>:<turn>:<slug>`.
pub fn payload(kind: PayloadKind, turn: u64, slug: &str) -> String {
    format!("{PAYLOAD_PREFIX}{}:{turn}:{slug}", kind.as_str())
}

/// The parts of a gcbridge payload, or `None` when `payload` does not follow the scheme (an
/// agent-written payload, or one from another tool).
pub fn parse_payload(payload: &str) -> Option<(PayloadKind, u64, &str)> {
    let rest = payload.strip_prefix(PAYLOAD_PREFIX)?;
    let mut parts = rest.splitn(3, ':');
    let kind = match parts.next()? {
        "qr" => PayloadKind::QuickReply,
        "pb" => PayloadKind::CardButton,
        _ => return None,
    };
    let turn = parts.next()?.parse().ok()?;
    let slug = parts.next().filter(|s| !s.is_empty())?;
    Some((kind, turn, slug))
}

/// A short, readable form of a button's value: ASCII letters and digits lower-cased, every other
/// run of characters one `-`, at most 32 characters (cut at a `-` when one is
/// near). `"Buy backpack-40"` → `buy-backpack-40`. Values without any ASCII letter or digit give
/// `option`; uniqueness is the [`OfferBook`]'s job.
pub fn slug(value: &str) -> String {
    let mut out = String::new();
    let mut pending_dash = false;
    let mut cut_short = false;
    for c in value.chars() {
        if !c.is_ascii_alphanumeric() {
            pending_dash = true;
            continue;
        }
        if out.len() >= MAX_SLUG_CHARS {
            cut_short = true;
            break;
        }
        if pending_dash && !out.is_empty() {
            out.push('-');
        }
        pending_dash = false;
        out.push(c.to_ascii_lowercase());
    }
    // All characters pushed are ASCII, so byte lengths are character counts.
    if cut_short || out.len() > MAX_SLUG_CHARS {
        out.truncate(MAX_SLUG_CHARS);
        // Prefer ending at a word boundary when one is in the second half.
        if let Some(cut) = out.rfind('-').filter(|&i| i >= MAX_SLUG_CHARS / 2) {
            out.truncate(cut);
        }
    }
    if out.is_empty() {
        EMPTY_SLUG.to_owned()
    } else {
        out
    }
}

/// The choice of an Adaptive Card `Input.ChoiceSet` that a quick reply stands for: a click
/// submits the card's `data` with `input_id` set to `value`, as a card client would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceSelection {
    /// The choice set's `id`: the key the chosen value is submitted under.
    pub input_id: String,
    /// The chosen `choices[].value`.
    pub value: String,
}

/// What a button gcbridge offered does when clicked: the Bot Framework action it stands for,
/// reduced to what has to be posted. Stored in the session (`offered_actions`), so the serde
/// form is part of the record schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OfferedAction {
    /// `imBack`: the customer visibly "says" `value`.
    #[serde(rename = "imBack")]
    ImBack {
        /// The text posted.
        value: String,
    },
    /// `postBack`: a hidden message; a string value is posted as `text`, anything else as
    /// `value`.
    #[serde(rename = "postBack")]
    PostBack {
        /// The action's value.
        value: Value,
    },
    /// `messageBack`: `text` and `value` are posted as they are; `displayText` is what a Bot
    /// Framework client would have shown.
    #[serde(rename = "messageBack")]
    MessageBack {
        /// Posted as the message text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Posted as the message value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        /// The text a Bot Framework client shows instead of `text`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_text: Option<String>,
    },
    /// An Adaptive Card `Action.Submit` or `Action.Execute`: `data` is posted as `value`,
    /// merged with the chosen value when the button stands for a choice of a choice set.
    #[serde(rename = "submit")]
    Submit {
        /// The action's `data`, if it had any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        /// The choice this quick reply stands for, when the card's choice set became quick
        /// replies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<ChoiceSelection>,
    },
}

/// What a click posts to the agent: the fields of the customer's `message` activity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClickMessage {
    /// `text` of the message, when the action sends text.
    pub text: Option<String>,
    /// `value` of the message, when the action sends data.
    pub value: Option<Value>,
    /// Entries to add to `channelData`: the markers Bot Framework Web Chat puts on hidden
    /// messages (`postBack: true`) and on `messageBack` (`messageBack.displayText`), so the
    /// agent sees the same activity it would get from Web Chat.
    pub channel_data: Map<String, Value>,
}

impl OfferedAction {
    /// What a click on this action posts, following Bot Framework Web Chat: `imBack` as text,
    /// `postBack` as text (string values) or value (anything else) marked as a postback,
    /// `messageBack` as text + value, a card submit as value only.
    pub fn click(&self) -> ClickMessage {
        let mut message = ClickMessage::default();
        match self {
            OfferedAction::ImBack { value } => message.text = Some(value.clone()),
            OfferedAction::PostBack { value } => {
                match value {
                    Value::String(s) => message.text = Some(s.clone()),
                    other => message.value = Some(other.clone()),
                }
                message
                    .channel_data
                    .insert("postBack".to_owned(), Value::Bool(true));
            }
            OfferedAction::MessageBack {
                text,
                value,
                display_text,
            } => {
                message.text = text.clone();
                message.value = value.clone();
                if let Some(display) = display_text {
                    let mut inner = Map::new();
                    inner.insert("displayText".to_owned(), Value::String(display.clone()));
                    message
                        .channel_data
                        .insert("messageBack".to_owned(), Value::Object(inner));
                }
            }
            OfferedAction::Submit { data, choice } => {
                submit_message(data.as_ref(), choice.as_ref(), &mut message);
                message
                    .channel_data
                    .insert("postBack".to_owned(), Value::Bool(true));
            }
        }
        message
    }
}

/// An Adaptive Card submit: object (or absent) data is the value, with the chosen value merged
/// in; string data is sent as text, the way Web Chat sends it (as an `imBack`).
fn submit_message(data: Option<&Value>, choice: Option<&ChoiceSelection>, out: &mut ClickMessage) {
    let mut object = match data {
        Some(Value::Object(map)) => map.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(s)) => {
            out.text = Some(s.clone());
            Map::new()
        }
        Some(other) => {
            // Numbers, booleans and arrays cannot take the choice; send them as they are.
            if choice.is_none() {
                out.value = Some(other.clone());
                return;
            }
            Map::new()
        }
    };
    if let Some(choice) = choice {
        object.insert(choice.input_id.clone(), Value::String(choice.value.clone()));
    }
    if out.text.is_none() || !object.is_empty() {
        out.value = Some(Value::Object(object));
    }
}

/// One button offered this turn: its payload and what a click does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The payload put on the button (`gcb:…`).
    pub payload: String,
    /// What a click on it posts.
    pub action: OfferedAction,
}

/// Allocates the payloads of one turn: a slug per button, unique within the turn (`-2`, `-3`
/// suffixes resolve clashes), and collects the offers in the order they were made.
#[derive(Debug, Clone)]
pub struct OfferBook {
    turn: u64,
    /// Bytes of the offers made so far (see [`MAX_OFFER_BYTES_PER_TURN`]).
    bytes: usize,
    slugs: HashSet<String>,
    offers: Vec<Offer>,
}

impl OfferBook {
    /// An empty book for turn `turn` (the session's turn counter).
    pub fn new(turn: u64) -> Self {
        Self {
            turn,
            bytes: 0,
            slugs: HashSet::new(),
            offers: Vec::new(),
        }
    }

    /// Offers a button: returns its payload, or `None` when the turn already offers
    /// [`MAX_OFFERS_PER_TURN`] buttons, the action is too large to keep ([`MAX_OFFER_BYTES`]) or
    /// the turn's offers would exceed [`MAX_OFFER_BYTES_PER_TURN`]; the caller then shows the
    /// button as text only.
    /// `value` is what the slug is made from (the action's value, or its label).
    pub fn offer(
        &mut self,
        kind: PayloadKind,
        value: &str,
        action: OfferedAction,
    ) -> Option<String> {
        if self.offers.len() >= MAX_OFFERS_PER_TURN {
            return None;
        }
        let size = serde_json::to_vec(&action).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_OFFER_BYTES {
            return None;
        }
        // The payload is stored too, as the action's key: at most the prefix, the kind, a
        // 20-digit turn and a suffixed slug, so 64 bytes is a safe upper bound.
        let cost = size.saturating_add(64);
        if self.bytes.saturating_add(cost) > MAX_OFFER_BYTES_PER_TURN {
            return None;
        }
        self.bytes += cost;
        let base = slug(value);
        let mut unique = base.clone();
        let mut n = 1;
        while self.slugs.contains(&unique) {
            n += 1;
            unique = format!("{base}-{n}");
        }
        self.slugs.insert(unique.clone());
        let payload = payload(kind, self.turn, &unique);
        self.offers.push(Offer {
            payload: payload.clone(),
            action,
        });
        Some(payload)
    }

    /// The offers made, in order.
    pub fn into_offers(self) -> Vec<Offer> {
        self.offers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slug_table() {
        for (input, want) in [
            ("Home delivery", "home-delivery"),
            ("buy backpack-40", "buy-backpack-40"),
            ("  Pick up in store!  ", "pick-up-in-store"),
            ("Café crème", "caf-cr-me"),
            ("👍", "option"),
            ("", "option"),
            ("---", "option"),
            ("A_B__C", "a-b-c"),
            (
                "one two three four five six seven eight",
                "one-two-three-four-five-six",
            ),
            (
                "abcdefghijklmnopqrstuvwxyz0123456789",
                "abcdefghijklmnopqrstuvwxyz012345",
            ),
        ] {
            let got = slug(input);
            assert_eq!(got, want, "{input:?}");
            assert!(got.len() <= MAX_SLUG_CHARS);
        }
    }

    #[test]
    fn payloads_are_unique_within_a_turn_and_parse_back() {
        let mut book = OfferBook::new(7);
        let yes = || OfferedAction::ImBack {
            value: "Yes".into(),
        };
        let a = book.offer(PayloadKind::QuickReply, "Yes", yes());
        let b = book.offer(PayloadKind::CardButton, "yes", yes());
        let c = book.offer(PayloadKind::QuickReply, "YES!", yes());
        assert_eq!(a.as_deref(), Some("gcb:qr:7:yes"));
        assert_eq!(b.as_deref(), Some("gcb:pb:7:yes-2"));
        assert_eq!(c.as_deref(), Some("gcb:qr:7:yes-3"));
        // A value whose slug looks like a suffixed one still gets a fresh slug.
        let d = book.offer(PayloadKind::QuickReply, "yes 2", yes());
        assert_eq!(d.as_deref(), Some("gcb:qr:7:yes-2-2"));
        assert_eq!(
            parse_payload("gcb:pb:7:yes-2"),
            Some((PayloadKind::CardButton, 7, "yes-2"))
        );
        for foreign in ["", "gcb:", "gcb:xx:1:a", "gcb:qr:one:a", "gcb:qr:1:", "buy"] {
            assert_eq!(parse_payload(foreign), None, "{foreign:?}");
        }
        assert_eq!(book.into_offers().len(), 4);
    }

    #[test]
    fn the_book_is_bounded() {
        let mut book = OfferBook::new(1);
        for i in 0..MAX_OFFERS_PER_TURN {
            assert!(
                book.offer(
                    PayloadKind::QuickReply,
                    "same",
                    OfferedAction::ImBack {
                        value: i.to_string()
                    }
                )
                .is_some()
            );
        }
        let one_more = OfferedAction::ImBack { value: "x".into() };
        assert_eq!(book.offer(PayloadKind::QuickReply, "x", one_more), None);
        let mut book = OfferBook::new(1);
        let huge = OfferedAction::Submit {
            data: Some(json!({"blob": "x".repeat(MAX_OFFER_BYTES)})),
            choice: None,
        };
        assert_eq!(book.offer(PayloadKind::CardButton, "Send", huge), None);
        // Large but allowed actions stop at the turn's byte budget.
        let large = || OfferedAction::Submit {
            data: Some(json!({"blob": "x".repeat(MAX_OFFER_BYTES - 200)})),
            choice: None,
        };
        let accepted = (0..20)
            .filter(|_| {
                book.offer(PayloadKind::CardButton, "Send", large())
                    .is_some()
            })
            .count();
        assert_eq!(accepted, MAX_OFFER_BYTES_PER_TURN / MAX_OFFER_BYTES);
        // A small one still fits after a refused large one.
        let small = OfferedAction::ImBack { value: "x".into() };
        assert!(book.offer(PayloadKind::QuickReply, "x", small).is_some());
    }

    #[test]
    fn click_table() {
        let choice = Some(ChoiceSelection {
            input_id: "size".into(),
            value: "L".into(),
        });
        for (action, text, value, channel_data) in [
            (
                OfferedAction::ImBack {
                    value: "Home delivery".into(),
                },
                Some("Home delivery"),
                None,
                json!({}),
            ),
            (
                OfferedAction::PostBack {
                    value: json!("plan-basic"),
                },
                Some("plan-basic"),
                None,
                json!({"postBack": true}),
            ),
            (
                OfferedAction::PostBack {
                    value: json!({"plan": "basic"}),
                },
                None,
                Some(json!({"plan": "basic"})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::MessageBack {
                    text: Some("L".into()),
                    value: Some(json!({"size": "L"})),
                    display_text: Some("Large".into()),
                },
                Some("L"),
                Some(json!({"size": "L"})),
                json!({"messageBack": {"displayText": "Large"}}),
            ),
            (
                OfferedAction::Submit {
                    data: Some(json!({"action": "track", "order": "12345"})),
                    choice: None,
                },
                None,
                Some(json!({"action": "track", "order": "12345"})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: Some(json!({"action": "order", "size": "S"})),
                    choice: choice.clone(),
                },
                None,
                Some(json!({"action": "order", "size": "L"})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: None,
                    choice: choice.clone(),
                },
                None,
                Some(json!({"size": "L"})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: None,
                    choice: None,
                },
                None,
                Some(json!({})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: Some(json!("track order")),
                    choice: None,
                },
                Some("track order"),
                None,
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: Some(json!("pick")),
                    choice: choice.clone(),
                },
                Some("pick"),
                Some(json!({"size": "L"})),
                json!({"postBack": true}),
            ),
            (
                OfferedAction::Submit {
                    data: Some(json!([1, 2])),
                    choice: None,
                },
                None,
                Some(json!([1, 2])),
                json!({"postBack": true}),
            ),
        ] {
            let click = action.click();
            assert_eq!(click.text.as_deref(), text, "{action:?}");
            assert_eq!(click.value, value, "{action:?}");
            assert_eq!(
                Value::Object(click.channel_data),
                channel_data,
                "{action:?}"
            );
            // The stored form survives a round trip.
            let stored = serde_json::to_value(&action).expect("serialise");
            let back: OfferedAction = serde_json::from_value(stored).expect("deserialise");
            assert_eq!(back, action);
        }
    }
}
