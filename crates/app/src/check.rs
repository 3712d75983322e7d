//! The probes behind `gcbridge check` (and `gcbridge-lambda check`): one [`Verdict`] per item —
//! where gcbridge runs, its secrets, each bot's Direct Line agent (a real start-conversation call
//! when it has credentials) and the session store. Shells print the verdicts; nothing here
//! prints, and no verdict contains a secret.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{AppConfig, BotConfig, DirectLineAuth};
use crate::dl::{Bearer, DirectLineClient, DlError};

/// How long one Direct Line probe may take (a cold agent can be slow to answer the first call).
const DIRECTLINE_PROBE: Duration = Duration::from_secs(15);

/// The outcome of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Works.
    Ok,
    /// Works, but something will bite later (or a check could not run for a good reason).
    Warn,
    /// Does not work: `check` exits non-zero.
    Fail,
    /// Informational: what was found, no judgement.
    Info,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome.
    pub level: Level,
    /// What was checked and what was found, in one sentence with the fix when there is one.
    pub message: String,
}

impl Verdict {
    fn new(level: Level, message: impl Into<String>) -> Self {
        Self {
            level,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Verdict {
    /// `ok    ...`, `warn  ...`, `FAIL  ...`, `info  ...`: the verdict in a fixed-width column.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
            Level::Info => "info",
        };
        write!(f, "{tag:<5} {}", self.message)
    }
}

/// Where gcbridge is running, as far as the environment tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// An AWS Lambda function (`AWS_LAMBDA_FUNCTION_NAME`).
    Lambda,
    /// An Azure Functions custom handler (`FUNCTIONS_CUSTOMHANDLER_PORT`).
    AzureFunctions,
    /// A Kubernetes pod (`KUBERNETES_SERVICE_HOST`).
    Kubernetes,
    /// A container (`GCBRIDGE_CONTAINER`, set by `deploy/container/Dockerfile`).
    Container,
    /// Anything else: a server, a VM, a laptop.
    Server,
}

impl Platform {
    /// Recognises the platform from its environment variables.
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
        if set("AWS_LAMBDA_FUNCTION_NAME") {
            Platform::Lambda
        } else if set("FUNCTIONS_CUSTOMHANDLER_PORT") {
            Platform::AzureFunctions
        } else if set("KUBERNETES_SERVICE_HOST") {
            Platform::Kubernetes
        } else if set("GCBRIDGE_CONTAINER") {
            Platform::Container
        } else {
            Platform::Server
        }
    }

    fn name(self) -> &'static str {
        match self {
            Platform::Lambda => "AWS Lambda",
            Platform::AzureFunctions => "Azure Functions (custom handler)",
            Platform::Kubernetes => "Kubernetes",
            Platform::Container => "a container",
            Platform::Server => "a server (no cloud platform detected)",
        }
    }

    /// Several instances share the store on this platform, whatever the configuration says.
    fn runs_many_instances(self) -> bool {
        matches!(self, Platform::Lambda | Platform::AzureFunctions)
    }
}

/// Everything `check` reports once the configuration has loaded: the platform and what cannot
/// work there, the secrets, each bot's Direct Line agent (a real conversation start), then the
/// store (opened and pinged).
pub async fn run(config: &AppConfig, platform: Platform, dl: &DirectLineClient) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::new(
        Level::Info,
        format!("environment: {}", platform.name()),
    )];
    verdicts.extend(placement(config, platform));
    verdicts.extend(secrets(config, platform));
    for bot in &config.bots {
        verdicts.push(directline(dl, bot).await);
    }
    verdicts.push(store(&config.store_url).await);
    verdicts
}

/// Is the listen address and the store right for where gcbridge runs?
fn placement(config: &AppConfig, platform: Platform) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let loopback = config
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if loopback && matches!(platform, Platform::Kubernetes | Platform::Container) {
        verdicts.push(Verdict::new(
            Level::Warn,
            format!(
                "listen {} is loopback: nothing outside the container can reach it; set \
                 GCBRIDGE_LISTEN=0.0.0.0:8080",
                config.listen
            ),
        ));
    }
    let scheme = config
        .store_url
        .trim()
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let local = scheme == "embedded" || scheme == "memory";
    if local && platform.runs_many_instances() {
        verdicts.push(Verdict::new(
            Level::Fail,
            format!(
                "store `{scheme}:` on {}: instances come and go and do not share a disk, so \
                 sessions would be lost; set GCBRIDGE_STORE to a shared store (dynamodb://, \
                 azuretables://, redis://)",
                platform.name()
            ),
        ));
    } else if local && platform == Platform::Kubernetes {
        verdicts.push(Verdict::new(
            Level::Warn,
            format!(
                "store `{scheme}:` in Kubernetes: right for exactly one replica with a \
                 persistent volume; with more, set GCBRIDGE_STORE to a shared store (redis://)"
            ),
        ));
    }
    verdicts
}

