//! The conformance suite against a real Redis server, plus what only a networked store can get
//! wrong: a server that is down, and recovery without reopening the store.
//!
//! The server comes from `GCBRIDGE_TEST_REDIS_URL` (set by `scripts/backends.sh start`); see
//! `common::server_from_env` for when a missing variable skips and when it fails.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcbridge_store::{RedisStore, SessionStore, open};

async fn redis_store() -> Option<(Arc<dyn SessionStore>, ())> {
    let url = common::server_from_env("GCBRIDGE_TEST_REDIS_URL", "Redis")?;
    let store = open(&url).await.expect("open the Redis store");
    Some((store, ()))
}

mod redis {
    gcbridge_store::conformance_tests!(optional super::redis_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_from_its_url_it_names_itself_and_answers_ping() {
    let Some((store, ())) = redis_store().await else {
        return;
    };
    assert_eq!(store.name(), "redis");
    store.ping().await.expect("ping");
    assert_eq!(
        store.init().await.expect("init"),
        gcbridge_store::Initialised::NothingNeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_quickly_and_names_no_secret() {
    let port = common::closed_loopback_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    // Opening contacts nothing, so gcbridge can start while Redis is down.
    let store = RedisStore::open(&url).expect("open does not connect");
    let limit = Duration::from_secs(10);

    let started = Instant::now();
    let ping = store.ping().await;
    let message = common::assert_unavailable(ping, started.elapsed(), limit, "ping");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");

    let started = Instant::now();
    let save = store
        .save("k", b"secret value".to_vec(), None, u64::MAX)
        .await;
    let message = common::assert_unavailable(save, started.elapsed(), limit, "save");
    assert!(
        !message.contains("secret value") && !message.contains("hunter2"),
        "{message}"
    );

    let started = Instant::now();
    let load = store.load("k").await;
    common::assert_unavailable(load, started.elapsed(), limit, "load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_hashes_under_a_prefixed_hash_tag_that_expire_with_the_record() {
    let Some(url) = common::server_from_env("GCBRIDGE_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let store = RedisStore::open(&url).unwrap();
    let key = format!("layout-{}/{{tag}}", common::unique_suffix());
    let expires = now_ms() + 60_000;
    store
        .save(&key, b"v".to_vec(), None, expires)
        .await
        .unwrap();

    // Inspect the raw layout with a plain connection, as an operator would with redis-cli.
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let redis_key = format!("gcbridge:{{layout-{}/%7Btag%7D}}", common::unique_suffix());
    let pexpiretime: i64 = ::redis::cmd("PEXPIRETIME")
        .arg(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        u64::try_from(pexpiretime).unwrap(),
        expires,
        "the key expires with the record"
    );
    let expiry_field: String = ::redis::cmd("HGET")
        .arg(&redis_key)
        .arg("e")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(expiry_field, expires.to_string());

    // A record that never expires has no key expiry (-1), but still its exact expiry field.
    let stored = store.load(&key).await.unwrap().unwrap();
    store
        .save(&key, b"w".to_vec(), Some(stored.revision), u64::MAX)
        .await
        .unwrap();
    let pexpiretime: i64 = ::redis::cmd("PEXPIRETIME")
        .arg(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(pexpiretime, -1);
    assert_eq!(
        store.load(&key).await.unwrap().unwrap().expires_at_ms,
        u64::MAX
    );
    store.delete(&key).await.unwrap();
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

/// An expired record whose revision is ahead of the server's clock (written by hand here; in
/// life, by a server whose clock was later set back) must not make revisions go back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_over_a_record_with_a_revision_ahead_of_the_clock_still_increases_it() {
    let Some(url) = common::server_from_env("GCBRIDGE_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let store = RedisStore::open(&url).unwrap();
    let key = format!("clock-ahead-{}", common::unique_suffix());
    let ahead = (now_ms() + 3_600_000) * 1000;
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: u64 = ::redis::cmd("HSET")
        .arg(format!("gcbridge:{{{key}}}"))
        .arg("v")
        .arg("old")
        .arg("r")
        .arg(ahead.to_string())
        .arg("e")
        .arg("1")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        store.load(&key).await.unwrap().is_none(),
        "expired by its `e` field"
    );
    let revision = store
        .save(&key, b"new".to_vec(), None, u64::MAX)
        .await
        .unwrap();
    assert!(revision.get() > ahead, "{revision} should exceed {ahead}");
    store.delete(&key).await.unwrap();
}

/// `redis://:PASSWORD@HOST:PORT` with another password.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://:{password}@{host}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_unavailable_and_never_printed() {
    let Some(url) = common::server_from_env("GCBRIDGE_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let store = RedisStore::open(&with_password(&url, "wrong-hunter3")).unwrap();
    let started = Instant::now();
    let ping = store.ping().await;
    let message =
        common::assert_unavailable(ping, started.elapsed(), Duration::from_secs(10), "ping");
    assert!(!message.contains("wrong-hunter3"), "{message}");
    assert!(
        message.contains("***"),
        "the URL is shown redacted: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_checks_the_server_certificate() {
    let Some(url) = common::server_from_env("GCBRIDGE_TEST_REDIS_TLS_URL", "Redis TLS") else {
        return;
    };
    // The test server's certificate is signed by a throw-away CA that this process does not
    // trust (the CLI test trusts it through SSL_CERT_FILE and connects), so the handshake must
    // fail rather than fall back to plain text or skip verification.
    let store = RedisStore::open(&url).unwrap();
    let started = Instant::now();
    let ping = store.ping().await;
    let message =
        common::assert_unavailable(ping, started.elapsed(), Duration::from_secs(10), "ping");
    assert!(!message.contains("gcbridge-test-password"), "{message}");
}

/// A Redis server this test starts and stops itself (by its PID), on a port of its own.
struct OwnServer {
    child: std::process::Child,
}

impl OwnServer {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (installed by scripts/backends.sh)");
        Self { child }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ping` until it succeeds, for at most about 10 s.
async fn wait_until_reachable(store: &RedisStore) {
    for _ in 0..100 {
        if store.ping().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store did not reach the restarted server within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_store_recovers_when_the_server_comes_back() {
    // Runs where the other Redis tests run (the variable means redis-server is installed).
    if common::server_from_env("GCBRIDGE_TEST_REDIS_URL", "Redis").is_none() {
        return;
    }
    let port = common::closed_loopback_port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}")).unwrap();
    let server = OwnServer::start(port);
    wait_until_reachable(&store).await;
    let revision = store
        .save("k", b"v".to_vec(), None, u64::MAX)
        .await
        .unwrap();

    drop(server);
    let started = Instant::now();
    let down = store.load("k").await;
    common::assert_unavailable(
        down,
        started.elapsed(),
        Duration::from_secs(10),
        "load while down",
    );

    // Back on the same port (empty: the test server keeps nothing on disk), with no reopen.
    let _server = OwnServer::start(port);
    wait_until_reachable(&store).await;
    assert!(store.load("k").await.unwrap().is_none(), "a fresh server");
    let again = store
        .save("k", b"w".to_vec(), None, u64::MAX)
        .await
        .unwrap();
    assert!(
        again > revision,
        "the server clock keeps revisions increasing"
    );
}
