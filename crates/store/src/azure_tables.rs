//! [`AzureTableStore`]: the backend behind `azuretables://ACCOUNT/TABLE[?endpoint=URL]` URLs
//! (feature `azure`), on Azure Table Storage (or the Azurite emulator).
//!
//! There is no maintained Rust crate for Azure Tables (the old `azure_data_tables` is
//! abandoned and the official SDK has no Tables crate), so this is a small REST client over
//! `reqwest`, signing requests with Shared Key or appending a SAS token.
//!
//! # Entities
//!
//! One entity per record. Its **PartitionKey** is the store key with the characters Azure
//! forbids in keys (`/ \ # ?`, control characters U+0000–U+001F and U+007F–U+009F) plus `%`
//! and `'` written as `%XX` per UTF-8 byte; everything else, including other non-ASCII text,
//! is kept, so keys stay readable in Storage Explorer. The **RowKey** is empty. Because every
//! record is its own partition, load is spread over all partitions (no hot partition). An
//! escaped key longer than 1 KiB (Azure's key limit; only keys full of escaped characters get
//! there) continues in the RowKey, so every key up to
//! [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES) fits.
//!
//! Properties: `rev` (Int64) the revision; `exp` (Int64) the expiry in milliseconds, capped at
//! `i64::MAX`, with `exp_exact` (String) holding the exact value when it was capped; `chunks`
//! (Int32) and `v0`…`v5` (Binary): the value in 64 KiB pieces, Azure's limit per property.
//!
//! # Compare-and-set
//!
//! Azure's own concurrency check is the entity's ETag. An update replaces the entity with
//! `If-Match: <ETag>`, where the ETag is one this store saw together with the expected revision
//! (if anyone wrote in between, Azure answers 412 and the save is a conflict). Each store
//! remembers the revision, expiry and ETag it last read or wrote per key ([`ETAG_CACHE_KEYS`]
//! keys at most), so the usual load-then-save of a turn costs two requests; without a
//! remembered ETag an update reads the entity first and checks its revision. Any entity the
//! ETag matches holds exactly the remembered revision, because every write changes both. A
//! create inserts (409 if an entity exists); over an expired entity it replaces that entity
//! with `If-Match`. New revisions are `max(previous + 1, now in µs)`.
//!
//! # Expiry and cleanup
//!
//! Azure Tables has no TTL. Every read ignores entities past `exp`, and expired entities are
//! deleted by [`AzureTableStore::purge_expired`], which this store runs in the background
//! after every [`PURGE_EVERY_SAVES`] saves (a bounded query for `exp lt now`, each hit deleted
//! with `If-Match` so a record refreshed meanwhile survives). An operator can also delete
//! expired entities in bulk, e.g. with Storage Explorer's query `exp lt <now in ms>L`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode, header};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::api::{
    Initialised, MAX_VALUE_BYTES, Revision, SessionStore, StoreError, Stored, check_key,
    check_value, is_live, next_revision, now_unix_ms, now_unix_us,
};
use crate::url::{query_pairs, redact_url};

/// The REST API version this client speaks.
const API_VERSION: &str = "2019-02-02";
/// Largest Binary property Azure accepts.
const CHUNK_BYTES: usize = 64 * 1024;
/// Longest PartitionKey this store writes before continuing in the RowKey (Azure: 1 KiB).
const MAX_PARTITION_KEY_BYTES: usize = 1024;
/// How long one request may take, connection included: well inside a Genesys turn.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Saves between two background purges of expired entities.
const PURGE_EVERY_SAVES: u64 = 500;
/// Most entities one background purge deletes, so it stays cheap.
const PURGE_BATCH: usize = 200;
/// Most keys whose last seen ETag a store remembers; past that it forgets them all at once
/// (saves then read first again), which bounds memory without bookkeeping.
const ETAG_CACHE_KEYS: usize = 10_000;

/// Characters kept as they are in a URL path segment; everything else is percent-encoded.
/// `(`, `)`, `'`, `,` and `=` are the entity path's own syntax and are kept.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'(')
    .remove(b')')
    .remove(b'\'')
    .remove(b',')
    .remove(b'=')
    .remove(b':');
