//! The session record persisted between turns (`mapping.md` §1.2), versioned and stored as one
//! JSON value by whatever store backend is configured.

use std::collections::{BTreeMap, VecDeque};

use gcbridge_genesys::TurnResponse;
use serde::{Deserialize, Serialize};

use crate::offers::{Offer, OfferedAction};

/// Current schema version of [`SessionRecord`].
pub const RECORD_VERSION: u32 = 1;
/// How many delivered activity ids are kept for dedupe. Only activities after the delivered
/// watermark can be read again (a partly delivered set, a stream replay after a reconnect), and
/// the watermark moves with every set read, so this is many turns of a chatty agent. Every id is
/// decoded, hashed and encoded again on each turn: 256 cost gcbridge 0.09 ms of CPU per turn
/// (0.39 instead of 0.30 ms in `gcbridge bench`, 200 sessions × 200 turns).
pub const MAX_DELIVERED_IDS: usize = 64;
/// How many posted activities are kept for `replyToId` correlation.
pub const MAX_POSTED: usize = 20;
/// How many turns' offered buttons are kept (`mapping.md` §3.2): a customer may still click a
/// card from a turn or two ago; older buttons resolve as unknown payloads.
pub const MAX_OFFERED_TURNS: usize = 3;

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Active,
    Completed,
    Failed,
}

/// The Direct Line side of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectLineSession {
    pub conversation_id: String,
    /// Host the conversation lives on (regional or the emulator).
    pub base_url: String,
    /// Token mode only. A credential: never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at_ms: Option<u64>,
    /// `from.id` used for everything posted in this session.
    pub user_id: String,
}

/// One activity gcbridge posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedActivity {
    pub activity_id: String,
    pub client_activity_id: String,
    pub turn: u64,
}

/// The buttons offered in one turn: payload → what a click posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferedTurn {
    /// The session turn the buttons were offered in (the `<turn>` of their payloads).
    pub turn: u64,
    /// Payload → action.
    pub actions: BTreeMap<String, OfferedAction>,
}

/// The answer given to a request, kept to replay it when Genesys repeats the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRequest {
    pub key: String,
    pub response: TurnResponse,
    pub at_ms: u64,
}

/// Everything gcbridge remembers about one Genesys bot session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub version: u32,
    pub bot_id: String,
    pub bot_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesys_conversation_id: Option<String>,
    pub state: SessionState,
    pub dl: DirectLineSession,
    /// Locale used on posted activities.
    pub locale: String,
    /// Watermark of the last ActivitySet whose bot activities were all delivered. Opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_watermark: Option<String>,
    /// Ids of bot activities delivered recently (bounded), to drop repeats.
    #[serde(default)]
    pub delivered_ids: VecDeque<String>,
    /// Activities posted recently (bounded).
    #[serde(default)]
    pub posted: VecDeque<PostedActivity>,
    /// Digest of the parameters last sent as context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_hash: Option<String>,
    /// Turn counter, 1 on the first turn.
    pub turn: u64,
    /// Sequence for `clientActivityID`s.
    #[serde(default)]
    pub post_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<LastRequest>,
    /// Customer input not posted because the session was ending (for the transcript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_input: Option<String>,
    /// Buttons offered in the last [`MAX_OFFERED_TURNS`] turns that offered any, oldest first,
    /// to resolve clicks (`mapping.md` §3.2). Absent in records written before buttons were
    /// offered natively, hence the default: such a record simply knows no payloads.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub offered_actions: VecDeque<OfferedTurn>,
    /// Asynchronous replies Genesys did not accept yet (a Platform API outage), oldest first:
    /// pushed before anything else on the next turn, so the customer gets each exactly once
    /// and in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpushed: Vec<TurnResponse>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("session record is not valid JSON for schema version {RECORD_VERSION}")]
    Malformed,
    #[error("session record has schema version {0}, newer than this gcbridge understands")]
    FutureVersion(u32),
}

