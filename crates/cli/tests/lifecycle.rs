//! Start-up and shutdown of the real `gcbridge serve` process: SIGTERM during an in-flight turn
//! makes `/readyz` answer 503 first, the turn still completes with its answer, then the process
//! exits 0; configuration errors stop start-up with a message naming the problem.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, DL_SECRET, emulator, serve};

const GENESYS_SECRET: &str = "lifecycle-genesys-secret";

const AGENT: &str = r#"
[agent]
name = "Lifecycle agent"
bot_id = "lifecycle-agent"

[[rules]]
topic = "Slow"
match = { equals = "slow" }
steps = [{ delay_ms = 1500, text = "slow answer" }, { event = "turn.complete" }]

[fallback]
steps = [{ text = "echo: {Text}" }, { event = "turn.complete" }]
"#;

fn turn(url: &str, session: &str, text: &str) -> reqwest::Result<Value> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?
        .post(format!("{url}/genesys/v1/utterance"))
        .header("Authorization", GENESYS_SECRET)
        .json(&json!({
            "botId": "b", "botSessionId": session, "languageCode": "en-us",
            "inputMessage": {"type": "Text", "text": text},
        }))
        .send()?
        .json()
}

fn readyz(url: &str) -> Option<u16> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?
        .get(format!("{url}/readyz"))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

#[test]
fn sigterm_fails_readiness_first_finishes_the_turn_then_exits_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_emulator, dl_url) = emulator(dir.path(), AGENT);
    let config = dir.path().join("gcbridge.toml");
    std::fs::write(&config, "[server]\ndrain_delay_ms = 1000\n").expect("config");
    let env = [
        (
            "GCBRIDGE_STORE",
            format!("embedded:{}", dir.path().join("s.db").display()),
        ),
        ("GCBRIDGE_DIRECTLINE_URL", dl_url),
        ("GCBRIDGE_DIRECTLINE_SECRET", DL_SECRET.to_owned()),
        ("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET.to_owned()),
    ];
    let (mut server, url) = serve(&env, Some(&config));
    assert_eq!(
        turn(&url, "s-life", "hi").expect("turn")["botState"],
        "MoreData"
    );
    assert_eq!(readyz(&url), Some(200));

    // A turn that needs 1.5 s of the agent, and SIGTERM while it runs.
    let in_flight = {
        let url = url.clone();
        std::thread::spawn(move || turn(&url, "s-life", "slow"))
    };
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    server.wait_line("shutting down", Duration::from_secs(5));
    let sent_term = Instant::now();

    // Readiness fails at once, while the process still serves.
    assert_eq!(readyz(&url), Some(503));
    let answer = in_flight
        .join()
        .expect("thread")
        .expect("in-flight turn answered");
    assert_eq!(
        answer,
        json!({"botState": "MoreData", "replyMessages": [{"type": "Text", "text": "slow answer"}]})
    );

    let exit = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            sent_term.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}:\n{}", server.output());
    let logs = server.output();
    assert!(logs.contains("gcbridge stopped"), "{logs}");
    // Closed for good: nothing answers any more.
    assert_eq!(readyz(&url), None);
}

/// Runs `gcbridge serve` with `env` and an optional config text; it must fail to start.
/// Returns its stderr.
fn refused(env: &[(&str, &str)], config: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET)
        .env("GCBRIDGE_LISTEN", "127.0.0.1:0")
        .env(
            "GCBRIDGE_STORE",
            format!("embedded:{}", dir.path().join("s.db").display()),
        )
        .envs(env.iter().copied());
    if let Some(text) = config {
        let path = dir.path().join("gcbridge.toml");
        std::fs::write(&path, text).expect("config");
        cmd.arg("--config").arg(path);
    }
    let out = cmd.output().expect("run serve");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started anyway: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// Environment variables of one case.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn configuration_errors_stop_start_up_with_a_precise_message() {
    let cases: [(Env, Option<&str>, &str); 6] = [
        (
            &[],
            Some("lisen = \"127.0.0.1:1\"\n"),
            "unknown field `lisen`",
        ),
        (
            &[("GCBRIDGE_LISTEN", "localhost")],
            None,
            "listen = \"localhost\" is not an address:port",
        ),
        (
            &[("GCBRIDGE_STORE_TIMEOUT_MS", "soon")],
            None,
            "GCBRIDGE_STORE_TIMEOUT_MS must be a number of milliseconds, not \"soon\"",
        ),
        (
            &[],
            Some("max_body_bytes = 10\n"),
            "max_body_bytes must be at least 1024",
        ),
        (
            &[("GCBRIDGE_STORE", "postgres://db/sessions")],
            None,
            "unknown store scheme `postgres`",
        ),
        (
            &[],
            Some("[server]\ndrain_delay_ms = \"3s\"\n"),
            "drain_delay_ms",
        ),
    ];
    for (env, config, expected) in cases {
        let stderr = refused(env, config);
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(
            !stderr.contains(GENESYS_SECRET),
            "the secret was printed: {stderr}"
        );
    }
}
