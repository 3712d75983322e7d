//! `gcbridge bench --mix`: how each way of ending a turn trades latency against whole turns
//! (issue "fast turns"). The same scenario mix runs three times, each against a fresh emulator
//! and in-process gcbridge: v1 with a fixed quiet period, v1 with the adaptive quiet period (after
//! a warm-up), and the Digital Bot Connector with asynchronous replies pushed to the local
//! Genesys stand-in. For every reply it measures the time from the customer's message to the
//! reply reaching "Genesys" (the v1 answer, or the stand-in receiving the push), and whether it
//! came in its own turn or was carried to a later one.
//!
//! The agent answers like a Copilot Studio topic: single replies after 50 ms; three messages
//! with gaps of 160 and 400 ms, each announced by a typing indicator (`--no-typing`: without);
//! a slow reply after 2.5 s; a reply followed by a handoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gcbridge_app::AppConfig;
use gcbridge_emulator::{GenesysStandIn, StandInConfig, start_genesys};
use gcbridge_genesys::{BotState, TurnResponse};
use serde_json::json;
use tokio::time::Instant;

use crate::bench::BenchArgs;
use crate::local::LocalServer;

const AGENT: &str = r#"
[agent]
name = "Mix agent"
bot_id = "mix-agent"

[[rules]]
topic = "Single"
match = { starts_with = "single" }
steps = [{ delay_ms = 50, text = "1/1 {Text}" }]

[[rules]]
topic = "Multi"
match = { starts_with = "multi" }
steps = MULTI_STEPS

[[rules]]
topic = "Slow"
match = { starts_with = "slow" }
steps = [{ delay_ms = 2500, text = "1/1 {Text}" }]

[[rules]]
topic = "Handoff"
match = { starts_with = "handoff" }
steps = [
  { delay_ms = 50, text = "1/1 {Text}" },
  { handoff = { agent_message = "bench handoff" } },
]

[fallback]
steps = [{ delay_ms = 50, text = "1/1 {Text}" }]
"#;

/// Three messages 160 and 400 ms apart, each announced by typing (as Copilot Studio does).
const MULTI_WITH_TYPING: &str = r#"[
  { delay_ms = 50, text = "1/3 {Text}" },
  { delay_ms = 10, typing = true },
  { delay_ms = 150, text = "2/3 {Text}" },
  { delay_ms = 10, typing = true },
  { delay_ms = 390, text = "3/3 {Text}" },
]"#;

/// The same without typing indicators (`--no-typing`): only the quiet period can wait.
const MULTI_SILENT: &str = r#"[
  { delay_ms = 50, text = "1/3 {Text}" },
  { delay_ms = 160, text = "2/3 {Text}" },
  { delay_ms = 400, text = "3/3 {Text}" },
]"#;

/// The order scenarios come in, per session (offset by the session's index).
const PATTERN: [Scenario; 8] = [
    Scenario::Single,
    Scenario::Multi,
    Scenario::Single,
    Scenario::Slow,
    Scenario::Single,
    Scenario::Multi,
    Scenario::Single,
    Scenario::Handoff,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Scenario {
    Single,
    Multi,
    Slow,
    Handoff,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Multi => "multi",
            Scenario::Slow => "slow",
            Scenario::Handoff => "handoff",
        }
    }

    fn replies(self) -> usize {
        if self == Scenario::Multi { 3 } else { 1 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fixed,
    Adaptive,
    Async,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fixed => "fixed quiet",
            Mode::Adaptive => "adaptive quiet",
            Mode::Async => "DBC async",
        }
    }
}

/// One customer message and what became of its replies.
#[derive(Debug, Clone)]
struct TurnRecord {
    scenario: Scenario,
    sent: Instant,
    /// Arrival delays of each distinct reply, and whether it came in the message's own turn.
    replies: HashMap<String, (Duration, bool)>,
    duplicates: usize,
}

