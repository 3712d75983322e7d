//! `gcbridge demo` through the real binary, with piped input: the zero-configuration path a
//! newcomer takes, in both modes (v1 answers, and DBC asynchronous replies pushed to the local
//! Genesys stand-in and followed by the chat).

use std::io::Write;
use std::process::{Command, Stdio};

fn demo(args: &[&str], input: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gcbridge"))
        .arg("demo")
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gcbridge demo");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write input");
    let output = child.wait_with_output().expect("demo output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_dbc_demo_shows_pushed_replies_as_they_arrive_and_the_handoff() {
    let out = demo(&["--dbc"], "opening hours\nagent\n");
    assert!(out.contains("Digital Bot Connector URI"), "{out}");
    assert!(out.contains("Genesys stand-in"), "{out}");
    // Each message is acknowledged, then its replies arrive as pushed messages.
    assert!(out.matches("(acknowledged in").count() >= 3, "{out}");
    let greeting = out.find("Hello Ada").expect("greeting pushed");
    let hours = out.find("you › opening hours").expect("first message");
    let handoff = out
        .find("── Complete · intent Escalate ──")
        .expect("handoff pushed");
    assert!(greeting < hours && hours < handoff, "{out}");
    assert!(out.contains("(pushed · MoreData"), "{out}");
    assert!(out.contains("(pushed · Complete"), "{out}");
    assert!(out.contains("slot va_AgentMessage"), "{out}");
}

#[test]
fn the_default_demo_answers_in_the_response() {
    let out = demo(&[], "opening hours\n");
    assert!(out.contains("Hello Ada"), "{out}");
    assert!(out.contains("(MoreData ·"), "{out}");
    assert!(!out.contains("pushed"), "{out}");
}
