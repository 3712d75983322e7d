//! Validation of a Genesys turn request (`genesys-bot-connector.md` §3, §10).
//!
//! Parse, don't validate: [`Turn::from_request`] is the only way to get a [`Turn`], and a `Turn`
//! always has a bot session id, a bot reference and an input. Everything else is optional.

use std::collections::BTreeMap;

use gcbridge_genesys::{InputContent, InputMessage, TurnRequest};
use sha2::{Digest, Sha256};

use crate::errors::ErrorCode;

/// Longest accepted id (bot session, message, bot): Genesys ids are UUIDs or short names.
pub const MAX_ID_LEN: usize = 256;

/// Default `botSessionTimeout` (minutes) when Genesys sends none: the value of every v1 capture.
pub const DEFAULT_SESSION_TIMEOUT_MINUTES: u64 = 4_320;

/// A checked Genesys `botSessionId`: the session key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BotSessionId(String);

impl BotSessionId {
    /// Accepts a non-empty id of at most [`MAX_ID_LEN`] bytes without control characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw.trim();
        (!id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control))
            .then(|| Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BotSessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the customer said this turn, before it is resolved against offered actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Typed text (or the text of a message type gcbridge treats as text).
    Text(String),
    /// A click on a button or quick reply.
    Button {
        text: Option<String>,
        payload: String,
    },
    /// Files the customer sent, with an optional caption.
    Attachments {
        text: Option<String>,
        files: Vec<CustomerFile>,
    },
    /// Nothing usable (empty text, unknown content).
    Nothing,
}

/// A file sent by the customer, forwarded by URL and never fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFile {
    pub url: String,
    pub mime: Option<String>,
    pub filename: Option<String>,
}

/// Which routing names the request carries, in the order they are tried (`mapping.md` §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRef {
    pub chat_bot_id: Option<String>,
    pub bot_id: Option<String>,
    pub bot_version: Option<String>,
}

/// A validated turn request.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub bot: BotRef,
    pub bot_session_id: BotSessionId,
    /// DBC only.
    pub message_id: Option<String>,
    pub input: Input,
    pub language_code: Option<String>,
    pub session_timeout_minutes: u64,
    pub genesys_conversation_id: Option<String>,
    /// Input session variables (empty when none were sent).
    pub parameters: BTreeMap<String, String>,
    /// Idempotency key: `messageId` when present, else a digest of the input message.
    pub request_key: String,
}

impl Turn {
    /// Checks the required fields; a failure is the `InvalidRequest` code.
    pub fn from_request(req: TurnRequest) -> Result<Self, ErrorCode> {
        let bot_session_id = req
            .bot_session_id
            .as_deref()
            .and_then(BotSessionId::parse)
            .ok_or(ErrorCode::InvalidRequest)?;
        let clean = |s: Option<String>| {
            s.map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= MAX_ID_LEN)
        };
        let bot = BotRef {
            chat_bot_id: clean(req.chat_bot.and_then(|c| c.id)),
            bot_id: clean(req.bot_id),
            bot_version: clean(req.bot_version),
        };
        if bot.chat_bot_id.is_none() && bot.bot_id.is_none() {
            return Err(ErrorCode::InvalidRequest);
        }
        let message = req.input_message.ok_or(ErrorCode::InvalidRequest)?;
        let message_id = clean(req.message_id);
        let request_key = match &message_id {
            Some(id) => format!("msg:{id}"),
            None => input_digest(&message),
        };
        Ok(Self {
            bot,
            bot_session_id,
            message_id,
            input: input_of(message),
            language_code: clean(req.language_code),
            session_timeout_minutes: req
                .bot_session_timeout
                .filter(|m| *m > 0)
                .unwrap_or(DEFAULT_SESSION_TIMEOUT_MINUTES),
            genesys_conversation_id: clean(req.genesys_conversation_id),
            parameters: req.parameters.unwrap_or_default(),
            request_key,
        })
    }
}

/// `sha256:` + hex digest of the canonical JSON of the input message (v1 has no `messageId`).
fn input_digest(message: &InputMessage) -> String {
    let canonical = serde_json::to_vec(message).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
}