impl SessionRecord {
    /// A new active record for a just-started Direct Line conversation.
    pub fn new(
        bot_id: &str,
        bot_version: &str,
        genesys_conversation_id: Option<String>,
        dl: DirectLineSession,
        locale: String,
        now_ms: u64,
        timeout_minutes: u64,
    ) -> Self {
        Self {
            version: RECORD_VERSION,
            bot_id: bot_id.to_owned(),
            bot_version: bot_version.to_owned(),
            genesys_conversation_id,
            state: SessionState::Active,
            dl,
            locale,
            delivered_watermark: None,
            delivered_ids: VecDeque::new(),
            posted: VecDeque::new(),
            params_hash: None,
            turn: 0,
            post_seq: 0,
            last_request: None,
            pending_input: None,
            offered_actions: VecDeque::new(),
            unpushed: Vec::new(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            expires_at_ms: expiry(now_ms, timeout_minutes),
        }
    }

    /// Serialises the record for the store.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and maps with string keys always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored record, refusing records written by a newer gcbridge.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly = serde_json::from_slice(bytes).map_err(|_| DecodeError::Malformed)?;
        if v.version > RECORD_VERSION {
            return Err(DecodeError::FutureVersion(v.version));
        }
        serde_json::from_slice(bytes).map_err(|_| DecodeError::Malformed)
    }

    /// Marks the record touched at `now_ms`, extending its expiry by the session timeout.
    pub fn touch(&mut self, now_ms: u64, timeout_minutes: u64) {
        self.updated_at_ms = now_ms;
        self.expires_at_ms = expiry(now_ms, timeout_minutes);
    }

    /// Remembers delivered bot activity ids, keeping the most recent [`MAX_DELIVERED_IDS`].
    pub fn remember_delivered<I: IntoIterator<Item = String>>(&mut self, ids: I) {
        for id in ids {
            if !self.delivered_ids.contains(&id) {
                self.delivered_ids.push_back(id);
            }
        }
        while self.delivered_ids.len() > MAX_DELIVERED_IDS {
            self.delivered_ids.pop_front();
        }
    }

    /// Remembers a posted activity, keeping the most recent [`MAX_POSTED`].
    pub fn remember_posted(&mut self, posted: PostedActivity) {
        self.posted.push_back(posted);
        while self.posted.len() > MAX_POSTED {
            self.posted.pop_front();
        }
    }

    /// Remembers the buttons offered in `turn` (`Translation::offered`), keeping the offers of
    /// the last [`MAX_OFFERED_TURNS`] turns that offered any. A turn without offers changes
    /// nothing, so a card stays clickable while the conversation goes on in text. Offers for a
    /// turn already remembered are added to it (a later payload replaces an equal one).
    pub fn remember_offers(&mut self, turn: u64, offers: Vec<Offer>) {
        if offers.is_empty() {
            return;
        }
        let entry = match self.offered_actions.iter().position(|t| t.turn == turn) {
            Some(i) => &mut self.offered_actions[i],
            None => {
                self.offered_actions.push_back(OfferedTurn {
                    turn,
                    actions: BTreeMap::new(),
                });
                let last = self.offered_actions.len() - 1;
                &mut self.offered_actions[last]
            }
        };
        entry
            .actions
            .extend(offers.into_iter().map(|o| (o.payload, o.action)));
        while self.offered_actions.len() > MAX_OFFERED_TURNS {
            self.offered_actions.pop_front();
        }
    }

    /// The action behind a payload gcbridge offered in one of the remembered turns.
    pub fn offered_action(&self, payload: &str) -> Option<&OfferedAction> {
        self.offered_actions
            .iter()
            .rev()
            .find_map(|t| t.actions.get(payload))
    }

    /// True when the session already answered `Complete` or `Failed`.
    pub fn has_ended(&self) -> bool {
        self.state != SessionState::Active
    }
}

