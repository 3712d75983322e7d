//! Per-bot behaviour settings: everything the pure core needs to know about one configured bot.
//!
//! Credentials and URLs are not here: they belong to the app's configuration, which wraps a
//! [`BotProfile`]. Defaults follow `spec/direct-line.md` §10.2 and `spec/mapping.md` §2.

use serde::{Deserialize, Serialize};

/// Which handoff slots are emitted (`mapping.md` §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotFilter {
    /// Declared slots when any are configured, else `va_AgentMessage` plus every custom variable.
    #[default]
    Auto,
    /// Only declared slots.
    Declared,
    /// Every key of the handoff value.
    All,
}

/// A handoff variable passed to Genesys as slot `va_{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffVariable {
    /// The agent's variable name, without the `va_` prefix.
    pub name: String,
    /// Genesys slot type (`String`, `Integer`, `Boolean`, `StringCollection`, ...).
    #[serde(default = "default_slot_type", rename = "type")]
    pub kind: String,
}

fn default_slot_type() -> String {
    "String".to_owned()
}

/// Timings of one turn, in milliseconds (`direct-line.md` §10.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timings {
    /// Hard ceiling from request arrival to the answer leaving gcbridge (v1 Bot Connector).
    pub deadline_ms: u64,
    /// The same for the Digital Bot Connector, whose flow action sets its own *Bot Response
    /// Timeout* (default 30 s); keep this below it.
    pub dbc_deadline_ms: u64,
    /// Time kept free before the deadline to translate, save and write the answer.
    pub response_margin_ms: u64,
    /// Silence after the latest bot activity that ends the turn once a reply has arrived; with
    /// `adaptive_quiet` the ceiling of the learned value.
    pub quiet_ms: u64,
    /// Learn the quiet period per bot from the gaps between its activities (§10.2a).
    pub adaptive_quiet: bool,
    /// Floor of the learned quiet period.
    pub quiet_min_ms: u64,
    /// Turns observed before the learned value is used.
    pub adaptive_warmup_turns: u64,
    /// How long a `typing` activity keeps the turn busy.
    pub typing_hold_ms: u64,
    /// After a message that expects input, how long to wait for activities of the same batch.
    pub expecting_input_grace_ms: u64,
    /// Polling: first read after the post, then the interval between reads.
    pub first_poll_delay_ms: u64,
    pub poll_interval_ms: u64,
    /// Asynchronous replies (`dbc_async`): how long after the customer's message replies are
    /// still pushed in the same turn; later ones go out at the start of the next turn.
    pub dbc_async_ceiling_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            deadline_ms: 8_000,
            dbc_deadline_ms: 25_000,
            response_margin_ms: 300,
            quiet_ms: 1_200,
            adaptive_quiet: true,
            quiet_min_ms: 200,
            adaptive_warmup_turns: 20,
            typing_hold_ms: 3_000,
            expecting_input_grace_ms: 150,
            first_poll_delay_ms: 200,
            poll_interval_ms: 500,
            dbc_async_ceiling_ms: 60_000,
        }
    }
}

/// How markdown in the agent's text is handled (`mapping.md` §4.2 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkdownMode {
    /// Pass markdown through unchanged.
    Keep,
    /// Keep bold, italic, inline links and list markers; flatten headings, tables, images, code.
    #[default]
    Basic,
    /// Strip all markdown; links become `label (url)`.
    Plain,
}

/// How generative-answer citations are rendered (`mapping.md` §4.2 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CitationMode {
    /// Remove the reference definitions and the inline markers.
    Strip,
    /// Keep the markers and append a "Sources:" list.
    #[default]
    List,
}

/// What to answer when Direct Line fails before the customer's message was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAgentError {
    /// `Failed` with `errorInfo` (the Architect Failure path).
    #[default]
    Fail,
    /// `Complete` + `Escalate` so the customer reaches a human.
    Escalate,
}