/// For query string values.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How requests are authorised.
#[derive(Clone, PartialEq, Eq)]
pub enum AzureCredential {
    /// The storage account's key (base64, as the portal shows it): requests are signed with
    /// Shared Key. The key grants access to the whole account.
    SharedKey {
        /// The account key, decoded.
        key: Vec<u8>,
    },
    /// A shared access signature (the query string, with or without a leading `?`). Prefer a
    /// table SAS limited to this table with the permissions `raud`.
    Sas(String),
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedKey { .. } => f.write_str("SharedKey(***)"),
            Self::Sas(_) => f.write_str("Sas(***)"),
        }
    }
}

impl AzureCredential {
    /// Decodes an account key as the portal shows it (base64).
    pub fn shared_key(base64_key: &str) -> Result<Self, StoreError> {
        BASE64
            .decode(base64_key.trim())
            .map(|key| Self::SharedKey { key })
            .map_err(|_| {
                StoreError::Invalid(
                    "the Azure storage account key is not valid base64 (copy it from the \
                     storage account's Access keys page)"
                        .to_owned(),
                )
            })
    }
}

/// A parsed `azuretables://ACCOUNT/TABLE[?endpoint=URL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AzureTablesUrl {
    account: String,
    table: String,
    endpoint: Option<String>,
}

/// Parses `azuretables://ACCOUNT/TABLE[?endpoint=URL]`.
pub(crate) fn parse_url(url: &str) -> Result<AzureTablesUrl, StoreError> {
    let shown = redact_url(url);
    let syntax = "expected azuretables://ACCOUNT/TABLE[?endpoint=URL], e.g. \
                  azuretables://contosostorage/gcbridgesessions";
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| StoreError::Invalid(format!("`{shown}`: {syntax}")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some((account, table)) = path.trim_end_matches('/').split_once('/') else {
        return Err(StoreError::Invalid(format!("`{shown}`: {syntax}")));
    };
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StoreError::Invalid(format!(
            "`{shown}`: `{account}` is not a storage account name; {syntax}"
        )));
    }
    check_table_name(table).map_err(|why| StoreError::Invalid(format!("`{shown}`: {why}")))?;
    let mut endpoint = None;
    for (name, value) in query_pairs(query)? {
        match name.as_str() {
            "endpoint" if value.starts_with("http://") || value.starts_with("https://") => {
                endpoint = Some(value.trim_end_matches('/').to_owned());
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "`{shown}`: unexpected parameter `{name}`; {syntax} (credentials come from \
                     AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or \
                     AZURE_STORAGE_CONNECTION_STRING, never from the URL)"
                )));
            }
        }
    }
    Ok(AzureTablesUrl {
        account: account.to_owned(),
        table: table.to_owned(),
        endpoint,
    })
}

