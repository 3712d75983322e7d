//! Wire types of the Genesys Cloud Bot Connector (v1 "Handle Utterance") and Digital Bot Connector.
//!
//! Serde structs only, mirroring `spec/genesys-bot-connector.md`: the turn request Genesys sends,
//! the response gcbridge answers, and the bot lists (v1 push shape and DBC pull shape).
//! Parsing is lenient (optional fields, unknown fields ignored, upper-case enum spellings and the
//! old `replymessages`/`slotValues` names accepted); output is strict (canonical names, exact enum
//! spellings, no `null`s, every parameter value a string).
//!
//! It must not depend on any other gcbridge crate.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/// Body of `POST /genesys/v1/utterance` and `POST /genesys/dbc/messages`.
///
/// Every field is optional at this level: which ones are required is decided afterwards by the
/// caller, so a missing field gives a clear `InvalidRequest` instead of a serde message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_session_id: Option<String>,
    /// DBC only: Genesys' id of this inbound message (the idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_message: Option<InputMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Minutes. Accepted as a number or a numeric string.
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub bot_session_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesys_conversation_id: Option<String>,
    /// Input session variables. Any JSON value is accepted and turned into a string.
    #[serde(
        default,
        deserialize_with = "lenient_parameters",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_bot: Option<ChatBot>,
}

/// Echo of the bot-list entry that v1 sends (`chatBot`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatBot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The customer's turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    /// `Text`, `Structured`, or a Platform-model value (`Receipt`, `Event`, ...). Kept as text.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<InputContent>>,
}

/// One item of `inputMessage.content`: a `contentType` discriminator and the sibling object
/// named after it. Unknown content types are kept raw in `extra`, never rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputContent {
    #[serde(default)]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_response: Option<ButtonResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<InputAttachment>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A click on a quick reply or a card button.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ButtonResponse {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originating_message_id: Option<String>,
}

/// A file the customer sent (observed on DBC derivatives).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputAttachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// ---------------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------------

/// The session state a turn answer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BotState {
    MoreData,
    Complete,
    Failed,
}

impl BotState {
    /// The exact wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BotState::MoreData => "MoreData",
            BotState::Complete => "Complete",
            BotState::Failed => "Failed",
        }
    }
}

impl fmt::Display for BotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BotState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BotState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.to_ascii_lowercase().as_str() {
            "moredata" => Ok(BotState::MoreData),
            "complete" => Ok(BotState::Complete),
            "failed" => Ok(BotState::Failed),
            _ => Err(de::Error::unknown_variant(
                &raw,
                &["MoreData", "Complete", "Failed"],
            )),
        }
    }
}

/// The answer to one turn (the `/utterance` and `/messages` response body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnResponse {
    pub bot_state: BotState,
    #[serde(default, alias = "replymessages")]
    pub reply_messages: Vec<ReplyMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityValue>,
    /// Output session variables; flat, strings only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<ErrorInfo>,
    /// The blueprint's old slot map, read (never written) so old replies still parse.
    #[serde(default, rename = "slotValues", skip_serializing)]
    pub legacy_slot_values: Option<Value>,
}

impl TurnResponse {
    /// A `MoreData` answer with these messages.
    pub fn more_data(reply_messages: Vec<ReplyMessage>) -> Self {
        Self::new(BotState::MoreData, reply_messages)
    }

    /// An answer of any state, no intent, no slots.
    pub fn new(bot_state: BotState, reply_messages: Vec<ReplyMessage>) -> Self {
        Self {
            bot_state,
            reply_messages,
            intent: None,
            confidence: None,
            entities: Vec::new(),
            parameters: BTreeMap::new(),
            error_info: None,
            legacy_slot_values: None,
        }
    }

    /// A `Failed` answer with an error code and sentence.
    pub fn failed(error_code: &str, error_message: &str) -> Self {
        Self {
            error_info: Some(ErrorInfo {
                error_code: error_code.to_owned(),
                error_message: error_message.to_owned(),
            }),
            ..Self::new(BotState::Failed, Vec::new())
        }
    }
}

