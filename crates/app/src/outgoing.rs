//! Asynchronous replies on the Digital Bot Connector (`genesys-bot-connector.md` §9): with a bot's
//! `dbc_async` on, `POST /genesys/dbc/messages` is acknowledged at once and the turn runs in the
//! background, pushing each batch of agent activities to Genesys' outgoing-messages API as soon
//! as it arrives, in order. A handoff or end is pushed as `Complete` (intent and slots as in a
//! synchronous answer), a failure before the customer's message reached the agent as the same
//! `Failed` a synchronous turn would answer.
//!
//! Exactly once: a batch is pushed by one task (the session's turn), after the previous one was
//! accepted. A push that Genesys refused without processing it (`401` with a stale token, `429`,
//! `502`/`503`/`504`, a refused connection) is repeated with backoff; when it still fails, it and
//! everything after it are kept in the session record (`unpushed`) and pushed first on the next
//! turn. `409 session.*` means Genesys closed the session: pushing stops and the session ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gcbridge_core::offers::Offer;
use gcbridge_core::request::Turn;
use gcbridge_genesys::{BotState, TurnResponse};
use rand::Rng;
use serde_json::Value;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::config::BotConfig;
use crate::platform::{PlatformClient, PlatformError};

/// Path of the outgoing-messages API.
pub const OUTGOING_PATH: &str = "/api/v2/integrations/botconnectors/outgoing/messages";

/// How many times one push is tried before its batch is kept for the next turn.
const PUSH_ATTEMPTS: u32 = 4;

/// Background turns of this process, by bot session: a newer customer message supersedes the
/// running turn (it stops collecting, so the new turn can start at once).
#[derive(Debug, Default)]
pub struct AsyncTurns {
    running: Mutex<HashMap<String, Running>>,
    next: std::sync::atomic::AtomicU64,
    /// Background turns spawned and not finished (waiting for their session included).
    tasks: std::sync::atomic::AtomicUsize,
    idle: Notify,
}

/// Counts one spawned background turn until dropped.
#[derive(Debug)]
pub struct TaskGuard(Arc<crate::state::AppState>);

impl TaskGuard {
    /// Counts a background turn of `state`.
    pub fn new(state: Arc<crate::state::AppState>) -> Self {
        state
            .async_turns
            .tasks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let turns = &self.0.async_turns;
        if turns
            .tasks
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            turns.idle.notify_waiters();
        }
    }
}

#[derive(Debug)]
struct Running {
    generation: u64,
    request_key: String,
    superseded: Arc<Notify>,
}

/// A registered background turn; unregisters itself when dropped.
#[derive(Debug)]
pub struct AsyncTurnGuard<'a> {
    turns: &'a AsyncTurns,
    session: String,
    generation: u64,
    /// Notified when a newer customer message arrives for the session.
    pub superseded: Arc<Notify>,
}

impl AsyncTurns {
    /// Announces a new request for `session`: the running turn of another request (not a
    /// retry of the same one) is told to wrap up.
    pub fn announce(&self, session: &str, request_key: &str) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = running.get(session)
            && r.request_key != request_key
        {
            r.superseded.notify_one();
        }
    }

    /// Registers the turn that now holds the session.
    pub fn begin(&self, session: &str, request_key: &str) -> AsyncTurnGuard<'_> {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let superseded = Arc::new(Notify::new());
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                session.to_owned(),
                Running {
                    generation,
                    request_key: request_key.to_owned(),
                    superseded: superseded.clone(),
                },
            );
        AsyncTurnGuard {
            turns: self,
            session: session.to_owned(),
            generation,
            superseded,
        }
    }

    /// Number of background turns spawned and not finished.
    pub fn in_flight(&self) -> usize {
        self.tasks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until every background turn finished, at most `grace`; returns how many are left.
    pub async fn drain(&self, grace: Duration) -> usize {
        let until = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            let left = self.in_flight();
            if left == 0 || tokio::time::Instant::now() >= until {
                return left;
            }
            let _ = tokio::time::timeout_at(until, idle).await;
        }
    }
}

