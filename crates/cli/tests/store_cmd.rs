//! `gcbridge store init` and `gcbridge check` through the real binary, against the real
//! DynamoDB-compatible server and Azurite that `scripts/backends.sh start` runs.
//!
//! Credentials reach the binary the way they do in production: from the standard environment
//! variables (dummy AWS keys for the local server; Azurite's public development key).
//! Without the servers' variables each test is skipped with a message, or fails when `CI` or
//! `GCBRIDGE_REQUIRE_BACKENDS=1` is set.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");
/// Azurite's well-known development key (public, in Microsoft's documentation).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn server_from_env(var: &str) -> Option<String> {
    if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Some(value);
    }
    let flag = |name: &str| {
        std::env::var(name)
            .ok()
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    assert!(
        !(flag("CI") || flag("GCBRIDGE_REQUIRE_BACKENDS")),
        "{var} is not set and CI or GCBRIDGE_REQUIRE_BACKENDS=1 forbids skipping: run \
         `scripts/backends.sh start` and source its env file"
    );
    eprintln!("SKIPPED: {var} is not set (run scripts/backends.sh start and source its env file)");
    None
}

fn unique() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!("{}x{}", std::process::id(), ms % 1_000_000)
}

/// Runs `gcbridge ARGS` with only the given environment.
fn gcbridge(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run gcbridge");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// check fails and points at `store init`; init creates; init again finds it; check passes.
fn init_round(env: &[(&str, &str)], table: &str) {
    let (out, text) = gcbridge(&["check"], env);
    assert!(!out.status.success(), "check before init: {text}");
    assert!(text.contains("FAIL  store"), "{text}");
    assert!(
        text.contains(table) && text.contains("gcbridge store init"),
        "{text}"
    );

    let (out, text) = gcbridge(&["store", "init"], env);
    assert!(out.status.success(), "first init: {text}");
    assert!(text.contains("created") && text.contains(table), "{text}");
    assert!(text.contains("ok    store"), "{text}");

    let (out, text) = gcbridge(&["store", "init"], env);
    assert!(out.status.success(), "second init: {text}");
    assert!(text.contains("exists") && text.contains(table), "{text}");

    let (out, text) = gcbridge(&["check"], env);
    assert!(out.status.success(), "check after init: {text}");
    assert!(text.contains("ok    store"), "{text}");
}

#[test]
fn store_init_creates_the_dynamodb_table_and_check_then_passes() {
    let Some(endpoint) = server_from_env("GCBRIDGE_TEST_DYNAMODB_ENDPOINT") else {
        return;
    };
    let table = format!("gcbridge-cli-{}", unique());
    let url = format!("dynamodb://{table}?region=us-east-1&endpoint={endpoint}");
    init_round(
        &[
            ("GCBRIDGE_STORE", &url),
            ("AWS_ACCESS_KEY_ID", "dummy"),
            ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
            // Only loopback: never ask instance metadata for anything.
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &table,
    );
    let (_, text) = gcbridge(&["check"], &[("GCBRIDGE_STORE", &url)]);
    assert!(!text.contains("dummy-secret"), "{text}");
}

#[test]
fn store_init_creates_the_azure_table_and_check_then_passes() {
    let Some(endpoint) = server_from_env("GCBRIDGE_TEST_AZURITE_ENDPOINT") else {
        return;
    };
    let table = format!("cli{}", unique());
    let url = format!("azuretables://devstoreaccount1/{table}?endpoint={endpoint}");
    init_round(
        &[
            ("GCBRIDGE_STORE", &url),
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            ("AZURE_STORAGE_KEY", AZURITE_KEY),
        ],
        &table,
    );

    // The same table through a connection string whose TableEndpoint replaces the URL's.
    let connection_string = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};\
         TableEndpoint={endpoint};"
    );
    let (out, text) = gcbridge(
        &["check"],
        &[
            (
                "GCBRIDGE_STORE",
                &format!("azuretables://devstoreaccount1/{table}"),
            ),
            ("AZURE_STORAGE_CONNECTION_STRING", &connection_string),
        ],
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(AZURITE_KEY), "{text}");
}

#[test]
fn check_reaches_redis_over_tls_with_a_password_and_a_private_ca() {
    let Some(url) = server_from_env("GCBRIDGE_TEST_REDIS_TLS_URL") else {
        return;
    };
    let Some(ca) = server_from_env("GCBRIDGE_TEST_REDIS_TLS_CA") else {
        return;
    };
    // SSL_CERT_FILE is how an operator trusts a private CA: the system's roots are replaced by it.
    let (out, text) = gcbridge(
        &["check"],
        &[("GCBRIDGE_STORE", &url), ("SSL_CERT_FILE", &ca)],
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok    store rediss://:***@127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("gcbridge-test-password"), "{text}");

    // Without the CA the certificate is not trusted.
    let (out, text) = gcbridge(&["check"], &[("GCBRIDGE_STORE", &url)]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FAIL  store rediss://:***@"), "{text}");
}

#[test]
fn store_init_has_nothing_to_do_for_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("embedded:{}", dir.path().join("s.db").display());
    let (out, text) = gcbridge(&["store", "init", "--store", &url], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("nothing to create for the embedded store"),
        "{text}"
    );
    assert!(text.contains("ok    store embedded:"), "{text}");
}