/// `errorInfo` of a `Failed` answer. Both fields are required when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    #[serde(alias = "code")]
    pub error_code: String,
    #[serde(alias = "message")]
    pub error_message: String,
}

/// One slot value of the returned intent. Every element is a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityValue {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// `Text` or `Structured`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Text,
    Structured,
}

impl Serialize for ReplyKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            ReplyKind::Text => "Text",
            ReplyKind::Structured => "Structured",
        })
    }
}

impl<'de> Deserialize<'de> for ReplyKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.to_ascii_lowercase().as_str() {
            "text" => Ok(ReplyKind::Text),
            "structured" => Ok(ReplyKind::Structured),
            _ => Err(de::Error::unknown_variant(&raw, &["Text", "Structured"])),
        }
    }
}

/// One message for the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyMessage {
    #[serde(rename = "type")]
    pub kind: ReplyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ReplyContent>,
}

impl ReplyMessage {
    /// A plain `Text` message.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: ReplyKind::Text,
            text: Some(text.into()),
            content: Vec::new(),
        }
    }

    /// A `Structured` message; `fallback` is the readable text every structured message carries.
    pub fn structured(fallback: impl Into<String>, content: Vec<ReplyContent>) -> Self {
        Self {
            kind: ReplyKind::Structured,
            text: Some(fallback.into()),
            content,
        }
    }
}

/// One content item of a reply: the `contentType` discriminator plus the sibling object named
/// after it (`{"contentType": "Card", "card": {...}}`).
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyContent {
    QuickReply(QuickReply),
    Card(Card),
    Carousel(Carousel),
    Attachment(ReplyAttachment),
}

impl Serialize for ReplyContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match self {
            ReplyContent::QuickReply(v) => {
                map.serialize_entry("contentType", "QuickReply")?;
                map.serialize_entry("quickReply", v)?;
            }
            ReplyContent::Card(v) => {
                map.serialize_entry("contentType", "Card")?;
                map.serialize_entry("card", v)?;
            }
            ReplyContent::Carousel(v) => {
                map.serialize_entry("contentType", "Carousel")?;
                map.serialize_entry("carousel", v)?;
            }
            ReplyContent::Attachment(v) => {
                map.serialize_entry("contentType", "Attachment")?;
                map.serialize_entry("attachment", v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ReplyContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            content_type: String,
            quick_reply: Option<QuickReply>,
            card: Option<Card>,
            carousel: Option<Carousel>,
            attachment: Option<ReplyAttachment>,
        }
        let raw = Raw::deserialize(d)?;
        let missing = |field: &'static str| de::Error::missing_field(field);
        match raw.content_type.to_ascii_lowercase().as_str() {
            "quickreply" => raw
                .quick_reply
                .map(ReplyContent::QuickReply)
                .ok_or_else(|| missing("quickReply")),
            "card" => raw
                .card
                .map(ReplyContent::Card)
                .ok_or_else(|| missing("card")),
            "carousel" => raw
                .carousel
                .map(ReplyContent::Carousel)
                .ok_or_else(|| missing("carousel")),
            "attachment" => raw
                .attachment
                .map(ReplyContent::Attachment)
                .ok_or_else(|| missing("attachment")),
            _ => Err(de::Error::unknown_variant(
                &raw.content_type,
                &["QuickReply", "Card", "Carousel", "Attachment"],
            )),
        }
    }
}

/// A quick-reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    pub text: String,
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A rich card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<CardAction>,
    #[serde(default)]
    pub actions: Vec<CardAction>,
}

/// A card button or default action: `Link` (with `url`) or `Postback` (with `payload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAction {
    #[serde(rename = "type")]
    pub kind: CardActionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Kinds of card actions Genesys renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardActionKind {
    Link,
    Postback,
}

/// A horizontal list of cards (at most 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carousel {
    pub cards: Vec<Card>,
}

/// A file or media item sent to the customer (only when the integration allows attachments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyAttachment {
    pub id: String,
    pub media_type: String,
    pub url: String,
    pub filename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_size_bytes: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Bot lists
