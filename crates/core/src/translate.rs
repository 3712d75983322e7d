//! The agent's activities → the Genesys answer (`spec/mapping.md` §4 and §5).
//!
//! [`translate_turn`] reads the bot activities collected for one turn, in server order, and
//! returns the `TurnResponse`, whether the session ends with it, and the buttons it offers:
//!
//! - bot `message`s become reply messages: text through the text pipeline ([`text`]),
//!   suggested actions as quick replies and hero/thumbnail cards as cards or carousels
//!   ([`cards`]), Adaptive Cards as their closest card ([`adaptive`]), files per the
//!   `attachments` setting ([`media`]), Genesys JSON written by the agent as native messages
//!   ([`passthrough`]), and what Genesys cannot show as readable text ([`degrade`]); the drafts
//!   of the whole turn are then assembled with the limits applied last ([`draft`]);
//! - every button gcbridge offers gets a `gcb:` payload of this turn, and the translation
//!   returns what each payload stands for, for the session to remember
//!   ([`crate::offers`]);
//! - the first handoff event (`handoff.initiate` or a configured name) or end signal
//!   (`endOfConversation` or a configured event name) decides a `Complete` answer with the
//!   escalate intent and its slots ([`slots`]) or the end intent; every message of the turn is
//!   still delivered, including those after it;
//! - anything else (`typing`, `trace`, `conversationUpdate`, other events, unknown types, user
//!   activities) produces nothing and is only counted.
//!
//! Everything here is a pure function of the bot profile, the activities and the turn number:
//! no I/O, no clock, no randomness, and no input makes it panic.

pub mod adaptive;
pub mod cards;
pub mod citations;
pub mod content;
pub mod degrade;
pub mod draft;
pub mod markdown;
pub mod media;
pub mod passthrough;
pub mod slots;
pub mod split;
pub mod text;

use gcbridge_directline::Activity;
use gcbridge_genesys::{BotState, ReplyMessage, TurnResponse};
use serde_json::Value;

use crate::offers::{Offer, OfferBook};
use crate::profile::BotProfile;

use self::draft::Draft;
use self::slots::{AGENT_MESSAGE, DroppedSlot, END_CODE, Slots};

/// How the turn ended, when the agent ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `handoff.initiate` or a configured handoff event: `Complete` + escalate intent.
    Handoff,
    /// `endOfConversation` or a configured end event: `Complete` + end intent.
    End,
}

/// The Genesys answer for a turn's activities, and whether the session ends with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The answer to send.
    pub response: TurnResponse,
    /// `Some` when the agent handed off or ended: the session is completed after answering.
    pub ending: Option<Ending>,
    /// Handoff values that were not sent as slots, with why (names only, for debug metrics and
    /// a warning log; values are never exposed).
    pub dropped_slots: Vec<DroppedSlot>,
    /// Activities that produced nothing because of who sent them or their type (for metrics).
    pub ignored_activities: usize,
    /// The buttons shown in this answer, with what a click on each posts: remember them in the
    /// session (`SessionRecord::remember_offers`) with the same turn number.
    pub offered: Vec<Offer>,
}

/// What one activity means for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A bot message: its content goes to the customer.
    Message,
    /// A handoff request.
    Handoff,
    /// The agent ended the conversation; its `text`, if any, goes to the customer.
    End,
    /// Nothing for the customer.
    Ignored,
}

fn role(profile: &BotProfile, activity: &Activity) -> Role {
    if !activity.is_from_bot() {
        return Role::Ignored;
    }
    let kind = activity.kind.as_str();
    if kind.eq_ignore_ascii_case(Activity::MESSAGE) {
        Role::Message
    } else if kind.eq_ignore_ascii_case(Activity::END_OF_CONVERSATION) {
        Role::End
    } else if kind.eq_ignore_ascii_case(Activity::EVENT) {
        let name = activity.name.as_deref().unwrap_or_default();
        if profile.is_handoff_event(name) {
            Role::Handoff
        } else if profile.is_end_event(name) {
            Role::End
        } else {
            Role::Ignored
        }
    } else {
        Role::Ignored
    }
}

