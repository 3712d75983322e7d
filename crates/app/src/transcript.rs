//! Transcript storage (`mapping.md` §5.1): after a turn's session is saved, its input and answer
//! are appended to `transcript:{genesysConversationId}` in the same store, best effort and off
//! the answer's path. The record itself (bounds, redaction) is `gcbridge_core::transcript`.

use std::sync::Arc;

use gcbridge_core::request::Turn;
use gcbridge_core::session::SessionRecord;
use gcbridge_core::transcript::{Redactor, TranscriptRecord, TurnSummary};
use gcbridge_genesys::TurnResponse;
use gcbridge_store::{SessionStore, StoreError};
use tracing::debug;

use crate::config::TranscriptsConfig;
use crate::state::AppState;

/// Compare-and-set attempts before a transcript update is given up.
const SAVE_ATTEMPTS: usize = 4;

/// Store key of a Genesys conversation's transcript.
pub fn transcript_key(genesys_conversation_id: &str) -> String {
    format!("transcript:{genesys_conversation_id}")
}

/// The stored transcript of a conversation, if any (an unreadable one counts as none).
pub async fn load(
    store: &dyn SessionStore,
    genesys_conversation_id: &str,
) -> Result<Option<TranscriptRecord>, StoreError> {
    let Some(stored) = store.load(&transcript_key(genesys_conversation_id)).await? else {
        return Ok(None);
    };
    Ok(TranscriptRecord::decode(&stored.value).ok())
}

/// When a transcript written now expires: with the session, or earlier when configured.
pub fn expiry(config: &TranscriptsConfig, session_expires_at_ms: u64, now_ms: u64) -> u64 {
    if config.ttl_secs == 0 {
        return session_expires_at_ms;
    }
    session_expires_at_ms.min(now_ms.saturating_add(config.ttl_secs.saturating_mul(1000)))
}

/// Appends a finished turn to its conversation's transcript in the background, when transcripts
/// are enabled and Genesys sent a conversation id. Never delays or fails the answer: problems
/// are logged at debug level (ids only) and counted.
pub fn record_turn(
    state: &AppState,
    bot_id: &str,
    turn: &Turn,
    session: &SessionRecord,
    response: &TurnResponse,
    topic: Option<String>,
) {
    let config = &state.config.transcripts;
    if !config.enabled {
        return;
    }
    let Some(conversation) = turn
        .genesys_conversation_id
        .clone()
        .or_else(|| session.genesys_conversation_id.clone())
    else {
        return;
    };
    let job = Job {
        store: state.store.clone(),
        redactor: Redactor::new(&config.redact),
        conversation,
        bot_id: bot_id.to_owned(),
        language: turn.language_code.clone(),
        input: turn.input.clone(),
        response: response.clone(),
        session_turn: session.turn,
        expires_at_ms: expiry(config, session.expires_at_ms, session.updated_at_ms),
        now_ms: session.updated_at_ms,
        topic,
    };
    tokio::spawn(async move {
        if let Err(e) = job.run().await {
            metrics::counter!("gcbridge_transcript_errors_total", "error" => e.label())
                .increment(1);
            debug!(error = %e, "transcript not updated (ignored)");
        }
    });
}

/// Everything one background append needs, owned.
struct Job {
    store: Arc<dyn SessionStore>,
    redactor: Redactor,
    conversation: String,
    bot_id: String,
    language: Option<String>,
    input: gcbridge_core::request::Input,
    response: TurnResponse,
    session_turn: u64,
    expires_at_ms: u64,
    now_ms: u64,
    topic: Option<String>,
}

impl Job {
    /// Load, append, compare-and-set save; repeated on a concurrent update.
    async fn run(&self) -> Result<(), StoreError> {
        let key = transcript_key(&self.conversation);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let stored = self.store.load(&key).await?;
            let revision = stored.as_ref().map(|s| s.revision);
            let mut record = stored
                .and_then(|s| TranscriptRecord::decode(&s.value).ok())
                .unwrap_or_else(|| {
                    TranscriptRecord::new(&self.conversation, &self.bot_id, self.now_ms)
                });
            record.append_turn(
                TurnSummary {
                    turn: self.session_turn,
                    language: self.language.as_deref(),
                    input: &self.input,
                    response: &self.response,
                    now_ms: self.now_ms,
                    topic: self.topic.as_deref(),
                },
                &self.redactor,
            );
            // A transcript lives at least as long as the newest session that wrote to it.
            match self
                .store
                .save(&key, record.encode(), revision, self.expires_at_ms)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) if attempt < SAVE_ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_the_shorter_of_session_and_configured() {
        let mut c = TranscriptsConfig::default();
        assert_eq!(expiry(&c, 5_000, 1_000), 5_000);
        c.ttl_secs = 2;
        assert_eq!(expiry(&c, 5_000, 1_000), 3_000);
        c.ttl_secs = 60;
        assert_eq!(expiry(&c, 5_000, 1_000), 5_000);
    }
}
