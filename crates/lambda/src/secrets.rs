//! Secrets given as references, resolved once per cold start.
//!
//! Any environment variable `GCBRIDGE_<NAME>` that gcbridge reads (the Genesys and Direct Line
//! secrets, the user-id key, a bot's `secret_env`, even `GCBRIDGE_STORE` when its Redis URL holds
//! a password) may instead be given as a reference:
//!
//! - `GCBRIDGE_<NAME>_ARN` = the ARN (or name) of an AWS Secrets Manager secret, whose
//!   `SecretString` becomes the value;
//! - `GCBRIDGE_<NAME>_SSM` = the name of an SSM Parameter Store parameter (a `SecureString` is
//!   decrypted), whose value becomes the value.
//!
//! So `GCBRIDGE_DIRECTLINE_SECRET_ARN=arn:aws:secretsmanager:...` stands for
//! `GCBRIDGE_DIRECTLINE_SECRET`. Setting a variable and a reference to it, or both kinds of
//! reference, is an error, as is a reference that cannot be read: the function then fails its
//! cold start with a message naming the variable, rather than serving without a secret.
//!
//! Fetching goes through [`SecretSource`], so the resolution is tested without AWS
//! ([`StaticSecrets`]); the real source, `AwsSecrets` (feature `aws-secrets`), makes the two
//! SigV4-signed calls itself (no service SDK crate: a debug build of the SSM SDK alone takes
//! minutes) and honours the standard `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_SSM`
//! and `AWS_ENDPOINT_URL` overrides.

use std::collections::{BTreeMap, HashMap};

/// The prefix of the variables a reference may stand for.
const PREFIX: &str = "GCBRIDGE_";
/// Suffix of a Secrets Manager reference.
const SECRETS_MANAGER_SUFFIX: &str = "_ARN";
/// Suffix of a Parameter Store reference.
const PARAMETER_SUFFIX: &str = "_SSM";

/// Where one secret value lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretRef {
    /// An AWS Secrets Manager secret: its ARN or name.
    SecretsManager(String),
    /// An SSM Parameter Store parameter name (`SecureString`s are decrypted).
    Parameter(String),
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // References are identifiers, not values: safe to print.
        match self {
            SecretRef::SecretsManager(id) => write!(f, "Secrets Manager secret {id}"),
            SecretRef::Parameter(name) => write!(f, "SSM parameter {name}"),
        }
    }
}

/// Why a reference could not be resolved. Messages never contain a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret or parameter does not exist (in this region and account).
    #[error("{0} does not exist (check the name/ARN and the region)")]
    NotFound(String),
    /// The function's role may not read it.
    #[error(
        "{0}: access denied (the role needs secretsmanager:GetSecretValue or ssm:GetParameter on it, and kms:Decrypt for a customer-managed key)"
    )]
    AccessDenied(String),
    /// Anything else: network, throttling, an unexpected answer, a binary secret.
    #[error("{0}")]
    Other(String),
}

/// Reads the values behind references. Implementations: `AwsSecrets` (feature `aws-secrets`)
/// and [`StaticSecrets`].
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    /// The current value of `reference`.
    async fn fetch(&self, reference: &SecretRef) -> Result<String, SecretError>;
}

/// A fixed map of values: the test double, and the source of a build without `aws-secrets`
/// (empty: every reference is then an error that says so).
#[derive(Debug, Default, Clone)]
pub struct StaticSecrets {
    values: HashMap<SecretRef, String>,
    /// What to say when a reference is missing.
    missing: Option<String>,
}

impl StaticSecrets {
    /// A source holding `values`.
    pub fn new(values: impl IntoIterator<Item = (SecretRef, String)>) -> Self {
        Self {
            values: values.into_iter().collect(),
            missing: None,
        }
    }

    /// A source that answers every reference with the error `why`.
    pub fn unavailable(why: impl Into<String>) -> Self {
        Self {
            values: HashMap::new(),
            missing: Some(why.into()),
        }
    }
}