impl Drop for AsyncTurnGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.turns.running.lock().unwrap_or_else(|e| e.into_inner());
        if running
            .get(&self.session)
            .is_some_and(|r| r.generation == self.generation)
        {
            running.remove(&self.session);
        }
    }
}

/// What happened to one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Genesys accepted it.
    Accepted,
    /// Kept for the next turn (Genesys unreachable or refusing for now).
    Kept,
    /// Genesys closed the session: nothing more can be pushed.
    Closed,
}

/// Pushes one turn's replies, in order. Interior mutability: the turn holds it by reference
/// while it receives.
#[derive(Debug)]
pub struct Pusher<'a> {
    client: &'a PlatformClient,
    /// Correlation fields of every message of this session.
    bot_id: String,
    bot_version: String,
    bot_session_id: String,
    language_code: String,
    state: Mutex<PushState>,
}

#[derive(Debug, Default)]
struct PushState {
    /// A push failed for good this turn: later batches queue behind it.
    failing: bool,
    closed: bool,
    /// Batches to push at the end of the turn's record (not accepted yet).
    kept: Vec<TurnResponse>,
    /// Everything accepted this turn, merged (for the transcript and the turn's log line).
    accepted: Option<TurnResponse>,
    /// Buttons offered by the pushed batches.
    offers: Vec<Offer>,
    accepted_count: usize,
    /// The turn answered without new replies (a replayed retry, a closed session).
    settled: bool,
}

/// What a finished turn pushed.
#[derive(Debug)]
pub struct PushSummary {
    /// The accepted messages merged into one answer (state of the last).
    pub accepted: Option<TurnResponse>,
    /// Batches not accepted yet, oldest first.
    pub kept: Vec<TurnResponse>,
    /// Genesys closed the session.
    pub closed: bool,
    pub offers: Vec<Offer>,
    pub accepted_count: usize,
    /// The turn answered without new replies: nothing more to push for it.
    pub settled: bool,
}