/// Translates the bot activities collected for one turn, in server order.
///
/// `turn` is the session's turn counter: it goes into the payload of every button offered
/// (`gcb:<qr|pb>:<turn>:<slug>`), and [`Translation::offered`] lists them. `activities` may
/// contain anything the collector kept (messages, events, endOfConversation); typing and
/// unknown types produce nothing. The first handoff or end activity decides the ending; later
/// ones only contribute their text.
pub fn translate_turn(profile: &BotProfile, activities: &[Activity], turn: u64) -> Translation {
    let mut drafts: Vec<Draft> = Vec::new();
    let mut ignored_activities = 0;
    let mut decider: Option<(Ending, &Activity)> = None;
    for activity in activities {
        match role(profile, activity) {
            Role::Message => drafts.extend(content::message_drafts(profile, activity)),
            Role::Handoff => {
                decider.get_or_insert((Ending::Handoff, activity));
            }
            Role::End => {
                drafts.extend(end_drafts(profile, activity));
                decider.get_or_insert((Ending::End, activity));
            }
            Role::Ignored => ignored_activities += 1,
        }
    }
    let mut book = OfferBook::new(turn);
    let messages = draft::assemble(profile, drafts, &mut book);
    let (response, ending, dropped_slots) = match decider {
        None => (TurnResponse::more_data(messages), None, Vec::new()),
        Some((Ending::Handoff, event)) => {
            let slots = slots::handoff_slots(profile, event.value.as_ref());
            let response = complete(&profile.escalate_intent, messages, &slots);
            (response, Some(Ending::Handoff), slots.dropped)
        }
        Some((Ending::End, end)) => {
            let slots = end_slots(profile, end);
            let response = complete(&profile.end_intent, messages, &slots);
            (response, Some(Ending::End), slots.dropped)
        }
    };
    Translation {
        response,
        ending,
        dropped_slots,
        ignored_activities,
        offered: book.into_offers(),
    }
}

/// [`translate_turn`] for callers that do not resolve button clicks (tools, tests): payloads
/// are made for turn 1.
pub fn translate(profile: &BotProfile, activities: &[Activity]) -> Translation {
    translate_turn(profile, activities, 1)
}

/// The answer for `on_agent_error = "escalate"` (`mapping.md` §5.4): `Complete` with the
/// escalate intent and the configured agent message, so the customer reaches a human when the
/// agent cannot be reached.
pub fn agent_error_escalation(profile: &BotProfile) -> TurnResponse {
    let mut slots = Slots::default();
    slots.push(
        AGENT_MESSAGE,
        "String",
        &Value::String(profile.agent_error_message.clone()),
    );
    complete(&profile.escalate_intent, Vec::new(), &slots)
}

/// A `Complete` answer with an intent and its slots.
fn complete(intent: &str, messages: Vec<ReplyMessage>, slots: &Slots) -> TurnResponse {
    TurnResponse {
        intent: Some(intent.to_owned()),
        entities: slots.entities.clone(),
        parameters: slots.parameters.clone(),
        ..TurnResponse::new(BotState::Complete, messages)
    }
}

/// The text an end activity carries for the customer (`endOfConversation` may say goodbye).
fn end_drafts(profile: &BotProfile, activity: &Activity) -> Option<Draft> {
    let raw = activity.text.as_deref()?;
    Some(Draft::Text(text::format_text(
        raw,
        profile.markdown,
        profile.citations,
    )))
}

/// The end intent's optional `va_EndCode` slot, only when the bot declares it: the code from
/// `code`, or from `value.code` where one transcript capture put it.
fn end_slots(profile: &BotProfile, activity: &Activity) -> Slots {
    let mut slots = Slots::default();
    if !profile.end_code_slot {
        return slots;
    }
    let from_value = activity
        .value
        .as_ref()
        .and_then(|v| v.get("code"))
        .filter(|c| c.is_string());
    let code = activity
        .code
        .as_ref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| Value::String(c.clone()))
        .or_else(|| from_value.cloned());
    if let Some(code) = code {
        slots.push(END_CODE, "String", &code);
    }
    slots
}
