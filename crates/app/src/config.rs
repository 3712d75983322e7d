//! Configuration: one typed tree. Built-in defaults (documented in `config/gcbridge.toml`), then
//! an optional TOML file, then `GCBRIDGE_*` environment variables (env wins). Unknown keys are
//! errors; secrets are wrapped in [`Secret`] so they cannot be printed.

use std::collections::HashSet;
use std::path::Path;

use gcbridge_core::profile::BotProfile;
use serde::Deserialize;

use crate::secret::Secret;

/// The commented default configuration shipped in the repository.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../config/gcbridge.toml");

/// The global Direct Line host.
pub const DEFAULT_DIRECTLINE_URL: &str = "https://directline.botframework.com";

/// How gcbridge reaches one Copilot Studio agent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectLineConfig {
    /// Base URL (regional host or the emulator), without `/v3/directline`.
    pub url: Option<String>,
    /// The Direct Line secret itself (prefer `secret_env`).
    pub secret: Option<String>,
    /// Name of the environment variable holding the secret.
    pub secret_env: Option<String>,
    /// Copilot Studio token endpoint URL, alternative to a secret.
    pub token_endpoint: Option<String>,
    /// Receive the agent's activities over the WebSocket stream (default true); polling stays
    /// the fallback either way.
    pub stream: Option<bool>,
}

/// Credential used to reach an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectLineAuth {
    /// A Direct Line secret: starts conversations and authorises every call.
    Secret(Secret),
    /// A Copilot Studio token endpoint: each conversation gets its own token.
    TokenEndpoint(String),
}

/// One configured bot: behaviour plus how to reach its agent.
#[derive(Debug, Clone, PartialEq)]
pub struct BotConfig {
    pub profile: BotProfile,
    /// Base URL without a trailing slash.
    pub directline_url: String,
    pub auth: Option<DirectLineAuth>,
    /// Use the WebSocket stream (polling remains the fallback).
    pub stream: bool,
}

/// Genesys-facing settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenesysConfig {
    /// Header carrying the shared secret.
    pub secret_header: String,
    /// Accepted values (rotation). Prefer `GCBRIDGE_GENESYS_SECRET`.
    pub secrets: Vec<String>,
    /// Require the secret on the DBC bot-list endpoints too. Whether Genesys sends credential
    /// headers on those `GET`s is unconfirmed, so by default a present header must be valid and
    /// an absent one is accepted (the list holds no secrets).
    pub require_secret_on_bot_list: bool,
    /// Region of the org (`us-east-1`, `mypurecloud.ie`...): where asynchronous replies go.
    pub region: String,
    /// Explicit login and API base URLs instead of the region's.
    pub login_url: String,
    pub api_url: String,
}

impl Default for GenesysConfig {
    fn default() -> Self {
        Self {
            secret_header: "Authorization".to_owned(),
            secrets: Vec::new(),
            require_secret_on_bot_list: false,
            region: String::new(),
            login_url: String::new(),
            api_url: String::new(),
        }
    }
}

/// Where gcbridge calls the Genesys Cloud Platform API (asynchronous DBC replies), and as whom.
#[derive(Debug, Clone)]
pub struct GenesysPlatformConfig {
    pub endpoints: crate::platform::Endpoints,
    /// `None` when the OAuth client variables are unset.
    pub credentials: Option<crate::platform::ClientCredentials>,
}

/// Connection limits of the HTTP listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub header_read_timeout_ms: u64,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub shutdown_grace_ms: u64,
    pub drain_delay_ms: u64,
    /// Direct Line streams kept open at most (about 16 KiB each); beyond it the least recently
    /// used is closed and its session reads over HTTP until it reopens one.
    pub max_streams: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let d = crate::listen::Limits::default();
        Self {
            header_read_timeout_ms: d.header_read_timeout.as_millis() as u64,
            max_header_bytes: d.max_header_bytes,
            max_connections: d.max_connections,
            shutdown_grace_ms: d.shutdown_grace.as_millis() as u64,
            drain_delay_ms: d.drain_delay.as_millis() as u64,
            max_streams: crate::stream::MAX_OPEN_STREAMS,
        }
    }
}

/// Transcript storage for the agent-side widget (`mapping.md` §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscriptsConfig {
    /// Store transcripts at all (off by default).
    pub enabled: bool,
    /// Keep a transcript at most this long after its last turn; 0 = as long as the session.
    pub ttl_secs: u64,
    /// Redaction rules: `card_numbers`, `emails`, or literal strings.
    pub redact: Vec<String>,
}

