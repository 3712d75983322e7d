//! Verification of an agent's Genesys Cloud access token for the widget's data
//! (`[widget] auth = "genesys"` or `"key_and_genesys"`).
//!
//! The page sends the agent's token as `Authorization: Bearer`; gcbridge asks the region's
//! Platform API who it belongs to (`GET /api/v2/tokens/me`) and accepts it only when Genesys
//! knows it and its `organization.id` is the configured org. A positive answer is remembered
//! for `cache_secs` under the token's SHA-256 (never the token itself); negative answers are not
//! remembered. The token is never logged.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::WidgetGenesys;

/// The Platform API call that identifies a token.
pub const TOKENS_ME_PATH: &str = "/api/v2/tokens/me";

/// Longest token accepted (Genesys tokens are far shorter).
const MAX_TOKEN_LEN: usize = 4096;

/// Remembered tokens before the expired ones are dropped.
const MAX_CACHED: usize = 10_000;

/// What Genesys said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A token of the configured org.
    Valid,
    /// Unknown, expired, or of another org.
    Invalid,
    /// Genesys could not be asked (transport error, `429`, `5xx`): no data, try again later.
    Unavailable,
}

/// The verifier of one gcbridge process.
#[derive(Debug)]
pub struct TokenVerifier {
    http: reqwest::Client,
    config: WidgetGenesys,
    cache: Mutex<HashMap<[u8; 32], Instant>>,
}

#[derive(serde::Deserialize)]
struct TokenInfo {
    organization: Option<Entity>,
}

#[derive(serde::Deserialize)]
struct Entity {
    id: Option<String>,
}

impl TokenVerifier {
    /// Builds the verifier; nothing is called until the first token.
    pub fn new(config: WidgetGenesys) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("gcbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            config,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The resolved `[widget.genesys]` settings.
    pub fn config(&self) -> &WidgetGenesys {
        &self.config
    }

    /// Verifies `token` (the value after `Bearer `).
    pub async fn verify(&self, token: &str) -> Verdict {
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Verdict::Invalid;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if self
            .cache
            .lock()
            .await
            .get(&digest)
            .is_some_and(|until| now < *until)
        {
            metrics::counter!("gcbridge_widget_token_checks_total", "result" => "cached")
                .increment(1);
            return Verdict::Valid;
        }
        let verdict = self.ask_genesys(token).await;
        let label = match verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unavailable => "unavailable",
        };
        metrics::counter!("gcbridge_widget_token_checks_total", "result" => label).increment(1);
        if verdict == Verdict::Valid && !self.config.cache.is_zero() {
            let mut cache = self.cache.lock().await;
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, until| now < *until);
            }
            if cache.len() < MAX_CACHED {
                cache.insert(digest, now + self.config.cache);
            }
        }
        verdict
    }

    async fn ask_genesys(&self, token: &str) -> Verdict {
        let url = format!("{}{TOKENS_ME_PATH}", self.config.api_base);
        let response = match self
            .http
            .get(url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    timeout = e.is_timeout(),
                    "widget: Genesys token check got no answer"
                );
                return Verdict::Unavailable;
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            401 | 403 => return Verdict::Invalid,
            _ => {
                tracing::warn!(status, "widget: Genesys token check failed");
                return if status == 429 || status >= 500 {
                    Verdict::Unavailable
                } else {
                    Verdict::Invalid
                };
            }
        }
        let Ok(body) = response.bytes().await else {
            return Verdict::Unavailable;
        };
        let org = serde_json::from_slice::<TokenInfo>(&body)
            .ok()
            .and_then(|info| info.organization)
            .and_then(|o| o.id);
        match org {
            Some(id) if id == self.config.org_id => Verdict::Valid,
            Some(_) => {
                tracing::info!("widget: refused a Genesys token of another organization");
                Verdict::Invalid
            }
            None => Verdict::Invalid,
        }
    }
}
