//! Shared state of a running gcbridge: configuration, store, Direct Line client, locks.

use std::path::Path;
use std::sync::Arc;

use gcbridge_core::quiet::QuietLearner;
use gcbridge_core::request::BotRef;
use gcbridge_store::SessionStore;
use rand::RngCore;

use crate::config::{AppConfig, BotConfig};
use crate::dl::DirectLineClient;
use crate::locks::SessionLocks;
use crate::secret::Secret;
use crate::stream::StreamHub;

/// Streams unused for this long are closed: an idle customer should not hold a socket, and the
/// next turn reopens one in one round trip.
const STREAM_IDLE: std::time::Duration = std::time::Duration::from_secs(120);

/// Everything a request handler needs. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    pub config: AppConfig,
    pub store: Arc<dyn SessionStore>,
    pub dl: DirectLineClient,
    pub locks: SessionLocks,
    /// Open Direct Line streams, by conversation.
    pub streams: StreamHub,
    /// The adaptive quiet period learned per bot id (in memory, per process).
    pub quiet: std::sync::Mutex<std::collections::HashMap<String, QuietLearner>>,
    /// Key of the stable user-id HMAC.
    pub user_id_key: Secret,
    /// Random id of this process, the owner name of the session leases it takes.
    pub instance_id: String,
    /// Whether other processes may use the same store (Redis, DynamoDB, Azure Tables): then a
    /// turn takes a short lease on its session in the store, so two instances never run turns
    /// of one session at once. The embedded and memory stores belong to one process, where the
    /// in-process lock is enough.
    pub shared_store: bool,
    /// The Genesys Platform API client (asynchronous DBC replies), when configured.
    pub platform: Option<Arc<crate::platform::PlatformClient>>,
    /// Background turns of bots with asynchronous replies.
    pub async_turns: crate::outgoing::AsyncTurns,
    /// Set when shutdown began: `/readyz` answers 503 while in-flight turns finish.
    pub draining: std::sync::atomic::AtomicBool,
    /// Verifies agents' Genesys tokens for the widget, when `[widget] auth` asks for it.
    pub widget_verifier: Option<crate::widget::TokenVerifier>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("session store: {0}")]
    Store(#[from] gcbridge_store::StoreError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("user id key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
}

impl AppState {
    /// The quiet period to use for the bot's next turn.
    pub fn quiet_ms(&self, bot: &BotConfig) -> u64 {
        let learners = self.quiet.lock().unwrap_or_else(|e| e.into_inner());
        learners
            .get(&bot.profile.id)
            .map(|l| l.effective_quiet_ms(&bot.profile.timings))
            .unwrap_or(bot.profile.timings.quiet_ms)
    }

    /// Learns from a finished turn of the bot; returns the new effective quiet period.
    pub fn learn_quiet(&self, bot: &BotConfig, gaps_ms: &[u64], carried: usize) -> u64 {
        let mut learners = self.quiet.lock().unwrap_or_else(|e| e.into_inner());
        let learner = learners.entry(bot.profile.id.clone()).or_default();
        learner.observe(gaps_ms, carried, &bot.profile.timings);
        learner.effective_quiet_ms(&bot.profile.timings)
    }

    /// Opens the configured store and builds the Direct Line client.
    pub async fn new(config: AppConfig) -> Result<Self, StartError> {
        let store = gcbridge_store::open(&config.store_url).await?;
        Self::with_store(config, store)
    }

    /// Builds the state around an already opened store (tests, embedding).
    pub fn with_store(config: AppConfig, store: Arc<dyn SessionStore>) -> Result<Self, StartError> {
        let user_id_key = match &config.user_id_key {
            Some(key) => key.clone(),
            None => default_user_id_key(&config.store_url)?,
        };
        let platform = match &config.genesys_platform {
            Some(g) => match &g.credentials {
                Some(credentials) => Some(Arc::new(crate::platform::PlatformClient::new(
                    g.endpoints.clone(),
                    credentials.clone(),
                    crate::platform::ClientOptions {
                        request_timeout: std::time::Duration::from_secs(10),
                        max_retry_after: std::time::Duration::from_secs(10),
                        ..Default::default()
                    },
                )?)),
                None => None,
            },
            None => None,
        };
        let widget_verifier = match &config.widget_genesys {
            Some(g) => Some(crate::widget::TokenVerifier::new(g.clone())?),
            None => None,
        };
        Ok(Self {
            platform,
            async_turns: Default::default(),
            widget_verifier,
            dl: DirectLineClient::new()?,
            locks: SessionLocks::default(),
            streams: StreamHub::new(STREAM_IDLE, config.max_streams),
            quiet: Default::default(),
            user_id_key,
            instance_id: random_hex(8),
            shared_store: !(config.store_url.trim().starts_with("embedded:")
                || config.store_url.trim().starts_with("memory:")),
            draining: std::sync::atomic::AtomicBool::new(false),
            store,
            config,
        })
    }

    /// The bot a request is for (`mapping.md` §1.1): `chatBot.id`, then `botId` as id, then
    /// `botId` as display name. With the single default bot every request routes to it.
    pub fn resolve_bot(&self, bot: &BotRef) -> Option<&BotConfig> {
        let bots = &self.config.bots;
        if self.config.route_any_bot_id {
            return bots.first();
        }
        let by_id = |id: &str| bots.iter().find(|b| b.profile.id == id);
        bot.chat_bot_id
            .as_deref()
            .and_then(by_id)
            .or_else(|| bot.bot_id.as_deref().and_then(by_id))
            .or_else(|| {
                let name = bot.bot_id.as_deref()?;
                bots.iter().find(|b| b.profile.name == name)
            })
    }
}

/// Without a configured key: a key file next to the embedded store (so user ids survive
/// restarts), or a random per-process key for other stores.
fn default_user_id_key(store_url: &str) -> Result<Secret, StartError> {
    let Some(path) = store_url.strip_prefix("embedded:") else {
        tracing::warn!(
            "GCBRIDGE_USER_ID_KEY is not set: using a per-process key; set it when several instances share a store"
        );
        return Ok(Secret::new(random_hex(32)));
    };
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    let file = dir.join("user-id.key");
    let err = |source| StartError::KeyFile {
        path: file.display().to_string(),
        source,
    };
    if file.exists() {
        let text = std::fs::read_to_string(&file).map_err(err)?;
        if text.trim().is_empty() {
            return Err(err(std::io::Error::other("the file is empty")));
        }
        return Ok(Secret::new(text.trim()));
    }
    std::fs::create_dir_all(dir).map_err(err)?;
    let key = random_hex(32);
    write_private(&file, &key).map_err(err)?;
    Ok(Secret::new(key))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