impl Default for TranscriptsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ttl_secs: 0,
            redact: vec!["card_numbers".to_owned(), "emails".to_owned()],
        }
    }
}

/// The agent-side widget.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WidgetFileConfig {
    keys: Vec<String>,
    auth: WidgetAuth,
    genesys: WidgetGenesysFileConfig,
}

/// What the widget page and its data endpoint require.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetAuth {
    /// A configured widget key in the URL (`key=`).
    #[default]
    Key,
    /// The agent's Genesys Cloud access token, verified against the region's Platform API
    /// (the page itself is a data-free shell that signs the agent in).
    Genesys,
    /// Both: the key for the page and the data, and the agent's token for the data.
    KeyAndGenesys,
}

impl WidgetAuth {
    /// Whether the widget key is required.
    pub fn needs_key(self) -> bool {
        matches!(self, Self::Key | Self::KeyAndGenesys)
    }

    /// Whether the agent's Genesys token is required for the data.
    pub fn needs_genesys(self) -> bool {
        matches!(self, Self::Genesys | Self::KeyAndGenesys)
    }
}

/// `[widget.genesys]` as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WidgetGenesysFileConfig {
    region: Option<String>,
    org_id: Option<String>,
    client_id: Option<String>,
    cache_secs: u64,
    api_url: Option<String>,
    login_url: Option<String>,
}

impl Default for WidgetGenesysFileConfig {
    fn default() -> Self {
        Self {
            region: None,
            org_id: None,
            client_id: None,
            cache_secs: 60,
            api_url: None,
            login_url: None,
        }
    }
}

/// How the widget verifies an agent's Genesys Cloud token (resolved `[widget.genesys]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetGenesys {
    /// `https://api.<domain>` of the region (or a stand-in), without a trailing slash.
    pub api_base: String,
    /// `https://login.<domain>` of the region (or a stand-in), where the page signs in.
    pub login_base: String,
    /// The only Genesys organization whose agents are accepted.
    pub org_id: String,
    /// The OAuth client (grant type Token Implicit Grant) the page signs in with. Public.
    pub client_id: String,
    /// How long a verified token is trusted without asking Genesys again.
    pub cache: std::time::Duration,
}

/// The Web Chat token server (`GET /webchat/token`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebChatConfig {
    /// Serve `/webchat/token` at all (off by default).
    pub enabled: bool,
    /// Id of the bot whose Direct Line credential is exchanged (default: the first bot).
    pub bot: Option<String>,
    /// Browser origins allowed to ask for a token (`https://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Tokens per client IP address and minute.
    pub rate_limit_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy that
    /// sets it) instead of the TCP peer.
    pub trust_forwarded_for: bool,
}

impl Default for WebChatConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bot: None,
            allowed_origins: Vec::new(),
            rate_limit_per_minute: 10,
            trust_forwarded_for: false,
        }
    }
}

/// The file format (see `config/gcbridge.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: String,
    store: String,
    max_body_bytes: usize,
    store_timeout_ms: u64,
    log_content: bool,
    user_id_key: Option<String>,
    server: ServerConfig,
    genesys: GenesysConfig,
    directline: DirectLineConfig,
    transcripts: TranscriptsConfig,
    widget: WidgetFileConfig,
    webchat: WebChatConfig,
    bot: toml::Table,
    bots: Vec<toml::Table>,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            store: "embedded:./data/gcbridge.db".to_owned(),
            max_body_bytes: 256 * 1024,
            store_timeout_ms: 2_000,
            log_content: false,
            user_id_key: None,
            server: ServerConfig::default(),
            genesys: GenesysConfig::default(),
            directline: DirectLineConfig::default(),
            transcripts: TranscriptsConfig::default(),
            widget: WidgetFileConfig::default(),
            webchat: WebChatConfig::default(),
            bot: toml::Table::new(),
            bots: Vec::new(),
        }
    }
}

