//! One tracing setup for every binary. Default level `info`; `GCBRIDGE_LOG` (or `RUST_LOG`)
//! takes an env-filter expression; `GCBRIDGE_LOG_FORMAT=json` switches to JSON lines.
//! Nothing in gcbridge logs message texts unless `log_content` is on, and never secrets.

use tracing_subscriber::EnvFilter;

/// Log targets kept at `debug` at most: at `trace` they print message content or credentials.
pub const CONTENT_LOGGING_TARGETS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// Installs the global subscriber (idempotent: a second call does nothing). Logs go to stderr.
pub fn init(default_filter: &str) {
    let filter = std::env::var("GCBRIDGE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    // Whatever the level asked for: dependencies whose trace output carries message content or
    // credentials stay at debug. The WebSocket library logs every frame it receives (the agent's
    // and the customer's texts) and the stream's handshake request (its URL holds a token).
    // Only a filter that enables trace somewhere needs the cap (added below a lower level, the
    // directive would raise those targets to debug instead).
    let traces = filter
        .max_level_hint()
        .is_none_or(|level| level >= tracing_subscriber::filter::LevelFilter::TRACE);
    let caps: &[&str] = if traces { CONTENT_LOGGING_TARGETS } else { &[] };
    let filter = caps
        .iter()
        .filter_map(|target| format!("{target}=debug").parse().ok())
        .fold(filter, EnvFilter::add_directive);
    let json = std::env::var("GCBRIDGE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
