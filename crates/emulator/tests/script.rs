//! Scripts: clear errors for broken ones, and a demo agent that shows every feature.

mod common;

use std::time::Duration;

use common::{Client, bot_messages, event, texts};
use gcbridge_emulator::{EmulatorConfig, Script, ScriptError, StepAction};
use serde_json::json;

const AGENT: &str = "[agent]\nname = \"A\"\nbot_id = \"b\"\n";

fn error_of(text: &str) -> String {
    match Script::from_toml_str(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_scripts_name_the_offending_key() {
    let cases: &[(&str, &[&str])] = &[
        ("[agent]\nname = \"A\"\n", &["missing field `bot_id`"]),
        (
            &format!("{AGENT}colour = \"blue\"\n"),
            &["unknown field `colour`", "line 4"],
        ),
        (
            &format!("{AGENT}[[rules]]\ntopic = \"T\"\nmtch = {{ equals = \"x\" }}\n"),
            &["unknown field `mtch`"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ txt = \"hi\" }}]\n"
            ),
            &["unknown field `txt`", "line 7"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ text = \"hi\", typing = true }}]\n"
            ),
            &["exactly one of", "typing"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ }}\nsteps = [{{ text = \"hi\" }}]\n"
            ),
            &["`match` needs at least one of"],
        ),
        (
            &format!("{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\n"),
            &["does nothing"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = 3 }}\nsteps = [{{ text = \"hi\" }}]\n"
            ),
            &["a string or a list of strings"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nfault = {{ status = 200 }}\n"
            ),
            &["`fault.status` must be an error status"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ text = \"Hi {{Name\" }}]\n"
            ),
            &["unclosed `{`"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ contains = \"x\", capture = \"Name\" }}\nsteps = [{{ text = \"hi\" }}]\n"
            ),
            &["`match.capture` needs `match.starts_with`"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ text = \"hi\", input_hint = \"maybe\" }}]\n"
            ),
            &["`input_hint` must be"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ text = \"hi\", suggested_actions = [{{ title = \"a\", type = \"teleport\" }}] }}]\n"
            ),
            &["unknown button type"],
        ),
        (
            &format!(
                "{AGENT}[[rules]]\ntopic = \"T\"\nmatch = {{ equals = \"x\" }}\nsteps = [{{ handoff = {{ agent_message = \"m\", variables = {{ va_X = \"1\" }} }} }}]\n"
            ),
            &["`va_` names are set by the agent"],
        ),
        (
            &format!("{AGENT}[greeting]\nsteps = [{{ typing = false }}]\n"),
            &["`typing` can only be `true`"],
        ),
        (
            &format!("{AGENT}[greeting]\nsteps = [{{ text = \"x\", delay_ms = 99999999 }}]\n"),
            &["`delay_ms`"],
        ),
    ];
    for (text, needles) in cases {
        let err = error_of(text);
        assert!(err.starts_with("invalid agent script"), "{err}");
        for needle in *needles {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }
}

#[test]
fn file_errors_name_the_file() {
    let missing = Script::from_file("/definitely/not/here.toml").expect_err("missing file");
    assert!(matches!(missing, ScriptError::Read { .. }));
    assert!(missing.to_string().contains("/definitely/not/here.toml"));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[agent]\nname = 1\n").expect("write");
    let err = Script::from_file(&path).expect_err("bad file").to_string();
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn demo_script_parses_and_shows_every_feature() {
    let demo = Script::demo();
    assert_eq!(demo.agent.name, "Contoso Support");
    let greeting = demo.greeting.as_ref().expect("greeting");
    assert!(!greeting.steps.is_empty());
    assert!(demo.fallback.as_ref().is_some_and(|f| !f.steps.is_empty()));
    for rule in &demo.rules {
        assert!(!rule.steps.is_empty(), "rule {:?} has no steps", rule.topic);
    }

    let total_delay = |topic: &str| -> Duration {
        let rule = demo
            .rules
            .iter()
            .find(|r| r.topic == topic)
            .unwrap_or_else(|| panic!("demo has a {topic:?} rule"));
        rule.steps.iter().map(|s| s.delay).sum()
    };
    let slow = total_delay("Slow answer");
    assert!(
        slow >= Duration::from_secs(2) && slow < Duration::from_secs(8),
        "{slow:?}"
    );
    let very_slow = total_delay("Very slow answer");
    assert!(very_slow > Duration::from_secs(8), "{very_slow:?}");

    let actions = || {
        demo.rules
            .iter()
            .flat_map(|r| r.steps.iter().map(|s| &s.action))
    };
    assert!(
        actions().any(|a| matches!(a, StepAction::Handoff(_))),
        "a handoff"
    );
    assert!(
        actions().any(|a| matches!(a, StepAction::End { .. })),
        "an end"
    );
    assert!(
        actions().any(|a| matches!(a, StepAction::Message(m) if !m.suggested_actions.is_empty())),
        "quick replies"
    );
    assert!(
        demo.rules.iter().any(|r| {
            let messages = r
                .steps
                .iter()
                .filter(|s| matches!(s.action, StepAction::Message(_)))
                .count();
            let typing = r
                .steps
                .iter()
                .any(|s| matches!(s.action, StepAction::Typing));
            messages >= 2 && typing
        }),
        "a turn with several messages and typing"
    );
    assert!(
        demo.rules.iter().any(|r| r.fault.is_some()),
        "a scripted fault"
    );
    assert!(
        demo.rules.iter().any(|r| r.matcher.capture.is_some()),
        "memory"
    );
}

/// The demo over HTTP, as `gcbridge demo` shows it: greeting, memory across turns, handoff.
#[tokio::test]
async fn demo_remembers_across_turns_and_hands_off() {
    let emu = common::emulator_with(EmulatorConfig::new(Script::demo())).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    dl.post_ok(
        &id,
        &event("pvaSetContext", Some(json!({"CustomerTier": "platinum"}))),
    )
    .await;
    dl.post_ok(&id, &event("startConversation", None)).await;
    let (seen, wm) = dl.poll_until(&id, None, |b| bot_messages(b) >= 2).await;
    let greeting = texts(&seen).join("\n");
    assert!(greeting.contains("Hello there"), "{greeting}");
    for hint in [
        "opening hours",
        "track my order",
        "slow",
        "very slow",
        "agent",
        "bye",
    ] {
        assert!(
            greeting.contains(hint),
            "greeting mentions {hint:?}: {greeting}"
        );
    }

    dl.say(&id, "My name is Ada").await;
    let (seen, wm) = dl
        .poll_until(&id, Some(&wm), |b| bot_messages(b) >= 1)
        .await;
    assert!(
        texts(&seen)[0].contains("Nice to meet you, Ada"),
        "{:?}",
        texts(&seen)
    );

    dl.say(&id, "What do you remember?").await;
    let (seen, wm) = dl
        .poll_until(&id, Some(&wm), |b| bot_messages(b) >= 1)
        .await;
    let recap = &texts(&seen)[0];
    assert!(recap.contains("**Ada**"), "{recap}");
    assert!(recap.contains("message 2"), "{recap}");
    assert!(recap.contains("Introduce yourself"), "{recap}");

    dl.say(&id, "where are my socks").await;
    let (seen, wm) = dl
        .poll_until(&id, Some(&wm), |b| bot_messages(b) >= 1)
        .await;
    assert!(
        texts(&seen)[0].contains("\"where are my socks\""),
        "{:?}",
        texts(&seen)
    );

    dl.say(&id, "Talk to an agent").await;
    let (seen, _) = dl
        .poll_until(&id, Some(&wm), |b| {
            b.iter()
                .any(|a| a.name.as_deref() == Some("handoff.initiate"))
        })
        .await;
    let handoff = seen
        .iter()
        .find(|a| a.name.as_deref() == Some("handoff.initiate"))
        .expect("handoff");
    let v = handoff.value.as_ref().expect("value");
    assert!(
        v["va_AgentMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("Ada asked for a human"))
    );
    assert_eq!(v["OrderNumber"], "12345");
    assert_eq!(
        v["CustomerTier"], "platinum",
        "context from pvaSetContext wins over the default"
    );
    assert_eq!(v["CustomerName"], "Ada");
    assert_eq!(v["va_LastTopic"], "Escalate");
}

/// Script delays use tokio's clock, so app tests with paused time do not wait for real: the
/// demo's ~10 s answer arrives at once in wall-clock terms.
#[tokio::test(start_paused = true)]
async fn delays_follow_tokio_time() {
    let emu = common::emulator_with(EmulatorConfig::new(Script::demo())).await;
    let dl = Client::secret(&emu);
    let id = dl.start().await.conversation_id.expect("id");
    let wall = std::time::Instant::now();
    let virtual_start = tokio::time::Instant::now();
    dl.say(&id, "very slow").await;
    let all = emu
        .wait_for(&id, Duration::from_secs(60), |a| bot_messages(a) >= 1)
        .await
        .expect("the very slow answer");
    assert!(texts(&all)[0].contains("10 seconds"));
    assert!(tokio::time::Instant::now() - virtual_start >= Duration::from_secs(10));
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "{:?}",
        wall.elapsed()
    );
}
