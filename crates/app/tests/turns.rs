//! In-process tests of whole turns: the real router and Direct Line client against the real
//! emulator over loopback HTTP. Every test asserts the exact Genesys answer.

mod support;

use std::time::Duration;

use gcbridge_core::errors::ErrorCode;
use gcbridge_emulator::{Fault, Op};
use serde_json::json;
use support::{Options, TestApp, failed, more_data, request};

#[tokio::test]
async fn first_turn_gets_the_greeting_and_sends_context_and_locale() {
    let app = TestApp::spawn().await;
    let answer = app.say("s-greet", "").await;
    assert_eq!(answer, more_data(&["Hello Ada!"]));

    let conv = app.conversation();
    let posted = app.emulator.user_activities(&conv);
    let names: Vec<_> = posted
        .iter()
        .map(|a| a.name.clone().unwrap_or(a.kind.clone()))
        .collect();
    // Context before startConversation, and no customer message for an empty first input.
    assert_eq!(names, ["pvaSetContext", "startConversation"]);
    assert!(posted.iter().all(|a| a.locale.as_deref() == Some("fr-FR")));
    assert_eq!(
        posted[0].value.as_ref().expect("context")["CustomerTier"],
        "gold"
    );
    let from = posted[1]
        .from
        .as_ref()
        .and_then(|f| f.id.clone())
        .expect("from");
    assert!(
        from.starts_with("dl_gcb_") && !from.contains("s-greet"),
        "{from}"
    );
}

#[tokio::test]
async fn first_turn_with_text_gets_greeting_and_answer_together() {
    let app = TestApp::spawn().await;
    let answer = app.say("s-first", "hi there").await;
    assert_eq!(answer, more_data(&["Hello Ada!", "echo: hi there"]));
}

#[tokio::test]
async fn several_messages_in_one_turn_arrive_in_order_and_typing_is_not_forwarded() {
    let app = TestApp::spawn().await;
    app.say("s-two", "").await;
    assert_eq!(
        app.say("s-two", "two").await,
        more_data(&["first", "second"])
    );
}

#[tokio::test]
async fn slow_reply_within_the_deadline_is_in_the_same_turn() {
    let app = TestApp::spawn().await;
    app.say("s-slow", "").await;
    let started = std::time::Instant::now();
    assert_eq!(app.say("s-slow", "slow").await, more_data(&["slow answer"]));
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn late_reply_is_carried_to_the_next_turn_once() {
    let app = TestApp::spawn().await;
    app.say("s-late", "").await;
    // The agent answers after 3 s; the turn's ceiling is 2.3 s.
    let started = std::time::Instant::now();
    assert_eq!(app.say("s-late", "late").await, more_data(&[]));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_500),
        "answered after {took:?}"
    );
    let conv = app.conversation();
    app.wait_for_bot_text(&conv, "late answer").await;
    // Delivered first on the next turn, before that turn's own answer...
    assert_eq!(
        app.say("s-late", "next").await,
        more_data(&["late answer", "echo: next"])
    );
    // ...and never again.
    assert_eq!(
        app.say("s-late", "again").await,
        more_data(&["echo: again"])
    );
}

#[tokio::test]
async fn the_same_conversation_is_reused_on_every_turn() {
    let app = TestApp::spawn().await;
    for (i, text) in ["", "one", "two", "three"].into_iter().enumerate() {
        let answer = app.say("s-reuse", text).await;
        assert_eq!(answer["botState"], "MoreData", "turn {i}");
    }
    assert_eq!(app.emulator.conversations_started(), 1);
    let conv = app.conversation();
    let messages: Vec<_> = app
        .emulator
        .user_activities(&conv)
        .into_iter()
        .filter(|a| a.kind == "message")
        .filter_map(|a| a.text)
        .collect();
    assert_eq!(messages, ["one", "two", "three"]);
    // The context was sent once: parameters did not change.
    let contexts = app
        .emulator
        .user_activities(&conv)
        .iter()
        .filter(|a| a.name.as_deref() == Some("pvaSetContext"))
        .count();
    assert_eq!(contexts, 1);
}

