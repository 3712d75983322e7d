//! The session store of gcbridge: one small trait, its backends, and the suite every backend
//! must pass.
//!
//! gcbridge keeps one session record per Genesys bot session. This crate stores such records
//! as **opaque bytes under a string key**, with a revision for compare-and-set and an absolute
//! expiry. It does not know the session record type: that lives in `gcbridge-core` and is
//! serialised by the app. This crate must not depend on any other gcbridge crate.
//!
//! The trait, [`SessionStore`], holds only what every backend can do atomically in one
//! request — load, compare-and-set save with expiry, delete — so Redis, DynamoDB and Azure
//! Tables backends sit behind cargo features without callers knowing which one they have.
//!
//! Modules:
//! - [`SessionStore`], [`Stored`], [`Revision`], [`StoreError`] and the limits
//!   [`MAX_KEY_BYTES`] / [`MAX_VALUE_BYTES`]: the contract.
//! - [`MemoryStore`]: a process-local map, for tests and `memory:`.
//! - [`EmbeddedStore`]: the default backend, one durable [redb](https://www.redb.org) file,
//!   with group commit so concurrent saves share one disk sync.
//! - `RedisStore` (feature `redis`): `redis://` and `rediss://`, one hash per record, a Lua
//!   script for compare-and-set, key expiry with `PEXPIREAT`.
//! - `DynamoDbStore` (feature `dynamodb`): `dynamodb://TABLE?region=R`, the official AWS SDK,
//!   condition expressions for compare-and-set, the native TTL attribute.
//! - `AzureTableStore` (feature `azure`): `azuretables://ACCOUNT/TABLE`, a small REST client
//!   with Shared Key or SAS authentication, ETag `If-Match` for compare-and-set.
//! - [`open`] / [`redact_url`]: choosing a backend from a store URL such as `embedded:PATH`.
//! - [`conformance`]: the checks every backend must pass, usable from any crate's tests.
//!
//! Invariants: no stored value ever appears in an error message or a `Debug` output; a save
//! acknowledged by [`EmbeddedStore`] has been durably committed; a record past its expiry is
//! never returned.

mod api;
#[cfg(feature = "azure")]
mod azure_tables;
pub mod conformance;
#[cfg(feature = "dynamodb")]
mod dynamodb_backend;
mod embedded;
mod memory;
#[cfg(feature = "redis")]
mod redis_backend;
mod url;

pub use api::{
    Initialised, MAX_KEY_BYTES, MAX_VALUE_BYTES, NEVER_EXPIRES, Revision, SessionStore, StoreError,
    Stored,
};
#[cfg(feature = "azure")]
pub use azure_tables::{AzureCredential, AzureTableStore};
#[cfg(feature = "dynamodb")]
pub use dynamodb_backend::{AwsCredentials, DynamoDbOptions, DynamoDbStore};
pub use embedded::EmbeddedStore;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_backend::RedisStore;
pub use url::{open, redact_url};
