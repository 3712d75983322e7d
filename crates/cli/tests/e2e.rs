//! End to end through the real `gcbridge` binary: `gcbridge emulator` and `gcbridge serve` as
//! separate processes on loopback, driven over HTTP like Genesys and through `gcbridge chat`
//! with piped input. The processes are stopped by their PIDs when the test ends.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");
const GENESYS_SECRET: &str = "e2e-genesys-secret-value";

/// A child process killed when dropped, with its stderr/stdout lines collected.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gcbridge");
        let (tx, rx) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a line containing `needle` and returns it.
    fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {needle:?} within {timeout:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    /// Everything printed so far.
    fn drain(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://127.0.0.1:PORT` from a line containing it.
fn url_in(line: &str) -> String {
    let start = line.find("http://127.0.0.1:").expect("url in line");
    line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.".contains(*c))
        .collect::<String>()
        .trim_end_matches('/')
        .to_owned()
}

fn start_pair(dir: &std::path::Path) -> (Proc, Proc, String) {
    let mut emulator = Proc::spawn(Command::new(BIN).args(["emulator", "--port", "0"]));
    let dl_url = url_in(&emulator.wait_line("listening on", Duration::from_secs(20)));
    let mut server = Proc::spawn(
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GCBRIDGE_LISTEN", "127.0.0.1:0")
            .env(
                "GCBRIDGE_STORE",
                format!("embedded:{}", dir.join("sessions.db").display()),
            )
            .env("GCBRIDGE_DIRECTLINE_URL", &dl_url)
            .env("GCBRIDGE_DIRECTLINE_SECRET", gcbridge_emulator_secret())
            .env("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET)
            .env("GCBRIDGE_LOG", "debug"),
    );
    let line = server.wait_line("gcbridge serving", Duration::from_secs(20));
    let addr_start = line.find("127.0.0.1:").expect("address in log line");
    let addr: String = line[addr_start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || ":.".contains(*c))
        .collect();
    (emulator, server, format!("http://{addr}"))
}

fn gcbridge_emulator_secret() -> &'static str {
    // The emulator's documented test secret (not a real credential).
    "emulator-secret-not-real"
}

fn post(url: &str, body: &Value) -> Value {
    let agent = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let r = agent
        .post(format!("{url}/genesys/v1/utterance"))
        .header("Authorization", GENESYS_SECRET)
        .json(body)
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    r.json().expect("json")
}

fn turn(session: &str, text: &str) -> Value {
    json!({
        "botId": "Contoso Support", "botVersion": "1", "botSessionId": session,
        "inputMessage": {"type": "Text", "text": text}, "languageCode": "en-us",
        "botSessionTimeout": 60, "genesysConversationId": "c-e2e",
        "parameters": {"CustomerName": "Ada"}
    })
}

#[test]
fn serve_and_emulator_processes_answer_genesys_turns() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_emulator, mut server, url) = start_pair(dir.path());

    let greeting = post(&url, &turn("e2e-1", ""));
    assert_eq!(greeting["botState"], "MoreData");
    let texts: Vec<&str> = greeting["replyMessages"]
        .as_array()
        .expect("replies")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts[0].starts_with("Hello Ada, I'm the **Contoso** virtual assistant"),
        "{texts:?}"
    );
    assert_eq!(texts.len(), 2, "{texts:?}");

    let hours = post(&url, &turn("e2e-1", "opening hours"));
    assert_eq!(hours["botState"], "MoreData");
    assert!(
        hours["replyMessages"][0]["text"]
            .as_str()
            .expect("text")
            .starts_with("Our stores are open:")
    );

    let handoff = post(&url, &turn("e2e-1", "talk to an agent"));
    assert_eq!(handoff["botState"], "Complete");
    assert_eq!(handoff["intent"], "Escalate");
    assert_eq!(handoff["entities"][0]["name"], "va_AgentMessage");
    assert_eq!(handoff["parameters"]["va_OrderNumber"], "12345");

    // The session store is a real file.
    assert!(dir.path().join("sessions.db").exists());

    // Even at debug level the logs hold neither secrets nor message texts.
    let logs = server.drain();
    assert!(logs.contains("turn answered"), "{logs}");
    for needle in [
        GENESYS_SECRET,
        gcbridge_emulator_secret(),
        "opening hours",
        "talk to an agent",
        "Our stores are open",
    ] {
        assert!(!logs.contains(needle), "log contains {needle:?}:\n{logs}");
    }
}

#[test]
fn chat_with_piped_input_prints_replies_and_the_handoff() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_emulator, _server, url) = start_pair(dir.path());
    let mut chat = Command::new(BIN)
        .args([
            "chat",
            "--url",
            &url,
            "--bot-id",
            "contoso-support",
            "--param",
            "CustomerName=Grace",
        ])
        .env("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat");
    chat.stdin
        .take()
        .expect("stdin")
        .write_all(b"two things please\nagent\n")
        .expect("write");
    let out = chat.wait_with_output().expect("chat output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("bot › Hello Grace, I'm the **Contoso** virtual assistant"),
        "{stdout}"
    );
    assert!(stdout.contains("you › two things please"), "{stdout}");
    assert!(
        stdout.contains("Sorry, I understood \"two things please\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("── Complete · intent Escalate ──"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "slot va_AgentMessage (String) = \"Grace asked for a human after: Fallback.\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("slot va_OrderNumber (String) = \"12345\""),
        "{stdout}"
    );
}

#[test]
fn chat_talks_to_the_digital_bot_connector() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_emulator, _server, url) = start_pair(dir.path());
    let mut chat = Command::new(BIN)
        .args([
            "chat",
            "--dbc",
            "--url",
            &url,
            "--bot-id",
            "contoso-support",
        ])
        .env("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat");
    chat.stdin
        .take()
        .expect("stdin")
        .write_all(b"bye\n")
        .expect("write");
    let out = chat.wait_with_output().expect("chat output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bot › Hello there, I'm the **Contoso** virtual assistant"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bot › Thanks for contacting Contoso, there. Goodbye!"),
        "{stdout}"
    );
    assert!(
        stdout.contains("── Complete · intent EndConversation ──"),
        "{stdout}"
    );
}

#[test]
fn serve_refuses_to_start_without_a_genesys_secret() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("GCBRIDGE_LISTEN", "127.0.0.1:0")
        .env("GCBRIDGE_STORE", "memory:")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GCBRIDGE_GENESYS_SECRET"), "{stderr}");
}

#[test]
fn check_reports_the_store_and_a_bad_config() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(BIN)
        .arg("check")
        .env_clear()
        .env(
            "GCBRIDGE_STORE",
            format!("embedded:{}", dir.path().join("c.db").display()),
        )
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ok    store embedded:"), "{stdout}");
    assert!(
        stdout.contains("warn  bot \"copilot\" has no Direct Line secret"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "lisen = 1\n").expect("write");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .env_clear()
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("lisen"));
}