/// Azure's table name rule: 3 to 63 letters and digits, starting with a letter.
fn check_table_name(table: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&table.len())
        && table.bytes().all(|b| b.is_ascii_alphanumeric())
        && table.as_bytes()[0].is_ascii_alphabetic();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{table}` is not an Azure table name (3 to 63 letters and digits, starting with a \
             letter)"
        ))
    }
}

/// Credentials and endpoint from the standard variables, for an account named in the URL.
///
/// In order: `AZURE_STORAGE_CONNECTION_STRING` (its `AccountKey` or `SharedAccessSignature`,
/// and its `TableEndpoint` unless the URL has one), then `AZURE_STORAGE_KEY`, then
/// `AZURE_STORAGE_SAS_TOKEN`. `AZURE_STORAGE_ACCOUNT`, if set, must name the URL's account.
fn credential_from_env(account: &str) -> Result<(AzureCredential, Option<String>), StoreError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(other) = var("AZURE_STORAGE_ACCOUNT").filter(|a| a != account) {
        return Err(StoreError::Invalid(format!(
            "AZURE_STORAGE_ACCOUNT is `{other}` but the store URL names the account \
             `{account}`: make them agree"
        )));
    }
    if let Some(connection_string) = var("AZURE_STORAGE_CONNECTION_STRING") {
        return from_connection_string(&connection_string, account);
    }
    if let Some(key) = var("AZURE_STORAGE_KEY") {
        return Ok((AzureCredential::shared_key(&key)?, None));
    }
    if let Some(sas) = var("AZURE_STORAGE_SAS_TOKEN") {
        return Ok((AzureCredential::Sas(sas), None));
    }
    Err(StoreError::Invalid(format!(
        "no credentials for the Azure storage account `{account}`: set AZURE_STORAGE_KEY (the \
         account key), AZURE_STORAGE_SAS_TOKEN (a SAS for the table) or \
         AZURE_STORAGE_CONNECTION_STRING"
    )))
}

/// Reads `Key=Value;...` as the portal shows it.
fn from_connection_string(
    text: &str,
    account: &str,
) -> Result<(AzureCredential, Option<String>), StoreError> {
    let mut fields = std::collections::HashMap::new();
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        let (name, value) = part.split_once('=').ok_or_else(|| {
            StoreError::Invalid(
                "AZURE_STORAGE_CONNECTION_STRING is not `Name=Value;...`".to_owned(),
            )
        })?;
        fields.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    if let Some(named) = fields.get("accountname").filter(|a| *a != account) {
        return Err(StoreError::Invalid(format!(
            "AZURE_STORAGE_CONNECTION_STRING is for the account `{named}` but the store URL \
             names `{account}`"
        )));
    }
    let endpoint = fields
        .get("tableendpoint")
        .map(|e| e.trim_end_matches('/').to_owned());
    if let Some(key) = fields.get("accountkey") {
        return Ok((AzureCredential::shared_key(key)?, endpoint));
    }
    if let Some(sas) = fields.get("sharedaccesssignature") {
        return Ok((AzureCredential::Sas(sas.clone()), endpoint));
    }
    Err(StoreError::Invalid(
        "AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature"
            .to_owned(),
    ))
}

/// A session store in one Azure Storage table.
///
/// Open it with [`AzureTableStore::new`] or [`crate::open`]. See the module documentation of
/// this backend for the entity layout, compare-and-set and expiry.
pub struct AzureTableStore {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    account: String,
    table: String,
    /// Scheme, host and any path prefix (Azurite's `/devstoreaccount1`), without a trailing `/`.
    endpoint: String,
    /// The endpoint's path prefix, already encoded: part of the string that Shared Key signs.
    endpoint_path: String,
    credential: AzureCredential,
    saves: AtomicU64,
    /// Key → the revision, expiry and ETag this store last saw for it; see the module docs.
    seen: Mutex<HashMap<String, Seen>>,
}

/// One remembered entity version.
#[derive(Clone)]
struct Seen {
    revision: u64,
    expires_at_ms: u64,
    etag: String,
}

/// One entity as read back, before expiry is considered.
struct Entity {
    etag: String,
    revision: u64,
    expires_at_ms: u64,
    value: Vec<u8>,
}

impl AzureTableStore {
    /// A store for `table` in `account`, at `endpoint` (default
    /// `https://ACCOUNT.table.core.windows.net`; for Azurite
    /// `http://127.0.0.1:10002/devstoreaccount1`). Contacts nothing.
    pub fn new(
        account: &str,
        table: &str,
        endpoint: Option<&str>,
        credential: AzureCredential,
    ) -> Result<Self, StoreError> {
        check_table_name(table).map_err(StoreError::Invalid)?;
        let endpoint = endpoint.map_or_else(
            || format!("https://{account}.table.core.windows.net"),
            |e| e.trim_end_matches('/').to_owned(),
        );
        let endpoint_path = endpoint
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| StoreError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                account: account.to_owned(),
                table: table.to_owned(),
                endpoint,
                endpoint_path,
                credential,
                saves: AtomicU64::new(0),
                seen: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Opens the store a parsed URL names, with credentials from the environment.
    pub(crate) fn open_url(url: AzureTablesUrl) -> Result<Self, StoreError> {
        let (credential, env_endpoint) = credential_from_env(&url.account)?;
        let endpoint = url.endpoint.or(env_endpoint);
        Self::new(&url.account, &url.table, endpoint.as_deref(), credential)
    }

    /// Deletes up to `max` entities whose expiry has passed, and returns how many it deleted.
    ///
    /// Each is deleted with `If-Match` on the ETag it was found with, so a record saved again
    /// in between is kept. The query filters on a property that is not a key, so Azure reads
    /// through the table: run it in bounded batches (the store does, in the background).
    pub async fn purge_expired(&self, max: usize) -> Result<usize, StoreError> {
        self.inner.purge_expired(max).await
    }
}

