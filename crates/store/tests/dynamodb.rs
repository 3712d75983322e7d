//! The conformance suite against a real DynamoDB-compatible server (moto in our scripts), plus
//! table creation, a missing table and a server that is down.
//!
//! The server comes from `GCBRIDGE_TEST_DYNAMODB_ENDPOINT` (set by `scripts/backends.sh
//! start`); see `common::server_from_env` for when a missing variable skips and when it fails.
//! The tests pass dummy static credentials, so they never consult the AWS credential chain
//! (which could reach for instance metadata off this machine).
#![cfg(feature = "dynamodb")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcbridge_store::{
    AwsCredentials, DynamoDbOptions, DynamoDbStore, Initialised, SessionStore, StoreError, open,
};

fn options(endpoint: &str, table: &str) -> DynamoDbOptions {
    DynamoDbOptions {
        table: table.to_owned(),
        region: Some("us-east-1".to_owned()),
        endpoint: Some(endpoint.to_owned()),
        credentials: AwsCredentials::Static {
            access_key_id: "dummy".to_owned(),
            secret_access_key: "dummy-secret".to_owned(),
        },
    }
}

fn table_name() -> String {
    format!("gcbridge-conformance-{}", common::unique_suffix())
}

/// A store on this process's table, created (idempotently: every test calls it) first.
async fn dynamodb_store() -> Option<(Arc<dyn SessionStore>, ())> {
    let endpoint = common::server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT", "DynamoDB")?;
    let store = DynamoDbStore::open(options(&endpoint, &table_name()))
        .await
        .expect("open the DynamoDB store");
    store.init().await.expect("create the table");
    Some((Arc::new(store), ()))
}

mod dynamodb {
    gcbridge_store::conformance_tests!(optional super::dynamodb_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_the_table_with_ttl_once_and_is_idempotent() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT", "DynamoDB")
    else {
        return;
    };
    let table = format!("gcbridge-init-{}", common::unique_suffix());
    let store = DynamoDbStore::open(options(&endpoint, &table))
        .await
        .unwrap();
    match store.init().await.unwrap() {
        Initialised::Created(what) => {
            assert!(
                what.contains(&table) && what.contains("TTL enabled on `ttl`"),
                "{what}"
            );
        }
        other => panic!("first init: {other:?}"),
    }
    match store.init().await.unwrap() {
        Initialised::AlreadyPresent(what) => {
            assert!(what.contains("TTL already enabled"), "{what}");
        }
        other => panic!("second init: {other:?}"),
    }
    store.ping().await.expect("ping after init");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_a_clear_error_naming_the_table_and_the_fix() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT", "DynamoDB")
    else {
        return;
    };
    let table = format!("gcbridge-missing-{}", common::unique_suffix());
    let store = DynamoDbStore::open(options(&endpoint, &table))
        .await
        .unwrap();
    let results = [
        ("ping", store.ping().await.err()),
        ("load", store.load("k").await.err()),
        (
            "save",
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
async fn a_server_that_is_down_is_unavailable_quickly() {
    let port = common::closed_loopback_port();
    let store = DynamoDbStore::open(options(&format!("http://127.0.0.1:{port}"), "t-down"))
        .await
        .expect("open does not connect");
    let limit = Duration::from_secs(15);
    let started = Instant::now();
    let message = common::assert_unavailable(store.ping().await, started.elapsed(), limit, "ping");
    assert!(message.contains("t-down"), "{message}");
    assert!(!message.contains("dummy-secret"), "{message}");
    let started = Instant::now();
    let save = store
        .save("k", b"secret value".to_vec(), None, u64::MAX)
        .await;
    let message = common::assert_unavailable(save, started.elapsed(), limit, "save");
    assert!(!message.contains("secret value"), "{message}");
}

/// `open` with a `dynamodb://` URL, credentials from the environment (the dummy ones that
/// `scripts/backends.sh` exports). Skipped if there are none, so that the AWS credential chain
/// is never asked to look further than this machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_from_its_url_it_uses_the_environment_credentials() {
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT", "DynamoDB")
    else {
        return;
    };
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        eprintln!("SKIPPED: AWS_ACCESS_KEY_ID is not set (scripts/backends.sh sets dummy keys)");
        return;
    }
    let url = format!(
        "dynamodb://{}?region=us-east-1&endpoint={endpoint}",
        table_name()
    );
    let store = open(&url).await.expect("open the URL");
    assert_eq!(store.name(), "dynamodb");
    store.init().await.expect("init");
    let key = format!("url-{}", common::unique_suffix());
    let revision = store
        .save(&key, b"v".to_vec(), None, u64::MAX)
        .await
        .unwrap();
    let stored = store.load(&key).await.unwrap().unwrap();
    assert_eq!(
        (stored.value.as_slice(), stored.revision),
        (&b"v"[..], revision)
    );
}

/// An expired item whose revision is ahead of this writer's clock (its writer's clock was
/// ahead) must not make revisions go back: the create replaces it with a greater revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_over_an_expired_item_from_a_clock_ahead_still_increases_the_revision() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let Some(endpoint) = common::server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT", "DynamoDB")
    else {
        return;
    };
    let Some((store, ())) = dynamodb_store().await else {
        return;
    };
    let key = format!("clock-ahead-{}", common::unique_suffix());
    // One hour ahead of this clock, in microseconds, as a skewed writer would have written.
    let ahead = (now_ms() + 3_600_000) * 1000;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "dummy", "dummy", None, None, "test",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
        .put_item()
        .table_name(table_name())
        .item("pk", AttributeValue::S(key.clone()))
        .item("v", AttributeValue::B(vec![1].into()))
        .item("rev", AttributeValue::N(ahead.to_string()))
        .item("exp_ms", AttributeValue::N("1".to_owned()))
        .send()
        .await
        .expect("raw put");

    assert!(store.load(&key).await.unwrap().is_none(), "expired");
    let revision = store
        .save(&key, b"new".to_vec(), None, u64::MAX)
        .await
        .unwrap();
    assert!(revision.get() > ahead, "{revision} should exceed {ahead}");
    assert_eq!(store.load(&key).await.unwrap().unwrap().revision, revision);
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
