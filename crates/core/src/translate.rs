//! The agent's activities → the Genesys answer (`spec/mapping.md` §4 and §5).

use gcbridge_directline::Activity;
use gcbridge_genesys::TurnResponse;

use crate::profile::BotProfile;

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
    pub response: TurnResponse,
    pub ending: Option<Ending>,
}

/// Translates the bot activities collected for one turn, in server order.
///
/// `activities` may contain anything the collector kept (messages, events, endOfConversation);
/// typing and unknown types produce nothing.
pub fn translate(profile: &BotProfile, activities: &[Activity]) -> Translation {
    let _ = (profile, activities);
    Translation {
        response: TurnResponse::more_data(Vec::new()),
        ending: None,
    }
}
