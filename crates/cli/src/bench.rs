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
use gcbridge_app::AppConfig;
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
    /// Sessions running at once (default: all of them). Finished sessions stay open in gcbridge
    /// (their conversations, records and idle streams), so `--sessions 10000 --concurrency 200`
    /// measures memory with 10,000 open sessions.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// The agent's own reply time, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub delay_ms: u64,
    /// The agent sends no end-of-turn signal, as most Copilot Studio agents: each turn ends
    /// after gcbridge's quiet period, fixed at this many milliseconds (adaptive learning off).
    /// The bench subtracts it from the added time and reports it on its own line. With `--url`,
    /// give the quiet period that connector is configured with.
    #[arg(long)]
    pub quiet_ms: Option<u64>,
    /// gcbridge's polling interval in milliseconds (also the first-poll delay).
    #[arg(long, default_value_t = 20)]
    pub poll_ms: u64,
    /// Session store of the gcbridge the bench starts.
    #[arg(long, default_value = "memory:")]
    pub store: String,
    /// Run the scenario mix (single replies, multi-message turns, slow replies, handoffs) in
    /// each turn-ending mode: fixed quiet, adaptive quiet, DBC asynchronous replies.
    #[arg(long)]
    pub mix: bool,
    /// With `--mix`: the agent's multi-message turns send no typing indicators.
    #[arg(long, requires = "mix")]
    pub no_typing: bool,
    /// Run gcbridge inside the bench process instead of as its own `gcbridge serve` process
    /// (no separate RSS/CPU figures).
    #[arg(long)]
    pub in_process: bool,
    /// Load an already running connector instead of starting gcbridge: its Bot Connector v1
    /// utterance URL. Its agent must be this bench's emulator (`--emulator-port`).
    #[arg(long)]
    pub url: Option<String>,
    /// Process id of the connector at `--url`, for its RSS and CPU figures.
    #[arg(long, requires = "url")]
    pub pid: Option<u32>,
    /// Then run the same load against this other connector's utterance URL and print both side
    /// by side (e.g. another Genesys-to-Copilot connector pointed at the bench's emulator).
    #[arg(long)]
    pub compare_url: Option<String>,
    /// Process id of the connector at `--compare-url`, for its RSS and CPU figures.
    #[arg(long, requires = "compare_url")]
    pub compare_pid: Option<u32>,
    /// Credential header value the connectors expect (`Authorization`).
    #[arg(long, env = "GCBRIDGE_BENCH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Port of the bench's Direct Line emulator on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub emulator_port: u16,
}

