//! The agent script: who the emulated agent is and how it reacts, parsed from TOML.
//!
//! The format is described in the crate documentation and, with a complete example, in the
//! header of `config/demo-agent.toml`. Everything is checked while parsing (unknown keys, broken
//! templates, impossible steps), and every error names the offending key and its line, so a
//! script that loads is a script that runs.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::template::{self, Template};

/// The demo agent (Contoso retail support), as TOML text.
pub const DEMO_TOML: &str = include_str!("../../../config/demo-agent.toml");

/// Longest delay one step may ask for. Longer values are almost certainly a unit mistake
/// (seconds written as milliseconds would still fit; minutes would not).
const MAX_DELAY_MS: u64 = 10 * 60 * 1000;

/// Topic name used for the greeting when the script does not name one (Copilot Studio's own).
pub const DEFAULT_GREETING_TOPIC: &str = "Conversation Start";
/// Topic name used for the fallback when the script does not name one (Copilot Studio's own).
pub const DEFAULT_FALLBACK_TOPIC: &str = "Fallback";

/// A complete agent script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Identity of the agent.
    pub agent: Agent,
    /// Default values of template variables, used when the conversation has not set them
    /// (through `pvaSetContext`, a capture or a rule's `set`).
    #[serde(default)]
    pub variables: Map<String, Value>,
    /// Reaction to the `startConversation` event. Without it the agent stays silent at start,
    /// which real agents with the start topic turned off also do.
    #[serde(default)]
    pub greeting: Option<SystemTopic>,
    /// Reactions to user activities; the first rule that matches wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Reaction to a message no rule matched. Without it such messages get no reply.
    #[serde(default)]
    pub fallback: Option<SystemTopic>,
}

/// Identity of the emulated agent, as it appears in replies and in handoff context.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Display name: `from.name` of replies and `va_BotName`.
    pub name: String,
    /// Bot id: `from.id` of replies and `va_BotId`.
    pub bot_id: String,
    /// `va_Language` of handoffs (Copilot Studio sends odd casing such as `En-US`).
    #[serde(default = "default_language")]
    pub language: String,
    /// `locale` of replies.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Schema name accepted by the Copilot Studio token endpoint emulation; any name when absent.
    #[serde(default)]
    pub schema_name: Option<String>,
}

fn default_language() -> String {
    "En-US".to_owned()
}

fn default_locale() -> String {
    "en-US".to_owned()
}

/// The greeting or the fallback: a topic name and its steps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTopic {
    /// Topic name recorded in `va_Topics` / `va_LastTopic`.
    #[serde(default)]
    pub topic: Option<String>,
    /// What the agent does, in order.
    pub steps: Vec<Step>,
}

/// One reaction of the agent: when it applies and what it does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct Rule {
    /// Topic name recorded in `va_Topics` / `va_LastTopic` and available as `{Topic}`.
    pub topic: String,
    /// When the rule applies.
    pub matcher: Matcher,
    /// Variables set in the conversation when the rule fires (values are templates).
    pub set: Map<String, Value>,
    /// Error answered to the post of a matching message instead of accepting it.
    pub fault: Option<RuleFault>,
    /// What the agent does, in order.
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    topic: String,
    #[serde(rename = "match")]
    matcher: Matcher,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    fault: Option<RuleFault>,
    #[serde(default)]
    steps: Vec<Step>,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, Self::Error> {
        if raw.topic.trim().is_empty() {
            return Err("`topic` must not be empty".to_owned());
        }
        if raw.steps.is_empty() && raw.fault.is_none() && raw.set.is_empty() {
            return Err(format!(
                "rule {:?} does nothing: give it `steps`, a `fault` or `set`",
                raw.topic
            ));
        }
        for (name, value) in &raw.set {
            if !template::is_variable_name(name) {
                return Err(format!("`set`: invalid variable name {name:?}"));
            }
            template::check_value(value).map_err(|e| format!("`set.{name}`: {e}"))?;
        }
        Ok(Self {
            topic: raw.topic,
            matcher: raw.matcher,
            set: raw.set,
            fault: raw.fault,
            steps: raw.steps,
        })
    }
}

