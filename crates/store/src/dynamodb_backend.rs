//! [`DynamoDbStore`]: the backend behind `dynamodb://TABLE?region=R[&endpoint=URL]` URLs
//! (feature `dynamodb`), on the official AWS SDK for Rust.
//!
//! # Table and items
//!
//! One item per record in a table whose partition key is the string attribute `pk` (no sort
//! key), holding the store key as is (DynamoDB allows any UTF-8 up to 2048 bytes, more than
//! [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES)). Attributes:
//! - `v` (binary): the value; `rev` (number): the revision;
//! - `exp_ms` (number): the expiry in milliseconds exactly as given, which every read honours;
//! - `ttl` (number, seconds, rounded up): the table's native TTL attribute, so DynamoDB deletes
//!   expired items by itself at no cost. It deletes them late (typically within days), which is
//!   why reads and conditions use `exp_ms`. A record that never expires has no `ttl`.
//!
//! `gcbridge store init` ([`SessionStore::init`]) creates such a table (on-demand billing) and
//! enables TTL on `ttl`.
//!
//! # Compare-and-set
//!
//! Every save is one `PutItem` with a condition expression. An update requires
//! `rev = :expected AND exp_ms > :now`; a create requires that no item exists, or that the
//! existing one has expired **and** has a lower revision than the new one, so revisions keep
//! increasing across expiries. New revisions are `max(previous + 1, now in µs)`: after a delete
//! the previous revision is gone and the writer's clock keeps revisions increasing (see
//! [`next_revision`]). Loads are strongly consistent reads, so a load after a save sees it.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};

use crate::api::{
    Initialised, Revision, SessionStore, StoreError, Stored, check_key, check_value, is_live,
    next_revision, now_unix_ms, now_unix_us,
};
use crate::url::{query_pairs, redact_url};

/// The partition key attribute.
const PK: &str = "pk";
const VALUE: &str = "v";
const REVISION: &str = "rev";
const EXPIRES_MS: &str = "exp_ms";
/// The native TTL attribute (seconds). `TTL` is a DynamoDB reserved word, so expressions
/// never name it directly.
const TTL: &str = "ttl";

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt of a call may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a call may take in all, retries included: well inside a Genesys turn's deadline.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(6);
/// Attempts per call (the SDK retries throttling and transient errors with backoff).
const MAX_ATTEMPTS: u32 = 3;
/// How long `init` waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where AWS credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum AwsCredentials {
    /// The SDK's standard chain: environment variables, the shared config and credentials
    /// files (`AWS_PROFILE`, including `credential_process`), web identity (EKS), the ECS/Lambda
    /// container endpoint and EC2 instance metadata. What `dynamodb://` URLs use.
    DefaultChain,
    /// Fixed keys, e.g. dummy ones for a local DynamoDB-compatible server.
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key (never printed by `Debug`).
        secret_access_key: String,
    },
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DefaultChain => f.write_str("DefaultChain"),
            Self::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"***")
                .finish(),
        }
    }
}

/// Everything needed to reach one DynamoDB table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbOptions {
    /// The table name.
    pub table: String,
    /// The AWS region; `None` takes it from the environment (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Another endpoint than AWS's (a local DynamoDB-compatible server, a VPC endpoint URL).
    pub endpoint: Option<String>,
    /// Where the credentials come from.
    pub credentials: AwsCredentials,
}

/// Parses `dynamodb://TABLE?region=R[&endpoint=URL]`.
pub(crate) fn parse_url(url: &str) -> Result<DynamoDbOptions, StoreError> {
    let shown = redact_url(url);
    let syntax = "expected dynamodb://TABLE?region=REGION[&endpoint=URL], e.g. \
                  dynamodb://gcbridge-sessions?region=eu-west-1";
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| StoreError::Invalid(format!("`{shown}`: {syntax}")))?;
    let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
    let table = table.trim_end_matches('/');
    let valid_name = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid_name {
        return Err(StoreError::Invalid(format!(
            "`{shown}`: `{table}` is not a DynamoDB table name (3 to 255 letters, digits, `_`, \
             `-` or `.`); {syntax}"
        )));
    }
    let mut options = DynamoDbOptions {
        table: table.to_owned(),
        region: None,
        endpoint: None,
        credentials: AwsCredentials::DefaultChain,
    };
    for (name, value) in query_pairs(query)? {
        match name.as_str() {
            "region" if !value.is_empty() => options.region = Some(value),
            "endpoint" if value.starts_with("http://") || value.starts_with("https://") => {
                options.endpoint = Some(value);
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "`{shown}`: unexpected or empty parameter `{name}`; {syntax} (credentials \
                     come from the standard AWS chain, never from the URL)"
                )));
            }
        }
    }
    Ok(options)
}

/// A session store in one DynamoDB table.
///
/// Open it with [`DynamoDbStore::open`] or [`crate::open`]. See the module documentation of
/// this backend for the item layout and how compare-and-set works. Required permissions on
/// the table: `dynamodb:GetItem`, `PutItem`, `DeleteItem` and `DescribeTable` (readiness);
/// `CreateTable`, `DescribeTimeToLive` and `UpdateTimeToLive` only for [`SessionStore::init`].
pub struct DynamoDbStore {
    client: Client,
    table: String,
    /// The region, or `"(from the environment)"`, for error messages.
    region: String,
}