impl Inner {
    /// Sends one request, signed, and returns the response whatever its status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, StoreError> {
        let date = httpdate::fmt_http_date(SystemTime::now());
        let mut url = format!("{}{path}", self.endpoint);
        let mut params: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect();
        if let AzureCredential::Sas(sas) = &self.credential {
            params.push(sas.trim_start_matches('?').to_owned());
        }
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        let content_type = if body.is_some() {
            "application/json"
        } else {
            ""
        };
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("DataServiceVersion", "3.0;NetFx")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            // Minimal metadata: entities carry `odata.etag` (needed by the purge) and typed
            // properties carry `@odata.type`; nothing else is added.
            .header(header::ACCEPT, "application/json;odata=minimalmetadata");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let AzureCredential::SharedKey { key } = &self.credential {
            // Shared Key for the Table service: VERB, Content-MD5 (unused), Content-Type, Date
            // and the canonicalised resource, which is the account followed by the *whole*
            // encoded URL path: with Azurite's path-style URLs the account appears twice.
            let resource = format!("/{}{}{path}", self.account, self.endpoint_path);
            let to_sign = format!("{method}\n\n{content_type}\n{date}\n{resource}");
            let mut mac = Hmac::<Sha256>::new_from_slice(key)
                .map_err(|_| StoreError::Invalid("unusable account key".to_owned()))?;
            mac.update(to_sign.as_bytes());
            let signature = BASE64.encode(mac.finalize().into_bytes());
            request = request.header(
                header::AUTHORIZATION,
                format!("SharedKey {}:{signature}", self.account),
            );
        }
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, content_type)
                .body(body);
        }
        request.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect (server down or unreachable)"
            } else {
                "the request failed"
            };
            StoreError::Unavailable(format!(
                "Azure Table Storage at {} ({}): {why}",
                redact_url(&self.endpoint),
                self.table
            ))
        })
    }

    /// Turns an unexpected answer into an error naming the operation, the status and Azure's
    /// error code (which never contains request data).
    async fn unexpected(&self, operation: &str, response: reqwest::Response) -> StoreError {
        let status = response.status();
        let code = error_code(response).await;
        if code == "TableNotFound" {
            return self.missing_table();
        }
        let message = format!(
            "Azure Table Storage {operation} on table `{}` failed: HTTP {status} {code}",
            self.table
        );
        match status {
            StatusCode::BAD_REQUEST => StoreError::Invalid(message),
            _ => StoreError::Unavailable(message),
        }
    }

    fn missing_table(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the Azure table `{}` does not exist in the storage account `{}`: create it with \
             `gcbridge store init` (or in the portal)",
            self.table, self.account
        ))
    }

    /// The path of one entity.
    fn entity_path(&self, key: &str) -> String {
        let (partition, row) = entity_keys(key);
        format!(
            "/{}(PartitionKey='{}',RowKey='{}')",
            self.table,
            utf8_percent_encode(&partition, PATH_SEGMENT),
            utf8_percent_encode(&row, PATH_SEGMENT)
        )
    }

    async fn get(&self, key: &str) -> Result<Option<Entity>, StoreError> {
        let response = self
            .send(Method::GET, &self.entity_path(key), &[], &[], None)
            .await?;
        match response.status() {
            StatusCode::OK => {
                let etag = etag(&response)?;
                let body: Map<String, Value> = response.json().await.map_err(|_| {
                    StoreError::Unavailable(
                        "Azure Table Storage sent an unreadable entity".to_owned(),
                    )
                })?;
                decode_entity(etag, &body).map(Some)
            }
            StatusCode::NOT_FOUND => {
                let code = error_code(response).await;
                if code == "TableNotFound" {
                    Err(self.missing_table())
                } else {
                    Ok(None)
                }
            }
            _ => Err(self.unexpected("load", response).await),
        }
    }

    /// Inserts a new entity and returns its ETag; `Ok(None)` if one exists.
    async fn insert(&self, body: Vec<u8>) -> Result<Option<String>, StoreError> {
        let path = format!("/{}", self.table);
        let response = self
            .send(
                Method::POST,
                &path,
                &[],
                &[("Prefer", "return-no-content")],
                Some(body),
            )
            .await?;
        match response.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT => etag(&response).map(Some),
            StatusCode::CONFLICT => Ok(None),
            StatusCode::NOT_FOUND => Err(self.missing_table()),
            _ => Err(self.unexpected("save", response).await),
        }
    }

    /// Replaces the entity if its ETag is still `expected_etag` and returns the new ETag;
    /// `Ok(None)` if not (or it is gone).
    async fn replace(
        &self,
        key: &str,
        expected_etag: &str,
        body: Vec<u8>,
    ) -> Result<Option<String>, StoreError> {
        let response = self
            .send(
                Method::PUT,
                &self.entity_path(key),
                &[],
                &[("If-Match", expected_etag)],
                Some(body),
            )
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => etag(&response).map(Some),
            StatusCode::PRECONDITION_FAILED => Ok(None),
            StatusCode::NOT_FOUND => {
                if error_code(response).await == "TableNotFound" {
                    Err(self.missing_table())
                } else {
                    Ok(None)
                }
            }
            _ => Err(self.unexpected("save", response).await),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        // The map is only a hint (a wrong entry costs a conflict, never a lost update), so a
        // panic elsewhere while it was locked leaves nothing to repair.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, key: &str, seen: Option<Seen>) {
        let mut map = self.seen();
        match seen {
            Some(seen) => {
                if map.len() >= ETAG_CACHE_KEYS && !map.contains_key(key) {
                    map.clear();
                }
                map.insert(key.to_owned(), seen);
            }
            None => {
                map.remove(key);
            }
        }
    }

    /// Replaces the entity seen as `current` with a new version, remembering it.
    async fn write_over(
        &self,
        key: &str,
        current: &Seen,
        value: &[u8],
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError> {
        let revision = next_revision(Some(current.revision), now_unix_us());
        let body = encode_entity(key, value, revision, expires_at_ms);
        match self.replace(key, &current.etag, body).await? {
            Some(etag) => {
                self.remember(
                    key,
                    Some(Seen {
                        revision,
                        expires_at_ms,
                        etag,
                    }),
                );
                Ok(Revision::new(revision))
            }
            None => {
                self.remember(key, None);
                Err(StoreError::Conflict)
            }
        }
    }

    /// Deletes the entity if its ETag matches (`*` for any); a missing entity is fine.
    async fn delete_entity(&self, path: &str, etag: &str) -> Result<bool, StoreError> {
        let response = self
            .send(Method::DELETE, path, &[], &[("If-Match", etag)], None)
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            StatusCode::PRECONDITION_FAILED => Ok(false),
            StatusCode::NOT_FOUND => {
                if error_code(response).await == "TableNotFound" {
                    Err(self.missing_table())
                } else {
                    Ok(false)
                }
            }
            _ => Err(self.unexpected("delete", response).await),
        }
    }

    async fn purge_expired(&self, max: usize) -> Result<usize, StoreError> {
        let filter = format!("exp lt {}L", now_unix_ms());
        let path = format!("/{}()", self.table);
        let mut deleted = 0;
        let mut continuation: Option<(String, String)> = None;
        // Bounded: a few pages per call, however large the table.
        for _ in 0..5 {
            let mut query = vec![
                ("$filter", filter.as_str()),
                ("$select", "PartitionKey,RowKey"),
                ("$top", "100"),
            ];
            if let Some((partition, row)) = &continuation {
                query.push(("NextPartitionKey", partition));
                query.push(("NextRowKey", row));
            }
            let response = self.send(Method::GET, &path, &query, &[], None).await?;
            if response.status() != StatusCode::OK {
                return Err(self.unexpected("cleanup query", response).await);
            }
            let next = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            continuation = next("x-ms-continuation-NextPartitionKey")
                .map(|p| (p, next("x-ms-continuation-NextRowKey").unwrap_or_default()));
            let page: Value = response.json().await.map_err(|_| {
                StoreError::Unavailable("Azure Table Storage sent an unreadable page".to_owned())
            })?;
            for entity in page["value"].as_array().into_iter().flatten() {
                let (Some(partition), Some(row), Some(etag)) = (
                    entity["PartitionKey"].as_str(),
                    entity["RowKey"].as_str(),
                    entity["odata.etag"].as_str(),
                ) else {
                    continue;
                };
                let path = format!(
                    "/{}(PartitionKey='{}',RowKey='{}')",
                    self.table,
                    utf8_percent_encode(partition, PATH_SEGMENT),
                    utf8_percent_encode(row, PATH_SEGMENT)
                );
                if self.delete_entity(&path, etag).await? {
                    deleted += 1;
                    if deleted >= max {
                        return Ok(deleted);
                    }
                }
            }
            if continuation.is_none() {
                break;
            }
        }
        Ok(deleted)
    }
}