#[tokio::test]
async fn handoff_becomes_complete_escalate_with_slots() {
    let app = TestApp::spawn().await;
    app.say("s-agent", "").await;
    let answer = app.say("s-agent", "agent").await;
    assert_eq!(
        answer,
        json!({
            "botState": "Complete",
            "replyMessages": [{"type": "Text", "text": "I'm transferring you to one of our agents now."}],
            "intent": "Escalate",
            "entities": [
                {"name": "va_AgentMessage", "type": "String", "value": "Customer wants to change the delivery address of order 12345."},
                // Undeclared agent variables follow the order of the handoff value.
                {"name": "va_CustomerIntent", "type": "String", "value": "change-address"},
                {"name": "va_OrderNumber", "type": "String", "value": "12345"}
            ],
            "parameters": {
                "va_AgentMessage": "Customer wants to change the delivery address of order 12345.",
                "va_CustomerIntent": "change-address",
                "va_OrderNumber": "12345"
            }
        })
    );
    // gcbridge tells Direct Line the conversation is over (best effort, after answering).
    let conv = app.conversation();
    app.emulator
        .wait_for(&conv, Duration::from_secs(5), |all| {
            all.iter()
                .any(|a| !a.is_from_bot() && a.kind == "endOfConversation")
        })
        .await
        .expect("endOfConversation posted");
}

#[tokio::test]
async fn declared_slots_follow_the_bot_configuration() {
    let app = TestApp::with(Options {
        config: format!(
            "{}\n[bot]\nhandoff_variables = [{{ name = \"OrderNumber\" }}]\nsystem_slots = [\"va_LastTopic\"]\n",
            support::FAST_TIMINGS
        ),
        ..Options::default()
    })
    .await;
    app.say("s-declared", "").await;
    let answer = app.say("s-declared", "agent").await;
    assert_eq!(
        answer["entities"],
        json!([
            {"name": "va_AgentMessage", "type": "String", "value": "Customer wants to change the delivery address of order 12345."},
            {"name": "va_OrderNumber", "type": "String", "value": "12345"},
            {"name": "va_LastTopic", "type": "String", "value": "Change address"}
        ])
    );
}

#[tokio::test]
async fn end_of_conversation_becomes_complete() {
    let app = TestApp::spawn().await;
    app.say("s-bye", "").await;
    assert_eq!(
        app.say("s-bye", "bye").await,
        json!({"botState": "Complete", "replyMessages": [{"type": "Text", "text": "Goodbye!"}], "intent": "EndConversation"})
    );
    // A new message on the ended session starts a new conversation with a new greeting.
    assert_eq!(
        app.say("s-bye", "hello again").await,
        more_data(&["Hello Ada!", "echo: hello again"])
    );
    assert_eq!(app.emulator.conversations_started(), 2);
}

#[tokio::test]
async fn a_repeated_request_is_answered_again_without_posting_twice() {
    let app = TestApp::spawn().await;
    app.say("s-dup", "").await;
    let first = app.say("s-dup", "only once").await;
    let second = app.say("s-dup", "only once").await;
    assert_eq!(first, more_data(&["echo: only once"]));
    assert_eq!(second, first);
    let conv = app.conversation();
    let posted = app
        .emulator
        .user_activities(&conv)
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("only once"))
        .count();
    assert_eq!(posted, 1);

    // Two identical requests at the same time: one posts, the other waits and replays.
    let body = request("s-dup", "concurrent");
    let (a, b) = tokio::join!(app.post(&body), app.post(&body));
    assert_eq!(a, b);
    let posted = app
        .emulator
        .user_activities(&conv)
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("concurrent"))
        .count();
    assert_eq!(posted, 1);
}

#[tokio::test]
async fn no_reply_before_the_deadline_is_more_data_with_nothing() {
    let app = TestApp::spawn().await;
    app.say("s-silent", "").await;
    assert_eq!(app.say("s-silent", "silent").await, more_data(&[]));
}

#[tokio::test]
async fn throttled_post_is_retried_after_retry_after_when_it_fits() {
    let app = TestApp::spawn().await;
    app.say("s-busy", "").await;
    assert_eq!(
        app.say("s-busy", "busy").await,
        more_data(&["through after the retry"])
    );
}

#[tokio::test]
async fn throttling_longer_than_the_deadline_fails_before_posting() {
    let app = TestApp::spawn().await;
    app.say("s-vbusy", "").await;
    assert_eq!(
        app.say("s-vbusy", "very busy").await,
        failed(ErrorCode::AgentThrottled)
    );
}