impl<'a> Pusher<'a> {
    pub fn new(client: &'a PlatformClient, bot: &BotConfig, turn: &Turn) -> Self {
        let profile = &bot.profile;
        Self {
            client,
            bot_id: turn
                .bot
                .bot_id
                .clone()
                .or_else(|| turn.bot.chat_bot_id.clone())
                .unwrap_or_else(|| profile.id.clone()),
            bot_version: turn
                .bot
                .bot_version
                .clone()
                .unwrap_or_else(|| profile.version.clone()),
            bot_session_id: turn.bot_session_id.as_str().to_owned(),
            language_code: turn
                .language_code
                .clone()
                .or_else(|| profile.languages.first().cloned())
                .unwrap_or_else(|| "en-us".to_owned()),
            state: Mutex::new(PushState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PushState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once Genesys said the session is closed.
    pub fn closed(&self) -> bool {
        self.lock().closed
    }

    /// True once a `Complete` or `Failed` message was accepted (Genesys closed the session).
    pub fn accepted_closing(&self) -> bool {
        self.lock().accepted.as_ref().is_some_and(closes_session)
    }

    /// Marks the turn as answered without new replies.
    pub fn settle(&self) {
        self.lock().settled = true;
    }

    /// What was pushed so far; the counters keep counting, the kept batches and offers are
    /// handed over (the caller stores them in the session record).
    pub fn take_summary(&self) -> PushSummary {
        let mut state = self.lock();
        PushSummary {
            accepted: state.accepted.clone(),
            kept: std::mem::take(&mut state.kept),
            closed: state.closed,
            offers: std::mem::take(&mut state.offers),
            accepted_count: state.accepted_count,
            settled: state.settled,
        }
    }

    /// Pushes batches kept by an earlier turn; stops at the first that is kept again.
    pub async fn push_kept(&self, kept: Vec<TurnResponse>) {
        for response in kept {
            self.push(response, Vec::new()).await;
        }
    }

    /// Pushes one batch (unless an earlier one of this turn is still waiting).
    pub async fn push(&self, response: TurnResponse, offers: Vec<Offer>) -> Pushed {
        {
            let mut state = self.lock();
            if state.closed {
                return Pushed::Closed;
            }
            state.offers.extend(offers);
            if state.failing {
                state.kept.push(response);
                return Pushed::Kept;
            }
        }
        let outcome = self.send(&response).await;
        let mut state = self.lock();
        match outcome {
            Pushed::Accepted => {
                state.accepted_count += 1;
                match &mut state.accepted {
                    None => state.accepted = Some(response),
                    Some(merged) => {
                        merged.reply_messages.extend(response.reply_messages);
                        merged.bot_state = response.bot_state;
                        merged.intent = response.intent.or(merged.intent.take());
                        merged.entities.extend(response.entities);
                        merged.parameters.extend(response.parameters);
                        merged.error_info = response.error_info.or(merged.error_info.take());
                    }
                }
            }
            Pushed::Kept => {
                state.failing = true;
                state.kept.push(response);
            }
            Pushed::Closed => state.closed = true,
        }
        outcome
    }

    /// Ends the turn's pushing.
    pub fn finish(self) -> PushSummary {
        self.take_summary()
    }

    /// The request body: the answer's fields plus the correlation fields.
    fn body(&self, response: &TurnResponse) -> Value {
        let mut body = serde_json::to_value(response).unwrap_or_default();
        if let Some(map) = body.as_object_mut() {
            map.insert("botId".into(), self.bot_id.clone().into());
            map.insert("botVersion".into(), self.bot_version.clone().into());
            map.insert("botSessionId".into(), self.bot_session_id.clone().into());
            map.insert("languageCode".into(), self.language_code.clone().into());
        }
        body
    }

    async fn send(&self, response: &TurnResponse) -> Pushed {
        let body = self.body(response);
        let state = response.bot_state.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = tokio::time::Instant::now();
            let result = self.client.post_json(OUTGOING_PATH, &body).await;
            metrics::histogram!("gcbridge_async_push_seconds")
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(_) => {
                    metrics::counter!("gcbridge_async_pushes_total", "result" => "accepted", "bot_state" => state)
                        .increment(1);
                    debug!(
                        bot_state = state,
                        replies = response.reply_messages.len(),
                        "asynchronous reply accepted by Genesys"
                    );
                    return Pushed::Accepted;
                }
                Err(e) => e,
            };
            if let Some(code) = conflict_code(&error) {
                metrics::counter!("gcbridge_async_pushes_total", "result" => "session_closed", "bot_state" => state)
                    .increment(1);
                info!(
                    code,
                    "Genesys closed the bot session; no more asynchronous replies"
                );
                return Pushed::Closed;
            }
            let repeatable = match &error {
                PlatformError::Status(s) => {
                    matches!(s.status, 429 | 502 | 503 | 504)
                }
                // A refused or failed connection: Genesys may or may not have processed the
                // message, but a customer seeing a reply twice is better than never.
                PlatformError::Transport { .. } => true,
                _ => false,
            };
            if !repeatable || attempt >= PUSH_ATTEMPTS {
                metrics::counter!("gcbridge_async_pushes_total", "result" => "kept", "bot_state" => state)
                    .increment(1);
                warn!(error = %error, attempts = attempt, "asynchronous reply not accepted by Genesys; kept for the next turn");
                return Pushed::Kept;
            }
            let wait = error.retry_after().unwrap_or_else(|| {
                let base = 200u64 << (attempt - 1);
                Duration::from_millis(base + rand::rng().random_range(0..base))
            });
            debug!(error = %error, wait_ms = wait.as_millis() as u64, "repeating an asynchronous reply");
            tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
        }
    }
}

/// The documented `409` codes that mean the session cannot take messages any more.
fn conflict_code(e: &PlatformError) -> Option<String> {
    match e {
        PlatformError::Status(s) if s.status == 409 => {
            Some(s.code.clone().unwrap_or_else(|| "conflict".to_owned()))
        }
        _ => None,
    }
}

/// True when a pushed answer closes the session (Genesys closes it on `Complete`/`Failed`).
pub fn closes_session(response: &TurnResponse) -> bool {
    matches!(response.bot_state, BotState::Complete | BotState::Failed)
}