/// The store key as PartitionKey and RowKey; see the module documentation.
fn entity_keys(key: &str) -> (String, String) {
    let mut escaped = String::with_capacity(key.len());
    let mut cut = None;
    for c in key.chars() {
        let forbidden = matches!(c, '/' | '\\' | '#' | '?' | '%' | '\'')
            || ('\u{0}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c);
        let before = escaped.len();
        if forbidden {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                escaped.push_str(&format!("%{b:02X}"));
            }
        } else {
            escaped.push(c);
        }
        if cut.is_none() && escaped.len() > MAX_PARTITION_KEY_BYTES {
            cut = Some(before);
        }
    }
    match cut {
        None => (escaped, String::new()),
        Some(at) => {
            let row = escaped.split_off(at);
            (escaped, row)
        }
    }
}

/// The JSON body of an entity.
fn encode_entity(key: &str, value: &[u8], revision: u64, expires_at_ms: u64) -> Vec<u8> {
    let (partition, row) = entity_keys(key);
    let capped = i64::try_from(expires_at_ms).unwrap_or(i64::MAX);
    let mut entity = json!({
        "PartitionKey": partition,
        "RowKey": row,
        "rev": revision.to_string(),
        "rev@odata.type": "Edm.Int64",
        "exp": capped.to_string(),
        "exp@odata.type": "Edm.Int64",
        "chunks": value.len().div_ceil(CHUNK_BYTES),
    });
    let map = entity.as_object_mut().expect("an object");
    if u64::try_from(capped).ok() != Some(expires_at_ms) {
        map.insert("exp_exact".to_owned(), json!(expires_at_ms.to_string()));
    }
    for (i, chunk) in value.chunks(CHUNK_BYTES).enumerate() {
        map.insert(format!("v{i}"), json!(BASE64.encode(chunk)));
        map.insert(format!("v{i}@odata.type"), json!("Edm.Binary"));
    }
    serde_json::to_vec(&entity).expect("JSON of strings and numbers")
}