/// The whole, resolved configuration.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub listen: String,
    pub store_url: String,
    pub max_body_bytes: usize,
    /// Longest one session-store call of a turn may take (also cut to the turn's deadline).
    pub store_timeout: std::time::Duration,
    /// Connection limits of the listener.
    pub limits: crate::listen::Limits,
    /// Direct Line streams kept open at most (`[server] max_streams`).
    pub max_streams: usize,
    /// Log message texts (off by default; never secrets).
    pub log_content: bool,
    pub genesys_secret_header: String,
    pub genesys_secrets: Vec<Secret>,
    pub require_secret_on_bot_list: bool,
    /// Key of the stable user-id HMAC. `None`: derived from the store (see `state`).
    pub user_id_key: Option<Secret>,
    pub bots: Vec<BotConfig>,
    /// True for the single default bot of `[bot]`/env: every `botId` routes to it.
    pub route_any_bot_id: bool,
    /// Transcript storage for the agent-side widget.
    pub transcripts: TranscriptsConfig,
    /// Accepted widget keys (rotation); empty: the widget answers 401 to everyone.
    pub widget_keys: Vec<Secret>,
    /// The Genesys Platform API, when a region or explicit URLs are configured.
    pub genesys_platform: Option<GenesysPlatformConfig>,
    /// What the widget requires.
    pub widget_auth: WidgetAuth,
    /// Genesys token verification, when `widget_auth` needs it.
    pub widget_genesys: Option<WidgetGenesys>,
    /// The Web Chat token server.
    pub webchat: WebChatConfig,
}

