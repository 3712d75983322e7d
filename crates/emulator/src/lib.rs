//! A scriptable Bot Framework Direct Line 3.0 emulator of a Microsoft Copilot Studio agent.
//!
//! It is what gcbridge talks to in tests, in `gcbridge demo` and in benchmarks: a real HTTP server
//! speaking Direct Line 3.0 (start, reconnect, post and poll activities, WebSocket stream, token
//! generate/refresh, the Copilot Studio token endpoint) whose agent follows a TOML [`Script`].
//! Tests run it in process with [`start`] and use the [`Emulator`] handle to inspect what was
//! posted and to inject faults. Behaviour follows `spec/direct-line.md`: `<conv>|0000001` activity
//! ids, watermarks that count activities, typing only on the stream, the user's own activities
//! echoed by polling, errors as `{"error": {"code", "message"}}`.
//!
//! It depends on no gcbridge crate except `gcbridge-directline` (the wire types): it must stay an
//! independent model of the service, so it cannot share gcbridge's own assumptions.
//!
//! # Script format
//!
//! A complete, commented example is `config/demo-agent.toml` ([`Script::demo`]).
//!
//! ```toml
//! [agent]
//! name = "Contoso Support"          # from.name of replies, va_BotName
//! bot_id = "contoso-support"        # from.id of replies, va_BotId
//! language = "En-US"                # va_Language (default "En-US")
//! locale = "en-US"                  # locale of replies (default "en-US")
//! # schema_name = "cr123_contoso"   # only this schema on the token endpoint (default: any)
//!
//! [variables]                       # template defaults, when the conversation has not set them
//! CustomerName = "there"
//!
//! [greeting]                        # answer to the `startConversation` event
//! topic = "Conversation Start"
//! steps = [{ typing = true }, { text = "Hello {CustomerName}!", delay_ms = 300 }]
//!
//! [[rules]]                         # first match wins
//! topic = "Opening hours"           # va_LastTopic / va_Topics
//! match = { contains = ["opening hours", "open"] }
//! steps = [{ text = "We are open 9-17.", suggested_actions = ["Thanks", "Talk to an agent"] }]
//!
//! [fallback]                        # a message no rule matched
//! steps = [{ text = "I understood \"{Text}\" but have no answer for it." }]
//! ```
//!
//! **Matching** (`match = {...}`, any criterion may hold): `equals`, `contains` (whole words) and
//! `starts_with` take a string or a list, compared case-insensitively after collapsing
//! whitespace and dropping trailing `.!?,;:`; `capture = "Var"` with `starts_with` stores the
//! rest of the message in a conversation variable; `value = { key = "v" }` matches a card submit
//! whose `value` holds those pairs; `event = "Name"` matches a custom event.
//! A rule may `set = { Var = "template" }` variables when it fires, and may have a
//! `fault = { status = 429, retry_after_secs = 2, times = 1 }`: the first `times` matching posts
//! of each conversation are answered with that error instead of being accepted.
//!
//! **Steps** (each waits `delay_ms`, counted from the previous step, then sends one activity):
//! a message (`text`, markdown, with optional `input_hint`, `suggested_actions` (imBack strings or
//! `{ title, value, type }` tables), a hero `card = { title, subtitle, text, image, buttons }`,
//! `cards = [...]` for a carousel, or an `adaptive_card = {...}`); `{ typing = true }`;
//! `{ handoff = { agent_message, variables = {...}, include_variables = true } }` (a
//! `handoff.initiate` event with the `va_*` context, the transcript attachment and `relatesTo`);
//! `{ end = "completedSuccessfully" }` (a native `endOfConversation`); `{ event = "Name", value
//! = ... }` (a custom event).
//!
//! **Templates**: `{Var}` or `{Var|fallback}` in texts and values, from the built-ins `Text` (the
//! user's message), `Turn` (user messages so far), `Topic`, `PreviousTopic`, `BotName`,
//! `ConversationId`, then the conversation's variables (`pvaSetContext`, captures, `set`), then
//! `[variables]`. The conversation keeps its variables, topics and phrases across turns.