fn decode_entity(etag: String, body: &Map<String, Value>) -> Result<Entity, StoreError> {
    let number = |name: &str| -> Result<u64, StoreError> {
        match body.get(name) {
            Some(Value::String(s)) => s.parse().map_err(|_| corrupt(name)),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| corrupt(name)),
            _ => Err(corrupt(name)),
        }
    };
    let revision = number("rev")?;
    let expires_at_ms = match body.get("exp_exact") {
        Some(_) => number("exp_exact")?,
        None => number("exp")?,
    };
    let chunks = usize::try_from(number("chunks")?).map_err(|_| corrupt("chunks"))?;
    if chunks > MAX_VALUE_BYTES.div_ceil(CHUNK_BYTES) {
        return Err(corrupt("chunks"));
    }
    let mut value = Vec::new();
    for i in 0..chunks {
        let name = format!("v{i}");
        let Some(Value::String(text)) = body.get(&name) else {
            return Err(corrupt(&name));
        };
        value.extend(BASE64.decode(text).map_err(|_| corrupt(&name))?);
    }
    Ok(Entity {
        etag,
        revision,
        expires_at_ms,
        value,
    })
}

fn corrupt(property: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "an Azure table entity lacks a valid `{property}` property: it was not written by \
         gcbridge"
    ))
}

fn etag(response: &reqwest::Response) -> Result<String, StoreError> {
    response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            StoreError::Unavailable("Azure Table Storage sent an entity without an ETag".to_owned())
        })
}

