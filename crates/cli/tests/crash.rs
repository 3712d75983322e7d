//! SIGKILL under load, through the real binary: `gcbridge emulator` and `gcbridge serve` as
//! separate processes; many sessions send their turns concurrently while gcbridge is killed
//! (SIGKILL, no shutdown code) twice in the middle of turns and restarted on the same store,
//! with the embedded store and with Redis. A request cut by the kill is repeated with the same
//! input, as Genesys would. Then everything is counted, on both sides:
//!
//! - every agent reply carries the customer message it answers and the conversation id, so the
//!   test counts each reply across all answers: exactly once (none lost, none repeated);
//! - every session keeps its one Direct Line conversation (no session lost);
//! - the emulator's transcript shows each customer message posted exactly once, and one
//!   conversation per session.
//!
//! Every fourth message is answered after gcbridge's deadline, so replies are also carried
//! across turns (and across restarts). The logs of every gcbridge process (trace level) are
//! grepped for the message texts.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{DL_SECRET, emulator, emulator_transcript, may_skip, serve};

const GENESYS_SECRET: &str = "crash-genesys-secret-value";
const SESSIONS: usize = 16;
const MESSAGES: usize = 10;

const AGENT: &str = r#"
[agent]
name = "Crash agent"
bot_id = "crash-agent"

[[rules]]
topic = "Late"
match = { contains = "late" }
steps = [{ delay_ms = 2300, text = "ack {Text} in {ConversationId}" }, { event = "turn.complete" }]

[fallback]
topic = "Echo"
steps = [{ delay_ms = 150, text = "ack {Text} in {ConversationId}" }, { event = "turn.complete" }]
"#;

const CONFIG: &str = r#"
[bot.timings]
deadline_ms = 2000
response_margin_ms = 200
quiet_ms = 300
first_poll_delay_ms = 20
poll_interval_ms = 50
"#;

#[test]
fn sigkill_mid_turns_with_the_embedded_store_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = format!("embedded:{}", dir.path().join("sessions.db").display());
    run(dir.path(), &store);
}

#[test]
fn sigkill_mid_turns_with_redis_loses_and_repeats_nothing() {
    let var = "GCBRIDGE_TEST_REDIS_URL";
    let Some(url) = std::env::var(var).ok().filter(|v| !v.is_empty()) else {
        if may_skip(var) {
            return;
        }
        unreachable!()
    };
    let dir = tempfile::tempdir().expect("tmp");
    run(dir.path(), &url);
}

/// The message texts of one session.
fn message(session: usize, index: usize, run: &str) -> String {
    let late = if index % 4 == 3 { " late" } else { "" };
    format!("{run}s{session}m{index}{late}")
}

fn run(dir: &std::path::Path, store: &str) {
    let (_emulator, dl_url) = emulator(dir, AGENT);
    let config = dir.join("gcbridge.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let env = vec![
        ("GCBRIDGE_STORE", store.to_owned()),
        ("GCBRIDGE_DIRECTLINE_URL", dl_url.clone()),
        ("GCBRIDGE_DIRECTLINE_SECRET", DL_SECRET.to_owned()),
        ("GCBRIDGE_GENESYS_SECRET", GENESYS_SECRET.to_owned()),
        ("GCBRIDGE_USER_ID_KEY", "crash-test-user-id-key".to_owned()),
        ("GCBRIDGE_LOG", "trace".to_owned()),
    ];
    let (first, url) = serve(&env, Some(&config));
    let url = Arc::new(RwLock::new(url));
    // A run prefix keeps session ids and texts unique in a shared Redis.
    let run_id = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);

    let started = Instant::now();
    let drivers: Vec<_> = (0..SESSIONS)
        .map(|s| {
            let url = url.clone();
            let run_id = run_id.clone();
            std::thread::spawn(move || drive(&url, &run_id, s))
        })
        .collect();

    // Two SIGKILLs in the middle of the turns, each followed by a restart on the same store.
    let mut logs = Vec::new();
    let mut current = first;
    for pause in [Duration::from_millis(1_500), Duration::from_millis(2_500)] {
        std::thread::sleep(pause);
        current.kill();
        logs.push(current.output());
        let (next, next_url) = serve(&env, Some(&config));
        *url.write().expect("url") = next_url;
        current = next;
    }

    let mut results = Vec::new();
    for d in drivers {
        results.push(d.join().expect("driver thread"));
    }
    let load_time = started.elapsed();

    // Late replies are answered after the deadline: let them arrive, then one more turn per
    // session ("flush") collects what is still owed.
    std::thread::sleep(Duration::from_millis(2_600));
    let url_now = url.read().expect("url").clone();
    for (s, result) in results.iter_mut().enumerate() {
        for round in 0..3 {
            let text = format!("{run_id}s{s}flush{round}");
            let answer = send_until_answered(&url_now, &result.session, &text);
            result.replies.extend(answer.texts);
            result.attempts += answer.attempts;
            if expected_missing(result, &run_id, s).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2_600));
        }
    }
    logs.push(current.output());
    current.kill();

    // Count on gcbridge's side: every reply exactly once, one conversation per session.
    let mut conversations = HashSet::new();
    let mut retried = 0;
    for (s, result) in results.iter().enumerate() {
        retried += result.attempts - MESSAGES;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut session_convs = HashSet::new();
        for reply in &result.replies {
            let (text, conv) = reply
                .strip_prefix("ack ")
                .and_then(|r| r.split_once(" in "))
                .unwrap_or_else(|| panic!("unexpected reply {reply:?}"));
            *counts.entry(text).or_default() += 1;
            session_convs.insert(conv.to_owned());
        }
        let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "session {s}: repeated {repeated:?}");
        let missing = expected_missing(result, &run_id, s);
        assert!(missing.is_empty(), "session {s}: lost {missing:?}");
        assert_eq!(
            session_convs.len(),
            1,
            "session {s} changed conversation: {session_convs:?}"
        );
        conversations.extend(session_convs);
    }
    assert_eq!(conversations.len(), SESSIONS, "a session was lost");

    // Count on the agent's side: each customer message posted exactly once, one conversation
    // per session, nothing else started.
    let transcript = emulator_transcript(&dl_url);
    let ours: Vec<_> = transcript
        .iter()
        .filter(|(_, users, _)| users.iter().any(|t| t.starts_with(&run_id)))
        .collect();
    let orphans = transcript
        .iter()
        .filter(|(_, users, _)| users.is_empty())
        .count();
    assert_eq!(ours.len(), SESSIONS, "conversations with our messages");
    assert_eq!(orphans, 0, "conversations started and never used");
    let mut posted: HashMap<&str, usize> = HashMap::new();
    for (_, users, _) in &ours {
        for text in users {
            *posted.entry(text.as_str()).or_default() += 1;
        }
    }
    let twice: Vec<_> = posted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "posted more than once: {twice:?}");
    for s in 0..SESSIONS {
        for m in 0..MESSAGES {
            let text = message(s, m, &run_id);
            assert_eq!(posted.get(text.as_str()), Some(&1), "{text} not posted");
        }
    }

    // The kills really hit turns: some requests were cut and repeated.
    assert!(retried > 0, "no request was cut by the kills");
    eprintln!(
        "{SESSIONS} sessions × {MESSAGES} messages in {:.1} s with 2 SIGKILLs: {retried} requests repeated, {} replies each delivered once, {} messages each posted once",
        load_time.as_secs_f64(),
        results.iter().map(|r| r.replies.len()).sum::<usize>(),
        posted.len()
    );

    // No message text in any log line of any gcbridge process (trace level, content off).
    let logs = logs.join("\n");
    assert!(logs.contains("turn answered"), "logs were captured");
    for needle in [GENESYS_SECRET, DL_SECRET, &format!("{run_id}s0m")] {
        let hits: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(needle))
            .take(5)
            .collect();
        assert!(
            hits.is_empty(),
            "log lines contain {needle:?}:\n{}",
            hits.join("\n")
        );
    }
}