/// The Genesys secret, each bot's Direct Line credential and the user-id key.
fn secrets(config: &AppConfig, platform: Platform) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    if config.genesys_secrets.is_empty() {
        verdicts.push(Verdict::new(
            Level::Warn,
            "no Genesys secret configured (GCBRIDGE_GENESYS_SECRET): `serve` refuses to start \
             without one (or accepts every caller with --insecure)",
        ));
    } else {
        verdicts.push(Verdict::new(
            Level::Ok,
            format!(
                "Genesys secret: {} accepted value(s), expected in the `{}` header",
                config.genesys_secrets.len(),
                config.genesys_secret_header
            ),
        ));
    }
    for bot in &config.bots {
        match &bot.auth {
            None => verdicts.push(Verdict::new(
                Level::Warn,
                format!(
                    "bot {:?} has no Direct Line secret or token endpoint (set \
                     GCBRIDGE_DIRECTLINE_SECRET or GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT)",
                    bot.profile.id
                ),
            )),
            Some(DirectLineAuth::Secret(_)) => verdicts.push(Verdict::new(
                Level::Ok,
                format!("bot {:?}: Direct Line secret present", bot.profile.id),
            )),
            Some(DirectLineAuth::TokenEndpoint(_)) => verdicts.push(Verdict::new(
                Level::Ok,
                format!(
                    "bot {:?}: Copilot Studio token endpoint configured",
                    bot.profile.id
                ),
            )),
        }
    }
    let shared = !matches!(
        config.store_url.trim().split_once(':').map(|(s, _)| s),
        Some("embedded" | "memory")
    );
    match (
        &config.user_id_key,
        shared || platform.runs_many_instances(),
    ) {
        (Some(_), _) => verdicts.push(Verdict::new(
            Level::Ok,
            "user-id key set (GCBRIDGE_USER_ID_KEY)",
        )),
        (None, true) => verdicts.push(Verdict::new(
            Level::Warn,
            "GCBRIDGE_USER_ID_KEY is not set: each instance sharing this store derives \
             different Direct Line user ids; set it to the same long random value everywhere",
        )),
        (None, false) => {}
    }
    verdicts
}

/// Starts a real conversation with the bot's agent (with its secret, or a token from its token
/// endpoint). The conversation is left to expire: nothing is posted to it.
async fn directline(dl: &DirectLineClient, bot: &BotConfig) -> Verdict {
    let id = &bot.profile.id;
    let base = &bot.directline_url;
    let Some(auth) = &bot.auth else {
        return Verdict::new(
            Level::Info,
            format!("bot {id:?}: Direct Line {base} not tried (no credentials)"),
        );
    };
    let started = Instant::now();
    let deadline = started + DIRECTLINE_PROBE;
    let outcome = match auth {
        DirectLineAuth::Secret(secret) => dl
            .start_conversation(base, Bearer::Secret(secret), deadline)
            .await
            .map_err(|e| (e, "the Direct Line secret")),
        DirectLineAuth::TokenEndpoint(endpoint) => match dl.fetch_token(endpoint, deadline).await {
            Ok(conversation) => match conversation.token {
                Some(token) => dl
                    .start_conversation(base, Bearer::Token(&token), deadline)
                    .await
                    .map_err(|e| (e, "the token from the token endpoint")),
                None => Err((DlError::Decode, "the token endpoint")),
            },
            Err(e) => Err((e, "the token endpoint")),
        },
    };
    let ms = started.elapsed().as_millis();
    match outcome {
        Ok(conversation)
            if conversation
                .conversation_id
                .as_deref()
                .is_some_and(|id| !id.is_empty()) =>
        {
            Verdict::new(
                Level::Ok,
                format!(
                    "bot {id:?}: Direct Line {base} started a conversation in {ms} ms{}",
                    if conversation.stream_url.is_some() {
                        " (WebSocket stream offered)"
                    } else {
                        ""
                    }
                ),
            )
        }
        Ok(_) => Verdict::new(
            Level::Fail,
            format!("bot {id:?}: Direct Line {base} answered without a conversation id"),
        ),
        Err((e, what)) => Verdict::new(
            Level::Fail,
            format!("bot {id:?}: {}", explain(&e, what, base)),
        ),
    }
}

