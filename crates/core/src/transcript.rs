//! The bot transcript of one Genesys conversation, kept for the agent-side widget
//! (`mapping.md` §5.1): what the customer sent, the replies exactly as Genesys received them and,
//! once the bot lets go, the handoff reason and variables.
//!
//! Pure: the app loads the stored record, calls [`TranscriptRecord::append_turn`] with the
//! turn's input, answer and `now`, and saves it back. Texts are redacted with a [`Redactor`]
//! *before* they enter the record, so a redacted value is never stored. The record is bounded
//! (entry count and encoded size) so it always fits in one store value.

use std::collections::{BTreeMap, VecDeque};

use gcbridge_genesys::{BotState, Card, ReplyContent, ReplyMessage, TurnResponse};
use serde::{Deserialize, Serialize};

use crate::request::Input;

/// Current schema version of [`TranscriptRecord`].
pub const TRANSCRIPT_VERSION: u32 = 1;
/// Most entries kept; older ones are dropped first.
pub const MAX_ENTRIES: usize = 300;
/// Largest encoded record, well under the store's 384 KiB value limit.
pub const MAX_ENCODED_BYTES: usize = 256 * 1024;
/// Longest customer text kept (characters); the rest is cut with an ellipsis.
pub const MAX_TEXT_CHARS: usize = 4_000;

/// What replaces a card number.
pub const CARD_MASK: &str = "[card number]";
/// What replaces an email address.
pub const EMAIL_MASK: &str = "[email]";
/// What replaces a configured literal.
pub const LITERAL_MASK: &str = "[redacted]";

/// Where the conversation is, as far as the bot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TranscriptState {
    /// The customer is still talking to the bot.
    WithBot,
    /// The bot answered `Complete` (a handoff or a normal end).
    Completed,
    /// The bot answered `Failed`.
    Failed,
}

/// Who said something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "camelCase")]
pub enum Said {
    /// The customer's input.
    Customer {
        /// Typed text, or the label of the clicked button.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// True when the input was a click on a button or quick reply.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clicked: bool,
        /// Names of the files sent (never their URLs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
    },
    /// One reply message as Genesys received it (quick replies and cards included).
    Bot {
        /// The Genesys `replyMessages` item.
        message: ReplyMessage,
    },
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Session turn counter of the turn it belongs to.
    pub turn: u64,
    /// When gcbridge answered that turn (ms since the epoch).
    pub at_ms: u64,
    /// Who and what.
    #[serde(flatten)]
    pub said: Said,
}

/// What the bot handed over when it let go of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// `Escalate`, or the configured end intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// `va_AgentMessage`, the reason shown to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_message: Option<String>,
    /// `va_LastTopic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Every output variable (`va_*` slots and handoff variables), redacted.
    pub variables: BTreeMap<String, String>,
    /// When (ms since the epoch).
    pub at_ms: u64,
}

/// The stored transcript of one Genesys conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptRecord {
    /// Schema version.
    pub version: u32,
    /// The Genesys conversation it belongs to.
    pub genesys_conversation_id: String,
    /// The configured bot that answered.
    pub bot_id: String,
    /// The Genesys `languageCode` of the latest turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the conversation is.
    pub state: TranscriptState,
    /// Oldest first.
    pub entries: VecDeque<Entry>,
    /// How many older entries were dropped to keep the record bounded.
    #[serde(default)]
    pub dropped: u64,
    /// Set once the bot answered `Complete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// Last change (ms since the epoch).
    pub updated_at_ms: u64,
}

/// Why a stored transcript could not be read.
#[derive(Debug, thiserror::Error)]
#[error("transcript record: {0}")]
pub struct TranscriptDecodeError(#[from] serde_json::Error);

/// One finished turn, as the transcript sees it.
#[derive(Debug, Clone, Copy)]
pub struct TurnSummary<'a> {
    /// The session's turn counter.
    pub turn: u64,
    /// The Genesys `languageCode`, if sent.
    pub language: Option<&'a str>,
    /// What the customer sent.
    pub input: &'a Input,
    /// What Genesys was answered.
    pub response: &'a TurnResponse,
    /// Now (ms since the epoch).
    pub now_ms: u64,
    /// The agent's current topic (`va_LastTopic` of its handoff context), if it said.
    pub topic: Option<&'a str>,
}

impl TranscriptRecord {
    /// An empty transcript.
    pub fn new(genesys_conversation_id: &str, bot_id: &str, now_ms: u64) -> Self {
        Self {
            version: TRANSCRIPT_VERSION,
            genesys_conversation_id: genesys_conversation_id.to_owned(),
            bot_id: bot_id.to_owned(),
            language: None,
            state: TranscriptState::WithBot,
            entries: VecDeque::new(),
            dropped: 0,
            handoff: None,
            updated_at_ms: now_ms,
        }
    }

