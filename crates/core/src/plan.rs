//! Which activities to post for one turn, in order (`mapping.md` §3.1–§3.3).

use gcbridge_directline::{Activity, Attachment, ChannelAccount};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::offers::{ClickMessage, parse_payload};
use crate::profile::BotProfile;
use crate::request::{Input, Turn};
use crate::session::SessionRecord;

/// Prefix of parameter names reserved for gcbridge controls; never sent as context.
pub const RESERVED_PARAMETER_PREFIX: &str = "_gcb";

/// Why an activity is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostPurpose {
    /// `pvaSetContext` with the Genesys parameters.
    Context,
    /// `startConversation`, which makes Copilot Studio greet.
    Start,
    /// The customer's message.
    Message,
}

/// One activity to post.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPost {
    pub purpose: PostPurpose,
    pub activity: Activity,
}

/// The posts of one turn, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnPlan {
    pub posts: Vec<PlannedPost>,
    /// How a button click was read, when the input was one (for metrics).
    pub button: Option<ButtonResolution>,
}

impl TurnPlan {
    /// True when the customer's message is among the posts.
    pub fn posts_customer_message(&self) -> bool {
        self.posts.iter().any(|p| p.purpose == PostPurpose::Message)
    }
}

/// How a clicked button's payload was read (`mapping.md` §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonResolution {
    /// A payload gcbridge offered in one of the remembered turns: posted as its action.
    Offered,
    /// A gcbridge payload of a turn no longer remembered (or of a record that was replaced):
    /// posted as the button's label, since the payload itself means nothing to the agent.
    Expired,
    /// Any other payload (written by the agent as Genesys JSON, or by another tool): posted as
    /// text, verbatim.
    Foreign,
}

/// What a click posts, and how its payload was read.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedButton {
    /// The message fields to post.
    pub message: ClickMessage,
    /// How the payload was read.
    pub resolution: ButtonResolution,
}

/// Resolves a click (`Input::Button`) against the actions the session offered: an offered
/// payload posts what its Bot Framework action posts (`imBack` text, `postBack` text or value,
/// `messageBack` text and value, Adaptive submit data merged with the chosen value); an
/// expired gcbridge payload posts the button's label; any other payload posts itself as text.
pub fn resolve_button(
    session: &SessionRecord,
    label: Option<&str>,
    payload: &str,
) -> ResolvedButton {
    if let Some(action) = session.offered_action(payload) {
        return ResolvedButton {
            message: action.click(),
            resolution: ButtonResolution::Offered,
        };
    }
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    let (text, resolution) = match (parse_payload(payload), label) {
        (Some(_), Some(label)) => (label, ButtonResolution::Expired),
        (Some(_), None) => (payload, ButtonResolution::Expired),
        (None, _) => (payload, ButtonResolution::Foreign),
    };
    ResolvedButton {
        message: ClickMessage {
            text: Some(text.to_owned()),
            ..ClickMessage::default()
        },
        resolution,
    }
}

/// Plans the posts of a turn and records what planning changes in the session (the parameter
/// digest and the `clientActivityID` sequence). `first_turn` is true for a new conversation.
pub fn plan_turn(
    profile: &BotProfile,
    session: &mut SessionRecord,
    turn: &Turn,
    first_turn: bool,
) -> TurnPlan {
    let mut posts = Vec::new();

    let context = context_value(turn);
    if !context.is_empty() {
        let hash = params_digest(&context);
        if first_turn || session.params_hash.as_deref() != Some(hash.as_str()) {
            let mut activity = base_activity(profile, session, turn, Activity::EVENT);
            activity.name = Some("pvaSetContext".to_owned());
            activity.value = Some(Value::Object(context));
            posts.push(PlannedPost {
                purpose: PostPurpose::Context,
                activity,
            });
            session.params_hash = Some(hash);
        }
    }

    if first_turn {
        let mut activity = base_activity(profile, session, turn, Activity::EVENT);
        activity.name = Some("startConversation".to_owned());
        posts.push(PlannedPost {
            purpose: PostPurpose::Start,
            activity,
        });
    }

    let mut button = None;
    if let Some(message) = customer_message(profile, session, turn, first_turn, &mut button) {
        posts.push(PlannedPost {
            purpose: PostPurpose::Message,
            activity: message,
        });
    }
    TurnPlan { posts, button }
}

