//! The Genesys Cloud Platform API client (`genesys-bot-connector.md` §7): OAuth client
//! credentials against `login.<domain>`, bearer-authorised JSON calls against `api.<domain>`.
//!
//! One [`PlatformClient`] serves every Platform API use of gcbridge (the bot list today; the
//! interaction widget and the Digital Bot Connector's asynchronous replies later). It caches its
//! token in memory and renews it shortly before expiry or after a `401`, honours `Retry-After`
//! on `429` within a bound, and turns every other failure into a [`PlatformError`] that knows its
//! status and whether trying again later can help. The client id and secret are [`Secret`]s:
//! they reach the login host's `Authorization` header and nothing else, and neither they nor
//! the access token are ever logged.

pub mod bot_list;
pub mod interaction_widget;
mod region;

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use region::{KnownRegion, REGIONS, Region, RegionError};

use crate::secret::Secret;

/// Environment variable holding the OAuth client id.
pub const CLIENT_ID_ENV: &str = "GCBRIDGE_GENESYS_CLIENT_ID";
/// Environment variable holding the OAuth client secret.
pub const CLIENT_SECRET_ENV: &str = "GCBRIDGE_GENESYS_CLIENT_SECRET";

/// Path of the token endpoint below the login base URL.
pub const TOKEN_PATH: &str = "/oauth/token";

/// The two base URLs the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    login: String,
    api: String,
}

impl Endpoints {
    /// `https://login.<domain>` and `https://api.<domain>` of a region.
    pub fn for_region(region: &Region) -> Self {
        Self {
            login: region.login_url(),
            api: region.api_url(),
        }
    }

    /// Explicit base URLs, e.g. a local stand-in `http://127.0.0.1:PORT` in tests. Nothing is
    /// checked here: this is for code that chose its hosts itself, never for user input (user
    /// input goes through [`Region::parse`]).
    pub fn custom(login_base: impl Into<String>, api_base: impl Into<String>) -> Self {
        Self {
            login: login_base.into().trim_end_matches('/').to_owned(),
            api: api_base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The token endpoint, `<login>/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.login)
    }

    /// `<api><path>`; `path` starts with `/api/v2/`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }
}

/// An OAuth client of grant type *Client Credentials*. Both halves are [`Secret`]s so neither
/// can reach a log line or an error message by accident.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    id: Secret,
    secret: Secret,
}

/// The OAuth client is not configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Genesys OAuth client not configured: set {} (command-line flags are not accepted for credentials). Create it in Genesys Cloud under Admin > OAuth, grant type Client Credentials, with a role holding the permissions the command needs",
    .missing.join(" and ")
)]
pub struct CredentialsError {
    /// The variables that are unset or empty.
    pub missing: Vec<&'static str>,
}

impl ClientCredentials {
    /// Wraps a client id and secret.
    pub fn new(id: Secret, secret: Secret) -> Self {
        Self { id, secret }
    }

    /// Reads [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`] from the process environment.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the two variables through `env` (tests pass a map). Surrounding whitespace, which
    /// copy and paste tends to add, is removed.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let read = |name| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match (read(CLIENT_ID_ENV), read(CLIENT_SECRET_ENV)) {
            (Some(id), Some(secret)) => Ok(Self::new(Secret::new(id), Secret::new(secret))),
            (id, secret) => Err(CredentialsError {
                missing: [
                    (id.is_none(), CLIENT_ID_ENV),
                    (secret.is_none(), CLIENT_SECRET_ENV),
                ]
                .into_iter()
                .filter_map(|(missing, name)| missing.then_some(name))
                .collect(),
            }),
        }
    }
}

/// Timeouts and retry bounds of a [`PlatformClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// TCP and TLS connection timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (token and API calls).
    pub request_timeout: Duration,
    /// A cached token is renewed when less than this remains of its lifetime.
    pub renew_before: Duration,
    /// How many times one call is repeated after a `429`.
    pub max_rate_limit_retries: u32,
    /// The longest `Retry-After` waited for; a longer one fails the call at once (the error
    /// carries the wait so the caller can decide).
    pub max_retry_after: Duration,
    /// The wait after a `429` without a usable `Retry-After` (seconds form only).
    pub default_retry_after: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            renew_before: Duration::from_secs(60),
            max_rate_limit_retries: 3,
            max_retry_after: Duration::from_secs(30),
            default_retry_after: Duration::from_secs(1),
        }
    }
}

