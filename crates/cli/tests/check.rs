//! `gcbridge check` through the real binary, against the Direct Line emulator on loopback: a
//! real start-conversation call with the configured credentials (secret or token endpoint), the
//! verdicts for a rejected secret and an unreachable host, and the platform-specific verdicts
//! (Azure Functions, Kubernetes). Each run starts from an empty environment.

use gcbridge_emulator::{Emulator, EmulatorConfig, Script};

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");

async fn emulator() -> Emulator {
    let script =
        Script::from_toml_str("[agent]\nname = \"Check Agent\"\nbot_id = \"check-agent\"\n")
            .expect("script");
    gcbridge_emulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        EmulatorConfig::new(script),
    )
    .await
}

/// Runs `gcbridge check` with only `env`; returns (success, stdout + stderr).
async fn check(env: &[(&str, &str)]) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("check")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run gcbridge check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_starts_a_real_conversation_with_the_configured_secret() {
    let emulator = emulator().await;
    let secret = emulator.secret().expect("secret").to_owned();
    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url()),
        ("GCBRIDGE_DIRECTLINE_SECRET", &secret),
        ("GCBRIDGE_GENESYS_SECRET", "check-genesys-secret-value"),
    ])
    .await;
    assert!(ok, "{text}");
    let expected = [
        "ok    configuration (1 bot(s))".to_owned(),
        "info  environment: a server (no cloud platform detected)".to_owned(),
        "ok    Genesys secret: 1 accepted value(s), expected in the `Authorization` header"
            .to_owned(),
        "ok    bot \"copilot\": Direct Line secret present".to_owned(),
        format!(
            "ok    bot \"copilot\": Direct Line {} started a conversation",
            emulator.base_url()
        ),
        "ok    store memory: (memory, reachable)".to_owned(),
    ];
    for line in &expected {
        assert!(text.contains(line.as_str()), "missing {line:?} in:\n{text}");
    }
    assert_eq!(emulator.conversations_started(), 1, "{text}");
    assert!(
        !text.contains(&secret) && !text.contains("check-genesys-secret-value"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_uses_the_token_endpoint_when_that_is_the_credential() {
    let emulator = emulator().await;
    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url()),
        (
            "GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT",
            &emulator.token_endpoint_url(),
        ),
    ])
    .await;
    assert!(ok, "{text}");
    assert!(
        text.contains("ok    bot \"copilot\": Copilot Studio token endpoint configured"),
        "{text}"
    );
    assert!(text.contains("started a conversation"), "{text}");
    assert_eq!(emulator.conversations_started(), 1, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_secret_and_an_unreachable_host_fail_with_the_fix() {
    let emulator = emulator().await;
    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url()),
        ("GCBRIDGE_DIRECTLINE_SECRET", "not-the-emulator-secret"),
    ])
    .await;
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "FAIL  bot \"copilot\": Direct Line {} rejected the Direct Line secret (HTTP 403)",
            emulator.base_url()
        )),
        "{text}"
    );
    assert!(text.contains("Web channel security"), "{text}");
    assert_eq!(emulator.conversations_started(), 0);

    // A loopback port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        (
            "GCBRIDGE_DIRECTLINE_URL",
            &format!("http://127.0.0.1:{closed}"),
        ),
        ("GCBRIDGE_DIRECTLINE_SECRET", "any"),
    ])
    .await;
    assert!(!ok, "{text}");
    assert!(text.contains("could not be reached"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_verdicts_name_what_cannot_work_there() {
    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
    ])
    .await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("info  environment: Azure Functions (custom handler)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  store `memory:` on Azure Functions (custom handler)"),
        "{text}"
    );
    assert!(
        text.contains("info  bot \"copilot\": Direct Line https://directline.botframework.com not tried (no credentials)"),
        "{text}"
    );

    let (ok, text) = check(&[
        ("GCBRIDGE_STORE", "memory:"),
        ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
    ])
    .await;
    assert!(ok, "warnings only: {text}");
    assert!(
        text.contains("warn  listen 127.0.0.1:8080 is loopback"),
        "{text}"
    );
}
