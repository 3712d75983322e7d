//! Connection limits against hostile clients: slow headers, oversized headers, connection floods.

mod support;

use std::time::{Duration, Instant};

use support::{FAST_TIMINGS, Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app(server: &str) -> TestApp {
    TestApp::with(Options {
        config: format!("[server]\n{server}\n{FAST_TIMINGS}"),
        ..Options::default()
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or 5 s pass); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    let app = app("header_read_timeout_ms = 300").await;
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connect");
    stream
        .write_all(b"POST /genesys/v1/utterance HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let (_, took) = read_to_close(&mut stream).await;
    assert!(took < Duration::from_secs(3), "held for {took:?}");
    // The server itself is fine.
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = app("max_header_bytes = 16384").await;
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("X-Big", "a".repeat(64 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        // Closing the connection is an acceptable refusal too.
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_service_resumes() {
    let app = app("max_connections = 2\nheader_read_timeout_ms = 5000").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(addr(&app)).await.expect("connect"));
    }
    // Give the server a moment to accept both, then the third is closed at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr(&app)).await.expect("connect");
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (answer, took) = read_to_close(&mut third).await;
    assert!(answer.is_empty(), "{answer}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(held);
    // Once the flood is gone, requests are served again.
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(r) = app.http.get(format!("{}/healthz", app.url)).send().await
            && r.status() == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "service did not resume");
}
