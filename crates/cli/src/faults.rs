//! `gcbridge faults`: the reliability report. Runs the fault matrix against the Direct Line
//! emulator on loopback, one fault at a time (429, 502, 503, 504, a cut connection, a post whose
//! answer is lost, an expired conversation, expired tokens, replies slower than the deadline, and
//! gcbridge itself killed with SIGKILL and restarted), with concurrent sessions whose every
//! message is unique and whose every agent reply names the message it answers. It then counts,
//! from the customer's side and from the agent's (the emulator's transcript), what happened to
//! each message, and prints one row per fault:
//!
//! - delivered: the agent's reply reached the customer;
//! - duplicated: a message posted to the agent twice, or its reply delivered twice;
//! - lost: posted to the agent but its reply never delivered, or answered as if accepted and
//!   never posted (silent losses);
//! - failed: answered `Failed` and not posted (the customer was told; Genesys takes the flow's
//!   failure path);
//! - p99: of the answer times of all requests;
//! - conversations: Direct Line conversations started (one per session, more where a lost
//!   conversation was replaced).
//!
//! Requests cut by the SIGKILL are repeated with the same input, as Genesys does; so is an
//! answer `SessionBusy` (a lease held by the killed process).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use gcbridge_app::AppConfig;
use gcbridge_emulator::{Emulator, EmulatorConfig, Fault, Op, Script};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Flags of `gcbridge faults`.
#[derive(Debug, Clone, Args)]
pub struct FaultsArgs {
    /// Concurrent sessions per fault.
    #[arg(long, default_value_t = 8)]
    pub sessions: usize,
    /// Customer messages per session.
    #[arg(long, default_value_t = 6)]
    pub turns: usize,
}

/// gcbridge's timings in the report: short, so the matrix runs in about a minute; the agent
/// answers in 100 ms and signals the end of its turn.
const TIMINGS: &str = "[bot.timings]\ndeadline_ms = 2000\nresponse_margin_ms = 200\nquiet_ms = 300\nfirst_poll_delay_ms = 20\npoll_interval_ms = 50\n";

/// The agent: every reply names the message and the conversation; `late` ones miss the deadline.
const AGENT: &str = r#"
[agent]
name = "Fault agent"
bot_id = "fault-agent"

[[rules]]
topic = "Late"
match = { contains = "late" }
steps = [{ delay_ms = 2500, text = "ack {Text} in {ConversationId}" }, { event = "turn.complete" }]

[fallback]
topic = "Echo"
steps = [{ delay_ms = 100, text = "ack {Text} in {ConversationId}" }, { event = "turn.complete" }]
"#;

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    None,
    Throttled,
    BadGateway,
    Unavailable,
    GatewayTimeout,
    Reset,
    LostPostAnswer,
    ExpiredConversation,
    ExpiredToken,
    Slow,
    Restart,
}

impl Scenario {
    const ALL: [Scenario; 11] = [
        Scenario::None,
        Scenario::Throttled,
        Scenario::BadGateway,
        Scenario::Unavailable,
        Scenario::GatewayTimeout,
        Scenario::Reset,
        Scenario::LostPostAnswer,
        Scenario::ExpiredConversation,
        Scenario::ExpiredToken,
        Scenario::Slow,
        Scenario::Restart,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::None => "none",
            Scenario::Throttled => "429 + Retry-After 1 s on posts",
            Scenario::BadGateway => "502 on posts (refused)",
            Scenario::Unavailable => "503 on any call",
            Scenario::GatewayTimeout => "504 on any call",
            Scenario::Reset => "connection reset on any call",
            Scenario::LostPostAnswer => "post accepted, answer lost (502)",
            Scenario::ExpiredConversation => "404 conversation expired",
            Scenario::ExpiredToken => "403 token expired (token mode)",
            Scenario::Slow => "reply after the deadline (2.5 s)",
            Scenario::Restart => "gcbridge SIGKILL + restart",
        }
    }

    /// A fault injected before every other message of a session.
    fn fault(self) -> Option<Fault> {
        let (op, status, retry_after_secs) = match self {
            Scenario::Throttled => (Op::PostActivity, 429, Some(1)),
            Scenario::BadGateway => (Op::PostActivity, 502, None),
            Scenario::Unavailable => (Op::Any, 503, None),
            Scenario::GatewayTimeout => (Op::Any, 504, None),
            Scenario::Reset => (Op::Any, 0, None),
            Scenario::LostPostAnswer => (Op::PostActivityAfterAccept, 502, None),
            _ => return None,
        };
        Some(Fault {
            op,
            status,
            retry_after_secs,
            count: 1,
        })
    }
}

