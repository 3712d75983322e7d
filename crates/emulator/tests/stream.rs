//! The WebSocket stream: frames are ActivitySets, typing included, replay after a watermark.

mod common;

use common::{Client, PATIENCE, emulator, event};
use futures_util::StreamExt;
use gcbridge_directline::{Activity, ActivitySet};
use tokio_tungstenite::tungstenite::Message;

const SCRIPT: &str = r#"
[agent]
name = "Stream Agent"
bot_id = "stream-bot"

[greeting]
steps = [{ typing = true }, { text = "Hello", delay_ms = 5 }, { text = "How can I help?", delay_ms = 5 }]

[[rules]]
topic = "Echo"
match = { starts_with = "echo" }
steps = [{ text = "{Text}" }]
"#;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// Reads frames until `want` activities arrived; returns them and the frames' watermarks.
async fn read_activities(socket: &mut Socket, want: usize) -> (Vec<Activity>, Vec<String>) {
    let mut activities = Vec::new();
    let mut watermarks = Vec::new();
    let read = async {
        while activities.len() < want {
            match socket.next().await.expect("stream open").expect("frame") {
                Message::Text(text) => {
                    let set: ActivitySet = serde_json::from_str(&text).expect("ActivitySet");
                    watermarks.push(set.watermark.clone().expect("watermark"));
                    activities.extend(set.activities);
                }
                Message::Close(_) => panic!("closed early"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("frames in time");
    (activities, watermarks)
}

#[tokio::test]
async fn stream_delivers_everything_including_typing() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let conv = dl.start().await;
    let id = conv.conversation_id.expect("id");
    let mut socket = connect(&conv.stream_url.expect("streamUrl")).await;

    let start_id = dl.post_ok(&id, &event("startConversation", None)).await;
    // The user's own event, typing, then two messages.
    let (activities, watermarks) = read_activities(&mut socket, 4).await;
    let kinds: Vec<&str> = activities.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["event", "typing", "message", "message"]);
    assert_eq!(activities[0].id.as_deref(), Some(start_id.as_str()));
    assert!(activities[1..].iter().all(Activity::is_from_bot));
    assert_eq!(watermarks.last().map(String::as_str), Some("4"));
}

#[tokio::test]
async fn stream_replays_after_its_watermark() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let conv = dl.start().await;
    let id = conv.conversation_id.expect("id");
    dl.post_ok(&id, &event("startConversation", None)).await;
    emu.wait_for(&id, PATIENCE, |a| a.len() >= 4)
        .await
        .expect("greeting");

    let token = conv.token.expect("token");
    let base = emu.base_url().replacen("http://", "ws://", 1);
    let url = format!("{base}/v3/directline/conversations/{id}/stream?watermark=2&t={token}");
    let mut socket = connect(&url).await;
    let (replayed, watermarks) = read_activities(&mut socket, 2).await;
    assert_eq!(replayed[0].text.as_deref(), Some("Hello"));
    assert_eq!(replayed[1].text.as_deref(), Some("How can I help?"));
    assert_eq!(watermarks, ["4"]);

    // New activities follow on the same socket.
    dl.say(&id, "echo again").await;
    let (more, _) = read_activities(&mut socket, 2).await;
    assert_eq!(more[1].text.as_deref(), Some("echo again"));
}

#[tokio::test]
async fn stream_needs_a_valid_token_and_closes_when_told() {
    let emu = emulator(SCRIPT).await;
    let dl = Client::secret(&emu);
    let conv = dl.start().await;
    let id = conv.conversation_id.expect("id");
    let base = emu.base_url().replacen("http://", "ws://", 1);
    let bad = format!("{base}/v3/directline/conversations/{id}/stream?t=nope");
    assert!(tokio_tungstenite::connect_async(&bad).await.is_err());

    let mut socket = connect(&conv.stream_url.expect("streamUrl")).await;
    emu.disconnect_streams(&id);
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the stream");
}
