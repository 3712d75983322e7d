//! Rich content end to end through the router with the demo agent: carousels, images, hero and
//! Adaptive Cards become native Genesys content.

mod support;

use serde_json::Value;
use support::{Options, TestApp};

async fn demo() -> TestApp {
    TestApp::with(Options {
        script: gcbridge_emulator::DEMO_TOML.to_owned(),
        // The demo agent paces itself like a real one (typing, pauses): default timings.
        config: String::new(),
        ..Options::default()
    })
    .await
}

fn content_types(answer: &Value) -> Vec<String> {
    answer["replyMessages"]
        .as_array()
        .expect("replies")
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["contentType"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn carousel_image_and_cards_are_native() {
    let app = demo().await;
    app.say("rich-1", "").await;

    let plans = app.say("rich-1", "plans").await;
    assert_eq!(content_types(&plans), ["Carousel"]);
    let cards = plans["replyMessages"][1]["content"][0]["carousel"]["cards"]
        .as_array()
        .expect("cards");
    let titles: Vec<&str> = cards.iter().filter_map(|c| c["title"].as_str()).collect();
    assert_eq!(titles, ["Basic", "Plus", "Max"]);
    // Payloads are unique across the carousel.
    let payloads = cards
        .iter()
        .flat_map(|c| c["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["payload"].as_str().map(str::to_owned))
        .collect::<std::collections::HashSet<String>>();
    assert_eq!(payloads.len(), 3);

    let chart = app.say("rich-1", "size chart").await;
    assert_eq!(content_types(&chart), ["Card"]);
    let card = &chart["replyMessages"]
        .as_array()
        .expect("replies")
        .iter()
        .find(|m| m["type"] == "Structured")
        .expect("structured")["content"][0]["card"];
    assert_eq!(card["image"], "https://shop.example.com/img/size-chart.png");

    let order = app.say("rich-1", "track my order").await;
    assert_eq!(content_types(&order), ["Card", "QuickReply", "QuickReply"]);
}