    /// Serialises the record.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs and string maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored record.
    pub fn decode(bytes: &[u8]) -> Result<Self, TranscriptDecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Appends one turn: the customer's input (when there was any), every reply message and,
    /// on a final answer, the handoff. Everything is redacted first; then the oldest entries
    /// are dropped until the record is within [`MAX_ENTRIES`] and [`MAX_ENCODED_BYTES`].
    pub fn append_turn(&mut self, turn: TurnSummary<'_>, redactor: &Redactor) {
        if let Some(said) = customer_said(turn.input, redactor) {
            self.entries.push_back(Entry {
                turn: turn.turn,
                at_ms: turn.now_ms,
                said,
            });
        }
        for message in &turn.response.reply_messages {
            let mut message = message.clone();
            redact_message(&mut message, redactor);
            self.entries.push_back(Entry {
                turn: turn.turn,
                at_ms: turn.now_ms,
                said: Said::Bot { message },
            });
        }
        if let Some(language) = turn.language {
            self.language = Some(language.to_owned());
        }
        match turn.response.bot_state {
            BotState::MoreData => {}
            BotState::Complete => {
                self.state = TranscriptState::Completed;
                let mut handoff = handoff_of(turn.response, redactor, turn.now_ms);
                if handoff.topic.is_none() {
                    handoff.topic = turn.topic.map(|t| redactor.redact(t));
                }
                self.handoff = Some(handoff);
            }
            BotState::Failed => self.state = TranscriptState::Failed,
        }
        self.updated_at_ms = turn.now_ms;
        self.bound(MAX_ENTRIES, MAX_ENCODED_BYTES);
    }

    /// Drops the oldest entries until at most `max_entries` remain and the encoded record is at
    /// most `max_bytes` (or no entry is left).
    pub fn bound(&mut self, max_entries: usize, max_bytes: usize) {
        while self.entries.len() > max_entries {
            self.entries.pop_front();
            self.dropped += 1;
        }
        let mut size = self.encode().len();
        while size > max_bytes {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.dropped += 1;
            // An entry's share of the record is its own encoding plus a separating comma.
            let freed = serde_json::to_vec(&oldest)
                .map(|v| v.len() + 1)
                .unwrap_or(1);
            size = size.saturating_sub(freed);
        }
    }
}

/// The customer's side of a turn, redacted; `None` when there was nothing to show.
fn customer_said(input: &Input, redactor: &Redactor) -> Option<Said> {
    let text = |t: &Option<String>| {
        t.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| redactor.redact(&truncate(t, MAX_TEXT_CHARS)))
    };
    match input {
        Input::Text(t) => text(&Some(t.clone())).map(|text| Said::Customer {
            text: Some(text),
            clicked: false,
            files: Vec::new(),
        }),
        Input::Button { text: label, .. } => Some(Said::Customer {
            text: text(label),
            clicked: true,
            files: Vec::new(),
        }),
        Input::Attachments {
            text: caption,
            files,
        } => Some(Said::Customer {
            text: text(caption),
            clicked: false,
            files: files
                .iter()
                .map(|f| redactor.redact(f.filename.as_deref().unwrap_or("file")))
                .collect(),
        }),
        Input::Nothing => None,
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn handoff_of(response: &TurnResponse, redactor: &Redactor, now_ms: u64) -> Handoff {
    let mut variables: BTreeMap<String, String> = response
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), redactor.redact(v)))
        .collect();
    for entity in &response.entities {
        if let Some(value) = entity.value.as_deref() {
            variables
                .entry(entity.name.clone())
                .or_insert_with(|| redactor.redact(value));
        }
    }
    Handoff {
        intent: response.intent.clone(),
        agent_message: variables
            .get(crate::translate::slots::AGENT_MESSAGE)
            .cloned(),
        topic: variables.get("va_LastTopic").cloned(),
        variables,
        at_ms: now_ms,
    }
}

/// Redacts every text the customer saw in a reply message.
fn redact_message(message: &mut ReplyMessage, redactor: &Redactor) {
    redact_opt(&mut message.text, redactor);
    for content in &mut message.content {
        match content {
            ReplyContent::QuickReply(q) => q.text = redactor.redact(&q.text),
            ReplyContent::Card(card) => redact_card(card, redactor),
            ReplyContent::Carousel(c) => c.cards.iter_mut().for_each(|c| redact_card(c, redactor)),
            ReplyContent::Attachment(a) => a.filename = redactor.redact(&a.filename),
        }
    }
}