/// When a rule applies. It applies when **any** of its criteria holds.
///
/// Text criteria compare the message text after normalisation: lower case, runs of whitespace
/// collapsed, surrounding whitespace and trailing `.!?,;:` removed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawMatcher")]
pub struct Matcher {
    /// The whole text equals one of these (normalised).
    pub equals: Vec<String>,
    /// The text contains one of these as whole words (normalised).
    pub contains: Vec<String>,
    /// The text starts with one of these as whole words (normalised).
    pub starts_with: Vec<String>,
    /// With `starts_with`: the rest of the text (original case) is stored in this variable, and
    /// the criterion only holds when there is a rest.
    pub capture: Option<String>,
    /// A message whose `value` object (a card submit) holds all these keys with equal values.
    pub value: Option<Map<String, Value>>,
    /// An `event` activity with this name (case-insensitive), other than `startConversation`
    /// and `pvaSetContext` which are built in.
    pub event: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    #[serde(default, deserialize_with = "one_or_many")]
    equals: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    contains: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    starts_with: Vec<String>,
    #[serde(default)]
    capture: Option<String>,
    #[serde(default)]
    value: Option<Map<String, Value>>,
    #[serde(default)]
    event: Option<String>,
}

impl TryFrom<RawMatcher> for Matcher {
    type Error = String;

    fn try_from(raw: RawMatcher) -> Result<Self, Self::Error> {
        let normalise_all = |key: &str, phrases: Vec<String>| -> Result<Vec<String>, String> {
            phrases
                .into_iter()
                .map(|p| {
                    let n = normalise(&p);
                    if n.is_empty() {
                        Err(format!("`match.{key}`: {p:?} is empty once normalised"))
                    } else {
                        Ok(n)
                    }
                })
                .collect()
        };
        let equals = normalise_all("equals", raw.equals)?;
        let contains = normalise_all("contains", raw.contains)?;
        let starts_with = normalise_all("starts_with", raw.starts_with)?;
        if let Some(name) = &raw.capture {
            if starts_with.is_empty() {
                return Err("`match.capture` needs `match.starts_with`".to_owned());
            }
            if !template::is_variable_name(name) {
                return Err(format!("`match.capture`: invalid variable name {name:?}"));
            }
        }
        if raw.value.as_ref().is_some_and(Map::is_empty) {
            return Err("`match.value` must name at least one key".to_owned());
        }
        if let Some(event) = &raw.event {
            if event.trim().is_empty() {
                return Err("`match.event` must not be empty".to_owned());
            }
            if ["startconversation", "pvasetcontext"].contains(&event.to_lowercase().as_str()) {
                return Err(format!(
                    "`match.event`: {event:?} is built in (use `[greeting]` or send variables)"
                ));
            }
        }
        if equals.is_empty()
            && contains.is_empty()
            && starts_with.is_empty()
            && raw.value.is_none()
            && raw.event.is_none()
        {
            return Err(
                "`match` needs at least one of `equals`, `contains`, `starts_with`, `value`, `event`"
                    .to_owned(),
            );
        }
        Ok(Self {
            equals,
            contains,
            starts_with,
            capture: raw.capture,
            value: raw.value,
            event: raw.event,
        })
    }
}

/// Outcome of matching a message against a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextMatch {
    /// `(variable, text)` when the rule captures the rest of the message.
    pub captured: Option<(String, String)>,
}