struct SessionResult {
    session: String,
    replies: Vec<String>,
    attempts: usize,
}

fn expected_missing(result: &SessionResult, run_id: &str, s: usize) -> Vec<String> {
    let got: HashSet<&str> = result
        .replies
        .iter()
        .filter_map(|r| r.strip_prefix("ack ")?.split_once(" in ").map(|p| p.0))
        .collect();
    (0..MESSAGES)
        .map(|m| message(s, m, run_id))
        .filter(|t| !got.contains(t.as_str()))
        .collect()
}

fn drive(url: &RwLock<String>, run_id: &str, s: usize) -> SessionResult {
    let mut result = SessionResult {
        session: format!("{run_id}-session-{s}"),
        replies: Vec::new(),
        attempts: 0,
    };
    for m in 0..MESSAGES {
        let text = message(s, m, run_id);
        let answer =
            send_until_answered_with(|| url.read().expect("url").clone(), &result.session, &text);
        result.replies.extend(answer.texts);
        result.attempts += answer.attempts;
    }
    result
}

struct Answer {
    texts: Vec<String>,
    attempts: usize,
}

fn send_until_answered(url: &str, session: &str, text: &str) -> Answer {
    send_until_answered_with(|| url.to_owned(), session, text)
}

/// Sends one customer message until gcbridge answers `MoreData`, repeating the same request
/// (as Genesys does) when the connection was cut or the answer says to try again.
fn send_until_answered_with(current_url: impl Fn() -> String, session: &str, text: &str) -> Answer {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let body = json!({
        "botId": "Crash agent", "botVersion": "1", "botSessionId": session,
        "inputMessage": {"type": "Text", "text": text}, "languageCode": "en-us",
        "botSessionTimeout": 60, "genesysConversationId": format!("c-{session}"),
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut attempts = 0;
    loop {
        assert!(Instant::now() < deadline, "{text}: never answered");
        attempts += 1;
        let sent = http
            .post(format!("{}/genesys/v1/utterance", current_url()))
            .header("Authorization", GENESYS_SECRET)
            .json(&body)
            .send()
            .and_then(|r| r.json::<Value>());
        match sent {
            Ok(answer) if answer["botState"] == "MoreData" => {
                let texts = answer["replyMessages"]
                    .as_array()
                    .expect("replies")
                    .iter()
                    .filter_map(|m| m["text"].as_str().map(str::to_owned))
                    .collect();
                return Answer { texts, attempts };
            }
            Ok(answer) => {
                // A temporary failure (the store, a busy session): nothing was delivered.
                let code = answer["errorInfo"]["errorCode"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    ["StoreUnavailable", "SessionBusy"].contains(&code),
                    "{text}: unexpected answer {answer}"
                );
            }
            Err(_) => {} // Cut by the kill, or the server is restarting.
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