/// What one row measured.
#[derive(Debug, Default)]
struct Row {
    attempted: usize,
    delivered: usize,
    duplicated: usize,
    lost: usize,
    failed: usize,
    /// Direct Line conversations the emulator started (one per session unless replaced).
    conversations: usize,
    latencies: Vec<Duration>,
}

/// Runs the matrix and prints the table.
pub async fn run(args: FaultsArgs) -> anyhow::Result<()> {
    gcbridge_app::telemetry::init("error");
    if args.sessions == 0 || args.turns == 0 {
        bail!("--sessions and --turns must be at least 1");
    }
    println!(
        "gcbridge faults: {} sessions × {} messages per fault; gcbridge deadline 2 s, agent reply 100 ms",
        args.sessions, args.turns
    );
    println!();
    println!(
        "| {:<36} | {:>5} | {:>9} | {:>10} | {:>4} | {:>6} | {:>7} | {:>13} |",
        "fault", "turns", "delivered", "duplicated", "lost", "failed", "p99 ms", "conversations"
    );
    println!(
        "|{:-<38}|{:->7}|{:->11}|{:->12}|{:->6}|{:->8}|{:->9}|{:->15}|",
        "", "", "", "", "", "", "", ""
    );
    let mut problems = 0;
    for scenario in Scenario::ALL {
        let row = run_row(scenario, &args)
            .await
            .with_context(|| format!("fault {:?}", scenario.label()))?;
        let mut latencies = row.latencies;
        latencies.sort();
        let p99 = latencies
            .get(((latencies.len() as f64 - 1.0) * 0.99).round().max(0.0) as usize)
            .copied()
            .unwrap_or_default();
        println!(
            "| {:<36} | {:>5} | {:>9} | {:>10} | {:>4} | {:>6} | {:>7.0} | {:>13} |",
            scenario.label(),
            row.attempted,
            row.delivered,
            row.duplicated,
            row.lost,
            row.failed,
            p99.as_secs_f64() * 1000.0,
            row.conversations
        );
        if row.duplicated > 0 || row.lost > 0 {
            problems += 1;
        }
    }
    if problems > 0 {
        bail!("{problems} fault(s) lost or duplicated messages");
    }
    Ok(())
}

/// Where the row's gcbridge runs: in this process, or as a child process that can be killed.
enum Bridge {
    InProcess(crate::local::LocalServer),
    Child {
        child: tokio::process::Child,
        dir: std::path::PathBuf,
    },
}