/// Everything wrong with a configuration, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl AppConfig {
    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let text =
            match file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(vec![format!("cannot read {}: {e}", path.display())])
                })?),
                None => None,
            };
        Self::from_parts(text.as_deref(), &|name| std::env::var(name).ok())
    }

    /// Builds the configuration from optional TOML text and an environment lookup.
    pub fn from_parts(
        toml_text: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file: FileConfig = match toml_text {
            Some(text) => toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?,
            None => FileConfig::default(),
        };
        let mut problems = Vec::new();
        let env_nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let mut listen = file.listen;
        if let Some(port) = env_nonempty("FUNCTIONS_CUSTOMHANDLER_PORT") {
            // Azure Functions custom handler: the host forwards requests to this local port.
            listen = format!("127.0.0.1:{}", port.trim());
        }
        if let Some(v) = env_nonempty("GCBRIDGE_LISTEN") {
            listen = v;
        }
        let store_url = env_nonempty("GCBRIDGE_STORE").unwrap_or(file.store);
        let genesys_platform = platform_config(&file.genesys, env, &mut problems);
        let store_timeout_ms = match env_nonempty("GCBRIDGE_STORE_TIMEOUT_MS") {
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                problems.push(format!(
                    "GCBRIDGE_STORE_TIMEOUT_MS must be a number of milliseconds, not {:?}",
                    v.trim()
                ));
                file.store_timeout_ms
            }),
            None => file.store_timeout_ms,
        };
        let genesys_secret_header =
            env_nonempty("GCBRIDGE_GENESYS_SECRET_HEADER").unwrap_or(file.genesys.secret_header);
        let genesys_secrets: Vec<Secret> = match env_nonempty("GCBRIDGE_GENESYS_SECRET") {
            Some(v) => split_list(&v),
            None => file.genesys.secrets,
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect();
        let user_id_key = env_nonempty("GCBRIDGE_USER_ID_KEY")
            .or(file.user_id_key)
            .map(Secret::new);
        let log_content = env_nonempty("GCBRIDGE_LOG_CONTENT")
            .map(|v| matches!(v.trim(), "1" | "true" | "yes"))
            .unwrap_or(file.log_content);

        let mut transcripts = file.transcripts;
        if let Some(v) = env_nonempty("GCBRIDGE_TRANSCRIPTS") {
            transcripts.enabled = matches!(v.trim(), "1" | "true" | "yes" | "on");
        }
        let widget_keys: Vec<Secret> = match env_nonempty("GCBRIDGE_WIDGET_KEY") {
            Some(v) => split_list(&v),
            None => file.widget.keys,
        }
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Secret::new(s.trim()))
        .collect();

        let mut widget_auth = file.widget.auth;
        if let Some(v) = env_nonempty("GCBRIDGE_WIDGET_AUTH") {
            match v.trim() {
                "key" => widget_auth = WidgetAuth::Key,
                "genesys" => widget_auth = WidgetAuth::Genesys,
                "key_and_genesys" => widget_auth = WidgetAuth::KeyAndGenesys,
                other => problems.push(format!(
                    "GCBRIDGE_WIDGET_AUTH = {other:?}: use key, genesys or key_and_genesys"
                )),
            }
        }
        let mut wg = file.widget.genesys;
        for (name, field) in [
            ("GCBRIDGE_WIDGET_GENESYS_REGION", &mut wg.region),
            ("GCBRIDGE_WIDGET_GENESYS_ORG_ID", &mut wg.org_id),
            ("GCBRIDGE_WIDGET_GENESYS_CLIENT_ID", &mut wg.client_id),
        ] {
            if let Some(v) = env_nonempty(name) {
                *field = Some(v.trim().to_owned());
            }
        }
        let widget_genesys = if widget_auth.needs_genesys() {
            resolve_widget_genesys(&wg, &mut problems)
        } else {
            None
        };
        let mut webchat = file.webchat;
        if let Some(v) = env_nonempty("GCBRIDGE_WEBCHAT_ORIGINS") {
            webchat.enabled = true;
            webchat.allowed_origins = split_list(&v)
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
        }
        webchat.allowed_origins = webchat
            .allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .collect();

        // Direct Line settings from the environment describe the single default bot.
        let env_dl = DirectLineConfig {
            url: env_nonempty("GCBRIDGE_DIRECTLINE_URL"),
            secret: env_nonempty("GCBRIDGE_DIRECTLINE_SECRET"),
            secret_env: None,
            token_endpoint: env_nonempty("GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT"),
            stream: env_nonempty("GCBRIDGE_DIRECTLINE_STREAM")
                .map(|v| !matches!(v.trim(), "0" | "false" | "no" | "off")),
        };

        let mut bots = Vec::new();
        let route_any_bot_id = file.bots.is_empty();
        if file.bots.is_empty() {
            let dl = merge_dl(&file.directline, &env_dl);
            match parse_profile(file.bot, "[bot]") {
                Ok(profile) => bots.push(build_bot(profile, &dl, env, "[bot]", &mut problems)),
                Err(e) => problems.push(e),
            }
        } else {
            for (i, mut table) in file.bots.into_iter().enumerate() {
                let place = format!("[[bots]] #{}", i + 1);
                let dl = match table.remove("directline") {
                    Some(v) => match v.try_into::<DirectLineConfig>() {
                        Ok(dl) => dl,
                        Err(e) => {
                            problems.push(format!("{place}.directline: {e}"));
                            continue;
                        }
                    },
                    None => DirectLineConfig::default(),
                };
                // Env variables fill in what a listed bot leaves out.
                let dl = merge_dl(&env_dl, &dl);
                match parse_profile(table, &place) {
                    Ok(profile) => bots.push(build_bot(profile, &dl, env, &place, &mut problems)),
                    Err(e) => problems.push(e),
                }
            }
        }

        let config = Self {
            listen,
            store_url,
            max_body_bytes: file.max_body_bytes,
            store_timeout: std::time::Duration::from_millis(store_timeout_ms),
            limits: crate::listen::Limits {
                header_read_timeout: std::time::Duration::from_millis(
                    file.server.header_read_timeout_ms,
                ),
                max_header_bytes: file.server.max_header_bytes,
                max_connections: file.server.max_connections,
                shutdown_grace: std::time::Duration::from_millis(file.server.shutdown_grace_ms),
                drain_delay: std::time::Duration::from_millis(file.server.drain_delay_ms),
            },
            max_streams: file.server.max_streams,
            log_content,
            genesys_secret_header,
            genesys_secrets,
            require_secret_on_bot_list: file.genesys.require_secret_on_bot_list,
            user_id_key,
            bots,
            route_any_bot_id,
            transcripts,
            widget_keys,
            genesys_platform,
            widget_auth,
            widget_genesys,
            webchat,
        };
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Static checks (no I/O). Missing credentials are reported by [`AppConfig::warnings`]
    /// instead, so `check` can explain them and the demo can fill them in.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "listen = {:?} is not an address:port like 127.0.0.1:8080",
                self.listen
            ));
        }
        if axum::http::HeaderName::from_bytes(self.genesys_secret_header.as_bytes()).is_err() {
            problems.push(format!(
                "genesys.secret_header = {:?} is not a valid HTTP header name",
                self.genesys_secret_header
            ));
        }
        if !(50..=60_000).contains(&self.store_timeout.as_millis()) {
            problems.push("store_timeout_ms must be between 50 and 60000".to_owned());
        }
        if self.max_streams == 0 {
            problems.push("server.max_streams must be at least 1".to_owned());
        }
        if self.max_body_bytes < 1024 {
            problems.push("max_body_bytes must be at least 1024".to_owned());
        }
        if self.limits.max_header_bytes < 8192 {
            problems.push("server.max_header_bytes must be at least 8192".to_owned());
        }
        if self.limits.max_connections == 0 || self.limits.header_read_timeout.is_zero() {
            problems.push(
                "server.max_connections and server.header_read_timeout_ms must be above 0"
                    .to_owned(),
            );
        }
        if self.webchat.enabled {
            for origin in &self.webchat.allowed_origins {
                if !valid_origin(origin) {
                    problems.push(format!(
                        "webchat.allowed_origins: {origin:?} is not an origin like https://www.example.com"
                    ));
                }
            }
            if self.webchat.rate_limit_per_minute == 0 {
                problems.push("webchat.rate_limit_per_minute must be above 0".to_owned());
            }
            if let Some(bot) = &self.webchat.bot
                && !self.bots.iter().any(|b| &b.profile.id == bot)
            {
                problems.push(format!("webchat.bot = {bot:?} is not a configured bot id"));
            }
        }
        let mut ids = HashSet::new();
        for bot in &self.bots {
            let p = &bot.profile;
            if p.id.trim().is_empty() || p.id.len() > 100 || p.id.trim() != p.id {
                problems.push(format!(
                    "bot id {:?} must be 1-100 characters without surrounding spaces",
                    p.id
                ));
            }
            if !ids.insert(p.id.clone()) {
                problems.push(format!("bot id {:?} is listed twice", p.id));
            }
            let t = &p.timings;
            if t.deadline_ms <= t.response_margin_ms + 100 {
                problems.push(format!(
                    "bot {:?}: timings.deadline_ms must exceed response_margin_ms by at least 100",
                    p.id
                ));
            }
            if p.dbc_async {
                match &self.genesys_platform {
                    None => problems.push(format!(
                        "bot {:?}: dbc_async needs the Genesys region ([genesys] region or GCBRIDGE_GENESYS_REGION)",
                        p.id
                    )),
                    Some(g) if g.credentials.is_none() => problems.push(format!(
                        "bot {:?}: dbc_async needs the Genesys OAuth client: set {} and {}",
                        p.id,
                        crate::platform::CLIENT_ID_ENV,
                        crate::platform::CLIENT_SECRET_ENV
                    )),
                    Some(_) => {}
                }
            }
            if t.poll_interval_ms == 0 {
                problems.push(format!(
                    "bot {:?}: timings.poll_interval_ms must be > 0",
                    p.id
                ));
            }
            if !(bot.directline_url.starts_with("https://")
                || bot.directline_url.starts_with("http://"))
            {
                problems.push(format!(
                    "bot {:?}: Direct Line URL must start with https:// (or http:// for local tests)",
                    p.id
                ));
            }
        }
        problems
    }

    /// Problems that do not stop the process from starting but stop turns from working.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for bot in &self.bots {
            if bot.auth.is_none() {
                warnings.push(format!(
                    "bot {:?} has no Direct Line secret or token endpoint (set GCBRIDGE_DIRECTLINE_SECRET or GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT)",
                    bot.profile.id
                ));
            }
        }
        if self.genesys_secrets.is_empty() {
            warnings.push(
                "no Genesys secret configured (GCBRIDGE_GENESYS_SECRET): every caller is accepted"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// The Platform API settings: explicit URLs win over the region; neither means none.
fn platform_config(
    file: &GenesysConfig,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<GenesysPlatformConfig> {
    let pick = |name: &str, from_file: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| Some(from_file.trim().to_owned()).filter(|v| !v.is_empty()))
    };
    let region = pick("GCBRIDGE_GENESYS_REGION", &file.region);
    let login = pick("GCBRIDGE_GENESYS_LOGIN_URL", &file.login_url);
    let api = pick("GCBRIDGE_GENESYS_API_URL", &file.api_url);
    let endpoints = match (login, api, region) {
        (Some(login), Some(api), _) => {
            for (name, url) in [("login_url", &login), ("api_url", &api)] {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push(format!(
                        "genesys.{name} = {url:?} must start with https:// (or http:// for local tests)"
                    ));
                }
            }
            crate::platform::Endpoints::custom(login, api)
        }
        (None, None, None) => return None,
        (_, _, Some(region)) => match crate::platform::Region::parse(&region) {
            Ok(r) => crate::platform::Endpoints::for_region(&r),
            Err(e) => {
                problems.push(format!("genesys.region: {e}"));
                return None;
            }
        },
        _ => {
            problems.push(
                "genesys.login_url and genesys.api_url must be set together (or set genesys.region)"
                    .to_owned(),
            );
            return None;
        }
    };
    Some(GenesysPlatformConfig {
        endpoints,
        credentials: crate::platform::ClientCredentials::from_lookup(env).ok(),
    })
}