/// What one load run measured.
#[derive(Debug, Default)]
struct Figures {
    label: String,
    /// The quiet period subtracted from this connector's turns.
    quiet_ms: Option<u64>,
    turns: usize,
    wall: Duration,
    first: Vec<Duration>,
    later: Vec<Duration>,
    /// Later turns: what the customer waited minus the agent's own reply time.
    added: Vec<Duration>,
    /// Later turns: the agent's own reply time, as the emulator measured it.
    agent: Vec<Duration>,
    delivered: usize,
    failed: usize,
    /// CPU seconds the connector process used during the run.
    cpu_secs: Option<f64>,
    /// Resident memory of the connector process at the end, and its peak.
    rss_mib: Option<(f64, f64)>,
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
    // The reply carries the agent's own time (`{ElapsedMs}`); then, unless the turn is to end
    // by quiet period, the agent's end-of-turn event.
    let end_signal = if args.quiet_ms.is_some() {
        ""
    } else {
        "\n  { event = \"turn.complete\" },"
    };
    let script = format!(
        r#"
[agent]
name = "Bench agent"
bot_id = "bench-agent"

[fallback]
topic = "Bench"
steps = [
  {{ delay_ms = {delay}, text = "ok {{ElapsedMs}}" }},{end_signal}
]
"#,
        delay = args.delay_ms
    );
    let script = gcbridge_emulator::Script::from_toml_str(&script).context("bench script")?;
    let emulator_config = gcbridge_emulator::EmulatorConfig::new(script);
    let dl_secret = emulator_config.secrets.first().cloned().unwrap_or_default();
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.emulator_port))
        .with_context(|| format!("binding the emulator on 127.0.0.1:{}", args.emulator_port))?;
    let emulator = emulator_thread(listener, emulator_config).await?;
    println!(
        "gcbridge bench: {} sessions × {} turns ({} at once), agent delay {} ms, store {}",
        args.sessions,
        args.turns,
        args.concurrency.unwrap_or(args.sessions),
        args.delay_ms,
        args.store
    );
    if args.url.is_some() || args.compare_url.is_some() {
        println!(
            "agent: Direct Line emulator at {} (its secret: {dl_secret}); point the connectors under test at it",
            emulator.base_url()
        );
    }

    let mut results = Vec::new();
    match &args.url {
        Some(url) => {
            let figures = load(
                &args,
                url,
                args.secret.clone(),
                args.pid,
                "connector",
                false,
            )
            .await?;
            results.push(figures);
        }
        None if args.in_process => {
            let (server, secret) = in_process(&args, &emulator, &dl_secret).await?;
            let url = format!("{}/genesys/v1/utterance", server.base);
            results.push(
                load(
                    &args,
                    &url,
                    Some(secret),
                    None,
                    "gcbridge (in process)",
                    false,
                )
                .await?,
            );
            server.stop().await;
        }
        None => {
            let child = Child::spawn(&args, &emulator, &dl_secret).await?;
            let figures = load(
                &args,
                &child.url,
                Some(child.secret.clone()),
                child.process.id(),
                "gcbridge",
                false,
            )
            .await;
            child.stop().await;
            results.push(figures?);
        }
    }
    if let Some(url) = &args.compare_url {
        results.push(
            load(
                &args,
                url,
                args.secret.clone(),
                args.compare_pid,
                "compared",
                true,
            )
            .await?,
        );
    }
    emulator.shutdown().await;
    print_figures(&args, &results);
    Ok(())
}

/// The emulator (the agent) on its own thread and single-threaded runtime: the load generator's
/// timing is then not held up by the agent's work on the same worker threads, and the agent's
/// timers are not held up by the load generator.
async fn emulator_thread(
    listener: std::net::TcpListener,
    config: gcbridge_emulator::EmulatorConfig,
) -> anyhow::Result<gcbridge_emulator::Emulator> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the emulator's runtime")?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-agent".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let emulator = gcbridge_emulator::start(listener, config).await;
                if tx.send(Ok(emulator)).is_ok() {
                    // Serves until the process ends (the bench shuts it down first).
                    std::future::pending::<()>().await;
                }
            });
        })
        .context("starting the emulator's thread")?;
    Ok(rx.await.context("the emulator's thread stopped")??)
}