mod agent;
mod clock;
mod error;
mod fault;
pub mod genesys;
mod script;
mod server;
mod state;
mod stream;
mod template;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gcbridge_directline::{API_PREFIX, Activity};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use fault::{Fault, Op};
pub use genesys::{GenesysStandIn, StandInConfig, start_genesys};
pub use script::{
    Action, Agent, DEFAULT_FALLBACK_TOPIC, DEFAULT_GREETING_TOPIC, DEMO_TOML, HandoffStep,
    HeroCard, Matcher, MessageStep, Rule, RuleFault, Script, ScriptError, Step, StepAction,
    SystemTopic,
};
pub use template::Template;

use state::{Settings, Shared, lock};

/// The Direct Line secret the emulator accepts unless configured otherwise. It protects
/// nothing: it only lets clients exercise their `Authorization` handling.
pub const DEFAULT_SECRET: &str = "emulator-secret-not-real";

/// Lifetime of Direct Line tokens, as documented (`expires_in: 1800`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(1800);

/// Lifetime of tokens from the Copilot Studio token endpoint (`expires_in: 3600`).
pub const DEFAULT_ENDPOINT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Largest request body accepted (Direct Line's documented 262,144 bytes); larger → `413`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// How long [`Emulator::shutdown`] waits for open connections before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configuration of an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// What the agent says and does.
    pub script: Script,
    /// Accepted Direct Line secrets (several, to test rotation). Empty means none: only the
    /// Copilot Studio token endpoint can then open a conversation.
    pub secrets: Vec<String>,
    /// Lifetime of tokens from start, generate, refresh and reconnect.
    pub token_ttl: Duration,
    /// Lifetime of tokens from the Copilot Studio token endpoint.
    pub endpoint_token_ttl: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl EmulatorConfig {
    /// A configuration with `script`, the secret [`DEFAULT_SECRET`] and the documented lifetimes
    /// and limits.
    pub fn new(script: Script) -> Self {
        Self {
            script,
            secrets: vec![DEFAULT_SECRET.to_owned()],
            token_ttl: DEFAULT_TOKEN_TTL,
            endpoint_token_ttl: DEFAULT_ENDPOINT_TOKEN_TTL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    fn into_parts(self) -> (Shared, usize) {
        let settings = Settings {
            secrets: self.secrets,
            token_ttl: self.token_ttl,
            endpoint_token_ttl: self.endpoint_token_ttl,
        };
        (Shared::new(self.script, settings), self.max_body_bytes)
    }
}

/// The emulator's routes, for mounting into another server. There is no inspection handle:
/// use [`start`] when a test needs one.
pub fn router(config: EmulatorConfig) -> Router {
    let (shared, max_body) = config.into_parts();
    server::router(Arc::new(shared), max_body)
}

/// Serves the emulator on `listener` in a background task and returns its handle. Dropping the
/// handle shuts the server down.
pub async fn start(listener: TcpListener, config: EmulatorConfig) -> Emulator {
    let (shared, max_body) = config.into_parts();
    let shared = Arc::new(shared);
    // A listener that cannot report its address is not usable by clients either; fall back to
    // the unspecified address rather than failing, the error will surface on connect.
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let base_url = format!("http://{addr}");
    *lock(&shared.service_url) = format!("{base_url}/");
    let app = server::router(Arc::clone(&shared), max_body);
    let mut stop = shared.shutdown.subscribe();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            // Stops on `true`, and also when the sender is gone.
            let _ = stop.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "emulator server stopped with an error");
        }
    });
    tracing::debug!(%base_url, "emulator listening");
    Emulator {
        shared,
        base_url,
        addr,
        server: Some(server),
    }
}

