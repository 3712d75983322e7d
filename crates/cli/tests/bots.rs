//! `gcbridge bots` through the real binary: `print` emits exactly the golden bot lists for a
//! configuration declaring what the fixtures hold, refuses lists Genesys would reject with exit
//! code 1, and `push` refuses bad regions, bad integration ids and missing credentials before any
//! network call. (The Platform API calls themselves are tested against a local stand-in in
//! `crates/app/tests/platform.rs`.) Every run starts from an empty environment, so no credentials
//! of the machine can make a test reach Genesys.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");

/// A config declaring what `fixtures/genesys-v1-botlist.json` and `genesys-dbc-bots.json` hold.
const CONTOSO: &str = r#"
[bot]
id = "contoso-support"
name = "Contoso Support"
languages = ["en-us", "fr-fr"]
handoff_variables = [{ name = "OrderNumber" }]
system_slots = ["va_LastTopic"]
"#;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn gcbridge(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("run gcbridge");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("gcbridge.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

#[test]
fn print_emits_the_v1_list_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), CONTOSO);
    let run = gcbridge(
        dir.path(),
        &["bots", "print", "--config", config.to_str().expect("path")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(printed, fixture("genesys-v1-botlist.json"));
    // Pretty, one value per line, so it reads well and diffs well.
    assert!(
        run.stdout.starts_with("{\n  \"chatBots\": ["),
        "{}",
        run.stdout
    );
}

#[test]
fn print_dbc_emits_the_digital_bot_connector_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), CONTOSO);
    let run = gcbridge(
        dir.path(),
        &[
            "bots",
            "print",
            "--dbc",
            "--config",
            config.to_str().expect("path"),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let printed: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(printed, fixture("genesys-dbc-bots.json"));
}

#[test]
fn print_without_a_file_uses_the_built_in_default_bot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = gcbridge(dir.path(), &["bots", "print"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let printed: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let bot = &printed["chatBots"][0];
    assert_eq!(bot["id"], "copilot");
    assert_eq!(bot["versions"][0]["intents"][0]["name"], "Escalate");
    assert_eq!(
        bot["versions"][0]["intents"][0]["slots"]["va_AgentMessage"]["type"],
        "String"
    );
    assert_eq!(bot["versions"][0]["intents"][1]["name"], "EndConversation");
}

#[test]
fn a_list_genesys_would_reject_is_explained_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(
        dir.path(),
        r#"
[bot]
id = "contoso-support"
name = "Contoso Support "
handoff_variables = [{ name = "PickupAt", type = "DateTime" }]
"#,
    );
    for extra in [&[][..], &["--dbc"][..]] {
        let mut args = vec!["bots", "print", "--config", config.to_str().expect("path")];
        args.extend_from_slice(extra);
        let run = gcbridge(dir.path(), &args);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(run.stdout, "", "nothing half-valid is printed");
        assert!(
            run.stderr.contains("breaks Genesys' limits"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("name \"Contoso Support \" has leading or trailing spaces"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("slot \"va_PickupAt\" has type \"DateTime\"; use one of String"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_broken_config_file_is_explained_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), "[bot]\nlanguage = [\"en-us\"]\n");
    let run = gcbridge(
        dir.path(),
        &["bots", "print", "--config", config.to_str().expect("path")],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("language"), "{}", run.stderr);
    let run = gcbridge(
        dir.path(),
        &["bots", "print", "--config", "does-not-exist.toml"],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("does-not-exist.toml"), "{}", run.stderr);
}

#[test]
fn push_needs_credentials_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), CONTOSO);
    for dry_run in [&[][..], &["--dry-run"][..]] {
        let mut args = vec![
            "bots",
            "push",
            "--region",
            "eu-west-1",
            "--integration-id",
            "5f7a7c2e-1b2c-4d3e-8f90-0123456789ab",
            "--config",
            config.to_str().expect("path"),
        ];
        args.extend_from_slice(dry_run);
        let run = gcbridge(dir.path(), &args);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("set GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    // There is no flag for them.
    let run = gcbridge(
        dir.path(),
        &[
            "bots",
            "push",
            "--region",
            "eu-west-1",
            "--integration-id",
            "x",
            "--client-secret",
            "s3cr3t",
        ],
    );
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--client-secret"), "{}", run.stderr);
}

#[test]
fn push_validates_the_list_before_anything_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), "[bot]\nname = \"\"\n");
    let run = gcbridge(
        dir.path(),
        &[
            "bots",
            "push",
            "--region",
            "prod",
            "--integration-id",
            "abc",
            "--config",
            config.to_str().expect("path"),
        ],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("name is empty"), "{}", run.stderr);
}

#[test]
fn push_refuses_unknown_regions_and_odd_integration_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = gcbridge(
        dir.path(),
        &[
            "bots",
            "push",
            "--region",
            "europe",
            "--integration-id",
            "abc",
        ],
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("unknown Genesys Cloud region \"europe\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("us-east-1") && run.stderr.contains("mypurecloud.de"),
        "{}",
        run.stderr
    );

    let run = gcbridge(
        dir.path(),
        &[
            "bots",
            "push",
            "--region",
            "mypurecloud.ie",
            "--integration-id",
            "../../users",
        ],
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("integration id \"../../users\" is not valid"),
        "{}",
        run.stderr
    );
}