fn redact_card(card: &mut Card, redactor: &Redactor) {
    card.title = redactor.redact(&card.title);
    redact_opt(&mut card.description, redactor);
    for action in card.actions.iter_mut().chain(card.default_action.as_mut()) {
        redact_opt(&mut action.text, redactor);
    }
}

fn redact_opt(text: &mut Option<String>, redactor: &Redactor) {
    if let Some(t) = text {
        *t = redactor.redact(t);
    }
}

/// One redaction rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Runs of 13–19 digits (spaces or dashes between them allowed) that pass the Luhn check.
    CardNumbers,
    /// `local@domain.tld` addresses.
    Emails,
    /// Every occurrence of this exact, non-empty string.
    Literal(String),
}

impl Rule {
    /// `"card_numbers"` and `"emails"` are the built-in patterns; anything else is a literal.
    pub fn parse(spec: &str) -> Option<Self> {
        match spec {
            "card_numbers" => Some(Rule::CardNumbers),
            "emails" => Some(Rule::Emails),
            "" => None,
            literal => Some(Rule::Literal(literal.to_owned())),
        }
    }
}

/// A list of redaction rules, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    rules: Vec<Rule>,
}

impl Redactor {
    /// A redactor from configured specs (see [`Rule::parse`]); empty specs are ignored.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(specs: I) -> Self {
        Self {
            rules: specs
                .into_iter()
                .filter_map(|s| Rule::parse(s.as_ref()))
                .collect(),
        }
    }

    /// The text with every match replaced by its mask.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for rule in &self.rules {
            out = match rule {
                Rule::CardNumbers => mask_card_numbers(&out),
                Rule::Emails => mask_emails(&out),
                Rule::Literal(l) => out.replace(l.as_str(), LITERAL_MASK),
            };
        }
        out
    }
}