impl DynamoDbStore {
    /// Builds the client for a table. Resolves the region (and, for the default chain, sets up
    /// the credential providers) but contacts nothing.
    pub async fn open(options: DynamoDbOptions) -> Result<Self, StoreError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let AwsCredentials::Static {
            access_key_id,
            secret_access_key,
        } = &options.credentials
        {
            loader = loader.credentials_provider(Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "gcbridge-static",
            ));
        }
        let shared = loader.load().await;
        let Some(region) = shared.region().map(ToString::to_string) else {
            return Err(StoreError::Invalid(format!(
                "no AWS region for the DynamoDB table `{}`: add `?region=REGION` to the store \
                 URL or set AWS_REGION",
                options.table
            )));
        };
        let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(Self {
            client: Client::from_conf(config.build()),
            table: options.table,
            region,
        })
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Maps an SDK error to a [`StoreError`] naming the operation and the table, with the
    /// service's error code and message (DynamoDB's messages name attributes and limits, never
    /// their values) but nothing of the request.
    fn error<E>(&self, operation: &str, error: &SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().unwrap_or_default();
        if code == "ResourceNotFoundException" {
            return self.missing_table();
        }
        let detail = match error {
            SdkError::DispatchFailure(_) => {
                "could not connect (server down or unreachable)".to_owned()
            }
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            SdkError::ServiceError(_) => {
                let message: String = error
                    .message()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                format!("{code}: {message}")
            }
            other => format!("{}", DisplayChain(other)),
        };
        StoreError::Unavailable(format!(
            "DynamoDB {operation} on table `{}` ({}) failed: {detail}",
            self.table, self.region
        ))
    }

    fn missing_table(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the DynamoDB table `{}` does not exist in {} (or these credentials cannot see \
             it): create it with `gcbridge store init`, or see the README's Session stores \
             section for its layout",
            self.table, self.region
        ))
    }

    /// One conditional `PutItem`. `Ok(None)` means the condition failed; the item the
    /// condition saw is returned in `Err`'s place as `Ok(Some(old))` only for creates, which
    /// may retry.
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Revision>,
        revision: u64,
        expires_at_ms: u64,
    ) -> Result<PutOutcome, StoreError> {
        let mut item = HashMap::from([
            (PK.to_owned(), AttributeValue::S(key.to_owned())),
            (VALUE.to_owned(), AttributeValue::B(Blob::new(value))),
            (REVISION.to_owned(), number(revision)),
            (EXPIRES_MS.to_owned(), number(expires_at_ms)),
        ]);
        if expires_at_ms != crate::NEVER_EXPIRES {
            item.insert(TTL.to_owned(), number(expires_at_ms.div_ceil(1000)));
        }
        let now = number(now_unix_ms());
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#rev", REVISION)
            .expression_attribute_names("#exp", EXPIRES_MS)
            .expression_attribute_values(":now", now)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            Some(expected) => request
                .condition_expression("#rev = :expected AND #exp > :now")
                .expression_attribute_values(":expected", number(expected.get())),
            None => request
                .condition_expression("attribute_not_exists(#pk) OR (#exp <= :now AND #rev < :rev)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":rev", number(revision)),
        };
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) => match e.as_service_error() {
                // Cloned out of the error (at most one record, and only on a lost race).
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(PutOutcome::ConditionFailed(failed.item.clone()))
                }
                _ => Err(self.error("save", &e)),
            },
        }
    }
}

enum PutOutcome {
    Written,
    /// The condition failed; the item it was checked against, if the server returned it.
    ConditionFailed(Option<HashMap<String, AttributeValue>>),
}

/// A DynamoDB number attribute.
fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn read_number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

fn corrupt(attribute: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a DynamoDB item lacks a valid `{attribute}` attribute: it was not written by gcbridge"
    ))
}

