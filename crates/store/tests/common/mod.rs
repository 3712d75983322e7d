//! Shared by the tests that need a real server: finding it, and refusing to skip in CI.

use std::time::Duration;

use gcbridge_store::StoreError;

/// The value of `var`, which names a running test server (set by `scripts/backends.sh start`).
///
/// When it is missing the test is skipped with a message on stderr, unless `CI` is set (to
/// anything but `false`/`0`) or `GCBRIDGE_REQUIRE_BACKENDS=1`: then it panics, so a backend
/// that failed to start fails the run instead of passing it silently.
pub fn server_from_env(var: &str, backend: &str) -> Option<String> {
    if let Some(value) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
        return Some(value);
    }
    let flag = |name: &str| {
        std::env::var(name)
            .ok()
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    if flag("CI") || flag("GCBRIDGE_REQUIRE_BACKENDS") {
        panic!(
            "{var} is not set, so the {backend} tests cannot run, and CI or \
             GCBRIDGE_REQUIRE_BACKENDS=1 forbids skipping them: start the servers with \
             `scripts/backends.sh start` and source the file `scripts/backends.sh env` prints"
        );
    }
    eprintln!(
        "SKIPPED: {backend} tests: {var} is not set (run `scripts/backends.sh start` and source \
         its env file, or use scripts/test.sh)"
    );
    None
}

/// A loopback address where nothing listens: a port the OS just handed out and took back.
pub fn closed_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// A name unique to this test process (the same on every call), for tables created on
/// shared servers.
pub fn unique_suffix() -> &'static str {
    static SUFFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SUFFIX.get_or_init(|| format!("{}x{}", std::process::id(), now_ms() % 1_000_000))
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

/// Asserts that `result` is `Unavailable` and came within `limit`.
pub fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    elapsed: Duration,
    limit: Duration,
    what: &str,
) -> String {
    assert!(
        elapsed < limit,
        "{what}: took {elapsed:?}, more than {limit:?}"
    );
    match result {
        Err(StoreError::Unavailable(message)) => message,
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}