#[async_trait::async_trait]
impl SecretSource for StaticSecrets {
    async fn fetch(&self, reference: &SecretRef) -> Result<String, SecretError> {
        match (self.values.get(reference), &self.missing) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(why)) => Err(SecretError::Other(format!("{reference}: {why}"))),
            (None, None) => Err(SecretError::NotFound(reference.to_string())),
        }
    }
}

/// Everything wrong with the references of an environment, one line each.
#[derive(Debug, thiserror::Error)]
#[error("secret references could not be resolved:\n  - {}", .0.join("\n  - "))]
pub struct ResolveError(pub Vec<String>);

/// The references in `env`: target variable → where its value lives. Conflicting definitions
/// are errors.
pub fn references(
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, SecretRef>, ResolveError> {
    let mut found: BTreeMap<String, SecretRef> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let (target, reference) = if let Some(base) = rest.strip_suffix(SECRETS_MANAGER_SUFFIX) {
            (base, SecretRef::SecretsManager(value.trim().to_owned()))
        } else if let Some(base) = rest.strip_suffix(PARAMETER_SUFFIX) {
            (base, SecretRef::Parameter(value.trim().to_owned()))
        } else {
            continue;
        };
        if target.is_empty() {
            continue;
        }
        let target = format!("{PREFIX}{target}");
        if value.trim().is_empty() {
            problems.push(format!("{name} is empty"));
            continue;
        }
        if env.get(&target).is_some_and(|v| !v.trim().is_empty()) {
            problems.push(format!(
                "{target} is set both directly and through {name}: keep one"
            ));
            continue;
        }
        if let Some(previous) = found.insert(target.clone(), reference) {
            problems.push(format!(
                "{target} has two references ({previous} and {name}): keep one"
            ));
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(ResolveError(problems))
    }
}

/// `env` with every reference replaced by the variable it stands for, fetched from `source`
/// concurrently (one round trip of latency at cold start, whatever the number of secrets).
/// The reference variables themselves are kept.
pub async fn resolve(
    mut env: BTreeMap<String, String>,
    source: &dyn SecretSource,
) -> Result<BTreeMap<String, String>, ResolveError> {
    let refs = references(&env)?;
    let fetched =
        futures_util::future::join_all(refs.iter().map(|(target, reference)| async move {
            (target, reference, source.fetch(reference).await)
        }))
        .await;
    let mut problems = Vec::new();
    for (target, reference, outcome) in fetched {
        match outcome {
            Ok(value) => {
                tracing::info!(variable = %target, from = %reference, "secret resolved");
                env.insert(target.clone(), value);
            }
            Err(e) => problems.push(format!("{target}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(env)
    } else {
        Err(ResolveError(problems))
    }
}

#[cfg(feature = "aws-secrets")]
pub use aws::AwsSecrets;

#[cfg(feature = "aws-secrets")]
mod aws {
    //! The real [`SecretSource`]: `secretsmanager:GetSecretValue` and `ssm:GetParameter` over
    //! their JSON 1.1 protocol, signed with SigV4 by the official signer, with credentials from
    //! the standard AWS chain (in Lambda: the function role's environment variables).

    use std::time::{Duration, SystemTime};

    use aws_config::BehaviorVersion;
    use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use serde_json::{Value, json};

    use super::{SecretError, SecretRef, SecretSource};

    /// One AWS service endpoint gcbridge calls.
    #[derive(Debug, Clone)]
    struct Service {
        /// SigV4 signing name.
        signing_name: &'static str,
        /// Base URL, e.g. `https://ssm.eu-west-1.amazonaws.com`.
        endpoint: String,
    }

    /// Secrets Manager and Parameter Store, reached with the standard AWS configuration.
    #[derive(Debug, Clone)]
    pub struct AwsSecrets {
        http: reqwest::Client,
        region: String,
        credentials: SharedCredentialsProvider,
        secrets_manager: Service,
        ssm: Service,
    }

    impl AwsSecrets {
        /// Loads the region and credentials the standard way (`AWS_REGION`, profiles, the
        /// Lambda role...) and the endpoints: `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
        /// `AWS_ENDPOINT_URL_SSM`, then `AWS_ENDPOINT_URL`, then the regional public endpoint.
        pub async fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
            let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
            let region = config
                .region()
                .map(|r| r.as_ref().to_owned())
                .ok_or_else(|| {
                    SecretError::Other(
                        "no AWS region (set AWS_REGION; Lambda sets it for you)".to_owned(),
                    )
                })?;
            let credentials = config.credentials_provider().ok_or_else(|| {
                SecretError::Other("no AWS credentials provider could be configured".to_owned())
            })?;
            let endpoint = |specific: &str, host: &str| {
                env(specific)
                    .or_else(|| env("AWS_ENDPOINT_URL"))
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| v.trim().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| {
                        let suffix = if region.starts_with("cn-") {
                            "amazonaws.com.cn"
                        } else {
                            "amazonaws.com"
                        };
                        format!("https://{host}.{region}.{suffix}")
                    })
            };
            let http = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| SecretError::Other(format!("HTTP client: {e}")))?;
            Ok(Self {
                http,
                secrets_manager: Service {
                    signing_name: "secretsmanager",
                    endpoint: endpoint("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager"),
                },
                ssm: Service {
                    signing_name: "ssm",
                    endpoint: endpoint("AWS_ENDPOINT_URL_SSM", "ssm"),
                },
                region,
                credentials,
            })
        }

        /// One signed JSON 1.1 call; the decoded answer, or the service's error mapped.
        async fn call(
            &self,
            service: &Service,
            target: &str,
            body: &Value,
            what: &SecretRef,
        ) -> Result<Value, SecretError> {
            let credentials = self
                .credentials
                .provide_credentials()
                .await
                .map_err(|e| SecretError::Other(format!("{what}: AWS credentials: {e}")))?;
            let identity: Identity = credentials.into();
            let body = serde_json::to_vec(body).expect("a JSON value serialises");
            let url = format!("{}/", service.endpoint);
            let headers = [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target),
            ];
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name(service.signing_name)
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| SecretError::Other(format!("{what}: signing: {e}")))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                &url,
                headers.into_iter(),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| SecretError::Other(format!("{what}: signing: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| SecretError::Other(format!("{what}: signing: {e}")))?
                .into_parts();
            let mut request = self.http.post(&url).body(body);
            for (name, value) in headers.into_iter().chain(instructions.headers()) {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| {
                SecretError::Other(format!(
                    "{what}: {} could not be reached: {e}",
                    service.endpoint
                ))
            })?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| SecretError::Other(format!("{what}: reading the answer: {e}")))?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(value);
            }
            // Error bodies name the error type (`__type`, maybe namespaced with `#`) and a
            // message; neither holds the secret value.
            let kind = value["__type"]
                .as_str()
                .unwrap_or_default()
                .rsplit('#')
                .next()
                .unwrap_or_default()
                .to_owned();
            let message = value["message"]
                .as_str()
                .or_else(|| value["Message"].as_str())
                .unwrap_or_default();
            Err(match kind.as_str() {
                "ResourceNotFoundException" | "ParameterNotFound" => {
                    SecretError::NotFound(what.to_string())
                }
                "AccessDeniedException" | "AccessDenied" => {
                    SecretError::AccessDenied(what.to_string())
                }
                _ => SecretError::Other(format!(
                    "{what}: HTTP {status} {kind} {message}",
                    status = status.as_u16()
                )),
            })
        }
    }

    #[async_trait::async_trait]
    impl SecretSource for AwsSecrets {
        async fn fetch(&self, reference: &SecretRef) -> Result<String, SecretError> {
            match reference {
                SecretRef::SecretsManager(id) => {
                    let answer = self
                        .call(
                            &self.secrets_manager,
                            "secretsmanager.GetSecretValue",
                            &json!({ "SecretId": id }),
                            reference,
                        )
                        .await?;
                    answer["SecretString"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            SecretError::Other(format!(
                                "{reference} has no SecretString (binary secrets are not supported)"
                            ))
                        })
                }
                SecretRef::Parameter(name) => {
                    let answer = self
                        .call(
                            &self.ssm,
                            "AmazonSSM.GetParameter",
                            &json!({ "Name": name, "WithDecryption": true }),
                            reference,
                        )
                        .await?;
                    answer["Parameter"]["Value"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            SecretError::Other(format!("{reference}: the answer has no value"))
                        })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn references_are_found_by_suffix_under_the_prefix_only() {
        let refs = references(&env(&[
            (
                "GCBRIDGE_DIRECTLINE_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:dl",
            ),
            ("GCBRIDGE_GENESYS_SECRET_SSM", "/gcbridge/genesys"),
            ("GCBRIDGE_STORE", "dynamodb://t?region=eu-west-1"),
            ("OTHER_SECRET_ARN", "ignored"),
            ("GCBRIDGE__SSM", "ignored too: no variable name"),
        ]))
        .expect("refs");
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "GCBRIDGE_DIRECTLINE_SECRET".to_owned(),
                    SecretRef::SecretsManager(
                        "arn:aws:secretsmanager:eu-west-1:1:secret:dl".to_owned()
                    )
                ),
                (
                    "GCBRIDGE_GENESYS_SECRET".to_owned(),
                    SecretRef::Parameter("/gcbridge/genesys".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn conflicting_definitions_are_each_explained() {
        let e = references(&env(&[
            ("GCBRIDGE_DIRECTLINE_SECRET", "direct"),
            ("GCBRIDGE_DIRECTLINE_SECRET_ARN", "arn"),
            ("GCBRIDGE_GENESYS_SECRET_ARN", "a"),
            ("GCBRIDGE_GENESYS_SECRET_SSM", "b"),
            ("GCBRIDGE_USER_ID_KEY_SSM", " "),
        ]))
        .expect_err("conflicts");
        let text = e.to_string();
        assert!(
            text.contains("GCBRIDGE_DIRECTLINE_SECRET is set both directly"),
            "{text}"
        );
        assert!(
            text.contains("GCBRIDGE_GENESYS_SECRET has two references"),
            "{text}"
        );
        assert!(text.contains("GCBRIDGE_USER_ID_KEY_SSM is empty"), "{text}");
        assert!(!text.contains("direct,"), "no value is printed: {text}");
    }

    #[tokio::test]
    async fn resolve_replaces_references_and_names_what_failed() {
        let source = StaticSecrets::new([
            (
                SecretRef::SecretsManager("dl".to_owned()),
                "dl-value".to_owned(),
            ),
            (SecretRef::Parameter("/g".to_owned()), "old,new".to_owned()),
        ]);
        let resolved = resolve(
            env(&[
                ("GCBRIDGE_DIRECTLINE_SECRET_ARN", "dl"),
                ("GCBRIDGE_GENESYS_SECRET_SSM", "/g"),
                ("GCBRIDGE_LISTEN", "127.0.0.1:1"),
            ]),
            &source,
        )
        .await
        .expect("resolved");
        assert_eq!(resolved["GCBRIDGE_DIRECTLINE_SECRET"], "dl-value");
        assert_eq!(resolved["GCBRIDGE_GENESYS_SECRET"], "old,new");
        assert_eq!(resolved["GCBRIDGE_LISTEN"], "127.0.0.1:1");

        let e = resolve(env(&[("GCBRIDGE_USER_ID_KEY_ARN", "missing")]), &source)
            .await
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "secret references could not be resolved:\n  - GCBRIDGE_USER_ID_KEY: Secrets Manager secret missing does not exist (check the name/ARN and the region)"
        );
        let e = resolve(
            env(&[("GCBRIDGE_USER_ID_KEY_ARN", "x")]),
            &StaticSecrets::unavailable("this build has no AWS support"),
        )
        .await
        .expect_err("unavailable");
        assert!(
            e.to_string().contains("this build has no AWS support"),
            "{e}"
        );
    }
}