/// A `ButtonResponse` wins over text; files come with their caption; empty text is nothing.
fn input_of(message: InputMessage) -> Input {
    let text = message
        .text
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_owned());
    let content: Vec<InputContent> = message.content.unwrap_or_default();
    let button = content.iter().find_map(|c| {
        let b = c.button_response.as_ref()?;
        let payload = b.payload.clone().filter(|p| !p.is_empty());
        let label = b.text.clone().filter(|t| !t.is_empty());
        match (payload, label) {
            (Some(payload), label) => Some(Input::Button {
                text: label,
                payload,
            }),
            (None, Some(label)) => Some(Input::Text(label)),
            (None, None) => None,
        }
    });
    if let Some(button) = button {
        return button;
    }
    let files: Vec<CustomerFile> = content
        .iter()
        .filter_map(|c| c.attachment.as_ref())
        .filter_map(|a| {
            Some(CustomerFile {
                url: a.url.clone().filter(|u| !u.is_empty())?,
                mime: a.mime.clone(),
                filename: a.filename.clone(),
            })
        })
        .collect();
    if !files.is_empty() {
        return Input::Attachments { text, files };
    }
    match text {
        Some(t) => Input::Text(t),
        None => Input::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(v: serde_json::Value) -> Result<Turn, ErrorCode> {
        Turn::from_request(serde_json::from_value(v).expect("wire parse"))
    }

    #[test]
    fn fixture_text_request() {
        let t = turn(
            serde_json::from_str(include_str!(
                "../../../fixtures/genesys-v1-request-text.json"
            ))
            .expect("json"),
        )
        .expect("valid");
        assert_eq!(t.bot.chat_bot_id.as_deref(), Some("contoso-support"));
        assert_eq!(t.bot.bot_id.as_deref(), Some("Contoso Support"));
        assert_eq!(t.input, Input::Text("Do you sell travel backpacks?".into()));
        assert_eq!(t.session_timeout_minutes, 4320);
        assert_eq!(t.parameters["CustomerTier"], "gold");
        assert!(t.request_key.starts_with("sha256:"));
    }

    #[test]
    fn fixture_button_and_dbc_requests() {
        let b = turn(
            serde_json::from_str(include_str!(
                "../../../fixtures/genesys-v1-request-button-response.json"
            ))
            .expect("json"),
        )
        .expect("valid");
        assert_eq!(
            b.input,
            Input::Button {
                text: Some("Home delivery".into()),
                payload: "gcb:qr:1:home-delivery".into()
            }
        );
        let d = turn(
            serde_json::from_str(include_str!(
                "../../../fixtures/genesys-dbc-messages-request.json"
            ))
            .expect("json"),
        )
        .expect("valid");
        assert_eq!(
            d.request_key,
            "msg:00000000-0000-4000-a000-00000000e001".to_owned()
        );
    }

    #[test]
    fn missing_required_fields_are_invalid() {
        let base =
            json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":"hi"}});
        assert!(turn(base.clone()).is_ok());
        for field in ["botSessionId", "inputMessage", "botId"] {
            let mut v = base.clone();
            v.as_object_mut().expect("object").remove(field);
            assert_eq!(turn(v).err(), Some(ErrorCode::InvalidRequest), "{field}");
        }
        let mut blank = base.clone();
        blank["botSessionId"] = json!("   ");
        assert_eq!(turn(blank).err(), Some(ErrorCode::InvalidRequest));
        let mut long = base;
        long["botSessionId"] = json!("x".repeat(MAX_ID_LEN + 1));
        assert_eq!(turn(long).err(), Some(ErrorCode::InvalidRequest));
    }

    #[test]
    fn inputs() {
        let cases = [
            (json!({"type":"Text","text":"  "}), Input::Nothing),
            (json!({"type":"Text"}), Input::Nothing),
            (
                json!({"type":"Event","text":"hello"}),
                Input::Text("hello".into()),
            ),
            (
                json!({"type":"Structured","text":"Yes","content":[{"contentType":"ButtonResponse","buttonResponse":{"type":"QuickReply","text":"Yes","payload":""}}]}),
                Input::Text("Yes".into()),
            ),
            (
                json!({"type":"Structured","content":[{"contentType":"Attachment","attachment":{"mediaType":"Image","url":"https://x.example/a.png","mime":"image/png"}}]}),
                Input::Attachments {
                    text: None,
                    files: vec![CustomerFile {
                        url: "https://x.example/a.png".into(),
                        mime: Some("image/png".into()),
                        filename: None,
                    }],
                },
            ),
            (
                json!({"type":"Structured","content":[{"contentType":"Unknown"}]}),
                Input::Nothing,
            ),
        ];
        for (message, want) in cases {
            let t = turn(json!({"botId":"b","botSessionId":"s","inputMessage": message}))
                .expect("valid");
            assert_eq!(t.input, want, "{message}");
        }
    }

    #[test]
    fn same_input_same_key_different_input_different_key() {
        let a = turn(
            json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":"hi"}}),
        )
        .expect("valid");
        let b = turn(
            json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":"hi"}}),
        )
        .expect("valid");
        let c = turn(
            json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":"ho"}}),
        )
        .expect("valid");
        assert_eq!(a.request_key, b.request_key);
        assert_ne!(a.request_key, c.request_key);
    }
}