/// Replaces Luhn-valid runs of 13–19 digits (single spaces or dashes between digits allowed).
fn mask_card_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts_run = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit());
        if !starts_run {
            i += 1;
            continue;
        }
        // The run: digits, with single separators between two digits.
        let mut end = i;
        let mut digits = Vec::new();
        let mut j = i;
        while j < bytes.len() {
            if bytes[j].is_ascii_digit() {
                digits.push(bytes[j] - b'0');
                j += 1;
                end = j;
            } else if matches!(bytes[j], b' ' | b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
                && j > i
                && bytes[j - 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            out.push_str(&text[copied..i]);
            out.push_str(CARD_MASK);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(n, &d)| {
            let d = u32::from(d);
            if !n.is_multiple_of(2) {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Replaces `local@domain.tld` addresses.
fn mask_emails(text: &str) -> String {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && local(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        // A sentence's full stop is not part of the domain.
        while end > i + 1 && bytes[end - 1] == b'.' {
            end -= 1;
        }
        let host = &text[i + 1..end];
        let valid_host = host
            .rsplit_once('.')
            .is_some_and(|(name, tld)| !name.is_empty() && tld.len() >= 2);
        if start < i && valid_host {
            out.push_str(&text[copied..start]);
            out.push_str(EMAIL_MASK);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::CustomerFile;
    use gcbridge_genesys::{QuickReply, ReplyMessage};

    fn all() -> Redactor {
        Redactor::new(["card_numbers", "emails", "ACME-SECRET-42"])
    }

    #[test]
    fn redaction_table() {
        let cases = [
            ("no secrets here", "no secrets here"),
            ("card 4111 1111 1111 1111 ok", "card [card number] ok"),
            ("card 4111-1111-1111-1111.", "card [card number]."),
            ("4111111111111111", "[card number]"),
            // Fails the Luhn check: an order number, kept.
            ("order 4111111111111112", "order 4111111111111112"),
            // Too short to be a card.
            ("order 12345", "order 12345"),
            ("mail ada@example.com.", "mail [email]."),
            ("a.b+c@mail.example.co.uk,x", "[email],x"),
            ("not an address: @home, x@y", "not an address: @home, x@y"),
            ("code ACME-SECRET-42!", "code [redacted]!"),
            (
                "both 5500 0000 0000 0004 and bob@ex.org",
                "both [card number] and [email]",
            ),
            ("unicode é 4111111111111111 ü", "unicode é [card number] ü"),
        ];
        let r = all();
        for (input, want) in cases {
            assert_eq!(r.redact(input), want, "input {input:?}");
        }
        assert_eq!(
            Redactor::default().redact("ada@example.com"),
            "ada@example.com"
        );
        assert_eq!(Redactor::new([""]), Redactor::default());
    }

    fn reply(texts: &[&str]) -> TurnResponse {
        TurnResponse::more_data(texts.iter().map(|t| ReplyMessage::text(*t)).collect())
    }

    #[test]
    fn append_keeps_order_redacts_and_records_the_handoff() {
        let r = all();
        let mut t = TranscriptRecord::new("c-1", "bot", 1);
        let greeting = reply(&["Hello!"]);
        t.append_turn(
            TurnSummary {
                turn: 1,
                language: Some("en-us"),
                input: &Input::Nothing,
                response: &greeting,
                now_ms: 10,
                topic: None,
            },
            &r,
        );
        let mut choose = reply(&[]);
        choose.reply_messages.push(ReplyMessage::structured(
            "Pick one",
            vec![ReplyContent::QuickReply(QuickReply {
                text: "Mail ada@example.com".into(),
                payload: "p".into(),
                image: None,
            })],
        ));
        t.append_turn(
            TurnSummary {
                turn: 2,
                language: Some("en-us"),
                input: &Input::Text("my card is 4111 1111 1111 1111".into()),
                response: &choose,
                now_ms: 20,
                topic: None,
            },
            &r,
        );
        let mut done = reply(&["Transferring you."]);
        done.bot_state = BotState::Complete;
        done.intent = Some("Escalate".into());
        done.parameters = BTreeMap::from([
            ("va_AgentMessage".into(), "Call ada@example.com".into()),
            ("va_LastTopic".into(), "Change address".into()),
            ("OrderNumber".into(), "12345".into()),
        ]);
        t.append_turn(
            TurnSummary {
                turn: 3,
                language: None,
                input: &Input::Attachments {
                    text: None,
                    files: vec![CustomerFile {
                        url: "https://files.example.com/x".into(),
                        filename: Some("photo.png".into()),
                        mime: None,
                    }],
                },
                response: &done,
                now_ms: 30,
                topic: None,
            },
            &r,
        );
        let json = serde_json::to_value(&t).expect("json");
        let text = json.to_string();
        assert!(!text.contains("4111"), "{text}");
        assert!(!text.contains("ada@"), "{text}");
        assert!(!text.contains("files.example.com"), "{text}");
        let froms: Vec<&str> = json["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["from"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(froms, ["bot", "customer", "bot", "customer", "bot"]);
        assert_eq!(json["entries"][1]["text"], "my card is [card number]");
        assert_eq!(
            json["entries"][2]["message"]["content"][0]["quickReply"]["text"],
            "Mail [email]"
        );
        assert_eq!(json["entries"][3]["files"][0], "photo.png");
        assert_eq!(t.state, TranscriptState::Completed);
        assert_eq!(t.language.as_deref(), Some("en-us"));
        let handoff = t.handoff.as_ref().expect("handoff");
        assert_eq!(handoff.agent_message.as_deref(), Some("Call [email]"));
        assert_eq!(handoff.topic.as_deref(), Some("Change address"));
        assert_eq!(handoff.intent.as_deref(), Some("Escalate"));
        assert_eq!(handoff.variables["OrderNumber"], "12345");
        assert_eq!(TranscriptRecord::decode(&t.encode()).expect("decode"), t);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let r = Redactor::default();
        let mut t = TranscriptRecord::new("c-1", "bot", 0);
        let big = "x".repeat(3_000);
        for turn in 0..150u64 {
            t.append_turn(
                TurnSummary {
                    turn,
                    language: None,
                    input: &Input::Text(format!("{turn} {big}")),
                    response: &reply(&["ok"]),
                    now_ms: turn,
                    topic: None,
                },
                &r,
            );
            assert!(t.encode().len() <= MAX_ENCODED_BYTES);
            assert!(t.entries.len() <= MAX_ENTRIES);
        }
        assert_eq!(t.dropped + t.entries.len() as u64, 300);
        assert!(t.dropped > 0);
        // The newest entries are the ones kept.
        assert_eq!(t.entries.back().map(|e| e.turn), Some(149));

        let mut small = TranscriptRecord::new("c", "b", 0);
        for turn in 0..10 {
            small.append_turn(
                TurnSummary {
                    turn,
                    language: None,
                    input: &Input::Text("hi".into()),
                    response: &reply(&[]),
                    now_ms: 0,
                    topic: None,
                },
                &r,
            );
        }
        small.bound(4, usize::MAX);
        assert_eq!(small.entries.len(), 4);
        assert_eq!(small.dropped, 6);
    }

    #[test]
    fn long_customer_text_is_cut() {
        let mut t = TranscriptRecord::new("c", "b", 0);
        t.append_turn(
            TurnSummary {
                turn: 1,
                language: None,
                input: &Input::Text("é".repeat(MAX_TEXT_CHARS + 10)),
                response: &reply(&[]),
                now_ms: 0,
                topic: None,
            },
            &Redactor::default(),
        );
        let Said::Customer {
            text: Some(text), ..
        } = &t.entries[0].said
        else {
            panic!("customer entry expected");
        };
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS + 1);
    }
}