#[tokio::test]
async fn direct_line_5xx_on_start_is_retried_then_reported() {
    let app = TestApp::spawn().await;
    app.emulator
        .inject_fault(Fault::once(Op::StartConversation, 502));
    assert_eq!(app.say("s-502-once", "").await, more_data(&["Hello Ada!"]));

    app.emulator.inject_fault(Fault {
        op: Op::StartConversation,
        status: 503,
        retry_after_secs: None,
        count: 5,
    });
    assert_eq!(
        app.say("s-503", "").await,
        failed(ErrorCode::AgentUnavailable)
    );
}

#[tokio::test]
async fn a_refused_post_is_posted_again_once_and_never_twice() {
    let app = TestApp::spawn().await;
    app.say("s-post-502", "").await;
    // The post answered 502 and was not stored: the echo check finds nothing, so it is repeated.
    app.emulator
        .inject_fault(Fault::once(Op::PostActivity, 502));
    assert_eq!(
        app.say("s-post-502", "hello").await,
        more_data(&["echo: hello"])
    );
    let conv = app.conversation();
    let copies = app
        .emulator
        .user_activities(&conv)
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("hello"))
        .count();
    assert_eq!(copies, 1);
    // A post that keeps failing is reported, before the customer's message reached the agent.
    app.emulator.inject_fault(Fault {
        op: Op::PostActivity,
        status: 503,
        retry_after_secs: None,
        count: 5,
    });
    assert_eq!(
        app.say("s-post-502", "again").await,
        failed(ErrorCode::AgentUnavailable)
    );
}

#[tokio::test]
async fn an_ambiguous_post_that_reached_the_agent_is_not_posted_again() {
    let app = TestApp::spawn().await;
    app.say("s-lost-answer", "").await;
    // Direct Line stored the message but the answer was a 504: gcbridge finds its echo.
    app.emulator
        .inject_fault(Fault::once(Op::PostActivityAfterAccept, 504));
    assert_eq!(
        app.say("s-lost-answer", "hello").await,
        more_data(&["echo: hello"])
    );
    let copies = app
        .emulator
        .user_activities(&app.conversation())
        .into_iter()
        .filter(|a| a.text.as_deref() == Some("hello"))
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test]
async fn quick_replies_are_native_and_a_click_posts_what_the_agent_offered() {
    let app = TestApp::spawn().await;
    app.say("s-qr", "").await;
    let answer = app.say("s-qr", "choose").await;
    let message = &answer["replyMessages"][0];
    assert_eq!(message["type"], "Structured");
    assert_eq!(message["text"], "Pick one\n1. Red\n2. Blue");
    let blue = &message["content"][1]["quickReply"];
    assert_eq!(blue["text"], "Blue");
    let payload = blue["payload"].as_str().expect("payload");
    assert!(payload.starts_with("gcb:qr:2:"), "{payload}");

    let mut click = request("s-qr", "Blue");
    click["inputMessage"] = json!({
        "type": "Structured",
        "text": "Blue",
        "content": [{"contentType": "ButtonResponse",
                     "buttonResponse": {"type": "QuickReply", "text": "Blue", "payload": payload}}]
    });
    // A postBack sends its value, not the label the customer saw.
    assert_eq!(app.post(&click).await, more_data(&["echo: blue-value"]));
}

