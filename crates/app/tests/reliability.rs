//! Reliability of a turn when the process or the session store fails in the middle of it: a
//! turn cut short after posting (its session not saved, as when gcbridge is killed) and repeated
//! by Genesys posts nothing twice and delivers every reply once; a store call slower than
//! Genesys' deadline still gets a valid answer in time, and nothing stored is lost.
//!
//! The store here is a real `MemoryStore` behind a wrapper that can refuse or delay session
//! saves and loads on demand. The SIGKILL test through the real binary is
//! `crates/cli/tests/crash.rs`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gcbridge_core::errors::ErrorCode;
use gcbridge_store::{MemoryStore, Revision, SessionStore, StoreError, Stored};
use support::{Options, TestApp, failed, more_data};

/// A `MemoryStore` whose session calls can be made to fail or to hang.
#[derive(Debug, Default)]
struct ControlledStore {
    inner: MemoryStore,
    /// Session saves that still succeed; below zero: all of them.
    saves_left: AtomicI64,
    /// Delay before each session load / save, in ms.
    load_delay_ms: AtomicU64,
    save_delay_ms: AtomicU64,
    /// Whether a delayed call applies after its delay (a dropped call never does).
    broken: AtomicBool,
}

impl ControlledStore {
    fn new() -> Arc<Self> {
        let s = Self::default();
        s.saves_left.store(-1, Ordering::SeqCst);
        Arc::new(s)
    }
}

