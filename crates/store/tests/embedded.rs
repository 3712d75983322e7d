//! The conformance suite against [`EmbeddedStore`], plus what only a file-backed store can get
//! wrong: reopening, locking, damaged files, parent directories.

use std::sync::Arc;

use gcbridge_store::{EmbeddedStore, NEVER_EXPIRES, SessionStore, StoreError, open};
use tempfile::TempDir;

async fn embedded_store() -> (Arc<dyn SessionStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path().join("sessions.db"))
        .await
        .expect("open embedded store");
    (Arc::new(store), dir)
}

mod embedded {
    gcbridge_store::conformance_tests!(super::embedded_store);
}

fn far_future() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    u64::try_from(now).unwrap() + 3_600_000
}

#[tokio::test]
async fn records_and_revisions_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = EmbeddedStore::open(&path).await.unwrap();
    let kept = store
        .save("kept", b"v1".to_vec(), None, far_future())
        .await
        .unwrap();
    let gone = store
        .save("gone", b"x".to_vec(), None, far_future())
        .await
        .unwrap();
    store.delete("gone").await.unwrap();
    drop(store);

    let store = EmbeddedStore::open(&path).await.unwrap();
    let stored = store.load("kept").await.unwrap().expect("kept survives");
    assert_eq!(
        (stored.value.as_slice(), stored.revision),
        (&b"v1"[..], kept)
    );
    assert!(store.load("gone").await.unwrap().is_none());
    // The revision counter is persisted too: a re-created key cannot reuse an old revision.
    let again = store
        .save("gone", b"y".to_vec(), None, far_future())
        .await
        .unwrap();
    assert!(again > gone && again > kept, "{again} after {gone}, {kept}");
}

#[tokio::test]
async fn open_by_url_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("gcbridge.db");
    let url = format!("embedded:{}", path.display());
    let store = open(&url).await.unwrap();
    assert_eq!(store.name(), "embedded");
    store.save("k", vec![1], None, NEVER_EXPIRES).await.unwrap();
    store.ping().await.unwrap();
    assert!(path.is_file());
}

#[tokio::test]
async fn a_garbage_file_is_a_clear_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db.db");
    std::fs::write(&path, b"this is a text file, not a database\n".repeat(200)).unwrap();
    match EmbeddedStore::open(&path).await {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains("not-a-db.db"), "{msg}");
            assert!(msg.contains("not a usable gcbridge session store"), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The file is left as it was: opening must never "repair" someone else's file into ours.
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"this is a text file")
    );
}

#[tokio::test]
async fn an_empty_file_becomes_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = EmbeddedStore::open(&path).await.unwrap();
    store.save("k", vec![1], None, NEVER_EXPIRES).await.unwrap();
}

#[tokio::test]
async fn a_file_in_use_is_a_clear_unavailable_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let first = EmbeddedStore::open(&path).await.unwrap();
    match EmbeddedStore::open(&path).await {
        Err(e @ StoreError::Unavailable(_)) => {
            assert!(e.to_string().contains("already open"), "{e}");
            assert!(e.is_retryable());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop(first);
    EmbeddedStore::open(&path)
        .await
        .expect("free again after the first store is dropped");
}

#[tokio::test]
async fn a_directory_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    match EmbeddedStore::open(dir.path()).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn another_programs_redb_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        // A redb file whose table of the same name has other types.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<u64, u64> =
                redb::TableDefinition::new("gcbridge_records");
            txn.open_table(table).unwrap().insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    match EmbeddedStore::open(&path).await {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains("not a gcbridge session store"), "{msg}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_output_shows_no_values() {
    let (store, _dir) = embedded_store().await;
    store
        .save("k", b"secret-token-123".to_vec(), None, NEVER_EXPIRES)
        .await
        .unwrap();
    let stored = store.load("k").await.unwrap().unwrap();
    let shown = format!("{stored:?} {store:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("value_len: 16"), "{shown}");
}

#[tokio::test]
async fn a_damaged_store_file_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    {
        let store = EmbeddedStore::open(&path).await.unwrap();
        for i in 0..200 {
            store
                .save(&format!("k{i}"), vec![7; 1000], None, NEVER_EXPIRES)
                .await
                .unwrap();
        }
    }
    // Keep redb's header and magic number, scribble over everything after the first pages.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "{} bytes", bytes.len());
    for (i, b) in bytes.iter_mut().enumerate().skip(8192) {
        *b = u8::try_from(i % 251).unwrap();
    }
    std::fs::write(&path, &bytes).unwrap();

    // The integrity check on open catches this before any record is trusted.
    match EmbeddedStore::open(&path).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("sessions.db"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
