//! `gcbridge widget` through the real binary: `print` emits the integration for gcbridge's page,
//! and `push` refuses a bad region and missing OAuth credentials before any network call (the
//! Platform API calls themselves are tested against a local stand-in in
//! `crates/app/tests/platform_widget.rs`). Every run starts from an empty environment.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");

fn gcbridge(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .output()
        .expect("run gcbridge");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn print_emits_the_integration_with_placeholders() {
    let (code, stdout, stderr) = gcbridge(&[
        "widget",
        "print",
        "--base-url",
        "https://gcbridge.example.com",
        "--key",
        "k/1",
        "--queue",
        "q-1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        v["body"]["integrationType"]["id"],
        "embedded-client-app-interaction-widget"
    );
    assert_eq!(
        v["config"]["properties"]["url"],
        "https://gcbridge.example.com/widget?conversationId={{gcConversationId}}&lang={{gcLangTag}}&key=k%2F1"
    );
    assert_eq!(v["config"]["properties"]["queueIdFilterList"][0], "q-1");
}

#[test]
fn push_refuses_bad_regions_and_missing_credentials_before_calling_anything() {
    let (code, _, stderr) = gcbridge(&[
        "widget",
        "push",
        "--region",
        "mars-1",
        "--base-url",
        "https://gcbridge.example.com",
        "--key",
        "k",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("mars-1"), "{stderr}");

    let (code, stdout, stderr) = gcbridge(&[
        "widget",
        "push",
        "--region",
        "eu-west-1",
        "--base-url",
        "https://gcbridge.example.com",
        "--key",
        "k",
        "--dry-run",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET"),
        "{stderr}"
    );
}
