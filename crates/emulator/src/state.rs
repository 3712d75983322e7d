//! Everything the emulator remembers: conversations and their activities, tokens, pending
//! faults.
//!
//! Locks are plain `std::sync::Mutex`es held for a few map operations and never across an
//! `.await`. Each conversation has its own lock, so concurrent conversations (benchmarks) do not
//! serialise on one another. Every change to a conversation bumps its `changes` watch, which is
//! what streams and test helpers wait on instead of sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use gcbridge_directline::{Activity, ConversationAccount};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::agent::{Memory, Trigger};
use crate::clock::{now_rfc3339, random_alphanumeric};
use crate::error::ApiError;
use crate::fault::{Fault, Op};
use crate::script::Script;
use crate::worker;

/// Locks a mutex, ignoring poisoning: no code path panics while holding these locks, and if one
/// ever did, the data (a list of activities) would still be the best answer available.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Settings the state needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub secrets: Vec<String>,
    pub token_ttl: Duration,
    pub endpoint_token_ttl: Duration,
}

/// State shared by every handler, worker and stream.
#[derive(Debug)]
pub(crate) struct Shared {
    pub script: Arc<Script>,
    pub settings: Settings,
    conversations: Mutex<HashMap<String, Arc<Conv>>>,
    tokens: Mutex<HashMap<String, Grant>>,
    faults: Mutex<Vec<Fault>>,
    started: AtomicUsize,
    next_number: AtomicU64,
    /// `true` once the emulator shuts down; workers and streams stop on it.
    pub shutdown: watch::Sender<bool>,
    /// `http://host:port/`, used for `relatesTo.serviceUrl` and as a fallback host.
    pub service_url: Mutex<String>,
}

#[derive(Debug, Clone)]
struct Grant {
    conversation_id: String,
    expires_at: Instant,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A Direct Line secret: may do anything.
    Secret,
    /// A token: may only use its own conversation.
    Token {
        /// The conversation the token belongs to.
        conversation_id: String,
        /// The token itself (a credential: never log it).
        token: String,
        /// Seconds left before it expires.
        expires_in: u64,
    },
}

impl Caller {
    /// Refuses a token that belongs to another conversation.
    pub(crate) fn check_access(&self, conversation_id: &str) -> Result<(), ApiError> {
        match self {
            Caller::Secret => Ok(()),
            Caller::Token {
                conversation_id: own,
                ..
            } if own == conversation_id => Ok(()),
            Caller::Token { .. } => Err(ApiError::forbidden(
                "The token is not valid for this conversation",
            )),
        }
    }
}

/// One conversation.
#[derive(Debug)]
pub(crate) struct Conv {
    pub id: String,
    state: Mutex<ConvState>,
    /// Bumped on every change (activity appended, expiry, forced stream disconnect).
    changes: watch::Sender<u64>,
    /// The conversation's worker, which plays the agent's reactions in order.
    inbox: mpsc::UnboundedSender<Inbound>,
}

/// Mutable part of a conversation.
#[derive(Debug, Default)]
pub(crate) struct ConvState {
    /// Started by `POST /conversations` (a generated token only reserves the conversation).
    pub started: bool,
    /// Expired by a test: every later call answers 404.
    pub expired: bool,
    /// Every activity, typing included; activity `n` (1-based) has id `<conv>|000000n` and the
    /// watermark after it is `n`.
    pub activities: Vec<Activity>,
    /// The agent's memory of this conversation.
    pub memory: Memory,
    /// How many times each rule's fault was answered (rule index → count).
    pub rule_faults: HashMap<usize, usize>,
    /// Incremented to make open streams close (tests of reconnects).
    pub stream_epoch: u64,
}

/// A user activity handed to the conversation's worker.
#[derive(Debug)]
pub(crate) struct Inbound {
    /// The activity as stored (with its id).
    pub activity: Activity,
    /// What it triggers.
    pub trigger: Trigger,
    /// When the emulator stored it (the start of the agent's reply time).
    pub received: std::time::Instant,
}

impl Conv {
    /// Locks the conversation's state.
    pub(crate) fn state(&self) -> MutexGuard<'_, ConvState> {
        lock(&self.state)
    }

    /// Watches changes of the conversation.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Wakes streams and waiters.
    pub(crate) fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stores an activity (filling id, timestamp, channel and conversation) and returns its id.
    /// The caller holds the state lock so that id assignment and any follow-up (handing the
    /// activity to the worker) happen in one step.
    pub(crate) fn append_locked(&self, state: &mut ConvState, mut activity: Activity) -> String {
        let id = format!("{}|{:07}", self.id, state.activities.len() + 1);
        activity.id = Some(id.clone());
        activity.timestamp = Some(now_rfc3339());
        activity.channel_id = Some("directline".to_owned());
        activity.conversation = Some(ConversationAccount {
            id: Some(self.id.clone()),
            extra: Map::new(),
        });
        state.activities.push(activity);
        id
    }

    /// Stores a user activity and queues the agent's reaction, atomically with respect to other
    /// posts so reactions run in the order the activities were stored.
    pub(crate) fn post_user_activity(&self, activity: Activity, trigger: Trigger) -> String {
        let mut state = self.state();
        let id = self.append_locked(&mut state, activity);
        if let Some(stored) = state.activities.last() {
            // The worker only stops at shutdown, when nobody cares about reactions any more.
            let _ = self.inbox.send(Inbound {
                activity: stored.clone(),
                trigger,
                received: std::time::Instant::now(),
            });
        }
        drop(state);
        self.notify();
        id
    }
}