#[tokio::test]
async fn wrong_direct_line_secret_is_agent_auth_failed() {
    let app = TestApp::with(Options {
        dl_secret: Some("not-the-secret".to_owned()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.say("s-403", "").await,
        failed(ErrorCode::AgentAuthFailed)
    );
}

#[tokio::test]
async fn an_expired_conversation_is_replaced_once_and_the_message_still_reaches_the_agent() {
    let app = TestApp::spawn().await;
    app.say("s-404", "").await;
    let first = app.conversation();
    app.emulator.expire_conversation(&first);
    // A new conversation: the agent greets again (its state is gone) and answers the message.
    assert_eq!(
        app.say("s-404", "hello").await,
        more_data(&["Hello Ada!", "echo: hello"])
    );
    assert_eq!(app.emulator.conversations_started(), 2);
    let second = app.emulator.conversation_ids()[1].clone();
    let posted: Vec<_> = app
        .emulator
        .user_activities(&second)
        .into_iter()
        .map(|a| a.name.or(a.text).unwrap_or_default())
        .collect();
    assert_eq!(posted, ["pvaSetContext", "startConversation", "hello"]);
    // Later turns use the replacement.
    assert_eq!(
        app.say("s-404", "two").await,
        more_data(&["first", "second"])
    );
    assert_eq!(app.emulator.conversations_started(), 2);
}

#[tokio::test]
async fn a_conversation_that_cannot_be_replaced_is_conversation_lost_or_unavailable() {
    let app = TestApp::spawn().await;
    app.say("s-lost", "").await;
    app.emulator.expire_conversation(&app.conversation());
    app.emulator.inject_fault(Fault {
        op: Op::StartConversation,
        status: 502,
        retry_after_secs: None,
        count: 10,
    });
    assert_eq!(
        app.say("s-lost", "hello").await,
        failed(ErrorCode::AgentUnavailable)
    );
}

#[tokio::test]
async fn an_expired_token_starts_a_new_conversation_in_token_mode() {
    let app = TestApp::with(Options {
        token_endpoint: true,
        ..Options::default()
    })
    .await;
    app.say("s-tok-exp", "").await;
    app.emulator.expire_tokens(&app.conversation());
    assert_eq!(
        app.say("s-tok-exp", "hello").await,
        more_data(&["Hello Ada!", "echo: hello"])
    );
}

#[tokio::test]
async fn token_endpoint_mode_works_end_to_end() {
    let app = TestApp::with(Options {
        token_endpoint: true,
        ..Options::default()
    })
    .await;
    assert_eq!(app.say("s-token", "").await, more_data(&["Hello Ada!"]));
    assert_eq!(
        app.say("s-token", "two").await,
        more_data(&["first", "second"])
    );
    assert_eq!(app.emulator.conversations_started(), 1);
}

#[tokio::test]
async fn on_agent_error_escalate_hands_the_customer_to_a_human() {
    let app = TestApp::with(Options {
        config: format!(
            "{}\n[bot]\non_agent_error = \"escalate\"\nagent_error_message = \"Bot down\"\n",
            support::FAST_TIMINGS
        ),
        ..Options::default()
    })
    .await;
    app.emulator.inject_fault(Fault {
        op: Op::StartConversation,
        status: 502,
        retry_after_secs: None,
        count: 5,
    });
    let answer = app.say("s-esc", "").await;
    assert_eq!(answer["botState"], "Complete");
    assert_eq!(answer["intent"], "Escalate");
    assert_eq!(
        answer["entities"][0],
        json!({"name": "va_AgentMessage", "type": "String", "value": "Bot down"})
    );
}

#[tokio::test]
async fn the_quiet_period_adapts_to_a_fast_single_reply_agent() {
    // Ceiling 1.5 s, floor 100 ms, learned after 3 turns.
    let config = FAST_TIMINGS_ADAPTIVE;
    let app = TestApp::with(Options {
        config: config.to_owned(),
        ..Options::default()
    })
    .await;
    app.say("s-adapt", "").await;
    let mut last = Duration::ZERO;
    for i in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(
            app.say("s-adapt", &format!("m{i}")).await,
            more_data(&[&format!("echo: m{i}")])
        );
        last = started.elapsed();
        if i == 0 {
            // Before warm-up the full 1.5 s quiet period applies.
            assert!(last >= Duration::from_millis(1_500), "{last:?}");
        }
    }
    // After warm-up: single replies, so the floor.
    assert!(last < Duration::from_millis(700), "{last:?}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("gcbridge_quiet_effective_ms{bot=\"copilot\"} 100"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_multi_message_agent_keeps_a_longer_quiet_period() {
    let app = TestApp::with(Options {
        config: FAST_TIMINGS_ADAPTIVE.to_owned(),
        ..Options::default()
    })
    .await;
    app.say("s-adapt2", "").await;
    for _ in 0..4 {
        // "first", then "second" 100 ms later: turns stay whole with a learned quiet ≥ 200 ms.
        assert_eq!(
            app.say("s-adapt2", "two").await,
            more_data(&["first", "second"])
        );
    }
}

const FAST_TIMINGS_ADAPTIVE: &str = r#"
[bot.timings]
deadline_ms = 4000
response_margin_ms = 200
quiet_ms = 1500
quiet_min_ms = 100
adaptive_warmup_turns = 3
typing_hold_ms = 500
expecting_input_grace_ms = 50
first_poll_delay_ms = 20
poll_interval_ms = 25
"#;
