//! Micro-benchmarks of the translation core, so regressions show up in numbers:
//! `cargo bench -p gcbridge-core` (criterion; HTML reports off, text summary only).
//!
//! - `request_to_plan`: a Genesys v1 request body (bytes) → parsed, validated `Turn` → the posts
//!   of a later turn (`plan_turn`), what gcbridge does before talking to the agent;
//! - `activities_to_reply`: the agent's activities of a turn (a greeting with suggested actions
//!   and a hero card, a carousel, an Adaptive Card, a handoff) → the Genesys answer;
//! - `collect_turn`: a collector fed a stream frame of twenty activities, then finished;
//! - `session_record`: encoding and decoding the stored session record.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use gcbridge_core::collect::Collector;
use gcbridge_core::plan::plan_turn;
use gcbridge_core::profile::BotProfile;
use gcbridge_core::request::Turn;
use gcbridge_core::session::{DirectLineSession, SessionRecord};
use gcbridge_core::translate::translate_turn;
use gcbridge_directline::{Activity, ActivitySet};
use gcbridge_genesys::TurnRequest;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn session() -> SessionRecord {
    let mut s = SessionRecord::new(
        "contoso-support",
        "1",
        Some("c2d5b4e1-0000-4000-a000-000000000001".into()),
        DirectLineSession {
            conversation_id: "8a9b0c1d2e3f4a5b6c7d8e-us".into(),
            base_url: "https://directline.botframework.com".into(),
            token: None,
            token_expires_at_ms: None,
            user_id: "dl_gcb_5c0f1e2d3a4b5c6d7e8f9a0b1c2d3e4f".into(),
        },
        "en-US".into(),
        0,
        60,
    );
    s.turn = 3;
    s
}

/// Every bot activity of the Direct Line fixtures, as one turn's output.
fn agent_activities() -> Vec<Activity> {
    let mut all = Vec::new();
    for name in [
        "directline-stream-frame-greeting-typing-suggested-hero.json",
        "directline-activityset-handoff.json",
    ] {
        let set: ActivitySet = serde_json::from_str(&fixture(name)).expect("activity set");
        all.extend(set.activities);
    }
    for name in [
        "directline-activity-carousel.json",
        "directline-activity-adaptive-card.json",
    ] {
        all.push(serde_json::from_str(&fixture(name)).expect("activity"));
    }
    all.into_iter().filter(Activity::is_from_bot).collect()
}

fn benches(c: &mut Criterion) {
    let profile = BotProfile::default();
    let request = fixture("genesys-v1-request-text.json").into_bytes();
    c.bench_function("request_to_plan", |b| {
        b.iter(|| {
            let parsed: TurnRequest = serde_json::from_slice(black_box(&request)).expect("parse");
            let turn = Turn::from_request(parsed).expect("valid");
            let mut record = session();
            black_box(plan_turn(&profile, &mut record, &turn, false))
        })
    });

    let activities = agent_activities();
    assert!(
        activities.len() >= 4,
        "fixtures give several bot activities"
    );
    c.bench_function("activities_to_reply", |b| {
        b.iter(|| black_box(translate_turn(&profile, black_box(&activities), 4)))
    });

    let frame = ActivitySet {
        activities: (0..20)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "type": if i % 4 == 0 { "typing" } else { "message" },
                    "id": format!("conv|{i:07}"),
                    "from": {"id": "bot", "role": "bot"},
                    "replyToId": "conv|0000000",
                    "text": "A reply of ordinary length, with **some** markdown in it.",
                }))
                .expect("activity")
            })
            .collect(),
        watermark: Some("20".into()),
        ..ActivitySet::default()
    };
    let delivered: Vec<String> = Vec::new();
    c.bench_function("collect_turn", |b| {
        b.iter(|| {
            let mut collector = Collector::new(&profile, 0, &delivered, None);
            collector.posted("conv|0000000");
            collector.receive(black_box(frame.clone()), 100);
            black_box(collector.decide(200));
            black_box(collector.finish())
        })
    });

    let mut record = session();
    record.remember_delivered((0..64).map(|i| format!("conv|{i:07}")));
    let encoded = record.encode();
    c.bench_function("session_record_encode", |b| {
        b.iter(|| black_box(black_box(&record).encode()))
    });
    c.bench_function("session_record_decode", |b| {
        b.iter(|| black_box(SessionRecord::decode(black_box(&encoded)).expect("decode")))
    });
}

criterion_group!(translation, benches);
criterion_main!(translation);