impl Shared {
    pub(crate) fn new(script: Script, settings: Settings) -> Self {
        Self {
            script: Arc::new(script),
            settings,
            conversations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
            next_number: AtomicU64::new(1),
            shutdown: watch::Sender::new(false),
            service_url: Mutex::new("http://localhost/".to_owned()),
        }
    }

    /// Identifies the caller from `Authorization: Bearer <secret or token>`.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let value = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::missing_auth)?;
        let credential = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(ApiError::missing_auth)?;
        // Plain comparison: this is an emulator holding throwaway secrets, not a vault.
        if self.settings.secrets.iter().any(|s| s == credential) {
            return Ok(Caller::Secret);
        }
        self.authenticate_token(credential)
    }

    /// Identifies the caller from a token (the stream's `t=` parameter, or a bearer token).
    pub(crate) fn authenticate_token(&self, token: &str) -> Result<Caller, ApiError> {
        let grant = lock(&self.tokens).get(token).cloned();
        let now = Instant::now();
        match grant {
            None => Err(ApiError::forbidden("Invalid token or secret")),
            Some(g) if now >= g.expires_at => Err(ApiError::token_expired()),
            Some(g) => Ok(Caller::Token {
                conversation_id: g.conversation_id,
                token: token.to_owned(),
                expires_in: (g.expires_at - now).as_secs(),
            }),
        }
    }

    /// Issues a token for a conversation.
    pub(crate) fn issue_token(&self, conversation_id: &str, ttl: Duration) -> String {
        let token = random_alphanumeric(48);
        lock(&self.tokens).insert(
            token.clone(),
            Grant {
                conversation_id: conversation_id.to_owned(),
                expires_at: Instant::now() + ttl,
            },
        );
        token
    }

    /// Makes every token of a conversation expired.
    pub(crate) fn expire_tokens(&self, conversation_id: &str) {
        let now = Instant::now();
        for grant in lock(&self.tokens).values_mut() {
            if grant.conversation_id == conversation_id {
                grant.expires_at = now;
            }
        }
    }

    /// Consumes one pending fault for `op`, if any.
    pub(crate) fn take_fault(&self, op: Op) -> Result<(), ApiError> {
        let mut faults = lock(&self.faults);
        let Some(index) = faults.iter().position(|f| f.op.covers(op) && f.count > 0) else {
            return Ok(());
        };
        let fault = &mut faults[index];
        fault.count -= 1;
        let error = ApiError::fault(fault.status, fault.retry_after_secs);
        if fault.count == 0 {
            faults.remove(index);
        }
        Err(error)
    }

    /// Queues a fault.
    pub(crate) fn inject_fault(&self, fault: Fault) {
        if fault.count > 0 {
            lock(&self.faults).push(fault);
        }
    }

    /// Creates a conversation (started, or only reserved for a generated token) and its worker.
    pub(crate) fn create_conversation(&self, started: bool) -> Arc<Conv> {
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "EmuConv{number}-{}",
            random_alphanumeric(8).to_ascii_lowercase()
        );
        let (inbox, inbox_rx) = mpsc::unbounded_channel();
        let conv = Arc::new(Conv {
            id: id.clone(),
            state: Mutex::new(ConvState {
                started,
                ..ConvState::default()
            }),
            changes: watch::Sender::new(0),
            inbox,
        });
        worker::spawn(
            Arc::clone(&self.script),
            Arc::clone(&conv),
            inbox_rx,
            self.shutdown.subscribe(),
            lock(&self.service_url).clone(),
        );
        lock(&self.conversations).insert(id, Arc::clone(&conv));
        if started {
            self.started.fetch_add(1, Ordering::Relaxed);
        }
        conv
    }

    /// Marks a reserved conversation as started; returns `false` when it already was.
    pub(crate) fn start_reserved(&self, conv: &Conv) -> bool {
        let mut state = conv.state();
        if state.started {
            return false;
        }
        state.started = true;
        self.started.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A conversation that exists and has not expired, else the 404 Direct Line answers.
    pub(crate) fn conversation(&self, id: &str) -> Result<Arc<Conv>, ApiError> {
        let conv = self.find(id).ok_or_else(ApiError::conversation_not_found)?;
        if conv.state().expired {
            return Err(ApiError::conversation_not_found());
        }
        Ok(conv)
    }

    /// A conversation by id, expired or not.
    pub(crate) fn find(&self, id: &str) -> Option<Arc<Conv>> {
        lock(&self.conversations).get(id).cloned()
    }

    /// Number of conversations started.
    pub(crate) fn started_count(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// Ids of every conversation, started or reserved, in creation order.
    pub(crate) fn conversation_ids(&self) -> Vec<String> {
        let mut ids: Vec<(u64, String)> = lock(&self.conversations)
            .keys()
            .map(|id| (conversation_number(id), id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// The conversation's variables, as the agent remembers them.
    pub(crate) fn variables(&self, id: &str) -> Option<Map<String, Value>> {
        Some(self.find(id)?.state().memory.variables.clone())
    }
}

/// The `<n>` of `EmuConv<n>-...`, for ordering.
fn conversation_number(id: &str) -> u64 {
    id.strip_prefix("EmuConv")
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Resolves once the emulator shuts down (or its state is gone). Returns nothing, so no lock
/// guard of the watch channel is held by the caller afterwards.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
