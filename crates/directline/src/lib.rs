//! Wire types of Bot Framework Direct Line 3.0, exactly as the service and Copilot Studio send them.
//!
//! This crate holds serde structs only: no I/O, no policy. Parsing is lenient (every field optional,
//! unknown fields kept in `extra` so a parse → serialise round trip loses nothing); output is
//! strict (absent fields are omitted, never `null`). Activity classification helpers that every
//! consumer needs (`is_from_bot`, `input_hint`) live here too, because they only read the wire.
//!
//! It must not depend on any other gcbridge crate.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Path prefix of every Direct Line 3.0 REST operation.
pub const API_PREFIX: &str = "/v3/directline";

/// One activity exchanged in a conversation (message, event, typing, endOfConversation, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `message`, `event`, `typing`, `endOfConversation`, ... kept as a string: unknown types are
    /// ignored by consumers, never rejected.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<SuggestedActions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
    /// Object or JSON-encoded string: both are seen in the wild, so it stays raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<Value>,
    /// Every field this type does not name (`speak`, `membersAdded`, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Whether a message hints that the bot waits for the user (`expectingInput`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputHint {
    Accepting,
    Expecting,
    Ignoring,
}

impl Activity {
    /// The activity types gcbridge distinguishes.
    pub const MESSAGE: &'static str = "message";
    pub const EVENT: &'static str = "event";
    pub const TYPING: &'static str = "typing";
    pub const END_OF_CONVERSATION: &'static str = "endOfConversation";

    /// True when the activity was sent by the bot. Decided by `from.role` only: Direct Line may
    /// rewrite `from.id`, so ids are never compared.
    pub fn is_from_bot(&self) -> bool {
        self.from.as_ref().is_some_and(ChannelAccount::is_bot)
    }

    /// The input hint, accepting both the Direct Line (`expectingInput`) and the Activity-spec
    /// (`expecting`) spellings.
    pub fn input_hint(&self) -> Option<InputHint> {
        match self.input_hint.as_deref()? {
            "expectingInput" | "expecting" => Some(InputHint::Expecting),
            "acceptingInput" | "accepting" => Some(InputHint::Accepting),
            "ignoringInput" | "ignoring" => Some(InputHint::Ignoring),
            _ => None,
        }
    }

    /// `channelData` as an object, whether it arrived as an object or as a JSON-encoded string.
    pub fn channel_data_object(&self) -> Option<Map<String, Value>> {
        match self.channel_data.as_ref()? {
            Value::Object(map) => Some(map.clone()),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            },
            _ => None,
        }
    }

    /// `channelData.clientActivityID`, the id gcbridge puts on everything it posts.
    pub fn client_activity_id(&self) -> Option<String> {
        self.channel_data_object()?
            .get("clientActivityID")?
            .as_str()
            .map(str::to_owned)
    }
}

/// `from` / `recipient` of an activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `"bot"` or `"user"`; a number has been observed in transcripts, so any JSON is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChannelAccount {
    /// An account with an id and a role.
    pub fn new(id: impl Into<String>, role: &str) -> Self {
        Self {
            id: Some(id.into()),
            name: None,
            role: Some(Value::String(role.to_owned())),
            extra: Map::new(),
        }
    }

    /// True when `role` is the string `"bot"` (any case).
    pub fn is_bot(&self) -> bool {
        matches!(&self.role, Some(Value::String(r)) if r.eq_ignore_ascii_case("bot"))
    }
}

/// `conversation` of an activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A card, a media file or any other attachment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(default)]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Quick replies offered with a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestedActions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default)]
    pub actions: Vec<CardAction>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A button: `imBack`, `postBack`, `messageBack`, `openUrl`, `call`, ...
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAction {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What polling and the stream return: activities after a watermark, and the new watermark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivitySet {
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Opaque cursor. Never computed or compared; a missing value keeps the previous one.
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub watermark: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Answer of start conversation, reconnect, token generate/refresh and the Copilot Studio token
/// endpoint (all share this shape; absent fields are `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// A credential: never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(
        rename = "expires_in",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_in: Option<u64>,
    /// Contains a token in its query: a credential too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_grammar_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Answer of a posted activity: the id replies will point at in `replyToId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: String,
}

/// Error body of any failed call. Decide by HTTP status, never by `message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub error: ErrorBody,
}

/// Inner part of [`ErrorResponse`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_http_error: Option<Value>,
}

impl ErrorResponse {
    /// An error body with a code and a message.
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            error: ErrorBody {
                code: code.to_owned(),
                message: message.to_owned(),
                inner_http_error: None,
            },
        }
    }
}

/// Accepts a string, a number or null for an opaque string field.
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_decides_bot_not_id() {
        let bot: Activity =
            serde_json::from_str(r#"{"type":"message","from":{"id":"dl_x","role":"bot"}}"#)
                .expect("parse");
        assert!(bot.is_from_bot());
        let numeric: Activity =
            serde_json::from_str(r#"{"type":"message","from":{"id":"bot","role":1}}"#)
                .expect("parse");
        assert!(!numeric.is_from_bot());
    }

    #[test]
    fn channel_data_as_string_or_object() {
        let a: Activity = serde_json::from_str(
            r#"{"type":"event","channelData":"{\"clientActivityID\":\"gcb-1\"}"}"#,
        )
        .expect("parse");
        assert_eq!(a.client_activity_id().as_deref(), Some("gcb-1"));
        let b: Activity =
            serde_json::from_str(r#"{"type":"event","channelData":{"clientActivityID":"gcb-2"}}"#)
                .expect("parse");
        assert_eq!(b.client_activity_id().as_deref(), Some("gcb-2"));
    }

    #[test]
    fn numeric_watermark_is_kept_as_text() {
        let set: ActivitySet =
            serde_json::from_str(r#"{"activities":[],"watermark":7}"#).expect("parse");
        assert_eq!(set.watermark.as_deref(), Some("7"));
        let none: ActivitySet =
            serde_json::from_str(r#"{"activities":[],"watermark":null}"#).expect("parse");
        assert_eq!(none.watermark, None);
    }

    #[test]
    fn input_hint_both_spellings() {
        for (raw, want) in [
            ("expectingInput", Some(InputHint::Expecting)),
            ("expecting", Some(InputHint::Expecting)),
            ("acceptingInput", Some(InputHint::Accepting)),
            ("other", None),
        ] {
            let a = Activity {
                input_hint: Some(raw.to_owned()),
                ..Activity::default()
            };
            assert_eq!(a.input_hint(), want, "{raw}");
        }
    }
}