/// Azure's error code, from the `x-ms-error-code` header or the JSON body.
async fn error_code(response: reqwest::Response) -> String {
    if let Some(code) = response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
    {
        return code.to_owned();
    }
    let body: Value = response.json().await.unwrap_or_default();
    body["odata.error"]["code"]
        .as_str()
        .unwrap_or("(no error code)")
        .to_owned()
}

impl fmt::Debug for AzureTableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureTableStore")
            .field("account", &self.inner.account)
            .field("table", &self.inner.table)
            .field("endpoint", &self.inner.endpoint)
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for AzureTableStore {
    fn name(&self) -> &'static str {
        "azuretables"
    }

    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        check_key(key)?;
        let entity = self
            .inner
            .get(key)
            .await?
            .filter(|e| is_live(e.expires_at_ms, now_unix_ms()));
        self.inner.remember(
            key,
            entity.as_ref().map(|e| Seen {
                revision: e.revision,
                expires_at_ms: e.expires_at_ms,
                etag: e.etag.clone(),
            }),
        );
        Ok(entity.map(|e| Stored {
            value: e.value,
            revision: Revision::new(e.revision),
            expires_at_ms: e.expires_at_ms,
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
        let inner = &self.inner;
        if inner.saves.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY_SAVES == PURGE_EVERY_SAVES - 1
        {
            let purger = Arc::clone(inner);
            // Best effort: a failed purge is retried after the next batch of saves.
            tokio::spawn(async move { purger.purge_expired(PURGE_BATCH).await });
        }

        if let Some(expected) = expected {
            // The usual case: this store read or wrote the expected revision and remembers its
            // ETag, so one conditional replace decides. Otherwise read the entity first.
            let remembered = inner.seen().get(key).cloned();
            let current = match remembered.filter(|seen| seen.revision == expected.get()) {
                Some(seen) => seen,
                None => match inner.get(key).await? {
                    Some(entity) => Seen {
                        revision: entity.revision,
                        expires_at_ms: entity.expires_at_ms,
                        etag: entity.etag,
                    },
                    None => return Err(StoreError::Conflict),
                },
            };
            if current.revision != expected.get() || !is_live(current.expires_at_ms, now_unix_ms())
            {
                return Err(StoreError::Conflict);
            }
            return inner.write_over(key, &current, &value, expires_at_ms).await;
        }

        // A create inserts; an entity in the way must have expired, and is replaced by its
        // ETag. A lost race is a conflict, except when the entity in the way vanished (deleted
        // or purged) between the two requests: then the insert is tried again.
        for _ in 0..3 {
            let revision = next_revision(None, now_unix_us());
            let body = encode_entity(key, &value, revision, expires_at_ms);
            if let Some(etag) = inner.insert(body).await? {
                inner.remember(
                    key,
                    Some(Seen {
                        revision,
                        expires_at_ms,
                        etag,
                    }),
                );
                return Ok(Revision::new(revision));
            }
            let Some(entity) = inner.get(key).await? else {
                continue;
            };
            if is_live(entity.expires_at_ms, now_unix_ms()) {
                return Err(StoreError::Conflict);
            }
            let current = Seen {
                revision: entity.revision,
                expires_at_ms: entity.expires_at_ms,
                etag: entity.etag,
            };
            return inner.write_over(key, &current, &value, expires_at_ms).await;
        }
        Err(StoreError::Conflict)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.inner.remember(key, None);
        let path = self.inner.entity_path(key);
        self.inner.delete_entity(&path, "*").await.map(drop)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A point read of an entity that cannot exist (store keys are never empty, so no
        // PartitionKey is): one cheap transaction that tells a missing table (TableNotFound)
        // from a present one (ResourceNotFound), and needs only the read permission a table
        // SAS has; listing the Tables would need an account-level permission.
        let path = format!("/{}(PartitionKey='',RowKey='')", self.inner.table);
        let response = self.inner.send(Method::GET, &path, &[], &[], None).await?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => match error_code(response).await.as_str() {
                "TableNotFound" => Err(self.inner.missing_table()),
                _ => Ok(()),
            },
            _ => Err(self.inner.unexpected("check", response).await),
        }
    }

    async fn init(&self) -> Result<Initialised, StoreError> {
        let body = serde_json::to_vec(&json!({ "TableName": self.inner.table }))
            .expect("JSON of a string");
        let response = self
            .inner
            .send(
                Method::POST,
                "/Tables",
                &[],
                &[("Prefer", "return-no-content")],
                Some(body),
            )
            .await?;
        let what = format!(
            "Azure table `{}` in the storage account `{}`",
            self.inner.table, self.inner.account
        );
        match response.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT => Ok(Initialised::Created(what)),
            StatusCode::CONFLICT => Ok(Initialised::AlreadyPresent(what)),
            _ => Err(self.inner.unexpected("create table", response).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_account_table_and_endpoint() {
        let url = parse_url(
            "azuretables://devstoreaccount1/sessions?endpoint=http://127.0.0.1:10002/devstoreaccount1/",
        )
        .unwrap();
        assert_eq!(url.account, "devstoreaccount1");
        assert_eq!(url.table, "sessions");
        assert_eq!(
            url.endpoint.as_deref(),
            Some("http://127.0.0.1:10002/devstoreaccount1")
        );
        assert_eq!(
            parse_url("azuretables://acct/Table1").unwrap().endpoint,
            None
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for url in [
            "azuretables://acct",
            "azuretables://acct/",
            "azuretables://acct/1table",
            "azuretables://acct/ta",
            "azuretables://ac-ct/table",
            "azuretables://acct/table?sig=hunter2",
        ] {
            match parse_url(url) {
                Err(StoreError::Invalid(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
                other => panic!("{url}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn entity_keys_escape_only_what_azure_forbids() {
        assert_eq!(
            entity_keys("session:abc-123"),
            ("session:abc-123".into(), String::new())
        );
        assert_eq!(
            entity_keys("a/b\\c#d?e%f'g\u{0}\u{7f}\u{85}é日"),
            (
                "a%2Fb%5Cc%23d%3Fe%25f%27g%00%7F%C2%85é日".into(),
                String::new()
            )
        );
        // Injective: a literal escape sequence differs from the character it stands for.
        assert_ne!(entity_keys("%2F"), entity_keys("/"));
    }

    #[test]
    fn long_escaped_keys_continue_in_the_row_key() {
        let key = "\u{1}".repeat(crate::MAX_KEY_BYTES);
        let (partition, row) = entity_keys(&key);
        assert!(
            partition.len() <= MAX_PARTITION_KEY_BYTES,
            "{}",
            partition.len()
        );
        assert!(row.len() <= MAX_PARTITION_KEY_BYTES);
        assert_eq!(partition.len() + row.len(), 3 * crate::MAX_KEY_BYTES);
        assert!(row.starts_with('%'), "an escape is never split");
    }

    #[test]
    fn entities_round_trip_including_capped_expiry_and_chunks() {
        let value: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        for expires in [0, 1_700_000_000_000, u64::MAX] {
            let body = encode_entity("k", &value, 42, expires);
            let map: Map<String, Value> = serde_json::from_slice(&body).unwrap();
            let entity = decode_entity("W/\"x\"".to_owned(), &map).unwrap();
            assert_eq!(entity.revision, 42);
            assert_eq!(entity.expires_at_ms, expires);
            assert!(entity.value == value);
        }
        let empty = encode_entity("k", b"", 1, 5);
        let map: Map<String, Value> = serde_json::from_slice(&empty).unwrap();
        assert!(decode_entity(String::new(), &map).unwrap().value.is_empty());
    }

    #[test]
    fn credentials_come_from_a_connection_string() {
        let (credential, endpoint) = from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=aGVsbG8=;\
             TableEndpoint=http://127.0.0.1:10002/devstoreaccount1/;",
            "devstoreaccount1",
        )
        .unwrap();
        assert_eq!(
            credential,
            AzureCredential::SharedKey {
                key: b"hello".to_vec()
            }
        );
        assert_eq!(
            endpoint.as_deref(),
            Some("http://127.0.0.1:10002/devstoreaccount1")
        );
        assert_eq!(format!("{credential:?}"), "SharedKey(***)");

        let (sas, _) =
            from_connection_string("SharedAccessSignature=sv=1&sig=abc", "acct").unwrap();
        assert_eq!(sas, AzureCredential::Sas("sv=1&sig=abc".to_owned()));

        assert!(from_connection_string("AccountName=other;AccountKey=aGVsbG8=", "acct").is_err());
    }
}
