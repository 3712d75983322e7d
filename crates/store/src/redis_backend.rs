//! [`RedisStore`]: the backend behind `redis://` and `rediss://` URLs (feature `redis`).
//!
//! # Layout
//!
//! One Redis hash per record, under the key `gcbridge:{KEY}` where `KEY` is the store key with
//! `%`, `{` and `}` percent-encoded (everything else, including non-ASCII and control bytes, is
//! kept: Redis keys are binary-safe). The braces make the whole store key a Redis Cluster
//! *hash tag*, so any other key a later version keeps per session (a lease, say) lands in the
//! same slot and can be used in the same script; escaping the braces keeps the tag exactly the
//! store key. Fields: `v` the value, `r` the revision, `e` the expiry in milliseconds exactly as
//! given. The key itself expires with the record (`PEXPIREAT`), so Redis frees the memory.
//!
//! # Compare-and-set
//!
//! A save is one Lua script (`EVALSHA`, so the script text crosses the network once per
//! connection): it reads the current revision and expiry, compares them with the expected
//! revision, and writes value, revision, expiry and key expiry, all atomically. Revisions come
//! from the **server's** clock (`TIME`, in microseconds) or the previous revision plus one,
//! whichever is greater, so they keep increasing across deletes and expiries even when the
//! gcbridge instances' clocks disagree.
//!
//! # Connection
//!
//! A [`redis::aio::ConnectionManager`] (one multiplexed connection, reconnected on failure)
//! created lazily, so a server that is down when gcbridge starts only makes requests fail with
//! [`StoreError::Unavailable`] until it is back; no restart is needed. Password, user, database
//! number and TLS (`rediss://`) come from the URL as the `redis` crate parses it.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script};

use crate::api::{
    Revision, SessionStore, StoreError, Stored, check_key, check_value, is_live, now_unix_ms,
};
use crate::url::redact_url;

/// Prefix of every key this store writes, so a shared Redis shows what the keys belong to.
const KEY_PREFIX: &str = "gcbridge:";

/// Expiries later than this (about the year 33658) are kept only in the record, not given to
/// `PEXPIREAT`, which rejects times that overflow its internal arithmetic.
const MAX_SERVER_EXPIRY_MS: u64 = 1_000_000_000_000_000;

/// How long one connection attempt may take. A turn has about ten seconds in all, so a store
/// that cannot be reached must fail well inside that.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take before the call fails as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection attempts per failed connection, kept low for the same reason.
const RECONNECT_ATTEMPTS: usize = 2;

/// The compare-and-set save, run atomically by the server.
///
/// KEYS[1] the record's key. ARGV[1] the expected revision (`""` for a create), ARGV[2] the
/// value, ARGV[3] the expiry to store (decimal milliseconds, as given), ARGV[4] the
/// `PEXPIREAT` argument (`""` for none). Returns the new revision as a decimal string, or nil
/// when the precondition fails.
///
/// Lua numbers are doubles: the revisions it computes (microseconds since 1970) stay below
/// 2^53 until the year 2255 and are formatted with `%.0f`, so they are exact; the expected
/// revision is compared as a string, so any `u64` the caller passes is compared exactly.
const SAVE_SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local cur = redis.call('HMGET', KEYS[1], 'r', 'e')
local prev = tonumber(cur[1])
local live = false
if prev and tonumber(cur[2]) and tonumber(cur[2]) > now_ms then live = cur[1] end
if ARGV[1] == '' then
  if live then return false end
elseif live ~= ARGV[1] then
  return false
end
local rev = now_us
if prev and prev >= rev then rev = prev + 1 end
local revs = string.format('%.0f', rev)
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', revs, 'e', ARGV[3])
if ARGV[4] == '' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
return revs
";

/// A session store on a Redis server: one node or primary endpoint (Redis, Valkey, ElastiCache
/// or Azure Cache for Redis with cluster mode disabled). The key layout is ready for Redis
/// Cluster, but this client does not follow cluster redirections.
///
/// Open it with [`RedisStore::open`] or [`crate::open`]. See the module documentation of this
/// backend for the key layout and how compare-and-set works.
pub struct RedisStore {
    connection: ConnectionManager,
    save_script: Script,
    /// The URL with its password hidden, for error messages.
    shown: String,
}