/// Formats an error with its sources, for transport errors whose top level says little.
struct DisplayChain<'a>(&'a dyn std::error::Error);

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl fmt::Debug for DynamoDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbStore")
            .field("table", &self.table)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for DynamoDbStore {
    fn name(&self) -> &'static str {
        "dynamodb"
    }

    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        check_key(key)?;
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("load", &e))?;
        let Some(mut item) = output.item else {
            return Ok(None);
        };
        let expires_at_ms = read_number(&item, EXPIRES_MS)?;
        if !is_live(expires_at_ms, now_unix_ms()) {
            return Ok(None);
        }
        let revision = Revision::new(read_number(&item, REVISION)?);
        let value = match item.remove(VALUE) {
            Some(AttributeValue::B(blob)) => blob.into_inner(),
            _ => return Err(corrupt(VALUE)),
        };
        Ok(Some(Stored {
            value,
            revision,
            expires_at_ms,
        }))
    }

    async fn save(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError> {
        check_key(key)?;
        check_value(&value)?;
        let mut revision = next_revision(expected.map(Revision::get), now_unix_us());
        // A create may find an expired item whose revision is not below ours (its writer's
        // clock was ahead): then it retries just above that revision. Two rounds suffice unless
        // another writer keeps replacing the expired item, which is a conflict anyway.
        for _ in 0..3 {
            match self
                .put(key, &value, expected, revision, expires_at_ms)
                .await?
            {
                PutOutcome::Written => return Ok(Revision::new(revision)),
                PutOutcome::ConditionFailed(Some(old)) if expected.is_none() => {
                    let old_expiry = read_number(&old, EXPIRES_MS)?;
                    let old_revision = read_number(&old, REVISION)?;
                    if is_live(old_expiry, now_unix_ms()) || old_revision < revision {
                        return Err(StoreError::Conflict);
                    }
                    revision = next_revision(Some(old_revision), now_unix_us());
                }
                PutOutcome::ConditionFailed(_) => return Err(StoreError::Conflict),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(|e| self.error("delete", &e))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let output = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("check", &e))?;
        let status = output.table.and_then(|t| t.table_status);
        match status {
            Some(TableStatus::Active | TableStatus::Updating) | None => Ok(()),
            Some(other) => Err(StoreError::Unavailable(format!(
                "the DynamoDB table `{}` ({}) is {}, not active",
                self.table,
                self.region,
                other.as_str()
            ))),
        }
    }

    async fn init(&self) -> Result<Initialised, StoreError> {
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(PK)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(PK)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.code() == Some("ResourceInUseException") => false,
            Err(e) => return Err(self.error("create table", &e)),
        };
        self.wait_until_active().await?;
        let ttl = self.ensure_ttl().await?;
        let what = format!(
            "DynamoDB table `{}` in {} (partition key `{PK}`, on-demand billing); {ttl}",
            self.table, self.region
        );
        Ok(if created {
            Initialised::Created(what)
        } else {
            Initialised::AlreadyPresent(what)
        })
    }
}

impl DynamoDbStore {
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
        loop {
            let output = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.error("describe table", &e))?;
            let Some(table) = output.table else {
                return Err(self.missing_table());
            };
            let has_our_key = table
                .key_schema()
                .iter()
                .any(|k| k.attribute_name() == PK && k.key_type() == &KeyType::Hash)
                && table.key_schema().len() == 1;
            if !has_our_key {
                return Err(StoreError::Invalid(format!(
                    "the DynamoDB table `{}` exists but its key is not the single string \
                     partition key `{PK}` gcbridge needs: use another table name",
                    self.table
                )));
            }
            if table.table_status() == Some(&TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(StoreError::Unavailable(format!(
                    "the DynamoDB table `{}` was not active after {} s",
                    self.table,
                    TABLE_ACTIVE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Enables TTL on `ttl` unless it is already enabled, and says what it found.
    async fn ensure_ttl(&self) -> Result<String, StoreError> {
        let current = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("describe time to live", &e))?;
        let description = current.time_to_live_description;
        let status = description
            .as_ref()
            .and_then(|d| d.time_to_live_status.clone());
        let attribute = description.as_ref().and_then(|d| d.attribute_name.clone());
        match status {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                if attribute.as_deref() == Some(TTL) =>
            {
                return Ok(format!("TTL already enabled on `{TTL}`"));
            }
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
                return Err(StoreError::Invalid(format!(
                    "the DynamoDB table `{}` has TTL enabled on `{}`, but gcbridge writes its \
                     expiry to `{TTL}`: disable TTL on the table, then run `gcbridge store init` \
                     again",
                    self.table,
                    attribute.unwrap_or_default()
                )));
            }
            _ => {}
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| self.error("update time to live", &e))?;
        Ok(format!("TTL enabled on `{TTL}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table_region_and_endpoint() {
        let options = parse_url(
            "dynamodb://gcbridge-sessions?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000",
        )
        .unwrap();
        assert_eq!(options.table, "gcbridge-sessions");
        assert_eq!(options.region.as_deref(), Some("eu-west-1"));
        assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(options.credentials, AwsCredentials::DefaultChain);

        let plain = parse_url("dynamodb://t.1_x-y?endpoint=http://127.0.0.1:1").unwrap();
        assert_eq!(plain.region, None);
        assert_eq!(plain.endpoint.as_deref(), Some("http://127.0.0.1:1"));
    }

    #[test]
    fn rejects_bad_urls_with_the_syntax() {
        for url in [
            "dynamodb://",
            "dynamodb://ab",
            "dynamodb://bad/name",
            "dynamodb://table?region=",
            "dynamodb://table?access_key=AKIA&secret=hunter2",
            "dynamodb://table?endpoint=localhost:8000",
        ] {
            match parse_url(url) {
                Err(StoreError::Invalid(msg)) => {
                    assert!(msg.contains("dynamodb://TABLE?region="), "{url}: {msg}");
                    assert!(!msg.contains("hunter2"), "{url}: {msg}");
                }
                other => panic!("{url}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn static_credentials_are_not_printed() {
        let credentials = AwsCredentials::Static {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "hunter2".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
