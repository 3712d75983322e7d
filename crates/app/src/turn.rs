//! One Genesys turn, end to end (`direct-line.md` §10.3): load the session, start or reuse the
//! Direct Line conversation, catch up on late replies, post, collect, translate, save, answer.
//!
//! This is the only module that sequences I/O for a turn; every decision is delegated to the
//! pure core (`plan_turn`, `Collector`, `translate`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gcbridge_core::collect::{Collector, Decision, EndReason};
use gcbridge_core::errors::ErrorCode;
use gcbridge_core::locale::locale_for;
use gcbridge_core::plan::{PostPurpose, plan_turn, resolve_button};
use gcbridge_core::profile::OnAgentError;
use gcbridge_core::request::{Input, Turn};
use gcbridge_core::session::{
    DecodeError, DirectLineSession, LastRequest, PostedActivity, SessionRecord, SessionState,
};
use gcbridge_core::translate::{agent_error_escalation, translate_turn};
use gcbridge_core::user_id::stable_user_id;
use gcbridge_directline::{Activity, ChannelAccount};
use gcbridge_genesys::{BotState, TurnResponse};
use gcbridge_store::{Revision, StoreError};
use rand::Rng;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::{BotConfig, DirectLineAuth};
use crate::dl::{Bearer, DlError};
use crate::outgoing;
use crate::state::AppState;
use crate::stream::StreamConn;

/// Where a turn request came from (metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    V1,
    Dbc,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::V1 => "v1",
            Endpoint::Dbc => "dbc",
        }
    }
}

/// Answers one validated turn. Never fails: every problem becomes a `Failed` answer.
pub async fn handle_turn(
    state: &AppState,
    endpoint: Endpoint,
    turn: Turn,
    started: Instant,
) -> TurnResponse {
    let span = info_span!(
        "turn",
        endpoint = endpoint.label(),
        bot = tracing::field::Empty,
        bot_session = %turn.bot_session_id,
        genesys_conversation = turn.genesys_conversation_id.as_deref().unwrap_or(""),
    );
    async move {
        let response = match state.resolve_bot(&turn.bot) {
            None => {
                warn!("no configured bot matches the request's botId/chatBot.id");
                ErrorCode::UnknownBot.response()
            }
            Some(bot) => {
                tracing::Span::current().record("bot", bot.profile.id.as_str());
                let _guard = state.locks.lock(turn.bot_session_id.as_str()).await;
                TurnRun::new(state, bot, &turn, endpoint, started)
                    .run()
                    .await
            }
        };
        record_outcome(endpoint, &response, started);
        response
    }
    .instrument(span)
    .await
}

/// The bot of a DBC request when its replies are pushed asynchronously (`dbc_async` on and the
/// Platform API configured).
pub fn async_bot<'s>(state: &'s AppState, turn: &Turn) -> Option<&'s BotConfig> {
    state.platform.as_ref()?;
    state
        .resolve_bot(&turn.bot)
        .filter(|bot| bot.profile.dbc_async)
}

/// Acknowledges a DBC request of a `dbc_async` bot at once and runs its turn in the background,
/// pushing the replies to Genesys as they arrive (`outgoing.rs`). The acknowledgement is the
/// same for a retried request, whose background run then replays instead of posting again.
pub fn spawn_async_turn(state: &Arc<AppState>, turn: Turn, started: Instant) -> TurnResponse {
    state
        .async_turns
        .announce(turn.bot_session_id.as_str(), &turn.request_key);
    let tracker = crate::outgoing::TaskGuard::new(state.clone());
    let state = state.clone();
    let span = info_span!(
        "turn",
        endpoint = "dbc_async",
        bot = tracing::field::Empty,
        bot_session = %turn.bot_session_id,
        genesys_conversation = turn.genesys_conversation_id.as_deref().unwrap_or(""),
    );
    tokio::spawn(
        async move {
            let _tracker = tracker;
            run_async_turn(&state, &turn, started).await;
        }
        .instrument(span),
    );
    let ack = TurnResponse::more_data(Vec::new());
    record_outcome(Endpoint::Dbc, &ack, started);
    ack
}

async fn run_async_turn(state: &AppState, turn: &Turn, started: Instant) {
    let (Some(bot), Some(client)) = (state.resolve_bot(&turn.bot), state.platform.as_deref())
    else {
        return;
    };
    tracing::Span::current().record("bot", bot.profile.id.as_str());
    let session = turn.bot_session_id.as_str();
    let _lock = state.locks.lock(session).await;
    let registration = state.async_turns.begin(session, &turn.request_key);
    let pusher = crate::outgoing::Pusher::new(client, bot, turn);
    let mut run = TurnRun::new(state, bot, turn, Endpoint::Dbc, started);
    run.deadline_ms = bot.profile.timings.dbc_async_ceiling_ms;
    run.hard_stop = started
        + Duration::from_millis(
            run.deadline_ms
                .saturating_sub(bot.profile.timings.response_margin_ms),
        );
    run.pusher = Some(&pusher);
    run.superseded = Some(registration.superseded.clone());
    let response = run.run().await;
    let pushed = pusher.finish();
    // An answer the turn produced without pushing (a failure before the customer's message
    // reached the agent, or its escalation) goes out the same way.
    if !pushed.settled
        && pushed.accepted_count == 0
        && pushed.kept.is_empty()
        && response.bot_state != BotState::MoreData
    {
        let last = crate::outgoing::Pusher::new(client, bot, turn);
        last.push(response.clone(), Vec::new()).await;
    }
    metrics::histogram!("gcbridge_async_turn_seconds").record(started.elapsed().as_secs_f64());
    info!(
        bot_state = response.bot_state.as_str(),
        intent = response.intent.as_deref().unwrap_or(""),
        pushed = pushed.accepted_count,
        kept = pushed.kept.len(),
        ms = started.elapsed().as_millis() as u64,
        "asynchronous turn finished"
    );
}

