//! The emulated agent's brain: which reaction a user activity triggers, what it does to the
//! conversation's memory, and the activities each step produces.
//!
//! Pure functions of (script, memory, activity): no I/O, no clock, no ids. The server decides
//! *when* things happen and assigns ids; this module decides *what* happens.

use std::collections::HashMap;
use std::time::Instant;

use gcbridge_directline::{Activity, Attachment, CardAction, ChannelAccount, SuggestedActions};
use serde_json::{Map, Value, json};

use crate::script::{Action, HandoffStep, HeroCard, MessageStep, Script, Step, StepAction};
use crate::template::{render_value, value_text};

/// Event posted by clients to run the greeting.
pub(crate) const START_CONVERSATION: &str = "startConversation";
/// Event posted by clients to set the agent's global variables.
pub(crate) const SET_CONTEXT: &str = "pvaSetContext";
/// Event the agent sends to escalate.
pub(crate) const HANDOFF_EVENT: &str = "handoff.initiate";

/// What the agent remembers about one conversation across turns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    /// Variables from `pvaSetContext`, captures and rules' `set`.
    pub variables: Map<String, Value>,
    /// Topics visited, in order (`va_Topics`).
    pub topics: Vec<String>,
    /// User utterances that triggered a topic (`va_Phrases`).
    pub phrases: Vec<String>,
    /// Number of user messages so far (`{Turn}`).
    pub turns: u64,
}

/// Which reaction a user activity triggers. Depends only on the script and the activity, so
/// the server can decide on a rule's fault before accepting the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// `startConversation`: the greeting.
    Greeting,
    /// `pvaSetContext`: store variables, no reply.
    SetContext,
    /// The rule at this index.
    Rule(usize),
    /// A message no rule matched.
    Fallback,
    /// Nothing to do (unknown event, typing, endOfConversation from the user, ...).
    Ignore,
}

/// Classifies a user activity against the script.
pub(crate) fn classify(script: &Script, activity: &Activity) -> Trigger {
    match activity.kind.as_str() {
        Activity::EVENT => {
            let name = activity.name.as_deref().unwrap_or_default();
            if name == START_CONVERSATION {
                Trigger::Greeting
            } else if name == SET_CONTEXT {
                Trigger::SetContext
            } else {
                script
                    .rules
                    .iter()
                    .position(|r| r.matcher.match_event(name))
                    .map_or(Trigger::Ignore, Trigger::Rule)
            }
        }
        Activity::MESSAGE => {
            let text = activity.text.as_deref().unwrap_or_default();
            script
                .rules
                .iter()
                .position(|r| {
                    r.matcher
                        .match_message(text, activity.value.as_ref())
                        .is_some()
                })
                .map_or(Trigger::Fallback, Trigger::Rule)
        }
        _ => Trigger::Ignore,
    }
}

/// Everything needed to play one reaction: its steps and a snapshot of the context they are
/// rendered with.
#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    /// Steps to play, in order.
    pub steps: Vec<Step>,
    /// Id of the user activity being answered (`replyToId`).
    pub reply_to_id: String,
    /// The user's account, for `recipient` and `relatesTo.user`.
    pub user: Option<ChannelAccount>,
    /// Template variables at the time the reaction started.
    pub vars: Vars,
    /// Topic of this reaction (`va_LastTopic`).
    pub topic: String,
    /// Memory snapshot for handoff context.
    pub topics: Vec<String>,
    /// Memory snapshot for handoff context.
    pub phrases: Vec<String>,
    /// The triggering utterance (`va_LastPhrase`).
    pub last_phrase: String,
    /// The conversation's own variables (without script defaults or built-ins).
    pub conversation_variables: Map<String, Value>,
    /// When the user activity being answered was stored, for `{ElapsedMs}`.
    pub received: Instant,
}

/// Template variables: built-ins, then the conversation's variables, then the script's defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    builtins: HashMap<&'static str, String>,
    variables: Map<String, Value>,
    defaults: Map<String, Value>,
}

impl Vars {
    /// Text of a variable, or `None` when unknown.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.builtins.get(name) {
            return Some(v.clone());
        }
        self.variables
            .get(name)
            .or_else(|| self.defaults.get(name))
            .map(value_text)
    }
}