/// gcbridge inside this process (the bench's original mode).
async fn in_process(
    args: &BenchArgs,
    emulator: &gcbridge_emulator::Emulator,
    dl_secret: &str,
) -> anyhow::Result<(crate::local::LocalServer, String)> {
    let secret = gcbridge_app::state::random_hex(16);
    let env: HashMap<&str, String> = HashMap::from([
        ("GCBRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
        ("GCBRIDGE_STORE", args.store.clone()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        ("GCBRIDGE_DIRECTLINE_SECRET", dl_secret.to_owned()),
        ("GCBRIDGE_USER_ID_KEY", "bench".to_owned()),
        ("GCBRIDGE_GENESYS_SECRET", secret.clone()),
    ]);
    let config = AppConfig::from_parts(Some(&timings(args)), &|n| env.get(n).cloned())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let server = crate::local::LocalServer::start(config, listener).await?;
    Ok((server, secret))
}

fn timings(args: &BenchArgs) -> String {
    let mut toml = format!(
        "[bot.timings]\nfirst_poll_delay_ms = {p}\npoll_interval_ms = {p}\n",
        p = args.poll_ms.max(1)
    );
    if let Some(quiet) = args.quiet_ms {
        toml.push_str(&format!("quiet_ms = {quiet}\nadaptive_quiet = false\n"));
    }
    toml
}

/// `gcbridge serve` as a child process of the bench, on a free loopback port.
struct Child {
    process: tokio::process::Child,
    url: String,
    secret: String,
    _config: tempfile::NamedTempFile,
}

impl Child {
    async fn spawn(
        args: &BenchArgs,
        emulator: &gcbridge_emulator::Emulator,
        dl_secret: &str,
    ) -> anyhow::Result<Self> {
        use std::io::Write;
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let mut config = tempfile::NamedTempFile::new()?;
        config.write_all(timings(args).as_bytes())?;
        let secret = gcbridge_app::state::random_hex(16);
        let exe = std::env::current_exe().context("locating the gcbridge binary")?;
        let process = tokio::process::Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(config.path())
            .env("GCBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("GCBRIDGE_STORE", &args.store)
            .env("GCBRIDGE_DIRECTLINE_URL", emulator.base_url())
            .env("GCBRIDGE_DIRECTLINE_SECRET", dl_secret)
            .env("GCBRIDGE_GENESYS_SECRET", &secret)
            .env("GCBRIDGE_USER_ID_KEY", "bench")
            .env("GCBRIDGE_LOG", "error")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting gcbridge serve")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if Instant::now() > until {
                bail!("gcbridge serve did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            process,
            url: format!("{base}/genesys/v1/utterance"),
            secret,
            _config: config,
        })
    }

    async fn stop(mut self) {
        let _ = self.process.start_kill();
        let _ = self.process.wait().await;
    }
}

/// CPU seconds (user + system) of a process so far, from `/proc/PID/stat` (Linux).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks per second: 100 on every Linux architecture gcbridge ships for.
    Some((utime + stime) / 100.0)
}

/// Current and peak resident memory of a process in MiB, from `/proc/PID/status` (Linux).
fn rss_of(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

/// Drives the sessions against `url` with a progress bar.
async fn load(
    args: &BenchArgs,
    url: &str,
    secret: Option<String>,
    pid: Option<u32>,
    label: &str,
    compared: bool,
) -> anyhow::Result<Figures> {
    // `--quiet-ms` describes gcbridge (or the connector at `--url`), not the compared one.
    let quiet_ms = if compared { None } else { args.quiet_ms };
    // Parsed once: reqwest would parse (and IDNA-check) a string URL on every request.
    let url = reqwest::Url::parse(url).with_context(|| format!("connector URL {url:?}"))?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions)
        .timeout(Duration::from_secs(30))
        .build()?;
    let total = (args.sessions * args.turns) as u64;
    let progress = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} turns {per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    progress.set_prefix(label.to_owned());
    let cpu_before = pid.and_then(cpu_secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let plan = Arc::new(SessionPlan {
        http,
        url,
        secret,
        turns: args.turns,
        nominal: Duration::from_millis(args.delay_ms),
        quiet: Duration::from_millis(quiet_ms.unwrap_or(0)),
    });
    // The first sessions start spread over one agent reply time, as real customers do not
    // write in step: sessions started together would keep sending every turn in one burst.
    let concurrency = args.concurrency.unwrap_or(args.sessions).max(1);
    let spread = Duration::from_millis(args.delay_ms.max(10)) / concurrency as u32;
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    for s in 0..args.sessions {
        let offset = if s < concurrency {
            spread * s as u32
        } else {
            Duration::ZERO
        };
        let plan = plan.clone();
        let progress = progress.clone();
        let slots = slots.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let _slot = slots.acquire_owned().await;
            session(&plan, s, progress).await
        }));
    }
    let mut figures = Figures {
        label: label.to_owned(),
        quiet_ms,
        turns: args.sessions * args.turns,
        ..Figures::default()
    };
    for task in tasks {
        let result = task.await.context("session task")?;
        figures.later.extend(result.latencies);
        figures.added.extend(result.added);
        figures.agent.extend(result.agent);
        figures.first.extend(result.first);
        figures.delivered += result.replies;
        figures.failed += result.failed;
    }
    figures.wall = started.elapsed();
    progress.finish_and_clear();
    figures.cpu_secs = pid.and_then(cpu_secs).zip(cpu_before).map(|(a, b)| a - b);
    figures.rss_mib = pid.and_then(rss_of);
    figures.first.sort();
    figures.later.sort();
    figures.added.sort();
    figures.agent.sort();
    Ok(figures)
}

