//! The conformance suite against Azurite (Microsoft's Azure Storage emulator), plus table
//! creation, the cleanup of expired entities, a missing table and a server that is down.
//!
//! The server comes from `GCBRIDGE_TEST_AZURITE_ENDPOINT`, e.g.
//! `http://127.0.0.1:10002/devstoreaccount1` (set by `scripts/backends.sh start`); see
//! `common::server_from_env` for when a missing variable skips and when it fails. Azurite's
//! account and key are the documented, public development ones; Azurite checks signatures, so
//! these tests exercise the Shared Key signing.
#![cfg(feature = "azure")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcbridge_store::{AzureCredential, AzureTableStore, Initialised, SessionStore, StoreError};

const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, in Microsoft's documentation).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn store_on(endpoint: &str, table: &str) -> AzureTableStore {
    let credential = AzureCredential::shared_key(AZURITE_KEY).expect("the Azurite key");
    AzureTableStore::new(ACCOUNT, table, Some(endpoint), credential).expect("store")
}

fn table_name() -> String {
    format!("conformance{}", common::unique_suffix())
}

/// A store on this process's table, created (idempotently: every test calls it) first.
async fn azure_store() -> Option<(Arc<dyn SessionStore>, ())> {
    let endpoint = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")?;
    let store = store_on(&endpoint, &table_name());
    store.init().await.expect("create the table");
    Some((Arc::new(store), ()))
}