impl RedisStore {
    /// Prepares a store for a `redis://` or `rediss://` URL
    /// (`redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]`).
    ///
    /// Does not contact the server: a server that is down makes each call fail with
    /// [`StoreError::Unavailable`] until it is reachable. A malformed URL is
    /// [`StoreError::Invalid`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        // The `redis` crate builds its TLS configuration from rustls's process-wide crypto
        // provider, which exists only if exactly one provider is compiled in, or one was
        // installed. Installing aws-lc-rs (the provider reqwest and the AWS SDK use too) makes
        // `rediss://` work in every build; if a provider is already installed, that one stays.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Invalid(format!(
                "`{shown}` is not a usable Redis URL ({:?}); expected \
                 redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://... for TLS",
                e.kind()
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_ATTEMPTS)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot set up the Redis connection to {shown}: {e}"
            ))
        })?;
        Ok(Self {
            connection,
            save_script: Script::new(SAVE_SCRIPT),
            shown,
        })
    }

    fn unavailable(&self, operation: &str, error: &RedisError) -> StoreError {
        // The error's text is the server's or the OS's (e.g. "Connection refused"); it never
        // contains the value or the URL's password.
        let message = format!("Redis {operation} at {} failed: {error}", self.shown);
        if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
        {
            StoreError::Unavailable(message)
        } else if error.code() == Some("WRONGTYPE") {
            StoreError::Corrupt(message)
        } else {
            // Authentication, OOM, READONLY replicas, scripts disabled...: the server is there
            // but cannot serve us; retrying later may work once it is fixed.
            StoreError::Unavailable(message)
        }
    }
}

/// The Redis key of a store key; see the module documentation.
fn redis_key(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(KEY_PREFIX.len() + key.len() + 2);
    out.extend_from_slice(KEY_PREFIX.as_bytes());
    out.push(b'{');
    for &b in key.as_bytes() {
        match b {
            b'%' => out.extend_from_slice(b"%25"),
            b'{' => out.extend_from_slice(b"%7B"),
            b'}' => out.extend_from_slice(b"%7D"),
            _ => out.push(b),
        }
    }
    out.push(b'}');
    out
}

fn parse_u64(field: &str, raw: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a Redis record's `{field}` field is not a number: this key was not written by \
                 gcbridge"
            ))
        })
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        check_key(key)?;
        let mut connection = self.connection.clone();
        let fields: (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(redis_key(key))
            .arg("v")
            .arg("r")
            .arg("e")
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable("load", &e))?;
        let (Some(value), Some(revision), Some(expires)) = fields else {
            return Ok(None);
        };
        let expires_at_ms = parse_u64("e", &expires)?;
        if !is_live(expires_at_ms, now_unix_ms()) {
            return Ok(None);
        }
        Ok(Some(Stored {
            value,
            revision: Revision::new(parse_u64("r", &revision)?),
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
        let expected = expected.map(|r| r.get().to_string()).unwrap_or_default();
        let server_expiry = if expires_at_ms > MAX_SERVER_EXPIRY_MS {
            String::new()
        } else {
            expires_at_ms.to_string()
        };
        let mut connection = self.connection.clone();
        let revision: Option<Vec<u8>> = self
            .save_script
            .key(redis_key(key))
            .arg(expected)
            .arg(value)
            .arg(expires_at_ms.to_string())
            .arg(server_expiry)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable("save", &e))?;
        match revision {
            Some(raw) => Ok(Revision::new(parse_u64("r", &raw)?)),
            None => Err(StoreError::Conflict),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let mut connection = self.connection.clone();
        let _: u64 = connection
            .del(redis_key(key))
            .await
            .map_err(|e| self.unavailable("delete", &e))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable("ping", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_hash_tag_each() {
        assert_eq!(redis_key("session:abc"), b"gcbridge:{session:abc}");
        // Braces and the escape character are escaped, so the tag is the whole store key.
        assert_eq!(redis_key("a{b}c%"), b"gcbridge:{a%7Bb%7Dc%25}");
        // Distinct keys stay distinct: `%7B` written literally is escaped differently from `{`.
        assert_ne!(redis_key("%7B"), redis_key("{"));
        // Everything else is kept byte for byte.
        assert_eq!(redis_key("é\0/"), "gcbridge:{é\0/}".as_bytes());
    }
}