async fn run_row(scenario: Scenario, args: &FaultsArgs) -> anyhow::Result<Row> {
    let script = Script::from_toml_str(AGENT).context("agent script")?;
    let emulator = Arc::new(
        gcbridge_emulator::start(
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
            EmulatorConfig::new(script),
        )
        .await,
    );
    let mut env: Vec<(&str, String)> = vec![
        ("GCBRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        ("GCBRIDGE_USER_ID_KEY", "faults".to_owned()),
    ];
    if scenario == Scenario::ExpiredToken {
        env.push((
            "GCBRIDGE_DIRECTLINE_TOKEN_ENDPOINT",
            emulator.token_endpoint_url(),
        ));
    } else {
        env.push((
            "GCBRIDGE_DIRECTLINE_SECRET",
            emulator.secret().unwrap_or_default().to_owned(),
        ));
    }
    let (mut bridge, url) = if scenario == Scenario::Restart {
        let dir = std::env::temp_dir().join(format!("gcbridge-faults-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        env.push((
            "GCBRIDGE_STORE",
            format!("embedded:{}", dir.join("sessions.db").display()),
        ));
        let (child, url) = spawn_serve(&env, &dir).await?;
        (Bridge::Child { child, dir }, url)
    } else {
        env.push(("GCBRIDGE_STORE", "memory:".to_owned()));
        let map: HashMap<&str, String> = env.iter().cloned().collect();
        let config = AppConfig::from_parts(Some(TIMINGS), &|n| map.get(n).cloned())?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let server = crate::local::LocalServer::start(config, listener).await?;
        let url = server.base.clone();
        (Bridge::InProcess(server), url)
    };
    let url = Arc::new(RwLock::new(url));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let mut tasks = Vec::new();
    for s in 0..args.sessions {
        let (http, url, emulator, run_id) =
            (http.clone(), url.clone(), emulator.clone(), run_id.clone());
        let turns = args.turns;
        tasks.push(tokio::spawn(async move {
            session(scenario, &http, &url, &emulator, &run_id, s, turns).await
        }));
    }
    if let Bridge::Child { child, dir } = &mut bridge {
        // Two SIGKILLs in the middle of the turns, each followed by a restart on the same store.
        for pause in [700, 900] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            child.start_kill()?;
            let _ = child.wait().await;
            let (next, next_url) = spawn_serve(&env, dir).await?;
            *child = next;
            *url.write().unwrap_or_else(|e| e.into_inner()) = next_url;
        }
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.context("session task")??);
    }

    // Replies that missed their turn come with the next one: one more turn per session, after
    // the slowest reply had time to arrive.
    let settle = if scenario == Scenario::Slow {
        2_700
    } else {
        800
    };
    tokio::time::sleep(Duration::from_millis(settle)).await;
    let current = url.read().unwrap_or_else(|e| e.into_inner()).clone();
    for (s, result) in results.iter_mut().enumerate() {
        let flush = format!("{run_id}s{s}flush");
        let answer = send(&http, &current, &result.session, &flush).await;
        result.replies.extend(answer.texts);
    }

    match bridge {
        Bridge::InProcess(server) => server.stop().await,
        Bridge::Child { mut child, dir } => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    // The agent's side: how often each message was posted.
    let mut posted: HashMap<String, usize> = HashMap::new();
    for id in emulator.conversation_ids() {
        for a in emulator.user_activities(&id) {
            if a.kind == "message"
                && let Some(text) = a.text
            {
                *posted.entry(text).or_default() += 1;
            }
        }
    }
    let mut row = Row {
        conversations: emulator.conversations_started(),
        ..Row::default()
    };
    for (s, result) in results.into_iter().enumerate() {
        let mut acks: HashMap<String, usize> = HashMap::new();
        for reply in &result.replies {
            if let Some((text, _)) = reply
                .strip_prefix("ack ")
                .and_then(|r| r.split_once(" in "))
            {
                *acks.entry(text.to_owned()).or_default() += 1;
            }
        }
        for t in 0..args.turns {
            let text = message(scenario, &run_id, s, t);
            let times_posted = posted.get(&text).copied().unwrap_or(0);
            let times_acked = acks.get(&text).copied().unwrap_or(0);
            row.attempted += 1;
            if times_posted > 1 || times_acked > 1 {
                row.duplicated += 1;
            }
            if times_acked >= 1 {
                row.delivered += 1;
            } else if times_posted == 0 && result.failed.contains(&t) {
                row.failed += 1;
            } else {
                row.lost += 1;
            }
        }
        row.latencies.extend(result.latencies);
    }
    if let Ok(emulator) = Arc::try_unwrap(emulator) {
        emulator.shutdown().await;
    }
    Ok(row)
}