mod azure {
    gcbridge_store::conformance_tests!(optional super::azure_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_the_table_once_and_is_idempotent() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let table = format!("init{}", common::unique_suffix());
    let store = store_on(&endpoint, &table);
    assert!(matches!(store.init().await.unwrap(), Initialised::Created(w) if w.contains(&table)));
    assert!(matches!(
        store.init().await.unwrap(),
        Initialised::AlreadyPresent(_)
    ));
    store.ping().await.expect("ping after init");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_a_clear_error_naming_the_table_and_the_fix() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let table = format!("missing{}", common::unique_suffix());
    let store = store_on(&endpoint, &table);
    let results = [
        ("ping", store.ping().await.err()),
        ("load", store.load("k").await.err()),
        (
            "create",
            store.save("k", b"v".to_vec(), None, u64::MAX).await.err(),
        ),
        ("delete", store.delete("k").await.err()),
    ];
    for (operation, error) in results {
        match error {
            Some(StoreError::Unavailable(message)) => {
                assert!(message.contains(&table), "{operation}: {message}");
                assert!(
                    message.contains("gcbridge store init"),
                    "{operation}: {message}"
                );
            }
            other => panic!("{operation}: expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_by_the_server_without_echoing_it() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let wrong = AzureCredential::shared_key("aHVudGVyMg==").unwrap(); // "hunter2"
    let store = AzureTableStore::new(ACCOUNT, &table_name(), Some(&endpoint), wrong).unwrap();
    match store.ping().await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("403"), "{message}");
            assert!(
                !message.contains("aHVudGVyMg") && !message.contains("hunter2"),
                "{message}"
            );
        }
        other => panic!("expected the server to refuse the signature, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_expired_entities_only() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let table = format!("purge{}", common::unique_suffix());
    let store = store_on(&endpoint, &table);
    store.init().await.unwrap();
    let now = now_ms();
    for i in 0..5 {
        store
            .save(&format!("expired/{i}"), vec![1], None, now - 1)
            .await
            .unwrap();
    }
    let live = store
        .save("live", vec![2], None, now + 600_000)
        .await
        .unwrap();
    let forever = store
        .save("forever", vec![3], None, u64::MAX)
        .await
        .unwrap();

    assert_eq!(store.purge_expired(100).await.unwrap(), 5);
    assert_eq!(
        store.purge_expired(100).await.unwrap(),
        0,
        "nothing left to purge"
    );
    assert_eq!(store.load("live").await.unwrap().unwrap().revision, live);
    assert_eq!(
        store.load("forever").await.unwrap().unwrap().revision,
        forever
    );
    // A key whose expired entity was purged can be created again, with a greater revision.
    let again = store
        .save("expired/0", vec![4], None, now + 600_000)
        .await
        .unwrap();
    assert!(again > live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_quickly() {
    let port = common::closed_loopback_port();
    let store = store_on(&format!("http://127.0.0.1:{port}/{ACCOUNT}"), "tdown");
    let limit = Duration::from_secs(10);
    let started = Instant::now();
    let message = common::assert_unavailable(store.ping().await, started.elapsed(), limit, "ping");
    assert!(message.contains("tdown"), "{message}");
    let started = Instant::now();
    let save = store
        .save("k", b"secret value".to_vec(), None, u64::MAX)
        .await;
    let message = common::assert_unavailable(save, started.elapsed(), limit, "save");
    assert!(!message.contains("secret value"), "{message}");
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A table SAS as the portal or `az storage table generate-sas` makes it (service SAS,
/// version 2019-02-02), signed with Azurite's key.
fn table_sas(table: &str, permissions: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let version = "2019-02-02";
    let expiry = "2099-01-01T00:00:00Z";
    let resource = format!("/table/{ACCOUNT}/{}", table.to_lowercase());
    let to_sign = [
        permissions,
        "",
        expiry,
        &resource,
        "",
        "",
        "",
        version,
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let key = base64::engine::general_purpose::STANDARD
        .decode(AZURITE_KEY)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let signature: String =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    format!("sv={version}&tn={table}&sp={permissions}&se={expiry}&sig={signature}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_sas_with_raud_is_enough_to_serve() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let table = format!("sas{}", common::unique_suffix());
    store_on(&endpoint, &table).init().await.unwrap();

    let sas = AzureCredential::Sas(format!("?{}", table_sas(&table, "raud")));
    let store: Arc<dyn SessionStore> =
        Arc::new(AzureTableStore::new(ACCOUNT, &table, Some(&endpoint), sas).unwrap());
    store.ping().await.expect("ping with a table SAS");
    // The whole suite, so every request kind the store makes is authorised by the SAS.
    gcbridge_store::conformance::run_all(&store).await;

    // A SAS whose signature does not match its fields is refused.
    let forged = AzureCredential::Sas(table_sas(&table, "r").replace("sp=r&", "sp=raud&"));
    let store = AzureTableStore::new(ACCOUNT, &table, Some(&endpoint), forged).unwrap();
    assert!(
        matches!(store.save("k", vec![1], None, u64::MAX).await, Err(StoreError::Unavailable(m)) if m.contains("403")),
        "a forged SAS must be refused"
    );

    // Creating tables needs more than a table SAS gives; the error says so without the SAS.
    let other = format!("sasother{}", common::unique_suffix());
    let sas = AzureCredential::Sas(table_sas(&table, "raud"));
    let store = AzureTableStore::new(ACCOUNT, &other, Some(&endpoint), sas).unwrap();
    match store.init().await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("403"), "{message}");
            assert!(!message.contains("sig="), "{message}");
        }
        other => panic!("init with a table SAS for another table: {other:?}"),
    }
}

/// Two stores (two gcbridge instances) on one table: each remembers the ETags it saw, and
/// what one remembers must never let it overwrite the other's newer write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_alternating_never_overwrite_each_other() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT", "Azure Tables")
    else {
        return;
    };
    let table = table_name();
    let a = store_on(&endpoint, &table);
    a.init().await.unwrap();
    let b = store_on(&endpoint, &table);
    let key = format!("alternate/{}", common::unique_suffix());
    let far = now_ms() + 600_000;

    let r1 = a.save(&key, b"a1".to_vec(), None, far).await.unwrap();
    let seen_by_b = b.load(&key).await.unwrap().unwrap().revision;
    assert_eq!(seen_by_b, r1);
    let r2 = b.save(&key, b"b2".to_vec(), Some(r1), far).await.unwrap();
    // A still remembers r1 and its ETag: its save must conflict, not overwrite b2.
    assert!(matches!(
        a.save(&key, b"a-stale".to_vec(), Some(r1), far).await,
        Err(StoreError::Conflict)
    ));
    // After reloading, A continues from B's write.
    assert_eq!(a.load(&key).await.unwrap().unwrap().revision, r2);
    let r3 = a.save(&key, b"a3".to_vec(), Some(r2), far).await.unwrap();
    // B never loaded r3: it reads the entity, finds r3, and its save with r2 conflicts.
    assert!(matches!(
        b.save(&key, b"b-stale".to_vec(), Some(r2), far).await,
        Err(StoreError::Conflict)
    ));
    let r4 = b.save(&key, b"b4".to_vec(), Some(r3), far).await.unwrap();
    // Deleted by B and re-created by A: B's remembered revision is useless.
    b.delete(&key).await.unwrap();
    let r5 = a.save(&key, b"a5".to_vec(), None, far).await.unwrap();
    assert!(r5 > r4);
    assert!(matches!(
        b.save(&key, b"b-stale".to_vec(), Some(r4), far).await,
        Err(StoreError::Conflict)
    ));
    let stored = b.load(&key).await.unwrap().unwrap();
    assert_eq!((stored.value.as_slice(), stored.revision), (&b"a5"[..], r5));
}
