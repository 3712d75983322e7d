//! `GET /webchat/token` (and `POST`): the token server of a secured Copilot Studio web chat.
//!
//! The browser's Web Chat asks gcbridge for a Direct Line token; gcbridge exchanges the bot's
//! Direct Line secret for a token of one new conversation (`POST /v3/directline/tokens/generate`,
//! bound to a random user id) or calls the bot's Copilot Studio token endpoint. The secret never
//! leaves gcbridge. Off unless `[webchat] enabled`; browsers are limited to the configured
//! origins (CORS, preflight included; any other `Origin` is refused with `403`), and each client
//! address gets `rate_limit_per_minute` tokens a minute (`429` with `Retry-After` beyond).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{AppConfig, DirectLineAuth};
use crate::state::AppState;

/// How long one token exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// The token server's route with its CORS layer and rate limiter.
pub fn routes(config: &AppConfig) -> Router<Arc<AppState>> {
    let origins: Vec<HeaderValue> = config
        .webchat
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    let limiter = Arc::new(RateLimiter::new(config.webchat.rate_limit_per_minute));
    Router::new()
        .route("/webchat/token", get(token).post(token))
        .layer(Extension(limiter))
        .layer(cors)
}

/// Per-client token buckets: `per_minute` tokens, refilled evenly over the minute.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter granting `per_minute` requests a minute to each client.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `client` at `now`; `Err(wait)` when its bucket is empty.
    pub fn check(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&client) {
            // Drop buckets that have refilled completely: they hold no information.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < capacity
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refilled = (bucket.tokens
            + now.saturating_duration_since(bucket.at).as_secs_f64() * per_sec)
            .min(capacity);
        bucket.at = now;
        if refilled >= 1.0 {
            bucket.tokens = refilled - 1.0;
            Ok(())
        } else {
            bucket.tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / per_sec))
        }
    }
}

/// The client address: the last `X-Forwarded-For` entry when trusted, else the TCP peer.
fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        // The proxy appends the address it saw: the last entry is the one it vouches for.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(ip) = entries.last().and_then(|s| s.parse::<IpAddr>().ok()) {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip())
}

fn plain(status: StatusCode, message: &'static str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET|POST /webchat/token` → `{"token", "conversationId", "expires_in", "userId"?}`.
async fn token(
    State(state): State<Arc<AppState>>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let config = &state.config.webchat;
    if !config.enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| {
            config
                .allowed_origins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(o))
        });
        if !allowed {
            metrics::counter!("gcbridge_webchat_tokens_total", "result" => "origin_refused")
                .increment(1);
            return plain(StatusCode::FORBIDDEN, "origin not allowed");
        }
    }
    let client = client_ip(
        &headers,
        peer.map(|Extension(ConnectInfo(p))| p),
        config.trust_forwarded_for,
    );
    if let Err(wait) = limiter.check(client, Instant::now()) {
        metrics::counter!("gcbridge_webchat_tokens_total", "result" => "rate_limited").increment(1);
        let mut response = plain(StatusCode::TOO_MANY_REQUESTS, "too many token requests");
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let bot = match &config.bot {
        Some(id) => state.config.bots.iter().find(|b| &b.profile.id == id),
        None => state.config.bots.first(),
    };
    let Some(bot) = bot else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no bot configured");
    };
    let deadline = tokio::time::Instant::now() + EXCHANGE_TIMEOUT;
    let (result, user_id) = match &bot.auth {
        Some(DirectLineAuth::Secret(secret)) => {
            let user_id = format!("dl_{}", crate::state::random_hex(12));
            let result = state
                .dl
                .generate_token(&bot.directline_url, secret, &user_id, deadline)
                .await;
            (result, Some(user_id))
        }
        Some(DirectLineAuth::TokenEndpoint(url)) => {
            (state.dl.fetch_token(url, deadline).await, None)
        }
        None => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the bot has no Direct Line credential",
            );
        }
    };
    let conversation = match result {
        Ok(c) if c.token.as_deref().is_some_and(|t| !t.is_empty()) => c,
        Ok(_) | Err(_) => {
            if let Err(e) = &result {
                tracing::warn!(error = %e, bot = %bot.profile.id, "webchat: token exchange failed");
            }
            metrics::counter!("gcbridge_webchat_tokens_total", "result" => "upstream_error")
                .increment(1);
            return plain(StatusCode::BAD_GATEWAY, "the agent's token service failed");
        }
    };
    metrics::counter!("gcbridge_webchat_tokens_total", "result" => "ok").increment(1);
    let mut body = serde_json::json!({
        "token": conversation.token,
        "conversationId": conversation.conversation_id,
        "expires_in": conversation.expires_in,
    });
    if let Some(user_id) = user_id {
        body["userId"] = serde_json::Value::String(user_id);
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_per_client() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_ok());
        let wait = limiter.check(a, t0).expect_err("third within the minute");
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(29));
        assert!(
            limiter.check(b, t0).is_ok(),
            "another client has its own bucket"
        );
        assert!(limiter.check(a, t0 + Duration::from_secs(31)).is_ok());
        assert!(limiter.check(a, t0 + Duration::from_secs(32)).is_err());
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1, 192.0.2.7"),
        );
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        assert_eq!(
            client_ip(&headers, peer, true),
            Some(IpAddr::from([192, 0, 2, 7]))
        );
        assert_eq!(
            client_ip(&headers, peer, false),
            Some(IpAddr::from([127, 0, 0, 1]))
        );
        assert_eq!(client_ip(&HeaderMap::new(), None, true), None);
    }
}
