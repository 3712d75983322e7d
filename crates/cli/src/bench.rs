//! `gcbridge bench`: how much time gcbridge adds to a turn. Starts the emulator with an agent
//! that answers every message after a fixed delay and then signals the end of its turn, and an
//! in-process gcbridge pointed at it (or uses `--url` for a gcbridge already running against
//! such an agent); then drives concurrent Genesys sessions on loopback and prints latency
//! percentiles, the time added beyond the agent's delay, throughput and reply accounting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use gcbridge_app::{AppConfig, AppState};
use gcbridge_genesys::{BotState, TurnResponse};
use serde_json::json;

/// Flags of `gcbridge bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Concurrent Genesys bot sessions.
    #[arg(long, default_value_t = 50)]
    pub sessions: usize,
    /// Turns per session (the first one also starts the Direct Line conversation).
    #[arg(long, default_value_t = 10)]
    pub turns: usize,
    /// The agent's own reply time, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub delay_ms: u64,
    /// gcbridge's polling interval in milliseconds (also the first-poll delay).
    #[arg(long, default_value_t = 20)]
    pub poll_ms: u64,
    /// Session store of the in-process gcbridge.
    #[arg(long, default_value = "memory:")]
    pub store: String,
    /// Run the scenario mix (single replies, multi-message turns, slow replies, handoffs) in
    /// each turn-ending mode: fixed quiet, adaptive quiet, DBC asynchronous replies.
    #[arg(long)]
    pub mix: bool,
    /// With `--mix`: the agent's multi-message turns send no typing indicators.
    #[arg(long, requires = "mix")]
    pub no_typing: bool,
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    gcbridge_app::telemetry::init("error");
    if args.sessions == 0 || args.turns == 0 {
        bail!("--sessions and --turns must be at least 1");
    }
    if args.mix {
        return crate::bench_mix::run(&args).await;
    }
    let script = format!(
        r#"
[agent]
name = "Bench agent"
bot_id = "bench-agent"

[fallback]
topic = "Bench"
steps = [
  {{ delay_ms = {delay}, text = "ok" }},
  {{ event = "turn.complete" }},
]
"#,
        delay = args.delay_ms
    );
    let script = gcbridge_emulator::Script::from_toml_str(&script).context("bench script")?;
    let emulator_config = gcbridge_emulator::EmulatorConfig::new(script);
    let dl_secret = emulator_config.secrets.first().cloned().unwrap_or_default();
    let emulator = gcbridge_emulator::start(
        tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
        emulator_config,
    )
    .await;

    let config_text = format!(
        "[bot.timings]\nfirst_poll_delay_ms = {p}\npoll_interval_ms = {p}\n",
        p = args.poll_ms.max(1)
    );
    let env: HashMap<&str, String> = HashMap::from([
        ("GCBRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
        ("GCBRIDGE_STORE", args.store.clone()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        ("GCBRIDGE_DIRECTLINE_SECRET", dl_secret),
        ("GCBRIDGE_USER_ID_KEY", "bench".to_owned()),
    ]);
    let config = AppConfig::from_parts(Some(&config_text), &|n| env.get(n).cloned())?;
    let state = Arc::new(AppState::new(config).await?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/genesys/v1/utterance", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gcbridge_app::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions)
        .build()?;
    println!(
        "gcbridge bench: {} sessions × {} turns, agent delay {} ms, polling every {} ms, store {}",
        args.sessions, args.turns, args.delay_ms, args.poll_ms, args.store
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..args.sessions {
        let http = http.clone();
        let url = url.clone();
        let turns = args.turns;
        tasks.push(tokio::spawn(
            async move { session(http, url, s, turns).await },
        ));
    }
    let mut latencies = Vec::new();
    let mut first = Vec::new();
    let mut delivered = 0usize;
    let mut failed = 0usize;
    for task in tasks {
        let result = task.await.context("session task")?;
        latencies.extend(result.latencies);
        first.extend(result.first);
        delivered += result.replies;
        failed += result.failed;
    }
    let wall = started.elapsed();
    let _ = stop_tx.send(());
    let _ = server.await;
    emulator.shutdown().await;

    let expected = args.sessions * args.turns;
    latencies.sort();
    first.sort();
    let pct_of = |v: &[Duration], p: f64| -> Duration {
        if v.is_empty() {
            return Duration::ZERO;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)]
    };
    let pct = |p: f64| pct_of(&latencies, p);
    let agent = Duration::from_millis(args.delay_ms);
    let added = |d: Duration| d.saturating_sub(agent).as_secs_f64() * 1000.0;
    println!();
    println!(
        "turns            {expected} in {:.2} s = {:.0} turns/s",
        wall.as_secs_f64(),
        expected as f64 / wall.as_secs_f64()
    );
    println!(
        "first turns      p50 {:.1} ms  p99 {:.1} ms  (start the conversation and its stream too)",
        ms(pct_of(&first, 0.5)),
        ms(pct_of(&first, 0.99))
    );
    println!(
        "later turns      p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!(
        "added by bridge  p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (later turns − {} ms agent delay)",
        added(pct(0.5)),
        added(pct(0.9)),
        added(pct(0.99)),
        added(pct(1.0)),
        args.delay_ms
    );
    println!(
        "replies          expected {expected}  delivered {delivered}  lost {}  duplicated {}  failed turns {failed}",
        expected.saturating_sub(delivered),
        delivered.saturating_sub(expected)
    );
    if let Some(rss) = rss_mib() {
        println!(
            "process RSS      {rss:.1} MiB (gcbridge, emulator and load generator in one process)"
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct SessionResult {
    /// First turns: they also start the Direct Line conversation and open its stream.
    first: Vec<Duration>,
    latencies: Vec<Duration>,
    replies: usize,
    failed: usize,
}

async fn session(http: reqwest::Client, url: String, index: usize, turns: usize) -> SessionResult {
    let bot_session = uuid::Uuid::new_v4().to_string();
    let mut out = SessionResult {
        first: Vec::with_capacity(1),
        latencies: Vec::with_capacity(turns),
        replies: 0,
        failed: 0,
    };
    for turn in 0..turns {
        let body = json!({
            "botId": "bench", "botVersion": "1", "botSessionId": bot_session,
            "inputMessage": {"type": "Text", "text": format!("session {index} turn {turn}")},
            "languageCode": "en-us", "botSessionTimeout": 60,
        });
        let started = Instant::now();
        let response = match http.post(&url).json(&body).send().await {
            Ok(r) => r.json::<TurnResponse>().await.ok(),
            Err(_) => None,
        };
        if turn == 0 {
            out.first.push(started.elapsed());
        } else {
            out.latencies.push(started.elapsed());
        }
        match response {
            Some(r) if r.bot_state == BotState::MoreData => out.replies += r.reply_messages.len(),
            _ => out.failed += 1,
        }
    }
    out
}

/// Resident memory of this process, from `/proc/self/status` (Linux only).
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