fn pct_of(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn print_figures(args: &BenchArgs, results: &[Figures]) {
    for f in results {
        let pct = |p: f64| pct_of(&f.later, p);
        println!();
        println!("[{}]", f.label);
        println!(
            "turns            {} in {:.2} s = {:.0} turns/s",
            f.turns,
            f.wall.as_secs_f64(),
            f.turns as f64 / f.wall.as_secs_f64()
        );
        println!(
            "first turns      p50 {:.1} ms  p99 {:.1} ms  (start the conversation and its stream too)",
            ms(pct_of(&f.first, 0.5)),
            ms(pct_of(&f.first, 0.99))
        );
        println!(
            "later turns      p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            ms(pct(0.5)),
            ms(pct(0.9)),
            ms(pct(0.99)),
            ms(pct(1.0))
        );
        let agent = |p: f64| ms(pct_of(&f.agent, p));
        println!(
            "agent's own time p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (asked for {} ms; measured by the emulator)",
            agent(0.5),
            agent(0.99),
            agent(1.0),
            args.delay_ms
        );
        let added = |p: f64| ms(pct_of(&f.added, p));
        println!(
            "added by bridge  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.1} ms  (each later turn minus its agent's own time{})",
            added(0.5),
            added(0.9),
            added(0.99),
            added(1.0),
            if f.quiet_ms.is_some() {
                " and the quiet period"
            } else {
                ""
            },
        );
        match f.quiet_ms {
            None if args.quiet_ms.is_some() => println!(
                "quiet period     not known for this connector (the agent sends no end-of-turn signal; whatever it waits counts as added)"
            ),
            Some(quiet) => println!(
                "quiet period     {quiet} ms  (the agent sends no end-of-turn signal: every turn waits this long after the reply; not counted as added)"
            ),
            None => println!(
                "quiet period     0 ms  (the agent signals the end of its turn, so no turn waits for quiet)"
            ),
        }
        println!(
            "replies          expected {}  delivered {}  lost {}  duplicated {}  failed turns {}",
            f.turns,
            f.delivered,
            f.turns.saturating_sub(f.delivered),
            f.delivered.saturating_sub(f.turns),
            f.failed
        );
        match (f.cpu_secs, f.rss_mib) {
            (Some(cpu), Some((rss, peak))) => println!(
                "connector        CPU {cpu:.2} s ({:.0} % of one core, {:.2} ms per turn)  RSS {rss:.1} MiB (peak {peak:.1} MiB)",
                100.0 * cpu / f.wall.as_secs_f64(),
                1000.0 * cpu / f.turns as f64
            ),
            _ => {
                if let Some((rss, _)) = rss_of(std::process::id()) {
                    println!(
                        "bench process    RSS {rss:.1} MiB (no separate connector process measured)"
                    );
                }
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct SessionResult {
    /// First turns: they also start the Direct Line conversation and open its stream.
    first: Vec<Duration>,
    latencies: Vec<Duration>,
    added: Vec<Duration>,
    agent: Vec<Duration>,
    replies: usize,
    failed: usize,
}

/// What a turn's answer says, read as Genesys' v1 Bot Connector reads it: field names and the
/// `botState` value without regard to case (other connectors send `replymessages`, `MOREDATA`).
struct Answer<'a> {
    more_data: bool,
    replies: usize,
    first_text: Option<&'a str>,
}

impl<'a> Answer<'a> {
    fn read(body: &'a serde_json::Value) -> Self {
        let field = |name: &str| {
            body.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v)
        };
        let messages = field("replyMessages").and_then(|v| v.as_array());
        Self {
            more_data: field("botState")
                .and_then(|v| v.as_str())
                .is_some_and(|s| s.eq_ignore_ascii_case("MoreData")),
            replies: messages.map_or(0, Vec::len),
            first_text: messages
                .and_then(|m| m.first())
                .and_then(|m| m.get("text"))
                .and_then(|t| t.as_str()),
        }
    }
}

/// What every simulated session of one load run does.
struct SessionPlan {
    http: reqwest::Client,
    url: reqwest::Url,
    secret: Option<String>,
    turns: usize,
    /// The agent delay asked for (used when a reply does not carry the measured one).
    nominal: Duration,
    /// The connector's fixed quiet period, when turns end by quiet.
    quiet: Duration,
}

async fn session(
    plan: &SessionPlan,
    index: usize,
    progress: indicatif::ProgressBar,
) -> SessionResult {
    let SessionPlan {
        http,
        url,
        secret,
        turns,
        nominal,
        quiet,
    } = plan;
    let (turns, nominal, quiet) = (*turns, *nominal, *quiet);
    let bot_session = uuid::Uuid::new_v4().to_string();
    let mut out = SessionResult {
        first: Vec::with_capacity(1),
        latencies: Vec::with_capacity(turns),
        added: Vec::with_capacity(turns),
        agent: Vec::with_capacity(turns),
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
        let mut request = http.post(url.clone()).json(&body);
        if let Some(secret) = &secret {
            request = request.header("Authorization", secret.as_str());
        }
        let response = match request.send().await {
            Ok(r) => r.json::<serde_json::Value>().await.ok(),
            Err(_) => None,
        };
        let answer = response.as_ref().map(Answer::read);
        let waited = started.elapsed();
        if turn == 0 {
            out.first.push(waited);
        } else {
            out.latencies.push(waited);
            // The agent's own time, from the emulator's `{ElapsedMs}` in the reply; the asked
            // delay when a connector under test changed the text.
            let agent = answer
                .as_ref()
                .and_then(|a| a.first_text)
                .and_then(|t| t.strip_prefix("ok "))
                .and_then(|ms| ms.parse::<f64>().ok())
                .map_or(nominal, |ms| Duration::from_secs_f64(ms / 1000.0));
            out.agent.push(agent);
            out.added.push(waited.saturating_sub(agent + quiet));
        }
        match answer {
            Some(a) if a.more_data => out.replies += a.replies,
            _ => out.failed += 1,
        }
        progress.inc(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Answer;
    use serde_json::json;

    #[test]
    fn answers_are_read_as_genesys_reads_them() {
        let ours = json!({"botState": "MoreData", "replyMessages": [{"type": "Text", "text": "ok 101.5"}, {"type": "Text", "text": "b"}]});
        let a = Answer::read(&ours);
        assert!(a.more_data);
        assert_eq!((a.replies, a.first_text), (2, Some("ok 101.5")));
        let theirs =
            json!({"botState": "MOREDATA", "replymessages": [{"type": "text", "text": "x"}]});
        let a = Answer::read(&theirs);
        assert!(a.more_data);
        assert_eq!(a.replies, 1);
        let failed = json!({"botState": "Failed", "replymessages": []});
        assert!(!Answer::read(&failed).more_data);
        assert_eq!(Answer::read(&json!("not an object")).replies, 0);
    }
}