// ---------------------------------------------------------------------------------------------

/// v1 bot list, pushed with `PUT /api/v2/integrations/botconnector/{integrationId}/bots`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotList {
    pub chat_bots: Vec<BotListBot>,
}

/// One bot of the v1 list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotListBot {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub versions: Vec<BotListVersion>,
}

/// One version of a v1 bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotListVersion {
    pub version: String,
    pub supported_languages: Vec<String>,
    pub intents: Vec<BotListIntent>,
}

/// A v1 intent: slots are a map whose key equals the slot's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotListIntent {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<BTreeMap<String, SlotDecl>>,
}

/// A declared slot or entity: name and Genesys type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// DBC `GET /bots` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbcBotList {
    pub entities: Vec<DbcBot>,
}

/// One DBC bot (also the `GET /bots/{botId}` body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbcBot {
    pub id: String,
    pub name: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub versions: Vec<DbcBotVersion>,
}

/// One version of a DBC bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbcBotVersion {
    pub version: String,
    pub supported_languages: Vec<String>,
    pub intents: Vec<DbcIntent>,
}

/// A DBC intent: entities are an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbcIntent {
    pub name: String,
    /// Always emitted, possibly empty.
    #[serde(default)]
    pub entities: Vec<SlotDecl>,
}

// ---------------------------------------------------------------------------------------------
// Lenient field parsers
// ---------------------------------------------------------------------------------------------

/// Turns any JSON value into the string Genesys expects for parameters and slot values:
/// strings as is, booleans and numbers as JSON text, `null` as `""`, arrays and objects as
/// compact JSON text.
pub fn stringify_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| de::Error::custom("expected a non-negative number")),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| de::Error::custom("expected a number")),
        _ => Err(de::Error::custom("expected a number")),
    }
}

fn lenient_parameters<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(
            map.iter()
                .map(|(k, v)| (k.clone(), stringify_value(v)))
                .collect(),
        )),
        _ => Err(de::Error::custom("parameters must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_state_reads_any_case_and_writes_canonical() {
        let r: TurnResponse = serde_json::from_str(
            r#"{"botState":"MOREDATA","replymessages":[{"type":"text","text":"hi"}]}"#,
        )
        .expect("parse");
        assert_eq!(r.bot_state, BotState::MoreData);
        assert_eq!(r.reply_messages, vec![ReplyMessage::text("hi")]);
        let out = serde_json::to_value(&r).expect("serialise");
        assert_eq!(
            out,
            serde_json::json!({"botState":"MoreData","replyMessages":[{"type":"Text","text":"hi"}]})
        );
    }

    #[test]
    fn parameters_of_any_type_become_strings() {
        let r: TurnRequest = serde_json::from_str(
            r#"{"parameters":{"a":"x","n":42,"b":true,"z":null,"o":{"k":[1]}},"botSessionTimeout":"60"}"#,
        )
        .expect("parse");
        let p = r.parameters.expect("parameters");
        assert_eq!(p["a"], "x");
        assert_eq!(p["n"], "42");
        assert_eq!(p["b"], "true");
        assert_eq!(p["z"], "");
        assert_eq!(p["o"], r#"{"k":[1]}"#);
        assert_eq!(r.bot_session_timeout, Some(60));
    }

    #[test]
    fn failed_has_error_info_and_empty_replies() {
        let v =
            serde_json::to_value(TurnResponse::failed("UnknownBot", "No such bot.")).expect("ser");
        assert_eq!(
            v,
            serde_json::json!({"botState":"Failed","replyMessages":[],"errorInfo":{"errorCode":"UnknownBot","errorMessage":"No such bot."}})
        );
    }

    #[test]
    fn unknown_input_content_is_kept_not_rejected() {
        let m: InputMessage = serde_json::from_str(
            r#"{"type":"Structured","content":[{"contentType":"Reaction","reaction":{"x":1}}]}"#,
        )
        .expect("parse");
        let item = &m.content.expect("content")[0];
        assert_eq!(item.content_type, "Reaction");
        assert!(item.extra.contains_key("reaction"));
    }
}