/// A Direct Line failure, with the likely cause and fix.
fn explain(e: &DlError, what: &str, base: &str) -> String {
    match e {
        DlError::Status {
            status: 401 | 403, ..
        } => format!(
            "Direct Line {base} rejected {what} (HTTP {}): copy it again from Copilot Studio \
             (Settings → Security → Web channel security), and use the agent's regional host",
            e.status().unwrap_or_default()
        ),
        DlError::Status { status: 404, .. } => format!(
            "Direct Line {base} answered 404 for {what}: check the URL (GCBRIDGE_DIRECTLINE_URL \
             is the host only, e.g. https://europe.directline.botframework.com)"
        ),
        DlError::Status { status, .. } => {
            format!("Direct Line {base} answered HTTP {status} for {what}: try again later")
        }
        DlError::Timeout => format!(
            "Direct Line {base} did not answer within {} s (using {what}): check outbound \
             HTTPS from here",
            DIRECTLINE_PROBE.as_secs()
        ),
        DlError::Transport => format!(
            "Direct Line {base} could not be reached (using {what}): check the URL, DNS, \
             proxies and outbound HTTPS from here"
        ),
        DlError::Decode => {
            format!("{what} answered with something that is not Direct Line's (is the URL right?)")
        }
    }
}

/// Opens the store and pings it: `ok    store URL (backend, reachable)` or `FAIL  store URL: why`.
pub async fn store(url: &str) -> Verdict {
    let shown = gcbridge_store::redact_url(url);
    let outcome = match gcbridge_store::open(url).await {
        Ok(store) => store.ping().await.map(|()| store.name()),
        Err(e) => Err(e),
    };
    store_verdict(&shown, outcome)
}

/// The verdict line for a store that was pinged (`shown` is already redacted).
pub fn store_verdict(
    shown: &str,
    outcome: Result<&'static str, gcbridge_store::StoreError>,
) -> Verdict {
    match outcome {
        Ok(name) => Verdict::new(Level::Ok, format!("store {shown} ({name}, reachable)")),
        Err(e) => Verdict::new(Level::Fail, format!("store {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn platforms_are_recognised_in_order() {
        assert_eq!(Platform::detect(&env_of(&[])), Platform::Server);
        assert_eq!(
            Platform::detect(&env_of(&[
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                ("GCBRIDGE_CONTAINER", "1")
            ])),
            Platform::Kubernetes
        );
        assert_eq!(
            Platform::detect(&env_of(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "1234")])),
            Platform::AzureFunctions
        );
        assert_eq!(
            Platform::detect(&env_of(&[("AWS_LAMBDA_FUNCTION_NAME", "gcbridge")])),
            Platform::Lambda
        );
        assert_eq!(
            Platform::detect(&env_of(&[("GCBRIDGE_CONTAINER", "1")])),
            Platform::Container
        );
    }

    fn config(pairs: &'static [(&'static str, &'static str)]) -> AppConfig {
        AppConfig::from_parts(None, &env_of(pairs)).expect("config")
    }

    #[test]
    fn local_stores_fail_where_instances_come_and_go() {
        let c = config(&[("GCBRIDGE_STORE", "memory:")]);
        let lambda = placement(&c, Platform::Lambda);
        assert_eq!(lambda[0].level, Level::Fail);
        assert!(lambda[0].message.contains("shared store"), "{lambda:?}");
        assert!(placement(&c, Platform::Server).is_empty());
        let k8s = placement(&c, Platform::Kubernetes);
        assert_eq!(k8s.len(), 2, "loopback listen and a local store: {k8s:?}");
        assert!(
            k8s[0]
                .to_string()
                .starts_with("warn  listen 127.0.0.1:8080 is loopback")
        );
    }

    #[test]
    fn secrets_are_reported_without_their_values() {
        let c = config(&[
            ("GCBRIDGE_GENESYS_SECRET", "genesys-value,other-value"),
            ("GCBRIDGE_DIRECTLINE_SECRET", "dl-value"),
            ("GCBRIDGE_STORE", "redis://127.0.0.1:1"),
        ]);
        let lines: Vec<String> = secrets(&c, Platform::Server)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "ok    Genesys secret: 2 accepted value(s), expected in the `Authorization` header",
                "ok    bot \"copilot\": Direct Line secret present",
                "warn  GCBRIDGE_USER_ID_KEY is not set: each instance sharing this store derives different Direct Line user ids; set it to the same long random value everywhere",
            ]
        );
    }
}
