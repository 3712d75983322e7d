//! Cold start: the environment, its secret references resolved, becomes a checked configuration
//! and then the shared state. Every refusal says what to set.

use std::collections::BTreeMap;
use std::sync::Arc;

use gcbridge_app::AppConfig;
use gcbridge_app::AppState;
use gcbridge_app::config::ConfigError;
use gcbridge_app::state::StartError;

use crate::secrets::{ResolveError, SecretSource, resolve};

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A `GCBRIDGE_*_ARN` / `_SSM` reference could not be read.
    #[error(transparent)]
    Secrets(#[from] ResolveError),
    /// The configuration file named by `GCBRIDGE_CONFIG` could not be read.
    #[error("cannot read the configuration file {path} (GCBRIDGE_CONFIG): {source}")]
    File {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is invalid for any shell.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration is valid but cannot work under Lambda.
    #[error("this configuration cannot run on AWS Lambda:\n  - {}", .0.join("\n  - "))]
    NotForLambda(Vec<String>),
    /// The store or the HTTP client could not be set up.
    #[error(transparent)]
    State(#[from] StartError),
}

/// What a configuration lacks to run on Lambda, one line per problem.
///
/// Lambda runs many short-lived instances with no shared disk, so the session store must be a
/// shared server (the embedded file and `memory:` would lose sessions between instances), and
/// those instances must derive the same Direct Line user ids (`GCBRIDGE_USER_ID_KEY`). As with
/// `gcbridge serve`, a Genesys secret is required.
pub fn lambda_problems(config: &AppConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let store = config.store_url.trim();
    let scheme = store
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if scheme == "embedded" || scheme == "memory" {
        problems.push(format!(
            "GCBRIDGE_STORE is `{}`{}: Lambda runs many short-lived instances without a shared \
             disk, so sessions must live in a shared store. Set GCBRIDGE_STORE to \
             `dynamodb://TABLE?region=REGION` (deploy/aws/template.yaml does) or a `redis://` / \
             `rediss://` URL",
            gcbridge_store::redact_url(store),
            if scheme == "embedded" && store == "embedded:./data/gcbridge.db" {
                " (the default when it is not set)"
            } else {
                ""
            }
        ));
    }
    if config.genesys_secrets.is_empty() {
        problems.push(
            "no Genesys secret: set GCBRIDGE_GENESYS_SECRET, or GCBRIDGE_GENESYS_SECRET_ARN \
             (Secrets Manager) / GCBRIDGE_GENESYS_SECRET_SSM (Parameter Store)"
                .to_owned(),
        );
    }
    for bot in config.bots.iter().filter(|b| b.profile.dbc_async) {
        problems.push(format!(
            "bot {:?} has dbc_async on: its replies are pushed by a background task after the \
             response, which Lambda freezes; turn it off here (replies then travel in the \
             /messages answer) or run gcbridge in a container",
            bot.profile.id
        ));
    }
    if config.user_id_key.is_none() {
        problems.push(
            "GCBRIDGE_USER_ID_KEY is not set: every Lambda instance would derive different \
             Direct Line user ids for the same session; set it (or GCBRIDGE_USER_ID_KEY_ARN / \
             _SSM) to a long random value that stays the same"
                .to_owned(),
        );
    }
    problems
}

/// The environment with its references resolved, then the configuration it describes
/// (`GCBRIDGE_CONFIG` names an optional TOML file, as for `gcbridge serve`), checked for Lambda.
pub async fn config_from_env(
    env: BTreeMap<String, String>,
    source: &dyn SecretSource,
) -> Result<AppConfig, StartupError> {
    let env = resolve(env, source).await?;
    let text = match env.get("GCBRIDGE_CONFIG").filter(|p| !p.trim().is_empty()) {
        Some(path) => {
            Some(
                std::fs::read_to_string(path.trim()).map_err(|source| StartupError::File {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let config = AppConfig::from_parts(text.as_deref(), &|name| env.get(name).cloned())?;
    let problems = lambda_problems(&config);
    if !problems.is_empty() {
        return Err(StartupError::NotForLambda(problems));
    }
    Ok(config)
}

/// Everything a cold start does before the first event: configuration, then the store client and
/// the Direct Line client.
pub async fn state_from_env(
    env: BTreeMap<String, String>,
    source: &dyn SecretSource,
) -> Result<Arc<AppState>, StartupError> {
    let config = config_from_env(env, source).await?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(Arc::new(AppState::new(config).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{SecretRef, StaticSecrets};

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const COMPLETE: &[(&str, &str)] = &[
        ("GCBRIDGE_STORE", "redis://127.0.0.1:1"),
        ("GCBRIDGE_GENESYS_SECRET", "g"),
        ("GCBRIDGE_USER_ID_KEY", "k"),
    ];

    #[test]
    fn asynchronous_dbc_replies_are_refused_on_lambda() {
        let vars: std::collections::HashMap<&str, &str> = COMPLETE
            .iter()
            .copied()
            .chain([
                ("GCBRIDGE_GENESYS_REGION", "eu-west-1"),
                ("GCBRIDGE_GENESYS_CLIENT_ID", "id"),
                ("GCBRIDGE_GENESYS_CLIENT_SECRET", "secret"),
            ])
            .collect();
        let lookup = |name: &str| vars.get(name).map(|v| (*v).to_owned());
        let sync = AppConfig::from_parts(None, &lookup).expect("config");
        assert_eq!(lambda_problems(&sync), Vec::<String>::new());
        let config =
            AppConfig::from_parts(Some("[bot]\ndbc_async = true\n"), &lookup).expect("config");
        let problems = lambda_problems(&config);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("dbc_async"), "{problems:?}");
    }

    #[tokio::test]
    async fn the_default_embedded_store_is_refused_with_what_to_set() {
        let e = config_from_env(
            env(&[
                ("GCBRIDGE_GENESYS_SECRET", "g"),
                ("GCBRIDGE_USER_ID_KEY", "k"),
            ]),
            &StaticSecrets::default(),
        )
        .await
        .expect_err("embedded");
        let text = e.to_string();
        assert!(
            text.contains(
                "GCBRIDGE_STORE is `embedded:./data/gcbridge.db` (the default when it is not set)"
            ),
            "{text}"
        );
        assert!(text.contains("dynamodb://TABLE?region=REGION"), "{text}");
    }

    #[tokio::test]
    async fn memory_and_missing_secrets_are_refused_together() {
        let e = config_from_env(
            env(&[("GCBRIDGE_STORE", "memory:")]),
            &StaticSecrets::default(),
        )
        .await
        .expect_err("memory");
        let StartupError::NotForLambda(problems) = e else {
            panic!("{e}");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("GCBRIDGE_STORE is `memory:`:"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("GCBRIDGE_GENESYS_SECRET_ARN"),
            "{problems:?}"
        );
        assert!(problems[2].contains("GCBRIDGE_USER_ID_KEY"), "{problems:?}");
    }

    #[tokio::test]
    async fn a_complete_environment_starts_and_references_fill_it_in() {
        let config = config_from_env(env(COMPLETE), &StaticSecrets::default())
            .await
            .expect("complete");
        assert_eq!(config.store_url, "redis://127.0.0.1:1");

        let source = StaticSecrets::new([(
            SecretRef::Parameter("/gcbridge/genesys".to_owned()),
            "from-ssm".to_owned(),
        )]);
        let config = config_from_env(
            env(&[
                ("GCBRIDGE_STORE", "redis://127.0.0.1:1"),
                ("GCBRIDGE_GENESYS_SECRET_SSM", "/gcbridge/genesys"),
                ("GCBRIDGE_USER_ID_KEY", "k"),
            ]),
            &source,
        )
        .await
        .expect("resolved");
        assert_eq!(config.genesys_secrets.len(), 1);
        assert!(gcbridge_app::secret::matches_any(
            b"from-ssm",
            &config.genesys_secrets
        ));
    }

    #[tokio::test]
    async fn a_missing_config_file_is_named() {
        let mut vars = env(COMPLETE);
        vars.insert(
            "GCBRIDGE_CONFIG".to_owned(),
            "/nonexistent/gcbridge.toml".to_owned(),
        );
        let e = config_from_env(vars, &StaticSecrets::default())
            .await
            .expect_err("file");
        assert!(e.to_string().contains("/nonexistent/gcbridge.toml"), "{e}");
    }
}