/// `gcbridge serve` (this very binary) as a child process; returns it and its URL once it
/// serves. Its log output is drained in the background.
async fn spawn_serve(
    env: &[(&str, String)],
    dir: &std::path::Path,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let config = dir.join("gcbridge.toml");
    std::fs::write(&config, TIMINGS)?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("GCBRIDGE_GENESYS_SECRET", "faults-report")
        .env("GCBRIDGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting gcbridge serve")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .context("gcbridge serve did not start within 30 s")??
            .context("gcbridge serve exited")?;
        if line.contains("gcbridge serving")
            && let Some(at) = line.find("127.0.0.1:")
        {
            let addr: String = line[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || ":.".contains(*c))
                .collect();
            break format!("http://{addr}");
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

fn message(scenario: Scenario, run_id: &str, s: usize, t: usize) -> String {
    let late = if scenario == Scenario::Slow && t % 2 == 1 {
        " late"
    } else {
        ""
    };
    format!("{run_id}s{s}t{t}{late}")
}

struct SessionResult {
    session: String,
    replies: Vec<String>,
    failed: Vec<usize>,
    latencies: Vec<Duration>,
}

async fn session(
    scenario: Scenario,
    http: &reqwest::Client,
    url: &RwLock<String>,
    emulator: &Emulator,
    run_id: &str,
    s: usize,
    turns: usize,
) -> anyhow::Result<SessionResult> {
    let mut result = SessionResult {
        session: format!("{run_id}-session-{s}"),
        replies: Vec::new(),
        failed: Vec::new(),
        latencies: Vec::new(),
    };
    let mut conversation: Option<String> = None;
    for t in 0..turns {
        if t % 2 == 1 {
            if let Some(fault) = scenario.fault() {
                emulator.inject_fault(fault);
            }
            match (scenario, &conversation) {
                (Scenario::ExpiredConversation, Some(c)) => emulator.expire_conversation(c),
                (Scenario::ExpiredToken, Some(c)) => emulator.expire_tokens(c),
                _ => {}
            }
        }
        let text = message(scenario, run_id, s, t);
        let current = url.read().unwrap_or_else(|e| e.into_inner()).clone();
        let answer = send(http, &current, &result.session, &text).await;
        let answer = if answer.retry {
            // Cut by the kill or refused as busy: repeated as Genesys would, at the current URL.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut answer = answer;
            while answer.retry && Instant::now() < deadline {
                result.latencies.extend(answer.latency);
                tokio::time::sleep(Duration::from_millis(100)).await;
                let current = url.read().unwrap_or_else(|e| e.into_inner()).clone();
                answer = send(http, &current, &result.session, &text).await;
            }
            answer
        } else {
            answer
        };
        result.latencies.extend(answer.latency);
        if answer.failed {
            result.failed.push(t);
        }
        for reply in &answer.texts {
            if let Some((_, conv)) = reply.split_once(" in ") {
                conversation = Some(conv.to_owned());
            }
        }
        result.replies.extend(answer.texts);
    }
    Ok(result)
}

struct Answer {
    texts: Vec<String>,
    failed: bool,
    /// Nothing usable came back (connection cut, busy): repeat the request.
    retry: bool,
    latency: Option<Duration>,
}

async fn send(http: &reqwest::Client, url: &str, session: &str, text: &str) -> Answer {
    let body = json!({
        "botId": "faults", "botVersion": "1", "botSessionId": session,
        "inputMessage": {"type": "Text", "text": text}, "languageCode": "en-us",
        "botSessionTimeout": 60,
    });
    let started = Instant::now();
    let sent = http
        .post(format!("{url}/genesys/v1/utterance"))
        .header("Authorization", "faults-report")
        .json(&body)
        .send()
        .await;
    let answer = match sent {
        Ok(r) => r.json::<Value>().await.ok(),
        Err(_) => None,
    };
    let latency = Some(started.elapsed());
    let Some(answer) = answer else {
        return Answer {
            texts: Vec::new(),
            failed: false,
            retry: true,
            latency: None,
        };
    };
    let texts = answer["replyMessages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let code = answer["errorInfo"]["errorCode"]
        .as_str()
        .unwrap_or_default();
    Answer {
        texts,
        failed: answer["botState"] == "Failed",
        retry: code == "SessionBusy",
        latency,
    }
}