/// Applies a user activity to the conversation's memory and returns the reaction to play, if any.
///
/// `reply_to_id` is the id the activity was stored under.
pub(crate) fn react(
    script: &Script,
    memory: &mut Memory,
    activity: &Activity,
    trigger: Trigger,
    conversation_id: &str,
    reply_to_id: &str,
) -> Option<Reaction> {
    let text = activity.text.clone().unwrap_or_default();
    let is_message = activity.kind == Activity::MESSAGE;
    let (topic, steps) = match trigger {
        Trigger::Ignore => return None,
        Trigger::SetContext => {
            // Copilot Studio silently ignores values that are not an object of variables.
            if let Some(Value::Object(values)) = &activity.value {
                for (k, v) in values {
                    memory.variables.insert(k.clone(), v.clone());
                }
            }
            return None;
        }
        Trigger::Greeting => {
            let greeting = script.greeting.as_ref()?;
            (script.greeting_topic().to_owned(), greeting.steps.clone())
        }
        Trigger::Fallback => {
            let fallback = script.fallback.as_ref()?;
            (script.fallback_topic().to_owned(), fallback.steps.clone())
        }
        Trigger::Rule(index) => {
            let rule = script.rules.get(index)?;
            (rule.topic.clone(), rule.steps.clone())
        }
    };

    let previous_topic = memory.topics.last().cloned().unwrap_or_default();
    if is_message {
        memory.turns += 1;
        if !text.trim().is_empty() {
            memory.phrases.push(text.clone());
        }
    }
    if memory.topics.last() != Some(&topic) {
        memory.topics.push(topic.clone());
    }

    let vars_now = |memory: &Memory| Vars {
        builtins: HashMap::from([
            ("Text", text.clone()),
            ("Turn", memory.turns.to_string()),
            ("Topic", topic.clone()),
            ("PreviousTopic", previous_topic.clone()),
            ("BotName", script.agent.name.clone()),
            ("ConversationId", conversation_id.to_owned()),
        ]),
        variables: memory.variables.clone(),
        defaults: script.variables.clone(),
    };

    if let Trigger::Rule(index) = trigger
        && let Some(rule) = script.rules.get(index)
    {
        if let Some((var, captured)) = rule
            .matcher
            .match_message(&text, activity.value.as_ref())
            .and_then(|m| m.captured)
        {
            memory.variables.insert(var, Value::String(captured));
        }
        if !rule.set.is_empty() {
            let vars = vars_now(memory);
            let lookup = |n: &str| vars.lookup(n);
            for (name, value) in &rule.set {
                memory
                    .variables
                    .insert(name.clone(), render_value(value, &lookup));
            }
        }
    }

    // Only a handoff reads the history, which grows with every message: copying it on every
    // turn made long conversations slower and slower.
    let hands_off = steps
        .iter()
        .any(|s| matches!(s.action, StepAction::Handoff(_)));
    let history = |h: &Vec<String>| if hands_off { h.clone() } else { Vec::new() };
    Some(Reaction {
        reply_to_id: reply_to_id.to_owned(),
        user: activity.from.clone(),
        vars: vars_now(memory),
        topic,
        topics: history(&memory.topics),
        phrases: history(&memory.phrases),
        steps,
        last_phrase: text,
        conversation_variables: memory.variables.clone(),
        received: Instant::now(),
    })
}

/// Where the conversation lives, for `relatesTo` of handoffs.
#[derive(Debug, Clone)]
pub(crate) struct Place<'a> {
    /// Conversation id.
    pub conversation_id: &'a str,
    /// Base URL of the emulator with a trailing slash (`relatesTo.serviceUrl`).
    pub service_url: &'a str,
}

/// The bot's own account, as it appears in `from` of every reply.
pub(crate) fn bot_account(script: &Script) -> ChannelAccount {
    let mut bot = ChannelAccount::new(script.agent.bot_id.clone(), "bot");
    bot.name = Some(script.agent.name.clone());
    bot
}

