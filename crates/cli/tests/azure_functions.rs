//! `gcbridge serve` as the Azure Functions host runs it: the host starts the custom handler
//! (`deploy/azure/host.json`: `gcbridge serve`) with `FUNCTIONS_CUSTOMHANDLER_PORT` as the only
//! hint of where to listen, then forwards each HTTP request unchanged (route prefix empty,
//! `enableForwardingHttpRequest`). These tests start the real binary that way and play the host:
//! health, a Genesys turn against the Direct Line emulator, and every route declared in
//! `deploy/azure/*/function.json` exists in gcbridge's router with the declared methods.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gcbridge_emulator::{Emulator, EmulatorConfig, Script};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gcbridge");
const GENESYS_SECRET: &str = "functions-genesys-secret";

/// The child process, killed (by its own handle) when dropped.
struct Handler {
    child: Child,
    base: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that is free now, as the Functions host picks one for its handler.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn emulator() -> Emulator {
    let script = Script::from_toml_str(
        r#"
[agent]
name = "Functions Test Agent"
bot_id = "functions-test-agent"
[greeting]
steps = [{ text = "Hello from the agent" }]
[fallback]
steps = [{ text = "echo: {Text}" }]
"#,
    )
    .expect("script");
    gcbridge_emulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        EmulatorConfig::new(script),
    )
    .await
}

/// Starts `gcbridge serve` with the environment the Functions host gives a custom handler plus
/// the app settings gcbridge needs, and waits until it logs that it serves on the port.
fn start_handler(emulator: &Emulator) -> Handler {
    let port = free_port();
    let child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_WORKER_RUNTIME", "custom")
        .env("GCBRIDGE_STORE", "memory:")
        .env("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET)
        .env("GCBRIDGE_DIRECTLINE_URL", emulator.base_url())
        .env(
            "GCBRIDGE_DIRECTLINE_SECRET",
            emulator.secret().expect("emulator secret"),
        )
        .env("GCBRIDGE_USER_ID_KEY", "functions-test-user-id-key")
        // The Web Chat token server is off by default (404); on, so its function is checked.
        .env("GCBRIDGE_WEBCHAT_ORIGINS", "https://www.example.com")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gcbridge serve");
    // From here on the handler is stopped when dropped, also when this function panics.
    let mut handler = Handler {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let (tx, rx) = mpsc::channel();
    let stderr = handler.child.stderr.take().expect("stderr");
    // Keeps reading after the start: a closed pipe would make the handler's log writes fail.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if line.contains("gcbridge serving") {
            assert!(
                line.contains(&format!("127.0.0.1:{port}")),
                "the handler must listen on loopback at FUNCTIONS_CUSTOMHANDLER_PORT: {line}"
            );
            return handler;
        }
        seen.push(line);
    }
    panic!("gcbridge serve did not start:\n{}", seen.join("\n"));
}

/// A request as the Functions host forwards it: same method, path, headers and body, plus the
/// forwarding headers the host adds.
fn forwarded(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .header("X-Forwarded-For", "198.51.100.7:52101")
        .header("X-Forwarded-Proto", "https")
        .header("X-Original-URL", "/")
}

fn turn(session: &str, text: &str) -> Value {
    json!({
        "botId": "copilot", "botVersion": "1", "botSessionId": session,
        "inputMessage": {"type": "Text", "text": text}, "languageCode": "en-us",
        "botSessionTimeout": 60, "genesysConversationId": "c-functions"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_the_custom_handler_port_and_answers_forwarded_requests() {
    let emulator = emulator().await;
    let handler = start_handler(&emulator);
    let http = reqwest::Client::new();

    let health = forwarded(
        &http,
        reqwest::Method::GET,
        format!("{}/healthz", handler.base),
    )
    .send()
    .await
    .expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );

    let answer = forwarded(
        &http,
        reqwest::Method::POST,
        format!("{}/genesys/v1/utterance", handler.base),
    )
    .header("Authorization", GENESYS_SECRET)
    .json(&turn("functions-1", ""))
    .send()
    .await
    .expect("utterance");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["botState"], "MoreData", "{body}");
    assert_eq!(
        body["replyMessages"][0]["text"], "Hello from the agent",
        "{body}"
    );

    let denied = forwarded(
        &http,
        reqwest::Method::POST,
        format!("{}/genesys/v1/utterance", handler.base),
    )
    .header("Authorization", "wrong")
    .json(&turn("functions-2", "hi"))
    .send()
    .await
    .expect("utterance");
    assert_eq!(denied.status(), 403, "gcbridge checks the secret itself");

    // The container's health check probes the same endpoint, found from GCBRIDGE_LISTEN.
    let listen = handler.base.trim_start_matches("http://").to_owned();
    let probe = tokio::process::Command::new(BIN)
        .arg("healthcheck")
        .env_clear()
        .env("GCBRIDGE_LISTEN", &listen)
        .output()
        .await
        .expect("healthcheck");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let closed = free_port();
    let probe = tokio::process::Command::new(BIN)
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{closed}/healthz"),
        ])
        .env_clear()
        .output()
        .await
        .expect("healthcheck");
    assert_eq!(probe.status.code(), Some(1), "nothing listens there");
}

/// `(route, methods)` of every function definition.
fn declared_routes() -> Vec<(PathBuf, String, Vec<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/azure");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/azure") {
        let path = entry.expect("entry").path().join("function.json");
        if !path.exists() {
            continue;
        }
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let trigger = doc["bindings"]
            .as_array()
            .expect("bindings")
            .iter()
            .find(|b| b["type"] == "httpTrigger")
            .unwrap_or_else(|| panic!("{} has no httpTrigger", path.display()));
        let route = trigger["route"].as_str().expect("route").to_owned();
        let methods = trigger["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .map(|m| m.as_str().expect("method").to_ascii_uppercase())
            .collect();
        routes.push((path, route, methods));
    }
    routes.sort();
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_function_route_exists_in_the_router() {
    let routes = declared_routes();
    assert_eq!(
        routes.len(),
        11,
        "one function per gcbridge route (the widget's two assets share one): {routes:?}"
    );
    let emulator = emulator().await;
    let handler = start_handler(&emulator);
    let http = reqwest::Client::new();
    for (path, route, methods) in &routes {
        assert!(!methods.is_empty(), "{} declares no method", path.display());
        // Route parameters in Functions: the configured default bot is `copilot`; the widget's
        // assets are `widget.js` and `widget.css`.
        let route = route
            .replace("{botId}", "copilot")
            .replace("{file}", "widget.js");
        let url = format!("{}/{route}", handler.base);
        for method in methods {
            let method: reqwest::Method = method.parse().expect("method");
            let mut request = forwarded(&http, method.clone(), url.clone())
                .header("Authorization", GENESYS_SECRET);
            if method == reqwest::Method::POST {
                request = request.json(&json!({}));
            }
            let status = request.send().await.expect("request").status();
            assert!(
                status != 404 && status != 405,
                "{} declares {method} /{route}, which gcbridge answers with {status}",
                path.display()
            );
        }
    }
}