/// The customer's input as a message activity, or `None` when there is nothing to post.
/// `button` is set to how a click was read.
fn customer_message(
    profile: &BotProfile,
    session: &mut SessionRecord,
    turn: &Turn,
    first_turn: bool,
    button: &mut Option<ButtonResolution>,
) -> Option<Activity> {
    let mut message = ClickMessage::default();
    let mut attachments = Vec::new();
    match &turn.input {
        Input::Nothing => return None,
        Input::Text(text) => {
            let is_trigger = profile
                .greeting_triggers
                .iter()
                .any(|t| t.trim().eq_ignore_ascii_case(text.trim()));
            if first_turn && is_trigger {
                return None;
            }
            message.text = Some(text.clone());
        }
        Input::Button { text, payload } => {
            let resolved = resolve_button(session, text.as_deref(), payload);
            *button = Some(resolved.resolution);
            message = resolved.message;
        }
        Input::Attachments { text, files } => {
            message.text = text.clone();
            attachments = files
                .iter()
                .map(|f| Attachment {
                    content_type: f
                        .mime
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".to_owned()),
                    content_url: Some(f.url.clone()),
                    name: f.filename.clone(),
                    ..Attachment::default()
                })
                .collect();
        }
    }
    let mut activity = base_activity(profile, session, turn, Activity::MESSAGE);
    if let Some(text) = message.text {
        activity.text = Some(truncate_chars(&text, profile.max_input_chars));
        activity.text_format = Some("plain".to_owned());
    }
    activity.value = message.value;
    if !message.channel_data.is_empty()
        && let Some(Value::Object(channel_data)) = activity.channel_data.as_mut()
    {
        channel_data.extend(message.channel_data);
    }
    if !attachments.is_empty() {
        activity.attachments = Some(attachments);
    }
    Some(activity)
}

/// Fields common to every posted activity: sender, locale and `channelData`.
fn base_activity(
    profile: &BotProfile,
    session: &mut SessionRecord,
    turn: &Turn,
    kind: &str,
) -> Activity {
    session.post_seq += 1;
    let mut channel_data = Map::new();
    channel_data.insert(
        "clientActivityID".to_owned(),
        Value::String(client_activity_id(session, &turn.request_key)),
    );
    if profile.send_genesys_ids {
        let mut genesys = Map::new();
        if let Some(conversation) = &turn.genesys_conversation_id {
            genesys.insert("conversationId".to_owned(), json!(conversation));
        }
        genesys.insert(
            "botSessionId".to_owned(),
            json!(turn.bot_session_id.as_str()),
        );
        channel_data.insert("genesys".to_owned(), Value::Object(genesys));
    }
    Activity {
        kind: kind.to_owned(),
        from: Some(ChannelAccount::new(session.dl.user_id.clone(), "user")),
        locale: Some(session.locale.clone()),
        channel_data: Some(Value::Object(channel_data)),
        ..Activity::default()
    }
}

/// `gcb-<4 hex of the user id>-<sequence>-<6 hex of the request key>`: unique per session,
/// recognisable in echoes, and the same when the same request is planned again on the same
/// stored record. That is how a turn cut short after posting (the process killed before it
/// saved) is recognised when Genesys repeats the request: the echo of an activity with this id
/// is already in the conversation, so it is not posted twice (`app::turn`). A different input
/// at the same sequence gets a different id and is posted.
fn client_activity_id(session: &SessionRecord, request_key: &str) -> String {
    let short: String = session
        .dl
        .user_id
        .trim_start_matches("dl_gcb_")
        .chars()
        .take(4)
        .collect();
    let key = hex::encode(&Sha256::digest(request_key.as_bytes())[..3]);
    format!("gcb-{short}-{:04}-{key}", session.post_seq)
}