/// Runs the mix in every mode and prints one table.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    println!(
        "gcbridge bench --mix: {} sessions × {} turns per mode (+ a warm-up of {} turns), scenario cycle single·multi·single·slow·single·multi·single·handoff; multi-message turns {} typing",
        args.sessions,
        args.turns,
        warmup_sessions(args) * 8,
        if args.no_typing { "without" } else { "with" }
    );
    println!();
    println!(
        "{:<15} {:<8} {:>6} {:>8} {:>10} {:>9} {:>10} {:>8} {:>5} {:>5} {:>7}",
        "mode",
        "scenario",
        "turns",
        "replies",
        "median ms",
        "p99 ms",
        "same turn",
        "carried",
        "lost",
        "dup",
        "whole"
    );
    let mut summary = Vec::new();
    for mode in [Mode::Fixed, Mode::Adaptive, Mode::Async] {
        let turns = run_mode(mode, args).await?;
        summary.push((mode, print_mode(mode, &turns)));
    }
    println!();
    for (mode, s) in &summary {
        println!(
            "{:<15} single-reply median {:>7.1} ms · multi-message turns whole {:>6.2} % · lost {} · duplicated {}",
            mode.name(),
            s.single_median_ms,
            s.multi_whole_pct,
            s.lost,
            s.duplicated
        );
    }
    println!(
        "targets: single-reply median < 300 ms (adaptive, after warm-up) and < 70 ms (DBC async); multi-message whole ≥ 99 %; lost 0"
    );
    Ok(())
}

fn warmup_sessions(args: &BenchArgs) -> usize {
    args.sessions.clamp(1, 5)
}

struct ModeSummary {
    single_median_ms: f64,
    multi_whole_pct: f64,
    lost: usize,
    duplicated: usize,
}

