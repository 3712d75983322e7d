//! The bodies of the fuzz targets in `fuzz/` (`cargo fuzz run genesys_request` and
//! `directline_activities`), kept here so that the same code also runs as a plain, deterministic
//! test over a corpus (`crates/core/tests/fuzz_corpus.rs`) on the stable toolchain.
//!
//! Each takes arbitrary bytes, runs them through the parser and everything the bytes reach in a
//! turn, and returns `Err` with a description when an invariant breaks. A panic anywhere below
//! is a bug as well (the fuzzer reports it; the corpus test fails).

use gcbridge_directline::{Activity, ActivitySet};
use gcbridge_genesys::{BotState, TurnRequest, TurnResponse};

use crate::collect::Collector;
use crate::errors::ErrorCode;
use crate::profile::BotProfile;
use crate::request::Turn;
use crate::translate::translate_turn;

/// A Genesys turn request body as gcbridge reads it: parsed leniently, then validated. Either a
/// parse error, a fixed `Failed` code, or a turn with a session id and an idempotency key.
pub fn genesys_request(data: &[u8]) -> Result<(), String> {
    let Ok(request) = serde_json::from_slice::<TurnRequest>(data) else {
        // Answered Failed/InvalidRequest by the router.
        return check_response(&ErrorCode::InvalidRequest.response(), None);
    };
    match Turn::from_request(request) {
        Ok(turn) => {
            if turn.bot_session_id.as_str().trim().is_empty() {
                return Err("a turn without a bot session id".to_owned());
            }
            if turn.request_key.is_empty() {
                return Err("a turn without an idempotency key".to_owned());
            }
            if turn.bot.chat_bot_id.is_none() && turn.bot.bot_id.is_none() {
                return Err("a turn without a bot reference".to_owned());
            }
            Ok(())
        }
        Err(code) => check_response(&code.response(), None),
    }
}

/// A Direct Line ActivitySet (or a single activity) as gcbridge reads it: parsed, fed to the
/// turn collector as a catch-up read and as live frames, and translated into a Genesys answer
/// with the default bot profile. The answer must be one Genesys accepts.
pub fn directline_activities(data: &[u8]) -> Result<(), String> {
    let set = match serde_json::from_slice::<ActivitySet>(data) {
        Ok(set) => set,
        Err(_) => match serde_json::from_slice::<Activity>(data) {
            Ok(activity) => ActivitySet {
                activities: vec![activity],
                ..ActivitySet::default()
            },
            Err(_) => return Ok(()),
        },
    };
    let profile = BotProfile::default();
    let mut collector = Collector::new(&profile, 0, [], None);
    let half = set.activities.len() / 2;
    let (early, late) = set.activities.split_at(half);
    collector.catch_up(
        ActivitySet {
            activities: early.to_vec(),
            watermark: set.watermark.clone(),
            ..ActivitySet::default()
        },
        0,
    );
    collector.posted("posted");
    collector.receive(
        ActivitySet {
            activities: late.to_vec(),
            watermark: set.watermark.clone(),
            ..ActivitySet::default()
        },
        10,
    );
    let _ = collector.decide(20);
    let collected = collector.finish();
    for a in &collected.activities {
        if !a.is_from_bot() {
            return Err("a user activity was collected as a reply".to_owned());
        }
    }
    let translation = translate_turn(&profile, &collected.activities, 1);
    check_response(&translation.response, Some(&profile))?;
    // Translating the whole set directly (as a carried backlog would be) holds too.
    let direct = translate_turn(&profile, &set.activities, 2);
    check_response(&direct.response, Some(&profile))
}

/// An answer Genesys accepts: serialisable, `Failed` with a code and a message (and no
/// replies), replies with text within the profile's limits.
fn check_response(response: &TurnResponse, profile: Option<&BotProfile>) -> Result<(), String> {
    let json = serde_json::to_value(response).map_err(|e| format!("unserialisable: {e}"))?;
    if json.get("botState").and_then(|s| s.as_str()).is_none() {
        return Err(format!("no botState in {json}"));
    }
    if response.bot_state == BotState::Failed {
        let info = response
            .error_info
            .as_ref()
            .ok_or("Failed without errorInfo")?;
        if info.error_code.is_empty() || info.error_message.is_empty() {
            return Err("Failed with an empty code or message".to_owned());
        }
        if !response.reply_messages.is_empty() {
            return Err("Failed with replies".to_owned());
        }
    }
    if let Some(profile) = profile {
        if response.reply_messages.len() > profile.max_messages {
            return Err(format!("{} replies", response.reply_messages.len()));
        }
        for message in &response.reply_messages {
            let text = message.text.as_deref().unwrap_or_default();
            if text.trim().is_empty() {
                return Err("a reply without text".to_owned());
            }
            if text.chars().count() > profile.max_text_chars {
                return Err(format!("a reply of {} characters", text.chars().count()));
            }
        }
    }
    Ok(())
}
