//! [`MemoryStore`]: the process-local backend behind `memory:`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::api::{
    Revision, SessionStore, StoreError, Stored, check_key, check_value, is_live, now_unix_ms,
};

/// The map size below which expired records are never swept in bulk.
const MIN_SWEEP_LEN: usize = 1024;

/// A session store held in this process's memory: for tests, the demo and `memory:`.
///
/// Nothing survives the process, and two processes never share records, so it is only suitable
/// for a single instance that may lose its sessions.
///
/// Expired records are dropped lazily: a load or save of an expired key removes it, and
/// whenever the map has doubled in size since the last sweep (and holds at least 1024 records)
/// every expired record is removed. Memory is thus proportional to the number of live records
/// (at most about twice it); there is no cap on live records themselves.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    records: HashMap<String, Entry>,
    /// The last revision handed out by this store. Global rather than per key so that a
    /// re-created key never reuses a revision.
    last_revision: u64,
    /// Map size at which the next bulk sweep of expired records runs.
    sweep_at_len: usize,
}

struct Entry {
    value: Vec<u8>,
    revision: Revision,
    expires_at_ms: u64,
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the map consistent at each point where it could
        // panic, so a poisoned lock still guards valid data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The live entry under `key`, removing it first if it has expired.
    fn live(&mut self, key: &str, now_ms: u64) -> Option<&Entry> {
        if self
            .records
            .get(key)
            .is_some_and(|e| !is_live(e.expires_at_ms, now_ms))
        {
            self.records.remove(key);
        }
        self.records.get(key)
    }

    fn sweep_if_grown(&mut self, now_ms: u64) {
        if self.records.len() < self.sweep_at_len.max(MIN_SWEEP_LEN) {
            return;
        }
        self.records.retain(|_, e| is_live(e.expires_at_ms, now_ms));
        self.sweep_at_len = self.records.len().saturating_mul(2);
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately shows neither keys nor values.
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        check_key(key)?;
        let now = now_unix_ms();
        let mut state = self.state();
        Ok(state.live(key, now).map(|e| Stored {
            value: e.value.clone(),
            revision: e.revision,
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
        let now = now_unix_ms();
        let mut state = self.state();
        let current = state.live(key, now).map(|e| e.revision);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        let next = state
            .last_revision
            .checked_add(1)
            .ok_or_else(|| StoreError::Unavailable("revision counter exhausted".to_owned()))?;
        state.last_revision = next;
        let revision = Revision::new(next);
        state.records.insert(
            key.to_owned(),
            Entry {
                value,
                revision,
                expires_at_ms,
            },
        );
        state.sweep_if_grown(now);
        Ok(revision)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.state().records.remove(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