fn print_mode(mode: Mode, turns: &[TurnRecord]) -> ModeSummary {
    let mut total_lost = 0;
    let mut total_dup = 0;
    let mut single_median = 0.0;
    let mut multi_whole = 100.0;
    for scenario in [
        Scenario::Single,
        Scenario::Multi,
        Scenario::Slow,
        Scenario::Handoff,
    ] {
        let of: Vec<&TurnRecord> = turns.iter().filter(|t| t.scenario == scenario).collect();
        if of.is_empty() {
            continue;
        }
        let mut delays: Vec<Duration> = of
            .iter()
            .flat_map(|t| t.replies.values().map(|(d, _)| *d))
            .collect();
        delays.sort();
        let expected = of.len() * scenario.replies();
        let delivered: usize = of.iter().map(|t| t.replies.len()).sum();
        let same: usize = of
            .iter()
            .map(|t| t.replies.values().filter(|(_, same)| *same).count())
            .sum();
        let whole = of
            .iter()
            .filter(|t| {
                t.replies.len() == scenario.replies() && t.replies.values().all(|(_, same)| *same)
            })
            .count();
        let lost = expected.saturating_sub(delivered);
        let dup: usize = of.iter().map(|t| t.duplicates).sum();
        total_lost += lost;
        total_dup += dup;
        let median = ms(percentile(&delays, 0.5));
        let whole_pct = 100.0 * whole as f64 / of.len() as f64;
        if scenario == Scenario::Single {
            single_median = median;
        }
        if scenario == Scenario::Multi {
            multi_whole = whole_pct;
        }
        println!(
            "{:<15} {:<8} {:>6} {:>8} {:>10.1} {:>9.1} {:>9.1}% {:>8} {:>5} {:>5} {:>6.1}%",
            mode.name(),
            scenario.name(),
            of.len(),
            delivered,
            median,
            ms(percentile(&delays, 0.99)),
            if delivered == 0 {
                0.0
            } else {
                100.0 * same as f64 / delivered as f64
            },
            delivered - same,
            lost,
            dup,
            whole_pct
        );
    }
    ModeSummary {
        single_median_ms: single_median,
        multi_whole_pct: multi_whole,
        lost: total_lost,
        duplicated: total_dup,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Everything one mode runs against.
struct Setup {
    url: String,
    standin: Option<GenesysStandIn>,
    server: LocalServer,
    emulator: gcbridge_emulator::Emulator,
}

async fn setup(mode: Mode, args: &BenchArgs) -> anyhow::Result<Setup> {
    let store = args.store.as_str();
    let multi = if args.no_typing {
        MULTI_SILENT
    } else {
        MULTI_WITH_TYPING
    };
    let script = gcbridge_emulator::Script::from_toml_str(&AGENT.replace("MULTI_STEPS", multi))
        .context("mix agent script")?;
    let emulator_config = gcbridge_emulator::EmulatorConfig::new(script);
    let dl_secret = emulator_config.secrets.first().cloned().unwrap_or_default();
    let emulator = gcbridge_emulator::start(
        tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
        emulator_config,
    )
    .await;
    let mut env: HashMap<&str, String> = HashMap::from([
        ("GCBRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
        ("GCBRIDGE_STORE", store.to_owned()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        ("GCBRIDGE_DIRECTLINE_SECRET", dl_secret),
        ("GCBRIDGE_USER_ID_KEY", "bench".to_owned()),
    ]);
    let config_text = match mode {
        Mode::Fixed => "[bot.timings]\nadaptive_quiet = false\n",
        Mode::Adaptive => "[bot.timings]\nadaptive_quiet = true\n",
        Mode::Async => "[bot]\ndbc_async = true\n",
    };
    let standin = if mode == Mode::Async {
        let standin = start_genesys(
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
            StandInConfig::default(),
        )
        .await;
        env.extend(crate::demo::standin_env(&standin));
        Some(standin)
    } else {
        None
    };
    let config = AppConfig::from_parts(Some(config_text), &|n| env.get(n).cloned())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let server = LocalServer::start(config, listener).await?;
    let path = if mode == Mode::Async {
        "/genesys/dbc/messages"
    } else {
        "/genesys/v1/utterance"
    };
    Ok(Setup {
        url: format!("{}{path}", server.base),
        standin,
        server,
        emulator,
    })
}

async fn run_mode(mode: Mode, args: &BenchArgs) -> anyhow::Result<Vec<TurnRecord>> {
    let setup = setup(mode, args).await?;
    let setup = Arc::new(setup);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Warm-up: the adaptive quiet period learns from the first turns; every mode gets the
    // same warm-up so the figures compare.
    drive(&setup, &http, warmup_sessions(args), 8, "warm").await;
    let records = drive(&setup, &http, args.sessions, args.turns, "run").await;
    let setup = Arc::into_inner(setup).context("bench tasks still running")?;
    setup.server.stop().await;
    setup.emulator.shutdown().await;
    if let Some(standin) = setup.standin {
        standin.shutdown().await;
    }
    Ok(records)
}

async fn drive(
    setup: &Arc<Setup>,
    http: &reqwest::Client,
    sessions: usize,
    turns: usize,
    tag: &'static str,
) -> Vec<TurnRecord> {
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let setup = setup.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            session(&setup, &http, s, turns, tag).await
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        if let Ok(records) = task.await {
            all.extend(records);
        }
    }
    all
}

/// Parses `k/n <input>` reply texts.
fn reply_input(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once(' ')?;
    Some(rest)
}

async fn session(
    setup: &Setup,
    http: &reqwest::Client,
    index: usize,
    turns: usize,
    tag: &str,
) -> Vec<TurnRecord> {
    let mut records: HashMap<String, TurnRecord> = HashMap::new();
    let mut order = Vec::new();
    let mut bot_session = uuid::Uuid::new_v4().to_string();
    let mut seen_pushes = 0usize;
    // One more message than measured turns: it brings in replies still carried.
    for turn in 0..=turns {
        let scenario = if turn == turns {
            Scenario::Single
        } else {
            PATTERN[(turn + index) % PATTERN.len()]
        };
        let input = format!("{} {tag} s{index} t{turn}", scenario.name());
        let mut body = json!({
            "botId": "bench", "botVersion": "1", "botSessionId": bot_session,
            "inputMessage": {"type": "Text", "text": input},
            "languageCode": "en-us", "botSessionTimeout": 60,
        });
        if setup.standin.is_some() {
            body["messageId"] = json!(uuid::Uuid::new_v4().to_string());
        }
        let sent = Instant::now();
        if turn < turns {
            order.push(input.clone());
            records.insert(
                input.clone(),
                TurnRecord {
                    scenario,
                    sent,
                    replies: HashMap::new(),
                    duplicates: 0,
                },
            );
        }
        let response = match http.post(&setup.url).json(&body).send().await {
            Ok(r) => r.json::<TurnResponse>().await.ok(),
            Err(_) => None,
        };
        let mut ended = false;
        match &setup.standin {
            None => {
                let arrived = Instant::now();
                if let Some(r) = &response {
                    for m in &r.reply_messages {
                        if let Some(text) = &m.text {
                            note(&mut records, text, &input, arrived);
                        }
                    }
                    ended = r.bot_state != BotState::MoreData;
                }
            }
            Some(standin) => {
                // Wait for this message's replies (bounded), noting everything pushed.
                let until = Instant::now() + Duration::from_secs(10);
                loop {
                    let pushed = standin
                        .wait_for(&bot_session, seen_pushes + 1, until - Instant::now())
                        .await;
                    for p in pushed.iter().skip(seen_pushes) {
                        for text in p.texts() {
                            note(&mut records, &text, &input, p.at);
                        }
                        ended |= p.bot_state() != "MoreData";
                    }
                    seen_pushes = pushed.len();
                    let got = records
                        .get(&input)
                        .map(|r| r.replies.len())
                        .unwrap_or(usize::MAX);
                    if ended || got >= scenario.replies() || Instant::now() >= until {
                        break;
                    }
                }
            }
        }
        if ended {
            bot_session = uuid::Uuid::new_v4().to_string();
            seen_pushes = 0;
        }
    }
    order
        .into_iter()
        .filter_map(|k| records.remove(&k))
        .collect()
}

/// Records one reply text that reached "Genesys" at `arrived` while `current` was the latest
/// customer message.
fn note(records: &mut HashMap<String, TurnRecord>, text: &str, current: &str, arrived: Instant) {
    let Some(input) = reply_input(text) else {
        return;
    };
    let Some(record) = records.get_mut(input) else {
        return;
    };
    if record.replies.contains_key(text) {
        record.duplicates += 1;
        return;
    }
    let same_turn = input == current;
    record
        .replies
        .insert(text.to_owned(), (arrived - record.sent, same_turn));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(scenario: Scenario, sent: Instant) -> TurnRecord {
        TurnRecord {
            scenario,
            sent,
            replies: HashMap::new(),
            duplicates: 0,
        }
    }

    #[test]
    fn replies_are_counted_once_and_carried_ones_are_told_apart() {
        let t0 = Instant::now();
        let mut records = HashMap::from([
            ("multi run s0 t0".to_owned(), record(Scenario::Multi, t0)),
            (
                "single run s0 t1".to_owned(),
                record(Scenario::Single, t0 + Duration::from_millis(1_000)),
            ),
        ]);
        let at = |ms| t0 + Duration::from_millis(ms);
        note(
            &mut records,
            "1/3 multi run s0 t0",
            "multi run s0 t0",
            at(60),
        );
        note(
            &mut records,
            "2/3 multi run s0 t0",
            "multi run s0 t0",
            at(220),
        );
        // The third arrives with the next turn's answer: carried, timed from its own message.
        note(
            &mut records,
            "3/3 multi run s0 t0",
            "single run s0 t1",
            at(1_300),
        );
        note(
            &mut records,
            "1/1 single run s0 t1",
            "single run s0 t1",
            at(1_300),
        );
        // A repeat, and text that is not a bench reply.
        note(
            &mut records,
            "2/3 multi run s0 t0",
            "single run s0 t1",
            at(1_300),
        );
        note(&mut records, "hello", "single run s0 t1", at(1_300));

        let multi = &records["multi run s0 t0"];
        assert_eq!(multi.replies.len(), 3);
        assert_eq!(multi.duplicates, 1);
        assert_eq!(
            multi.replies["3/3 multi run s0 t0"],
            (Duration::from_millis(1_300), false)
        );
        assert_eq!(
            multi.replies["1/3 multi run s0 t0"],
            (Duration::from_millis(60), true)
        );
        let single = &records["single run s0 t1"];
        assert_eq!(
            single.replies["1/1 single run s0 t1"],
            (Duration::from_millis(300), true)
        );
    }

    #[test]
    fn percentiles_of_sorted_delays() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