/// Parameters to send as context: every key except reserved ones.
fn context_value(turn: &Turn) -> Map<String, Value> {
    turn.parameters
        .iter()
        .filter(|(k, _)| !k.starts_with(RESERVED_PARAMETER_PREFIX))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Digest of the sorted key/value pairs, to resend context only when it changed.
fn params_digest(context: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = context.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (k, v) in pairs {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_str().unwrap_or_default().as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// At most `max` characters, cut on a character boundary.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::DirectLineSession;

    fn session() -> SessionRecord {
        SessionRecord::new(
            "contoso-support",
            "1",
            None,
            DirectLineSession {
                conversation_id: "conv".into(),
                base_url: "http://127.0.0.1:1".into(),
                token: None,
                token_expires_at_ms: None,
                user_id: "dl_gcb_5c0f1e2d3a4b5c6d7e8f9a0b1c2d3e4f".into(),
            },
            "en-US".into(),
            0,
            60,
        )
    }

    fn turn(v: serde_json::Value) -> Turn {
        Turn::from_request(serde_json::from_value(v).expect("wire")).expect("valid")
    }

    fn fixture_turn() -> Turn {
        turn(
            serde_json::from_str(include_str!(
                "../../../fixtures/genesys-v1-request-text.json"
            ))
            .expect("json"),
        )
    }

    #[test]
    fn first_turn_posts_context_start_message_like_the_fixtures() {
        let mut s = session();
        let plan = plan_turn(&BotProfile::default(), &mut s, &fixture_turn(), true);
        let purposes: Vec<_> = plan.posts.iter().map(|p| p.purpose).collect();
        assert_eq!(
            purposes,
            [
                PostPurpose::Context,
                PostPurpose::Start,
                PostPurpose::Message
            ]
        );
        let message = &plan.posts[2].activity;
        let golden: Activity = serde_json::from_str(include_str!(
            "../../../fixtures/directline-post-message.json"
        ))
        .expect("fixture");
        assert_eq!(message.text, golden.text);
        assert_eq!(message.from, golden.from);
        assert_eq!(message.locale, golden.locale);
        assert_eq!(message.text_format, golden.text_format);
        let cd = message.channel_data_object().expect("channelData");
        assert_eq!(
            cd["genesys"],
            golden.channel_data_object().expect("cd")["genesys"]
        );
        let context = &plan.posts[0].activity;
        assert_eq!(context.name.as_deref(), Some("pvaSetContext"));
        assert_eq!(
            context.value.as_ref().expect("value")["CustomerTier"],
            "gold"
        );
        assert_eq!(
            plan.posts[1].activity.name.as_deref(),
            Some("startConversation")
        );
        // Every clientActivityID is distinct.
        let ids: std::collections::HashSet<_> = plan
            .posts
            .iter()
            .filter_map(|p| p.activity.client_activity_id())
            .collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn later_turns_resend_context_only_when_changed() {
        let mut s = session();
        let t = fixture_turn();
        plan_turn(&BotProfile::default(), &mut s, &t, true);
        let again = plan_turn(&BotProfile::default(), &mut s, &t, false);
        assert_eq!(again.posts.len(), 1);
        assert_eq!(again.posts[0].purpose, PostPurpose::Message);
        let mut changed = t.clone();
        changed
            .parameters
            .insert("CustomerTier".into(), "platinum".into());
        let third = plan_turn(&BotProfile::default(), &mut s, &changed, false);
        assert_eq!(third.posts[0].purpose, PostPurpose::Context);
    }

    #[test]
    fn greeting_trigger_and_empty_input_post_no_message() {
        let profile = BotProfile {
            greeting_triggers: vec!["Menu".into()],
            ..BotProfile::default()
        };
        let mut s = session();
        let t = turn(
            serde_json::json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":"menu"}}),
        );
        let plan = plan_turn(&profile, &mut s, &t, true);
        assert_eq!(plan.posts.len(), 1);
        assert!(!plan.posts_customer_message());
        let empty = turn(
            serde_json::json!({"botId":"b","botSessionId":"s","inputMessage":{"type":"Text","text":""}}),
        );
        assert!(plan_turn(&profile, &mut s, &empty, false).posts.is_empty());
        // A trigger text on a later turn is an ordinary message.
        assert!(plan_turn(&profile, &mut s, &t, false).posts_customer_message());
    }

    #[test]
    fn long_text_is_truncated_on_char_boundary_and_reserved_params_dropped() {
        let profile = BotProfile {
            max_input_chars: 3,
            ..BotProfile::default()
        };
        let mut s = session();
        let t = turn(
            serde_json::json!({"botId":"b","botSessionId":"s","parameters":{"_gcbX":"1"},
            "inputMessage":{"type":"Text","text":"héllo"}}),
        );
        let plan = plan_turn(&profile, &mut s, &t, false);
        assert_eq!(plan.posts.len(), 1);
        assert_eq!(plan.posts[0].activity.text.as_deref(), Some("hél"));
    }
}