/// A failed Platform API or token call.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The login host refused the client credentials (`400`/`401`/`403` from the token
    /// endpoint).
    #[error(
        "Genesys refused the OAuth client credentials (HTTP {status}{}): check {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV}, that the client's grant type is Client Credentials, and that the client belongs to an org in this region",
        .code.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
    )]
    Credentials {
        /// HTTP status of the token endpoint.
        status: u16,
        /// The OAuth `error` code (`invalid_client`, ...), when given.
        code: Option<String>,
    },
    /// A call answered with a status that is not a success.
    #[error("{0}")]
    Status(Box<StatusError>),
    /// The call did not get an answer: connection, TLS or timeout.
    #[error("{what}: {detail}")]
    Transport {
        /// `METHOD path` of the call.
        what: String,
        /// The cause, without credentials.
        detail: String,
    },
    /// A success answer whose body is not what the API documents.
    #[error("{what}: unexpected response body: {detail}")]
    Body {
        /// `METHOD path` of the call.
        what: String,
        /// The parse error.
        detail: String,
    },
}

/// An unsuccessful HTTP status with what Genesys said about it. Genesys error bodies are
/// `{"message", "code", "status", "contextId", ...}`; OAuth errors are `{"error", ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// HTTP method of the call.
    pub method: String,
    /// Path of the call (no host, no query).
    pub path: String,
    /// HTTP status.
    pub status: u16,
    /// Genesys' error `code` (or OAuth `error`).
    pub code: Option<String>,
    /// Genesys' `message`, shortened.
    pub message: Option<String>,
    /// Genesys' `contextId`, which Genesys support asks for.
    pub context_id: Option<String>,
    /// The `Retry-After` of a `429`/`503`, in seconds form.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: HTTP {}", self.method, self.path, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(wait) = self.retry_after {
            write!(f, " (retry after {} s)", wait.as_secs())?;
        }
        if let Some(id) = &self.context_id {
            write!(f, " [contextId {id}]")?;
        }
        Ok(())
    }
}

impl PlatformError {
    /// The HTTP status Genesys answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Credentials { status, .. } => Some(*status),
            Self::Status(e) => Some(e.status),
            Self::Transport { .. } | Self::Body { .. } => None,
        }
    }

    /// True when the same call may succeed later unchanged: no answer, `408`, `429` or `5xx`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status(e) => e.status == 408 || e.status == 429 || e.status >= 500,
            Self::Credentials { .. } | Self::Body { .. } => false,
        }
    }

    /// The wait Genesys asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status(e) => e.retry_after,
            _ => None,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Credentials { .. } => "credentials",
            Self::Status(e) => match e.status {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                409 => "conflict",
                429 => "rate_limited",
                500.. => "server_error",
                _ => "client_error",
            },
            Self::Transport { .. } => "transport",
            Self::Body { .. } => "body",
        }
    }
}

/// A successful answer: status and raw body.
#[derive(Debug, Clone)]
pub struct PlatformResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// The body, possibly empty (`204`).
    pub body: Bytes,
}

/// A cached access token.
#[derive(Debug)]
struct CachedToken {
    value: Secret,
    /// When the token stops being reused (expiry minus [`ClientOptions::renew_before`]).
    renew_at: Instant,
}

/// The token endpoint's answer. Deliberately not `Debug`: it holds the token in clear.
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: u64,
}

/// Client of the Genesys Cloud Platform API for one OAuth client in one region.
#[derive(Debug)]
pub struct PlatformClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    credentials: ClientCredentials,
    options: ClientOptions,
    /// Held across a token request so concurrent callers wait for one request.
    token: Mutex<Option<CachedToken>>,
}

