//! Per-session serialisation inside one process: two requests for the same bot session never run
//! their turns at the same time (a Genesys retry waits for the first request, then replays its
//! answer). Across processes the store's compare-and-set decides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// A map of per-key async mutexes whose entries disappear when nobody holds or waits for them,
/// so memory stays bounded by the number of turns in flight.
#[derive(Debug, Default)]
pub struct SessionLocks {
    inner: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds one session's lock until dropped.
#[derive(Debug)]
pub struct SessionGuard<'a> {
    locks: &'a SessionLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SessionLocks {
    /// Waits for and takes the lock of `key`.
    pub async fn lock(&self, key: &str) -> SessionGuard<'_> {
        let mutex = {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_owned()).or_default().clone()
        };
        let guard = mutex.lock_owned().await;
        SessionGuard {
            locks: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    /// Number of sessions currently locked or waited for.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no session is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds the mutex now: no holder, no waiter.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn serialises_same_key_and_cleans_up() {
        let locks = Arc::new(SessionLocks::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let g = locks.lock("a").await;
        let (l2, o2) = (locks.clone(), order.clone());
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("a").await;
            o2.lock().expect("order").push("second");
        });
        // A different key is not blocked.
        drop(locks.lock("b").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        order.lock().expect("order").push("first");
        drop(g);
        waiter.await.expect("join");
        assert_eq!(*order.lock().expect("order"), ["first", "second"]);
        assert!(locks.is_empty());
    }
}