/// A running emulator: its address, and helpers for tests to inspect and perturb it.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    base_url: String,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// `http://127.0.0.1:PORT`: the host to give Direct Line clients (without `/v3/directline`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `http://127.0.0.1:PORT/v3/directline`: the `domain` of DirectLineJS.
    pub fn directline_url(&self) -> String {
        format!("{}{API_PREFIX}", self.base_url)
    }

    /// The emulated Copilot Studio token endpoint URL (no secret needed).
    pub fn token_endpoint_url(&self) -> String {
        let schema = self
            .shared
            .script
            .agent
            .schema_name
            .as_deref()
            .unwrap_or("emulator");
        format!(
            "{}/powervirtualagents/botsbyschema/{schema}/directline/token?api-version=2022-03-01-preview",
            self.base_url
        )
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first accepted secret, if any.
    pub fn secret(&self) -> Option<&str> {
        self.shared.settings.secrets.first().map(String::as_str)
    }

    /// The script the agent follows.
    pub fn script(&self) -> &Script {
        &self.shared.script
    }

    /// Stops the server: no new connections, open requests finish (bounded wait), streams and
    /// pending replies stop.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Number of conversations started (by secret or by token).
    pub fn conversations_started(&self) -> usize {
        self.shared.started_count()
    }

    /// Ids of all conversations, including those only reserved by a token, oldest first.
    pub fn conversation_ids(&self) -> Vec<String> {
        self.shared.conversation_ids()
    }

    /// The activities users posted to a conversation, in order, as stored (with ids).
    pub fn user_activities(&self, conversation_id: &str) -> Vec<Activity> {
        self.activities(conversation_id)
            .into_iter()
            .filter(|a| !a.is_from_bot())
            .collect()
    }

    /// Every activity of a conversation in server order, typing included; empty when unknown.
    pub fn activities(&self, conversation_id: &str) -> Vec<Activity> {
        self.shared
            .find(conversation_id)
            .map(|c| c.state().activities.clone())
            .unwrap_or_default()
    }

    /// The variables the agent remembers for a conversation (`pvaSetContext`, captures, `set`).
    pub fn variables(&self, conversation_id: &str) -> Option<Map<String, Value>> {
        self.shared.variables(conversation_id)
    }

    /// Waits until the conversation's activities satisfy `done` and returns them, or `None` after
    /// `timeout` (or when the conversation is unknown). Wakes on every change: no polling.
    pub async fn wait_for(
        &self,
        conversation_id: &str,
        timeout: Duration,
        done: impl Fn(&[Activity]) -> bool,
    ) -> Option<Vec<Activity>> {
        let conv = self.shared.find(conversation_id)?;
        let mut changes = conv.subscribe();
        let wait = async {
            loop {
                changes.borrow_and_update();
                {
                    let state = conv.state();
                    if done(&state.activities) {
                        return Some(state.activities.clone());
                    }
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Makes the next `fault.count` calls of `fault.op` fail with `fault.status`.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.inject_fault(fault);
    }

    /// Makes every later call on the conversation answer `404` (as after Direct Line forgot it);
    /// open streams close and pending replies are dropped.
    pub fn expire_conversation(&self, conversation_id: &str) {
        if let Some(conv) = self.shared.find(conversation_id) {
            conv.state().expired = true;
            conv.notify();
        }
    }

    /// Makes every token issued for the conversation expired (`403 TokenExpired`), without
    /// waiting for its lifetime.
    pub fn expire_tokens(&self, conversation_id: &str) {
        self.shared.expire_tokens(conversation_id);
    }

    /// Closes the conversation's open WebSocket streams, as the service may at any time; the
    /// conversation itself stays usable and clients reconnect.
    pub fn disconnect_streams(&self, conversation_id: &str) {
        if let Some(conv) = self.shared.find(conversation_id) {
            conv.state().stream_epoch += 1;
            conv.notify();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Stops the server task, workers and streams even when `shutdown` was not awaited.
        self.shared.shutdown.send_replace(true);
    }
}