impl PlatformClient {
    /// Builds a client; no request is made until the first call.
    pub fn new(
        endpoints: Endpoints,
        credentials: ClientCredentials,
        options: ClientOptions,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("gcbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            endpoints,
            credentials,
            options,
            token: Mutex::new(None),
        })
    }

    /// The base URLs in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// `GET path`, parsing a JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, PlatformError> {
        let response = self.send(Method::GET, path, None).await?;
        parse_json(&Method::GET, path, &response.body)
    }

    /// `PUT path` with a JSON body; the answer is returned as is (often `204`, empty).
    pub async fn put_json<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<PlatformResponse, PlatformError> {
        let body = encode(&Method::PUT, path, body)?;
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body; the answer is returned as is.
    pub async fn patch_json<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<PlatformResponse, PlatformError> {
        let body = encode(&Method::PATCH, path, body)?;
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `POST path` with a JSON body. Repeated only when Genesys refused it without processing
    /// it (`401` with a stale token, `429`), so a POST is never applied twice by this client.
    pub async fn post_json<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<PlatformResponse, PlatformError> {
        let body = encode(&Method::POST, path, body)?;
        self.send(Method::POST, path, Some(body)).await
    }

    /// Sends one call: a valid token first, then the request; after a `401` the token is
    /// renewed and the call repeated once; after a `429` the call is repeated after
    /// `Retry-After` (bounded by [`ClientOptions`]).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<PlatformResponse, PlatformError> {
        let what = format!("{method} {path}");
        let mut renewed_after_401 = false;
        let mut rate_limited = 0;
        loop {
            let token = self.token().await?;
            let mut request = self
                .http
                .request(method.clone(), self.endpoints.api_url(path))
                .bearer_auth(token.expose())
                .header(ACCEPT, "application/json");
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| transport(what.clone(), &e))?;
            let status = response.status().as_u16();
            tracing::debug!(method = %method, path, status, "Genesys Platform API call");
            if status == 401 && !renewed_after_401 {
                renewed_after_401 = true;
                self.forget_token(&token).await;
                continue;
            }
            if status == 429 && rate_limited < self.options.max_rate_limit_retries {
                let wait =
                    retry_after(response.headers()).unwrap_or(self.options.default_retry_after);
                if wait <= self.options.max_retry_after {
                    rate_limited += 1;
                    tracing::debug!(
                        path,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited by Genesys; waiting"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| transport(what.clone(), &e))?;
            if (200..300).contains(&status) {
                return Ok(PlatformResponse { status, body });
            }
            return Err(PlatformError::Status(Box::new(status_error(
                &method, path, status, &headers, &body,
            ))));
        }
    }

    /// The cached token, or a new one when none is cached or it is about to expire.
    async fn token(&self) -> Result<Secret, PlatformError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let fresh = self.request_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is still the one that was refused (another call may have
    /// renewed it meanwhile).
    async fn forget_token(&self, refused: &Secret) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| &t.value == refused) {
            *cached = None;
        }
    }

    /// `POST <login>/oauth/token` with Basic client authentication (§7 step 2).
    async fn request_token(&self) -> Result<CachedToken, PlatformError> {
        let what = format!("POST {TOKEN_PATH}");
        let response = self
            .http
            .post(self.endpoints.token_url())
            .basic_auth(
                self.credentials.id.expose(),
                Some(self.credentials.secret.expose()),
            )
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| transport(what.clone(), &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(what.clone(), &e))?;
        if !(200..300).contains(&status) {
            let error = status_error(&Method::POST, TOKEN_PATH, status, &headers, &body);
            return Err(if matches!(status, 400 | 401 | 403) {
                PlatformError::Credentials {
                    status,
                    code: error.code,
                }
            } else {
                PlatformError::Status(Box::new(error))
            });
        }
        let token: TokenResponse = parse_json(&Method::POST, TOKEN_PATH, &body)?;
        if token.access_token.is_empty()
            || token
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(PlatformError::Body {
                what,
                detail: "not a bearer access token".to_owned(),
            });
        }
        tracing::debug!(
            expires_in = token.expires_in,
            "obtained a Genesys access token"
        );
        let lifetime = Duration::from_secs(token.expires_in);
        Ok(CachedToken {
            value: Secret::new(token.access_token),
            renew_at: Instant::now() + lifetime.saturating_sub(self.options.renew_before),
        })
    }
}