/// The activity a step produces. `transcript` is the conversation so far (for handoffs). Ids,
/// timestamps and `conversation` are filled in when the activity is stored.
pub(crate) fn render(
    script: &Script,
    reaction: &Reaction,
    action: &StepAction,
    place: &Place<'_>,
    transcript: &[Activity],
) -> Activity {
    let lookup = |n: &str| match n {
        // Read when the activity is rendered, not when the reaction started: the agent's own
        // reply time so far (`gcbridge bench` subtracts it from what the customer waited).
        "ElapsedMs" => Some(format!(
            "{:.3}",
            reaction.received.elapsed().as_secs_f64() * 1000.0
        )),
        _ => reaction.vars.lookup(n),
    };
    let mut activity = Activity {
        from: Some(bot_account(script)),
        recipient: reaction.user.clone(),
        reply_to_id: Some(reaction.reply_to_id.clone()),
        ..Activity::default()
    };
    match action {
        StepAction::Message(message) => render_message(&mut activity, script, message, &lookup),
        StepAction::Typing => activity.kind = Activity::TYPING.to_owned(),
        StepAction::Handoff(handoff) => {
            render_handoff(&mut activity, script, reaction, handoff, place, transcript);
        }
        StepAction::End { code } => {
            activity.kind = Activity::END_OF_CONVERSATION.to_owned();
            activity.code = Some(code.clone());
            activity.locale = Some(script.agent.locale.clone());
        }
        StepAction::Event { name, value } => {
            activity.kind = Activity::EVENT.to_owned();
            activity.name = Some(name.clone());
            activity.value = value.as_ref().map(|v| render_value(v, &lookup));
            activity.locale = Some(script.agent.locale.clone());
        }
    }
    activity
}

fn render_message(
    activity: &mut Activity,
    script: &Script,
    message: &MessageStep,
    lookup: &dyn Fn(&str) -> Option<String>,
) {
    activity.kind = Activity::MESSAGE.to_owned();
    activity.locale = Some(script.agent.locale.clone());
    activity.text_format = Some("markdown".to_owned());
    activity.text = message.text.as_ref().map(|t| t.render(lookup));
    activity.input_hint = Some(message.input_hint.clone());
    // Copilot Studio sends empty arrays rather than omitting these; clients must cope.
    let mut attachments: Vec<Attachment> = message
        .cards
        .iter()
        .map(|card| hero_attachment(card, lookup))
        .collect();
    attachments.extend(message.files.iter().map(file_attachment));
    if let Some(card) = &message.adaptive_card {
        attachments.push(Attachment {
            content_type: "application/vnd.microsoft.card.adaptive".to_owned(),
            content: Some(render_value(card, lookup)),
            ..Attachment::default()
        });
    }
    if !attachments.is_empty() {
        activity.attachment_layout = Some(
            if message.cards.len() > 1 {
                "carousel"
            } else {
                "list"
            }
            .to_owned(),
        );
    }
    activity.attachments = Some(attachments);
    activity.entities = Some(Vec::new());
    if !message.suggested_actions.is_empty() {
        activity.suggested_actions = Some(SuggestedActions {
            actions: message.suggested_actions.iter().map(card_action).collect(),
            ..SuggestedActions::default()
        });
    }
}

fn card_action(action: &Action) -> CardAction {
    CardAction {
        kind: action.kind.clone(),
        title: Some(action.title.clone()),
        value: Some(Value::String(action.value.clone())),
        ..CardAction::default()
    }
}

fn hero_attachment(card: &HeroCard, lookup: &dyn Fn(&str) -> Option<String>) -> Attachment {
    let mut content = Map::new();
    for (key, field) in [
        ("title", &card.title),
        ("subtitle", &card.subtitle),
        ("text", &card.text),
    ] {
        if let Some(t) = field {
            content.insert(key.to_owned(), Value::String(t.render(lookup)));
        }
    }
    if let Some(url) = &card.image {
        content.insert("images".to_owned(), json!([{ "url": url }]));
    }
    let buttons: Vec<Value> = card
        .buttons
        .iter()
        .map(|b| serde_json::to_value(card_action(b)).unwrap_or(Value::Null))
        .collect();
    content.insert("buttons".to_owned(), Value::Array(buttons));
    let kind = if card.thumbnail { "thumbnail" } else { "hero" };
    Attachment {
        content_type: format!("application/vnd.microsoft.card.{kind}"),
        content: Some(Value::Object(content)),
        ..Attachment::default()
    }
}

/// A media or file attachment sent by URL, as Copilot Studio sends an image of a Message node.
fn file_attachment(file: &crate::script::FileStep) -> Attachment {
    let name = file.name.clone().unwrap_or_else(|| {
        file.url
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("file")
            .to_owned()
    });
    let content_type = file.content_type.clone().unwrap_or_else(|| {
        let ext = name
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "mp4" => "video/mp4",
            "mp3" => "audio/mpeg",
            "pdf" => "application/pdf",
            _ => "application/octet-stream",
        }
        .to_owned()
    });
    Attachment {
        content_type,
        content_url: Some(file.url.clone()),
        name: Some(name),
        ..Attachment::default()
    }
}