/// `scheme://host[:port]`, nothing after it (what browsers send in `Origin`).
fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    })
}

/// `[widget.genesys]` into the endpoints and checks of the token verification.
fn resolve_widget_genesys(
    wg: &WidgetGenesysFileConfig,
    problems: &mut Vec<String>,
) -> Option<WidgetGenesys> {
    let region = match wg
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => match crate::platform::Region::parse(r) {
            Ok(region) => Some(region),
            Err(e) => {
                problems.push(format!("widget.genesys.region: {e}"));
                return None;
            }
        },
        None => None,
    };
    let mut base = |over: &Option<String>, from_region: Option<String>, what: &str| match over
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            Some(u.trim_end_matches('/').to_owned())
        }
        Some(u) => {
            problems.push(format!(
                "widget.genesys.{what} = {u:?} is not an http(s) URL"
            ));
            None
        }
        None => from_region,
    };
    let api_base = base(&wg.api_url, region.as_ref().map(|r| r.api_url()), "api_url");
    let login_base = base(
        &wg.login_url,
        region.as_ref().map(|r| r.login_url()),
        "login_url",
    );
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut missing = Vec::new();
    if api_base.is_none() || login_base.is_none() {
        missing.push("region (GCBRIDGE_WIDGET_GENESYS_REGION)");
    }
    let org_id = text(&wg.org_id);
    if org_id.is_none() {
        missing.push("org_id (GCBRIDGE_WIDGET_GENESYS_ORG_ID)");
    }
    let client_id = text(&wg.client_id);
    if client_id.is_none() {
        missing.push("client_id (GCBRIDGE_WIDGET_GENESYS_CLIENT_ID)");
    }
    if !missing.is_empty() {
        problems.push(format!(
            "widget.auth verifies Genesys tokens but [widget.genesys] lacks {}",
            missing.join(", ")
        ));
        return None;
    }
    Some(WidgetGenesys {
        api_base: api_base?,
        login_base: login_base?,
        org_id: org_id?,
        client_id: client_id?,
        cache: std::time::Duration::from_secs(wg.cache_secs),
    })
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_owned()).collect()
}