fn encode<B: Serialize + ?Sized>(
    method: &Method,
    path: &str,
    body: &B,
) -> Result<Bytes, PlatformError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| PlatformError::Body {
            what: format!("{method} {path}"),
            detail: format!("cannot encode the request: {e}"),
        })
}

fn parse_json<T: DeserializeOwned>(
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<T, PlatformError> {
    serde_json::from_slice(body).map_err(|e| PlatformError::Body {
        what: format!("{method} {path}"),
        detail: e.to_string(),
    })
}

/// The error chain of a transport failure as one line. reqwest errors name the URL (hosts and
/// paths only; credentials travel in headers) and the cause (refused, timed out, TLS...).
fn transport(what: String, error: &reqwest::Error) -> PlatformError {
    let mut detail = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    PlatformError::Transport { what, detail }
}

/// `Retry-After` in its seconds form; the HTTP-date form is not used by Genesys.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Longest Genesys message kept in an error (they can embed whole request fragments).
const MAX_MESSAGE_CHARS: usize = 300;

fn status_error(
    method: &Method,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| {
        json.get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.trim().is_empty())
            .map(|s| shorten(s.trim()))
    };
    StatusError {
        method: method.to_string(),
        path: path.to_owned(),
        status,
        code: text("code").or_else(|| text("error")),
        message: text("message").or_else(|| text("error_description")),
        context_id: text("contextId"),
        retry_after: retry_after(headers),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut short: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn credentials_come_from_the_environment_only_and_never_print() {
        let env: HashMap<&str, &str> = [
            (CLIENT_ID_ENV, " client-id-value "),
            (CLIENT_SECRET_ENV, "client-secret-value"),
        ]
        .into();
        let lookup = |name: &str| env.get(name).map(|v| (*v).to_owned());
        let credentials = ClientCredentials::from_lookup(&lookup).expect("both set");
        assert_eq!(credentials.id.expose(), "client-id-value");
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("client-id-value"), "{printed}");
        assert!(!printed.contains("client-secret-value"), "{printed}");

        let e = ClientCredentials::from_lookup(&|name| {
            (name == CLIENT_ID_ENV).then(|| "id".to_owned())
        })
        .expect_err("secret missing");
        assert_eq!(e.missing, vec![CLIENT_SECRET_ENV]);
        let e = ClientCredentials::from_lookup(&|_| Some("  ".to_owned())).expect_err("blank");
        assert_eq!(e.missing, vec![CLIENT_ID_ENV, CLIENT_SECRET_ENV]);
        assert!(
            e.to_string()
                .contains("GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET")
        );
    }

    #[test]
    fn endpoints_of_a_region_and_custom_ones() {
        let e = Endpoints::for_region(&Region::parse("eu-west-1").expect("region"));
        assert_eq!(e.token_url(), "https://login.mypurecloud.ie/oauth/token");
        assert_eq!(
            e.api_url("/api/v2/x"),
            "https://api.mypurecloud.ie/api/v2/x"
        );
        let e = Endpoints::custom("http://127.0.0.1:9/", "http://127.0.0.1:10");
        assert_eq!(e.token_url(), "http://127.0.0.1:9/oauth/token");
        assert_eq!(e.api_url("/api/v2/x"), "http://127.0.0.1:10/api/v2/x");
    }

    #[test]
    fn status_errors_keep_what_genesys_said() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().expect("header"));
        let body = br#"{"message":"Rate limit exceeded","code":"too.many.requests","status":429,"contextId":"ctx-1"}"#;
        let e = status_error(&Method::PUT, "/api/v2/x", 429, &headers, body);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            e.to_string(),
            "PUT /api/v2/x: HTTP 429 too.many.requests: Rate limit exceeded (retry after 7 s) [contextId ctx-1]"
        );
        let e = PlatformError::Status(Box::new(e));
        assert!(e.is_retryable());
        assert_eq!(e.kind(), "rate_limited");
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(1000));
        let e = status_error(&Method::GET, "/p", 400, &HeaderMap::new(), long.as_bytes());
        assert_eq!(
            e.message.expect("message").chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
        let e = status_error(
            &Method::GET,
            "/p",
            502,
            &HeaderMap::new(),
            b"<html>bad gateway",
        );
        assert_eq!((e.code, e.message), (None, None));
    }
}