/// `now + timeout` in unix milliseconds, saturating.
pub fn expiry(now_ms: u64, timeout_minutes: u64) -> u64 {
    now_ms.saturating_add(timeout_minutes.saturating_mul(60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord::new(
            "bot",
            "1",
            Some("c1".into()),
            DirectLineSession {
                conversation_id: "conv".into(),
                base_url: "http://127.0.0.1:1".into(),
                token: None,
                token_expires_at_ms: None,
                user_id: "dl_gcb_x".into(),
            },
            "en-US".into(),
            1_000,
            60,
        )
    }

    #[test]
    fn round_trip_and_expiry() {
        let r = record();
        assert_eq!(r.expires_at_ms, 1_000 + 3_600_000);
        let back = SessionRecord::decode(&r.encode()).expect("decode");
        assert_eq!(back, r);
    }

    #[test]
    fn refuses_future_and_garbage() {
        let mut v: serde_json::Value = serde_json::from_slice(&record().encode()).expect("json");
        v["version"] = serde_json::json!(RECORD_VERSION + 1);
        let bytes = serde_json::to_vec(&v).expect("ser");
        assert!(matches!(
            SessionRecord::decode(&bytes),
            Err(DecodeError::FutureVersion(_))
        ));
        assert!(matches!(
            SessionRecord::decode(b"not json"),
            Err(DecodeError::Malformed)
        ));
    }

    #[test]
    fn bounded_lists() {
        let mut r = record();
        r.remember_delivered((0..300).map(|i| format!("a{i}")));
        assert_eq!(r.delivered_ids.len(), MAX_DELIVERED_IDS);
        assert_eq!(r.delivered_ids.back().map(String::as_str), Some("a299"));
        r.remember_delivered(["a299".to_owned()]);
        assert_eq!(r.delivered_ids.len(), MAX_DELIVERED_IDS);
        for i in 0..30 {
            r.remember_posted(PostedActivity {
                activity_id: format!("p{i}"),
                client_activity_id: format!("c{i}"),
                turn: 1,
            });
        }
        assert_eq!(r.posted.len(), MAX_POSTED);
    }

    fn offer(payload: &str, value: &str) -> Offer {
        Offer {
            payload: payload.into(),
            action: OfferedAction::ImBack {
                value: value.into(),
            },
        }
    }

    #[test]
    fn offers_of_the_last_three_offering_turns_are_kept() {
        let mut r = record();
        r.remember_offers(1, vec![offer("gcb:qr:1:a", "A")]);
        r.remember_offers(2, Vec::new());
        r.remember_offers(3, vec![offer("gcb:qr:3:b", "B")]);
        r.remember_offers(4, vec![offer("gcb:qr:4:c", "C")]);
        assert!(
            r.offered_action("gcb:qr:1:a").is_some(),
            "turn 2 offered nothing"
        );
        r.remember_offers(4, vec![offer("gcb:pb:4:d", "D")]);
        assert_eq!(r.offered_actions.len(), 3);
        r.remember_offers(5, vec![offer("gcb:qr:5:e", "E")]);
        assert_eq!(r.offered_actions.len(), MAX_OFFERED_TURNS);
        assert_eq!(r.offered_action("gcb:qr:1:a"), None);
        for (payload, value) in [
            ("gcb:qr:3:b", "B"),
            ("gcb:qr:4:c", "C"),
            ("gcb:pb:4:d", "D"),
            ("gcb:qr:5:e", "E"),
        ] {
            assert_eq!(
                r.offered_action(payload),
                Some(&OfferedAction::ImBack {
                    value: value.into()
                }),
                "{payload}"
            );
        }
        assert_eq!(r.offered_action("Yes"), None);
        let back = SessionRecord::decode(&r.encode()).expect("decode");
        assert_eq!(back, r);
    }

    #[test]
    fn records_written_before_offers_still_load() {
        let mut v: serde_json::Value = serde_json::from_slice(&record().encode()).expect("json");
        assert!(
            v.get("offered_actions").is_none(),
            "empty offers are not written"
        );
        v.as_object_mut().expect("object").remove("offered_actions");
        let bytes = serde_json::to_vec(&v).expect("ser");
        let r = SessionRecord::decode(&bytes).expect("old record");
        assert!(r.offered_actions.is_empty());
        assert_eq!(r.version, RECORD_VERSION);
    }
}