/// `over` wins field by field over `base`.
fn merge_dl(base: &DirectLineConfig, over: &DirectLineConfig) -> DirectLineConfig {
    DirectLineConfig {
        url: over.url.clone().or_else(|| base.url.clone()),
        secret: over.secret.clone().or_else(|| base.secret.clone()),
        secret_env: over.secret_env.clone().or_else(|| base.secret_env.clone()),
        token_endpoint: over
            .token_endpoint
            .clone()
            .or_else(|| base.token_endpoint.clone()),
        stream: over.stream.or(base.stream),
    }
}

fn parse_profile(table: toml::Table, place: &str) -> Result<BotProfile, String> {
    toml::Value::Table(table)
        .try_into::<BotProfile>()
        .map_err(|e| format!("{place}: {e}"))
}

fn build_bot(
    profile: BotProfile,
    dl: &DirectLineConfig,
    env: &dyn Fn(&str) -> Option<String>,
    place: &str,
    problems: &mut Vec<String>,
) -> BotConfig {
    let secret = match (&dl.secret, &dl.secret_env) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(var)) => {
            let value = env(var).filter(|v| !v.trim().is_empty());
            if value.is_none() {
                problems.push(format!(
                    "{place}: directline.secret_env names {var}, which is not set"
                ));
            }
            value
        }
        (None, None) => None,
    };
    let auth = match (secret, &dl.token_endpoint) {
        (Some(s), _) => Some(DirectLineAuth::Secret(Secret::new(s.trim()))),
        (None, Some(url)) => Some(DirectLineAuth::TokenEndpoint(url.trim().to_owned())),
        (None, None) => None,
    };
    BotConfig {
        profile,
        stream: dl.stream.unwrap_or(true),
        directline_url: dl
            .url
            .clone()
            .unwrap_or_else(|| DEFAULT_DIRECTLINE_URL.to_owned())
            .trim()
            .trim_end_matches('/')
            .trim_end_matches("/v3/directline")
            .to_owned(),
        auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn shipped_default_file_equals_built_in_defaults() {
        let from_file =
            AppConfig::from_parts(Some(DEFAULT_CONFIG_TOML), &env_of(&[])).expect("file");
        let built_in = AppConfig::from_parts(None, &env_of(&[])).expect("defaults");
        assert_eq!(from_file.listen, built_in.listen);
        assert_eq!(from_file.store_url, built_in.store_url);
        assert_eq!(from_file.bots, built_in.bots);
        assert_eq!(from_file.max_body_bytes, built_in.max_body_bytes);
        assert_eq!(from_file.store_timeout, built_in.store_timeout);
        assert_eq!(from_file.limits, built_in.limits);
        assert_eq!(from_file.transcripts, built_in.transcripts);
        assert_eq!(from_file.widget_keys, built_in.widget_keys);
        assert_eq!(from_file.widget_auth, built_in.widget_auth);
        assert_eq!(from_file.widget_genesys, built_in.widget_genesys);
        assert_eq!(from_file.webchat, built_in.webchat);
        assert_eq!(
            from_file.genesys_secret_header,
            built_in.genesys_secret_header
        );
        assert_eq!(built_in.bots.len(), 1);
        assert_eq!(built_in.bots[0].profile, BotProfile::default());
    }

    #[test]
    fn env_wins_and_secrets_rotate() {
        let c = AppConfig::from_parts(
            Some("listen = \"127.0.0.1:9000\"\n"),
            &env_of(&[
                ("GCBRIDGE_LISTEN", "127.0.0.1:9100"),
                ("GCBRIDGE_GENESYS_SECRET", "old, new ,"),
                ("GCBRIDGE_DIRECTLINE_SECRET", "dl-secret"),
                (
                    "GCBRIDGE_DIRECTLINE_URL",
                    "https://europe.directline.botframework.com/v3/directline/",
                ),
            ]),
        )
        .expect("config");
        assert_eq!(c.listen, "127.0.0.1:9100");
        assert_eq!(
            c.genesys_secrets,
            vec![Secret::new("old"), Secret::new("new")]
        );
        assert_eq!(
            c.bots[0].directline_url,
            "https://europe.directline.botframework.com"
        );
        assert_eq!(
            c.bots[0].auth,
            Some(DirectLineAuth::Secret(Secret::new("dl-secret")))
        );
        assert!(!format!("{c:?}").contains("dl-secret"));
    }

    #[test]
    fn unknown_keys_are_errors_with_their_place() {
        let e = AppConfig::from_parts(Some("lisen = \"x\""), &env_of(&[])).expect_err("unknown");
        assert!(e.to_string().contains("lisen"), "{e}");
        let e =
            AppConfig::from_parts(Some("[bot]\nquite_ms = 5\n"), &env_of(&[])).expect_err("bot");
        assert!(e.to_string().contains("quite_ms"), "{e}");
    }

    #[test]
    fn several_bots_with_env_secrets() {
        let text = r#"
[[bots]]
id = "sales"
directline = { secret_env = "SALES_DL", url = "https://india.directline.botframework.com" }
[[bots]]
id = "support"
handoff_variables = [{ name = "OrderNumber" }]
directline = { token_endpoint = "https://x.environment.api.powerplatform.com/powervirtualagents/botsbyschema/s/directline/token?api-version=2022-03-01-preview" }
"#;
        let c = AppConfig::from_parts(Some(text), &env_of(&[("SALES_DL", "s3cret")])).expect("ok");
        assert_eq!(c.bots.len(), 2);
        assert!(matches!(
            c.bots[1].auth,
            Some(DirectLineAuth::TokenEndpoint(_))
        ));
        let e = AppConfig::from_parts(Some(text), &env_of(&[])).expect_err("missing env");
        assert!(e.to_string().contains("SALES_DL"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = AppConfig::from_parts(
            Some("listen = \"nope\"\n[bot]\ntimings = { deadline_ms = 100 }\n"),
            &env_of(&[]),
        )
        .expect_err("bad");
        let text = e.to_string();
        assert!(text.contains("listen"), "{text}");
        assert!(text.contains("deadline_ms"), "{text}");
    }
}