/// Counts the answer and logs one line per turn (ids and counts only).
pub fn record_outcome(endpoint: Endpoint, response: &TurnResponse, started: Instant) {
    let code = response
        .error_info
        .as_ref()
        .map(|e| e.error_code.clone())
        .unwrap_or_default();
    let elapsed = started.elapsed();
    metrics::counter!(
        "gcbridge_turns_total",
        "endpoint" => endpoint.label(),
        "bot_state" => response.bot_state.as_str(),
        "error_code" => code.clone()
    )
    .increment(1);
    metrics::histogram!(
        "gcbridge_turn_seconds",
        "endpoint" => endpoint.label(),
        "bot_state" => response.bot_state.as_str()
    )
    .record(elapsed.as_secs_f64());
    info!(
        bot_state = response.bot_state.as_str(),
        intent = response.intent.as_deref().unwrap_or(""),
        error_code = code,
        replies = response.reply_messages.len(),
        ms = elapsed.as_millis() as u64,
        "turn answered"
    );
}

/// Milliseconds since the Unix epoch (for stored timestamps and expiry).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Store key of a bot session.
pub fn session_key(bot_session_id: &str) -> String {
    format!("session:{bot_session_id}")
}

/// Store key of a bot session's lease (shared stores only).
pub fn lease_key(bot_session_id: &str) -> String {
    format!("lease:{bot_session_id}")
}

/// A turn's failure before anything useful could be answered.
#[derive(Debug)]
enum Failure {
    /// Direct Line failed before the customer's message was posted.
    Agent(DlError),
    /// Any other fixed code.
    Code(ErrorCode),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        warn!(error = %e, "session store failed");
        metrics::counter!("gcbridge_store_errors_total").increment(1);
        Failure::Code(ErrorCode::StoreUnavailable)
    }
}

/// Whether a failure means the conversation itself is unusable (and a new one may help):
/// `404` (unknown conversation) or `403 TokenExpired` (a token that can no longer be refreshed).
fn conversation_gone(e: &DlError) -> bool {
    matches!(
        e,
        DlError::Status { status: 404, .. }
            | DlError::Status {
                status: 403,
                token_expired: true,
                ..
            }
    )
}

/// Maps a Direct Line failure to the Genesys error code (`mapping.md` §5.4).
fn agent_error_code(e: &DlError) -> ErrorCode {
    match e {
        DlError::Status {
            status: 401 | 403, ..
        } => ErrorCode::AgentAuthFailed,
        DlError::Status { status: 404, .. } => ErrorCode::ConversationLost,
        DlError::Status { status: 429, .. } => ErrorCode::AgentThrottled,
        DlError::Status { status: 400, .. } => ErrorCode::Internal,
        _ => ErrorCode::AgentUnavailable,
    }
}

struct TurnRun<'a> {
    state: &'a AppState,
    bot: &'a BotConfig,
    turn: &'a Turn,
    started: Instant,
    /// Genesys' ceiling for this endpoint, from request arrival.
    deadline_ms: u64,
    /// Answer must leave by then (deadline minus the response margin).
    hard_stop: Instant,
    /// The last moment a store call may still end: just before Genesys' deadline.
    answer_by: Instant,
    now_ms: u64,
    /// Asynchronous replies: batches are pushed to Genesys as they arrive.
    pusher: Option<&'a crate::outgoing::Pusher<'a>>,
    /// Asynchronous replies: a newer customer message arrived for the session.
    superseded: Option<Arc<tokio::sync::Notify>>,
    /// Time spent pushing asynchronous replies, left out of the collector's clock.
    paused_ms: std::sync::atomic::AtomicU64,
    /// The agent's topic (`va_LastTopic`) seen in this turn's activities, for the transcript.
    topic: std::sync::Mutex<Option<String>>,
}

impl<'a> TurnRun<'a> {
    fn new(
        state: &'a AppState,
        bot: &'a BotConfig,
        turn: &'a Turn,
        endpoint: Endpoint,
        started: Instant,
    ) -> Self {
        let t = &bot.profile.timings;
        let deadline_ms = match endpoint {
            Endpoint::V1 => t.deadline_ms,
            Endpoint::Dbc => t.dbc_deadline_ms,
        };
        let budget = deadline_ms.saturating_sub(t.response_margin_ms);
        Self {
            state,
            bot,
            turn,
            started,
            deadline_ms,
            hard_stop: started + Duration::from_millis(budget),
            answer_by: started + Duration::from_millis(deadline_ms.saturating_sub(100)),
            now_ms: unix_ms(),
            pusher: None,
            superseded: None,
            paused_ms: Default::default(),
            topic: std::sync::Mutex::new(None),
        }
    }