#[async_trait::async_trait]
impl SessionStore for ControlledStore {
    fn name(&self) -> &'static str {
        "controlled"
    }
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        if key.starts_with("session:") {
            let delay = self.load_delay_ms.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
        expires_at_ms: u64,
    ) -> Result<Revision, StoreError> {
        if key.starts_with("session:") {
            let delay = self.save_delay_ms.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let left = self.saves_left.load(Ordering::SeqCst);
            if left == 0 || self.broken.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("refused by the test".into()));
            }
            if left > 0 {
                self.saves_left.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.inner.save(key, value, expected, expires_at_ms).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

async fn app_with(store: Arc<ControlledStore>) -> TestApp {
    TestApp::with(Options {
        store: Some(store),
        ..Options::default()
    })
    .await
}

/// Texts the customer posted to the conversation (the agent's view), in order.
fn posted_texts(app: &TestApp, conversation: &str) -> Vec<String> {
    app.emulator
        .user_activities(conversation)
        .into_iter()
        .filter(|a| a.kind == "message")
        .filter_map(|a| a.text)
        .collect()
}

#[tokio::test]
async fn a_turn_cut_after_posting_is_repeated_without_posting_twice() {
    let store = ControlledStore::new();
    let app = app_with(store.clone()).await;
    assert_eq!(app.say("s-cut", "").await, more_data(&["Hello Ada!"]));
    let conversation = app.conversation();

    // The message reaches the agent, the agent answers, but the session is not saved (what a
    // process killed before its save leaves behind): no answer may be given.
    store.saves_left.store(0, Ordering::SeqCst);
    assert_eq!(
        app.say("s-cut", "where is it").await,
        failed(ErrorCode::StoreUnavailable)
    );
    app.wait_for_bot_text(&conversation, "echo: where is it")
        .await;

    // Genesys repeats the request: the message is found in the conversation, not posted again,
    // and the agent's reply to it is delivered once.
    store.saves_left.store(-1, Ordering::SeqCst);
    assert_eq!(
        app.say("s-cut", "where is it").await,
        more_data(&["echo: where is it"])
    );
    assert_eq!(
        app.say("s-cut", "next").await,
        more_data(&["echo: next"]),
        "nothing repeated on the next turn"
    );
    assert_eq!(posted_texts(&app, &conversation), ["where is it", "next"]);

    // A different message after a cut turn is posted (its predecessor's reply comes with it).
    store.saves_left.store(0, Ordering::SeqCst);
    assert_eq!(
        app.say("s-cut", "first try").await,
        failed(ErrorCode::StoreUnavailable)
    );
    app.wait_for_bot_text(&conversation, "echo: first try")
        .await;
    store.saves_left.store(-1, Ordering::SeqCst);
    assert_eq!(
        app.say("s-cut", "something else").await,
        more_data(&["echo: first try", "echo: something else"])
    );
    assert_eq!(
        posted_texts(&app, &conversation),
        ["where is it", "next", "first try", "something else"]
    );
    assert_eq!(app.emulator.conversations_started(), 1);
}

#[tokio::test]
async fn a_first_turn_cut_after_posting_continues_its_conversation() {
    let store = ControlledStore::new();
    let app = app_with(store.clone()).await;
    // The conversation is written ahead (first save), then the turn's own save fails.
    store.saves_left.store(1, Ordering::SeqCst);
    assert_eq!(
        app.say("s-first", "hi there").await,
        failed(ErrorCode::StoreUnavailable)
    );
    let conversation = app.conversation();
    app.wait_for_bot_text(&conversation, "echo: hi there").await;

    store.saves_left.store(-1, Ordering::SeqCst);
    assert_eq!(
        app.say("s-first", "hi there").await,
        more_data(&["Hello Ada!", "echo: hi there"])
    );
    // One conversation, one context, one start, one message.
    assert_eq!(app.emulator.conversations_started(), 1);
    let users = app.emulator.user_activities(&conversation);
    let names: Vec<&str> = users.iter().filter_map(|a| a.name.as_deref()).collect();
    assert_eq!(names, ["pvaSetContext", "startConversation"]);
    assert_eq!(posted_texts(&app, &conversation), ["hi there"]);
    assert_eq!(app.say("s-first", "more").await, more_data(&["echo: more"]));
}

#[tokio::test]
async fn a_slow_store_load_still_answers_before_the_deadline_and_posts_nothing() {
    let store = ControlledStore::new();
    let app = app_with(store.clone()).await;
    assert_eq!(app.say("s-slow", "").await, more_data(&["Hello Ada!"]));
    let conversation = app.conversation();

    // A load that takes 6 s (a DynamoDB call with the SDK's retries): the 2.5 s deadline holds.
    store.load_delay_ms.store(6_000, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(
        app.say("s-slow", "are you there").await,
        failed(ErrorCode::StoreUnavailable)
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_500),
        "answered after {took:?}"
    );
    assert!(posted_texts(&app, &conversation).is_empty());

    store.load_delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(
        app.say("s-slow", "are you there").await,
        more_data(&["echo: are you there"])
    );
}

#[tokio::test]
async fn a_slow_store_save_answers_in_time_and_the_replies_come_next_turn() {
    let store = ControlledStore::new();
    let app = app_with(store.clone()).await;
    assert_eq!(app.say("s-slow-save", "").await, more_data(&["Hello Ada!"]));
    let conversation = app.conversation();

    store.save_delay_ms.store(6_000, Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(
        app.say("s-slow-save", "alpha").await,
        failed(ErrorCode::StoreUnavailable)
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_500),
        "answered after {took:?}"
    );

    // Nothing was saved: the reply the customer did not get comes with the next turn, once.
    store.save_delay_ms.store(0, Ordering::SeqCst);
    assert_eq!(
        app.say("s-slow-save", "beta").await,
        more_data(&["echo: alpha", "echo: beta"])
    );
    assert_eq!(
        app.say("s-slow-save", "gamma").await,
        more_data(&["echo: gamma"])
    );
    assert_eq!(
        posted_texts(&app, &conversation),
        ["alpha", "beta", "gamma"]
    );
}

#[tokio::test]
async fn a_connection_reset_on_a_post_neither_loses_nor_repeats_the_message() {
    use gcbridge_emulator::{Fault, Op};
    let app = app_with(ControlledStore::new()).await;
    assert_eq!(app.say("s-reset", "").await, more_data(&["Hello Ada!"]));
    let conversation = app.conversation();

    // Cut before Direct Line took the activity: gcbridge finds no echo and posts it again.
    app.emulator.inject_fault(Fault::once(Op::PostActivity, 0));
    assert_eq!(
        app.say("s-reset", "refused").await,
        more_data(&["echo: refused"])
    );
    // Cut after Direct Line took it: the echo is found, nothing is posted again.
    app.emulator
        .inject_fault(Fault::once(Op::PostActivityAfterAccept, 0));
    assert_eq!(
        app.say("s-reset", "accepted").await,
        more_data(&["echo: accepted"])
    );
    // Polling cut mid-answer: read again at the next poll.
    app.emulator.inject_fault(Fault::once(Op::GetActivities, 0));
    assert_eq!(
        app.say("s-reset", "polled").await,
        more_data(&["echo: polled"])
    );
    assert_eq!(
        posted_texts(&app, &conversation),
        ["refused", "accepted", "polled"]
    );
}
