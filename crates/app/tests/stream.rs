//! The Direct Line WebSocket stream: replies arrive without polling, typing extends the quiet
//! period, late replies wait in the open stream, and a dropped stream falls back to polling.

mod support;

use std::time::Duration;

use gcbridge_emulator::{Fault, Op};
use support::{FAST_TIMINGS, Options, TestApp, more_data};

/// Makes every activity read over HTTP fail, so whatever still arrives came over the stream.
fn break_polling(app: &TestApp) {
    app.emulator.inject_fault(Fault {
        op: Op::GetActivities,
        status: 500,
        retry_after_secs: None,
        count: 10_000,
    });
}

const TYPING_AGENT: &str = r#"
[agent]
name = "Typing Agent"
bot_id = "typing-agent"

[greeting]
steps = [{ text = "hi" }]

[[rules]]
topic = "Think"
match = { equals = "think" }
steps = [
  { text = "let me think" },
  { delay_ms = 50, typing = true },
  { delay_ms = 400, text = "done thinking" },
]

[fallback]
steps = [{ delay_ms = 300, text = "echo: {Text}" }]
"#;

#[tokio::test]
async fn replies_arrive_over_the_stream_without_polling() {
    let app = TestApp::spawn().await;
    app.say("st-1", "").await;
    break_polling(&app);
    assert_eq!(
        app.say("st-1", "two").await,
        more_data(&["first", "second"])
    );
    assert_eq!(app.say("st-1", "more").await, more_data(&["echo: more"]));
    assert_eq!(app.state.streams.len(), 1);
}

#[tokio::test]
async fn late_replies_wait_in_the_open_stream_for_the_next_turn() {
    let app = TestApp::spawn().await;
    app.say("st-late", "").await;
    assert_eq!(app.say("st-late", "late").await, more_data(&[]));
    app.wait_for_bot_text(&app.conversation(), "late answer")
        .await;
    break_polling(&app);
    assert_eq!(
        app.say("st-late", "next").await,
        more_data(&["late answer", "echo: next"])
    );
}

#[tokio::test]
async fn typing_seen_on_the_stream_keeps_the_turn_open() {
    let app = TestApp::with(Options {
        script: TYPING_AGENT.to_owned(),
        ..Options::default()
    })
    .await;
    app.say("st-typing", "").await;
    // quiet_ms is 250: without the typing hold the second message would miss the turn.
    assert_eq!(
        app.say("st-typing", "think").await,
        more_data(&["let me think", "done thinking"])
    );
}

#[tokio::test]
async fn without_the_stream_polling_carries_what_the_quiet_period_missed() {
    let app = TestApp::with(Options {
        script: TYPING_AGENT.to_owned(),
        env: vec![("GCBRIDGE_DIRECTLINE_STREAM", "false".to_owned())],
        ..Options::default()
    })
    .await;
    app.say("st-poll", "").await;
    // Polling never sees typing, so the turn ends 250 ms after the first message...
    assert_eq!(
        app.say("st-poll", "think").await,
        more_data(&["let me think"])
    );
    app.wait_for_bot_text(&app.conversation(), "done thinking")
        .await;
    // ...and the second arrives first on the next turn, once.
    assert_eq!(
        app.say("st-poll", "ok").await,
        more_data(&["done thinking", "echo: ok"])
    );
    assert_eq!(app.state.streams.len(), 0);
}

#[tokio::test]
async fn a_stream_dropped_between_turns_is_reopened() {
    let app = TestApp::spawn().await;
    app.say("st-drop", "").await;
    let conv = app.conversation();
    app.emulator.disconnect_streams(&conv);
    // Whether gcbridge notices the close before or during this turn, nothing is lost: a dead
    // socket means catching up over HTTP from the watermark.
    assert_eq!(
        app.say("st-drop", "two").await,
        more_data(&["first", "second"])
    );
    assert_eq!(
        app.say("st-drop", "one more").await,
        more_data(&["echo: one more"])
    );
    break_polling(&app);
    // By now a new stream is open and carries a turn alone.
    assert_eq!(
        app.say("st-drop", "again").await,
        more_data(&["echo: again"])
    );
}

#[tokio::test]
async fn a_stream_dropped_during_a_turn_falls_back_to_polling() {
    let app = TestApp::with(Options {
        script: TYPING_AGENT.to_owned(),
        config: FAST_TIMINGS.to_owned(),
        ..Options::default()
    })
    .await;
    app.say("st-mid", "").await;
    let conv = app.conversation();
    let emulator = &app.emulator;
    let (answer, ()) = tokio::join!(app.say("st-mid", "hello"), async {
        // The agent answers after 300 ms; the stream dies before that.
        tokio::time::sleep(Duration::from_millis(100)).await;
        emulator.disconnect_streams(&conv);
    });
    assert_eq!(answer, more_data(&["echo: hello"]));
}

#[tokio::test]
async fn past_max_streams_the_least_recently_used_is_closed_and_its_session_loses_nothing() {
    let app = TestApp::with(Options {
        config: format!("[server]\nmax_streams = 2\n{FAST_TIMINGS}"),
        ..Options::default()
    })
    .await;
    app.say("ev-a", "").await;
    let conv_a = app.conversation();
    app.say("ev-b", "").await;
    assert_eq!(app.state.streams.len(), 2);
    // A's answer comes after its turn and waits in A's open stream...
    assert_eq!(app.say("ev-a", "late").await, more_data(&[]));
    app.wait_for_bot_text(&conv_a, "late answer").await;
    assert!(app.state.streams.get(&conv_a).is_some());
    // ...B is used more recently, so C's new stream closes A's, buffered frame and all.
    assert_eq!(
        app.say("ev-b", "b again").await,
        more_data(&["echo: b again"])
    );
    app.say("ev-c", "").await;
    assert_eq!(app.state.streams.len(), 2);
    assert!(
        app.state.streams.get(&conv_a).is_none(),
        "A's stream was the oldest"
    );
    // A's next turn reads what its closed stream held back over HTTP, once, and reopens one.
    assert_eq!(
        app.say("ev-a", "next").await,
        more_data(&["late answer", "echo: next"])
    );
    assert_eq!(app.state.streams.len(), 2);
    assert!(app.state.streams.get(&conv_a).is_some());
    assert_eq!(app.say("ev-a", "again").await, more_data(&["echo: again"]));
    let metrics = app.metrics().await;
    let evicted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gcbridge_streams_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no eviction counter in:\n{metrics}"));
    assert!(evicted >= 2.0, "{evicted}");
}