    /// The collector's clock: time since the request arrived, minus the time spent pushing
    /// asynchronous replies (a slow Genesys must not eat the agent's quiet period).
    fn elapsed_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64)
            .saturating_sub(self.paused_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Runs one session-store call for at most `store_timeout`, and never past `until`: a slow
    /// backend (SDK retries can take seconds) must not make the turn miss Genesys' deadline.
    /// A call cut short is `Unavailable`, like any store failure: the turn answers
    /// `StoreUnavailable` in time, and what was not saved is read again on the next turn.
    async fn store_call<T>(
        &self,
        until: Instant,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = (Instant::now() + self.state.config.store_timeout).min(until);
        match tokio::time::timeout_at(limit, call).await {
            Ok(result) => result,
            Err(_) => {
                metrics::counter!("gcbridge_store_timeouts_total").increment(1);
                Err(StoreError::Unavailable(
                    "no answer before the turn's deadline".to_owned(),
                ))
            }
        }
    }

    /// Runs the turn, under a store lease when the store is shared between instances.
    async fn run(self) -> TurnResponse {
        if !self.state.shared_store {
            return self.run_locked().await;
        }
        let lease = lease_key(self.turn.bot_session_id.as_str());
        if let Err(response) = self.acquire_lease(&lease).await {
            return response;
        }
        let store = self.state.store.clone();
        let store_timeout = self.state.config.store_timeout;
        let answer_by = self.answer_by;
        let response = self.run_locked().await;
        let limit = (Instant::now() + store_timeout).min(answer_by);
        let released = tokio::time::timeout_at(limit, store.delete(&lease))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("timed out".to_owned())));
        if let Err(e) = released {
            // It expires by itself shortly; the next turn just waits a little longer.
            debug!(error = %e, "could not release the session lease");
        }
        response
    }

    /// Takes the session's lease: a record created only if absent (or expired), so exactly one
    /// instance holds it. Another holder is waited for (it is usually the first copy of a
    /// retried request, whose stored answer this turn will then replay).
    async fn acquire_lease(&self, lease: &str) -> Result<(), TurnResponse> {
        let t = &self.bot.profile.timings;
        loop {
            // Lasts while this turn may run (its budget, the answer's margin and a second for the
            // save), no longer: a holder that died (killed mid-turn) frees the session soon
            // enough for Genesys' repeated request to get through.
            let left = self.hard_stop.saturating_duration_since(Instant::now());
            let until = unix_ms() + left.as_millis() as u64 + t.response_margin_ms + 1_000;
            let owner = self.state.instance_id.clone().into_bytes();
            let saved = self.store_call(
                self.hard_stop,
                self.state.store.save(lease, owner, None, until),
            );
            match saved.await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => {
                    if Instant::now() + Duration::from_millis(50) >= self.hard_stop {
                        warn!("another instance kept this session busy until the deadline");
                        metrics::counter!("gcbridge_lease_timeouts_total").increment(1);
                        // Nothing was posted: say so (a repeated request can get through), rather
                        // than an empty answer that would drop the customer's message unseen.
                        return Err(ErrorCode::SessionBusy.response());
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => return Err(self.fail(Failure::from(e))),
            }
        }
    }

    async fn run_locked(self) -> TurnResponse {
        let key = session_key(self.turn.bot_session_id.as_str());
        let loaded = match self
            .store_call(self.hard_stop, self.state.store.load(&key))
            .await
        {
            Ok(v) => v,
            Err(e) => return self.fail(Failure::from(e)),
        };
        let (existing, revision) = match loaded {
            None => (None, None),
            Some(stored) => match SessionRecord::decode(&stored.value) {
                Ok(record) => (Some(record), Some(stored.revision)),
                Err(DecodeError::Malformed) => {
                    // An unreadable record cannot be continued; replace it (CAS on its revision).
                    warn!("stored session record is unreadable; starting a new conversation");
                    (None, Some(stored.revision))
                }
                Err(e @ DecodeError::FutureVersion(_)) => {
                    warn!(error = %e, "stored session record is from a newer gcbridge");
                    return self.fail(Failure::Code(ErrorCode::Internal));
                }
            },
        };

        if let Some(replay) = existing.as_ref().and_then(|r| self.replay(r)) {
            if let Some(pusher) = self.pusher {
                pusher.settle();
            }
            return replay;
        }

        let mut existing = existing;
        if let (Some(pusher), Some(record)) = (self.pusher, existing.as_mut())
            && !record.unpushed.is_empty()
        {
            // Replies an earlier turn could not push go first, in order; any still refused
            // stay queued in the pusher, ahead of this turn's replies.
            pusher.push_kept(std::mem::take(&mut record.unpushed)).await;
            if pusher.closed() || pusher.accepted_closing() {
                // The session is over: the customer's message is not posted to an agent
                // that finished.
                record.state = SessionState::Completed;
                let summary = pusher.take_summary();
                record.unpushed = summary.kept;
                pusher.settle();
                if let Err(e) = self.save(&key, record, revision).await {
                    debug!(error = %e, "could not record the closed session");
                }
                return TurnResponse::more_data(Vec::new());
            }
        }
        let mut revision = revision;
        let (mut record, stream_url, fresh) = match existing {
            Some(record) if !record.has_ended() => (record, None, false),
            _ => match self.start_conversation().await {
                Ok((record, stream_url)) => {
                    // Write ahead: the new conversation is stored before anything is posted to
                    // it, so a process killed in the middle of this turn leaves a record, and
                    // the repeated request continues this conversation (finding its own posts
                    // there) instead of starting another one and posting the message again.
                    match self.save(&key, &record, revision).await {
                        Ok(r) => revision = Some(r),
                        Err(e) => return self.fail(Failure::from(e)),
                    }
                    (record, stream_url, true)
                }
                Err(f) => return self.fail(f),
            },
        };
        let first_turn = record.turn == 0;
        let mut outcome = self
            .collect(&mut record, first_turn, fresh, stream_url)
            .await;
        if !first_turn && matches!(&outcome, Err(Failure::Agent(e)) if conversation_gone(e)) {
            // Direct Line forgot the conversation (idle expiry, expired token): start a new one
            // once, send context and startConversation again, and post the customer's message
            // there. The agent loses its topic state, the customer keeps being served.
            warn!("Direct Line conversation is gone; replacing it");
            metrics::counter!("gcbridge_conversations_replaced_total").increment(1);
            self.state.streams.close(&record.dl.conversation_id);
            outcome = match self.start_conversation().await {
                Ok((mut replacement, stream_url)) => {
                    replacement.created_at_ms = record.created_at_ms;
                    record = replacement;
                    self.collect(&mut record, true, true, stream_url).await
                }
                Err(f) => Err(f),
            };
        }
        match outcome {
            Ok(response) => self.finish(record, revision, response, &key).await,
            Err(f) => {
                let response = self.fail(f);
                // Whatever this turn consumed from the stream was not delivered: the next turn
                // reads it back from the stored watermark.
                self.state.streams.close(&record.dl.conversation_id);
                // Remember the failure so a retry gets the same answer; best effort.
                record.state = SessionState::Failed;
                if let Some(pusher) = self.pusher {
                    record.unpushed = pusher.take_summary().kept;
                }
                self.remember(&mut record, &response);
                if let Err(e) = self.save(&key, &record, revision).await {
                    debug!(error = %e, "could not record the failed session");
                }
                response
            }
        }
    }

    /// The stored answer when this request repeats the previous one (`genesys-bot-connector.md`
    /// §5.4): same `messageId`, or same input within the duplicate window.
    fn replay(&self, record: &SessionRecord) -> Option<TurnResponse> {
        let last = record.last_request.as_ref()?;
        if last.key != self.turn.request_key {
            return None;
        }
        let window = self.bot.profile.duplicate_window_secs.saturating_mul(1000);
        let fresh = self.now_ms.saturating_sub(last.at_ms) <= window;
        (self.turn.message_id.is_some() || fresh).then(|| {
            metrics::counter!("gcbridge_requests_replayed_total").increment(1);
            info!("repeated request answered from the stored response");
            last.response.clone()
        })
    }

    fn bearer<'r>(&'r self, record: &'r SessionRecord) -> Result<Bearer<'r>, Failure> {
        match (&self.bot.auth, &record.dl.token) {
            (Some(DirectLineAuth::Secret(secret)), _) => Ok(Bearer::Secret(secret)),
            (_, Some(token)) => Ok(Bearer::Token(token)),
            _ => Err(Failure::Code(ErrorCode::AgentAuthFailed)),
        }
    }

    /// Starts a Direct Line conversation for a new (or restarted) bot session; returns the new
    /// record and the conversation's `streamUrl` (a credential: never logged).
    async fn start_conversation(&self) -> Result<(SessionRecord, Option<String>), Failure> {
        let base = self.bot.directline_url.as_str();
        let dl = &self.state.dl;
        let (conversation, token) = match &self.bot.auth {
            None => {
                warn!("bot has no Direct Line credential configured");
                return Err(Failure::Code(ErrorCode::AgentAuthFailed));
            }
            Some(DirectLineAuth::Secret(secret)) => {
                let c = self
                    .retrying(|| {
                        dl.start_conversation(base, Bearer::Secret(secret), self.hard_stop)
                    })
                    .await
                    .map_err(Failure::Agent)?;
                (c, None)
            }
            Some(DirectLineAuth::TokenEndpoint(url)) => {
                let t = self
                    .retrying(|| dl.fetch_token(url, self.hard_stop))
                    .await
                    .map_err(Failure::Agent)?;
                let token = t.token.clone().ok_or(Failure::Agent(DlError::Decode))?;
                let c = self
                    .retrying(|| dl.start_conversation(base, Bearer::Token(&token), self.hard_stop))
                    .await
                    .map_err(Failure::Agent)?;
                let token = c.token.clone().unwrap_or(token);
                let expires_in = c.expires_in.or(t.expires_in).unwrap_or(1800);
                (c, Some((token, self.now_ms + expires_in * 1000)))
            }
        };
        let stream_url = conversation.stream_url.clone();
        let conversation_id = conversation
            .conversation_id
            .filter(|id| !id.is_empty())
            .ok_or(Failure::Agent(DlError::Decode))?;
        metrics::counter!("gcbridge_conversations_started_total").increment(1);
        let profile = &self.bot.profile;
        let (token, token_expires_at_ms) = token.unzip();
        let record = SessionRecord::new(
            &profile.id,
            &profile.version,
            self.turn.genesys_conversation_id.clone(),
            DirectLineSession {
                conversation_id,
                base_url: base.to_owned(),
                token,
                token_expires_at_ms,
                user_id: stable_user_id(
                    self.state.user_id_key.expose().as_bytes(),
                    self.turn.bot_session_id.as_str(),
                ),
            },
            locale_for(self.turn.language_code.as_deref(), &profile.default_locale),
            self.now_ms,
            self.turn.session_timeout_minutes,
        );
        Ok((record, stream_url))
    }

    /// Token mode: refresh the conversation token once half its life has passed.
    async fn refresh_token_if_due(&self, record: &mut SessionRecord) {
        let (Some(token), Some(expires_at)) = (&record.dl.token, record.dl.token_expires_at_ms)
        else {
            return;
        };
        let issued_for = 1_800_000u64;
        if self.now_ms + issued_for / 2 < expires_at {
            return;
        }
        match self
            .state
            .dl
            .refresh_token(&record.dl.base_url, token, self.hard_stop)
            .await
        {
            Ok(c) => {
                if let Some(new) = c.token {
                    record.dl.token = Some(new);
                    record.dl.token_expires_at_ms =
                        Some(self.now_ms + c.expires_in.unwrap_or(1800) * 1000);
                }
            }
            Err(e) => warn!(error = %e, "Direct Line token refresh failed"),
        }
    }

    /// Catch up, post, and collect until the collector says the turn is over. `fresh`: the
    /// conversation was started by this very request (nothing to catch up on).
    async fn collect(
        &self,
        record: &mut SessionRecord,
        first_turn: bool,
        fresh: bool,
        stream_url: Option<String>,
    ) -> Result<TurnResponse, Failure> {
        self.refresh_token_if_due(record).await;
        record.turn += 1;
        record.touch(self.now_ms, self.turn.session_timeout_minutes);
        let profile = &self.bot.profile;
        let mut collector = Collector::new(
            profile,
            0,
            &record.delivered_ids,
            record.delivered_watermark.clone(),
        )
        .with_deadline_ms(self.deadline_ms)
        .with_quiet_ms(if self.pusher.is_some() {
            // Pushed replies do not wait for the quiet period: the longest one costs nothing
            // and keeps slow multi-message answers in their turn.
            profile.timings.quiet_ms
        } else {
            self.state.quiet_ms(self.bot)
        });
        let conversation_id = record.dl.conversation_id.clone();
        let base = record.dl.base_url.clone();

        // A stream that stayed open since the last turn holds everything the agent sent since:
        // drain it instead of reading back over HTTP. Anything else catches up by watermark.
        let mut stream = None;
        // A first turn on a stored (written-ahead) conversation is a repeated request whose
        // first attempt was cut short: read what it may already have posted.
        let mut caught_up = fresh;
        let open = (self.bot.stream && !first_turn)
            .then(|| self.state.streams.get(&conversation_id))
            .flatten();
        if let Some(conn) = open {
            let mut frames = conn.frames().await;
            let mut ending = false;
            while let Ok(set) = frames.try_recv() {
                ending |= collector.catch_up(set, self.elapsed_ms());
            }
            drop(frames);
            caught_up = conn.is_healthy() || ending;
            stream = Some(conn);
        }
        if !caught_up {
            let bearer = self.bearer(record)?;
            let set = self
                .retrying(|| {
                    self.state.dl.get_activities(
                        &base,
                        bearer,
                        &conversation_id,
                        collector.watermark(),
                        self.hard_stop,
                    )
                })
                .await
                .map_err(Failure::Agent)?;
            collector.catch_up(set, self.elapsed_ms());
        }
        let ending_carried =
            collector.decide(self.elapsed_ms()) == Decision::Done(EndReason::StopSignal);
        if self.bot.stream && !ending_carried && stream.as_ref().is_none_or(|c| !c.is_healthy()) {
            stream = self
                .open_stream(record, stream_url, collector.watermark())
                .await;
        }

        if ending_carried {
            // The session ends with what the agent already said; the input is kept for the
            // transcript but not sent to an agent that has finished.
            record.pending_input = match &self.turn.input {
                Input::Text(t) => Some(t.clone()),
                Input::Button { text, payload } => {
                    resolve_button(record, text.as_deref(), payload)
                        .message
                        .text
                }
                _ => None,
            };
        } else {
            let plan = plan_turn(profile, record, self.turn, first_turn);
            for post in plan.posts {
                // Already in the conversation: posted by an attempt of this same request that
                // was cut short before it saved (process killed, instance lost). Not again.
                let earlier = post
                    .activity
                    .client_activity_id()
                    .and_then(|c| collector.echo_of(&c).map(str::to_owned));
                if let Some(id) = earlier {
                    info!(purpose = ?post.purpose, "already posted by an interrupted attempt; not posting again");
                    metrics::counter!("gcbridge_posts_recovered_total").increment(1);
                    collector.posted_earlier(&id, self.elapsed_ms());
                    record.remember_posted(PostedActivity {
                        activity_id: id,
                        client_activity_id: post.activity.client_activity_id().unwrap_or_default(),
                        turn: record.turn,
                    });
                    continue;
                }
                let id = self
                    .post(record, &post.activity, collector.watermark())
                    .await
                    .map_err(|e| {
                        warn!(error = %e, purpose = ?post.purpose, "posting to Direct Line failed");
                        Failure::Agent(e)
                    })?;
                collector.posted(&id);
                if self.pusher.is_some() && post.purpose == PostPurpose::Message {
                    // Pushed replies cost nothing to wait for: the turn's quiet period starts
                    // with the answer to the customer's message, not with the greeting.
                    collector.expect_reply_to(&id);
                }
                record.remember_posted(PostedActivity {
                    activity_id: id,
                    client_activity_id: post.activity.client_activity_id().unwrap_or_default(),
                    turn: record.turn,
                });
                if post.purpose == PostPurpose::Message && self.state.config.log_content {
                    debug!(
                        text = post.activity.text.as_deref().unwrap_or(""),
                        "customer message posted"
                    );
                }
            }
        }

        let wait_started = Instant::now();
        let reason = self
            .receive_until_done(
                record,
                &mut collector,
                stream.as_deref(),
                &base,
                &conversation_id,
            )
            .await;
        metrics::counter!("gcbridge_turn_end_total", "reason" => reason.as_str()).increment(1);
        metrics::histogram!("gcbridge_turn_wait_seconds")
            .record(wait_started.elapsed().as_secs_f64());

        let collected = collector.finish();
        let quiet = self
            .state
            .learn_quiet(self.bot, &collected.gaps_ms, collected.carried);
        metrics::gauge!("gcbridge_quiet_effective_ms", "bot" => profile.id.clone())
            .set(quiet as f64);
        if collected.carried > 0 {
            metrics::counter!("gcbridge_activities_carried_total")
                .increment(collected.carried as u64);
        }
        metrics::counter!("gcbridge_activities_delivered_total")
            .increment(collected.activities.len() as u64);
        if self.state.config.log_content {
            for a in &collected.activities {
                debug!(kind = %a.kind, text = a.text.as_deref().unwrap_or(""), "agent activity");
            }
        }
        record.delivered_watermark = collected.watermark;
        record.remember_delivered(collected.delivered_ids);
        if let Some(pusher) = self.pusher {
            // Everything was pushed (or kept) as it arrived.
            let summary = pusher.take_summary();
            record.remember_offers(record.turn, summary.offers);
            record.unpushed = summary.kept;
            if summary.closed
                || summary
                    .accepted
                    .as_ref()
                    .is_some_and(outgoing::closes_session)
            {
                record.state = SessionState::Completed;
            }
            debug!(
                end = reason.as_str(),
                pushed = summary.accepted_count,
                kept = record.unpushed.len(),
                "asynchronous replies pushed"
            );
            return Ok(summary
                .accepted
                .unwrap_or_else(|| TurnResponse::more_data(Vec::new())));
        }
        let translation = translate_turn(profile, &collected.activities, record.turn);
        if let Some(topic) = collected.activities.iter().rev().find_map(|a| {
            a.value
                .as_ref()?
                .get("va_LastTopic")?
                .as_str()
                .map(str::to_owned)
        }) {
            *self.topic.lock().unwrap_or_else(|e| e.into_inner()) = Some(topic);
        }
        // The buttons shown this turn, so a click on any of them resolves on a later turn.
        record.remember_offers(record.turn, translation.offered.clone());
        if translation.ending.is_some() {
            record.state = SessionState::Completed;
        }
        debug!(
            end = reason.as_str(),
            activities = collected.activities.len(),
            carried = collected.carried,
            "replies collected"
        );
        Ok(translation.response)
    }

    /// Opens the conversation's stream: with the `streamUrl` of a just-started conversation, or
    /// a fresh one from a reconnect that replays what came after `watermark`. Failures only
    /// mean polling for this turn.
    async fn open_stream(
        &self,
        record: &SessionRecord,
        stream_url: Option<String>,
        watermark: Option<&str>,
    ) -> Option<Arc<StreamConn>> {
        // Opening the stream must not eat the turn: a bounded share of the budget.
        let deadline = (Instant::now() + Duration::from_millis(1_500)).min(self.hard_stop);
        let url = match stream_url {
            Some(url) => url,
            None => {
                let bearer = self.bearer(record).ok()?;
                let conversation = self
                    .state
                    .dl
                    .reconnect(
                        &record.dl.base_url,
                        bearer,
                        &record.dl.conversation_id,
                        watermark,
                        deadline,
                    )
                    .await
                    .inspect_err(|e| debug!(error = %e, "stream reconnect failed; polling"))
                    .ok()?;
                conversation.stream_url?
            }
        };
        self.state
            .streams
            .connect(&record.dl.conversation_id, &url, deadline)
            .await
            .inspect_err(|e| debug!(error = %e, "stream not available; polling"))
            .ok()
    }

    /// Receives until the collector is done: from the stream while it is healthy, else by
    /// polling. Errors never fail the turn: the customer's message is already with the agent,
    /// and whatever is not read now is read at the start of the next turn.
    async fn receive_until_done(
        &self,
        record: &SessionRecord,
        collector: &mut Collector<'_>,
        stream: Option<&StreamConn>,
        base: &str,
        conversation_id: &str,
    ) -> EndReason {
        let t = &self.bot.profile.timings;
        let mut frames = match stream {
            Some(conn) if conn.is_healthy() => Some(conn.frames().await),
            _ => None,
        };
        let mut next_poll = Instant::now() + Duration::from_millis(t.first_poll_delay_ms);
        let superseded = self.superseded.clone().unwrap_or_default();
        let mut newer_message = false;
        loop {
            if let Some(pusher) = self.pusher {
                if self.push_new(pusher, collector, record).await {
                    return EndReason::Closed;
                }
                if newer_message {
                    return EndReason::Superseded;
                }
            }
            let wake_ms = match collector.decide(self.elapsed_ms()) {
                Decision::Done(reason) => return reason,
                Decision::WaitUntil(ms) => ms,
            };
            let paused = self.paused_ms.load(std::sync::atomic::Ordering::Relaxed);
            let wake = self.started + Duration::from_millis(wake_ms.saturating_add(paused));
            if let Some(rx) = frames.as_mut() {
                tokio::select! {
                    biased;
                    frame = rx.recv() => match frame {
                        Some(set) => collector.receive(set, self.elapsed_ms()),
                        None => {
                            // The socket is gone: poll from here on (at once, to catch up).
                            frames = None;
                            next_poll = Instant::now();
                        }
                    },
                    () = superseded.notified() => newer_message = true,
                    () = tokio::time::sleep_until(wake) => {}
                }
                continue;
            }
            tokio::select! {
                () = superseded.notified() => {
                    // Read what is there, push it, then make way for the newer message.
                    newer_message = true;
                    next_poll = Instant::now();
                }
                () = tokio::time::sleep_until(wake.min(next_poll)) => {}
            }
            if Instant::now() < next_poll {
                continue;
            }
            let Ok(bearer) = self.bearer(record) else {
                return EndReason::Deadline;
            };
            match self
                .state
                .dl
                .get_activities(
                    base,
                    bearer,
                    conversation_id,
                    collector.watermark(),
                    self.hard_stop,
                )
                .await
            {
                Ok(set) => {
                    collector.receive(set, self.elapsed_ms());
                    next_poll = Instant::now() + Duration::from_millis(t.poll_interval_ms);
                }
                Err(DlError::Status {
                    status: 429,
                    retry_after,
                    ..
                }) => {
                    next_poll = Instant::now()
                        + retry_after
                            .unwrap_or(Duration::from_millis(t.poll_interval_ms))
                            .max(Duration::from_millis(t.poll_interval_ms));
                }
                Err(e) => {
                    debug!(error = %e, "polling failed; trying again");
                    next_poll = Instant::now() + Duration::from_millis(t.poll_interval_ms);
                }
            }
        }
    }

    /// Pushes what the collector gathered since the last call as one outgoing message;
    /// true when Genesys closed the session.
    async fn push_new(
        &self,
        pusher: &crate::outgoing::Pusher<'_>,
        collector: &mut Collector<'_>,
        record: &SessionRecord,
    ) -> bool {
        let batch = collector.take_new();
        if batch.is_empty() {
            return pusher.closed();
        }
        metrics::counter!("gcbridge_activities_delivered_total").increment(batch.len() as u64);
        if self.state.config.log_content {
            for a in &batch {
                debug!(kind = %a.kind, text = a.text.as_deref().unwrap_or(""), "agent activity");
            }
        }
        let translation = translate_turn(&self.bot.profile, &batch, record.turn);
        let response = translation.response;
        if response.bot_state == BotState::MoreData && response.reply_messages.is_empty() {
            return pusher.closed();
        }
        let started = Instant::now();
        let pushed = pusher.push(response, translation.offered).await;
        self.paused_ms.fetch_add(
            started.elapsed().as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        pushed == crate::outgoing::Pushed::Closed
    }

    /// Posts one activity. Throttling is waited out when `Retry-After` fits in the budget (the
    /// activity was refused, so repeating it cannot duplicate it). After an ambiguous failure
    /// (5xx, timeout, reset) the activity may or may not have reached the agent: gcbridge reads
    /// the conversation back and looks for its own echo (by `clientActivityID`) before posting
    /// again, so a customer message is never sent twice.
    async fn post(
        &self,
        record: &SessionRecord,
        activity: &Activity,
        watermark: Option<&str>,
    ) -> Result<String, DlError> {
        let bearer = self.bearer(record).map_err(|_| DlError::Status {
            status: 401,
            retry_after: None,
            token_expired: false,
        })?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self
                .state
                .dl
                .post_activity(
                    &record.dl.base_url,
                    bearer,
                    &record.dl.conversation_id,
                    activity,
                    self.hard_stop,
                )
                .await;
            let wait = match &result {
                Err(DlError::Status {
                    status: 429,
                    retry_after,
                    ..
                }) if attempts < 3 => *retry_after,
                Err(e) if e.is_transient() && attempts < 2 => {
                    if let Some(id) = self.find_echo(record, activity, watermark).await {
                        debug!("an ambiguous post had reached Direct Line; not repeating it");
                        return Ok(id);
                    }
                    Some(Duration::from_millis(rand::rng().random_range(50..200)))
                }
                _ => return result,
            };
            if !self.wait_for_retry(wait).await {
                return result;
            }
        }
    }

    /// The id Direct Line gave to our own activity, if it is in the conversation.
    async fn find_echo(
        &self,
        record: &SessionRecord,
        activity: &Activity,
        watermark: Option<&str>,
    ) -> Option<String> {
        let wanted = activity.client_activity_id()?;
        let set = self
            .state
            .dl
            .get_activities(
                &record.dl.base_url,
                self.bearer(record).ok()?,
                &record.dl.conversation_id,
                watermark,
                self.hard_stop,
            )
            .await
            .ok()?;
        set.activities
            .into_iter()
            .filter(|a| !a.is_from_bot())
            .find(|a| a.client_activity_id().as_deref() == Some(wanted.as_str()))
            .and_then(|a| a.id)
    }

    /// Repeats an idempotent call on 429 (after `Retry-After`) and on transient failures (after
    /// a short jitter), at most three attempts and never past the hard stop.
    async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T, DlError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DlError>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if attempts < 3 => {
                    let wait = match &e {
                        DlError::Status {
                            status: 429,
                            retry_after,
                            ..
                        } => *retry_after,
                        e if e.is_transient() => {
                            Some(Duration::from_millis(rand::rng().random_range(50..200)))
                        }
                        _ => return Err(e),
                    };
                    if !self.wait_for_retry(wait).await {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps for `wait` (default 1 s) if that leaves time to try again; false otherwise.
    async fn wait_for_retry(&self, wait: Option<Duration>) -> bool {
        let wait = wait.unwrap_or(Duration::from_secs(1));
        let retry_at = Instant::now() + wait;
        // Leave at least a little time for the repeated call itself.
        if retry_at + Duration::from_millis(100) >= self.hard_stop {
            return false;
        }
        tokio::time::sleep_until(retry_at).await;
        true
    }

    fn remember(&self, record: &mut SessionRecord, response: &TurnResponse) {
        record.last_request = Some(LastRequest {
            key: self.turn.request_key.clone(),
            response: response.clone(),
            at_ms: self.now_ms,
        });
    }

    async fn save(
        &self,
        key: &str,
        record: &SessionRecord,
        revision: Option<Revision>,
    ) -> Result<Revision, StoreError> {
        let save = self
            .state
            .store
            .save(key, record.encode(), revision, record.expires_at_ms);
        self.store_call(self.answer_by, save).await
    }

    /// Persists the session, then releases the answer (nothing is answered that is not saved).
    async fn finish(
        &self,
        mut record: SessionRecord,
        revision: Option<Revision>,
        response: TurnResponse,
        key: &str,
    ) -> TurnResponse {
        self.remember(&mut record, &response);
        if let Err(e) = self.save(key, &record, revision).await {
            // The replies stay behind the stored watermark and are read again next turn: over
            // HTTP, since this turn consumed them from the stream.
            self.state.streams.close(&record.dl.conversation_id);
            return self.fail(Failure::from(e));
        }
        let topic = self.topic.lock().unwrap_or_else(|e| e.into_inner()).take();
        crate::transcript::record_turn(
            self.state,
            &self.bot.profile.id,
            self.turn,
            &record,
            &response,
            topic,
        );
        if response.bot_state == BotState::Complete {
            self.state.streams.close(&record.dl.conversation_id);
            self.end_conversation(&record);
        }
        response
    }

    /// Best effort: tell Direct Line we are done, without delaying the answer.
    fn end_conversation(&self, record: &SessionRecord) {
        let (Some(auth), dl) = (self.bot.auth.clone(), self.state.dl.clone()) else {
            return;
        };
        let activity = Activity {
            kind: Activity::END_OF_CONVERSATION.to_owned(),
            from: Some(ChannelAccount::new(record.dl.user_id.clone(), "user")),
            ..Activity::default()
        };
        let base = record.dl.base_url.clone();
        let conversation = record.dl.conversation_id.clone();
        let token = record.dl.token.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            let bearer = match (&auth, &token) {
                (DirectLineAuth::Secret(s), _) => Bearer::Secret(s),
                (_, Some(t)) => Bearer::Token(t),
                _ => return,
            };
            if let Err(e) = dl
                .post_activity(&base, bearer, &conversation, &activity, deadline)
                .await
            {
                debug!(error = %e, "endOfConversation to Direct Line failed (ignored)");
            }
        });
    }

    fn fail(&self, failure: Failure) -> TurnResponse {
        let code = match &failure {
            Failure::Code(code) => *code,
            Failure::Agent(e) => {
                warn!(error = %e, "Direct Line failed before the customer's message was posted");
                agent_error_code(e)
            }
        };
        let agent_problem = matches!(failure, Failure::Agent(_));
        if agent_problem && self.bot.profile.on_agent_error == OnAgentError::Escalate {
            return agent_error_escalation(&self.bot.profile);
        }
        code.response()
    }
}