/// Everything the core needs to know about one bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotProfile {
    /// Bot-list id, matched against `chatBot.id` and `botId`.
    pub id: String,
    /// Display name, also matched against `botId` (v1 sometimes sends it there).
    pub name: String,
    pub version: String,
    pub description: String,
    /// `supportedLanguages`, lower case.
    pub languages: Vec<String>,
    /// Locale used when `languageCode` is missing or invalid.
    pub default_locale: String,
    /// Intent returned on handoff.
    pub escalate_intent: String,
    /// Intent returned when the agent ends the conversation.
    pub end_intent: String,
    /// Agent variables exposed as `va_{name}` slots on the escalate intent.
    pub handoff_variables: Vec<HandoffVariable>,
    /// System `va_*` keys exposed as slots under their own names (`va_LastTopic`, ...).
    pub system_slots: Vec<String>,
    pub slot_filter: SlotFilter,
    /// Event names treated as a handoff, beside `handoff.initiate`.
    pub handoff_events: Vec<String>,
    /// A string `value` of a custom handoff event equal to one of these is not an agent message.
    pub handoff_placeholders: Vec<String>,
    /// Event names treated as the agent ending the conversation, beside `endOfConversation`.
    pub end_events: Vec<String>,
    /// Declare and send the optional `va_EndCode` slot (String) of the end intent, filled from
    /// the `endOfConversation` code. Off by default: an undeclared slot may fail the turn.
    pub end_code_slot: bool,
    /// Event names that only end reply collection.
    pub turn_end_events: Vec<String>,
    /// First-turn texts that only trigger the greeting and are not posted (e.g. `Menu`).
    pub greeting_triggers: Vec<String>,
    /// Put `channelData.genesys` (conversation and session ids) on posted activities.
    pub send_genesys_ids: bool,
    /// Customer text longer than this is truncated (characters).
    pub max_input_chars: usize,
    /// Text of one reply message above this is split (characters).
    pub max_text_chars: usize,
    pub markdown: MarkdownMode,
    pub citations: CitationMode,
    /// Send the agent's images, videos, audio and files as Genesys `Attachment` content
    /// (`mapping.md` §4.6). Only for integrations with *Enable File Attachments* on: Genesys
    /// fails the turn on an attachment it does not accept. Off: images and videos become cards,
    /// other files `name: url` text.
    pub attachments: bool,
    /// Quick replies per message (`mapping.md` §4.3; the Genesys limit is unconfirmed). Options
    /// beyond it stay in the message's numbered text list only; `0` shows the list alone.
    pub max_quick_replies: usize,
    /// Buttons per card: 3 is Genesys' best practice and WhatsApp's hard limit (`mapping.md`
    /// §4.4). Further buttons are listed in the message's fallback text.
    pub max_card_buttons: usize,
    /// Reply messages per answer (`mapping.md` §4.7); beyond it the remaining messages are
    /// merged into the last one as text. `0` means no limit.
    pub max_messages: usize,
    /// Read agent text that is Genesys reply JSON (the blueprint's convention) as native
    /// messages (`mapping.md` §4.8); anything that does not validate stays text.
    pub genesys_json_in_text: bool,
    /// The readable `text` of card and carousel messages lists each card's title, description
    /// and buttons; off, only the titles (and buttons that did not fit on the card), for
    /// channels that show the text beside the card.
    pub card_fallback_text: bool,
    /// Shown for agent content with nothing displayable (an Adaptive Card without text,
    /// image or usable action, and without `fallbackText`).
    pub unsupported_content_text: String,
    pub on_agent_error: OnAgentError,
    /// `va_AgentMessage` used with `on_agent_error = "escalate"`.
    pub agent_error_message: String,
    /// Seconds within which the same v1 input for a session is treated as a retry.
    pub duplicate_window_secs: u64,
    /// Digital Bot Connector: acknowledge `/messages` at once and push each agent reply to
    /// Genesys as it arrives (outgoing-messages Platform API; needs the Genesys region and an
    /// OAuth client).
    pub dbc_async: bool,
    pub timings: Timings,
}

impl Default for BotProfile {
    fn default() -> Self {
        Self {
            id: "copilot".to_owned(),
            name: "Copilot Studio agent".to_owned(),
            version: "1".to_owned(),
            description: "Copilot Studio agent served by gcbridge".to_owned(),
            languages: vec!["en-us".to_owned()],
            default_locale: "en-US".to_owned(),
            escalate_intent: "Escalate".to_owned(),
            end_intent: "EndConversation".to_owned(),
            handoff_variables: Vec::new(),
            system_slots: Vec::new(),
            slot_filter: SlotFilter::Auto,
            handoff_events: Vec::new(),
            handoff_placeholders: Vec::new(),
            end_events: vec!["EndOfConversation".to_owned()],
            end_code_slot: false,
            turn_end_events: vec!["turn.complete".to_owned()],
            greeting_triggers: Vec::new(),
            send_genesys_ids: true,
            max_input_chars: 16_000,
            max_text_chars: 4_000,
            markdown: MarkdownMode::Basic,
            citations: CitationMode::List,
            attachments: false,
            max_quick_replies: 10,
            max_card_buttons: 3,
            max_messages: 20,
            genesys_json_in_text: true,
            card_fallback_text: true,
            unsupported_content_text: "This content cannot be displayed here.".to_owned(),
            on_agent_error: OnAgentError::Fail,
            agent_error_message: "The virtual agent is unavailable; please help the customer."
                .to_owned(),
            duplicate_window_secs: 30,
            dbc_async: false,
            timings: Timings::default(),
        }
    }
}

impl BotProfile {
    /// True when `name` is the native handoff event or a configured one.
    pub fn is_handoff_event(&self, name: &str) -> bool {
        name == "handoff.initiate" || self.handoff_events.iter().any(|e| e == name)
    }

    /// True when `name` is a configured end event.
    pub fn is_end_event(&self, name: &str) -> bool {
        self.end_events.iter().any(|e| e == name)
    }

    /// True when `name` is a configured turn-end event.
    pub fn is_turn_end_event(&self, name: &str) -> bool {
        self.turn_end_events.iter().any(|e| e == name)
    }

    /// Whether any slot besides `va_AgentMessage` is declared for the escalate intent.
    pub fn declares_slots(&self) -> bool {
        !self.handoff_variables.is_empty() || !self.system_slots.is_empty()
    }
}
