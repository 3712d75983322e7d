//! `gcbridge bench` through the real binary, small: its own `gcbridge serve` child against the
//! emulator, every reply accounted for, the agent's own time measured by the emulator and
//! subtracted, and the quiet period reported on its own line.

mod support;

use std::process::Command;

fn bench(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_gcbridge"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run gcbridge bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The number after `key` on the line starting with `line`.
fn figure(out: &str, line: &str, key: &str) -> f64 {
    let row = out
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line:?} in:\n{out}"));
    let rest = &row[row
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {row:?}"))
        + key.len()..];
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {row:?}"))
}

#[test]
fn bench_accounts_for_every_reply_and_separates_the_agents_time() {
    let out = bench(&["--sessions", "4", "--turns", "5", "--delay-ms", "60"]);
    assert_eq!(figure(&out, "replies", "expected"), 20.0, "{out}");
    assert_eq!(figure(&out, "replies", "delivered"), 20.0, "{out}");
    assert_eq!(figure(&out, "replies", "lost"), 0.0, "{out}");
    assert_eq!(figure(&out, "replies", "duplicated"), 0.0, "{out}");
    assert_eq!(figure(&out, "replies", "failed turns"), 0.0, "{out}");
    // The emulator measured its own delay: at least what was asked.
    let agent = figure(&out, "agent's own time", "p50");
    assert!((60.0..1_000.0).contains(&agent), "{out}");
    // What is left for gcbridge is a small part of the turn, and consistent with the total.
    let added = figure(&out, "added by bridge", "p50");
    let later = figure(&out, "later turns", "p50");
    assert!(added < 60.0, "{out}");
    assert!(added + agent <= later + 1.0, "{out}");
    assert_eq!(figure(&out, "quiet period", "quiet period"), 0.0, "{out}");
    // The connector is its own process: its CPU and memory are measured.
    assert!(figure(&out, "connector", "RSS") > 1.0, "{out}");
}

#[test]
fn with_a_quiet_period_turns_wait_for_it_and_it_is_not_counted_as_added() {
    let out = bench(&[
        "--sessions",
        "2",
        "--turns",
        "4",
        "--delay-ms",
        "20",
        "--quiet-ms",
        "150",
    ]);
    assert_eq!(figure(&out, "replies", "delivered"), 8.0, "{out}");
    assert_eq!(figure(&out, "quiet period", "quiet period"), 150.0, "{out}");
    // Turns really waited for the quiet period (no end signal came)...
    assert!(figure(&out, "later turns", "p50") >= 170.0, "{out}");
    // ...and it is not part of what gcbridge added.
    assert!(figure(&out, "added by bridge", "p50") < 60.0, "{out}");
}

#[test]
fn a_running_connector_is_loaded_and_compared_side_by_side() {
    // The bench's emulator port, chosen first: the connector under test must point at it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let secret = "bench-compare-secret".to_owned();
    let (server, base) = support::serve(
        &[
            ("GCBRIDGE_STORE", "memory:".to_owned()),
            (
                "GCBRIDGE_DIRECTLINE_URL",
                format!("http://127.0.0.1:{port}"),
            ),
            ("GCBRIDGE_DIRECTLINE_SECRET", support::DL_SECRET.to_owned()),
            ("GCBRIDGE_GENESYS_SECRET", secret.clone()),
            ("GCBRIDGE_USER_ID_KEY", "bench-compare".to_owned()),
        ],
        None,
    );
    let url = format!("{base}/genesys/v1/utterance");
    let pid = server.child.id().to_string();
    let out = bench(&[
        "--sessions",
        "2",
        "--turns",
        "3",
        "--delay-ms",
        "30",
        "--emulator-port",
        &port.to_string(),
        "--url",
        &url,
        "--pid",
        &pid,
        "--compare-url",
        &url,
        "--compare-pid",
        &pid,
        "--secret",
        &secret,
    ]);
    // Both runs are printed, each with its own accounting and process figures.
    for label in ["[connector]", "[compared]"] {
        let block = out
            .split(label)
            .nth(1)
            .unwrap_or_else(|| panic!("no {label} block in:\n{out}"));
        let block = block.split("\n[").next().unwrap_or(block);
        assert_eq!(
            figure(block.trim_start(), "replies", "delivered"),
            6.0,
            "{out}"
        );
        assert_eq!(figure(block.trim_start(), "replies", "lost"), 0.0, "{out}");
        assert!(
            figure(block.trim_start(), "connector", "RSS") > 1.0,
            "{out}"
        );
    }
    drop(server);
}
