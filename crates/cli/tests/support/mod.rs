//! Processes of the real `gcbridge` binary for the reliability tests: `gcbridge emulator` and
//! `gcbridge serve` on loopback, their output collected (for log greps), killed by their own PID.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the harness"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");
/// The emulator's documented test secret (not a real credential).
pub const DL_SECRET: &str = "emulator-secret-not-real";

/// A child process with every line it printed (stdout and stderr) kept in `lines`.
pub struct Proc {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gcbridge");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Waits (bounded) for a line containing `needle`; returns it.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "no line with {needle:?} within {timeout:?}; saw:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `http://127.0.0.1:PORT` from a line containing it (the emulator's banner).
pub fn url_in(line: &str) -> String {
    let start = line.find("http://127.0.0.1:").expect("url in line");
    line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.".contains(*c))
        .collect::<String>()
        .trim_end_matches('/')
        .to_owned()
}

/// `gcbridge emulator` with `script`; returns it and its base URL.
pub fn emulator(dir: &Path, script: &str) -> (Proc, String) {
    let path = dir.join("agent.toml");
    std::fs::write(&path, script).expect("write script");
    let proc = Proc::spawn(
        Command::new(BIN)
            .args(["emulator", "--port", "0", "--script"])
            .arg(&path)
            .env("GCBRIDGE_LOG", "warn"),
    );
    let url = url_in(&proc.wait_line("listening on", Duration::from_secs(20)));
    (proc, url)
}

/// `gcbridge serve` with only `env` (plus PATH) and an optional config file; returns it and its
/// base URL once it serves.
pub fn serve(env: &[(&str, String)], config: Option<&Path>) -> (Proc, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GCBRIDGE_LISTEN", "127.0.0.1:0");
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(&mut cmd);
    let line = proc.wait_line("gcbridge serving", Duration::from_secs(30));
    let at = line.find("127.0.0.1:").expect("address in log line");
    let addr: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || ":.".contains(*c))
        .collect();
    (proc, format!("http://{addr}"))
}

/// Every conversation the emulator holds: (id, user message texts, bot message texts).
pub fn emulator_transcript(dl_url: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let body: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{dl_url}/emulator/transcript"))
        .bearer_auth(DL_SECRET)
        .send()
        .expect("transcript")
        .json()
        .expect("transcript JSON");
    body["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| {
            let texts = |bot: bool| {
                c["activities"]
                    .as_array()
                    .expect("activities")
                    .iter()
                    .filter(|a| a["type"] == "message" && (a["from"]["role"] == "bot") == bot)
                    .filter_map(|a| a["text"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            };
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                texts(false),
                texts(true),
            )
        })
        .collect()
}

/// Whether a missing test server may be skipped (not under CI or GCBRIDGE_REQUIRE_BACKENDS).
pub fn may_skip(var: &str) -> bool {
    let required = ["CI", "GCBRIDGE_REQUIRE_BACKENDS"]
        .iter()
        .any(|f| std::env::var(f).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
    assert!(
        !required,
        "{var} is not set and CI or GCBRIDGE_REQUIRE_BACKENDS=1 forbids skipping: run \
         scripts/backends.sh start and source its env file"
    );
    eprintln!("SKIPPED: {var} is not set");
    true
}