fn render_handoff(
    activity: &mut Activity,
    script: &Script,
    reaction: &Reaction,
    handoff: &HandoffStep,
    place: &Place<'_>,
    transcript: &[Activity],
) {
    let lookup = |n: &str| reaction.vars.lookup(n);
    let strings =
        |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
    let mut value = Map::new();
    let mut put = |k: &str, v: Value| {
        value.insert(k.to_owned(), v);
    };
    put("va_Scope", json!("bot"));
    put("va_LastTopic", json!(reaction.topic));
    put("va_Topics", strings(&reaction.topics));
    put("va_LastPhrase", json!(reaction.last_phrase));
    put("va_Phrases", strings(&reaction.phrases));
    put("va_ConversationId", json!(place.conversation_id));
    put(
        "va_AgentMessage",
        json!(handoff.agent_message.render(&lookup)),
    );
    put("va_BotId", json!(script.agent.bot_id));
    put("va_BotName", json!(script.agent.name));
    put("va_Language", json!(script.agent.language));
    if handoff.include_variables {
        for (k, v) in &reaction.conversation_variables {
            value.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &handoff.variables {
        value.insert(k.clone(), render_value(v, &lookup));
    }

    // The transcript holds the messages exchanged so far, as in the captures: events and typing
    // are the channel's plumbing, not conversation.
    let messages: Vec<Activity> = transcript
        .iter()
        .filter(|a| a.kind == Activity::MESSAGE)
        .cloned()
        .collect();
    let bot = bot_account(script);
    activity.kind = Activity::EVENT.to_owned();
    activity.name = Some(HANDOFF_EVENT.to_owned());
    activity.locale = Some(script.agent.locale.clone());
    activity.value = Some(Value::Object(value));
    activity.attachments = Some(vec![Attachment {
        content_type: "application/json".to_owned(),
        name: Some("Transcript".to_owned()),
        content: Some(json!({ "activities": messages })),
        ..Attachment::default()
    }]);
    activity.entities = Some(Vec::new());
    activity.relates_to = Some(json!({
        "activityId": reaction.reply_to_id,
        "user": reaction.user,
        "bot": bot,
        "conversation": { "id": place.conversation_id },
        "channelId": "directline",
        "serviceUrl": place.service_url,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
        [agent]
        name = "Test Agent"
        bot_id = "bot-1"

        [variables]
        CustomerName = "there"

        [greeting]
        steps = [{ text = "Hello {CustomerName}" }]

        [[rules]]
        topic = "Name"
        match = { starts_with = "my name is", capture = "CustomerName" }
        set = { Greeted = "yes {CustomerName}" }
        steps = [{ text = "Hi {CustomerName}, turn {Turn}, before: {PreviousTopic|none}" }]

        [[rules]]
        topic = "Escalate"
        match = { contains = "agent" }
        steps = [{ handoff = { agent_message = "Wants {Topic}", variables = { OrderNumber = "1" }, include_variables = true } }]

        [fallback]
        steps = [{ text = "I understood: {Text}" }]
    "#;

    fn user(kind: &str, text: Option<&str>, name: Option<&str>) -> Activity {
        Activity {
            kind: kind.to_owned(),
            text: text.map(str::to_owned),
            name: name.map(str::to_owned),
            from: Some(ChannelAccount::new("dl_user", "user")),
            ..Activity::default()
        }
    }

    fn texts(script: &Script, reaction: &Reaction) -> Vec<String> {
        let place = Place {
            conversation_id: "c",
            service_url: "http://x/",
        };
        reaction
            .steps
            .iter()
            .map(|s| render(script, reaction, &s.action, &place, &[]))
            .map(|a| a.text.unwrap_or_default())
            .collect()
    }

    #[test]
    fn elapsed_ms_is_read_when_the_step_plays() {
        let script = Script::from_toml_str(
            "[agent]\nname = \"T\"\nbot_id = \"t\"\n[fallback]\nsteps = [{ text = \"took {ElapsedMs} ms\" }]\n",
        )
        .expect("script");
        let mut memory = Memory::default();
        let hello = user("message", Some("hi"), None);
        let trigger = classify(&script, &hello);
        let mut r = react(&script, &mut memory, &hello, trigger, "c", "c|1").expect("fallback");
        r.received = Instant::now() - std::time::Duration::from_millis(40);
        let text = texts(&script, &r).remove(0);
        let ms: f64 = text
            .strip_prefix("took ")
            .and_then(|t| t.strip_suffix(" ms"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("not a number of ms: {text}"));
        assert!((40.0..10_000.0).contains(&ms), "{ms}");
    }

    #[test]
    fn memory_carries_across_turns() {
        let script = Script::from_toml_str(SCRIPT).expect("script");
        let mut memory = Memory::default();

        let start = user("event", None, Some(START_CONVERSATION));
        let trigger = classify(&script, &start);
        assert_eq!(trigger, Trigger::Greeting);
        let r = react(&script, &mut memory, &start, trigger, "c", "c|0000001").expect("greeting");
        assert_eq!(texts(&script, &r), ["Hello there"]);

        let name = user("message", Some("My name is Ada"), None);
        let trigger = classify(&script, &name);
        assert_eq!(trigger, Trigger::Rule(0));
        let r = react(&script, &mut memory, &name, trigger, "c", "c|0000002").expect("rule");
        assert_eq!(
            texts(&script, &r),
            ["Hi Ada, turn 1, before: Conversation Start"]
        );
        assert_eq!(memory.variables["Greeted"], "yes Ada");

        let other = user("message", Some("blah"), None);
        let trigger = classify(&script, &other);
        assert_eq!(trigger, Trigger::Fallback);
        let r = react(&script, &mut memory, &other, trigger, "c", "c|0000003").expect("fallback");
        assert_eq!(texts(&script, &r), ["I understood: blah"]);
        assert_eq!(memory.turns, 2);
        assert_eq!(memory.topics, ["Conversation Start", "Name", "Fallback"]);
    }

    #[test]
    fn set_context_is_silent_and_feeds_templates() {
        let script = Script::from_toml_str(SCRIPT).expect("script");
        let mut memory = Memory::default();
        let mut ctx = user("event", None, Some(SET_CONTEXT));
        ctx.value = Some(json!({"CustomerName": "Grace", "CustomerTier": "gold"}));
        assert!(
            react(
                &script,
                &mut memory,
                &ctx,
                classify(&script, &ctx),
                "c",
                "c|1"
            )
            .is_none()
        );
        let start = user("event", None, Some(START_CONVERSATION));
        let r = react(&script, &mut memory, &start, Trigger::Greeting, "c", "c|2").expect("r");
        assert_eq!(texts(&script, &r), ["Hello Grace"]);
    }

    #[test]
    fn handoff_carries_context_and_transcript() {
        let script = Script::from_toml_str(SCRIPT).expect("script");
        let mut memory = Memory::default();
        memory
            .variables
            .insert("CustomerTier".into(), json!("gold"));
        let msg = user("message", Some("I want an agent"), None);
        let r = react(
            &script,
            &mut memory,
            &msg,
            classify(&script, &msg),
            "c",
            "c|0000002",
        )
        .expect("handoff");
        let mut stored = msg.clone();
        stored.id = Some("c|0000002".to_owned());
        let typing = Activity {
            kind: "typing".to_owned(),
            ..Activity::default()
        };
        let place = Place {
            conversation_id: "c",
            service_url: "http://x/",
        };
        let a = render(&script, &r, &r.steps[0].action, &place, &[stored, typing]);
        assert_eq!(a.kind, "event");
        assert_eq!(a.name.as_deref(), Some(HANDOFF_EVENT));
        let v = a.value.expect("value");
        assert_eq!(v["va_AgentMessage"], "Wants Escalate");
        assert_eq!(v["va_LastTopic"], "Escalate");
        assert_eq!(v["va_LastPhrase"], "I want an agent");
        assert_eq!(v["va_Phrases"], json!(["I want an agent"]));
        assert_eq!(v["OrderNumber"], "1");
        assert_eq!(v["CustomerTier"], "gold");
        assert_eq!(v["va_BotId"], "bot-1");
        let attachments = a.attachments.expect("transcript");
        let transcript = attachments[0].content.as_ref().expect("content");
        assert_eq!(transcript["activities"].as_array().map(Vec::len), Some(1));
        assert_eq!(a.relates_to.expect("relatesTo")["activityId"], "c|0000002");
    }
}