impl Matcher {
    /// Whether a message with this text and value satisfies the rule.
    pub(crate) fn match_message(&self, text: &str, value: Option<&Value>) -> Option<TextMatch> {
        let norm = normalise(text);
        if !norm.is_empty() {
            if self.equals.contains(&norm) || self.contains.iter().any(|p| contains_words(&norm, p))
            {
                return Some(TextMatch { captured: None });
            }
            let cleaned = collapse(text);
            for prefix in &self.starts_with {
                let Some(rest) = strip_prefix_words(&cleaned, prefix) else {
                    continue;
                };
                match &self.capture {
                    None => return Some(TextMatch { captured: None }),
                    Some(var) if !rest.is_empty() => {
                        return Some(TextMatch {
                            captured: Some((var.clone(), rest.to_owned())),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        if let (Some(want), Some(Value::Object(got))) = (&self.value, value)
            && want.iter().all(|(k, v)| got.get(k) == Some(v))
        {
            return Some(TextMatch { captured: None });
        }
        None
    }

    /// Whether an event with this name satisfies the rule.
    pub(crate) fn match_event(&self, name: &str) -> bool {
        self.event
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(name))
    }
}

/// Error a rule makes the post of its trigger answer, `times` times per conversation (so a
/// client's retry then succeeds).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawRuleFault")]
pub struct RuleFault {
    /// HTTP status, 400–599.
    pub status: u16,
    /// `Retry-After` header, in seconds.
    pub retry_after_secs: Option<u64>,
    /// How many matching posts fail in each conversation before the rule runs normally.
    pub times: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFault {
    status: u16,
    #[serde(default)]
    retry_after_secs: Option<u64>,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

impl TryFrom<RawRuleFault> for RuleFault {
    type Error = String;

    fn try_from(raw: RawRuleFault) -> Result<Self, Self::Error> {
        if !(400..=599).contains(&raw.status) {
            return Err(format!(
                "`fault.status` must be an error status (400-599), not {}",
                raw.status
            ));
        }
        if raw.times == 0 {
            return Err("`fault.times` must be at least 1".to_owned());
        }
        Ok(Self {
            status: raw.status,
            retry_after_secs: raw.retry_after_secs,
            times: raw.times,
        })
    }
}

/// One step of a reaction: wait `delay`, then do `action`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    /// Wait before this step, counted from the previous step (or from the moment the agent
    /// starts reacting, for the first step).
    pub delay: Duration,
    /// What the step sends.
    pub action: StepAction,
}

/// What a step sends.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// A `message` activity.
    Message(MessageStep),
    /// A `typing` activity (only the WebSocket stream delivers it).
    Typing,
    /// A `handoff.initiate` event with context and transcript.
    Handoff(HandoffStep),
    /// A native `endOfConversation` activity with this `code`.
    End {
        /// e.g. `completedSuccessfully`.
        code: String,
    },
    /// A custom `event` activity (e.g. `EndOfConversation`).
    Event {
        /// Event name.
        name: String,
        /// Event value; strings inside are templates.
        value: Option<Value>,
    },
}

/// A message step.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStep {
    /// Markdown text.
    pub text: Option<Template>,
    /// `acceptingInput` (default), `expectingInput` or `ignoringInput`.
    pub input_hint: String,
    /// Quick replies.
    pub suggested_actions: Vec<Action>,
    /// Hero cards; more than one is sent as a carousel.
    pub cards: Vec<HeroCard>,
    /// An Adaptive Card, as written (strings inside are templates).
    pub adaptive_card: Option<Value>,
    /// Media and files sent by URL (images, videos, PDFs...).
    pub files: Vec<FileStep>,
}

/// A file or media attachment of a message: sent as `{contentType, contentUrl, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStep {
    /// Where the file is.
    pub url: String,
    /// File name shown to the customer; default: the URL's last path segment.
    #[serde(default)]
    pub name: Option<String>,
    /// MIME type; default: guessed from the file extension.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A hero card.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeroCard {
    /// Card title.
    #[serde(default)]
    pub title: Option<Template>,
    /// Card subtitle.
    #[serde(default)]
    pub subtitle: Option<Template>,
    /// Card text.
    #[serde(default)]
    pub text: Option<Template>,
    /// Image URL.
    #[serde(default)]
    pub image: Option<String>,
    /// Buttons.
    #[serde(default)]
    pub buttons: Vec<Action>,
    /// Send as a thumbnail card (`application/vnd.microsoft.card.thumbnail`) instead of a hero.
    #[serde(default)]
    pub thumbnail: bool,
}

/// A button or quick reply: a plain string is an `imBack` whose value is its title; a table
/// `{ title, value?, type? }` allows `postBack`, `messageBack`, `openUrl`, `call`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Action {
    /// `imBack`, `postBack`, `messageBack`, `openUrl` or `call`.
    pub kind: String,
    /// Label shown.
    pub title: String,
    /// Value sent back (or URL / phone number).
    pub value: String,
}

const ACTION_KINDS: [&str; 5] = ["imBack", "postBack", "messageBack", "openUrl", "call"];

impl TryFrom<Value> for Action {
    type Error = String;

    fn try_from(raw: Value) -> Result<Self, Self::Error> {
        match raw {
            Value::String(title) if !title.trim().is_empty() => Ok(Self {
                kind: "imBack".to_owned(),
                value: title.clone(),
                title,
            }),
            Value::Object(map) => {
                let mut kind = "imBack".to_owned();
                let mut title = None;
                let mut value = None;
                for (key, v) in map {
                    let Value::String(s) = v else {
                        return Err(format!("button `{key}` must be a string"));
                    };
                    match key.as_str() {
                        "type" => kind = s,
                        "title" => title = Some(s),
                        "value" => value = Some(s),
                        other => {
                            return Err(format!(
                                "unknown button key `{other}`, expected one of `type`, `title`, `value`"
                            ));
                        }
                    }
                }
                if !ACTION_KINDS.contains(&kind.as_str()) {
                    return Err(format!(
                        "unknown button type {kind:?}, expected one of {ACTION_KINDS:?}"
                    ));
                }
                let title = title.ok_or("a button needs a `title`")?;
                let value = value.unwrap_or_else(|| title.clone());
                Ok(Self { kind, title, value })
            }
            other => Err(format!(
                "a button is a non-empty string or a table {{ title, value, type }}, not {other}"
            )),
        }
    }
}

/// The escalation: a `handoff.initiate` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawHandoff")]
pub struct HandoffStep {
    /// `va_AgentMessage`: the private message to the human agent.
    pub agent_message: Template,
    /// Extra variables put in the event's value (values are templates), after the `va_*` ones.
    pub variables: Map<String, Value>,
    /// Whether the conversation's variables (`pvaSetContext`, captures, `set`) are included too,
    /// as Copilot Studio includes the global variables in scope.
    pub include_variables: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandoff {
    agent_message: Template,
    #[serde(default)]
    variables: Map<String, Value>,
    #[serde(default)]
    include_variables: bool,
}

impl TryFrom<RawHandoff> for HandoffStep {
    type Error = String;

    fn try_from(raw: RawHandoff) -> Result<Self, Self::Error> {
        for (name, value) in &raw.variables {
            if name.starts_with("va_") {
                return Err(format!(
                    "`handoff.variables.{name}`: `va_` names are set by the agent itself"
                ));
            }
            template::check_value(value).map_err(|e| format!("`handoff.variables.{name}`: {e}"))?;
        }
        Ok(Self {
            agent_message: raw.agent_message,
            variables: raw.variables,
            include_variables: raw.include_variables,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    delay_ms: u64,
    // message
    #[serde(default)]
    text: Option<Template>,
    #[serde(default)]
    input_hint: Option<String>,
    #[serde(default)]
    suggested_actions: Option<Vec<Action>>,
    #[serde(default)]
    card: Option<HeroCard>,
    #[serde(default)]
    cards: Option<Vec<HeroCard>>,
    #[serde(default)]
    adaptive_card: Option<Map<String, Value>>,
    #[serde(default)]
    files: Option<Vec<FileStep>>,
    // other kinds
    #[serde(default)]
    typing: Option<bool>,
    #[serde(default)]
    handoff: Option<HandoffStep>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, Self::Error> {
        if raw.delay_ms > MAX_DELAY_MS {
            return Err(format!(
                "`delay_ms` = {} is longer than the {MAX_DELAY_MS} ms allowed",
                raw.delay_ms
            ));
        }
        let message_keys: Vec<&str> = [
            ("text", raw.text.is_some()),
            ("input_hint", raw.input_hint.is_some()),
            ("suggested_actions", raw.suggested_actions.is_some()),
            ("card", raw.card.is_some()),
            ("cards", raw.cards.is_some()),
            ("adaptive_card", raw.adaptive_card.is_some()),
            ("files", raw.files.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let mut kinds: Vec<&str> = Vec::new();
        if !message_keys.is_empty() {
            kinds.push("a message (text/card/cards/adaptive_card/...)");
        }
        for (k, present) in [
            ("typing", raw.typing.is_some()),
            ("handoff", raw.handoff.is_some()),
            ("end", raw.end.is_some()),
            ("event", raw.event.is_some()),
        ] {
            if present {
                kinds.push(k);
            }
        }
        if kinds.len() != 1 {
            return Err(format!(
                "a step is exactly one of: a message (`text`, `card`, `cards` or `adaptive_card`), \
                 `typing`, `handoff`, `end`, `event`; this one has {}",
                if kinds.is_empty() {
                    "none".to_owned()
                } else {
                    kinds.join(" and ")
                }
            ));
        }
        if raw.value.is_some() && raw.event.is_none() {
            return Err("`value` only goes with `event`".to_owned());
        }
        let delay = Duration::from_millis(raw.delay_ms);
        let action = if let Some(typing) = raw.typing {
            if !typing {
                return Err("`typing` can only be `true`".to_owned());
            }
            StepAction::Typing
        } else if let Some(handoff) = raw.handoff {
            StepAction::Handoff(handoff)
        } else if let Some(code) = raw.end {
            if code.trim().is_empty() {
                return Err("`end` needs a code such as \"completedSuccessfully\"".to_owned());
            }
            StepAction::End { code }
        } else if let Some(name) = raw.event {
            if name.trim().is_empty() {
                return Err("`event` needs a name".to_owned());
            }
            if let Some(value) = &raw.value {
                template::check_value(value).map_err(|e| format!("`value`: {e}"))?;
            }
            StepAction::Event {
                name,
                value: raw.value,
            }
        } else {
            if raw.text.is_none()
                && raw.card.is_none()
                && raw.cards.is_none()
                && raw.adaptive_card.is_none()
                && raw.files.is_none()
            {
                return Err(format!(
                    "a message step needs `text`, `card`, `cards`, `adaptive_card` or `files`, not only {}",
                    message_keys.join(", ")
                ));
            }
            let input_hint = raw
                .input_hint
                .unwrap_or_else(|| "acceptingInput".to_owned());
            if !["acceptingInput", "expectingInput", "ignoringInput"].contains(&input_hint.as_str())
            {
                return Err(format!(
                    "`input_hint` must be \"acceptingInput\", \"expectingInput\" or \"ignoringInput\", not {input_hint:?}"
                ));
            }
            if raw.card.is_some() && raw.cards.is_some() {
                return Err("use either `card` or `cards`, not both".to_owned());
            }
            let cards = match (raw.card, raw.cards) {
                (Some(card), _) => vec![card],
                (None, Some(cards)) if cards.is_empty() => {
                    return Err("`cards` must not be empty".to_owned());
                }
                (None, Some(cards)) => cards,
                (None, None) => Vec::new(),
            };
            let adaptive_card = match raw.adaptive_card {
                Some(card) => {
                    let card = Value::Object(card);
                    template::check_value(&card).map_err(|e| format!("`adaptive_card`: {e}"))?;
                    Some(card)
                }
                None => None,
            };
            StepAction::Message(MessageStep {
                text: raw.text,
                input_hint,
                suggested_actions: raw.suggested_actions.unwrap_or_default(),
                cards,
                adaptive_card,
                files: raw.files.unwrap_or_default(),
            })
        };
        Ok(Self { delay, action })
    }
}

/// Why a script could not be loaded. The message names the offending key and its line.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read agent script {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is not a valid script.
    #[error("invalid agent script{origin}: {message}")]
    Invalid {
        /// ` <path>` when loaded from a file, else empty.
        origin: String,
        /// What is wrong and where (from the TOML parser, with line and column).
        message: String,
    },
}

impl Script {
    /// Parses and checks a script.
    pub fn from_toml_str(text: &str) -> Result<Self, ScriptError> {
        let script: Script = toml::from_str(text).map_err(|e| ScriptError::Invalid {
            origin: String::new(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        script.check().map_err(|message| ScriptError::Invalid {
            origin: String::new(),
            message,
        })?;
        Ok(script)
    }

    /// Reads, parses and checks a script file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ScriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            ScriptError::Invalid { message, .. } => ScriptError::Invalid {
                origin: format!(" {}", path.display()),
                message,
            },
            other => other,
        })
    }

    /// The demo agent of `config/demo-agent.toml` (Contoso retail support), embedded at build
    /// time so `gcbridge demo` needs no file.
    pub fn demo() -> Self {
        // The embedded text is part of this crate, not input, and a test parses it, so a
        // failure here is a build defect rather than something a caller could handle.
        Self::from_toml_str(DEMO_TOML).expect("the embedded demo agent script is valid")
    }

    /// Checks that span the whole document (per-item checks happen while parsing).
    fn check(&self) -> Result<(), String> {
        if self.agent.name.trim().is_empty() {
            return Err("`agent.name` must not be empty".to_owned());
        }
        if self.agent.bot_id.trim().is_empty() {
            return Err("`agent.bot_id` must not be empty".to_owned());
        }
        for name in self.variables.keys() {
            if !template::is_variable_name(name) {
                return Err(format!("`variables`: invalid variable name {name:?}"));
            }
        }
        Ok(())
    }

    /// Topic name of the greeting.
    pub fn greeting_topic(&self) -> &str {
        self.greeting
            .as_ref()
            .and_then(|g| g.topic.as_deref())
            .unwrap_or(DEFAULT_GREETING_TOPIC)
    }

    /// Topic name of the fallback.
    pub fn fallback_topic(&self) -> &str {
        self.fallback
            .as_ref()
            .and_then(|g| g.topic.as_deref())
            .unwrap_or(DEFAULT_FALLBACK_TOPIC)
    }
}

impl FromStr for Script {
    type Err = ScriptError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_toml_str(s)
    }
}

/// Lower case, whitespace collapsed, trimmed, trailing sentence punctuation removed.
pub(crate) fn normalise(text: &str) -> String {
    collapse(text).to_lowercase()
}

/// Whitespace collapsed, trimmed, trailing sentence punctuation removed; case kept.
fn collapse(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .trim_end_matches(['.', '!', '?', ',', ';', ':'])
        .trim_end()
        .to_owned()
}

/// Whether `phrase` occurs in `text` as whole words (both already normalised).
fn contains_words(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = text[at + phrase.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        before_ok && after_ok
    })
}

/// If `text` starts with `prefix` (lower case) ignoring case and followed by a word boundary,
/// the rest of `text` with its original case, trimmed.
fn strip_prefix_words<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let mut lowered = String::new();
    for (at, c) in text.char_indices() {
        lowered.extend(c.to_lowercase());
        if lowered.len() >= prefix.len() {
            if lowered != prefix {
                return None;
            }
            let rest = &text[at + c.len_utf8()..];
            let boundary = rest.chars().next().is_none_or(|n| !n.is_alphanumeric());
            return boundary.then(|| rest.trim());
        }
    }
    None
}

/// Accepts `"phrase"` or `["phrase", ...]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }

    d.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(toml_text: &str) -> Matcher {
        #[derive(Deserialize)]
        struct Wrap {
            #[serde(rename = "match")]
            m: Matcher,
        }
        toml::from_str::<Wrap>(toml_text).expect(toml_text).m
    }

    #[test]
    fn text_criteria() {
        let m = matcher(
            r#"match = { equals = "bye", contains = ["opening hours", "agent"], starts_with = "my name is", capture = "CustomerName" }"#,
        );
        let hit = |t: &str| m.match_message(t, None);
        assert!(hit("Bye!").is_some());
        assert!(hit("  BYE  ").is_some());
        assert!(hit("bye bye").is_none());
        assert!(hit("What are your Opening   Hours?").is_some());
        assert!(hit("I want an agent").is_some());
        assert!(hit("agents").is_none(), "whole words only");
        assert!(hit("management").is_none());
        assert_eq!(
            hit("My name is Ada Lovelace.").and_then(|m| m.captured),
            Some(("CustomerName".to_owned(), "Ada Lovelace".to_owned()))
        );
        assert!(hit("my name is").is_none(), "capture needs a rest");
        assert!(hit("my names").is_none());
        assert!(hit("").is_none());
    }

    #[test]
    fn value_and_event_criteria() {
        let m = matcher(r#"match = { value = { action = "track" }, event = "Custom" }"#);
        let submit = serde_json::json!({"action": "track", "order": "12345"});
        assert!(m.match_message("", Some(&submit)).is_some());
        assert!(
            m.match_message("", Some(&serde_json::json!({"action": "other"})))
                .is_none()
        );
        assert!(m.match_message("track", None).is_none());
        assert!(m.match_event("custom"));
        assert!(!m.match_event("other"));
    }

    #[test]
    fn unicode_prefix_is_safe() {
        assert_eq!(strip_prefix_words("İch bin", "i̇ch"), Some("bin"));
        assert_eq!(strip_prefix_words("Ärger", "är"), None);
        assert_eq!(strip_prefix_words("é", "ée"), None);
    }
}
