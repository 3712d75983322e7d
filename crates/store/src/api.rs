//! The store contract: the trait, its value types, its error and its limits.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

/// Longest accepted key, in UTF-8 bytes.
///
/// Genesys bot session ids are UUIDs (36 bytes), so this leaves ample room for a prefix while
/// staying inside every planned backend's key limit (DynamoDB: 2048 bytes; Azure Tables: 1 KiB,
/// which a backend that has to escape characters can still meet).
pub const MAX_KEY_BYTES: usize = 512;

/// Largest accepted value, in bytes (384 KiB).
///
/// Chosen so that every planned backend can hold a record in **one** item and therefore update
/// it atomically: DynamoDB's item limit is 400 KB including the key and attribute names, and
/// Azure Tables allows 1 MiB per entity. A session record is a few KiB, so this is headroom,
/// not a target.
pub const MAX_VALUE_BYTES: usize = 384 * 1024;

/// An `expires_at_ms` that never arrives: the record stays until it is deleted.
pub const NEVER_EXPIRES: u64 = u64::MAX;

/// The revision of one stored write, used for compare-and-set.
///
/// Every successful [`SessionStore::save`] returns a new revision that is greater than any
/// revision the key had before, **including across a delete or an expiry**. A stale revision
/// therefore never matches a record that was deleted and created again (no ABA problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(u64);

impl Revision {
    /// Wraps a raw revision number, as read back from a backend.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw revision number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A live record as returned by [`SessionStore::load`].
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    /// The bytes last saved under the key.
    pub value: Vec<u8>,
    /// The revision of that save; pass it as `expected` to overwrite this record.
    pub revision: Revision,
    /// When the record stops being returned, in milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

// Hand-written so that a stray `{:?}` in a log line cannot print a session record.
impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("value_len", &self.value.len())
            .field("revision", &self.revision)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Why a store operation failed.
///
/// Messages name the operation, the backend and the cause, never a stored value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The compare-and-set precondition did not hold: the record was created, changed, deleted
    /// or expired since the caller read it. Reload and decide again.
    #[error("revision conflict: the record was created, changed or removed concurrently")]
    Conflict,
    /// The backend could not be reached or failed to complete the operation (I/O error, server
    /// down, stopped writer). The operation may or may not have been applied.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The request can never succeed as made: bad store URL, bad key, value too large, or a
    /// backend that this build does not include.
    #[error("invalid session store request: {0}")]
    Invalid(String),
    /// The backend returned data this crate did not write or cannot read.
    #[error("corrupt session store data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether repeating the same call later may succeed.
    ///
    /// Only [`StoreError::Unavailable`] is: a [`StoreError::Conflict`] will fail again with the
    /// same `expected` revision (the caller must reload first), and invalid or corrupt data does
    /// not fix itself.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// A short, fixed label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Invalid(_) => "invalid",
            Self::Corrupt(_) => "corrupt",
        }
    }
}

/// A key → opaque bytes store with revision compare-and-set and expiry.
///
/// Used as `Arc<dyn SessionStore>`. Every method is one atomic operation on one key; there is
/// nothing that spans keys, so every backend can implement it with a single conditional write.
///
/// Keys are non-empty UTF-8 strings of at most [`MAX_KEY_BYTES`] bytes; any characters are
/// allowed and compared byte for byte (a backend whose native keys are restricted must encode
/// them). Values are at most [`MAX_VALUE_BYTES`] bytes. Breaking either limit gives
/// [`StoreError::Invalid`] before the backend is contacted.
///
/// A record whose `expires_at_ms` is not after the current time is treated as absent by every
/// method, whether or not the backend has physically removed it yet.
///
/// A call whose future is dropped before completion may or may not have been applied, as with
/// any networked store.
///
/// `Debug` is required so that holders of an `Arc<dyn SessionStore>` can derive it;
/// implementations must not print keys or values in it.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// A short, fixed backend name for logs and metrics, e.g. `"embedded"`.
    fn name(&self) -> &'static str;

    /// Reads the live record under `key`, or `None` if there is none or it has expired.
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError>;

    /// Writes `value` under `key` if the current revision is `expected`, and returns the new
    /// revision.
    ///
    /// `expected = None` means "create": it succeeds only if there is no live record.
    /// `Some(r)` succeeds only if the live record has revision `r`. Otherwise the store is left
    /// unchanged and [`StoreError::Conflict`] is returned. `expires_at_ms` (milliseconds since
    /// the Unix epoch, or [`NEVER_EXPIRES`]) replaces the record's expiry; a time already in the
    /// past is accepted and makes the record immediately absent.
    async fn save(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError>;

    /// Removes the record under `key`. Removing an absent record succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Checks that the backend can serve requests (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates what the backend needs on its server (a table), if it is missing.
    ///
    /// Idempotent: run again, it reports [`Initialised::AlreadyPresent`]. Backends that need
    /// nothing created (memory, embedded, Redis) keep this default, which does nothing. Used by
    /// `gcbridge store init`; serving never creates tables by itself, so that the permissions it
    /// runs with can stay minimal.
    async fn init(&self) -> Result<Initialised, StoreError> {
        Ok(Initialised::NothingNeeded)
    }
}

/// What [`SessionStore::init`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initialised {
    /// The backend needs nothing created.
    NothingNeeded,
    /// The resources were created; the text says what, for the operator.
    Created(String),
    /// Everything needed was already there; the text says what was checked.
    AlreadyPresent(String),
}

impl fmt::Display for Initialised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NothingNeeded => f.write_str("nothing to create for this backend"),
            Self::Created(what) => write!(f, "created {what}"),
            Self::AlreadyPresent(what) => write!(f, "already present: {what}"),
        }
    }
}

/// Checks a key against the contract. Every backend calls this before doing any work.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid("the key is empty".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "the key is {} bytes long; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a value's size against the contract. Every backend calls this before doing any work.
pub(crate) fn check_value(value: &[u8]) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "the record is {} bytes long; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

/// The current wall-clock time in milliseconds since the Unix epoch, as backends use it to
/// decide expiry. A clock before 1970 reads as 0 rather than failing.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The current wall-clock time in microseconds since the Unix epoch: the time part of the
/// revisions the server backends hand out.
#[cfg(any(feature = "dynamodb", feature = "azure"))]
pub(crate) fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The revision a server backend gives a save: greater than the record's previous revision
/// (if the backend still knows it) and, failing that, the writer's clock in microseconds.
///
/// Revisions must keep increasing across a delete or an expiry, when the previous revision is
/// gone; the clock is what keeps them increasing then. A re-created record could only reuse a
/// revision if a writer's clock were behind the deleted record's writer's clock by more than
/// the time between the delete and the re-creation, and the stale holder of that revision then
/// tried to save: documented per backend, and avoided where the server offers a clock (Redis).
#[cfg(any(feature = "dynamodb", feature = "azure"))]
pub(crate) fn next_revision(previous: Option<u64>, now_us: u64) -> u64 {
    match previous {
        Some(p) if p >= now_us => p.saturating_add(1),
        _ => now_us,
    }
}

/// Whether a record with this expiry is still live at `now_ms`.
pub(crate) fn is_live(expires_at_ms: u64, now_ms: u64) -> bool {
    expires_at_ms > now_ms
}
